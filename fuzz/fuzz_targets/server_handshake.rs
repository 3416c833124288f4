//! Arbitrary bytes as the request head a Server reads, cut arbitrarily. The result must not
//! depend on the cuts; an accepted request must meet every rule of RFC 6455 §4.2.1; a
//! rejection must carry the status RFC 6455 §4.2.1 and §4.4 call for; bytes after the head are the first frames.
//!
//! Input: one byte choosing the limits, one byte `n` then `n % 16` cut lengths, then the
//! bytes the client sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockless::{
    Accept, Duration, Endpoint, Event, HandshakeError, Instant, Server, State, TimedOut,
};
use sockless_fuzz::*;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Request {
        consumed: usize,
        target: String,
        upgrade: bool,
    },
    Failed(HandshakeError),
    Pending,
}

/// Feed `pieces` until the head is complete or refused (see [`drive_head`]).
fn drive(server: &mut Server, pieces: &[&[u8]], max_head_len: usize) -> (Outcome, Vec<u8>) {
    let request = |event: Event<'_>, consumed| match event {
        Event::Request(request) => Outcome::Request {
            consumed,
            target: request.target().to_string(),
            upgrade: request.is_upgrade(),
        },
        other => panic!("unexpected event {other:?}"),
    };
    drive_head(
        server,
        pieces,
        max_head_len,
        request,
        Outcome::Failed,
        Outcome::Pending,
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (cuts, stream) = split_cuts(rest);
    let mut config = config_from(selector);
    config.max_head_len = [8192, 64, 256, 1024][usize::from(selector >> 6)];
    config.max_headers = [64, 0, 3, 10][usize::from((selector >> 4) & 3)];
    config.handshake_timeout = Duration::from_millis(u64::from(selector) + 1);

    let mut whole = Server::new(config, Instant::ZERO);
    let (whole_outcome, _) = drive(&mut whole, &[stream], config.max_head_len);
    let mut server = Server::new(config, Instant::ZERO);
    let (outcome, pending) = drive(&mut server, &pieces(stream, cuts), config.max_head_len);
    assert_eq!(outcome, whole_outcome, "the outcome depends on the cuts");

    match outcome {
        Outcome::Pending => {
            assert!(head_end(stream).is_none());
            assert_eq!(server.state(), State::Connecting);
            assert_eq!(server.poll_transmit(&mut [0u8; 64]), Ok(0));
            // A head that never ends is answered 408 at the handshake deadline.
            let deadline = Instant::ZERO.saturating_add(config.handshake_timeout);
            assert_eq!(server.poll_timeout(), Some(deadline));
            let early = Instant::from_elapsed(config.handshake_timeout - Duration::from_millis(1));
            assert_eq!(server.handle_timeout(early), None);
            assert_eq!(server.state(), State::Connecting);
            assert_eq!(server.handle_timeout(deadline), Some(TimedOut::Handshake));
            let mut out = [0u8; 256];
            let n = server.poll_transmit(&mut out).expect("408");
            assert!(out[..n].starts_with(b"HTTP/1.1 408 "));
            assert_eq!(head_end(&out[..n]), Some(n));
            assert!(server.should_close_transport());
            assert_eq!(server.poll_timeout(), None);
        }
        Outcome::Failed(error) => {
            let status = error.status().expect("a server failure has a status");
            if error == HandshakeError::HeadTooLarge {
                assert!(pending.len() >= config.max_head_len);
                assert!(
                    head_end(&pending[..config.max_head_len])
                        .is_none_or(|end| end > config.max_head_len)
                );
            }
            let end = head_end(&pending);
            if let Some(end) = end {
                let line = start_line(&pending[..end]);
                if error == HandshakeError::MethodNotGet {
                    assert!(!line.starts_with(b"GET "));
                }
                if line.starts_with(b"GET ") && line.ends_with(b" HTTP/1.1") {
                    assert_ne!(error, HandshakeError::HttpVersionTooOld);
                }
            }
            assert_eq!(server.state(), State::Failed);
            let mut out = [0u8; 512];
            let n = server.poll_transmit(&mut out).expect("rejection");
            let response = &out[..n];
            assert!(
                response.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
                "status {status}"
            );
            assert_eq!(head_end(response), Some(n));
            if status == 426 {
                assert!(
                    header_lines(response)
                        .iter()
                        .any(|(n, v)| n == "sec-websocket-version" && v == b"13")
                );
            }
            assert!(server.should_close_transport());
            assert_eq!(server.poll_transmit(&mut out), Ok(0));
            let mut more = stream.to_vec();
            let len = more.len();
            let received = server.receive(&mut more, Instant::ZERO).unwrap();
            assert!(received.consumed == len && received.event.is_none());
        }
        Outcome::Request {
            consumed, upgrade, ..
        } => {
            assert!(consumed <= config.max_head_len);
            assert_eq!(
                Some(consumed),
                head_end(stream),
                "the head ends at its first empty line"
            );
            let mut input = stream.to_vec();
            let head = &stream[..consumed];
            // Decide again on a fresh server, then keep the request borrowed from `input`.
            let mut server = Server::new(config, Instant::ZERO);
            let received = server.receive(&mut input, Instant::ZERO).unwrap();
            let Some(Event::Request(request)) = received.event else {
                unreachable!()
            };
            let mut out = [0u8; 1024];
            let accepted = server.accept(&request, Accept::default(), Instant::ZERO, &mut out);
            if !upgrade {
                assert_eq!(accepted, Err(sockless::UsageError::NotAnUpgrade.into()));
                let n = server
                    .respond(200, &[("Content-Type", b"text/plain")], b"hi", &mut out)
                    .unwrap();
                assert!(out[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
                assert!(server.should_close_transport());
                return;
            }
            let n = accepted.expect("an upgrade that passed the checks is accepted");
            // Every rule of RFC 6455 §4.2.1 holds (read independently, leniently).
            let headers = header_lines(head);
            let line = start_line(head);
            assert!(line.starts_with(b"GET "), "method");
            assert!(line.ends_with(b" HTTP/1.1"), "version");
            assert_eq!(values(&headers, "host").len(), 1, "Host");
            assert!(list_has(&headers, "upgrade", "websocket"), "Upgrade");
            assert!(list_has(&headers, "connection", "upgrade"), "Connection");
            assert_eq!(
                values(&headers, "sec-websocket-version"),
                [b"13"],
                "version 13"
            );
            let keys = values(&headers, "sec-websocket-key");
            assert_eq!(keys.len(), 1, "one key");
            let key = keys[0];
            assert!(
                key.len() == 24
                    && key.ends_with(b"==")
                    && key[..22]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/'),
                "a key of 16 bytes"
            );
            let response = &out[..n];
            assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            let accept = sockless::handshake::accept_value(key);
            assert_eq!(
                values(&header_lines(response), "sec-websocket-accept"),
                [&accept[..]]
            );
            // The bytes after the head are the first frames.
            let frames = &stream[consumed..];
            let mut collector = Collector::new(&config);
            feed_pieces(&mut server, &[frames], Instant::ZERO, &mut collector);
            check_against_model(&collector, &model(true, &config, frames));
        }
    }
});
