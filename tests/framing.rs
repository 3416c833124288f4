//! RFC 6455 §5.2: framing rules, for each role.

mod common;
use common::*;
use sockless::{Config, Endpoint, Error, ProtocolError, State};

/// Feed `bytes` to each role and expect the violation and its close code on the wire.
fn assert_each_role_fails(
    bytes_for: impl Fn(&dyn Fn(u8, &[u8]) -> Vec<u8>) -> Vec<u8>,
    error: ProtocolError,
    code: u16,
) {
    let (mut server, mut client) = both_roles(Config::default());
    let server_bytes = bytes_for(&|b0, payload| raw_frame(b0, Some(MASK), payload, 0));
    let client_bytes = bytes_for(&|b0, payload| raw_frame(b0, None, payload, 0));
    let (_, outcome, _) = feed(&mut server, &server_bytes, at(1));
    assert_eq!(outcome, Err(Error::Protocol(error)), "server");
    assert_eq!(
        close_code_in(&drain(&mut server)),
        Some(code),
        "server close code"
    );
    assert_eq!(server.state(), State::Closed);
    let (_, outcome, _) = feed(&mut client, &client_bytes, at(1));
    assert_eq!(outcome, Err(Error::Protocol(error)), "client");
    assert_eq!(
        close_code_in(&drain(&mut client)),
        Some(code),
        "client close code"
    );
}

#[test]
fn rfc_5_7_examples_decode_in_both_roles() {
    // Unmasked "Hello" to a client; masked "Hello" to a server (RFC 6455 §5.7).
    let mut client = open_client(Config::default());
    let (events, outcome, _) = feed(
        &mut client,
        &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        at(1),
    );
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Text("Hello".into())]);
    let mut server = open_server(Config::default());
    let masked = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (events, outcome, _) = feed(&mut server, &masked, at(1));
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Text("Hello".into())]);
    // Fragmented unmasked text: 01 03 "Hel", 80 02 "lo".
    let (events, outcome, _) = feed(
        &mut client,
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
        at(1),
    );
    outcome.unwrap();
    let text: Vec<u8> = events
        .iter()
        .flat_map(|e| match e {
            Ev::Chunk { data, .. } => data.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(text, b"Hello");
    // 256 bytes and 64 KiB binary, with 16- and 64-bit lengths.
    let mut big = vec![0x82, 0x7E, 0x01, 0x00];
    big.extend(std::iter::repeat_n(7u8, 256));
    let (events, _, _) = feed(&mut client, &big, at(1));
    assert_eq!(events, vec![Ev::Binary(vec![7; 256])]);
    let mut huge = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    huge.extend(std::iter::repeat_n(9u8, 65536));
    let (events, _, _) = feed(&mut client, &huge, at(1));
    assert_eq!(events, vec![Ev::Binary(vec![9; 65536])]);
}

#[test]
fn server_fails_unmasked_client_frame_with_1002() {
    let mut server = open_server(Config::default());
    let (_, outcome, _) = feed(&mut server, &raw_frame(0x81, None, b"hi", 0), at(1));
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::UnmaskedClientFrame))
    );
    assert_eq!(close_code_in(&drain(&mut server)), Some(1002));
}

#[test]
fn client_fails_masked_server_frame_with_1002() {
    let mut client = open_client(Config::default());
    let (_, outcome, _) = feed(&mut client, &raw_frame(0x81, Some(MASK), b"hi", 0), at(1));
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::MaskedServerFrame))
    );
    assert_eq!(close_code_in(&drain(&mut client)), Some(1002));
}

#[test]
fn client_frames_are_masked_and_server_frames_are_not() {
    let (mut server, mut client) = both_roles(Config::default());
    let mut out = [0u8; 64];
    let n = client
        .connection()
        .unwrap()
        .send_text("hi", &mut out)
        .unwrap();
    assert!(wire_frames(&out[..n])[0].masked);
    let n = server
        .connection()
        .unwrap()
        .send_text("hi", &mut out)
        .unwrap();
    assert!(!wire_frames(&out[..n])[0].masked);
}

#[test]
fn client_uses_a_fresh_masking_key_for_each_frame() {
    let mut client = open_client(Config::default());
    let mut keys = std::collections::HashSet::new();
    let mut out = [0u8; 64];
    for _ in 0..50 {
        let n = client
            .connection()
            .unwrap()
            .send_binary(&[0; 4], &mut out)
            .unwrap();
        // With a zero payload, the masked payload is the key itself.
        keys.insert(out[n - 4..n].to_vec());
    }
    assert_eq!(keys.len(), 50);
}

#[test]
fn receiver_fails_non_minimal_length_with_1002_in_each_role() {
    let (mut server, mut client) = both_roles(Config::default());
    for (form, len) in [(16u8, 0usize), (16, 125), (64, 0), (64, 125), (64, 65535)] {
        let payload = vec![b'a'; len];
        let mut s = open_server(Config::default());
        let (_, outcome, _) = feed(&mut s, &raw_frame(0x82, Some(MASK), &payload, form), at(1));
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::NonMinimalLength)),
            "server {form} {len}"
        );
        assert_eq!(close_code_in(&drain(&mut s)), Some(1002));
        let mut c = open_client(Config::default());
        let (_, outcome, _) = feed(&mut c, &raw_frame(0x82, None, &payload, form), at(1));
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::NonMinimalLength)),
            "client {form} {len}"
        );
    }
    // The shortest forms of the same lengths are fine.
    let (_, outcome, _) = feed(
        &mut server,
        &raw_frame(0x82, Some(MASK), &[1; 126], 0),
        at(1),
    );
    outcome.unwrap();
    let (_, outcome, _) = feed(&mut client, &raw_frame(0x82, None, &[1; 65536], 0), at(1));
    outcome.unwrap();
}

fn sends_shortest_length_forms(endpoint: &mut impl Endpoint) {
    let mut out = vec![0u8; 70_000];
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 69_000] {
        let payload = vec![3u8; len];
        let n = endpoint
            .connection()
            .unwrap()
            .send_binary(&payload, &mut out)
            .unwrap();
        let frames = wire_frames(&out[..n]);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].minimal, "length {len} not minimal");
        assert_eq!(frames[0].payload, payload);
    }
}

#[test]
fn sender_always_uses_the_shortest_length_form() {
    let (mut server, mut client) = both_roles(Config::default());
    sends_shortest_length_forms(&mut server);
    sends_shortest_length_forms(&mut client);
}

#[test]
fn any_rsv_bit_without_extension_fails_with_1002_in_each_role() {
    for rsv in [0x40u8, 0x20, 0x10, 0x70] {
        assert_each_role_fails(
            |frame| frame(0x81 | rsv, b"x"),
            ProtocolError::ReservedBitsSet,
            1002,
        );
        // Also on control frames.
        assert_each_role_fails(
            |frame| frame(0x89 | rsv, b""),
            ProtocolError::ReservedBitsSet,
            1002,
        );
    }
}

#[test]
fn reserved_opcodes_fail_with_1002_in_each_role() {
    for opcode in [0x3u8, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_each_role_fails(
            |frame| frame(0x80 | opcode, b""),
            ProtocolError::ReservedOpcode(opcode),
            1002,
        );
    }
}

#[test]
fn reserved_opcode_fails_fast_on_the_first_byte() {
    let mut server = open_server(Config::default());
    let (_, outcome, _) = feed(&mut server, &[0x83], at(1));
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::ReservedOpcode(3)))
    );
}

#[test]
fn control_frame_over_125_bytes_fails_with_1002_in_each_role() {
    for opcode in [0x88u8, 0x89, 0x8A] {
        // 126 bytes needs the 16-bit form, which control frames may never use.
        assert_each_role_fails(
            |frame| frame(opcode, &[b'p'; 126]),
            ProtocolError::ControlFrameTooLong,
            1002,
        );
    }
}

#[test]
fn control_frame_without_fin_fails_with_1002_in_each_role() {
    for opcode in [0x08u8, 0x09, 0x0A] {
        assert_each_role_fails(
            |frame| frame(opcode, b"x"),
            ProtocolError::FragmentedControlFrame,
            1002,
        );
    }
}

#[test]
fn length_with_most_significant_bit_set_fails_with_1002() {
    let mut bytes = vec![0x82, 0x7F];
    bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
    let mut client = open_client(Config::default());
    let (_, outcome, _) = feed(&mut client, &bytes, at(1));
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::LengthHighBitSet))
    );
    assert_eq!(close_code_in(&drain(&mut client)), Some(1002));
}

/// 2^40 bytes declared, three bytes present: the header alone decides, nothing is
/// reserved for the declared length.
fn fails_length_above_the_limit(endpoint: &mut impl Endpoint) {
    let masked = expects_masked(endpoint);
    let mut bytes = vec![0x82, 0x7F | if masked { 0x80 } else { 0 }];
    bytes.extend_from_slice(&(1u64 << 40).to_be_bytes());
    if masked {
        bytes.extend_from_slice(&MASK);
    }
    bytes.extend_from_slice(b"abc");
    let outcome = feed(endpoint, &bytes, at(1)).1;
    assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
    assert_eq!(close_code_in(&drain(endpoint)), Some(1009));
}

#[test]
fn length_above_the_limit_fails_with_1009_before_any_payload_in_each_role() {
    let (mut server, mut client) = both_roles(Config::default());
    fails_length_above_the_limit(&mut server);
    fails_length_above_the_limit(&mut client);
}

#[test]
fn largest_64_bit_length_is_never_truncated() {
    // u64 values that truncate to small numbers on 32-bit targets (2^32 + 5) must still
    // be judged by their full value.
    let config = Config::default()
        .with_max_frame_len(u64::MAX)
        .with_max_message_len(u64::MAX);
    let mut client = open_client(config);
    let mut bytes = vec![0x82, 0x7F];
    bytes.extend_from_slice(&((1u64 << 32) + 5).to_be_bytes());
    bytes.extend_from_slice(b"hello");
    let (events, outcome, _) = feed(&mut client, &bytes, at(1));
    if usize::BITS < 64 {
        assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
    } else {
        // On 64-bit the frame streams: the five bytes come out as the first piece.
        outcome.unwrap();
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0], Ev::Chunk { data, last: false, .. } if data == b"hello"));
    }
}

#[test]
fn every_header_split_gives_the_same_events() {
    // A masked 16-bit-length frame cut at every byte of its header and payload.
    let payload: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let bytes = raw_frame(0x82, Some(MASK), &payload, 0);
    for piece in 1..=bytes.len() {
        let mut server = open_server(Config::default());
        let (events, outcome) = feed_in_pieces(&mut server, &bytes, piece, at(1));
        outcome.unwrap();
        let got: Vec<u8> = events
            .iter()
            .flat_map(|e| match e {
                Ev::Chunk { data, .. } => data.clone(),
                Ev::Binary(data) => data.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, payload, "piece size {piece}");
    }
}
