//! A connection's bounded outgoing queue: the bytes the socket did not take yet.
//!
//! Everything for a connection is encoded straight into it (no second copy), and the
//! event loop writes it out once per turn, so that the messages of a busy room leave in
//! one `write` rather than one each. When the socket took everything the memory is given
//! back: an idle connection holds no buffer at all.

use std::io::{self, ErrorKind, Write};

/// At most this many bytes wait for one connection (beyond what the kernel's socket
/// buffer holds). A client that lets more pile up is not reading: it is disconnected.
pub const LIMIT: usize = 256 * 1024;

/// The queue is full: the client must go.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

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
        *self = Outbox::default();
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
    fn refuses_to_grow_past_the_limit() {
        let mut outbox = Outbox::default();
        let big = vec![1u8; LIMIT - 100];
        push(&mut outbox, &big).unwrap();
        assert_eq!(push(&mut outbox, &[2; 200]), Err(Full));
        assert_eq!(outbox.len(), LIMIT - 100);
    }
}
