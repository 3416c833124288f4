//! The adapters' error, one type for every adapter: what went wrong on the transport (`E`,
//! the transport's own error, kept as it is) or in the protocol, with the structure kept
//! (the close code we sent, the handshake's status, which deadline passed).
//!
//! `E` is `std::io::Error` by default when feature `std` is on, so that the blocking and
//! tokio adapters name it `Error`; the embedded-io-async adapter names it
//! `Error<T::Error>`, and it is there without `std` too.

use core::fmt;

use crate::assemble::AssembleError;
use crate::error::{
    AbnormalClosure, BufferTooSmall, HandshakeError, ProtocolError, TimedOut, UsageError,
};

/// Declares [`Error`] once, with the default of its type parameter given (with `std`:
/// `std::io::Error`) or not: a default cannot be put under `cfg` by itself.
macro_rules! declare_error {
    ($($default:ty)?) => {
        /// Everything an adapter's operation can fail with, `E` being the transport's
        /// error (`std::io::Error` by default, with feature `std`). A clean close is not an
        /// error: reading gives the peer's Close, then [`Error::Closed`] for any later call.
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Error<E $(= $default)?> {
            /// The transport failed; its error is kept (for `std::io::Error`, its
            /// `ErrorKind`).
            Io(E),
            /// The peer broke RFC 6455: we sent a Close with [`ProtocolError::close_code`]
            /// and the connection is over.
            Protocol(ProtocolError),
            /// The opening handshake failed (a server sent the response with
            /// [`HandshakeError::status`]).
            Handshake(HandshakeError),
            /// The upgrade was answered with a status other than 101: by the server
            /// (client side: a redirect, 401, 503...), or by the application's accept
            /// decision (server side: the refusal was sent).
            Rejected {
                /// The response's status.
                status: u16,
            },
            /// A deadline passed: handshake, keep-alive, closing handshake, or the peer
            /// stopped taking our bytes ([`TimedOut::Write`]).
            TimedOut(TimedOut),
            /// The transport ended without a closing handshake (1006).
            AbnormalClosure,
            /// The connection is closed (the closing handshake finished, or it failed
            /// before): nothing more can be read or sent.
            Closed,
            /// The caller used the API wrongly; nothing was sent.
            Usage(UsageError),
            /// A `wss://` URL with no TLS configuration given: say which TLS to use,
            /// sockless never picks one by itself.
            TlsNotConfigured,
            /// An output buffer of the caller's cannot hold what must be written as one
            /// piece (a client's request): it must hold `needed` bytes.
            BufferTooSmall {
                /// How many bytes the output buffer must hold.
                needed: usize,
            },
            /// A message did not fit the caller's fixed assembler
            /// ([`FixedAssembler`](crate::assemble::FixedAssembler)): the Close with
            /// [`AssembleError::close_code`] (1009) was sent.
            Assemble(AssembleError),
        }
    };
}

#[cfg(feature = "std")]
declare_error!(std::io::Error);
#[cfg(not(feature = "std"))]
declare_error!();

impl<E: fmt::Display> fmt::Display for Error<E> {
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
            Error::BufferTooSmall { needed } => {
                write!(
                    f,
                    "the output buffer is too small: {needed} bytes are needed"
                )
            }
            Error::Assemble(error) => error.fmt(f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Io(error) => Some(error),
            Error::Protocol(error) => Some(error),
            Error::Handshake(error) => Some(error),
            Error::TimedOut(error) => Some(error),
            Error::Usage(error) => Some(error),
            Error::Assemble(error) => Some(error),
            _ => None,
        }
    }
}

#[cfg(feature = "std")]
impl From<std::io::Error> for Error<std::io::Error> {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error)
    }
}

impl<E> From<UsageError> for Error<E> {
    fn from(error: UsageError) -> Self {
        Error::Usage(error)
    }
}

impl<E> From<TimedOut> for Error<E> {
    fn from(error: TimedOut) -> Self {
        Error::TimedOut(error)
    }
}

impl<E> From<AbnormalClosure> for Error<E> {
    fn from(_: AbnormalClosure) -> Self {
        Error::AbnormalClosure
    }
}

impl<E> From<BufferTooSmall> for Error<E> {
    fn from(error: BufferTooSmall) -> Self {
        Error::BufferTooSmall {
            needed: error.needed,
        }
    }
}

impl<E> From<AssembleError> for Error<E> {
    fn from(error: AssembleError) -> Self {
        Error::Assemble(error)
    }
}

impl<E> From<crate::Error> for Error<E> {
    fn from(error: crate::Error) -> Self {
        match error {
            crate::Error::Protocol(e) => Error::Protocol(e),
            crate::Error::Handshake(e) => Error::Handshake(e),
            crate::Error::BufferTooSmall { needed } => Error::BufferTooSmall { needed },
            crate::Error::Usage(e) => Error::Usage(e),
            crate::Error::TimedOut(e) => Error::TimedOut(e),
            // `AbnormalClosure`, and whatever a later version adds.
            _ => Error::AbnormalClosure,
        }
    }
}

#[cfg(feature = "std")]
impl From<Error<std::io::Error>> for std::io::Error {
    /// For callers that want one `io::Error`: the kind is kept for [`Error::Io`], timeouts
    /// are `TimedOut`, closes are `ConnectionAborted`/`NotConnected`, the rest `Other`.
    fn from(error: Error<std::io::Error>) -> Self {
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
            Error::Protocol(_)
            | Error::Handshake(_)
            | Error::Rejected { .. }
            | Error::Assemble(_) => ErrorKind::InvalidData,
            Error::Usage(_) | Error::TlsNotConfigured | Error::BufferTooSmall { .. } => {
                ErrorKind::InvalidInput
            }
        };
        std::io::Error::new(kind, error)
    }
}
