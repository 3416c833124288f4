//! Parsing an HTTP/1.1 response head (RFC 7230 §3): the status line and the header fields.
//!
//! The client reads exactly one response, and needs nothing of HTTP beyond its head. This
//! parser accepts exactly what `httparse` accepts with its default configuration (a test
//! checks the two against each other), without a fixed array of header slots: each field is
//! handed to the caller as it is read. The client then links no HTTP library at all, which
//! matters on small targets.

use super::{is_field_value_byte, is_tchar};
use crate::error::HandshakeError;

/// The status line of a response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusLine<'b> {
    /// The minor version of HTTP/1.x: 0 or 1.
    pub(crate) minor_version: u8,
    /// The three-digit status code.
    pub(crate) status: u16,
    /// The reason phrase; empty when absent or when it holds a byte above 0x7F (obs-text,
    /// RFC 7230 §3.1.2).
    pub(crate) reason: &'b str,
}

/// Parse the response head at the start of `head`: optional empty lines (RFC 7230 §3.5),
/// `HTTP/1.0` or `HTTP/1.1`, one space, three digits, then a space and the reason phrase or
/// the end of the line (§3.1.2); then header fields `token ":" OWS value OWS` (§3.2), each
/// line ended by CRLF or a bare LF; then the empty line. Values and the reason phrase may
/// hold HTAB, SP, visible ASCII and obs-text, nothing else.
///
/// Calls `on_field(name, value)` for every header field, in order, with the value trimmed
/// of SP and HTAB. Returns the status line and the length of the head, empty line included.
///
/// Errors: `MalformedHead` for anything else, including a head that ends early;
/// `TooManyHeaders` as soon as a well-formed field is the one beyond `max_fields`.
pub(crate) fn parse_response_head<'b>(
    head: &'b [u8],
    max_fields: usize,
    mut on_field: impl FnMut(&'b [u8], &'b [u8]),
) -> Result<(StatusLine<'b>, usize), HandshakeError> {
    let malformed = HandshakeError::MalformedHead;
    let mut at = 0;
    while let Some(after) = line_end(head, at) {
        at = after;
    }
    let minor_version = match head.get(at..at + 9) {
        Some(b"HTTP/1.0 ") => 0,
        Some(b"HTTP/1.1 ") => 1,
        _ => return Err(malformed),
    };
    at += 9;
    let status = match head.get(at..at + 3) {
        Some(&[a, b, c]) if [a, b, c].iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(malformed),
    };
    at += 3;
    let reason = if head.get(at) == Some(&b' ') {
        let (reason, after) = rest_of_line(head, at + 1)?;
        at = after;
        if reason.is_ascii() {
            core::str::from_utf8(reason).unwrap_or_default()
        } else {
            ""
        }
    } else {
        at = line_end(head, at).ok_or(malformed)?;
        ""
    };

    let mut fields = 0;
    loop {
        if let Some(after) = line_end(head, at) {
            let status_line = StatusLine {
                minor_version,
                status,
                reason,
            };
            return Ok((status_line, after));
        }
        let rest = head.get(at..).unwrap_or_default();
        let name_len = rest
            .iter()
            .position(|&b| !is_tchar(b))
            .unwrap_or(rest.len());
        if name_len == 0 || rest.get(name_len) != Some(&b':') {
            return Err(malformed);
        }
        let name = &rest[..name_len];
        let mut value_start = at + name_len + 1;
        while matches!(head.get(value_start), Some(b' ' | b'\t')) {
            value_start += 1;
        }
        let (value, after) = rest_of_line(head, value_start)?;
        at = after;
        fields += 1;
        if fields > max_fields {
            return Err(HandshakeError::TooManyHeaders);
        }
        on_field(name, value.trim_ascii_end());
    }
}

/// If a line end (CRLF or a bare LF) is at `at`, the position after it.
fn line_end(head: &[u8], at: usize) -> Option<usize> {
    match head.get(at..)? {
        [b'\n', ..] => Some(at + 1),
        [b'\r', b'\n', ..] => Some(at + 2),
        _ => None,
    }
}

/// The text from `start` to the end of its line, which must hold only HTAB, SP, visible
/// ASCII and obs-text, and the position after the line end.
fn rest_of_line(head: &[u8], start: usize) -> Result<(&[u8], usize), HandshakeError> {
    let rest = head.get(start..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|&b| !is_field_value_byte(b))
        .unwrap_or(rest.len());
    let after = line_end(head, start + len).ok_or(HandshakeError::MalformedHead)?;
    Ok((&rest[..len], after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;
    use std::vec::Vec;

    /// The head parsed by `parse_response_head`, as comparable values.
    type Parsed<'b> = Result<(StatusLine<'b>, usize, Vec<(&'b [u8], &'b [u8])>), HandshakeError>;

    fn parse(head: &[u8], max_fields: usize) -> Parsed<'_> {
        let mut fields = Vec::new();
        let (status_line, len) =
            parse_response_head(head, max_fields, |name, value| fields.push((name, value)))?;
        Ok((status_line, len, fields))
    }

    /// The same head parsed by `httparse` with its default configuration, which this parser
    /// follows.
    fn parse_with_httparse(head: &[u8], max_fields: usize) -> Parsed<'_> {
        let mut slots = std::vec![httparse::EMPTY_HEADER; max_fields];
        let mut response = httparse::Response::new(&mut slots);
        let len = match response.parse(head) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Err(HandshakeError::MalformedHead),
            Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
            Err(_) => return Err(HandshakeError::MalformedHead),
        };
        let status_line = StatusLine {
            minor_version: response.version.unwrap(),
            status: response.code.unwrap(),
            reason: response.reason.unwrap(),
        };
        let fields = response
            .headers
            .iter()
            .map(|h| (h.name.as_bytes(), h.value))
            .collect();
        Ok((status_line, len, fields))
    }

    #[test]
    fn parses_status_line_and_fields() {
        let head = b"\r\n\nHTTP/1.1 101 Switching Protocols\r\nUpgrade:websocket \t\r\n\
            X-Empty:\nConnection: \t Upgrade\r\n\r\n\x81\x00";
        let (status_line, len, fields) = parse(head, 8).unwrap();
        assert_eq!(
            status_line,
            StatusLine {
                minor_version: 1,
                status: 101,
                reason: "Switching Protocols"
            }
        );
        assert_eq!(len, head.len() - 2);
        assert_eq!(
            fields,
            [
                (&b"Upgrade"[..], &b"websocket"[..]),
                (b"X-Empty", b""),
                (b"Connection", b"Upgrade")
            ]
        );
    }

    #[test]
    fn reason_is_optional_and_empty_when_not_ascii() {
        let (status_line, ..) = parse(b"HTTP/1.0 404\n\n", 8).unwrap();
        assert_eq!((status_line.minor_version, status_line.status), (0, 404));
        assert_eq!(status_line.reason, "");
        let (status_line, ..) = parse(b"HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\n\r\n", 8).unwrap();
        assert_eq!(status_line.reason, "");
        let (status_line, ..) = parse(b"HTTP/1.1 200 \tO K\t\r\n\r\n", 8).unwrap();
        assert_eq!(status_line.reason, "\tO K\t");
    }

    #[test]
    fn refuses_malformed_heads() {
        for head in [
            &b""[..],
            b"\r\n\r\n",
            b"HTTP/1.1 101 OK\r\n",
            b"HTTP/1.1 101 OK\r\nA: b\r\n",
            b"HTTP/2.0 101 OK\r\n\r\n",
            b"HTTP/1.1  101 OK\r\n\r\n",
            b"HTTP/1.1 1010 OK\r\n\r\n",
            b"HTTP/1.1 10 OK\r\n\r\n",
            b"HTTP/1.1 101 O\x00K\r\n\r\n",
            b"HTTP/1.1 101 OK\rX\n\r\n",
            b"HTTP/1.1 101 OK\r\n A: b\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nA : b\r\n\r\n",
            b"HTTP/1.1 101 OK\r\n: b\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nA: b\x7f\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nA: b\r\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nA: b\r\n\r",
        ] {
            assert_eq!(
                parse(head, 8),
                Err(HandshakeError::MalformedHead),
                "{:?}",
                head.escape_ascii()
            );
        }
    }

    #[test]
    fn too_many_fields_once_one_more_is_read() {
        let head = b"HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(parse(head, 2).is_ok());
        assert_eq!(parse(head, 1), Err(HandshakeError::TooManyHeaders));
        assert_eq!(parse(head, 0), Err(HandshakeError::TooManyHeaders));
        // A malformed line is reported as such, even beyond the limit.
        let head = b"HTTP/1.1 101 OK\r\nA: 1\r\nB 2\r\n\r\n";
        assert_eq!(parse(head, 1), Err(HandshakeError::MalformedHead));
    }

    /// Pieces of header lines: names, separators, values, and bytes that are not allowed.
    const FIELD_PIECES: &[&str] = &[
        "Upgrade",
        "x-y",
        ":",
        ": ",
        " ",
        "\t",
        "websocket",
        "a b",
        "\u{e9}",
        "\0",
        "\x7f",
        "(",
        "\r",
        "\n",
    ];

    proptest::proptest! {
        #[test]
        fn agrees_with_httparse(
            leading in proptest::sample::select(&["", "\r\n", "\n", "\r\n\n", "\r"][..]),
            status_line in proptest::sample::select(&[
                "HTTP/1.1 101 Switching Protocols\r\n", "HTTP/1.0 404\n", "HTTP/1.1 200 \r\n",
                "HTTP/1.1 200 \u{e9}t\u{e9}\r\n", "HTTP/1.1 101 a\tb\r\n", "HTTP/1.1  200 OK\r\n",
                "HTTP/2 101 x\r\n", "HTTP/1.1 1010 x\r\n", "HTTP/1.1 20 x\r\n",
                "HTTP/1.1 101 a\0b\r\n", "HTTP/1.1 101\x7f\r\n", "HTTP/1.1 101 x\r\r\n",
            ][..]),
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    // Mostly well-formed fields ...
                    4 => proptest::sample::select(&[
                        "Upgrade: websocket\r\n", "x-y:\ta b \t\n", "A:\r\n", "B: \u{e9}\r\n",
                    ][..]).prop_map(|line| (std::vec![line], "")),
                    // ... and some lines of any pieces.
                    1 => (
                        proptest::collection::vec(proptest::sample::select(FIELD_PIECES), 0..4),
                        proptest::sample::select(&["\r\n", "\n", "\r", ""][..]),
                    ),
                ],
                0..6,
            ),
            end in proptest::sample::select(&["\r\n", "\n", "", "\r"][..]),
            trailing in proptest::sample::select(&["", "\x01\x00", "X: y\r\n\r\n"][..]),
            max_fields in 0usize..5,
        ) {
            let mut head = std::format!("{leading}{status_line}");
            for (pieces, line_end) in &lines {
                head.push_str(&pieces.concat());
                head.push_str(line_end);
            }
            head.push_str(end);
            head.push_str(trailing);
            let head = head.into_bytes();
            proptest::prop_assert_eq!(parse(&head, max_fields), parse_with_httparse(&head, max_fields));
        }

        #[test]
        fn agrees_with_httparse_on_any_bytes(
            status_line in proptest::collection::vec(proptest::num::u8::ANY, 0..6),
            fields in proptest::collection::vec(
                proptest::sample::select(&b"aZ0-:; \t\r\n\0\x7f\x80\xff(\""[..]),
                0..40,
            ),
        ) {
            let mut head = b"HTTP/1.1 101".to_vec();
            head.extend_from_slice(&status_line);
            head.extend_from_slice(b"\r\nA: b\r\n");
            head.extend_from_slice(&fields);
            head.extend_from_slice(b"\r\n\r\n");
            proptest::prop_assert_eq!(parse(&head, 3), parse_with_httparse(&head, 3));
        }
    }
}
