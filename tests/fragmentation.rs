//! RFC 6455 §5.4: fragmentation, received and sent, for each role.

mod common;
use common::*;
use sockless::SendError;
use sockless::{Config, Endpoint, Error, MessageKind, ProtocolError, UsageError};

fn joined(events: &[Ev]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|e| match e {
            Ev::Chunk { data, .. } => data.clone(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn fragmented_message_arrives_in_order_with_first_and_last_in_each_role() {
    fn check(mut endpoint: impl Endpoint) {
        let mut bytes = frame_for(&endpoint, 0x01, b"Hel");
        bytes.extend(frame_for(&endpoint, 0x00, b"lo, "));
        bytes.extend(frame_for(&endpoint, 0x80, b"world"));
        let (events, outcome, _) = feed(&mut endpoint, &bytes, at(1));
        outcome.unwrap();
        assert_eq!(joined(&events), b"Hello, world");
        let flags: Vec<(bool, bool)> = events
            .iter()
            .map(|e| match e {
                Ev::Chunk {
                    kind: MessageKind::Text,
                    first,
                    last,
                    ..
                } => (*first, *last),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(flags, vec![(true, false), (false, false), (false, true)]);
    }
    let (server, client) = both_roles(Config::default());
    check(server);
    check(client);
}

#[test]
fn continuation_without_open_message_fails_with_1002_in_each_role() {
    fn check(mut endpoint: impl Endpoint) {
        let bytes = frame_for(&endpoint, 0x80, b"orphan");
        let (_, outcome, _) = feed(&mut endpoint, &bytes, at(1));
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::UnexpectedContinuation))
        );
        assert_eq!(close_code_in(&drain(&mut endpoint)), Some(1002));
    }
    let (server, client) = both_roles(Config::default());
    check(server);
    check(client);
}

#[test]
fn new_data_frame_while_message_open_fails_with_1002_in_each_role() {
    for second in [0x81u8, 0x82, 0x01, 0x02] {
        fn check(mut endpoint: impl Endpoint, second: u8) {
            let mut bytes = frame_for(&endpoint, 0x02, b"part");
            bytes.extend(frame_for(&endpoint, second, b"new"));
            let (events, outcome, _) = feed(&mut endpoint, &bytes, at(1));
            assert_eq!(events.len(), 1, "the first fragment is delivered");
            assert_eq!(
                outcome,
                Err(Error::Protocol(ProtocolError::MessageInterrupted))
            );
            assert_eq!(close_code_in(&drain(&mut endpoint)), Some(1002));
        }
        let (server, client) = both_roles(Config::default());
        check(server, second);
        check(client, second);
    }
}

#[test]
fn control_frames_between_fragments_are_delivered_in_each_role() {
    fn check(mut endpoint: impl Endpoint) {
        let mut bytes = frame_for(&endpoint, 0x02, b"ab");
        bytes.extend(frame_for(&endpoint, 0x89, b"ping"));
        bytes.extend(frame_for(&endpoint, 0x8A, b"pong"));
        bytes.extend(frame_for(&endpoint, 0x80, b"cd"));
        let (events, outcome, _) = feed(&mut endpoint, &bytes, at(1));
        outcome.unwrap();
        assert_eq!(events[1], Ev::Ping(b"ping".to_vec()));
        assert_eq!(events[2], Ev::Pong(b"pong".to_vec()));
        assert_eq!(joined(&events), b"abcd");
        assert!(matches!(events.last(), Some(Ev::Chunk { last: true, .. })));
    }
    let (server, client) = both_roles(Config::default());
    check(server);
    check(client);
}

#[test]
fn empty_fragments_are_legal_in_each_role() {
    fn check(mut endpoint: impl Endpoint) {
        let mut bytes = frame_for(&endpoint, 0x01, b"");
        bytes.extend(frame_for(&endpoint, 0x00, b""));
        bytes.extend(frame_for(&endpoint, 0x00, b"x"));
        bytes.extend(frame_for(&endpoint, 0x80, b""));
        // Then a whole empty message.
        bytes.extend(frame_for(&endpoint, 0x82, b""));
        let (events, outcome, _) = feed(&mut endpoint, &bytes, at(1));
        outcome.unwrap();
        assert_eq!(joined(&events), b"x");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Ev::Chunk { last: true, .. }))
        );
        assert_eq!(events.last(), Some(&Ev::Binary(Vec::new())));
    }
    let (server, client) = both_roles(Config::default());
    check(server);
    check(client);
}

#[test]
fn sending_fragments_uses_opcode_then_continuations_with_control_frames_between() {
    fn check(mut endpoint: impl Endpoint) {
        let mut wire = Vec::new();
        let mut out = [0u8; 256];
        let n = endpoint
            .connection()
            .unwrap()
            .send_fragment(
                MessageKind::Text,
                "h\u{e9}".as_bytes()[..2].as_ref(),
                false,
                &mut out,
            )
            .unwrap();
        wire.extend_from_slice(&out[..n]);
        let n = endpoint
            .connection()
            .unwrap()
            .ping(b"mid", &mut out)
            .unwrap();
        wire.extend_from_slice(&out[..n]);
        let n = endpoint
            .connection()
            .unwrap()
            .send_fragment(
                MessageKind::Text,
                &"h\u{e9}".as_bytes()[2..],
                false,
                &mut out,
            )
            .unwrap();
        wire.extend_from_slice(&out[..n]);
        let n = endpoint
            .connection()
            .unwrap()
            .send_fragment(MessageKind::Text, b"!", true, &mut out)
            .unwrap();
        wire.extend_from_slice(&out[..n]);
        let frames = wire_frames(&wire);
        let shape: Vec<(u8, bool)> = frames.iter().map(|f| (f.opcode, f.fin)).collect();
        assert_eq!(
            shape,
            vec![(0x1, false), (0x9, true), (0x0, false), (0x0, true)]
        );
        let text: Vec<u8> = frames
            .iter()
            .filter(|f| f.opcode != 0x9)
            .flat_map(|f| f.payload.clone())
            .collect();
        assert_eq!(text, "h\u{e9}!".as_bytes());
        // The message is closed: a new one may start.
        endpoint
            .connection()
            .unwrap()
            .send_binary(b"next", &mut out)
            .unwrap();
    }
    let (server, client) = both_roles(Config::default());
    check(server);
    check(client);
}

#[test]
fn sending_a_whole_message_while_a_fragmented_one_is_open_is_refused() {
    let mut server = open_server(Config::default());
    let server = server.connection().unwrap();
    let mut out = [0u8; 64];
    server
        .send_fragment(MessageKind::Binary, b"a", false, &mut out)
        .unwrap();
    assert_eq!(
        server.send_text("x", &mut out),
        Err(SendError::Usage(UsageError::MessageInProgress))
    );
    assert_eq!(
        server.send_fragment(MessageKind::Text, b"x", true, &mut out),
        Err(SendError::Usage(UsageError::FragmentKindMismatch))
    );
    server
        .send_fragment(MessageKind::Binary, b"b", true, &mut out)
        .unwrap();
}

#[test]
fn fragments_sent_by_one_role_are_received_intact_by_the_other() {
    let (mut server, mut client) = both_roles(Config::default());
    let message: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let mut wire = Vec::new();
    let mut out = vec![0u8; 20_000];
    let pieces: Vec<&[u8]> = message.chunks(9_999).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let n = client
            .connection()
            .unwrap()
            .send_fragment(MessageKind::Binary, piece, i + 1 == pieces.len(), &mut out)
            .unwrap();
        wire.extend_from_slice(&out[..n]);
    }
    let (events, outcome) = feed_in_pieces(&mut server, &wire, 4096, at(1));
    outcome.unwrap();
    assert_eq!(joined(&events), message);
}

/// `send_header` (the caller sends the payload itself, for example in a vectored write)
/// frames a message exactly as `send_binary` would, in each role and at each length form.
#[test]
fn send_header_then_payload_is_received_whole_in_each_role() {
    let (mut client, mut server) = connected_pair(Config::default());
    for len in [0usize, 1, 125, 126, 65_535, 65_536] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut header = [0u8; 14];

        let sender = server.connection().unwrap();
        let written = sender
            .send_header(MessageKind::Binary, len as u64, true, &mut header)
            .unwrap();
        assert_eq!(written.mask, None, "a server does not mask");
        let wire = [&header[..written.len], &payload[..]].concat();
        sender.payload_written(len as u64).unwrap();
        let (events, outcome, left) = feed(&mut client, &wire, at(1));
        outcome.unwrap();
        assert_eq!(
            (events, left),
            (vec![Ev::Binary(payload.clone())], 0),
            "{len}"
        );

        let sender = client.connection().unwrap();
        let written = sender
            .send_header(MessageKind::Binary, len as u64, true, &mut header)
            .unwrap();
        let key = written.mask.expect("a client masks");
        let mut masked = payload.clone();
        sockless::frame::apply_mask(&mut masked, key, 0);
        let wire = [&header[..written.len], &masked[..]].concat();
        sender.payload_written(len as u64).unwrap();
        let (events, outcome, left) = feed(&mut server, &wire, at(1));
        outcome.unwrap();
        assert_eq!((events, left), (vec![Ev::Binary(payload)], 0), "{len}");
    }
}

/// Headers written one fragment at a time open the message with its opcode, continue it
/// with Continuation frames and set FIN on the last (§5.4); a fragment of the other kind
/// in between is refused (once the payload of the previous header was reported written).
#[test]
fn send_header_fragments_carry_continuation_opcodes() {
    let (_, mut server) = connected_pair(Config::default());
    let server = server.connection().unwrap();
    let mut wire = Vec::new();
    let mut header = [0u8; 14];
    for (data, last) in [(&b"he"[..], false), (b"ll", false), (b"o", true)] {
        let written = server
            .send_header(MessageKind::Text, data.len() as u64, last, &mut header)
            .unwrap();
        wire.extend_from_slice(&header[..written.len]);
        wire.extend_from_slice(data);
        server.payload_written(data.len() as u64).unwrap();
        if !last {
            assert_eq!(
                server.send_header(MessageKind::Binary, 1, true, &mut header),
                Err(SendError::Usage(UsageError::FragmentKindMismatch))
            );
        }
    }
    let frames = wire_frames(&wire);
    let shape: Vec<(bool, u8, &[u8])> = frames
        .iter()
        .map(|f| (f.fin, f.opcode, &f.payload[..]))
        .collect();
    assert_eq!(
        shape,
        [
            (false, 0x1, &b"he"[..]),
            (false, 0x0, b"ll"),
            (true, 0x0, b"o")
        ]
    );
}

/// A header buffer too small for the header is refused with the size it needs.
#[test]
fn send_header_into_a_short_buffer_says_what_it_needs() {
    let (mut client, mut server) = connected_pair(Config::default());
    let (client, server) = (client.connection().unwrap(), server.connection().unwrap());
    let mut out = [0u8; 5];
    assert_eq!(
        server.send_header(MessageKind::Binary, 125, true, &mut out[..1]),
        Err(SendError::NoRoom { needed: 2 })
    );
    assert_eq!(
        server.send_header(MessageKind::Binary, 126, true, &mut out[..3]),
        Err(SendError::NoRoom { needed: 4 })
    );
    assert_eq!(
        client.send_header(MessageKind::Binary, 16, true, &mut out),
        Err(SendError::NoRoom { needed: 6 })
    );
}
