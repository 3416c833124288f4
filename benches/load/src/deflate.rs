//! permessage-deflate (RFC 7692) in the generator (`--deflate`): every client offers it as
//! a browser does, receives through an inflater and sends its messages compressed, at the
//! memory cost of one compressor and one inflater for the whole process.
//!
//! Sharing them is sound only because the server takes no context over from one message
//! to the next (`server_no_context_takeover`, RFC 7692 §7.1.1.1) and asks the same of the
//! clients (`client_no_context_takeover`, §7.1.1.2), as the chat does:
//!
//! - Receiving: between messages the inflater holds nothing of a connection (each message
//!   is inflated from an empty window), so one inflater serves every connection; a
//!   connection keeps one of its own only while one of its messages is half-read
//!   ([`Inflater::in_message`]), exactly like the chat.
//! - Sending: a compressor that resets after every message (no context takeover; the
//!   10-bit client window the chat asks for resets it too) leaves nothing of one message in
//!   the next, so one compressor serves every connection in turn.
//!
//! [`Deflate::check`] makes sure every connection negotiated the extension, with the same
//! parameters, and with both kinds of no context takeover: the generator fails otherwise.

use sockless::deflate::{Compressor, DeflateConfig, DeflateParams, Inflater, window_len};
use sockless::{Connection, Masking, MessageKind, Role};

/// The inflater shared by the generator's connections: its LZ77 window is on the heap.
pub type SharedInflater = Inflater<Box<[u8]>>;

/// What every client offers: what browsers offer (`permessage-deflate;
/// client_max_window_bits`).
pub fn offer() -> DeflateConfig {
    DeflateConfig::default()
}

/// The generator's compressor and inflater, and what they did.
pub struct Deflate {
    /// The parameters every connection agreed on (those of the first one to open).
    params: Option<DeflateParams>,
    /// Made when the first connection opens.
    compressor: Option<Box<Compressor>>,
    /// The last message compressed.
    compressed: Vec<u8>,
    /// The shared inflater, while no connection has it (`None` also before first use).
    spare: Option<Box<SharedInflater>>,
    /// The message limit of the clients' configuration, which the inflater enforces.
    max_message_len: u64,
    /// Messages sent compressed, and sent as they are (too short, or not smaller).
    pub sent_compressed: u64,
    pub sent_plain: u64,
    /// Connections holding an inflater of their own (a message half-read), now and at most.
    held: u64,
    pub held_max: u64,
}

impl Deflate {
    pub fn new(max_message_len: u64) -> Self {
        Deflate {
            params: None,
            compressor: None,
            compressed: Vec::new(),
            spare: None,
            max_message_len,
            sent_compressed: 0,
            sent_plain: 0,
            held: 0,
            held_max: 0,
        }
    }

    /// Check the parameters `connection` agreed on, once open: an error when the server
    /// declined permessage-deflate, or agreed on parameters that do not let the
    /// connections share the compressor and the inflater (see the module's documentation).
    pub fn check<M: Masking>(&mut self, connection: &Connection<M>) -> Result<(), String> {
        let Some(params) = connection.deflate() else {
            return Err("the server declined permessage-deflate".into());
        };
        match self.params {
            Some(first) if first != params => Err(format!(
                "permessage-deflate negotiated as {params:?}, unlike {first:?} on an earlier \
                 connection: they cannot share an inflater"
            )),
            Some(_) => Ok(()),
            None if !params.server_no_context_takeover || !params.client_no_context_takeover => {
                Err(format!(
                    "permessage-deflate negotiated with context takeover ({params:?}): the \
                     connections cannot share an inflater and a compressor"
                ))
            }
            None => {
                self.params = Some(params);
                self.compressor = Some(Box::new(Compressor::with_params(&params, Role::Client)));
                Ok(())
            }
        }
    }

    /// Encode `text` into `out` compressed by the shared compressor, or as it is when
    /// compressing does not pay (too short, or not smaller); returns the bytes written.
    /// The compressor serves every connection in turn: it resets after each message
    /// (`client_no_context_takeover`, RFC 7692 §7.1.1.2), so nothing of one connection's
    /// message is left in it for the next.
    pub fn send_text<M: Masking>(
        &mut self,
        connection: &mut Connection<M>,
        text: &str,
        out: &mut [u8],
    ) -> Result<usize, sockless::SendError> {
        let compressor = self
            .compressor
            .as_mut()
            .expect("a connection sends only once open, and checked");
        // Only smaller output is kept, plus the 4 bytes of the flush that are removed.
        self.compressed.resize(text.len() + 8, 0);
        match compressor.compress(text.as_bytes(), &mut self.compressed) {
            Some(len) => {
                self.sent_compressed += 1;
                connection.send_compressed(MessageKind::Text, &self.compressed[..len], out)
            }
            None => {
                self.sent_plain += 1;
                connection.send_text(text, out)
            }
        }
    }

    /// The inflater to receive with on a connection: its own while one of its messages is
    /// half-read (`own`), else the shared one (RFC 7692 §7.1.1.1: the server takes no
    /// context over, so between messages the inflater holds nothing of any connection).
    pub fn lend(&mut self, own: Option<Box<SharedInflater>>) -> Box<SharedInflater> {
        if own.is_some() {
            self.held -= 1;
        }
        own.or_else(|| self.spare.take())
            .unwrap_or_else(|| self.new_inflater())
    }

    /// Take `inflater` back after receiving: `Some` when a message is half-read, and the
    /// connection must keep it until the rest arrives.
    pub fn give_back(&mut self, inflater: Box<SharedInflater>) -> Option<Box<SharedInflater>> {
        if inflater.in_message() {
            self.held += 1;
            self.held_max = self.held_max.max(self.held);
            return Some(inflater);
        }
        if self.spare.is_none() {
            self.spare = Some(inflater);
        }
        None
    }

    fn new_inflater(&self) -> Box<SharedInflater> {
        let params = self
            .params
            .expect("a connection receives through it only once checked");
        let window = vec![0; window_len(params.receive_window_bits(Role::Client))];
        let inflater = Inflater::with_params(
            &params,
            Role::Client,
            window.into_boxed_slice(),
            self.max_message_len,
        )
        .expect("the window is the size the parameters ask for");
        Box::new(inflater)
    }
}
