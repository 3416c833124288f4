//! Compressed messages (permessage-deflate, RFC 7692) received through an `Inflater`:
//! arbitrary messages compressed with context takeover or not, cut into frames and input
//! pieces anywhere, some with corrupted bytes or arbitrary "compressed" payloads, with
//! small windows and small limits. It checks invariants, not just the absence of panics:
//!
//! - what was compressed intact comes out intact: the same messages, in order, whatever
//!   the frame and input cuts;
//! - pieces come in order (first, then the rest, last ends the message), text pieces add
//!   up to valid UTF-8;
//! - no message inflates past max_message_len: the failure (1009) comes first;
//! - every failure is an `Event::Failed` with its Close queued (1002, 1007 or 1009), and
//!   nothing follows it;
//! - `consumed` never passes the input.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use miniz_oxide::deflate::core::deflate_flags::TDEFL_FORCE_ALL_STATIC_BLOCKS;
use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, compress, create_comp_flags_from_zip_params,
};
use sockless::deflate::{DeflateParams, Inflater, window_len};
use sockless::{Config, Connection, Endpoint, Event, Instant, MessageKind};

#[derive(Arbitrary, Debug)]
struct Message {
    text: bool,
    data: Vec<u8>,
    /// Frames: the compressed payload cut every `fragment` bytes (0: one frame).
    fragment: u8,
    /// Send it uncompressed (RSV1 clear).
    plain: bool,
    /// Replace the compressed payload with these bytes.
    garbage: Option<Vec<u8>>,
    /// Flip one byte of the compressed payload.
    flip: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    window_bits: u8,
    no_context_takeover: bool,
    /// The compression level (modulo 10); its high bit forces fixed Huffman codes.
    level: u8,
    limit: u16,
    messages: Vec<Message>,
    cuts: Vec<u16>,
}

fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let key = [0x5a, 0x01, 0xc3, 0x7e];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fuzz_target!(|input: Input| {
    let bits = 8 + input.window_bits % 8;
    let params = DeflateParams {
        client_max_window_bits: bits,
        client_no_context_takeover: input.no_context_takeover,
        ..DeflateParams::default()
    };
    let limit = u64::from(input.limit) * 4;
    let config = Config::default().with_max_message_len(limit);
    let mut server = Connection::server(&config, Instant::ZERO).with_deflate(Some(params));
    let mut inflater = Inflater::new(&server, vec![0u8; window_len(bits)]).unwrap();
    // Level 0 (stored blocks) never refers back, so it fits every window; other levels
    // only where the window is the largest.
    let level = if bits == 15 { input.level % 10 } else { 0 };
    let mut flags = create_comp_flags_from_zip_params(level.into(), -15, 0);
    // The high bit of `level`: fixed Huffman codes for every block, as sockless's own
    // Compressor writes them with context takeover.
    if input.level & 0x80 != 0 {
        flags |= TDEFL_FORCE_ALL_STATIC_BLOCKS;
    }
    let mut compressor = CompressorOxide::new(flags);

    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut intact = true;
    for message in input.messages.iter().take(8) {
        let kind = if message.text { 0x1 } else { 0x2 };
        let mut payload = if message.plain {
            message.data.clone()
        } else {
            if input.no_context_takeover {
                compressor.reset();
            }
            let mut out = vec![0; message.data.len() * 2 + 64];
            let (_, used, n) = compress(&mut compressor, &message.data, &mut out, TDEFLFlush::Sync);
            assert_eq!(used, message.data.len());
            out.truncate(n.saturating_sub(4));
            out
        };
        if !message.plain {
            if let Some(garbage) = &message.garbage {
                payload = garbage.clone();
                intact = false;
            }
            if let Some((at, xor)) = message.flip {
                if !payload.is_empty() && xor != 0 {
                    let i = usize::from(at) % payload.len();
                    payload[i] ^= xor;
                    intact = false;
                }
            }
        }
        let step = if message.fragment == 0 {
            payload.len().max(1)
        } else {
            usize::from(message.fragment)
        };
        let pieces: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(step).collect()
        };
        for (i, piece) in pieces.iter().enumerate() {
            let fin = if i + 1 == pieces.len() { 0x80 } else { 0 };
            let opcode = if i == 0 { kind } else { 0 };
            let rsv1 = if i == 0 && !message.plain { 0x40 } else { 0 };
            wire.extend(frame(fin | rsv1 | opcode, piece));
        }
        expected.push((message.text, message.data.clone()));
    }

    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (wire.len() + 1))
        .collect();
    cuts.sort_unstable();
    cuts.push(wire.len());
    let mut got: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut open: Option<(MessageKind, Vec<u8>)> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut from = 0;
    let mut failed = None;
    'feed: for &to in &cuts {
        pending.extend_from_slice(&wire[from..to]);
        from = to;
        let mut start = 0;
        loop {
            let len = pending.len() - start;
            let received = inflater
                .receive(&mut server, &mut pending[start..], Instant::ZERO)
                .expect("the input is kept");
            assert!(received.consumed <= len);
            start += received.consumed;
            let Some(event) = received.event else { break };
            let (kind, data, first, last) = match event {
                Event::Text(text) => (MessageKind::Text, text.as_bytes(), true, true),
                Event::Binary(data) => (MessageKind::Binary, data, true, true),
                Event::Chunk(chunk) => (chunk.kind, chunk.data, chunk.first, chunk.last),
                Event::Failed(error) => {
                    failed = Some(error);
                    break 'feed;
                }
                other => panic!("unexpected {other:?}"),
            };
            if first {
                assert!(open.is_none());
                open = Some((kind, Vec::new()));
            }
            let (open_kind, bytes) = open.as_mut().expect("a piece after the first");
            assert_eq!(*open_kind, kind);
            bytes.extend_from_slice(data);
            assert!(bytes.len() as u64 <= limit, "past the limit");
            if last {
                let (kind, bytes) = open.take().unwrap();
                if kind == MessageKind::Text {
                    assert!(std::str::from_utf8(&bytes).is_ok());
                }
                got.push((kind == MessageKind::Text, bytes));
            }
        }
        pending.drain(..start);
    }
    if let Some(error) = failed {
        let mut out = [0u8; 256];
        let n = server.poll_transmit(&mut out).unwrap();
        assert!(n >= 4 && out[0] == 0x88, "the Close is queued");
        let code = u16::from_be_bytes([out[2], out[3]]);
        assert_eq!(code, error.close_code().0);
        assert!([1002, 1007, 1009].contains(&code));
        let fits = expected.iter().all(|(_, data)| data.len() as u64 <= limit);
        let valid = expected
            .iter()
            .all(|(text, data)| !text || std::str::from_utf8(data).is_ok());
        assert!(
            !(intact && fits && valid),
            "an intact stream failed: {error:?}"
        );
    } else if intact {
        assert_eq!(got, expected);
    }
});
