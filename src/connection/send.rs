//! The send path: commands encode frames into the caller's buffer, and the control frames
//! the protocol owes (Pong, Close) come out of `poll_transmit`.

use super::{Connection, Masking, OwedPong, Role, State, Timer};
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::error::{BufferTooSmall, SendError, UsageError};
use crate::event::MessageKind;
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, copy_masked};
use crate::target::COMPACT_CODE;
use crate::time::Instant;

/// What a header-only encode wrote: the header length, and the masking key the caller
/// must apply to the payload (client role) before sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "send the payload after the header, masked with `mask` if there is one"]
pub struct HeaderWritten {
    /// Bytes of header written at the start of the output buffer.
    pub len: usize,
    /// The masking key (client role): mask the payload with
    /// [`frame::apply_mask`](crate::frame::apply_mask) at offset 0 before sending it.
    pub mask: Option<[u8; 4]>,
}

impl MessageKind {
    fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// Write a whole frame (header, then the payload, masked if `mask` is given) at the start
/// of `out`, or nothing if it does not fit.
#[inline]
pub(crate) fn write_frame(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<usize, BufferTooSmall> {
    // Bare-metal targets, where flash is scarce, write every frame the general way.
    if !COMPACT_CODE && payload.len() <= MAX_CONTROL_PAYLOAD {
        write_short_frame(out, fin, opcode, mask, payload)
    } else {
        write_long_frame(out, fin, opcode, mask, payload)
    }
}

/// [`write_frame`] for a payload whose length fits in the 7-bit form (§5.2). Small
/// messages are sent at a rate where the general header encoder and a call to `memcpy`
/// would cost as much as the rest of the send.
#[inline(always)]
fn write_short_frame(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<usize, BufferTooSmall> {
    let header_len = if mask.is_some() { 6 } else { 2 };
    let needed = header_len + payload.len();
    let Some(frame) = out.get_mut(..needed) else {
        return Err(BufferTooSmall { needed });
    };
    let (header, body) = frame.split_at_mut(header_len);
    // At most 125: the caller checked.
    write_short_header(header, fin, opcode, mask, payload.len() as u8)?;
    match mask {
        Some(key) => copy_masked(body, payload, key),
        None => copy_short(body, payload),
    }
    Ok(needed)
}

/// Write the header of a frame whose payload length `len` fits in the 7-bit form (§5.2):
/// two bytes, then the masking key if there is one. Returns the header length.
#[inline(always)]
fn write_short_header(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    len: u8,
) -> Result<usize, BufferTooSmall> {
    debug_assert!(usize::from(len) <= MAX_CONTROL_PAYLOAD);
    let first = (u8::from(fin) << 7) | opcode as u8;
    match mask {
        None => {
            let Some(header) = out.get_mut(..2) else {
                return Err(BufferTooSmall { needed: 2 });
            };
            header.copy_from_slice(&[first, len]);
            Ok(2)
        }
        Some(key) => {
            let Some(header) = out.get_mut(..6) else {
                return Err(BufferTooSmall { needed: 6 });
            };
            header.copy_from_slice(&[first, 0x80 | len, key[0], key[1], key[2], key[3]]);
            Ok(6)
        }
    }
}

/// Copy `src` (at most 125 bytes) into `dst` of the same length with two fixed-size moves
/// that overlap where the length is not their size, instead of a call to `memcpy`, which
/// costs as much as the rest of a small send.
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    debug_assert!(dst.len() == src.len() && src.len() <= MAX_CONTROL_PAYLOAD);
    match src.len() {
        65.. => copy_ends::<64>(dst, src),
        33..=64 => copy_ends::<32>(dst, src),
        16..=32 => copy_ends::<16>(dst, src),
        8..=15 => copy_ends::<8>(dst, src),
        4..=7 => copy_ends::<4>(dst, src),
        2..=3 => copy_ends::<2>(dst, src),
        1 => dst[0] = src[0],
        0 => {}
    }
}

/// Copy the first and the last `N` bytes of `src` (between `N` and `2 * N` bytes long):
/// together they cover all of it.
#[inline(always)]
fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    let tail = src.len() - N;
    dst[..N].copy_from_slice(&src[..N]);
    dst[tail..].copy_from_slice(&src[tail..]);
}

/// [`write_frame`] for any payload length, through the general header encoder.
fn write_long_frame(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<usize, BufferTooSmall> {
    write_frame_parts(out, fin, opcode, mask, payload, &[])
}

/// Write a whole frame whose payload is `head` followed by `tail` (masked if `mask` is
/// given, §5.3) at the start of `out`, through the general header encoder, or nothing if
/// it does not fit. Each part is copied (and masked) once, straight into `out`.
fn write_frame_parts(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    head: &[u8],
    tail: &[u8],
) -> Result<usize, BufferTooSmall> {
    let len = head.len() + tail.len();
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: len as u64,
    };
    let header_len = header.encoded_len();
    let needed = header_len.saturating_add(len);
    if out.len() < needed {
        return Err(BufferTooSmall { needed });
    }
    header
        .encode(out)
        .map_err(|needed| BufferTooSmall { needed })?;
    let (body_head, body_tail) = out[header_len..needed].split_at_mut(head.len());
    match mask {
        // One pass over a message's payload (hosts send large ones): copied and masked
        // together.
        Some(key) if !COMPACT_CODE && tail.is_empty() => copy_masked(body_head, head, key),
        // Both parts copied, then masked in place: on bare-metal targets, the one loop
        // that also unmasks what is received.
        _ => {
            body_head.copy_from_slice(head);
            body_tail.copy_from_slice(tail);
            if let Some(key) = mask {
                crate::frame::apply_mask(&mut out[header_len..needed], key, 0);
            }
        }
    }
    Ok(needed)
}

/// The header length of a frame of `len` payload bytes sent by `role` (RFC 6455 §5.2).
pub(crate) fn compressed_header_len(role: Role, len: usize) -> usize {
    let mask = if role == Role::Client { 4 } else { 0 };
    mask + match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// Write a control frame (§5.5: FIN set, at most 125 bytes of payload) whose payload is
/// `head` followed by `tail` at the start of `out`, or nothing if it does not fit: the
/// payload is put together in `out` itself, so that no caller stages it in an array of its
/// own (flash and stack, on small targets).
fn write_control(
    out: &mut [u8],
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    head: &[u8],
    tail: &[u8],
) -> Result<usize, BufferTooSmall> {
    debug_assert!(head.len() + tail.len() <= MAX_CONTROL_PAYLOAD);
    write_frame_parts(out, true, opcode, mask, head, tail)
}

impl OwedPong {
    pub(super) fn of(payload: &[u8]) -> Self {
        // Byte by byte: no call to an unaligned memset and memcpy (flash, on small
        // targets); at most 125 bytes.
        OwedPong {
            len: payload.len() as u8,
            payload: core::array::from_fn(|i| payload.get(i).copied().unwrap_or(0)),
        }
    }

    /// The payload of the Ping this Pong answers.
    fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

impl<M: Masking> Connection<M> {
    /// Every command needs the connection open (our Close not sent) and no header still
    /// waiting for its payload.
    #[inline]
    fn require_open(&self) -> Result<(), UsageError> {
        if self.payload_pending != 0 {
            return Err(UsageError::PayloadPending);
        }
        match self.state {
            State::Open => Ok(()),
            _ => Err(UsageError::NotOpen),
        }
    }

    /// Encode a whole text message as one frame (§5.6) into `out`; returns the bytes
    /// written.
    #[inline]
    pub fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, SendError> {
        self.send_message(MessageKind::Text, text.as_bytes(), out)
    }

    /// Encode a whole binary message as one frame (§5.6) into `out`.
    #[inline]
    pub fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.send_message(MessageKind::Binary, data, out)
    }

    #[inline]
    fn send_message(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.require_open()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress.into());
        }
        let mask = self.masks.next_key();
        Ok(write_frame(out, true, kind.opcode(), mask, payload)?)
    }

    /// Encode a whole message whose payload `compressed` the caller compressed itself with
    /// permessage-deflate (RFC 7692 §7.2.1: raw DEFLATE, its trailing `00 00 ff ff`
    /// removed) as one frame with RSV1 set (§6). [`UsageError::DeflateNotNegotiated`] when
    /// the handshake did not agree on permessage-deflate. A
    /// [`deflate::Compressor`](crate::deflate) does the compressing too.
    pub fn send_compressed(
        &mut self,
        kind: MessageKind,
        compressed: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_compressed_send()?;
        let header_len = compressed_header_len(M::ROLE, compressed.len());
        let needed = header_len.saturating_add(compressed.len());
        let Some(body) = out.get_mut(header_len..needed) else {
            return Err(SendError::NoRoom { needed });
        };
        body.copy_from_slice(compressed);
        self.finish_compressed(kind, out, header_len, compressed.len())
    }

    /// What [`send_compressed`](Self::send_compressed) needs: an open connection that
    /// negotiated permessage-deflate, with no fragmented message open.
    pub(crate) fn check_compressed_send(&self) -> Result<(), SendError> {
        self.require_open()?;
        if self.deflate == 0 {
            return Err(UsageError::DeflateNotNegotiated.into());
        }
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress.into());
        }
        Ok(())
    }

    /// Finish a compressed frame whose `len` payload bytes the caller already put at
    /// `out[at..]`: move them right after the header if the header is shorter than `at`,
    /// write the header with RSV1 set (RFC 7692 §6) and mask the payload (client).
    /// [`check_compressed_send`](Self::check_compressed_send) passed.
    pub(crate) fn finish_compressed(
        &mut self,
        kind: MessageKind,
        out: &mut [u8],
        at: usize,
        len: usize,
    ) -> Result<usize, SendError> {
        let mask = self.masks.next_key();
        let header = FrameHeader {
            fin: true,
            rsv: 0b100,
            opcode: kind.opcode(),
            mask,
            payload_len: len as u64,
        };
        let header_len = header.encoded_len();
        debug_assert!(header_len <= at);
        if header_len != at {
            out.copy_within(at..at + len, header_len);
        }
        header
            .encode(out)
            .map_err(|needed| BufferTooSmall { needed })?;
        if let Some(key) = mask {
            crate::frame::apply_mask(&mut out[header_len..header_len + len], key, 0);
        }
        Ok(header_len + len)
    }

    /// The opcode of the next data frame of a message of `kind`: the message's own for its
    /// first frame, Continuation after that (§5.4).
    fn next_data_opcode(&self, kind: MessageKind) -> Result<OpCode, UsageError> {
        match self.sending {
            None => Ok(kind.opcode()),
            Some(open) if open == kind => Ok(OpCode::Continuation),
            Some(_) => Err(UsageError::FragmentKindMismatch),
        }
    }

    /// Encode one fragment of a message (RFC 6455 §5.4): the first call opens a message of
    /// `kind`, `last` ends it. Control frames may be sent between fragments. Text
    /// fragments may split characters but must add up to valid UTF-8.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.require_open()?;
        let opcode = self.next_data_opcode(kind)?;
        // We never send invalid UTF-8 either: check on a copy, commit on success.
        let mut utf8 = if opcode == OpCode::Continuation {
            self.send_utf8
        } else {
            crate::utf8::Utf8Validator::new()
        };
        if kind == MessageKind::Text {
            utf8.feed(data).map_err(|_| UsageError::InvalidUtf8)?;
            if last {
                utf8.finish().map_err(|_| UsageError::InvalidUtf8)?;
            }
        }
        let written = write_frame(out, last, opcode, self.masks.next_key(), data)?;
        self.send_utf8 = utf8;
        self.sending = if last { None } else { Some(kind) };
        Ok(written)
    }

    /// Encode only the header of a data frame of `payload_len` bytes; the caller sends the
    /// payload itself right after it (for example in one vectored write, without copying).
    /// A client masks the payload with the returned key
    /// ([`frame::apply_mask`](crate::frame::apply_mask) at offset 0) first.
    ///
    /// Until [`payload_written`](Self::payload_written) accounts for all `payload_len`
    /// bytes, nothing else can reach the wire between the header and its payload: every
    /// command returns [`UsageError::PayloadPending`] and `poll_transmit` defers what is
    /// owed (it writes nothing). Text sent this way is not checked for UTF-8.
    #[inline]
    pub fn send_header(
        &mut self,
        kind: MessageKind,
        payload_len: u64,
        last: bool,
        out: &mut [u8],
    ) -> Result<HeaderWritten, SendError> {
        self.require_open()?;
        let opcode = self.next_data_opcode(kind)?;
        let mask = self.masks.next_key();
        let len = match u8::try_from(payload_len) {
            Ok(short) if usize::from(short) <= MAX_CONTROL_PAYLOAD => {
                write_short_header(out, last, opcode, mask, short)?
            }
            _ => FrameHeader {
                fin: last,
                rsv: 0,
                opcode,
                mask,
                payload_len,
            }
            .encode(out)
            .map_err(|needed| BufferTooSmall { needed })?,
        };
        self.sending = if last { None } else { Some(kind) };
        self.send_utf8.reset();
        self.payload_pending = payload_len;
        Ok(HeaderWritten { len, mask })
    }

    /// Report that `len` bytes of the payload promised by the last
    /// [`send_header`](Self::send_header) went to the transport (all at once or in parts).
    /// Once all of it did, commands and owed frames may be written again.
    /// [`UsageError::PayloadOverrun`] (nothing changes) for more bytes than are owed.
    pub fn payload_written(&mut self, len: u64) -> Result<(), UsageError> {
        self.payload_pending = self
            .payload_pending
            .checked_sub(len)
            .ok_or(UsageError::PayloadOverrun)?;
        Ok(())
    }

    /// Payload bytes promised by the last [`send_header`](Self::send_header) that were not
    /// yet reported written.
    pub fn payload_pending(&self) -> u64 {
        self.payload_pending
    }

    /// Encode a Ping (§5.5.2, at most 125 bytes of payload).
    pub fn ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.send_control(OpCode::Ping, payload, out)
    }

    /// Encode a Pong (§5.5.3, at most 125 bytes): the answer to a Ping when
    /// [`Config::auto_pong`](crate::Config::auto_pong) is off, or an unsolicited heartbeat.
    pub fn pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.send_control(OpCode::Pong, payload, out)
    }

    fn send_control(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.require_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(UsageError::ControlPayloadTooLong.into());
        }
        let written = write_frame(out, true, opcode, self.masks.next_key(), payload)?;
        if opcode == OpCode::Pong {
            // A Pong sent by the application answers any Ping that was waiting.
            self.pong_owed = None;
        }
        Ok(written)
    }

    /// Start the closing handshake (§7.1.2) with `code` and `reason` (at most 123 bytes),
    /// or answer the peer's Close with this code instead of the echo. Any Pong still owed
    /// is written first, in the same buffer. Nothing can be sent afterwards; `now` starts
    /// the close timeout.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if self.payload_pending != 0 {
            return Err(UsageError::PayloadPending.into());
        }
        if !matches!(self.state, State::Open | State::RemoteClosing) {
            return Err(UsageError::NotOpen.into());
        }
        if !code.is_allowed_on_wire() {
            return Err(UsageError::InvalidCloseCode.into());
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(UsageError::ControlPayloadTooLong.into());
        }
        // Any Pong still owed goes first, then the Close: its code, then the reason
        // (§5.5.1), both written straight into `out`.
        let mask_len = if M::ROLE == Role::Client { 4 } else { 0 };
        let pong_len = self
            .pong_owed
            .as_ref()
            .map_or(0, |pong| 2 + mask_len + usize::from(pong.len));
        let needed = pong_len + 2 + mask_len + 2 + reason.len();
        if out.len() < needed {
            return Err(SendError::NoRoom { needed });
        }
        let mut written = 0;
        if let Some(pong) = self.pong_owed.as_ref().map(OwedPong::payload) {
            written = write_control(out, OpCode::Pong, self.masks.next_key(), pong, &[])?;
        }
        written += write_control(
            &mut out[written..],
            OpCode::Close,
            self.masks.next_key(),
            &code.0.to_be_bytes(),
            reason.as_bytes(),
        )?;
        self.pong_owed = None;
        self.ping_owed = false;
        self.awaiting_pong = false;
        self.close_owed = None;
        if self.state == State::Open {
            self.state = State::LocalClosing;
            self.deadline = Timer::after(now, self.timeouts.close_ms);
        } else {
            self.finish_closing_handshake();
        }
        Ok(written)
    }

    /// The next control frame we owe: the Pong, then our keep-alive Ping, then the Close.
    fn next_owed(&self) -> Option<OpCode> {
        if self.pong_owed.is_some() {
            Some(OpCode::Pong)
        } else if self.ping_owed {
            Some(OpCode::Ping)
        } else {
            self.close_owed.map(|_| OpCode::Close)
        }
    }

    /// Write the owed control frame `opcode` (from [`next_owed`](Self::next_owed)) at the
    /// start of `out`, its payload taken from where it is kept: the Ping's for the Pong
    /// (§5.5.3), our counter for the keep-alive Ping, the status code for the Close
    /// (§5.5.1, no reason).
    fn write_owed(&mut self, opcode: OpCode, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mask = self.masks.next_key();
        let counter = self.ping_counter.to_be_bytes();
        let code = self.close_owed.map_or(0, |code| code.0).to_be_bytes();
        let payload: &[u8] = match opcode {
            OpCode::Pong => self.pong_owed.as_ref().map_or(&[], OwedPong::payload),
            OpCode::Ping => &counter,
            _ => &code,
        };
        write_control(out, opcode, mask, payload, &[])
    }

    /// Record that an owed frame went out.
    fn owed_frame_sent(&mut self, opcode: OpCode) {
        match opcode {
            OpCode::Pong => self.pong_owed = None,
            OpCode::Ping => {
                self.ping_owed = false;
                self.awaiting_pong = true;
            }
            _ => {
                self.close_owed = None;
                match self.state {
                    State::RemoteClosing => self.finish_closing_handshake(),
                    // §7.1.7: after failing, the transport is closed right away.
                    _ => {
                        self.state = State::Closed;
                        self.close_transport = true;
                        self.deadline = Timer::UNSET;
                    }
                }
            }
        }
    }

    /// Whether a control frame is owed and may be written now (not while a header waits
    /// for its payload).
    #[inline]
    pub(crate) fn owes_control_frames(&self) -> bool {
        let owes = self.pong_owed.is_some() || self.ping_owed || self.close_owed.is_some();
        owes && self.payload_pending == 0
    }

    /// Write the control frames the protocol owes, as many as fit; none while a header
    /// waits for its payload.
    #[inline]
    pub(crate) fn transmit_owed(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        // The common case, checked inline before any frame is built: nothing is owed.
        if !self.owes_control_frames() {
            return Ok(0);
        }
        self.transmit_owed_frames(out)
    }

    /// [`transmit_owed`](Self::transmit_owed) once something is owed.
    fn transmit_owed_frames(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mut written = 0;
        while let Some(opcode) = self.next_owed() {
            match self.write_owed(opcode, &mut out[written..]) {
                Ok(n) => {
                    written += n;
                    self.owed_frame_sent(opcode);
                }
                Err(too_small) if written == 0 => return Err(too_small),
                Err(_) => break,
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The frame as the general encoder writes it: header, then the payload (masked).
    fn reference_frame(
        fin: bool,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload: &[u8],
    ) -> Vec<u8> {
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut frame = std::vec![0; header.encoded_len()];
        header.encode(&mut frame).unwrap();
        let start = frame.len();
        frame.extend_from_slice(payload);
        if let Some(key) = mask {
            crate::frame::apply_mask(&mut frame[start..], key, 0);
        }
        frame
    }

    /// Every payload length around the short-frame fast path (and its small copies)
    /// encodes exactly as the general encoder does, and a buffer one byte short is left
    /// untouched.
    #[test]
    fn write_frame_matches_the_general_encoder_at_every_short_length() {
        let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..payload.len() {
            for mask in [None, Some([0x12, 0x34, 0x56, 0x78])] {
                for (fin, opcode) in [(true, OpCode::Binary), (false, OpCode::Text)] {
                    let expected = reference_frame(fin, opcode, mask, &payload[..len]);
                    let mut out = std::vec![0xEE; expected.len() + 3];
                    let written = write_frame(&mut out, fin, opcode, mask, &payload[..len]);
                    assert_eq!(written, Ok(expected.len()), "length {len}");
                    assert_eq!(&out[..expected.len()], &expected[..], "length {len}");
                    assert_eq!(&out[expected.len()..], &[0xEE; 3], "length {len}");

                    let mut short = std::vec![0xEE; expected.len() - 1];
                    assert_eq!(
                        write_frame(&mut short, fin, opcode, mask, &payload[..len]),
                        Err(BufferTooSmall {
                            needed: expected.len()
                        })
                    );
                    assert!(short.iter().all(|&b| b == 0xEE), "length {len}");
                }
            }
        }
    }

    /// A control frame put together from two parts encodes as the general encoder writes
    /// the joined payload, at every length and split, masked or not; a buffer one byte
    /// short is left untouched.
    #[test]
    fn write_control_matches_the_general_encoder() {
        let payload: Vec<u8> = (0..MAX_CONTROL_PAYLOAD as u32)
            .map(|i| (i * 13 + 5) as u8)
            .collect();
        for len in 0..=MAX_CONTROL_PAYLOAD {
            for split in [0, len / 3, len] {
                let (head, tail) = payload[..len].split_at(split);
                for mask in [None, Some([0xA1, 0x02, 0xF3, 0x44])] {
                    let expected = reference_frame(true, OpCode::Close, mask, &payload[..len]);
                    let mut out = std::vec![0xEE; expected.len() + 2];
                    let written = write_control(&mut out, OpCode::Close, mask, head, tail);
                    assert_eq!(written, Ok(expected.len()), "length {len}");
                    assert_eq!(&out[..expected.len()], &expected[..], "length {len}");
                    assert_eq!(&out[expected.len()..], &[0xEE; 2], "length {len}");

                    let mut short = std::vec![0xEE; expected.len() - 1];
                    assert_eq!(
                        write_control(&mut short, OpCode::Close, mask, head, tail),
                        Err(BufferTooSmall {
                            needed: expected.len()
                        })
                    );
                    assert!(short.iter().all(|&b| b == 0xEE), "length {len}");
                }
            }
        }
    }

    #[test]
    fn short_header_needs_its_whole_length() {
        let mut out = [0u8; 5];
        assert_eq!(
            write_short_header(&mut out, true, OpCode::Ping, Some([1, 2, 3, 4]), 3),
            Err(BufferTooSmall { needed: 6 })
        );
        assert_eq!(
            write_short_header(&mut out[..1], true, OpCode::Ping, None, 3),
            Err(BufferTooSmall { needed: 2 })
        );
        assert_eq!(
            write_short_header(&mut out, true, OpCode::Ping, None, 3),
            Ok(2)
        );
        assert_eq!(out[..2], [0x89, 3]);
    }
}
