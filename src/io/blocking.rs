//! A blocking WebSocket over any `std::io::Read + Write` stream, for both roles (feature
//! `std`): [`accept`] a stream, [`connect`] to a URL, then [`WebSocket::read`] whole
//! messages, [`WebSocket::send`] them and [`WebSocket::close`].
//!
//! It is a thin loop over the sans-IO core ([`Endpoint`], [`InputBuffer`],
//! [`Connection`], [`MessageAssembler`]): every protocol rule lives there. What this module
//! adds is the I/O and the clock:
//!
//! - **Owed frames go out at once.** After every event `read` writes (and flushes) what the
//!   core owes before returning: the Pong for a Ping, the echo of a Close, the Close that
//!   answers a violation (RFC 6455 §5.5.2, §5.5.1, §7.1.7). `send` writes any owed frame
//!   first, then the message.
//! - **Every wait has a deadline.** Reads wait at most until the core's next deadline
//!   ([`Endpoint::poll_timeout`]: the handshake timeout, the keep-alive timer, the close
//!   timeout), through the stream's read timeout ([`Transport::set_read_timeout`]); writes
//!   give up after [`Config::write_timeout`] without progress, through the stream's write
//!   timeout ([`Transport::set_write_timeout`]): the connection ends with
//!   [`TimedOut::Write`](crate::TimedOut::Write) and the transport is shut. Writes go
//!   out in pieces of at most 256 KiB, and a write call that lasts the whole write
//!   timeout counts as no progress (a blocking write cannot say when its bytes went, and
//!   a TLS stream reports the bytes it buffered as written), so a peer that takes less
//!   than a piece in a write timeout is given up too.
//!   Keep-alive pings and timeouts are
//!   handled while reading (`read`, `read_event`, `close`): a connection that only sends
//!   does not notice a dead peer until a write fails. An open connection waiting for the
//!   next message has a deadline only with [`Config::keep_alive`] set (it is off by
//!   default): then a peer that stops answering Pings is given up
//!   ([`TimedOut::KeepAlive`](crate::TimedOut::KeepAlive)).
//! - **Closing ends cleanly.** Reading the peer's Close gives [`Message::Close`] once, after
//!   the echo was written and the transport shut (a client first waits, at most
//!   [`Config::close_timeout`], for the server to close the TCP connection, §7.1.1); every
//!   later call gives [`Error::Closed`]. [`WebSocket::close`] returns once the closing
//!   handshake finished or the close timeout passed, and always shuts the transport.
//!
//! # Example
//!
//! ```
//! use std::net::TcpListener;
//! use sockless::io::Message;
//! use sockless::io::blocking;
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/echo", listener.local_addr()?);
//! // A server that echoes one message, then reads until the client closes.
//! let server = std::thread::spawn(move || -> Result<(), sockless::io::Error> {
//!     let (stream, _) = listener.accept()?;
//!     let mut ws = blocking::accept(stream)?;
//!     let message = ws.read()?;
//!     ws.send(message)?;
//!     assert!(matches!(ws.read()?, Message::Close(Some(frame)) if frame.code.0 == 1000));
//!     assert!(matches!(ws.read(), Err(sockless::io::Error::Closed)));
//!     Ok(())
//! });
//! let mut ws = blocking::connect(&url)?;
//! ws.send_text("hello")?;
//! assert_eq!(ws.read()?, Message::Text("hello".into()));
//! ws.close(sockless::CloseCode::NORMAL, "done")?;
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::boxed::Box;
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant as Clock;
use std::vec;
use std::vec::Vec;

use super::{Error, Message, OwnedCloseFrame};
use crate::assemble::MessageAssembler;
#[cfg(feature = "deflate")]
use crate::deflate::{Inflater, window_len};
use crate::frame::{MAX_HEADER_LEN, apply_mask};
use crate::handshake::WsUrl;
#[cfg(feature = "deflate")]
use crate::io::compressor::{MessageCompressor, Payload};
use crate::{
    Accept, Client, ClientRequest, CloseCode, Config, Connection, Duration, Endpoint, Event,
    InputBuffer, Instant, MIN_OUTPUT_BUFFER, Masked, Masking, MessageKind, OsRng, ProtocolError,
    Request, Server, State, Unmasked, UsageError,
};

/// The most bytes one write call is given: the unit of progress of the write timeout
/// (see the module documentation).
const WRITE_PIECE: usize = 256 * 1024;

/// The input buffer: a whole head of [`Config::max_head_len`] fits, and larger messages
/// stream through it in pieces of this size. Allocated once per connection.
const INPUT_BUFFER: usize = 16 * 1024;

/// The buffer that collects messages arriving in pieces keeps at most this much capacity
/// between messages: the memory of a larger message is released once it is handed out.
const KEEP_ASSEMBLER_CAPACITY: usize = 64 * 1024;

/// Client payloads are masked on a copy (RFC 6455 §5.3), in pieces of at most this size, so
/// that sending a large message never needs a buffer of its size.
const MASK_CHUNK: usize = 16 * 1024;

/// The shortest read timeout: `TcpStream` refuses a zero one.
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

/// A byte stream the blocking adapter can put deadlines on and shut: what it needs beyond
/// `Read + Write`.
///
/// Implemented for [`TcpStream`], `UnixStream` (Unix), `&mut T` and `Box<T>`, and, with the
/// `rustls` feature, for `rustls::StreamOwned<C, T>` over any `T: Transport`. For a stream
/// that has no timeouts (an in-memory pipe, a serial line), wrap it in [`NoTimeouts`].
///
/// The stream must be blocking: a read that returns [`ErrorKind::WouldBlock`] is taken as
/// the end of the read timeout. The adapter owns the stream's timeouts: any set before are
/// replaced.
pub trait Transport: Read + Write {
    /// Make reads give up with [`ErrorKind::WouldBlock`] or [`ErrorKind::TimedOut`] after
    /// `timeout` without data (`None`: wait for ever). The adapter sets it before every
    /// read, to the time left until the connection's next deadline (never zero).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;

    /// Make writes give up after `timeout` without progress (`None`: wait for ever).
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;

    /// Close the transport in both directions, after the closing handshake or a failure:
    /// the peer reads the end of the stream. A TLS stream sends its `close_notify` first.
    fn shutdown(&mut self) -> std::io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        (**self).shutdown()
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        (**self).shutdown()
    }
}

#[cfg(feature = "rustls")]
impl<C, T, D> Transport for rustls::StreamOwned<C, T>
where
    C: core::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    T: Transport,
    D: rustls::SideData,
{
    /// Sets the timeout of the socket underneath: a TLS record that does not arrive in
    /// time ends the read the same way.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    /// Sends the TLS `close_notify` alert, then shuts the socket.
    fn shutdown(&mut self) -> std::io::Result<()> {
        self.conn.send_close_notify();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.sock)? == 0 {
                break;
            }
        }
        self.sock.shutdown()
    }
}

/// A stream without timeouts (any `Read + Write`), made a [`Transport`]: setting a
/// timeout does nothing and `shutdown` only flushes.
///
/// With it, a read waits until the peer sends something or ends the stream: the handshake,
/// keep-alive and close deadlines are checked only when bytes arrive (a deadline that
/// passed then ends the connection as usual), so a silent peer can block a read for ever.
/// Use it for in-memory pipes and peers you trust to answer; give sockets a real
/// `Transport`.
#[derive(Debug, Default)]
pub struct NoTimeouts<S>(pub S);

impl<S: Read> Read for NoTimeouts<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for NoTimeouts<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for NoTimeouts<S> {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> std::io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> std::io::Result<()> {
        Ok(())
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// How [`accept_with`]'s hook answers a request: open the connection, or answer with
/// another status.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Decision<'a> {
    /// Accept the upgrade with these options: the subprotocol (one the client offered,
    /// RFC 6455 §4.2.2) and extra headers of the 101 response.
    Accept(Accept<'a>),
    /// Answer with this status (a refusal such as 403, a redirect, or a plain HTTP page),
    /// headers and body; the connection ends there.
    Respond {
        /// The status, 100-999 but not 101.
        status: u16,
        /// Response headers (`Content-Length` is added from the body).
        headers: &'a [(&'a str, &'a [u8])],
        /// The body.
        body: &'a [u8],
    },
}

impl<'a> Decision<'a> {
    /// Accept with no subprotocol and no extra header.
    pub fn accept() -> Self {
        Decision::Accept(Accept::default())
    }

    /// Accept, with permessage-deflate (RFC 7692) if `request` offers it, on the terms of
    /// `DeflateConfig::default()` ([`deflate::negotiate`](crate::deflate::negotiate)).
    pub fn accept_deflate(request: &Request<'_>) -> Self {
        let config = crate::deflate::DeflateConfig::default();
        let params = crate::deflate::negotiate(request.extensions(), &config);
        Decision::Accept(Accept::default().with_deflate(params))
    }

    /// Refuse with `status` and an empty body.
    pub fn refuse(status: u16) -> Self {
        Decision::Respond {
            status,
            headers: &[],
            body: &[],
        }
    }
}

/// A server's WebSocket once the handshake is done.
pub type ServerWebSocket<S> = WebSocket<S, Connection<Unmasked>>;

/// A client's WebSocket once the handshake is done; frames are masked with keys from `R`.
pub type ClientWebSocket<S, R = OsRng> = WebSocket<S, Connection<Masked<R>>>;

/// The stream [`connect_tls`] returns: rustls over TCP.
#[cfg(feature = "rustls")]
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A blocking WebSocket over the stream `S`, driving the endpoint `E` (the open
/// [`Connection`] of either role: see [`ServerWebSocket`] and [`ClientWebSocket`]).
///
/// Made by [`accept`] / [`accept_with`] (server), [`connect`] / [`connect_with`] /
/// [`client`] (client) or [`WebSocket::from_connection`] (a stream upgraded by another HTTP
/// stack). See the [module documentation](self) for when bytes are written and how
/// deadlines work.
///
/// Memory: a 16 KiB input buffer (or [`Config::max_head_len`] if larger), a small output
/// buffer, and the buffer that collects messages arriving in pieces, which grows to the
/// message being collected (bounded by [`Config::max_message_len`], enforced by the core
/// with 1009) and is released once a message over 64 KiB is handed out.
#[derive(Debug)]
pub struct WebSocket<S, E = Connection<Unmasked>> {
    link: Link<S>,
    endpoint: E,
    input: InputBuffer<Vec<u8>>,
    assembler: MessageAssembler,
    /// permessage-deflate, when the handshake negotiated it.
    deflate: DeflateSlot,
}

/// The inflater and the compressor of a connection that negotiated permessage-deflate
/// (RFC 7692): a 32 KiB window (or the negotiated one), and a compressor of its own or
/// the thread's (see [`MessageCompressor`]).
#[cfg(feature = "deflate")]
#[derive(Debug)]
struct Deflate {
    inflater: Inflater<Vec<u8>>,
    compressor: MessageCompressor,
}

/// Without the `deflate` feature nothing is ever negotiated.
#[cfg(not(feature = "deflate"))]
#[derive(Debug)]
enum Deflate {}

type DeflateSlot = Option<Box<Deflate>>;

/// The permessage-deflate state for `connection`, if its handshake negotiated it.
fn deflate_for<M: Masking>(connection: &Connection<M>) -> Result<DeflateSlot, Error> {
    #[cfg(feature = "deflate")]
    if let Some(params) = connection.deflate() {
        let bits = params.receive_window_bits(M::ROLE);
        return Ok(Some(Box::new(Deflate {
            inflater: Inflater::new(connection, vec![0; window_len(bits)])?,
            compressor: MessageCompressor::new::<M>(params),
        })));
    }
    let _ = connection;
    Ok(None)
}

/// The transport side: the stream, the output buffer and the clock.
#[derive(Debug)]
struct Link<S> {
    stream: S,
    /// Encoded frames and handshake responses; grown when a command needs more.
    output: Vec<u8>,
    clock: Clock,
    /// The read timeout last set on the stream, to skip setting the same one again.
    read_timeout: Option<Option<Duration>>,
    /// [`Config::write_timeout`].
    write_timeout: Duration,
    /// The write timeout last set on the stream (`None`: not known).
    write_timeout_set: Option<Duration>,
    /// The transport was shut (or failed): nothing more is read or written.
    closed: bool,
}

impl<S: Transport> Link<S> {
    fn now(&self) -> Instant {
        Instant::from_elapsed(self.clock.elapsed())
    }

    /// Shut the transport; nothing more is read or written. A transport that already went
    /// away cannot be shut more: that error is of no use.
    fn shut(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.shutdown();
        }
    }

    /// Set the stream's write timeout to `timeout`, unless it is set already.
    fn arm_write_timeout(&mut self, timeout: Duration) -> Result<(), Error> {
        if self.write_timeout_set != Some(timeout) {
            let set = self
                .stream
                .set_write_timeout(Some(timeout.max(MIN_READ_TIMEOUT)));
            if let Err(e) = set {
                return Err(self.failed(e));
            }
            self.write_timeout_set = Some(timeout);
        }
        Ok(())
    }

    /// Write all of `slices` (a header and its payload) and nothing else in between, in
    /// pieces of at most [`WRITE_PIECE`] bytes. [`TimedOut::Write`](crate::TimedOut)
    /// (and the transport shut) when the peer takes nothing for the write timeout.
    fn write_slices(&mut self, slices: &mut [IoSlice<'_>]) -> Result<(), Error> {
        let mut slices = slices;
        // The last time the peer took bytes.
        let mut progress = Clock::now();
        while !slices.is_empty() {
            // The whole timeout for a fresh write (set once: no system call), what is
            // left of it after a stall.
            let left = self.write_timeout.saturating_sub(progress.elapsed());
            let timeout = if left + MIN_READ_TIMEOUT >= self.write_timeout {
                self.write_timeout
            } else {
                left
            };
            self.arm_write_timeout(timeout)?;
            let call = Clock::now();
            let result = match piece(slices, WRITE_PIECE) {
                Some(piece) => self.stream.write_vectored(&piece),
                None => self.stream.write_vectored(slices),
            };
            let stalled = match result {
                Ok(0) => return Err(self.failed(ErrorKind::WriteZero.into())),
                Ok(n) => {
                    IoSlice::advance_slices(&mut slices, n);
                    // A blocking write returns early once it wrote everything; one that
                    // took its whole timeout wrote its bytes at once and then waited in
                    // vain (a TLS stream even reports what it buffered as written).
                    call.elapsed() + MIN_READ_TIMEOUT >= timeout
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => false,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => true,
                Err(e) => return Err(self.failed(e)),
            };
            if !stalled {
                progress = Clock::now();
            } else if progress.elapsed() + MIN_READ_TIMEOUT >= self.write_timeout {
                return Err(self.gave_up());
            }
        }
        Ok(())
    }

    /// The peer took none of our bytes for the write timeout: it is given up.
    fn gave_up(&mut self) -> Error {
        self.shut();
        crate::TimedOut::Write.into()
    }

    fn write_output(&mut self, n: usize) -> Result<(), Error> {
        let mut output = core::mem::take(&mut self.output);
        let written = self.write_slices(&mut [IoSlice::new(&output[..n])]);
        // The buffer is put back whatever happened, so that it is reused.
        core::mem::swap(&mut self.output, &mut output);
        written
    }

    fn flush(&mut self) -> Result<(), Error> {
        match self.stream.flush() {
            Ok(()) => Ok(()),
            // A stream that writes on flush (TLS) and could not within the write timeout.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(self.gave_up())
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The transport failed: it is shut and the error handed back.
    fn failed(&mut self, error: std::io::Error) -> Error {
        self.shut();
        Error::Io(error)
    }

    /// Write everything the endpoint owes (`poll_transmit` until it gives 0 bytes), then
    /// flush the stream so that nothing owed stays in a buffer.
    fn flush_owed<E: Endpoint>(&mut self, endpoint: &mut E) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        let mut wrote = false;
        loop {
            let n = match endpoint.poll_transmit(&mut self.output) {
                Ok(n) => n,
                Err(too_small) => {
                    self.output.resize(too_small.needed, 0);
                    continue;
                }
            };
            if n == 0 {
                break;
            }
            self.write_output(n)?;
            wrote = true;
        }
        if wrote { self.flush() } else { Ok(()) }
    }

    /// Run an encoding command on `output`, growing it to the size the command asks for,
    /// and write what it encoded (after anything owed, which goes first).
    fn command<E: Endpoint>(
        &mut self,
        endpoint: &mut E,
        mut encode: impl FnMut(
            &mut Connection<E::Masking>,
            Instant,
            &mut [u8],
        ) -> Result<usize, crate::Error>,
    ) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.flush_owed(endpoint)?;
        let now = self.now();
        let connection = endpoint.connection()?;
        let n = loop {
            match encode(connection, now, &mut self.output) {
                Ok(n) => break n,
                Err(crate::Error::BufferTooSmall { needed }) => self.output.resize(needed, 0),
                Err(other) => return Err(other.into()),
            }
        };
        self.write_output(n)?;
        self.flush()
    }

    /// Wait for more bytes, at most until the endpoint's next deadline, and handle what
    /// came: bytes (into `input`), the end of the stream, or the deadline.
    ///
    /// Errors: [`Error::Closed`] once the transport should be (and was) closed after a
    /// clean end; [`Error::AbnormalClosure`], [`Error::TimedOut`], [`Error::Io`] otherwise.
    /// In every error case the transport is shut.
    fn fill<E: Endpoint>(
        &mut self,
        endpoint: &mut E,
        input: &mut InputBuffer<Vec<u8>>,
    ) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        if endpoint.should_close_transport() {
            self.shut();
            return Err(Error::Closed);
        }
        let now = self.now();
        let timeout = match endpoint.poll_timeout() {
            // A deadline that passed is handled before reading, so that bytes trickling in
            // cannot keep it from firing.
            Some(at) if at <= now => return self.on_timeout(endpoint),
            Some(at) => Some(at.saturating_duration_since(now).max(MIN_READ_TIMEOUT)),
            None => None,
        };
        if self.read_timeout != Some(timeout) {
            if let Err(e) = self.stream.set_read_timeout(timeout) {
                return Err(self.failed(e));
            }
            self.read_timeout = Some(timeout);
        }
        match self.stream.read(input.read_space()) {
            Ok(0) => self.on_eof(endpoint),
            Ok(n) => {
                input.commit(n);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                self.on_timeout(endpoint)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            // A TLS stream that ends without `close_notify`: the WebSocket closing
            // handshake (or its absence) already says whether the end was clean.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => self.on_eof(endpoint),
            // A reset after the peer's Close is the end of the stream too (many servers
            // reset the connection right after the closing handshake).
            Err(e) if super::ends_cleanly(e.kind()) && peer_closed(endpoint) => {
                self.on_eof(endpoint)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    fn on_eof<E: Endpoint>(&mut self, endpoint: &mut E) -> Result<(), Error> {
        let clean = endpoint.handle_eof();
        self.shut();
        match clean {
            Ok(()) => Err(Error::Closed),
            Err(abnormal) => Err(abnormal.into()),
        }
    }

    fn on_timeout<E: Endpoint>(&mut self, endpoint: &mut E) -> Result<(), Error> {
        let timed_out = endpoint.handle_timeout(self.now());
        // A server's 408, or a keep-alive Ping that fell due.
        let flushed = self.flush_owed(endpoint);
        if let Some(timed_out) = timed_out {
            self.shut();
            return Err(timed_out.into());
        }
        flushed?;
        if endpoint.should_close_transport() {
            // A client whose server did not close the transport after the closing
            // handshake: the handshake finished, so this is a clean end.
            self.shut();
            return Err(Error::Closed);
        }
        Ok(())
    }
}

/// Whether the peer's Close was read: from then on the transport's end, reset included,
/// is a clean end.
fn peer_closed<E: Endpoint>(endpoint: &E) -> bool {
    matches!(endpoint.state(), State::Closed | State::RemoteClosing)
}

/// When `slices` hold more than `limit` bytes, their first `limit` bytes (of the first
/// two slices that are not empty: a header and its payload); `None` when they hold no
/// more (write them as they are).
fn piece<'a>(slices: &'a [IoSlice<'_>], limit: usize) -> Option<[IoSlice<'a>; 2]> {
    let total: usize = slices.iter().map(|s| s.len()).sum();
    if total <= limit {
        return None;
    }
    let mut full = slices.iter().filter(|s| !s.is_empty());
    let first = full.next()?;
    let first = &first[..first.len().min(limit)];
    let second = match full.next() {
        Some(second) => &second[..second.len().min(limit - first.len())],
        None => &[],
    };
    Some([IoSlice::new(first), IoSlice::new(second)])
}

/// The next event among the bytes already read, after writing what it made owed. `None`:
/// more bytes are needed ([`Link::fill`]).
fn next_event<'a, S: Transport, E: Endpoint>(
    link: &mut Link<S>,
    endpoint: &mut E,
    input: &'a mut InputBuffer<Vec<u8>>,
    deflate: &'a mut DeflateSlot,
) -> Result<Option<Event<'a>>, Error> {
    if link.closed {
        return Err(Error::Closed);
    }
    let now = link.now();
    let event = match deflate {
        #[cfg(feature = "deflate")]
        Some(state) => input.receive_inflating(&mut state.inflater, endpoint, now)?,
        _ => input.receive(endpoint, now)?,
    };
    let flushed = link.flush_owed(endpoint);
    match event {
        // The connection ends anyway: a peer that already went away cannot be answered,
        // and its Close or its violation is what the caller needs to see.
        Some(Event::Close(_) | Event::Failed(_) | Event::HandshakeFailed(_)) => {}
        _ => flushed?,
    }
    Ok(event)
}

impl<S: Transport, E: Endpoint> WebSocket<S, E> {
    fn with_endpoint(
        mut stream: S,
        endpoint: E,
        config: &Config,
        clock: Clock,
    ) -> Result<Self, Error> {
        stream.set_write_timeout(Some(config.write_timeout.max(MIN_READ_TIMEOUT)))?;
        // Until the first read sets its own, reads (such as a TLS handshake run inside the
        // first write) wait no longer than the handshake may take.
        let first = config.handshake_timeout.max(MIN_READ_TIMEOUT);
        stream.set_read_timeout(Some(first))?;
        let input = InputBuffer::new(vec![0; INPUT_BUFFER.max(config.max_head_len)], config)?;
        Ok(WebSocket {
            link: Link {
                stream,
                output: vec![0; MIN_OUTPUT_BUFFER],
                clock,
                read_timeout: Some(Some(first)),
                write_timeout: config.write_timeout,
                write_timeout_set: Some(config.write_timeout),
                closed: false,
            },
            endpoint,
            input,
            assembler: MessageAssembler::new(),
            deflate: None,
        })
    }

    /// Read the next whole message: text, binary, a Ping (its Pong was already written), a
    /// Pong, or the peer's Close.
    ///
    /// Blocks until a message is complete or a deadline passes. Whatever the protocol owes
    /// (the Pong, the Close echo, a keep-alive Ping) is written and flushed before this
    /// returns. Messages that arrive in pieces are collected into one.
    ///
    /// Ends:
    /// - the peer's Close: [`Message::Close`] (its code and reason; `None` for an empty
    ///   Close), once our echo was written and the transport shut; then [`Error::Closed`];
    /// - a violation by the peer: [`Error::Protocol`], after the Close with its code
    ///   (1002, 1007, 1009...) was written; the transport is shut;
    /// - [`Error::TimedOut`] (`KeepAlive` when the peer did not answer a keep-alive Ping),
    ///   [`Error::AbnormalClosure`] (the stream ended without a Close), [`Error::Io`].
    pub fn read(&mut self) -> Result<Message, Error> {
        loop {
            let WebSocket {
                link,
                endpoint,
                input,
                assembler,
                deflate,
            } = self;
            let Some(event) = next_event(link, endpoint, input, deflate)? else {
                link.fill(endpoint, input)?;
                continue;
            };
            match event {
                Event::Text(_) | Event::Binary(_) | Event::Chunk(_) => {
                    match assembler.push(&event) {
                        Ok(Some(message)) => {
                            let message = message.into_owned().into();
                            // The memory a large message was collected in goes back once
                            // the message is handed out.
                            if assembler.capacity() > KEEP_ASSEMBLER_CAPACITY {
                                assembler.shrink_to(0);
                            }
                            return Ok(message);
                        }
                        Ok(None) => {}
                        // Cannot happen when the connection fed every piece (it validated
                        // the text); if it ever did, close as the assembler says.
                        Err(error) => {
                            let code = error.close_code();
                            let _ =
                                link.command(endpoint, |c, now, out| c.close(code, "", now, out));
                            link.shut();
                            return Err(Error::Protocol(ProtocolError::InvalidUtf8));
                        }
                    }
                }
                Event::Ping(payload) => return Ok(Message::Ping(payload.to_vec())),
                Event::Pong(payload) => return Ok(Message::Pong(payload.to_vec())),
                Event::Close(frame) => {
                    let frame = frame.code.map(|code| OwnedCloseFrame {
                        code,
                        reason: frame.reason.into(),
                    });
                    finish(link, endpoint, input, deflate);
                    return Ok(Message::Close(frame));
                }
                Event::Failed(error) => {
                    link.shut();
                    return Err(Error::Protocol(error));
                }
                Event::HandshakeFailed(error) => {
                    link.shut();
                    return Err(Error::Handshake(error));
                }
                // Handshake events: not seen by an open connection. Compressed pieces only
                // come where permessage-deflate was negotiated, with an inflater in front.
                Event::Request(_) | Event::Connected(_) | Event::Rejected(_) => {}
                Event::Compressed(_) => {}
            }
        }
    }

    /// Read the next event without copying it, and hand it to `handle`: text as `&str`
    /// and binary as `&[u8]` borrowed from the input buffer (unmasked in place), messages
    /// that did not arrive whole as [`Event::Chunk`] pieces, control frames as
    /// [`Event::Ping`], [`Event::Pong`] and [`Event::Close`]. Returns what `handle`
    /// returns.
    ///
    /// The event is handed to a closure because it borrows the buffer that the next read
    /// refills. Owed frames are written before `handle` runs, exactly as for
    /// [`read`](Self::read). After [`Event::Close`], the closing handshake is finished
    /// (and the transport shut) once `handle` returns; later calls give
    /// [`Error::Closed`]. A violation is [`Error::Protocol`], not an event.
    pub fn read_event<T>(&mut self, handle: impl FnOnce(Event<'_>) -> T) -> Result<T, Error> {
        loop {
            let WebSocket {
                link,
                endpoint,
                input,
                deflate,
                ..
            } = self;
            let Some(event) = next_event(link, endpoint, input, deflate)? else {
                link.fill(endpoint, input)?;
                continue;
            };
            match event {
                Event::Failed(error) => {
                    link.shut();
                    return Err(Error::Protocol(error));
                }
                Event::HandshakeFailed(error) => {
                    link.shut();
                    return Err(Error::Handshake(error));
                }
                Event::Request(_) | Event::Connected(_) | Event::Rejected(_) => {}
                Event::Close(_) => {
                    let out = handle(event);
                    finish(link, endpoint, input, deflate);
                    return Ok(out);
                }
                _ => return Ok(handle(event)),
            }
        }
    }

    /// Send a message: text, binary, a Ping or a Pong; a [`Message::Close`] starts the
    /// closing handshake without waiting for it (with 1000 when it has no code; see
    /// [`close`](Self::close) to wait for the end). Frames the protocol owes go out first.
    /// Returns once the bytes were written and the stream flushed.
    ///
    /// [`Error::Usage`] (nothing sent) for what the connection does not allow: a Ping
    /// over 125 bytes, a close code that may not be sent, anything after our Close.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_text(&text),
            Message::Binary(data) => self.send_binary(&data),
            Message::Ping(payload) => self
                .link
                .command(&mut self.endpoint, |c, _, out| c.ping(&payload, out)),
            Message::Pong(payload) => self
                .link
                .command(&mut self.endpoint, |c, _, out| c.pong(&payload, out)),
            Message::Close(frame) => {
                let (code, reason) = frame
                    .as_ref()
                    .map_or((CloseCode::NORMAL, ""), |f| (f.code, f.reason.as_str()));
                self.link.command(&mut self.endpoint, |c, now, out| {
                    c.close(code, reason, now, out)
                })
            }
        }
    }

    /// Send a text message, in one frame (compressed when permessage-deflate was
    /// negotiated and it pays).
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        if let Some(state) = &mut self.deflate {
            // Compressed in the output buffer (RFC 7692), or sent as it is when that does
            // not pay; the buffer grows to what the message needs.
            let compressor = &mut state.compressor;
            return self.link.command(&mut self.endpoint, |c, _, out| {
                compressor.send(c, Payload::Text(text), out)
            });
        }
        self.send_data(MessageKind::Text, text.as_bytes())
    }

    /// Send a binary message, in one frame (compressed as [`send_text`](Self::send_text)
    /// says).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        if let Some(state) = &mut self.deflate {
            let compressor = &mut state.compressor;
            return self.link.command(&mut self.endpoint, |c, _, out| {
                compressor.send(c, Payload::Binary(data), out)
            });
        }
        self.send_data(MessageKind::Binary, data)
    }

    /// One data frame: the header from `send_header`, then the payload straight from
    /// `payload` (server: one vectored write, no copy) or masked on a copy in pieces
    /// (client).
    fn send_data(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), Error> {
        let link = &mut self.link;
        if link.closed {
            return Err(Error::Closed);
        }
        link.flush_owed(&mut self.endpoint)?;
        let connection = self.endpoint.connection()?;
        let mut header = [0; MAX_HEADER_LEN];
        // `payload` is a `&str` or `&[u8]`: text is valid UTF-8 by its type.
        let written = connection.send_header(kind, payload.len() as u64, true, &mut header)?;
        let header = &header[..written.len];
        match written.mask {
            None => link.write_slices(&mut [IoSlice::new(header), IoSlice::new(payload)])?,
            Some(key) => {
                if link.output.len() < MASK_CHUNK {
                    link.output.resize(MASK_CHUNK, 0);
                }
                let mut output = core::mem::take(&mut link.output);
                let mut sent = 0;
                let mut result = link.write_slices(&mut [IoSlice::new(header)]);
                while result.is_ok() && sent < payload.len() {
                    let piece = &payload[sent..payload.len().min(sent + MASK_CHUNK)];
                    let masked = &mut output[..piece.len()];
                    masked.copy_from_slice(piece);
                    apply_mask(masked, key, sent);
                    result = link.write_slices(&mut [IoSlice::new(masked)]);
                    sent += piece.len();
                }
                link.output = output;
                result?;
            }
        }
        // The payload is on the wire: the connection may write other frames again.
        connection.payload_written(payload.len() as u64)?;
        link.flush()
    }

    /// Close the connection with `code` and `reason` (at most 123 bytes; RFC 6455 §7.1.2,
    /// codes as in §7.4) and wait for the peer's Close, at most
    /// [`Config::close_timeout`]; messages that arrive meanwhile are dropped. The transport
    /// is shut in every case, so this never hangs.
    ///
    /// `Ok(())` once the closing handshake finished (a client also waited, within the same
    /// timeout, for the server to close the TCP connection, §7.1.1), or when the connection
    /// was already closed. [`Error::TimedOut`]`(Closing)` when the peer did not answer in
    /// time; [`Error::AbnormalClosure`] when the stream ended without its Close;
    /// [`Error::Usage`] (nothing sent, nothing shut) for a code that may not be sent or a
    /// reason too long.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.link.closed {
            return Ok(());
        }
        if matches!(self.endpoint.state(), State::Open | State::RemoteClosing) {
            let sent = self.link.command(&mut self.endpoint, |c, now, out| {
                c.close(code, reason, now, out)
            });
            match sent {
                Ok(()) => {}
                // The peer closed first and went away before our answer: the transport
                // is shut (by the failed write), the connection over cleanly.
                Err(Error::Io(e))
                    if super::ends_cleanly(e.kind()) && peer_closed(&self.endpoint) =>
                {
                    return Ok(());
                }
                Err(error) => return Err(error),
            }
        }
        loop {
            let WebSocket {
                link,
                endpoint,
                input,
                deflate,
                ..
            } = self;
            match next_event(link, endpoint, input, deflate) {
                Ok(Some(Event::Failed(error))) => {
                    link.shut();
                    return Err(Error::Protocol(error));
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(Error::Closed) => return Ok(()),
                Err(error) => {
                    link.shut();
                    return Err(error);
                }
            }
            match link.fill(endpoint, input) {
                Ok(()) => {}
                Err(Error::Closed) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }

    /// Where the connection stands ([`State::Closed`] after the closing handshake).
    pub fn state(&self) -> State {
        self.endpoint.state()
    }

    /// Whether the transport was shut: every read and send now gives [`Error::Closed`].
    pub fn is_closed(&self) -> bool {
        self.link.closed
    }

    /// Give up the peer after `timeout` without progress on a write instead of
    /// [`Config::write_timeout`] (a WebSocket made by
    /// [`from_connection`](WebSocket::from_connection) starts with the default, 30 s).
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.link.write_timeout = timeout;
    }

    /// The endpoint this drives, to read its state.
    pub fn endpoint(&self) -> &E {
        &self.endpoint
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.link.stream
    }

    /// The stream, mutably. Reading or writing it directly breaks the connection's
    /// framing; this is for socket options.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.link.stream
    }

    /// The stream back (not shut, unless the connection ended).
    pub fn into_inner(self) -> S {
        self.link.stream
    }
}

impl<S: Transport, M: Masking> WebSocket<S, Connection<M>> {
    /// A WebSocket over a stream whose opening handshake was done by another HTTP stack
    /// (a hyper or axum upgrade; an HTTP/2 extended CONNECT stream, RFC 8441):
    /// `connection` is [`Connection::server`] or [`Connection::client`], and
    /// `already_read` the bytes that stack read past the head (the first frames). Writes
    /// give up after the default [`Config::write_timeout`]; see
    /// [`set_write_timeout`](WebSocket::set_write_timeout).
    pub fn from_connection(
        mut stream: S,
        connection: Connection<M>,
        already_read: &[u8],
    ) -> Result<Self, Error> {
        let write_timeout = Config::DEFAULT.write_timeout;
        stream.set_write_timeout(Some(write_timeout.max(MIN_READ_TIMEOUT)))?;
        let mut input = InputBuffer::for_frames(vec![0; INPUT_BUFFER.max(already_read.len())])?;
        input.push(already_read);
        Ok(WebSocket {
            link: Link {
                stream,
                output: vec![0; MIN_OUTPUT_BUFFER],
                clock: Clock::now(),
                read_timeout: None,
                write_timeout,
                write_timeout_set: Some(write_timeout),
                closed: false,
            },
            deflate: deflate_for(&connection)?,
            endpoint: connection,
            input,
            assembler: MessageAssembler::new(),
        })
    }

    /// The subprotocol the opening handshake chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.endpoint.subprotocol()
    }

    /// The permessage-deflate parameters the handshake agreed on (RFC 7692), if any: then
    /// messages are inflated as they arrive and compressed when they are sent.
    pub fn deflate(&self) -> Option<crate::deflate::DeflateParams> {
        self.endpoint.deflate()
    }
}

/// The peer's Close was read and our answer written: finish the closing handshake. A
/// server closes the transport now; a client waits for the server to close it, at most
/// the close timeout (RFC 6455 §7.1.1). Whatever ends the wait, the transport is shut.
fn finish<S: Transport, E: Endpoint>(
    link: &mut Link<S>,
    endpoint: &mut E,
    input: &mut InputBuffer<Vec<u8>>,
    deflate: &mut DeflateSlot,
) {
    while !link.closed {
        // Nothing follows a Close: this only drops what the peer still sent.
        if next_event(link, endpoint, input, deflate).is_err()
            || link.fill(endpoint, input).is_err()
        {
            link.shut();
        }
    }
}

/// Accept a WebSocket on `stream` (a server's side of a connection just accepted) with the
/// default [`Config`]: read the request, within [`Config::handshake_timeout`], and accept
/// any upgrade. A request that is not an upgrade is answered 400 (and gives
/// [`Error::Rejected`]).
///
/// See [`accept_with`] for the errors, and to choose a subprotocol or refuse.
pub fn accept<S: Transport>(stream: S) -> Result<ServerWebSocket<S>, Error> {
    accept_with(stream, Config::default(), |_| Decision::accept())
}

/// Accept a WebSocket on `stream` with `config`, letting `decide` answer the request
/// (RFC 6455 §4.2): [`Decision::Accept`] with a subprotocol chosen among
/// [`Request::subprotocols`] and extra headers, or [`Decision::Respond`] with any other
/// status. `decide` sees every request, upgrade or not ([`Request::is_upgrade`]); a
/// request that is not an upgrade is answered 400 if `decide` accepts it.
///
/// Errors (the transport is shut in each case):
/// - [`Error::Rejected`] with the status sent, when `decide` answered another status (or
///   the request was not an upgrade);
/// - [`Error::Handshake`]: a bad request, answered with the status RFC 6455 asks for (400,
///   426 with the supported version, 431);
/// - [`Error::TimedOut`]`(Handshake)`: the request did not arrive whole in time; 408 was
///   sent;
/// - [`Error::Usage`]: `decide` chose a subprotocol the client did not offer, or an
///   invalid header; 500 was sent;
/// - [`Error::AbnormalClosure`] (the client left), [`Error::Io`].
///
/// ```
/// use sockless::io::blocking::{self, Decision};
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let url = format!("ws://{}/chat", listener.local_addr()?);
/// # let client = std::thread::spawn(move || {
/// #     let request = sockless::ClientRequest::from_url(&url)?.with_subprotocols(&["chat"]);
/// #     let stream = std::net::TcpStream::connect(listener_addr(&url))?;
/// #     let ws = blocking::client(stream, request, sockless::Config::default())?;
/// #     assert_eq!(ws.subprotocol(), Some("chat"));
/// #     Ok::<_, sockless::io::Error>(())
/// # });
/// # fn listener_addr(url: &str) -> &str { &url["ws://".len()..url.len() - "/chat".len()] }
/// let (stream, _) = listener.accept()?;
/// let config = sockless::Config::default();
/// let ws = blocking::accept_with(stream, config, |request| {
///     if request.path() != "/chat" {
///         return Decision::refuse(404);
///     }
///     match request.subprotocols().find(|p| *p == "chat") {
///         Some(chat) => Decision::Accept(sockless::Accept::default().with_subprotocol(chat)),
///         None => Decision::accept(),
///     }
/// })?;
/// assert_eq!(ws.subprotocol(), Some("chat"));
/// # client.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept_with<S, F>(stream: S, config: Config, decide: F) -> Result<ServerWebSocket<S>, Error>
where
    S: Transport,
    F: for<'r> FnOnce(&Request<'r>) -> Decision<'r>,
{
    let clock = Clock::now();
    let server = Server::new(config, Instant::ZERO);
    let mut ws = WebSocket::with_endpoint(stream, server, &config, clock)?;
    let mut decide = Some(decide);
    loop {
        let WebSocket {
            link,
            endpoint,
            input,
            deflate,
            ..
        } = &mut ws;
        let event = match next_event(link, endpoint, input, deflate) {
            Ok(event) => event,
            Err(error) => {
                link.shut();
                return Err(error);
            }
        };
        match event {
            Some(Event::Request(request)) => {
                let Some(decide) = decide.take() else {
                    continue;
                };
                let decision = decide(&request);
                let now = link.now();
                let (n, outcome) = match answer(endpoint, &request, decision, now, &mut link.output)
                {
                    Ok((n, None)) => (n, Ok(())),
                    Ok((n, Some(status))) => (n, Err(Error::Rejected { status })),
                    // The application's mistake: the client gets a 500, the caller the
                    // error.
                    Err(error) => {
                        let n = respond(endpoint, 500, &[], b"", &mut link.output);
                        (n.unwrap_or(0), Err(error))
                    }
                };
                let written = link.write_output(n).and_then(|()| link.flush());
                if let Err(error) = outcome.and(written) {
                    link.shut();
                    return Err(error);
                }
                break;
            }
            Some(Event::HandshakeFailed(error)) => {
                link.shut();
                return Err(Error::Handshake(error));
            }
            Some(_) => {}
            None => link.fill(endpoint, input)?,
        }
    }
    into_open(ws)
}

/// Carry out `decision` for `request`: the 101, or the other response (with its
/// status); the number of bytes written into `out` (grown as needed).
/// The roles whose HTTP/1.1 handshake hands over an open [`Connection`].
trait Handshake: Endpoint + Sized {
    fn into_open(self) -> Option<Connection<Self::Masking>>;
}

impl Handshake for Server {
    fn into_open(self) -> Option<Connection<Unmasked>> {
        self.into_connection().ok()
    }
}

impl<R: rand_core::Rng> Handshake for Client<'_, R> {
    fn into_open(self) -> Option<Connection<Masked<R>>> {
        self.into_connection().ok()
    }
}

/// A WebSocket whose handshake finished, keeping only the open connection (which borrows
/// nothing) and its permessage-deflate state.
fn into_open<S: Transport, E: Handshake>(
    ws: WebSocket<S, E>,
) -> Result<WebSocket<S, Connection<E::Masking>>, Error> {
    let WebSocket {
        link,
        endpoint,
        input,
        assembler,
        ..
    } = ws;
    let endpoint = endpoint
        .into_open()
        .ok_or(Error::Usage(UsageError::NotOpen))?;
    Ok(WebSocket {
        deflate: deflate_for(&endpoint)?,
        link,
        endpoint,
        input,
        assembler,
    })
}

fn answer(
    server: &mut Server,
    request: &Request<'_>,
    decision: Decision<'_>,
    now: Instant,
    out: &mut Vec<u8>,
) -> Result<(usize, Option<u16>), Error> {
    let (status, headers, body) = match decision {
        Decision::Accept(options) if request.is_upgrade() => loop {
            match server.accept(request, options, now, out) {
                Ok(n) => return Ok((n, None)),
                Err(crate::Error::BufferTooSmall { needed }) => out.resize(needed, 0),
                Err(other) => return Err(other.into()),
            }
        },
        // Plain HTTP cannot be upgraded.
        Decision::Accept(_) => (400, &[][..], &b""[..]),
        Decision::Respond {
            status,
            headers,
            body,
        } => (status, headers, body),
    };
    Ok((respond(server, status, headers, body, out)?, Some(status)))
}

fn respond(
    server: &mut Server,
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    loop {
        match server.respond(status, headers, body, out) {
            Ok(n) => return Ok(n),
            Err(crate::Error::BufferTooSmall { needed }) => out.resize(needed, 0),
            Err(other) => return Err(other.into()),
        }
    }
}

/// Connect to a `ws://` URL with the default [`Config`]: TCP, then the opening handshake
/// (RFC 6455 §4.1), both within [`Config::handshake_timeout`]. A `wss://` URL is
/// [`Error::TlsNotConfigured`]: use `connect_tls` (feature `rustls`) or run TLS yourself
/// and call [`client`].
///
/// See [`connect_with`] for the errors.
pub fn connect(url: &str) -> Result<ClientWebSocket<TcpStream>, Error> {
    connect_with(url, Config::default())
}

/// [`connect`] with `config`.
///
/// Errors: [`Error::Usage`]`(InvalidUrl)`; [`Error::TlsNotConfigured`] for `wss://`;
/// [`Error::TimedOut`]`(Handshake)` when connecting and the handshake took longer than
/// [`Config::handshake_timeout`] (name resolution is the system's and is not bounded);
/// [`Error::Rejected`] with the server's status when it refused the upgrade;
/// [`Error::Handshake`] when its response broke RFC 6455 §4.1; [`Error::Io`].
pub fn connect_with(url: &str, config: Config) -> Result<ClientWebSocket<TcpStream>, Error> {
    let clock = Clock::now();
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err(Error::TlsNotConfigured);
    }
    let client = Client::connect(url, config, crate::os_rng(), Instant::ZERO)?;
    let stream = tcp_connect(parsed.host, parsed.port, &config, clock)?;
    handshake(WebSocket::with_endpoint(stream, client, &config, clock)?)
}

/// [`connect_with`] for a request built by the caller (for example
/// `ClientRequest::from_url(url)?.with_deflate(DeflateConfig::default())` to offer
/// permessage-deflate, or with subprotocols and headers), over plain TCP to its host and
/// port.
pub fn connect_request(
    request: ClientRequest<'_>,
    config: Config,
) -> Result<ClientWebSocket<TcpStream>, Error> {
    let clock = Clock::now();
    if request.secure {
        return Err(Error::TlsNotConfigured);
    }
    let client = Client::new(request, config, crate::os_rng(), Instant::ZERO)?;
    let stream = tcp_connect(request.host, request.port, &config, clock)?;
    handshake(WebSocket::with_endpoint(stream, client, &config, clock)?)
}

/// Connect to a `wss://` URL over TLS with the caller's rustls configuration (its root
/// certificates, its crypto provider: sockless picks none by itself), with `config`. The
/// TCP connection, the TLS handshake and the WebSocket handshake together take at most
/// [`Config::handshake_timeout`].
///
/// The server name checked is the URL's host. Errors as [`connect_with`]; a `ws://` URL
/// is [`Error::Usage`]`(InvalidUrl)` (use [`connect_with`]); a TLS failure (an
/// untrusted certificate...) is [`Error::Io`] whose source is the `rustls::Error`.
#[cfg(feature = "rustls")]
pub fn connect_tls(
    url: &str,
    config: Config,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<ClientWebSocket<TlsStream>, Error> {
    let clock = Clock::now();
    let parsed = WsUrl::parse(url)?;
    if !parsed.secure {
        return Err(Error::Usage(UsageError::InvalidUrl));
    }
    let name = rustls::pki_types::ServerName::try_from(parsed.host)
        .map_err(|e| Error::Io(std::io::Error::new(ErrorKind::InvalidInput, e)))?
        .to_owned();
    let tls = rustls::ClientConnection::new(tls, name).map_err(std::io::Error::other)?;
    let client = Client::connect(url, config, crate::os_rng(), Instant::ZERO)?;
    let stream = tcp_connect(parsed.host, parsed.port, &config, clock)?;
    let stream = rustls::StreamOwned::new(tls, stream);
    handshake(WebSocket::with_endpoint(stream, client, &config, clock)?)
}

/// Run the client's opening handshake over a `stream` the caller already has (a TCP
/// connection through a proxy, a TLS stream, a Unix socket), sending `request`
/// ([`ClientRequest::from_url`], with subprotocols, origin, headers...). The handshake
/// takes at most [`Config::handshake_timeout`]. Errors as [`connect_with`].
pub fn client<S: Transport>(
    stream: S,
    request: ClientRequest<'_>,
    config: Config,
) -> Result<ClientWebSocket<S>, Error> {
    let clock = Clock::now();
    let client = Client::new(request, config, crate::os_rng(), Instant::ZERO)?;
    handshake(WebSocket::with_endpoint(stream, client, &config, clock)?)
}

/// TCP to the first address of `host` that answers, within what is left of the handshake
/// timeout.
fn tcp_connect(host: &str, port: u16, config: &Config, clock: Clock) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = std::io::Error::new(ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        let left = config.handshake_timeout.saturating_sub(clock.elapsed());
        if left.is_zero() {
            return Err(crate::TimedOut::Handshake.into());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                if clock.elapsed() >= config.handshake_timeout {
                    return Err(crate::TimedOut::Handshake.into());
                }
                last = e;
            }
            Err(e) => last = e,
        }
    }
    Err(last.into())
}

/// Send the request and read the response, within the handshake deadline; the open
/// connection on success. The transport is shut on every error.
fn handshake<S: Transport, R: rand_core::Rng>(
    mut ws: WebSocket<S, Client<'_, R>>,
) -> Result<ClientWebSocket<S, R>, Error> {
    let result = loop {
        let WebSocket {
            link,
            endpoint,
            input,
            deflate,
            ..
        } = &mut ws;
        // The first time, the request.
        if let Err(error) = link.flush_owed(endpoint) {
            break Err(error);
        }
        match next_event(link, endpoint, input, deflate) {
            Ok(Some(Event::Connected(_))) => break Ok(()),
            Ok(Some(Event::Rejected(response))) => {
                break Err(Error::Rejected {
                    status: response.status(),
                });
            }
            Ok(Some(Event::HandshakeFailed(error))) => break Err(Error::Handshake(error)),
            Ok(_) => {}
            Err(error) => break Err(error),
        }
        if let Err(error) = link.fill(endpoint, input) {
            break Err(error);
        }
    };
    if let Err(error) = result {
        ws.link.shut();
        return Err(error);
    }
    into_open(ws)
}
