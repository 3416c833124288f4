//! The rules of driving a connection over a byte stream, written once: which bytes to
//! write and when, which deadline comes next and what happens when it passes, when to give
//! the peer up, and how an event found in a read loop reaches the caller intact.
//!
//! A [`Driver`] owns an [`Endpoint`] (a [`Server`](crate::Server), a
//! [`Client`](crate::Client) or an open [`Connection`]), its [`InputBuffer`] and an output
//! staging area, all in caller storage: no allocation, no I/O, no clock. It tells the I/O
//! loop the next step, as rustls's unbuffered API names the caller's next step and
//! quinn-proto's `poll_transmit` / `poll_timeout` / `handle_timeout` do for QUIC:
//!
//! ```text
//! loop {
//!     match driver.poll(now) {
//!         Step::Write { until } => write driver.write_parts(payload) (one vectored write),
//!                                  then driver.wrote(n, now); give up at `until`
//!         Step::Read { until }  => read into driver.read_space(), then driver.filled(n, now)
//!                                  (or driver.read_closed(now) / driver.transport_failed(now));
//!                                  or, while driver.payload_space() > 0, read that much of a
//!                                  frame's payload into storage of your own, then
//!                                  driver.payload_filled(&mut yours[..n], now);
//!                                  wake at `until` and poll again
//!         Step::Event(_)        => hand out driver.event()
//!         Step::Close(end)      => close the transport: the connection is over, as `end` says
//!     }
//! }
//! ```
//!
//! What it decides, so that no adapter decides it again:
//!
//! - **Order.** A deadline that has passed is acted on before any read, so a peer that
//!   floods frames cannot starve it. Replies the protocol owes (Pong, the echo of a Close,
//!   the Close of a failure, a handshake's answer) are written before the event that caused
//!   them is handed out (RFC 6455 §5.5.2, §5.5.1). Messages the application sends are
//!   staged and written together once no more input can be used, so a burst of small
//!   messages costs one write.
//! - **Named deadlines** ([`Deadline`]): the handshake, the keep-alive Ping and its Pong,
//!   the closing handshake, and [`Config::write_timeout`](crate::Config::write_timeout):
//!   owed bytes of which the transport takes none for that long give the peer up
//!   ([`TimedOut::Write`]) instead of holding it for ever.
//! - **A clean close stays clean.** Once the peer's Close has arrived, the end of the
//!   transport (EOF, reset, broken pipe) ends the connection as [`End::Closed`] with the
//!   peer's code; before, it is [`End::Abnormal`] (1006).
//! - **Large payloads are not copied.** [`send_message`](Core::send_message) stages a
//!   small message whole and only the header of a large one ([`send_header`](Core::send_header)
//!   stages a header alone); [`write_parts`](Core::write_parts) then gives the staged bytes
//!   and the part of the caller's payload to write after them in one vectored write (a
//!   client's masked a piece at a time in the output's idle room, §5.3). On the receive
//!   side, [`payload_space`](Driver::payload_space) says how much of a data frame's
//!   payload is still to come, to read straight into the caller's own storage (the
//!   message it assembles), and [`payload_filled`](Driver::payload_filled) unmasks and
//!   checks it there.
//! - **Events wait as handles.** An event found by [`poll`](Driver::poll) is kept as an
//!   [`EventHandle`] (`Copy`: its kind and where its bytes lie) until the caller takes it
//!   with [`event`](Driver::event), after its loop or its `.await`. A whole text message
//!   is checked for UTF-8 once, when it is taken (§8.1: an invalid one fails the
//!   connection with 1007 then, before anything after it is read).
//!
//! # Example
//!
//! A server and a client, each behind a driver, talking through two in-memory pipes:
//!
//! ```
//! use sockless::driver::{Decision, Driver, End, Step};
//! use sockless::{Client, ClientRequest, CloseCode, Config, Event, Instant, InputBuffer, Server};
//! # struct Counter(u32);
//! # impl rand_core::TryRng for Counter {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { self.0 += 1; Ok(self.0 as u64) }
//! #     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//! #         dst.iter_mut().for_each(|b| { self.0 += 1; *b = self.0 as u8 }); Ok(()) }
//! # }
//! let (config, now) = (Config::default(), Instant::ZERO);
//! let input = |storage| InputBuffer::new(storage, &config).unwrap();
//! let request = ClientRequest::from_url("ws://example.com/chat")?;
//! let client = Client::new(request, config, Counter(0), now)?;
//! let mut client = Driver::new(client, input([0u8; 8192]), [0u8; 1024], &config)?;
//! let mut server = Driver::new(Server::new(config, now), input([0u8; 8192]), [0u8; 1024], &config)?;
//!
//! // Move what one side writes into the other's input, as a transport would.
//! macro_rules! pump {
//!     ($from:expr => $to:expr) => {
//!         while let Step::Write { .. } = $from.poll(now) {
//!             let bytes = $from.transmit().staged.to_vec();
//!             let n = $to.feed(&bytes, now);
//!             $from.wrote(n, now);
//!         }
//!     };
//! }
//! pump!(client => server);
//! assert!(matches!(server.poll(now), Step::Event(_)));
//! let Some(Event::Request(request)) = server.event() else { unreachable!() };
//! assert_eq!(request.path(), "/chat");
//! server.decide(Decision::accept(), now)?;
//! pump!(server => client);
//! assert!(matches!(client.poll(now), Step::Event(_)));
//! assert!(matches!(client.event(), Some(Event::Connected(_))));
//!
//! client.send_text("hello", now)?;
//! pump!(client => server);
//! assert!(matches!(server.poll(now), Step::Event(_)));
//! assert!(matches!(server.event(), Some(Event::Text("hello"))));
//!
//! client.close(CloseCode::NORMAL, "bye", now)?;
//! pump!(client => server);
//! // The server writes its answer to the Close before it hands the Close out.
//! assert!(matches!(server.poll(now), Step::Write { .. }));
//! pump!(server => client);
//! assert!(matches!(server.poll(now), Step::Event(_)));
//! assert!(matches!(server.event(), Some(Event::Close(_))));
//! assert_eq!(server.poll(now), Step::Close(End::Closed { code: Some(CloseCode::NORMAL) }));
//! assert!(matches!(client.poll(now), Step::Event(_)));
//! assert!(matches!(client.event(), Some(Event::Close(_))));
//! client.read_closed(now); // the server closed the transport
//! assert_eq!(client.poll(now), Step::Close(End::Closed { code: Some(CloseCode::NORMAL) }));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

mod commands;
mod end;
mod handle;
mod output;

use crate::config::Config;
use crate::connection::{Connection, State};
use crate::endpoint::Endpoint;
use crate::error::{TimedOut, UsageError};
use crate::event::{Event, EventOf, Phase, Received};
use crate::handshake::Limits;
use crate::input::InputBuffer;
use crate::time::{Duration, Instant};
use crate::utf8;

pub use crate::error::SendError;
pub use commands::Decision;
pub use end::{Deadline, End};
pub use handle::{EventHandle, EventKind};
use output::Output;
pub use output::Transmit;

/// What the I/O loop does next; [`Driver::poll`] gives one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "each step names what the I/O loop must do next"]
pub enum Step {
    /// Write what [`Core::transmit`] gives (staged bytes, then any payload of the
    /// caller's, in one vectored write), then report it with [`Core::wrote`]. A write
    /// that takes nothing until `until` need not wait longer: poll again then (at the
    /// write deadline the peer is given up, [`TimedOut::Write`]; at an earlier one, such
    /// as a keep-alive Ping's, the driver acts on it).
    Write {
        /// When to stop waiting for the transport and poll again: the earliest deadline.
        until: Option<Instant>,
    },
    /// Read into [`Driver::read_space`], then report it with [`Driver::filled`] (or
    /// [`Core::read_closed`] at the end of the stream, [`Core::transport_failed`] on
    /// an error). While [`Driver::payload_space`] is not 0, a data frame's payload may be
    /// read into the caller's storage instead and reported with
    /// [`Driver::payload_filled`]. Wait no longer than `until`: poll again then.
    Read {
        /// When to stop waiting for input and poll again.
        until: Option<Instant>,
    },
    /// An event is ready: take it with [`Driver::event`] (or drop it with
    /// [`Driver::skip_event`]) before polling again.
    Event(EventHandle),
    /// Close the transport now (after a clean close, a failure whose answer was written,
    /// a rejection or a timeout): the connection is over, as the [`End`] says. Every
    /// later poll gives the same.
    Close(End),
}

/// One connection's driving state over caller storage: the endpoint, the received bytes
/// not used yet (`S`), and the bytes staged for the transport (`O`). See the [module
/// documentation](self) for the loop that drives it.
///
/// It is a [`Core`] (every command and every rule that needs no input is the core's, and
/// reached through `Deref`) with its [`InputBuffer`].
#[derive(Clone, Debug)]
pub struct Driver<E, S, O> {
    core: Core<E, O>,
    input: InputBuffer<S>,
}

/// A [`Driver`] without its input: for an adapter that keeps the [`InputBuffer`] apart
/// and lends it to each call that reads it (`poll_in`, `event_in`...), so that an event
/// handed out borrows the input only and the core stays free for commands (an echo sends
/// the text it was just handed). Every other method is the driver's.
#[derive(Clone, Debug)]
pub struct Core<E, O> {
    endpoint: E,
    output: Output<O>,
    limits: Limits,
    write_timeout: Duration,
    /// While output waits: when it is given up if the transport takes none of it
    /// ([`write_timeout`](Self::write_timeout) after the transport last took bytes, or
    /// after it was first owed some). Kept as the deadline, not its start, so that the
    /// check before every step adds nothing.
    write_deadline: Option<Instant>,
    /// The output holds replies the protocol owes: write them before anything else.
    urgent: bool,
    /// The last receive wanted more input than there is.
    starved: bool,
    /// The input's bytes are dropped at the next poll (a text message failed its check).
    discard_input: bool,
    pending: Option<EventHandle>,
    /// The peer's Close arrived, with this code.
    peer_close: Option<Option<crate::close::CloseCode>>,
    /// Why the connection ended, once it has.
    end: Option<End>,
}

impl<E, O> Core<E, O> {
    /// The same core around `endpoint` instead, and the endpoint it had.
    fn with_endpoint<F>(self, endpoint: F) -> (E, Core<F, O>) {
        let Core {
            endpoint: had,
            output,
            limits,
            write_timeout,
            write_deadline,
            urgent,
            starved,
            discard_input,
            pending,
            peer_close,
            end,
        } = self;
        let core = Core {
            endpoint,
            output,
            limits,
            write_timeout,
            write_deadline,
            urgent,
            starved,
            discard_input,
            pending,
            peer_close,
            end,
        };
        (had, core)
    }
}

impl<E, S, O> core::ops::Deref for Driver<E, S, O> {
    type Target = Core<E, O>;

    fn deref(&self) -> &Core<E, O> {
        &self.core
    }
}

impl<E, S, O> core::ops::DerefMut for Driver<E, S, O> {
    fn deref_mut(&mut self) -> &mut Core<E, O> {
        &mut self.core
    }
}

impl<E, S, O> Driver<E, S, O>
where
    E: Endpoint,
    S: AsRef<[u8]> + AsMut<[u8]>,
    O: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A driver for `endpoint`, reading into `input` and staging output in `output` (at
    /// least [`MIN_OUTPUT_BUFFER`](crate::MIN_OUTPUT_BUFFER) bytes, else
    /// [`UsageError::OutputBufferTooSmall`]). `config` gives the head limits and the write
    /// timeout (the endpoint keeps the rest).
    pub fn new(
        endpoint: E,
        input: InputBuffer<S>,
        output: O,
        config: &Config,
    ) -> Result<Self, UsageError> {
        Ok(Driver {
            core: Core::new(endpoint, output, config)?,
            input,
        })
    }

    /// What to do next; see [`Step`]. Call it after every I/O result, after taking an
    /// event, after a command, and whenever a deadline it named passes.
    pub fn poll(&mut self, now: Instant) -> Step {
        self.core.poll_in(&mut self.input, now)
    }

    /// [`poll`](Driver::poll) with a permessage-deflate [`Inflater`](crate::deflate::Inflater)
    /// in front of the endpoint (RFC 7692): compressed messages come out inflated, their
    /// bytes in the inflater's window; take them with
    /// [`event_inflated`](Self::event_inflated) and the same inflater. The inflater may be
    /// the connection's own or one shared between messages
    /// ([`Inflater::in_message`](crate::deflate::Inflater::in_message)).
    #[cfg(feature = "deflate")]
    pub fn poll_inflating<W: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        now: Instant,
        inflater: &mut crate::deflate::Inflater<W>,
    ) -> Step {
        self.core.poll_inflating_in(&mut self.input, now, inflater)
    }

    /// The event [`poll`](Driver::poll) found ([`Step::Event`]), borrowing the input until
    /// the next call; `None` if there is none. A whole text message is checked for UTF-8
    /// here, once: if it is invalid, the connection fails with 1007 and this gives
    /// [`Event::Failed`] instead.
    ///
    /// A server's [`Event::Request`] stays pending until [`decide`](Driver::decide)
    /// answers it.
    pub fn event(&mut self) -> Option<EventOf<'_, E::Phase>> {
        self.core.event_in(&self.input)
    }

    /// [`event`](Driver::event) for a driver polled with
    /// [`poll_inflating`](Driver::poll_inflating): an inflated message's bytes lie in
    /// `inflater`'s window.
    #[cfg(feature = "deflate")]
    pub fn event_inflated<'a, W: AsRef<[u8]> + AsMut<[u8]>>(
        &'a mut self,
        inflater: &'a crate::deflate::Inflater<W>,
    ) -> Option<EventOf<'a, E::Phase>> {
        self.core.event_inflated_in(&self.input, inflater)
    }

    /// [`event`](Driver::event), with the core to give commands while the event is held:
    /// the event borrows the input only, so a reply is staged from the event's own bytes
    /// (an echo, a transform) with no copy in between.
    pub fn event_and_core(&mut self) -> (Option<EventOf<'_, E::Phase>>, &mut Core<E, O>) {
        let Driver { core, input } = self;
        (core.event_in(input), core)
    }

    /// [`event_and_core`](Driver::event_and_core) for a driver polled with
    /// [`poll_inflating`](Driver::poll_inflating).
    #[cfg(feature = "deflate")]
    pub fn event_inflated_and_core<'a, W: AsRef<[u8]> + AsMut<[u8]>>(
        &'a mut self,
        inflater: &'a crate::deflate::Inflater<W>,
    ) -> (Option<EventOf<'a, E::Phase>>, &'a mut Core<E, O>) {
        let Driver { core, input } = self;
        (core.event_inflated_in(input, inflater), core)
    }

    /// Drop the event [`poll`](Driver::poll) found without looking at it (a text message is
    /// still checked, so an invalid one still fails the connection).
    pub fn skip_event(&mut self) {
        self.core.skip_event_in(&self.input)
    }

    /// Where to read the next bytes into. Take the pending event first: reading may move
    /// the bytes it borrows (a pending event is dropped here).
    pub fn read_space(&mut self) -> &mut [u8] {
        self.core.read_space_in(&mut self.input)
    }

    /// `n` bytes were read into [`read_space`](Driver::read_space) at `now`.
    pub fn filled(&mut self, n: usize, now: Instant) {
        self.core.filled_in(&mut self.input, n, now)
    }

    /// Copy `bytes` into the input (for callers that receive into their own buffers);
    /// returns how many fitted.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> usize {
        let space = self.read_space();
        let n = bytes.len().min(space.len());
        space[..n].copy_from_slice(&bytes[..n]);
        self.filled(n, now);
        n
    }

    /// How many payload bytes of the data frame being received the I/O loop may read
    /// straight into storage of its own (the message it assembles) instead of into
    /// [`read_space`](Driver::read_space): at a [`Step::Read`], read up to that many
    /// there and report them with [`payload_filled`](Driver::payload_filled). A large
    /// message is then read once, where it is kept, and never copied out of the input.
    ///
    /// 0 (read into [`read_space`](Driver::read_space)) unless a data frame's payload is
    /// being received and every byte already received for it was used: no frame open (the
    /// next bytes are a header, RFC 6455 §5.2), a compressed message (its bytes go to the
    /// inflater, RFC 7692), an event pending, or the connection over.
    pub fn payload_space(&mut self) -> usize {
        self.core.payload_space_in(&self.input)
    }

    /// `payload` (at most [`payload_space`](Driver::payload_space) bytes, more is
    /// [`UsageError::NoPayloadSpace`] with nothing changed) was read straight into the
    /// caller's storage at `now`: the next bytes of the data frame being received. The
    /// driver unmasks them there, in place (the masking key's offset continues across
    /// pieces, RFC 6455 §5.3), checks text as it arrives (§8.1: the check's state carries
    /// over to the next piece and frame) and advances the frame: after its last byte, the
    /// next header is read from the input as usual (continuation frames, and control frames
    /// between them, §5.4). The frame's length was held to
    /// [`Config::max_message_len`](crate::Config::max_message_len) when its header arrived
    /// (1009).
    ///
    /// Returns the piece as [`Driver::event`] would have handed it out from the input: an
    /// [`Event::Chunk`] borrowing `payload` (`last` once the message is whole), or
    /// [`Event::Failed`] when the bytes broke the protocol (invalid UTF-8, 1007): the
    /// connection then fails, its Close is written next and [`poll`](Driver::poll) ends
    /// with [`Step::Close`].
    pub fn payload_filled<'a>(
        &mut self,
        payload: &'a mut [u8],
        now: Instant,
    ) -> Result<EventOf<'a, E::Phase>, UsageError> {
        self.core.payload_filled_in(&self.input, payload, now)
    }

    /// The received bytes not used yet.
    pub fn input(&self) -> &InputBuffer<S> {
        &self.input
    }

    /// Keep the input in `storage` instead, the received bytes not used yet moved to its
    /// front, and give the old storage back: for an adapter that grows its buffer while a
    /// large message arrives (fewer, larger reads) and gives it back while the connection
    /// waits. Refused, `storage` given back, while an event is pending (its bytes lie in
    /// the old storage), or if `storage` is shorter than those bytes or than the input
    /// needs: [`MIN_INPUT_BUFFER`](crate::MIN_INPUT_BUFFER) once the connection is open,
    /// a whole head of [`Config::max_head_len`] during the handshake.
    pub fn replace_input(&mut self, storage: S) -> Result<S, S> {
        if self.core.pending.is_some() {
            return Err(storage);
        }
        let minimum = match self.core.endpoint.state() {
            State::Connecting => self.core.limits.max_head_len,
            _ => 0,
        }
        .max(crate::MIN_INPUT_BUFFER);
        self.input.replace_storage(storage, minimum)
    }

    /// The endpoint, input buffer and output storage back.
    pub fn into_parts(self) -> (E, InputBuffer<S>, O) {
        let (endpoint, output) = self.core.into_parts();
        (endpoint, self.input, output)
    }

    /// The driver of the open connection alone, once a [`Server`](crate::Server) or
    /// [`Client`](crate::Client) finished the handshake: the same input, output, deadlines
    /// and state, and events that cannot be handshake events
    /// ([`Opened`](crate::Opened)), so the code that drives the open connection need not
    /// handle them. The driver back, unchanged, during the handshake, after it failed,
    /// or while an event is pending.
    // The driver itself comes back (as `Server::into_connection` gives the server back):
    // the core allocates nothing, so it is not boxed.
    #[allow(clippy::result_large_err)]
    pub fn into_open(self) -> Result<Driver<Connection<E::Masking>, S, O>, Self> {
        let Driver { core, input } = self;
        match core.into_open() {
            Ok(core) => Ok(Driver { core, input }),
            Err(core) => Err(Driver { core, input }),
        }
    }
}

impl<E, O> Core<E, O>
where
    E: Endpoint,
    O: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A driver for `endpoint` without its input (see [`Core`]), staging output in
    /// `output` (at least [`MIN_OUTPUT_BUFFER`](crate::MIN_OUTPUT_BUFFER) bytes, else
    /// [`UsageError::OutputBufferTooSmall`]). `config` gives the head limits and the write
    /// timeout (the endpoint keeps the rest).
    pub fn new(endpoint: E, output: O, config: &Config) -> Result<Self, UsageError> {
        if output.as_ref().len() < crate::MIN_OUTPUT_BUFFER {
            return Err(UsageError::OutputBufferTooSmall);
        }
        Ok(Core {
            endpoint,
            output: Output::new(output),
            limits: Limits {
                max_head_len: config.max_head_len,
                max_headers: config.max_headers,
            },
            write_timeout: config.write_timeout,
            write_deadline: None,
            urgent: false,
            starved: false,
            discard_input: false,
            pending: None,
            peer_close: None,
            end: None,
        })
    }

    /// [`Driver::into_open`] for a core whose input the caller keeps.
    #[allow(clippy::result_large_err)] // as `Driver::into_open`
    pub fn into_open(self) -> Result<Core<Connection<E::Masking>, O>, Self> {
        if self.pending.is_some() {
            return Err(self);
        }
        let (endpoint, core) = self.with_endpoint(());
        match endpoint.into_connection() {
            Ok(connection) => Ok(core.with_endpoint(connection).1),
            Err(endpoint) => Err(core.with_endpoint(endpoint).1),
        }
    }

    /// [`Driver::poll`] over `input`, the connection's input kept by the caller (the
    /// same one for every call).
    pub fn poll_in<S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &mut InputBuffer<S>,
        now: Instant,
    ) -> Step {
        self.poll_with(input, now, |endpoint, input, now| {
            Ok(Self::handle_of(endpoint.receive(input, now)?))
        })
    }

    /// [`Driver::poll_inflating`] over `input`, the connection's input kept by the caller.
    #[cfg(feature = "deflate")]
    pub fn poll_inflating_in<S: AsRef<[u8]> + AsMut<[u8]>, W: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &mut InputBuffer<S>,
        now: Instant,
        inflater: &mut crate::deflate::Inflater<W>,
    ) -> Step {
        self.poll_with(input, now, |endpoint, input, now| {
            let received = inflater.receive(endpoint, input, now)?;
            Ok(Self::handle_of(received))
        })
    }

    /// The next step, with `receive` standing for the endpoint's receive (and whatever is
    /// in front of it). `receive` returns how many bytes it used and the event's handle,
    /// given the input's start in the storage.
    fn poll_with<S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &mut InputBuffer<S>,
        now: Instant,
        mut receive: impl FnMut(
            &mut E,
            &mut [u8],
            Instant,
        ) -> Result<(usize, Option<EventHandle>), UsageError>,
    ) -> Step {
        if self.discard_input {
            self.discard_input = false;
            input.clear();
        }
        self.handle_timeout(now);
        self.stage_owed(now);
        if self.urgent && !self.output.is_empty() {
            return Step::Write {
                until: self.poll_timeout(),
            };
        }
        if let Some(handle) = self.pending {
            return Step::Event(handle);
        }
        if let Some(end) = self.end {
            return if self.output.is_empty() {
                Step::Close(end)
            } else {
                Step::Write {
                    until: self.poll_timeout(),
                }
            };
        }
        // Back-pressure: no more input while the output is three quarters full, so that
        // a peer that sends without reading cannot make us owe it without bound, and the
        // replies to what was read still find room. Until then a burst of small messages
        // and their replies gather into one write.
        let output_backed_up = self.output.len() >= self.output.capacity() as u64 / 4 * 3;
        if !self.starved && !input.is_empty() && !output_backed_up {
            if let Some(step) = self.receive(input, now, &mut receive) {
                return step;
            }
        }
        if !self.output.is_empty() {
            return Step::Write {
                until: self.poll_timeout(),
            };
        }
        Step::Read {
            until: self.poll_timeout(),
        }
    }

    /// What an endpoint (or an inflater) received, as the bytes it used and the handle of
    /// its event, counted from the start of the input it was given.
    fn handle_of<'a, R, S, H>(
        received: Received<'a, Event<'a, R, S, H>>,
    ) -> (usize, Option<EventHandle>)
    where
        R: Copy + Into<crate::Request<'a>>,
        S: Copy + Into<crate::Response<'a>>,
        H: Copy + Into<crate::HandshakeError>,
    {
        let handle = received.event.map(|event| {
            EventHandle::of(
                &event,
                received.consumed,
                received.place.unchecked_text(),
                received.place.in_window(),
            )
        });
        (received.consumed, handle)
    }

    /// Hand the input to the endpoint until it gives an event or wants more input; the
    /// step that follows, if it is not a read or a write.
    fn receive<S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &mut InputBuffer<S>,
        now: Instant,
        receive: &mut impl FnMut(
            &mut E,
            &mut [u8],
            Instant,
        ) -> Result<(usize, Option<EventHandle>), UsageError>,
    ) -> Option<Step> {
        if let Ok(connection) = self.endpoint.connection() {
            connection.defer_text_check();
        }
        let start = input.start();
        let endpoint = &mut self.endpoint;
        let received = input.receive_owned(|input| {
            let (consumed, handle) = receive(endpoint, input, now)?;
            Ok((consumed, handle.map(|handle| handle.shifted(start))))
        });
        let handle = match received {
            Ok(Some(handle)) => handle,
            Ok(None) => {
                self.starved = true;
                return None;
            }
            Err(error) => {
                self.end = Some(End::Usage(error));
                return Some(Step::Close(End::Usage(error)));
            }
        };
        match handle.kind() {
            EventKind::Close(code) => self.peer_close = Some(code),
            EventKind::Failed(error) => self.end_once_answered(End::Failed(error)),
            EventKind::HandshakeFailed(error) => {
                self.end_once_answered(End::HandshakeFailed(error))
            }
            EventKind::Rejected { status } => self.end_once_answered(End::Rejected { status }),
            _ => {}
        }
        self.pending = Some(handle);
        self.stage_owed(now);
        if self.urgent && !self.output.is_empty() {
            return Some(Step::Write {
                until: self.poll_timeout(),
            });
        }
        Some(Step::Event(handle))
    }

    /// [`Driver::event`] from `input`, the connection's input kept by the caller: the
    /// event borrows `input` only, so the core takes commands while it is held.
    pub fn event_in<'a, S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &'a InputBuffer<S>,
    ) -> Option<EventOf<'a, E::Phase>> {
        self.event_at(input, &[])
    }

    /// [`Driver::event_inflated`] from `input`, the connection's input kept by the
    /// caller, and `inflater`: the event borrows those two only.
    #[cfg(feature = "deflate")]
    pub fn event_inflated_in<'a, S: AsRef<[u8]> + AsMut<[u8]>, W: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &'a InputBuffer<S>,
        inflater: &'a crate::deflate::Inflater<W>,
    ) -> Option<EventOf<'a, E::Phase>> {
        self.event_at(input, inflater.window())
    }

    /// The pending event, its bytes in the input's storage or in `window`, as an event
    /// of the endpoint's phase (an open connection's has no handshake event to give).
    fn event_at<'a, S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &'a InputBuffer<S>,
        window: &'a [u8],
    ) -> Option<EventOf<'a, E::Phase>> {
        let handle = self.pending?;
        if handle.kind() != EventKind::Request {
            self.pending = None;
        }
        let place = if handle.is_inflated() {
            window
        } else {
            input.storage()
        };
        let bytes = place.get(handle.range()).unwrap_or_default();
        let text = match handle.kind() {
            EventKind::Text => utf8::validate_whole(bytes).ok(),
            _ => None,
        };
        if handle.kind() == EventKind::Text && text.is_none() {
            // §8.1: fail the connection; nothing after the message is read.
            let error = crate::error::ProtocolError::InvalidUtf8;
            if let Ok(connection) = self.endpoint.connection() {
                connection.fail_with(error);
            }
            self.discard_input = true;
            self.starved = false;
            self.end = Some(End::Failed(error));
        }
        match handle.message_event(bytes, text) {
            Some(event) => Some(event),
            None => handle
                .handshake_event(bytes, &self.limits)
                .and_then(E::Phase::narrow),
        }
    }

    /// [`Driver::skip_event`] for the connection's input kept by the caller.
    pub fn skip_event_in<S: AsRef<[u8]> + AsMut<[u8]>>(&mut self, input: &InputBuffer<S>) {
        match self.pending.map(|handle| handle.kind()) {
            Some(EventKind::Text) => {
                let _ = self.event_in(input);
            }
            // A request is answered, not skipped.
            Some(EventKind::Request) => {}
            _ => self.pending = None,
        }
    }

    /// The bytes to write now: staged bytes, then the range of the caller's payload that
    /// follows them (see [`Transmit`]). Empty when nothing is owed.
    pub fn transmit(&self) -> Transmit<'_> {
        self.output.transmit()
    }

    /// The two parts of the next vectored write, as they go on the wire: the staged
    /// bytes, then the owed part of `payload` (the plain payload of the message whose
    /// header [`send_header`](Self::send_header) or [`send_message`](Self::send_message)
    /// staged; empty otherwise). A server's payload is borrowed as it lies; a client's is
    /// masked (RFC 6455 §5.3) into the output's idle room, a piece at a time. Report what
    /// the transport took with [`wrote`](Self::wrote).
    pub fn write_parts<'s>(&'s mut self, payload: &'s [u8]) -> [&'s [u8]; 2] {
        self.output.parts(payload)
    }

    /// `n` bytes of [`transmit`](Self::transmit) went to the transport at `now` (staged
    /// bytes first, then payload). Any progress restarts the write deadline.
    pub fn wrote(&mut self, n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        let payload = self.output.wrote(n);
        if payload > 0 {
            if let Ok(connection) = self.endpoint.connection() {
                // At most what the header promised: `Output` counts it the same way.
                let _ = connection.payload_written(payload);
            }
        }
        if self.output.is_empty() {
            self.urgent = false;
            self.write_deadline = None;
            // The payload is out: what waited behind it can be staged.
            self.stage_owed(now);
        } else {
            self.write_deadline = Some(now.saturating_add(self.write_timeout));
        }
    }

    /// [`Driver::read_space`] in `input`, the connection's input kept by the caller.
    pub fn read_space_in<'a, S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &'a mut InputBuffer<S>,
    ) -> &'a mut [u8] {
        self.skip_event_in(input);
        input.read_space()
    }

    /// [`Driver::filled`] for `input`, the connection's input kept by the caller.
    pub fn filled_in<S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &mut InputBuffer<S>,
        n: usize,
        _now: Instant,
    ) {
        input.commit(n);
        if n > 0 {
            self.starved = false;
        }
    }

    /// [`Driver::payload_space`] for `input`, the connection's input kept by the caller.
    pub fn payload_space_in<S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &InputBuffer<S>,
    ) -> usize {
        if self.pending.is_some() || self.end.is_some() || self.discard_input || !input.is_empty() {
            return 0;
        }
        match self.endpoint.connection() {
            Ok(connection) => usize::try_from(connection.payload_remaining()).unwrap_or(usize::MAX),
            Err(_) => 0,
        }
    }

    /// [`Driver::payload_filled`] for `input`, the connection's input kept by the caller.
    pub fn payload_filled_in<'a, S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &InputBuffer<S>,
        payload: &'a mut [u8],
        now: Instant,
    ) -> Result<EventOf<'a, E::Phase>, UsageError> {
        if payload.len() > self.payload_space_in(input) {
            return Err(UsageError::NoPayloadSpace);
        }
        let event = self.endpoint.connection()?.receive_payload(payload, now)?;
        if let Event::Failed(error) = event {
            // Its Close is staged by the next poll, then the connection ends.
            self.end_once_answered(End::Failed(error));
        }
        Ok(event)
    }

    /// The transport's read side ended (EOF). After the peer's Close this ends the
    /// connection cleanly ([`End::Closed`]); before, abnormally ([`End::Abnormal`],
    /// 1006).
    pub fn read_closed(&mut self, _now: Instant) {
        self.transport_ended();
    }

    /// The transport failed (reset, broken pipe, any I/O error). Judged as
    /// [`read_closed`](Self::read_closed) is: once the peer's Close has arrived, this is
    /// the end of a clean close, never a failure. Nothing more can be written.
    pub fn transport_failed(&mut self, now: Instant) {
        self.output.clear();
        self.urgent = false;
        self.write_deadline = None;
        self.read_closed(now);
    }

    fn transport_ended(&mut self) {
        if self
            .pending
            .is_some_and(|handle| handle.kind() == EventKind::Request)
        {
            // Nobody is left to answer.
            self.pending = None;
        }
        let clean = self.endpoint.handle_eof().is_ok();
        // An end already decided (and maybe reported) is final.
        if self.end.is_none() {
            self.end = Some(match (clean, self.peer_close) {
                (true, Some(code)) => End::Closed { code },
                _ => End::Abnormal,
            });
        }
        if !clean {
            self.output.clear();
        }
    }

    /// Act on every deadline that passed by `now`: the endpoint's (handshake, keep-alive,
    /// Pong, closing) and the write deadline. [`poll`](Driver::poll) calls it first.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.end.is_some() && self.output.is_empty() {
            return;
        }
        if let Some(deadline) = self.write_deadline() {
            if now >= deadline {
                // §7.1.7 cannot be followed: the peer does not take what we owe it.
                self.output.clear();
                self.urgent = false;
                self.write_deadline = None;
                self.end = Some(End::TimedOut(TimedOut::Write));
                let _ = self.endpoint.handle_eof();
                return;
            }
        }
        if self.end.is_some() {
            return;
        }
        if self.endpoint.poll_timeout().is_some_and(|at| now >= at) {
            if let Some(timed_out) = self.endpoint.handle_timeout(now) {
                // The peer is given up: what waits for it is dropped (a server's 408 is
                // staged next, from what the endpoint owes now).
                self.output.clear();
                self.urgent = false;
                self.write_deadline = None;
                self.pending = None;
                self.end = Some(End::TimedOut(timed_out));
            }
        }
    }

    /// When [`poll`](Driver::poll) must next be called if nothing else happens: the
    /// earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline().map(|(at, _)| at)
    }

    /// The earliest deadline and its name.
    pub fn next_deadline(&self) -> Option<(Instant, Deadline)> {
        let write = self.write_deadline().map(|at| (at, Deadline::Write));
        let endpoint = self
            .endpoint
            .poll_timeout()
            .map(|at| (at, self.endpoint_deadline()));
        match (write, endpoint) {
            (Some(w), Some(e)) => Some(if e.0 < w.0 { e } else { w }),
            (w, e) => w.or(e),
        }
    }

    fn endpoint_deadline(&self) -> Deadline {
        match self.endpoint.state() {
            State::Connecting => Deadline::Handshake,
            State::Open if self.endpoint.awaiting_pong() => Deadline::Pong,
            State::Open => Deadline::KeepAlivePing,
            _ => Deadline::Closing,
        }
    }

    fn write_deadline(&self) -> Option<Instant> {
        self.write_deadline
    }

    /// Output is owed from `now`: the write deadline starts, unless it runs already.
    fn owe_output(&mut self, now: Instant) {
        if self.write_deadline.is_none() {
            self.write_deadline = Some(now.saturating_add(self.write_timeout));
        }
    }

    /// Stage what the endpoint owes (its request, a Pong, a Close, a keep-alive Ping, a
    /// handshake answer), as much as fits.
    #[cfg_attr(not(target_os = "none"), inline)]
    fn stage_owed(&mut self, now: Instant) {
        // The common case, asked after every event: nothing is owed.
        if self.endpoint.wants_transmit() {
            self.stage_transmit(now);
        }
        if self.end.is_none() && self.endpoint.should_close_transport() {
            self.end = Some(match self.peer_close {
                Some(code) if self.endpoint.state() == State::Closed => End::Closed { code },
                _ => End::Abnormal,
            });
        }
    }

    /// Stage what the endpoint's `poll_transmit` gives, while it fits (kept apart, so
    /// that the check before it stays small enough to inline).
    #[cfg_attr(not(target_os = "none"), inline(never))]
    fn stage_transmit(&mut self, now: Instant) {
        loop {
            let space = self.output.space();
            if space.is_empty() {
                return;
            }
            match self.endpoint.poll_transmit(space) {
                Ok(0) => break,
                Ok(n) => {
                    self.output.staged(n);
                    self.urgent = true;
                    self.owe_output(now);
                }
                Err(_) if self.output.is_empty() => {
                    // Nothing staged and still no room: the output is too small for
                    // this piece (a client's request with many headers).
                    self.end = Some(End::Usage(UsageError::OutputBufferTooSmall));
                    return;
                }
                // It fits once the staged bytes are written.
                Err(_) => return,
            }
        }
    }

    /// The connection failed: it ends once its answer is written.
    fn end_once_answered(&mut self, end: End) {
        self.end.get_or_insert(end);
    }

    /// Why the connection ended, once it has.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    /// The endpoint, to read its state.
    pub fn endpoint(&self) -> &E {
        &self.endpoint
    }

    /// The open connection, for what the driver's commands do not cover (its
    /// subprotocol, its permessage-deflate parameters); [`UsageError::NotOpen`] during
    /// the handshake and after it failed.
    pub fn connection(&mut self) -> Result<&mut Connection<E::Masking>, UsageError> {
        self.endpoint.connection()
    }

    /// Bytes owed to the transport and not written yet (staged and payload).
    pub fn pending_output(&self) -> u64 {
        self.output.len()
    }

    /// Stage output in `storage` instead, the staged bytes moved to its front, and give
    /// the old storage back (see [`Driver::replace_input`]). Refused, `storage` given
    /// back, while the payload of a message sent with [`send_header`](Self::send_header)
    /// is owed, or if `storage` is shorter than the staged bytes or than
    /// [`MIN_OUTPUT_BUFFER`](crate::MIN_OUTPUT_BUFFER).
    pub fn replace_output(&mut self, storage: O) -> Result<O, O> {
        self.output
            .replace_storage(storage, crate::MIN_OUTPUT_BUFFER)
    }

    /// The endpoint and output storage back.
    pub fn into_parts(self) -> (E, O) {
        (self.endpoint, self.output.into_inner())
    }
}
