//! RFC 6455 §5.6, §8.1: text is valid UTF-8, checked as it arrives and failed
//! fast with 1007, for each role.

mod common;
use common::*;
use sockless::SendError;
use sockless::{Config, Endpoint, Error, MessageKind, ProtocolError, UsageError};

const INVALID: &[(&str, &[u8])] = &[
    ("overlong 2-byte", b"\xc0\xaf"),
    ("overlong 3-byte", b"\xe0\x80\xaf"),
    ("overlong 4-byte", b"\xf0\x80\x80\xaf"),
    ("surrogate low", b"\xed\xa0\x80"),
    ("surrogate high", b"\xed\xbf\xbf"),
    ("above U+10FFFF", b"\xf4\x90\x80\x80"),
    ("byte C1", b"\xc1\x81"),
    ("byte F5", b"\xf5\x80\x80\x80"),
    ("byte FF", b"\xff"),
    ("stray continuation", b"\x80"),
];

fn assert_fails_with_1007(endpoint: &mut impl Endpoint, bytes: &[u8], what: &str) {
    let (_, outcome, _) = feed(endpoint, bytes, at(1));
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::InvalidUtf8)),
        "{what}"
    );
    assert_eq!(close_code_in(&drain(endpoint)), Some(1007), "{what}");
}

#[test]
fn invalid_utf8_in_a_whole_text_message_fails_with_1007_in_each_role() {
    for (what, bad) in INVALID {
        let mut payload = b"ok ".to_vec();
        payload.extend_from_slice(bad);
        payload.extend_from_slice(b" tail");
        fn check(mut endpoint: impl Endpoint, payload: &[u8], what: &str) {
            let bytes = frame_for(&endpoint, 0x81, payload);
            assert_fails_with_1007(&mut endpoint, &bytes, what);
        }
        let (server, client) = both_roles(Config::default());
        check(server, &payload, what);
        check(client, &payload, what);
    }
}

#[test]
fn invalid_utf8_fails_fast_inside_an_unfinished_frame_in_each_role() {
    // The frame declares 1000 bytes; only 20 arrive, the 10th invalid. The failure must
    // not wait for the rest of the frame.
    let mut payload = vec![b'a'; 1000];
    payload[9] = 0xff;
    fn check(mut endpoint: impl Endpoint, payload: &[u8]) {
        let bytes = frame_for(&endpoint, 0x81, payload);
        let header_len = bytes.len() - payload.len();
        assert_fails_with_1007(&mut endpoint, &bytes[..header_len + 20], "unfinished frame");
    }
    let (server, client) = both_roles(Config::default());
    check(server, &payload);
    check(client, &payload);
}

#[test]
fn invalid_utf8_fails_fast_before_the_final_fragment() {
    let mut server = open_server(Config::default());
    let mut bytes = raw_frame(0x01, Some(MASK), b"fine", 0);
    bytes.extend(raw_frame(0x00, Some(MASK), b"\xed\xa0\x80", 0));
    // No final fragment ever comes.
    assert_fails_with_1007(&mut server, &bytes, "before FIN");
}

#[test]
fn truncated_character_that_cannot_become_valid_fails_at_once() {
    // F4 90 can never start a valid character: fail without waiting for more bytes.
    let mut client = open_client(Config::default());
    let mut bytes = raw_frame(0x01, None, b"ab\xf4\x90", 0);
    bytes.truncate(bytes.len());
    assert_fails_with_1007(&mut client, &bytes, "F4 90 at the end of a fragment");
}

#[test]
fn character_split_across_fragments_is_valid_in_each_role() {
    let text = "A\u{1F680}B\u{0416}"; // 4-byte rocket, 2-byte Cyrillic
    let bytes_of = text.as_bytes();
    for cut in 1..bytes_of.len() {
        fn check(mut endpoint: impl Endpoint, bytes_of: &[u8], cut: usize) {
            let mut bytes = frame_for(&endpoint, 0x01, &bytes_of[..cut]);
            bytes.extend(frame_for(&endpoint, 0x80, &bytes_of[cut..]));
            let (events, outcome, _) = feed(&mut endpoint, &bytes, at(1));
            outcome.unwrap_or_else(|e| panic!("cut {cut}: {e:?}"));
            let got: Vec<u8> = events
                .iter()
                .flat_map(|e| match e {
                    Ev::Chunk { data, .. } => data.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(got, bytes_of);
        }
        let (server, client) = both_roles(Config::default());
        check(server, bytes_of, cut);
        check(client, bytes_of, cut);
    }
}

#[test]
fn character_split_across_input_buffers_is_valid() {
    let text = "\u{1F600} mixed \u{0436}\u{0438}\u{0437}\u{043d}\u{044c} text \u{10FFFF}";
    let mut server = open_server(Config::default());
    let bytes = raw_frame(0x81, Some(MASK), text.as_bytes(), 0);
    for piece in 1..8 {
        let (events, outcome) = feed_in_pieces(&mut server, &bytes, piece, at(1));
        outcome.unwrap();
        let got: Vec<u8> = events
            .iter()
            .flat_map(|e| match e {
                Ev::Chunk { data, .. } => data.clone(),
                Ev::Text(t) => t.as_bytes().to_vec(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, text.as_bytes(), "piece {piece}");
    }
}

#[test]
fn message_ending_inside_a_character_fails_with_1007_in_each_role() {
    fn check(mut endpoint: impl Endpoint) {
        let mut bytes = frame_for(&endpoint, 0x01, b"ok");
        bytes.extend(frame_for(&endpoint, 0x80, b"\xe2\x82"));
        assert_fails_with_1007(&mut endpoint, &bytes, "ends inside a character");
    }
    let (server, client) = both_roles(Config::default());
    check(server);
    check(client);
    // And in a single whole frame.
    let mut server = open_server(Config::default());
    assert_fails_with_1007(
        &mut server,
        &raw_frame(0x81, Some(MASK), b"\xf0\x9f\x98", 0),
        "whole",
    );
}

#[test]
fn every_invalid_sequence_fails_even_split_byte_by_byte() {
    for (what, bad) in INVALID {
        let mut payload = "\u{e9}t\u{e9}".as_bytes().to_vec();
        payload.extend_from_slice(bad);
        let mut server = open_server(Config::default());
        let bytes = raw_frame(0x81, Some(MASK), &payload, 0);
        let (_, outcome) = feed_in_pieces(&mut server, &bytes, 1, at(1));
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::InvalidUtf8)),
            "{what}"
        );
    }
}

#[test]
fn binary_messages_are_not_checked_for_utf8() {
    let mut server = open_server(Config::default());
    let (events, outcome, _) = feed(
        &mut server,
        &raw_frame(0x82, Some(MASK), b"\xff\xfe", 0),
        at(1),
    );
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Binary(vec![0xff, 0xfe])]);
}

#[test]
fn sending_invalid_utf8_text_fragments_is_refused() {
    let mut client = open_client(Config::default());
    let client = client.connection().unwrap();
    let mut out = [0u8; 64];
    assert_eq!(
        client.send_fragment(MessageKind::Text, b"\xc0\x80", true, &mut out),
        Err(SendError::Usage(UsageError::InvalidUtf8))
    );
    // A split character is fine until the message ends inside it.
    client
        .send_fragment(MessageKind::Text, b"\xe2\x82", false, &mut out)
        .unwrap();
    assert_eq!(
        client.send_fragment(MessageKind::Text, b"", true, &mut out),
        Err(SendError::Usage(UsageError::InvalidUtf8))
    );
    client
        .send_fragment(MessageKind::Text, b"\xac", true, &mut out)
        .unwrap();
}
