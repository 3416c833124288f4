//! Hostile input: what a malicious or broken peer sends, and what RFC 6455 says each must get
//! (the HTTP status or the close code), with memory that never grows with the attack.
//!
//! The length tests also run on a 32-bit target, where a 64-bit length may not fit in
//! `usize`:
//! `cargo +nightly miri test --target i686-unknown-linux-gnu --test hostile`.
//! Tests that feed megabytes are skipped under miri (too slow there); the length tests are not.
//!
//! Bugs found by fuzzing get their regression tests at the end, named after the bug.

mod common;
use common::*;
use sockless::handshake::{Limits, find_head_end};
use sockless::{
    Client, ClientRequest, CloseCode, Config, Connection, Endpoint, Error, Event, HandshakeError,
    MessageKind, ProtocolError, Server, State, TimedOut,
};

/// The open connection of `e`, to send with.
fn conn<E: Endpoint>(e: &mut E) -> &mut Connection<E::Masking> {
    e.connection().expect("the connection is open")
}

/// What one `receive` call made of `input`: how much it consumed and, if the handshake
/// failed, why (`Event::HandshakeFailed`). `None` for no event; any other event panics.
fn handshake_outcome(
    endpoint: &mut impl Endpoint,
    input: &mut [u8],
) -> (usize, Option<HandshakeError>) {
    let received = endpoint.receive(input, at(0)).expect("no usage error");
    match received.event.map(Event::widen) {
        None => (received.consumed, None),
        Some(Event::HandshakeFailed(error)) => (received.consumed, Some(error)),
        Some(other) => panic!("expected no event or a handshake failure, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Opening handshake (RFC 6455 §4.2.1, §4.2.2, §10.4): the status each hostile request gets.
// ---------------------------------------------------------------------------------------

/// Feed `head` to a fresh server in one piece: it must fail, answer with the status of the
/// error, and read nothing more.
fn server_rejects(config: Config, head: &[u8]) -> (HandshakeError, u16) {
    let mut server = Server::new(config, at(0));
    let mut input = head.to_vec();
    let error = match handshake_outcome(&mut server, &mut input) {
        (consumed, Some(error)) => {
            assert_eq!(consumed, input.len(), "the whole input is dropped");
            error
        }
        other => panic!(
            "{:?}: expected a handshake error, got {other:?}",
            String::from_utf8_lossy(&head[..head.len().min(80)])
        ),
    };
    let status = error.status().expect("a server failure has a status");
    let mut out = [0u8; 512];
    let n = server.poll_transmit(&mut out).unwrap();
    let response = std::str::from_utf8(&out[..n]).unwrap();
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status} ")),
        "{response}"
    );
    assert!(response.ends_with("\r\n\r\n"));
    assert!(server.should_close_transport());
    assert_eq!(server.poll_transmit(&mut out), Ok(0));
    // Nothing more is read.
    let received = server.receive(&mut input, at(0)).unwrap();
    assert!(received.event.is_none() && received.consumed == input.len());
    (error, status)
}

fn request_with(from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(UPGRADE_REQUEST).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
#[cfg_attr(miri, ignore)]
fn one_megabyte_request_line_gets_431_once_max_head_len_is_reached() {
    let mut line = b"GET /".to_vec();
    line.extend(std::iter::repeat_n(b'a', 1 << 20));
    line.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    // In one piece: refused, having looked at no more than the limit.
    assert_eq!(
        server_rejects(Config::default(), &line),
        (HandshakeError::HeadTooLarge, 431)
    );
    // As it arrives, 1 KiB at a time: refused as soon as the buffer holds max_head_len
    // bytes, so the reader never needs more.
    let limit = Config::default().max_head_len;
    let mut server = Server::new(Config::default(), at(0));
    let mut pending = Vec::new();
    for piece in line.chunks(1024) {
        pending.extend_from_slice(piece);
        match handshake_outcome(&mut server, &mut pending) {
            (consumed, None) => {
                assert_eq!(consumed, 0);
                assert!(pending.len() < limit);
            }
            (_, Some(error)) => {
                assert_eq!(error, HandshakeError::HeadTooLarge);
                assert_eq!(pending.len(), limit);
                break;
            }
        }
    }
    assert_eq!(pending.len(), limit, "refused at the limit");
    assert!(
        String::from_utf8(drain(&mut server))
            .unwrap()
            .starts_with("HTTP/1.1 431 ")
    );
}

#[test]
fn ten_thousand_headers_get_431() {
    let mut head = b"GET /chat HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..10_000 {
        head.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    // Over the head limit first.
    assert_eq!(
        server_rejects(Config::default(), &head),
        (HandshakeError::HeadTooLarge, 431)
    );
    // Within a generous head limit, over the header count.
    let config = Config::default().with_max_head_len(1 << 20);
    assert_eq!(
        server_rejects(config, &head),
        (HandshakeError::TooManyHeaders, 431)
    );
    // Just over a configured count.
    let config = Config::default().with_max_headers(7);
    let eight = request_with("\r\n\r\n", "\r\nX-A: 1\r\nX-B: 2\r\n\r\n");
    assert_eq!(
        server_rejects(config, &eight),
        (HandshakeError::TooManyHeaders, 431)
    );
}

#[test]
fn header_values_with_cr_lf_or_nul_get_400() {
    for (what, from, to) in [
        ("CR", "Upgrade: websocket", "Upgrade: web\rsocket"),
        ("CR at end", "Upgrade: websocket", "Upgrade: websocket\r"),
        (
            "LF",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Key: dGhlIHNh\nbXBsZSBub25jZQ==",
        ),
        ("NUL", "Upgrade: websocket", "Upgrade: web\0socket"),
        (
            "NUL in Host",
            "Host: server.example.com",
            "Host: server\0.example.com",
        ),
        ("NUL in name", "Upgrade: websocket", "Upgr\0ade: websocket"),
        ("CR in target", "GET /chat", "GET /ch\rat"),
    ] {
        let head = request_with(from, to);
        let (error, status) = server_rejects(Config::default(), &head);
        assert_eq!(status, 400, "{what}: {error:?}");
    }
}

#[test]
fn key_of_the_wrong_length_gets_400() {
    for key in [
        "",
        "dGhlIHNhbXBsZQ==",             // 10 bytes
        "dGhlIHNhbXBsZSBub25jZSE=",     // 17 bytes
        "dGhlIHNhbXBsZSBub25jZSEhIQ==", // 19 bytes
        "dGhlIHNhbXBsZSBub25j",         // 15 bytes, no padding
        "dGhlIHNhbXBsZSBub25jZQ",       // 16 bytes without padding
        "dGhlIHNhbXBsZSBub25jZQ===",    // extra padding
        "!!!!!!!!!!!!!!!!!!!!!!==",     // not base64
        "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
    ] {
        let head = request_with("dGhlIHNhbXBsZSBub25jZQ==", key);
        assert_eq!(
            server_rejects(Config::default(), &head),
            (HandshakeError::InvalidKey, 400),
            "key {key:?}"
        );
    }
}

#[test]
fn duplicate_key_gets_400() {
    for second in ["dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA=="] {
        let head = request_with(
            "\r\n\r\n",
            &format!("\r\nSec-WebSocket-Key: {second}\r\n\r\n"),
        );
        assert_eq!(
            server_rejects(Config::default(), &head),
            (HandshakeError::DuplicateHeader, 400)
        );
    }
    // Names are case-insensitive: a lowercase duplicate is still a duplicate.
    let head = request_with(
        "\r\n\r\n",
        "\r\nsec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n",
    );
    assert_eq!(
        server_rejects(Config::default(), &head),
        (HandshakeError::DuplicateHeader, 400)
    );
}

#[test]
fn non_get_methods_get_400() {
    for method in [
        "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get", "Get",
        "XGET",
    ] {
        let head = request_with("GET /chat", &format!("{method} /chat"));
        assert_eq!(
            server_rejects(Config::default(), &head),
            (HandshakeError::MethodNotGet, 400),
            "{method}"
        );
    }
}

#[test]
fn http_1_0_gets_400() {
    let head = request_with("HTTP/1.1", "HTTP/1.0");
    assert_eq!(
        server_rejects(Config::default(), &head),
        (HandshakeError::HttpVersionTooOld, 400)
    );
    // Versions httparse does not know at all are malformed: 400 too.
    for version in ["HTTP/0.9", "HTTP/2.0", "HTTP/1.1.1", "HTTP/1"] {
        let head = request_with("HTTP/1.1", version);
        assert_eq!(server_rejects(Config::default(), &head).1, 400, "{version}");
    }
}

/// A head that never ends: header lines, no blank line.
fn endless_head(len: usize) -> Vec<u8> {
    let mut head = b"GET /chat HTTP/1.1\r\n".to_vec();
    while head.len() < len {
        head.extend_from_slice(b"X: a\r\n");
    }
    head.truncate(len);
    head
}

#[test]
#[cfg_attr(miri, ignore)]
fn head_arriving_one_byte_at_a_time_ends_with_431_at_max_head_len() {
    let limit = 64 * 1024;
    let config = Config::default().with_max_head_len(limit);
    let mut head = endless_head(limit + 100);
    let mut server = Server::new(config, at(0));
    // The reader's buffer grows by one byte per call; it is never copied, so this test does
    // work linear in its length unless the server re-reads what it already searched (64 Ki
    // calls over up to 64 KiB each would be 2 GiB of scanning).
    let mut refused_at = None;
    for len in 1..=head.len() {
        match handshake_outcome(&mut server, &mut head[..len]) {
            (consumed, None) => assert_eq!(consumed, 0, "at {len}"),
            (_, Some(error)) => {
                assert_eq!(error, HandshakeError::HeadTooLarge);
                refused_at = Some(len);
                break;
            }
        }
    }
    assert_eq!(
        refused_at,
        Some(limit),
        "refused exactly when the buffer reaches max_head_len"
    );
    assert!(
        String::from_utf8(drain(&mut server))
            .unwrap()
            .starts_with("HTTP/1.1 431 ")
    );

    // The search itself keeps a cursor: each call leaves at most two bytes unsettled, so
    // each byte is looked at a bounded number of times.
    let limits = Limits {
        max_head_len: limit,
        max_headers: 64,
    };
    let mut scanned = 0;
    for len in 1..limit {
        let before = scanned;
        assert_eq!(find_head_end(&head[..len], &mut scanned, &limits), Ok(None));
        assert!(
            scanned >= before && scanned <= len && scanned + 2 >= len,
            "scanned {scanned} at {len}"
        );
    }
    assert_eq!(
        find_head_end(&head[..limit], &mut scanned, &limits),
        Err(HandshakeError::HeadTooLarge)
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn response_arriving_one_byte_at_a_time_fails_at_max_head_len() {
    let limit = 64 * 1024;
    let config = Config::default().with_max_head_len(limit);
    let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    let mut client = Client::new(request, config, rng(), at(0)).unwrap();
    drain(&mut client);
    let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    head.extend(endless_head(limit + 10).into_iter().skip(20));
    let mut refused_at = None;
    for len in 1..=head.len() {
        match handshake_outcome(&mut client, &mut head[..len]) {
            (consumed, None) => assert_eq!(consumed, 0),
            (_, Some(error)) => {
                assert_eq!(error, HandshakeError::HeadTooLarge);
                refused_at = Some(len);
                break;
            }
        }
    }
    assert_eq!(refused_at, Some(limit));
    assert!(client.should_close_transport());
    assert_eq!(
        client.poll_transmit(&mut [0u8; 256]),
        Ok(0),
        "nothing is sent after a failed handshake"
    );
}

// ---------------------------------------------------------------------------------------
// Frame lengths (RFC 6455 §5.2): never truncated, on any target.
// ---------------------------------------------------------------------------------------

/// A header declaring `len` bytes with the 64-bit form, as `endpoint` receives it.
fn header_64(endpoint: &impl Endpoint, first_byte: u8, len: u64) -> Vec<u8> {
    let mut bytes = vec![first_byte, 127];
    bytes.extend_from_slice(&len.to_be_bytes());
    if expects_masked(endpoint) {
        bytes[1] |= 0x80;
        bytes.extend_from_slice(&MASK);
    }
    bytes
}

fn unlimited() -> Config {
    Config::default()
        .with_max_frame_len(u64::MAX)
        .with_max_message_len(u64::MAX)
}

/// `payload` as `endpoint` receives it after a header from [`header_64`].
fn payload_for(endpoint: &impl Endpoint, payload: &[u8]) -> Vec<u8> {
    let masked = expects_masked(endpoint);
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| if masked { b ^ MASK[i % 4] } else { *b })
        .collect()
}

/// A role (`open` makes a fresh one) fails a 64-bit length with its top bit set.
fn top_bit_length_fails_with_1002<E: Endpoint>(open: impl Fn(Config) -> E) {
    for len in [1u64 << 63, u64::MAX, (1 << 63) | 5] {
        let endpoint = &mut open(unlimited());
        let mut bytes = header_64(endpoint, 0x82, len);
        bytes.extend(payload_for(endpoint, b"abc"));
        let (events, outcome, _) = feed(endpoint, &bytes, at(1));
        assert!(events.is_empty());
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::LengthHighBitSet))
        );
        assert_eq!(close_code_in(&drain(endpoint)), Some(1002));
    }
    // Judged with the first length byte: three bytes are enough.
    let endpoint = &mut open(unlimited());
    let second = if expects_masked(endpoint) { 0xFF } else { 0x7F };
    let (_, outcome, _) = feed(endpoint, &[0x82, second, 0x80], at(1));
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::LengthHighBitSet))
    );
    assert_eq!(close_code_in(&drain(endpoint)), Some(1002));
}

#[test]
fn length_with_the_top_bit_set_fails_with_1002_in_each_role() {
    top_bit_length_fails_with_1002(open_server);
    top_bit_length_fails_with_1002(open_client);
}

/// A role (`open` makes a fresh one) given a 2^40-byte frame of which four bytes arrive.
fn length_of_2_pow_40<E: Endpoint>(open: impl Fn(Config) -> E) {
    // Over the default frame limit: 1009 from the header alone.
    let endpoint = &mut open(Config::default());
    let mut bytes = header_64(endpoint, 0x82, 1 << 40);
    bytes.extend(payload_for(endpoint, b"abcd"));
    let (events, outcome, _) = feed(endpoint, &bytes, at(1));
    assert!(events.is_empty());
    assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
    assert_eq!(close_code_in(&drain(endpoint)), Some(1009));

    // With no limit: on a 64-bit target the few bytes are handed out as they are (nothing
    // reserved for the rest); where 2^40 does not fit in usize it fails with 1009.
    let endpoint = &mut open(unlimited());
    let mut bytes = header_64(endpoint, 0x82, 1 << 40);
    bytes.extend(payload_for(endpoint, b"abcd"));
    let (events, outcome, left) = feed(endpoint, &bytes, at(1));
    if usize::BITS < 41 {
        assert!(events.is_empty());
        assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
        assert_eq!(close_code_in(&drain(endpoint)), Some(1009));
    } else {
        outcome.unwrap();
        assert_eq!(left, 0);
        assert_eq!(
            events,
            vec![Ev::Chunk {
                kind: MessageKind::Binary,
                data: b"abcd".to_vec(),
                first: true,
                last: false
            }]
        );
        assert_eq!(endpoint.state(), State::Open);
    }
}

#[test]
fn length_of_2_pow_40_with_a_few_bytes_following() {
    length_of_2_pow_40(open_server);
    length_of_2_pow_40(open_client);
}

/// A frame declaring `len` bytes, five of which arrive followed by what would be a Ping if
/// the length were truncated.
fn length_is_never_truncated(endpoint: &mut impl Endpoint, len: u64) {
    let mut bytes = header_64(endpoint, 0x82, len);
    // Five payload bytes, then what would be a Ping if the length were truncated.
    let payload = [1u8, 2, 3, 4, 5];
    bytes.extend(payload_for(endpoint, &payload));
    bytes.extend(frame_for(endpoint, 0x89, b"p"));
    let (events, outcome, _) = feed(endpoint, &bytes, at(1));
    if usize::try_from(len).is_err() {
        assert!(events.is_empty(), "{len}: {events:?}");
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::FrameTooLarge)),
            "{len}"
        );
        assert_eq!(close_code_in(&drain(endpoint)), Some(1009));
    } else {
        outcome.unwrap();
        // One chunk of everything after the header: the would-be Ping is payload.
        let header_len = header_64(endpoint, 0x82, len).len();
        let [
            Ev::Chunk {
                kind: MessageKind::Binary,
                data,
                first: true,
                last: false,
            },
        ] = &events[..]
        else {
            panic!("{len}: {events:?}")
        };
        assert_eq!(data.len(), bytes.len() - header_len, "{len}");
        assert_eq!(data[..5], payload, "{len}");
    }
}

#[test]
fn lengths_that_do_not_fit_in_usize_fail_with_1009_and_are_never_truncated() {
    // 2^32 + 5 truncated to 32 bits would be 5: the frame must not end after 5 bytes.
    for len in [
        1u64 << 32,
        (1 << 32) + 5,
        u32::MAX as u64 + 1,
        (1 << 63) - 1,
    ] {
        let (mut server, mut client) = both_roles(unlimited());
        length_is_never_truncated(&mut server, len);
        length_is_never_truncated(&mut client, len);
    }
    // The frame limit is compared on the full 64-bit value too.
    let config = Config::default().with_max_frame_len(5);
    let mut server = open_server(config);
    let bytes = header_64(&server, 0x82, (1 << 32) + 5);
    let (_, outcome, _) = feed(&mut server, &bytes, at(1));
    assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
}

// ---------------------------------------------------------------------------------------
// Opcodes, RSV bits, control frames, fragmentation (RFC 6455 §5.2, §5.4, §5.5).
// ---------------------------------------------------------------------------------------

/// Every first byte with FIN set, each to a fresh endpoint of one role (`open`).
fn every_opcode_and_rsv_combination<E: Endpoint>(open: impl Fn(Config) -> E) {
    for opcode in 0u8..16 {
        for rsv in 0u8..8 {
            let endpoint = &mut open(Config::default());
            let payload: &[u8] = match opcode {
                0x8 => b"\x03\xe8",
                _ => b"ok",
            };
            let bytes = frame_for(endpoint, 0x80 | rsv << 4 | opcode, payload);
            let (events, outcome, _) = feed(endpoint, &bytes, at(1));
            let server_role = expects_masked(endpoint);
            let what = format!("server {server_role}, opcode {opcode:#x}, rsv {rsv:#b}");
            let reserved = matches!(opcode, 0x3..=0x7 | 0xB..=0xF);
            if reserved || rsv != 0 || opcode == 0 {
                assert!(events.is_empty(), "{what}: {events:?}");
                let expected = if reserved {
                    ProtocolError::ReservedOpcode(opcode)
                } else if rsv != 0 {
                    ProtocolError::ReservedBitsSet
                } else {
                    ProtocolError::UnexpectedContinuation
                };
                assert_eq!(outcome, Err(Error::Protocol(expected)), "{what}");
                assert_eq!(close_code_in(&drain(endpoint)), Some(1002), "{what}");
                assert!(endpoint.should_close_transport(), "{what}");
            } else {
                outcome.unwrap();
                let expected = match opcode {
                    0x1 => Ev::Text("ok".into()),
                    0x2 => Ev::Binary(b"ok".to_vec()),
                    0x8 => Ev::Close(Some(1000), String::new()),
                    0x9 => Ev::Ping(b"ok".to_vec()),
                    _ => Ev::Pong(b"ok".to_vec()),
                };
                assert_eq!(events, vec![expected], "{what}");
            }
        }
    }
}

#[test]
fn every_opcode_and_rsv_combination_in_each_role() {
    every_opcode_and_rsv_combination(open_server);
    every_opcode_and_rsv_combination(open_client);
}

/// A control frame (`opcode`) of `len` bytes, judged on its length byte alone.
fn control_frame_too_long(endpoint: &mut impl Endpoint, opcode: u8, len: usize) {
    let mut payload = vec![b'x'; len];
    payload[..2].copy_from_slice(&1000u16.to_be_bytes());
    let bytes = frame_for(endpoint, opcode, &payload);
    // The length byte alone condemns it.
    let (events, outcome, _) = feed(endpoint, &bytes[..2], at(1));
    assert!(events.is_empty());
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::ControlFrameTooLong)),
        "{opcode:#x} {len}"
    );
    assert_eq!(close_code_in(&drain(endpoint)), Some(1002));
}

#[test]
fn control_frames_of_126_bytes_fail_with_1002_in_each_role() {
    for opcode in [0x88u8, 0x89, 0x8A] {
        for len in [126usize, 127, 65535] {
            let (mut server, mut client) = both_roles(Config::default());
            control_frame_too_long(&mut server, opcode, len);
            control_frame_too_long(&mut client, opcode, len);
        }
    }
    // 125 bytes is the most, and fine.
    let mut server = open_server(Config::default());
    let (events, outcome, _) = feed(
        &mut server,
        &raw_frame(0x89, Some(MASK), &[7; 125], 0),
        at(1),
    );
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Ping(vec![7; 125])]);
}

/// A control frame (`opcode`) with FIN clear, inside a fragmented message.
fn fragmented_control_frame(endpoint: &mut impl Endpoint, opcode: u8) {
    // Inside a fragmented message too.
    let mut bytes = frame_for(endpoint, 0x01, b"a");
    bytes.extend(frame_for(endpoint, opcode, b"\x03\xe8"));
    let (events, outcome, _) = feed(endpoint, &bytes, at(1));
    assert_eq!(
        events,
        vec![Ev::Chunk {
            kind: MessageKind::Text,
            data: b"a".to_vec(),
            first: true,
            last: false
        }]
    );
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::FragmentedControlFrame)),
        "{opcode:#x}"
    );
    assert_eq!(close_code_in(&drain(endpoint)), Some(1002));
}

#[test]
fn fragmented_control_frames_fail_with_1002_in_each_role() {
    for opcode in [0x08u8, 0x09, 0x0A] {
        let (mut server, mut client) = both_roles(Config::default());
        fragmented_control_frame(&mut server, opcode);
        fragmented_control_frame(&mut client, opcode);
    }
}

/// 100,000 empty continuation frames (fewer under miri) inside one message.
const STORM: usize = if cfg!(miri) { 1_000 } else { 100_000 };

/// [`STORM`] empty continuation frames inside one text message.
fn continuation_storm(endpoint: &mut impl Endpoint) {
    // A text message whose one character is split around the storm.
    let e_acute = "é".as_bytes();
    let mut bytes = frame_for(endpoint, 0x01, &e_acute[..1]);
    let empty = frame_for(endpoint, 0x00, b"");
    for _ in 0..STORM {
        bytes.extend_from_slice(&empty);
    }
    bytes.extend(frame_for(endpoint, 0x80, &e_acute[1..]));
    let expected = vec![
        Ev::Chunk {
            kind: MessageKind::Text,
            data: vec![0xC3],
            first: true,
            last: false,
        },
        Ev::Chunk {
            kind: MessageKind::Text,
            data: vec![0xA9],
            first: false,
            last: true,
        },
    ];
    // In one buffer: events only where data exists, everything consumed.
    let (events, outcome, left) = feed(endpoint, &bytes, at(1));
    outcome.unwrap();
    assert_eq!((events, left), (expected.clone(), 0));
    // In 7-byte pieces: the same, and the reader never keeps more than a header.
    let (events, outcome) = feed_in_pieces(endpoint, &bytes, 7, at(2));
    outcome.unwrap();
    assert_eq!(events, expected);
    // After the storm, the connection is whole.
    let (events, outcome, _) = feed(endpoint, &frame_for(endpoint, 0x82, b"next"), at(3));
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Binary(b"next".to_vec())]);
}

#[test]
fn continuation_storm_is_processed_without_growing_memory() {
    let size_before = (
        std::mem::size_of::<Server>(),
        std::mem::size_of::<Client<'static, TestRng>>(),
    );
    let (mut server, mut client) = both_roles(Config::default());
    continuation_storm(&mut server);
    continuation_storm(&mut client);
    // The state is a fixed-size value: nothing to grow.
    assert_eq!(
        size_before,
        (
            std::mem::size_of::<Server>(),
            std::mem::size_of::<Client<'static, TestRng>>()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Resource bounds (RFC 6455 §5.5.2, §5.5.3, §7.1.1, §10.4).
// ---------------------------------------------------------------------------------------

/// A frame declaring the largest payload allowed, of which 4 MiB ever arrive, in 4 KiB
/// reads: each read is handed out whole and nothing is kept back.
fn unfinished_message_stays_bounded(endpoint: &mut impl Endpoint) {
    let declared = Config::default().max_frame_len;
    let header = header_64(endpoint, 0x02, declared);
    let (events, outcome, left) = feed(endpoint, &header, at(1));
    outcome.unwrap();
    assert_eq!((events.len(), left), (0, 0));
    let mut piece = vec![0u8; 4096];
    for i in 0..1024 {
        let received = endpoint.receive(&mut piece, at(1)).unwrap();
        assert_eq!(received.consumed, 4096, "read {i}: everything is used");
        let Some(Event::Chunk(chunk)) = received.event else {
            panic!("read {i}: no chunk")
        };
        assert_eq!(
            (chunk.data.len(), chunk.first, chunk.last),
            (4096, i == 0, false)
        );
    }
    assert_eq!(endpoint.state(), State::Open);
}

#[test]
#[cfg_attr(miri, ignore)]
fn peer_that_never_finishes_a_message_stays_bounded() {
    let (mut server, mut client) = both_roles(Config::default());
    unfinished_message_stays_bounded(&mut server);
    unfinished_message_stays_bounded(&mut client);
    // A message of many fragments is refused from the header that would take it over the
    // limit, with the fragments before it delivered.
    let config = Config::default()
        .with_max_frame_len(1000)
        .with_max_message_len(10_000);
    let mut server = open_server(config);
    let mut bytes = raw_frame(0x02, Some(MASK), &[1; 1000], 0);
    for _ in 0..9 {
        bytes.extend(raw_frame(0x00, Some(MASK), &[1; 1000], 0));
    }
    bytes.extend(raw_frame(0x00, Some(MASK), &[1; 1], 0));
    let (events, outcome, _) = feed(&mut server, &bytes, at(1));
    assert_eq!(events.len(), 10);
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::MessageTooLarge))
    );
    assert_eq!(close_code_in(&drain(&mut server)), Some(1009));
}

/// `count` Pings in one input, nothing written meanwhile: one Pong is owed.
fn many_pings_leave_one_pong(endpoint: &mut impl Endpoint, count: usize) {
    let mut bytes = Vec::new();
    for i in 0..count {
        bytes.extend(frame_for(endpoint, 0x89, format!("ping {i}").as_bytes()));
    }
    let (events, outcome, left) = feed(endpoint, &bytes, at(1));
    outcome.unwrap();
    assert_eq!((events.len(), left), (count, 0));
    let out = drain(endpoint);
    let frames = wire_frames(&out);
    assert_eq!(frames.len(), 1, "exactly one Pong is owed");
    assert_eq!(frames[0].opcode, 0xA);
    assert_eq!(
        frames[0].payload,
        format!("ping {}", count - 1).into_bytes()
    );
    assert_eq!(endpoint.poll_transmit(&mut [0u8; 256]), Ok(0));
}

#[test]
fn ten_thousand_pings_without_reading_pongs_leave_one_pong_with_the_latest_payload() {
    let count = if cfg!(miri) { 500 } else { 10_000 };
    let (mut server, mut client) = both_roles(Config::default());
    many_pings_leave_one_pong(&mut server, count);
    many_pings_leave_one_pong(&mut client, count);
}

/// Our Close at 100 ms is never answered: the close timeout (`close_timeout` ms) ends it.
fn close_unanswered_until_the_timeout(endpoint: &mut impl Endpoint, close_timeout: u64) {
    let mut out = [0u8; 256];
    let n = conn(endpoint)
        .close(CloseCode(1000), "bye", at(100), &mut out)
        .unwrap();
    assert_eq!(close_code_in(&out[..n]), Some(1000));
    assert_eq!(endpoint.state(), State::LocalClosing);
    assert_eq!(endpoint.poll_timeout(), Some(at(100 + close_timeout)));
    // The peer keeps sending data instead of its Close: it is still read.
    let (events, outcome, _) = feed(endpoint, &frame_for(endpoint, 0x82, b"more"), at(200));
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Binary(b"more".to_vec())]);
    // Pings get no Pong after our Close.
    let (_, outcome, _) = feed(endpoint, &frame_for(endpoint, 0x89, b"p"), at(300));
    outcome.unwrap();
    assert!(
        drain(endpoint).is_empty(),
        "nothing is sent after our Close"
    );
    // Early: nothing happens.
    assert_eq!(endpoint.handle_timeout(at(100 + close_timeout - 1)), None);
    assert!(!endpoint.should_close_transport());
    // At the deadline: the transport is to be closed.
    let deadline = endpoint.poll_timeout().unwrap();
    assert_eq!(endpoint.handle_timeout(deadline), Some(TimedOut::Closing));
    assert!(endpoint.should_close_transport());
    assert_eq!(endpoint.state(), State::Closed);
    assert_eq!(endpoint.poll_timeout(), None);
    // The transport ending now is the expected end, not an abnormal one.
    assert_eq!(endpoint.handle_eof(), Ok(()));
}

#[test]
fn peer_that_never_answers_our_close_is_ended_by_the_close_timeout() {
    let close_timeout = Config::default().close_timeout.as_millis() as u64;
    let (mut server, mut client) = both_roles(Config::default());
    close_unanswered_until_the_timeout(&mut server, close_timeout);
    close_unanswered_until_the_timeout(&mut client, close_timeout);
}

#[test]
fn receive_after_a_failure_reads_nothing() {
    let mut server = open_server(Config::default());
    let (_, outcome, _) = feed(&mut server, &[0x83], at(1));
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::ReservedOpcode(3)))
    );
    let mut more = raw_frame(0x81, Some(MASK), b"hi", 0);
    let len = more.len();
    let received = server.receive(&mut more, at(1)).unwrap();
    assert!(received.event.is_none());
    assert_eq!(received.consumed, len);
}

// ---------------------------------------------------------------------------------------
// Regressions for bugs found by fuzzing.
// ---------------------------------------------------------------------------------------

/// Found by the `connection` fuzz target. A client that receives the server's Close starts
/// its close timeout (the wait for the server to close the transport). If that timeout
/// ran out before the application wrote the owed Close echo (`handle_timeout` called
/// before `poll_transmit`), `handle_timeout` consumed the timer while the state was
/// `RemoteClosing`; once the echo went out the client was `Closed` with no timer and
/// `should_close_transport` false, forever: a server that never closes the transport kept
/// the connection open indefinitely (RFC 6455 §7.1.1: the client closes the connection
/// itself "if it has not received a TCP Close from the server in a reasonable time period").
#[test]
fn client_close_timeout_running_out_before_the_echo_is_sent_still_closes_the_transport() {
    let close_timeout = Config::default().close_timeout.as_millis() as u64;
    let mut client = open_client(Config::default());
    let (events, outcome, _) = feed(&mut client, &raw_frame(0x88, None, b"\x03\xe8", 0), at(0));
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Close(Some(1000), String::new())]);
    assert_eq!(client.poll_timeout(), Some(at(close_timeout)));
    // Time passes before the echo is written.
    assert_eq!(client.handle_timeout(at(close_timeout + 1)), None);
    assert_eq!(
        close_code_in(&drain(&mut client)),
        Some(1000),
        "the echo is still owed"
    );
    assert_eq!(client.state(), State::Closed);
    assert!(
        client.should_close_transport() || client.poll_timeout().is_some(),
        "the client neither closes the transport nor has a timer to do it"
    );
    if let Some(deadline) = client.poll_timeout() {
        assert_eq!(client.handle_timeout(deadline), None);
    }
    assert!(client.should_close_transport());

    // The same with close(): the application answers with its own code after the timeout.
    let mut client = open_client(Config::default());
    let (_, outcome, _) = feed(&mut client, &raw_frame(0x88, None, b"\x03\xe8", 0), at(0));
    outcome.unwrap();
    assert_eq!(client.handle_timeout(at(close_timeout + 1)), None);
    let mut out = [0u8; 64];
    let n = conn(&mut client)
        .close(CloseCode(1001), "", at(close_timeout + 2), &mut out)
        .unwrap();
    assert_eq!(close_code_in(&out[..n]), Some(1001));
    if let Some(deadline) = client.poll_timeout() {
        assert_eq!(client.handle_timeout(deadline), None);
    }
    assert!(client.should_close_transport());
}
