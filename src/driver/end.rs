//! How a driven connection ended, and the deadlines that can end it.

use crate::close::CloseCode;
use crate::error::{HandshakeError, ProtocolError, TimedOut, UsageError};

/// How a connection driven by a [`Driver`](super::Driver) ended: what
/// [`Step::Close`](super::Step::Close) reports when the transport is to be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum End {
    /// The closing handshake finished (RFC 6455 §7.1.1): the peer's Close was received
    /// and answered, or answered ours. `code` is the code in the peer's Close (`None`
    /// if it had none). An end of the transport afterwards (EOF, reset, broken pipe) is
    /// still this: a clean close is never an I/O failure.
    Closed {
        /// The status code the peer's Close carried.
        code: Option<CloseCode>,
    },
    /// The peer broke the protocol; our Close with the error's code was sent (as far as
    /// the transport took it).
    Failed(ProtocolError),
    /// The opening handshake failed; a server's answer (400, 426, 431) was sent.
    HandshakeFailed(HandshakeError),
    /// The handshake ended without a WebSocket: a server answered the request with
    /// another status ([`Decision::Respond`](super::Decision::Respond)), or the server
    /// answered a client's request with `status` ([`Event::Rejected`](crate::Event::Rejected)).
    Rejected {
        /// The HTTP status of the answer.
        status: u16,
    },
    /// A deadline passed: the handshake, the Pong for a keep-alive Ping, the closing
    /// handshake, or the peer stopped taking our bytes ([`TimedOut::Write`]).
    TimedOut(TimedOut),
    /// The transport ended or failed before the closing handshake finished: abnormal
    /// closure, 1006 (RFC 6455 §7.1.5). The adapter holds the transport's error, if any.
    Abnormal,
    /// The caller misused the driver (an input buffer too small for what the peer sends).
    Usage(UsageError),
}

impl End {
    /// The close code this end stands for: the peer's for a clean close, the one we sent
    /// for a violation, 1006 for a connection that ended without a closing handshake.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            End::Closed { code } => *code,
            End::Failed(error) => Some(error.close_code()),
            End::Abnormal
            | End::TimedOut(TimedOut::KeepAlive | TimedOut::Write | TimedOut::Closing) => {
                Some(CloseCode::ABNORMAL)
            }
            _ => None,
        }
    }

    /// Whether the connection ended with a clean closing handshake.
    pub fn is_clean(&self) -> bool {
        matches!(self, End::Closed { .. })
    }
}

/// Which deadline a [`Driver`](super::Driver) waits for next (quinn-proto's timer table,
/// one level up): [`Core::next_deadline`](super::Core::next_deadline) names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deadline {
    /// The opening handshake must finish by then
    /// ([`Config::handshake_timeout`](crate::Config::handshake_timeout)).
    Handshake,
    /// A keep-alive Ping falls due ([`Config::keep_alive`](crate::Config::keep_alive)).
    KeepAlivePing,
    /// The Pong for our keep-alive Ping must arrive by then
    /// ([`Config::keep_alive_timeout`](crate::Config::keep_alive_timeout)).
    Pong,
    /// The closing handshake must finish (or, for a client, the server close the
    /// transport) by then ([`Config::close_timeout`](crate::Config::close_timeout)).
    Closing,
    /// The peer must take some of the bytes we owe it by then
    /// ([`Config::write_timeout`](crate::Config::write_timeout)).
    Write,
}
