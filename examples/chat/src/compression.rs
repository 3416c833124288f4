//! permessage-deflate (RFC 7692) for the chat, at no memory cost for an idle connection.
//!
//! Every browser offers the extension, and the chat accepts it, asking both sides to
//! compress each message on its own (`server_no_context_takeover`,
//! `client_no_context_takeover`, RFC 7692 §7.1.1) and the client to compress within a
//! 1 KiB window (`client_max_window_bits=10`, §7.1.2.2). That choice is what lets one
//! thread serve every connection with one compressor and one inflater:
//!
//! - Sending: a message to a room is compressed once ([`Compression::compress`]) and the
//!   same bytes go to every member that negotiated the extension (a message that stands
//!   on its own is valid on any of them). The compressor (about 312 KB) is made on first
//!   use and belongs to the thread, not to a connection.
//! - Receiving: the thread's one inflater (10.6 KB of state and the 1 KiB window) serves
//!   every connection between messages, since a client that takes no context over leaves
//!   nothing in it; a connection keeps an inflater of its own only while one of its
//!   messages is half-read ([`Inflater::in_message`]), like its message assembler.
//!
//! The price is the ratio: short chat messages compressed each on its own shrink little
//! (1.07-1.09x for this chat's messages in the load benchmark, against 5.4x with context
//! takeover on the compare benchmark's JSON), which would cost a compressor (312 KB) and
//! an inflater (43 KB) per connection, and a compression per member of a room.
//!
//! A client that cannot limit its window (it did not offer `client_max_window_bits`) is
//! declined the extension and talks uncompressed, as RFC 7692 §5 lets a server do.

use sockless::deflate::{self, Compressor, DeflateConfig, DeflateParams, Inflater, window_len};
use sockless::{Connection, Request, Role};

/// The inflater every connection of the thread shares: its LZ77 window is on the heap.
pub type SharedInflater = Inflater<Box<[u8]>>;

/// The window bits the chat asks of clients (RFC 7692 §7.1.2.2): a 1 KiB window.
const CLIENT_WINDOW_BITS: u8 = 10;

/// What the chat accepts: see the module's documentation.
const ACCEPTED: DeflateConfig = DeflateConfig::DEFAULT
    .with_receive_window_bits(CLIENT_WINDOW_BITS)
    .with_receive_no_context_takeover(true)
    .with_send_no_context_takeover(true);

/// The parameters the shared compressor works with: each message on its own, within the
/// largest window (a connection that allowed us less gets only the messages that fit its
/// window compressed: see [`fits_window`]).
const SHARED_SEND: DeflateParams = DeflateParams {
    server_no_context_takeover: true,
    client_no_context_takeover: true,
    server_max_window_bits: deflate::MAX_WINDOW_BITS,
    client_max_window_bits: CLIENT_WINDOW_BITS,
};

/// The chat's answer to the client's permessage-deflate offers: the parameters to accept
/// with, or `None` to decline.
pub fn negotiate(request: &Request<'_>) -> Option<DeflateParams> {
    deflate::negotiate(request.extensions(), &ACCEPTED)
}

/// Whether a message of `len` bytes compressed by the shared compressor may be sent on a
/// connection that negotiated `params`: any message when it allowed us the largest
/// window, else only one no longer than its window (no distance can then reach past it).
pub fn fits_window(params: &DeflateParams, len: usize) -> bool {
    let bits = params.send_window_bits(Role::Server);
    bits == deflate::MAX_WINDOW_BITS || len <= window_len(bits)
}

/// The thread's compressor and inflater.
#[derive(Default)]
pub struct Compression {
    /// Made on the first message to a client that negotiated the extension.
    compressor: Option<Box<Compressor>>,
    /// The last message compressed.
    compressed: Vec<u8>,
    /// The shared inflater, while no connection has it (`None` also before first use).
    spare: Option<Box<SharedInflater>>,
}

impl Compression {
    /// `text` compressed for every connection that negotiated the extension, or `None`
    /// when it goes out uncompressed (too short, or it would not get smaller).
    pub fn compress(&mut self, text: &str) -> Option<&[u8]> {
        let compressor = self
            .compressor
            .get_or_insert_with(|| Box::new(Compressor::with_params(&SHARED_SEND, Role::Server)));
        // Only smaller output is kept, plus the 4 bytes of the flush that are removed.
        self.compressed.resize(text.len() + 8, 0);
        let len = compressor.compress(text.as_bytes(), &mut self.compressed)?;
        Some(&self.compressed[..len])
    }

    /// The inflater to receive with on `connection`: its own while one of its messages is
    /// half-read (`own`), else the shared one.
    pub fn lend(
        &mut self,
        own: Option<Box<SharedInflater>>,
        connection: &Connection,
    ) -> Box<SharedInflater> {
        own.or_else(|| self.spare.take()).unwrap_or_else(|| {
            let window = vec![0; window_len(CLIENT_WINDOW_BITS)].into_boxed_slice();
            // The connection negotiated through `negotiate`, so its client compresses
            // within CLIENT_WINDOW_BITS or fewer, and takes no context over: the window
            // fits, and an inflater serves any of them between messages.
            let inflater = Inflater::new(connection, window)
                .expect("the chat negotiated the extension and the window fits its bits");
            Box::new(inflater)
        })
    }

    /// Take `inflater` back after receiving: `Some` when a message is half-read, and the
    /// connection must keep it until the rest arrives.
    pub fn give_back(&mut self, inflater: Box<SharedInflater>) -> Option<Box<SharedInflater>> {
        if inflater.in_message() {
            return Some(inflater);
        }
        if self.spare.is_none() {
            self.spare = Some(inflater);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockless::handshake::{Limits, parse_request};

    fn offer(extensions: &str) -> Option<DeflateParams> {
        let head = format!(
            "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: {extensions}\r\n\r\n"
        );
        let request = parse_request(head.as_bytes(), &Limits::default()).unwrap();
        negotiate(&request)
    }

    #[test]
    fn accepts_what_browsers_offer_with_no_context_and_a_small_client_window() {
        let params = offer("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(params, SHARED_SEND);
        assert_eq!(
            params.response_value().as_str(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             client_max_window_bits=10"
        );
    }

    #[test]
    fn declines_a_client_that_cannot_limit_its_window() {
        assert_eq!(offer("permessage-deflate"), None);
        assert_eq!(offer("x-webkit-deflate-frame"), None);
    }

    #[test]
    fn a_limited_window_gets_only_the_messages_that_fit() {
        let params =
            offer("permessage-deflate; server_max_window_bits=9; client_max_window_bits").unwrap();
        assert!(fits_window(&params, 512));
        assert!(!fits_window(&params, 513));
        assert!(fits_window(&SHARED_SEND, 1 << 20));
    }
}
