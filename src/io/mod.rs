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
#[cfg(any(feature = "std", feature = "embedded-io-async"))]
mod error;
#[cfg(feature = "alloc")]
mod message;
#[cfg(feature = "tokio")]
pub mod tokio;

#[cfg(any(feature = "std", feature = "embedded-io-async"))]
pub use error::Error;
#[cfg(feature = "alloc")]
pub use message::{Message, OwnedCloseFrame};
