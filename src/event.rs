//! What [`receive`](crate::Server::receive) hands back: one vocabulary for both roles.

use crate::close::CloseFrame;
use crate::error::{HandshakeError, ProtocolError};
use crate::handshake::{Request, Response};

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
pub struct Received<'b> {
    /// How many bytes at the start of the input were used.
    pub consumed: usize,
    /// At most one event; borrows from the input buffer (payload is unmasked in place).
    pub event: Option<Event<'b>>,
    /// `event` is a whole text message handed out as [`Event::Binary`] without its UTF-8
    /// check, which the [`Driver`](crate::driver::Driver) makes once, when it turns the
    /// bytes into the `&str` it hands out (only the driver asks for this).
    pub(crate) unchecked_text: bool,
    /// Where `event`'s bytes start in an inflater's window, when they lie there rather
    /// than in the input (RFC 7692: inflated data), for the driver's event handle.
    pub(crate) in_window: Option<usize>,
}

impl<'b> Received<'b> {
    /// `consumed` bytes used and no event: more input is needed, or the bytes were
    /// dropped (after the connection closed).
    pub(crate) const fn without_event(consumed: usize) -> Self {
        Received {
            consumed,
            event: None,
            unchecked_text: false,
            in_window: None,
        }
    }

    /// A whole text message of `consumed` bytes whose payload `text` still needs its
    /// UTF-8 check (§8.1), handed out as binary for the driver to check once.
    pub(crate) const fn unchecked_text(consumed: usize, text: &'b [u8]) -> Self {
        Received {
            consumed,
            event: Some(Event::Binary(text)),
            unchecked_text: true,
            in_window: None,
        }
    }
}

/// Something that happened on the connection. Payloads borrow the caller's input buffer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'b> {
    /// Server: a complete request head. Decide before anything is written: call
    /// [`Server::accept`](crate::Server::accept) (only if
    /// [`Request::is_upgrade`]) or [`Server::respond`](crate::Server::respond). The
    /// handshake deadline runs until then.
    Request(Request<'b>),
    /// Client: the server accepted the upgrade (status 101, every rule of RFC 6455 §4.1
    /// checked). The connection is open.
    Connected(Response<'b>),
    /// Client: the server answered with a status other than 101 (a redirect, 401, 503 ...).
    /// The connection is over; close the transport.
    Rejected(Response<'b>),
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
    HandshakeFailed(HandshakeError),
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
