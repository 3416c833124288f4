//! HTTP tokens and field values (RFC 9110 §5.5, §5.6): the character rules the handshake,
//! the subprotocol check and permessage-deflate negotiation share. A leaf: it knows nothing
//! of WebSocket.

/// Whether `b` is an RFC 7230 `tchar` (the characters of a token, §3.2.6).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether `s` is a non-empty RFC 7230 token (header names, subprotocols: §4.1, §11.3.4).
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Whether `value` may be sent as a header field value: no control characters except
/// horizontal tab. This rules out CR, LF and NUL (header injection) and everything a strict
/// peer such as `httparse` would refuse.
pub(crate) fn is_safe_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// `value` without the optional whitespace (SP, HTAB) around it (RFC 7230 §3.2.3).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The extension name of one `Sec-WebSocket-Extensions` element: the token before the first
/// `;`, trimmed (RFC 6455 §9.1).
pub(crate) fn extension_name(extension: &[u8]) -> &[u8] {
    let end = extension
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(extension.len());
    trim_ows(&extension[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_safe_values() {
        assert!(is_token(b"Sec-WebSocket-Protocol"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(is_safe_value(b"text/html; q=0.9\tx"));
        assert!(!is_safe_value(b"a\rb"));
        assert_eq!(trim_ows(b" \tx y\t "), b"x y");
    }

    #[test]
    fn extension_names() {
        assert_eq!(
            extension_name(b"permessage-deflate; client_max_window_bits"),
            b"permessage-deflate"
        );
        assert_eq!(extension_name(b" foo "), b"foo");
    }
}
