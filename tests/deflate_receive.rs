//! Receiving permessage-deflate messages (RFC 7692 §6, §7.2): RSV1 only where it belongs,
//! the §7.2.3 examples byte for byte, inflation split anywhere, the limit and UTF-8 applied
//! to inflated bytes (a bomb fails with 1009), corrupt streams failing with 1007.
#![cfg(feature = "deflate")]

mod common;
use common::*;
use sockless::deflate::{DeflateParams, Inflater, window_len};
use sockless::{
    Config, Connection, Endpoint, Error, Event, Instant, MessageKind, ProtocolError, Unmasked,
};

fn client_with(
    params: Option<DeflateParams>,
    config: Config,
) -> Connection<sockless::Masked<TestRng>> {
    Connection::client(&config, rng(), at(0)).with_deflate(params)
}

fn server_with(params: Option<DeflateParams>, config: Config) -> Connection<Unmasked> {
    Connection::server(&config, at(0)).with_deflate(params)
}

/// A whole message, or the failure, as the inflating receiver saw it.
#[derive(Debug, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Other(Ev),
}

/// Feed `input` through `inflater` in one piece, keeping what is not consumed; whole
/// messages are collected from their pieces. Returns the messages, the outcome, the bytes
/// left.
fn feed_inflating<E: Endpoint, W: AsRef<[u8]> + AsMut<[u8]>>(
    endpoint: &mut E,
    inflater: &mut Inflater<W>,
    input: &[u8],
    partial: &mut Option<(MessageKind, Vec<u8>)>,
    now: Instant,
) -> (Vec<Msg>, Result<(), Error>, usize) {
    let mut buffer = input.to_vec();
    let mut start = 0;
    let mut out = Vec::new();
    loop {
        let received = match inflater.receive(endpoint, &mut buffer[start..], now) {
            Ok(received) => received,
            Err(error) => return (out, Err(error.into()), buffer.len() - start),
        };
        start += received.consumed;
        let Some(event) = received.event else {
            return (out, Ok(()), buffer.len() - start);
        };
        match event {
            Event::Text(text) => {
                assert!(partial.is_none());
                out.push(Msg::Text(text.into()))
            }
            Event::Binary(data) => {
                assert!(partial.is_none());
                out.push(Msg::Binary(data.into()))
            }
            Event::Chunk(chunk) => {
                if chunk.first {
                    assert!(partial.is_none(), "a first piece inside a message");
                    *partial = Some((chunk.kind, Vec::new()));
                }
                let (kind, data) = partial.as_mut().expect("a piece before the first");
                assert_eq!(*kind, chunk.kind);
                data.extend_from_slice(chunk.data);
                if chunk.last {
                    let (kind, data) = partial.take().unwrap();
                    out.push(match kind {
                        MessageKind::Text => Msg::Text(String::from_utf8(data).unwrap()),
                        MessageKind::Binary => Msg::Binary(data),
                    });
                }
            }
            Event::Failed(error) => return (out, Err(error.into()), buffer.len() - start),
            Event::Compressed(_) => panic!("the inflater hands out no compressed piece"),
            other => out.push(Msg::Other(Ev::of(&other))),
        }
    }
}

fn feed_all<E: Endpoint, W: AsRef<[u8]> + AsMut<[u8]>>(
    endpoint: &mut E,
    inflater: &mut Inflater<W>,
    input: &[u8],
) -> (Vec<Msg>, Result<(), Error>) {
    let mut partial = None;
    let (msgs, outcome, left) = feed_inflating(endpoint, inflater, input, &mut partial, at(1));
    if outcome.is_ok() {
        assert_eq!(left, 0, "whole frames are consumed");
        assert!(partial.is_none(), "a message left open");
    }
    (msgs, outcome)
}

fn hello() -> Vec<Msg> {
    vec![Msg::Text("Hello".into())]
}

/// RFC 7692 §7.2.3: the server's frames of its examples, received by a client.
#[test]
fn rfc_7692_examples_byte_for_byte() {
    let params = Some(DeflateParams::default());
    let cases: &[(&str, &[u8], Vec<Msg>)] = &[
        // §7.2.3.1: a message compressed in one block.
        (
            "one block",
            &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            hello(),
        ),
        // §7.2.3.1: the same, fragmented.
        (
            "fragmented",
            &[
                0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
            ],
            hello(),
        ),
        // §7.2.3.2: the second message uses the first as context.
        (
            "sharing the window",
            &[
                0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11,
                0x00, 0x00,
            ],
            vec![Msg::Text("Hello".into()), Msg::Text("Hello".into())],
        ),
        // §7.2.3.2: without context takeover, the second is compressed alone.
        (
            "no context takeover",
            &[
                0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x07, 0xf2, 0x48, 0xcd,
                0xc9, 0xc9, 0x07, 0x00,
            ],
            vec![Msg::Text("Hello".into()), Msg::Text("Hello".into())],
        ),
        // §7.2.3.3: a stored (uncompressed) block.
        (
            "stored block",
            &[
                0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
            hello(),
        ),
        // §7.2.3.4: a block with BFINAL set.
        (
            "BFINAL",
            &[0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            hello(),
        ),
        // §7.2.3.5: two blocks in one message.
        (
            "two blocks",
            &[
                0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
                0x00,
            ],
            hello(),
        ),
        // RSV1 clear: an uncompressed message on the same connection (RFC 7692 §6).
        (
            "uncompressed",
            &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'],
            hello(),
        ),
    ];
    for (name, wire, expected) in cases {
        for window_bits in [15, 8] {
            let params = params.map(|p| DeflateParams {
                server_max_window_bits: window_bits,
                server_no_context_takeover: *name == "no context takeover",
                ..p
            });
            let mut client = client_with(params, Config::default());
            let mut window = vec![0u8; window_len(window_bits)];
            let mut inflater = Inflater::new(&client, &mut window[..]).unwrap();
            let (msgs, outcome) = feed_all(&mut client, &mut inflater, wire);
            outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&msgs, expected, "{name}");
            // Every cut of the input gives the same messages.
            for cut in 0..=wire.len() {
                let mut client = client_with(params, Config::default());
                let mut inflater = Inflater::new(&client, vec![0; window_len(15)]).unwrap();
                let msgs = feed_cut(&mut client, &mut inflater, wire, &[cut]);
                assert_eq!(&msgs, expected, "{name} cut at {cut}");
            }
        }
    }
}

/// Feed `wire` cut at `cuts`, keeping the unconsumed tail in front of the next part as a
/// socket reader would; returns the messages.
fn feed_cut<E: Endpoint, W: AsRef<[u8]> + AsMut<[u8]>>(
    endpoint: &mut E,
    inflater: &mut Inflater<W>,
    wire: &[u8],
    cuts: &[usize],
) -> Vec<Msg> {
    let mut partial = None;
    let mut pending = Vec::new();
    let mut all = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain([&wire.len()]) {
        pending.extend_from_slice(&wire[from..to]);
        from = to;
        let (mut msgs, outcome, left) =
            feed_inflating(endpoint, inflater, &pending, &mut partial, at(1));
        outcome.unwrap();
        all.append(&mut msgs);
        pending.drain(..pending.len() - left);
    }
    assert!(pending.is_empty() && partial.is_none());
    all
}

/// Raw DEFLATE with a sync flush and its 4-byte tail removed (RFC 7692 §7.2.1), made by
/// miniz_oxide directly (not through sockless); `level` 0 gives stored blocks.
fn compress(data: &[u8], level: u8) -> Vec<u8> {
    use miniz_oxide::deflate::core::{
        CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
    };
    let mut compressor =
        CompressorOxide::new(create_comp_flags_from_zip_params(level.into(), -15, 0));
    let mut out = vec![0; data.len() + data.len() / 8 + 64];
    let (status, used, written) = compress(&mut compressor, data, &mut out, TDEFLFlush::Sync);
    assert_eq!((status, used), (TDEFLStatus::Okay, data.len()));
    out.truncate(written);
    assert_eq!(out[written - 4..], [0, 0, 0xff, 0xff]);
    out.truncate(written - 4);
    out
}

fn chat_json(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"type\":\"message\",\"room\":\"lobby\",\"name\":\"user{}\",\"text\":\"héllo {} — 😀\"}}\n",
                i % 7,
                i * 31 % 1000
            )
        })
        .collect()
}

/// A long text message, compressed, split into 3 frames, sent to a server; a binary one
/// after it. Every single cut, and a cut into pieces of every small size, gives the same
/// two messages, with small windows (the output wraps) and the largest.
#[test]
fn split_invariance_over_every_cut_of_compressed_input() {
    let text = chat_json(60);
    let binary: Vec<u8> = (0..3000u32).map(|i| (i * i % 251) as u8).collect();
    for bits in [9u8, 15] {
        let params = Some(DeflateParams {
            client_max_window_bits: bits,
            ..DeflateParams::default()
        });
        // Compressed within the window: stored blocks for the small one (no distance).
        let level = if bits < 15 { 0 } else { 6 };
        let packed = compress(text.as_bytes(), level);
        let third = packed.len() / 3;
        let mut wire = raw_frame(0x41, Some(MASK), &packed[..third], 0);
        wire.extend(raw_frame(0x00, Some(MASK), &packed[third..2 * third], 0));
        wire.extend(raw_frame(0x80, Some(MASK), &packed[2 * third..], 0));
        wire.extend(raw_frame(0xc2, Some(MASK), &compress(&binary, level), 0));
        let expected = vec![Msg::Text(text.clone()), Msg::Binary(binary.clone())];
        for cut in 0..=wire.len() {
            let mut server = server_with(params, Config::default());
            let mut inflater = Inflater::new(&server, vec![0; window_len(bits)]).unwrap();
            let msgs = feed_cut(&mut server, &mut inflater, &wire, &[cut]);
            assert_eq!(msgs, expected, "bits {bits}, cut at {cut}");
        }
        for piece in 1..40 {
            let mut server = server_with(params, Config::default());
            let mut inflater = Inflater::new(&server, vec![0; window_len(bits)]).unwrap();
            let cuts: Vec<usize> = (piece..wire.len()).step_by(piece).collect();
            let msgs = feed_cut(&mut server, &mut inflater, &wire, &cuts);
            assert_eq!(msgs, expected, "bits {bits}, pieces of {piece}");
        }
    }
}

/// Context takeover across many messages, inflated through a 512-byte window.
#[test]
fn context_is_taken_over_across_messages() {
    let mut compressor = {
        use miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
        CompressorOxide::new(create_comp_flags_from_zip_params(0, -15, 0))
    };
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20 {
        let text = format!("message {i}: {}", "abc".repeat(i * 40));
        let mut out = vec![0; text.len() * 2 + 64];
        let (_, _, n) = miniz_oxide::deflate::core::compress(
            &mut compressor,
            text.as_bytes(),
            &mut out,
            miniz_oxide::deflate::core::TDEFLFlush::Sync,
        );
        wire.extend(raw_frame(0xc1, None, &out[..n - 4], 0));
        expected.push(Msg::Text(text));
    }
    let params = Some(DeflateParams::default());
    let mut client = client_with(params, Config::default());
    let mut inflater = Inflater::new(&client, [0u8; 32768]).unwrap();
    let (msgs, outcome) = feed_all(&mut client, &mut inflater, &wire);
    outcome.unwrap();
    assert_eq!(msgs, expected);
}

/// 64 MiB of zeros compress to about 64 KiB; with a 1 MiB limit the connection fails
/// with 1009 once 1 MiB + 1 byte came out, long before the input is used up.
#[test]
fn a_decompression_bomb_fails_with_1009() {
    let bomb = compress(&vec![0u8; 64 << 20], 9);
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    for kind in [0xc1, 0xc2] {
        let config = Config::default().with_max_message_len(1 << 20);
        let mut server = server_with(Some(DeflateParams::default()), config);
        let mut inflater = Inflater::new(&server, vec![0u8; 32768]).unwrap();
        let wire = raw_frame(kind, Some(MASK), &bomb, 0);
        let mut buffer = wire.clone();
        let mut start = 0;
        let mut delivered = 0usize;
        let outcome = loop {
            let received = inflater
                .receive(&mut server, &mut buffer[start..], at(1))
                .unwrap();
            start += received.consumed;
            match received.event {
                Some(Event::Chunk(chunk)) => delivered += chunk.data.len(),
                Some(Event::Failed(error)) => break error,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(outcome, ProtocolError::MessageTooLarge);
        assert!(delivered <= 1 << 20, "{delivered}");
        assert_eq!(close_code_in(&drain(&mut server)), Some(1009));
    }
}

/// Data that is not DEFLATE (a reserved block type; a distance before the window) fails
/// with 1007 in either kind; inflated text that is not UTF-8 fails with 1007 too.
#[test]
fn corrupt_input_fails_with_1007() {
    let invalid_utf8 = compress(&[b'a', 0xff, b'b'], 6);
    let cases: &[(u8, Vec<u8>, ProtocolError)] = &[
        (0xc1, vec![0xff, 0xff], ProtocolError::InvalidCompressedData),
        (0xc2, vec![0xff, 0xff], ProtocolError::InvalidCompressedData),
        (0xc1, invalid_utf8.clone(), ProtocolError::InvalidUtf8),
    ];
    for (first, payload, error) in cases {
        let mut client = client_with(Some(DeflateParams::default()), Config::default());
        let mut inflater = Inflater::new(&client, vec![0; 32768]).unwrap();
        let (_, outcome) = feed_all(
            &mut client,
            &mut inflater,
            &raw_frame(*first, None, payload, 0),
        );
        assert_eq!(outcome, Err(Error::Protocol(*error)), "{payload:x?}");
        assert_eq!(close_code_in(&drain(&mut client)), Some(1007));
    }
    // A distance beyond the negotiated window (512 bytes here): 1007.
    let noise: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let repeated = [&noise[..], &noise[..]].concat();
    let params = DeflateParams {
        server_max_window_bits: 9,
        ..DeflateParams::default()
    };
    let mut client = client_with(Some(params), Config::default());
    let mut inflater = Inflater::new(&client, vec![0; 512]).unwrap();
    let wire = raw_frame(0xc2, None, &compress(&repeated, 6), 0);
    let (_, outcome) = feed_all(&mut client, &mut inflater, &wire);
    assert_eq!(
        outcome,
        Err(Error::Protocol(ProtocolError::InvalidCompressedData))
    );
    assert_eq!(close_code_in(&drain(&mut client)), Some(1007));
    // Invalid UTF-8 split over fragments is found as well.
    let mut client = client_with(Some(DeflateParams::default()), Config::default());
    let mut inflater = Inflater::new(&client, vec![0; 32768]).unwrap();
    let mut wire = raw_frame(0x41, None, &invalid_utf8[..2], 0);
    wire.extend(raw_frame(0x80, None, &invalid_utf8[2..], 0));
    let (_, outcome) = feed_all(&mut client, &mut inflater, &wire);
    assert_eq!(outcome, Err(Error::Protocol(ProtocolError::InvalidUtf8)));
}

/// RSV1 without the extension, on a continuation frame, on a control frame; RSV2 or RSV3
/// with it: 1002 (RFC 7692 §6, §6.1; RFC 6455 §5.2).
#[test]
fn rsv1_outside_the_first_frame_of_a_negotiated_message_fails_with_1002() {
    let with = Some(DeflateParams::default());
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let cases: &[(Option<DeflateParams>, Vec<u8>)] = &[
        (None, raw_frame(0xc1, Some(MASK), &hello, 0)),
        (None, raw_frame(0xc2, Some(MASK), &hello, 0)),
        (with, {
            let mut wire = raw_frame(0x41, Some(MASK), &hello[..3], 0);
            wire.extend(raw_frame(0xc0, Some(MASK), &hello[3..], 0));
            wire
        }),
        (with, raw_frame(0xc9, Some(MASK), b"ping", 0)),
        (with, raw_frame(0xe1, Some(MASK), &hello, 0)),
        (with, raw_frame(0xa1, Some(MASK), &hello, 0)),
        (with, raw_frame(0x91, Some(MASK), &hello, 0)),
    ];
    for (params, wire) in cases {
        let mut server = server_with(*params, Config::default());
        let mut inflater = Inflater::with_params(
            &DeflateParams::default(),
            sockless::Role::Server,
            vec![0; 32768],
            1 << 20,
        )
        .unwrap();
        let (_, outcome) = feed_all(&mut server, &mut inflater, wire);
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::ReservedBitsSet)),
            "{wire:x?}"
        );
        assert_eq!(close_code_in(&drain(&mut server)), Some(1002));
    }
}

/// Without an inflater, the connection hands compressed payload out as it is; a
/// compressed message is not held to the message limit before inflation.
#[test]
fn the_connection_alone_hands_out_compressed_pieces() {
    let mut server = server_with(Some(DeflateParams::default()), Config::default());
    let mut wire = raw_frame(
        0xc1,
        Some(MASK),
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        0,
    );
    let received = server.receive(&mut wire, at(1)).unwrap();
    match received.event {
        Some(Event::Compressed(chunk)) => {
            assert_eq!(chunk.data, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
            assert!(chunk.first && chunk.last);
            assert_eq!(chunk.kind, MessageKind::Text);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_window_must_fit_the_negotiated_bits() {
    let params = DeflateParams {
        client_max_window_bits: 10,
        ..DeflateParams::default()
    };
    let server = server_with(Some(params), Config::default());
    assert!(Inflater::new(&server, vec![0u8; 1024]).is_ok());
    assert!(Inflater::new(&server, vec![0u8; 2048]).is_ok());
    assert_eq!(
        Inflater::new(&server, vec![0u8; 512]).err(),
        Some(sockless::UsageError::InvalidDeflateWindow)
    );
    assert_eq!(
        Inflater::new(&server, vec![0u8; 1500]).err(),
        Some(sockless::UsageError::InvalidDeflateWindow)
    );
    let plain = server_with(None, Config::default());
    assert_eq!(
        Inflater::new(&plain, vec![0u8; 1024]).err(),
        Some(sockless::UsageError::DeflateNotNegotiated)
    );
}

/// DEFLATE makes incompressible data a little larger: a compressed frame may pass
/// max_frame_len by 1/256 (plus 64 bytes); an uncompressed one may not.
#[test]
fn compressed_frames_get_a_margin_over_the_frame_limit() {
    let config = Config::default()
        .with_max_frame_len(25_600)
        .with_max_message_len(1 << 20);
    let margin = 25_600 / 256 + 64;
    let noise = noise(25_600, 0x1234_5678_9abc_def1);
    let packed = compress(&noise, 0);
    assert!(
        packed.len() > 25_600 && packed.len() <= 25_600 + margin,
        "{}",
        packed.len()
    );
    let mut server = server_with(Some(DeflateParams::default()), config);
    let mut inflater = Inflater::new(&server, vec![0; 32768]).unwrap();
    let (msgs, outcome) = feed_all(
        &mut server,
        &mut inflater,
        &raw_frame(0xc2, Some(MASK), &packed, 0),
    );
    outcome.unwrap();
    assert_eq!(msgs, vec![Msg::Binary(noise.clone())]);
    // Past the margin: 1009 from the header.
    let mut server = server_with(Some(DeflateParams::default()), config);
    let header = raw_frame(0xc2, Some(MASK), &vec![0; 25_600 + margin + 1], 0);
    let (_, outcome, _) = feed(&mut server, &header[..14], at(1));
    assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
    // Uncompressed: no margin.
    let mut server = server_with(Some(DeflateParams::default()), config);
    let header = raw_frame(0x82, Some(MASK), &vec![0; 25_601], 0);
    let (_, outcome, _) = feed(&mut server, &header[..8], at(1));
    assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
}

/// With peers that take no context over, one inflater serves many connections between
/// their messages: a connection gets an inflater of its own only while one of its
/// messages is half-read (`in_message`), as the chat example does. Two connections whose
/// reads interleave, in pieces of every small size, each get their own messages.
#[test]
fn one_inflater_serves_connections_between_messages() {
    let params = Some(DeflateParams {
        client_no_context_takeover: true,
        ..DeflateParams::default()
    });
    // Each message compressed on its own (no context taken over).
    let text = chat_json(20);
    let packed = compress(text.as_bytes(), 6);
    let half = packed.len() / 2;
    let mut wire_a = raw_frame(0x41, Some(MASK), &packed[..half], 0);
    wire_a.extend(raw_frame(0x80, Some(MASK), &packed[half..], 0));
    wire_a.extend(raw_frame(
        0xc1,
        Some(MASK),
        &compress(b"second message, a", 6),
        0,
    ));
    let mut wire_b = raw_frame(0xc1, Some(MASK), &compress(b"from b, first", 6), 0);
    wire_b.extend(raw_frame(0xc1, Some(MASK), &packed, 0));
    let expected_a = vec![
        Msg::Text(text.clone()),
        Msg::Text("second message, a".into()),
    ];
    let expected_b = vec![Msg::Text("from b, first".into()), Msg::Text(text.clone())];
    let new_inflater =
        |server: &Connection<Unmasked>| Inflater::new(server, vec![0u8; window_len(15)]).unwrap();
    for piece in 1..64 {
        let mut servers = [
            server_with(params, Config::default()),
            server_with(params, Config::default()),
        ];
        let wires = [&wire_a, &wire_b];
        let mut shared = Some(new_inflater(&servers[0]));
        let mut own: [Option<Inflater<Vec<u8>>>; 2] = [None, None];
        let mut pending = [Vec::new(), Vec::new()];
        let mut partial = [None, None];
        let mut got = [Vec::new(), Vec::new()];
        let mut from = [0, 0];
        let mut half_read_seen = false;
        while from[0] < wires[0].len() || from[1] < wires[1].len() {
            for k in 0..2 {
                let to = (from[k] + piece).min(wires[k].len());
                pending[k].extend_from_slice(&wires[k][from[k]..to]);
                from[k] = to;
                // Its own inflater while a message is half-read, else the shared one.
                let mut inflater = own[k]
                    .take()
                    .or_else(|| shared.take())
                    .unwrap_or_else(|| new_inflater(&servers[k]));
                let (mut msgs, outcome, left) = feed_inflating(
                    &mut servers[k],
                    &mut inflater,
                    &pending[k],
                    &mut partial[k],
                    at(1),
                );
                outcome.unwrap();
                got[k].append(&mut msgs);
                pending[k].drain(..pending[k].len() - left);
                if inflater.in_message() {
                    half_read_seen = true;
                    own[k] = Some(inflater);
                } else {
                    shared = Some(inflater);
                }
            }
        }
        assert_eq!(got[0], expected_a, "pieces of {piece}");
        assert_eq!(got[1], expected_b, "pieces of {piece}");
        assert!(own.iter().all(Option::is_none), "no message left half-read");
        assert!(
            half_read_seen,
            "pieces of {piece} never stopped inside a message"
        );
    }
}

/// A compressed message that arrives whole comes out whole: one `Text` event borrowing
/// the window, no pieces to assemble (the tail of RFC 7692 §7.2.2 is fed in the same call).
#[test]
fn a_message_that_arrives_whole_is_handed_out_whole() {
    for no_context_takeover in [false, true] {
        let params = Some(DeflateParams {
            client_no_context_takeover: no_context_takeover,
            ..DeflateParams::default()
        });
        let mut server = server_with(params, Config::default());
        let mut inflater = Inflater::new(&server, vec![0; window_len(15)]).unwrap();
        for i in 0..50 {
            let text = chat_json(1 + i % 5);
            let mut wire = raw_frame(0xc1, Some(MASK), &compress(text.as_bytes(), 6), 0);
            let len = wire.len();
            let received = inflater.receive(&mut server, &mut wire, at(1)).unwrap();
            assert_eq!(received.consumed, len);
            match received.event {
                Some(Event::Text(got)) => assert_eq!(got, text),
                other => panic!("message {i}: {other:?}"),
            }
            assert!(!inflater.has_pending() && !inflater.in_message());
        }
    }
}
