//! Arbitrary bytes into the frame decoder: `FrameHeader::decode` on every prefix of a
//! header, then the same bytes through an open Server and an open Client, fed in
//! arbitrary cuts, checked against an independent model of RFC 6455 §5.
//!
//! Input: one byte choosing the limits, one byte `n` then `n % 16` cut lengths, then the
//! bytes on the wire.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockless::frame::{FrameHeader, MAX_HEADER_LEN};
use sockless::{Instant, State};
use sockless_fuzz::*;

fn check_decode(stream: &[u8]) {
    let full = FrameHeader::decode(stream);
    let probe = stream.len().min(MAX_HEADER_LEN + 1);
    let prefixes: Vec<_> = (0..=probe)
        .map(|k| FrameHeader::decode(&stream[..k]))
        .collect();
    match full {
        Ok(Some((header, len))) => {
            assert!(len <= MAX_HEADER_LEN && len <= stream.len());
            for (k, result) in prefixes.iter().enumerate() {
                if k < len {
                    assert_eq!(*result, Ok(None), "prefix {k} of a {len}-byte header");
                } else {
                    assert_eq!(*result, full, "prefix {k} longer than the header");
                }
            }
            assert!(header.payload_len >> 63 == 0);
            assert!(header.rsv <= 7);
            if header.opcode.is_control() {
                assert!(header.fin && header.payload_len <= 125);
            }
            // Only minimal forms are accepted, so encoding gives the same bytes back.
            assert_eq!(header.encoded_len(), len);
            let mut out = [0u8; MAX_HEADER_LEN];
            assert_eq!(header.encode(&mut out), Ok(len));
            assert_eq!(&out[..len], &stream[..len], "decode/encode round trip");
        }
        Ok(None) => {
            assert!(stream.len() < MAX_HEADER_LEN);
            assert!(prefixes.iter().all(|r| *r == Ok(None)));
        }
        Err(error) => {
            // Ok(None) up to some prefix, then the same error for every longer one.
            let first = prefixes
                .iter()
                .position(|r| r.is_err())
                .expect("an error for some prefix");
            assert!(prefixes[..first].iter().all(|r| *r == Ok(None)));
            assert!(prefixes[first..].iter().all(|r| *r == Err(error)));
        }
    }
}

fn check_role(peer: &mut dyn Peer, config: &sockless::Config, stream: &[u8], cuts: &[u8]) {
    let server = peer.receives_masked();
    let mut collector = Collector::new(config);
    feed_pieces(peer, &pieces(stream, cuts), Instant::ZERO, &mut collector);
    let expected = model(server, config, stream);
    check_against_model(&collector, &expected);

    // A failure is reported before its answer goes out: the transport stays open for it.
    if let Some(End::Failed(_)) = collector.end {
        assert_eq!(peer.current_state(), State::Failed);
        assert!(
            !peer.close_transport(),
            "closing before the failure's Close is sent"
        );
    }

    // What is owed goes out: the Pong for the latest Ping, then the Close.
    let mut out = [0u8; 1024];
    let n = peer.transmit(&mut out).expect("poll_transmit");
    let frames = decode_output(&out[..n], !server);
    let mut frames = frames.iter().peekable();
    let latest_ping = collector.events.iter().rev().find_map(|e| match e {
        Ev::Ping(payload) => Some(payload.clone()),
        _ => None,
    });
    if let (true, Some(payload)) = (config.auto_pong, latest_ping) {
        match frames.peek() {
            Some(frame) if frame.opcode == 0xA => {
                assert_eq!(frame.payload, payload, "the Pong answers the latest Ping");
                frames.next();
            }
            _ => assert!(
                matches!(collector.end, Some(End::Failed(_))),
                "owed Pong lost"
            ),
        }
    }
    let close = frames.next();
    assert!(frames.next().is_none(), "more than the owed frames");
    let close_code = close.map(|frame| {
        assert_eq!(frame.opcode, 0x8);
        u16::from_be_bytes([frame.payload[0], frame.payload[1]])
    });
    match collector.end.as_ref().unwrap() {
        End::Clean => {
            assert_eq!(close_code, None);
            assert_eq!(peer.current_state(), State::Open);
            assert!(!peer.close_transport());
        }
        End::Failed(code) => {
            assert_eq!(close_code, Some(*code), "the failure's Close");
            assert_eq!(peer.current_state(), State::Closed);
            assert!(peer.close_transport());
        }
        End::Closed => {
            let Some(Ev::Close(code, _)) = collector.events.last() else {
                unreachable!()
            };
            assert_eq!(close_code, Some(code.unwrap_or(1000)), "the Close echo");
            assert_eq!(peer.current_state(), State::Closed);
            assert_eq!(peer.close_transport(), server);
            if !server {
                let deadline = peer
                    .next_timeout()
                    .expect("the client waits for the server");
                // The wait for the server is over: no failure, the transport closes.
                assert_eq!(peer.timeout(deadline), None);
                assert!(peer.close_transport());
            }
        }
    }
    assert_eq!(peer.transmit(&mut out), Ok(0), "owed output sent twice");
    // Nothing is read after the end.
    if collector.stopped() {
        let mut more = stream.to_vec();
        let len = more.len();
        let received = peer
            .receive_bytes(&mut more, Instant::ZERO)
            .expect("receive after the end");
        assert_eq!(received.consumed, len);
        assert!(received.event.is_none());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (cuts, stream) = split_cuts(rest);
    check_decode(stream);
    let config = config_from(selector);
    check_role(&mut open_server(config), &config, stream, cuts);
    check_role(&mut open_client(config), &config, stream, cuts);
});
