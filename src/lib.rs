//! # sockless
//!
//! The WebSocket protocol (RFC 6455) as a pure, sans-IO state machine: `no_std`, no
//! allocation, no `unsafe`, with separate [`Client`] and [`Server`] roles. Bytes go in;
//! events and bytes to write come out. The caller owns the socket, the buffers and the
//! clock, so any event loop, async runtime or embedded TCP stack can drive it: firmware
//! on a microcontroller, a hand-written epoll or io_uring loop, another crate's I/O layer,
//! or a fuzzer feeding the parsers bytes. Ready adapters cover blocking `std` I/O
//! ([`io::blocking`]), tokio ([`io::tokio`]) and `embedded-io-async` ([`io::embedded`]);
//! the [`driver`] holds the rules they share, for your own loop too.
//!
//! ## Feature flags
//!
//! - `default`: `std` and `deflate`.
//! - `std`: [`io::blocking`] (a blocking WebSocket over any `Read + Write` stream, both
//!   roles) and [`OsRng`] (the operating system's randomness for the client); implies
//!   `alloc`.
//! - `alloc`: [`assemble::MessageAssembler`] (whole messages in a `Vec` / `String`) and,
//!   with `deflate`, [`deflate::Compressor`].
//! - `deflate`: permessage-deflate (RFC 7692): [`deflate::Inflater`] inflates received
//!   messages in caller storage, without a heap; negotiation is always available.
//! - `tokio`: [`io::tokio`], a futures `Stream` and `Sink` of messages over any tokio
//!   `AsyncRead + AsyncWrite`, timers on tokio's clock; implies `std`.
//! - `embedded-io-async`: [`io::embedded`], a WebSocket over `embedded_io_async::Read +
//!   Write` for embassy and other `no_std` async stacks, in caller buffers, no allocation.
//! - `rustls`: `wss://` for the blocking adapter, over `rustls::StreamOwned`.
//! - `tokio-rustls`: `wss://` for the tokio adapter, over `tokio_rustls`.
//!
//! With none of them (`default-features = false`) the crate is `no_std` and never
//! allocates; [`assemble::FixedAssembler`] collects whole messages of up to `N` bytes in
//! fixed storage, and the client takes randomness from any [`rand_core::Rng`].
//!
//! ## A server and a client, blocking
//!
//! With [`io::blocking`] (feature `std`, on by default), a thread per connection:
//!
#![cfg_attr(feature = "std", doc = "```rust")]
#![cfg_attr(not(feature = "std"), doc = "```rust,ignore")]
//! use std::net::{TcpListener, TcpStream};
//!
//! use sockless::CloseCode;
//! use sockless::io::{Error, Message, blocking};
//!
//! /// One connection: echo every text and binary message until the client closes.
//! fn echo(stream: TcpStream) -> Result<(), Error> {
//!     let mut ws = blocking::accept(stream)?;
//!     loop {
//!         match ws.read()? {
//!             message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message)?,
//!             Message::Close(_) => return Ok(()), // our answer was written already
//!             _ => {}                             // so was the Pong to a Ping
//!         }
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The server, on any free port of the loopback interface.
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let url = format!("ws://{}/echo", listener.local_addr()?);
//!     std::thread::spawn(move || {
//!         for stream in listener.incoming().flatten() {
//!             std::thread::spawn(move || echo(stream));
//!         }
//!     });
//!
//!     // The client.
//!     let mut ws = blocking::connect(&url)?;
//!     ws.send_text("hello")?;
//!     assert_eq!(ws.read()?, Message::Text("hello".into()));
//!     ws.close(CloseCode::NORMAL, "done")?;
//!     Ok(())
//! }
//! ```
//!
//! Every wait has a deadline (handshake, closing, a peer that stops reading); an open
//! connection waiting for the next message has one only with
//! [`Config::keep_alive`] set, through `blocking::accept_with` and
//! `blocking::connect_with`. `examples/echo_server.rs` and `examples/echo_client.rs` in
//! the repository are complete programs.
//!
//! ## The same with tokio
//!
//! With [`io::tokio`] (`cargo add sockless --features tokio`; the program below also
//! needs `cargo add futures-util` and `cargo add tokio --features
//! macros,rt-multi-thread,net`), a task per connection:
//!
#![cfg_attr(feature = "tokio", doc = "```rust")]
#![cfg_attr(not(feature = "tokio"), doc = "```rust,ignore")]
//! use futures_util::StreamExt;
//! use sockless::CloseCode;
//! use sockless::io::tokio::{accept, connect};
//! use sockless::io::{Error, Message};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! /// One connection: echo every text and binary message until the client closes.
//! async fn echo(tcp: TcpStream) -> Result<(), Error> {
//!     let mut ws = accept(tcp).await?;
//!     while let Some(message) = ws.next().await {
//!         match message? {
//!             message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await?,
//!             _ => {} // Pings are answered and the Close echoed for you
//!         }
//!     }
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The server, on any free port of the loopback interface.
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let url = format!("ws://{}/echo", listener.local_addr()?);
//!     tokio::spawn(async move {
//!         while let Ok((tcp, _)) = listener.accept().await {
//!             tokio::spawn(echo(tcp));
//!         }
//!     });
//!
//!     // The client.
//!     let (mut ws, _response) = connect(&url).await?;
//!     ws.send(Message::Text("hello".into())).await?;
//!     assert_eq!(ws.next().await.transpose()?, Some(Message::Text("hello".into())));
//!     ws.close(CloseCode::NORMAL, "done").await?;
//!     Ok(())
//! }
//! ```
//!
//! `accept_async` and `connect_async` are the same functions under tokio-tungstenite's
//! names, so a tokio-tungstenite program switches by changing its imports. The stream is
//! also a futures `Sink` of messages; `next_event` reads without copying,
//! `next_event_with` answers an event from its own bytes while holding it, and `sender`
//! gives a cloneable sender for other tasks (see [`io::tokio`]). With
//! `embedded-io-async`, [`io::embedded`] does the same in caller buffers, without a heap.
//!
//! ## Sans-IO: driving a connection yourself
//!
//! Without an adapter, a connection is driven through the [`Endpoint`] trait: hand it the
//! bytes you read, act on each [`Event`], and write what it gives back. Here the socket
//! is two byte strings:
//!
//! ```rust
//! use sockless::{Accept, Config, Endpoint, Event, InputBuffer, Instant, Server};
//!
//! fn main() -> Result<(), sockless::Error> {
//!     let config = Config::default();
//!     let now = Instant::ZERO; // your clock: Instant::from_millis(..)
//!     let mut server = Server::new(config, now);
//!     // Your storage: it must hold a whole request head (`Config::max_head_len`).
//!     let mut input = InputBuffer::new([0u8; 8192], &config)?;
//!     let mut out = [0u8; sockless::MIN_OUTPUT_BUFFER];
//!     let mut wire = Vec::new(); // what your socket would write
//!
//!     // What reads returned: a client's upgrade request, then a masked text "hi".
//!     let request = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!         Sec-WebSocket-Version: 13\r\n\r\n";
//!     input.push(request);
//!     input.push(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
//!
//!     while let Some(event) = input.receive(&mut server, now)? {
//!         let n = match event {
//!             Event::Request(request) => server.accept(&request, Accept::default(), now, &mut out)?,
//!             Event::Text(text) => server.connection()?.send_text(text, &mut out)?, // echo
//!             _ => 0,
//!         };
//!         wire.extend_from_slice(&out[..n]);
//!         // After every event, what the protocol owes: a Pong, a Close, a rejection...
//!         loop {
//!             let n = server.poll_transmit(&mut out)?;
//!             if n == 0 {
//!                 break;
//!             }
//!             wire.extend_from_slice(&out[..n]);
//!         }
//!     }
//!     assert!(wire.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//!     assert!(wire.ends_with(&[0x81, 2, b'h', b'i'])); // the echo, unmasked
//!     Ok(())
//! }
//! ```
//!
//! Over a real socket, read into [`InputBuffer::read_space`] and
//! [`commit`](InputBuffer::commit) what was read; call
//! [`handle_timeout`](Endpoint::handle_timeout) at [`poll_timeout`](Endpoint::poll_timeout)
//! and [`handle_eof`](Endpoint::handle_eof) when the socket ends, and close it when
//! [`should_close_transport`](Endpoint::should_close_transport) says so. A [`Client`] is
//! driven the same way, from [`Client::connect`]. The [`driver`] holds these rules once
//! (what to write, read or wait for next, every deadline, the end) for any I/O loop; the
//! adapters are thin loops over it. The chat example,
//! [`examples/chat`](https://github.com/sockless/sockless/blob/main/examples/chat/src/main.rs),
//! is a whole server on mio written this way: one thread, one read buffer for every
//! connection, a deadline heap instead of a timer per connection.
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
//! - [`io`]: the adapters, each a thin loop over the driver.
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
//! Every rule of RFC 6455 the crate enforces, with its close code or HTTP status and the
//! tests that check it, is listed in `CONFORMANCE.md`, shipped with the crate.
//!
// Links to items that exist only with a feature point at docs.rs in builds without that
// feature, so that every feature combination documents without a broken link.
#![cfg_attr(feature = "std", doc = "[`io::blocking`]: io::blocking")]
#![cfg_attr(
    not(feature = "std"),
    doc = "[`io::blocking`]: https://docs.rs/sockless/latest/sockless/io/blocking/index.html"
)]
#![cfg_attr(feature = "std", doc = "[`OsRng`]: OsRng")]
#![cfg_attr(
    not(feature = "std"),
    doc = "[`OsRng`]: https://docs.rs/sockless/latest/sockless/type.OsRng.html"
)]
#![cfg_attr(feature = "tokio", doc = "[`io::tokio`]: io::tokio")]
#![cfg_attr(
    not(feature = "tokio"),
    doc = "[`io::tokio`]: https://docs.rs/sockless/latest/sockless/io/tokio/index.html"
)]
#![cfg_attr(feature = "embedded-io-async", doc = "[`io::embedded`]: io::embedded")]
#![cfg_attr(
    not(feature = "embedded-io-async"),
    doc = "[`io::embedded`]: https://docs.rs/sockless/latest/sockless/io/embedded/index.html"
)]
#![cfg_attr(
    feature = "alloc",
    doc = "[`assemble::MessageAssembler`]: assemble::MessageAssembler"
)]
#![cfg_attr(
    not(feature = "alloc"),
    doc = "[`assemble::MessageAssembler`]: https://docs.rs/sockless/latest/sockless/assemble/struct.MessageAssembler.html"
)]
#![cfg_attr(
    all(feature = "deflate", feature = "alloc"),
    doc = "[`deflate::Compressor`]: deflate::Compressor"
)]
#![cfg_attr(
    not(all(feature = "deflate", feature = "alloc")),
    doc = "[`deflate::Compressor`]: https://docs.rs/sockless/latest/sockless/deflate/struct.Compressor.html"
)]
#![cfg_attr(feature = "deflate", doc = "[`deflate::Inflater`]: deflate::Inflater")]
#![cfg_attr(
    not(feature = "deflate"),
    doc = "[`deflate::Inflater`]: https://docs.rs/sockless/latest/sockless/deflate/struct.Inflater.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
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
mod close_code;
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
mod subprotocol;
mod target;
mod time;
mod token;
pub mod utf8;

pub use client::Client;
pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, HeaderWritten, Masked, Masking, Role, State, Unmasked};
pub use endpoint::Endpoint;
pub use error::{
    AbnormalClosure, BufferTooSmall, Error, HandshakeError, ProtocolError, SendError, TimedOut,
    UsageError,
};
pub use event::{Chunk, Event, EventOf, MessageKind, OpenEvent, Opened, Opening, Phase, Received};
pub use handshake::{ClientRequest, Request, Response};
pub use input::{InputBuffer, MIN_INPUT_BUFFER};
pub use rand_core;
pub use server::{Accept, Server};
pub use subprotocol::MAX_SUBPROTOCOL_LEN;
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

// The README's code blocks run as doctests; its first program uses the blocking adapter.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "std"))]
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
