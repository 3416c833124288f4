//! A connection's bounded outgoing queue: the bytes the socket did not take yet.
//!
//! Everything for a connection is encoded straight into it (no second copy), and the
//! event loop writes it out once per turn, so that the messages of a busy room leave in
//! one `write` rather than one each. When the socket took everything the memory is given
//! back: an idle connection holds no buffer at all. A small buffer given back is kept for
//! the next connection that queues something (a few of them, per thread), so that a
//! message to a mostly idle connection does not cost an allocation and a free.

use std::cell::RefCell;
use std::io::{self, ErrorKind, Write};

/// At most this many bytes wait for one connection (beyond what the kernel's socket
/// buffer holds). A client that lets more pile up is not reading: it is disconnected.
pub const LIMIT: usize = 256 * 1024;

/// The queue is full: the client must go.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// At most this many emptied buffers are kept, per thread...
const SPARES: usize = 64;
/// ...each of at most this many bytes: larger ones (a page, a long history) are freed.
const SPARE_CAPACITY: usize = 4096;

thread_local! {
    /// Emptied buffers, for the next connections that queue something.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An emptied buffer, if one is kept.
fn take_spare() -> Option<Vec<u8>> {
    SPARE.with(|spare| spare.borrow_mut().pop())
}

/// Keep `bytes` (emptied) for the next connection, if it is small and few are kept (also
/// the bytes of a completed send on io_uring, which [`Outbox::take`] handed over).
pub fn give_back(mut bytes: Vec<u8>) {
    if bytes.capacity() == 0 || bytes.capacity() > SPARE_CAPACITY {
        return;
    }
    bytes.clear();
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARES {
            spare.push(bytes);
        }
    });
}

#[derive(Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    /// `bytes[..sent]` are already written.
    sent: usize,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.sent == self.bytes.len()
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.bytes.len() - self.sent
    }

    /// Let `encode` write at most `max` bytes at the end of the queue; it returns how many
    /// it wrote, or an error that leaves the queue as it was. `Err(Full)` if `max` more
    /// bytes could exceed the limit.
    pub fn encode<E>(
        &mut self,
        max: usize,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<Result<usize, E>, Full> {
        if self.len() + max > LIMIT {
            return Err(Full);
        }
        if self.sent > 0 && self.sent >= self.bytes.len() / 2 {
            // Most of it went out: move the rest to the front rather than grow.
            self.bytes.drain(..self.sent);
            self.sent = 0;
        }
        if self.bytes.capacity() == 0 {
            if let Some(spare) = take_spare() {
                self.bytes = spare;
            }
        }
        let start = self.bytes.len();
        self.bytes.resize(start + max, 0);
        let written = encode(&mut self.bytes[start..]);
        self.bytes.truncate(start + *written.as_ref().unwrap_or(&0));
        Ok(written)
    }

    /// Take the bytes waiting, to write them some other way (a send in flight on
    /// io_uring, which must own them until it completes); the queue is left empty. No copy
    /// unless part of it was written already.
    #[cfg_attr(
        not(all(target_os = "linux", target_pointer_width = "64")),
        allow(dead_code)
    )]
    pub fn take(&mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.drain(..self.sent);
        self.sent = 0;
        bytes
    }

    /// Write as much as `socket` takes. `Ok(true)`: all of it went.
    pub fn flush(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        while !self.is_empty() {
            match socket.write(&self.bytes[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Give the memory back: most connections are idle most of the time.
        give_back(std::mem::take(&mut self.bytes));
        self.sent = 0;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes `room` bytes, then would block.
    struct Socket {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Socket {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room).min(7);
            if n == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn push(outbox: &mut Outbox, bytes: &[u8]) -> Result<(), Full> {
        outbox
            .encode(bytes.len() + 5, |out| {
                out[..bytes.len()].copy_from_slice(bytes);
                Ok::<_, ()>(bytes.len())
            })
            .map(|written| assert_eq!(written, Ok(bytes.len())))
    }

    #[test]
    fn keeps_what_the_socket_did_not_take_in_order() {
        let mut outbox = Outbox::default();
        let mut socket = Socket {
            room: 10,
            got: Vec::new(),
        };
        push(&mut outbox, b"hello ").unwrap();
        push(&mut outbox, b"world").unwrap();
        assert!(!outbox.flush(&mut socket).unwrap());
        assert_eq!(outbox.len(), 1);
        push(&mut outbox, b"!").unwrap();
        socket.room = 100;
        assert!(outbox.flush(&mut socket).unwrap());
        assert_eq!(socket.got, b"hello world!");
        assert!(outbox.is_empty() && outbox.bytes.capacity() == 0);
    }

    #[test]
    fn a_failed_encode_leaves_nothing() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.encode(10, |_| Err::<usize, _>("no")), Ok(Err("no")));
        assert_eq!(outbox.bytes.len(), 0);
        assert!(outbox.is_empty());
    }

    #[test]
    fn take_hands_over_what_was_not_written() {
        let mut outbox = Outbox::default();
        let mut socket = Socket {
            room: 7,
            got: Vec::new(),
        };
        push(&mut outbox, b"hello world").unwrap();
        assert!(!outbox.flush(&mut socket).unwrap());
        assert_eq!(outbox.take(), b"orld");
        assert!(outbox.is_empty());
        push(&mut outbox, b"again").unwrap();
        assert_eq!(outbox.take(), b"again");
        assert_eq!(outbox.take(), b"");
    }

    #[test]
    fn an_emptied_small_buffer_serves_the_next_connection_and_a_big_one_is_freed() {
        // (Each test runs on a thread of its own: the spares here are this test's.)
        let mut socket = Socket {
            room: usize::MAX,
            got: Vec::new(),
        };
        let mut first = Outbox::default();
        push(&mut first, b"hello").unwrap();
        let buffer = first.bytes.as_ptr();
        assert!(first.flush(&mut socket).unwrap());
        assert_eq!(first.bytes.capacity(), 0);
        let mut second = Outbox::default();
        push(&mut second, b"again").unwrap();
        assert_eq!(second.bytes.as_ptr(), buffer);
        assert_eq!(&second.bytes[..], b"again");
        assert!(second.flush(&mut socket).unwrap());
        assert_eq!(socket.got, b"helloagain");
        // Bounded: a big buffer is not kept, nor more than SPARES small ones.
        push(&mut first, &vec![3; SPARE_CAPACITY + 1]).unwrap();
        assert!(first.flush(&mut socket).unwrap());
        // (It took the spare, grew past the bound, and went.)
        assert_eq!(SPARE.with(|spare| spare.borrow().len()), 0);
        for _ in 0..SPARES + 10 {
            give_back(Vec::with_capacity(16));
        }
        let kept = SPARE.with(|spare| spare.borrow().iter().map(Vec::len).sum::<usize>());
        assert_eq!(SPARE.with(|spare| spare.borrow().len()), SPARES);
        assert_eq!(kept, 0, "kept buffers are empty");
    }

    #[test]
    fn refuses_to_grow_past_the_limit() {
        let mut outbox = Outbox::default();
        let big = vec![1u8; LIMIT - 100];
        push(&mut outbox, &big).unwrap();
        assert_eq!(push(&mut outbox, &[2; 200]), Err(Full));
        assert_eq!(outbox.len(), LIMIT - 100);
    }
}
