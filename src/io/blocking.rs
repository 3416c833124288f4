//! A blocking WebSocket over any `std::io::Read + Write` stream, for both roles (feature
//! `std`): [`accept`] a stream, [`connect`] to a URL, then [`WebSocket::read`] whole
//! messages, [`WebSocket::send`] them and [`WebSocket::close`].
//!
//! It is a thin loop over the core's [`Driver`]: the driver decides what to write and when,
//! which deadline comes next and when the peer is given up; this module only reads,
//! writes (vectored), flushes, shuts the stream and turns each step's deadline into the
//! stream's read or write timeout ([`Transport`]). A read or write that times out only
//! means "ask the driver again".
//!
//! - **Owed frames go out first.** The Pong for a Ping, the echo of a Close, the Close that
//!   answers a violation and a keep-alive Ping are written before the event that caused
//!   them is handed out (RFC 6455 §5.5.2, §5.5.1, §7.1.7). `send` returns once its message
//!   is written and the stream flushed.
//! - **Every wait has a deadline.** Reads wait at most until the driver's next deadline:
//!   the handshake timeout, the keep-alive timer and its Pong, the close timeout. Writes
//!   wait at most [`Config::write_timeout`] without progress: a peer that stops reading is
//!   then given up ([`TimedOut::Write`](crate::TimedOut::Write)). A deadline that passed is
//!   acted on before any more input is read, so a peer that floods frames cannot hold it
//!   off. Keep-alive Pings and timeouts are handled while reading, writing or closing. An
//!   open connection waiting for the next message has a deadline only with
//!   [`Config::keep_alive`] set (it is off by default): then a peer that stops answering
//!   Pings is given up ([`TimedOut::KeepAlive`](crate::TimedOut::KeepAlive)).
//! - **Closing ends cleanly.** Reading the peer's Close gives [`Message::Close`] once, after
//!   the echo was written and the transport shut (a client first waits, at most
//!   [`Config::close_timeout`], for the server to close the TCP connection, §7.1.1); every
//!   later call gives [`Error::Closed`]. Once both Close frames have passed, an end of the
//!   stream, a reset or a broken pipe is still a clean close, never an error.
//!   [`WebSocket::close`] returns once the closing handshake finished or the close timeout
//!   passed, and always shuts the transport.
//! - **Large messages are not copied.** A message that does not fit the output buffer
//!   goes out as a frame header and then its payload from where it lies, in one vectored
//!   write (a client masks an owned [`Message`] in place, a borrowed payload piece by piece
//!   on a 16 KiB copy, RFC 6455 §5.3).
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
use crate::driver::{Driver, End, EventKind, SendError, Step};
use crate::frame::MAX_HEADER_LEN;
use crate::handshake::WsUrl;
#[cfg(feature = "deflate")]
use crate::io::compressor::MessageCompressor;
use crate::{
    Client, ClientRequest, CloseCode, Config, Connection, Duration, Endpoint, Event, EventOf,
    InputBuffer, Instant, Masked, Masking, MessageKind, OsRng, Request, Server, State, Unmasked,
    UsageError,
};

/// How a server answers a request in [`accept_with`]: the driver's
/// [`driver::Decision`](crate::driver::Decision), one type for every adapter. [`Decision::Accept`]
/// of a request that is not an upgrade is answered 400.
pub use crate::driver::Decision;

/// The input buffer: a whole head of [`Config::max_head_len`] fits, and larger messages
/// stream through it in pieces of this size. Allocated once per connection.
const INPUT_BUFFER: usize = 16 * 1024;

/// The output buffer of an open connection: owed control frames and messages up to this
/// size (header included) are staged in it; larger ones go out as a header and then the
/// payload from where it lies, in the same single write (every send is written at once,
/// so staging more would batch nothing).
const OUTPUT_BUFFER: usize = 1024;

/// The output buffer of a connection that negotiated permessage-deflate: a compressed
/// message is staged whole ([`Connection::send_compressed`]), so one whose compressed
/// form does not fit here is sent uncompressed.
#[cfg(feature = "deflate")]
const DEFLATE_OUTPUT_BUFFER: usize = 64 * 1024;

/// The output buffer during the opening handshake: the request, or the response with
/// its extra headers or body.
const HANDSHAKE_OUTPUT_BUFFER: usize = 8 * 1024;

/// The message buffer is given back once a message that made it grow beyond this was
/// handed out, so a connection holds the memory of a large message only while it
/// arrives.
const KEEP_MESSAGE_BUFFER: usize = 64 * 1024;

/// The shortest timeout set on the stream: `TcpStream` refuses a zero one.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

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
/// Memory: a 16 KiB input buffer (or [`Config::max_head_len`] if larger) and a 1 KiB
/// output buffer (64 KiB with permessage-deflate, plus its window and compressor). A
/// message that arrives in pieces is collected in a buffer that is given back once the
/// message is handed out, if it grew beyond 64 KiB; an idle connection holds nothing
/// more.
#[derive(Debug)]
pub struct WebSocket<S, E = Connection<Unmasked>> {
    stream: S,
    driver: Driver<E, Vec<u8>, Vec<u8>>,
    clock: Clock,
    /// The read and write timeouts last set on the stream, to skip setting them again.
    read_timeout: Option<Option<Duration>>,
    write_timeout: Option<Option<Duration>>,
    /// The transport was shut: nothing more is read or written.
    closed: bool,
    /// The transport's error, kept for the caller if the driver ends the connection
    /// abnormally because of it.
    io_error: Option<std::io::Error>,
    /// Bytes the stream took but could not flush yet (a TLS stream buffers them): the
    /// driver still counts them as owed, so its write deadline runs on, and only a flush
    /// is tried until they are out.
    unflushed: usize,
    /// The size of the driver's output buffer.
    output_capacity: usize,
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

/// A payload to send: text (valid UTF-8 by its type) or binary.
enum Data<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

impl<S: Transport, E: Endpoint> WebSocket<S, E> {
    fn with_endpoint(
        mut stream: S,
        endpoint: E,
        config: &Config,
        clock: Clock,
    ) -> Result<Self, Error> {
        // Until the first read or write sets its own, reads (such as a TLS handshake run
        // inside the first write) wait no longer than the handshake may take.
        let first = config.handshake_timeout.max(MIN_TIMEOUT);
        stream.set_read_timeout(Some(first))?;
        let input = InputBuffer::new(vec![0; INPUT_BUFFER.max(config.max_head_len)], config)?;
        let driver = Driver::new(endpoint, input, vec![0; HANDSHAKE_OUTPUT_BUFFER], config)?;
        Ok(WebSocket {
            stream,
            driver,
            clock,
            read_timeout: Some(Some(first)),
            write_timeout: None,
            closed: false,
            io_error: None,
            unflushed: 0,
            output_capacity: HANDSHAKE_OUTPUT_BUFFER,
            assembler: MessageAssembler::new(),
            deflate: None,
        })
    }

    fn now(&self) -> Instant {
        Instant::from_elapsed(self.clock.elapsed())
    }

    /// The driver's next step (through the inflater with permessage-deflate).
    fn step(&mut self) -> Step {
        let now = self.now();
        match &mut self.deflate {
            #[cfg(feature = "deflate")]
            Some(state) => self.driver.poll_inflating(now, &mut state.inflater),
            _ => self.driver.poll(now),
        }
    }

    /// The event [`step`](Self::step) found, borrowing the input (or the inflater's
    /// window).
    fn event(&mut self) -> Option<EventOf<'_, E::Phase>> {
        match &self.deflate {
            #[cfg(feature = "deflate")]
            Some(state) => self.driver.event_inflated(&state.inflater),
            _ => self.driver.event(),
        }
    }

    /// Carry out a read or write step; any outcome is reported to the driver, and the
    /// caller polls again.
    fn io(&mut self, step: Step, payload: &[u8]) {
        match step {
            Step::Write { until } => self.write(until, payload),
            Step::Read { until } => self.fill(until),
            Step::Event(_) | Step::Close(_) => {}
        }
    }

    /// The stream timeout for a wait that ends at `until`; `None` inside means no
    /// deadline, `None` outside that the deadline has passed (poll again).
    fn timeout(&self, until: Option<Instant>) -> Option<Option<Duration>> {
        let now = self.now();
        match until {
            Some(at) if at <= now => None,
            Some(at) => Some(Some(at.saturating_duration_since(now).max(MIN_TIMEOUT))),
            None => Some(None),
        }
    }

    /// One vectored write of what the driver owes (staged bytes, then the payload's
    /// range from `body`), waiting at most until `until`; the stream is flushed once
    /// nothing more is owed.
    fn write(&mut self, until: Option<Instant>, payload: &[u8]) {
        let Some(timeout) = self.timeout(until) else {
            return;
        };
        if self.write_timeout != Some(timeout) {
            if let Err(error) = self.stream.set_write_timeout(timeout) {
                return self.failed(error);
            }
            self.write_timeout = Some(timeout);
        }
        if self.unflushed > 0 {
            return self.flush_taken(self.unflushed);
        }
        let whole = self.driver.transmit().len();
        let [staged, owed] = self.driver.write_parts(payload);
        let written = self
            .stream
            .write_vectored(&[IoSlice::new(staged), IoSlice::new(owed)]);
        let now = self.now();
        match written {
            Ok(0) => self.failed(ErrorKind::WriteZero.into()),
            // Everything owed was taken: it is written once it is flushed.
            Ok(n) if n as u64 == whole => self.flush_taken(n),
            Ok(n) => self.driver.wrote(n, now),
            Err(e) if is_wait_over(&e) => {}
            Err(error) => self.failed(error),
        }
    }

    /// Flush the stream, then report the `taken` bytes written; a flush that has to wait
    /// keeps them owed (see `unflushed`).
    fn flush_taken(&mut self, taken: usize) {
        let flushed = self.stream.flush();
        let now = self.now();
        match flushed {
            Ok(()) => {
                self.unflushed = 0;
                self.driver.wrote(taken, now);
            }
            Err(e) if is_wait_over(&e) => self.unflushed = taken,
            Err(error) => {
                self.unflushed = 0;
                self.failed(error);
            }
        }
    }

    /// One read into the driver's input, waiting at most until `until`.
    fn fill(&mut self, until: Option<Instant>) {
        let Some(timeout) = self.timeout(until) else {
            return;
        };
        if self.read_timeout != Some(timeout) {
            if let Err(error) = self.stream.set_read_timeout(timeout) {
                return self.failed(error);
            }
            self.read_timeout = Some(timeout);
        }
        let read = self.stream.read(self.driver.read_space());
        let now = self.now();
        match read {
            Ok(0) => self.driver.read_closed(now),
            Ok(n) => self.driver.filled(n, now),
            Err(e) if is_wait_over(&e) => {}
            // A TLS stream that ends without `close_notify`: the WebSocket closing
            // handshake (or its absence) already says whether the end was clean.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => self.driver.read_closed(now),
            Err(error) => self.failed(error),
        }
    }

    /// The transport failed: the driver judges what that means (after the peer's Close,
    /// still a clean close), and the error is kept for the caller.
    fn failed(&mut self, error: std::io::Error) {
        self.io_error.get_or_insert(error);
        let now = self.now();
        self.driver.transport_failed(now);
    }

    /// Shut the transport; nothing more is read or written. A transport that already went
    /// away cannot be shut more: that error is of no use.
    fn shut(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.shutdown();
        }
    }

    /// The driver ended the connection: shut the transport and say why. A clean close is
    /// [`Error::Closed`].
    fn ended(&mut self, end: End) -> Error {
        self.shut();
        match end {
            End::Failed(error) => Error::Protocol(error),
            End::HandshakeFailed(error) => Error::Handshake(error),
            End::Rejected { status } => Error::Rejected { status },
            End::TimedOut(timed_out) => Error::TimedOut(timed_out),
            End::Abnormal => self
                .io_error
                .take()
                .map_or(Error::AbnormalClosure, Error::Io),
            End::Usage(error) => Error::Usage(error),
            _ => Error::Closed,
        }
    }

    /// Write everything staged (and `body`), acting on deadlines as the driver says.
    /// Events found meanwhile stay pending for the next read.
    fn drive_out(&mut self, payload: &[u8]) -> Result<(), Error> {
        while !self.driver.transmit().is_empty() {
            match self.step() {
                Step::Close(end) => return Err(self.ended(end)),
                // An event waits for the next read; what we owe is written meanwhile.
                Step::Event(_) | Step::Read { .. } => {
                    let until = self.driver.poll_timeout();
                    self.write(until, payload);
                }
                step => self.io(step, payload),
            }
        }
        // The output was dropped rather than written (the transport failed, or the peer
        // took nothing for the write timeout) while an event waits: the send failed.
        match self.driver.end() {
            Some(end @ End::TimedOut(crate::TimedOut::Write)) => Err(self.ended(end)),
            Some(end) if self.io_error.is_some() => Err(self.ended(end)),
            _ => Ok(()),
        }
    }

    /// Write what is staged without reading (the handshake's answer): the driver acts on
    /// its deadlines only.
    fn write_staged(&mut self) -> Result<(), Error> {
        loop {
            let now = self.now();
            self.driver.handle_timeout(now);
            if self.driver.transmit().is_empty() {
                break;
            }
            let until = self.driver.poll_timeout();
            self.write(until, &[]);
        }
        match self.driver.end() {
            Some(end) => Err(self.ended(end)),
            None => Ok(()),
        }
    }

    /// Stage a command, writing what is staged first when there is no room for it.
    fn stage(
        &mut self,
        mut command: impl FnMut(&mut Driver<E, Vec<u8>, Vec<u8>>, Instant) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        loop {
            let now = self.now();
            match command(&mut self.driver, now) {
                Ok(()) => return Ok(()),
                Err(SendError::NoRoom { .. }) if !self.driver.transmit().is_empty() => {
                    self.drive_out(&[])?
                }
                Err(SendError::NoRoom { .. }) => {
                    return Err(UsageError::OutputBufferTooSmall.into());
                }
                Err(SendError::Usage(error)) => return Err(error.into()),
            }
        }
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
    /// - [`Error::TimedOut`] (`KeepAlive` when the peer did not answer a keep-alive Ping,
    ///   `Write` when it took none of our bytes for [`Config::write_timeout`]),
    ///   [`Error::AbnormalClosure`] (the stream ended without a Close), [`Error::Io`].
    pub fn read(&mut self) -> Result<Message, Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        loop {
            match self.step() {
                Step::Close(end) => return Err(self.ended(end)),
                Step::Event(_) => {}
                step => {
                    self.io(step, &[]);
                    continue;
                }
            }
            let WebSocket {
                driver,
                deflate,
                assembler,
                ..
            } = self;
            let event = match deflate {
                #[cfg(feature = "deflate")]
                Some(state) => driver.event_inflated(&state.inflater),
                _ => driver.event(),
            };
            let message = match event {
                Some(event @ (Event::Text(_) | Event::Binary(_) | Event::Chunk(_))) => {
                    match assembler.push(&event) {
                        Ok(Some(message)) => Message::from(message.into_owned()),
                        Ok(None) => continue,
                        // The driver checked every piece; an assembler that disagrees
                        // fails the connection as it says.
                        Err(error) => {
                            let code = error.close_code();
                            let _ = self.stage(|driver, now| driver.close(code, "", now));
                            let _ = self.drive_out(&[]);
                            self.shut();
                            return Err(Error::Protocol(crate::ProtocolError::InvalidUtf8));
                        }
                    }
                }
                Some(Event::Ping(payload)) => Message::Ping(payload.to_vec()),
                Some(Event::Pong(payload)) => Message::Pong(payload.to_vec()),
                Some(Event::Close(frame)) => {
                    let frame = frame.code.map(|code| OwnedCloseFrame {
                        code,
                        reason: frame.reason.into(),
                    });
                    self.run_to_end();
                    return Ok(Message::Close(frame));
                }
                // A violation, a handshake event or a compressed piece: the driver ends the
                // connection (or the event does not concern an open one).
                _ => continue,
            };
            if self.assembler.capacity() > KEEP_MESSAGE_BUFFER {
                self.assembler.shrink_to(0);
            }
            return Ok(message);
        }
    }

    /// Read the next event without copying it, and hand it to `handle`: text as `&str`
    /// and binary as `&[u8]` borrowed from the input buffer (unmasked in place; inflated
    /// into the window with permessage-deflate), messages that did not arrive whole as
    /// [`Event::Chunk`] pieces, control frames as [`Event::Ping`], [`Event::Pong`] and
    /// [`Event::Close`]. Returns what `handle` returns.
    ///
    /// The event is handed to a closure because it borrows the buffer that the next read
    /// refills. Owed frames are written before `handle` runs, exactly as for
    /// [`read`](Self::read). After [`Event::Close`], the closing handshake is finished
    /// (and the transport shut) once `handle` returns; later calls give
    /// [`Error::Closed`]. A violation is [`Error::Protocol`], not an event.
    pub fn read_event<T>(
        &mut self,
        handle: impl FnOnce(EventOf<'_, E::Phase>) -> T,
    ) -> Result<T, Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        loop {
            match self.step() {
                Step::Close(end) => return Err(self.ended(end)),
                Step::Event(found) => match found.kind() {
                    EventKind::Close(_) => {
                        let out = self.event().map(handle);
                        self.run_to_end();
                        return out.ok_or(Error::Closed);
                    }
                    // A violation (or a text message that fails its check when taken):
                    // the driver ends the connection at the next step. An open
                    // connection has no handshake events.
                    _ => match self.event() {
                        Some(
                            event @ (Event::Text(_)
                            | Event::Binary(_)
                            | Event::Chunk(_)
                            | Event::Ping(_)
                            | Event::Pong(_)),
                        ) => return Ok(handle(event)),
                        _ => self.driver.skip_event(),
                    },
                },
                step => self.io(step, &[]),
            }
        }
    }

    /// Drive the connection to its end, dropping any event, and shut the transport: why
    /// it ended ([`Error::Closed`] for a clean close). After the peer's Close, a server
    /// closes the transport once the echo is written; a client waits, at most the close
    /// timeout, for the server to close it (RFC 6455 §7.1.1).
    fn run_to_end(&mut self) -> Error {
        loop {
            match self.step() {
                Step::Close(end) => return self.ended(end),
                Step::Event(_) => self.driver.skip_event(),
                step => self.io(step, &[]),
            }
        }
    }

    /// Send a message: text, binary, a Ping or a Pong; a [`Message::Close`] starts the
    /// closing handshake without waiting for it (with 1000 when it has no code; see
    /// [`close`](Self::close) to wait for the end). Frames the protocol owes go out first.
    /// Returns once the bytes were written and the stream flushed. A large message a
    /// client sends is masked in place: no copy.
    ///
    /// [`Error::Usage`] (nothing sent) for what the connection does not allow: a Ping
    /// over 125 bytes, a close code that may not be sent, anything after our Close.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_text(&text),
            Message::Binary(data) => self.send_binary(&data),
            Message::Ping(payload) => {
                self.stage(|driver, now| driver.ping(&payload, now))?;
                self.drive_out(&[])
            }
            Message::Pong(payload) => {
                self.stage(|driver, now| driver.pong(&payload, now))?;
                self.drive_out(&[])
            }
            Message::Close(frame) => {
                let (code, reason) = frame
                    .as_ref()
                    .map_or((CloseCode::NORMAL, ""), |f| (f.code, f.reason.as_str()));
                self.stage(|driver, now| driver.close(code, reason, now))?;
                self.drive_out(&[])
            }
        }
    }

    /// Send a text message, in one frame (compressed when permessage-deflate was
    /// negotiated and it pays).
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send_data(MessageKind::Text, Data::Text(text))
    }

    /// Send a binary message, in one frame (compressed as [`send_text`](Self::send_text)
    /// says).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_data(MessageKind::Binary, Data::Binary(data))
    }

    /// One data frame: compressed and staged when permessage-deflate pays; staged when it
    /// fits the output buffer; else the header staged alone and the payload written from
    /// where it lies (a client's masked by the driver a piece at a time, RFC 6455 §5.3).
    /// Text comes from a `&str`: valid UTF-8 by its type.
    fn send_data(&mut self, kind: MessageKind, data: Data<'_>) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let payload: &[u8] = match &data {
            Data::Text(text) => text.as_bytes(),
            Data::Binary(data) => data,
        };
        #[cfg(feature = "deflate")]
        if let Some(compressed) = self.compress(payload)? {
            self.stage(|driver, now| driver.send_compressed(kind, &compressed, now))?;
            return self.drive_out(&[]);
        }
        if payload.len() + MAX_HEADER_LEN <= self.output_capacity {
            self.stage(|driver, now| match &data {
                Data::Text(text) => driver.send_text(text, now),
                Data::Binary(data) => driver.send_binary(data, now),
            })?;
            return self.drive_out(&[]);
        }
        let len = payload.len() as u64;
        self.stage(|driver, now| driver.send_header(kind, len, true, now).map(drop))?;
        self.drive_out(payload)
    }

    /// The payload compressed for permessage-deflate (RFC 7692 §7.2.1), if that was
    /// negotiated, pays, and fits the output buffer.
    #[cfg(feature = "deflate")]
    fn compress(&mut self, payload: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let Some(state) = &mut self.deflate else {
            return Ok(None);
        };
        let mut out = vec![0; payload.len().min(self.output_capacity - MAX_HEADER_LEN)];
        let connection = self.driver.connection()?;
        let compressed = state.compressor.compress(connection, payload, &mut out)?;
        Ok(compressed.map(|n| {
            out.truncate(n);
            out
        }))
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
        if self.closed {
            return Ok(());
        }
        if matches!(self.state(), State::Open | State::RemoteClosing) {
            self.stage(|driver, now| driver.close(code, reason, now))?;
        }
        match self.run_to_end() {
            Error::Closed => Ok(()),
            error => Err(error),
        }
    }

    /// Where the connection stands ([`State::Closed`] after the closing handshake).
    pub fn state(&self) -> State {
        self.driver.endpoint().state()
    }

    /// Whether the transport was shut: every read and send now gives [`Error::Closed`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The endpoint this drives, to read its state.
    pub fn endpoint(&self) -> &E {
        self.driver.endpoint()
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably. Reading or writing it directly breaks the connection's
    /// framing; this is for socket options.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream back (not shut, unless the connection ended).
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Transport, M: Masking> WebSocket<S, Connection<M>> {
    /// A WebSocket over a stream whose opening handshake was done by another HTTP stack
    /// (a hyper or axum upgrade; an HTTP/2 extended CONNECT stream, RFC 8441):
    /// `connection` is [`Connection::server`] or [`Connection::client`], and
    /// `already_read` the bytes that stack read past the head (the first frames). Writes
    /// give the peer up after the default [`Config::write_timeout`].
    pub fn from_connection(
        stream: S,
        connection: Connection<M>,
        already_read: &[u8],
    ) -> Result<Self, Error> {
        let mut input = InputBuffer::for_frames(vec![0; INPUT_BUFFER.max(already_read.len())])?;
        input.push(already_read);
        Self::open(stream, connection, input, Clock::now(), &Config::default())
    }

    /// A WebSocket over an open `connection`, its first frames in `input`.
    fn open(
        stream: S,
        connection: Connection<M>,
        input: InputBuffer<Vec<u8>>,
        clock: Clock,
        config: &Config,
    ) -> Result<Self, Error> {
        let deflate = deflate_for(&connection)?;
        #[cfg(feature = "deflate")]
        let output_capacity = if deflate.is_some() {
            DEFLATE_OUTPUT_BUFFER
        } else {
            OUTPUT_BUFFER
        };
        #[cfg(not(feature = "deflate"))]
        let output_capacity = OUTPUT_BUFFER;
        let driver = Driver::new(connection, input, vec![0; output_capacity], config)?;
        Ok(WebSocket {
            stream,
            driver,
            clock,
            read_timeout: None,
            write_timeout: None,
            closed: false,
            io_error: None,
            unflushed: 0,
            output_capacity,
            assembler: MessageAssembler::new(),
            deflate,
        })
    }

    /// The subprotocol the opening handshake chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.driver.endpoint().subprotocol()
    }

    /// The permessage-deflate parameters the handshake agreed on (RFC 7692), if any: then
    /// messages are inflated as they arrive and compressed when they are sent.
    pub fn deflate(&self) -> Option<crate::deflate::DeflateParams> {
        self.driver.endpoint().deflate()
    }
}

/// Accept a WebSocket on `stream` (a server's side of a connection just accepted) with the
/// default [`Config`]: read the request, within [`Config::handshake_timeout`], and accept
/// any upgrade. A request that is not an upgrade is answered 426 Upgrade Required (and
/// gives [`Error::Rejected`]): [`Decision::default_for`], as in every adapter.
///
/// See [`accept_with`] for the errors, and to choose a subprotocol or refuse.
pub fn accept<S: Transport>(stream: S) -> Result<ServerWebSocket<S>, Error> {
    accept_with(stream, Config::default(), Decision::default_for)
}

/// Accept a WebSocket on `stream` with `config`, letting `decide` answer the request
/// (RFC 6455 §4.2): [`Decision::Accept`] with a subprotocol chosen among
/// [`Request::subprotocols`] and extra headers, or [`Decision::Respond`] with any other
/// status. `decide` sees every request, upgrade or not ([`Request::is_upgrade`]); a
/// request that is not an upgrade is answered 400 if `decide` accepts it. The decision may
/// borrow anything that outlives the call (a header value made beforehand). The driver
/// carries it out ([`Driver::decide_with`](crate::driver::Driver::decide_with)), by the
/// same rules in every adapter.
///
/// Errors (the transport is shut in each case):
/// - [`Error::Rejected`] with the status sent, when `decide` answered another status (or
///   the request was not an upgrade);
/// - [`Error::Handshake`]: a bad request, answered with the status RFC 6455 asks for (400,
///   426 with the supported version, 431);
/// - [`Error::TimedOut`]`(Handshake)`: the request did not arrive whole in time; 408 was
///   sent;
/// - [`Error::Usage`]: `decide` chose a subprotocol the client did not offer, or an
///   invalid header, or an answer larger than 8 KiB; 500 was sent;
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
///         return Decision::reject(404);
///     }
///     if request.offers_subprotocol("chat") {
///         Decision::Accept(sockless::Accept::default().with_subprotocol("chat"))
///     } else {
///         Decision::accept()
///     }
/// })?;
/// assert_eq!(ws.subprotocol(), Some("chat"));
/// # client.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept_with<'d, S, F>(
    stream: S,
    config: Config,
    decide: F,
) -> Result<ServerWebSocket<S>, Error>
where
    S: Transport,
    F: FnOnce(&Request<'_>) -> Decision<'d>,
{
    let clock = Clock::now();
    let server = Server::new(config, Instant::ZERO);
    let mut ws = WebSocket::with_endpoint(stream, server, &config, clock)?;
    let mut decide = Some(decide);
    loop {
        match ws.step() {
            Step::Event(found) if found.kind() == EventKind::Request => {
                let Some(decide) = decide.take() else {
                    break;
                };
                // The driver answers as `decide` says (a misuse: 500, then `End::Usage`).
                let now = ws.now();
                let _ = ws.driver.decide_with(now, |request| decide(request));
                // The answer goes out before anything after the head is read: those bytes
                // are the open connection's.
                ws.write_staged()?;
                break;
            }
            Step::Event(_) => ws.driver.skip_event(),
            Step::Close(end) => return Err(ws.ended(end)),
            step => ws.io(step, &[]),
        }
    }
    if ws.state() != State::Open {
        // Another answer than 101 was written: the driver ends the connection.
        return Err(ws.run_to_end());
    }
    into_open(ws, &config)
}

/// The roles whose HTTP/1.1 handshake hands over an open [`Connection`].
/// A WebSocket whose handshake finished (nothing staged, no event pending), keeping only
/// the open connection (which borrows nothing), the bytes that followed the head, and
/// its permessage-deflate state.
fn into_open<S: Transport, E: Endpoint>(
    mut ws: WebSocket<S, E>,
    config: &Config,
) -> Result<WebSocket<S, Connection<E::Masking>>, Error> {
    let timeouts = (ws.read_timeout, ws.write_timeout);
    let (endpoint, input, _) = ws.driver.into_parts();
    let Ok(connection) = endpoint.into_connection() else {
        let _ = ws.stream.shutdown();
        return Err(Error::Usage(UsageError::NotOpen));
    };
    let mut open = WebSocket::open(ws.stream, connection, input, ws.clock, config)?;
    (open.read_timeout, open.write_timeout) = timeouts;
    Ok(open)
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
    handshake(
        WebSocket::with_endpoint(stream, client, &config, clock)?,
        &config,
    )
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
    handshake(
        WebSocket::with_endpoint(stream, client, &config, clock)?,
        &config,
    )
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
    handshake(
        WebSocket::with_endpoint(stream, client, &config, clock)?,
        &config,
    )
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
    handshake(
        WebSocket::with_endpoint(stream, client, &config, clock)?,
        &config,
    )
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
    config: &Config,
) -> Result<ClientWebSocket<S, R>, Error> {
    loop {
        match ws.step() {
            Step::Event(found) if found.kind() == EventKind::Connected => {
                let _ = ws.driver.event();
                break;
            }
            // A rejection or a bad response: the driver ends the connection next.
            Step::Event(_) => ws.driver.skip_event(),
            Step::Close(end) => return Err(ws.ended(end)),
            step => ws.io(step, &[]),
        }
    }
    into_open(ws, config)
}

/// Whether a read or write error only means its wait is over (poll again).
fn is_wait_over(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}
