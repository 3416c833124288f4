//! Adapters that drive the sans-IO core over real I/O, each behind its feature and each a
//! thin layer over the public API ([`Endpoint`](crate::Endpoint),
//! [`InputBuffer`](crate::InputBuffer), [`Connection`](crate::Connection)): no protocol
//! logic of its own.
//!
//! - `blocking` (feature `std`): a blocking `WebSocket` over `std::io::Read + Write`.
//! - `tokio` (feature `tokio`): a `WebSocketStream`, a futures `Stream` and `Sink`.
//! - `embedded` (feature `embedded-io-async`): for embassy and other no_std async stacks.

#[cfg(feature = "std")]
pub mod blocking;
#[cfg(all(feature = "std", feature = "deflate"))]
mod compressor;
#[cfg(feature = "embedded-io-async")]
pub mod embedded;
#[cfg(feature = "std")]
mod error;
#[cfg(feature = "alloc")]
mod message;
#[cfg(feature = "tokio")]
pub mod tokio;

#[cfg(feature = "std")]
pub use error::Error;
#[cfg(feature = "alloc")]
pub use message::{Message, OwnedCloseFrame};

/// Whether a transport error of this kind, once the peer's Close was read, is only the
/// end of the connection: the peer reset it or went away after the closing handshake
/// (many servers reset the TCP connection right after their Close), which is a clean
/// end like the end of the stream, never an I/O error.
#[cfg(feature = "std")]
pub(crate) fn ends_cleanly(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind;
    matches!(
        kind,
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::NotConnected
            | ErrorKind::UnexpectedEof
    )
}
