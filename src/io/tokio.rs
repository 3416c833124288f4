//! A WebSocket over any tokio `AsyncRead + AsyncWrite` stream, both roles (feature
//! `tokio`): a futures [`Stream`] of [`Message`]s and a [`Sink`] of them, `accept` /
//! `connect` helpers, timers on tokio's clock.
//!
//! [`WebSocketStream`] is a thin layer over the core's [`Driver`]: it only moves bytes
//! (`poll_read` into [`Driver::read_space`], one `poll_write_vectored` of
//! [`Core::transmit`](crate::driver::Core::transmit)), flushes and shuts the transport down, and sleeps on one
//! `tokio::time::Sleep` set to each step's deadline. What to write when, which deadline
//! comes next, when to give the peer up and how a connection ended are the driver's.
//!
//! A tokio-tungstenite program switches by changing its imports:
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use sockless::io::Message;
//! use sockless::io::tokio::{accept_async, connect_async};
//!
//! # async fn run() -> Result<(), sockless::io::Error> {
//! // Server: accept every connection on a listener, echo every message.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (tcp, _) = listener.accept().await?;
//! let mut ws = accept_async(tcp).await?;
//! while let Some(message) = ws.next().await {
//!     match message? {
//!         message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await?,
//!         _ => {} // Pings are answered and Closes echoed for you
//!     }
//! }
//!
//! // Client.
//! let (mut ws, _response) = connect_async("ws://127.0.0.1:9001/chat").await?;
//! ws.send(Message::Text("hello".into())).await?;
//! let echo = ws.next().await;
//! ws.close(sockless::CloseCode::NORMAL, "bye").await?;
//! # let _ = echo;
//! # Ok(())
//! # }
//! ```
//!
//! # When bytes reach the transport
//!
//! - [`Sink::start_send`] (`feed`) only stages the message: a small one is copied into
//!   the output staging area (many small messages go out in one write); a large one
//!   (over [`STAGE_LIMIT`] bytes) is kept as it is and only its header is staged, and its
//!   payload is written from the message's own buffer (a client masks it there, in place),
//!   never copied. [`Sink::poll_flush`] (`flush`, and `send`, which is `feed` then
//!   `flush`) writes and flushes the transport.
//! - **Reading drives writing.** Every poll of the read side ([`Stream::poll_next`],
//!   [`next_event`](WebSocketStream::next_event)) writes what the protocol owes (the Pong
//!   to a Ping, the echo of a Close, a keep-alive Ping, the Close of a failure) *before*
//!   it hands out the event that caused it, and the messages staged by the application
//!   once no received input is left to use; it flushes the transport before it waits
//!   for input. A loop that only reads therefore answers every Ping in time, even over a
//!   transport that holds bytes until `flush` (TLS, `BufWriter`).
//! - Several tasks that send: take a [`Sender`] ([`WebSocketStream::sender`]), a
//!   cloneable handle over a bounded channel; the task that reads writes what the senders
//!   queued. Only that task ever touches the transport, so no write can be lost between
//!   two tasks and no lock is held across an `.await`.
//!
//! # Timers and giving a peer up
//!
//! Every deadline is the driver's ([`Deadline`](crate::driver::Deadline)), on tokio's
//! clock (`tokio::time`, so `tokio::time::pause` works in tests): the handshake
//! ([`Config::handshake_timeout`](crate::Config::handshake_timeout), covering the TCP
//! connect and TLS too), the keep-alive Ping and its Pong
//! ([`Config::keep_alive`](crate::Config::keep_alive)), the closing handshake
//! ([`Config::close_timeout`](crate::Config::close_timeout)), and a peer that takes none
//! of the bytes we owe it for [`Config::write_timeout`](crate::Config::write_timeout)
//! ([`TimedOut::Write`](crate::TimedOut::Write)), whether the stream is read or written.
//! A deadline that passed is acted on before any more input is read. A deadline that
//! passes ends the connection with [`Error::TimedOut`].
//!
//! A clean close stays clean: once the peer's Close arrived, the end of the transport
//! (EOF, a reset, a broken pipe) ends the stream (`None`), never with an error.
//!
//! # Memory and backpressure
//!
//! A stream at work holds one input buffer ([`Settings::read_buffer_size`], 16 KiB by
//! default) and one output staging area ([`OUTPUT_BUFFER`] bytes, [`DEFLATE_OUTPUT_BUFFER`]
//! with permessage-deflate). A stream that waits for its peer with nothing to do (no bytes
//! kept, none owed) gives both back and holds [`MIN_INPUT_BUFFER`] and
//! [`MIN_OUTPUT_BUFFER`](crate::MIN_OUTPUT_BUFFER) bytes instead until it wakes: a thread
//! keeps a few given-back buffers for the next stream that wakes, so a busy server
//! allocates none per message and an idle connection costs a few KB. A
//! large message's buffer is held only while it is written (or, received in pieces,
//! assembled) and given back then. The [`Stream`] reads most of a large frame's
//! payload straight into the message it hands out, which is allocated at the frame's
//! length when its header arrives (the header was held to
//! [`Config::max_message_len`](crate::Config::max_message_len) first): the bytes are
//! read once and never copied out of the input buffer. [`Sink::poll_ready`] is
//! `Pending` while more than [`Settings::write_buffer_limit`] bytes wait to be written,
//! so a peer that does not read never makes memory grow past that bound plus one
//! message, and is given up after the write timeout; the read side stops reading too
//! while owed replies cannot be written.
//!
//! # Cancel safety
//!
//! Every partial state (a frame half read, a message half assembled, bytes half written)
//! lives in the driver, the message being collected and the staged messages, never in a
//! future. Dropping a read future ([`StreamExt::next`], `next_event`, `next_event_with`) at
//! any point loses nothing: the next read resumes where it stopped. Each method documents
//! what dropping its future means.
//!
//! [`Stream`]: futures_core::Stream
//! [`Sink`]: futures_sink::Sink
//! [`Sink::start_send`]: futures_sink::Sink::start_send
//! [`Sink::poll_flush`]: futures_sink::Sink::poll_flush
//! [`Sink::poll_ready`]: futures_sink::Sink::poll_ready
//! [`Stream::poll_next`]: futures_core::Stream::poll_next
//! [`StreamExt::next`]: https://docs.rs/futures-util/latest/futures_util/stream/trait.StreamExt.html#method.next

mod channel;
mod handshake;
mod reply;
#[cfg(feature = "tokio-rustls")]
mod tls;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io::IoSlice;

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::close::CloseCode;
use crate::connection::{Connection, Masked, Masking, Role, State, Unmasked};
use crate::driver::{Driver, End, EventKind, SendError, Step};
use crate::endpoint::Endpoint;
use crate::error::{ProtocolError, UsageError};
use crate::event::{Event, MessageKind, OpenEvent};
use crate::frame::apply_mask;
use crate::io::{Error, Message, OwnedCloseFrame};
use crate::time::{Duration, Instant};
use crate::{Config, InputBuffer, MIN_INPUT_BUFFER};

pub use channel::Sender;
pub use handshake::{
    Decision, HandshakeResponse, accept, accept_with, client_async, client_async_with, connect,
    connect_with,
};
pub use reply::Reply;
#[cfg(feature = "tokio-rustls")]
pub use tls::{accept_tls, connect_tls};

/// [`accept`] under tokio-tungstenite's name, so that switching is a change of imports.
pub use handshake::accept as accept_async;
/// [`connect`] under tokio-tungstenite's name, so that switching is a change of imports.
pub use handshake::connect as connect_async;

/// The size of a stream's output staging area: small messages, control frames and the
/// headers of large messages are staged here and written together. A connection that
/// negotiated permessage-deflate stages compressed messages whole, in
/// [`DEFLATE_OUTPUT_BUFFER`] bytes.
///
/// The driver stops taking input while its output is half full, so this is also how many
/// replies a burst of small messages can gather into one write: 16 KiB lets a pipelined
/// echo of 16-byte messages write about 450 of them at once. Pages nothing was written
/// to cost no memory.
pub const OUTPUT_BUFFER: usize = 16 * 1024;

/// The output staging area of a connection that negotiated permessage-deflate: a message
/// up to about this size is sent compressed (larger ones as they are). Such a connection
/// holds a window of up to 32 KiB to inflate into as well.
pub const DEFLATE_OUTPUT_BUFFER: usize = 16 * 1024;

/// The input a stream reads into while a message larger than its
/// [`Settings::read_buffer_size`] arrives in pieces through it: a sixteenth of the read
/// calls for a 1 MiB message. Held until the stream waits with nothing to do, then given
/// back. Only [`next_event`](WebSocketStream::next_event) and compressed messages read
/// large messages through the input: the [`Stream`] reads the payload of a large frame
/// straight into the message it hands out (see [`Driver::payload_space`]).
pub const LARGE_MESSAGE_INPUT: usize = 256 * 1024;

/// The most one read of a large frame's payload asks for: reads start at
/// [`LARGE_MESSAGE_INPUT`] and double while the transport fills them.
pub const MAX_PAYLOAD_READ: usize = 4 * LARGE_MESSAGE_INPUT;

/// Data messages up to this many bytes are copied into the output staging area (so that
/// many go out in one write); larger ones are written from their own buffer after a
/// staged header (one vectored write, no copy).
pub const STAGE_LIMIT: usize = 1024;

/// The largest buffer of a message sent that a stream keeps for the next message it hands
/// out ([`WebSocketStream::recycled`]).
const RECYCLED_LIMIT: usize = 256;

/// The options of a [`WebSocketStream`]: the protocol's [`Config`] and the adapter's
/// buffer sizes. Every function that takes settings takes a plain [`Config`] too
/// (`impl Into<Settings>`).
///
/// ```
/// use sockless::Config;
/// use sockless::io::tokio::Settings;
/// let settings = Settings::from(Config::default().with_max_message_len(1 << 20))
///     .with_write_buffer_limit(64 * 1024);
/// assert_eq!(settings.config.max_message_len, 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// Limits, timeouts and options of the protocol.
    pub config: Config,
    /// Size of the input buffer, allocated once per stream. At least
    /// [`MIN_INPUT_BUFFER`] and [`Config::max_head_len`] (raised to them if smaller).
    /// Larger messages stream through it. Default 16 KiB.
    pub read_buffer_size: usize,
    /// Most bytes waiting to be written before [`Sink::poll_ready`]
    /// says `Pending` (one message is always accepted below it, so the output buffer holds
    /// at most this plus one message). Default 128 KiB.
    pub write_buffer_limit: usize,
    /// How many messages a [`Sender`] can queue before `send` waits. Default 64.
    pub channel_capacity: usize,
    /// permessage-deflate (RFC 7692): a client offers it on these terms, a server accepts
    /// a client's offer on them ([`deflate::negotiate`](crate::deflate::negotiate)).
    /// Where it was negotiated, messages are inflated as they arrive (in a window of the
    /// negotiated size) and compressed when sent. Default `None`: not offered, declined.
    pub deflate: Option<crate::deflate::DeflateConfig>,
}

impl Settings {
    /// The defaults.
    pub const DEFAULT: Settings = Settings {
        config: Config::DEFAULT,
        read_buffer_size: 16 * 1024,
        write_buffer_limit: 128 * 1024,
        channel_capacity: 64,
        deflate: None,
    };

    /// With [`config`](Self::config) set.
    pub const fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// With [`read_buffer_size`](Self::read_buffer_size) set.
    pub const fn with_read_buffer_size(mut self, size: usize) -> Self {
        self.read_buffer_size = size;
        self
    }

    /// With [`write_buffer_limit`](Self::write_buffer_limit) set.
    pub const fn with_write_buffer_limit(mut self, limit: usize) -> Self {
        self.write_buffer_limit = limit;
        self
    }

    /// With [`channel_capacity`](Self::channel_capacity) set (at least 1).
    pub const fn with_channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity;
        self
    }

    /// With permessage-deflate offered (client) or accepted (server) on `config`'s terms
    /// (RFC 7692); `DeflateConfig::default()` is what browsers offer.
    pub const fn with_deflate(mut self, config: crate::deflate::DeflateConfig) -> Self {
        self.deflate = Some(config);
        self
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::DEFAULT
    }
}

impl From<Config> for Settings {
    fn from(config: Config) -> Self {
        Settings::DEFAULT.with_config(config)
    }
}

/// Masking keys for the client role: operating-system randomness fetched 128 bytes at a
/// time, so that a message costs no system call.
#[derive(Clone, Debug)]
pub(crate) struct MaskRng {
    pool: [u8; 128],
    used: usize,
}

impl MaskRng {
    pub(crate) fn new() -> Self {
        MaskRng {
            pool: [0; 128],
            used: 128,
        }
    }

    fn take(&mut self, dst: &mut [u8]) {
        for byte in dst {
            if self.used == self.pool.len() {
                rand_core::Rng::fill_bytes(&mut crate::os_rng(), &mut self.pool);
                self.used = 0;
            }
            *byte = self.pool[self.used];
            self.used += 1;
        }
    }
}

impl rand_core::TryRng for MaskRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0; 4];
        self.take(&mut bytes);
        Ok(u32::from_ne_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0; 8];
        self.take(&mut bytes);
        Ok(u64::from_ne_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.take(dst);
        Ok(())
    }
}

/// The storage of a driver's input and output.
type Buf = Box<[u8]>;
type Input = InputBuffer<Buf>;

/// A zeroed buffer of `len` bytes (untouched pages cost nothing).
fn buffer(len: usize) -> Buf {
    alloc::vec![0; len].into_boxed_slice()
}

/// The input buffer of a stream with `settings`: [`read_buffer_size`] bytes, which
/// covers a handshake's head and [`MIN_INPUT_BUFFER`].
pub(super) fn new_input(settings: &Settings) -> Input {
    InputBuffer::new(take_buffer(read_buffer_size(settings)), &settings.config)
        .expect("read_buffer_size covers the head and MIN_INPUT_BUFFER")
}

/// How many given-back buffers a thread keeps for the streams that wake next (an input
/// and an output for each of two streams): the rest go back to the allocator.
const SPARES_PER_THREAD: usize = 4;

std::thread_local! {
    /// Buffers that idle streams gave back (see [`WebSocketStream::park`]).
    static SPARES: core::cell::RefCell<Vec<Buf>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes: one this thread kept, or a new one.
pub(super) fn take_buffer(len: usize) -> Buf {
    let spare = SPARES.with_borrow_mut(|spares| {
        let found = spares.iter().position(|spare| spare.len() == len)?;
        Some(spares.swap_remove(found))
    });
    spare.unwrap_or_else(|| buffer(len))
}

/// Put `driver`'s input and output in `input` and `output`, and give the old ones back;
/// `false` (and `input` and `output` given back instead) if the driver refused either.
fn exchange<E: Endpoint>(driver: &mut Driver<E, Buf, Buf>, input: Buf, output: Buf) -> bool {
    match driver.replace_input(input) {
        Ok(old_input) => match driver.replace_output(output) {
            Ok(old_output) => {
                give_back(old_input);
                give_back(old_output);
                true
            }
            Err(output) => {
                // Put the input back as it was: it takes what the new one holds.
                let new_input = driver.replace_input(old_input);
                new_input.into_iter().chain([output]).for_each(give_back);
                false
            }
        },
        Err(input) => {
            give_back(input);
            give_back(output);
            false
        }
    }
}

/// Give `buf` back: kept for the next stream on this thread, or freed.
fn give_back(buf: Buf) {
    SPARES.with_borrow_mut(|spares| {
        if spares.len() < SPARES_PER_THREAD && buf.len() > crate::MIN_OUTPUT_BUFFER {
            spares.push(buf);
        }
    });
}

/// The open connection behind its driver, in either role.
#[derive(Debug)]
pub(super) enum Core {
    Server(Driver<Connection<Unmasked>, Buf, Buf>),
    Client(Driver<Connection<Masked<MaskRng>>, Buf, Buf>),
}

/// Run `$body` with `$d` bound to the driver, whatever its role.
macro_rules! on_core {
    ($core:expr, $d:ident => $body:expr) => {
        match $core {
            Core::Server($d) => $body,
            Core::Client($d) => $body,
        }
    };
}

/// The transport and the one timer: the only I/O there is.
#[derive(Debug)]
pub(super) struct Transport<S> {
    io: S,
    timer: Pin<Box<Sleep>>,
    /// The deadline the timer is set to.
    timer_at: Option<Instant>,
    /// The zero of the connection's clock.
    epoch: tokio::time::Instant,
    /// The latest deadline the timer reported: `now` is never before it (tokio's clock
    /// rounds, the driver must see the deadline as passed).
    floor: Instant,
    /// The time the clock was last read (see [`recent`](Self::recent)).
    last_read: Instant,
    /// Bytes were written since the last flush.
    flush_needed: bool,
    /// The most the next read of a large payload asks for (see
    /// [`poll_read_payload`](Self::poll_read_payload)).
    payload_read: usize,
    /// The transport's error, if it failed: what an abnormal end reports.
    pub(super) error: Option<std::io::Error>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport<S> {
    pub(super) fn new(io: S, epoch: tokio::time::Instant) -> Self {
        Transport {
            io,
            timer: Box::pin(tokio::time::sleep_until(epoch)),
            timer_at: None,
            epoch,
            floor: Instant::ZERO,
            last_read: Instant::ZERO,
            flush_needed: false,
            payload_read: LARGE_MESSAGE_INPUT,
            error: None,
        }
    }

    /// The time now, read from the clock.
    pub(super) fn now(&mut self) -> Instant {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.epoch);
        self.last_read = Instant::from_elapsed(elapsed).max(self.floor);
        self.last_read
    }

    /// The time of the last read of the clock, the last I/O or the last deadline: enough
    /// while the driver's output is not empty (its write deadline runs already, and a
    /// passed deadline still wakes the timer). The clock is read after every read and
    /// write, so a burst of small messages reads it once per system call, not per
    /// message (a read costs about a tenth of an echoed message here).
    pub(super) fn recent(&self) -> Instant {
        self.last_read.max(self.floor)
    }

    /// `Ready` once `until` passed (never, for `None`).
    pub(super) fn poll_until(&mut self, until: Option<Instant>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = until else {
            return Poll::Pending;
        };
        if self.timer_at != Some(at) {
            let deadline = self.epoch + at.elapsed_since_epoch();
            self.timer.as_mut().reset(deadline);
            self.timer_at = Some(at);
        }
        ready!(self.timer.as_mut().poll(cx));
        self.timer_at = None;
        self.floor = self.floor.max(at);
        Poll::Ready(())
    }

    /// `Ready` once the tokio instant `at` passed.
    fn poll_until_tokio(&mut self, at: tokio::time::Instant, cx: &mut Context<'_>) -> Poll<()> {
        self.timer_at = None;
        if self.timer.deadline() != at {
            self.timer.as_mut().reset(at);
        }
        self.timer.as_mut().poll(cx)
    }

    /// One write of what `driver` owes (staged bytes, then `payload[offset..]`, vectored),
    /// reported to it. `Ready` once the driver knows the result.
    pub(super) fn poll_write<E: Endpoint>(
        &mut self,
        driver: &mut Driver<E, Buf, Buf>,
        payload: &[u8],
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let transmit = driver.transmit();
        // A client's payload is masked in place before its header is staged: as it lies.
        let payload = transmit.owed(payload);
        let io = Pin::new(&mut self.io);
        let result = match (transmit.staged.is_empty(), payload.is_empty()) {
            (_, true) => io.poll_write(cx, transmit.staged),
            (true, false) => io.poll_write(cx, payload),
            (false, false) => {
                io.poll_write_vectored(cx, &[IoSlice::new(transmit.staged), IoSlice::new(payload)])
            }
        };
        let now = self.now();
        match ready!(result) {
            Ok(0) => self.failed(driver, std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                driver.wrote(n, now);
                self.flush_needed = true;
            }
            Err(error) => self.failed(driver, error),
        }
        Poll::Ready(())
    }

    /// One read into `driver`'s input, reported to it.
    pub(super) fn poll_read<E: Endpoint>(
        &mut self,
        driver: &mut Driver<E, Buf, Buf>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let space = driver.read_space();
        if space.is_empty() {
            // The driver fails the connection before its input can fill; never read 0.
            let full = std::io::Error::other(UsageError::InputBufferTooSmall);
            self.failed(driver, full);
            return Poll::Ready(());
        }
        let mut read = ReadBuf::new(space);
        let result = ready!(Pin::new(&mut self.io).poll_read(cx, &mut read));
        let n = read.filled().len();
        let now = self.now();
        match result {
            Ok(()) if n == 0 => driver.read_closed(now),
            Ok(()) => driver.filled(n, now),
            Err(error) => self.failed(driver, error),
        }
        Poll::Ready(())
    }

    /// One read of at most `max` bytes (the rest of the frame; from [`LARGE_MESSAGE_INPUT`]
    /// to [`MAX_PAYLOAD_READ`] at once) of a data frame's payload straight into the end of
    /// `message` (its spare capacity: nothing is zeroed or copied), reported to `driver`
    /// ([`Driver::payload_filled`], which unmasks and checks it there). `Ready` with the
    /// piece's kind, and whether it was the message's first and last, once the driver knows
    /// the result; `Ready(None)` when nothing was added (the end of the stream, an error,
    /// or bytes that failed the connection, which are dropped).
    fn poll_read_payload<E: Endpoint>(
        &mut self,
        driver: &mut Driver<E, Buf, Buf>,
        message: &mut Vec<u8>,
        max: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(MessageKind, bool, bool)>> {
        let start = message.len();
        // Room for the rest of the frame at once (no reallocation as it arrives). Each read
        // asks for twice as much as the last while they come back full (the transport has
        // more at hand: fewer calls, and fewer wakeups of a peer waiting to write), from
        // [`LARGE_MESSAGE_INPUT`] to [`MAX_PAYLOAD_READ`]; a short one starts over. A
        // transport that zeroes the space it is given before it fills it (as
        // `initialize_unfilled` does) and fills it little at a time then zeroes no more
        // than the old input's size per read, not the whole rest of the frame.
        message.reserve(max);
        let max = max.min(self.payload_read);
        // `take` holds the read to that; `read_buf` fills the spare capacity.
        let mut limited = (&mut self.io).take(max as u64);
        let read = core::pin::pin!(limited.read_buf(message));
        let result = ready!(read.poll(cx));
        let now = self.now();
        let n = match result {
            Ok(0) => {
                driver.read_closed(now);
                return Poll::Ready(None);
            }
            Ok(n) => n,
            Err(error) => {
                self.failed(driver, error);
                return Poll::Ready(None);
            }
        };
        self.payload_read = if n == self.payload_read {
            (n * 2).min(MAX_PAYLOAD_READ)
        } else if n < max {
            LARGE_MESSAGE_INPUT
        } else {
            self.payload_read
        };
        let piece = match message.get_mut(start..start + n) {
            Some(payload) => driver.payload_filled(payload, now),
            None => Err(UsageError::NoPayloadSpace),
        };
        let piece = piece.map(|event| match event {
            Event::Chunk(chunk) => Some((chunk.kind, chunk.first, chunk.last)),
            _ => None,
        });
        match piece {
            Ok(Some((kind, first, last))) => {
                if first {
                    // A new message: nothing before it belongs to it.
                    message.drain(..start);
                }
                Poll::Ready(Some((kind, first, last)))
            }
            // The connection failed (1007): its end reports it.
            Ok(None) => {
                message.truncate(start);
                Poll::Ready(None)
            }
            Err(error) => {
                message.truncate(start);
                self.failed(driver, std::io::Error::other(error));
                Poll::Ready(None)
            }
        }
    }

    /// Flush what was written, if anything; a failure is reported to `driver`.
    pub(super) fn poll_flush<E: Endpoint>(
        &mut self,
        driver: &mut Driver<E, Buf, Buf>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if !self.flush_needed {
            return Poll::Ready(());
        }
        match ready!(Pin::new(&mut self.io).poll_flush(cx)) {
            Ok(()) => self.flush_needed = false,
            Err(error) => self.failed(driver, error),
        }
        Poll::Ready(())
    }

    /// The transport failed: the driver judges it (a clean end after the peer's Close).
    fn failed<E: Endpoint>(&mut self, driver: &mut Driver<E, Buf, Buf>, error: std::io::Error) {
        self.flush_needed = false;
        self.error.get_or_insert(error);
        let now = self.now();
        driver.transport_failed(now);
    }

    /// Flush and shut the transport down, unless it failed; `Ready` when done.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.error.is_some() {
            return Poll::Ready(());
        }
        if self.flush_needed {
            if ready!(Pin::new(&mut self.io).poll_flush(cx)).is_err() {
                return Poll::Ready(());
            }
            self.flush_needed = false;
        }
        let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
        Poll::Ready(())
    }

    /// How an ended connection is reported: `None` for a clean close.
    pub(super) fn end_error(&mut self, end: End) -> Option<Error> {
        Some(match end {
            End::Closed { .. } => return None,
            End::Failed(error) => Error::Protocol(error),
            End::HandshakeFailed(error) => Error::Handshake(error),
            End::Rejected { status } => Error::Rejected { status },
            End::TimedOut(timed_out) => Error::TimedOut(timed_out),
            End::Usage(error) => Error::Usage(error),
            _ => match self.error.take() {
                Some(error) => Error::Io(error),
                None => Error::AbnormalClosure,
            },
        })
    }

    /// Close the transport after `end` (write nothing more; flush and shut down for at
    /// most `linger`) and say how it ended.
    pub(super) async fn finish(&mut self, end: End, linger: Duration) -> Option<Error> {
        let until = tokio::time::Instant::now() + linger;
        let _ = tokio::time::timeout_at(until, core::future::poll_fn(|cx| self.poll_shutdown(cx)))
            .await;
        self.end_error(end)
    }
}

/// Where the stream stands, beyond what the driver knows.
#[derive(Debug)]
enum Phase {
    /// Reading and writing.
    Running,
    /// The driver ended the connection: flush and shut the transport down (until
    /// `linger` at most), then report `end`.
    Ending {
        end: End,
        linger: Option<tokio::time::Instant>,
    },
    /// The end was reported.
    Done,
}

/// A WebSocket over the transport `S` (a `TcpStream`, a TLS stream, a `DuplexStream`...),
/// in either role: a [`Stream`] of
/// `Result<`[`Message`]`, `[`Error`]`>` and a [`Sink`] of
/// [`Message`]s, like tokio-tungstenite's `WebSocketStream`.
///
/// Make one with [`accept`] / [`accept_with`] (server), [`connect`] / [`client_async`]
/// (client), or [`from_raw_socket`](Self::from_raw_socket) when another HTTP stack did the
/// upgrade. See the [module documentation](self) for when bytes reach the transport,
/// timers, backpressure and cancel safety.
///
/// Reading gives every data message whole (pieces are collected up to
/// [`Config::max_message_len`](crate::Config::max_message_len), and most of a large
/// frame is read straight into the message, without a copy), every Ping and Pong
/// (a Ping is already answered), and the peer's Close (already echoed); then the stream
/// ends (`None`) once the closing handshake is over and the transport is shut down. A
/// clean close is never an error. For zero-copy reads, see
/// [`next_event`](Self::next_event).
#[derive(Debug)]
pub struct WebSocketStream<S> {
    io: Transport<S>,
    core: Core,
    /// permessage-deflate, where the handshake negotiated it.
    deflate: Option<Box<Deflate>>,
    /// The message the [`Stream`] collects from pieces.
    incoming: Incoming,
    /// Messages waiting for room in the driver's output, in order.
    queue: VecDeque<Message>,
    /// Their bytes.
    queued_bytes: usize,
    /// The payload of the large message whose header is staged (masked, for a client):
    /// written from here, dropped once written.
    payload: Vec<u8>,
    /// The buffer of a small message sent (copied into the output), kept for the next
    /// message the [`Stream`] hands out: an echo or a proxy allocates nothing per
    /// message. At most [`RECYCLED_LIMIT`] bytes; dropped when the stream waits.
    recycled: Vec<u8>,
    write_limit: usize,
    close_timeout: Duration,
    phase: Phase,
    /// The connection's failure was reported already: its end is not reported again.
    reported: bool,
    channel: Option<channel::Owner>,
    channel_capacity: usize,
    /// The driver's storage was given back while the stream waits (see [`park`](Self::park)).
    parked: bool,
    /// A large message is arriving: the input is [`LARGE_MESSAGE_INPUT`] bytes until the
    /// stream waits.
    large_message: bool,
    /// The size of the storage it takes back when it wakes.
    input_len: usize,
    output_len: usize,
}

/// The message the [`Stream`] collects from pieces: those that came through the input
/// are copied here; the payload of a large frame is read here directly
/// ([`Driver::payload_space`]). Handed out as it is, without another copy.
#[derive(Debug, Default)]
struct Incoming {
    /// The kind of the open message, from its first piece.
    kind: Option<MessageKind>,
    data: Vec<u8>,
}

impl Incoming {
    /// Add a piece that came through the input (or an inflater).
    fn push(&mut self, kind: MessageKind, data: &[u8], first: bool) {
        if first {
            self.kind = Some(kind);
            self.data.clear();
        }
        self.data.extend_from_slice(data);
    }

    /// The whole message, its memory handed out with it; text that is not UTF-8 (which the
    /// connection's check lets through only if it was fed from elsewhere) is an error.
    fn take(&mut self) -> Result<Message, Error> {
        let data = core::mem::take(&mut self.data);
        match self.kind.take() {
            Some(MessageKind::Text) => String::from_utf8(data)
                .map(Message::Text)
                .map_err(|_| Error::Protocol(ProtocolError::InvalidUtf8)),
            _ => Ok(Message::Binary(data)),
        }
    }

    /// Forget an unfinished message (the peer's Close came in its middle) and its memory.
    fn clear(&mut self) {
        *self = Incoming::default();
    }
}

/// Where [`WebSocketStream::poll_step`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ready {
    /// An event waits in the driver.
    Event,
    /// The message being collected is whole: its last bytes were read into it.
    Assembled,
    /// The connection ended cleanly.
    Ended,
}

/// The inflater and the compressor of a connection that negotiated permessage-deflate.
#[cfg(feature = "deflate")]
#[derive(Debug)]
struct Deflate {
    inflater: crate::deflate::Inflater<Vec<u8>>,
    /// Its own, or the thread's (see [`MessageCompressor`](crate::io::compressor::MessageCompressor)).
    compressor: crate::io::compressor::MessageCompressor,
    /// Where a message is compressed before it is staged.
    scratch: Vec<u8>,
}

/// Without the `deflate` feature nothing is ever negotiated.
#[cfg(not(feature = "deflate"))]
#[derive(Debug)]
enum Deflate {}

/// The permessage-deflate state for `connection`, if its handshake negotiated it.
fn deflate_for<M: Masking>(connection: &Connection<M>) -> Option<Box<Deflate>> {
    #[cfg(feature = "deflate")]
    {
        use crate::deflate::{Inflater, window_len};
        use crate::io::compressor::MessageCompressor;
        let params = connection.deflate()?;
        let window = alloc::vec![0; window_len(params.receive_window_bits(M::ROLE))];
        Some(Box::new(Deflate {
            inflater: Inflater::new(connection, window).ok()?,
            compressor: MessageCompressor::new::<M>(params),
            scratch: Vec::new(),
        }))
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = connection;
        None
    }
}

/// The next step of `driver` (through the inflater, where there is one).
fn poll_driver<M: Masking>(
    driver: &mut Driver<Connection<M>, Buf, Buf>,
    deflate: &mut Option<Box<Deflate>>,
    now: Instant,
) -> Step {
    match deflate {
        #[cfg(feature = "deflate")]
        Some(deflate) => driver.poll_inflating(now, &mut deflate.inflater),
        _ => driver.poll(now),
    }
}

/// The event `driver` found, borrowing its input (or the inflater's window).
fn take_event<'a, M: Masking>(
    driver: &'a mut Driver<Connection<M>, Buf, Buf>,
    deflate: &'a Option<Box<Deflate>>,
) -> Option<OpenEvent<'a>> {
    match deflate {
        #[cfg(feature = "deflate")]
        Some(deflate) => driver.event_inflated(&deflate.inflater),
        _ => driver.event(),
    }
}

/// The earlier of two deadlines.
pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The bytes `message` occupies while queued.
fn message_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
        Message::Close(close) => close.as_ref().map_or(0, |close| close.reason.len()) + 2,
    }
}

/// Stage `message` in `driver`: copied if small, its header only if large (the payload,
/// masked in place for a client, goes to `payload`). Gives the message back when it
/// cannot be staged now.
fn stage<M: Masking, S: AsyncRead + AsyncWrite + Unpin>(
    driver: &mut Driver<Connection<M>, Buf, Buf>,
    io: &mut Transport<S>,
    deflate: &mut Option<Box<Deflate>>,
    payload: &mut Vec<u8>,
    recycled: &mut Vec<u8>,
    message: Message,
) -> Result<(), (Message, SendError)> {
    // What starts a deadline takes the time from the clock: a control frame (a Ping's
    // Pong deadline, a Close's closing deadline) and a first message in an empty output
    // (the write deadline).
    let (kind, data, text) = match &message {
        Message::Text(text) => (MessageKind::Text, text.as_bytes(), Some(text.as_str())),
        Message::Binary(data) => (MessageKind::Binary, data.as_slice(), None),
        Message::Ping(data) => return driver.ping(data, io.now()).map_err(|e| (message, e)),
        Message::Pong(data) => return driver.pong(data, io.now()).map_err(|e| (message, e)),
        Message::Close(close) => {
            let (code, reason) = match close {
                Some(close) => (close.code, close.reason.as_str()),
                None => (CloseCode::NORMAL, ""),
            };
            let now = io.now();
            return driver.close(code, reason, now).map_err(|e| (message, e));
        }
    };
    let now = match driver.pending_output() {
        0 => io.now(),
        _ => io.recent(),
    };
    #[cfg(feature = "deflate")]
    if let Some(deflate) = deflate {
        if let Some(staged) = stage_compressed(driver, deflate, kind, data, now) {
            return staged.map_err(|e| (message, e));
        }
    }
    #[cfg(not(feature = "deflate"))]
    let _ = deflate;
    let staged = if data.len() <= STAGE_LIMIT {
        match text {
            Some(text) => driver.send_text(text, now),
            None => driver.send_binary(data, now),
        }
        .map(|()| None)
    } else {
        driver
            .send_header(kind, data.len() as u64, true, now)
            .map(Some)
    };
    match staged {
        Ok(None) => {
            recycle(recycled, message);
            Ok(())
        }
        Ok(Some(mask)) => {
            *payload = match message {
                Message::Text(text) => text.into_bytes(),
                Message::Binary(data) => data,
                _ => Vec::new(),
            };
            if let Some(key) = mask {
                apply_mask(payload, key, 0);
            }
            Ok(())
        }
        Err(error) => Err((message, error)),
    }
}

/// Keep the buffer of `message`, copied into the output, for the next message handed out
/// (if none is kept and it is small).
#[inline(always)]
fn recycle(recycled: &mut Vec<u8>, message: Message) {
    if recycled.capacity() == 0 {
        let buffer = match message {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) => data,
            _ => return,
        };
        if buffer.capacity() <= RECYCLED_LIMIT {
            *recycled = buffer;
        }
    }
}

/// `data`, owned: in the recycled buffer if it fits.
fn owned_bytes(recycled: &mut Vec<u8>, data: &[u8]) -> Vec<u8> {
    if data.len() > recycled.capacity() {
        return data.to_vec();
    }
    let mut buffer = core::mem::take(recycled);
    buffer.clear();
    buffer.extend_from_slice(data);
    buffer
}

/// `text`, owned: in the recycled buffer if it fits (emptied, it is valid UTF-8 and
/// stays so, with no second check of `text`).
fn owned_text(recycled: &mut Vec<u8>, text: &str) -> String {
    if text.len() <= recycled.capacity() {
        let mut buffer = core::mem::take(recycled);
        buffer.clear();
        if let Ok(mut owned) = String::from_utf8(buffer) {
            owned.push_str(text);
            return owned;
        }
    }
    text.into()
}

/// Stage a data message compressed (RFC 7692 §7.2.1), if it fits the staging area and
/// compressing pays; `None` to send it as it is.
#[cfg(feature = "deflate")]
fn stage_compressed<M: Masking>(
    driver: &mut Driver<Connection<M>, Buf, Buf>,
    deflate: &mut Deflate,
    kind: MessageKind,
    data: &[u8],
    now: Instant,
) -> Option<Result<(), SendError>> {
    // A header and at most the payload: compressed, it is smaller.
    let needed = data.len() + crate::frame::MAX_HEADER_LEN;
    if needed > DEFLATE_OUTPUT_BUFFER {
        return None;
    }
    let free = DEFLATE_OUTPUT_BUFFER.saturating_sub(driver.pending_output() as usize);
    if needed > free {
        // Compress only once it can be staged: the compressor keeps its context.
        return Some(Err(SendError::NoRoom { needed }));
    }
    let connection = match driver.connection() {
        Ok(connection) => connection,
        Err(error) => return Some(Err(error.into())),
    };
    deflate.scratch.resize(data.len(), 0);
    let compressed = match deflate
        .compressor
        .compress(connection, data, &mut deflate.scratch)
    {
        Ok(compressed) => compressed?,
        Err(error) => return Some(Err(error.into())),
    };
    let staged = driver.send_compressed(kind, &deflate.scratch[..compressed], now);
    deflate.scratch = Vec::new();
    Some(staged)
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// A stream over a transport whose opening handshake was done elsewhere (a hyper or
    /// axum upgrade, an HTTP/2 extended CONNECT stream), in `role`. The timers start now.
    pub fn from_raw_socket(stream: S, role: Role, settings: impl Into<Settings>) -> Self {
        Self::from_partially_read(stream, &[], role, settings)
    }

    /// As [`from_raw_socket`](Self::from_raw_socket), with the bytes the HTTP stack already
    /// read past the upgrade (the first frames). At most
    /// [`Settings::read_buffer_size`] bytes are kept; a larger `read` is
    /// [`UsageError::InputBufferTooSmall`].
    pub fn from_partially_read(
        stream: S,
        read: &[u8],
        role: Role,
        settings: impl Into<Settings>,
    ) -> Self {
        let settings = settings.into();
        let io = Transport::new(stream, tokio::time::Instant::now());
        let config = settings.config;
        let mut input = new_input(&settings);
        let kept = input.push(read);
        let mut ws = match role {
            Role::Server => {
                let connection = Connection::server(&config, Instant::ZERO);
                Self::assemble(io, connection, input, take_buffer(OUTPUT_BUFFER), &settings)
            }
            Role::Client => {
                let connection = Connection::client(&config, MaskRng::new(), Instant::ZERO);
                Self::assemble(io, connection, input, take_buffer(OUTPUT_BUFFER), &settings)
            }
        };
        if kept < read.len() {
            ws.phase = Phase::Ending {
                end: End::Usage(UsageError::InputBufferTooSmall),
                linger: None,
            };
        }
        ws
    }

    /// A stream for the open `connection`, its input (with any bytes read past the
    /// handshake) and its output storage.
    pub(super) fn assemble<M: Masking + 'static>(
        io: Transport<S>,
        connection: Connection<M>,
        input: Input,
        output: Buf,
        settings: &Settings,
    ) -> Self
    where
        Core: From<Driver<Connection<M>, Buf, Buf>>,
    {
        let deflate = deflate_for(&connection);
        let output = match deflate {
            Some(_) if output.len() < DEFLATE_OUTPUT_BUFFER => buffer(DEFLATE_OUTPUT_BUFFER),
            _ => output,
        };
        let (input_len, output_len) = (input.capacity(), output.len());
        let driver = Driver::new(connection, input, output, &settings.config)
            .expect("the output storage is at least MIN_OUTPUT_BUFFER");
        WebSocketStream {
            io,
            core: Core::from(driver),
            deflate,
            incoming: Incoming::default(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            payload: Vec::new(),
            recycled: Vec::new(),
            write_limit: settings.write_buffer_limit.max(1),
            close_timeout: settings.config.close_timeout,
            phase: Phase::Running,
            reported: false,
            channel: None,
            channel_capacity: settings.channel_capacity.max(1),
            parked: false,
            large_message: false,
            input_len,
            output_len,
        }
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io.io
    }

    /// The transport, mutably (reading or writing it directly breaks the connection).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io.io
    }

    /// The transport back, and anything buffered is dropped.
    pub fn into_inner(self) -> S {
        self.io.io
    }

    /// The subprotocol the opening handshake chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        on_core!(&self.core, d => d.endpoint().subprotocol())
    }

    /// Which side of the connection this is.
    pub fn role(&self) -> Role {
        on_core!(&self.core, d => d.endpoint().role())
    }

    /// Where the connection stands (open, closing, closed).
    pub fn state(&self) -> State {
        on_core!(&self.core, d => d.endpoint().state())
    }

    /// How many bytes wait to be written: staged, and in messages waiting for room.
    #[inline]
    pub fn buffered_amount(&self) -> usize {
        let staged = on_core!(&self.core, d => d.pending_output());
        usize::try_from(staged).unwrap_or(usize::MAX) + self.queued_bytes
    }

    /// A cloneable handle that queues messages for this stream on a bounded channel of
    /// [`Settings::channel_capacity`] messages, for other tasks to send while this one
    /// reads. The task that reads this stream writes them (in the order queued, between
    /// the messages it sends itself), so **keep reading** (every read drives the writes).
    ///
    /// ```no_run
    /// # async fn run(mut ws: sockless::io::tokio::WebSocketStream<tokio::net::TcpStream>) {
    /// use futures_util::StreamExt;
    /// let sender = ws.sender();
    /// tokio::spawn(async move {
    ///     sender.send("from another task".into()).await.ok();
    /// });
    /// while let Some(message) = ws.next().await { /* ... */ }
    /// # }
    /// ```
    pub fn sender(&mut self) -> Sender {
        let capacity = self.channel_capacity;
        self.channel
            .get_or_insert_with(|| channel::Owner::new(capacity))
            .sender()
    }

    /// The next event, borrowing this stream's input buffer: zero copies, and messages
    /// that do not arrive whole come as [`Event::Chunk`]s, as they arrive (nothing is
    /// assembled). Pings are already answered and a Close already echoed when their event
    /// is returned. After the peer's [`Event::Close`], or an error, the next call returns
    /// [`Error::Closed`] once the transport was shut down.
    ///
    /// A whole text message is checked for UTF-8 once, when it is handed out: one that is
    /// not UTF-8 is [`Error::Protocol`] (the connection fails with 1007; its Close is
    /// written by the next call, or by [`close`](Self::close) / a flush).
    ///
    /// Do not mix it with the [`Stream`] in the middle of a message
    /// (the `Stream` would miss the pieces already handed out here).
    ///
    /// **Cancel safe**: dropping the future at any point loses nothing; an event found
    /// but not returned is kept and returned by the next call.
    ///
    /// ```
    /// use sockless::Event;
    /// use sockless::io::tokio::WebSocketStream;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockless::io::Error> {
    /// let (ours, mut peer) = tokio::io::duplex(1024);
    /// let mut ws = WebSocketStream::from_raw_socket(ours, sockless::Role::Server, sockless::Config::default());
    /// // A masked "hi" from a client, then a Close.
    /// use tokio::io::AsyncWriteExt;
    /// peer.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i', 0x88, 0x80, 0, 0, 0, 0]).await?;
    /// assert!(matches!(ws.next_event().await?, Event::Text("hi")));
    /// assert!(matches!(ws.next_event().await?, Event::Close(_)));
    /// assert!(matches!(ws.next_event().await, Err(sockless::io::Error::Closed)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_event(&mut self) -> Result<OpenEvent<'_>, Error> {
        if core::future::poll_fn(|cx| self.poll_step(false, cx)).await? != Ready::Event {
            return Err(Error::Closed);
        }
        let event = on_core!(&mut self.core, d => take_event(d, &self.deflate));
        match event {
            // A text message that failed its check when taken: reported here, not again
            // at the end.
            Some(Event::Failed(error)) => {
                self.reported = true;
                Err(Error::Protocol(error))
            }
            Some(event) => Ok(event),
            None => Err(Error::Closed),
        }
    }

    /// Queue `message` and write it out: `feed` then `flush`. Returns once the message
    /// (and everything before it) is written and flushed. Waits first while more than
    /// [`Settings::write_buffer_limit`] bytes wait to be written.
    ///
    /// A [`Message::Close`] starts the closing handshake (as [`close`](Self::close)).
    /// Sending after our Close, or after the connection ended, is [`Error::Closed`].
    ///
    /// **Cancel safety**: dropped before the message was queued (while waiting for room),
    /// nothing was sent; dropped after, the whole message is staged and goes out with the
    /// next flush or read. A frame is never cut.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        core::future::poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        self.queue(message)?;
        core::future::poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Start the closing handshake with `code` and `reason` (at most 123 bytes): stage our
    /// Close, flush it, and return: it does not wait for the peer's answer. Keep reading to
    /// see the end: the peer's Close, then the end of the stream (`None`), or
    /// [`TimedOut::Closing`](crate::TimedOut::Closing) if the peer does not answer within
    /// [`Config::close_timeout`](crate::Config::close_timeout). After the peer's Close it
    /// answers it with `code` (if the echo was not sent yet). Once the connection is
    /// closed it does nothing.
    ///
    /// **Cancel safety**: the Close is staged at the first poll; dropping the future
    /// afterwards only skips the flush (the next read or flush does it).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if matches!(self.phase, Phase::Running)
            && matches!(self.state(), State::Open | State::RemoteClosing)
        {
            let close = Message::Close(Some(OwnedCloseFrame {
                code,
                reason: reason.into(),
            }));
            match self.queue(close) {
                Ok(()) | Err(Error::Closed) => {}
                Err(error) => return Err(error),
            }
        }
        core::future::poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Stage `message`, or queue it behind those waiting for room.
    fn queue(&mut self, message: Message) -> Result<(), Error> {
        if !matches!(self.phase, Phase::Running) {
            return Err(Error::Closed);
        }
        let allowed = matches!(
            (&message, self.state()),
            (_, State::Open) | (Message::Close(_), State::RemoteClosing)
        );
        if !allowed {
            return Err(Error::Closed);
        }
        let message = if self.queue.is_empty() {
            match self.try_stage(message) {
                Ok(()) => return Ok(()),
                Err((message, SendError::NoRoom { .. })) => message,
                Err((_, SendError::Usage(UsageError::NotOpen))) => return Err(Error::Closed),
                Err((_, SendError::Usage(error))) => return Err(Error::Usage(error)),
            }
        } else {
            message
        };
        self.queued_bytes += message_len(&message);
        self.queue.push_back(message);
        Ok(())
    }

    /// Stage `message` in the driver now, if there is room.
    fn try_stage(&mut self, message: Message) -> Result<(), (Message, SendError)> {
        self.unpark();
        if !self.payload.is_empty() {
            // A payload is owed: nothing may come between it and its header.
            return Err((message, SendError::NoRoom { needed: 0 }));
        }
        let (io, deflate) = (&mut self.io, &mut self.deflate);
        let (payload, recycled) = (&mut self.payload, &mut self.recycled);
        on_core!(&mut self.core, d => stage(d, io, deflate, payload, recycled, message))
    }

    /// Move the queued messages into the driver, while they fit.
    #[inline(always)]
    fn stage_queued(&mut self) {
        // The common case, checked where it is called: nothing is queued.
        if !self.queue.is_empty() {
            self.stage_queue();
        }
    }

    /// [`stage_queued`](Self::stage_queued) with messages queued.
    fn stage_queue(&mut self) {
        while let Some(message) = self.queue.pop_front() {
            let len = message_len(&message);
            match self.try_stage(message) {
                Ok(()) => self.queued_bytes -= len,
                Err((message, SendError::NoRoom { .. })) => {
                    self.queue.push_front(message);
                    return;
                }
                // It cannot be sent any more (the connection is closing): dropped, as it
                // would have been had it come a moment later.
                Err(_) => self.queued_bytes -= len,
            }
        }
    }

    /// Move messages queued by [`Sender`]s into the stream, while under the limit.
    #[inline(always)]
    fn pump_channel(&mut self, cx: &mut Context<'_>) {
        // The common case, checked where it is called: no sender was made.
        if self.channel.is_some() {
            self.pump_senders(cx);
        }
    }

    /// [`pump_channel`](Self::pump_channel) once a [`Sender`] was made.
    fn pump_senders(&mut self, cx: &mut Context<'_>) {
        let Some(channel) = self.channel.as_ref().map(channel::Owner::shared) else {
            return;
        };
        channel.register_reader(cx.waker());
        while self.buffered_amount() < self.write_limit {
            let Some(message) = channel.pop() else { break };
            let _ = self.queue(message);
        }
    }

    /// The time to poll the driver with: read from the clock while its output is empty
    /// (what it stages next, a Pong, starts the write deadline), the recent time
    /// otherwise (see [`Transport::recent`]).
    fn now_for_poll(&mut self) -> Instant {
        match on_core!(&self.core, d => d.pending_output()) {
            0 => self.io.now(),
            _ => self.io.recent(),
        }
    }

    /// While the stream waits for its peer with nothing held (no bytes kept or owed),
    /// its two buffers are given back and the driver keeps the smallest storage it
    /// takes; [`unpark`](Self::unpark) takes buffers again before anything is read or
    /// staged. The recycled buffer of a message sent is dropped.
    fn park(&mut self) {
        self.recycled = Vec::new();
        if self.parked || !self.payload.is_empty() {
            return;
        }
        self.parked = on_core!(&mut self.core, d => {
            let idle = d.pending_output() == 0 && d.input().is_empty();
            idle && exchange(d, buffer(MIN_INPUT_BUFFER), buffer(crate::MIN_OUTPUT_BUFFER))
        });
    }

    /// Take buffers back after [`park`](Self::park).
    #[inline]
    fn unpark(&mut self) {
        if self.parked {
            let (input, output) = (take_buffer(self.input_len), take_buffer(self.output_len));
            self.parked = !on_core!(&mut self.core, d => exchange(d, input, output));
        }
    }

    /// Give back a large payload once it is written (or will never be). The common case,
    /// checked inline: there is none.
    #[inline(always)]
    fn release_payload(&mut self) {
        if !self.payload.is_empty() {
            self.release_written_payload();
        }
    }

    /// [`release_payload`](Self::release_payload) with a payload held.
    fn release_written_payload(&mut self) {
        let owed = on_core!(&self.core, d => d.transmit().payload_len);
        if owed == 0 {
            self.payload = Vec::new();
        }
    }

    /// Drive the driver until an event is ready, the connection ended cleanly, or with
    /// its error. With `assemble` (the [`Stream`]), the payload of a large data frame is
    /// read straight into the message being collected, and a message whose last bytes
    /// were read so is [`Ready::Assembled`].
    fn poll_step(&mut self, assemble: bool, cx: &mut Context<'_>) -> Poll<Result<Ready, Error>> {
        loop {
            if !matches!(self.phase, Phase::Running) {
                return self
                    .poll_end(cx)
                    .map_ok(|event| if event { Ready::Event } else { Ready::Ended });
            }
            self.unpark();
            self.pump_channel(cx);
            self.stage_queued();
            let now = self.now_for_poll();
            let (io, deflate, payload) = (&mut self.io, &mut self.deflate, &self.payload);
            let (large, incoming) = (&mut self.large_message, &mut self.incoming);
            let mut waits_for_input = false;
            let step = on_core!(&mut self.core, d => {
                let step = poll_driver(d, deflate, now);
                match step {
                    Step::Event(handle) => match handle.kind() {
                        // Failures end the connection: the end reports them.
                        EventKind::Failed(_)
                        | EventKind::HandshakeFailed(_)
                        | EventKind::Request
                        | EventKind::Connected
                        | EventKind::Rejected { .. } => {
                            d.skip_event();
                            Poll::Ready(None)
                        }
                        kind => {
                            // A piece that filled most of the input: a large message
                            // streams through it. Its last piece (or any whole message)
                            // ends that.
                            *large = match kind {
                                EventKind::Chunk { last: false, .. }
                                | EventKind::Compressed { last: false, .. } => {
                                    *large || handle.len() >= d.input().capacity() / 2
                                }
                                _ => false,
                            };
                            // Owed replies were written: let them leave a buffering
                            // transport before the event is handed out.
                            let _ = io.poll_flush(d, cx);
                            Poll::Ready(Some(Ready::Event))
                        }
                    },
                    // Wait for the earliest deadline, not only the write's: a keep-alive
                    // Ping stuck behind a blocked write must still time the peer out.
                    Step::Write { until } => match io.poll_write(d, payload, cx) {
                        Poll::Ready(()) => Poll::Ready(None),
                        Poll::Pending => {
                            let until = earliest(until, d.poll_timeout());
                            io.poll_until(until, cx).map(|()| None)
                        }
                    },
                    // A flush that failed was reported to the driver: poll it again.
                    Step::Read { .. } if io.poll_flush(d, cx).is_ready() && io.error.is_some() => {
                        Poll::Ready(None)
                    }
                    // Most of a frame is still to come (more than half the input):
                    // read it where the message is kept, not through the input (no
                    // copy; the driver unmasks it there, RFC 6455 §5.3, and checks
                    // text, §8.1). Smaller pieces keep the input's path.
                    Step::Read { until }
                        if assemble && d.payload_space() > d.input().capacity() / 2 =>
                    {
                        *large = false;
                        let space = d.payload_space();
                        match io.poll_read_payload(d, &mut incoming.data, space, cx) {
                            Poll::Ready(Some((kind, first, last))) => {
                                if first {
                                    incoming.kind = Some(kind);
                                }
                                Poll::Ready(last.then_some(Ready::Assembled))
                            }
                            Poll::Ready(None) => Poll::Ready(None),
                            Poll::Pending => {
                                waits_for_input = true;
                                io.poll_until(until, cx).map(|()| None)
                            }
                        }
                    }
                    Step::Read { until } => {
                        if *large && d.input().capacity() < LARGE_MESSAGE_INPUT {
                            // Fewer, larger reads while a large message arrives; given
                            // back once the stream waits (`park`).
                            if let Err(unused) = d.replace_input(take_buffer(LARGE_MESSAGE_INPUT)) {
                                give_back(unused);
                            }
                        }
                        match io.poll_read(d, cx) {
                            Poll::Ready(()) => Poll::Ready(None),
                            Poll::Pending => {
                                waits_for_input = true;
                                io.poll_until(until, cx).map(|()| None)
                            }
                        }
                    }
                    Step::Close(end) => {
                        self.phase = Phase::Ending { end, linger: None };
                        Poll::Ready(None)
                    }
                }
            });
            self.release_payload();
            match step {
                Poll::Ready(Some(ready)) => return Poll::Ready(Ok(ready)),
                Poll::Ready(None) => continue,
                Poll::Pending => {
                    if waits_for_input {
                        self.park();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// The connection is over: flush and shut the transport down (for at most the close
    /// timeout), and report how it ended, once.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        let Phase::Ending { linger, .. } = &mut self.phase else {
            return Poll::Ready(Ok(false));
        };
        let deadline =
            *linger.get_or_insert_with(|| tokio::time::Instant::now() + self.close_timeout);
        if self.io.poll_shutdown(cx).is_pending()
            && self.io.poll_until_tokio(deadline, cx).is_pending()
        {
            return Poll::Pending;
        }
        let Phase::Ending { end, .. } = core::mem::replace(&mut self.phase, Phase::Done) else {
            return Poll::Ready(Ok(false));
        };
        self.queue.clear();
        self.queued_bytes = 0;
        self.payload = Vec::new();
        if let Some(channel) = &self.channel {
            channel.close();
        }
        Poll::Ready(match self.io.end_error(end) {
            Some(error) if !self.reported => Err(error),
            _ => Ok(false),
        })
    }

    /// Write everything staged and queued (the write deadline still runs, and every
    /// other deadline is acted on); `Ready(Ok)` once all is written.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if !matches!(self.phase, Phase::Running) {
                return match ready!(self.poll_end(cx)) {
                    Ok(_) => Poll::Ready(Ok(())),
                    Err(error) => Poll::Ready(Err(error)),
                };
            }
            // A parked driver works as it is (a keep-alive Ping fits its storage); a
            // queued message takes the buffers back as it is staged.
            self.stage_queued();
            let now = self.now_for_poll();
            let (io, deflate, payload) = (&mut self.io, &mut self.deflate, &self.payload);
            let progress = on_core!(&mut self.core, d => {
                // The driver stages what the protocol owes (a keep-alive Ping) and acts on
                // every deadline; an event it finds stays pending for the reader.
                match poll_driver(d, deflate, now) {
                    Step::Close(end) => {
                        self.phase = Phase::Ending { end, linger: None };
                        Poll::Ready(true)
                    }
                    _ if d.pending_output() == 0 => Poll::Ready(false),
                    _ => match io.poll_write(d, payload, cx) {
                        Poll::Ready(()) => Poll::Ready(true),
                        Poll::Pending => {
                            ready!(io.poll_until(d.poll_timeout(), cx));
                            Poll::Ready(true)
                        }
                    },
                }
            });
            self.release_payload();
            match progress {
                Poll::Ready(true) => continue,
                Poll::Ready(false) => match self.queue.pop_front() {
                    None => return Poll::Ready(Ok(())),
                    // Nothing is owed and it still cannot be staged: it never can be.
                    Some(message) => self.queued_bytes -= message_len(&message),
                },
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The driver ended the connection (a write or flush failed, a deadline passed) while
    /// the stream still runs: report that end now, once, instead of a bare `Closed` later.
    /// The common case of [`poll_ready_inner`](Self::poll_ready_inner), checked inline:
    /// running, not ended, and under the write limit.
    #[inline(always)]
    fn has_room(&self) -> bool {
        matches!(self.phase, Phase::Running)
            && self.buffered_amount() < self.write_limit
            && on_core!(&self.core, d => d.end()).is_none()
    }

    fn poll_report_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let ended = on_core!(&self.core, d => d.end()).is_some();
        if ended && matches!(self.phase, Phase::Running) {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Ready once there is room to send: at once in the common case
    /// ([`has_room`](Self::has_room), inline), else after writing out.
    #[inline(always)]
    fn poll_ready_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.has_room() {
            return Poll::Ready(Ok(()));
        }
        self.poll_room(cx)
    }

    /// [`poll_ready_inner`](Self::poll_ready_inner) when there may be no room: report an
    /// end, or write out while over the write limit.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_report_end(cx))?;
        if !matches!(self.phase, Phase::Running) {
            return Poll::Ready(Err(Error::Closed));
        }
        if self.buffered_amount() >= self.write_limit {
            ready!(self.poll_write_out(cx))?;
            if !matches!(self.phase, Phase::Running) {
                return Poll::Ready(Err(Error::Closed));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if matches!(self.phase, Phase::Running) {
            self.pump_channel(cx);
        }
        ready!(self.poll_write_out(cx))?;
        if matches!(self.phase, Phase::Running) {
            let io = &mut self.io;
            on_core!(&mut self.core, d => ready!(io.poll_flush(d, cx)));
        }
        self.poll_report_end(cx)
    }

    /// The next whole message, or `None` at the end. Pieces are collected in
    /// [`Incoming`], the payload of a large frame read there directly.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            match ready!(self.poll_step(true, cx)) {
                Ok(Ready::Event) => {}
                Ok(Ready::Assembled) => return Poll::Ready(Some(self.assembled())),
                Ok(Ready::Ended) => return Poll::Ready(None),
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
            let (incoming, recycled) = (&mut self.incoming, &mut self.recycled);
            let event = on_core!(&mut self.core, d => take_event(d, &self.deflate));
            let message = match event {
                None | Some(Event::Failed(_)) => continue,
                Some(Event::Ping(payload)) => Message::Ping(payload.to_vec()),
                Some(Event::Pong(payload)) => Message::Pong(payload.to_vec()),
                Some(Event::Close(frame)) => {
                    incoming.clear();
                    Message::Close(frame.code.map(|code| OwnedCloseFrame {
                        code,
                        reason: frame.reason.into(),
                    }))
                }
                Some(Event::Text(text)) => Message::Text(owned_text(recycled, text)),
                Some(Event::Binary(data)) => Message::Binary(owned_bytes(recycled, data)),
                Some(Event::Chunk(chunk)) => {
                    incoming.push(chunk.kind, chunk.data, chunk.first);
                    if !chunk.last {
                        continue;
                    }
                    return Poll::Ready(Some(self.assembled()));
                }
                Some(_) => continue,
            };
            return Poll::Ready(Some(Ok(message)));
        }
    }

    /// The message collected in [`Incoming`], whole; text that is not UTF-8 ends the
    /// stream with that error.
    fn assembled(&mut self) -> Result<Message, Error> {
        let message = self.incoming.take();
        if message.is_err() {
            self.phase = Phase::Done;
        }
        message
    }
}

impl From<Driver<Connection<Unmasked>, Buf, Buf>> for Core {
    fn from(driver: Driver<Connection<Unmasked>, Buf, Buf>) -> Self {
        Core::Server(driver)
    }
}

impl From<Driver<Connection<Masked<MaskRng>>, Buf, Buf>> for Core {
    fn from(driver: Driver<Connection<Masked<MaskRng>>, Buf, Buf>) -> Self {
        Core::Client(driver)
    }
}

fn read_buffer_size(settings: &Settings) -> usize {
    settings
        .read_buffer_size
        .max(MIN_INPUT_BUFFER)
        .max(settings.config.max_head_len)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    /// The next message (see [`WebSocketStream`]); `None` once the connection ended
    /// cleanly, and after an error was returned. Cancel safe (see the module docs).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for WebSocketStream<S> {
    fn is_terminated(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    /// `Pending` while more than [`Settings::write_buffer_limit`] bytes wait to be
    /// written (and the transport takes none; the peer is given up after
    /// [`Config::write_timeout`]); [`Error::Closed`] once the connection ended.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_inner(cx)
    }

    /// Stage the message (nothing is written yet).
    /// [`Error::Closed`] after our Close or once the connection ended.
    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().queue(message)
    }

    /// Write everything staged (messages, and what the protocol owes) and flush the
    /// transport.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_inner(cx)
    }

    /// Send our Close (1000) if the connection is open, and flush; it does not wait for
    /// the peer's answer: read on for that (see [`WebSocketStream::close`]).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if matches!(this.phase, Phase::Running)
            && matches!(this.state(), State::Open | State::RemoteClosing)
        {
            let _ = this.queue(Message::Close(None));
        }
        this.poll_flush_inner(cx)
    }
}
