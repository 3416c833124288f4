//! RFC 6455 §5.5.2, §5.5.3: Ping and Pong, for each role; keep-alive pings.

mod common;
use common::*;

use sockless::SendError;
use sockless::{
    CloseCode, Config, Connection, Duration, Endpoint, Error, MessageKind, State, TimedOut,
    UsageError,
};

/// The open connection of `e`, to send with.
fn conn<E: Endpoint>(e: &mut E) -> &mut Connection<E::Masking> {
    e.connection().expect("the connection is open")
}

/// Check that `bytes` hold exactly one control frame `opcode` with `payload`, masked iff
/// `endpoint` is a client.
fn assert_one_control_frame(endpoint: &impl Endpoint, bytes: &[u8], opcode: u8, payload: &[u8]) {
    let frames = wire_frames(bytes);
    assert_eq!(frames.len(), 1, "{frames:?}");
    let frame = &frames[0];
    assert_eq!(frame.opcode, opcode);
    assert!(frame.fin);
    assert_eq!(frame.rsv, 0);
    assert!(frame.minimal);
    assert_eq!(
        frame.masked,
        !expects_masked(endpoint),
        "masked iff sent by a client"
    );
    assert_eq!(frame.payload, payload);
}

/// Feed one frame built for `e` (masked iff `e` is a server).
fn feed_frame(
    e: &mut impl Endpoint,
    first_byte: u8,
    payload: &[u8],
    now: sockless::Instant,
) -> (Vec<Ev>, Result<(), Error>, usize) {
    let frame = frame_for(e, first_byte, payload);
    feed(e, &frame, now)
}

fn keep_alive_config() -> Config {
    Config::default()
        .with_keep_alive(Some(Duration::from_millis(1000)))
        .with_keep_alive_timeout(Duration::from_millis(500))
        .with_close_timeout(Duration::from_millis(5000))
}

// ---- Automatic Pong ----------------------------------------------------------------------

fn answers_ping_with_identical_pong(mut e: impl Endpoint) {
    let payloads: [Vec<u8>; 4] = [
        vec![],
        b"hello".to_vec(),
        (0..125u8).collect(),
        vec![0xFF; 125],
    ];
    for payload in payloads {
        let ping = frame_for(&e, 0x89, &payload);
        let (events, outcome, left) = feed(&mut e, &ping, at(1));
        assert_eq!(outcome, Ok(()));
        assert_eq!(left, 0);
        assert_eq!(events, vec![Ev::Ping(payload.clone())]);
        let out = drain(&mut e);
        assert_one_control_frame(&e, &out, 0xA, &payload);
        // Answered once.
        assert_eq!(drain(&mut e), Vec::<u8>::new());
        assert_eq!(e.state(), State::Open);
    }
}

#[test]
fn server_answers_ping_with_identical_pong() {
    answers_ping_with_identical_pong(open_server(Config::default()));
}

#[test]
fn client_answers_ping_with_identical_pong() {
    answers_ping_with_identical_pong(open_client(Config::default()));
}

fn answers_ping_in_pieces(mut e: impl Endpoint) {
    let payload: Vec<u8> = (0..100u8).collect();
    let ping = frame_for(&e, 0x89, &payload);
    let (events, outcome) = feed_in_pieces(&mut e, &ping, 3, at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Ping(payload.clone())]);
    let out = drain(&mut e);
    assert_one_control_frame(&e, &out, 0xA, &payload);
}

#[test]
fn server_answers_ping_arriving_in_pieces() {
    answers_ping_in_pieces(open_server(Config::default()));
}

#[test]
fn client_answers_ping_arriving_in_pieces() {
    answers_ping_in_pieces(open_client(Config::default()));
}

fn auto_pong_off(mut e: impl Endpoint) {
    let ping = frame_for(&e, 0x89, b"abc");
    let (events, outcome, _) = feed(&mut e, &ping, at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Ping(b"abc".to_vec())]);
    assert_eq!(
        drain(&mut e),
        Vec::<u8>::new(),
        "nothing queued without auto_pong"
    );
    let mut out = [0u8; 256];
    let n = conn(&mut e).pong(b"abc", &mut out).unwrap();
    assert_one_control_frame(&e, &out[..n], 0xA, b"abc");
    assert_eq!(drain(&mut e), Vec::<u8>::new());
}

#[test]
fn server_auto_pong_off_queues_nothing_and_app_pong_works() {
    auto_pong_off(open_server(Config::default().with_auto_pong(false)));
}

#[test]
fn client_auto_pong_off_queues_nothing_and_app_pong_works() {
    auto_pong_off(open_client(Config::default().with_auto_pong(false)));
}

fn answers_only_latest_ping(mut e: impl Endpoint) {
    // Three Pings in one input.
    let mut input = frame_for(&e, 0x89, b"one");
    input.extend(frame_for(&e, 0x89, b"two"));
    input.extend(frame_for(&e, 0x89, b"three"));
    let (events, outcome, _) = feed(&mut e, &input, at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        events,
        vec![
            Ev::Ping(b"one".to_vec()),
            Ev::Ping(b"two".to_vec()),
            Ev::Ping(b"three".to_vec())
        ]
    );
    let out = drain(&mut e);
    assert_one_control_frame(&e, &out, 0xA, b"three");
    // Two Pings in separate inputs, nothing sent between them.
    let (_, outcome, _) = feed_frame(&mut e, 0x89, b"first, longer payload", at(2));
    assert_eq!(outcome, Ok(()));
    let (_, outcome, _) = feed_frame(&mut e, 0x89, b"x", at(3));
    assert_eq!(outcome, Ok(()));
    let out = drain(&mut e);
    assert_one_control_frame(&e, &out, 0xA, b"x");
}

#[test]
fn server_answers_only_latest_of_several_pings() {
    answers_only_latest_ping(open_server(Config::default()));
}

#[test]
fn client_answers_only_latest_of_several_pings() {
    answers_only_latest_ping(open_client(Config::default()));
}

fn unsolicited_pong(mut e: impl Endpoint) {
    for payload in [&b""[..], b"heartbeat", &[7u8; 125]] {
        let pong = frame_for(&e, 0x8A, payload);
        let (events, outcome, left) = feed(&mut e, &pong, at(1));
        assert_eq!(outcome, Ok(()));
        assert_eq!(left, 0);
        assert_eq!(events, vec![Ev::Pong(payload.to_vec())]);
        assert_eq!(drain(&mut e), Vec::<u8>::new());
        assert_eq!(e.state(), State::Open);
    }
}

#[test]
fn server_reports_unsolicited_pong_and_sends_nothing() {
    unsolicited_pong(open_server(Config::default()));
}

#[test]
fn client_reports_unsolicited_pong_and_sends_nothing() {
    unsolicited_pong(open_client(Config::default()));
}

fn no_pong_after_own_close(mut e: impl Endpoint) {
    let mut out = [0u8; 256];
    let n = conn(&mut e)
        .close(CloseCode(1000), "bye", at(1), &mut out)
        .unwrap();
    assert_eq!(close_code_in(&out[..n]), Some(1000));
    let (events, outcome, _) = feed_frame(&mut e, 0x89, b"late ping", at(2));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Ping(b"late ping".to_vec())]);
    assert_eq!(drain(&mut e), Vec::<u8>::new(), "nothing after our Close");
    assert_eq!(
        conn(&mut e).pong(b"late ping", &mut out),
        Err(SendError::Usage(UsageError::NotOpen))
    );
    assert_eq!(e.state(), State::LocalClosing);
}

#[test]
fn server_does_not_answer_ping_after_own_close() {
    no_pong_after_own_close(open_server(Config::default()));
}

#[test]
fn client_does_not_answer_ping_after_own_close() {
    no_pong_after_own_close(open_client(Config::default()));
}

fn owed_pong_goes_before_own_close(mut e: impl Endpoint) {
    // A Ping answered automatically but not yet transmitted when the app closes: the Pong
    // (owed) goes out first, then the Close, and nothing after.
    let (_, outcome, _) = feed_frame(&mut e, 0x89, b"owed", at(1));
    assert_eq!(outcome, Ok(()));
    let mut out = [0u8; 256];
    let n = conn(&mut e)
        .close(CloseCode(1001), "", at(2), &mut out)
        .unwrap();
    let frames = wire_frames(&out[..n]);
    let opcodes: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(opcodes, [0xA, 0x8]);
    assert_eq!(frames[0].payload, b"owed");
    assert_eq!(drain(&mut e), Vec::<u8>::new());
}

#[test]
fn server_sends_owed_pong_before_own_close() {
    owed_pong_goes_before_own_close(open_server(Config::default()));
}

#[test]
fn client_sends_owed_pong_before_own_close() {
    owed_pong_goes_before_own_close(open_client(Config::default()));
}

// ---- Commands ----------------------------------------------------------------------------

fn ping_payload_limit(mut e: impl Endpoint) {
    let mut out = [0xAAu8; 512];
    assert_eq!(
        conn(&mut e).ping(&[1; 126], &mut out),
        Err(SendError::Usage(UsageError::ControlPayloadTooLong))
    );
    assert_eq!(
        conn(&mut e).pong(&[1; 126], &mut out),
        Err(SendError::Usage(UsageError::ControlPayloadTooLong))
    );
    assert_eq!(
        conn(&mut e).ping(&[1; 1000], &mut out),
        Err(SendError::Usage(UsageError::ControlPayloadTooLong))
    );
    assert!(out.iter().all(|&b| b == 0xAA), "nothing written");
    assert_eq!(drain(&mut e), Vec::<u8>::new());
    assert_eq!(e.state(), State::Open);
    let n = conn(&mut e).ping(&[2; 125], &mut out).unwrap();
    assert_one_control_frame(&e, &out[..n], 0x9, &[2; 125]);
    let n = conn(&mut e).ping(b"", &mut out).unwrap();
    assert_one_control_frame(&e, &out[..n], 0x9, b"");
}

#[test]
fn server_ping_with_126_bytes_is_usage_error() {
    ping_payload_limit(open_server(Config::default()));
}

#[test]
fn client_ping_with_126_bytes_is_usage_error() {
    ping_payload_limit(open_client(Config::default()));
}

fn ping_between_fragments(mut e: impl Endpoint) {
    let first = frame_for(&e, 0x01, b"Hel");
    let ping = frame_for(&e, 0x89, b"mid");
    let last = frame_for(&e, 0x80, b"lo");
    let mut input = first.clone();
    input.extend_from_slice(&ping);
    let (events, outcome, _) = feed(&mut e, &input, at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        events,
        vec![
            Ev::Chunk {
                kind: MessageKind::Text,
                data: b"Hel".to_vec(),
                first: true,
                last: false
            },
            Ev::Ping(b"mid".to_vec()),
        ]
    );
    // Answered while the message is still open.
    let out = drain(&mut e);
    assert_one_control_frame(&e, &out, 0xA, b"mid");
    let (events, outcome, _) = feed(&mut e, &last, at(2));
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        events,
        vec![Ev::Chunk {
            kind: MessageKind::Text,
            data: b"lo".to_vec(),
            first: false,
            last: true
        }]
    );
    // A next message works.
    let (events, _, _) = feed_frame(&mut e, 0x82, &[1, 2], at(3));
    assert_eq!(events, vec![Ev::Binary(vec![1, 2])]);
}

#[test]
fn server_answers_ping_between_fragments_and_message_completes() {
    ping_between_fragments(open_server(Config::default()));
}

#[test]
fn client_answers_ping_between_fragments_and_message_completes() {
    ping_between_fragments(open_client(Config::default()));
}

fn sends_ping_between_own_fragments(mut e: impl Endpoint) {
    let mut out = [0u8; 256];
    let mut wire = Vec::new();
    let n = conn(&mut e)
        .send_fragment(MessageKind::Binary, b"ab", false, &mut out)
        .unwrap();
    wire.extend_from_slice(&out[..n]);
    let n = conn(&mut e).ping(b"p", &mut out).unwrap();
    wire.extend_from_slice(&out[..n]);
    let n = conn(&mut e)
        .send_fragment(MessageKind::Binary, b"cd", true, &mut out)
        .unwrap();
    wire.extend_from_slice(&out[..n]);
    let opcodes: Vec<(u8, bool)> = wire_frames(&wire)
        .iter()
        .map(|f| (f.opcode, f.fin))
        .collect();
    assert_eq!(opcodes, [(0x2, false), (0x9, true), (0x0, true)]);
}

#[test]
fn server_sends_ping_between_own_fragments() {
    sends_ping_between_own_fragments(open_server(Config::default()));
}

#[test]
fn client_sends_ping_between_own_fragments() {
    sends_ping_between_own_fragments(open_client(Config::default()));
}

// ---- Keep-alive --------------------------------------------------------------------------

/// Traffic at 0 ms, when the connection opened too: the keep-alive clock runs from it.
fn traffic_at_zero(e: &mut impl Endpoint) {
    let (events, outcome, _) = feed_frame(e, 0x81, b"hi", at(0));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Text("hi".into())]);
}

/// Let the keep-alive timer fire at 1000 ms; returns the Ping payload sent.
fn keep_alive_ping(e: &mut impl Endpoint) -> Vec<u8> {
    assert_eq!(e.poll_timeout(), Some(at(1000)), "ping time");
    // Early: nothing happens.
    assert_eq!(e.handle_timeout(at(999)), None);
    assert_eq!(drain(e), Vec::<u8>::new());
    assert_eq!(e.handle_timeout(at(1000)), None, "the Ping is queued");
    let out = drain(e);
    let frames = wire_frames(&out);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].opcode, 0x9);
    assert_eq!(frames[0].masked, !expects_masked(e));
    assert!(frames[0].payload.len() <= 125);
    assert_eq!(e.poll_timeout(), Some(at(1500)), "pong deadline");
    frames[0].payload.clone()
}

fn keep_alive_rearms_on_pong(mut e: impl Endpoint) {
    traffic_at_zero(&mut e);
    let payload = keep_alive_ping(&mut e);
    let (events, outcome, _) = feed_frame(&mut e, 0x8A, &payload, at(1200));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Pong(payload.clone())]);
    assert_eq!(drain(&mut e), Vec::<u8>::new());
    // Re-armed: the next Ping is due a keep-alive interval after the Pong.
    assert_eq!(e.poll_timeout(), Some(at(2200)));
    assert_eq!(
        e.handle_timeout(at(1500)),
        None,
        "the old deadline no longer applies"
    );
    assert_eq!(e.state(), State::Open);
    assert!(!e.should_close_transport());
    assert_eq!(e.handle_timeout(at(2200)), None);
    let frames = wire_frames(&drain(&mut e));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].opcode, 0x9);
}

#[test]
fn server_keep_alive_pings_at_poll_timeout_and_pong_rearms() {
    keep_alive_rearms_on_pong(open_server(keep_alive_config()));
}

#[test]
fn client_keep_alive_pings_at_poll_timeout_and_pong_rearms() {
    keep_alive_rearms_on_pong(open_client(keep_alive_config()));
}

fn keep_alive_times_out(mut e: impl Endpoint) {
    traffic_at_zero(&mut e);
    let payload = keep_alive_ping(&mut e);
    // A Pong with another payload does not count.
    let mut other = payload.clone();
    other.push(b'!');
    let (events, _, _) = feed_frame(&mut e, 0x8A, &other, at(1100));
    assert_eq!(events, vec![Ev::Pong(other)]);
    assert_eq!(e.poll_timeout(), Some(at(1500)));
    assert_eq!(e.handle_timeout(at(1499)), None);
    assert!(!e.should_close_transport());
    let timed_out = e.handle_timeout(at(1500));
    assert_eq!(timed_out, Some(TimedOut::KeepAlive));
    assert!(e.should_close_transport());
    assert_eq!(e.poll_timeout(), None);
    assert_eq!(drain(&mut e), Vec::<u8>::new());
    let mut out = [0u8; 64];
    assert_eq!(
        conn(&mut e).send_text("x", &mut out),
        Err(SendError::Usage(UsageError::NotOpen))
    );
}

#[test]
fn server_keep_alive_without_pong_gives_keep_alive_timeout() {
    keep_alive_times_out(open_server(keep_alive_config()));
}

#[test]
fn client_keep_alive_without_pong_gives_keep_alive_timeout() {
    keep_alive_times_out(open_client(keep_alive_config()));
}

#[test]
fn client_keep_alive_timer_runs_from_connected() {
    // No traffic at all after the 101: the ping is still due.
    let mut client = open_client(keep_alive_config());
    assert_eq!(client.poll_timeout(), Some(at(1000)));
    keep_alive_ping(&mut client);
}

#[test]
fn server_keep_alive_timer_runs_from_accept() {
    // No traffic at all after the 101: the server must still ask to be woken up to ping,
    // a keep-alive interval after `accept` (at 0 ms).
    let mut server = open_server(keep_alive_config());
    assert!(
        server.poll_timeout().is_some(),
        "poll_timeout is None after accept"
    );
    assert_eq!(server.poll_timeout(), Some(at(1000)));
    keep_alive_ping(&mut server);
}

/// The keep-alive timer starts when the connection opens (`accept`, or the client reading
/// the 101), never at `Instant::ZERO`; before that, the handshake deadline is the timer.
/// `e` was made at 100 ms; `head` (the request or the 101) arrives at 300 ms.
fn keep_alive_armed_when_open<E: Endpoint + 'static>(mut e: E, head: &[u8]) {
    let handshake_timeout = Config::default().handshake_timeout.as_millis() as u64;
    assert_eq!(e.poll_timeout(), Some(at(100 + handshake_timeout)));
    let (events, outcome, left, _) = feed_accepting(&mut e, head, at(300));
    assert_eq!((outcome, left), (Ok(()), 0));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(e.state(), State::Open);
    assert_eq!(
        e.poll_timeout(),
        Some(at(1300)),
        "an interval after opening"
    );
    assert_eq!(e.handle_timeout(at(1299)), None);
    assert_eq!(drain(&mut e), Vec::<u8>::new());
    assert_eq!(e.handle_timeout(at(1300)), None);
    let frames = wire_frames(&drain(&mut e));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].opcode, 0x9);
}

#[test]
fn keep_alive_timer_is_armed_when_the_connection_opens_in_each_role() {
    let server = sockless::Server::new(keep_alive_config(), at(100));
    keep_alive_armed_when_open(server, UPGRADE_REQUEST);
    let request = sockless::ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    let mut client = sockless::Client::new(request, keep_alive_config(), rng(), at(100)).unwrap();
    let request = drain(&mut client);
    keep_alive_armed_when_open(client, &response_for(&request, ""));
}

#[test]
fn keep_alive_off_by_default_sets_no_timer() {
    let (mut server, mut client) = both_roles(Config::default());
    traffic_at_zero(&mut server);
    traffic_at_zero(&mut client);
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(server.handle_timeout(at(1_000_000)), None);
    assert_eq!(client.handle_timeout(at(1_000_000)), None);
    assert_eq!(drain(&mut server), Vec::<u8>::new());
    assert_eq!(drain(&mut client), Vec::<u8>::new());
}

fn keep_alive_pong_after_own_close(mut e: impl Endpoint) {
    traffic_at_zero(&mut e);
    let payload = keep_alive_ping(&mut e);
    // We close before the Pong arrives: the close timeout now runs (5 s).
    let mut out = [0u8; 256];
    let n = conn(&mut e)
        .close(CloseCode(1000), "", at(1100), &mut out)
        .unwrap();
    assert_eq!(close_code_in(&out[..n]), Some(1000));
    assert_eq!(e.poll_timeout(), Some(at(6100)));
    // The late Pong to the keep-alive Ping must not cancel the close timeout.
    let (events, outcome, _) = feed_frame(&mut e, 0x8A, &payload, at(1200));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Pong(payload)]);
    assert_eq!(e.poll_timeout(), Some(at(6100)), "close timeout lost");
    assert_eq!(e.handle_timeout(at(6100)), Some(TimedOut::Closing));
    assert!(e.should_close_transport());
}

#[test]
fn server_keep_alive_pong_after_own_close_keeps_close_timeout() {
    keep_alive_pong_after_own_close(open_server(keep_alive_config()));
}

#[test]
fn client_keep_alive_pong_after_own_close_keeps_close_timeout() {
    keep_alive_pong_after_own_close(open_client(keep_alive_config()));
}

// ---- A header from send_header holds the wire until its payload is written ---------------

const PAYLOAD: &[u8; 10] = b"0123456789";

/// Start a binary frame for the 10 bytes of [`PAYLOAD`] with `send_header` (FIN set);
/// returns the header bytes and the masking key the payload must be sent with.
fn start_header<E: Endpoint>(e: &mut E) -> (Vec<u8>, Option<[u8; 4]>) {
    let mut out = [0u8; 64];
    let header = conn(e)
        .send_header(MessageKind::Binary, 10, true, &mut out)
        .unwrap();
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

fn pong_waits_for_the_payload<E: Endpoint>(mut e: E) {
    let (header, mask) = start_header(&mut e);
    let (events, outcome, _) = feed_frame(&mut e, 0x89, b"mid", at(1));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Ping(b"mid".to_vec())]);
    // The Pong is owed, but may not go between the header and its payload.
    let mut out = [0u8; 256];
    assert_eq!(e.poll_transmit(&mut out), Ok(0));
    assert_eq!(e.poll_transmit(&mut out), Ok(0));
    conn(&mut e).payload_written(10).unwrap();
    let pong = drain(&mut e);
    assert_one_control_frame(&e, &pong, 0xA, b"mid");
    assert_eq!(drain(&mut e), Vec::<u8>::new(), "answered once");
    let mut wire = header_and_payload(&header, mask);
    wire.extend(pong);
    let frames: Vec<(u8, Vec<u8>)> = wire_frames(&wire)
        .into_iter()
        .map(|f| (f.opcode, f.payload))
        .collect();
    assert_eq!(frames, [(0x2, PAYLOAD.to_vec()), (0xA, b"mid".to_vec())]);
}

#[test]
fn server_defers_pong_until_the_header_payload_is_written() {
    pong_waits_for_the_payload(open_server(Config::default()));
}

#[test]
fn client_defers_pong_until_the_header_payload_is_written() {
    pong_waits_for_the_payload(open_client(Config::default()));
}

fn keep_alive_ping_waits_for_the_payload<E: Endpoint>(mut e: E) {
    traffic_at_zero(&mut e);
    let (header, mask) = start_header(&mut e);
    assert_eq!(e.poll_timeout(), Some(at(1000)), "ping time");
    // The Ping falls due while the payload is still being written: it waits.
    assert_eq!(e.handle_timeout(at(1000)), None);
    assert_eq!(e.poll_transmit(&mut [0u8; 256]), Ok(0));
    assert_eq!(e.poll_timeout(), Some(at(1500)), "pong deadline");
    assert_eq!(
        conn(&mut e).ping(b"x", &mut [0u8; 64]),
        Err(SendError::Usage(UsageError::PayloadPending))
    );
    conn(&mut e).payload_written(10).unwrap();
    let ping = drain(&mut e);
    let frames = wire_frames(&ping);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].opcode, 0x9);
    assert_eq!(frames[0].masked, !expects_masked(&e));
    let payload = frames[0].payload.clone();
    let mut wire = header_and_payload(&header, mask);
    wire.extend(ping);
    let opcodes: Vec<u8> = wire_frames(&wire).iter().map(|f| f.opcode).collect();
    assert_eq!(opcodes, [0x2, 0x9]);
    // The peer's Pong re-arms the timer as usual.
    let (events, outcome, _) = feed_frame(&mut e, 0x8A, &payload, at(1200));
    assert_eq!(outcome, Ok(()));
    assert_eq!(events, vec![Ev::Pong(payload)]);
    assert_eq!(e.poll_timeout(), Some(at(2200)));
    assert_eq!(e.state(), State::Open);
}

#[test]
fn server_defers_keep_alive_ping_until_the_header_payload_is_written() {
    keep_alive_ping_waits_for_the_payload(open_server(keep_alive_config()));
}

#[test]
fn client_defers_keep_alive_ping_until_the_header_payload_is_written() {
    keep_alive_ping_waits_for_the_payload(open_client(keep_alive_config()));
}

/// A keep-alive Ping held back because our output does not drain (here a `send_header`
/// payload never reported written, as when the peer stops taking our bytes) does not keep
/// the peer for ever: at the Pong deadline the connection is given up, as if the Ping had
/// gone out unanswered.
#[test]
fn keep_alive_ping_held_back_by_blocked_output_times_out() {
    let config = Config::default()
        .with_keep_alive(Some(Duration::from_millis(1000)))
        .with_keep_alive_timeout(Duration::from_millis(500));
    let mut server = open_server(config);
    let mut out = [0u8; 64];
    let header = server
        .connection()
        .unwrap()
        .send_header(MessageKind::Binary, 1 << 30, true, &mut out)
        .unwrap();
    assert_eq!(header.len, 10);
    assert_eq!(server.handle_timeout(at(1000)), None);
    assert_eq!(server.poll_transmit(&mut out), Ok(0), "the Ping waits");
    assert_eq!(server.poll_timeout(), Some(at(1500)), "the Pong deadline");
    assert_eq!(server.handle_timeout(at(1499)), None);
    assert_eq!(server.handle_timeout(at(1500)), Some(TimedOut::KeepAlive));
    assert_eq!(server.state(), State::Closed);
    assert!(server.should_close_transport());
    assert_eq!(server.poll_timeout(), None);
}

/// A zero keep-alive timeout still puts the Pong deadline after the Ping's, so a caller's
/// loop never spins on a timer that stays due (found by the fuzzer), and a Ping that
/// cannot go out ends the connection at that deadline.
#[test]
fn zero_keep_alive_timeout_never_leaves_the_timer_due() {
    let config = Config::default()
        .with_keep_alive(Some(Duration::from_millis(1)))
        .with_keep_alive_timeout(Duration::ZERO);
    let mut server = open_server(config);
    let mut out = [0u8; 64];
    let _ = server
        .connection()
        .unwrap()
        .send_header(MessageKind::Binary, 100, true, &mut out)
        .unwrap();
    let now = at(1);
    assert_eq!(server.handle_timeout(now), None, "the Ping falls due");
    let next = server.poll_timeout().expect("a Pong deadline");
    assert!(next > now, "{next:?} is still due at {now:?}");
    assert_eq!(server.handle_timeout(next), Some(TimedOut::KeepAlive));
    assert_eq!(server.poll_timeout(), None);
}

// ---- What is owed, asked cheaply ------------------------------------------------------

/// Whether `poll_transmit` gives bytes is what `wants_transmit` said just before; the
/// bytes are drained.
fn owes_as_it_says(e: &mut impl Endpoint, what: &str) -> usize {
    let wants = e.wants_transmit();
    let mut out = [0u8; 512];
    let mut wrote = 0;
    while let Ok(n @ 1..) = e.poll_transmit(&mut out) {
        wrote += n;
    }
    assert_eq!(
        wants,
        wrote > 0,
        "{what}: wants_transmit {wants}, wrote {wrote}"
    );
    assert!(
        !e.wants_transmit(),
        "{what}: still wants to transmit once drained"
    );
    wrote
}

/// `wants_transmit` says whether `poll_transmit` gives bytes, for an open endpoint: asked
/// after each thing that can make a frame owed (a Ping, a keep-alive Ping falling due, a
/// `send_header` payload that holds owed frames back, a violation).
fn wants_transmit_matches_poll_transmit(mut e: impl Endpoint) {
    assert_eq!(owes_as_it_says(&mut e, "open, nothing owed"), 0);
    assert!(feed_frame(&mut e, 0x82, b"data", at(0)).1.is_ok());
    assert_eq!(owes_as_it_says(&mut e, "after a binary message"), 0);
    assert!(feed_frame(&mut e, 0x89, b"ping", at(0)).1.is_ok());
    assert!(owes_as_it_says(&mut e, "after a Ping") > 0);

    // A keep-alive Ping falls due.
    let due = e.poll_timeout().expect("keep-alive armed");
    e.handle_timeout(due);
    assert!(owes_as_it_says(&mut e, "keep-alive due") > 0);
    assert!(feed_frame(&mut e, 0x8A, &[], due).1.is_ok());

    // A Ping while a send_header payload is owed: its Pong waits for the payload.
    let mut header = [0u8; 14];
    let header = conn(&mut e)
        .send_header(MessageKind::Binary, 3, true, &mut header)
        .unwrap();
    assert!(header.len > 0);
    assert!(feed_frame(&mut e, 0x89, b"held", due).1.is_ok());
    assert_eq!(owes_as_it_says(&mut e, "Pong behind a payload"), 0);
    conn(&mut e).payload_written(3).unwrap();
    assert!(owes_as_it_says(&mut e, "payload written") > 0);

    // A violation: the Close of the failure is owed.
    assert!(feed_frame(&mut e, 0x83, b"", due).1.is_err());
    assert!(owes_as_it_says(&mut e, "after a reserved opcode") > 0);
}

#[test]
fn wants_transmit_matches_poll_transmit_server() {
    wants_transmit_matches_poll_transmit(open_server(keep_alive_config()));
}

#[test]
fn wants_transmit_matches_poll_transmit_client() {
    wants_transmit_matches_poll_transmit(open_client(keep_alive_config()));
}

#[test]
fn wants_transmit_matches_poll_transmit_connection() {
    let Ok(connection) = open_server(keep_alive_config()).into_connection() else {
        panic!("the server is open")
    };
    wants_transmit_matches_poll_transmit(connection);
}
