//! Fixtures shared by the integration tests (through `tests/common`) and the fuzz targets
//! (`fuzz/src/lib.rs` includes this file by path): a deterministic randomness source, the
//! 101 a correct server gives to a client's request, a decoder, written by hand, of the
//! frames an endpoint wrote, and small helpers over the public [`Endpoint`] trait. Only `sockless` and `std` are used here, so that both
//! crates (and the benchmarks, for the randomness source) can compile it.

use core::convert::Infallible;

use sockless::{Endpoint, Instant, Masking, Role, SendError, Server};

/// A deterministic xorshift generator, so that every run can be reproduced (never for real
/// use: masks must be unpredictable). The seed must not be 0.
#[derive(Clone, Debug)]
pub struct TestRng(pub u64);

impl TestRng {
    /// The next 64 bits (xorshift64).
    #[inline]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

impl sockless::rand_core::TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.next() as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for byte in dst {
            *byte = self.next() as u8;
        }
        Ok(())
    }
}

/// The seed every client is made with, so that its key (and so the accept value a valid
/// response must carry) is the same in every run.
pub const RNG_SEED: u64 = 0x2545_f491_4f6c_dd1d;

pub fn rng() -> TestRng {
    TestRng(RNG_SEED)
}

/// The `Sec-WebSocket-Key` value in a request head.
pub fn key_of(request: &[u8]) -> Vec<u8> {
    let text = core::str::from_utf8(request).expect("request is ASCII");
    text.split("\r\n")
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("key")
        .trim()
        .as_bytes()
        .to_vec()
}

/// The 101 response a correct server gives to `request` (the client's request bytes),
/// with `extra` header lines.
pub fn response_for(request: &[u8], extra: &str) -> Vec<u8> {
    let accept = sockless::handshake::accept_value(&key_of(request));
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
        core::str::from_utf8(&accept).unwrap()
    )
    .into_bytes()
}

/// A frame decoded by hand from an endpoint's output, payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
    /// The length field used the shortest form.
    pub minimal: bool,
}

/// Decode every frame in `bytes`, which must hold whole frames.
pub fn wire_frames(bytes: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes.len() - i >= 2, "truncated frame header");
        let (b0, b1) = (bytes[i], bytes[i + 1]);
        i += 2;
        let (len, minimal) = match b1 & 0x7f {
            126 => {
                let len = u16::from_be_bytes([bytes[i], bytes[i + 1]]) as usize;
                i += 2;
                (len, len >= 126)
            }
            127 => {
                let len = u64::from_be_bytes(bytes[i..i + 8].try_into().unwrap());
                i += 8;
                (len as usize, len > 0xFFFF && len >> 63 == 0)
            }
            short => (short as usize, true),
        };
        let masked = b1 & 0x80 != 0;
        let key = if masked {
            let key: [u8; 4] = bytes[i..i + 4].try_into().unwrap();
            i += 4;
            Some(key)
        } else {
            None
        };
        let mut payload = bytes[i..i + len].to_vec();
        if let Some(key) = key {
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(j, b)| *b ^= key[j % 4]);
        }
        i += len;
        frames.push(WireFrame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0x0f,
            masked,
            payload,
            minimal,
        });
    }
    frames
}

/// Whether the frames `endpoint` receives must be masked (it is a server, RFC 6455 §5.1).
pub fn expects_masked<E: Endpoint + ?Sized>(_endpoint: &E) -> bool {
    <E::Masking as Masking>::ROLE == Role::Server
}

/// Server: accept `request` with no subprotocol and return the 101's length. Client:
/// nothing to do (0).
pub fn accept_request<E: Endpoint + 'static>(
    endpoint: &mut E,
    request: &sockless::Request<'_>,
    now: Instant,
    out: &mut [u8],
) -> Result<usize, SendError> {
    match (endpoint as &mut dyn std::any::Any).downcast_mut::<Server>() {
        Some(server) => server.accept(request, sockless::Accept::default(), now, out),
        None => Ok(0),
    }
}
