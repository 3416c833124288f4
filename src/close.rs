//! Close codes and Close frame payloads (RFC 6455 §5.5.1, §7.4).

use crate::error::ProtocolError;
use crate::utf8;

/// A WebSocket close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint cannot accept this type of data.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (reported locally, never sent).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the transport ended without a Close frame (reported locally, never sent).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (for example invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a frame or message is too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed (reported locally, never sent).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a Close frame on the wire (RFC 6455 §7.4.1, §7.4.2):
    /// 1000-1003, 1007-1014 and 3000-4999. Everything else (including 1005, 1006 and 1015,
    /// which are only ever reported locally) is refused when sent and fails the connection
    /// with 1002 when received.
    pub const fn is_allowed_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

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
