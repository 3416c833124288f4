//! The adapters' error: what went wrong on the transport or in the protocol, with the
//! structure kept (the I/O error's kind, the close code we sent, who closed).

use core::fmt;

use crate::error::{AbnormalClosure, HandshakeError, ProtocolError, TimedOut, UsageError};

/// Everything an adapter's operation can fail with. A clean close is not an error: reading
/// gives the peer's Close, then [`Error::Closed`] for any later call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed; its [`std::io::ErrorKind`] is kept.
    Io(std::io::Error),
    /// The peer broke RFC 6455: we sent a Close with [`ProtocolError::close_code`] and the
    /// connection is over.
    Protocol(ProtocolError),
    /// The opening handshake failed (a server sent the response with
    /// [`HandshakeError::status`]).
    Handshake(HandshakeError),
    /// The upgrade was answered with a status other than 101: by the server (client side:
    /// a redirect, 401, 503...), or by the application's accept decision (server side:
    /// the refusal was sent).
    Rejected {
        /// The response's status.
        status: u16,
    },
    /// A deadline passed: handshake, keep-alive or closing handshake.
    TimedOut(TimedOut),
    /// The transport ended without a closing handshake (1006).
    AbnormalClosure,
    /// The connection is closed (the closing handshake finished, or it failed before):
    /// nothing more can be read or sent.
    Closed,
    /// The caller used the API wrongly; nothing was sent.
    Usage(UsageError),
    /// A `wss://` URL with no TLS configuration given: say which TLS to use, sockless never
    /// picks one by itself.
    TlsNotConfigured,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "the transport failed: {error}"),
            Error::Protocol(error) => write!(f, "the peer broke the WebSocket protocol: {error}"),
            Error::Handshake(error) => write!(f, "the opening handshake failed: {error}"),
            Error::Rejected { status } => {
                write!(f, "the upgrade was refused with status {status}")
            }
            Error::TimedOut(timed_out) => timed_out.fmt(f),
            Error::AbnormalClosure => AbnormalClosure.fmt(f),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Usage(error) => write!(f, "invalid use of the API: {error}"),
            Error::TlsNotConfigured => {
                f.write_str("a wss:// URL needs a TLS configuration, and none was given")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(error) => Some(error),
            Error::Protocol(error) => Some(error),
            Error::Handshake(error) => Some(error),
            Error::TimedOut(error) => Some(error),
            Error::Usage(error) => Some(error),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error)
    }
}

impl From<UsageError> for Error {
    fn from(error: UsageError) -> Self {
        Error::Usage(error)
    }
}

impl From<TimedOut> for Error {
    fn from(error: TimedOut) -> Self {
        Error::TimedOut(error)
    }
}

impl From<AbnormalClosure> for Error {
    fn from(_: AbnormalClosure) -> Self {
        Error::AbnormalClosure
    }
}

impl From<crate::Error> for Error {
    fn from(error: crate::Error) -> Self {
        match error {
            crate::Error::Protocol(e) => Error::Protocol(e),
            crate::Error::Handshake(e) => Error::Handshake(e),
            crate::Error::Usage(e) => Error::Usage(e),
            crate::Error::TimedOut(e) => Error::TimedOut(e),
            crate::Error::AbnormalClosure => Error::AbnormalClosure,
            // The adapters size their own buffers; this means a bug of theirs.
            other => Error::Io(std::io::Error::other(other)),
        }
    }
}

impl From<Error> for std::io::Error {
    /// For callers that want one `io::Error`: the kind is kept for [`Error::Io`], timeouts
    /// are `TimedOut`, closes are `ConnectionAborted`/`NotConnected`, the rest `Other`.
    fn from(error: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match &error {
            Error::Io(_) => {
                let Error::Io(inner) = error else {
                    unreachable!()
                };
                return inner;
            }
            Error::TimedOut(_) => ErrorKind::TimedOut,
            Error::AbnormalClosure => ErrorKind::ConnectionAborted,
            Error::Closed => ErrorKind::NotConnected,
            Error::Protocol(_) | Error::Handshake(_) | Error::Rejected { .. } => {
                ErrorKind::InvalidData
            }
            Error::Usage(_) | Error::TlsNotConfigured => ErrorKind::InvalidInput,
        };
        std::io::Error::new(kind, error)
    }
}
