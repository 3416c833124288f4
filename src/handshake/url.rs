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
        let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "ws://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "wss://") {
            (true, rest)
        } else {
            return Err(invalid);
        };
        if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('#') {
            return Err(invalid);
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        let target = if target.is_empty() { "/" } else { target };

        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or(invalid)?;
            if !is_ipv6_literal(host) {
                return Err(invalid);
            }
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(invalid)?),
            };
            (host, port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.is_empty() || !host.bytes().all(is_reg_name_byte) {
                return Err(invalid);
            }
            (host, port)
        };
        let default_port = if secure { 443 } else { 80 };
        let port = match port {
            // An empty port means the default (RFC 3986 §3.2.3).
            None | Some("") => default_port,
            Some(digits) => parse_port(digits).ok_or(invalid)?,
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

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The characters of an RFC 3986 `reg-name` or IPv4 address: unreserved, pct-encoded,
/// sub-delims.
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)
}

/// A plausible IPv6 literal: hex digits, colons and dots (for an embedded IPv4 address),
/// with at least one colon. The address itself is the transport's business.
fn is_ipv6_literal(host: &str) -> bool {
    host.contains(':')
        && host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

fn parse_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u16>().ok().filter(|&port| port != 0)
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
    }

    #[test]
    fn parses_ipv6_without_brackets() {
        let u = WsUrl::parse("ws://[::1]:8080/x").unwrap();
        assert_eq!((u.host, u.port, u.target), ("::1", 8080, "/x"));
        let u = WsUrl::parse("wss://[2001:db8::1]?q").unwrap();
        assert_eq!((u.host, u.port, u.target), ("2001:db8::1", 443, "?q"));
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
