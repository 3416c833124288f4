//! A WebSocket over [`embedded_io_async::Read`] + [`Write`] (feature `embedded-io-async`),
//! for embassy and other `no_std` async stacks: both roles, no allocation, every buffer
//! given by the caller, randomness from any [`rand_core::Rng`], and
//! time from the caller's [`Timer`].
//!
//! A thin layer over the [`driver`](crate::driver): the driver's [`Core`] (the endpoint
//! and the output staging) lives in the [`WebSocket`], its input in the caller's
//! [`ReadBuffer`]; this module only reads, writes, flushes and sleeps where the driver's
//! [`Step`]s say. Which bytes go out first, which deadline comes next, when the peer is
//! given up and how a close ends are the driver's rules, the same in every adapter.
//!
//! # Storage
//!
//! - A [`ReadBuffer`] over caller storage (`&mut [u8]`, `[u8; N]`...) of at least
//!   [`MIN_INPUT_BUFFER`](crate::MIN_INPUT_BUFFER) bytes and [`Config::max_head_len`] for a handshake. It is passed
//!   to each reading call rather than kept inside the [`WebSocket`], so that an event,
//!   which borrows it, can be answered at once: `ws.send_text(text)` while `text` borrows
//!   the buffer.
//! - An output buffer kept by the [`WebSocket`], of at least [`MIN_OUTPUT_BUFFER`] bytes
//!   (and large enough for the client's request): the driver stages frames there, small
//!   messages together. Messages larger than it are sent as several frames (fragments),
//!   so it does not limit the message size.
//! - Optionally a [`FixedAssembler`] for whole messages ([`WebSocket::read_message`]);
//!   without one, [`WebSocket::read`] hands out the pieces of a large message as they
//!   arrive ([`Event::Chunk`]), so no buffer ever needs to hold a whole message.
//! - For permessage-deflate (RFC 7692, feature `deflate`), a window for the inflater, given
//!   to the [`ReadBuffer`] with `ReadBuffer::with_inflater_window`: 2^bits bytes for the
//!   `receive_window_bits` offered ([`ClientRequest::with_deflate`]) or accepted
//!   (`Decision::accept_deflate`), 32 KiB by default, 1 KiB with 10 bits. It holds the
//!   inflated data, so events of compressed messages borrow it (a message larger than
//!   the window arrives as [`Event::Chunk`] pieces); the decompressor's state (about
//!   11 KB) lives in the `ReadBuffer` too. It is made when a handshake agrees on the
//!   extension, and may pass through the stack then: allow about 11 KB more stack for
//!   the handshake on a device whose stack is small. A window too small for the offer, or none, is
//!   [`UsageError::InvalidDeflateWindow`] before anything is sent. The UTF-8 check and
//!   [`Config::max_message_len`] apply to the inflated bytes: a decompression bomb is
//!   closed with 1009, corrupt data with 1007. What we send goes out uncompressed, as
//!   RFC 7692 §6 allows.
//!
//! # When bytes reach the transport
//!
//! Every sending method stages its frames and writes everything staged, then calls
//! [`Write::flush`] before it returns. What the protocol owes (the Pong to a Ping, the
//! echo of a Close, the Close that answers a violation, a keep-alive Ping) is written by
//! [`read`](WebSocket::read) before it hands out the event that caused it, and before it
//! waits for more bytes: `read` writes the Pong before it returns the Ping (RFC 6455
//! §5.5.2, §5.5.1).
//!
//! # Deadlines
//!
//! Every wait is bounded by the driver's next deadline: the handshake
//! ([`Config::handshake_timeout`], from when `connect` or `accept` is called), the
//! keep-alive Ping and its Pong ([`Config::keep_alive`], [`Config::keep_alive_timeout`]),
//! the closing handshake ([`Config::close_timeout`], from when our Close is staged), and
//! a peer that takes none of the bytes we owe it for [`Config::write_timeout`] (30 s by
//! default): it is given up with [`TimedOut::Write`](crate::TimedOut::Write). A deadline
//! that has passed is acted on before anything more is read, so a peer that floods frames
//! after our Close cannot hold the connection past the close timeout.
//!
//! # Cancel safety
//!
//! All the state of the connection lives in the [`WebSocket`]'s driver core (with its
//! output) and the [`ReadBuffer`] (with its inflater, in the middle of a compressed
//! message too), never in a future, so a call dropped at an `.await` (by `select`, or a
//! timeout around it) loses nothing, provided the transport's own [`Read::read`] and
//! [`Write::write`] are cancel-safe, as embedded-io-async asks of them: an event read but
//! not yet returned is returned by the next read, and a frame partly written is finished
//! before anything else is written. Each method says what is left when it is cancelled.
//! The handshakes (`connect`, `accept`) are the exception: their state lives in the
//! future, so drop the transport if one is cancelled.
//!
//! # Compression
//!
//! A client that offers permessage-deflate with a 1 KiB window and reads what arrives,
//! compressed or not, the same way:
//!
//! ```no_run
//! # #[cfg(feature = "deflate")]
//! # async fn demo<T, K, R>(transport: T, timer: K, rng: R) -> Result<(), Box<dyn core::error::Error>>
//! # where
//! #     T: embedded_io_async::Read + embedded_io_async::Write,
//! #     T::Error: core::error::Error + 'static,
//! #     K: sockless::io::embedded::Timer,
//! #     R: sockless::rand_core::Rng,
//! # {
//! use sockless::deflate::DeflateConfig;
//! use sockless::io::embedded::{ReadBuffer, WebSocket};
//! use sockless::{ClientRequest, Config, Event};
//!
//! let config = Config::default();
//! let mut rx = [0u8; 4096];
//! // The server is asked to compress within 2^10 bytes, so the window needs 1 KiB.
//! let mut window = [0u8; 1024];
//! let mut input = ReadBuffer::new(&mut rx[..], &config)?.with_inflater_window(&mut window[..])?;
//! let request = ClientRequest::from_url("ws://example.com/chat")?
//!     .with_deflate(DeflateConfig::default().with_receive_window_bits(10));
//! let output = [0u8; 512];
//! let mut ws =
//!     WebSocket::connect_request(transport, timer, output, &mut input, request, config, rng)
//!         .await?;
//! if let Event::Text(text) = ws.read(&mut input).await? {
//!     // Inflated (if it was compressed) in `window`.
//!     ws.send_text(text).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A server accepts the offer with `Decision::accept_deflate` given to
//! [`WebSocket::accept_with`], and a `ReadBuffer` with a window as large.
//!
//! # Time: plugging embassy-time
//!
//! sockless has no clock: a [`Timer`] gives the time and waits. With embassy-time, whose
//! instants count from boot:
//!
//! ```ignore
//! use sockless::io::embedded::Timer;
//! use sockless::{Duration, Instant};
//!
//! struct EmbassyTimer;
//!
//! impl Timer for EmbassyTimer {
//!     fn now(&self) -> Instant {
//!         Instant::from_elapsed(Duration::from_micros(embassy_time::Instant::now().as_micros()))
//!     }
//!
//!     async fn sleep_until(&mut self, deadline: Instant) {
//!         let elapsed = deadline.elapsed_since_epoch();
//!         let micros = elapsed
//!             .as_secs()
//!             .saturating_mul(1_000_000)
//!             .saturating_add(u64::from(elapsed.subsec_micros()));
//!         embassy_time::Timer::at(embassy_time::Instant::from_micros(micros)).await
//!     }
//! }
//! ```
//!
//! An embassy-net `TcpSocket` (or `&mut TcpSocket`, to keep it) is the transport once
//! `connect` or `accept` on the socket itself succeeded.
//!
//! # Example
//!
//! Both roles over an in-memory pipe, on tokio through `embedded-io-adapters` (the same
//! code runs on embassy with its socket and timer):
//!
//! ```
//! use embedded_io_adapters::tokio_1::FromTokio;
//! use sockless::io::embedded::{Timer, WebSocket, ReadBuffer};
//! use sockless::{CloseCode, Config, Event, Instant};
//!
//! /// Time from tokio's clock, counted from when the timer was made.
//! struct TokioTimer(tokio::time::Instant);
//!
//! impl Timer for TokioTimer {
//!     fn now(&self) -> Instant {
//!         Instant::from_elapsed(self.0.elapsed())
//!     }
//!     async fn sleep_until(&mut self, deadline: Instant) {
//!         tokio::time::sleep_until(self.0 + deadline.elapsed_since_epoch()).await
//!     }
//! }
//!
//! # /// A xorshift generator: not for real use.
//! # struct DemoRng(u32);
//! # impl sockless::rand_core::TryRng for DemoRng {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
//! #         self.0 ^= self.0 << 13;
//! #         self.0 ^= self.0 >> 17;
//! #         self.0 ^= self.0 << 5;
//! #         Ok(self.0)
//! #     }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
//! #         Ok(u64::from(self.try_next_u32()?) << 32 | u64::from(self.try_next_u32()?))
//! #     }
//! #     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//! #         for byte in dst {
//! #             *byte = self.try_next_u32()? as u8;
//! #         }
//! #         Ok(())
//! #     }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (client_side, server_side) = tokio::io::duplex(4096);
//! let config = Config::default();
//!
//! let server = async {
//!     let mut rx = [0u8; 8192];
//!     let mut input = ReadBuffer::new(&mut rx[..], &config)?;
//!     let transport = FromTokio::new(server_side);
//!     let timer = TokioTimer(tokio::time::Instant::now());
//!     let mut ws = WebSocket::accept(transport, timer, [0u8; 512], &mut input, config).await?;
//!     // Echo until the client closes.
//!     loop {
//!         match ws.read(&mut input).await? {
//!             Event::Text(text) => ws.send_text(text).await?,
//!             Event::Close(_) => return ws.close(&mut input, CloseCode::NORMAL, "").await,
//!             _ => {}
//!         }
//!     }
//! };
//!
//! let client = async {
//!     let mut rx = [0u8; 8192];
//!     let mut input = ReadBuffer::new(&mut rx[..], &config)?;
//!     let transport = FromTokio::new(client_side);
//!     let timer = TokioTimer(tokio::time::Instant::now());
//!     // Any rand_core::Rng: on a microcontroller, its random number generator.
//!     let rng = DemoRng(0x2545_f491);
//!     let url = "ws://example.com/chat";
//!     let mut ws = WebSocket::connect(transport, timer, [0u8; 512], &mut input, url, config, rng)
//!         .await?;
//!     ws.send_text("hello").await?;
//!     let Event::Text(echo) = ws.read(&mut input).await? else { panic!("not text") };
//!     assert_eq!(echo, "hello");
//!     ws.close(&mut input, CloseCode::NORMAL, "bye").await
//! };
//!
//! let (served, closed) = tokio::join!(server, client);
//! served.unwrap();
//! closed.unwrap();
//! # }
//! ```

#[cfg(feature = "deflate")]
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};

use crate::assemble::{AssembleError, FixedAssembler, WholeMessage};
use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::connection::{Connection, Masked, Masking, Role, State, Unmasked};
use crate::driver::{Core, End, EventKind, SendError, Step};
use crate::endpoint::Endpoint;
use crate::error::{ProtocolError, UsageError};
use crate::event::{Event, EventOf, MessageKind, OpenEvent};
use crate::frame::MAX_HEADER_LEN;
use crate::handshake::{ClientRequest, Request};
use crate::input::InputBuffer;
use crate::server::{Accept, Server};
use crate::time::Instant;
use crate::{Client, MIN_OUTPUT_BUFFER};

/// The caller's clock and delay: what the adapter needs of time, and nothing more, so that
/// it works with embassy-time, tokio or a hardware timer without depending on any.
///
/// Every [`Instant`] given to one connection must count from the same epoch (boot, the
/// start of the program...). See the [module documentation](self) for embassy-time.
// The futures are used where they are made (no `Send` bound is needed or promised), as
// embedded-io-async's own traits do.
#[allow(async_fn_in_trait)]
pub trait Timer {
    /// The current time on the caller's monotonic clock.
    fn now(&self) -> Instant;

    /// Wait until [`now`](Self::now) reaches `deadline` (at once if it has). The future is
    /// dropped when the transport is ready first, so dropping it must be harmless.
    async fn sleep_until(&mut self, deadline: Instant);
}

impl<K: Timer + ?Sized> Timer for &mut K {
    fn now(&self) -> Instant {
        (**self).now()
    }

    async fn sleep_until(&mut self, deadline: Instant) {
        (**self).sleep_until(deadline).await;
    }
}

/// What an operation of the adapter can fail with, `E` being the transport's error: the
/// one error type of every adapter ([`crate::io::Error`]). A clean close is not an error
/// until it is over: reading gives the peer's Close ([`Event::Close`]), then
/// [`Error::Closed`] once the connection has ended.
pub use super::Error;

/// A whole message or a control frame, as [`WebSocket::read_message`] hands it out,
/// borrowed from the [`ReadBuffer`] or the [`FixedAssembler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// A whole text message.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A Ping; the Pong was already written (unless [`Config::auto_pong`] is off).
    Ping(&'a [u8]),
    /// A Pong.
    Pong(&'a [u8]),
    /// The peer's Close; the answering Close was already written. Read on (or call
    /// [`close`](WebSocket::close)) until [`Error::Closed`] to let the connection end.
    Close(CloseFrame<'a>),
}

/// How [`WebSocket::accept_with`] answers a request: the core's
/// [`driver::Decision`](crate::driver::Decision), one type for every adapter.
/// [`Decision::default_for`] is what [`WebSocket::accept`] decides;
/// `Decision::accept_deflate` accepts permessage-deflate too.
pub use crate::driver::Decision;

/// The receive buffer: received bytes waiting to be used, in caller storage (`&mut [u8]`,
/// `[u8; N]`...), with the unused tail kept between reads. One per connection, given to
/// the handshake and then to every reading call of its [`WebSocket`]: it is the driver's
/// input, lent to each call.
///
/// It is kept apart from the [`WebSocket`] so that an event borrowing it can be answered
/// through the `WebSocket` at once (an echo is `ws.send_text(text)`).
///
/// `I` is what it inflates permessage-deflate messages (RFC 7692) with: [`NoInflater`]
/// (the default), or, with feature `deflate`, an `InflaterWindow` over caller storage
/// given with `ReadBuffer::with_inflater_window`. The inflater lives here, with the
/// bytes it works on, so that a cancelled read loses nothing of a message being
/// inflated, and an inflated event borrows the buffer as any other does.
#[derive(Clone, Debug)]
pub struct ReadBuffer<S, I = NoInflater> {
    /// The received bytes, those not used yet kept between reads: the driver's input.
    bytes: InputBuffer<S>,
    /// The rest of a message that did not fit the assembler is dropped.
    skipping: bool,
    /// permessage-deflate: the inflater, or nothing.
    inflater: I,
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> ReadBuffer<S> {
    /// An empty buffer for a connection that starts with the HTTP/1.1 handshake
    /// ([`WebSocket::connect`], [`WebSocket::accept`]): `storage` must hold at least
    /// [`MIN_INPUT_BUFFER`](crate::MIN_INPUT_BUFFER) bytes and a whole head of [`Config::max_head_len`] bytes, else
    /// [`UsageError::InputBufferTooSmall`].
    pub fn new(storage: S, config: &Config) -> Result<Self, UsageError> {
        InputBuffer::new(storage, config).map(Self::over)
    }

    /// An empty buffer for a connection whose handshake was done elsewhere
    /// ([`WebSocket::new`]): `storage` must hold at least [`MIN_INPUT_BUFFER`](crate::MIN_INPUT_BUFFER) bytes.
    pub fn for_frames(storage: S) -> Result<Self, UsageError> {
        InputBuffer::for_frames(storage).map(Self::over)
    }

    fn over(bytes: InputBuffer<S>) -> Self {
        ReadBuffer {
            bytes,
            skipping: false,
            inflater: NoInflater,
        }
    }

    /// This buffer with `window` (`[u8; N]`, `&mut [u8]`...) as the LZ77 window of a
    /// permessage-deflate inflater (RFC 7692), so that the connection can receive
    /// compressed messages without allocating: offer the extension with
    /// [`ClientRequest::with_deflate`] ([`WebSocket::connect_request`]), or accept it
    /// ([`Decision::accept_deflate`]).
    ///
    /// The window must hold 2^bits bytes for the window bits the peer may compress with
    /// (the `receive_window_bits` offered or accepted, 15 by default: 32 KiB); only the
    /// largest power of two it holds is used. It is checked against the offer before the
    /// handshake ([`UsageError::InvalidDeflateWindow`] if it is too small); here, only
    /// against the smallest window (256 bytes, 8 bits), else the same error. The
    /// decompressor's own state (about 11 KB) lives in the buffer too.
    #[cfg(feature = "deflate")]
    pub fn with_inflater_window<W: AsRef<[u8]> + AsMut<[u8]>>(
        self,
        window: W,
    ) -> Result<ReadBuffer<S, InflaterWindow<W>>, UsageError> {
        let min = crate::deflate::window_len(crate::deflate::MIN_WINDOW_BITS);
        if power_of_two_below(window.as_ref().len()) < min {
            return Err(UsageError::InvalidDeflateWindow);
        }
        Ok(ReadBuffer {
            bytes: self.bytes,
            skipping: self.skipping,
            inflater: InflaterWindow {
                slot: Slot::Window(window),
            },
        })
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate> ReadBuffer<S, I> {
    /// Copy as much of `bytes` as fits (bytes that arrived some other way, such as those an
    /// HTTP library read past an upgrade, before the first read); returns how many were
    /// taken.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        self.bytes.push(bytes)
    }

    /// How many received bytes wait to be used.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no received byte waits.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The size of the storage.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The storage back.
    pub fn into_inner(self) -> S {
        self.bytes.into_inner()
    }
}

/// What a [`ReadBuffer`] inflates permessage-deflate messages (RFC 7692) with:
/// [`NoInflater`], or, with feature `deflate`, an `InflaterWindow` (made by
/// `ReadBuffer::with_inflater_window`). Implemented by those two only.
pub trait Inflate: sealed::Inflate {}

/// No inflater: the [`ReadBuffer`] of a connection that does not negotiate
/// permessage-deflate. Offering or accepting the extension with it is
/// [`UsageError::InvalidDeflateWindow`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoInflater;

impl Inflate for NoInflater {}

impl sealed::Inflate for NoInflater {
    fn poll<E: Endpoint, O: AsRef<[u8]> + AsMut<[u8]>, S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        core: &mut Core<E, O>,
        input: &mut InputBuffer<S>,
        now: Instant,
    ) -> Step {
        core.poll_in(input, now)
    }

    fn event<'a, E: Endpoint, O: AsRef<[u8]> + AsMut<[u8]>, S: AsRef<[u8]> + AsMut<[u8]>>(
        &'a self,
        core: &mut Core<E, O>,
        input: &'a InputBuffer<S>,
    ) -> Option<EventOf<'a, E::Phase>> {
        core.event_in(input)
    }

    fn window_bits(&self) -> u8 {
        0
    }

    fn prepare<M: Masking>(&mut self, connection: &Connection<M>) -> Result<(), UsageError> {
        match connection.deflate() {
            Some(_) => Err(UsageError::InvalidDeflateWindow),
            None => Ok(()),
        }
    }

    fn reset(&mut self) {}
}

/// The inflater of a [`ReadBuffer`] made with `ReadBuffer::with_inflater_window`: the
/// caller's window, and, once a connection negotiated permessage-deflate (RFC 7692), a
/// [`deflate::Inflater`](crate::deflate::Inflater) over it.
#[cfg(feature = "deflate")]
pub struct InflaterWindow<W> {
    slot: Slot<W>,
}

/// The window alone, or in the inflater.
#[cfg(feature = "deflate")]
// The inflater's state is meant to live inline, in the caller's `ReadBuffer`: no heap.
#[allow(clippy::large_enum_variant)]
enum Slot<W> {
    /// No connection negotiated permessage-deflate yet.
    Window(W),
    /// Inflating the messages of the connection.
    Inflater(crate::deflate::Inflater<PowerOfTwo<W>>),
    /// The window was lost to an inflater that could not be made (which the checks
    /// before making it rule out): no window, as for [`NoInflater`].
    Lost,
}

#[cfg(feature = "deflate")]
impl<W> fmt::Debug for InflaterWindow<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.slot {
            Slot::Window(_) => "window",
            Slot::Inflater(_) => "inflating",
            Slot::Lost => "lost",
        };
        f.debug_struct("InflaterWindow")
            .field("state", &state)
            .finish()
    }
}

#[cfg(feature = "deflate")]
impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflate for InflaterWindow<W> {}

#[cfg(feature = "deflate")]
impl<W: AsRef<[u8]> + AsMut<[u8]>> sealed::Inflate for InflaterWindow<W> {
    fn poll<E: Endpoint, O: AsRef<[u8]> + AsMut<[u8]>, S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        core: &mut Core<E, O>,
        input: &mut InputBuffer<S>,
        now: Instant,
    ) -> Step {
        match &mut self.slot {
            Slot::Inflater(inflater) => core.poll_inflating_in(input, now, inflater),
            _ => core.poll_in(input, now),
        }
    }

    fn event<'a, E: Endpoint, O: AsRef<[u8]> + AsMut<[u8]>, S: AsRef<[u8]> + AsMut<[u8]>>(
        &'a self,
        core: &mut Core<E, O>,
        input: &'a InputBuffer<S>,
    ) -> Option<EventOf<'a, E::Phase>> {
        match &self.slot {
            Slot::Inflater(inflater) => core.event_inflated_in(input, inflater),
            _ => core.event_in(input),
        }
    }

    fn window_bits(&self) -> u8 {
        let len = match &self.slot {
            Slot::Window(window) => window.as_ref().len(),
            Slot::Inflater(inflater) => inflater.window().len(),
            Slot::Lost => 0,
        };
        // At most usize::BITS - 1, so it fits.
        len.checked_ilog2()
            .map_or(0, |bits| bits.min(u32::from(u8::MAX)) as u8)
    }

    fn prepare<M: Masking>(&mut self, connection: &Connection<M>) -> Result<(), UsageError> {
        let Some(params) = connection.deflate() else {
            return Ok(());
        };
        if matches!(self.slot, Slot::Inflater(_)) {
            return Ok(());
        }
        if !fits(self.window_bits(), params.receive_window_bits(M::ROLE)) {
            return Err(UsageError::InvalidDeflateWindow);
        }
        if let Slot::Window(window) = core::mem::replace(&mut self.slot, Slot::Lost) {
            let inflater = crate::deflate::Inflater::new(connection, PowerOfTwo(window))?;
            self.slot = Slot::Inflater(inflater);
        }
        Ok(())
    }

    fn reset(&mut self) {
        if let Slot::Inflater(_) = self.slot {
            if let Slot::Inflater(inflater) = core::mem::replace(&mut self.slot, Slot::Lost) {
                self.slot = Slot::Window(inflater.into_window().0);
            }
        }
    }
}

/// Whether a window of `window_bits` bits inflates what a peer compresses with `bits`: any
/// bits from 8 to 15 (RFC 7692 §7.1.2.1, §7.1.2.2), whatever was asked for.
fn fits(window_bits: u8, bits: u8) -> bool {
    use crate::deflate::{MAX_WINDOW_BITS, MIN_WINDOW_BITS};
    window_bits >= bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// The largest power of two not above `len` (0 for 0): how much of a window is used.
#[cfg(feature = "deflate")]
fn power_of_two_below(len: usize) -> usize {
    match len.checked_ilog2() {
        Some(bits) => 1 << bits,
        None => 0,
    }
}

/// The caller's window cut to the largest power of two it holds, as an
/// [`Inflater`](crate::deflate::Inflater) needs.
#[cfg(feature = "deflate")]
struct PowerOfTwo<W>(W);

#[cfg(feature = "deflate")]
impl<W: AsRef<[u8]>> AsRef<[u8]> for PowerOfTwo<W> {
    fn as_ref(&self) -> &[u8] {
        let window = self.0.as_ref();
        &window[..power_of_two_below(window.len())]
    }
}

#[cfg(feature = "deflate")]
impl<W: AsMut<[u8]>> AsMut<[u8]> for PowerOfTwo<W> {
    fn as_mut(&mut self) -> &mut [u8] {
        let window = self.0.as_mut();
        let len = power_of_two_below(window.len());
        &mut window[..len]
    }
}

mod sealed {
    use crate::connection::{Connection, Masking};
    use crate::driver::{Core, Step};
    use crate::endpoint::Endpoint;
    use crate::error::UsageError;
    use crate::event::EventOf;
    use crate::input::InputBuffer;
    use crate::time::Instant;

    /// What the adapter asks of a [`ReadBuffer`](super::ReadBuffer)'s inflater.
    pub trait Inflate {
        /// The driver's next step, through the inflater once one was made.
        fn poll<E: Endpoint, O: AsRef<[u8]> + AsMut<[u8]>, S: AsRef<[u8]> + AsMut<[u8]>>(
            &mut self,
            core: &mut Core<E, O>,
            input: &mut InputBuffer<S>,
            now: Instant,
        ) -> Step;

        /// The event the driver found, its bytes in `input` or the inflater's window.
        fn event<'a, E: Endpoint, O: AsRef<[u8]> + AsMut<[u8]>, S: AsRef<[u8]> + AsMut<[u8]>>(
            &'a self,
            core: &mut Core<E, O>,
            input: &'a InputBuffer<S>,
        ) -> Option<EventOf<'a, E::Phase>>;

        /// How many window bits the window holds: log2 of its length (0 without one).
        fn window_bits(&self) -> u8;

        /// Make the inflater if `connection` negotiated permessage-deflate and none was
        /// made yet; [`UsageError::InvalidDeflateWindow`] without a window large enough.
        fn prepare<M: Masking>(&mut self, connection: &Connection<M>) -> Result<(), UsageError>;

        /// Drop the inflater, keeping the window (a new handshake starts).
        fn reset(&mut self);
    }
}

/// Which of two futures finished first.
enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Poll `a` then `b` until one is ready; the other is dropped.
async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(out));
        }
        Poll::Pending
    })
    .await
}

/// `future`'s output, or `None` if `deadline` passed first.
async fn until<K: Timer, F: Future>(
    timer: &mut K,
    deadline: Option<Instant>,
    future: F,
) -> Option<F::Output> {
    match deadline {
        None => Some(future.await),
        Some(deadline) => match race(future, timer.sleep_until(deadline)).await {
            Either::Left(out) => Some(out),
            Either::Right(()) => None,
        },
    }
}

/// Where [`Io::run`] stopped.
enum Next {
    /// The driver found an event: take it from the input.
    Event(EventKind),
    /// The connection is over, as the driver says.
    Close(End),
    /// The driver waits for input (only when asked to stop there).
    Read,
}

/// The transport and the timer: what the handshake and the open connection do their I/O
/// with, and whether the end of the connection was reported to the caller.
#[derive(Debug)]
struct Io<T, K> {
    transport: T,
    timer: K,
    /// Bytes were written since the last flush.
    unflushed: bool,
    /// How the connection ended was returned once: every later call gives
    /// [`Error::Closed`].
    reported: bool,
    /// How long a flush may take ([`Config::write_timeout`]).
    write_timeout: crate::time::Duration,
}

impl<T: Read + Write, K: Timer> Io<T, K> {
    fn new(transport: T, timer: K, config: &Config) -> Self {
        Io {
            transport,
            timer,
            unflushed: false,
            reported: false,
            write_timeout: config.write_timeout,
        }
    }

    /// Carry out the driver's steps (write, read) until it hands out an event or ends the
    /// connection (or, with `stop_at_read`, waits for input): the loop of
    /// [`driver`](crate::driver), with embedded-io-async calls. Everything written is
    /// flushed before an event is handed out and before a wait for input.
    async fn run<E, O, S, I>(
        &mut self,
        core: &mut Core<E, O>,
        input: &mut ReadBuffer<S, I>,
        stop_at_read: bool,
    ) -> Result<Next, Error<T::Error>>
    where
        E: Endpoint,
        O: AsRef<[u8]> + AsMut<[u8]>,
        S: AsRef<[u8]> + AsMut<[u8]>,
        I: Inflate,
    {
        loop {
            let now = self.timer.now();
            match input.inflater.poll(core, &mut input.bytes, now) {
                Step::Write { until: deadline } => {
                    // Frames are staged whole (no payload of ours follows them).
                    let staged = core.transmit().staged;
                    let written =
                        until(&mut self.timer, deadline, self.transport.write(staged)).await;
                    let now = self.timer.now();
                    match written {
                        // A writer that takes nothing from a non-empty buffer has ended.
                        Some(Ok(0)) => core.transport_failed(now),
                        Some(Ok(n)) => {
                            core.wrote(n, now);
                            self.unflushed = true;
                        }
                        Some(Err(error)) => self.failed(core, error, now)?,
                        // The write deadline: the driver gives the peer up.
                        None => {}
                    }
                }
                Step::Read { until: deadline } => {
                    self.flush(core).await?;
                    if stop_at_read {
                        return Ok(Next::Read);
                    }
                    let space = core.read_space_in(&mut input.bytes);
                    let read = until(&mut self.timer, deadline, self.transport.read(space)).await;
                    let now = self.timer.now();
                    match read {
                        Some(Ok(0)) => core.read_closed(now),
                        Some(Ok(n)) => core.filled_in(&mut input.bytes, n, now),
                        Some(Err(error)) => self.failed(core, error, now)?,
                        // A deadline: the driver acts on it at the next poll.
                        None => {}
                    }
                }
                Step::Event(handle) => {
                    self.flush(core).await?;
                    return Ok(Next::Event(handle.kind()));
                }
                Step::Close(end) => {
                    // What was written last (a Close, a 408) reaches the peer; the
                    // connection is over whatever the flush gives.
                    let _ = self.flush(core).await;
                    return Ok(Next::Close(end));
                }
            }
        }
    }

    /// The transport failed with `error` at `now`: after the peer's Close it is the end
    /// of a clean close (the driver says [`End::Closed`] next); before, the error.
    fn failed<E, O>(
        &mut self,
        core: &mut Core<E, O>,
        error: T::Error,
        now: Instant,
    ) -> Result<(), Error<T::Error>>
    where
        E: Endpoint,
        O: AsRef<[u8]> + AsMut<[u8]>,
    {
        core.transport_failed(now);
        match core.end() {
            Some(end) if end.is_clean() => Ok(()),
            _ => {
                self.reported = true;
                Err(Error::Io(error))
            }
        }
    }

    /// Flush the transport if anything was written since the last flush, waiting at
    /// most [`Config::write_timeout`]: a transport that cannot flush that long is given
    /// up ([`TimedOut::Write`](crate::TimedOut::Write)).
    async fn flush<E, O>(&mut self, core: &mut Core<E, O>) -> Result<(), Error<T::Error>>
    where
        E: Endpoint,
        O: AsRef<[u8]> + AsMut<[u8]>,
    {
        if !self.unflushed {
            return Ok(());
        }
        let deadline = self.timer.now().saturating_add(self.write_timeout);
        let flushed = until(&mut self.timer, Some(deadline), self.transport.flush()).await;
        let now = self.timer.now();
        match flushed {
            Some(Ok(())) => {
                self.unflushed = false;
                Ok(())
            }
            Some(Err(error)) => self.failed(core, error, now),
            None => {
                core.transport_failed(now);
                self.reported = true;
                Err(Error::TimedOut(crate::TimedOut::Write))
            }
        }
    }

    /// Write everything staged in the driver's output, then flush: what a sending method
    /// does before it returns. Bounded by the driver's deadlines, the write timeout
    /// among them.
    async fn write_out<E, O>(&mut self, core: &mut Core<E, O>) -> Result<(), Error<T::Error>>
    where
        E: Endpoint,
        O: AsRef<[u8]> + AsMut<[u8]>,
    {
        loop {
            let now = self.timer.now();
            core.handle_timeout(now);
            let staged = core.transmit().staged;
            if staged.is_empty() {
                if let Some(end) = core.end() {
                    return Err(self.ended(end));
                }
                break;
            }
            let deadline = core.poll_timeout();
            let written = until(&mut self.timer, deadline, self.transport.write(staged)).await;
            let now = self.timer.now();
            match written {
                Some(Ok(0)) => core.transport_failed(now),
                Some(Ok(n)) => {
                    core.wrote(n, now);
                    self.unflushed = true;
                }
                Some(Err(error)) => self.failed(core, error, now)?,
                None => {}
            }
        }
        self.flush(core).await
    }

    /// The error that says how the connection ended, the first time; [`Error::Closed`]
    /// after that, and for a clean close.
    fn ended(&mut self, end: End) -> Error<T::Error> {
        if end.is_clean() || core::mem::replace(&mut self.reported, true) {
            return Error::Closed;
        }
        match end {
            End::Failed(error) => Error::Protocol(error),
            End::HandshakeFailed(error) => Error::Handshake(error),
            End::Rejected { status } => Error::Rejected { status },
            End::TimedOut(timed_out) => Error::TimedOut(timed_out),
            End::Usage(error) => Error::Usage(error),
            // `Abnormal`, and whatever a later version adds.
            _ => Error::AbnormalClosure,
        }
    }
}

/// A command's error as the adapter's.
fn send_error<E>(error: SendError) -> Error<E> {
    match error {
        SendError::NoRoom { needed } => Error::BufferTooSmall { needed },
        SendError::Usage(error) => Error::Usage(error),
    }
}

/// An output buffer below [`MIN_OUTPUT_BUFFER`].
fn output_too_small<E>(_: UsageError) -> Error<E> {
    Error::BufferTooSmall {
        needed: MIN_OUTPUT_BUFFER,
    }
}

/// A WebSocket connection over an embedded-io-async transport `T`, with time from `K` and
/// the output buffer `O`; `M` is [`Unmasked`] for a server and [`Masked`] for a client.
///
/// Made by [`connect`](Self::connect) (client), [`accept`](Self::accept) (server) or
/// [`new`](Self::new) (a connection upgraded elsewhere). Read with
/// [`read`](Self::read) or [`read_message`](Self::read_message), giving the connection's
/// [`ReadBuffer`] each time; send with [`send_text`](Self::send_text),
/// [`send_binary`](Self::send_binary), [`send_fragment`](Self::send_fragment),
/// [`ping`](Self::ping); end with [`close`](Self::close). Methods take `&mut self`: one
/// task drives the connection, reading and sending in turn (or in a `select`, since
/// every method is cancel-safe).
///
/// The transport is not closed by the adapter (embedded-io has no such call): close it
/// (embassy-net: `TcpSocket::close`, or drop it) once a method returned an error, and
/// after [`Error::Closed`].
#[derive(Debug)]
pub struct WebSocket<T, K, O, M = Unmasked> {
    io: Io<T, K>,
    /// The driver without its input (the caller's [`ReadBuffer`]).
    core: Core<Connection<M>, O>,
    /// The largest payload that fits one frame of the output buffer.
    room: usize,
}

impl<T, K, O, R> WebSocket<T, K, O, Masked<R>>
where
    T: Read + Write,
    K: Timer,
    O: AsRef<[u8]> + AsMut<[u8]>,
    R: crate::rand_core::Rng,
{
    /// Run the client handshake for a `ws://` or `wss://` URL over `transport`, already
    /// connected to the server (and carrying TLS for `wss://`), within
    /// [`Config::handshake_timeout`] from now. Bytes after the server's response stay in
    /// `input`: they are the first frames.
    ///
    /// `rng` draws the handshake key and a masking key for every frame. `output` holds
    /// the request as one piece, so it must be larger than it
    /// ([`UsageError::OutputBufferTooSmall`] otherwise) and at least
    /// [`MIN_OUTPUT_BUFFER`] ([`Error::BufferTooSmall`]).
    ///
    /// Fails with [`Error::Rejected`] for a status other than 101, [`Error::Handshake`]
    /// for a 101 that breaks RFC 6455, [`Error::TimedOut`] at the deadline.
    ///
    /// Not cancel-safe: the handshake's state lives in the future. It is bounded by the
    /// handshake deadline; drop the transport if it is cancelled anyway.
    pub async fn connect<S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate>(
        transport: T,
        timer: K,
        output: O,
        input: &mut ReadBuffer<S, I>,
        url: &str,
        config: Config,
        rng: R,
    ) -> Result<Self, Error<T::Error>> {
        let request = ClientRequest::from_url(url)?;
        Self::connect_request(transport, timer, output, input, request, config, rng).await
    }

    /// [`connect`](Self::connect) with a request built by the caller: subprotocols
    /// offered, an `Origin`, extra headers
    /// ([`ClientRequest::new`](crate::ClientRequest::new) and its `with_*` methods). The
    /// subprotocol the server chose is [`subprotocol`](Self::subprotocol).
    ///
    /// Offering permessage-deflate ([`ClientRequest::with_deflate`], RFC 7692) needs an
    /// `input` with a window of 2^`receive_window_bits` bytes (feature `deflate`:
    /// `ReadBuffer::with_inflater_window`), else [`UsageError::InvalidDeflateWindow`]
    /// before anything is sent. If the server accepts ([`deflate`](Self::deflate)),
    /// compressed messages are inflated there and read as any other.
    pub async fn connect_request<S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate>(
        transport: T,
        timer: K,
        output: O,
        input: &mut ReadBuffer<S, I>,
        request: ClientRequest<'_>,
        config: Config,
        rng: R,
    ) -> Result<Self, Error<T::Error>> {
        let mut io = Io::new(transport, timer, &config);
        let room = output.as_ref().len().saturating_sub(MAX_HEADER_LEN);
        input.inflater.reset();
        // The server may compress with any window up to the one offered (RFC 7692
        // §7.1.2.1): the caller's window must hold it before anything is sent.
        if let Some(deflate) = request.deflate {
            if !fits(input.inflater.window_bits(), deflate.receive_window_bits) {
                return Err(Error::Usage(UsageError::InvalidDeflateWindow));
            }
        }
        let client = Client::new(request, config, rng, io.timer.now())?;
        let mut core = Core::new(client, output, &config).map_err(output_too_small)?;
        loop {
            match io.run(&mut core, input, false).await? {
                Next::Event(EventKind::Connected) => break,
                Next::Event(EventKind::Rejected { status }) => {
                    return Err(Error::Rejected { status });
                }
                Next::Event(EventKind::HandshakeFailed(error)) => {
                    return Err(Error::Handshake(error));
                }
                Next::Event(_) => core.skip_event_in(&input.bytes),
                Next::Close(end) => return Err(io.ended(end)),
                Next::Read => {}
            }
        }
        core.skip_event_in(&input.bytes);
        let (client, output) = core.into_parts();
        let connection = client.into_connection().map_err(|_| Error::Closed)?;
        // permessage-deflate offered through the raw `extensions` without a window fails
        // here.
        input.inflater.prepare(&connection)?;
        let core = Core::new(connection, output, &config).map_err(output_too_small)?;
        Ok(WebSocket { io, core, room })
    }
}

impl<T, K, O> WebSocket<T, K, O, Unmasked>
where
    T: Read + Write,
    K: Timer,
    O: AsRef<[u8]> + AsMut<[u8]>,
{
    /// Run the server handshake over `transport` (a connection just accepted), within
    /// [`Config::handshake_timeout`] from now: accept any WebSocket upgrade with no
    /// subprotocol, and answer any other request with 426 Upgrade Required
    /// ([`Decision::default_for`]). Bytes after the request stay in `input`: they are the
    /// first frames.
    ///
    /// Fails with [`Error::Handshake`] for a bad request (the 400, 426 or 431 was sent),
    /// [`Error::Rejected`] for a request that is not an upgrade, [`Error::TimedOut`] at
    /// the deadline (the 408 was sent).
    ///
    /// Not cancel-safe: the handshake's state lives in the future. It is bounded by the
    /// handshake deadline; drop the transport if it is cancelled anyway.
    pub async fn accept<S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate>(
        transport: T,
        timer: K,
        output: O,
        input: &mut ReadBuffer<S, I>,
        config: Config,
    ) -> Result<Self, Error<T::Error>> {
        Self::accept_with(
            transport,
            timer,
            output,
            input,
            config,
            Decision::default_for,
        )
        .await
    }

    /// [`accept`](Self::accept), deciding on the request with `decide`: look at its path,
    /// headers and offered subprotocols, then accept (with a subprotocol the client
    /// offered, extra headers) or respond with another status.
    ///
    /// Accepting permessage-deflate (RFC 7692; `Decision::accept_deflate`, or
    /// [`Accept::with_deflate`]) needs an `input` with a window for the client's window
    /// bits ([`DeflateParams::receive_window_bits`](crate::deflate::DeflateParams::receive_window_bits);
    /// feature `deflate`: `ReadBuffer::with_inflater_window`), else
    /// [`UsageError::InvalidDeflateWindow`] before the 101 is sent. Compressed messages
    /// are then inflated there and read as any other.
    pub async fn accept_with<'d, S, I, F>(
        transport: T,
        timer: K,
        output: O,
        input: &mut ReadBuffer<S, I>,
        config: Config,
        decide: F,
    ) -> Result<Self, Error<T::Error>>
    where
        S: AsRef<[u8]> + AsMut<[u8]>,
        I: Inflate,
        F: FnOnce(&Request<'_>) -> Decision<'d>,
    {
        let mut io = Io::new(transport, timer, &config);
        let room = output.as_ref().len().saturating_sub(MAX_HEADER_LEN);
        input.inflater.reset();
        let window_bits = input.inflater.window_bits();
        let server = Server::new(config, io.timer.now());
        let mut core = Core::new(server, output, &config).map_err(output_too_small)?;
        let mut decide = Some(decide);
        loop {
            match io.run(&mut core, input, false).await? {
                Next::Event(EventKind::Request) => {}
                Next::Event(EventKind::HandshakeFailed(error)) => {
                    return Err(Error::Handshake(error));
                }
                Next::Event(_) => {
                    core.skip_event_in(&input.bytes);
                    continue;
                }
                Next::Close(end) => return Err(io.ended(end)),
                Next::Read => continue,
            }
            let Some(decide) = decide.take() else {
                return Err(Error::Closed);
            };
            // The client compresses with the window we accept (RFC 7692 §7.1.2.2): it
            // must fit the caller's before the 101 goes out.
            let mut misfit = false;
            let now = io.timer.now();
            let decided = core.decide_with_in(&input.bytes, now, |request| match decide(request) {
                Decision::Accept(Accept {
                    deflate: Some(params),
                    ..
                }) if !fits(window_bits, params.receive_window_bits(Role::Server)) => {
                    misfit = true;
                    Decision::reject(500)
                }
                decision => decision,
            });
            if misfit {
                // The 500 goes out as far as it can; the caller learns its mistake.
                let _ = io.write_out(&mut core).await;
                return Err(Error::Usage(UsageError::InvalidDeflateWindow));
            }
            if decided.is_ok() && core.end().is_none() {
                // The 101 goes out whole before the connection is handed over.
                io.write_out(&mut core).await?;
                break;
            }
            // A refusal or a misuse (500): written, then the driver ends the connection
            // (`Rejected`, `Usage`).
        }
        let (server, output) = core.into_parts();
        let connection = server.into_connection().map_err(|_| Error::Closed)?;
        input.inflater.prepare(&connection)?;
        let core = Core::new(connection, output, &config).map_err(output_too_small)?;
        Ok(WebSocket { io, core, room })
    }
}

impl<T, K, O, M> WebSocket<T, K, O, M>
where
    T: Read + Write,
    K: Timer,
    O: AsRef<[u8]> + AsMut<[u8]>,
    M: Masking,
{
    /// A WebSocket over a connection whose handshake was done elsewhere (an HTTP server
    /// that upgraded the request, with [`Connection::server`] or
    /// [`Connection::client`]); bytes already read past the handshake go into its
    /// [`ReadBuffer`] with [`ReadBuffer::push`]. `output` must hold at least
    /// [`MIN_OUTPUT_BUFFER`] bytes. A connection that negotiated permessage-deflate
    /// ([`Connection::with_deflate`]) needs a `ReadBuffer` with a window large enough
    /// (feature `deflate`: `ReadBuffer::with_inflater_window`): reading fails with
    /// [`UsageError::InvalidDeflateWindow`] otherwise. The write timeout is
    /// [`Config::write_timeout`]'s default (30 s).
    pub fn new(
        transport: T,
        timer: K,
        output: O,
        connection: Connection<M>,
    ) -> Result<Self, Error<T::Error>> {
        let config = Config::default();
        let room = output.as_ref().len().saturating_sub(MAX_HEADER_LEN);
        Ok(WebSocket {
            io: Io::new(transport, timer, &config),
            core: Core::new(connection, output, &config).map_err(output_too_small)?,
            room,
        })
    }

    /// The next event: [`Event::Text`] or [`Event::Binary`] for a message that arrived
    /// whole, [`Event::Chunk`] for each piece of one that did not (fragmented, or larger
    /// than the buffer), [`Event::Ping`] (the Pong already written), [`Event::Pong`],
    /// [`Event::Close`] (the answering Close already written). Borrows `input`, the
    /// connection's [`ReadBuffer`], not the `WebSocket`, so the event can be answered at
    /// once.
    ///
    /// After the Close, the next call waits for the connection to end (the client waits
    /// for the server to close the transport, at most [`Config::close_timeout`]) and
    /// returns [`Error::Closed`]: the end of a clean close (an EOF, a reset or a broken
    /// pipe then is that end too, never an error). A violation by the peer is
    /// [`Error::Protocol`], with the Close with its code written.
    ///
    /// Waits at most until the connection's next deadline; a keep-alive Ping falling due
    /// is written meanwhile.
    ///
    /// Cancel-safe (with a cancel-safe transport `read`): an event received but not
    /// returned yet is returned by the next call, and owed bytes keep their place.
    pub async fn read<'i, S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate>(
        &mut self,
        input: &'i mut ReadBuffer<S, I>,
    ) -> Result<OpenEvent<'i>, Error<T::Error>> {
        self.prepare(input)?;
        loop {
            match self.io.run(&mut self.core, input, false).await? {
                Next::Event(_) => break,
                Next::Close(end) => return Err(self.io.ended(end)),
                Next::Read => {}
            }
        }
        let ReadBuffer {
            bytes, inflater, ..
        } = input;
        match inflater.event(&mut self.core, bytes) {
            Some(Event::Failed(error)) => Err(self.failed(error).await),
            Some(event) => Ok(event),
            None => Err(Error::Closed),
        }
    }

    /// The next whole message or control frame: the pieces of a message are collected in
    /// `assembler` (up to `N` bytes; messages that arrived whole are not copied). Use the
    /// same assembler, and `read_message` only, for the whole connection; build its
    /// [`Config`] with [`FixedAssembler::configure`] so that the connection refuses a
    /// larger message (1009) itself.
    ///
    /// A message larger than `N` bytes anyway is [`Error::Assemble`], after the Close with
    /// 1009 was written; its other pieces are dropped. The rest is as for
    /// [`read`](Self::read).
    ///
    /// Cancel-safe (with a cancel-safe transport `read`): nothing received is lost.
    pub async fn read_message<'a, S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate, const N: usize>(
        &mut self,
        input: &'a mut ReadBuffer<S, I>,
        assembler: &'a mut FixedAssembler<N>,
    ) -> Result<Message<'a>, Error<T::Error>> {
        self.prepare(input)?;
        loop {
            let kind = match self.io.run(&mut self.core, input, false).await? {
                Next::Event(kind) => kind,
                Next::Close(end) => return Err(self.io.ended(end)),
                Next::Read => continue,
            };
            let EventKind::Chunk { last, .. } = kind else {
                break;
            };
            if input.skipping {
                // The rest of a message too large for the assembler.
                input.skipping = !last;
                input.inflater.event(&mut self.core, &input.bytes);
                continue;
            }
            if last {
                // Given to the assembler below, so that the message can borrow it.
                break;
            }
            let Some(event) = input.inflater.event(&mut self.core, &input.bytes) else {
                continue;
            };
            if let Err(error) = assembler.push(&event) {
                input.skipping = true;
                return Err(self.too_large(error).await);
            }
        }
        let ReadBuffer {
            bytes, inflater, ..
        } = input;
        let event = match inflater.event(&mut self.core, bytes) {
            Some(Event::Failed(error)) => return Err(self.failed(error).await),
            Some(event) => event,
            None => return Err(Error::Closed),
        };
        Ok(match event {
            Event::Ping(payload) => Message::Ping(payload),
            Event::Pong(payload) => Message::Pong(payload),
            Event::Close(frame) => Message::Close(frame),
            _ => match assembler.push(&event) {
                Ok(Some(WholeMessage::Text(text))) => Message::Text(text),
                Ok(Some(WholeMessage::Binary(data))) => Message::Binary(data),
                // The assembler was dropping the rest of a message too large for it.
                Ok(None) => {
                    let error = AssembleError::TooLarge { limit: N };
                    return Err(Error::Assemble(error));
                }
                Err(error) => return Err(self.too_large(error).await),
            },
        })
    }

    /// Make the inflater once the connection negotiated permessage-deflate (RFC 7692).
    fn prepare<S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate>(
        &mut self,
        input: &mut ReadBuffer<S, I>,
    ) -> Result<(), Error<T::Error>> {
        Ok(input.inflater.prepare(self.core.endpoint())?)
    }

    /// The peer broke the protocol (found when its text was taken): the error, once the
    /// Close with its code is written.
    async fn failed(&mut self, error: ProtocolError) -> Error<T::Error> {
        self.io.reported = true;
        self.finish().await;
        Error::Protocol(error)
    }

    /// A message did not fit the assembler: the error, once the Close with its code
    /// (1009) is written.
    async fn too_large(&mut self, error: AssembleError) -> Error<T::Error> {
        let open = matches!(self.state(), State::Open | State::RemoteClosing);
        if open
            && self
                .stage(|core, now| core.close(error.close_code(), "", now))
                .await
                .is_ok()
        {
            self.finish().await;
        }
        Error::Assemble(error)
    }

    /// Write what the driver owes now (a failure's Close) without reading: the input is
    /// not needed for it, so a spare one stands in.
    async fn finish(&mut self) {
        let Ok(mut spare) = ReadBuffer::for_frames([0u8; crate::MIN_INPUT_BUFFER]) else {
            return;
        };
        // The connection has ended or waits for the peer: either way, done.
        let _ = self.io.run(&mut self.core, &mut spare, true).await;
    }

    /// Stage what `command` stages, writing what is staged first while there is no room.
    async fn stage(
        &mut self,
        mut command: impl FnMut(&mut Core<Connection<M>, O>, Instant) -> Result<(), SendError>,
    ) -> Result<(), Error<T::Error>> {
        loop {
            if let Some(end) = self.core.end() {
                return Err(self.io.ended(end));
            }
            let now = self.io.timer.now();
            match command(&mut self.core, now) {
                Ok(()) => return Ok(()),
                Err(SendError::NoRoom { .. }) if self.core.pending_output() > 0 => {
                    self.io.write_out(&mut self.core).await?;
                }
                Err(error) => return Err(send_error(error)),
            }
        }
    }

    /// Send a whole text message, as one frame if it fits the output buffer, else as
    /// fragments of the buffer's size.
    ///
    /// Returns once every byte was written and flushed. Cancel-safe in that no frame is
    /// ever cut: a frame already staged is finished by the next call. A message larger
    /// than the output buffer cancelled between its fragments stays unfinished: further
    /// sends fail with [`UsageError::MessageInProgress`] (close still works).
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error<T::Error>> {
        if text.len() <= self.room {
            self.stage(|core, now| core.send_text(text, now)).await?;
            return self.io.write_out(&mut self.core).await;
        }
        self.send_pieces(MessageKind::Text, text.as_bytes(), true)
            .await
    }

    /// Send a whole binary message; as [`send_text`](Self::send_text).
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error<T::Error>> {
        if data.len() <= self.room {
            self.stage(|core, now| core.send_binary(data, now)).await?;
            return self.io.write_out(&mut self.core).await;
        }
        self.send_pieces(MessageKind::Binary, data, true).await
    }

    /// Send one piece of a message (RFC 6455 §5.4), for messages streamed out as they are
    /// produced, or echoed piece by piece from [`Event::Chunk`]: the first call opens a
    /// message of `kind`, `last` ends it. Text pieces may split characters but must add
    /// up to UTF-8. A piece larger than the output buffer goes out as several frames.
    /// Cancel safety as for [`send_text`](Self::send_text).
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        self.send_pieces(kind, data, last).await
    }

    /// Stage `data` as frames of at most the output buffer's size (the last one ends the
    /// message if `last`), writing as the buffer fills, then write and flush the rest.
    async fn send_pieces(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error<T::Error>> {
        let room = self.room.max(1);
        let mut rest = data;
        loop {
            let (piece, after) = rest.split_at(rest.len().min(room));
            let end = after.is_empty() && last;
            self.stage(|core, now| core.send_fragment(kind, piece, end, now))
                .await?;
            if after.is_empty() {
                break;
            }
            rest = after;
        }
        self.io.write_out(&mut self.core).await
    }

    /// Send a Ping (at most 125 bytes of payload); its Pong arrives as [`Event::Pong`].
    /// Cancel safety as for [`send_text`](Self::send_text).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.stage(|core, now| core.ping(payload, now)).await?;
        self.io.write_out(&mut self.core).await
    }

    /// Send a Pong (at most 125 bytes): the answer to a Ping when [`Config::auto_pong`]
    /// is off, or an unsolicited heartbeat. Cancel safety as for
    /// [`send_text`](Self::send_text).
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.stage(|core, now| core.pong(payload, now)).await?;
        self.io.write_out(&mut self.core).await
    }

    /// Write what is left in the output buffer (after a cancelled call, for example),
    /// and flush. Cancel-safe.
    pub async fn flush(&mut self) -> Result<(), Error<T::Error>> {
        self.io.write_out(&mut self.core).await
    }

    /// Close the connection: send a Close with `code` and `reason` (at most 123 bytes)
    /// unless one was sent already (or answer the peer's Close with it, if the echo is
    /// not out yet), then read until the connection ends, dropping any message that still
    /// arrives. `Ok` once the closing handshake finished: the peer's Close arrived (and,
    /// for a client, the server closed the transport or [`Config::close_timeout`]
    /// passed after it). Bounded by the close timeout from the moment our Close is
    /// staged: [`Error::TimedOut`] with [`TimedOut::Closing`](crate::TimedOut::Closing)
    /// if the peer never answers, however many frames it sends meanwhile.
    ///
    /// Also the way to finish after the peer's Close was read, or after an error was
    /// returned: `Ok` once the connection has ended.
    ///
    /// Cancel-safe: call it again to go on waiting (the Close is not sent twice).
    pub async fn close<S: AsRef<[u8]> + AsMut<[u8]>, I: Inflate>(
        &mut self,
        input: &mut ReadBuffer<S, I>,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), Error<T::Error>> {
        if self.core.end().is_none() && matches!(self.state(), State::Open | State::RemoteClosing) {
            self.stage(|core, now| core.close(code, reason, now))
                .await?;
        }
        loop {
            match self.io.run(&mut self.core, input, false).await? {
                // Messages still arriving are dropped; a violation is reported.
                Next::Event(EventKind::Failed(error)) => {
                    self.core.skip_event_in(&input.bytes);
                    self.io.reported = true;
                    return Err(Error::Protocol(error));
                }
                Next::Event(_) => {
                    // Taken, so that an invalid text still fails the connection.
                    let _ = input.inflater.event(&mut self.core, &input.bytes);
                }
                Next::Close(end) => {
                    return match self.io.ended(end) {
                        Error::Closed => Ok(()),
                        error => Err(error),
                    };
                }
                Next::Read => {}
            }
        }
    }

    /// Where the connection stands ([`State::Open`], closing, closed...).
    pub fn state(&self) -> State {
        self.core.endpoint().state()
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.core.endpoint().subprotocol()
    }

    /// The permessage-deflate parameters agreed in the handshake (RFC 7692), if any: then
    /// compressed messages are inflated in the [`ReadBuffer`]'s window as they arrive.
    /// What we send goes out uncompressed, as RFC 7692 §6 allows.
    pub fn deflate(&self) -> Option<crate::deflate::DeflateParams> {
        self.core.endpoint().deflate()
    }

    /// The open connection, to look at (its role, its state).
    pub fn connection(&self) -> &Connection<M> {
        self.core.endpoint()
    }

    /// The transport, for what the adapter does not do (socket options, addresses).
    /// Reading or writing through it corrupts the connection.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.io.transport
    }

    /// The transport, the timer and the output buffer back (to close the transport).
    pub fn into_parts(self) -> (T, K, O) {
        let (_, output) = self.core.into_parts();
        (self.io.transport, self.io.timer, output)
    }
}
