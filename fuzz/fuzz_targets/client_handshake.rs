//! Arbitrary bytes as the response head a Client reads after sending its request, cut
//! arbitrarily. The result must not depend on the cuts; Connected only for a response
//! meeting every rule of RFC 6455 §4.1; after a failure nothing is ever sent; bytes after
//! the head are the first frames.
//!
//! The client's randomness is fixed, so its key, and the accept value a valid response
//! carries, are the same in every run (the seeds hold it).
//!
//! Input: one byte choosing the limits and what is offered, one byte `n` then `n % 16` cut
//! lengths, then the bytes the server sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockless::{
    Client, ClientRequest, Config, Endpoint, Event, HandshakeError, Instant, State, TimedOut,
    UsageError,
};
use sockless_fuzz::*;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Connected {
        consumed: usize,
        subprotocol: Option<String>,
    },
    Rejected {
        consumed: usize,
        status: u16,
    },
    Failed(HandshakeError),
    Pending,
}

const SUBPROTOCOLS: &[&str] = &["chat", "superchat"];
const EXTENSIONS: &[&str] = &["permessage-deflate; client_max_window_bits"];

fn client(config: Config, offers: bool) -> (Client<'static, TestRng>, Vec<u8>) {
    let mut request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    if offers {
        request = request
            .with_subprotocols(SUBPROTOCOLS)
            .with_extensions(EXTENSIONS);
    }
    let mut client = Client::new(request, config, rng(), Instant::ZERO).unwrap();
    let mut out = [0u8; 1024];
    let n = client.poll_transmit(&mut out).expect("request");
    (client, out[..n].to_vec())
}

/// Feed `pieces` until the head is complete or refused (see [`drive_head`]).
fn drive(client: &mut Client<'static, TestRng>, pieces: &[&[u8]], max_head_len: usize) -> Outcome {
    let response = |event: Event<'_>, consumed| match event {
        Event::Connected(response) => {
            assert_eq!(response.status(), 101);
            Outcome::Connected {
                consumed,
                subprotocol: response.subprotocol().map(str::to_string),
            }
        }
        Event::Rejected(response) => Outcome::Rejected {
            consumed,
            status: response.status(),
        },
        other => panic!("unexpected event {other:?}"),
    };
    drive_head(
        client,
        pieces,
        max_head_len,
        response,
        Outcome::Failed,
        Outcome::Pending,
    )
    .0
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (cuts, stream) = split_cuts(rest);
    let mut config = config_from(selector);
    config.max_head_len = [8192, 64, 256, 1024][usize::from(selector >> 6)];
    config.max_headers = [64, 0, 3, 10][usize::from((selector >> 4) & 1)];
    let offers = selector & 0x20 != 0;

    let (mut whole, _) = client(config, offers);
    let whole_outcome = drive(&mut whole, &[stream], config.max_head_len);
    let (mut client, request) = client(config, offers);
    let outcome = drive(&mut client, &pieces(stream, cuts), config.max_head_len);
    assert_eq!(outcome, whole_outcome, "the outcome depends on the cuts");

    let mut out = [0u8; 1024];
    match outcome {
        Outcome::Pending => {
            assert!(head_end(stream).is_none());
            assert_eq!(client.state(), State::Connecting);
            assert_eq!(client.poll_transmit(&mut out), Ok(0));
            // A response that never ends: the client gives up at the handshake deadline.
            let deadline = Instant::ZERO.saturating_add(config.handshake_timeout);
            assert_eq!(client.poll_timeout(), Some(deadline));
            assert_eq!(client.handle_timeout(deadline), Some(TimedOut::Handshake));
            assert!(client.should_close_transport());
            assert_eq!(client.poll_transmit(&mut out), Ok(0));
        }
        Outcome::Failed(error) => {
            // No frame is ever sent after a failed handshake.
            assert_eq!(client.poll_transmit(&mut out), Ok(0));
            assert!(matches!(client.connection(), Err(UsageError::NotOpen)));
            assert_eq!(
                client.send_text("x", &mut out),
                Err(UsageError::NotOpen.into())
            );
            assert_eq!(client.ping(b"", &mut out), Err(UsageError::NotOpen.into()));
            assert_eq!(
                client.poll_timeout(),
                None,
                "a timer after a failed handshake"
            );
            assert!(client.should_close_transport());
            if error == HandshakeError::HeadTooLarge {
                assert!(stream.len() >= config.max_head_len);
            }
        }
        Outcome::Rejected { consumed, status } => {
            assert_ne!(status, 101);
            assert_eq!(Some(consumed), head_end(stream));
            assert_eq!(client.poll_transmit(&mut out), Ok(0));
            assert!(client.should_close_transport());
        }
        Outcome::Connected {
            consumed,
            subprotocol,
        } => {
            assert!(consumed <= config.max_head_len);
            assert_eq!(
                Some(consumed),
                head_end(stream),
                "the head ends at its first empty line"
            );
            let head = &stream[..consumed];
            let headers = header_lines(head);
            let line = start_line(head);
            assert!(
                line.starts_with(b"HTTP/1.1 101"),
                "status line {:?}",
                String::from_utf8_lossy(line)
            );
            assert!(list_has(&headers, "upgrade", "websocket"), "Upgrade");
            assert!(list_has(&headers, "connection", "upgrade"), "Connection");
            let accept = sockless::handshake::accept_value(&key_of(&request));
            assert_eq!(
                values(&headers, "sec-websocket-accept"),
                [&accept[..]],
                "accept"
            );
            let protocols = values(&headers, "sec-websocket-protocol");
            assert!(protocols.len() <= 1);
            if let Some(chosen) = protocols.first() {
                assert!(offers && SUBPROTOCOLS.iter().any(|p| p.as_bytes() == *chosen));
                assert_eq!(subprotocol.as_deref().map(str::as_bytes), Some(*chosen));
            }
            for value in values(&headers, "sec-websocket-extensions") {
                for item in value.split(|&b| b == b',') {
                    let name = item.split(|&b| b == b';').next().unwrap();
                    let name = String::from_utf8_lossy(name);
                    let name = name.trim_matches(|c| c == ' ' || c == '\t');
                    assert!(
                        name.is_empty()
                            || (offers && name.eq_ignore_ascii_case("permessage-deflate"))
                    );
                }
            }
            assert_eq!(client.state(), State::Open);
            // The bytes after the head are the first frames.
            let frames = &stream[consumed..];
            let mut collector = Collector::new(&config);
            feed_pieces(&mut client, &[frames], Instant::ZERO, &mut collector);
            check_against_model(&collector, &model(false, &config, frames));
        }
    }
});
