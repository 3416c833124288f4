//! permessage-deflate (RFC 7692): messages compressed with DEFLATE, negotiated in the
//! opening handshake.
//!
//! # Negotiation (always available)
//! A client offers it with [`ClientRequest::with_deflate`](crate::ClientRequest::with_deflate)
//! (the offer is [`DeflateConfig::offer`]); the response is checked against the offer
//! (RFC 7692 §7.1.1, §7.1.2) and a bad one fails the handshake with
//! [`HandshakeError::InvalidExtensionResponse`](crate::HandshakeError::InvalidExtensionResponse).
//! A server picks among the client's offers with [`negotiate`] and accepts with
//! [`Accept::with_deflate`](crate::Accept::with_deflate). Either way the agreed
//! [`DeflateParams`] are then readable from [`Connection::deflate`](crate::Connection::deflate).
//!
//! # Receiving
//! Once negotiated, the connection allows RSV1 on the first frame of a data message (RFC
//! 7692 §6) and hands the compressed payload out, unmasked, as
//! [`Event::Compressed`](crate::Event::Compressed) pieces; it still checks every other rule,
//! and RSV1 anywhere else fails with 1002 as before. With feature `deflate`, an
//! `Inflater` in caller-owned storage sits between the caller and the endpoint and turns
//! those pieces into the usual `Text`, `Binary` and `Chunk` events, inflated as they
//! stream in. The UTF-8 check and [`Config::max_message_len`](crate::Config::max_message_len)
//! apply to the inflated bytes: a decompression bomb fails with 1009 as soon as it passes the
//! limit; a stream that is not valid DEFLATE fails with 1007.
//!
//! # Sending
//! With features `deflate` and `alloc`, a `Compressor` (`deflate::Compressor`) compresses whole messages (above a
//! size threshold) and sends them with RSV1 set. Without one, a sender simply sends
//! uncompressed messages, which RFC 7692 §6 always allows.
//!
//! # DEFLATE itself
//! DEFLATE comes from `miniz_oxide` (pure Rust, `forbid(unsafe_code)`, `no_std`). Its
//! `inflate::core` decompresses without an allocator into a caller-provided output buffer
//! that it uses as the LZ77 window when the buffer is a power of two, which is exactly what a
//! no-heap receiver needs: the window follows the negotiated `*_max_window_bits`
//! (2^bits bytes, 1 KiB at 10 bits) plus about 10.5 KB of decompressor state, and it
//! produces exactly the frames of RFC 7692 §7.2.3. Its compressor needs `alloc` (about
//! 312 KB of state and hash chains). zlib-rs was measured against it on the chat JSON
//! workload (`sockless-compare engines`): it inflates about 2x faster, but its safe API
//! takes its state and a 32 KiB window from an allocator whatever the window bits (about
//! 47 KB a stream) and copies every output byte into that window, so it cannot serve a
//! receiver without a heap; one DEFLATE crate serves both directions.

#[cfg(all(feature = "deflate", feature = "alloc"))]
mod compress;
#[cfg(feature = "deflate")]
mod inflate;
mod negotiate;

#[cfg(all(feature = "deflate", feature = "alloc"))]
pub use compress::{Compressor, DEFAULT_THRESHOLD};
#[cfg(feature = "deflate")]
pub use inflate::{Inflater, window_len};

pub use crate::connection::{DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
pub use negotiate::{DeflateConfig, EXTENSION_NAME, ExtensionValue, check_response, negotiate};
pub(crate) use negotiate::{check_response_to, offered, parse_offer};
