//! Micro-benchmarks of the hot paths: header decode/encode, unmasking, UTF-8 validation,
//! the server's receive loop on small frames, encoding messages, and a driver echoing
//! small messages (what an adapter's loop adds to the connection's own work).
//!
//! `cargo bench --bench hot` (add `-- mask` etc. to filter). Short warm-up and measurement
//! times keep a full run to about a minute; the comparison with other implementations is
//! `benches/compare`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sockless::driver::{Driver, Step};
use sockless::frame::{FrameHeader, OpCode, apply_mask};
use sockless::utf8::{Utf8Validator, validate_whole};
use sockless::{
    Accept, Client, Config, Endpoint, Event, InputBuffer, Instant, MessageKind, OpenEvent, Server,
};

const MIB: usize = 1 << 20;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

// Only the deterministic randomness source is used here.
#[allow(dead_code)]
#[path = "../tests/common/fixtures.rs"]
mod fixtures;
use fixtures::TestRng as Rng;

/// An open server and client, after a real handshake between them.
fn open_pair() -> (Server, Client<'static, Rng>) {
    let now = Instant::ZERO;
    let mut client =
        Client::connect("ws://example.com/chat", Config::default(), Rng(1), now).unwrap();
    let mut server = Server::new(Config::default(), now);
    let (mut wire, mut back) = ([0u8; 1024], [0u8; 1024]);
    let n = client.poll_transmit(&mut wire).unwrap();
    let received = server.receive(&mut wire[..n], now).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let n = server
        .accept(&request, Accept::default(), now, &mut back)
        .unwrap();
    let received = client.receive(&mut back[..n], now).unwrap();
    assert!(matches!(received.event, Some(Event::Connected(_))));
    (server, client)
}

fn ascii(len: usize) -> Vec<u8> {
    let mut rng = Rng(2);
    (0..len).map(|_| b' ' + (rng.next() % 95) as u8).collect()
}

/// Cyrillic, ASCII and 4-byte emoji, padded with ASCII to `len` bytes.
fn mixed(len: usize) -> Vec<u8> {
    let mut rng = Rng(3);
    let mut text = String::with_capacity(len);
    loop {
        let c = match rng.next() % 10 {
            0..=4 => char::from_u32(0x0410 + (rng.next() % 64) as u32).unwrap(),
            5..=7 => char::from(b'a' + (rng.next() % 26) as u8),
            8 => ' ',
            _ => char::from_u32(0x1F600 + (rng.next() % 80) as u32).unwrap(),
        };
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('.');
    }
    text.into_bytes()
}

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("header");
    for (name, payload_len) in [("7-bit", 16u64), ("16-bit", 1000), ("64-bit", MIB as u64)] {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some(KEY),
            payload_len,
        };
        let mut bytes = [0u8; 14];
        let n = header.encode(&mut bytes).unwrap();
        group.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| FrameHeader::decode(black_box(&bytes[..n])))
        });
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| black_box(&header).encode(black_box(&mut bytes)))
        });
    }
    group.finish();
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_mask");
    for (name, len) in [("16 B", 16), ("64 KiB", 64 << 10), ("1 MiB", MIB)] {
        let mut data = ascii(len);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter(|| apply_mask(black_box(&mut data), KEY, 1))
        });
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    group.throughput(Throughput::Bytes(MIB as u64));
    for (name, text) in [("ascii 1 MiB", ascii(MIB)), ("mixed 1 MiB", mixed(MIB))] {
        group.bench_function(BenchmarkId::new("validate_whole", name), |b| {
            b.iter(|| validate_whole(black_box(&text)).unwrap().len())
        });
        group.bench_function(BenchmarkId::new("feed 16 KiB pieces", name), |b| {
            b.iter(|| {
                let mut validator = Utf8Validator::new();
                for piece in black_box(&text).chunks(16 << 10) {
                    validator.feed(piece).unwrap();
                }
                validator.finish().unwrap();
            })
        });
    }
    group.finish();
}

/// `count` masked 16-byte binary messages, as `client` sends them.
fn small_messages(client: &mut Client<'static, Rng>, count: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut frame = [0u8; 64];
    for i in 0..count {
        let n = client
            .connection()
            .unwrap()
            .send_binary(&[i as u8; 16], &mut frame)
            .unwrap();
        wire.extend_from_slice(&frame[..n]);
    }
    wire
}

fn receive(c: &mut Criterion) {
    const FRAMES: usize = 1000;
    let (_, mut client) = open_pair();
    let mut input = small_messages(&mut client, FRAMES);
    let mut group = c.benchmark_group("receive");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("server 1000 x 16 B binary", |b| {
        let (mut server, _) = open_pair();
        // Payloads are unmasked in place: each pass flips them between masked and not,
        // which binary messages do not mind.
        b.iter(|| {
            let mut start = 0;
            let mut messages = 0;
            while start < input.len() {
                let received = server.receive(&mut input[start..], Instant::ZERO).unwrap();
                start += received.consumed;
                if let Some(Event::Binary(data)) = received.event {
                    messages += data.len();
                }
            }
            messages
        })
    });
    group.finish();
}

fn send(c: &mut Criterion) {
    let mut group = c.benchmark_group("send");
    let small = [0xA5u8; 16];
    let large = ascii(MIB);
    let mut out = vec![0u8; MIB + 14];
    for (name, payload) in [("16 B", &small[..]), ("1 MiB", &large[..])] {
        let (mut server, mut client) = open_pair();
        let server = server.connection().unwrap();
        let client = client.connection().unwrap();
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(BenchmarkId::new("client send_binary", name), |b| {
            b.iter(|| client.send_binary(black_box(payload), &mut out).unwrap())
        });
        group.bench_function(BenchmarkId::new("server send_binary", name), |b| {
            b.iter(|| server.send_binary(black_box(payload), &mut out).unwrap())
        });
        // The header, then the payload reported written (as after a vectored write), so
        // that the next header may follow.
        group.bench_function(BenchmarkId::new("server send_header", name), |b| {
            b.iter(|| {
                let len = black_box(payload.len() as u64);
                let written = server
                    .send_header(MessageKind::Binary, len, true, &mut out)
                    .unwrap();
                server.payload_written(len).unwrap();
                written
            })
        });
    }
    group.finish();
}

/// A server's driver echoing 1000 small binary messages, as an adapter's loop drives it:
/// the input filled a read at a time, every event taken and its echo sent, the output
/// written whole whenever the driver asks. Against `receive`, what the driver's
/// bookkeeping costs per message.
fn driver(c: &mut Criterion) {
    const FRAMES: usize = 1000;
    const READ: usize = 16 * 1024;
    let (server, mut client) = open_pair();
    let wire = small_messages(&mut client, FRAMES);
    let Ok(connection) = server.into_connection() else {
        panic!("the server is open")
    };
    let config = Config::default();
    let input = InputBuffer::new(vec![0u8; 2 * READ], &config).unwrap();
    let mut driver = Driver::new(connection, input, vec![0u8; READ], &config).unwrap();
    let mut group = c.benchmark_group("driver");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("server echo 1000 x 16 B binary", |b| {
        b.iter(|| {
            let (mut read, mut echoed, mut written) = (0, 0, 0);
            let (mut echo, mut filled) = ([0u8; 16], 0);
            loop {
                match driver.poll(Instant::ZERO) {
                    Step::Event(_) => {
                        // A message cut by a read's end comes in two pieces.
                        let (data, last) = match driver.event() {
                            Some(OpenEvent::Binary(data)) => (data, true),
                            Some(OpenEvent::Chunk(chunk)) => (chunk.data, chunk.last),
                            other => panic!("not an echo's message: {other:?}"),
                        };
                        echo[filled..filled + data.len()].copy_from_slice(data);
                        filled += data.len();
                        if last {
                            driver.send_binary(&echo[..filled], Instant::ZERO).unwrap();
                            (filled, echoed) = (0, echoed + 1);
                        }
                    }
                    Step::Write { .. } => {
                        let n = driver.transmit().staged.len();
                        written += n;
                        driver.wrote(n, Instant::ZERO);
                    }
                    Step::Read { .. } if read < wire.len() => {
                        let space = driver.read_space();
                        let n = space.len().min(READ).min(wire.len() - read);
                        space[..n].copy_from_slice(&wire[read..read + n]);
                        driver.filled(n, Instant::ZERO);
                        read += n;
                    }
                    Step::Read { .. } => break,
                    Step::Close(end) => panic!("the connection ended: {end:?}"),
                }
            }
            assert_eq!(echoed, FRAMES);
            written
        })
    });
    group.finish();
}

criterion_group! {
    name = hot;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = header, mask, utf8, receive, send, driver
}
criterion_main!(hot);
