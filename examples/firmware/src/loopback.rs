//! A loopback network device of fixed size, for smoltcp: every IP packet sent comes back
//! as received, in order. smoltcp's own `phy::Loopback` keeps its queue in a `VecDeque`
//! (it needs an allocator); this one keeps `SLOTS` packets of at most `MTU` bytes in
//! arrays, so the firmware runs with no allocator at all.

use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The largest IP packet: Ethernet's MTU.
pub const MTU: usize = 1500;
/// Packets in flight at most; when the queue is full, smoltcp keeps the packet and tries
/// again at its next poll.
pub const SLOTS: usize = 4;

/// A FIFO of packets, plus the packet being received (copied out of the queue so that
/// smoltcp can transmit an answer while it reads it).
pub struct Loopback {
    queue: [[u8; MTU]; SLOTS],
    lens: [usize; SLOTS],
    head: usize,
    count: usize,
    current: [u8; MTU],
}

impl Loopback {
    /// An empty queue.
    pub const fn new() -> Self {
        Loopback {
            queue: [[0; MTU]; SLOTS],
            lens: [0; SLOTS],
            head: 0,
            count: 0,
            current: [0; MTU],
        }
    }
}

/// The packet being received.
pub struct RxToken<'a> {
    packet: &'a [u8],
}

/// Room for one packet at the tail of the queue.
pub struct TxToken<'a> {
    queue: &'a mut [[u8; MTU]; SLOTS],
    lens: &'a mut [usize; SLOTS],
    head: usize,
    count: &'a mut usize,
}

impl phy::Device for Loopback {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if self.count == 0 {
            return None;
        }
        let len = self.lens[self.head];
        self.current[..len].copy_from_slice(&self.queue[self.head][..len]);
        self.head = (self.head + 1) % SLOTS;
        self.count -= 1;
        let rx = RxToken {
            packet: &self.current[..len],
        };
        let tx = TxToken {
            queue: &mut self.queue,
            lens: &mut self.lens,
            head: self.head,
            count: &mut self.count,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        if self.count == SLOTS {
            return None;
        }
        Some(TxToken {
            queue: &mut self.queue,
            lens: &mut self.lens,
            head: self.head,
            count: &mut self.count,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(SLOTS);
        // The packets never leave memory: checksums are computed and checked anyway, as a
        // real interface would, to exercise the same code.
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.packet)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // A token exists only while the queue has a free slot (`transmit` checks; `receive`
        // has just freed one), and it is used once. smoltcp never asks for more than the MTU.
        let len = len.min(MTU);
        let tail = (self.head + *self.count) % SLOTS;
        let result = f(&mut self.queue[tail][..len]);
        self.lens[tail] = len;
        *self.count += 1;
        result
    }
}
