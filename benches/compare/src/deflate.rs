//! permessage-deflate (RFC 7692): a JSON chat workload, compressed. Receive: a server
//! inflating masked client frames fed through a 64 KiB read buffer; send: a server
//! compressing the same messages. With context takeover (the default every browser
//! negotiates) and without. Memory per connection with the extension on.
//!
//! No Rust peer in this comparison implements permessage-deflate (tungstenite,
//! fastwebsockets, tokio-websockets, embedded-websocket and websocket-sans-io do not), so
//! the peers are Python websockets and Node ws at the protocol level, run by
//! `peers/deflate_peers.sh` on the same bytes (written to target/ here) when
//! `COMPARE_DEFLATE_PEERS=1`.

use std::time::{Duration, Instant as Clock};

use sockless::deflate::{Compressor, DeflateParams, Inflater, window_len};
use sockless::{Config, Connection, Endpoint, Event, Instant, Role};

use crate::sl;

/// Chat messages as the chat example sends them: JSON objects of 80-200 bytes, names,
/// rooms and words repeating, as in a real room.
pub fn chat_messages(count: usize) -> Vec<String> {
    const NAMES: [&str; 8] = [
        "ann", "bob", "chloé", "dmitri", "eve", "farid", "gus", "hana",
    ];
    const WORDS: [&str; 24] = [
        "hello", "the", "build", "is", "green", "again", "deploy", "at", "five", "who", "broke",
        "tests", "lunch", "coffee", "merge", "review", "please", "thanks", "ok", "ship", "it",
        "today", "tomorrow", "😀",
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|i| {
            let words: Vec<&str> = (0..3 + next() % 14)
                .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                .collect();
            format!(
                "{{\"type\":\"message\",\"room\":\"lobby\",\"name\":\"{}\",\"id\":{},\"time\":\"2026-11-29T15:{:02}:{:02}Z\",\"text\":\"{}\"}}",
                NAMES[(next() % 8) as usize],
                1_000_000 + i,
                (i / 60) % 60,
                i % 60,
                words.join(" ")
            )
        })
        .collect()
}

pub const COUNT: usize = 200_000;

fn params(no_context_takeover: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        ..DeflateParams::default()
    }
}

/// The messages as a client sends them: compressed by sockless's client compressor
/// (threshold 0: every message), masked.
pub fn client_wire(messages: &[String], no_context_takeover: bool) -> Vec<u8> {
    let mut client = Connection::client(&Config::default(), sl::Rng(7), Instant::ZERO)
        .with_deflate(Some(params(no_context_takeover)));
    let mut compressor = Compressor::new(&client).unwrap().with_threshold(0);
    let mut wire = Vec::new();
    let mut out = vec![0u8; 4096];
    for message in messages {
        let n = compressor
            .send_text(&mut client, message, &mut out)
            .unwrap();
        wire.extend_from_slice(&out[..n]);
    }
    wire
}

/// Receive `wire` as a server with an inflater; returns (messages, inflated bytes).
pub fn receive(wire: &[u8], no_context_takeover: bool) -> (usize, usize) {
    let mut server = Connection::server(&Config::default(), Instant::ZERO)
        .with_deflate(Some(params(no_context_takeover)));
    let mut inflater = Inflater::new(&server, vec![0u8; window_len(15)]).unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    let (mut filled, mut fed) = (0, 0);
    let (mut messages, mut bytes) = (0, 0);
    loop {
        let n = (buffer.len() - filled).min(wire.len() - fed);
        buffer[filled..filled + n].copy_from_slice(&wire[fed..fed + n]);
        filled += n;
        fed += n;
        let mut start = 0;
        loop {
            let received = inflater
                .receive(&mut server, &mut buffer[start..filled], Instant::ZERO)
                .unwrap();
            start += received.consumed;
            match received.event {
                Some(Event::Text(text)) => {
                    messages += 1;
                    bytes += text.len();
                }
                Some(Event::Chunk(chunk)) => {
                    bytes += chunk.data.len();
                    messages += usize::from(chunk.last);
                }
                Some(other) => panic!("{other:?}"),
                None => break,
            }
        }
        buffer.copy_within(start..filled, 0);
        filled -= start;
        if fed == wire.len() && filled == 0 {
            return (messages, bytes);
        }
    }
}

/// Send every message as a server with a compressor; returns the wire bytes.
pub fn send(messages: &[String], no_context_takeover: bool) -> usize {
    let mut server = Connection::server(&Config::default(), Instant::ZERO)
        .with_deflate(Some(params(no_context_takeover)));
    let mut compressor = Compressor::new(&server).unwrap().with_threshold(0);
    let mut out = vec![0u8; 4096];
    let mut total = 0;
    for message in messages {
        total += compressor
            .send_text(&mut server, message, &mut out)
            .unwrap();
    }
    total
}

/// Uncompressed, for scale: the same messages received and sent without the extension.
pub fn plain_wire(messages: &[String]) -> Vec<u8> {
    let mut wire = Vec::new();
    for message in messages {
        crate::workload::push_frame(&mut wire, true, 1, message.as_bytes(), [1, 2, 3, 4]);
    }
    wire
}

pub fn receive_plain(wire: &[u8]) -> usize {
    let mut server = Connection::server(&Config::default(), Instant::ZERO);
    let mut buffer = vec![0u8; 64 * 1024];
    let (mut filled, mut fed, mut messages) = (0, 0, 0);
    loop {
        let n = (buffer.len() - filled).min(wire.len() - fed);
        buffer[filled..filled + n].copy_from_slice(&wire[fed..fed + n]);
        filled += n;
        fed += n;
        let mut start = 0;
        loop {
            let received = server
                .receive(&mut buffer[start..filled], Instant::ZERO)
                .unwrap();
            start += received.consumed;
            match received.event {
                Some(Event::Text(_)) => messages += 1,
                Some(Event::Chunk(chunk)) => messages += usize::from(chunk.last),
                Some(other) => panic!("{other:?}"),
                None => break,
            }
        }
        buffer.copy_within(start..filled, 0);
        filled -= start;
        if fed == wire.len() && filled == 0 {
            return messages;
        }
    }
}

fn median(runs: usize, mut job: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Clock::now();
            job();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

pub fn table(runs: usize) {
    let messages = chat_messages(COUNT);
    let text_bytes: usize = messages.iter().map(String::len).sum();
    println!(
        "\n## permessage-deflate: JSON chat ({COUNT} messages, {:.0} B average; median of {runs})\n",
        text_bytes as f64 / COUNT as f64
    );
    println!("| case | rate | inflated | wire bytes / text bytes |");
    println!("|---|---:|---:|---:|");
    let plain = plain_wire(&messages);
    assert_eq!(receive_plain(&plain), COUNT);
    let time = median(runs, || {
        std::hint::black_box(receive_plain(&plain));
    });
    println!(
        "| receive, uncompressed (for scale) | {:.2} M msg/s | {:.0} MB/s | {:.2} |",
        COUNT as f64 / time.as_secs_f64() / 1e6,
        text_bytes as f64 / time.as_secs_f64() / 1e6,
        plain.len() as f64 / text_bytes as f64
    );
    for no_context_takeover in [false, true] {
        let how = if no_context_takeover {
            "no context takeover"
        } else {
            "context takeover"
        };
        let wire = client_wire(&messages, no_context_takeover);
        if std::env::var("COMPARE_DEFLATE_PEERS").is_ok() {
            let path = format!(
                "target/deflate-{}.bin",
                if no_context_takeover { "nct" } else { "ct" }
            );
            std::fs::write(&path, &wire).unwrap();
            eprintln!("wrote {path} for the peers");
        }
        assert_eq!(receive(&wire, no_context_takeover), (COUNT, text_bytes));
        let time = median(runs, || {
            std::hint::black_box(receive(&wire, no_context_takeover));
        });
        println!(
            "| receive, {how} (server: Inflater, 32 KiB window) | {:.2} M msg/s | {:.0} MB/s | {:.3} |",
            COUNT as f64 / time.as_secs_f64() / 1e6,
            text_bytes as f64 / time.as_secs_f64() / 1e6,
            wire.len() as f64 / text_bytes as f64
        );
        let sent = send(&messages, no_context_takeover);
        let time = median(runs, || {
            std::hint::black_box(send(&messages, no_context_takeover));
        });
        println!(
            "| send, {how} (server: Compressor, level 6) | {:.2} M msg/s | {:.0} MB/s | {:.3} |",
            COUNT as f64 / time.as_secs_f64() / 1e6,
            text_bytes as f64 / time.as_secs_f64() / 1e6,
            sent as f64 / text_bytes as f64
        );
    }
}

/// Memory per connection with the extension on: (what, bytes).
pub fn memory() -> Vec<(String, usize, usize)> {
    let mut rows = Vec::new();
    for (bits, no_context_takeover) in [(15u8, false), (15, true), (10, false)] {
        let params = DeflateParams {
            client_max_window_bits: bits,
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            ..DeflateParams::default()
        };
        let inflater =
            size_of::<Inflater<Vec<u8>>>() + window_len(params.receive_window_bits(Role::Server));
        let (_compressor, heap) =
            crate::memory::heap_held_pub(|| Compressor::with_params(&params, Role::Server));
        rows.push((
            format!(
                "client window {} B, {}",
                window_len(bits),
                if no_context_takeover {
                    "no context takeover"
                } else {
                    "context takeover"
                }
            ),
            inflater,
            size_of::<Compressor>() + heap as usize,
        ));
    }
    rows
}
