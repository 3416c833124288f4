//! An input buffer over caller storage that does the bookkeeping every caller would
//! otherwise write: where to read into, what was used, and the unused tail kept for the
//! next read (rustls's "discard" count and smoltcp's caller-owned buffers, as one type).

use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::error::UsageError;
use crate::event::{EventOf, Received};
use crate::frame::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::target::COMPACT_CODE;
use crate::time::Instant;

/// The smallest input buffer that can never stall: a control frame is handed out only
/// whole (RFC 6455 §5.5: at most 125 bytes of payload, with a 6-byte masked header, so
/// 131 bytes), while data frames stream through in pieces of any size. The unused tail
/// left after `receive` returns no event is always shorter than this (a partial frame
/// header, a partial control frame), except during the handshake, when it is a partial
/// HTTP head, which is why [`InputBuffer::new`] also asks for
/// [`Config::max_head_len`].
pub const MIN_INPUT_BUFFER: usize = 6 + MAX_CONTROL_PAYLOAD;

const _: () = assert!(MIN_INPUT_BUFFER > MAX_HEADER_LEN);

/// Received bytes waiting to be used, in caller storage (`[u8; N]`, `&mut [u8]`,
/// `Vec<u8>`, `Box<[u8]>`...).
///
/// Read into [`read_space`](Self::read_space), report the count with
/// [`commit`](Self::commit), then call [`receive`](Self::receive) until it gives no
/// event. Whatever the endpoint could not use yet (a partial frame or head) is kept and
/// moved to the front before the next read.
///
/// ```
/// use sockless::{Config, Endpoint, Event, InputBuffer, Instant, Server};
/// let now = Instant::ZERO;
/// let config = Config::default();
/// let mut server = Server::new(config, now);
/// let mut input = InputBuffer::new([0u8; 8192], &config)?;
/// let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
/// // As a socket read would: into the free space, then commit the count.
/// input.read_space()[..request.len()].copy_from_slice(request);
/// input.commit(request.len());
/// let event = input.receive(&mut server, now)?;
/// assert!(matches!(event, Some(Event::Request(r)) if !r.is_upgrade()));
/// # Ok::<(), sockless::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct InputBuffer<S> {
    storage: S,
    /// Bytes `start..end` of the storage are received and not used yet.
    start: usize,
    end: usize,
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> InputBuffer<S> {
    /// An empty buffer for an endpoint that runs the HTTP/1.1 handshake: `storage` must
    /// hold at least [`MIN_INPUT_BUFFER`] bytes and a whole head of
    /// [`Config::max_head_len`] bytes, else [`UsageError::InputBufferTooSmall`].
    pub fn new(storage: S, config: &Config) -> Result<Self, UsageError> {
        Self::with_minimum(storage, MIN_INPUT_BUFFER.max(config.max_head_len))
    }

    /// An empty buffer for a [`Connection`](crate::Connection) that is already open (no
    /// head to read): `storage` must hold at least [`MIN_INPUT_BUFFER`] bytes.
    pub fn for_frames(storage: S) -> Result<Self, UsageError> {
        Self::with_minimum(storage, MIN_INPUT_BUFFER)
    }

    fn with_minimum(storage: S, minimum: usize) -> Result<Self, UsageError> {
        if storage.as_ref().len() < minimum {
            return Err(UsageError::InputBufferTooSmall);
        }
        Ok(InputBuffer {
            storage,
            start: 0,
            end: 0,
        })
    }

    /// The free space to read into, after the kept bytes (which are first moved to the
    /// front). Never empty once `receive` has returned no event.
    pub fn read_space(&mut self) -> &mut [u8] {
        if self.start > 0 {
            let storage = self.storage.as_mut();
            if COMPACT_CODE {
                // Bare metal: a byte loop instead of `copy_within`, whose `memmove` alone
                // is 1.5 KB of flash on thumbv7em (`benches/flash`); it is the only
                // `memmove` an echo client links.
                move_to_front(storage, self.start, self.end);
            } else {
                storage.copy_within(self.start..self.end, 0);
            }
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.storage.as_mut()[self.end..]
    }

    /// Record that `n` bytes were read into [`read_space`](Self::read_space). A count
    /// larger than the space is cut to it.
    pub fn commit(&mut self, n: usize) {
        let capacity = self.storage.as_ref().len();
        self.end = self.end.saturating_add(n).min(capacity);
    }

    /// Copy as much of `bytes` as fits into the free space (for bytes that arrived some
    /// other way, such as those an HTTP library read past an upgrade); returns how many
    /// were taken.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let space = self.read_space();
        let n = bytes.len().min(space.len());
        space[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// Hand the buffered bytes to `endpoint` and return the next event, borrowing this
    /// buffer, or `None` when more input is needed. The bytes it used are dropped; the rest
    /// is kept.
    ///
    /// [`UsageError::InputBufferTooSmall`] instead of a silent stall if the endpoint needs
    /// more bytes than the whole buffer holds (a buffer made with
    /// [`for_frames`](Self::for_frames) given to an endpoint that reads a head longer
    /// than it); [`UsageError::DecisionPending`] from a server whose request waits.
    #[inline]
    pub fn receive<E: Endpoint + ?Sized>(
        &mut self,
        endpoint: &mut E,
        now: Instant,
    ) -> Result<Option<EventOf<'_, E::Phase>>, UsageError> {
        self.receive_with(|input| endpoint.receive(input, now))
    }

    /// [`receive`](Self::receive) through a permessage-deflate
    /// [`Inflater`](crate::deflate::Inflater): compressed messages come out inflated (the
    /// inflater's own unconsumed bytes stay in this buffer, as it requires).
    #[cfg(feature = "deflate")]
    pub fn receive_inflating<'a, E: Endpoint + ?Sized, W: AsRef<[u8]> + AsMut<[u8]>>(
        &'a mut self,
        inflater: &'a mut crate::deflate::Inflater<W>,
        endpoint: &mut E,
        now: Instant,
    ) -> Result<Option<EventOf<'a, E::Phase>>, UsageError> {
        self.receive_with(|input| inflater.receive(endpoint, input, now))
    }

    /// Feed the unused bytes to `receive`, which returns how many it used and a value
    /// that borrows nothing (the [`Driver`](crate::driver::Driver) turns an event into a
    /// handle there); advance past them. As [`receive_with`](Self::receive_with), an
    /// input that fills the storage and gives nothing is
    /// [`UsageError::InputBufferTooSmall`].
    pub(crate) fn receive_owned<T>(
        &mut self,
        receive: impl FnOnce(&mut [u8]) -> Result<(usize, Option<T>), UsageError>,
    ) -> Result<Option<T>, UsageError> {
        let storage = self.storage.as_mut();
        let capacity = storage.len();
        let (consumed, value) = receive(&mut storage[self.start..self.end])?;
        self.start += consumed;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if value.is_none() && self.end - self.start == capacity {
            return Err(UsageError::InputBufferTooSmall);
        }
        Ok(value)
    }

    /// Where the unused bytes start in the storage.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// Drop every unused byte.
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// [`receive`](Self::receive) through whatever stands between this buffer and the
    /// endpoint (an inflater of your own, a recorder): `receive` is given the buffered
    /// bytes and returns what was received from them, as
    /// [`Endpoint::receive`] does. The bytes it consumed are dropped; the rest is kept,
    /// with the same [`UsageError::InputBufferTooSmall`] check.
    #[inline]
    pub fn receive_with<'a, V>(
        &'a mut self,
        receive: impl FnOnce(&'a mut [u8]) -> Result<Received<'a, V>, UsageError>,
    ) -> Result<Option<V>, UsageError> {
        let storage = self.storage.as_mut();
        let capacity = storage.len();
        let received = receive(&mut storage[self.start..self.end])?;
        self.start += received.consumed;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if received.event.is_none() && self.end - self.start == capacity {
            return Err(UsageError::InputBufferTooSmall);
        }
        Ok(received.event)
    }

    /// The whole storage: the bytes received (used or not) and the free space. An event
    /// handed out borrows it, so where its bytes lie here tells where the event lies.
    pub fn storage(&self) -> &[u8] {
        self.storage.as_ref()
    }

    /// The received bytes not used yet.
    pub fn buffered(&self) -> &[u8] {
        &self.storage.as_ref()[self.start..self.end]
    }

    /// How many received bytes are not used yet.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether no received byte waits.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The size of the storage.
    pub fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// The storage back.
    pub fn into_inner(self) -> S {
        self.storage
    }

    /// Keep the received bytes not used yet in `storage` instead (moved to its front),
    /// and give the old storage back: for a caller that grows its buffer while a large
    /// message arrives, or gives it back while the connection waits. Refused, `storage`
    /// given back, if it is shorter than `minimum` or than those bytes.
    pub(crate) fn replace_storage(&mut self, mut storage: S, minimum: usize) -> Result<S, S> {
        let kept = self.end - self.start;
        if storage.as_ref().len() < minimum.max(kept) {
            return Err(storage);
        }
        storage.as_mut()[..kept].copy_from_slice(&self.storage.as_ref()[self.start..self.end]);
        self.start = 0;
        self.end = kept;
        Ok(core::mem::replace(&mut self.storage, storage))
    }
}

/// Move `storage[start..end]` to the front of `storage`, one byte at a time, forwards
/// (right when the bytes move down: each is read before it is overwritten).
fn move_to_front(storage: &mut [u8], start: usize, end: usize) {
    for i in 0..end - start {
        storage[i] = storage[start + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Connection;
    use crate::event::Event;
    use crate::server::{Accept, Server};

    /// The bare-metal compaction moves overlapping and disjoint tails alike.
    #[test]
    fn move_to_front_keeps_the_tail() {
        for (start, end) in [(0, 0), (1, 1), (1, 10), (3, 10), (5, 10), (9, 10), (10, 10)] {
            let mut storage: [u8; 10] = core::array::from_fn(|i| i as u8);
            let expected: std::vec::Vec<u8> = (start as u8..end as u8).collect();
            move_to_front(&mut storage, start, end);
            assert_eq!(&storage[..end - start], &expected[..], "{start}..{end}");
        }
    }
    use std::vec::Vec;

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    /// A masked frame from a client.
    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let key = [9, 8, 7, 6];
        let mut frame = std::vec![first, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    }

    /// The events a server gives for `stream`, read through a buffer of `capacity` bytes
    /// in reads of at most `read` bytes, accepting the upgrade; as strings.
    fn events(stream: &[u8], capacity: usize, read: usize) -> Vec<std::string::String> {
        use std::format;
        let config = Config::default().with_max_head_len(capacity.min(8192));
        let now = Instant::ZERO;
        let mut server = Server::new(config, now);
        let mut input = InputBuffer::new(std::vec![0u8; capacity], &config).unwrap();
        let mut out = [0u8; 512];
        let mut seen = Vec::new();
        let mut rest = stream;
        loop {
            while let Some(event) = input.receive(&mut server, now).unwrap() {
                seen.push(match event {
                    Event::Request(request) => {
                        server
                            .accept(&request, Accept::default(), now, &mut out)
                            .unwrap();
                        format!("request {}", request.path())
                    }
                    Event::Text(text) => format!("text {text}"),
                    Event::Chunk(chunk) => format!(
                        "chunk {:?} {}",
                        core::str::from_utf8(chunk.data).unwrap(),
                        chunk.last
                    ),
                    Event::Ping(payload) => format!("ping {payload:?}"),
                    other => format!("{other:?}"),
                });
            }
            if rest.is_empty() {
                return seen;
            }
            let space = input.read_space();
            assert!(!space.is_empty(), "the buffer stalled");
            let n = read.min(space.len()).min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            input.commit(n);
            rest = &rest[n..];
        }
    }

    /// Joins the pieces of chunked text, so that different cuts compare equal.
    fn joined(events: Vec<std::string::String>) -> Vec<std::string::String> {
        let mut out: Vec<std::string::String> = Vec::new();
        let mut text = std::string::String::new();
        for event in events {
            if let Some(piece) = event.strip_prefix("chunk ") {
                let (data, last) = piece.rsplit_once(' ').unwrap();
                text.push_str(data.trim_matches('"'));
                if last == "true" {
                    out.push(std::format!("text {}", core::mem::take(&mut text)));
                }
            } else {
                out.push(event);
            }
        }
        out
    }

    #[test]
    fn keeps_the_unused_tail_across_reads_of_every_size() {
        let mut stream = REQUEST.to_vec();
        stream.extend(masked(0x81, b"hello"));
        stream.extend(masked(0x89, b"ping!"));
        stream.extend(masked(0x01, b"frag"));
        stream.extend(masked(0x80, b"ments"));
        let whole = joined(events(&stream, 4096, stream.len()));
        assert_eq!(
            whole,
            [
                "request /chat",
                "text hello",
                "ping [112, 105, 110, 103, 33]",
                "text fragments"
            ]
        );
        for read in 1..stream.len() {
            for capacity in [REQUEST.len().max(MIN_INPUT_BUFFER), 4096] {
                assert_eq!(
                    joined(events(&stream, capacity, read)),
                    whole,
                    "read {read}, capacity {capacity}"
                );
            }
        }
    }

    #[test]
    fn refuses_storage_smaller_than_a_head_or_a_control_frame() {
        let config = Config::default();
        assert_eq!(
            InputBuffer::new([0u8; 8191], &config).err(),
            Some(UsageError::InputBufferTooSmall)
        );
        assert!(InputBuffer::new([0u8; 8192], &config).is_ok());
        let small = Config::default().with_max_head_len(64);
        assert_eq!(
            InputBuffer::new([0u8; MIN_INPUT_BUFFER - 1], &small).err(),
            Some(UsageError::InputBufferTooSmall)
        );
        assert!(InputBuffer::new([0u8; MIN_INPUT_BUFFER], &small).is_ok());
        assert_eq!(
            InputBuffer::for_frames([0u8; MIN_INPUT_BUFFER - 1]).err(),
            Some(UsageError::InputBufferTooSmall)
        );
    }

    #[test]
    fn a_head_larger_than_a_frames_buffer_is_an_error_not_a_stall() {
        let now = Instant::ZERO;
        let mut server = Server::new(Config::default(), now);
        let mut input = InputBuffer::for_frames([0u8; MIN_INPUT_BUFFER]).unwrap();
        let n = input.push(&[b'a'; 200]);
        assert_eq!(n, MIN_INPUT_BUFFER);
        assert_eq!(
            input.receive(&mut server, now).err(),
            Some(UsageError::InputBufferTooSmall)
        );
    }

    #[test]
    fn control_frames_fit_the_minimum_buffer() {
        let now = Instant::ZERO;
        let mut connection = Connection::server(&Config::default(), now);
        let mut input = InputBuffer::for_frames([0u8; MIN_INPUT_BUFFER]).unwrap();
        let ping = masked(0x89, &[7; 125]);
        assert_eq!(ping.len(), MIN_INPUT_BUFFER);
        for byte in ping {
            assert!(input.receive(&mut connection, now).unwrap().is_none());
            assert_eq!(input.push(&[byte]), 1);
        }
        let event = input.receive(&mut connection, now).unwrap();
        assert!(matches!(event, Some(Event::Ping(p)) if p == [7; 125]));
        assert!(input.is_empty());
    }

    #[test]
    fn commit_is_cut_to_the_space() {
        let mut input = InputBuffer::for_frames([0u8; MIN_INPUT_BUFFER]).unwrap();
        input.commit(usize::MAX);
        assert_eq!(input.len(), MIN_INPUT_BUFFER);
        assert!(input.read_space().is_empty());
        assert_eq!(input.capacity(), MIN_INPUT_BUFFER);
    }
}
