//! The five receive workloads of BENCH.md, as one buffer of masked client frames each, and
//! the tally every implementation must reproduce from them.

/// Message-relative offsets sampled into the checksum: every byte at a multiple of this,
/// plus the last byte of each message. Independent of how a message is cut into pieces.
const STRIDE: u64 = 4096;

/// What an implementation delivered: messages, payload bytes, and a checksum of sampled
/// payload bytes (so that skipping the unmasking or dropping data shows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub messages: u64,
    pub bytes: u64,
    pub sum: u64,
}

/// Builds a [`Tally`] from delivered pieces, whatever their size.
#[derive(Default)]
pub struct Counter {
    pub tally: Tally,
    offset: u64,
    last: u8,
}

impl Counter {
    /// A piece of the current message (in order).
    #[inline]
    pub fn piece(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut i = ((STRIDE - self.offset % STRIDE) % STRIDE) as usize;
        while i < data.len() {
            self.tally.sum = self
                .tally
                .sum
                .wrapping_mul(31)
                .wrapping_add(u64::from(data[i]));
            i += STRIDE as usize;
        }
        self.offset += data.len() as u64;
        self.tally.bytes += data.len() as u64;
        self.last = data[data.len() - 1];
    }

    /// The current message is complete.
    #[inline]
    pub fn end(&mut self) {
        self.tally.sum = self
            .tally
            .sum
            .wrapping_mul(31)
            .wrapping_add(u64::from(self.last) + 1);
        self.tally.messages += 1;
        self.offset = 0;
        self.last = 0;
    }

    /// A whole message.
    #[inline]
    pub fn message(&mut self, data: &[u8]) {
        self.piece(data);
        self.end();
    }
}

pub struct Workload {
    pub name: &'static str,
    /// The wire bytes: masked client frames.
    pub input: Vec<u8>,
    /// Payload bytes (for GB/s).
    pub payload_bytes: u64,
    pub expected: Tally,
    /// Counted in messages per second rather than bytes per second.
    pub per_message: bool,
    pub text: bool,
}

/// xorshift64*: deterministic, fast, good enough for test data and masks.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Append one masked frame (the client's encoding, RFC 6455 §5.2) to `out`.
pub fn push_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.push(u8::from(fin) << 7 | opcode);
    let len = payload.len();
    if len <= 125 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

pub const MIB: usize = 1 << 20;
pub const SMALL_COUNT: usize = 1_000_000;
pub const LARGE_COUNT: usize = 64;
pub const FRAGMENTS: usize = 64;

fn ascii_message(rng: &mut XorShift) -> Vec<u8> {
    const ALPHABET: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_()[]{}\"'";
    (0..MIB)
        .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
        .collect()
}

/// 1 MiB of text in words: Cyrillic words (2-byte characters), ASCII words and 4-byte
/// emoji, mixed as in a chat, padded with ASCII.
fn mixed_message(rng: &mut XorShift) -> Vec<u8> {
    let mut text = String::with_capacity(MIB);
    let mut word = String::new();
    loop {
        word.clear();
        let letters = 2 + rng.next() % 9;
        match rng.next() % 10 {
            0..=5 => (0..letters).for_each(|_| {
                word.push(char::from_u32(0x0430 + (rng.next() % 32) as u32).unwrap())
            }),
            6..=8 => (0..letters).for_each(|_| word.push((b'a' + (rng.next() % 26) as u8) as char)),
            _ => (0..1 + rng.next() % 2).for_each(|_| {
                word.push(char::from_u32(0x1F600 + (rng.next() % 80) as u32).unwrap())
            }),
        }
        word.push(if rng.next().is_multiple_of(8) {
            '.'
        } else {
            ' '
        });
        if text.len() + word.len() > MIB {
            break;
        }
        text.push_str(&word);
    }
    while text.len() < MIB {
        text.push(' ');
    }
    text.into_bytes()
}

fn build(
    name: &'static str,
    messages: &[Vec<u8>],
    opcode: u8,
    fragments: usize,
    per_message: bool,
) -> Workload {
    let mut rng = XorShift(0x5EED_0000 ^ name.len() as u64);
    let mut input = Vec::new();
    let mut counter = Counter::default();
    let mut payload_bytes = 0;
    for message in messages {
        counter.message(message);
        payload_bytes += message.len() as u64;
        let piece = message.len().div_ceil(fragments).max(1);
        let pieces: Vec<&[u8]> = message.chunks(piece).collect();
        for (i, data) in pieces.iter().enumerate() {
            let key = (rng.next() as u32).to_ne_bytes();
            let op = if i == 0 { opcode } else { 0 };
            push_frame(&mut input, i + 1 == pieces.len(), op, data, key);
        }
    }
    Workload {
        name,
        input,
        payload_bytes,
        expected: counter.tally,
        per_message,
        text: opcode == 1,
    }
}

pub fn all() -> Vec<Workload> {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    let small: Vec<Vec<u8>> = (0..SMALL_COUNT)
        .map(|_| (0..16).map(|_| rng.next() as u8).collect())
        .collect();
    let large: Vec<Vec<u8>> = (0..LARGE_COUNT)
        .map(|_| (0..MIB).map(|_| rng.next() as u8).collect())
        .collect();
    let ascii: Vec<Vec<u8>> = (0..LARGE_COUNT).map(|_| ascii_message(&mut rng)).collect();
    let mixed: Vec<Vec<u8>> = (0..LARGE_COUNT).map(|_| mixed_message(&mut rng)).collect();
    // 16 KiB fragments of a mixed message split characters: check that some do.
    assert!(
        mixed[0]
            .chunks(MIB / FRAGMENTS)
            .any(|f| std::str::from_utf8(f).is_err())
    );
    vec![
        build("small", &small, 2, 1, true),
        build("large", &large, 2, 1, false),
        build("text_ascii", &ascii, 1, 1, false),
        build("text_utf8", &mixed, 1, 1, false),
        build("frag_utf8", &mixed, 1, FRAGMENTS, false),
    ]
}
