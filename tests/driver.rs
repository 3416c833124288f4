//! The driver (`sockless::driver`) driven by hand: every deadline gives the peer up in
//! time (RFC 6455 §7.1.1 closing, keep-alive §5.5.2, the handshake, a peer that stops
//! reading), a passed deadline wins over input that keeps coming, a clean close stays
//! clean whatever ends the transport (§7.1.1, §7.1.5), owed replies go out before their
//! event, large payloads go out from where they lie, and a text message is checked once
//! (§8.1).

mod common;
use common::*;

use sockless::driver::{Deadline, Decision, Driver, End, EventKind, Step};
use sockless::{
    CloseCode, Config, Connection, Duration, Endpoint, Event, InputBuffer, Instant, MessageKind,
    ProtocolError, Server, TimedOut, Unmasked, UsageError,
};

type Storage = Vec<u8>;

fn driver<E: Endpoint>(endpoint: E, config: &Config) -> Driver<E, Storage, Storage> {
    let input = InputBuffer::new(vec![0u8; 16 * 1024], config).unwrap();
    Driver::new(endpoint, input, vec![0u8; 4096], config).unwrap()
}

/// An open server connection behind a driver.
fn open(config: Config) -> Driver<Connection<Unmasked>, Storage, Storage> {
    driver(Connection::server(&config, at(0)), &config)
}

/// Everything the driver wants written now, as if the transport took it all.
fn written<E: Endpoint>(d: &mut Driver<E, Storage, Storage>, now: Instant) -> Vec<u8> {
    let mut wire = Vec::new();
    while let Step::Write { .. } = d.poll(now) {
        let t = d.transmit();
        assert_eq!(t.payload_len, 0, "no payload here");
        wire.extend_from_slice(t.staged);
        let n = t.staged.len();
        d.wrote(n, now);
    }
    wire
}

fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first, Some(MASK), payload, 0)
}

/// Feed `bytes`, then take the events until the driver wants to read (or ends).
fn events<E: Endpoint>(d: &mut Driver<E, Storage, Storage>, bytes: &[u8], now: Instant) -> Vec<Ev> {
    assert_eq!(d.feed(bytes, now), bytes.len());
    let mut seen = Vec::new();
    loop {
        match d.poll(now) {
            Step::Event(_) => seen.push(Ev::of(&d.event().unwrap())),
            Step::Write { .. } => {
                written(d, now);
            }
            Step::Read { .. } | Step::Close(_) => return seen,
        }
    }
}

#[test]
fn a_peer_that_stops_reading_is_given_up_at_the_write_timeout() {
    let config = Config::default().with_write_timeout(Duration::from_secs(2));
    let mut d = open(config);
    // The application sends until the output is full; the transport takes nothing.
    let message = [7u8; 1000];
    let mut sent = 0;
    while d.send_binary(&message, at(0)).is_ok() {
        sent += 1;
    }
    assert!(sent >= 3);
    assert_eq!(
        d.poll(at(0)),
        Step::Write {
            until: Some(at(2000))
        }
    );
    assert_eq!(d.next_deadline(), Some((at(2000), Deadline::Write)));
    // Some progress restarts the deadline.
    d.wrote(100, at(1500));
    assert_eq!(d.poll_timeout(), Some(at(3500)));
    assert!(matches!(d.poll(at(3499)), Step::Write { .. }));
    assert_eq!(
        d.poll(at(3500)),
        Step::Close(End::TimedOut(TimedOut::Write))
    );
    assert_eq!(
        d.pending_output(),
        0,
        "nothing is kept for a peer that is gone"
    );
    assert_eq!(
        d.poll(at(9000)),
        Step::Close(End::TimedOut(TimedOut::Write))
    );
}

#[test]
fn a_peer_that_never_answers_a_ping_is_given_up_at_the_pong_deadline() {
    let config = Config::default()
        .with_keep_alive(Some(Duration::from_secs(1)))
        .with_keep_alive_timeout(Duration::from_millis(500));
    let mut d = open(config);
    assert_eq!(
        d.poll(at(0)),
        Step::Read {
            until: Some(at(1000))
        }
    );
    assert_eq!(d.next_deadline(), Some((at(1000), Deadline::KeepAlivePing)));
    let ping = written(&mut d, at(1000));
    assert_eq!(wire_frames(&ping)[0].opcode, 0x9);
    assert_eq!(d.next_deadline(), Some((at(1500), Deadline::Pong)));
    assert_eq!(
        d.poll(at(1499)),
        Step::Read {
            until: Some(at(1500))
        }
    );
    assert_eq!(
        d.poll(at(1500)),
        Step::Close(End::TimedOut(TimedOut::KeepAlive))
    );
}

#[test]
fn a_ping_that_cannot_go_out_still_times_the_peer_out() {
    let config = Config::default()
        .with_keep_alive(Some(Duration::from_secs(1)))
        .with_keep_alive_timeout(Duration::from_millis(500))
        .with_write_timeout(Duration::from_secs(60));
    let mut d = open(config);
    // A large payload is owed and the peer takes none of it: the Ping waits behind it.
    let _ = d
        .send_header(MessageKind::Binary, 1 << 20, true, at(0))
        .unwrap();
    // Each blocked write is told to wake at the next deadline, not the write's (60 s).
    assert_eq!(
        d.poll(at(0)),
        Step::Write {
            until: Some(at(1000))
        }
    );
    assert_eq!(
        d.poll(at(1000)),
        Step::Write {
            until: Some(at(1500))
        }
    );
    assert_eq!(
        d.poll(at(1500)),
        Step::Close(End::TimedOut(TimedOut::KeepAlive))
    );
}

#[test]
fn a_peer_flooding_frames_after_our_close_is_given_up_at_the_close_timeout() {
    let config = Config::default().with_close_timeout(Duration::from_secs(1));
    let mut d = open(config);
    d.close(CloseCode::NORMAL, "", at(0)).unwrap();
    assert_eq!(close_code_in(&written(&mut d, at(0))), Some(1000));
    assert_eq!(d.next_deadline(), Some((at(1000), Deadline::Closing)));
    // Every millisecond a batch of frames (never a Close) arrives, more than is taken:
    // input is always there.
    let flood: Vec<u8> = (0..20).flat_map(|_| masked(0x82, b"more")).collect();
    let mut unread: Vec<u8> = Vec::new();
    let mut now = 0;
    let end = loop {
        assert!(now <= 1000, "the close timeout was not honoured");
        unread.extend_from_slice(&flood);
        let n = d.feed(&unread, at(now));
        unread.drain(..n);
        let mut taken = 0;
        let end = loop {
            match d.poll(at(now)) {
                Step::Close(end) => break Some(end),
                Step::Event(_) if taken < 5 => {
                    let _ = d.event();
                    taken += 1;
                }
                _ => break None,
            }
        };
        if let Some(end) = end {
            break end;
        }
        assert!(!d.input().is_empty(), "input is always waiting");
        now += 1;
    };
    assert_eq!(end, End::TimedOut(TimedOut::Closing));
    assert_eq!(now, 1000);
}

#[test]
fn a_head_that_trickles_in_gets_408_at_the_handshake_deadline() {
    let config = Config::default().with_handshake_timeout(Duration::from_secs(1));
    let mut d = driver(Server::new(config, at(0)), &config);
    assert_eq!(d.next_deadline(), Some((at(1000), Deadline::Handshake)));
    let mut now = 0;
    for byte in UPGRADE_REQUEST.iter().take(60) {
        assert!(matches!(d.poll(at(now)), Step::Read { .. }));
        d.feed(&[*byte], at(now));
        now += 16;
    }
    assert!(now < 1000);
    let answer = written(&mut d, at(1000));
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(
        d.poll(at(1000)),
        Step::Close(End::TimedOut(TimedOut::Handshake))
    );
}

#[test]
fn a_silent_server_is_given_up_at_the_handshake_deadline() {
    let config = Config::default().with_handshake_timeout(Duration::from_secs(2));
    let request = sockless::ClientRequest::from_url("ws://example.com/").unwrap();
    let client = sockless::Client::new(request, config, rng(), at(0)).unwrap();
    let mut d = driver(client, &config);
    assert!(written(&mut d, at(0)).starts_with(b"GET / HTTP/1.1"));
    assert_eq!(
        d.poll(at(1999)),
        Step::Read {
            until: Some(at(2000))
        }
    );
    assert_eq!(
        d.poll(at(2000)),
        Step::Close(End::TimedOut(TimedOut::Handshake))
    );
}

#[test]
fn a_reset_after_both_close_frames_is_a_clean_close() {
    let config = Config::default();
    let mut client = driver(open_client(config), &config);
    client.close(CloseCode::NORMAL, "bye", at(0)).unwrap();
    written(&mut client, at(0));
    let seen = events(&mut client, &raw_frame(0x88, None, &[0x03, 0xe8], 0), at(1));
    assert_eq!(seen, vec![Ev::Close(Some(1000), String::new())]);
    // The client waits for the server to close the transport; the server resets it.
    assert!(matches!(client.poll(at(2)), Step::Read { .. }));
    client.transport_failed(at(3));
    assert_eq!(
        client.poll(at(3)),
        Step::Close(End::Closed {
            code: Some(CloseCode::NORMAL)
        })
    );
}

#[test]
fn the_peer_closing_first_then_resetting_is_a_clean_close() {
    let config = Config::default();
    let mut client = driver(open_client(config), &config);
    let seen = events(&mut client, &raw_frame(0x88, None, &[0x03, 0xe9], 0), at(1));
    assert_eq!(seen, vec![Ev::Close(Some(1001), String::new())]);
    client.transport_failed(at(2));
    assert_eq!(
        client.poll(at(2)),
        Step::Close(End::Closed {
            code: Some(CloseCode(1001))
        })
    );
}

#[test]
fn an_end_of_the_transport_before_any_close_is_abnormal() {
    let mut d = open(Config::default());
    d.read_closed(at(0));
    assert_eq!(d.poll(at(0)), Step::Close(End::Abnormal));
    assert_eq!(End::Abnormal.close_code(), Some(CloseCode::ABNORMAL));
    let mut d = open(Config::default());
    d.close(CloseCode::NORMAL, "", at(0)).unwrap();
    written(&mut d, at(0));
    d.transport_failed(at(1));
    assert_eq!(
        d.poll(at(1)),
        Step::Close(End::Abnormal),
        "our Close was not answered"
    );
}

#[test]
fn the_pong_is_written_before_the_ping_is_handed_out() {
    let mut d = open(Config::default());
    d.feed(&masked(0x89, b"hi"), at(0));
    assert!(
        matches!(d.poll(at(0)), Step::Write { .. }),
        "the Pong first"
    );
    let pong = written(&mut d, at(0));
    let frames = wire_frames(&pong);
    assert_eq!(
        (frames[0].opcode, frames[0].payload.as_slice()),
        (0xA, &b"hi"[..])
    );
    let Step::Event(handle) = d.poll(at(0)) else {
        panic!("the Ping")
    };
    assert_eq!(handle.kind(), EventKind::Ping);
    assert!(matches!(d.event(), Some(Event::Ping(b"hi"))));
}

#[test]
fn messages_sent_while_reading_go_out_in_one_write_once_the_input_is_used() {
    let mut d = open(Config::default());
    let input: Vec<u8> = (0..50u8).flat_map(|i| masked(0x82, &[i; 16])).collect();
    d.feed(&input, at(0));
    let mut writes = 0;
    let mut echoed = Vec::new();
    loop {
        match d.poll(at(0)) {
            Step::Event(_) => {
                let Some(Event::Binary(data)) = d.event() else {
                    panic!()
                };
                let data = data.to_vec();
                d.send_binary(&data, at(0)).unwrap();
            }
            Step::Write { .. } => {
                writes += 1;
                echoed.extend(written(&mut d, at(0)));
            }
            _ => break,
        }
    }
    assert_eq!(writes, 1, "50 echoes, one write");
    assert_eq!(wire_frames(&echoed).len(), 50);
}

#[test]
fn a_large_payload_goes_out_from_where_it_lies_after_its_header() {
    let mut d = open(Config::default());
    let payload = noise(100_000, 7);
    assert_eq!(
        d.send_header(MessageKind::Binary, payload.len() as u64, true, at(0)),
        Ok(None)
    );
    // A Ping arrives meanwhile: its Pong must not cut into the payload.
    d.feed(&masked(0x89, b"p"), at(0));
    let mut wire = Vec::new();
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 10_000);
        match d.poll(at(0)) {
            Step::Write { .. } => {
                let t = d.transmit();
                // Write in pieces of at most 7,777 bytes, as a busy socket would.
                let mut chunk = t.staged.to_vec();
                let from = t.payload_offset as usize;
                chunk.extend_from_slice(&payload[from..from + t.payload_len as usize]);
                chunk.truncate(7777);
                wire.extend_from_slice(&chunk);
                d.wrote(chunk.len(), at(0));
            }
            Step::Event(_) => {
                assert!(matches!(d.event(), Some(Event::Ping(b"p"))));
            }
            _ => break,
        }
    }
    let frames = wire_frames(&wire);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].opcode, 0x2);
    assert_eq!(frames[0].payload, payload);
    assert_eq!(frames[1].opcode, 0xA, "the Pong after the payload");
}

/// `send_message` stages a small message whole and only the header of a large one, whose
/// payload `write_parts` hands out as it goes on the wire: a client's masked a piece at a
/// time (RFC 6455 §5.3), through writes cut anywhere; text is checked either way.
#[cfg(feature = "std")]
#[test]
fn send_message_stages_small_messages_and_writes_large_ones_masked_from_where_they_lie() {
    let config = Config::default();
    let client = Connection::client(&config, sockless::os_rng(), at(0));
    let mut d = driver(client, &config);
    let large = "é".repeat(30_000);
    assert_eq!(
        d.send_message(MessageKind::Text, b"\xff small", at(0)),
        Err(sockless::UsageError::InvalidUtf8.into())
    );
    let mut bad = large.clone().into_bytes();
    bad[59_999] = 0xc3; // a character cut at the end
    assert_eq!(
        d.send_message(MessageKind::Text, &bad, at(0)),
        Err(sockless::UsageError::InvalidUtf8.into())
    );
    assert!(
        d.transmit().is_empty(),
        "nothing staged for a refused message"
    );
    d.send_message(MessageKind::Binary, b"small", at(0))
        .unwrap();
    assert_eq!(
        d.transmit().payload_len,
        0,
        "a small message is staged whole"
    );
    d.send_message(MessageKind::Text, large.as_bytes(), at(0))
        .unwrap();
    assert_eq!(
        d.transmit().payload_len,
        60_000,
        "a large one is owed from where it lies"
    );
    let mut wire = Vec::new();
    for cut in [1, 5, 777, usize::MAX].into_iter().cycle() {
        if d.transmit().is_empty() {
            break;
        }
        let [staged, owed] = d.write_parts(large.as_bytes());
        let mut both = [staged, owed].concat();
        both.truncate(cut);
        wire.extend_from_slice(&both);
        d.wrote(both.len(), at(0));
    }
    let frames = wire_frames(&wire);
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f.masked && f.fin));
    assert_eq!(
        (frames[0].opcode, &frames[0].payload[..]),
        (0x2, &b"small"[..])
    );
    assert_eq!(frames[1].opcode, 0x1);
    assert_eq!(frames[1].payload, large.as_bytes());
}

#[test]
fn invalid_utf8_in_a_whole_text_message_fails_with_1007_when_taken() {
    let mut d = open(Config::default());
    let mut input = masked(0x81, &[0xC0, 0x80]);
    input.extend(masked(0x81, b"never read"));
    d.feed(&input, at(0));
    let Step::Event(handle) = d.poll(at(0)) else {
        panic!()
    };
    assert_eq!(handle.kind(), EventKind::Text);
    assert!(matches!(
        d.event(),
        Some(Event::Failed(ProtocolError::InvalidUtf8))
    ));
    assert_eq!(close_code_in(&written(&mut d, at(0))), Some(1007));
    assert_eq!(
        d.poll(at(0)),
        Step::Close(End::Failed(ProtocolError::InvalidUtf8))
    );
}

#[test]
fn reads_cut_at_every_size_give_the_same_events() {
    let mut stream = UPGRADE_REQUEST.to_vec();
    stream.extend(masked(0x81, "héllo wörld".as_bytes()));
    stream.extend(masked(0x89, b"ping"));
    stream.extend(masked(0x01, "frag".as_bytes()));
    stream.extend(masked(0x80, "ments".as_bytes()));
    stream.extend(masked(0x88, &[0x03, 0xe8]));
    let run = |piece: usize| {
        let config = Config::default();
        let mut d = driver(Server::new(config, at(0)), &config);
        let mut seen = Vec::new();
        let mut rest = &stream[..];
        loop {
            match d.poll(at(0)) {
                Step::Event(_) => {
                    let event = d.event().unwrap();
                    let is_request = matches!(event, Event::Request(_));
                    seen.push(Ev::of(&event));
                    if is_request {
                        d.decide(Decision::accept(), at(0)).unwrap();
                    }
                }
                Step::Write { .. } => {
                    written(&mut d, at(0));
                }
                Step::Read { .. } if !rest.is_empty() => {
                    let n = piece.min(rest.len());
                    let space = d.read_space();
                    let n = n.min(space.len());
                    space[..n].copy_from_slice(&rest[..n]);
                    d.filled(n, at(0));
                    rest = &rest[n..];
                }
                Step::Read { .. } => panic!("stalled with input used up"),
                Step::Close(end) => return (joined(seen), end),
            }
        }
    };
    let whole = run(stream.len());
    assert_eq!(
        whole.0,
        vec![
            Ev::Request("/chat?room=1".into()),
            Ev::Text("héllo wörld".into()),
            Ev::Ping(b"ping".to_vec()),
            Ev::Text("fragments".into()),
            Ev::Close(Some(1000), String::new()),
        ]
    );
    assert_eq!(
        whole.1,
        End::Closed {
            code: Some(CloseCode::NORMAL)
        }
    );
    for piece in 1..stream.len() {
        assert_eq!(run(piece), whole, "reads of {piece} bytes");
    }
}

/// Chunks of one message joined into one text, so that transcripts compare whatever the
/// read sizes.
fn joined(events: Vec<Ev>) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut text = Vec::new();
    for event in events {
        match event {
            Ev::Chunk { data, last, .. } => {
                text.extend(data);
                if last {
                    out.push(Ev::Text(
                        String::from_utf8(std::mem::take(&mut text)).unwrap(),
                    ));
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[test]
fn a_rejected_request_ends_with_its_status_once_the_answer_is_written() {
    let config = Config::default();
    let mut d = driver(Server::new(config, at(0)), &config);
    d.feed(UPGRADE_REQUEST, at(0));
    assert!(matches!(d.poll(at(0)), Step::Event(_)));
    assert!(matches!(d.event(), Some(Event::Request(_))));
    // The request stays pending until decided.
    assert!(matches!(d.poll(at(0)), Step::Event(_)));
    d.decide(Decision::reject(403), at(0)).unwrap();
    assert!(written(&mut d, at(0)).starts_with(b"HTTP/1.1 403"));
    assert_eq!(d.poll(at(0)), Step::Close(End::Rejected { status: 403 }));
}

/// `decide_with` is every adapter's answer to a request, by one set of rules: the decision
/// may borrow the request (a subprotocol chosen among its offers), an accepted request
/// that is not an upgrade gets 400 (RFC 6455 §4.2.1), and a decision the server cannot
/// carry out gets 500 and ends the connection as that mistake.
#[test]
fn decide_with_answers_by_the_rules_every_adapter_shares() {
    let config = Config::default();
    let pending = |request: &[u8]| {
        let mut d = driver(Server::new(config, at(0)), &config);
        d.feed(request, at(0));
        assert!(matches!(d.poll(at(0)), Step::Event(_)));
        d
    };

    // Borrowed from the request: the second subprotocol it offers.
    let mut d = pending(UPGRADE_REQUEST);
    d.decide_with(at(0), |request| {
        let chosen = request.subprotocols().nth(1).unwrap_or_default();
        Decision::Accept(sockless::Accept::default().with_subprotocol(chosen))
    })
    .unwrap();
    let answer = written(&mut d, at(0));
    assert!(answer.starts_with(b"HTTP/1.1 101"));
    assert!(contains(&answer, b"Sec-WebSocket-Protocol: superchat\r\n"));
    assert_eq!(d.endpoint().state(), sockless::State::Open);

    // Accepting a plain GET: 400, and the connection ends rejected.
    let mut d = pending(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    d.decide_with(at(0), |_| Decision::accept()).unwrap();
    assert!(written(&mut d, at(0)).starts_with(b"HTTP/1.1 400"));
    assert_eq!(d.poll(at(0)), Step::Close(End::Rejected { status: 400 }));

    // A subprotocol the client did not offer: 500 to the client, the mistake to us.
    let mut d = pending(UPGRADE_REQUEST);
    let mistake = d.decide_with(at(0), |_| {
        Decision::Accept(sockless::Accept::default().with_subprotocol("mqtt"))
    });
    assert_eq!(mistake, Err(UsageError::UnofferedSubprotocol));
    assert!(written(&mut d, at(0)).starts_with(b"HTTP/1.1 500"));
    assert_eq!(
        d.poll(at(0)),
        Step::Close(End::Usage(UsageError::UnofferedSubprotocol))
    );

    // An answer larger than the output buffer: 500 too.
    let mut d = pending(UPGRADE_REQUEST);
    let body = vec![b'x'; 64 << 10];
    let mistake = d.decide_with(at(0), |_| Decision::Respond {
        status: 200,
        headers: &[],
        body: &body,
    });
    assert_eq!(mistake, Err(UsageError::OutputBufferTooSmall));
    assert!(written(&mut d, at(0)).starts_with(b"HTTP/1.1 500"));

    // Nothing to decide on.
    let mut d = driver(Server::new(config, at(0)), &config);
    assert_eq!(
        d.decide_with(at(0), |_| Decision::accept()),
        Err(UsageError::NoPendingRequest)
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Once the handshake is done, the server's driver becomes its open connection's, with the
/// bytes that followed the head and the deadlines kept; its events are `OpenEvent`s, which
/// hold no handshake variant. Before that (or with an event pending) it is given back.
#[test]
fn a_driver_becomes_its_open_connections_once_the_handshake_is_done() {
    let config = Config::default().with_keep_alive(Some(Duration::from_secs(30)));
    let d = driver(Server::new(config, at(0)), &config);
    let mut d = d.into_open().expect_err("not open before the request");
    let mut bytes = UPGRADE_REQUEST.to_vec();
    bytes.extend_from_slice(&masked(0x81, b"early"));
    d.feed(&bytes, at(0));
    assert!(matches!(d.poll(at(0)), Step::Event(_)));
    let mut d = d.into_open().expect_err("a request is pending");
    assert!(matches!(d.event(), Some(Event::Request(_))));
    d.decide(Decision::accept(), at(0)).unwrap();
    let mut d = d.into_open().expect("open once decided");
    // The 101 staged before stays owed; the frame after the head is read next.
    assert!(written(&mut d, at(0)).starts_with(b"HTTP/1.1 101"));
    assert!(matches!(d.poll(at(0)), Step::Event(_)));
    let event: sockless::OpenEvent<'_> = d.event().unwrap();
    assert!(matches!(event, sockless::OpenEvent::Text("early")));
    // The keep-alive deadline carried over.
    assert_eq!(
        d.next_deadline().map(|(_, which)| which),
        Some(Deadline::KeepAlivePing)
    );
}

/// RFC 7692 §7.2.3.1 and §7.2.3.2: compressed messages come out inflated through the
/// driver, whole ("Hello" twice, the second using the first as context) or in pieces,
/// and an inflated text is checked once when taken.
#[cfg(feature = "deflate")]
#[test]
fn compressed_messages_come_out_inflated_through_the_driver() {
    use sockless::deflate::{DeflateParams, Inflater, window_len};
    let params = DeflateParams::default();
    let config = Config::default();
    let connection = Connection::client(&config, rng(), at(0)).with_deflate(Some(params));
    let mut inflater = Inflater::new(&connection, vec![0u8; window_len(15)]).unwrap();
    let mut d = driver(connection, &config);
    let wire: &[u8] = &[
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00,
        0x00, 0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    for piece in [wire.len(), 1, 3] {
        let mut rest = wire;
        let mut text = String::new();
        let mut seen = Vec::new();
        loop {
            match d.poll_inflating(at(0), &mut inflater) {
                Step::Event(handle) => {
                    assert!(handle.is_inflated() || handle.is_empty());
                    match d.event_inflated(&inflater).unwrap() {
                        Event::Text(t) => seen.push(t.to_string()),
                        Event::Chunk(chunk) => {
                            text.push_str(std::str::from_utf8(chunk.data).unwrap());
                            if chunk.last {
                                seen.push(std::mem::take(&mut text));
                            }
                        }
                        other => panic!("{other:?}"),
                    }
                }
                Step::Read { .. } if !rest.is_empty() => {
                    let n = piece.min(rest.len());
                    assert_eq!(d.feed(&rest[..n], at(0)), n);
                    rest = &rest[n..];
                }
                step => panic!("{step:?}"),
            }
            if rest.is_empty() && seen.len() == 3 {
                break;
            }
        }
        assert_eq!(seen, ["Hello", "Hello", "Hello"], "reads of {piece} bytes");
    }
}

#[test]
fn a_core_with_its_input_lent_per_call_answers_an_event_while_holding_it() {
    use sockless::driver::Core;
    let config = Config::default();
    let mut core = Core::new(Connection::server(&config, at(0)), vec![0u8; 4096], &config).unwrap();
    let mut input = InputBuffer::for_frames(vec![0u8; 1024]).unwrap();
    let mut bytes = masked(0x81, "echo ✓".as_bytes());
    bytes.extend(masked(0x89, b"ping"));
    let space = core.read_space_in(&mut input);
    space[..bytes.len()].copy_from_slice(&bytes);
    core.filled_in(&mut input, bytes.len(), at(0));
    assert!(matches!(
        core.poll_in(&mut input, at(0)),
        Step::Event(handle) if handle.kind() == EventKind::Text
    ));
    // The text borrows the input only: the core takes the echo while it is held.
    let Some(Event::Text(text)) = core.event_in(&input) else {
        panic!("not text")
    };
    core.send_text(text, at(0)).unwrap();
    assert_eq!(text, "echo ✓");
    // The Ping's Pong is written before the Ping is handed out, the echo with it.
    assert!(matches!(
        core.poll_in(&mut input, at(0)),
        Step::Write { .. }
    ));
    let wire = core.transmit().staged.to_vec();
    core.wrote(wire.len(), at(0));
    let frames = wire_frames(&wire);
    let sent: Vec<_> = frames
        .iter()
        .map(|f| (f.opcode, f.payload.clone()))
        .collect();
    assert_eq!(
        sent,
        [(0x1, "echo ✓".as_bytes().to_vec()), (0xA, b"ping".to_vec())]
    );
    assert!(matches!(core.poll_in(&mut input, at(0)), Step::Event(_)));
    assert!(matches!(core.event_in(&input), Some(Event::Ping(b"ping"))));
    assert!(matches!(core.poll_in(&mut input, at(0)), Step::Read { .. }));
}

#[test]
fn input_and_output_move_to_new_storage_with_their_bytes_and_never_under_an_event() {
    let config = Config::default();
    let mut d = open(config);
    // A whole message and half of the next frame: the message is handed out first.
    let first = masked(0x82, b"one");
    let second = masked(0x82, b"second");
    let mut bytes = first.clone();
    bytes.extend_from_slice(&second[..4]);
    assert_eq!(d.feed(&bytes, at(0)), bytes.len());
    assert!(matches!(d.poll(at(0)), Step::Event(_)));
    // The event's bytes lie in the storage: it stays.
    assert_eq!(d.replace_input(vec![0; 4096]).unwrap_err().len(), 4096);
    assert_eq!(Ev::of(&d.event().unwrap()), Ev::Binary(b"one".to_vec()));
    assert!(matches!(d.poll(at(0)), Step::Read { .. }));
    // Too small for the minimum an open connection needs, then a larger one.
    assert!(
        d.replace_input(vec![0; sockless::MIN_INPUT_BUFFER - 1])
            .is_err()
    );
    let old = d
        .replace_input(vec![0; 64 * 1024])
        .expect("no event pending");
    assert_eq!(old.len(), 16 * 1024);
    assert_eq!(
        d.input().buffered(),
        &second[..4],
        "the partial frame moved along"
    );
    assert_eq!(d.read_space().len(), 64 * 1024 - 4);
    // The rest of the frame completes it in the new storage.
    assert_eq!(
        events(&mut d, &second[4..], at(0)),
        [Ev::Binary(b"second".to_vec())]
    );

    // Output: staged bytes move along; refused while a payload is owed.
    d.send_binary(b"staged", at(0)).unwrap();
    let staged = d.transmit().staged.to_vec();
    assert!(
        d.replace_output(vec![0; 4]).is_err(),
        "shorter than the staged bytes"
    );
    assert_eq!(d.replace_output(vec![0; 512]).unwrap().len(), 4096);
    assert_eq!(d.transmit().staged, &staged[..]);
    written(&mut d, at(0));
    d.send_header(MessageKind::Binary, 10_000, true, at(0))
        .unwrap();
    assert!(
        d.replace_output(vec![0; 4096]).is_err(),
        "a payload is owed"
    );
}
