//! An event found in the input, kept as a small `Copy` value (what it is and where its bytes
//! lie) until the caller takes it: so an adapter can find an event, return from a read
//! loop or an `.await`, and then hand the event out borrowed, with no pointer arithmetic
//! and no second UTF-8 pass.

use core::ops::Range;

use crate::close::{CloseCode, CloseFrame};
use crate::error::{HandshakeError, ProtocolError};
use crate::event::{Chunk, Event, MessageKind};
use crate::handshake::{self, Limits, Request, Response};

/// What an event is, without its bytes: the payload-free part of [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// [`Event::Request`]: a server's request head, waiting for a decision.
    Request,
    /// [`Event::Connected`]: a client's handshake succeeded.
    Connected,
    /// [`Event::Rejected`]: the server answered the client's request with another status.
    Rejected {
        /// The status of the answer.
        status: u16,
    },
    /// [`Event::Text`]: a whole text message.
    Text,
    /// [`Event::Binary`]: a whole binary message.
    Binary,
    /// [`Event::Chunk`]: a piece of a message.
    Chunk {
        /// The message's kind.
        kind: MessageKind,
        /// The message's first piece.
        first: bool,
        /// The message's last piece.
        last: bool,
    },
    /// [`Event::Compressed`]: a piece of a compressed message, for an inflater.
    Compressed {
        /// The message's kind.
        kind: MessageKind,
        /// The message's first piece.
        first: bool,
        /// The message's last piece.
        last: bool,
    },
    /// [`Event::Ping`] (already answered unless auto-pong is off).
    Ping,
    /// [`Event::Pong`].
    Pong,
    /// [`Event::Close`]: the peer's Close, with its code (already echoed).
    Close(Option<CloseCode>),
    /// [`Event::Failed`]: the peer broke the protocol; our Close is queued.
    Failed(ProtocolError),
    /// [`Event::HandshakeFailed`]: the opening handshake failed; the answer is queued.
    HandshakeFailed(HandshakeError),
}

/// An event waiting to be taken: its kind, and where its bytes lie in the input buffer's
/// storage. Made by the [`Driver`](super::Driver) from what the endpoint handed out; turned
/// back into the borrowed [`Event`] by [`Driver::event`](super::Driver::event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHandle {
    kind: EventKind,
    start: usize,
    len: usize,
    /// The bytes lie in an inflater's window, not in the input buffer's storage.
    in_window: bool,
}

impl EventHandle {
    /// What the event is.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// How many bytes the event carries (payload, close reason or HTTP head).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the event carries no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the event's bytes lie in the storage (or the window).
    pub(crate) fn range(&self) -> Range<usize> {
        self.start..self.start + self.len
    }

    /// The same handle for input that started `by` bytes into the storage.
    pub(crate) fn shifted(mut self, by: usize) -> Self {
        if !self.in_window {
            self.start += by;
        }
        self
    }

    /// Whether the event's bytes lie in an inflater's window (an inflated message).
    pub fn is_inflated(&self) -> bool {
        self.in_window
    }

    /// The handle of `event`, which an endpoint handed out from input that ended at
    /// `end` in the storage (or an inflater, from its window at `in_window`). Every event's bytes are the last bytes it consumed: a frame's
    /// payload (and a Close reason) ends the frame, and an HTTP head is all that was read
    /// for it (RFC 6455 §5.2, RFC 9112 §2.1). `unchecked_text` marks a text message the
    /// endpoint handed out as binary: it is a text message, checked when taken (a text message
    /// the endpoint did check is checked again then, which only an inflater not told to
    /// defer its check would cause).
    pub(crate) fn of<'b, R, S, H>(
        event: &Event<'b, R, S, H>,
        end: usize,
        unchecked_text: bool,
        in_window: Option<usize>,
    ) -> EventHandle
    where
        R: Copy + Into<Request<'b>>,
        S: Copy + Into<Response<'b>>,
        H: Copy + Into<HandshakeError>,
    {
        // An open connection's handshake variants hold `Infallible`: those arms vanish.
        let (kind, len) = match *event {
            Event::Request(request) => (EventKind::Request, request.into().head().len()),
            Event::Connected(response) => (EventKind::Connected, response.into().head().len()),
            Event::Rejected(response) => {
                let response: Response<'b> = response.into();
                (
                    EventKind::Rejected {
                        status: response.status(),
                    },
                    response.head().len(),
                )
            }
            Event::Text(text) => (EventKind::Text, text.len()),
            Event::Binary(data) if unchecked_text => (EventKind::Text, data.len()),
            Event::Binary(data) => (EventKind::Binary, data.len()),
            Event::Chunk(chunk) => (
                EventKind::Chunk {
                    kind: chunk.kind,
                    first: chunk.first,
                    last: chunk.last,
                },
                chunk.data.len(),
            ),
            Event::Compressed(chunk) => (
                EventKind::Compressed {
                    kind: chunk.kind,
                    first: chunk.first,
                    last: chunk.last,
                },
                chunk.data.len(),
            ),
            Event::Ping(payload) => (EventKind::Ping, payload.len()),
            Event::Pong(payload) => (EventKind::Pong, payload.len()),
            Event::Close(frame) => (EventKind::Close(frame.code), frame.reason.len()),
            Event::Failed(error) => (EventKind::Failed(error), 0),
            Event::HandshakeFailed(error) => (EventKind::HandshakeFailed(error.into()), 0),
        };
        let len = match kind {
            EventKind::Failed(_) | EventKind::HandshakeFailed(_) => 0,
            _ => len,
        };
        match in_window {
            Some(start) => EventHandle {
                kind,
                start,
                len,
                in_window: true,
            },
            None => EventHandle {
                kind,
                start: end - len,
                len,
                in_window: false,
            },
        }
    }

    /// The event again, borrowing `bytes` (the storage's bytes of the event), if it is
    /// one an open connection hands out: built in any receiver's vocabulary, with no
    /// head to parse and no conversion after. `text` is those bytes as the caller checked
    /// them, for a text message (`None`: they are not UTF-8); a Close reason (at most 123
    /// bytes, checked by the connection) is made a `&str` again here. `None` for the
    /// handshake's events: see [`handshake_event`](Self::handshake_event).
    #[cfg_attr(not(target_os = "none"), inline)]
    pub(crate) fn message_event<'b, R, S, H>(
        self,
        bytes: &'b [u8],
        text: Option<&'b str>,
    ) -> Option<Event<'b, R, S, H>> {
        Some(match self.kind {
            EventKind::Text => match text {
                Some(text) => Event::Text(text),
                None => Event::Failed(ProtocolError::InvalidUtf8),
            },
            EventKind::Binary => Event::Binary(bytes),
            EventKind::Chunk { kind, first, last } => Event::Chunk(Chunk {
                kind,
                data: bytes,
                first,
                last,
            }),
            EventKind::Compressed { kind, first, last } => Event::Compressed(Chunk {
                kind,
                data: bytes,
                first,
                last,
            }),
            EventKind::Ping => Event::Ping(bytes),
            EventKind::Pong => Event::Pong(bytes),
            EventKind::Close(code) => Event::Close(CloseFrame {
                code,
                reason: core::str::from_utf8(bytes).unwrap_or(""),
            }),
            EventKind::Failed(error) => Event::Failed(error),
            EventKind::Request
            | EventKind::Connected
            | EventKind::Rejected { .. }
            | EventKind::HandshakeFailed(_) => return None,
        })
    }

    /// The handshake's event again, its head parsed from `bytes` (the storage's bytes of
    /// the event); `None` for any other event (see [`message_event`](Self::message_event)).
    pub(crate) fn handshake_event<'b>(self, bytes: &'b [u8], limits: &Limits) -> Option<Event<'b>> {
        let head_failed = Event::HandshakeFailed(HandshakeError::MalformedHead);
        Some(match self.kind {
            EventKind::Request => handshake::parse_request(bytes, limits)
                .map(Event::Request)
                .unwrap_or(head_failed),
            EventKind::Connected => handshake::parse_response(bytes, limits)
                .map(Event::Connected)
                .unwrap_or(head_failed),
            EventKind::Rejected { .. } => handshake::parse_response(bytes, limits)
                .map(Event::Rejected)
                .unwrap_or(head_failed),
            EventKind::HandshakeFailed(error) => Event::HandshakeFailed(error),
            _ => return None,
        })
    }
}
