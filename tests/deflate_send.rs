//! Sending permessage-deflate messages (RFC 7692 §7.2.1): RSV1 on compressed frames, the
//! §7.2.3 bytes for "Hello", context takeover or not, a threshold, window limits, and a
//! round trip through the inflater in both roles.
#![cfg(all(feature = "deflate", feature = "alloc"))]

mod common;
use common::*;
use sockless::deflate::{Compressor, DeflateParams, Inflater, window_len};
use sockless::{Config, Connection, Endpoint, Error, Event, MessageKind, UsageError};

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
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..1000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as u8
        })
        .collect();
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
        Err(Error::BufferTooSmall { .. })
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
        Err(Error::Usage(UsageError::DeflateNotNegotiated))
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

/// The one text message in `wire`, through the inflater.
fn one_message<E: Endpoint>(
    endpoint: &mut E,
    inflater: &mut Inflater<Vec<u8>>,
    wire: &mut [u8],
) -> String {
    let mut start = 0;
    let mut text = Vec::new();
    while start < wire.len() {
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
