//! The scenarios, each generic over the adapter under test.

use std::time::{Duration, Instant};

use sockless::driver::Decision;
use sockless::{Accept, TimedOut, UsageError};

use super::{
    Adapter, App, Ended, Got, Peer, Role, SOON, close_payload, config, frame, handshake_as_client,
    handshake_as_server, opened, request, start, start_deciding, until_end,
};

const PING: u8 = 9;
const PONG: u8 = 10;
const CLOSE: u8 = 8;
const TEXT: u8 = 1;
const BINARY: u8 = 2;
const CONTINUATION: u8 = 0;

fn soon() -> Instant {
    Instant::now() + SOON
}

/// The adapter's end took between `min` and `min + slack` from `since`; what it took is
/// printed (`--nocapture`), so a run shows each deadline's measured give-up time.
fn ended_in_time<A: Adapter>(deadline: &str, since: Instant, min: Duration) {
    let took = since.elapsed();
    eprintln!(
        "{}: {deadline}: deadline {min:?}, given up after {took:?}",
        std::any::type_name::<A>()
    );
    assert!(
        took + Duration::from_millis(30) >= min,
        "ended too early: {took:?} < {min:?}"
    );
    assert!(
        took <= min + Duration::from_millis(1500),
        "ended too late: {took:?} (deadline {min:?})"
    );
}

/// The adapter shut the transport down at the end (if it is one that does, see
/// [`Adapter::SHUTS_DOWN`]).
fn closed<A: Adapter>(peer: &Peer) {
    if A::SHUTS_DOWN {
        assert!(
            peer.wait_closed(soon()),
            "the transport was not shut down at the end"
        );
    }
}

/// Pain 1: Pongs go out while the application only reads.
pub fn pong_while_only_reading<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::ReadOnly);
    handshake_as_client(&mut peer);
    opened(&rx);
    for i in 0..5 {
        let payload = format!("ping {i}");
        peer.send(&frame(Role::Client, true, PING, payload.as_bytes()));
        let pong = peer
            .frame(soon())
            .expect("a Pong while the application only reads");
        assert_eq!((pong.opcode, pong.payload), (PONG, payload.into_bytes()));
        std::thread::sleep(Duration::from_millis(10));
    }
    peer.send(&frame(Role::Client, true, CLOSE, &close_payload(1000, "")));
    assert_eq!(peer.frame(soon()).and_then(|f| f.close_code()), Some(1000));
    let (_, end) = until_end(&rx, soon());
    assert_eq!(end, Some(Ended::Clean));
}

/// Pain 2: over a transport that holds bytes until it is flushed, a read-only loop still
/// gets the 101, the Pong and the Close echo to the wire.
pub fn replies_are_flushed_in_a_read_only_loop<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::ReadOnly);
    peer.hold_until_flush();
    handshake_as_client(&mut peer);
    opened(&rx);
    peer.send(&frame(Role::Client, true, PING, b"flush me"));
    let pong = peer.frame(soon()).expect("the Pong, flushed");
    assert_eq!((pong.opcode, &pong.payload[..]), (PONG, &b"flush me"[..]));
    peer.send(&frame(Role::Client, true, CLOSE, &close_payload(1000, "")));
    let echo = peer.frame(soon()).expect("the Close echo, flushed");
    assert_eq!(echo.close_code(), Some(1000));
    assert_eq!(until_end(&rx, soon()).1, Some(Ended::Clean));
}

/// Reads cut at every size from 1 to 7 bytes (and whole), writes that take 1, 3 or any
/// number of bytes: a Ping, a fragmented text, a binary and a Close arrive intact, and
/// the replies are whole.
pub fn reads_and_writes_cut_at_every_size<A: Adapter>() {
    let script = [
        frame(Role::Client, true, PING, b"p"),
        frame(Role::Client, false, TEXT, "hé".as_bytes()),
        frame(Role::Client, true, CONTINUATION, "llo".as_bytes()),
        frame(Role::Client, true, BINARY, &[1, 2, 3]),
        frame(Role::Client, true, CLOSE, &close_payload(1000, "ok")),
    ]
    .concat();
    for read in [1, 2, 3, 4, 5, 6, 7, usize::MAX] {
        for write in [1, 3, usize::MAX] {
            let (mut peer, rx) = start::<A>(Role::Server, config(), App::ReadOnly);
            peer.cut_reads(read);
            peer.cut_writes(write);
            handshake_as_client(&mut peer);
            opened(&rx);
            peer.send(&script);
            let pong = peer.frame(soon()).expect("a Pong");
            assert_eq!(
                (pong.opcode, &pong.payload[..]),
                (PONG, &b"p"[..]),
                "cut {read}/{write}"
            );
            let echo = peer.frame(soon()).expect("the Close echo");
            assert_eq!(echo.close_code(), Some(1000), "cut {read}/{write}");
            let (got, end) = until_end(&rx, soon());
            let messages: Vec<_> = got
                .into_iter()
                .filter(|g| !matches!(g, Got::Ping(_)))
                .collect();
            assert_eq!(
                messages,
                [
                    Got::Text("héllo".into()),
                    Got::Binary(vec![1, 2, 3]),
                    Got::Close(Some(1000))
                ],
                "cut {read}/{write}"
            );
            assert_eq!(end, Some(Ended::Clean), "cut {read}/{write}");
            closed::<A>(&peer);
        }
    }
}

/// Pain 3: a peer that stops reading pushes back on the sender: sends stop completing
/// once the transport and a bounded amount of buffering are full.
pub fn sends_push_back_when_the_peer_stops_reading<A: Adapter>() {
    let config = config().with_write_timeout(Duration::from_secs(5));
    let (mut peer, rx) = start::<A>(Role::Server, config, App::SendForever(16 << 10));
    // The peer reads the 101, then nothing more: the transport holds 64 KiB.
    peer.stop_reading_after(64 << 10);
    handshake_as_client(&mut peer);
    opened(&rx);
    let mut sent = 0;
    let mut last_progress = Instant::now();
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        if let Ok(super::Report::Sent(n)) = rx.recv_timeout(Duration::from_millis(20)) {
            sent = n;
            last_progress = Instant::now();
        }
    }
    assert!(
        sent <= 4 << 20,
        "{sent} bytes were taken by sends with nothing read"
    );
    assert!(
        last_progress.elapsed() >= Duration::from_millis(300),
        "sends kept completing while the peer read nothing ({sent} bytes)"
    );
    peer.reset();
    let (_, end) = until_end(&rx, soon());
    assert!(
        end.is_some_and(|e| e != Ended::Clean),
        "a reset mid-stream is no clean close"
    );
}

/// Pain 4: our Close with no answer ends at the close timeout, and the transport is
/// closed.
pub fn unanswered_close_ends_at_the_close_timeout<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::CloseThenRead(1000));
    handshake_as_client(&mut peer);
    opened(&rx);
    let close = peer.frame(soon()).expect("our Close");
    let since = Instant::now();
    assert_eq!(close.close_code(), Some(1000));
    let (_, end) = until_end(&rx, soon());
    assert_eq!(end, Some(Ended::TimedOut(TimedOut::Closing)));
    ended_in_time::<A>("close (unanswered)", since, config().close_timeout);
    closed::<A>(&peer);
}

/// Pain 4: a peer that closes first gets one echo; the application reads one Close, then
/// the end (clean), and the transport is closed.
pub fn peer_closing_first_gives_one_close_then_the_end<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::ReadOnly);
    handshake_as_client(&mut peer);
    opened(&rx);
    peer.send(&frame(
        Role::Client,
        true,
        CLOSE,
        &close_payload(1001, "going away"),
    ));
    let echo = peer.frame(soon()).expect("the Close echo");
    assert_eq!(echo.close_code(), Some(1001));
    let (got, end) = until_end(&rx, soon());
    assert_eq!(got, [Got::Close(Some(1001))]);
    assert_eq!(end, Some(Ended::Clean));
    closed::<A>(&peer);
}

/// Pains 4 and 5: a peer that floods frames after our Close and never answers it is
/// still given up at the close timeout (a deadline wins over input).
pub fn flood_after_our_close_ends_at_the_close_timeout<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::CloseThenRead(1000));
    handshake_as_client(&mut peer);
    opened(&rx);
    assert_eq!(peer.frame(soon()).and_then(|f| f.close_code()), Some(1000));
    let since = Instant::now();
    let flood = frame(Role::Client, true, BINARY, &[7; 100]).repeat(20);
    let end = loop {
        peer.send(&flood);
        match rx.recv_timeout(Duration::from_millis(2)) {
            Ok(super::Report::Ended(end)) => break Some(end),
            _ if since.elapsed() > Duration::from_secs(3) => break None,
            _ => {}
        }
    };
    assert_eq!(end, Some(Ended::TimedOut(TimedOut::Closing)));
    ended_in_time::<A>("close (flooded)", since, config().close_timeout);
}

/// Pain 5: a peer that sends nothing is given up at the handshake deadline.
pub fn silent_peer_times_out_in_the_handshake<A: Adapter>() {
    let since = Instant::now();
    let (peer, rx) = start::<A>(Role::Server, config(), App::ReadOnly);
    let (_, end) = until_end(&rx, soon());
    assert_eq!(end, Some(Ended::TimedOut(TimedOut::Handshake)));
    ended_in_time::<A>("handshake (silent)", since, config().handshake_timeout);
    closed::<A>(&peer);
}

/// Pain 5: a head trickled one byte at a time (slowloris) is given up at the handshake
/// deadline, not reset by every byte.
pub fn trickled_head_times_out_in_the_handshake<A: Adapter>() {
    let since = Instant::now();
    let (peer, rx) = start::<A>(Role::Server, config(), App::ReadOnly);
    let head = request();
    let mut bytes = head.iter();
    let end = loop {
        if let Some(b) = bytes.next() {
            peer.send(&[*b]);
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(super::Report::Ended(end)) => break Some(end),
            Ok(other) => panic!("a trickled head opened the connection: {other:?}"),
            _ if since.elapsed() > Duration::from_secs(4) => break None,
            _ => {}
        }
    };
    assert_eq!(end, Some(Ended::TimedOut(TimedOut::Handshake)));
    ended_in_time::<A>("handshake (trickled)", since, config().handshake_timeout);
}

/// Pain 5: a peer that stops answering keep-alive Pings is given up.
pub fn unanswered_keep_alive_ping_times_out<A: Adapter>() {
    let interval = Duration::from_millis(150);
    let timeout = Duration::from_millis(200);
    let config = config()
        .with_keep_alive(Some(interval))
        .with_keep_alive_timeout(timeout);
    let (mut peer, rx) = start::<A>(Role::Server, config, App::ReadOnly);
    handshake_as_client(&mut peer);
    opened(&rx);
    let since = Instant::now();
    let ping = peer.frame(soon()).expect("a keep-alive Ping");
    assert_eq!(ping.opcode, PING);
    let (_, end) = until_end(&rx, soon());
    assert_eq!(end, Some(Ended::TimedOut(TimedOut::KeepAlive)));
    ended_in_time::<A>("keep-alive Ping and Pong", since, interval + timeout);
}

/// Pain 9: reads dropped whenever they are not ready, with the input arriving one byte
/// at a time, lose nothing: a fragmented message with a Ping in its middle arrives whole.
pub fn cancelled_reads_lose_nothing<A: Adapter>() {
    assert!(
        A::CANCEL_SAFE_READS,
        "only for adapters whose reads are cancel safe"
    );
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::CancelledReads);
    handshake_as_client(&mut peer);
    opened(&rx);
    let script = [
        frame(Role::Client, false, TEXT, "wör".as_bytes()),
        frame(Role::Client, true, PING, b"mid"),
        frame(Role::Client, false, CONTINUATION, "ld ✓".as_bytes()),
        frame(Role::Client, true, CONTINUATION, b"!"),
        frame(Role::Client, true, BINARY, &[9; 20]),
        frame(Role::Client, true, CLOSE, &close_payload(1000, "")),
    ]
    .concat();
    for b in &script {
        // Each byte is read by a read future that is then dropped (unless it completes a
        // message): the application polls every millisecond.
        peer.send(&[*b]);
        assert!(peer.wait_consumed(soon()), "the byte was read");
        std::thread::sleep(Duration::from_millis(2));
    }
    let (got, end) = until_end(&rx, soon());
    let messages: Vec<_> = got
        .into_iter()
        .filter(|g| !matches!(g, Got::Ping(_)))
        .collect();
    assert_eq!(
        messages,
        [
            Got::Text("wörld ✓!".into()),
            Got::Binary(vec![9; 20]),
            Got::Close(Some(1000))
        ]
    );
    assert_eq!(end, Some(Ended::Clean));
    let pong = peer.frame(soon()).expect("the Pong");
    assert_eq!((pong.opcode, &pong.payload[..]), (PONG, &b"mid"[..]));
}

/// Pain 10: malformed input gets the right close code (RFC 6455 §7.4.1), the adapter
/// reports a failure, and the transport is closed.
pub fn malformed_input_gets_its_close_code<A: Adapter>() {
    let bad_utf8 = [0xce, 0xba, 0xe1, 0xbd];
    let cases: [(&str, Vec<u8>, u16); 7] = [
        (
            "unmasked frame from a client",
            frame(Role::Server, true, TEXT, b"hi"),
            1002,
        ),
        ("reserved opcode", frame(Role::Client, true, 3, b""), 1002),
        (
            "invalid UTF-8",
            frame(Role::Client, true, TEXT, &bad_utf8),
            1007,
        ),
        (
            "fragmented Ping",
            frame(Role::Client, false, PING, b""),
            1002,
        ),
        (
            "continuation first",
            frame(Role::Client, true, CONTINUATION, b"x"),
            1002,
        ),
        (
            "Close with code 1005",
            frame(Role::Client, true, CLOSE, &close_payload(1005, "")),
            1002,
        ),
        (
            "message over the limit",
            frame(Role::Client, true, BINARY, &[0; 2000]),
            1009,
        ),
    ];
    for (what, bytes, code) in cases {
        let config = config().with_max_message_len(1000);
        let (mut peer, rx) = start::<A>(Role::Server, config, App::ReadOnly);
        handshake_as_client(&mut peer);
        opened(&rx);
        peer.send(&bytes);
        let close = peer
            .frame(soon())
            .unwrap_or_else(|| panic!("{what}: no Close"));
        assert_eq!(close.close_code(), Some(code), "{what}");
        let (_, end) = until_end(&rx, soon());
        assert_eq!(end, Some(Ended::Failed(code)), "{what}");
        closed::<A>(&peer);
    }
}

/// Pain 11: a peer that stops reading is given up once our output makes no progress for
/// `Config::write_timeout`, and the transport is closed.
pub fn peer_that_stops_reading_is_given_up<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::SendForever(16 << 10));
    // The peer reads the 101, then nothing more: the transport holds 32 KiB.
    peer.stop_reading_after(32 << 10);
    handshake_as_client(&mut peer);
    opened(&rx);
    let since = Instant::now();
    let (_, end) = until_end(&rx, Instant::now() + Duration::from_secs(4));
    assert_eq!(end, Some(Ended::TimedOut(TimedOut::Write)));
    let took = since.elapsed();
    eprintln!(
        "{}: write (peer stops reading): deadline {:?} of no progress, given up {took:?} after opening",
        std::any::type_name::<A>(),
        config().write_timeout
    );
    assert!(
        took <= config().write_timeout + Duration::from_millis(1500),
        "given up after {took:?}"
    );
    closed::<A>(&peer);
}

/// Pain 12 (client): the server closes, we answer, then it resets the transport: the end
/// is clean.
pub fn reset_after_both_closes_is_clean<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Client, config(), App::ReadOnly);
    handshake_as_server(&mut peer);
    opened(&rx);
    peer.send(&frame(
        Role::Server,
        true,
        CLOSE,
        &close_payload(1000, "bye"),
    ));
    let echo = peer.frame(soon()).expect("the Close echo");
    assert_eq!(echo.close_code(), Some(1000));
    peer.reset();
    let (got, end) = until_end(&rx, soon());
    assert_eq!(got, [Got::Close(Some(1000))]);
    assert_eq!(end, Some(Ended::Clean));
}

/// Pain 12 (client): we close, the server answers and resets at once: the end is clean.
pub fn reset_after_our_close_is_answered_is_clean<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Client, config(), App::CloseThenRead(1000));
    handshake_as_server(&mut peer);
    opened(&rx);
    assert_eq!(peer.frame(soon()).and_then(|f| f.close_code()), Some(1000));
    peer.send(&frame(Role::Server, true, CLOSE, &close_payload(1000, "")));
    peer.reset();
    let (_, end) = until_end(&rx, soon());
    assert_eq!(end, Some(Ended::Clean));
}

/// The transport ending (EOF) before any Close is an abnormal end (1006), reported as
/// such, never as a clean close.
pub fn eof_before_any_close_is_abnormal<A: Adapter>() {
    let (mut peer, rx) = start::<A>(Role::Server, config(), App::ReadOnly);
    handshake_as_client(&mut peer);
    opened(&rx);
    peer.eof();
    let (got, end) = until_end(&rx, soon());
    assert_eq!(got, []);
    assert_eq!(end, Some(Ended::Abnormal));
}

/// What the adapter sends arrives intact, in both roles (a client's frames masked), small
/// messages and large ones, through writes cut at 1, 7 or any number of bytes.
pub fn sends_arrive_intact_through_cut_writes<A: Adapter>() {
    for role in [Role::Server, Role::Client] {
        for size in [100, 20_000] {
            for write in [1, 7, usize::MAX] {
                let (mut peer, rx) = start::<A>(role, config(), App::SendForever(size));
                peer.cut_writes(write);
                match role {
                    Role::Server => handshake_as_client(&mut peer),
                    Role::Client => handshake_as_server(&mut peer),
                }
                opened(&rx);
                let what = format!("{role:?}, {size} B, writes cut at {write}");
                for _ in 0..3 {
                    // A message may come in fragments (RFC 6455 §5.4).
                    let first = peer
                        .frame(soon())
                        .unwrap_or_else(|| panic!("{what}: no message"));
                    assert_eq!(first.opcode, BINARY, "{what}");
                    let (mut fin, mut payload) = (first.fin, first.payload);
                    while !fin {
                        let next = peer.frame(soon()).expect("a continuation");
                        assert_eq!(next.opcode, CONTINUATION, "{what}");
                        fin = next.fin;
                        payload.extend(next.payload);
                    }
                    assert_eq!(payload.len(), size, "{what}");
                    assert!(
                        payload.iter().all(|&b| b == 0x5a),
                        "{what}: payload changed"
                    );
                }
                peer.reset();
                let (_, end) = until_end(&rx, soon());
                assert!(
                    end.as_ref().is_some_and(|e| *e != Ended::Clean),
                    "{what}: a reset mid-stream ended as {end:?}"
                );
            }
        }
    }
}

/// The server's decision on the request is carried out by the same rules in every adapter
/// (RFC 6455 §4.2.2): a refusal is written and ends the connection with its status; an
/// accepted request that is not an upgrade gets 400; a decision the server cannot carry
/// out (here a subprotocol the client did not offer) gets 500, and the application its
/// mistake.
pub fn decisions_are_carried_out_by_one_set_of_rules<A: Adapter>() {
    let plain_get = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec();
    let unoffered = Decision::Accept(Accept::DEFAULT.with_subprotocol("mqtt"));
    let cases = [
        (Decision::reject(403), request(), 403, Ended::Rejected(403)),
        (Decision::accept(), plain_get, 400, Ended::Rejected(400)),
        (
            unoffered,
            request(),
            500,
            Ended::Usage(UsageError::UnofferedSubprotocol),
        ),
    ];
    for (decision, head, status, expected) in cases {
        let (mut peer, rx) = start_deciding::<A>(Role::Server, config(), App::ReadOnly, decision);
        peer.send(&head);
        let answer = peer.head(soon()).expect("an answer");
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{expected:?}: answered {answer}"
        );
        let (_, end) = until_end(&rx, soon());
        assert_eq!(end, Some(expected));
        closed::<A>(&peer);
    }
}
