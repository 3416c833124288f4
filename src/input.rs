//! An input buffer over caller storage that does the bookkeeping every caller would
//! otherwise write: where to read into, what was used, and the unused tail kept for the
//! next read (rustls's "discard" count and smoltcp's caller-owned buffers, as one type).

use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::error::UsageError;
use crate::event::Event;
use crate::frame::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
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
            storage.copy_within(self.start..self.end, 0);
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
    #[inline]
    pub fn receive<E: Endpoint + ?Sized>(
        &mut self,
        endpoint: &mut E,
        now: Instant,
    ) -> Result<Option<Event<'_>>, UsageError> {
        let storage = self.storage.as_mut();
        let received = endpoint.receive(&mut storage[self.start..self.end], now)?;
        self.start += received.consumed;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(received.event)
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
}
