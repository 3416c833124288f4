//! Sending compressed messages (RFC 7692 §7.2.1): a [`Compressor`] per connection, or one
//! shared by connections whose own side takes no context over.

use alloc::boxed::Box;

use miniz_oxide::deflate::core::deflate_flags::TDEFL_FORCE_ALL_STATIC_BLOCKS;
use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};

use super::{DeflateParams, MAX_WINDOW_BITS, window_len};
use crate::connection::{Connection, Masking, Role, compressed_header_len};
use crate::error::{SendError, UsageError};
use crate::event::MessageKind;

/// Messages shorter than this are sent uncompressed by default: DEFLATE's block overhead
/// makes tiny messages larger, and they cost more CPU than they save.
pub const DEFAULT_THRESHOLD: usize = 32;

/// Compresses the whole messages we send on a connection that negotiated
/// permessage-deflate (features `deflate` and `alloc`: the DEFLATE state, about 300 KB
/// with its hash chains, is on the heap).
///
/// Each message at least [`threshold`](Self::with_threshold) bytes long is compressed into
/// the caller's output buffer and sent as one frame with RSV1 set (RFC 7692 §6, §7.2.1):
/// raw DEFLATE, flushed to a byte boundary, its trailing `00 00 ff ff` removed. A message
/// that would not get smaller, or that does not fit the buffer compressed, goes out
/// uncompressed (RSV1 clear), as RFC 7692 §6 allows for any message; so do the ones under
/// the threshold.
///
/// Context: with context takeover (the default) a message may refer back to the ones
/// before it, which compresses chat and JSON traffic best. When our side negotiated no
/// context takeover (RFC 7692 §7.1.1) the state is reset after every message, and one
/// compressor can then serve many connections in turn. When the peer limited our window
/// below 15 bits (§7.1.2), only messages of at most 2^bits bytes are compressed, each on its
/// own, so that no distance can reach past the window (the others go out uncompressed).
///
/// Codes: with context takeover, messages are written with DEFLATE's fixed Huffman codes
/// (RFC 1951 §3.2.6) by default, since a short message that is mostly references to the
/// ones before it costs less that way than with a code table of its own (JSON chat
/// messages of 150 bytes: 5.8x smaller instead of 3.8x). Without context takeover each
/// message gets its own codes. [`with_fixed_codes`](Self::with_fixed_codes) chooses.
pub struct Compressor {
    state: Box<CompressorOxide>,
    level: u8,
    fixed_codes: bool,
    threshold: usize,
    reset_each_message: bool,
    /// The largest message that may be compressed (the window, when it is limited).
    max_len: usize,
}

impl core::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Compressor")
            .field("level", &self.level)
            .field("fixed_codes", &self.fixed_codes)
            .field("threshold", &self.threshold)
            .field("reset_each_message", &self.reset_each_message)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl Compressor {
    /// A compressor for `connection`, which must have negotiated permessage-deflate (else
    /// [`UsageError::DeflateNotNegotiated`]), at compression level 6 (of 0-9).
    pub fn new<M: Masking>(connection: &Connection<M>) -> Result<Self, UsageError> {
        let params = connection
            .deflate()
            .ok_or(UsageError::DeflateNotNegotiated)?;
        Ok(Compressor::with_params(&params, M::ROLE))
    }

    /// A compressor for a connection of `role` that negotiated `params`.
    pub fn with_params(params: &DeflateParams, role: Role) -> Self {
        let bits = params.send_window_bits(role);
        let limited = bits < MAX_WINDOW_BITS;
        let reset_each_message = params.send_no_context_takeover(role) || limited;
        let (level, fixed_codes) = (DEFAULT_LEVEL, !reset_each_message);
        Compressor {
            state: deflate_state(level, fixed_codes),
            level,
            fixed_codes,
            threshold: DEFAULT_THRESHOLD,
            reset_each_message,
            max_len: if limited {
                window_len(bits)
            } else {
                usize::MAX
            },
        }
    }

    /// Compress only messages of at least `bytes` bytes (default [`DEFAULT_THRESHOLD`]).
    /// 0 compresses every message, even one that comes out larger.
    pub fn with_threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Compress at `level` (0, stored, to 9, smallest; 1 is the fastest that compresses).
    /// The compressor starts afresh: call it before the first message.
    pub fn with_level(mut self, level: u8) -> Self {
        self.level = level.min(9);
        self.state = deflate_state(self.level, self.fixed_codes);
        self
    }

    /// Write every message with DEFLATE's fixed Huffman codes (RFC 1951 §3.2.6), or with
    /// codes of its own (see the type's documentation for the default). The compressor
    /// starts afresh: call it before the first message.
    pub fn with_fixed_codes(mut self, fixed: bool) -> Self {
        self.fixed_codes = fixed;
        self.state = deflate_state(self.level, self.fixed_codes);
        self
    }

    /// Encode a whole text message into `out`, compressed if it is worth it (see the
    /// type's documentation); returns the bytes written. The errors are those of
    /// [`Connection::send_text`]; with [`SendError::NoRoom`](crate::SendError::NoRoom) nothing was written and
    /// the message can be sent again.
    pub fn send_text<M: Masking>(
        &mut self,
        connection: &mut Connection<M>,
        text: &str,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.send(connection, Payload::Text(text), out)
    }

    /// [`send_text`](Self::send_text) for a binary message.
    pub fn send_binary<M: Masking>(
        &mut self,
        connection: &mut Connection<M>,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.send(connection, Payload::Binary(data), out)
    }

    /// Compress the payload of one whole message into `out` as permessage-deflate sends it
    /// (RFC 7692 §7.2.1: raw DEFLATE, flushed to a byte boundary, its trailing
    /// `00 00 ff ff` removed), for [`Connection::send_compressed`]; returns the compressed
    /// length. `None` when the message should go out uncompressed: under the threshold,
    /// over the window the peer allowed, not smaller compressed, or too large for `out`
    /// (then nothing of it stays in the compressor's context).
    ///
    /// This is how one message is compressed once for many connections: when the
    /// compressor takes no context over (made for a side that negotiated
    /// `send_no_context_takeover`), what it returns stands on its own, so the same bytes
    /// can be sent with [`Connection::send_compressed`] on every connection that
    /// negotiated permessage-deflate, as long as the message is no longer than the window
    /// that connection allows us ([`DeflateParams::send_window_bits`]; any message when it
    /// is 15 bits).
    pub fn compress(&mut self, payload: &[u8], out: &mut [u8]) -> Option<usize> {
        if payload.len() < self.threshold || payload.len() > self.max_len {
            return None;
        }
        let (status, used, written) = compress(&mut self.state, payload, out, TDEFLFlush::Sync);
        // RFC 7692 §7.2.1: the sync flush ends in an empty stored block, 00 00 ff ff,
        // which is removed.
        let complete = status == TDEFLStatus::Okay
            && used == payload.len()
            && written >= 4
            && out[written - 4..written] == [0, 0, 0xff, 0xff];
        let len = written.saturating_sub(4);
        if !complete || (len >= payload.len() && self.threshold != 0) {
            // Not smaller, or not all of it fit: the peer never sees this output, so the
            // state must forget it too.
            self.state.reset();
            return None;
        }
        if self.reset_each_message {
            self.state.reset();
        }
        Some(len)
    }

    fn send<M: Masking>(
        &mut self,
        connection: &mut Connection<M>,
        message: Payload<'_>,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let (kind, payload) = match message {
            Payload::Text(text) => (MessageKind::Text, text.as_bytes()),
            Payload::Binary(data) => (MessageKind::Binary, data),
        };
        if payload.len() < self.threshold || payload.len() > self.max_len {
            return plain(connection, message, out);
        }
        connection.check_compressed_send()?;
        // Compress right after the longest header this payload could need; the header
        // goes in front (and the payload moves up if the header is shorter).
        let at = compressed_header_len(M::ROLE, payload.len());
        let compressed = match out.get_mut(at..) {
            Some(room) => self.compress(payload, room),
            None => None,
        };
        match compressed {
            Some(len) => connection.finish_compressed(kind, out, at, len),
            None => plain(connection, message, out),
        }
    }
}

/// The compression level by default (of 0-9): zlib's default too.
const DEFAULT_LEVEL: u8 = 6;

/// A raw DEFLATE state (no zlib header: RFC 7692 §7.2.1) at `level`, with the fixed codes
/// forced or not.
fn deflate_state(level: u8, fixed_codes: bool) -> Box<CompressorOxide> {
    let mut flags = create_comp_flags_from_zip_params(i32::from(level), -15, 0);
    if fixed_codes {
        flags |= TDEFL_FORCE_ALL_STATIC_BLOCKS;
    }
    Box::new(CompressorOxide::new(flags))
}

#[derive(Clone, Copy)]
enum Payload<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

fn plain<M: Masking>(
    connection: &mut Connection<M>,
    message: Payload<'_>,
    out: &mut [u8],
) -> Result<usize, SendError> {
    match message {
        Payload::Text(text) => connection.send_text(text, out),
        Payload::Binary(data) => connection.send_binary(data, out),
    }
}
