//! RFC 6455 §4.1: the client's opening handshake.

mod common;
use common::*;

use core::convert::Infallible;

use sockless::SendError;
use sockless::rand_core::Rng;
use sockless::{
    Accept, Client, ClientRequest, CloseCode, Config, Connection, Duration, Endpoint, Error, Event,
    HandshakeError, Masked, State, TimedOut, UsageError,
};

/// A randomness source that hands out a fixed nonce first (then counts), so that the key
/// of RFC 6455 §1.3 can be produced.
#[derive(Clone, Debug)]
struct NonceRng {
    nonce: [u8; 16],
    counter: u32,
}

impl sockless::rand_core::TryRng for NonceRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.counter = self.counter.wrapping_add(0x9e37_79b9);
        Ok(self.counter)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from(self.try_next_u32()?))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for (i, byte) in dst.iter_mut().enumerate() {
            *byte = self.nonce[i % 16];
        }
        Ok(())
    }
}

/// Standard base64 decoding written for these tests (independent of the crate).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return None;
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in trimmed.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    // Canonical encoding: the leftover bits are zero.
    (bits == 0).then_some(out)
}

fn client_for(request: ClientRequest<'static>) -> Client<'static, TestRng> {
    Client::new(request, Config::default(), rng(), at(0)).expect("valid request")
}

fn url_client(url: &'static str) -> Client<'static, TestRng> {
    client_for(ClientRequest::from_url(url).unwrap())
}

/// The request the client writes, as text.
fn request_text(client: &mut Client<'static, TestRng>) -> String {
    String::from_utf8(drain(client)).expect("request is ASCII")
}

fn the_value(head: &str, name: &str) -> String {
    let values = values_of(head, name);
    assert_eq!(values.len(), 1, "exactly one {name} in {head:?}");
    values[0].clone()
}

/// The correct 101 for the request, with some header lines replaced: `edit` gets the
/// lines (without the status line) and may change them.
fn edited_response(request: &[u8], edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let good = String::from_utf8(response_for(request, "")).unwrap();
    let mut lines: Vec<String> = good.trim_end().split("\r\n").map(str::to_string).collect();
    let status = lines.remove(0);
    edit(&mut lines);
    let mut text = status;
    for line in lines {
        text.push_str("\r\n");
        text.push_str(&line);
    }
    text.push_str("\r\n\r\n");
    text.into_bytes()
}

fn replace_line(lines: &mut [String], prefix: &str, with: &str) {
    let line = lines
        .iter_mut()
        .find(|l| l.starts_with(prefix))
        .expect(prefix);
    *line = with.to_string();
}

fn remove_line(lines: &mut Vec<String>, prefix: &str) {
    let before = lines.len();
    lines.retain(|l| !l.starts_with(prefix));
    assert_eq!(lines.len(), before - 1, "{prefix}");
}

/// The good response with the `name` header's value replaced by `value`.
fn with_header(name: &str, value: &str) -> impl FnOnce(&[u8]) -> Vec<u8> {
    let line = format!("{name}: {value}");
    let prefix = format!("{name}:");
    move |request| edited_response(request, |lines| replace_line(lines, &prefix, &line))
}

/// The good response without the `name` header.
fn without_header(name: &str) -> impl FnOnce(&[u8]) -> Vec<u8> {
    let prefix = format!("{name}:");
    move |request| edited_response(request, |lines| remove_line(lines, &prefix))
}

/// Check that a client whose handshake failed never sends anything.
fn assert_sends_nothing(client: &mut Client<'static, TestRng>) {
    let mut out = [0u8; 256];
    assert_eq!(client.poll_transmit(&mut out), Ok(0));
    // Every command goes through the open connection, and there is none.
    assert_eq!(client.connection().err(), Some(UsageError::NotOpen));
    assert_eq!(
        client
            .connection()
            .map_err(SendError::from)
            .and_then(|c| c.send_text("x", &mut out)),
        Err(SendError::Usage(UsageError::NotOpen))
    );
    assert_eq!(
        client
            .connection()
            .map_err(SendError::from)
            .and_then(|c| c.send_binary(b"x", &mut out)),
        Err(SendError::Usage(UsageError::NotOpen))
    );
    assert_eq!(
        client
            .connection()
            .map_err(SendError::from)
            .and_then(|c| c.ping(b"x", &mut out)),
        Err(SendError::Usage(UsageError::NotOpen))
    );
    assert_eq!(
        client
            .connection()
            .map_err(SendError::from)
            .and_then(|c| c.close(CloseCode::NORMAL, "", at(1), &mut out)),
        Err(SendError::Usage(UsageError::NotOpen))
    );
    assert_eq!(client.poll_transmit(&mut out), Ok(0));
    assert_eq!(client.state(), State::Closed);
    assert!(client.should_close_transport());
}

/// A client for `request`, its request sent, then `response` fed: the outcome.
fn handshake_with(
    request: ClientRequest<'static>,
    response: impl FnOnce(&[u8]) -> Vec<u8>,
) -> (Client<'static, TestRng>, Vec<Ev>, Result<(), Error>) {
    let mut client = client_for(request);
    let sent = drain(&mut client);
    let (events, outcome, _) = feed(&mut client, &response(&sent), at(0));
    (client, events, outcome)
}

fn plain() -> ClientRequest<'static> {
    ClientRequest::from_url("ws://server.example.com/chat").unwrap()
}

/// A response that must fail the handshake with `error`; afterwards nothing is sent.
fn assert_handshake_fails(
    request: ClientRequest<'static>,
    response: impl FnOnce(&[u8]) -> Vec<u8>,
    error: HandshakeError,
) {
    let (mut client, events, outcome) = handshake_with(request, response);
    assert_eq!(outcome, Err(Error::Handshake(error)));
    assert!(
        events.is_empty(),
        "no event for a failed handshake: {events:?}"
    );
    assert_sends_nothing(&mut client);
}

// ---- The request -------------------------------------------------------------------------

#[test]
fn client_writes_get_request_line_with_path_and_query() {
    let text = request_text(&mut url_client("ws://example.com/chat?room=1&x=%20"));
    assert!(
        text.starts_with("GET /chat?room=1&x=%20 HTTP/1.1\r\n"),
        "{text}"
    );
    let text = request_text(&mut url_client("ws://example.com"));
    assert!(text.starts_with("GET / HTTP/1.1\r\n"), "{text}");
    let text = request_text(&mut url_client("ws://example.com?q=1"));
    assert!(text.starts_with("GET /?q=1 HTTP/1.1\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"));
}

#[test]
fn client_sends_request_once() {
    let mut client = url_client("ws://example.com/");
    let mut out = [0u8; 1024];
    let n = client.poll_transmit(&mut out).unwrap();
    assert!(n > 0);
    assert_eq!(client.poll_transmit(&mut out), Ok(0));
    assert_eq!(client.state(), State::Connecting);
    assert!(!client.should_close_transport());
}

#[test]
fn client_host_omits_default_port_80_for_ws() {
    for url in ["ws://example.com/", "ws://example.com:80/"] {
        let text = request_text(&mut url_client(url));
        assert_eq!(the_value(&text, "Host"), "example.com", "{url}");
    }
}

#[test]
fn client_host_omits_default_port_443_for_wss() {
    for url in ["wss://example.com/", "wss://example.com:443/"] {
        let text = request_text(&mut url_client(url));
        assert_eq!(the_value(&text, "Host"), "example.com", "{url}");
    }
}

#[test]
fn client_host_keeps_non_default_port() {
    for (url, host) in [
        ("ws://example.com:8080/", "example.com:8080"),
        ("ws://example.com:443/", "example.com:443"),
        ("wss://example.com:80/", "example.com:80"),
        ("wss://example.com:9001/x", "example.com:9001"),
        ("ws://127.0.0.1:9001/", "127.0.0.1:9001"),
    ] {
        let text = request_text(&mut url_client(url));
        assert_eq!(the_value(&text, "Host"), host, "{url}");
    }
}

#[test]
fn client_sends_upgrade_websocket_and_connection_upgrade() {
    let text = request_text(&mut url_client("ws://example.com/"));
    assert!(the_value(&text, "Upgrade").eq_ignore_ascii_case("websocket"));
    let connection = the_value(&text, "Connection");
    assert!(
        connection
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade")),
        "{connection}"
    );
}

#[test]
fn client_sends_version_13() {
    let text = request_text(&mut url_client("ws://example.com/"));
    assert_eq!(the_value(&text, "Sec-WebSocket-Version"), "13");
}

#[test]
fn client_key_is_base64_of_16_bytes_from_the_rng() {
    let text = request_text(&mut url_client("ws://example.com/"));
    let key = the_value(&text, "Sec-WebSocket-Key");
    let decoded = base64_decode(&key).expect("key is canonical base64");
    assert_eq!(decoded.len(), 16, "{key}");
    // The 16 bytes are the first ones the caller's randomness source gives.
    let mut nonce = [0u8; 16];
    rng().fill_bytes(&mut nonce);
    assert_eq!(decoded, nonce);
}

#[test]
fn client_key_differs_between_clients_with_different_rng_states() {
    let request = ClientRequest::from_url("ws://example.com/").unwrap();
    let mut keys = Vec::new();
    for seed in [1u64, 2, 0x2545_f491_4f6c_dd1d, 0xdead_beef_0bad_cafe] {
        let mut client = Client::new(request, Config::default(), TestRng(seed), at(0)).unwrap();
        let text = request_text(&mut client);
        let key = the_value(&text, "Sec-WebSocket-Key");
        assert_eq!(base64_decode(&key).map(|k| k.len()), Some(16));
        keys.push(key);
    }
    for i in 0..keys.len() {
        for j in i + 1..keys.len() {
            assert_ne!(keys[i], keys[j], "seeds {i} and {j} gave the same key");
        }
    }
    // The same state gives the same key (it comes from the rng, nothing else).
    let again =
        request_text(&mut Client::new(request, Config::default(), TestRng(1), at(0)).unwrap());
    assert_eq!(the_value(&again, "Sec-WebSocket-Key"), keys[0]);
}

#[test]
fn client_sends_origin_only_when_set() {
    let text = request_text(&mut client_for(plain().with_origin("https://app.example")));
    assert_eq!(the_value(&text, "Origin"), "https://app.example");
    let text = request_text(&mut client_for(plain()));
    assert!(values_of(&text, "Origin").is_empty());
}

#[test]
fn client_offers_subprotocol_list() {
    let text = request_text(&mut client_for(plain().with_subprotocols(&[
        "chat",
        "superchat",
        "v2.json",
    ])));
    let offered: Vec<String> = values_of(&text, "Sec-WebSocket-Protocol")
        .iter()
        .flat_map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(offered, ["chat", "superchat", "v2.json"]);
    let text = request_text(&mut client_for(plain()));
    assert!(values_of(&text, "Sec-WebSocket-Protocol").is_empty());
}

#[test]
fn client_offers_extensions() {
    let request = plain().with_extensions(&["permessage-deflate; client_max_window_bits", "x-foo"]);
    let text = request_text(&mut client_for(request));
    let offered: Vec<String> = values_of(&text, "Sec-WebSocket-Extensions")
        .iter()
        .flat_map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        offered,
        ["permessage-deflate; client_max_window_bits", "x-foo"]
    );
    let text = request_text(&mut client_for(plain()));
    assert!(values_of(&text, "Sec-WebSocket-Extensions").is_empty());
}

#[test]
fn client_sends_extra_headers() {
    let request =
        plain().with_headers(&[("Authorization", "Bearer abc.def"), ("Cookie", "a=1; b=2")]);
    let text = request_text(&mut client_for(request));
    assert_eq!(the_value(&text, "Authorization"), "Bearer abc.def");
    assert_eq!(the_value(&text, "Cookie"), "a=1; b=2");
    // The standard headers are still there, once each.
    for name in [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
    ] {
        assert_eq!(values_of(&text, name).len(), 1, "{name}");
    }
}

#[test]
fn client_request_is_accepted_by_the_server() {
    let request = plain()
        .with_origin("http://example.com")
        .with_subprotocols(&["chat"]);
    let mut client = client_for(request);
    let mut server = sockless::Server::new(Config::default(), at(0));
    let mut sent = drain(&mut client);
    let len = sent.len();
    let received = server.receive(&mut sent, at(0)).expect("request accepted");
    assert_eq!(received.consumed, len);
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    assert!(request.is_upgrade());
    assert_eq!(request.target(), "/chat");
    assert_eq!(request.host(), Some("server.example.com"));
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.subprotocols().collect::<Vec<_>>(), ["chat"]);
    let mut out = [0u8; 512];
    let n = server
        .accept(
            &request,
            Accept::default().with_subprotocol("chat"),
            at(0),
            &mut out,
        )
        .expect("valid upgrade");
    let (events, outcome, _) = feed(&mut client, &out[..n], at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(Some("chat".into()))]);
}

// ---- Header injection --------------------------------------------------------------------

fn assert_invalid_header(request: ClientRequest<'static>) {
    let result = Client::new(request, Config::default(), rng(), at(0));
    assert_eq!(result.err(), Some(UsageError::InvalidHeader), "{request:?}");
}

#[test]
fn client_refuses_cr_lf_nul_in_header_values() {
    for bad in [
        &[("X-Evil", "a\r\nInjected: 1")][..],
        &[("X-Evil", "a\rb")],
        &[("X-Evil", "a\nb")],
        &[("X-Evil", "a\0b")],
        &[("X-Good", "ok"), ("X-Evil", "\r\n")],
    ] {
        assert_invalid_header(plain().with_headers(bad));
    }
}

#[test]
fn client_refuses_non_token_header_names() {
    for bad in [
        &[("Bad Name", "v")][..],
        &[("X:Y", "v")],
        &[("", "v")],
        &[("X\r\nY", "v")],
        &[("X\0", "v")],
        &[("X(Y)", "v")],
        &[("Ünicode", "v")],
    ] {
        assert_invalid_header(plain().with_headers(bad));
    }
}

#[test]
fn client_refuses_injection_in_origin_subprotocols_and_extensions() {
    assert_invalid_header(plain().with_origin("http://a\r\nX: y"));
    assert_invalid_header(plain().with_origin("http://a\0"));
    assert_invalid_header(plain().with_subprotocols(&["chat\r\nX: y"]));
    assert_invalid_header(plain().with_subprotocols(&["two words"]));
    assert_invalid_header(plain().with_subprotocols(&["a,b"]));
    assert_invalid_header(plain().with_extensions(&["permessage-deflate\nX: y"]));
    assert_invalid_header(plain().with_extensions(&["x\0"]));
}

#[test]
fn client_accepts_harmless_header_values() {
    // HTAB and visible characters are fine: the check is not over-eager.
    let request = plain().with_headers(&[("X-Tab", "a\tb"), ("X-Sym", "!#$%&'*+-.^_`|~ :;\"")]);
    let text = request_text(&mut client_for(request));
    assert_eq!(the_value(&text, "X-Tab"), "a\tb");
}

// ---- The response ------------------------------------------------------------------------

#[test]
fn client_accepts_rfc_1_3_example_accept_value() {
    let request = ClientRequest::from_url("ws://server.example.com/chat")
        .unwrap()
        .with_origin("http://example.com")
        .with_subprotocols(&["chat", "superchat"]);
    let rng = NonceRng {
        nonce: *b"the sample nonce",
        counter: 0,
    };
    let mut client = Client::new(request, Config::default(), rng, at(0)).unwrap();
    let mut out = [0u8; 1024];
    let n = client.poll_transmit(&mut out).unwrap();
    let text = String::from_utf8(out[..n].to_vec()).unwrap();
    assert_eq!(
        the_value(&text, "Sec-WebSocket-Key"),
        "dGhlIHNhbXBsZSBub25jZQ=="
    );
    let mut response = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\r\n"
        .to_vec();
    let len = response.len();
    let received = client
        .receive(&mut response, at(0))
        .expect("RFC response accepted");
    assert_eq!(received.consumed, len);
    let Some(Event::Connected(response)) = received.event else {
        panic!("not connected")
    };
    assert_eq!(response.status(), 101);
    assert_eq!(response.subprotocol(), Some("chat"));
    assert_eq!(client.state(), State::Open);
}

#[test]
fn client_fails_handshake_on_seeded_doc_accept_value_with_zero() {
    // The misprinted value (a zero for the capital O) is one character off: refused.
    let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    let rng = NonceRng {
        nonce: *b"the sample nonce",
        counter: 0,
    };
    let mut client = Client::new(request, Config::default(), rng, at(0)).unwrap();
    let mut out = [0u8; 1024];
    client.poll_transmit(&mut out).unwrap();
    let mut response = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+x0o=\r\n\r\n"
        .to_vec();
    let len = response.len();
    let received = client
        .receive(&mut response, at(0))
        .expect("the peer's mistakes are events");
    assert_eq!(received.consumed, len);
    assert!(
        matches!(
            received.event,
            Some(Event::HandshakeFailed(HandshakeError::InvalidAccept))
        ),
        "{:?}",
        received.event
    );
    assert_eq!(client.poll_transmit(&mut out), Ok(0));
}

#[test]
fn client_connects_on_valid_101() {
    let (client, events, outcome) = handshake_with(plain(), |r| response_for(r, ""));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(None)]);
    assert_eq!(client.state(), State::Open);
    assert!(!client.should_close_transport());
}

#[test]
fn client_fails_handshake_on_wrong_accept() {
    // Every position of the accept value changed by one character.
    let mut client = client_for(plain());
    let sent = drain(&mut client);
    let good = String::from_utf8(response_for(&sent, "")).unwrap();
    let accept = good
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Accept: "))
        .unwrap()
        .to_string();
    for i in 0..accept.len() {
        let mut wrong = accept.clone().into_bytes();
        wrong[i] = if wrong[i] == b'A' { b'B' } else { b'A' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert_handshake_fails(
            plain(),
            |r| {
                edited_response(r, |lines| {
                    replace_line(
                        lines,
                        "Sec-WebSocket-Accept",
                        &format!("Sec-WebSocket-Accept: {wrong}"),
                    )
                })
            },
            HandshakeError::InvalidAccept,
        );
    }
}

#[test]
fn client_fails_handshake_on_accept_of_other_key_or_missing_or_duplicated() {
    assert_handshake_fails(
        plain(),
        |r| {
            edited_response(r, |lines| {
                replace_line(
                    lines,
                    "Sec-WebSocket-Accept",
                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                )
            })
        },
        HandshakeError::InvalidAccept,
    );
    assert_handshake_fails(
        plain(),
        without_header("Sec-WebSocket-Accept"),
        HandshakeError::InvalidAccept,
    );
    // Case matters in base64: the accept value must match exactly.
    assert_handshake_fails(
        plain(),
        |r| {
            edited_response(r, |lines| {
                let line = lines
                    .iter_mut()
                    .find(|l| l.starts_with("Sec-WebSocket-Accept"))
                    .unwrap();
                let (name, value) = line.split_once(": ").unwrap();
                *line = format!("{name}: {}", value.to_ascii_lowercase());
            })
        },
        HandshakeError::InvalidAccept,
    );
}

#[test]
fn client_fails_handshake_on_missing_or_non_websocket_upgrade() {
    assert_handshake_fails(
        plain(),
        without_header("Upgrade"),
        HandshakeError::MissingUpgradeWebSocket,
    );
    for value in ["h2c", "websockets", "web socket", ""] {
        assert_handshake_fails(
            plain(),
            with_header("Upgrade", value),
            HandshakeError::MissingUpgradeWebSocket,
        );
    }
}

#[test]
fn client_accepts_upgrade_websocket_case_insensitively() {
    for value in ["WebSocket", "WEBSOCKET", "websocket"] {
        let (_, events, outcome) = handshake_with(plain(), with_header("Upgrade", value));
        assert_eq!(outcome, Ok(()), "{value}");
        assert_eq!(events, vec![Ev::Connected(None)]);
    }
}

#[test]
fn client_fails_handshake_on_connection_without_upgrade_token() {
    assert_handshake_fails(
        plain(),
        without_header("Connection"),
        HandshakeError::MissingConnectionUpgrade,
    );
    for value in ["keep-alive", "upgraded", "keep-alive upgrade", "close"] {
        assert_handshake_fails(
            plain(),
            with_header("Connection", value),
            HandshakeError::MissingConnectionUpgrade,
        );
    }
}

#[test]
fn client_accepts_connection_upgrade_token_in_comma_list() {
    for value in [
        "keep-alive, Upgrade",
        "UPGRADE",
        "upgrade,keep-alive",
        "a , upgrade , b",
    ] {
        let (_, events, outcome) = handshake_with(plain(), with_header("Connection", value));
        assert_eq!(outcome, Ok(()), "{value}");
        assert_eq!(events, vec![Ev::Connected(None)]);
    }
}

#[test]
fn client_fails_handshake_on_unoffered_subprotocol() {
    // None offered, one chosen.
    assert_handshake_fails(
        plain(),
        |r| response_for(r, "Sec-WebSocket-Protocol: chat\r\n"),
        HandshakeError::UnofferedSubprotocol,
    );
    // Offered "chat", the server picked another one.
    assert_handshake_fails(
        plain().with_subprotocols(&["chat"]),
        |r| response_for(r, "Sec-WebSocket-Protocol: superchat\r\n"),
        HandshakeError::UnofferedSubprotocol,
    );
    // The whole offered list echoed back is not one offered subprotocol.
    assert_handshake_fails(
        plain().with_subprotocols(&["chat", "superchat"]),
        |r| response_for(r, "Sec-WebSocket-Protocol: chat, superchat\r\n"),
        HandshakeError::UnofferedSubprotocol,
    );
}

#[test]
fn client_accepts_absent_or_offered_subprotocol() {
    let (_, events, outcome) =
        handshake_with(plain().with_subprotocols(&["chat", "superchat"]), |r| {
            response_for(r, "Sec-WebSocket-Protocol: superchat\r\n")
        });
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(Some("superchat".into()))]);
    let (_, events, outcome) =
        handshake_with(plain().with_subprotocols(&["chat", "superchat"]), |r| {
            response_for(r, "")
        });
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(None)]);
}

#[test]
fn client_fails_handshake_on_unoffered_extension() {
    assert_handshake_fails(
        plain(),
        |r| response_for(r, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        HandshakeError::UnofferedExtension,
    );
    assert_handshake_fails(
        plain().with_extensions(&["permessage-deflate"]),
        |r| {
            response_for(
                r,
                "Sec-WebSocket-Extensions: permessage-deflate, x-other\r\n",
            )
        },
        HandshakeError::UnofferedExtension,
    );
}

#[test]
fn client_accepts_offered_extension() {
    let (client, events, outcome) = handshake_with(
        plain().with_extensions(&["permessage-deflate; client_max_window_bits"]),
        |r| {
            response_for(
                r,
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
            )
        },
    );
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(None)]);
    assert_eq!(client.state(), State::Open);
}

#[test]
fn client_fails_handshake_on_http_1_0_101() {
    assert_handshake_fails(
        plain(),
        |r| {
            let mut response = response_for(r, "");
            response[..8].copy_from_slice(b"HTTP/1.0");
            response
        },
        HandshakeError::HttpVersionTooOld,
    );
}

#[test]
fn client_fails_handshake_on_response_head_over_limit() {
    let config = Config::default().with_max_head_len(512);
    let mut client = Client::new(plain(), config, rng(), at(0)).unwrap();
    let sent = drain(&mut client);
    let padding = format!("X-Pad: {}\r\n", "p".repeat(600));
    let (events, outcome, _) = feed(&mut client, &response_for(&sent, &padding), at(0));
    assert!(events.is_empty());
    assert_eq!(outcome, Err(Error::Handshake(HandshakeError::HeadTooLarge)));
    assert_sends_nothing(&mut client);
}

#[test]
fn client_sends_nothing_after_any_handshake_failure() {
    type Edit = fn(&[u8]) -> Vec<u8>;
    let cases: [Edit; 6] = [
        |r| {
            edited_response(r, |l| {
                replace_line(
                    l,
                    "Sec-WebSocket-Accept",
                    "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                )
            })
        },
        |r| edited_response(r, |l| remove_line(l, "Upgrade:")),
        |r| edited_response(r, |l| remove_line(l, "Connection:")),
        |r| response_for(r, "Sec-WebSocket-Protocol: chat\r\n"),
        |r| response_for(r, "Sec-WebSocket-Extensions: x-foo\r\n"),
        |_| b"HTTP/1.1 101 Switching Protocols\r\nbroken header line\r\n\r\n".to_vec(),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let mut client = client_for(plain());
        let sent = drain(&mut client);
        let (events, outcome, _) = feed(&mut client, &case(&sent), at(0));
        assert!(
            matches!(outcome, Err(Error::Handshake(_))),
            "case {i}: {outcome:?}"
        );
        assert!(events.is_empty(), "case {i}");
        assert_sends_nothing(&mut client);
        // Bytes that come later (a frame) are swallowed without events or output.
        let (events, outcome, _) = feed(&mut client, &raw_frame(0x81, None, b"late", 0), at(1));
        assert_eq!((events, outcome), (vec![], Ok(())), "case {i}");
        assert_eq!(drain(&mut client), Vec::<u8>::new());
    }
}

// ---- Non-101 responses -------------------------------------------------------------------

#[test]
fn client_reports_200_with_upgrade_headers_as_rejected_not_connected() {
    let (mut client, events, outcome) = handshake_with(plain(), |r| {
        let mut response = response_for(r, "");
        let text = String::from_utf8(response.clone()).unwrap();
        response = text
            .replacen("HTTP/1.1 101 Switching Protocols", "HTTP/1.1 200 OK", 1)
            .into_bytes();
        response
    });
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Rejected(200)]);
    assert_sends_nothing(&mut client);
}

#[test]
fn client_reports_401_with_www_authenticate_header() {
    let mut client = client_for(plain());
    drain(&mut client);
    let mut input = b"HTTP/1.1 401 Unauthorized\r\n\
        WWW-Authenticate: Basic realm=\"chat\"\r\n\
        Content-Length: 0\r\n\r\n"
        .to_vec();
    let len = input.len();
    let received = client
        .receive(&mut input, at(0))
        .expect("a 401 is not an error");
    assert_eq!(received.consumed, len);
    let Some(Event::Rejected(response)) = received.event else {
        panic!("not rejected")
    };
    assert_eq!(response.status(), 401);
    assert_eq!(response.reason(), "Unauthorized");
    assert_eq!(
        response.header("www-authenticate"),
        Some(&b"Basic realm=\"chat\""[..])
    );
    assert_eq!(response.header("Content-Length"), Some(&b"0"[..]));
    assert_sends_nothing(&mut client);
}

#[test]
fn client_reports_302_with_location_header() {
    let mut client = client_for(plain());
    drain(&mut client);
    let mut input = b"HTTP/1.1 302 Found\r\n\
        Location: wss://other.example.com/chat?x=1\r\n\
        Set-Cookie: a=1\r\n\
        Set-Cookie: b=2\r\n\r\n"
        .to_vec();
    let received = client
        .receive(&mut input, at(0))
        .expect("a 302 is not an error");
    let Some(Event::Rejected(response)) = received.event else {
        panic!("not rejected")
    };
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.header("Location"),
        Some(&b"wss://other.example.com/chat?x=1"[..])
    );
    let cookies: Vec<&[u8]> = response
        .headers()
        .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
        .map(|h| h.value)
        .collect();
    assert_eq!(cookies, [&b"a=1"[..], b"b=2"]);
    assert!(response.head().starts_with(b"HTTP/1.1 302 Found\r\n"));
    assert_sends_nothing(&mut client);
}

#[test]
fn client_reports_503_with_retry_after_as_rejected() {
    let mut client = client_for(plain());
    drain(&mut client);
    let mut input = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\n\r\n".to_vec();
    let received = client
        .receive(&mut input, at(0))
        .expect("a 503 is not an error");
    let Some(Event::Rejected(response)) = received.event else {
        panic!("not rejected")
    };
    assert_eq!(response.status(), 503);
    assert_eq!(response.header("retry-after"), Some(&b"120"[..]));
    assert_sends_nothing(&mut client);
}

#[test]
fn client_reports_rejection_arriving_in_pieces() {
    let mut client = client_for(plain());
    drain(&mut client);
    let (events, outcome) = feed_in_pieces(
        &mut client,
        b"HTTP/1.1 404 Not Found\r\nX: y\r\n\r\n",
        3,
        at(0),
    );
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Rejected(404)]);
}

// ---- Bytes after the head, and heads in pieces --------------------------------------------

#[test]
fn client_delivers_frame_after_101_in_same_buffer() {
    let mut client = client_for(plain());
    let sent = drain(&mut client);
    let mut input = response_for(&sent, "");
    input.extend_from_slice(&raw_frame(0x81, None, b"first frame", 0));
    input.extend_from_slice(&raw_frame(0x82, None, &[1, 2, 3], 0));
    let (events, outcome, left) = feed(&mut client, &input, at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(left, 0);
    assert_eq!(
        events,
        vec![
            Ev::Connected(None),
            Ev::Text("first frame".into()),
            Ev::Binary(vec![1, 2, 3])
        ]
    );
}

#[test]
fn client_101_consumes_exactly_the_head() {
    let mut client = client_for(plain());
    let sent = drain(&mut client);
    let head = response_for(&sent, "");
    let mut input = head.clone();
    input.extend_from_slice(&raw_frame(0x81, None, b"x", 0));
    let received = client.receive(&mut input, at(0)).unwrap();
    assert_eq!(received.consumed, head.len());
    assert!(matches!(received.event, Some(Event::Connected(_))));
}

#[test]
fn client_accepts_response_one_byte_at_a_time() {
    let mut client = client_for(plain().with_subprotocols(&["chat"]));
    let sent = drain(&mut client);
    let mut input = response_for(&sent, "Sec-WebSocket-Protocol: chat\r\n");
    input.extend_from_slice(&raw_frame(0x81, None, b"hi", 0));
    let (events, outcome) = feed_in_pieces(&mut client, &input, 1, at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events.first(), Some(&Ev::Connected(Some("chat".into()))));
    // The frame after it arrives in one-byte pieces too: reassemble its chunks.
    let text: Vec<u8> = events[1..]
        .iter()
        .flat_map(|e| match e {
            Ev::Chunk { data, .. } => data.clone(),
            Ev::Text(t) => t.clone().into_bytes(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(text, b"hi");
    assert_eq!(client.state(), State::Open);
}

#[test]
fn client_waits_for_incomplete_response_head() {
    let mut client = client_for(plain());
    let sent = drain(&mut client);
    let head = response_for(&sent, "");
    let mut partial = head[..head.len() - 1].to_vec();
    let received = client.receive(&mut partial, at(0)).unwrap();
    assert_eq!(received.consumed, 0);
    assert!(received.event.is_none());
    assert_eq!(client.state(), State::Connecting);
}

// ---- The handshake deadline (Config::handshake_timeout) -----------------------------------

/// After the client gave up on its handshake: nothing is sent, ever, and the transport is
/// to be closed.
fn assert_gave_up(client: &mut Client<'static, TestRng>) {
    assert_eq!(client.poll_timeout(), None);
    assert_sends_nothing(client);
    // A response that comes too late is swallowed: no event, nothing sent.
    let (events, outcome, left) = feed(
        client,
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        at(20_000),
    );
    assert_eq!((events, outcome, left), (vec![], Ok(()), 0));
    assert_eq!(drain(client), Vec::<u8>::new());
    assert_eq!(client.handle_timeout(at(60_000)), None);
}

#[test]
fn client_gives_up_when_the_server_never_answers() {
    let mut client = client_for(plain());
    // The deadline is set from creation (never the epoch, never unset).
    assert_eq!(client.poll_timeout(), Some(at(10_000)));
    let request = request_text(&mut client);
    assert!(request.starts_with("GET /chat HTTP/1.1\r\n"), "{request}");
    // Sending the request does not move it.
    assert_eq!(client.poll_timeout(), Some(at(10_000)));
    assert_eq!(client.handle_timeout(at(5_000)), None);
    assert_eq!(client.handle_timeout(at(9_999)), None);
    assert_eq!(client.state(), State::Connecting);
    assert!(!client.should_close_transport());
    assert_eq!(client.handle_timeout(at(10_000)), Some(TimedOut::Handshake));
    // A client gives up without a word: nothing is sent.
    let mut out = [0u8; 1024];
    assert_eq!(client.poll_transmit(&mut out), Ok(0));
    assert!(client.should_close_transport());
    assert_eq!(client.state(), State::Closed);
    assert_gave_up(&mut client);
}

#[test]
fn client_that_gave_up_before_its_request_went_out_never_sends_it() {
    let config = Config::default().with_handshake_timeout(Duration::from_millis(1_500));
    let mut client = Client::new(plain(), config, rng(), at(250)).unwrap();
    assert_eq!(client.poll_timeout(), Some(at(1_750)));
    assert_eq!(client.handle_timeout(at(1_749)), None);
    assert_eq!(client.handle_timeout(at(1_750)), Some(TimedOut::Handshake));
    assert_eq!(client.state(), State::Closed);
    assert!(client.should_close_transport());
    assert_gave_up(&mut client);
}

#[test]
fn client_handshake_deadline_is_gone_once_connected() {
    let (mut client, events, outcome) = handshake_with(plain(), |r| response_for(r, ""));
    assert_eq!((events, outcome), (vec![Ev::Connected(None)], Ok(())));
    // No keep-alive configured: no timer at all.
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.handle_timeout(at(10_000)), None);
    assert_eq!(client.state(), State::Open);
    assert!(!client.should_close_transport());
}

// ---- The chosen subprotocol and the open connection --------------------------------------

/// An application's session: it keeps the open connection, and has no lifetime parameter
/// (the connection borrows nothing from the client's request).
struct Session {
    connection: Connection<Masked<TestRng>>,
}

/// A session opened from a URL that no longer exists once the handshake is done.
fn open_session(subprotocols: &'static [&'static str], chosen: &str) -> Session {
    let url = String::from("ws://server.example.com/chat");
    let request = ClientRequest::from_url(&url)
        .unwrap()
        .with_subprotocols(subprotocols);
    let mut client = Client::new(request, Config::default(), rng(), at(0)).unwrap();
    let sent = drain(&mut client);
    let extra = format!("Sec-WebSocket-Protocol: {chosen}\r\n");
    let (events, outcome, _) = feed(&mut client, &response_for(&sent, &extra), at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(Some(chosen.to_string()))]);
    assert_eq!(client.connection().unwrap().subprotocol(), Some(chosen));
    let connection = client.into_connection().expect("open");
    drop(url);
    Session { connection }
}

#[test]
fn client_subprotocol_is_readable_after_connected() {
    let mut client = client_for(plain().with_subprotocols(&["chat", "superchat"]));
    let sent = drain(&mut client);
    // Not open yet: no connection to read it from.
    assert_eq!(client.connection().err(), Some(UsageError::NotOpen));
    let response = response_for(&sent, "Sec-WebSocket-Protocol: superchat\r\n");
    let (events, outcome, _) = feed(&mut client, &response, at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Connected(Some("superchat".into()))]);
    assert_eq!(
        client.connection().unwrap().subprotocol(),
        Some("superchat")
    );
    // None chosen: none read.
    let (mut client, events, _) = handshake_with(plain().with_subprotocols(&["chat"]), |r| {
        response_for(r, "")
    });
    assert_eq!(events, vec![Ev::Connected(None)]);
    assert_eq!(client.connection().unwrap().subprotocol(), None);
}

#[test]
fn client_into_connection_outlives_the_request_and_still_sends() {
    let mut session = open_session(&["chat", "superchat"], "chat");
    assert_eq!(session.connection.subprotocol(), Some("chat"));
    assert_eq!(session.connection.state(), State::Open);
    // It still sends masked frames (RFC 6455 §5.1, §5.3).
    let mut out = [0u8; 256];
    let n = session
        .connection
        .send_text("still here", &mut out)
        .unwrap();
    let frames = wire_frames(&out[..n]);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        (frames[0].fin, frames[0].opcode, frames[0].masked),
        (true, 0x1, true)
    );
    assert_eq!(frames[0].payload, b"still here");
    // And receives.
    let (events, outcome, left) = feed(
        &mut session.connection,
        &raw_frame(0x82, None, &[1, 2, 3], 0),
        at(0),
    );
    assert_eq!(
        (events, outcome, left),
        (vec![Ev::Binary(vec![1, 2, 3])], Ok(()), 0)
    );
}

#[test]
fn client_into_connection_before_connected_gives_the_client_back() {
    let client = client_for(plain());
    let mut client = client.into_connection().expect_err("not open yet");
    assert_eq!(client.state(), State::Connecting);
    assert_eq!(client.poll_timeout(), Some(at(10_000)));
    let text = request_text(&mut client);
    assert!(text.starts_with("GET /chat HTTP/1.1\r\n"), "{text}");
}

#[test]
fn client_refuses_to_offer_subprotocol_over_24_bytes() {
    let at_limit: &'static str = "abcdefghijklmnopqrstuvwx";
    let over: &'static str = "abcdefghijklmnopqrstuvwxy";
    assert_eq!(at_limit.len(), sockless::MAX_SUBPROTOCOL_LEN);
    assert_eq!(over.len(), sockless::MAX_SUBPROTOCOL_LEN + 1);
    for offered in [&[over][..], &["chat", over]] {
        let request = plain().with_subprotocols(offered);
        assert_eq!(
            Client::new(request, Config::default(), rng(), at(0)).err(),
            Some(UsageError::InvalidSubprotocol),
            "{offered:?}"
        );
    }
    // 24 bytes are offered, and can be chosen and read back.
    let mut session = open_session(&["chat", "abcdefghijklmnopqrstuvwx"], at_limit);
    assert_eq!(session.connection.subprotocol(), Some(at_limit));
    let mut client = client_for(plain().with_subprotocols(&["abcdefghijklmnopqrstuvwx"]));
    let text = request_text(&mut client);
    assert_eq!(the_value(&text, "Sec-WebSocket-Protocol"), at_limit);
    assert!(session.connection.send_text("x", &mut [0u8; 64]).is_ok());
}
