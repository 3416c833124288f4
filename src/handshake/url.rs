//! `ws://` and `wss://` URLs (RFC 6455 §3).

use crate::error::UsageError;

/// A `ws://` or `wss://` URL (RFC 6455 §3), borrowed.
///
/// The grammar is `ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ]` (and the same
/// with `wss`): no user information, and no fragment (§3: fragment identifiers MUST NOT be
/// used; a `#` is refused rather than escaped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsUrl<'a> {
    /// `wss://`: the connection runs over TLS (§3, §4.1 item 2 of the client requirements).
    pub secure: bool,
    /// The host: a registered name, an IPv4 address, or an IPv6 address without its
    /// brackets.
    pub host: &'a str,
    /// The port: as given, or 80 for `ws` and 443 for `wss` (§3).
    pub port: u16,
    /// The resource name: path and query as written, `"/"` when both are empty (§3). When
    /// the path is empty but a query is present (`ws://host?q`), this starts with `?`, and
    /// [`ClientRequest::write`](super::ClientRequest::write) puts the `/` in front.
    pub target: &'a str,
}

impl<'a> WsUrl<'a> {
    /// Parse a `ws://` or `wss://` URL. The scheme is matched ASCII case-insensitively
    /// (RFC 3986 §3.1).
    ///
    /// Refused with `InvalidUrl`: another scheme, an empty host, user information (`@`), a
    /// bad IPv6 literal, a port that is not 1-65535, a fragment (`#`, §3), and any space,
    /// control or non-ASCII character (percent-encode those).
    pub fn parse(url: &'a str) -> Result<Self, UsageError> {
        let invalid = UsageError::InvalidUrl;
        // Worked on as bytes, with positions: once every byte is known to be ASCII, the
        // host and the target are taken out of `url` with `str::get`, which cannot fail
        // then (and, unlike slicing a `str`, has no panic path).
        let bytes = url.as_bytes();
        if !bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'#') {
            return Err(invalid);
        }
        let (secure, authority_start) = if starts_with_ignore_case(bytes, b"ws://") {
            (false, "ws://".len())
        } else if starts_with_ignore_case(bytes, b"wss://") {
            (true, "wss://".len())
        } else {
            return Err(invalid);
        };
        let (_, after_scheme) = bytes.split_at(authority_start);
        let authority_len = after_scheme
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(after_scheme.len());
        let (authority, _) = after_scheme.split_at(authority_len);

        // The host as a range of `authority`, and the port's digits if a `:` came after it.
        let (host, port) = if let Some(bracketed) = authority.strip_prefix(b"[") {
            let close = bracketed.iter().position(|&b| b == b']').ok_or(invalid)?;
            let (host, after) = bracketed.split_at(close);
            if !is_ipv6_literal(host) {
                return Err(invalid);
            }
            let port = match after {
                [b']'] => None,
                [b']', b':', digits @ ..] => Some(digits),
                _ => return Err(invalid),
            };
            (1..1 + close, port)
        } else {
            let colon = authority.iter().position(|&b| b == b':');
            let (host, port) = authority.split_at(colon.unwrap_or(authority.len()));
            if host.is_empty() || !host.iter().all(|&b| is_reg_name_byte(b)) {
                return Err(invalid);
            }
            (
                0..host.len(),
                port.split_first().map(|(_colon, digits)| digits),
            )
        };
        let default_port = if secure { 443 } else { 80 };
        let port = match port {
            // An empty port means the default (RFC 3986 §3.2.3).
            None | Some([]) => default_port,
            Some(digits) => parse_port(digits).ok_or(invalid)?,
        };
        let host = url
            .get(authority_start + host.start..authority_start + host.end)
            .ok_or(invalid)?;
        let target = match url.get(authority_start + authority_len..).ok_or(invalid)? {
            "" => "/",
            target => target,
        };
        Ok(WsUrl {
            secure,
            host,
            port,
            target,
        })
    }

    /// Whether the port is the scheme default: 80 for `ws`, 443 for `wss` (§3). The `Host`
    /// header leaves the port out in that case (§4.1 client requirement 4).
    pub fn default_port(&self) -> bool {
        self.port == if self.secure { 443 } else { 80 }
    }
}

/// Whether `bytes` starts with `prefix`, ASCII case-insensitively.
fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The characters of an RFC 3986 `reg-name` or IPv4 address: unreserved, pct-encoded,
/// sub-delims.
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// A plausible IPv6 literal: hex digits, colons and dots (for an embedded IPv4 address),
/// with at least one colon. The address itself is the transport's business.
#[allow(
    clippy::manual_contains,
    reason = "`contains` on bytes links `memchr`, 160 bytes of flash for this one search"
)]
fn is_ipv6_literal(host: &[u8]) -> bool {
    host.iter().any(|&b| b == b':')
        && host
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// A port of 1 to 5 decimal digits, from 1 to 65535.
fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    let mut port = 0u32;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        port = port * 10 + u32::from(b - b'0');
    }
    u16::try_from(port).ok().filter(|&port| port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_secure_urls() {
        assert_eq!(
            WsUrl::parse("ws://example.com/chat?room=1"),
            Ok(WsUrl {
                secure: false,
                host: "example.com",
                port: 80,
                target: "/chat?room=1"
            })
        );
        let u = WsUrl::parse("WSS://example.com").unwrap();
        assert!(u.secure);
        assert_eq!(u.port, 443);
        assert_eq!(u.target, "/");
        assert!(u.default_port());
    }

    #[test]
    fn parses_ports() {
        let u = WsUrl::parse("ws://127.0.0.1:9001/").unwrap();
        assert_eq!(
            (u.host, u.port, u.default_port()),
            ("127.0.0.1", 9001, false)
        );
        let u = WsUrl::parse("wss://h:80").unwrap();
        assert_eq!((u.port, u.default_port()), (80, false));
        let u = WsUrl::parse("ws://h:/x").unwrap();
        assert_eq!((u.port, u.target), (80, "/x"));
        let u = WsUrl::parse("ws://h:65535").unwrap();
        assert_eq!(u.port, 65535);
        let u = WsUrl::parse("ws://h:00080?q").unwrap();
        assert_eq!((u.port, u.target), (80, "?q"));
    }

    #[test]
    fn parses_ipv6_without_brackets() {
        let u = WsUrl::parse("ws://[::1]:8080/x").unwrap();
        assert_eq!((u.host, u.port, u.target), ("::1", 8080, "/x"));
        let u = WsUrl::parse("wss://[2001:db8::1]?q").unwrap();
        assert_eq!((u.host, u.port, u.target), ("2001:db8::1", 443, "?q"));
        let u = WsUrl::parse("ws://[::1]:/x").unwrap();
        assert_eq!((u.host, u.port, u.target), ("::1", 80, "/x"));
    }

    #[test]
    fn rejects_invalid_urls() {
        for bad in [
            "http://example.com/",
            "ws:/example.com",
            "ws://",
            "ws:///path",
            "ws://:80/",
            "ws://user@example.com/",
            "ws://example.com/#frag",
            "ws://example.com/a b",
            "ws://example.com/\r\nX: y",
            "ws://example.com/\u{e9}",
            "ws://example.com:0/",
            "ws://example.com:65536/",
            "ws://example.com:99999/",
            "ws://example.com:123456/",
            "ws://example.com:-1/",
            "ws://[::1]:x/",
            "ws://[]/",
            "wss:/",
            "w",
            "ws://example.com:http/",
            "ws://example.com:80:80/",
            "ws://[::1/",
            "ws://[::1]x/",
            "ws://[example.com]/",
            "ws://exa\tmple.com/",
        ] {
            assert_eq!(WsUrl::parse(bad), Err(UsageError::InvalidUrl), "{bad}");
        }
    }
}
