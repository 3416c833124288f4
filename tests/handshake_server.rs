//! RFC 6455 §4.2: the server's opening handshake.

mod common;
use common::*;

use sockless::SendError;
use sockless::{
    Accept, Config, Duration, Endpoint, Error, Event, HandshakeError, Server, State, TimedOut,
    UsageError,
};

const BASE: [&str; 6] = [
    "GET /chat?room=1 HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
];

/// A request head from lines.
fn head(lines: &[&str]) -> Vec<u8> {
    let mut text = lines.join("\r\n");
    text.push_str("\r\n\r\n");
    text.into_bytes()
}

/// The base request with the line starting with `prefix` replaced by `line` (or removed
/// when `line` is empty).
fn with_line(prefix: &str, line: &str) -> Vec<u8> {
    let mut found = false;
    let lines: Vec<&str> = BASE
        .iter()
        .filter_map(|l| {
            if l.starts_with(prefix) {
                found = true;
                (!line.is_empty()).then_some(line)
            } else {
                Some(*l)
            }
        })
        .collect();
    assert!(found, "{prefix}");
    head(&lines)
}

/// The base request with the `name` header's value replaced by `value`.
fn with_value(name: &str, value: &str) -> Vec<u8> {
    with_line(&format!("{name}:"), &format!("{name}: {value}"))
}

/// The base request with `extra` lines added.
fn with_extra(extra: &[&str]) -> Vec<u8> {
    let mut lines = BASE.to_vec();
    lines.extend_from_slice(extra);
    head(&lines)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("ASCII response")
}

/// Send a text message through the server's open connection (`NotOpen` when there is none).
fn send_text(server: &mut Server, text: &str, out: &mut [u8]) -> Result<usize, SendError> {
    server.connection()?.send_text(text, out)
}

/// Feed `request` to a fresh server: it must fail with `error`, and write a response
/// starting with `status_line`. Returns the response.
fn assert_rejected(config: Config, request: &[u8], error: HandshakeError, status: u16) -> String {
    let mut server = Server::new(config, at(0));
    // The failure is an event (`feed` reports `Event::HandshakeFailed` as the outcome),
    // and the whole input is consumed (dropped).
    let (events, outcome, left) = feed(&mut server, request, at(0));
    assert_eq!(outcome, Err(Error::Handshake(error)), "{}", text(request));
    assert_eq!((events, left), (vec![], 0), "{}", text(request));
    assert_eq!(error.status(), Some(status));
    // The answer is queued, not yet written: the transport stays open until it is.
    assert_eq!(server.state(), State::Failed);
    assert!(!server.should_close_transport());
    let response = text(&drain(&mut server));
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status} ")),
        "expected {status}, got {response:?}"
    );
    assert!(response.ends_with("\r\n\r\n"), "{response:?}");
    assert!(server.should_close_transport());
    assert_eq!(server.state(), State::Closed);
    // Nothing more is read or written.
    let mut more = raw_frame(0x81, Some(MASK), b"late", 0);
    let len = more.len();
    let received = server.receive(&mut more, at(1)).expect("swallowed");
    assert_eq!((received.consumed, received.event.is_none()), (len, true));
    assert_eq!(drain(&mut server), Vec::<u8>::new());
    let mut out = [0u8; 64];
    assert_eq!(
        send_text(&mut server, "x", &mut out),
        Err(SendError::Usage(UsageError::NotOpen))
    );
    response
}

fn assert_400(request: &[u8], error: HandshakeError) {
    assert_rejected(Config::default(), request, error, 400);
}

/// A server that accepted a valid base request with `options`; returns it and the 101 text.
fn accept_with(request: &[u8], options: Accept<'_>) -> (Server, String) {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = request.to_vec();
    let received = server.receive(&mut input, at(0)).expect("valid request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut out = [0u8; 1024];
    let n = server
        .accept(&request, options, at(0), &mut out)
        .expect("accept");
    (server, text(&out[..n]))
}

// ---- Every rule, failing -----------------------------------------------------------------

#[test]
fn server_accepts_the_base_request() {
    let (server, response) = accept_with(&head(&BASE), Accept::default());
    assert!(response.starts_with("HTTP/1.1 101 "));
    assert_eq!(server.state(), State::Open);
}

#[test]
fn server_rejects_non_get_method_with_400() {
    for method in ["POST", "PUT", "HEAD", "get", "OPTIONS"] {
        let line = format!("{method} /chat?room=1 HTTP/1.1");
        assert_400(&with_line("GET ", &line), HandshakeError::MethodNotGet);
    }
}

#[test]
fn server_rejects_http_1_0_with_400() {
    assert_400(
        &with_line("GET ", "GET /chat?room=1 HTTP/1.0"),
        HandshakeError::HttpVersionTooOld,
    );
}

#[test]
fn server_rejects_missing_host_with_400() {
    assert_400(&with_line("Host:", ""), HandshakeError::MissingHost);
}

#[test]
fn server_rejects_duplicate_host_with_400() {
    assert_400(
        &with_extra(&["Host: other.example.com"]),
        HandshakeError::DuplicateHeader,
    );
}

#[test]
fn server_rejects_missing_upgrade_with_400() {
    assert_400(
        &with_line("Upgrade:", ""),
        HandshakeError::MissingUpgradeWebSocket,
    );
}

#[test]
fn server_rejects_non_websocket_upgrade_with_400() {
    for value in ["h2c", "websockets", "TLS/1.0", "web socket"] {
        assert_400(
            &with_value("Upgrade", value),
            HandshakeError::MissingUpgradeWebSocket,
        );
    }
}

#[test]
fn server_rejects_connection_without_upgrade_token_with_400() {
    assert_400(
        &with_line("Connection:", ""),
        HandshakeError::MissingConnectionUpgrade,
    );
    for value in ["keep-alive", "Upgrades", "keep-alive Upgrade", "close"] {
        assert_400(
            &with_value("Connection", value),
            HandshakeError::MissingConnectionUpgrade,
        );
    }
}

#[test]
fn server_accepts_upgrade_and_connection_tokens_case_insensitively_in_lists() {
    for (upgrade, connection) in [
        ("WebSocket", "upgrade"),
        ("WEBSOCKET", "keep-alive, Upgrade"),
        ("websocket, h2c", "UPGRADE,keep-alive"),
    ] {
        let request = head(&[
            BASE[0],
            BASE[1],
            &format!("Upgrade: {upgrade}"),
            &format!("Connection: {connection}"),
            BASE[4],
            BASE[5],
        ]);
        let (server, response) = accept_with(&request, Accept::default());
        assert!(
            response.starts_with("HTTP/1.1 101 "),
            "{upgrade} / {connection}"
        );
        assert_eq!(server.state(), State::Open);
    }
}

#[test]
fn server_rejects_key_not_16_bytes_with_400() {
    for key in [
        "dGhlIHNhbXBsZSBub25j",         // 15 bytes
        "dGhlIHNhbXBsZSBub25jZTE=",     // 17 bytes
        "dGhlIHNhbXBsZSBub25jZTEy",     // 18 bytes
        "dGhlIHNhbXBsZSBub25jZQ",       // no padding
        "not base64 at all!!!!!!!",     // not base64
        "dGhlIHNhbXBsZSBub25jZQ==dGhl", // trailing data
        "",
    ] {
        assert_400(
            &with_value("Sec-WebSocket-Key", key),
            HandshakeError::InvalidKey,
        );
    }
}

#[test]
fn server_rejects_missing_key_with_400() {
    assert_400(
        &with_line("Sec-WebSocket-Key", ""),
        HandshakeError::InvalidKey,
    );
}

#[test]
fn server_rejects_duplicate_key_with_400() {
    assert_400(
        &with_extra(&["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]),
        HandshakeError::DuplicateHeader,
    );
    // Even the same key twice.
    assert_400(
        &with_extra(&["sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=="]),
        HandshakeError::DuplicateHeader,
    );
}

#[test]
fn server_rejects_missing_version_with_426_and_version_13() {
    let response = assert_rejected(
        Config::default(),
        &with_line("Sec-WebSocket-Version", ""),
        HandshakeError::UnsupportedVersion,
        426,
    );
    assert_eq!(values_of(&response, "Sec-WebSocket-Version"), ["13"]);
}

#[test]
fn server_rejects_version_8_with_426_and_version_13() {
    for version in ["8", "12", "14", "13, 8", "013"] {
        let response = assert_rejected(
            Config::default(),
            &with_value("Sec-WebSocket-Version", version),
            HandshakeError::UnsupportedVersion,
            426,
        );
        assert_eq!(
            values_of(&response, "Sec-WebSocket-Version"),
            ["13"],
            "{version}"
        );
    }
}

#[test]
fn server_rejects_malformed_head_with_400() {
    let response = assert_rejected(
        Config::default(),
        b"GET /chat HTTP/1.1\r\nHost server.example.com\r\n\r\n",
        HandshakeError::MalformedHead,
        400,
    );
    assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

// ---- Limits ------------------------------------------------------------------------------

fn head_limit(max_head_len: usize) -> Config {
    Config::default().with_max_head_len(max_head_len)
}

/// A 1 MB request line that never ends.
fn endless_request_line() -> Vec<u8> {
    let mut line = b"GET /".to_vec();
    line.resize(1 << 20, b'a');
    line
}

#[test]
fn server_rejects_head_over_max_head_len_with_431_without_buffering() {
    let limit = 1024;
    let config = head_limit(limit);
    let huge = endless_request_line();

    // One byte short of the limit: the server waits, consuming nothing.
    let mut server = Server::new(config, at(0));
    let mut input = huge[..limit - 1].to_vec();
    let received = server
        .receive(&mut input, at(0))
        .expect("not yet over the limit");
    assert_eq!((received.consumed, received.event.is_none()), (0, true));
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    // With the limit reached (or just passed), the error comes: no need for more input.
    let (events, outcome, left) = feed(&mut server, &huge[..limit + 1], at(0));
    assert_eq!(outcome, Err(Error::Handshake(HandshakeError::HeadTooLarge)));
    assert_eq!((events, left), (vec![], 0));
    let response = text(&drain(&mut server));
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    assert!(server.should_close_transport());

    // Exactly the limit, in a fresh server.
    let mut server = Server::new(config, at(0));
    let (_, outcome, _) = feed(&mut server, &huge[..limit], at(0));
    assert_eq!(outcome, Err(Error::Handshake(HandshakeError::HeadTooLarge)));

    // The whole megabyte at once: the same error, right away.
    assert_rejected(config, &huge, HandshakeError::HeadTooLarge, 431);
}

#[test]
fn server_head_limit_error_comes_as_soon_as_limit_bytes_arrive_in_pieces() {
    let limit = 1000;
    let config = head_limit(limit);
    let huge = endless_request_line();
    let mut server = Server::new(config, at(0));
    // The caller keeps unconsumed bytes and appends; the error must come once the limit is
    // there, not after the whole megabyte.
    let mut pending = Vec::new();
    let mut failed_at = None;
    for piece in huge.chunks(7) {
        pending.extend_from_slice(piece);
        let mut input = pending.clone();
        let received = server
            .receive(&mut input, at(0))
            .expect("the peer's mistakes are events");
        match received.event {
            None => assert_eq!(received.consumed, 0),
            Some(Event::HandshakeFailed(error)) => {
                assert_eq!(error, HandshakeError::HeadTooLarge);
                assert_eq!(received.consumed, pending.len());
                failed_at = Some(pending.len());
                break;
            }
            Some(other) => panic!("{other:?}"),
        }
    }
    let failed_at = failed_at.expect("the head limit was never enforced");
    assert!(
        (limit..limit + 7).contains(&failed_at),
        "failed at {failed_at}"
    );
}

#[test]
fn server_rejects_complete_head_over_max_head_len_with_431() {
    let config = head_limit(256);
    let pad = format!("X-Pad: {}", "p".repeat(300));
    assert_rejected(
        config,
        &with_extra(&[&pad]),
        HandshakeError::HeadTooLarge,
        431,
    );
}

#[test]
fn server_accepts_head_of_exactly_max_head_len() {
    let request = head(&BASE);
    let config = head_limit(request.len());
    let mut server = Server::new(config, at(0));
    let mut input = request.clone();
    let received = server
        .receive(&mut input, at(0))
        .expect("exactly at the limit");
    assert_eq!(received.consumed, request.len());
    assert!(matches!(received.event, Some(Event::Request(_))));
}

#[test]
fn server_rejects_more_headers_than_max_headers_with_431() {
    let config = Config::default().with_max_headers(8);
    // 5 base headers + 3 = 8: fine.
    let mut request = with_extra(&["X-A: 1", "X-B: 2", "X-C: 3"]);
    let mut server = Server::new(config, at(0));
    let received = server
        .receive(&mut request, at(0))
        .expect("8 headers allowed");
    assert!(matches!(received.event, Some(Event::Request(_))));
    // 9: too many.
    assert_rejected(
        config,
        &with_extra(&["X-A: 1", "X-B: 2", "X-C: 3", "X-D: 4"]),
        HandshakeError::TooManyHeaders,
        431,
    );
}

#[test]
fn server_rejects_more_headers_than_default_max_headers_with_431() {
    let extra: Vec<String> = (0..100).map(|i| format!("X-H{i}: {i}")).collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    assert_rejected(
        Config::default(),
        &with_extra(&extra),
        HandshakeError::TooManyHeaders,
        431,
    );
}

// ---- Heads in pieces, and what the application sees --------------------------------------

#[test]
fn server_accepts_request_head_one_byte_at_a_time() {
    let request = UPGRADE_REQUEST;
    let mut server = Server::new(Config::default(), at(0));
    let mut pending = Vec::new();
    for (i, &byte) in request.iter().enumerate() {
        pending.push(byte);
        let mut input = pending.clone();
        let received = server
            .receive(&mut input, at(0))
            .expect("no error on a prefix");
        if i + 1 < request.len() {
            assert_eq!(received.consumed, 0, "at byte {i}");
            assert!(received.event.is_none(), "at byte {i}");
            assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
        } else {
            assert_eq!(received.consumed, request.len());
            let Some(Event::Request(request)) = received.event else {
                panic!("no request")
            };
            assert_eq!(request.target(), "/chat?room=1");
            let mut out = [0u8; 512];
            let n = server
                .accept(
                    &request,
                    Accept::default().with_subprotocol("chat"),
                    at(0),
                    &mut out,
                )
                .unwrap();
            assert!(
                text(&out[..n]).contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")
            );
        }
    }
    assert_eq!(server.state(), State::Open);
}

#[test]
fn server_shows_request_details_before_writing_anything() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = with_extra(&[
        "Origin: https://app.example",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Protocol: v3",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
        "Cookie: session=abc",
        "X-Custom: hello world",
    ]);
    let len = input.len();
    let received = server.receive(&mut input, at(0)).expect("valid request");
    assert_eq!(received.consumed, len);
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    assert!(request.is_upgrade());
    assert_eq!(request.method(), "GET");
    assert_eq!(request.target(), "/chat?room=1");
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("room=1"));
    assert_eq!(request.host(), Some("server.example.com"));
    assert_eq!(request.origin(), Some("https://app.example"));
    assert_eq!(
        request.subprotocols().collect::<Vec<_>>(),
        ["chat", "superchat", "v3"]
    );
    assert!(request.offers_subprotocol("superchat"));
    assert!(!request.offers_subprotocol("chat, superchat"));
    assert_eq!(
        request.extensions().collect::<Vec<_>>(),
        ["permessage-deflate; client_max_window_bits", "x-foo"]
    );
    assert_eq!(request.header("cookie"), Some(&b"session=abc"[..]));
    assert_eq!(request.header("X-CUSTOM"), Some(&b"hello world"[..]));
    assert_eq!(request.header("X-Missing"), None);
    let names: Vec<&str> = request.headers().map(|h| h.name).collect();
    assert_eq!(
        names,
        [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "Origin",
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Extensions",
            "Cookie",
            "X-Custom"
        ]
    );
    // While the application decides, nothing is written.
    let mut out = [0u8; 1024];
    assert_eq!(server.poll_transmit(&mut out), Ok(0));
    assert_eq!(server.state(), State::Connecting);
    assert!(!server.should_close_transport());
    // No timer but the handshake deadline, which runs until the decision.
    assert_eq!(server.poll_timeout(), Some(at(10_000)));
}

#[test]
fn server_receive_while_deciding_is_decision_pending() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).unwrap();
    assert!(matches!(received.event, Some(Event::Request(_))));
    let mut more = raw_frame(0x81, Some(MASK), b"early", 0);
    let outcome = server.receive(&mut more, at(0)).map(|r| r.consumed);
    assert_eq!(outcome, Err(UsageError::DecisionPending));
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    // Still deciding: the request can be accepted afterwards.
    let mut input = UPGRADE_REQUEST.to_vec();
    let mut fresh = Server::new(Config::default(), at(0));
    let received = fresh.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    let mut out = [0u8; 512];
    assert!(
        server
            .accept(&request, Accept::default(), at(0), &mut out)
            .is_ok()
    );
    assert_eq!(server.state(), State::Open);
}

// ---- accept ------------------------------------------------------------------------------

#[test]
fn server_101_has_upgrade_connection_and_rfc_1_3_accept() {
    let (_, response) = accept_with(UPGRADE_REQUEST, Accept::default());
    assert!(
        response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{response}"
    );
    assert!(response.ends_with("\r\n\r\n"));
    assert_eq!(values_of(&response, "Upgrade"), ["websocket"]);
    assert_eq!(values_of(&response, "Connection"), ["Upgrade"]);
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Accept"),
        ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
    );
    // No subprotocol chosen: none named.
    assert!(values_of(&response, "Sec-WebSocket-Protocol").is_empty());
}

#[test]
fn server_101_matches_rfc_1_3_sample_response() {
    let (_, response) = accept_with(UPGRADE_REQUEST, Accept::default().with_subprotocol("chat"));
    assert_eq!(
        response,
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
         Sec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

#[test]
fn server_accept_puts_chosen_offered_subprotocol_in_101() {
    let (server, response) = accept_with(
        UPGRADE_REQUEST,
        Accept::default().with_subprotocol("superchat"),
    );
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Protocol"),
        ["superchat"]
    );
    assert_eq!(server.state(), State::Open);
}

#[test]
fn server_accept_refuses_unoffered_subprotocol_with_nothing_written() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    let mut out = [0xAAu8; 512];
    for unoffered in ["mqtt", "Chat", "chat, superchat", ""] {
        assert_eq!(
            server.accept(
                &request,
                Accept::default().with_subprotocol(unoffered),
                at(0),
                &mut out
            ),
            Err(SendError::Usage(UsageError::UnofferedSubprotocol)),
            "{unoffered:?}"
        );
        assert!(
            out.iter().all(|&b| b == 0xAA),
            "bytes written for {unoffered:?}"
        );
        assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
        assert_eq!(server.state(), State::Connecting);
    }
    // The decision is still open.
    let n = server
        .accept(
            &request,
            Accept::default().with_subprotocol("chat"),
            at(0),
            &mut out,
        )
        .unwrap();
    assert!(text(&out[..n]).contains("Sec-WebSocket-Protocol: chat\r\n"));
}

#[test]
fn server_accept_adds_extra_headers() {
    let (_, response) = accept_with(
        UPGRADE_REQUEST,
        Accept::default().with_headers(&[
            ("Set-Cookie", b"id=42; HttpOnly"),
            ("X-Server", b"sockless"),
        ]),
    );
    assert_eq!(values_of(&response, "Set-Cookie"), ["id=42; HttpOnly"]);
    assert_eq!(values_of(&response, "X-Server"), ["sockless"]);
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Accept"),
        ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
    );
}

#[test]
fn server_accept_refuses_injected_extra_header_with_nothing_written() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    let mut out = [0xAAu8; 512];
    for headers in [
        &[("X-Evil", &b"a\r\nInjected: 1"[..])][..],
        &[("X-Evil", b"a\0")],
        &[("Bad Name", b"v")],
    ] {
        assert_eq!(
            server.accept(
                &request,
                Accept::default().with_headers(headers),
                at(0),
                &mut out
            ),
            Err(SendError::Usage(UsageError::InvalidHeader))
        );
        assert!(out.iter().all(|&b| b == 0xAA));
        assert_eq!(server.state(), State::Connecting);
    }
}

#[test]
fn server_101_has_no_extensions_even_when_deflate_offered() {
    let request =
        with_extra(&["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]);
    let (_, response) = accept_with(&request, Accept::default());
    assert!(response.starts_with("HTTP/1.1 101 "));
    assert!(
        values_of(&response, "Sec-WebSocket-Extensions").is_empty(),
        "{response}"
    );
}

#[test]
fn server_accept_for_rfc_key_gives_rfc_accept_whatever_the_request_looks_like() {
    // Key surrounded by whitespace: the value is trimmed.
    let request = with_line(
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Key:   dGhlIHNhbXBsZSBub25jZQ==  ",
    );
    let (_, response) = accept_with(&request, Accept::default());
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Accept"),
        ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
    );
}

#[test]
fn server_delivers_frame_after_request_head_in_same_buffer() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = UPGRADE_REQUEST.to_vec();
    input.extend_from_slice(&raw_frame(0x81, Some(MASK), b"first frame", 0));
    input.extend_from_slice(&raw_frame(0x82, Some([1, 2, 3, 4]), &[9, 8, 7], 0));
    let received = server.receive(&mut input, at(0)).unwrap();
    assert_eq!(received.consumed, UPGRADE_REQUEST.len());
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut out = [0u8; 512];
    server
        .accept(&request, Accept::default(), at(0), &mut out)
        .unwrap();
    let rest = input[UPGRADE_REQUEST.len()..].to_vec();
    let (events, outcome, left) = feed(&mut server, &rest, at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(left, 0);
    assert_eq!(
        events,
        vec![Ev::Text("first frame".into()), Ev::Binary(vec![9, 8, 7])]
    );
}

#[test]
fn server_101_is_accepted_by_the_client_and_messages_flow() {
    let mut client = sockless::Client::connect(
        "ws://server.example.com/chat",
        Config::default(),
        rng(),
        at(0),
    )
    .unwrap();
    let mut server = Server::new(Config::default(), at(0));
    let mut request = drain(&mut client);
    let received = server.receive(&mut request, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    let mut out = [0u8; 512];
    let n = server
        .accept(
            &request,
            Accept::default().with_headers(&[("X-Extra", b"1")]),
            at(0),
            &mut out,
        )
        .unwrap();
    let (events, outcome, _) = feed(&mut client, &out[..n], at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(None)]);
    let n = client
        .connection()
        .unwrap()
        .send_text("ping?", &mut out)
        .unwrap();
    let (events, _, _) = feed(&mut server, &out[..n], at(0));
    assert_eq!(events, vec![Ev::Text("ping?".into())]);
}

// ---- respond, and plain HTTP --------------------------------------------------------------

#[test]
fn server_respond_rejects_with_own_status_headers_and_body() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = with_extra(&["Origin: https://evil.example"]);
    let received = server.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    assert_eq!(request.origin(), Some("https://evil.example"));
    let mut out = [0u8; 512];
    let n = server
        .respond(
            403,
            &[("Content-Type", b"text/plain")],
            b"origin not allowed",
            &mut out,
        )
        .unwrap();
    let response = text(&out[..n]);
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
    assert_eq!(values_of(&response, "Content-Type"), ["text/plain"]);
    assert_eq!(values_of(&response, "Content-Length"), ["18"]);
    assert!(
        response.ends_with("\r\n\r\norigin not allowed"),
        "{response}"
    );
    assert!(values_of(&response, "Sec-WebSocket-Accept").is_empty());
    assert!(server.should_close_transport());
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.poll_transmit(&mut out), Ok(0));
    assert_eq!(
        send_text(&mut server, "x", &mut out),
        Err(SendError::Usage(UsageError::NotOpen))
    );
    // It cannot be accepted afterwards.
    let mut input = UPGRADE_REQUEST.to_vec();
    let mut other = Server::new(Config::default(), at(0));
    let received = other.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    assert_eq!(
        server.accept(&request, Accept::default(), at(0), &mut out),
        Err(SendError::Usage(UsageError::NoPendingRequest))
    );
}

#[test]
fn server_respond_refuses_101_and_injected_headers() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).unwrap();
    assert!(matches!(received.event, Some(Event::Request(_))));
    let mut out = [0xAAu8; 256];
    assert_eq!(
        server.respond(101, &[], b"", &mut out),
        Err(SendError::Usage(UsageError::InvalidStatus))
    );
    assert_eq!(
        server.respond(400, &[("X", b"a\r\nb")], b"", &mut out),
        Err(SendError::Usage(UsageError::InvalidHeader))
    );
    assert!(out.iter().all(|&b| b == 0xAA));
    assert!(!server.should_close_transport());
    assert!(
        server
            .respond(401, &[("WWW-Authenticate", b"Basic")], b"", &mut out)
            .is_ok()
    );
}

#[test]
fn server_plain_get_reaches_application_and_is_answered_with_200() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input =
        b"GET /index.html?lang=en HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n"
            .to_vec();
    let len = input.len();
    let received = server
        .receive(&mut input, at(0))
        .expect("plain GET is not an error");
    assert_eq!(received.consumed, len);
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    assert!(!request.is_upgrade());
    assert_eq!(request.path(), "/index.html");
    assert_eq!(request.query(), Some("lang=en"));
    assert_eq!(request.header("accept"), Some(&b"text/html"[..]));
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    let mut out = [0u8; 512];
    assert_eq!(
        server.accept(&request, Accept::default(), at(0), &mut out),
        Err(SendError::Usage(UsageError::NotAnUpgrade))
    );
    let body = b"<html>hello</html>";
    let n = server
        .respond(200, &[("Content-Type", b"text/html")], body, &mut out)
        .unwrap();
    let response = text(&out[..n]);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert_eq!(
        values_of(&response, "Content-Length"),
        [body.len().to_string()]
    );
    assert!(response.ends_with("\r\n\r\n<html>hello</html>"));
    assert!(server.should_close_transport());
}

#[test]
fn server_plain_post_without_upgrade_reaches_application() {
    // Not an upgrade at all: the method rule does not apply; the application answers.
    let mut server = Server::new(Config::default(), at(0));
    let mut input =
        b"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n".to_vec();
    let received = server.receive(&mut input, at(0)).expect("plain request");
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    assert_eq!(request.method(), "POST");
    assert!(!request.is_upgrade());
}

/// How a server answers `input` fed in pieces of `piece` bytes, each time with everything
/// not yet consumed, as a socket reader would: the request's head length and target, the
/// error, or `None` when it still waits for more.
fn head_outcome(
    input: &[u8],
    piece: usize,
    config: Config,
) -> Option<Result<(usize, String), Error>> {
    let mut server = Server::new(config, at(0));
    let mut pending = Vec::new();
    for part in input.chunks(piece.max(1)) {
        pending.extend_from_slice(part);
        match server.receive(&mut pending, at(0)) {
            Ok(received) => match received.event {
                Some(Event::Request(request)) => {
                    return Some(Ok((received.consumed, request.target().to_string())));
                }
                Some(Event::HandshakeFailed(error)) => return Some(Err(error.into())),
                Some(_) => panic!("only a request can come first"),
                None => assert_eq!(received.consumed, 0),
            },
            Err(error) => return Some(Err(error.into())),
        }
    }
    None
}

proptest::proptest! {
    /// A head parsed in one pass when it arrives whole, and found then parsed when it
    /// trickles in, gives the same request or the same error, wherever the input is cut.
    #[test]
    fn head_outcome_does_not_depend_on_how_it_arrives(
        parts in proptest::collection::vec(proptest::sample::select(&[
            "GET", "POST", " ", "/chat", "HTTP/1.1", "HTTP/1.0", "\r\n", "\n", "\r", "\r\n\r\n",
            "Host: a", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
            ":", "x", "\t", "\0", " \r\n", "GET /chat HTTP/1.1\r\nHost: a\r\n",
        ][..]), 0..24),
        piece in 1usize..40,
        max_head_len in proptest::sample::select(&[24usize, 64, 8192][..]),
    ) {
        let input = parts.concat().into_bytes();
        let config = head_limit(max_head_len);
        let whole = head_outcome(&input, input.len(), config);
        proptest::prop_assert_eq!(&head_outcome(&input, piece, config), &whole);
        proptest::prop_assert_eq!(&head_outcome(&input, 1, config), &whole);
    }
}
/// Leading empty lines end the head at once (the first blank line, §4.2.1 and RFC 7230
/// §3), however the bytes arrive, even though httparse alone would skip them.
#[test]
fn leading_blank_line_is_an_empty_head_however_it_arrives() {
    for prefix in ["\n\n", "\n\r\n", "\r\n\r\n"] {
        let mut input = prefix.as_bytes().to_vec();
        input.extend_from_slice(&head(&BASE));
        for piece in [input.len(), 2, 1] {
            assert_eq!(
                head_outcome(&input, piece, Config::default()),
                Some(Err(Error::Handshake(HandshakeError::MalformedHead))),
                "{prefix:?} in pieces of {piece}"
            );
        }
    }
}

// ---- The handshake deadline (Config::handshake_timeout) -----------------------------------

/// The 408 a server owes when the handshake deadline passes, written out here byte for
/// byte (RFC 9110 §15.5.9; `Connection: close` because the transport is closed next).
const RESPONSE_408: &str =
    "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// After the handshake deadline: exactly one 408, then the transport is to be closed and
/// nothing more is read or written.
fn assert_timed_out_with_408(server: &mut Server) {
    // The 408 is owed, not yet written: the transport stays open until it is.
    assert!(!server.should_close_transport());
    assert_eq!(text(&drain(server)), RESPONSE_408);
    assert!(server.should_close_transport());
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.poll_timeout(), None);
    // Later time and later bytes change nothing.
    assert_eq!(server.handle_timeout(at(60_000)), None);
    let mut late = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut late, at(60_000)).expect("swallowed");
    assert_eq!(
        (received.consumed, received.event.is_none()),
        (UPGRADE_REQUEST.len(), true)
    );
    assert_eq!(drain(server), Vec::<u8>::new());
    let mut out = [0u8; 64];
    assert_eq!(
        send_text(server, "x", &mut out),
        Err(SendError::Usage(UsageError::NotOpen))
    );
}

#[test]
fn server_answers_408_to_a_head_that_trickles_in_and_never_ends() {
    // "Slowloris": one byte every 100 ms of a request line that never ends.
    let mut server = Server::new(Config::default(), at(0));
    // The deadline is set from creation (never the epoch, never unset).
    assert_eq!(server.poll_timeout(), Some(at(10_000)));
    let endless = endless_request_line();
    let mut pending = Vec::new();
    let mut now = 0;
    for &byte in &endless[..99] {
        now += 100;
        pending.push(byte);
        let mut input = pending.clone();
        let received = server
            .receive(&mut input, at(now))
            .expect("a prefix is no error");
        assert_eq!((received.consumed, received.event.is_none()), (0, true));
        assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
        // Bytes arriving do not push the deadline back.
        assert_eq!(server.poll_timeout(), Some(at(10_000)), "at {now} ms");
        assert_eq!(server.handle_timeout(at(now)), None, "at {now} ms");
        assert_eq!(server.state(), State::Connecting);
    }
    assert_eq!(now, 9_900);
    assert_eq!(server.handle_timeout(at(9_999)), None);
    assert_eq!(server.poll_timeout(), Some(at(10_000)));
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    assert_eq!(server.handle_timeout(at(10_000)), Some(TimedOut::Handshake));
    assert_eq!(server.state(), State::Failed);
    assert_timed_out_with_408(&mut server);
}

#[test]
fn server_answers_408_when_the_application_never_decides() {
    let mut server = Server::new(Config::default(), at(0));
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(20)).expect("valid request");
    assert_eq!(received.consumed, UPGRADE_REQUEST.len());
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    // The request is complete, but the deadline (from creation) still runs.
    assert_eq!(server.poll_timeout(), Some(at(10_000)));
    assert_eq!(server.handle_timeout(at(9_999)), None);
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    assert_eq!(server.state(), State::Connecting);
    assert_eq!(server.handle_timeout(at(10_000)), Some(TimedOut::Handshake));
    // Too late to decide: the 408 stands.
    let mut out = [0xAAu8; 512];
    assert_eq!(
        server.accept(&request, Accept::default(), at(10_001), &mut out),
        Err(SendError::Usage(UsageError::NoPendingRequest))
    );
    assert_eq!(
        server.respond(200, &[], b"late", &mut out),
        Err(SendError::Usage(UsageError::NoPendingRequest))
    );
    assert!(out.iter().all(|&b| b == 0xAA));
    assert_timed_out_with_408(&mut server);
}

#[test]
fn server_handshake_deadline_follows_config_and_creation_time() {
    let config = Config::default().with_handshake_timeout(Duration::from_millis(2_500));
    let mut server = Server::new(config, at(1_000));
    assert_eq!(server.poll_timeout(), Some(at(3_500)));
    assert_eq!(server.handle_timeout(at(3_499)), None);
    assert_eq!(server.handle_timeout(at(3_500)), Some(TimedOut::Handshake));
    assert_timed_out_with_408(&mut server);
}

#[test]
fn server_accept_starts_keep_alive_timer_at_its_now() {
    let config = Config::default().with_keep_alive(Some(Duration::from_secs(30)));
    let mut server = Server::new(config, at(0));
    assert_eq!(server.poll_timeout(), Some(at(10_000)));
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(100)).expect("valid request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut out = [0u8; 512];
    let n = server
        .accept(&request, Accept::default(), at(500), &mut out)
        .expect("accept");
    assert!(text(&out[..n]).starts_with("HTTP/1.1 101 "));
    // The handshake deadline is gone; the keep-alive timer runs from `accept`'s now.
    assert_eq!(server.poll_timeout(), Some(at(30_500)));
    assert_eq!(server.handle_timeout(at(10_000)), None);
    assert_eq!(server.handle_timeout(at(30_499)), None);
    assert_eq!(drain(&mut server), Vec::<u8>::new());
    // At the keep-alive deadline, a Ping (unmasked: a server's frame) is owed.
    assert_eq!(server.handle_timeout(at(30_500)), None);
    let frames = wire_frames(&drain(&mut server));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        (frames[0].opcode, frames[0].fin, frames[0].masked),
        (0x9, true, false)
    );
    assert_eq!(server.state(), State::Open);
}

// ---- The chosen subprotocol --------------------------------------------------------------

#[test]
fn server_subprotocol_is_readable_after_accept() {
    let (mut server, response) = accept_with(
        UPGRADE_REQUEST,
        Accept::default().with_subprotocol("superchat"),
    );
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Protocol"),
        ["superchat"]
    );
    assert_eq!(
        server.connection().unwrap().subprotocol(),
        Some("superchat")
    );
    // It stays with the connection taken out of the server.
    let connection = server.into_connection().expect("open");
    assert_eq!(connection.subprotocol(), Some("superchat"));

    let (mut server, _) = accept_with(UPGRADE_REQUEST, Accept::default());
    assert_eq!(server.connection().unwrap().subprotocol(), None);
}

#[test]
fn server_into_connection_gives_the_open_connection_or_the_server_back() {
    // Before the handshake: the server comes back, unchanged.
    let server = Server::new(Config::default(), at(0));
    let mut server = server.into_connection().expect_err("not open yet");
    assert_eq!(server.state(), State::Connecting);
    assert_eq!(server.poll_timeout(), Some(at(10_000)));
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).expect("valid request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut out = [0u8; 512];
    server
        .accept(&request, Accept::default(), at(0), &mut out)
        .expect("accept");
    let mut connection = server.into_connection().expect("open");
    // The connection still sends (unmasked) and receives (masked) frames.
    let n = connection.send_text("hello", &mut out).unwrap();
    let frames = wire_frames(&out[..n]);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].opcode, frames[0].masked, &frames[0].payload[..]),
        (0x1, false, &b"hello"[..])
    );
    let (events, outcome, left) = feed(
        &mut connection,
        &raw_frame(0x81, Some(MASK), b"hi", 0),
        at(0),
    );
    assert_eq!(
        (events, outcome, left),
        (vec![Ev::Text("hi".into())], Ok(()), 0)
    );
}

#[test]
fn server_accept_refuses_subprotocol_over_24_bytes_with_nothing_written() {
    let at_limit = "a".repeat(sockless::MAX_SUBPROTOCOL_LEN);
    let over = "b".repeat(sockless::MAX_SUBPROTOCOL_LEN + 1);
    assert_eq!((at_limit.len(), over.len()), (24, 25));
    let request = with_extra(&[&format!("Sec-WebSocket-Protocol: {over}, {at_limit}")]);
    let mut server = Server::new(Config::default(), at(0));
    let mut input = request.clone();
    let received = server.receive(&mut input, at(0)).expect("valid request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    // The client offered it, but it is too long to keep: refused, nothing changed.
    assert!(request.offers_subprotocol(&over));
    let mut out = [0xAAu8; 512];
    assert_eq!(
        server.accept(
            &request,
            Accept::default().with_subprotocol(&over),
            at(0),
            &mut out
        ),
        Err(SendError::Usage(UsageError::InvalidSubprotocol))
    );
    assert!(out.iter().all(|&b| b == 0xAA));
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    assert_eq!(server.state(), State::Connecting);
    // The decision is still open: 24 bytes are fine.
    let n = server
        .accept(
            &request,
            Accept::default().with_subprotocol(&at_limit),
            at(0),
            &mut out,
        )
        .expect("24 bytes fit");
    assert_eq!(
        values_of(&text(&out[..n]), "Sec-WebSocket-Protocol"),
        [at_limit.as_str()]
    );
    assert_eq!(
        server.connection().unwrap().subprotocol(),
        Some(at_limit.as_str())
    );
}
