//! The fixed-capacity assembler: whole messages up to `N` bytes, with no allocator.

use super::{AssembleError, Assembler, Phase, Storage, WholeMessage};
use crate::config::Config;
use crate::event::Event;

impl<const N: usize> Storage for heapless::Vec<u8, N> {
    fn clear(&mut self) {
        heapless::Vec::clear(self);
    }

    fn append(&mut self, data: &[u8]) -> Result<(), ()> {
        self.extend_from_slice(data).map_err(|_| ())
    }

    fn bytes(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Collects the pieces of each message ([`Event::Chunk`]) into `N` bytes of its own (a
/// [`heapless::Vec`], no allocator) and hands out whole messages, text as `&str`. Whole
/// [`Event::Text`] and [`Event::Binary`] pass straight through, borrowed from the event.
///
/// A message larger than `N` bytes is [`AssembleError::TooLarge`]: close the connection
/// with 1009 ([`AssembleError::close_code`]). The recommended setup makes that the
/// connection's own job instead: build the connection's [`Config`] with
/// [`configure`](Self::configure), and the connection fails any message over `N` bytes
/// with 1009 as soon as a frame header shows it, before the assembler can overflow.
///
/// The assembler is `N` bytes and a flag; put it where the connection lives (a `static`
/// cell, the task's state), not on a small stack.
///
/// ```
/// use sockless::assemble::{FixedAssembler, WholeMessage};
/// use sockless::{Config, Connection, Event, Instant, SendError, Server, Unmasked};
///
/// const MAX: usize = 1024;
/// // The connection refuses (1009) any message over MAX bytes.
/// let server = Server::new(FixedAssembler::<MAX>::configure(Config::default()), Instant::ZERO);
/// let assembler = FixedAssembler::<MAX>::new();
///
/// // For every event that `receive` hands out:
/// fn on_event(
///     assembler: &mut FixedAssembler<MAX>,
///     connection: &mut Connection<Unmasked>,
///     event: &Event<'_>,
///     now: Instant,
///     out: &mut [u8],
/// ) -> Result<usize, SendError> {
///     match assembler.push(event) {
///         Ok(Some(WholeMessage::Text(text))) => connection.send_text(text, out),
///         Ok(Some(WholeMessage::Binary(data))) => connection.send_binary(data, out),
///         Ok(None) => Ok(0), // a piece was kept, or not a data message
///         // Not with `configure`d limits; otherwise the message was too large: 1009.
///         Err(error) => connection.close(error.close_code(), "", now, out),
///     }
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct FixedAssembler<const N: usize> {
    inner: Assembler<heapless::Vec<u8, N>>,
}

impl<const N: usize> FixedAssembler<N> {
    /// The most bytes of one message this assembler holds: `N`.
    pub const CAPACITY: usize = N;

    /// An empty assembler.
    pub const fn new() -> Self {
        FixedAssembler {
            inner: Assembler {
                buffer: heapless::Vec::new(),
                phase: Phase::Idle,
            },
        }
    }

    /// `config` with [`max_message_len`](Config::max_message_len) lowered to `N` (kept if
    /// already lower), so that the connection fails a message over `N` bytes with 1009
    /// before this assembler sees too much of it. The recommended setup: with it,
    /// [`push`](Self::push) never returns [`AssembleError::TooLarge`].
    pub const fn configure(mut config: Config) -> Config {
        // A usize always fits in a u64 on the targets Rust supports.
        let limit = N as u64;
        if config.max_message_len > limit {
            config.max_message_len = limit;
        }
        config
    }

    /// Feed an event of the connection; feed every event, in the order `receive` handed
    /// them out. Returns the message it completes, if any:
    ///
    /// - [`Event::Text`] and [`Event::Binary`]: the message itself, borrowed from the
    ///   event (no copy).
    /// - [`Event::Chunk`]: the piece is copied into the assembler; the last piece gives
    ///   the whole message, borrowed from the assembler (text checked as UTF-8 once more,
    ///   without `unsafe`: an error, never binary, if it is not).
    /// - Anything else: `Ok(None)`, left to the caller.
    ///
    /// A message of more than `N` bytes, whole or in pieces, is
    /// [`AssembleError::TooLarge`] (close with 1009): the pieces collected are dropped,
    /// and the rest of that message's pieces give `Ok(None)`.
    pub fn push<'a, R, S, H>(
        &'a mut self,
        event: &Event<'a, R, S, H>,
    ) -> Result<Option<WholeMessage<'a>>, AssembleError> {
        self.inner.push(event, N)
    }
}
