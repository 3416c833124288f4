//! A WebSocket over any tokio `AsyncRead + AsyncWrite` stream, both roles (feature
//! `tokio`): a futures [`Stream`] of [`Message`]s and a [`Sink`] of them, `accept` /
//! `connect` helpers, timers on tokio's clock.
//!
//! [`WebSocketStream`] is a thin layer over the public sans-IO API: a
//! [`Connection`] (the protocol), an input buffer, an output buffer and
//! one `tokio::time::Sleep` armed at [`poll_timeout`](crate::Endpoint::poll_timeout). It
//! has no protocol logic of its own.
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
//! - [`Sink::start_send`] (`feed`) only encodes the message into the output buffer;
//!   [`Sink::poll_flush`] (`flush`, and `send`, which is `feed` then `flush`) writes it and
//!   flushes the transport.
//! - **Reading drives writing.** Every poll of the read side ([`Stream::poll_next`],
//!   [`next_event`](WebSocketStream::next_event)) first writes and flushes whatever is
//!   buffered, then writes what the protocol owes (the Pong to a Ping, the echo of a Close,
//!   a keep-alive Ping, the Close of a failure) and flushes it *before* it hands out the
//!   event that caused it. A loop that only reads therefore answers every Ping in time,
//!   even over a transport that holds bytes until `flush` (TLS, `BufWriter`).
//! - Several tasks that send: take a [`Sender`] ([`WebSocketStream::sender`]), a
//!   cloneable handle over a bounded channel; the task that reads writes what the senders
//!   queued. Only that task ever touches the transport, so no write can be lost between
//!   two tasks and no lock is held across an `.await`.
//!
//! # Timers
//!
//! The handshake deadline ([`Config::handshake_timeout`](crate::Config::handshake_timeout),
//! covering the TCP connect and TLS too), the keep-alive
//! ([`Config::keep_alive`](crate::Config::keep_alive)) and the close timeout
//! ([`Config::close_timeout`](crate::Config::close_timeout)) all run on tokio's clock
//! (`tokio::time`, so `tokio::time::pause` works in tests), and are enforced while the
//! stream is read. A deadline that passes ends the connection with
//! [`Error::TimedOut`].
//!
//! # Memory and backpressure
//!
//! Each stream holds one input buffer ([`Settings::read_buffer_size`], 16 KiB by default,
//! allocated zeroed so that untouched pages cost nothing) and an output buffer that is
//! empty when idle. [`Sink::poll_ready`] is `Pending` while more than
//! [`Settings::write_buffer_limit`] bytes wait to be written, so a peer that does not read
//! never makes memory grow past that bound plus one message; the read side stops reading
//! too while owed replies cannot be written.
//!
//! # Cancel safety
//!
//! Every partial state (a frame half read, a message half assembled, bytes half written)
//! lives in the [`Connection`], the input buffer and the output buffer,
//! never in a future. Dropping a read future ([`StreamExt::next`], `next_event`) at any
//! point loses nothing: the next read resumes where it stopped. Each method documents what
//! dropping its future means.
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
#[cfg(feature = "tokio-rustls")]
mod tls;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::ops::Range;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::assemble::MessageAssembler;
use crate::close::{CloseCode, CloseFrame};
use crate::connection::{Connection, Masked, Role, State, Unmasked};
use crate::endpoint::Endpoint;
use crate::error::{ProtocolError, TimedOut, UsageError};
use crate::event::{Chunk, Event, MessageKind};
use crate::frame::{MAX_HEADER_LEN, apply_mask};
use crate::io::{Error, Message, OwnedCloseFrame};
use crate::time::{Duration, Instant};
use crate::{Config, InputBuffer, MIN_INPUT_BUFFER, MIN_OUTPUT_BUFFER};

pub use channel::Sender;
pub use handshake::{
    Decision, HandshakeResponse, accept, accept_with, client_async, client_async_with, connect,
    connect_with,
};
#[cfg(feature = "tokio-rustls")]
pub use tls::{accept_tls, connect_tls};

/// [`accept`] under tokio-tungstenite's name, so that switching is a change of imports.
pub use handshake::accept as accept_async;
/// [`connect`] under tokio-tungstenite's name, so that switching is a change of imports.
pub use handshake::connect as connect_async;

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

/// The open connection, in either role.
#[derive(Debug)]
enum Core {
    Server(Connection<Unmasked>),
    Client(Connection<Masked<MaskRng>>),
}

/// Run `$body` with `$c` bound to the connection, whatever its role.
macro_rules! on_core {
    ($core:expr, $c:ident => $body:expr) => {
        match $core {
            Core::Server($c) => $body,
            Core::Client($c) => $body,
        }
    };
}

/// Received bytes not used yet. [`next_event`](WebSocketStream::next_event) hands out
/// an event that borrows this buffer after an `.await`, so the event is first recorded as
/// positions in the buffer's storage ([`Stashed`]) and rebuilt from them; its bytes stay
/// in place until the next read.
type Input = InputBuffer<Box<[u8]>>;

/// The input buffer of a stream with `settings`: [`read_buffer_size`] bytes, which
/// covers a handshake's head and [`MIN_INPUT_BUFFER`].
pub(super) fn new_input(settings: &Settings) -> Input {
    let storage = alloc::vec![0; read_buffer_size(settings)].into_boxed_slice();
    InputBuffer::new(storage, &settings.config)
        .expect("read_buffer_size covers the head and MIN_INPUT_BUFFER")
}

/// An event recorded as positions in the input buffer, to be rebuilt (borrowing the
/// buffer) when it is handed out.
#[derive(Clone, Debug)]
enum Stashed {
    Text(Range<usize>),
    Binary(Range<usize>),
    Chunk {
        kind: MessageKind,
        data: Range<usize>,
        first: bool,
        last: bool,
    },
    Ping(Range<usize>),
    Pong(Range<usize>),
    Close(Option<CloseCode>, Range<usize>),
}

impl Stashed {
    /// The positions of `event`'s bytes in `base`; `None` for the events that are not
    /// handed out (failures, handshake events).
    fn of(event: &Event<'_>, base: usize) -> Option<Stashed> {
        let at = |bytes: &[u8]| {
            if bytes.is_empty() {
                // An empty slice may point anywhere (an empty reason is a literal).
                return 0..0;
            }
            let start = (bytes.as_ptr() as usize).wrapping_sub(base);
            start..start + bytes.len()
        };
        Some(match *event {
            Event::Text(text) => Stashed::Text(at(text.as_bytes())),
            Event::Binary(data) => Stashed::Binary(at(data)),
            Event::Chunk(chunk) => Stashed::Chunk {
                kind: chunk.kind,
                data: at(chunk.data),
                first: chunk.first,
                last: chunk.last,
            },
            Event::Ping(payload) => Stashed::Ping(at(payload)),
            Event::Pong(payload) => Stashed::Pong(at(payload)),
            Event::Close(frame) => Stashed::Close(frame.code, at(frame.reason.as_bytes())),
            _ => return None,
        })
    }

    /// The event again, borrowing `buf`. Text was validated by the connection; it is
    /// checked again here only because `&str` cannot be made from bytes without it.
    fn event(self, buf: &[u8]) -> Event<'_> {
        let text = |range: Range<usize>| crate::utf8::validate_whole(&buf[range]).ok();
        match self {
            Stashed::Text(range) => match text(range) {
                Some(text) => Event::Text(text),
                None => Event::Failed(ProtocolError::InvalidUtf8),
            },
            Stashed::Binary(range) => Event::Binary(&buf[range]),
            Stashed::Chunk {
                kind,
                data,
                first,
                last,
            } => Event::Chunk(Chunk {
                kind,
                data: &buf[data],
                first,
                last,
            }),
            Stashed::Ping(range) => Event::Ping(&buf[range]),
            Stashed::Pong(range) => Event::Pong(&buf[range]),
            Stashed::Close(code, range) => Event::Close(CloseFrame {
                code,
                reason: text(range).unwrap_or(""),
            }),
        }
    }
}

/// Where the stream stands, beyond what the connection knows.
#[derive(Debug)]
enum Phase {
    /// Reading and writing.
    Running,
    /// The connection is over: write what is left, shut the transport down, then report
    /// `error` (or the clean end). `linger` bounds the wait for those writes.
    Ending {
        error: Option<Error>,
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
/// [`Config::max_message_len`](crate::Config::max_message_len)), every Ping and Pong
/// (a Ping is already answered), and the peer's Close (already echoed); then the stream
/// ends (`None`) once the closing handshake is over and the transport is shut down. A
/// clean close is never an error. For zero-copy reads, see
/// [`next_event`](Self::next_event).
#[derive(Debug)]
pub struct WebSocketStream<S> {
    io: S,
    core: Core,
    input: Input,
    stash: Option<Stashed>,
    assembler: MessageAssembler,
    /// Bytes `out[out_start..]` wait to be written.
    out: Vec<u8>,
    out_start: usize,
    flush_needed: bool,
    /// The transport failed to take bytes after the connection ended: write no more.
    write_broken: bool,
    /// [`Config::write_timeout`](crate::Config::write_timeout).
    write_timeout: Duration,
    /// When the transport first took no bytes, since the last progress: the give-up
    /// deadline ([`TimedOut::Write`]).
    write_stalled: Option<tokio::time::Instant>,
    /// The timer of that deadline, made the first time a write waits.
    write_timer: Option<Pin<Box<Sleep>>>,
    write_limit: usize,
    close_timeout: Duration,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    /// The zero of the connection's clock.
    epoch: tokio::time::Instant,
    /// When the bytes in the input buffer were read: the `now` given to `receive`, so that
    /// the clock is read once per transport read, not once per event.
    received_at: Instant,
    phase: Phase,
    channel: Option<channel::Owner>,
    channel_capacity: usize,
    /// permessage-deflate, where the handshake negotiated it.
    deflate: Option<Box<Deflate>>,
    /// The stashed event borrows the inflater's window, not the input buffer.
    stash_in_window: bool,
}

/// The inflater and the compressor of a connection that negotiated permessage-deflate.
#[cfg(feature = "deflate")]
#[derive(Debug)]
struct Deflate {
    inflater: crate::deflate::Inflater<Vec<u8>>,
    /// Its own, or the thread's (see [`MessageCompressor`](crate::io::compressor::MessageCompressor)).
    compressor: crate::io::compressor::MessageCompressor,
}

/// Without the `deflate` feature nothing is ever negotiated.
#[cfg(not(feature = "deflate"))]
#[derive(Debug)]
enum Deflate {}

/// The permessage-deflate state for `core`, if its handshake negotiated it.
fn deflate_for(core: &Core) -> Option<Box<Deflate>> {
    #[cfg(feature = "deflate")]
    {
        use crate::deflate::{Inflater, window_len};
        use crate::io::compressor::MessageCompressor;
        fn make<M: crate::connection::Masking>(c: &Connection<M>) -> Option<Box<Deflate>> {
            let params = c.deflate()?;
            let window = alloc::vec![0; window_len(params.receive_window_bits(M::ROLE))];
            Some(Box::new(Deflate {
                inflater: Inflater::new(c, window).ok()?,
                compressor: MessageCompressor::new::<M>(params),
            }))
        }
        on_core!(core, c => make(c))
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = core;
        None
    }
}

/// The payload of a data message, for the compressor.
#[cfg(feature = "deflate")]
fn data_payload(message: &Message) -> Option<crate::io::compressor::Payload<'_>> {
    use crate::io::compressor::Payload;
    match message {
        Message::Text(text) => Some(Payload::Text(text)),
        Message::Binary(data) => Some(Payload::Binary(data)),
        _ => None,
    }
}

/// The output buffer keeps at most this much capacity once empty.
const KEEP_OUTPUT_CAPACITY: usize = 64 * 1024;
/// The assembler keeps at most this much capacity between messages.
const KEEP_ASSEMBLER_CAPACITY: usize = 1024 * 1024;

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
        let epoch = tokio::time::Instant::now();
        let config = settings.config;
        let core = match role {
            Role::Server => Core::Server(Connection::server(&config, Instant::ZERO)),
            Role::Client => {
                Core::Client(Connection::client(&config, MaskRng::new(), Instant::ZERO))
            }
        };
        let mut input = new_input(&settings);
        let kept = input.push(read);
        let mut ws = Self::assemble(stream, core, input, Vec::new(), epoch, &settings);
        if kept < read.len() {
            ws.phase = Phase::Ending {
                error: Some(UsageError::InputBufferTooSmall.into()),
                linger: None,
            };
        }
        ws
    }

    fn assemble(
        io: S,
        core: Core,
        input: Input,
        out: Vec<u8>,
        epoch: tokio::time::Instant,
        settings: &Settings,
    ) -> Self {
        WebSocketStream {
            io,
            input,
            stash: None,
            assembler: MessageAssembler::new(),
            out,
            out_start: 0,
            flush_needed: false,
            write_broken: false,
            write_timeout: settings.config.write_timeout,
            write_stalled: None,
            write_timer: None,
            write_limit: settings.write_buffer_limit.max(1),
            close_timeout: settings.config.close_timeout,
            timer: Box::pin(tokio::time::sleep_until(epoch)),
            timer_at: None,
            epoch,
            received_at: Instant::from_elapsed(
                tokio::time::Instant::now().saturating_duration_since(epoch),
            ),
            phase: Phase::Running,
            channel: None,
            channel_capacity: settings.channel_capacity.max(1),
            deflate: deflate_for(&core),
            stash_in_window: false,
            core,
        }
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, mutably (reading or writing it directly breaks the connection).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The transport back, and anything buffered is dropped.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// The subprotocol the opening handshake chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        on_core!(&self.core, c => c.subprotocol())
    }

    /// Which side of the connection this is.
    pub fn role(&self) -> Role {
        on_core!(&self.core, c => c.role())
    }

    /// Where the connection stands (open, closing, closed).
    pub fn state(&self) -> State {
        on_core!(&self.core, c => c.state())
    }

    /// How many bytes wait in the output buffer (written by the next flush or read).
    pub fn buffered_amount(&self) -> usize {
        self.out.len() - self.out_start
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
    /// assembled). Pings are already answered and a Close already echoed (and flushed)
    /// when their event is returned. After the peer's [`Event::Close`], or an error, the
    /// next call returns [`Error::Closed`]
    /// once the transport was shut down.
    ///
    /// Whole text messages are checked for UTF-8 a second time on the way out (the event
    /// is rebuilt from the buffer after the `.await`).
    ///
    /// Do not mix it with the [`Stream`] in the middle of a message
    /// (the `Stream` would miss the pieces already handed out here).
    ///
    /// **Cancel safe**: dropping the future at any point loses nothing; an event decoded
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
    pub async fn next_event(&mut self) -> Result<Event<'_>, Error> {
        if !core::future::poll_fn(|cx| self.poll_stash(cx)).await? {
            return Err(Error::Closed);
        }
        Ok(self.take_event())
    }

    fn take_event(&mut self) -> Event<'_> {
        let stashed = self.stash.take().expect("an event is stashed");
        #[cfg(feature = "deflate")]
        if self.stash_in_window {
            if let Some(deflate) = &self.deflate {
                return stashed.event(deflate.inflater.window());
            }
        }
        stashed.event(self.input.storage())
    }

    /// Queue `message` and write it out: `feed` then `flush`. Returns once the message
    /// (and everything before it) is written and flushed. Waits first while the output
    /// buffer is over [`Settings::write_buffer_limit`].
    ///
    /// A [`Message::Close`] starts the closing handshake (as [`close`](Self::close)).
    /// Sending after our Close, or after the connection ended, is [`Error::Closed`].
    ///
    /// **Cancel safety**: dropped before the message was queued (while waiting for room),
    /// nothing was sent; dropped after, the whole message is in the output buffer and goes
    /// out with the next flush or read. A frame is never cut.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        core::future::poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        self.queue(message)?;
        core::future::poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Start the closing handshake with `code` and `reason` (at most 123 bytes): queue our
    /// Close, flush it, and return: it does not wait for the peer's answer. Keep reading to
    /// see the end: the peer's Close, then the end of the stream (`None`), or
    /// [`TimedOut::Closing`] if the peer does not answer within
    /// [`Config::close_timeout`](crate::Config::close_timeout). After the peer's Close it
    /// answers it with `code` (if the echo was not sent yet). Once the connection is
    /// closed it does nothing.
    ///
    /// **Cancel safety**: the Close is queued at the first poll; dropping the future
    /// afterwards only skips the flush (the next read or flush does it).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let now = self.now();
        let mut frame = [0; MIN_OUTPUT_BUFFER];
        match on_core!(&mut self.core, c => c.close(code, reason, now, &mut frame)) {
            Ok(n) => self.out.extend_from_slice(&frame[..n]),
            Err(crate::Error::Usage(UsageError::NotOpen)) => {}
            Err(error) => return Err(error.into()),
        }
        core::future::poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// The inflater has output to hand out without new input (RFC 7692 messages).
    fn inflater_pending(&self) -> bool {
        match &self.deflate {
            #[cfg(feature = "deflate")]
            Some(deflate) => deflate.inflater.has_pending(),
            _ => false,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_elapsed(tokio::time::Instant::now().saturating_duration_since(self.epoch))
    }

    /// Encode `message` into the output buffer.
    fn queue(&mut self, message: Message) -> Result<(), Error> {
        if !matches!(self.phase, Phase::Running) {
            return Err(Error::Closed);
        }
        let mut frame = [0; MIN_OUTPUT_BUFFER];
        #[cfg(feature = "deflate")]
        if let (Some(deflate), Some(payload)) = (&mut self.deflate, data_payload(&message)) {
            // Compressed straight into the output buffer (RFC 7692), or sent as it is when
            // that does not pay: at most a header and the payload.
            if self.out_start > 0 && self.out_start >= self.out.len() / 2 {
                self.out.drain(..self.out_start);
                self.out_start = 0;
            }
            let start = self.out.len();
            self.out.resize(start + payload.len() + MAX_HEADER_LEN, 0);
            let out = &mut self.out[start..];
            let compressor = &mut deflate.compressor;
            let written = on_core!(&mut self.core, c => compressor.send(c, payload, out));
            return match written {
                Ok(n) => {
                    self.out.truncate(start + n);
                    Ok(())
                }
                Err(error) => {
                    self.out.truncate(start);
                    Err(send_error(error))
                }
            };
        }
        let written = match &message {
            Message::Text(text) => return self.queue_data(MessageKind::Text, text.as_bytes()),
            Message::Binary(data) => return self.queue_data(MessageKind::Binary, data),
            Message::Ping(payload) => on_core!(&mut self.core, c => c.ping(payload, &mut frame)),
            Message::Pong(payload) => on_core!(&mut self.core, c => c.pong(payload, &mut frame)),
            Message::Close(close) => {
                let (code, reason) = match close {
                    Some(close) => (close.code, close.reason.as_str()),
                    None => (CloseCode::NORMAL, ""),
                };
                let now = self.now();
                on_core!(&mut self.core, c => c.close(code, reason, now, &mut frame))
            }
        };
        let n = written.map_err(send_error)?;
        self.append(&frame[..n]);
        Ok(())
    }

    /// A data message: its header from `send_header`, then the payload copied (and masked
    /// by a client) right behind it.
    fn queue_data(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        let mut header = [0; MAX_HEADER_LEN];
        let len = payload.len() as u64;
        let written = on_core!(&mut self.core, c => c.send_header(kind, len, true, &mut header))
            .map_err(send_error)?;
        self.append(&header[..written.len]);
        let start = self.out.len();
        self.out.extend_from_slice(payload);
        if let Some(key) = written.mask {
            apply_mask(&mut self.out[start..], key, 0);
        }
        // The payload follows its header in the output buffer: nothing can come between.
        on_core!(&mut self.core, c => c.payload_written(len))?;
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.out_start > 0 && self.out_start >= self.out.len() / 2 {
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
        self.out.extend_from_slice(bytes);
    }

    /// Move what the protocol owes into the output buffer, unless it is over its limit
    /// (then the connection keeps it: at most one Pong, the latest, and one Close).
    fn transmit(&mut self) {
        let mut frame = [0; MIN_OUTPUT_BUFFER];
        while self.buffered_amount() < self.write_limit {
            match on_core!(&mut self.core, c => c.poll_transmit(&mut frame)) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.append(&frame[..n]),
            }
        }
    }

    /// Move messages queued by [`Sender`]s into the output buffer, while it has room.
    fn pump_channel(&mut self, cx: &mut Context<'_>) {
        let Some(channel) = self.channel.as_ref().map(channel::Owner::shared) else {
            return;
        };
        channel.register_reader(cx.waker());
        while self.buffered_amount() < self.write_limit {
            let Some(message) = channel.pop() else { break };
            // A message that cannot be sent any more (the connection is closing) is
            // dropped, as it would have been had it come a moment later.
            let _ = self.queue(message);
        }
    }

    /// Write the output buffer, then flush. `Ready(Ok)` once everything is written and
    /// flushed.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while self.out_start < self.out.len() {
            if self.write_broken {
                self.discard_output();
                break;
            }
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_start..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(self.write_failed(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.out_start += n;
                    self.flush_needed = true;
                    self.write_stalled = None;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(self.write_failed(error)),
                Poll::Pending => return self.poll_write_deadline(cx),
            }
        }
        self.discard_output();
        if self.flush_needed && !self.write_broken {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.flush_needed = false,
                Poll::Ready(Err(error)) => return Poll::Ready(self.write_failed(error)),
                Poll::Pending => return self.poll_write_deadline(cx),
            }
        }
        self.write_stalled = None;
        Poll::Ready(Ok(()))
    }

    /// The transport takes no bytes now: `Pending` until it does, or, once it took none
    /// for [`Config::write_timeout`](crate::Config::write_timeout), give the peer up (it
    /// stopped reading): the output is dropped, the transport shut down, the connection
    /// over with [`TimedOut::Write`].
    fn poll_write_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let write_timeout = self.write_timeout;
        let deadline = *self
            .write_stalled
            .get_or_insert_with(|| tokio::time::Instant::now() + write_timeout);
        // Made the first time a write waits, then kept: a connection that never waits
        // holds no timer for it.
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        ready!(timer.as_mut().poll(cx));
        self.write_stalled = None;
        self.write_broken = true;
        self.discard_output();
        // Best effort: the peer that does not read may not get the end either; dropping
        // the transport closes it.
        let _ = Pin::new(&mut self.io).poll_shutdown(cx);
        if matches!(self.phase, Phase::Running) {
            self.phase = Phase::Done;
            if let Some(channel) = &self.channel {
                channel.close();
            }
        }
        Poll::Ready(Err(Error::TimedOut(TimedOut::Write)))
    }

    /// All written: empty the buffer, keeping a bounded capacity.
    fn discard_output(&mut self) {
        self.out.clear();
        self.out_start = 0;
        if self.out.capacity() > KEEP_OUTPUT_CAPACITY {
            self.out = Vec::new();
        }
    }

    /// The transport refused bytes. Once the connection is no longer open (a peer that
    /// sent its Close and went away) that is no failure: write no more. Otherwise the
    /// connection is over.
    fn write_failed(&mut self, error: std::io::Error) -> Result<(), Error> {
        self.write_broken = true;
        self.discard_output();
        if self.state() == State::Open {
            if matches!(self.phase, Phase::Running) {
                self.phase = Phase::Done;
            }
            Err(Error::Io(error))
        } else {
            Ok(())
        }
    }

    /// Arm the timer at the connection's deadline; `Ready` with what `handle_timeout`
    /// said once it passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<Option<TimedOut>> {
        let Some(at) = on_core!(&self.core, c => c.poll_timeout()) else {
            return Poll::Pending;
        };
        // A deadline that has passed is acted on at once, whether or not the timer
        // fired yet: a peer that keeps bytes coming cannot hold it off.
        let now = self.now();
        if at <= now {
            self.timer_at = None;
            return Poll::Ready(on_core!(&mut self.core, c => c.handle_timeout(now)));
        }
        if self.timer_at != Some(at) {
            let deadline = self.epoch + at.elapsed_since_epoch();
            self.timer.as_mut().reset(deadline);
            self.timer_at = Some(at);
        }
        ready!(self.timer.as_mut().poll(cx));
        self.timer_at = None;
        // tokio's timer fires at or after the deadline; never before it.
        let now = self.now().max(at);
        Poll::Ready(on_core!(&mut self.core, c => c.handle_timeout(now)))
    }

    /// Drive the connection until an event is stashed (`true`) or the connection ended
    /// cleanly (`false`).
    fn poll_stash(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        loop {
            if self.stash.is_some() {
                return Poll::Ready(Ok(true));
            }
            if let Phase::Ending { .. } | Phase::Done = self.phase {
                return self.poll_end(cx);
            }
            self.pump_channel(cx);
            // Write at once only what the protocol now owes (a Pong, a Close) or a full
            // buffer; messages fed by the application wait until no event is left to hand
            // out (written below, before reading): one write for many messages.
            let before = self.buffered_amount();
            self.transmit();
            if self.buffered_amount() > before || self.buffered_amount() >= self.write_limit {
                let _ = self.poll_write_out(cx)?;
            }
            if on_core!(&self.core, c => c.should_close_transport()) {
                self.phase = Phase::Ending {
                    error: None,
                    linger: None,
                };
                continue;
            }
            // Events already received (or inflated output still owed).
            if !self.input.is_empty() || self.inflater_pending() {
                let now = self.received_at;
                let base = self.input.storage().as_ptr() as usize;
                let core = &mut self.core;
                let (event, window) = match &mut self.deflate {
                    #[cfg(feature = "deflate")]
                    Some(deflate) => {
                        let window = deflate.inflater.window().as_ptr_range();
                        let window = window.start as usize..window.end as usize;
                        let inflater = &mut deflate.inflater;
                        let event = self.input.receive_with(
                            |bytes| on_core!(core, c => inflater.receive(c, bytes, now)),
                        )?;
                        (event, window)
                    }
                    _ => {
                        let event = self
                            .input
                            .receive_with(|bytes| on_core!(core, c => c.receive(bytes, now)))?;
                        (event, 0..0)
                    }
                };
                // Inflated data borrows the inflater's window (RFC 7692), the rest the input.
                let in_window = event.as_ref().is_some_and(|event| {
                    let data = match event {
                        Event::Text(text) => text.as_bytes(),
                        Event::Binary(data) => data,
                        Event::Chunk(chunk) => chunk.data,
                        _ => &[],
                    };
                    !data.is_empty() && window.contains(&(data.as_ptr() as usize))
                });
                let base = if in_window { window.start } else { base };
                let stashed = event.map(|event| match event {
                    Event::Failed(error) => Err(error),
                    event => Ok(Stashed::of(&event, base)),
                });
                self.stash_in_window = in_window;
                match stashed {
                    Some(Ok(Some(stashed))) => {
                        // What the event made us owe goes out before the event is handed out.
                        let before = self.buffered_amount();
                        self.transmit();
                        if self.buffered_amount() > before {
                            let _ = self.poll_write_out(cx)?;
                        }
                        self.stash = Some(stashed);
                        continue;
                    }
                    Some(Err(error)) => {
                        self.transmit();
                        self.end_with(Error::Protocol(error));
                        continue;
                    }
                    Some(Ok(None)) => continue,
                    None => {}
                }
            }
            match self.poll_timer(cx) {
                Poll::Ready(Some(timed_out)) => {
                    self.transmit();
                    self.end_with(Error::TimedOut(timed_out));
                    continue;
                }
                Poll::Ready(None) => continue,
                Poll::Pending => {}
            }
            // Nothing left to hand out: write everything buffered before waiting for input.
            let written = self.poll_write_out(cx)?;
            // Backpressure: read no more while what we owe cannot be written.
            if written.is_pending() && self.buffered_amount() >= self.write_limit {
                return Poll::Pending;
            }
            let space = self.input.read_space();
            if space.is_empty() {
                // Cannot happen: data frames stream through and control frames fit.
                self.end_with(UsageError::InputBufferTooSmall.into());
                continue;
            }
            let mut read = ReadBuf::new(space);
            match Pin::new(&mut self.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        if let Err(abnormal) = on_core!(&mut self.core, c => c.handle_eof()) {
                            self.end_with(abnormal.into());
                        }
                    } else {
                        self.input.commit(n);
                        self.received_at = self.now();
                    }
                }
                // After the peer's Close, a reset or a broken pipe ends the connection as
                // the end of the stream would: cleanly (many servers reset the TCP
                // connection once the closing handshake is over).
                Poll::Ready(Err(error))
                    if super::ends_cleanly(error.kind())
                        && matches!(self.state(), State::Closed | State::RemoteClosing) =>
                {
                    let _ = on_core!(&mut self.core, c => c.handle_eof());
                    self.write_broken = true;
                    self.discard_output();
                }
                Poll::Ready(Err(error)) => {
                    self.phase = Phase::Done;
                    return Poll::Ready(Err(Error::Io(error)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn end_with(&mut self, error: Error) {
        self.phase = Phase::Ending {
            error: Some(error),
            linger: None,
        };
    }

    /// The connection is over: write what is left (for at most the close timeout), shut
    /// the transport down, and report how it ended, once.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        let Phase::Ending { linger, .. } = &mut self.phase else {
            return Poll::Ready(Ok(false));
        };
        let deadline = match *linger {
            Some(deadline) => deadline,
            None => {
                let deadline = tokio::time::Instant::now() + self.close_timeout;
                *linger = Some(deadline);
                self.timer_at = None;
                deadline
            }
        };
        let mut finished = self.write_broken;
        if !finished {
            match self.poll_write_out(cx) {
                Poll::Ready(_) => {
                    finished = matches!(Pin::new(&mut self.io).poll_shutdown(cx), Poll::Ready(_))
                }
                Poll::Pending => {}
            }
        }
        if !finished {
            if tokio::time::Instant::now() < deadline {
                self.timer.as_mut().reset(deadline);
                if self.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            self.discard_output();
        }
        let Phase::Ending { error, .. } = core::mem::replace(&mut self.phase, Phase::Done) else {
            unreachable!("checked above")
        };
        if let Some(channel) = &self.channel {
            channel.close();
        }
        Poll::Ready(match error {
            Some(error) => Err(error),
            None => Ok(false),
        })
    }

    fn poll_ready_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !matches!(self.phase, Phase::Running) {
            return Poll::Ready(Err(Error::Closed));
        }
        if self.buffered_amount() >= self.write_limit {
            let _ = self.poll_write_out(cx)?;
            if self.buffered_amount() >= self.write_limit {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if matches!(self.phase, Phase::Running) {
            self.pump_channel(cx);
            self.transmit();
        }
        self.poll_write_out(cx)
    }

    /// The next whole message, or `None` at the end.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            match ready!(self.poll_stash(cx)) {
                Ok(true) => {}
                Ok(false) => return Poll::Ready(None),
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
            let stashed = self.stash.take().expect("an event is stashed");
            let buf: &[u8] = match &self.deflate {
                #[cfg(feature = "deflate")]
                Some(deflate) if self.stash_in_window => deflate.inflater.window(),
                _ => self.input.storage(),
            };
            let event = stashed.event(buf);
            let message = match event {
                Event::Ping(payload) => Message::Ping(payload.to_vec()),
                Event::Pong(payload) => Message::Pong(payload.to_vec()),
                Event::Close(frame) => Message::Close(frame.code.map(|code| OwnedCloseFrame {
                    code,
                    reason: frame.reason.into(),
                })),
                event => match self.assembler.push(&event) {
                    Ok(Some(whole)) => {
                        let message = Message::from(whole.into_owned());
                        if self.assembler.capacity() > KEEP_ASSEMBLER_CAPACITY {
                            self.assembler.shrink_to(0);
                        }
                        message
                    }
                    Ok(None) => continue,
                    Err(_) => {
                        self.phase = Phase::Done;
                        return Poll::Ready(Some(Err(Error::Protocol(ProtocolError::InvalidUtf8))));
                    }
                },
            };
            return Poll::Ready(Some(Ok(message)));
        }
    }
}

fn read_buffer_size(settings: &Settings) -> usize {
    settings
        .read_buffer_size
        .max(MIN_INPUT_BUFFER)
        .max(settings.config.max_head_len)
}

/// A send refused because the connection is no longer open is [`Error::Closed`].
fn send_error(error: crate::Error) -> Error {
    match error {
        crate::Error::Usage(UsageError::NotOpen) => Error::Closed,
        other => other.into(),
    }
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
    /// written (and the transport takes none); [`Error::Closed`] once the connection ended.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_inner(cx)
    }

    /// Encode the message into the output buffer (nothing is written yet).
    /// [`Error::Closed`] after our Close or once the connection ended.
    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().queue(message)
    }

    /// Write everything buffered (messages, and what the protocol owes) and flush the
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
        this.poll_write_out(cx)
    }
}
