//! Receiving compressed messages (RFC 7692 §6.2, §7.2.2): an [`Inflater`] in caller-owned
//! storage between the caller and the endpoint.

use core::fmt;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{
    DecompressorOxide, decompress_with_limit, inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
};

use super::{DeflateParams, MAX_WINDOW_BITS};
use crate::connection::{Connection, Masking};
use crate::endpoint::Endpoint;
use crate::error::{ProtocolError, UsageError};
use crate::event::{Chunk, Event, EventOf, MessageKind, Received};
use crate::time::Instant;
use crate::utf8::{self, Utf8Validator};

/// RFC 7692 §7.2.2: the receiver appends these 4 octets (an empty stored block, which the
/// sender removed) to a message's payload before inflating it.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The window an inflater needs for a peer that compresses with `bits` window bits:
/// 2^bits bytes (8 to 15 bits: 256 B to 32 KiB).
pub const fn window_len(bits: u8) -> usize {
    let bits = if bits > MAX_WINDOW_BITS {
        MAX_WINDOW_BITS
    } else {
        bits
    };
    1 << bits
}

/// Inflates the compressed messages of one connection as they stream in, without
/// allocating: the LZ77 window is the caller's storage `W` (an array, a `Vec`, a `&mut
/// [u8]`, a power of two of at least [`window_len`] of the negotiated window bits), and the
/// decompressor state (about 11 KB) lives in this value. With `receive_no_context_takeover`
/// negotiated the window is still needed during a message (the input may stop anywhere).
///
/// Drive the endpoint through [`receive`](Self::receive) instead of
/// [`Endpoint::receive`]: every event passes through unchanged, except
/// [`Event::Compressed`] pieces, which come out inflated as [`Event::Text`],
/// [`Event::Binary`] (a message inflated in one piece) or [`Event::Chunk`] (the pieces of
/// any other), borrowing the window. The UTF-8 check and the configured
/// [`max_message_len`](crate::Config::max_message_len) apply to the inflated bytes: a
/// decompression bomb fails with 1009 as soon as it passes the limit; data that is not
/// valid DEFLATE fails with 1007 (RFC 6455 §7.4.1: data inconsistent with the message); both
/// through the connection, as [`Event::Failed`] with the Close queued for `poll_transmit`.
///
/// One compressed piece may inflate to more than the window holds: then `consumed` stops
/// short of the end of that piece, and the next call must start with the rest of it, as
/// any caller that keeps unconsumed input (an [`InputBuffer`](crate::InputBuffer)) does;
/// a call that does not gets [`UsageError::InputNotKept`].
pub struct Inflater<W> {
    decompressor: DecompressorOxide,
    window: W,
    /// Where the next inflated byte goes in the window (it wraps).
    pos: usize,
    /// Compressed bytes at the start of the caller's next input that the connection
    /// already handed out (unmasked) but that are not inflated yet.
    pending: usize,
    /// Those bytes end the message: the tail follows them.
    pending_last: bool,
    /// How much of [`TAIL`] was fed once the message's compressed bytes were all in.
    tail_fed: u8,
    /// The decompressor has output it could not write (the window's end was reached).
    owed_output: bool,
    /// The message being inflated.
    message: Option<MessageKind>,
    /// A piece of it was handed out.
    delivered: bool,
    inflated: u64,
    max_message_len: u64,
    reset_each_message: bool,
    utf8: Utf8Validator,
}

impl<W> fmt::Debug for Inflater<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("message", &self.message)
            .field("inflated", &self.inflated)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflater<W> {
    /// An inflater for `connection`, whose handshake negotiated permessage-deflate (else
    /// [`UsageError::DeflateNotNegotiated`]), with `window` as its LZ77 window: a power of
    /// two of at least 2^bits bytes for the window bits the peer compresses with
    /// ([`DeflateParams::receive_window_bits`]), else [`UsageError::InvalidDeflateWindow`].
    /// The message limit is the connection's.
    pub fn new<M: Masking>(connection: &Connection<M>, window: W) -> Result<Self, UsageError> {
        let params = connection
            .deflate()
            .ok_or(UsageError::DeflateNotNegotiated)?;
        Inflater::with_params(&params, M::ROLE, window, connection.max_message_len())
    }

    /// An inflater for a connection of `role` with `params`, failing messages that inflate
    /// to more than `max_message_len` bytes.
    pub fn with_params(
        params: &DeflateParams,
        role: crate::Role,
        window: W,
        max_message_len: u64,
    ) -> Result<Self, UsageError> {
        let len = window.as_ref().len();
        if !len.is_power_of_two() || len < window_len(params.receive_window_bits(role)) {
            return Err(UsageError::InvalidDeflateWindow);
        }
        Ok(Inflater {
            decompressor: DecompressorOxide::new(),
            window,
            pos: 0,
            pending: 0,
            pending_last: false,
            tail_fed: 0,
            owed_output: false,
            message: None,
            delivered: false,
            inflated: 0,
            max_message_len,
            reset_each_message: params.receive_no_context_takeover(role),
            utf8: Utf8Validator::new(),
        })
    }

    /// The window: the latest inflated bytes (the data of the last event it handed out
    /// lies here).
    pub fn window(&self) -> &[u8] {
        self.window.as_ref()
    }

    /// The storage given as the window, back.
    pub fn into_window(self) -> W {
        self.window
    }

    /// Whether the inflater has more to hand out before it needs new input (inflated
    /// output that did not fit the window, or the end of a message): then call
    /// [`receive`](Self::receive) again even if no byte arrived (with the input it left
    /// unconsumed, possibly empty) before waiting for the transport.
    pub fn has_pending(&self) -> bool {
        self.busy()
    }

    /// Whether a compressed message is partly inflated: its next pieces must go through
    /// this same inflater.
    ///
    /// Between messages, an inflater for a peer that takes no context over
    /// ([`DeflateParams::receive_no_context_takeover`]) holds nothing of its connection: it
    /// can serve another connection with the same parameters and message limit. A thread
    /// serving many such connections can share one inflater and give a connection one of
    /// its own only while one of its messages is half-read (the chat example does this).
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// A message is being inflated from bytes the connection already handed out, or owes
    /// output: the next call inflates before reading anything new.
    fn busy(&self) -> bool {
        self.pending != 0 || self.owed_output || (self.pending_last && self.tail_fed < 4)
    }

    /// [`Endpoint::receive`] through the inflater: see the type's documentation.
    pub fn receive<'b, E: Endpoint + ?Sized>(
        &'b mut self,
        endpoint: &mut E,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b, EventOf<'b, E::Phase>>, UsageError> {
        let input_len = input.len();
        if self.busy() {
            if input_len < self.pending {
                return Err(UsageError::InputNotKept);
            }
            let pending = self.pending;
            let compressed: &'b [u8] = &input[..pending];
            return Ok(self.inflate(endpoint, compressed, 0, input_len));
        }
        let received = endpoint.receive(input, now)?;
        match received.event {
            Some(Event::Compressed(chunk)) => {
                if chunk.first {
                    self.begin(chunk.kind);
                }
                self.pending = chunk.data.len();
                self.pending_last = chunk.last;
                let before = received.consumed - chunk.data.len();
                Ok(self.inflate(endpoint, chunk.data, before, input_len))
            }
            _ => Ok(received),
        }
    }

    fn begin(&mut self, kind: MessageKind) {
        self.message = Some(kind);
        self.delivered = false;
        self.inflated = 0;
        self.tail_fed = 0;
        self.utf8.reset();
    }

    /// Forget the message (after it ended or failed).
    fn end(&mut self) {
        self.message = None;
        self.pending = 0;
        self.pending_last = false;
        self.tail_fed = 0;
        self.owed_output = false;
        if self.reset_each_message {
            // The peer takes no context over (RFC 7692 §7.1.1): start afresh.
            self.decompressor.init();
        }
    }

    /// Fail the connection with `error`: the Close is queued by the connection.
    fn fail<'b, E: Endpoint + ?Sized>(
        &mut self,
        endpoint: &mut E,
        error: ProtocolError,
        input_len: usize,
    ) -> Received<'b, EventOf<'b, E::Phase>> {
        self.end();
        self.decompressor.init();
        match endpoint.connection() {
            Ok(connection) => connection.fail(error, input_len),
            Err(_) => Received {
                consumed: input_len,
                event: Some(Event::Failed(error)),
                place: crate::event::Place::INPUT,
                borrow: core::marker::PhantomData,
            },
        }
    }

    /// Inflate from `compressed` (the pending bytes, which start `before` bytes into the
    /// caller's input) until some output or the message's end can be handed out.
    fn inflate<'b, E: Endpoint + ?Sized>(
        &'b mut self,
        endpoint: &mut E,
        compressed: &'b [u8],
        before: usize,
        input_len: usize,
    ) -> Received<'b, EventOf<'b, E::Phase>> {
        let kind = self.message.unwrap_or(MessageKind::Binary);
        let mut used_total = 0;
        let window_len = self.window.as_ref().len();
        let mask = window_len - 1;
        // The piece handed out: the output of one or more calls, contiguous in the window.
        let piece_start = self.pos;
        let mut piece_len = 0;
        loop {
            let feeding_tail = self.pending == 0;
            let source: &[u8] = if !feeding_tail {
                &compressed[used_total..]
            } else if self.pending_last && self.tail_fed < 4 {
                &TAIL[usize::from(self.tail_fed)..]
            } else if self.owed_output {
                &[]
            } else {
                // This piece is all in and nothing came out of it: an empty piece, so that
                // the rest of the input is read on the next call.
                let first = !self.delivered;
                self.delivered = true;
                return Received {
                    consumed: before + used_total,
                    event: Some(Event::Chunk(Chunk {
                        kind,
                        data: &[],
                        first,
                        last: false,
                    })),
                    place: crate::event::Place::INPUT,
                    borrow: core::marker::PhantomData,
                };
            };
            // One byte past the limit is enough to know it was passed (RFC 6455 §10.4).
            let room = self.max_message_len.saturating_sub(self.inflated);
            let out_max = usize::try_from(room.saturating_add(1)).unwrap_or(usize::MAX);
            let (status, used, written) = decompress_with_limit(
                &mut self.decompressor,
                source,
                self.window.as_mut(),
                self.pos,
                out_max,
                TINFL_FLAG_HAS_MORE_INPUT,
            );
            if feeding_tail {
                self.tail_fed += used as u8;
            } else {
                used_total += used;
                self.pending -= used;
            }
            self.pos = (self.pos + written) & mask;
            piece_len += written;
            self.inflated += written as u64;
            if self.inflated > self.max_message_len {
                return self.fail(endpoint, ProtocolError::MessageTooLarge, input_len);
            }
            self.owed_output = false;
            match status {
                TINFLStatus::HasMoreOutput => self.owed_output = true,
                TINFLStatus::NeedsMoreInput => {}
                // A block with BFINAL set ended the stream (allowed, RFC 7692 §7.2.3.3):
                // what follows starts a new one; the window stays.
                TINFLStatus::Done => self.decompressor.init(),
                // Not DEFLATE, or a distance beyond the window (RFC 7692 §6.2, §7.2.2).
                _ => return self.fail(endpoint, ProtocolError::InvalidCompressedData, input_len),
            }
            if used == 0 && written == 0 && !source.is_empty() && status != TINFLStatus::Done {
                // No progress on input that is there: a stream that cannot go on.
                return self.fail(endpoint, ProtocolError::InvalidCompressedData, input_len);
            }
            let finished = self.pending == 0 && self.pending_last && self.tail_fed == 4;
            let finished = finished && !self.owed_output;
            // Only the tail is left to feed, and its output would follow this piece in the
            // window: go on, so that a message inflated in one call is handed out whole.
            let only_tail_left = self.pending == 0
                && self.pending_last
                && self.tail_fed < 4
                && !self.owed_output
                && piece_start + piece_len < window_len;
            if !finished && (piece_len == 0 || only_tail_left) {
                continue;
            }
            let first = !self.delivered;
            let whole = first && finished;
            if kind == MessageKind::Text && !whole {
                let piece = &self.window.as_ref()[piece_start..piece_start + piece_len];
                let valid =
                    self.utf8.feed(piece).is_ok() && (!finished || self.utf8.finish().is_ok());
                if !valid {
                    return self.fail(endpoint, ProtocolError::InvalidUtf8, input_len);
                }
            }
            self.delivered = true;
            if finished {
                self.end();
            }
            let consumed = before + used_total;
            let piece: &'b [u8] = &self.window.as_ref()[piece_start..piece_start + piece_len];
            if whole && kind == MessageKind::Text && defers_text_check(endpoint) {
                return Received {
                    place: crate::event::Place::window(piece_start, true),
                    ..Received::unchecked_text(consumed, piece)
                };
            }
            let event = match (whole, kind) {
                (true, MessageKind::Binary) => Event::Binary(piece),
                (true, MessageKind::Text) => match utf8::validate_whole(piece) {
                    Ok(text) => Event::Text(text),
                    Err(_) => {
                        return match endpoint.connection() {
                            Ok(connection) => {
                                connection.fail(ProtocolError::InvalidUtf8, input_len)
                            }
                            Err(_) => Received {
                                consumed: input_len,
                                event: Some(Event::Failed(ProtocolError::InvalidUtf8)),
                                place: crate::event::Place::INPUT,
                                borrow: core::marker::PhantomData,
                            },
                        };
                    }
                },
                (false, kind) => Event::Chunk(Chunk {
                    kind,
                    data: piece,
                    first,
                    last: finished,
                }),
            };
            return Received {
                consumed,
                event: Some(event),
                place: crate::event::Place::window(piece_start, false),
                borrow: core::marker::PhantomData,
            };
        }
    }
}

/// Whether the connection behind `endpoint` hands whole text messages out unchecked (a
/// driver checks them once, when it makes the `&str`): inflated ones then go the same way.
fn defers_text_check<E: Endpoint + ?Sized>(endpoint: &mut E) -> bool {
    endpoint
        .connection()
        .is_ok_and(|connection| connection.defers_text_check())
}
