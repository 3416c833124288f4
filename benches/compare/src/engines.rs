//! The two DEFLATE engines on their own, as permessage-deflate (RFC 7692) drives them:
//! miniz_oxide (what sockless uses) against zlib-rs, on the chat JSON corpus of the
//! `deflate` section, one message at a time, raw DEFLATE with a 15-bit window.
//!
//! - Compress: each message with a sync flush, its trailing `00 00 ff ff` removed (§7.2.1),
//!   at levels 6 and 1, with context takeover (one stream for all messages) and without
//!   (the stream reset after each message, §7.1.1.1).
//! - Inflate: each compressed message with `00 00 ff ff` appended (§7.2.2), with the window
//!   kept across messages and reset after each; every inflated byte is compared with the
//!   message it came from.
//! - State: the bytes each engine holds per stream, counted with the benchmark's counting
//!   allocator.
//!
//! miniz_oxide is driven through its core API as sockless drives it: inflating into a
//! caller-owned wrapping 32 KiB window with `decompress_with_limit`, compressing with a
//! boxed `CompressorOxide`. zlib-rs is driven through its safe Rust API (`zlib_rs::Inflate`
//! and `zlib_rs::Deflate`, the crate's stable interface), inflating into a caller buffer.
//! The two run in the same process, interleaved round by round (`crate::medians`).

use std::time::Duration;

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{
    DecompressorOxide, decompress_with_limit, inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
};
use zlib_rs::{Deflate, DeflateFlush, Inflate, InflateFlush, Status};

use crate::deflate::{COUNT, chat_messages};
use crate::memory::heap_held_pub as heap_held;

/// The versions in benches/compare/Cargo.lock (miniz_oxide: the one sockless uses).
const MINIZ: &str = "miniz_oxide 0.9.1";
const ZLIB_RS: &str = "zlib-rs 0.6.8";

/// RFC 7692 §7.2.1: a sync flush ends in an empty stored block, `00 00 ff ff`, which the
/// sender removes; §7.2.2: the receiver appends it again before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// 15 window bits, the RFC 7692 default: a 32 KiB LZ77 window.
const WINDOW_BITS: u8 = 15;
const WINDOW: usize = 1 << WINDOW_BITS;

/// Room for one compressed message (the chat messages are under 300 bytes).
const OUT: usize = 4096;

#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Miniz,
    ZlibRs,
}

impl Engine {
    const BOTH: [Engine; 2] = [Engine::Miniz, Engine::ZlibRs];

    fn name(self) -> &'static str {
        match self {
            Engine::Miniz => MINIZ,
            Engine::ZlibRs => ZLIB_RS,
        }
    }
}

/// Messages stored end to end in one buffer, read in order.
#[derive(Default)]
struct Packed {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Packed {
    fn push(&mut self, message: &[u8]) {
        self.bytes.extend_from_slice(message);
        self.ends.push(self.bytes.len());
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.bytes[start..end])
    }
}

/// The compressed messages as the receiver inflates them: each with the tail appended
/// (RFC 7692 §7.2.2).
fn with_tails(wire: &Packed) -> Packed {
    let mut fed = Packed::default();
    for message in wire.iter() {
        fed.bytes.extend_from_slice(message);
        fed.bytes.extend_from_slice(&TAIL);
        fed.ends.push(fed.bytes.len());
    }
    fed
}

// --- Compressing --------------------------------------------------------------------------

/// One engine's raw-DEFLATE compressor, as a permessage-deflate sender uses it.
trait MessageDeflater {
    /// Compress all of `message` into `out` and flush to a byte boundary with an empty
    /// stored block (a sync flush); returns the bytes written, tail included.
    fn sync_flush(&mut self, message: &[u8], out: &mut [u8]) -> usize;
    /// Start a new stream: no reference back to earlier messages (no context takeover).
    fn reset(&mut self);
}

struct MinizDeflater(Box<CompressorOxide>);

impl MinizDeflater {
    fn new(level: u8) -> Self {
        // Negative window bits: raw DEFLATE, no zlib header (RFC 7692 §7.2.1).
        let flags = create_comp_flags_from_zip_params(level.into(), -i32::from(WINDOW_BITS), 0);
        MinizDeflater(Box::new(CompressorOxide::new(flags)))
    }
}

impl MessageDeflater for MinizDeflater {
    fn sync_flush(&mut self, message: &[u8], out: &mut [u8]) -> usize {
        let (status, used, written) = compress(&mut self.0, message, out, TDEFLFlush::Sync);
        assert_eq!(status, TDEFLStatus::Okay, "{MINIZ}: compress failed");
        assert_eq!(used, message.len(), "{MINIZ}: input left over");
        written
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

struct ZlibDeflater(Deflate);

impl ZlibDeflater {
    fn new(level: u8) -> Self {
        // No zlib header: raw DEFLATE (RFC 7692 §7.2.1).
        ZlibDeflater(Deflate::new(level.into(), false, WINDOW_BITS))
    }
}

impl MessageDeflater for ZlibDeflater {
    fn sync_flush(&mut self, message: &[u8], out: &mut [u8]) -> usize {
        let (read, wrote) = (self.0.total_in(), self.0.total_out());
        let status = self.0.compress(message, out, DeflateFlush::SyncFlush);
        assert_eq!(status, Ok(Status::Ok), "{ZLIB_RS}: compress failed");
        let used = (self.0.total_in() - read) as usize;
        assert_eq!(used, message.len(), "{ZLIB_RS}: input left over");
        (self.0.total_out() - wrote) as usize
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

/// Compress every message as a sender does (RFC 7692 §7.2.1): sync flush, check that the
/// flush completed (room left, the tail there), remove the tail, and with no context
/// takeover reset the stream after the message. The payloads go to `wire`.
fn compress_all(
    deflater: &mut impl MessageDeflater,
    messages: &[String],
    reset_each: bool,
    wire: &mut Packed,
) {
    let mut out = [0u8; OUT];
    wire.clear();
    for message in messages {
        let written = deflater.sync_flush(message.as_bytes(), &mut out);
        assert!(
            written < OUT,
            "output buffer filled: flush may be incomplete"
        );
        assert!(
            out[..written].ends_with(&TAIL),
            "sync flush without its tail"
        );
        wire.push(&out[..written - TAIL.len()]);
        if reset_each {
            deflater.reset();
        }
    }
}

fn compress_with(engine: Engine, level: u8, messages: &[String], reset: bool, wire: &mut Packed) {
    match engine {
        Engine::Miniz => compress_all(&mut MinizDeflater::new(level), messages, reset, wire),
        Engine::ZlibRs => compress_all(&mut ZlibDeflater::new(level), messages, reset, wire),
    }
}

// --- Inflating ----------------------------------------------------------------------------

/// One engine's raw-DEFLATE decompressor, as a permessage-deflate receiver uses it.
trait MessageInflater {
    /// Inflate `fed` (one message's payload with the tail appended) to its end and check
    /// that the output is `expected`, byte for byte.
    fn inflate_checked(&mut self, fed: &[u8], expected: &[u8]);
    /// Forget the window (the peer takes no context over, RFC 7692 §7.1.1.2).
    fn reset(&mut self);
}

/// As sockless's `Inflater`: the decompressor writes straight into a caller-owned window of
/// 2^15 bytes, which wraps; the output is read from there.
struct MinizInflater {
    state: Box<DecompressorOxide>,
    window: Vec<u8>,
    /// Where the next inflated byte goes in the window.
    pos: usize,
}

impl MinizInflater {
    fn new() -> Self {
        MinizInflater {
            state: Box::default(),
            window: vec![0; WINDOW],
            pos: 0,
        }
    }
}

impl MessageInflater for MinizInflater {
    fn inflate_checked(&mut self, fed: &[u8], expected: &[u8]) {
        let (mut used_total, mut checked) = (0, 0);
        loop {
            let start = self.pos;
            let (status, used, written) = decompress_with_limit(
                &mut self.state,
                &fed[used_total..],
                &mut self.window,
                start,
                usize::MAX,
                TINFL_FLAG_HAS_MORE_INPUT,
            );
            used_total += used;
            // The output is contiguous from `start`; it stops at the window's end.
            let out = &self.window[start..start + written];
            assert_eq!(
                out,
                &expected[checked..checked + written],
                "{MINIZ}: wrong output"
            );
            checked += written;
            self.pos = (start + written) & (WINDOW - 1);
            match status {
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput if used_total == fed.len() => break,
                other => panic!("{MINIZ}: {other:?}"),
            }
        }
        assert_eq!(checked, expected.len(), "{MINIZ}: output short");
    }

    fn reset(&mut self) {
        self.state.init();
    }
}

/// zlib's model: the output goes to a caller buffer, and the engine copies it into a window
/// of its own (allocated with the state).
struct ZlibInflater {
    stream: Inflate,
    out: Vec<u8>,
}

impl ZlibInflater {
    fn new() -> Self {
        ZlibInflater {
            // No zlib header: raw DEFLATE.
            stream: Inflate::new(false, WINDOW_BITS),
            out: vec![0; WINDOW],
        }
    }
}

impl MessageInflater for ZlibInflater {
    fn inflate_checked(&mut self, fed: &[u8], expected: &[u8]) {
        let (mut used_total, mut checked) = (0, 0);
        loop {
            let (read, wrote) = (self.stream.total_in(), self.stream.total_out());
            let status =
                self.stream
                    .decompress(&fed[used_total..], &mut self.out, InflateFlush::NoFlush);
            assert_eq!(status, Ok(Status::Ok), "{ZLIB_RS}: inflate failed");
            used_total += (self.stream.total_in() - read) as usize;
            let written = (self.stream.total_out() - wrote) as usize;
            let out = &self.out[..written];
            assert_eq!(
                out,
                &expected[checked..checked + written],
                "{ZLIB_RS}: wrong output"
            );
            checked += written;
            // Done when the input is used up and the output did not fill the buffer.
            if used_total == fed.len() && written < self.out.len() {
                break;
            }
        }
        assert_eq!(checked, expected.len(), "{ZLIB_RS}: output short");
    }

    fn reset(&mut self) {
        self.stream.reset(false);
    }
}

/// Inflate every message of `fed` (tails appended) and check it against `messages`; with
/// no context takeover the window is reset after each message.
fn inflate_all(
    inflater: &mut impl MessageInflater,
    fed: &Packed,
    messages: &[String],
    reset_each: bool,
) {
    assert_eq!(fed.ends.len(), messages.len());
    for (input, message) in fed.iter().zip(messages) {
        inflater.inflate_checked(input, message.as_bytes());
        if reset_each {
            inflater.reset();
        }
    }
}

fn inflate_with(engine: Engine, fed: &Packed, messages: &[String], reset_each: bool) {
    match engine {
        Engine::Miniz => inflate_all(&mut MinizInflater::new(), fed, messages, reset_each),
        Engine::ZlibRs => inflate_all(&mut ZlibInflater::new(), fed, messages, reset_each),
    }
}

// --- State per stream ---------------------------------------------------------------------

/// What one stream holds: inline (`size_of`), on the heap (counted), in caller storage.
struct Footprint {
    inline: usize,
    heap: isize,
    caller: usize,
}

impl Footprint {
    fn cell(&self) -> String {
        let total = self.inline as isize + self.heap + self.caller as isize;
        let caller = if self.caller > 0 {
            format!(" + {} caller's window", self.caller)
        } else {
            String::new()
        };
        format!(
            "{total} B ({} inline + {} heap{caller})",
            self.inline, self.heap
        )
    }
}

fn miniz_inflate_state() -> Footprint {
    let (_state, heap) = heap_held(DecompressorOxide::new);
    Footprint {
        inline: size_of::<DecompressorOxide>(),
        heap,
        caller: WINDOW,
    }
}

fn miniz_deflate_state() -> Footprint {
    let (_deflater, heap) = heap_held(|| MinizDeflater::new(6));
    Footprint {
        inline: size_of::<MinizDeflater>(),
        heap,
        caller: 0,
    }
}

fn zlib_inflate_state(window_bits: u8) -> Footprint {
    let (_stream, heap) = heap_held(|| Inflate::new(false, window_bits));
    // zlib-rs allocates through Rust's global allocator when its `std` feature is on (the
    // default); a zero here would mean it went to malloc, past the counter.
    assert!(heap > 0, "{ZLIB_RS}: inflate allocation not counted");
    Footprint {
        inline: size_of::<Inflate>(),
        heap,
        caller: 0,
    }
}

fn zlib_deflate_state() -> Footprint {
    let (_deflater, heap) = heap_held(|| ZlibDeflater::new(6));
    assert!(heap > 0, "{ZLIB_RS}: deflate allocation not counted");
    Footprint {
        inline: size_of::<ZlibDeflater>(),
        heap,
        caller: 0,
    }
}

// --- Tables -------------------------------------------------------------------------------

fn context(reset_each: bool) -> &'static str {
    if reset_each {
        "no context takeover"
    } else {
        "context takeover"
    }
}

/// The share of messages whose (first) block uses the fixed Huffman codes: each message
/// starts a block at a byte boundary (the previous one ended with a sync flush), and bits 1-2
/// of its first byte are the block type (RFC 1951 §3.2.3: 01 fixed, 10 dynamic).
fn fixed_share(wire: &Packed) -> f64 {
    let fixed = wire.iter().filter(|m| (m[0] >> 1) & 0b11 == 0b01).count();
    100.0 * fixed as f64 / wire.ends.len() as f64
}

/// One table row per engine: rate per message and per byte, the compressed size and the
/// share of fixed-code blocks of the messages that engine compressed (`wires[i]`) or
/// inflated (the same for both), and the rate against the other engine of the same rounds.
fn print_rows(step: &str, times: &[Duration], bytes: usize, wires: [&Packed; 2]) {
    for (i, engine) in Engine::BOTH.into_iter().enumerate() {
        let secs = times[i].as_secs_f64();
        println!(
            "| {step} | {} | {:.2} M msg/s | {:.0} MB/s | {:.3} | {:.0}% | {:.2}x |",
            engine.name(),
            COUNT as f64 / secs / 1e6,
            bytes as f64 / secs / 1e6,
            wires[i].bytes.len() as f64 / bytes as f64,
            fixed_share(wires[i]),
            times[1 - i].as_secs_f64() / secs,
        );
    }
}

/// Compress the corpus with both engines; prints the rows and returns each engine's
/// payloads (from the untimed first run, the same bytes every run gives).
fn compress_rows(runs: usize, messages: &[String], level: u8, reset: bool) -> [Packed; 2] {
    let mut wires = [Packed::default(), Packed::default()];
    for (engine, wire) in Engine::BOTH.into_iter().zip(&mut wires) {
        compress_with(engine, level, messages, reset, wire);
    }
    let mut scratch = [Packed::default(), Packed::default()];
    let [miniz, zlib] = &mut scratch;
    let mut jobs: Vec<Box<dyn FnMut() + '_>> = vec![
        Box::new(|| compress_with(Engine::Miniz, level, messages, reset, miniz)),
        Box::new(|| compress_with(Engine::ZlibRs, level, messages, reset, zlib)),
    ];
    let times = crate::medians(runs, &mut jobs);
    drop(jobs);
    for (wire, again) in wires.iter().zip(&scratch) {
        assert!(
            wire.bytes == again.bytes,
            "compressed output changed between runs"
        );
    }
    let bytes = messages.iter().map(String::len).sum();
    let step = format!("compress, {}, level {level}", context(reset));
    print_rows(&step, &times, bytes, wires.each_ref());
    wires
}

/// Inflate `wire` (compressed by `source`) with both engines, each checked untimed first.
fn inflate_rows(runs: usize, messages: &[String], source: Engine, wire: &Packed, reset: bool) {
    let fed = &with_tails(wire);
    for engine in Engine::BOTH {
        inflate_with(engine, fed, messages, reset);
    }
    let mut jobs: Vec<Box<dyn FnMut() + '_>> = Engine::BOTH
        .into_iter()
        .map(|engine| {
            Box::new(move || inflate_with(engine, fed, messages, reset)) as Box<dyn FnMut()>
        })
        .collect();
    let times = crate::medians(runs, &mut jobs);
    let bytes = messages.iter().map(String::len).sum();
    let step = format!("inflate {} level 6, {}", source.name(), context(reset));
    print_rows(&step, &times, bytes, [wire; 2]);
}

fn state_table() {
    println!("\n### State per stream (15-bit window; counted with the benchmark's allocator)\n");
    println!(
        "| engine | inflate | deflate (level 6) | inflates into caller storage, no allocator |"
    );
    println!("|---|---:|---:|---|");
    println!(
        "| {MINIZ} | {} | {} | yes: `decompress_with_limit` writes into any power-of-two `&mut [u8]` window; `DecompressorOxide` is a plain value (no_std without `alloc`) |",
        miniz_inflate_state().cell(),
        miniz_deflate_state().cell(),
    );
    println!(
        "| {ZLIB_RS} | {} | {} | no: `Inflate::new` allocates state and its own window through the Rust or C allocator (without either feature it panics); only the C-style `z_stream` takes caller `zalloc`/`zfree`, and the output is still copied into that internal window |",
        zlib_inflate_state(WINDOW_BITS).cell(),
        zlib_deflate_state().cell(),
    );
    println!(
        "\n{ZLIB_RS} inflate with 10 window bits: {} (it allocates a 32 KiB window whatever the bits; miniz_oxide's caller window can be 1 KiB then).",
        zlib_inflate_state(10).cell()
    );
}

pub fn table(runs: usize) {
    let messages = chat_messages(COUNT);
    let text_bytes: usize = messages.iter().map(String::len).sum();
    println!(
        "\n## DEFLATE engines per message, raw DEFLATE, 15-bit window: JSON chat ({COUNT} messages, {:.0} B average; median of {runs})\n",
        text_bytes as f64 / COUNT as f64
    );
    println!(
        "MB/s: of messages in (compress) or out (inflate); compressed / text: payload bytes without the tail; fixed: messages whose block uses the fixed Huffman codes; vs other: this engine's rate over the other's, same rounds.\n"
    );
    println!("| step | engine | rate | MB/s | compressed / text | fixed | vs other |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for reset in [false, true] {
        let wires = compress_rows(runs, &messages, 6, reset);
        compress_rows(runs, &messages, 1, reset);
        for (source, wire) in Engine::BOTH.into_iter().zip(&wires) {
            inflate_rows(runs, &messages, source, wire, reset);
        }
    }
    state_table();
}
