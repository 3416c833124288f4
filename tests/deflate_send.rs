//! Sending permessage-deflate messages (RFC 7692 §7.2.1): RSV1 on compressed frames, the
//! §7.2.3 bytes for "Hello", context takeover or not, a threshold, window limits, and a
//! round trip through the inflater in both roles.
#![cfg(all(feature = "deflate", feature = "alloc"))]

mod common;
use common::*;
use sockless::SendError;
use sockless::deflate::{Compressor, DeflateParams, Inflater, window_len};
use sockless::{Config, Connection, Endpoint, Event, MessageKind, UsageError};

fn server_with(params: DeflateParams) -> Connection {
    Connection::server(&Config::default(), at(0)).with_deflate(Some(params))
}

/// RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello" twice from a server, with and without context
/// takeover.
#[test]
fn hello_is_sent_as_in_rfc_7692() {
    let mut out = [0u8; 64];
    let mut server = server_with(DeflateParams::default());
    let mut compressor = Compressor::new(&server).unwrap().with_threshold(0);
    let n = compressor
        .send_text(&mut server, "Hello", &mut out)
        .unwrap();
    assert_eq!(
        out[..n],
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    let n = compressor
        .send_text(&mut server, "Hello", &mut out)
        .unwrap();
    assert_eq!(out[..n], [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);

    let params = DeflateParams {
        server_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let mut server = server_with(params);
    let mut compressor = Compressor::new(&server).unwrap().with_threshold(0);
    for _ in 0..2 {
        let n = compressor
            .send_text(&mut server, "Hello", &mut out)
            .unwrap();
        assert_eq!(
            out[..n],
            [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
    }
}

#[test]
fn small_or_incompressible_messages_go_out_uncompressed() {
    let mut out = [0u8; 4096];
    let mut server = server_with(DeflateParams::default());
    let mut compressor = Compressor::new(&server).unwrap();
    let n = compressor.send_text(&mut server, "hi", &mut out).unwrap();
    assert_eq!(out[..n], [0x81, 2, b'h', b'i']);
    let noise = noise(1000, 0x2545_f491_4f6c_dd1d);
    let n = compressor
        .send_binary(&mut server, &noise, &mut out)
        .unwrap();
    assert_eq!(out[0], 0x82);
    assert_eq!(&out[4..n], &noise[..]);
    // A buffer too small: nothing written, and the message can be sent again.
    let text = "abc".repeat(400);
    let mut small = [0u8; 8];
    assert!(matches!(
        compressor.send_text(&mut server, &text, &mut small),
        Err(SendError::NoRoom { .. })
    ));
    let n = compressor.send_text(&mut server, &text, &mut out).unwrap();
    assert_eq!(out[0], 0xc1);
    assert!(n < 40, "{n}");
}

#[test]
fn nothing_is_compressed_without_negotiation() {
    let mut plain = Connection::server(&Config::default(), at(0));
    assert_eq!(
        Compressor::new(&plain).err(),
        Some(UsageError::DeflateNotNegotiated)
    );
    let mut out = [0u8; 64];
    assert_eq!(
        plain.send_compressed(MessageKind::Text, &[0xf2, 0x48], &mut out),
        Err(SendError::Usage(UsageError::DeflateNotNegotiated))
    );
    let mut server = server_with(DeflateParams::default());
    let n = server
        .send_compressed(
            MessageKind::Text,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            &mut out,
        )
        .unwrap();
    assert_eq!(
        out[..n],
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
}

fn chat(i: usize) -> String {
    format!(
        "{{\"type\":\"message\",\"room\":\"lobby\",\"name\":\"user{}\",\"text\":\"message number {} — {}\"}}",
        i % 5,
        i,
        "la ".repeat(i % 40)
    )
}

/// A client's compressed messages inflated by a server and the other way round, for every
/// context and window setting: the same messages come out, smaller on the wire.
#[test]
fn round_trip_in_both_roles() {
    for snct in [false, true] {
        for cnct in [false, true] {
            for bits in [9u8, 12, 15] {
                let params = DeflateParams {
                    server_no_context_takeover: snct,
                    client_no_context_takeover: cnct,
                    server_max_window_bits: bits,
                    client_max_window_bits: bits,
                };
                let config = Config::default();
                let mut client =
                    Connection::client(&config, rng(), at(0)).with_deflate(Some(params));
                let mut server = server_with(params);
                let mut to_server = Compressor::new(&client).unwrap();
                let mut to_client = Compressor::new(&server).unwrap();
                let mut server_inflater =
                    Inflater::new(&server, vec![0; window_len(bits)]).unwrap();
                let mut client_inflater =
                    Inflater::new(&client, vec![0; window_len(bits)]).unwrap();
                let mut out = vec![0u8; 1 << 16];
                let (mut wire_bytes, mut text_bytes) = (0, 0);
                for i in 0..200 {
                    let text = chat(i);
                    text_bytes += text.len();
                    let n = to_server.send_text(&mut client, &text, &mut out).unwrap();
                    wire_bytes += n;
                    assert_eq!(
                        one_message(&mut server, &mut server_inflater, &mut out[..n]),
                        text
                    );
                    let n = to_client.send_text(&mut server, &text, &mut out).unwrap();
                    assert_eq!(
                        one_message(&mut client, &mut client_inflater, &mut out[..n]),
                        text
                    );
                }
                if bits == 15 && !cnct {
                    assert!(wire_bytes * 4 < text_bytes, "{wire_bytes} of {text_bytes}");
                }
            }
        }
    }
}

/// The one text message in `wire`, through the inflater, to its last piece.
fn one_message<E: Endpoint>(
    endpoint: &mut E,
    inflater: &mut Inflater<Vec<u8>>,
    wire: &mut [u8],
) -> String {
    let mut start = 0;
    let mut text = Vec::new();
    // The inflater may owe the message's end after the last input byte is consumed.
    while start < wire.len() || inflater.has_pending() {
        let received = inflater
            .receive(endpoint, &mut wire[start..], at(1))
            .unwrap();
        start += received.consumed;
        match received.event {
            Some(Event::Text(t)) => text.extend_from_slice(t.as_bytes()),
            Some(Event::Chunk(chunk)) => text.extend_from_slice(chunk.data),
            other => panic!("{other:?}"),
        }
    }
    String::from_utf8(text).unwrap()
}

/// A broadcast compresses once: a compressor that takes no context over gives bytes that
/// every connection sends as they are (`send_compressed`), and each client inflates them,
/// whatever it received before and whether or not it takes context over itself.
#[test]
fn one_compression_serves_many_connections() {
    let shared = DeflateParams {
        server_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let mut compressor = Compressor::with_params(&shared, sockless::Role::Server);
    let config = Config::default();
    // Three members: two that agreed on no context takeover, one that did not.
    let member_params = [shared, shared, DeflateParams::default()];
    let mut members: Vec<_> = member_params
        .iter()
        .map(|&params| {
            let server = server_with(params);
            let client = Connection::client(&config, rng(), at(0)).with_deflate(Some(params));
            let inflater = Inflater::new(&client, vec![0; window_len(15)]).unwrap();
            (server, client, inflater)
        })
        .collect();
    let mut compressed = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];
    let (mut wire, mut plain) = (0, 0);
    for i in 0..100 {
        let text = chat(i);
        plain += text.len();
        let len = compressor.compress(text.as_bytes(), &mut compressed);
        // Members join at different times: member k hears from message 10 * k on.
        for (k, (server, client, inflater)) in members.iter_mut().enumerate() {
            if i < 10 * k {
                continue;
            }
            let n = match len {
                Some(len) => server
                    .send_compressed(MessageKind::Text, &compressed[..len], &mut out)
                    .unwrap(),
                None => server.send_text(&text, &mut out).unwrap(),
            };
            if k == 0 {
                wire += n;
            }
            assert_eq!(one_message(client, inflater, &mut out[..n]), text);
        }
    }
    // Each message stands on its own, so it shrinks less than with context takeover, but
    // it does shrink.
    assert!(wire < plain, "{wire} of {plain}");
}

#[test]
fn compress_declines_what_should_go_out_uncompressed() {
    let params = DeflateParams::default();
    let mut compressor = Compressor::with_params(&params, sockless::Role::Server);
    let mut out = vec![0u8; 4096];
    // Under the default threshold.
    assert_eq!(compressor.compress(b"hi", &mut out), None);
    // Noise does not get smaller.
    let noise = noise(1000, 0x9e37_79b9_7f4a_7c15);
    assert_eq!(compressor.compress(&noise, &mut out), None);
    // Too large for the output: declined, and nothing of it is kept as context, so the
    // next message compresses exactly as on a fresh compressor.
    let text = chat(39);
    assert_eq!(compressor.compress(text.as_bytes(), &mut out[..8]), None);
    let n = compressor.compress(text.as_bytes(), &mut out).unwrap();
    let mut fresh = Compressor::with_params(&params, sockless::Role::Server);
    let mut expected = vec![0u8; 4096];
    let m = fresh.compress(text.as_bytes(), &mut expected).unwrap();
    assert_eq!(out[..n], expected[..m]);
    // Over the window the peer allowed us (9 bits: 512 bytes): declined.
    let limited = DeflateParams {
        server_max_window_bits: 9,
        ..params
    };
    let mut compressor = Compressor::with_params(&limited, sockless::Role::Server);
    let long = "la ".repeat(200);
    assert_eq!(compressor.compress(long.as_bytes(), &mut out), None);
    assert!(
        compressor
            .compress(&long.as_bytes()[..500], &mut out)
            .is_some()
    );
}

/// With context takeover, short messages are written with the fixed Huffman codes by
/// default, which costs them less than a code table each; either way they inflate to
/// what was sent.
#[test]
fn fixed_codes_by_default_with_context_takeover() {
    let wire_bytes = |fixed: Option<bool>| {
        let params = DeflateParams::default();
        let mut server = server_with(params);
        let mut client =
            Connection::client(&Config::default(), rng(), at(0)).with_deflate(Some(params));
        let mut inflater = Inflater::new(&client, vec![0; window_len(15)]).unwrap();
        let mut compressor = Compressor::new(&server).unwrap();
        if let Some(fixed) = fixed {
            compressor = compressor.with_fixed_codes(fixed);
        }
        let mut out = vec![0u8; 4096];
        let mut total = 0;
        for i in 0..300 {
            let text = chat(i * 7 % 45);
            let n = compressor.send_text(&mut server, &text, &mut out).unwrap();
            total += n;
            assert_eq!(one_message(&mut client, &mut inflater, &mut out[..n]), text);
        }
        total
    };
    let (default, fixed, own) = (
        wire_bytes(None),
        wire_bytes(Some(true)),
        wire_bytes(Some(false)),
    );
    assert_eq!(default, fixed);
    assert!(
        fixed * 5 < own * 4,
        "fixed codes {fixed} bytes, own codes {own}"
    );
}
