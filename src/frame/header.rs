//! Frame headers: opcodes, the base framing protocol and its length forms (RFC 6455 §5.2).

use crate::error::ProtocolError;

/// Frame opcodes (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: a continuation frame of a fragmented message (§5.4).
    Continuation = 0x0,
    /// 0x1: the first (or only) frame of a text message (§5.6).
    Text = 0x1,
    /// 0x2: the first (or only) frame of a binary message (§5.6).
    Binary = 0x2,
    /// 0x8: a Close control frame (§5.5.1).
    Close = 0x8,
    /// 0x9: a Ping control frame (§5.5.2).
    Ping = 0x9,
    /// 0xA: a Pong control frame (§5.5.3).
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for the 4-bit value `bits`; `None` for the reserved values 0x3-0x7 and
    /// 0xB-0xF (§5.2), and for anything above 0xF.
    pub const fn from_u8(bits: u8) -> Option<OpCode> {
        match bits {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// Whether this is a control frame opcode: Close, Ping or Pong (the opcodes with the
    /// high bit set, §5.5).
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// The largest frame header: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// The largest control frame payload (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The 7-bit length value announcing a 16-bit extended length (§5.2).
const LEN_16: u8 = 126;
/// The 7-bit length value announcing a 64-bit extended length (§5.2).
const LEN_64: u8 = 127;

/// A decoded frame header (RFC 6455 §5.2): everything before the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message (§5.2, §5.4).
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit value: RSV1 = 0b100, RSV2 = 0b010, RSV3 = 0b001.
    pub rsv: u8,
    /// The frame opcode.
    pub opcode: OpCode,
    /// The masking key, when the MASK bit is set (§5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes (at most 2^63 - 1, §5.2).
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decode a header from the start of `buf`. Ok(None): more bytes are needed.
    /// Ok(Some((header, header_len))) when complete. Errors are reported as EARLY as the bytes allow
    /// (fail fast): a reserved opcode with only byte 0 present; a control frame with FIN clear with only
    /// byte 0; a control frame whose 7-bit length is > 125 as soon as byte 1 is there; a non-minimal
    /// length (126 form carrying < 126, 127 form carrying <= 0xFFFF) or a 64-bit length with its top bit
    /// set as soon as the length bytes are there.  RSV bits and masking are NOT judged here (the caller
    /// knows its role and extensions); just reported in the header.
    ///
    /// "As soon as the length bytes are there" is taken literally: the top bit of a 64-bit
    /// length is judged with its first byte, and a 64-bit length whose first six bytes are
    /// zero (so the value fits in 16 bits) is refused before the last two arrive.
    #[inline]
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        // Byte 0: FIN, RSV1-3, opcode (§5.2).
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0b111;
        let bits = b0 & 0x0F;
        let Some(opcode) = OpCode::from_u8(bits) else {
            // §5.2: reserved opcodes fail the connection.
            return Err(ProtocolError::ReservedOpcode(bits));
        };
        if opcode.is_control() && !fin {
            // §5.5: control frames MUST NOT be fragmented.
            return Err(ProtocolError::FragmentedControlFrame);
        }

        // Byte 1: MASK and the 7-bit payload length (§5.2).
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
            // §5.5: control frames carry at most 125 bytes, so always the 7-bit form.
            return Err(ProtocolError::ControlFrameTooLong);
        }

        // The extended payload length, in network byte order (§5.2).
        let (payload_len, mut len) = match len7 {
            LEN_16 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                let value = u16::from_be_bytes([bytes[0], bytes[1]]);
                if value < u16::from(LEN_16) {
                    // §5.2: "the minimal number of bytes MUST be used to encode the length".
                    return Err(ProtocolError::NonMinimalLength);
                }
                (u64::from(value), 4)
            }
            LEN_64 => {
                if buf.get(2).is_some_and(|&b| b & 0x80 != 0) {
                    // §5.2: "the most significant bit MUST be 0".
                    return Err(ProtocolError::LengthHighBitSet);
                }
                if buf
                    .get(2..8)
                    .is_some_and(|high| high.iter().all(|&b| b == 0))
                {
                    // The value is at most 0xFFFF whatever the last two bytes are, so the
                    // 16-bit form (or the 7-bit one) should have been used (§5.2).
                    return Err(ProtocolError::NonMinimalLength);
                }
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                (u64::from_be_bytes(be), 10)
            }
            short => (u64::from(short), 2),
        };

        // The masking key, when MASK is set (§5.3).
        let mask = if masked {
            let Some(bytes) = buf.get(len..len + 4) else {
                return Ok(None);
            };
            let mut key = [0u8; 4];
            key.copy_from_slice(bytes);
            len += 4;
            Some(key)
        } else {
            None
        };

        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, len)))
    }

    /// Bytes `encode` writes: 2, 4 or 10, plus 4 with a mask. Always the shortest length form (§5.2).
    pub const fn encoded_len(&self) -> usize {
        let length = if self.payload_len <= MAX_CONTROL_PAYLOAD as u64 {
            2
        } else if self.payload_len <= u16::MAX as u64 {
            4
        } else {
            10
        };
        if self.mask.is_some() {
            length + 4
        } else {
            length
        }
    }

    /// Write the header to the start of `out`; Err(needed) with nothing written if `out` is too short.
    ///
    /// Returns the number of bytes written, [`encoded_len`](Self::encoded_len). Only the low
    /// three bits of `rsv` are used. The header is written as given: the caller keeps
    /// control frames within 125 bytes and unfragmented (§5.5) and `payload_len` below 2^63
    /// (§5.2).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, usize> {
        let needed = self.encoded_len();
        let Some(out) = out.get_mut(..needed) else {
            return Err(needed);
        };
        debug_assert!(self.payload_len >> 63 == 0, "payload length over 2^63 - 1");

        // Byte 0: FIN, RSV1-3, opcode (§5.2).
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | self.opcode as u8;

        // Byte 1 and the extended length, in the shortest form (§5.2).
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len_end = match u16::try_from(self.payload_len) {
            Ok(short) if short <= MAX_CONTROL_PAYLOAD as u16 => {
                // Fits in 7 bits: checked just above.
                out[1] = mask_bit | short as u8;
                2
            }
            Ok(medium) => {
                out[1] = mask_bit | LEN_16;
                out[2..4].copy_from_slice(&medium.to_be_bytes());
                4
            }
            Err(_) => {
                out[1] = mask_bit | LEN_64;
                out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
                10
            }
        };

        // The masking key (§5.3).
        if let Some(key) = self.mask {
            out[len_end..len_end + 4].copy_from_slice(&key);
        }
        Ok(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::apply_mask;

    /// Decode a complete header, panicking on anything else.
    fn decode_ok(buf: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::decode(buf) {
            Ok(Some(decoded)) => decoded,
            other => panic!("{buf:02x?}: {other:?}"),
        }
    }

    /// Every proper prefix of `buf[..header_len]` asks for more bytes.
    fn assert_prefixes_incomplete(buf: &[u8], header_len: usize) {
        for end in 0..header_len {
            assert_eq!(
                FrameHeader::decode(&buf[..end]),
                Ok(None),
                "prefix {:02x?}",
                &buf[..end]
            );
        }
    }

    const HELLO_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    const HELLO_MASKED: [u8; 5] = [0x7f, 0x9f, 0x4d, 0x51, 0x58];

    #[test]
    fn rfc_5_7_unmasked_text() {
        let frame = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (header, len) = decode_ok(&frame);
        assert_eq!(len, 2);
        assert_eq!(
            header,
            FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Text,
                mask: None,
                payload_len: 5
            }
        );
        assert_eq!(&frame[len..], b"Hello");
        assert_prefixes_incomplete(&frame, len);
    }

    #[test]
    fn rfc_5_7_masked_text() {
        let mut frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (header, len) = decode_ok(&frame);
        assert_eq!(len, 6);
        assert_eq!(
            header,
            FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Text,
                mask: Some(HELLO_MASK),
                payload_len: 5,
            }
        );
        assert_prefixes_incomplete(&frame, len);
        apply_mask(&mut frame[len..], header.mask.unwrap(), 0);
        assert_eq!(&frame[len..], b"Hello");
    }

    #[test]
    fn rfc_5_7_fragmented_text() {
        let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
        let (header, len) = decode_ok(&first);
        assert_eq!(
            (header, len),
            (
                FrameHeader {
                    fin: false,
                    rsv: 0,
                    opcode: OpCode::Text,
                    mask: None,
                    payload_len: 3
                },
                2
            )
        );
        assert_eq!(&first[len..], b"Hel");

        let last = [0x80, 0x02, 0x6c, 0x6f];
        let (header, len) = decode_ok(&last);
        assert_eq!(
            (header, len),
            (
                FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Continuation,
                    mask: None,
                    payload_len: 2,
                },
                2
            )
        );
        assert_eq!(&last[len..], b"lo");
    }

    #[test]
    fn rfc_5_7_unmasked_ping() {
        let frame = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (header, len) = decode_ok(&frame);
        assert_eq!(
            (header, len),
            (
                FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Ping,
                    mask: None,
                    payload_len: 5
                },
                2
            )
        );
        assert_eq!(&frame[len..], b"Hello");
    }

    #[test]
    fn rfc_5_7_masked_pong() {
        let mut frame = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (header, len) = decode_ok(&frame);
        assert_eq!(
            (header, len),
            (
                FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Pong,
                    mask: Some(HELLO_MASK),
                    payload_len: 5,
                },
                6
            )
        );
        assert_eq!(frame[len..], HELLO_MASKED);
        apply_mask(&mut frame[len..], HELLO_MASK, 0);
        assert_eq!(&frame[len..], b"Hello");
    }

    #[test]
    fn rfc_5_7_256_byte_binary() {
        let frame = [0x82, 0x7E, 0x01, 0x00];
        let (header, len) = decode_ok(&frame);
        assert_eq!(
            (header, len),
            (
                FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask: None,
                    payload_len: 256
                },
                4
            )
        );
        assert_prefixes_incomplete(&frame, len);
        let mut out = [0u8; MAX_HEADER_LEN];
        assert_eq!(header.encode(&mut out), Ok(4));
        assert_eq!(out[..4], frame);
    }

    #[test]
    fn rfc_5_7_64_kib_binary() {
        let frame = [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
        let (header, len) = decode_ok(&frame);
        assert_eq!(
            (header, len),
            (
                FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask: None,
                    payload_len: 65536,
                },
                10
            )
        );
        assert_prefixes_incomplete(&frame, len);
        let mut out = [0u8; MAX_HEADER_LEN];
        assert_eq!(header.encode(&mut out), Ok(10));
        assert_eq!(out[..10], frame);
    }

    #[test]
    fn opcode_from_u8_matches_rfc_5_2() {
        for bits in 0..=u8::MAX {
            let expected = match bits {
                0x0 => Some(OpCode::Continuation),
                0x1 => Some(OpCode::Text),
                0x2 => Some(OpCode::Binary),
                0x8 => Some(OpCode::Close),
                0x9 => Some(OpCode::Ping),
                0xA => Some(OpCode::Pong),
                _ => None,
            };
            assert_eq!(OpCode::from_u8(bits), expected, "bits {bits:#x}");
            if let Some(opcode) = expected {
                assert_eq!(opcode as u8, bits);
                assert_eq!(opcode.is_control(), bits & 0x8 != 0);
            }
        }
    }

    #[test]
    fn reserved_opcodes_fail_with_one_byte() {
        for bits in (0x3..=0x7).chain(0xB..=0xF) {
            for flags in [0x00, 0x80, 0x70, 0xF0] {
                assert_eq!(
                    FrameHeader::decode(&[flags | bits]),
                    Err(ProtocolError::ReservedOpcode(bits)),
                    "byte 0 {:#x}",
                    flags | bits
                );
            }
        }
    }

    #[test]
    fn fragmented_control_frames_fail_with_one_byte() {
        for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            assert_eq!(
                FrameHeader::decode(&[opcode as u8]),
                Err(ProtocolError::FragmentedControlFrame)
            );
        }
    }

    #[test]
    fn long_control_frames_fail_with_two_bytes() {
        for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            for len7 in 126..=127 {
                for mask_bit in [0x00, 0x80] {
                    assert_eq!(
                        FrameHeader::decode(&[0x80 | opcode as u8, mask_bit | len7]),
                        Err(ProtocolError::ControlFrameTooLong)
                    );
                }
            }
            let (header, _) = decode_ok(&[0x80 | opcode as u8, 125]);
            assert_eq!(header.payload_len, 125);
        }
    }

    #[test]
    fn non_minimal_16_bit_length_fails() {
        for value in [0u16, 1, 125] {
            let [hi, lo] = value.to_be_bytes();
            assert_eq!(FrameHeader::decode(&[0x82, 126, hi]), Ok(None));
            assert_eq!(
                FrameHeader::decode(&[0x82, 126, hi, lo]),
                Err(ProtocolError::NonMinimalLength)
            );
        }
        assert_eq!(decode_ok(&[0x82, 126, 0, 126]).0.payload_len, 126);
    }

    #[test]
    fn non_minimal_64_bit_length_fails_once_it_is_known() {
        for value in [0u64, 125, 126, 0xFFFF] {
            let bytes = value.to_be_bytes();
            let mut frame = [0x02, 127, 0, 0, 0, 0, 0, 0, 0, 0];
            frame[2..].copy_from_slice(&bytes);
            // Six zero bytes make the value at most 0xFFFF whatever follows.
            assert_prefixes_incomplete(&frame, 8);
            for end in 8..=10 {
                assert_eq!(
                    FrameHeader::decode(&frame[..end]),
                    Err(ProtocolError::NonMinimalLength)
                );
            }
        }
        assert_eq!(
            decode_ok(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0])
                .0
                .payload_len,
            0x1_0000
        );
    }

    #[test]
    fn length_high_bit_fails_with_its_first_byte() {
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0x80]),
            Err(ProtocolError::LengthHighBitSet)
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(ProtocolError::LengthHighBitSet)
        );
        let (header, len) = decode_ok(&[0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!((header.payload_len, len), (i64::MAX as u64, 10));
    }

    #[test]
    fn rsv_bits_and_mask_are_reported_not_judged() {
        for rsv in 0..=7u8 {
            let (header, len) = decode_ok(&[0x80 | (rsv << 4) | 0x2, 0x80, 1, 2, 3, 4]);
            assert_eq!(header.rsv, rsv);
            assert_eq!(header.mask, Some([1, 2, 3, 4]));
            assert_eq!(len, 6);
        }
    }

    const LENGTHS: [u64; 9] = [
        0,
        1,
        125,
        126,
        127,
        65535,
        65536,
        u32::MAX as u64 + 1,
        (1 << 63) - 1,
    ];

    #[test]
    fn encode_decode_round_trip() {
        for payload_len in LENGTHS {
            for mask in [None, Some([0xde, 0xad, 0xbe, 0xef])] {
                for (fin, rsv, opcode) in [
                    (true, 0, OpCode::Binary),
                    (false, 0b100, OpCode::Text),
                    (false, 0b011, OpCode::Continuation),
                ] {
                    let header = FrameHeader {
                        fin,
                        rsv,
                        opcode,
                        mask,
                        payload_len,
                    };
                    let expected_len = match payload_len {
                        0..=125 => 2,
                        126..=65535 => 4,
                        _ => 10,
                    } + if mask.is_some() { 4 } else { 0 };
                    assert_eq!(header.encoded_len(), expected_len);

                    let mut out = [0u8; MAX_HEADER_LEN + 3];
                    assert_eq!(header.encode(&mut out), Ok(expected_len));
                    assert_eq!(decode_ok(&out), (header, expected_len));
                    assert_prefixes_incomplete(&out, expected_len);
                }
            }
        }
    }

    #[test]
    fn encode_control_frames_round_trip() {
        for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            for payload_len in [0, 2, MAX_CONTROL_PAYLOAD as u64] {
                let header = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode,
                    mask: Some([9, 8, 7, 6]),
                    payload_len,
                };
                let mut out = [0u8; MAX_HEADER_LEN];
                let len = header.encode(&mut out).unwrap();
                assert_eq!(decode_ok(&out[..len]), (header, len));
            }
        }
    }

    #[test]
    fn encode_into_short_buffer_writes_nothing() {
        for payload_len in LENGTHS {
            for mask in [None, Some([1, 2, 3, 4])] {
                let header = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len,
                };
                let needed = header.encoded_len();
                for short in 0..needed {
                    let mut out = [0xAA; MAX_HEADER_LEN];
                    assert_eq!(header.encode(&mut out[..short]), Err(needed));
                    assert_eq!(out, [0xAA; MAX_HEADER_LEN]);
                }
            }
        }
    }
}
