//! SPEC §2 (RFC 6455 §4.2): the server's opening handshake.

mod common;
use common::*;

use sockless::{Config, Error, Event, HandshakeError, Server, State, UsageError};

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

/// Feed `request` to a fresh server: it must fail with `error`, and write a response
/// starting with `status_line`. Returns the response.
fn assert_rejected(config: Config, request: &[u8], error: HandshakeError, status: u16) -> String {
    let mut server = Server::new(config);
    let mut input = request.to_vec();
    let outcome = server
        .receive(&mut input, at(0))
        .map(|r| (r.consumed, r.event.is_some()));
    assert_eq!(outcome, Err(Error::Handshake(error)), "{}", text(request));
    assert_eq!(error.status(), Some(status));
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
        server.send_text("x", &mut out),
        Err(Error::Usage(UsageError::NotOpen))
    );
    response
}

fn assert_400(request: &[u8], error: HandshakeError) {
    assert_rejected(Config::default(), request, error, 400);
}

/// A server that accepted a valid base request; returns it and the 101 text.
fn accept_with(
    request: &[u8],
    subprotocol: Option<&str>,
    headers: &[(&str, &[u8])],
) -> (Server, String) {
    let mut server = Server::new(Config::default());
    let mut input = request.to_vec();
    let received = server.receive(&mut input, at(0)).expect("valid request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut out = [0u8; 1024];
    let n = server
        .accept(&request, subprotocol, headers, &mut out)
        .expect("accept");
    (server, text(&out[..n]))
}

// ---- Every rule, failing -----------------------------------------------------------------

#[test]
fn server_accepts_the_base_request() {
    let (server, response) = accept_with(&head(&BASE), None, &[]);
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
        let (server, response) = accept_with(&request, None, &[]);
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
    Config {
        max_head_len,
        ..Config::default()
    }
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
    let mut server = Server::new(config);
    let mut input = huge[..limit - 1].to_vec();
    let received = server
        .receive(&mut input, at(0))
        .expect("not yet over the limit");
    assert_eq!((received.consumed, received.event.is_none()), (0, true));
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    // With the limit reached (or just passed), the error comes: no need for more input.
    let mut input = huge[..limit + 1].to_vec();
    let outcome = server.receive(&mut input, at(0)).map(|r| r.consumed);
    assert_eq!(outcome, Err(Error::Handshake(HandshakeError::HeadTooLarge)));
    let response = text(&drain(&mut server));
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    assert!(server.should_close_transport());

    // Exactly the limit, in a fresh server.
    let mut server = Server::new(config);
    let outcome = server
        .receive(&mut huge[..limit].to_vec(), at(0))
        .map(|r| r.consumed);
    assert_eq!(outcome, Err(Error::Handshake(HandshakeError::HeadTooLarge)));

    // The whole megabyte at once: the same error, right away.
    assert_rejected(config, &huge, HandshakeError::HeadTooLarge, 431);
}

#[test]
fn server_head_limit_error_comes_as_soon_as_limit_bytes_arrive_in_pieces() {
    let limit = 1000;
    let config = head_limit(limit);
    let huge = endless_request_line();
    let mut server = Server::new(config);
    // The caller keeps unconsumed bytes and appends; the error must come once the limit is
    // there, not after the whole megabyte.
    let mut pending = Vec::new();
    let mut failed_at = None;
    for piece in huge.chunks(7) {
        pending.extend_from_slice(piece);
        match server.receive(&mut pending.clone(), at(0)) {
            Ok(received) => {
                assert_eq!(received.consumed, 0);
                assert!(received.event.is_none());
            }
            Err(error) => {
                assert_eq!(error, Error::Handshake(HandshakeError::HeadTooLarge));
                failed_at = Some(pending.len());
                break;
            }
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
    let mut server = Server::new(config);
    let mut input = request.clone();
    let received = server
        .receive(&mut input, at(0))
        .expect("exactly at the limit");
    assert_eq!(received.consumed, request.len());
    assert!(matches!(received.event, Some(Event::Request(_))));
}

#[test]
fn server_rejects_more_headers_than_max_headers_with_431() {
    let config = Config {
        max_headers: 8,
        ..Config::default()
    };
    // 5 base headers + 3 = 8: fine.
    let mut request = with_extra(&["X-A: 1", "X-B: 2", "X-C: 3"]);
    let mut server = Server::new(config);
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
    let mut server = Server::new(Config::default());
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
                .accept(&request, Some("chat"), &[], &mut out)
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
    let mut server = Server::new(Config::default());
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
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn server_receive_while_deciding_is_decision_pending() {
    let mut server = Server::new(Config::default());
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).unwrap();
    assert!(matches!(received.event, Some(Event::Request(_))));
    let mut more = raw_frame(0x81, Some(MASK), b"early", 0);
    let outcome = server.receive(&mut more, at(0)).map(|r| r.consumed);
    assert_eq!(outcome, Err(Error::Usage(UsageError::DecisionPending)));
    assert_eq!(server.poll_transmit(&mut [0u8; 256]), Ok(0));
    // Still deciding: the request can be accepted afterwards.
    let mut input = UPGRADE_REQUEST.to_vec();
    let mut fresh = Server::new(Config::default());
    let received = fresh.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    let mut out = [0u8; 512];
    assert!(server.accept(&request, None, &[], &mut out).is_ok());
    assert_eq!(server.state(), State::Open);
}

// ---- accept ------------------------------------------------------------------------------

#[test]
fn server_101_has_upgrade_connection_and_rfc_1_3_accept() {
    let (_, response) = accept_with(UPGRADE_REQUEST, None, &[]);
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
    let (_, response) = accept_with(UPGRADE_REQUEST, Some("chat"), &[]);
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
    let (server, response) = accept_with(UPGRADE_REQUEST, Some("superchat"), &[]);
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Protocol"),
        ["superchat"]
    );
    assert_eq!(server.state(), State::Open);
}

#[test]
fn server_accept_refuses_unoffered_subprotocol_with_nothing_written() {
    let mut server = Server::new(Config::default());
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    let mut out = [0xAAu8; 512];
    for unoffered in ["mqtt", "Chat", "chat, superchat", ""] {
        assert_eq!(
            server.accept(&request, Some(unoffered), &[], &mut out),
            Err(Error::Usage(UsageError::UnofferedSubprotocol)),
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
        .accept(&request, Some("chat"), &[], &mut out)
        .unwrap();
    assert!(text(&out[..n]).contains("Sec-WebSocket-Protocol: chat\r\n"));
}

#[test]
fn server_accept_adds_extra_headers() {
    let (_, response) = accept_with(
        UPGRADE_REQUEST,
        None,
        &[
            ("Set-Cookie", b"id=42; HttpOnly"),
            ("X-Server", b"sockless"),
        ],
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
    let mut server = Server::new(Config::default());
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
            server.accept(&request, None, headers, &mut out),
            Err(Error::Usage(UsageError::InvalidHeader))
        );
        assert!(out.iter().all(|&b| b == 0xAA));
        assert_eq!(server.state(), State::Connecting);
    }
}

#[test]
fn server_101_has_no_extensions_even_when_deflate_offered() {
    let request =
        with_extra(&["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]);
    let (_, response) = accept_with(&request, None, &[]);
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
    let (_, response) = accept_with(&request, None, &[]);
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Accept"),
        ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
    );
}

#[test]
fn server_delivers_frame_after_request_head_in_same_buffer() {
    let mut server = Server::new(Config::default());
    let mut input = UPGRADE_REQUEST.to_vec();
    input.extend_from_slice(&raw_frame(0x81, Some(MASK), b"first frame", 0));
    input.extend_from_slice(&raw_frame(0x82, Some([1, 2, 3, 4]), &[9, 8, 7], 0));
    let received = server.receive(&mut input, at(0)).unwrap();
    assert_eq!(received.consumed, UPGRADE_REQUEST.len());
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut out = [0u8; 512];
    server.accept(&request, None, &[], &mut out).unwrap();
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
    let mut client =
        sockless::Client::connect("ws://server.example.com/chat", Config::default(), rng())
            .unwrap();
    let mut server = Server::new(Config::default());
    let mut request = drain(&mut client);
    let received = server.receive(&mut request, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    let mut out = [0u8; 512];
    let n = server
        .accept(&request, None, &[("X-Extra", b"1")], &mut out)
        .unwrap();
    let (events, outcome, _) = feed(&mut client, &out[..n], at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(None)]);
    let n = client.send_text("ping?", &mut out).unwrap();
    let (events, _, _) = feed(&mut server, &out[..n], at(0));
    assert_eq!(events, vec![Ev::Text("ping?".into())]);
}

// ---- respond, and plain HTTP --------------------------------------------------------------

#[test]
fn server_respond_rejects_with_own_status_headers_and_body() {
    let mut server = Server::new(Config::default());
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
        server.send_text("x", &mut out),
        Err(Error::Usage(UsageError::NotOpen))
    );
    // It cannot be accepted afterwards.
    let mut input = UPGRADE_REQUEST.to_vec();
    let mut other = Server::new(Config::default());
    let received = other.receive(&mut input, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    assert_eq!(
        server.accept(&request, None, &[], &mut out),
        Err(Error::Usage(UsageError::NoPendingRequest))
    );
}

#[test]
fn server_respond_refuses_101_and_injected_headers() {
    let mut server = Server::new(Config::default());
    let mut input = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut input, at(0)).unwrap();
    assert!(matches!(received.event, Some(Event::Request(_))));
    let mut out = [0xAAu8; 256];
    assert_eq!(
        server.respond(101, &[], b"", &mut out),
        Err(Error::Usage(UsageError::InvalidStatus))
    );
    assert_eq!(
        server.respond(400, &[("X", b"a\r\nb")], b"", &mut out),
        Err(Error::Usage(UsageError::InvalidHeader))
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
    let mut server = Server::new(Config::default());
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
        server.accept(&request, None, &[], &mut out),
        Err(Error::Usage(UsageError::NotAnUpgrade))
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
    let mut server = Server::new(Config::default());
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
    let mut server = Server::new(config);
    let mut pending = Vec::new();
    for part in input.chunks(piece.max(1)) {
        pending.extend_from_slice(part);
        match server.receive(&mut pending, at(0)) {
            Ok(received) => match received.event {
                Some(Event::Request(request)) => {
                    return Some(Ok((received.consumed, request.target().to_string())));
                }
                Some(_) => panic!("only a request can come first"),
                None => assert_eq!(received.consumed, 0),
            },
            Err(error) => return Some(Err(error)),
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
        let config = Config { max_head_len, ..Config::default() };
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
