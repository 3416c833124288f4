//! # sockless
//!
//! The WebSocket protocol (RFC 6455) as a pure, sans-IO state machine: `no_std`, no
//! allocation, no `unsafe`, with separate [`Client`] and [`Server`] roles. Bytes go in;
//! events and bytes to write come out. The caller owns the socket, the buffers and the
//! clock, so any event loop, async runtime or embedded TCP stack can drive it.
//!
//! ## Layers
//!
//! Each layer is usable alone and knows nothing of the ones above it:
//!
//! - [`frame`]: frame header decode/encode (RFC 6455 §5.2) and masking (§5.3).
//! - [`utf8`]: incremental, fail-fast UTF-8 validation across pieces (§8.1).
//! - [`close`]: close codes and Close payloads (§5.5.1, §7.4).
//! - [`handshake`]: the HTTP/1.1 upgrade for both roles (§4), on top of `httparse`, and
//!   the helpers an HTTP/2 or HTTP/3 upgrade needs.
//! - [`Connection`]: the open connection, the same type for both roles.
//! - [`Client`] and [`Server`]: an HTTP/1.1 handshake each, then a [`Connection`].
//! - [`InputBuffer`]: the received bytes not used yet, in caller storage.
//! - [`driver`]: the rules of driving a connection over a byte stream (what to write, read
//!   or wait for next, every deadline, the end), written once for every I/O loop.
//!
//! ## Driving a connection
//!
//! Every role is driven the same way, through the [`Endpoint`] trait:
//!
//! 1. [`receive`](Endpoint::receive) bytes as they arrive (an [`InputBuffer`] keeps the
//!    unused tail); each call gives at most one [`Event`], borrowing the input (payload is
//!    unmasked in place: zero copies). The peer's mistakes are events too
//!    ([`Event::Failed`], [`Event::HandshakeFailed`]), with their answer queued.
//! 2. After every event, write what [`poll_transmit`](Endpoint::poll_transmit) produces:
//!    the client's request, an automatic Pong, the echo of a Close, the Close of a failure,
//!    a handshake rejection.
//! 3. Commands ([`send_text`](Connection::send_text),
//!    [`send_fragment`](Connection::send_fragment), [`ping`](Connection::ping),
//!    [`close`](Connection::close) ...) encode into your buffer, through
//!    [`connection`](Endpoint::connection).
//! 4. Arrange to call [`handle_timeout`](Endpoint::handle_timeout) at
//!    [`poll_timeout`](Endpoint::poll_timeout) (the handshake has a deadline from the first
//!    byte); call [`handle_eof`](Endpoint::handle_eof) when the transport ends, and close it
//!    when [`should_close_transport`](Endpoint::should_close_transport) says so.
//!
//! A whole server and client exchange, in memory:
//!
//! ```
//! use sockless::{Accept, Client, ClientRequest, Config, Endpoint, Event, Instant, Server};
//! # struct Counter(u32);
//! # impl rand_core::TryRng for Counter {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { self.0 += 1; Ok(self.0 as u64) }
//! #     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//! #         dst.iter_mut().for_each(|b| { self.0 += 1; *b = self.0 as u8 }); Ok(()) }
//! # }
//! # let rng = Counter(0);
//! let now = Instant::ZERO;
//! let request = ClientRequest::from_url("ws://example.com/chat")?;
//! let mut client = Client::new(request, Config::default(), rng, now)?;
//! let mut server = Server::new(Config::default(), now);
//! let (mut wire, mut buf) = ([0u8; 1024], [0u8; 1024]);
//!
//! // The client's request goes to the server, which accepts it.
//! let n = client.poll_transmit(&mut wire)?;
//! let received = server.receive(&mut wire[..n], now)?;
//! let Some(Event::Request(request)) = received.event else { unreachable!() };
//! assert_eq!(request.path(), "/chat");
//! let n = server.accept(&request, Accept::default(), now, &mut buf)?;
//!
//! // The 101 goes back; the client checks it.
//! let received = client.receive(&mut buf[..n], now)?;
//! assert!(matches!(received.event, Some(Event::Connected(_))));
//!
//! // A masked text message from the client, unmasked in place by the server.
//! let n = client.connection()?.send_text("hello", &mut wire)?;
//! let received = server.receive(&mut wire[..n], now)?;
//! assert!(matches!(received.event, Some(Event::Text("hello"))));
//! # Ok::<(), sockless::Error>(())
//! ```
//!
//! ## Feature flags
//!
//! - `std` (default): `OsRng`, randomness from the operating system; implies `alloc`.
//! - `alloc`: `assemble::MessageAssembler`, whole messages collected into a `Vec` whose
//!   capacity is reused.
//! - Without either, the crate is `no_std` and never allocates;
//!   [`assemble::FixedAssembler`] collects whole messages of up to `N` bytes in a
//!   `heapless::Vec`.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod assemble;
mod client;
pub mod close;
mod config;
mod connection;
pub mod deflate;
pub mod driver;
mod endpoint;
mod error;
mod event;
pub mod frame;
pub mod handshake;
mod input;
pub mod io;
mod server;
mod time;
mod token;
pub mod utf8;

/// Whether the hot paths take their compact shapes: on bare-metal targets
/// (`target_os = "none"`: microcontrollers), where flash is scarce. Same bytes and same
/// rules either way, less code (`benches/flash` measures it); elsewhere the shapes
/// measured fastest. The SHA-1 of the handshake follows the same line (Cargo.toml).
pub(crate) const COMPACT_CODE: bool = cfg!(target_os = "none");

pub use client::Client;
pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{
    Connection, HeaderWritten, MAX_SUBPROTOCOL_LEN, Masked, Masking, Role, State, Unmasked,
};
pub use endpoint::Endpoint;
pub use error::{
    AbnormalClosure, BufferTooSmall, Error, HandshakeError, ProtocolError, SendError, TimedOut,
    UsageError,
};
pub use event::{Chunk, Event, MessageKind, Received};
pub use handshake::{ClientRequest, Request, Response};
pub use input::{InputBuffer, MIN_INPUT_BUFFER};
pub use rand_core;
pub use server::{Accept, Server};
pub use time::{Duration, Instant};

/// An output buffer of this size holds anything `poll_transmit` writes as one piece (a
/// control frame of at most 131 bytes, a handshake rejection or a 408), so it never
/// returns [`BufferTooSmall`]; the client's request is the exception (its size depends on
/// the URL and headers).
pub const MIN_OUTPUT_BUFFER: usize = 256;

/// Randomness from the operating system (`getrandom`), for the client's key and masks.
/// It panics if the operating system cannot provide randomness.
#[cfg(feature = "std")]
pub type OsRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// A ready [`OsRng`].
#[cfg(feature = "std")]
pub fn os_rng() -> OsRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `poll_transmit` writes as one piece fits in [`MIN_OUTPUT_BUFFER`].
    #[test]
    fn min_output_buffer_holds_every_owed_piece() {
        use HandshakeError as H;
        for error in [H::MalformedHead, H::UnsupportedVersion, H::HeadTooLarge] {
            assert!(handshake::rejection_for(error).len() <= MIN_OUTPUT_BUFFER);
        }
        assert!(handshake::REQUEST_TIMEOUT_408.len() <= MIN_OUTPUT_BUFFER);
    }

    // A masked control frame with the longest payload fits too.
    const _: () = assert!(6 + frame::MAX_CONTROL_PAYLOAD <= MIN_OUTPUT_BUFFER);
}
