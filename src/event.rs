//! What [`receive`](crate::Server::receive) hands back: one vocabulary for both roles,
//! whose type says whether the opening handshake can still be part of it ([`Phase`]).

use core::convert::Infallible;
use core::fmt::Debug;

use crate::close::CloseFrame;
use crate::error::{HandshakeError, ProtocolError};
use crate::handshake::{Request, Response};

/// An open connection's event (RFC 6455 §5 to §7): an [`Event`] whose handshake variants
/// hold [`Infallible`], so none can be built: code for an open connection is never handed
/// a request, a response or a handshake failure. What a [`Connection`](crate::Connection)
/// hands out, and a driver or adapter once the handshake is done.
///
/// ```
/// use sockless::OpenEvent;
/// fn len(event: OpenEvent<'_>) -> usize {
///     match event {
///         OpenEvent::Text(text) => text.len(),
///         OpenEvent::Binary(data) | OpenEvent::Ping(data) | OpenEvent::Pong(data) => data.len(),
///         OpenEvent::Chunk(piece) | OpenEvent::Compressed(piece) => piece.data.len(),
///         // Close and Failed; `Event` is `#[non_exhaustive]`, so a match ends with `_` for
///         // variants added later. Request, Connected, Rejected and HandshakeFailed cannot
///         // be built here: what they hold is `Infallible`.
///         _ => 0,
///     }
/// }
/// assert_eq!(len(OpenEvent::Text("hi")), 2);
/// ```
pub type OpenEvent<'b> = Event<'b, Infallible, Infallible, Infallible>;

/// The event type of a receiver's [`Phase`]: [`Event`] for [`Opening`], [`OpenEvent`] for
/// [`Opened`]. For code written once for every receiver (`EventOf<'b, E::Phase>` for an
/// [`Endpoint`](crate::Endpoint) `E`).
pub type EventOf<'b, P> =
    Event<'b, <P as Phase>::Request<'b>, <P as Phase>::Response<'b>, <P as Phase>::HandshakeError>;

/// Which events a receiver can hand out: [`Opening`] for one that runs the opening
/// handshake first ([`Server`](crate::Server), [`Client`](crate::Client)): every
/// [`Event`]; [`Opened`] for an open [`Connection`](crate::Connection): an
/// [`OpenEvent`], never a handshake event.
pub trait Phase: sealed::Phase + Copy + Debug {
    /// What [`Event::Request`] holds.
    type Request<'b>: Copy + Debug + Into<Request<'b>>;
    /// What [`Event::Connected`] and [`Event::Rejected`] hold.
    type Response<'b>: Copy + Debug + Into<Response<'b>>;
    /// What [`Event::HandshakeFailed`] holds.
    type HandshakeError: Copy + Debug + Into<HandshakeError>;

    /// `event` as an event of this phase (`None`: a handshake event, which this phase
    /// cannot hold): how code written once for both (the driver) hands out the phase's.
    #[doc(hidden)]
    fn narrow(event: Event<'_>) -> Option<EventOf<'_, Self>>;
}

/// The events of a receiver that runs the opening handshake first (RFC 6455 §4): every
/// variant of [`Event`] can happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {}

/// The events of an open connection (RFC 6455 §5 to §7): no handshake event can happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {}

impl Phase for Opening {
    type Request<'b> = Request<'b>;
    type Response<'b> = Response<'b>;
    type HandshakeError = HandshakeError;

    fn narrow(event: Event<'_>) -> Option<Event<'_>> {
        Some(event)
    }
}

impl Phase for Opened {
    type Request<'b> = Infallible;
    type Response<'b> = Infallible;
    type HandshakeError = Infallible;

    fn narrow(event: Event<'_>) -> Option<OpenEvent<'_>> {
        event.opened()
    }
}

impl sealed::Phase for Opening {}
impl sealed::Phase for Opened {}

mod sealed {
    /// Only this crate's phases.
    pub trait Phase {}
}

/// The type of a data message (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text message: UTF-8, validated as it arrives.
    Text,
    /// A binary message.
    Binary,
}

/// The result of one `receive` call.
///
/// Advance your input by `consumed` bytes. If `event` is `Some`, handle it and call
/// `receive` again with the rest of the input (it may hold more events). If `event` is
/// `None`, everything that could be used was consumed: keep the unconsumed tail (a partial
/// frame header, a partial control frame, or a partial HTTP head), read more bytes after
/// it, and call again.
#[must_use = "advance the input by `consumed` and handle `event`"]
#[derive(Debug)]
#[non_exhaustive]
pub struct Received<'b, E = Event<'b>> {
    /// How many bytes at the start of the input were used.
    pub consumed: usize,
    /// At most one event (an [`Event`], or an open connection's [`OpenEvent`]); borrows
    /// from the input buffer (payload is unmasked in place).
    pub event: Option<E>,
    /// Where `event`'s bytes lie, and whether a text message still needs its UTF-8
    /// check: what the [`Driver`](crate::driver::Driver) keeps in its event handle.
    pub(crate) place: Place,
    /// What `event` borrows: the input, or an inflater's window.
    pub(crate) borrow: core::marker::PhantomData<&'b [u8]>,
}

impl<'b, R, S, H> Received<'b, Event<'b, R, S, H>> {
    /// `consumed` bytes used and no event: more input is needed, or the bytes were
    /// dropped (after the connection closed).
    pub(crate) const fn without_event(consumed: usize) -> Self {
        Received {
            consumed,
            event: None,
            place: Place::INPUT,
            borrow: core::marker::PhantomData,
        }
    }

    /// A whole text message of `consumed` bytes whose payload `text` still needs its
    /// UTF-8 check (§8.1), handed out as binary for the driver to check once.
    pub(crate) const fn unchecked_text(consumed: usize, text: &'b [u8]) -> Self {
        Received {
            consumed,
            event: Some(Event::Binary(text)),
            place: Place::UNCHECKED_TEXT,
            borrow: core::marker::PhantomData,
        }
    }
}

/// Where a received event's bytes lie (in the input, or from an offset in an inflater's
/// window: RFC 7692's inflated data), and whether a whole text message handed out as
/// [`Event::Binary`] still needs its UTF-8 check (§8.1), which the
/// [`Driver`](crate::driver::Driver) makes once, when it turns the bytes into the `&str` it
/// hands out. One word, so that every event a receiver returns carries it at no cost: bit 0
/// is the unchecked text, the rest the window offset plus one (0: the input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place(usize);

impl Place {
    /// In the input, checked (or not text).
    pub(crate) const INPUT: Place = Place(0);
    /// In the input, a whole text message not checked yet.
    pub(crate) const UNCHECKED_TEXT: Place = Place(1);

    /// From `start` in an inflater's window; `unchecked_text` as for [`UNCHECKED_TEXT`](Self::UNCHECKED_TEXT).
    #[cfg(any(feature = "deflate", test))]
    pub(crate) const fn window(start: usize, unchecked_text: bool) -> Place {
        Place((start + 1) << 1 | unchecked_text as usize)
    }

    /// Whether the bytes are a whole text message not checked yet.
    pub(crate) const fn unchecked_text(self) -> bool {
        self.0 & 1 == 1
    }

    /// Where the bytes start in the window, if they lie there.
    pub(crate) const fn in_window(self) -> Option<usize> {
        match self.0 >> 1 {
            0 => None,
            start => Some(start - 1),
        }
    }
}

/// Something that happened on the connection. Payloads borrow the caller's input buffer.
///
/// `R`, `S` and `H` are what the handshake's variants hold: by default the request, the
/// response and the error, as a [`Server`](crate::Server) or [`Client`](crate::Client)
/// hands them out; an open [`Connection`](crate::Connection)'s events are
/// [`OpenEvent`]s, where they are [`Infallible`]: no handshake event can be built.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'b, R = Request<'b>, S = Response<'b>, H = HandshakeError> {
    /// Server: a complete request head. Decide before anything is written: call
    /// [`Server::accept`](crate::Server::accept) (only if
    /// [`Request::is_upgrade`]) or [`Server::respond`](crate::Server::respond). The
    /// handshake deadline runs until then.
    Request(R),
    /// Client: the server accepted the upgrade (status 101, every rule of RFC 6455 §4.1
    /// checked). The connection is open.
    Connected(S),
    /// Client: the server answered with a status other than 101 (a redirect, 401, 503 ...).
    /// The connection is over; close the transport.
    Rejected(S),
    /// A whole text message that arrived in one piece.
    Text(&'b str),
    /// A whole binary message that arrived in one piece.
    Binary(&'b [u8]),
    /// A piece of a message that did not arrive whole (fragmented, or larger than the
    /// input). The pieces of one message arrive in order; for text, their concatenation is
    /// valid UTF-8 once the `last` piece arrived (each piece is checked as it arrives, but
    /// may end inside a character).
    Chunk(Chunk<'b>),
    /// A piece of a compressed message (RSV1 set on its first frame; only on a connection
    /// that negotiated permessage-deflate, RFC 7692 §6), unmasked but still compressed: not
    /// yet checked for UTF-8 nor counted against the message limit. A
    /// [`deflate::Inflater`](crate::deflate) between the caller and the endpoint turns these
    /// into `Text`, `Binary` and `Chunk` events; `last` marks the message's end (after which
    /// RFC 7692 §7.2.2 appends `00 00 ff ff`).
    Compressed(Chunk<'b>),
    /// A Ping with its payload. With [`Config::auto_pong`](crate::Config::auto_pong) the
    /// Pong is already queued for `poll_transmit`.
    Ping(&'b [u8]),
    /// A Pong with its payload (solicited or not).
    Pong(&'b [u8]),
    /// The peer's Close. If we had not sent ours, the answering Close is queued for
    /// `poll_transmit`. No further events follow.
    Close(CloseFrame<'b>),
    /// The peer broke RFC 6455: the connection failed (§7.1.7). A Close with
    /// [`ProtocolError::close_code`] is queued for `poll_transmit` (unless ours was
    /// already sent); once it is written, `should_close_transport` says to close the
    /// transport. The rest of the input is dropped; no further events follow.
    Failed(ProtocolError),
    /// The opening handshake failed. Server: the response with
    /// [`HandshakeError::status`] (400, 426 or 431) is queued for `poll_transmit`; write it,
    /// then close the transport. Client: the response broke RFC 6455 §4.1; nothing is sent;
    /// close the transport. No further events follow.
    HandshakeFailed(H),
}

impl<'b, R, S, H> Event<'b, R, S, H>
where
    R: Into<Request<'b>>,
    S: Into<Response<'b>>,
    H: Into<HandshakeError>,
{
    /// The event as one of a receiver that runs the handshake (every event is one, an
    /// [`OpenEvent`] too): for code written once for every receiver.
    pub fn widen(self) -> Event<'b> {
        match self.message() {
            Ok(message) => message,
            Err(Handshake::Request(request)) => Event::Request(request.into()),
            Err(Handshake::Connected(response)) => Event::Connected(response.into()),
            Err(Handshake::Rejected(response)) => Event::Rejected(response.into()),
            Err(Handshake::Failed(error)) => Event::HandshakeFailed(error.into()),
        }
    }
}

/// A handshake event, apart from the rest (see [`Event::message`]).
enum Handshake<R, S, H> {
    Request(R),
    Connected(S),
    Rejected(S),
    Failed(H),
}

impl<'b, R, S, H> Event<'b, R, S, H> {
    /// The event as the same event of any receiver, if it is not a handshake event; the
    /// handshake event apart otherwise.
    fn message<R2, S2, H2>(self) -> Result<Event<'b, R2, S2, H2>, Handshake<R, S, H>> {
        Ok(match self {
            Event::Request(request) => return Err(Handshake::Request(request)),
            Event::Connected(response) => return Err(Handshake::Connected(response)),
            Event::Rejected(response) => return Err(Handshake::Rejected(response)),
            Event::HandshakeFailed(error) => return Err(Handshake::Failed(error)),
            Event::Text(text) => Event::Text(text),
            Event::Binary(data) => Event::Binary(data),
            Event::Chunk(piece) => Event::Chunk(piece),
            Event::Compressed(piece) => Event::Compressed(piece),
            Event::Ping(data) => Event::Ping(data),
            Event::Pong(data) => Event::Pong(data),
            Event::Close(frame) => Event::Close(frame),
            Event::Failed(error) => Event::Failed(error),
        })
    }
}

/// What an [`OpenEvent`]'s handshake variants hold, which cannot be: every phase's
/// events widen to [`Event`].
impl From<Infallible> for Request<'_> {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl From<Infallible> for Response<'_> {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl From<Infallible> for HandshakeError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl<'b> Event<'b> {
    /// The event as an open connection's (`None` for a handshake event).
    pub fn opened(self) -> Option<OpenEvent<'b>> {
        self.message().ok()
    }
}

/// An open connection's event is an event of any receiver.
impl<'b> From<OpenEvent<'b>> for Event<'b> {
    fn from(event: OpenEvent<'b>) -> Self {
        event.widen()
    }
}

impl<'b, R, S, H> Received<'b, Event<'b, R, S, H>>
where
    R: Into<Request<'b>>,
    S: Into<Response<'b>>,
    H: Into<HandshakeError>,
{
    /// The same, its event widened to the handshake's vocabulary ([`Event::widen`]): for
    /// code written once for every receiver.
    pub fn widen(self) -> Received<'b> {
        Received {
            consumed: self.consumed,
            event: self.event.map(Event::widen),
            place: self.place,
            borrow: core::marker::PhantomData,
        }
    }
}

impl<'b> From<Received<'b, OpenEvent<'b>>> for Received<'b> {
    fn from(received: Received<'b, OpenEvent<'b>>) -> Self {
        received.widen()
    }
}

/// A piece of a message delivered as it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'b> {
    /// Text or binary.
    pub kind: MessageKind,
    /// The bytes, unmasked. May be empty.
    pub data: &'b [u8],
    /// The first piece of its message.
    pub first: bool,
    /// The last piece: the message is complete.
    pub last: bool,
}

#[cfg(test)]
mod tests {
    use super::Place;

    #[test]
    fn a_place_keeps_where_the_bytes_lie_and_whether_text_is_unchecked() {
        assert_eq!(Place::INPUT.in_window(), None);
        assert!(!Place::INPUT.unchecked_text());
        assert_eq!(Place::UNCHECKED_TEXT.in_window(), None);
        assert!(Place::UNCHECKED_TEXT.unchecked_text());
        for start in [0, 1, 2, 131, 32 * 1024, usize::MAX / 2 - 1] {
            for unchecked in [false, true] {
                let place = Place::window(start, unchecked);
                assert_eq!(place.in_window(), Some(start), "{start}");
                assert_eq!(place.unchecked_text(), unchecked, "{start}");
            }
        }
    }
}
