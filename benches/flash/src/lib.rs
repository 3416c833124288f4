//! What both echo clients share: the stub transport, the clock, a tiny deterministic RNG
//! and the panic handler. The transport functions are `#[inline(never)]` and pass their
//! data through `black_box`, so nothing that uses them can be optimised away.

#![no_std]

use core::hint::black_box;

/// Where the echo client connects: ws://192.168.1.10:8080/echo, given as its parts, the
/// way embedded-websocket takes it (the `Host` header value and the path).
pub const HOST_NAME: &str = "192.168.1.10";
pub const PORT: u16 = 8080;
pub const HOST: &str = "192.168.1.10:8080";
pub const PATH: &str = "/echo";

/// Read received bytes into `buf`; returns how many (the stub says: some unknown number).
#[inline(never)]
pub fn transport_read(buf: &mut [u8]) -> usize {
    black_box(&mut *buf);
    black_box(buf.len())
}

/// Write `data` to the peer.
#[inline(never)]
pub fn transport_write(data: &[u8]) {
    black_box(data);
}

/// Milliseconds since boot.
#[inline(never)]
pub fn now_ms() -> u64 {
    black_box(0)
}

/// A seed from the hardware (a stub).
#[inline(never)]
pub fn seed() -> u32 {
    black_box(0x2545_F491)
}

/// xorshift32: the smallest RNG that will do for masks and the handshake key.
pub struct XorShift32(pub u32);

impl XorShift32 {
    #[inline]
    pub fn step(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    pub fn fill(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(4) {
            let bytes = self.step().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// rand_core 0.10, for sockless (re-exported as `sockless::rand_core`).
impl sockless::rand_core::TryRng for XorShift32 {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.step())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from(self.step()) << 32 | u64::from(self.step()))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dst);
        Ok(())
    }
}

/// rand_core 0.6, for embedded-websocket.
impl rand_core06::RngCore for XorShift32 {
    fn next_u32(&mut self) -> u32 {
        self.step()
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.step()) << 32 | u64::from(self.step())
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.fill(dst);
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rand_core06::Error> {
        self.fill(dst);
        Ok(())
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
