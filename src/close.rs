//! Close frame payloads (RFC 6455 §5.5.1), and the close codes they carry (§7.4).

pub use crate::close_code::CloseCode;
use crate::error::ProtocolError;
use crate::utf8;

/// The largest reason a Close frame can carry: 125 bytes of payload less the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// The content of a Close frame (RFC 6455 §5.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code; `None` when the frame had an empty payload (reported as 1005).
    pub code: Option<CloseCode>,
    /// The UTF-8 reason; empty when there is none.
    pub reason: &'a str,
}

impl<'a> CloseFrame<'a> {
    /// The code to report to the application: the frame's code, or 1005 (no status) for an
    /// empty Close frame.
    pub fn reported_code(&self) -> CloseCode {
        self.code.unwrap_or(CloseCode::NO_STATUS)
    }

    /// Parse a received Close payload, enforcing RFC 6455 §5.5.1 and §7.4: empty, or a
    /// 2-byte code allowed on the wire plus a UTF-8 reason.
    pub fn parse(payload: &'a [u8]) -> Result<Self, ProtocolError> {
        match payload {
            [] => Ok(CloseFrame {
                code: None,
                reason: "",
            }),
            [_] => Err(ProtocolError::ClosePayloadTooShort),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_allowed_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    utf8::validate_whole(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(CloseFrame {
                    code: Some(code),
                    reason,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_allowed_on_wire_match_rfc_7_4() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(
                CloseCode(code).is_allowed_on_wire(),
                expected,
                "code {code}"
            );
        }
        for local_only in [1005, 1006, 1015] {
            assert!(!CloseCode(local_only).is_allowed_on_wire());
        }
    }

    #[test]
    fn close_payload_empty_reports_no_status() {
        let frame = CloseFrame::parse(&[]).unwrap();
        assert_eq!(frame.code, None);
        assert_eq!(frame.reported_code(), CloseCode::NO_STATUS);
    }

    #[test]
    fn close_payload_of_one_byte_is_protocol_error() {
        assert_eq!(
            CloseFrame::parse(&[3]),
            Err(ProtocolError::ClosePayloadTooShort)
        );
    }

    #[test]
    fn close_payload_with_code_and_reason() {
        let frame = CloseFrame::parse(b"\x0f\xa0bye \xc3\xa9").unwrap();
        assert_eq!(frame.code, Some(CloseCode(4000)));
        assert_eq!(frame.reason, "bye é");
    }

    #[test]
    fn close_payload_with_forbidden_code_is_protocol_error() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let payload = code.to_be_bytes();
            assert_eq!(
                CloseFrame::parse(&payload),
                Err(ProtocolError::InvalidCloseCode(code))
            );
        }
    }

    #[test]
    fn close_reason_invalid_utf8_is_invalid_payload() {
        assert_eq!(
            CloseFrame::parse(b"\x03\xe8\xff"),
            Err(ProtocolError::InvalidCloseReason)
        );
        assert_eq!(
            ProtocolError::InvalidCloseReason.close_code(),
            CloseCode::INVALID_PAYLOAD
        );
    }
}
