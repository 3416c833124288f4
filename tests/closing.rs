//! RFC 6455 §5.5.1, §7: the closing handshake, close codes, failing the
//! connection and abnormal closure, for each role.

mod common;
use common::*;

use sockless::SendError;
use sockless::{
    AbnormalClosure, CloseCode, Config, Connection, Duration, Endpoint, Error, Instant,
    MessageKind, ProtocolError, State, TimedOut, UsageError,
};

/// The open connection of `e`, to send with.
fn conn<E: Endpoint>(e: &mut E) -> &mut Connection<E::Masking> {
    e.connection().expect("the connection is open")
}

/// Feed one frame built for `e` (masked iff `e` is a server).
fn feed_frame(
    e: &mut impl Endpoint,
    first_byte: u8,
    payload: &[u8],
    now: Instant,
) -> (Vec<Ev>, Result<(), Error>, usize) {
    let frame = frame_for(e, first_byte, payload);
    feed(e, &frame, now)
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// `bytes` hold exactly one Close frame, masked iff `e` is a client; returns its payload.
fn the_close_frame(e: &impl Endpoint, bytes: &[u8]) -> Vec<u8> {
    let frames = wire_frames(bytes);
    assert_eq!(frames.len(), 1, "{frames:?}");
    let frame = &frames[0];
    assert_eq!(frame.opcode, 0x8);
    assert!(frame.fin);
    assert_eq!(frame.rsv, 0);
    assert_eq!(
        frame.masked,
        !expects_masked(e),
        "masked iff sent by a client"
    );
    frame.payload.clone()
}

fn config_with_close_timeout(ms: u64) -> Config {
    Config::default().with_close_timeout(Duration::from_millis(ms))
}

/// Nothing can be sent any more, and nothing is owed.
fn assert_sends_nothing(e: &mut impl Endpoint) {
    let mut out = [0u8; 256];
    let not_open = Err(SendError::Usage(UsageError::NotOpen));
    assert_eq!(conn(e).send_text("x", &mut out), not_open);
    assert_eq!(conn(e).send_binary(b"x", &mut out), not_open);
    assert_eq!(
        conn(e).send_fragment(MessageKind::Binary, b"x", false, &mut out),
        not_open
    );
    assert_eq!(conn(e).ping(b"x", &mut out), not_open);
    assert_eq!(conn(e).pong(b"x", &mut out), not_open);
    assert_eq!(
        conn(e).close(CloseCode(1000), "", at(50), &mut out),
        not_open
    );
    assert_eq!(drain(e), Vec::<u8>::new());
}

/// Further input is consumed without events or output.
fn assert_reads_nothing(e: &mut impl Endpoint) {
    let mut input = frame_for(e, 0x81, b"more data");
    input.extend(frame_for(e, 0x89, b"ping"));
    input.extend(frame_for(e, 0x88, &close_payload(1000, b"")));
    input.extend(frame_for(e, 0x83, b"reserved opcode"));
    let (events, outcome, left) = feed(e, &input, at(60));
    assert_eq!(events, vec![]);
    assert_eq!(outcome, Ok(()));
    assert_eq!(left, 0);
    assert_eq!(drain(e), Vec::<u8>::new());
}

// ---- The peer closes first ---------------------------------------------------------------

fn echoes_close_code(mut e: impl Endpoint) {
    let (events, outcome, left) =
        feed_frame(&mut e, 0x88, &close_payload(1001, b"going away"), at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(left, 0);
    assert_eq!(events, vec![Ev::Close(Some(1001), "going away".into())]);
    assert_eq!(e.state(), State::RemoteClosing);
    let out = drain(&mut e);
    let payload = the_close_frame(&e, &out);
    assert_eq!(payload[..2], 1001u16.to_be_bytes());
    assert_eq!(e.state(), State::Closed);
    assert_sends_nothing(&mut e);
    assert_reads_nothing(&mut e);
}

#[test]
fn server_echoes_close_code() {
    echoes_close_code(open_server(Config::default()));
}

#[test]
fn client_echoes_close_code() {
    echoes_close_code(open_client(Config::default()));
}

fn echoes_codes_with_reasons(make: impl Fn() -> Box<dyn FnMut(&[u8]) -> (Vec<Ev>, Vec<u8>)>) {
    for (code, reason) in [
        (1000, &b""[..]),
        (1003, b"x"),
        (3000, "é".as_bytes()),
        (4999, &[b'r'; 123]),
    ] {
        let mut run = make();
        let (events, out) = run(&close_payload(code, reason));
        assert_eq!(
            events,
            vec![Ev::Close(
                Some(code),
                String::from_utf8(reason.to_vec()).unwrap()
            )]
        );
        assert_eq!(close_code_in(&out), Some(code));
    }
}

#[test]
fn server_echoes_close_codes_with_any_reason() {
    echoes_codes_with_reasons(|| {
        let mut server = open_server(Config::default());
        Box::new(move |payload| {
            let (events, outcome, _) = feed_frame(&mut server, 0x88, payload, at(1));
            assert_eq!(outcome, Ok(()));
            (events, drain(&mut server))
        })
    });
}

#[test]
fn client_echoes_close_codes_with_any_reason() {
    echoes_codes_with_reasons(|| {
        let mut client = open_client(Config::default());
        Box::new(move |payload| {
            let (events, outcome, _) = feed_frame(&mut client, 0x88, payload, at(1));
            assert_eq!(outcome, Ok(()));
            (events, drain(&mut client))
        })
    });
}

fn echoes_empty_close_with_1000(mut e: impl Endpoint) {
    let (events, outcome, _) = feed_frame(&mut e, 0x88, b"", at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Close(None, String::new())]);
    let out = drain(&mut e);
    let payload = the_close_frame(&e, &out);
    assert_eq!(payload, 1000u16.to_be_bytes());
    assert_sends_nothing(&mut e);
}

#[test]
fn server_echoes_empty_close_with_1000() {
    echoes_empty_close_with_1000(open_server(Config::default()));
}

#[test]
fn client_echoes_empty_close_with_1000() {
    echoes_empty_close_with_1000(open_client(Config::default()));
}

fn close_ends_the_input(mut e: impl Endpoint) {
    // Data after the peer's Close in the same input is not delivered.
    let mut input = frame_for(&e, 0x81, b"before");
    input.extend(frame_for(&e, 0x88, &close_payload(1000, b"")));
    input.extend(frame_for(&e, 0x81, b"after"));
    let (events, outcome, left) = feed(&mut e, &input, at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(left, 0);
    assert_eq!(
        events,
        vec![
            Ev::Text("before".into()),
            Ev::Close(Some(1000), String::new())
        ]
    );
    assert_eq!(close_code_in(&drain(&mut e)), Some(1000));
}

#[test]
fn server_delivers_nothing_after_peer_close() {
    close_ends_the_input(open_server(Config::default()));
}

#[test]
fn client_delivers_nothing_after_peer_close() {
    close_ends_the_input(open_client(Config::default()));
}

fn answers_peer_close_with_own_code(mut e: impl Endpoint) {
    let (_, outcome, _) = feed_frame(&mut e, 0x88, &close_payload(1000, b""), at(1));
    assert_eq!(outcome, Ok(()));
    let mut out = [0u8; 256];
    let n = conn(&mut e)
        .close(CloseCode(1011), "oops", at(2), &mut out)
        .unwrap();
    assert_eq!(the_close_frame(&e, &out[..n]), close_payload(1011, b"oops"));
    assert_eq!(e.state(), State::Closed);
    // The echo is not sent on top of it.
    assert_sends_nothing(&mut e);
}

#[test]
fn server_answers_peer_close_with_own_code_instead_of_echo() {
    answers_peer_close_with_own_code(open_server(Config::default()));
}

#[test]
fn client_answers_peer_close_with_own_code_instead_of_echo() {
    answers_peer_close_with_own_code(open_client(Config::default()));
}

#[test]
fn server_closes_transport_right_after_echo() {
    let mut server = open_server(Config::default());
    let (_, outcome, _) = feed_frame(&mut server, 0x88, &close_payload(1000, b""), at(1));
    assert_eq!(outcome, Ok(()));
    assert!(!server.should_close_transport(), "the echo is not sent yet");
    assert_eq!(close_code_in(&drain(&mut server)), Some(1000));
    assert!(server.should_close_transport());
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(server.handle_eof(), Ok(()));
}

#[test]
fn client_waits_for_eof_after_echo() {
    let mut client = open_client(Config::default());
    let (_, outcome, _) = feed_frame(&mut client, 0x88, &close_payload(1000, b""), at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(close_code_in(&drain(&mut client)), Some(1000));
    assert_eq!(client.state(), State::Closed);
    assert!(
        !client.should_close_transport(),
        "the server closes the transport first"
    );
    assert_eq!(client.handle_eof(), Ok(()));
    assert!(client.should_close_transport());
    assert_eq!(client.state(), State::Closed);
}

#[test]
fn client_closes_transport_at_close_timeout_after_echo() {
    let mut client = open_client(config_with_close_timeout(2000));
    let (_, outcome, _) = feed_frame(&mut client, 0x88, &close_payload(1000, b""), at(100));
    assert_eq!(outcome, Ok(()));
    assert_eq!(close_code_in(&drain(&mut client)), Some(1000));
    assert_eq!(client.poll_timeout(), Some(at(2100)));
    assert_eq!(client.handle_timeout(at(2099)), None);
    assert!(!client.should_close_transport());
    assert_eq!(
        client.handle_timeout(at(2100)),
        None,
        "the closing handshake finished: no failure"
    );
    assert!(client.should_close_transport());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(drain(&mut client), Vec::<u8>::new());
    assert_eq!(client.handle_eof(), Ok(()));
}

// ---- We close first ----------------------------------------------------------------------

fn own_close(mut e: impl Endpoint) {
    let mut out = [0u8; 256];
    let n = conn(&mut e)
        .close(CloseCode(4000), "done", at(10), &mut out)
        .unwrap();
    assert_eq!(the_close_frame(&e, &out[..n]), close_payload(4000, b"done"));
    assert_eq!(e.state(), State::LocalClosing);
    assert!(!e.should_close_transport());
    assert_eq!(
        e.poll_timeout(),
        Some(at(5010)),
        "default close timeout is 5 s"
    );
    assert_eq!(drain(&mut e), Vec::<u8>::new());
    // Data the peer sent meanwhile is still delivered.
    let mut input = frame_for(&e, 0x81, b"still here");
    input.extend(frame_for(&e, 0x02, &[1]));
    input.extend(frame_for(&e, 0x80, &[2]));
    let (events, outcome, _) = feed(&mut e, &input, at(20));
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        events,
        vec![
            Ev::Text("still here".into()),
            Ev::Chunk {
                kind: MessageKind::Binary,
                data: vec![1],
                first: true,
                last: false
            },
            Ev::Chunk {
                kind: MessageKind::Binary,
                data: vec![2],
                first: false,
                last: true
            },
        ]
    );
    assert_eq!(drain(&mut e), Vec::<u8>::new());
    // The peer's Close completes the handshake; no second Close goes out.
    let (events, outcome, _) = feed_frame(&mut e, 0x88, &close_payload(1000, b"ok"), at(30));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Close(Some(1000), "ok".into())]);
    assert_eq!(
        drain(&mut e),
        Vec::<u8>::new(),
        "no Close answer sent twice"
    );
    assert_eq!(e.state(), State::Closed);
    assert_sends_nothing(&mut e);
    assert_eq!(e.handle_eof(), Ok(()));
    assert!(e.should_close_transport());
}

#[test]
fn server_close_sends_code_and_reason_and_peer_close_completes_it() {
    own_close(open_server(Config::default()));
}

#[test]
fn client_close_sends_code_and_reason_and_peer_close_completes_it() {
    own_close(open_client(Config::default()));
}

#[test]
fn server_closes_transport_when_peer_close_answers_ours() {
    let mut server = open_server(Config::default());
    conn(&mut server)
        .close(CloseCode::NORMAL, "", at(1), &mut [0u8; 64])
        .unwrap();
    assert!(!server.should_close_transport());
    let (_, outcome, _) = feed_frame(&mut server, 0x88, &close_payload(1000, b""), at(2));
    assert_eq!(outcome, Ok(()));
    assert!(
        server.should_close_transport(),
        "the server closes the transport first"
    );
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn client_waits_for_eof_or_timeout_when_peer_close_answers_ours() {
    let mut client = open_client(config_with_close_timeout(1000));
    conn(&mut client)
        .close(CloseCode::NORMAL, "", at(1), &mut [0u8; 64])
        .unwrap();
    let (_, outcome, _) = feed_frame(&mut client, 0x88, &close_payload(1000, b""), at(200));
    assert_eq!(outcome, Ok(()));
    assert_eq!(client.state(), State::Closed);
    assert!(!client.should_close_transport());
    let deadline = client
        .poll_timeout()
        .expect("a deadline to close the transport");
    assert!(deadline <= at(1200), "{deadline:?}");
    assert_eq!(client.handle_timeout(deadline), None);
    assert!(client.should_close_transport());
}

fn close_timeout_without_peer_close(mut e: impl Endpoint) {
    let mut out = [0u8; 256];
    conn(&mut e)
        .close(CloseCode(1000), "", at(100), &mut out)
        .unwrap();
    assert_eq!(e.poll_timeout(), Some(at(1100)));
    assert_eq!(e.handle_timeout(at(1099)), None);
    assert_eq!(e.state(), State::LocalClosing);
    assert!(!e.should_close_transport());
    assert_eq!(e.handle_timeout(at(1100)), Some(TimedOut::Closing));
    assert_eq!(e.state(), State::Closed);
    assert!(e.should_close_transport());
    assert_eq!(e.poll_timeout(), None);
    assert_sends_nothing(&mut e);
}

#[test]
fn server_close_timeout_without_peer_close_closes() {
    close_timeout_without_peer_close(open_server(config_with_close_timeout(1000)));
}

#[test]
fn client_close_timeout_without_peer_close_closes() {
    close_timeout_without_peer_close(open_client(config_with_close_timeout(1000)));
}

fn nothing_sent_after_own_close(mut e: impl Endpoint) {
    let mut out = [0u8; 256];
    conn(&mut e)
        .close(CloseCode(1000), "", at(1), &mut out)
        .unwrap();
    assert_sends_nothing(&mut e);
    let (events, outcome, _) = feed_frame(&mut e, 0x89, b"are you there", at(2));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Ping(b"are you there".to_vec())]);
    assert_eq!(
        drain(&mut e),
        Vec::<u8>::new(),
        "a Ping after our Close is not answered"
    );
    assert_sends_nothing(&mut e);
}

#[test]
fn server_sends_nothing_after_own_close() {
    nothing_sent_after_own_close(open_server(Config::default()));
}

#[test]
fn client_sends_nothing_after_own_close() {
    nothing_sent_after_own_close(open_client(Config::default()));
}

fn violation_after_own_close(mut e: impl Endpoint) {
    let mut out = [0u8; 256];
    conn(&mut e)
        .close(CloseCode(1000), "", at(1), &mut out)
        .unwrap();
    let (events, outcome, _) = feed_frame(&mut e, 0x83, b"", at(2));
    assert_eq!(events, vec![]);
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::ReservedOpcode(3)))
    );
    assert_eq!(
        drain(&mut e),
        Vec::<u8>::new(),
        "our Close was already sent"
    );
    assert!(e.should_close_transport());
    assert_reads_nothing(&mut e);
}

#[test]
fn server_sends_no_second_close_on_violation_after_own_close() {
    violation_after_own_close(open_server(Config::default()));
}

#[test]
fn client_sends_no_second_close_on_violation_after_own_close() {
    violation_after_own_close(open_client(Config::default()));
}

// ---- Close codes -------------------------------------------------------------------------

fn allowed_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn check_every_received_close_code(
    open: impl Fn() -> Box<dyn FnMut(u16) -> (Vec<Ev>, Result<(), Error>, Vec<u8>)>,
) {
    let mut accepted = 0;
    for code in (0..=5000u16).chain([5001, 9999, 65535]) {
        let mut run = open();
        let (events, outcome, out) = run(code);
        if allowed_on_wire(code) {
            accepted += 1;
            assert_eq!(outcome, Ok(()), "code {code}");
            assert_eq!(
                events,
                vec![Ev::Close(Some(code), "r".into())],
                "code {code}"
            );
            assert_eq!(close_code_in(&out), Some(code), "echo of {code}");
        } else {
            assert_eq!(events, vec![], "code {code}");
            assert_eq!(
                outcome,
                Err(Error::Protocol(ProtocolError::InvalidCloseCode(code))),
                "code {code}"
            );
            assert_eq!(close_code_in(&out), Some(1002), "answer to {code}");
        }
    }
    assert_eq!(accepted, 4 + 8 + 2000);
}

#[test]
fn server_accepts_allowed_close_codes_and_fails_others_with_1002() {
    check_every_received_close_code(|| {
        let mut server = open_server(Config::default());
        Box::new(move |code| {
            let (events, outcome, _) =
                feed_frame(&mut server, 0x88, &close_payload(code, b"r"), at(1));
            (events, outcome, drain(&mut server))
        })
    });
}

#[test]
fn client_accepts_allowed_close_codes_and_fails_others_with_1002() {
    check_every_received_close_code(|| {
        let mut client = open_client(Config::default());
        Box::new(move |code| {
            let (events, outcome, _) =
                feed_frame(&mut client, 0x88, &close_payload(code, b"r"), at(1));
            (events, outcome, drain(&mut client))
        })
    });
}

fn one_byte_close_payload(mut e: impl Endpoint) {
    let (events, outcome, _) = feed_frame(&mut e, 0x88, &[0x03], at(1));
    assert_eq!(events, vec![]);
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::ClosePayloadTooShort))
    );
    assert_eq!(close_code_in(&drain(&mut e)), Some(1002));
    assert!(e.should_close_transport());
}

#[test]
fn server_fails_one_byte_close_payload_with_1002() {
    one_byte_close_payload(open_server(Config::default()));
}

#[test]
fn client_fails_one_byte_close_payload_with_1002() {
    one_byte_close_payload(open_client(Config::default()));
}

fn invalid_utf8_reason(
    open: impl Fn() -> Box<dyn FnMut(&[u8]) -> (Vec<Ev>, Result<(), Error>, Vec<u8>)>,
) {
    for reason in [
        &[0xFF][..],
        &[b'o', b'k', 0xC3],       // ends inside a character
        &[0xC0, 0x80],             // overlong
        &[0xED, 0xA0, 0x80],       // surrogate
        &[0xF4, 0x90, 0x80, 0x80], // above U+10FFFF
        &[0x80],                   // stray continuation
    ] {
        let mut run = open();
        let (events, outcome, out) = run(&close_payload(1000, reason));
        assert_eq!(events, vec![], "{reason:x?}");
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::InvalidCloseReason)),
            "{reason:x?}"
        );
        assert_eq!(close_code_in(&out), Some(1007), "{reason:x?}");
    }
}

#[test]
fn server_fails_invalid_utf8_close_reason_with_1007() {
    invalid_utf8_reason(|| {
        let mut server = open_server(Config::default());
        Box::new(move |payload| {
            let (events, outcome, _) = feed_frame(&mut server, 0x88, payload, at(1));
            (events, outcome, drain(&mut server))
        })
    });
}

#[test]
fn client_fails_invalid_utf8_close_reason_with_1007() {
    invalid_utf8_reason(|| {
        let mut client = open_client(Config::default());
        Box::new(move |payload| {
            let (events, outcome, _) = feed_frame(&mut client, 0x88, payload, at(1));
            (events, outcome, drain(&mut client))
        })
    });
}

fn close_refuses_unsendable_codes(mut e: impl Endpoint) {
    let mut out = [0xAAu8; 256];
    for code in [1005, 1006, 1015, 999, 5000, 0, 1004, 1016, 2999, 65535] {
        assert_eq!(
            conn(&mut e).close(CloseCode(code), "", at(1), &mut out),
            Err(SendError::Usage(UsageError::InvalidCloseCode)),
            "code {code}"
        );
        assert!(out.iter().all(|&b| b == 0xAA), "bytes written for {code}");
        assert_eq!(e.state(), State::Open);
        assert_eq!(drain(&mut e), Vec::<u8>::new());
    }
    // Still open: a valid close works.
    let n = conn(&mut e)
        .close(CloseCode(3000), "", at(2), &mut out)
        .unwrap();
    assert_eq!(close_code_in(&out[..n]), Some(3000));
}

#[test]
fn server_close_refuses_codes_that_may_not_be_sent() {
    close_refuses_unsendable_codes(open_server(Config::default()));
}

#[test]
fn client_close_refuses_codes_that_may_not_be_sent() {
    close_refuses_unsendable_codes(open_client(Config::default()));
}

fn close_sends_every_allowed_code(
    make: impl Fn() -> Box<dyn FnMut(u16) -> Result<Vec<u8>, Error>>,
) {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        let mut close = make();
        let out = close(code).unwrap_or_else(|e| panic!("code {code}: {e:?}"));
        assert_eq!(close_code_in(&out), Some(code));
    }
}

#[test]
fn server_close_sends_allowed_codes() {
    close_sends_every_allowed_code(|| {
        let mut server = open_server(Config::default());
        Box::new(move |code| {
            let mut out = [0u8; 256];
            let n = conn(&mut server).close(CloseCode(code), "", at(1), &mut out)?;
            Ok(out[..n].to_vec())
        })
    });
}

#[test]
fn client_close_sends_allowed_codes() {
    close_sends_every_allowed_code(|| {
        let mut client = open_client(Config::default());
        Box::new(move |code| {
            let mut out = [0u8; 256];
            let n = conn(&mut client).close(CloseCode(code), "", at(1), &mut out)?;
            Ok(out[..n].to_vec())
        })
    });
}

fn close_reason_limit(mut e: impl Endpoint) {
    let mut out = [0xAAu8; 256];
    let long = "r".repeat(124);
    assert_eq!(
        conn(&mut e).close(CloseCode(1000), &long, at(1), &mut out),
        Err(SendError::Usage(UsageError::ControlPayloadTooLong))
    );
    assert!(out.iter().all(|&b| b == 0xAA));
    assert_eq!(e.state(), State::Open);
    assert_eq!(drain(&mut e), Vec::<u8>::new());
    let max = "r".repeat(123);
    let n = conn(&mut e)
        .close(CloseCode(1000), &max, at(1), &mut out)
        .unwrap();
    assert_eq!(
        the_close_frame(&e, &out[..n]),
        close_payload(1000, max.as_bytes())
    );
}

#[test]
fn server_close_reason_of_124_bytes_is_usage_error() {
    close_reason_limit(open_server(Config::default()));
}

#[test]
fn client_close_reason_of_124_bytes_is_usage_error() {
    close_reason_limit(open_client(Config::default()));
}

// ---- Failing the connection --------------------------------------------------------------

fn fails_with_1002_then_reads_nothing(mut e: impl Endpoint, frame: Vec<u8>, error: ProtocolError) {
    // A message before the violation is delivered.
    let mut input = frame_for(&e, 0x81, b"before");
    input.extend(frame);
    let (events, outcome, _) = feed(&mut e, &input, at(1));
    assert_eq!(events, vec![Ev::Text("before".into())]);
    assert_eq!(outcome, Err(Error::Protocol(error)));
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    assert_eq!(e.state(), State::Failed);
    let out = drain(&mut e);
    let payload = the_close_frame(&e, &out);
    assert_eq!(payload[..2], 1002u16.to_be_bytes());
    assert_eq!(e.state(), State::Closed);
    assert!(e.should_close_transport());
    assert_reads_nothing(&mut e);
    assert_sends_nothing(&mut e);
}

#[test]
fn server_fails_unmasked_frame_with_1002_then_reads_nothing() {
    let server = open_server(Config::default());
    fails_with_1002_then_reads_nothing(
        server,
        raw_frame(0x81, None, b"unmasked", 0),
        ProtocolError::UnmaskedClientFrame,
    );
}

#[test]
fn client_fails_masked_frame_with_1002_then_reads_nothing() {
    let client = open_client(Config::default());
    fails_with_1002_then_reads_nothing(
        client,
        raw_frame(0x81, Some(MASK), b"masked", 0),
        ProtocolError::MaskedServerFrame,
    );
}

#[test]
fn server_fails_reserved_opcode_with_1002_then_reads_nothing() {
    let server = open_server(Config::default());
    let frame = frame_for(&server, 0x8B, b"");
    fails_with_1002_then_reads_nothing(server, frame, ProtocolError::ReservedOpcode(0xB));
}

#[test]
fn client_fails_reserved_opcode_with_1002_then_reads_nothing() {
    let client = open_client(Config::default());
    let frame = frame_for(&client, 0x83, b"x");
    fails_with_1002_then_reads_nothing(client, frame, ProtocolError::ReservedOpcode(3));
}

// ---- Abnormal closure --------------------------------------------------------------------

fn eof_while_open(mut e: impl Endpoint) {
    let error = e.handle_eof().unwrap_err();
    assert_eq!(error, AbnormalClosure);
    assert_eq!(Error::from(error).close_code(), Some(CloseCode(1006)));
    assert!(e.should_close_transport());
    assert_eq!(e.state(), State::Closed);
    assert_sends_nothing(&mut e);
}

#[test]
fn server_eof_while_open_is_abnormal_closure_1006() {
    eof_while_open(open_server(Config::default()));
}

#[test]
fn client_eof_while_open_is_abnormal_closure_1006() {
    eof_while_open(open_client(Config::default()));
}

fn eof_while_local_closing(mut e: impl Endpoint) {
    conn(&mut e)
        .close(CloseCode(1000), "", at(1), &mut [0u8; 64])
        .unwrap();
    let error = e.handle_eof().unwrap_err();
    assert_eq!(error, AbnormalClosure);
    assert_eq!(Error::from(error).close_code(), Some(CloseCode(1006)));
    assert!(e.should_close_transport());
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn server_eof_while_local_closing_is_abnormal_closure_1006() {
    eof_while_local_closing(open_server(Config::default()));
}

#[test]
fn client_eof_while_local_closing_is_abnormal_closure_1006() {
    eof_while_local_closing(open_client(Config::default()));
}

fn eof_in_mid_message(mut e: impl Endpoint) {
    let (_, outcome, _) = feed_frame(&mut e, 0x01, b"half a mess", at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(e.handle_eof(), Err(AbnormalClosure));
}

#[test]
fn server_eof_in_mid_message_is_abnormal_closure() {
    eof_in_mid_message(open_server(Config::default()));
}

#[test]
fn client_eof_in_mid_message_is_abnormal_closure() {
    eof_in_mid_message(open_client(Config::default()));
}

#[test]
fn client_eof_during_handshake_is_abnormal_closure() {
    let mut client =
        sockless::Client::connect("ws://example.com/", Config::default(), rng(), at(0)).unwrap();
    drain(&mut client);
    assert_eq!(client.handle_eof(), Err(AbnormalClosure));
    assert!(client.should_close_transport());
}

fn eof_after_peer_close_before_echo(mut e: impl Endpoint) {
    // The peer's Close arrived, then the transport ended before our answer went out (a
    // peer that closes right after its Close). A Close was received: not 1006.
    let (events, outcome, _) = feed_frame(&mut e, 0x88, &close_payload(1000, b"bye"), at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Close(Some(1000), "bye".into())]);
    assert_eq!(
        e.handle_eof(),
        Ok(()),
        "the peer's Close was received: not an abnormal closure"
    );
    assert!(e.should_close_transport());
}

#[test]
fn server_eof_after_peer_close_before_echo_is_not_abnormal() {
    eof_after_peer_close_before_echo(open_server(Config::default()));
}

#[test]
fn client_eof_after_peer_close_before_echo_is_not_abnormal() {
    eof_after_peer_close_before_echo(open_client(Config::default()));
}

// ---- A header from send_header holds the wire until its payload is written ---------------

const PAYLOAD: &[u8; 10] = b"0123456789";

/// Start a frame of `kind` for the 10 bytes of [`PAYLOAD`] with `send_header` (FIN set);
/// returns the header bytes and the masking key the payload must be sent with.
fn start_header<E: Endpoint>(e: &mut E, kind: MessageKind) -> (Vec<u8>, Option<[u8; 4]>) {
    let mut out = [0u8; 64];
    let header = conn(e).send_header(kind, 10, true, &mut out).unwrap();
    assert_eq!(header.mask.is_some(), !expects_masked(e), "a client masks");
    assert_eq!(conn(e).payload_pending(), 10);
    (out[..header.len].to_vec(), header.mask)
}

/// The header followed by [`PAYLOAD`] (masked with `mask`), as the application writes them.
fn header_and_payload(header: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut payload = PAYLOAD.to_vec();
    if let Some(key) = mask {
        sockless::frame::apply_mask(&mut payload, key, 0);
    }
    let mut wire = header.to_vec();
    wire.extend(payload);
    wire
}

/// Every command is refused with `PayloadPending`, writing nothing and changing nothing.
fn assert_commands_refused<E: Endpoint>(e: &mut E, kind: MessageKind) {
    let pending = Err(SendError::Usage(UsageError::PayloadPending));
    let mut out = [0xAAu8; 256];
    assert_eq!(conn(e).send_text("x", &mut out), pending);
    assert_eq!(conn(e).send_binary(b"x", &mut out), pending);
    for (fragment_kind, last) in [(MessageKind::Binary, false), (kind, true)] {
        assert_eq!(
            conn(e).send_fragment(fragment_kind, b"x", last, &mut out),
            pending
        );
    }
    assert_eq!(conn(e).ping(b"x", &mut out), pending);
    assert_eq!(conn(e).pong(b"x", &mut out), pending);
    assert_eq!(
        conn(e).close(CloseCode::NORMAL, "", at(2), &mut out),
        pending
    );
    assert_eq!(
        conn(e).send_header(kind, 5, true, &mut out),
        Err(SendError::Usage(UsageError::PayloadPending))
    );
    assert!(out.iter().all(|&b| b == 0xAA), "nothing written");
    assert_eq!(e.state(), State::Open);
}

fn commands_wait_for_the_payload<E: Endpoint>(mut e: E) {
    for kind in [MessageKind::Text, MessageKind::Binary] {
        let (header, mask) = start_header(&mut e, kind);
        assert_commands_refused(&mut e, kind);
        assert_eq!(conn(&mut e).payload_pending(), 10, "{kind:?}");
        assert_eq!(drain(&mut e), Vec::<u8>::new(), "{kind:?}");
        // Once the payload is accounted for, commands work again, after the whole frame.
        conn(&mut e).payload_written(10).unwrap();
        let mut wire = header_and_payload(&header, mask);
        let mut out = [0u8; 256];
        let n = conn(&mut e).send_text("next", &mut out).unwrap();
        wire.extend_from_slice(&out[..n]);
        let frames: Vec<(u8, bool, Vec<u8>)> = wire_frames(&wire)
            .into_iter()
            .map(|f| (f.opcode, f.fin, f.payload))
            .collect();
        let opcode = match kind {
            MessageKind::Text => 0x1,
            MessageKind::Binary => 0x2,
        };
        assert_eq!(
            frames,
            [
                (opcode, true, PAYLOAD.to_vec()),
                (0x1, true, b"next".to_vec())
            ]
        );
    }
    let mut out = [0u8; 256];
    let n = conn(&mut e)
        .close(CloseCode::NORMAL, "", at(3), &mut out)
        .unwrap();
    assert_eq!(close_code_in(&out[..n]), Some(1000));
}

#[test]
fn server_refuses_every_command_until_the_header_payload_is_written() {
    commands_wait_for_the_payload(open_server(Config::default()));
}

#[test]
fn client_refuses_every_command_until_the_header_payload_is_written() {
    commands_wait_for_the_payload(open_client(Config::default()));
}

fn payload_written_in_parts<E: Endpoint>(mut e: E) {
    let (header, mask) = start_header(&mut e, MessageKind::Binary);
    // A Pong is owed meanwhile, so that the deferral can be seen.
    let (events, outcome, _) = feed_frame(&mut e, 0x89, b"p", at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Ping(b"p".to_vec())]);
    assert_eq!(
        conn(&mut e).payload_written(11),
        Err(UsageError::PayloadOverrun)
    );
    assert_eq!(
        conn(&mut e).payload_pending(),
        10,
        "an overrun changes nothing"
    );
    assert_commands_refused(&mut e, MessageKind::Binary);
    assert_eq!(e.poll_transmit(&mut [0u8; 256]), Ok(0));
    // Four bytes, then the other six.
    assert_eq!(conn(&mut e).payload_written(4), Ok(()));
    assert_eq!(conn(&mut e).payload_pending(), 6);
    assert_commands_refused(&mut e, MessageKind::Binary);
    assert_eq!(e.poll_transmit(&mut [0u8; 256]), Ok(0));
    assert_eq!(
        conn(&mut e).payload_written(7),
        Err(UsageError::PayloadOverrun)
    );
    assert_eq!(
        conn(&mut e).payload_pending(),
        6,
        "an overrun changes nothing"
    );
    assert_eq!(conn(&mut e).payload_written(6), Ok(()));
    assert_eq!(conn(&mut e).payload_pending(), 0);
    let mut wire = header_and_payload(&header, mask);
    wire.extend(drain(&mut e));
    let opcodes: Vec<(u8, Vec<u8>)> = wire_frames(&wire)
        .into_iter()
        .map(|f| (f.opcode, f.payload))
        .collect();
    assert_eq!(opcodes, [(0x2, PAYLOAD.to_vec()), (0xA, b"p".to_vec())]);
    // Nothing is pending any more: more bytes are an overrun, none are fine.
    assert_eq!(
        conn(&mut e).payload_written(1),
        Err(UsageError::PayloadOverrun)
    );
    assert_eq!(conn(&mut e).payload_written(0), Ok(()));
    let n = conn(&mut e).send_binary(b"x", &mut [0u8; 64]).unwrap();
    assert!(n > 0);
}

#[test]
fn server_payload_written_in_parts_and_overrun_refused() {
    payload_written_in_parts(open_server(Config::default()));
}

#[test]
fn client_payload_written_in_parts_and_overrun_refused() {
    payload_written_in_parts(open_client(Config::default()));
}

fn close_echo_waits_for_the_payload<E: Endpoint>(mut e: E) {
    let (header, mask) = start_header(&mut e, MessageKind::Text);
    let (events, outcome, left) =
        feed_frame(&mut e, 0x88, &close_payload(1001, b"going away"), at(1));
    assert_eq!((outcome, left), (Ok(()), 0));
    assert_eq!(events, vec![Ev::Close(Some(1001), "going away".into())]);
    assert_eq!(e.state(), State::RemoteClosing);
    // The echo is owed but may not split the frame; our own Close may not either.
    assert_eq!(e.poll_transmit(&mut [0u8; 256]), Ok(0));
    assert_eq!(
        conn(&mut e).close(CloseCode(1000), "", at(2), &mut [0u8; 256]),
        Err(SendError::Usage(UsageError::PayloadPending))
    );
    assert_eq!(e.state(), State::RemoteClosing);
    assert!(!e.should_close_transport());
    conn(&mut e).payload_written(10).unwrap();
    let echo = drain(&mut e);
    assert_eq!(the_close_frame(&e, &echo)[..2], 1001u16.to_be_bytes());
    assert_eq!(e.state(), State::Closed);
    let mut wire = header_and_payload(&header, mask);
    wire.extend(echo);
    let opcodes: Vec<u8> = wire_frames(&wire).iter().map(|f| f.opcode).collect();
    assert_eq!(opcodes, [0x1, 0x8]);
    assert_sends_nothing(&mut e);
}

#[test]
fn server_defers_close_echo_until_the_header_payload_is_written() {
    close_echo_waits_for_the_payload(open_server(Config::default()));
}

#[test]
fn client_defers_close_echo_until_the_header_payload_is_written() {
    close_echo_waits_for_the_payload(open_client(Config::default()));
}
