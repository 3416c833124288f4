//! The receive path: frame headers checked against every rule of RFC 6455 §5, payload
//! unmasked in place and handed out as borrowed slices, text validated as it arrives.

use super::{Connection, Masking, OwedPong, Role, State, Timer};
use crate::close::CloseFrame;
use crate::error::{ProtocolError, UsageError};
use crate::event::{Chunk, Event, MessageKind, Received};
use crate::frame::{FrameHeader, OpCode, apply_mask, apply_mask_short};
use crate::target::COMPACT_CODE;
use crate::time::Instant;
use crate::utf8::{self, Utf8Validator};

/// Text is unmasked and validated this many bytes at a time, so that each block is
/// validated while it is still in the cache (one pass over memory, not two).
const TEXT_BLOCK: usize = 16 * 1024;

/// Where the receive side stands between calls: the data frame being read, and the
/// message it belongs to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FrameProgress {
    /// Payload bytes of that frame still to come.
    remaining: u64,
    /// Payload bytes announced so far for the open message (checked against the limit).
    message_len: u64,
    /// A data frame's header was read and its payload is not finished.
    in_frame: bool,
    /// FIN of that frame.
    fin: bool,
    /// Its masking key, if masked.
    mask: Option<[u8; 4]>,
    /// Where in the masking key the next payload byte of that frame falls: the bytes
    /// already read, modulo 4 (§5.3).
    mask_offset: u8,
    /// The message that is open (its first frame arrived, its last has not).
    message: Option<MessageKind>,
    /// A piece of the open message was handed out.
    delivered: bool,
    /// UTF-8 state of the open text message.
    utf8: Utf8Validator,
    /// The open message is compressed (RSV1 on its first frame, RFC 7692 §6): its payload
    /// is handed out as `Event::Compressed`, neither validated nor counted against the
    /// message limit here (the inflater does both on the inflated bytes).
    compressed: bool,
    /// Whole text messages are handed out unchecked, for the driver to check once (set
    /// for the connection's life, not per frame).
    pub(super) defer_text_check: bool,
}

/// RSV1: the "Per-Message Compressed" bit of permessage-deflate (RFC 7692 §6).
const RSV1: u8 = 0b100;

/// The largest frame of a compressed message: DEFLATE makes incompressible data a little
/// larger (5 bytes per stored block of up to 64 KiB), so a message within
/// `max_frame_len` once inflated may come in a frame slightly over it. A 1/256 margin
/// (plus 64 bytes) covers any encoder's stored blocks; the inflated bytes are held to
/// `max_message_len` by the inflater.
fn compressed_frame_limit(max_frame_len: u64) -> u64 {
    max_frame_len.saturating_add(max_frame_len / 256 + 64)
}

#[inline]
fn unmask(payload: &mut [u8], mask: Option<[u8; 4]>, offset: u8) {
    if let Some(key) = mask {
        apply_mask(payload, key, usize::from(offset));
    }
}

/// The mask offset after `len` more bytes.
#[inline]
fn next_mask_offset(offset: u8, len: usize) -> u8 {
    ((usize::from(offset) + len) % 4) as u8
}

impl<M: Masking> Connection<M> {
    /// Read at most one event from `input`. The most common frame, a small whole message,
    /// is handled here, inlined into the caller's loop; everything else goes through
    /// [`receive_general`](Self::receive_general). A violation fails the connection and
    /// comes back as [`Event::Failed`], its Close queued.
    ///
    /// It returns the `Result` that [`Endpoint::receive`](crate::Endpoint::receive) returns
    /// (never an `Err`), built in place: converting between result types on this path
    /// costs the small-message rate a fifth.
    #[inline(always)]
    pub(crate) fn receive_frames<'b, R, S, H>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b, Event<'b, R, S, H>>, UsageError> {
        // Bare-metal targets, where flash is scarce, take the general path for every frame.
        if !COMPACT_CODE && self.state == State::Open {
            if let Some((kind, header_len, len)) = self.small_whole_message(input) {
                self.arm_keep_alive(now);
                return self.deliver_small(input, kind, header_len, len);
            }
        }
        Ok(self.receive_general(input, now))
    }

    /// [`fail`](Self::fail), out of the way of the small-message path.
    #[cold]
    #[inline(never)]
    fn fail_cold<'b, R, S, H>(
        &mut self,
        violation: ProtocolError,
        input_len: usize,
    ) -> Received<'b, Event<'b, R, S, H>> {
        self.fail(violation, input_len)
    }

    /// Every frame but a small whole message. Never inlined, so that
    /// [`receive_frames`](Self::receive_frames) stays small enough to inline into the
    /// caller's loop.
    #[inline(never)]
    fn receive_general<'b, R, S, H>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Received<'b, Event<'b, R, S, H>> {
        if !matches!(self.state, State::Open | State::LocalClosing) {
            // §7.1.1, §7.1.7: nothing is read after the peer's Close or after a failure.
            return Received::without_event(input.len());
        }
        let input_len = input.len();
        match self.read_frames(input, now) {
            Ok(received) => {
                if received.consumed > 0 {
                    self.arm_keep_alive(now);
                }
                received
            }
            Err(violation) => self.fail(violation, input_len),
        }
    }

    /// Read frames from `input` until one yields an event or the input runs out.
    fn read_frames<'b, R, S, H>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b, Event<'b, R, S, H>>, ProtocolError> {
        let mut consumed = 0;
        loop {
            if !self.frame.in_frame {
                let Some((header, header_len)) = FrameHeader::decode(&input[consumed..])? else {
                    return Ok(Received::without_event(consumed));
                };
                self.check_header(&header)?;
                // §5.2: a 64-bit length is never truncated; on a platform that cannot
                // address it, the frame is too big (1009).
                let len = usize::try_from(header.payload_len)
                    .map_err(|_| ProtocolError::FrameTooLarge)?;
                let start = consumed + header_len;
                let whole = input.len() - start >= len;
                if header.opcode.is_control() {
                    // Control frames are at most 125 bytes (§5.5): wait until one is whole.
                    if !whole {
                        return Ok(Received::without_event(consumed));
                    }
                    let payload = &mut input[start..start + len];
                    unmask(payload, header.mask, 0);
                    let event = self.on_control(header.opcode, payload, now)?;
                    return Ok(Received {
                        consumed: start + len,
                        event: Some(event),
                        place: crate::event::Place::INPUT,
                        borrow: core::marker::PhantomData,
                    });
                }
                if whole && header.fin && header.opcode != OpCode::Continuation {
                    // A message in one frame, all of it in the input: hand it out whole.
                    let payload = &mut input[start..start + len];
                    unmask(payload, header.mask, 0);
                    if header.rsv != 0 {
                        // Compressed (RFC 7692 §6): for the inflater, as one piece.
                        let chunk = Chunk {
                            kind: self.message_kind(header.opcode),
                            data: payload,
                            first: true,
                            last: true,
                        };
                        return Ok(Received {
                            consumed: start + len,
                            event: Some(Event::Compressed(chunk)),
                            place: crate::event::Place::INPUT,
                            borrow: core::marker::PhantomData,
                        });
                    }
                    let kind = self.message_kind(header.opcode);
                    if kind == MessageKind::Text && self.frame.defer_text_check {
                        return Ok(Received::unchecked_text(start + len, payload));
                    }
                    let event = match kind {
                        MessageKind::Binary => Event::Binary(payload),
                        MessageKind::Text => Event::Text(
                            utf8::validate_whole(payload)
                                .map_err(|_| ProtocolError::InvalidUtf8)?,
                        ),
                    };
                    return Ok(Received {
                        consumed: start + len,
                        event: Some(event),
                        place: crate::event::Place::INPUT,
                        borrow: core::marker::PhantomData,
                    });
                }
                self.begin_data_frame(&header);
                consumed = start;
            }

            // The payload of an open data frame, as much as the input holds.
            let available = (input.len() - consumed) as u64;
            let take = self.frame.remaining.min(available) as usize;
            let frame_done = take as u64 == self.frame.remaining;
            if !frame_done && take == 0 {
                return Ok(Received::without_event(consumed));
            }
            let last = frame_done && self.frame.fin;
            if take == 0 && !last {
                // An empty non-final frame (legal, §5.4): nothing to hand out.
                self.frame.in_frame = false;
                continue;
            }
            let chunk = &mut input[consumed..consumed + take];
            self.read_payload(chunk)?;
            consumed += take;
            let kind = self.frame.message.unwrap_or(MessageKind::Binary);
            let first = !self.frame.delivered;
            self.frame.delivered = true;
            if frame_done {
                self.frame.in_frame = false;
            }
            let compressed = self.frame.compressed;
            if last {
                if kind == MessageKind::Text && !compressed {
                    // §8.1: a message may not end inside a character.
                    self.frame
                        .utf8
                        .finish()
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                self.frame.message = None;
            }
            let chunk = Chunk {
                kind,
                data: chunk,
                first,
                last,
            };
            let event = if compressed {
                Event::Compressed(chunk)
            } else {
                Event::Chunk(chunk)
            };
            return Ok(Received {
                consumed,
                event: Some(event),
                place: crate::event::Place::INPUT,
                borrow: core::marker::PhantomData,
            });
        }
    }

    /// The most common frame, decided from its first two bytes: a whole Text or Binary
    /// message (FIN set, no RSV bit) of at most 125 bytes, masked exactly when the role
    /// requires it, with no message open and the whole frame in the input. Every rule of
    /// [`check_header`](Self::check_header) holds by construction (a 7-bit length is
    /// minimal and within any sane limit, which is still checked); anything else returns
    /// `None` and takes the general path.
    #[inline]
    fn small_whole_message(&self, input: &[u8]) -> Option<(MessageKind, usize, usize)> {
        let &[b0, b1, ..] = input else {
            return None;
        };
        let kind = match b0 {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return None,
        };
        let masked = b1 & 0x80 != 0;
        let len = usize::from(b1 & 0x7F);
        let header_len = if masked { 6 } else { 2 };
        let usable = !self.in_message_or_frame()
            && masked == (M::ROLE == Role::Server)
            && len <= 125
            && len as u64 <= self.max_frame_len.min(self.max_message_len)
            && input.len() >= header_len + len;
        usable.then_some((kind, header_len, len))
    }

    /// Unmask and hand out a frame that [`small_whole_message`](Self::small_whole_message)
    /// accepted.
    #[inline(always)]
    fn deliver_small<'b, R, S, H>(
        &mut self,
        input: &'b mut [u8],
        kind: MessageKind,
        header_len: usize,
        len: usize,
    ) -> Result<Received<'b, Event<'b, R, S, H>>, UsageError> {
        let input_len = input.len();
        let (header, rest) = input.split_at_mut(header_len);
        let payload = &mut rest[..len];
        if let [_, _, k0, k1, k2, k3] = *header {
            apply_mask_short(payload, [k0, k1, k2, k3]);
        }
        let event = match kind {
            MessageKind::Binary => Event::Binary(payload),
            MessageKind::Text if self.frame.defer_text_check => {
                return Ok(Received::unchecked_text(header_len + len, payload));
            }
            MessageKind::Text => match utf8::validate_whole(payload) {
                Ok(text) => Event::Text(text),
                Err(_) => return Ok(self.fail_cold(ProtocolError::InvalidUtf8, input_len)),
            },
        };
        Ok(Received {
            consumed: header_len + len,
            event: Some(event),
            place: crate::event::Place::INPUT,
            borrow: core::marker::PhantomData,
        })
    }

    #[inline]
    fn in_message_or_frame(&self) -> bool {
        self.frame.in_frame || self.frame.message.is_some()
    }

    /// Every rule a header must meet before any of its payload is accepted.
    #[inline]
    fn check_header(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // §5.2: an RSV bit only with an extension that defines it.
        if header.rsv != 0 {
            self.check_rsv(header)?;
        }
        // §5.1: client-to-server frames are masked, server-to-client frames are not.
        match (M::ROLE, header.mask) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        if header.opcode.is_control() {
            // FIN and the 125-byte limit were checked by the decoder (§5.5).
            return Ok(());
        }
        // §5.4: continuation only inside a message; a new message only outside one.
        match (header.opcode, self.frame.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::MessageInterrupted);
            }
            _ => {}
        }
        let (open_len, compressed) = if header.opcode == OpCode::Continuation {
            (self.frame.message_len, self.frame.compressed)
        } else {
            (0, header.rsv != 0)
        };
        let frame_limit = if compressed {
            compressed_frame_limit(self.max_frame_len)
        } else {
            self.max_frame_len
        };
        if header.payload_len > frame_limit {
            return Err(ProtocolError::FrameTooLarge);
        }
        // A compressed message's limit applies to its inflated bytes, in the inflater.
        if !compressed && open_len.saturating_add(header.payload_len) > self.max_message_len {
            return Err(ProtocolError::MessageTooLarge);
        }
        Ok(())
    }

    /// RSV1 is allowed only when permessage-deflate was negotiated, and only on the first
    /// frame of a data message (RFC 7692 §6, §6.1); RSV2 and RSV3 never (RFC 6455 §5.2).
    #[cold]
    #[inline(never)]
    fn check_rsv(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let first_data_frame = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        if header.rsv == RSV1 && self.deflate != 0 && first_data_frame {
            Ok(())
        } else {
            Err(ProtocolError::ReservedBitsSet)
        }
    }

    /// The kind of the message a checked data frame belongs to. Out of line on bare-metal
    /// targets, where inlining it into its three callers cost 86 bytes of flash
    /// (`benches/flash`).
    #[cfg_attr(target_os = "none", inline(never))]
    #[cfg_attr(not(target_os = "none"), inline)]
    fn message_kind(&self, opcode: OpCode) -> MessageKind {
        match opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            _ => self.frame.message.unwrap_or(MessageKind::Binary),
        }
    }

    /// Record a checked data frame header whose payload is read piece by piece.
    fn begin_data_frame(&mut self, header: &FrameHeader) {
        let kind = self.message_kind(header.opcode);
        let frame = &mut self.frame;
        if header.opcode != OpCode::Continuation {
            frame.message = Some(kind);
            frame.message_len = 0;
            frame.delivered = false;
            frame.utf8.reset();
            frame.compressed = header.rsv != 0;
        }
        frame.message_len += header.payload_len;
        frame.in_frame = true;
        frame.fin = header.fin;
        frame.mask = header.mask;
        frame.remaining = header.payload_len;
        frame.mask_offset = 0;
    }

    /// Unmask a piece of the open frame in place and, for text, validate it (§8.1: fail
    /// as soon as an invalid sequence is seen, even mid-frame).
    fn read_payload(&mut self, chunk: &mut [u8]) -> Result<(), ProtocolError> {
        let frame = &mut self.frame;
        let text = frame.message == Some(MessageKind::Text) && !frame.compressed;
        if text && !COMPACT_CODE && chunk.len() > TEXT_BLOCK {
            // A large piece of text, block by block (hosts; bare-metal targets read small
            // pieces, and save the loop's flash).
            for block in chunk.chunks_mut(TEXT_BLOCK) {
                unmask(block, frame.mask, frame.mask_offset);
                frame.mask_offset = next_mask_offset(frame.mask_offset, block.len());
                frame
                    .utf8
                    .feed(block)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        } else {
            unmask(chunk, frame.mask, frame.mask_offset);
            frame.mask_offset = next_mask_offset(frame.mask_offset, chunk.len());
            if text {
                frame
                    .utf8
                    .feed(chunk)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        frame.remaining -= chunk.len() as u64;
        Ok(())
    }

    /// Payload bytes of the open data frame still to come, when the caller may read them
    /// straight into its own storage ([`receive_payload`](Self::receive_payload)): an
    /// uncompressed data frame is open on a connection that still reads (0 otherwise). A
    /// compressed message's bytes go through the inflater, from the input (RFC 7692).
    pub(crate) fn payload_remaining(&self) -> u64 {
        let reading = matches!(self.state, State::Open | State::LocalClosing);
        if reading && self.frame.in_frame && !self.frame.compressed {
            self.frame.remaining
        } else {
            0
        }
    }

    /// The next `payload.len()` bytes of the open data frame, read by the caller straight
    /// into its own storage: unmasked there in place, the mask offset continuing (§5.3),
    /// text validated as it arrives (§8.1, the streaming state kept), the frame and the
    /// message advanced as [`receive`](crate::Endpoint::receive) advances them. The next
    /// frame's header comes from the input as usual. Returns the piece as the
    /// [`Event::Chunk`] `receive` would have handed out, borrowing `payload`, or
    /// [`Event::Failed`] once the connection failed (its Close queued).
    ///
    /// [`UsageError::NoPayloadSpace`], nothing changed, for more bytes than
    /// [`payload_remaining`](Self::payload_remaining) allows (or none).
    pub(crate) fn receive_payload<'a, R, S, H>(
        &mut self,
        payload: &'a mut [u8],
        now: Instant,
    ) -> Result<Event<'a, R, S, H>, UsageError> {
        let remaining = self.payload_remaining();
        if payload.is_empty() || payload.len() as u64 > remaining {
            return Err(UsageError::NoPayloadSpace);
        }
        if let Err(violation) = self.read_payload(payload) {
            self.fail_with(violation);
            return Ok(Event::Failed(violation));
        }
        self.arm_keep_alive(now);
        let frame_done = self.frame.remaining == 0;
        let last = frame_done && self.frame.fin;
        let kind = self.frame.message.unwrap_or(MessageKind::Binary);
        let first = !self.frame.delivered;
        self.frame.delivered = true;
        if frame_done {
            self.frame.in_frame = false;
        }
        if last {
            // §8.1: a message may not end inside a character.
            if kind == MessageKind::Text && self.frame.utf8.finish().is_err() {
                self.fail_with(ProtocolError::InvalidUtf8);
                return Ok(Event::Failed(ProtocolError::InvalidUtf8));
            }
            self.frame.message = None;
        }
        Ok(Event::Chunk(Chunk {
            kind,
            data: payload,
            first,
            last,
        }))
    }

    /// A whole, unmasked control frame (§5.5).
    fn on_control<'b, R, S, H>(
        &mut self,
        opcode: OpCode,
        payload: &'b [u8],
        now: Instant,
    ) -> Result<Event<'b, R, S, H>, ProtocolError> {
        match opcode {
            OpCode::Close => {
                let frame = CloseFrame::parse(payload)?;
                self.on_close_received(frame.code, now);
                Ok(Event::Close(frame))
            }
            OpCode::Ping => {
                // §5.5.2: answer with a Pong carrying the same payload, unless our Close
                // is already sent (§5.5.1: nothing after it).
                if self.auto_pong && self.state == State::Open {
                    self.pong_owed = Some(OwedPong::of(payload));
                }
                Ok(Event::Ping(payload))
            }
            // Pong, the only control opcode left (§5.5.3).
            _ => {
                // The answer to our keep-alive Ping re-arms the keep-alive timer (the only
                // timer while Open; once closing, the close deadline is left alone).
                if self.awaiting_pong && payload == self.ping_counter.to_be_bytes() {
                    self.awaiting_pong = false;
                    if self.state == State::Open {
                        self.deadline = Timer::UNSET;
                        self.arm_keep_alive(now);
                    }
                }
                Ok(Event::Pong(payload))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::endpoint::Endpoint;
    use crate::frame::apply_mask;
    use std::vec::Vec;

    /// A text frame as a client sends it (masked, FIN set) carrying `payload`.
    fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
        let key = [0x37, 0xFA, 0x21, 0x3D];
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Text,
            mask: Some(key),
            payload_len: payload.len() as u64,
        };
        let mut frame = std::vec![0; header.encoded_len()];
        header.encode(&mut frame).unwrap();
        let start = frame.len();
        frame.extend_from_slice(payload);
        apply_mask(&mut frame[start..], key, 0);
        frame
    }

    /// `frame` fed to a server connection `piece` bytes at a time: the text handed out in
    /// chunks, joined, once its last chunk came; or the violation that failed it, with how
    /// many bytes of text had been handed out.
    fn receive_in_pieces(frame: &[u8], piece: usize) -> Result<Vec<u8>, (ProtocolError, usize)> {
        let config = Config::DEFAULT
            .with_max_frame_len(1 << 20)
            .with_max_message_len(1 << 20);
        let mut connection = Connection::server(&config, Instant::ZERO);
        let mut input = Vec::new();
        let mut start = 0;
        let mut text = Vec::new();
        for part in frame.chunks(piece) {
            input.extend_from_slice(part);
            loop {
                let received = connection
                    .receive(&mut input[start..], Instant::ZERO)
                    .unwrap();
                start += received.consumed;
                match received.event {
                    Some(Event::Chunk(chunk)) => {
                        assert_eq!(chunk.kind, MessageKind::Text);
                        text.extend_from_slice(chunk.data);
                        if chunk.last {
                            return Ok(text);
                        }
                    }
                    Some(Event::Failed(violation)) => return Err((violation, text.len())),
                    None => break,
                    Some(other) => panic!("unexpected {other:?}"),
                }
            }
        }
        panic!("the message did not end");
    }

    /// Text read in pieces larger than a validation block (validated block by block on
    /// hosts) and smaller (in one go, as bare-metal targets do every piece): characters
    /// split across blocks and pieces are accepted, an invalid byte deep in the frame
    /// fails it before the piece holding it is handed out, and a message ending inside
    /// a character fails it (§8.1).
    #[test]
    fn text_in_large_and_small_pieces_is_validated_across_blocks() {
        let text: Vec<u8> = "aé€😀".repeat(5_000).into_bytes();
        assert!(text.len() > 3 * TEXT_BLOCK);
        let mut invalid = text.clone();
        let bad = 2 * TEXT_BLOCK + 1_001;
        invalid[bad] = 0xFF;
        // The last character, cut short by a byte.
        let truncated = &text[..text.len() - 1];
        for piece in [TEXT_BLOCK + 3_001, 3 * TEXT_BLOCK, 999, 4_096] {
            assert_eq!(
                receive_in_pieces(&masked_text_frame(&text), piece).as_deref(),
                Ok(&text[..]),
                "pieces of {piece}"
            );
            let failed = receive_in_pieces(&masked_text_frame(&invalid), piece);
            assert!(
                matches!(failed, Err((ProtocolError::InvalidUtf8, before)) if before <= bad),
                "pieces of {piece}: {failed:?}"
            );
            let failed = receive_in_pieces(&masked_text_frame(truncated), piece);
            assert!(
                matches!(failed, Err((ProtocolError::InvalidUtf8, _))),
                "pieces of {piece}: {failed:?}"
            );
        }
    }
}
