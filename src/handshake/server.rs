//! The server side of the opening handshake (RFC 6455 §4.2): parsing and checking the
//! client's request, and writing the response.

use super::accept::{accept_value, is_valid_key};
use super::headers::{Headers, Known, Seen, classify, value_has_token};
use super::{HEADER_CAPACITY, Limits, Sink, head_fits, is_safe_value, is_token, write_twice};
use crate::error::{Error, HandshakeError, UsageError};

/// A parsed request head, borrowed from the caller's input buffer.
///
/// Besides the head itself it records, from the one parsing pass, where the header fields of
/// the handshake are and what the upgrade rules need to know, so that neither the accessors
/// nor [`check_upgrade`] search the head again.
#[derive(Clone, Copy, Debug)]
pub struct Request<'b> {
    head: &'b [u8],
    method: &'b str,
    target: &'b str,
    host: Seen,
    origin: Seen,
    key: Seen,
    version: Seen,
    protocols: Seen,
    extensions: Seen,
    /// The minor version of HTTP/1.x.
    minor_version: u8,
    /// `UPGRADE_SEEN`, `UPGRADE_WEBSOCKET`, `CONNECTION_UPGRADE`.
    flags: u8,
}

/// Some `Upgrade` line was present.
const UPGRADE_SEEN: u8 = 1;
/// Some `Upgrade` line lists `websocket`.
const UPGRADE_WEBSOCKET: u8 = 2;
/// Some `Connection` line lists `Upgrade`.
const CONNECTION_UPGRADE: u8 = 4;

/// The flag bits for one `Upgrade` or `Connection` line (0 for any other field).
pub(crate) fn list_flags(known: Known, value: &[u8]) -> u8 {
    match known {
        Known::Upgrade => {
            UPGRADE_SEEN
                | if value_has_token(value, b"websocket") {
                    UPGRADE_WEBSOCKET
                } else {
                    0
                }
        }
        Known::Connection if value_has_token(value, b"upgrade") => CONNECTION_UPGRADE,
        _ => 0,
    }
}

/// Whether `flags` (from [`list_flags`]) satisfy the `Upgrade: websocket` and
/// `Connection: Upgrade` rules, as the error to report if not.
pub(crate) fn check_list_flags(flags: u8) -> Result<(), HandshakeError> {
    if flags & UPGRADE_WEBSOCKET == 0 {
        return Err(HandshakeError::MissingUpgradeWebSocket);
    }
    if flags & CONNECTION_UPGRADE == 0 {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    Ok(())
}

impl<'b> Request<'b> {
    /// The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn http_minor_version(&self) -> u8 {
        self.minor_version
    }

    /// The request method, as sent (methods are case-sensitive: RFC 7230 §3.1.1).
    pub fn method(&self) -> &'b str {
        self.method
    }

    /// Request target: path and query, as sent (e.g. `"/chat?room=1"`); the WebSocket
    /// resource name (RFC 6455 §3, §4.2.1 item 2).
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The target before any `?`.
    pub fn path(&self) -> &'b str {
        self.target
            .split_once('?')
            .map_or(self.target, |(path, _)| path)
    }

    /// The target after the first `?`, if there is one.
    pub fn query(&self) -> Option<&'b str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The first `Host` value, if present and UTF-8 (RFC 6455 §4.2.1 item 3).
    pub fn host(&self) -> Option<&'b str> {
        utf8(self.host.value(self.head))
    }

    /// The first `Origin` value, if present and UTF-8 (RFC 6455 §4.2.1 item 7, §10.2). Sent by
    /// browsers; a server may refuse origins it does not trust.
    pub fn origin(&self) -> Option<&'b str> {
        utf8(self.origin.value(self.head))
    }

    /// Offered subprotocols, in the client's order of preference: every element of every
    /// `Sec-WebSocket-Protocol` line (RFC 6455 §4.1 item 10, §11.3.4). Non-UTF-8 elements are
    /// skipped.
    pub fn subprotocols(&self) -> impl Iterator<Item = &'b str> + use<'b> {
        self.protocols
            .list(self.head, "Sec-WebSocket-Protocol")
            .filter_map(|item| core::str::from_utf8(item).ok())
    }

    /// Offered extensions, one item per comma-separated extension, raw (e.g.
    /// `"permessage-deflate; client_max_window_bits"`), from every `Sec-WebSocket-Extensions`
    /// line (RFC 6455 §9.1, §11.3.2). Non-UTF-8 elements are skipped.
    pub fn extensions(&self) -> impl Iterator<Item = &'b str> + use<'b> {
        self.extensions
            .list(self.head, "Sec-WebSocket-Extensions")
            .filter_map(|item| core::str::from_utf8(item).ok())
    }

    /// All header lines.
    pub fn headers(&self) -> Headers<'b> {
        Headers::new(self.head)
    }

    /// The first value of the header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers().get(name)
    }

    /// Whether this request asks for a WebSocket upgrade at all: it has an `Upgrade`, a
    /// `Sec-WebSocket-Key` or a `Sec-WebSocket-Version` header. A request that does not is a
    /// plain HTTP request the application may answer itself (RFC 6455 §4.2.1 lets a server
    /// serve other HTTP content on the same port).
    pub fn is_upgrade(&self) -> bool {
        self.flags & UPGRADE_SEEN != 0 || self.key.count() > 0 || self.version.count() > 0
    }

    /// Whether the client offered this subprotocol. The match is exact and case-sensitive:
    /// RFC 6455 defines subprotocol names as tokens echoed back verbatim (§4.1 item 10,
    /// §4.2.2 step 5.4, §11.3.4) and, unlike `websocket` and `Upgrade`, never calls for a
    /// case-insensitive comparison.
    pub fn offers_subprotocol(&self, protocol: &str) -> bool {
        self.protocols
            .list(self.head, "Sec-WebSocket-Protocol")
            .any(|offered| offered == protocol.as_bytes())
    }

    /// The raw head bytes (request line, headers, blank line).
    pub fn head(&self) -> &'b [u8] {
        self.head
    }
}

/// `value` as UTF-8, if it is.
pub(crate) fn utf8(value: Option<&[u8]>) -> Option<&str> {
    value.and_then(|value| core::str::from_utf8(value).ok())
}

/// Parse a complete request head: `head` is exactly the bytes up to and including the blank
/// line, as found by [`find_head_end`](super::find_head_end).
///
/// Errors: `HeadTooLarge` when `head` is longer than `limits.max_head_len` (or than 1 GiB);
/// `MalformedHead` when `httparse` refuses it or it is incomplete;
/// `TooManyHeaders` for more than `limits.max_headers` (at most [`HEADER_CAPACITY`]) header
/// lines. A plain HTTP/1.0 request parses (the application may answer it); [`check_upgrade`]
/// refuses one that asks for an upgrade.
pub fn parse_request<'b>(head: &'b [u8], limits: &Limits) -> Result<Request<'b>, HandshakeError> {
    match parse_request_prefix(head, limits)? {
        Some(request) => Ok(request),
        None => Err(HandshakeError::MalformedHead),
    }
}

/// Parse the request head at the start of `buf`, which may hold bytes after it:
/// `Ok(None)` when the head is not complete in `buf`. The parsed [`Request::head`] ends
/// with the blank line. Errors as [`parse_request`].
pub(crate) fn parse_request_prefix<'b>(
    buf: &'b [u8],
    limits: &Limits,
) -> Result<Option<Request<'b>>, HandshakeError> {
    // `buf` may hold more than the head; httparse stops at the blank line.
    let head = buf;
    if !head_fits(head, limits) {
        return Err(HandshakeError::HeadTooLarge);
    }
    let mut slots = [const { core::mem::MaybeUninit::uninit() }; HEADER_CAPACITY];
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(head, &mut slots[..limits.header_slots()]) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
        Err(_) => return Err(HandshakeError::MalformedHead),
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(HandshakeError::MalformedHead);
    };
    let mut parsed = Request {
        head: &head[..len],
        method,
        target,
        host: Seen::default(),
        origin: Seen::default(),
        key: Seen::default(),
        version: Seen::default(),
        protocols: Seen::default(),
        extensions: Seen::default(),
        minor_version: version,
        flags: 0,
    };
    // One pass over the parsed lines: each name is compared once, by length first.
    for header in request.headers.iter() {
        let Some(known) = classify(header.name.as_bytes()) else {
            continue;
        };
        let value = header.value;
        let seen = match known {
            Known::Host => &mut parsed.host,
            Known::Origin => &mut parsed.origin,
            Known::Key => &mut parsed.key,
            Known::Version => &mut parsed.version,
            Known::Protocol => &mut parsed.protocols,
            Known::Extensions => &mut parsed.extensions,
            Known::Upgrade | Known::Connection => {
                parsed.flags |= list_flags(known, value);
                continue;
            }
            Known::Accept => continue,
        };
        seen.note(head, value);
    }
    Ok(Some(parsed))
}

/// Check the upgrade rules of RFC 6455 §4.2.1 on a request that
/// [`is_upgrade`](Request::is_upgrade), returning the `Sec-WebSocket-Accept` value to send.
///
/// The rules, in the order they are checked:
/// 1. the method is `GET` (§4.2.1 item 1), else `MethodNotGet`;
/// 2. HTTP/1.1 or later (§4.1 item 2, §4.2.1 item 1), else `HttpVersionTooOld`;
/// 3. `Host` is present (§4.2.1 item 2), else `MissingHost`, and appears once (RFC 7230
///    §5.4), else `DuplicateHeader`;
/// 4. `Upgrade` contains the token `websocket`, ASCII case-insensitive (§4.2.1 item 3), else
///    `MissingUpgradeWebSocket`;
/// 5. `Connection` contains the token `Upgrade`, ASCII case-insensitive (§4.2.1 item 4), else
///    `MissingConnectionUpgrade`;
/// 6. `Sec-WebSocket-Key` appears exactly once (§11.3.1), else `InvalidKey` when missing or
///    `DuplicateHeader`, and base64-decodes to exactly 16 bytes (§4.2.1 item 5), else
///    `InvalidKey`;
/// 7. `Sec-WebSocket-Version` appears exactly once (§11.3.5), else `UnsupportedVersion` when
///    missing or `DuplicateHeader`, and equals `13` (§4.2.1 item 6), else
///    `UnsupportedVersion`, which the server answers with 426 and
///    `Sec-WebSocket-Version: 13` (§4.2.2 item 4).
pub fn check_upgrade(request: &Request<'_>) -> Result<[u8; 28], HandshakeError> {
    if request.method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    if request.minor_version < 1 {
        return Err(HandshakeError::HttpVersionTooOld);
    }
    match request.host.count() {
        0 => return Err(HandshakeError::MissingHost),
        1 => {}
        _ => return Err(HandshakeError::DuplicateHeader),
    }
    check_list_flags(request.flags)?;
    let key = match request.key.count() {
        0 => return Err(HandshakeError::InvalidKey),
        1 => request.key.get(request.head),
        _ => return Err(HandshakeError::DuplicateHeader),
    };
    if !is_valid_key(key) {
        return Err(HandshakeError::InvalidKey);
    }
    match request.version.count() {
        0 => return Err(HandshakeError::UnsupportedVersion),
        1 => {}
        _ => return Err(HandshakeError::DuplicateHeader),
    }
    if request.version.get(request.head) != b"13" {
        return Err(HandshakeError::UnsupportedVersion);
    }
    Ok(accept_value(key))
}

/// Check caller-given headers: names are RFC 7230 tokens, values have no control
/// characters but HTAB (so no CR, LF or NUL: no header injection).
fn validate_headers(headers: &[(&str, &[u8])]) -> Result<(), UsageError> {
    if headers
        .iter()
        .all(|(name, value)| is_token(name.as_bytes()) && is_safe_value(value))
    {
        Ok(())
    } else {
        Err(UsageError::InvalidHeader)
    }
}

/// Write the 101 response that accepts the handshake (RFC 6455 §4.2.2 step 5):
/// `HTTP/1.1 101 Switching Protocols`, `Upgrade: websocket`, `Connection: Upgrade`,
/// `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol` if one was chosen, then
/// `extra_headers` (for example an accepted `Sec-WebSocket-Extensions`), then the blank line.
///
/// Returns the length written. Errors, with nothing written: `Usage(InvalidHeader)` for an
/// extra header name that is not an RFC 7230 token, a value with CR, LF, NUL or another
/// control character but HTAB, or a subprotocol that is not a token (§4.2.2 step 5.4 /
/// §11.3.4); `BufferTooSmall { needed }` when `out` is too short. Whether the subprotocol
/// was offered is the caller's check ([`Request::offers_subprotocol`]).
pub fn write_accept(
    out: &mut [u8],
    accept: &[u8; 28],
    subprotocol: Option<&str>,
    extra_headers: &[(&str, &[u8])],
) -> Result<usize, Error> {
    write_accept_with(out, accept, subprotocol, None, extra_headers)
}

/// [`write_accept`] with a `Sec-WebSocket-Extensions` value (written by the crate itself).
pub(crate) fn write_accept_with(
    out: &mut [u8],
    accept: &[u8; 28],
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    extra_headers: &[(&str, &[u8])],
) -> Result<usize, Error> {
    validate_headers(extra_headers)?;
    if subprotocol.is_some_and(|p| !is_token(p.as_bytes())) {
        return Err(UsageError::InvalidHeader.into());
    }
    let written = write_twice(out, |s| {
        s.put(b"HTTP/1.1 101 Switching Protocols\r\n");
        s.put(b"Upgrade: websocket\r\n");
        s.put(b"Connection: Upgrade\r\n");
        s.put_header(b"Sec-WebSocket-Accept", accept);
        if let Some(protocol) = subprotocol {
            s.put_header(b"Sec-WebSocket-Protocol", protocol.as_bytes());
        }
        if let Some(extensions) = extensions {
            s.put_header(b"Sec-WebSocket-Extensions", extensions.as_bytes());
        }
        put_headers(s, extra_headers);
        s.put(b"\r\n");
    })?;
    Ok(written)
}

fn put_headers(s: &mut Sink<'_>, headers: &[(&str, &[u8])]) {
    for (name, value) in headers {
        s.put_header(name.as_bytes(), value);
    }
}

/// The standard reason phrase for `status` (RFC 9110 §15), `"Unknown"` for codes not in the
/// table.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Write any response other than the 101 (RFC 6455 §4.2.2 item 1 and §4.4: a server may
/// answer with any HTTP status, for example a redirect, 401, 403, or 426): the status line
/// with the standard reason phrase (`"Unknown"` for codes not in a small table), `headers`,
/// `Content-Length: <body.len()>`, `Connection: close`, the blank line, then `body`.
///
/// For 1xx and 204, which may carry neither a body nor `Content-Length` (RFC 9110 §8.6),
/// `Content-Length` is left out and `body` must be empty.
///
/// Returns the length written. Errors, with nothing written: `Usage(InvalidStatus)` for a
/// status outside 100..=999, 101 (use [`write_accept`]), or a body on 1xx/204;
/// `Usage(InvalidHeader)` for a header name that is not a token, a value with CR, LF, NUL or
/// another control character but HTAB, or a `Content-Length` or `Transfer-Encoding` header
/// (this function frames the body itself); `BufferTooSmall { needed }` when `out` is too
/// short.
pub fn write_response(
    out: &mut [u8],
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<usize, Error> {
    if !(100..=999).contains(&status) || status == 101 {
        return Err(UsageError::InvalidStatus.into());
    }
    let bodiless = status < 200 || status == 204;
    if bodiless && !body.is_empty() {
        return Err(UsageError::InvalidStatus.into());
    }
    validate_headers(headers)?;
    if headers.iter().any(|(name, _)| {
        name.eq_ignore_ascii_case("Content-Length")
            || name.eq_ignore_ascii_case("Transfer-Encoding")
    }) {
        return Err(UsageError::InvalidHeader.into());
    }
    let written = write_twice(out, |s| {
        s.put(b"HTTP/1.1 ");
        s.put_decimal(usize::from(status));
        s.put(b" ");
        s.put(reason_phrase(status).as_bytes());
        s.put(b"\r\n");
        put_headers(s, headers);
        if !bodiless {
            s.put(b"Content-Length: ");
            s.put_decimal(body.len());
            s.put(b"\r\n");
        }
        s.put(b"Connection: close\r\n\r\n");
        s.put(body);
    })?;
    Ok(written)
}

const REJECT_400: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const REJECT_426: &[u8] = b"HTTP/1.1 426 Upgrade Required\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade, close\r\n\
    Sec-WebSocket-Version: 13\r\n\
    Content-Length: 0\r\n\r\n";
/// The response of a server whose client did not finish its request in time (RFC 9110
/// §15.5.9).
pub(crate) const REQUEST_TIMEOUT_408: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const REJECT_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
    Connection: close\r\nContent-Length: 0\r\n\r\n";

/// The fixed response a server sends when the handshake itself fails, by
/// [`HandshakeError::status`]:
/// - 426 Upgrade Required for `UnsupportedVersion`, with `Sec-WebSocket-Version: 13` (RFC
///   6455 §4.2.2 item 4, §4.4) and `Upgrade: websocket` (which RFC 9110 §15.5.22 requires in a
///   426; `Connection` then lists `Upgrade` as well as `close`, RFC 9110 §7.8);
/// - 431 Request Header Fields Too Large for `HeadTooLarge` and `TooManyHeaders` (RFC 6585
///   §5);
/// - 400 Bad Request for everything else (RFC 6455 §4.2.1), including the client-only errors.
///
/// Each has `Connection: close` and `Content-Length: 0`.
pub fn rejection_for(error: HandshakeError) -> &'static [u8] {
    match error.status() {
        Some(426) => REJECT_426,
        Some(431) => REJECT_431,
        _ => REJECT_400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{find_head_end, list_contains};
    use std::vec::Vec;

    /// The sample request of RFC 6455 §1.2 / §1.3.
    const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\
        \r\n";

    /// The sample response of RFC 6455 §1.2 / §1.3.
    const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\
        \r\n";

    fn parse(head: &[u8]) -> Request<'_> {
        parse_request(head, &Limits::default()).unwrap()
    }

    fn with_line(prefix: &str, line: &str) -> Vec<u8> {
        crate::handshake::test_heads::with_line(RFC_REQUEST, prefix, line)
    }

    fn with_extra(line: &str) -> Vec<u8> {
        crate::handshake::test_heads::with_extra(RFC_REQUEST, line)
    }

    fn check(head: &[u8]) -> Result<[u8; 28], HandshakeError> {
        check_upgrade(&parse_request(head, &Limits::default())?)
    }

    /// `check_upgrade` as it was written before the one-pass index: by searching the head.
    fn check_by_search(request: &Request<'_>) -> Result<[u8; 28], HandshakeError> {
        let headers = request.headers();
        if request.method() != "GET" {
            return Err(HandshakeError::MethodNotGet);
        }
        if request.http_minor_version() < 1 {
            return Err(HandshakeError::HttpVersionTooOld);
        }
        match headers.occurrences("Host") {
            0 => return Err(HandshakeError::MissingHost),
            1 => {}
            _ => return Err(HandshakeError::DuplicateHeader),
        }
        if !list_contains(headers.list("Upgrade"), "websocket") {
            return Err(HandshakeError::MissingUpgradeWebSocket);
        }
        if !list_contains(headers.list("Connection"), "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        let key = match headers.occurrences("Sec-WebSocket-Key") {
            0 => return Err(HandshakeError::InvalidKey),
            1 => headers.get("Sec-WebSocket-Key").unwrap_or_default(),
            _ => return Err(HandshakeError::DuplicateHeader),
        };
        if !is_valid_key(key) {
            return Err(HandshakeError::InvalidKey);
        }
        match headers.occurrences("Sec-WebSocket-Version") {
            0 => return Err(HandshakeError::UnsupportedVersion),
            1 => {}
            _ => return Err(HandshakeError::DuplicateHeader),
        }
        if headers.get("Sec-WebSocket-Version") != Some(b"13") {
            return Err(HandshakeError::UnsupportedVersion);
        }
        Ok(accept_value(key))
    }

    const LINES: &[&str] = &[
        "Host: a.example",
        "host:b.example  ",
        "Upgrade: websocket",
        "UPGRADE: h2c, WebSocket",
        "Upgrade: \"websocket, x\"",
        "Connection: keep-alive, Upgrade",
        "connection: close",
        "Connection: \"a,upgrade\", x",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAQ==",
        "Sec-WebSocket-Key: not a key",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Version:8",
        "Sec-WebSocket-Protocol: chat, , superchat",
        "sec-websocket-protocol: third",
        "Sec-WebSocket-Extensions: permessage-deflate; a=\"1,2\", x",
        "Sec-WebSocket-Extensions:",
        "Origin: http://o.example",
        "Sec-WebSocket-Accept: x",
        "Hots: a",
        "X-Sec-WebSocket-Key: y",
    ];

    proptest::proptest! {
        #[test]
        fn one_pass_index_agrees_with_searching_the_head(
            picks in proptest::collection::vec(0..LINES.len(), 0..10),
            line_end in proptest::sample::select(&["\r\n", "\n"][..]),
        ) {
            let mut head = std::format!("GET /chat HTTP/1.1{line_end}");
            for &i in &picks {
                head.push_str(LINES[i]);
                head.push_str(line_end);
            }
            head.push_str(line_end);
            let request = parse(head.as_bytes());
            let headers = request.headers();
            proptest::prop_assert_eq!(check_upgrade(&request), check_by_search(&request));
            proptest::prop_assert_eq!(request.host(), utf8(headers.get("Host")));
            proptest::prop_assert_eq!(request.origin(), utf8(headers.get("Origin")));
            let protocols: Vec<&[u8]> = headers.list("Sec-WebSocket-Protocol").collect();
            proptest::prop_assert_eq!(
                request.subprotocols().map(str::as_bytes).collect::<Vec<_>>(),
                protocols.clone()
            );
            let extensions: Vec<&[u8]> = headers.list("Sec-WebSocket-Extensions").collect();
            proptest::prop_assert_eq!(
                request.extensions().map(str::as_bytes).collect::<Vec<_>>(),
                extensions
            );
            for protocol in ["chat", "superchat", "third", "Chat", ""] {
                proptest::prop_assert_eq!(
                    request.offers_subprotocol(protocol),
                    protocols.contains(&protocol.as_bytes())
                );
            }
            let by_search = ["Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version"]
                .iter()
                .any(|name| headers.occurrences(name) > 0);
            proptest::prop_assert_eq!(request.is_upgrade(), by_search);
        }
    }

    #[test]
    fn rfc_6455_sample_request_parses() {
        let request = parse(RFC_REQUEST);
        assert_eq!(request.method(), "GET");
        assert_eq!(request.target(), "/chat");
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.query(), None);
        assert_eq!(request.host(), Some("server.example.com"));
        assert_eq!(request.origin(), Some("http://example.com"));
        assert_eq!(
            request.subprotocols().collect::<Vec<_>>(),
            ["chat", "superchat"]
        );
        assert_eq!(request.extensions().count(), 0);
        assert!(request.is_upgrade());
        assert!(request.offers_subprotocol("chat"));
        assert!(request.offers_subprotocol("superchat"));
        assert!(!request.offers_subprotocol("Chat"));
        assert!(!request.offers_subprotocol("chat, superchat"));
        assert_eq!(request.head(), RFC_REQUEST);
        assert_eq!(
            request.header("sec-websocket-key"),
            Some(&b"dGhlIHNhbXBsZSBub25jZQ=="[..])
        );
        assert_eq!(request.headers().count(), 7);
    }

    #[test]
    fn rfc_6455_handshake_round_trip() {
        let mut scanned = 0;
        let len = find_head_end(RFC_REQUEST, &mut scanned, &Limits::default())
            .unwrap()
            .unwrap();
        let request = parse(&RFC_REQUEST[..len]);
        let accept = check_upgrade(&request).unwrap();
        assert_eq!(&accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let mut out = [0u8; 256];
        let n = write_accept(&mut out, &accept, Some("chat"), &[]).unwrap();
        assert_eq!(&out[..n], RFC_RESPONSE);
    }

    #[test]
    fn query_and_path_split() {
        let request = parse(b"GET /chat?room=1&x=?y HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(request.target(), "/chat?room=1&x=?y");
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.query(), Some("room=1&x=?y"));
    }

    #[test]
    fn plain_http_request_is_not_upgrade() {
        let request = parse(b"GET /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assert!(!request.is_upgrade());
        let request = parse(b"GET / HTTP/1.1\r\nHost: a\r\nsec-websocket-version: 13\r\n\r\n");
        assert!(request.is_upgrade());
    }

    #[test]
    fn extensions_are_raw_items() {
        let head = with_extra(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
        );
        let request = parse(&head);
        assert_eq!(
            request.extensions().collect::<Vec<_>>(),
            ["permessage-deflate; client_max_window_bits", "x-foo"]
        );
    }

    #[test]
    fn server_rejects_malformed_head_with_400() {
        for head in [
            &b"GET /chat HTTP/1.1\r\nHost server\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET /chat HTTP/1.1\r\nHost: a\r\n",
            b"\x00\x01\x02\r\n\r\n",
        ] {
            assert_eq!(
                parse_request(head, &Limits::default()).unwrap_err(),
                HandshakeError::MalformedHead
            );
        }
        assert_eq!(rejection_for(HandshakeError::MalformedHead), REJECT_400);
    }

    #[test]
    fn server_rejects_http_1_0_upgrade_with_400() {
        let head = b"GET /chat HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let request = parse_request(head, &Limits::default()).unwrap();
        assert!(request.is_upgrade());
        assert_eq!(request.http_minor_version(), 0);
        assert_eq!(
            check_upgrade(&request),
            Err(HandshakeError::HttpVersionTooOld)
        );
        // A plain HTTP/1.0 request parses, for the application to answer.
        let plain = parse_request(b"GET / HTTP/1.0\r\n\r\n", &Limits::default()).unwrap();
        assert!(!plain.is_upgrade());
        assert_eq!(HandshakeError::HttpVersionTooOld.status(), Some(400));
    }

    #[test]
    fn server_rejects_more_headers_than_max_headers_with_431() {
        let limits = Limits {
            max_head_len: 8192,
            max_headers: 7,
        };
        assert!(parse_request(RFC_REQUEST, &limits).is_ok());
        let limits = Limits {
            max_head_len: 8192,
            max_headers: 6,
        };
        assert_eq!(
            parse_request(RFC_REQUEST, &limits).unwrap_err(),
            HandshakeError::TooManyHeaders
        );
        assert_eq!(rejection_for(HandshakeError::TooManyHeaders), REJECT_431);
    }

    #[test]
    fn server_caps_max_headers_at_header_capacity() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=HEADER_CAPACITY {
            head.extend_from_slice(std::format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let limits = Limits {
            max_head_len: 1 << 20,
            max_headers: usize::MAX,
        };
        assert_eq!(
            parse_request(&head, &limits).unwrap_err(),
            HandshakeError::TooManyHeaders
        );
    }

    #[test]
    fn server_rejects_head_over_max_head_len_with_431() {
        let limits = Limits {
            max_head_len: RFC_REQUEST.len() - 1,
            max_headers: 64,
        };
        assert_eq!(
            parse_request(RFC_REQUEST, &limits).unwrap_err(),
            HandshakeError::HeadTooLarge
        );
        assert_eq!(rejection_for(HandshakeError::HeadTooLarge), REJECT_431);
    }

    #[test]
    fn server_rejects_non_get_method_with_400() {
        let head = with_line("GET", "POST /chat HTTP/1.1");
        assert_eq!(check(&head), Err(HandshakeError::MethodNotGet));
        let head = with_line("GET", "get /chat HTTP/1.1");
        assert_eq!(check(&head), Err(HandshakeError::MethodNotGet));
        assert_eq!(rejection_for(HandshakeError::MethodNotGet), REJECT_400);
    }

    #[test]
    fn server_rejects_missing_host_with_400() {
        let head = with_line("Host:", "");
        assert_eq!(check(&head), Err(HandshakeError::MissingHost));
    }

    #[test]
    fn server_rejects_duplicate_host_with_400() {
        let head = with_extra("host: other.example.com");
        assert_eq!(check(&head), Err(HandshakeError::DuplicateHeader));
    }

    #[test]
    fn server_rejects_missing_upgrade_websocket_with_400() {
        let head = with_line("Upgrade:", "");
        assert_eq!(check(&head), Err(HandshakeError::MissingUpgradeWebSocket));
        let head = with_line("Upgrade:", "Upgrade: h2c");
        assert_eq!(check(&head), Err(HandshakeError::MissingUpgradeWebSocket));
        let head = with_line("Upgrade:", "Upgrade: websockets");
        assert_eq!(check(&head), Err(HandshakeError::MissingUpgradeWebSocket));
    }

    #[test]
    fn server_accepts_upgrade_websocket_case_insensitive() {
        let head = with_line("Upgrade:", "UPGRADE: WebSocket");
        assert!(check(&head).is_ok());
        let head = with_line("Upgrade:", "Upgrade: h2c, websocket");
        assert!(check(&head).is_ok());
    }

    #[test]
    fn server_rejects_missing_connection_upgrade_with_400() {
        let head = with_line("Connection:", "");
        assert_eq!(check(&head), Err(HandshakeError::MissingConnectionUpgrade));
        let head = with_line("Connection:", "Connection: keep-alive");
        assert_eq!(check(&head), Err(HandshakeError::MissingConnectionUpgrade));
        let head = with_line("Connection:", "Connection: upgrade-ish");
        assert_eq!(check(&head), Err(HandshakeError::MissingConnectionUpgrade));
    }

    #[test]
    fn server_accepts_connection_upgrade_in_token_list() {
        let head = with_line("Connection:", "Connection: keep-alive, Upgrade");
        assert_eq!(check(&head).unwrap(), *b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let head = with_line("Connection:", "Connection: keep-alive");
        let head = {
            let mut h = head;
            h.truncate(h.len() - 2);
            h.extend_from_slice(b"connection: UPGRADE\r\n\r\n");
            h
        };
        assert!(check(&head).is_ok());
    }

    #[test]
    fn server_rejects_missing_key_with_400() {
        let head = with_line("Sec-WebSocket-Key:", "");
        assert_eq!(check(&head), Err(HandshakeError::InvalidKey));
    }

    #[test]
    fn server_rejects_duplicate_key_with_400() {
        let head = with_extra("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(check(&head), Err(HandshakeError::DuplicateHeader));
        assert_eq!(rejection_for(HandshakeError::DuplicateHeader), REJECT_400);
    }

    #[test]
    fn server_rejects_key_not_decoding_to_16_bytes_with_400() {
        // 15 bytes and 17 bytes, base64-encoded.
        for key in [
            "AAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA=",
            "not a key",
        ] {
            let line = std::format!("Sec-WebSocket-Key: {key}");
            let head = with_line("Sec-WebSocket-Key:", &line);
            assert_eq!(check(&head), Err(HandshakeError::InvalidKey), "{key}");
        }
    }

    #[test]
    fn server_rejects_version_8_with_426() {
        let head = with_line("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8");
        assert_eq!(check(&head), Err(HandshakeError::UnsupportedVersion));
        let response = rejection_for(HandshakeError::UnsupportedVersion);
        assert!(response.starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
        let headers = Headers::new(response);
        assert_eq!(headers.get("Sec-WebSocket-Version"), Some(&b"13"[..]));
        assert!(list_contains(headers.list("Connection"), "close"));
        assert_eq!(headers.get("Content-Length"), Some(&b"0"[..]));
    }

    #[test]
    fn server_rejects_missing_version_with_426() {
        let head = with_line("Sec-WebSocket-Version:", "");
        assert_eq!(check(&head), Err(HandshakeError::UnsupportedVersion));
        assert_eq!(
            rejection_for(HandshakeError::UnsupportedVersion),
            REJECT_426
        );
    }

    #[test]
    fn server_rejects_duplicate_version_with_400() {
        let head = with_extra("Sec-WebSocket-Version: 13");
        assert_eq!(check(&head), Err(HandshakeError::DuplicateHeader));
    }

    #[test]
    fn rejections_parse_as_responses() {
        for response in [REJECT_400, REJECT_426, REJECT_431] {
            let mut slots = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Response::new(&mut slots);
            assert_eq!(
                parsed.parse(response),
                Ok(httparse::Status::Complete(response.len()))
            );
        }
    }

    #[test]
    fn write_accept_with_extensions_and_extra_headers() {
        let accept = accept_value(b"dGhlIHNhbXBsZSBub25jZQ==");
        let mut out = [0u8; 512];
        let n = write_accept(
            &mut out,
            &accept,
            None,
            &[
                ("Sec-WebSocket-Extensions", b"permessage-deflate"),
                ("Set-Cookie", b"a=b"),
            ],
        )
        .unwrap();
        let expected: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
            Sec-WebSocket-Extensions: permessage-deflate\r\n\
            Set-Cookie: a=b\r\n\
            \r\n";
        assert_eq!(&out[..n], expected);
    }

    #[test]
    fn write_accept_rejects_header_injection() {
        let accept = [b'A'; 28];
        let mut out = [0xAAu8; 512];
        let bad: [(&str, &[u8]); 6] = [
            ("X", b"a\r\nInjected: yes"),
            ("X", b"a\nb"),
            ("X", b"a\0b"),
            ("X: y", b"v"),
            ("X\r\nY", b"v"),
            ("", b"v"),
        ];
        for header in bad {
            assert_eq!(
                write_accept(&mut out, &accept, None, &[header]),
                Err(Error::Usage(UsageError::InvalidHeader))
            );
        }
        assert_eq!(
            write_accept(&mut out, &accept, Some("chat\r\nX: y"), &[]),
            Err(Error::Usage(UsageError::InvalidHeader))
        );
        assert!(out.iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn write_accept_buffer_too_small_leaves_out_untouched() {
        let accept = accept_value(b"dGhlIHNhbXBsZSBub25jZQ==");
        let mut out = [0xAAu8; 512];
        let needed = RFC_RESPONSE.len();
        for len in [0, 1, needed - 1] {
            assert_eq!(
                write_accept(&mut out[..len], &accept, Some("chat"), &[]),
                Err(Error::BufferTooSmall { needed })
            );
            assert!(out.iter().all(|&b| b == 0xAA));
        }
        assert_eq!(
            write_accept(&mut out[..needed], &accept, Some("chat"), &[]),
            Ok(needed)
        );
    }

    #[test]
    fn write_response_with_body() {
        let mut out = [0u8; 256];
        let n = write_response(
            &mut out,
            403,
            &[("Content-Type", b"text/plain")],
            b"go away",
        )
        .unwrap();
        let expected: &[u8] = b"HTTP/1.1 403 Forbidden\r\n\
            Content-Type: text/plain\r\n\
            Content-Length: 7\r\n\
            Connection: close\r\n\
            \r\n\
            go away";
        assert_eq!(&out[..n], expected);
        let n = write_response(&mut out, 799, &[], b"").unwrap();
        assert_eq!(
            &out[..n],
            b"HTTP/1.1 799 Unknown\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let n = write_response(&mut out, 204, &[], b"").unwrap();
        assert_eq!(
            &out[..n],
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn write_response_rejects_bad_status() {
        let mut out = [0xAAu8; 256];
        for status in [0, 99, 101, 1000, u16::MAX] {
            assert_eq!(
                write_response(&mut out, status, &[], b""),
                Err(Error::Usage(UsageError::InvalidStatus))
            );
        }
        assert_eq!(
            write_response(&mut out, 204, &[], b"body"),
            Err(Error::Usage(UsageError::InvalidStatus))
        );
        assert!(out.iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn write_response_rejects_bad_headers() {
        let mut out = [0xAAu8; 256];
        let bad: [(&str, &[u8]); 4] = [
            ("Location", b"/x\r\n\r\n<html>"),
            ("Bad Name", b"v"),
            ("Content-Length", b"5"),
            ("transfer-encoding", b"chunked"),
        ];
        for header in bad {
            assert_eq!(
                write_response(&mut out, 400, &[header], b""),
                Err(Error::Usage(UsageError::InvalidHeader))
            );
        }
        assert!(out.iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn write_response_buffer_too_small_leaves_out_untouched() {
        let mut out = [0xAAu8; 256];
        let full = write_response(&mut out, 404, &[], b"nope").unwrap();
        let mut out = [0xAAu8; 256];
        assert_eq!(
            write_response(&mut out[..full - 1], 404, &[], b"nope"),
            Err(Error::BufferTooSmall { needed: full })
        );
        assert!(out.iter().all(|&b| b == 0xAA));
    }
}
