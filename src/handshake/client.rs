//! The client side of the opening handshake (RFC 6455 §4.1): writing the request, and
//! parsing and checking the server's response.

use super::headers::{Headers, Known, Seen, classify};
use super::server::{check_list_flags, list_flags, utf8};
use super::url::WsUrl;
use super::{HEADER_CAPACITY, Limits, Sink, head_fits, is_safe_value, is_token, write_twice};
use crate::deflate::DeflateConfig;
use crate::error::{Error, HandshakeError, UsageError};
use crate::target::COMPACT_CODE;
use crate::token::{extension_name, trim_ows};

/// What the client sends (RFC 6455 §4.1): all borrowed. Build one with
/// [`from_url`](Self::from_url) or [`new`](Self::new), then the `with_*` methods; fields
/// can be read and assigned (more may be added in a minor release).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ClientRequest<'a> {
    /// The server's host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub host: &'a str,
    /// The server's port.
    pub port: u16,
    /// Whether the connection runs over TLS (`wss`); decides the default port.
    pub secure: bool,
    /// The resource name: path and query (§3), e.g. `"/chat?room=1"`.
    pub target: &'a str,
    /// The `Origin` header, which browsers send (§4.1 client requirement 8, §10.2).
    pub origin: Option<&'a str>,
    /// Subprotocols to offer, in order of preference (§4.1 client requirement 10).
    pub subprotocols: &'a [&'a str],
    /// Extensions to offer, each one raw element such as
    /// `"permessage-deflate; client_max_window_bits"` (§4.1 client requirement 11, §9.1).
    pub extensions: &'a [&'a str],
    /// Extra headers, for example `Authorization` or `Cookie` (§4.1 client requirement 12).
    /// They must not repeat the headers this request writes itself.
    pub headers: &'a [(&'a str, &'a str)],
    /// permessage-deflate (RFC 7692) to offer, after `extensions`: the element
    /// [`DeflateConfig::offer`] writes. The client checks the server's answer against it.
    pub deflate: Option<DeflateConfig>,
}

impl<'a> ClientRequest<'a> {
    /// A request for the URL `url` (see [`WsUrl::parse`]); the other fields are empty or
    /// `None`.
    pub fn from_url(url: &'a str) -> Result<Self, UsageError> {
        let url = WsUrl::parse(url)?;
        Ok(ClientRequest {
            host: url.host,
            port: url.port,
            secure: url.secure,
            target: url.target,
            origin: None,
            subprotocols: &[],
            extensions: &[],
            headers: &[],
            deflate: None,
        })
    }

    /// A request for `target` (path and query, starting with `/`) on `host`:`port`, over
    /// plain TCP; the other fields are empty or `None`. Checked when the client is made.
    pub const fn new(host: &'a str, port: u16, target: &'a str) -> Self {
        ClientRequest {
            host,
            port,
            secure: false,
            target,
            origin: None,
            subprotocols: &[],
            extensions: &[],
            headers: &[],
            deflate: None,
        }
    }

    /// This request marked as running over TLS (`wss`), which decides the default port.
    pub const fn with_secure(self, secure: bool) -> Self {
        ClientRequest { secure, ..self }
    }

    /// This request with an `Origin` header.
    pub fn with_origin(self, origin: &'a str) -> Self {
        ClientRequest {
            origin: Some(origin),
            ..self
        }
    }

    /// This request offering `subprotocols`, in order of preference.
    pub fn with_subprotocols(self, subprotocols: &'a [&'a str]) -> Self {
        ClientRequest {
            subprotocols,
            ..self
        }
    }

    /// This request offering `extensions`.
    pub fn with_extensions(self, extensions: &'a [&'a str]) -> Self {
        ClientRequest { extensions, ..self }
    }

    /// This request offering permessage-deflate (RFC 7692) as `config` says;
    /// `DeflateConfig::default()` offers what browsers offer.
    pub const fn with_deflate(self, config: DeflateConfig) -> Self {
        ClientRequest {
            deflate: Some(config),
            ..self
        }
    }

    /// This request with extra `headers`.
    pub fn with_headers(self, headers: &'a [(&'a str, &'a str)]) -> Self {
        ClientRequest { headers, ..self }
    }

    /// Check every caller-given string, so that nothing can inject a header or break the
    /// request line:
    /// - `host` is non-empty and has no space, control character, `/`, `?`, `#`, `@`, `[` or
    ///   `]` (§3), else `InvalidUrl`;
    /// - `target` starts with `/` or `?` and has only visible ASCII (no space, no control
    ///   character), and no `#` (§3), else `InvalidUrl`;
    /// - `port` is not 0, else `InvalidUrl`;
    /// - extra header names are RFC 7230 tokens, subprotocols are tokens (§4.1 client
    ///   requirement 10), and `origin`, extension offers and header values have no control
    ///   character but HTAB (so no CR, LF or NUL), and extension offers are not empty, else
    ///   `InvalidHeader`.
    pub fn validate(&self) -> Result<(), UsageError> {
        let host_ok = !self.host.is_empty()
            && self.host.bytes().all(|b| {
                b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'@' | b'[' | b']')
            });
        let target_ok = (self.target.starts_with('/') || self.target.starts_with('?'))
            && self
                .target
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'#');
        if !host_ok || !target_ok || self.port == 0 {
            return Err(UsageError::InvalidUrl);
        }
        let origin_ok = self.origin.is_none_or(|o| is_safe_value(o.as_bytes()));
        let protocols_ok = self.subprotocols.iter().all(|p| is_token(p.as_bytes()));
        let extensions_ok = self
            .extensions
            .iter()
            .all(|e| !trim_ascii(e).is_empty() && is_safe_value(e.as_bytes()));
        let headers_ok = self
            .headers
            .iter()
            .all(|(name, value)| is_token(name.as_bytes()) && is_safe_value(value.as_bytes()));
        if origin_ok && protocols_ok && extensions_ok && headers_ok {
            Ok(())
        } else {
            Err(UsageError::InvalidHeader)
        }
    }

    /// Whether this request offers no subprotocol and no extension (so a response that
    /// accepts any fails the handshake, RFC 6455 §4.1).
    pub(crate) fn offers_nothing(&self) -> bool {
        self.subprotocols.is_empty() && self.extensions.is_empty() && self.deflate.is_none()
    }

    /// Whether `port` is the default for the scheme (80, or 443 with TLS).
    fn default_port(&self) -> bool {
        self.port == if self.secure { 443 } else { 80 }
    }

    /// Write the opening handshake request (RFC 6455 §4.1 client requirements 1-12):
    /// `GET <target> HTTP/1.1`, `Host` (an IPv6 host in brackets; `:port` only when it is not
    /// the scheme default), `Upgrade: websocket`, `Connection: Upgrade`,
    /// `Sec-WebSocket-Key: <key>`, `Sec-WebSocket-Version: 13`, `Origin` if set,
    /// `Sec-WebSocket-Protocol: a, b` and `Sec-WebSocket-Extensions: x, y` if any were given,
    /// the extra headers, then the blank line.
    ///
    /// `key` comes from [`encode_key`](super::encode_key) on a fresh random nonce; keep
    /// [`accept_value`](super::accept_value) of it for [`check_response`].
    ///
    /// Returns the length written. Errors, with nothing written: the [`validate`](Self::validate)
    /// errors as `Error::Usage`, and `BufferTooSmall { needed }` when `out` is too short.
    pub fn write(&self, key: &[u8; 24], out: &mut [u8]) -> Result<usize, Error> {
        self.validate()?;
        Ok(self.write_validated(key, out)?)
    }

    /// [`write`](Self::write) for a request already validated.
    pub(crate) fn write_validated(
        &self,
        key: &[u8; 24],
        out: &mut [u8],
    ) -> Result<usize, crate::error::BufferTooSmall> {
        self.write_with(key, out, Self::put_offers)
    }

    /// [`write_validated`](Self::write_validated), with the `Sec-WebSocket-Protocol` and
    /// `Sec-WebSocket-Extensions` headers written by `put_offers`: [`put_offers`](Self::put_offers),
    /// or, for a request that offers nothing, a function that writes nothing (so that a
    /// client whose requests never offer anything does not link the writing of offers).
    pub(crate) fn write_with(
        &self,
        key: &[u8; 24],
        out: &mut [u8],
        put_offers: fn(&Self, &mut Sink<'_>),
    ) -> Result<usize, crate::error::BufferTooSmall> {
        write_twice(out, |s| {
            s.put(b"GET ");
            if self.target.starts_with('?') {
                s.put(b"/");
            }
            s.put(self.target.as_bytes());
            s.put(b" HTTP/1.1\r\nHost: ");
            if self.host.bytes().any(|b| b == b':') {
                s.put(b"[");
                s.put(self.host.as_bytes());
                s.put(b"]");
            } else {
                s.put(self.host.as_bytes());
            }
            if !self.default_port() {
                s.put(b":");
                s.put_decimal(usize::from(self.port));
            }
            s.put(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
            s.put_header(b"Sec-WebSocket-Key", key);
            s.put(b"Sec-WebSocket-Version: 13\r\n");
            if let Some(origin) = self.origin {
                s.put_header(b"Origin", origin.as_bytes());
            }
            put_offers(self, s);
            for (name, value) in self.headers {
                s.put_header(name.as_bytes(), value.as_bytes());
            }
            s.put(b"\r\n");
        })
    }

    /// The headers of what this request offers: `Sec-WebSocket-Protocol` and
    /// `Sec-WebSocket-Extensions`, each only when something is offered (§4.1 client
    /// requirements 10 and 11).
    pub(crate) fn put_offers(&self, s: &mut Sink<'_>) {
        put_list(s, b"Sec-WebSocket-Protocol", self.subprotocols);
        match self.deflate {
            None => put_list(s, b"Sec-WebSocket-Extensions", self.extensions),
            // The permessage-deflate offer after the others.
            Some(config) => {
                s.put(b"Sec-WebSocket-Extensions: ");
                for item in self.extensions {
                    s.put(trim_ascii(item));
                    s.put(b", ");
                }
                config.write_offer(|bytes| s.put(bytes));
                s.put(b"\r\n");
            }
        }
    }
}

/// `name: a, b, c\r\n`, or nothing for an empty list.
fn put_list(s: &mut Sink<'_>, name: &[u8], items: &[&str]) {
    let Some((first, rest)) = items.split_first() else {
        return;
    };
    s.put(name);
    s.put(b": ");
    s.put(trim_ascii(first));
    for item in rest {
        s.put(b", ");
        s.put(trim_ascii(item));
    }
    s.put(b"\r\n");
}

/// `item` without ASCII whitespace around it. (Other whitespace is no concern: the items
/// trimmed are subprotocol tokens and extension offers, which are ASCII.)
fn trim_ascii(item: &str) -> &[u8] {
    item.as_bytes().trim_ascii()
}

/// A parsed response head, borrowed from the input buffer.
///
/// Besides the head itself it records, from the one parsing pass, where the header fields of
/// the handshake are and what the §4.1 checks need to know, so that neither the accessors
/// nor [`check_response`] search the head again.
#[derive(Clone, Copy, Debug)]
pub struct Response<'b> {
    head: &'b [u8],
    reason: &'b str,
    accept: Seen,
    protocol: Seen,
    extensions: Seen,
    status: u16,
    version: u8,
    /// The `Upgrade` and `Connection` facts, as in [`Request`](super::Request), and
    /// `ANY_EXTENSION`.
    flags: u8,
}

impl<'b> Response<'b> {
    /// The status code; 101 when the server accepted the handshake (§4.1, §4.2.2).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase, as sent (empty when it was absent or not UTF-8).
    pub fn reason(&self) -> &'b str {
        self.reason
    }

    /// All header lines.
    pub fn headers(&self) -> Headers<'b> {
        Headers::new(self.head)
    }

    /// The first value of the header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers().get(name)
    }

    /// The subprotocol the server chose, if any: the first `Sec-WebSocket-Protocol` value
    /// (§4.2.2 step 5.4), when it is UTF-8.
    pub fn subprotocol(&self) -> Option<&'b str> {
        utf8(self.protocol.value(self.head))
    }

    /// The extensions the server accepted, one raw item per comma-separated element of every
    /// `Sec-WebSocket-Extensions` line (§4.2.2 step 5.5, §9.1). Non-UTF-8 items are skipped.
    pub fn extensions(&self) -> impl Iterator<Item = &'b str> + use<'b> {
        self.extensions
            .list(self.head, "Sec-WebSocket-Extensions")
            .filter_map(|item| core::str::from_utf8(item).ok())
    }

    /// The raw head bytes (status line, headers, blank line).
    pub fn head(&self) -> &'b [u8] {
        self.head
    }
}

/// Parse a complete response head: `head` is exactly the bytes up to and including the
/// blank line, as found by [`find_head_end`](super::find_head_end).
///
/// Errors: `HeadTooLarge` when `head` is longer than `limits.max_head_len` (or than 1 GiB);
/// `MalformedHead` when `httparse` refuses it or it is incomplete;
/// `TooManyHeaders` for more than `limits.max_headers` (at most [`HEADER_CAPACITY`]) header
/// lines. An HTTP/1.0 response parses (so that an error page can still be read) but fails
/// [`check_response`].
///
/// On bare-metal targets (`target_os = "none"`), where flash is scarce, the head is parsed
/// by a compact parser of the same rules instead of `httparse` (1 KB less flash on
/// thumbv7em, its 512 bytes of tables among it, `benches/flash`); the tests, and every
/// fuzzing run, hold the two to the same results.
pub fn parse_response<'b>(head: &'b [u8], limits: &Limits) -> Result<Response<'b>, HandshakeError> {
    if !head_fits(head, limits) {
        return Err(HandshakeError::HeadTooLarge);
    }
    let slots = limits.header_slots();
    let parsed = if COMPACT_CODE {
        parse_response_compact(head, slots)
    } else {
        parse_response_httparse(head, slots)
    };
    #[cfg(fuzzing)]
    assert_eq!(
        parsed.as_ref().map(Response::parts),
        parse_response_compact(head, slots)
            .as_ref()
            .map(Response::parts),
        "the compact parser disagrees with httparse on {head:?}"
    );
    parsed
}

/// A flag of [`Response::flags`] beside those of `Upgrade` and `Connection`: some
/// `Sec-WebSocket-Extensions` line has an element.
const ANY_EXTENSION: u8 = 0x80;

impl<'b> Response<'b> {
    /// A response with its status line parsed and no header line yet.
    fn start(head: &'b [u8], version: u8, status: u16, reason: &'b str) -> Self {
        Response {
            head,
            reason,
            accept: Seen::default(),
            protocol: Seen::default(),
            extensions: Seen::default(),
            status,
            version,
            flags: 0,
        }
    }

    /// Record one header line (`value` trimmed, a subslice of the head): each name is
    /// compared once, by length first.
    fn note(&mut self, name: &[u8], value: &'b [u8]) {
        let Some(known) = classify(name) else {
            return;
        };
        let seen = match known {
            Known::Accept => &mut self.accept,
            Known::Protocol => &mut self.protocol,
            Known::Extensions => {
                // An element is there when anything but its separators is.
                if value.iter().any(|&b| !matches!(b, b',' | b' ' | b'\t')) {
                    self.flags |= ANY_EXTENSION;
                }
                &mut self.extensions
            }
            _ => {
                self.flags |= list_flags(known, value);
                return;
            }
        };
        seen.note(self.head, value);
    }

    /// Everything parsed, to compare the two parsers.
    #[cfg(any(test, fuzzing))]
    #[allow(clippy::type_complexity)]
    fn parts(&self) -> (&'b [u8], &'b str, [Seen; 3], u16, u8, u8) {
        let seen = [self.accept, self.protocol, self.extensions];
        (
            self.head,
            self.reason,
            seen,
            self.status,
            self.version,
            self.flags,
        )
    }
}

/// [`parse_response`] with `httparse`, given `slots` header slots.
fn parse_response_httparse(head: &[u8], slots: usize) -> Result<Response<'_>, HandshakeError> {
    let mut slots_storage = [const { core::mem::MaybeUninit::uninit() }; HEADER_CAPACITY];
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        head,
        &mut slots_storage[..slots],
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err(HandshakeError::MalformedHead),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
        Err(_) => return Err(HandshakeError::MalformedHead),
    };
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err(HandshakeError::MalformedHead);
    };
    let reason = response.reason.unwrap_or("");
    let mut parsed = Response::start(&head[..len], version, status, reason);
    for header in response.headers.iter() {
        parsed.note(header.name.as_bytes(), header.value);
    }
    Ok(parsed)
}

/// [`parse_response`] without `httparse`, one line at a time, with the rules of
/// httparse's default configuration (RFC 7230 §3): empty lines before the status line are
/// skipped; lines end with CRLF or a bare LF (a CR anywhere else is refused); the status
/// line is `HTTP/1.0` or `HTTP/1.1`, one space, three digits, then nothing or a space and a
/// reason phrase of HTAB, SP, VCHAR and obs-text (read as empty when it has obs-text); a
/// header line is a token, a colon and a value of HTAB, SP, VCHAR and obs-text, whose
/// surrounding SP and HTAB are trimmed (no space before the colon, no obsolete line
/// folding). A valid header line beyond the `slots` is `TooManyHeaders`; any other fault,
/// or a head without its blank line, is `MalformedHead`.
fn parse_response_compact(head: &[u8], slots: usize) -> Result<Response<'_>, HandshakeError> {
    const BAD: HandshakeError = HandshakeError::MalformedHead;
    // The line starting at `start`, without its end, and where the next one starts.
    let line_at = |start: usize| {
        let rest = head.get(start..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == b'\r' || b == b'\n');
        match end.map(|end| (end, &rest[end..])) {
            Some((end, [b'\n', ..])) => Ok((&rest[..end], start + end + 1)),
            Some((end, [b'\r', b'\n', ..])) => Ok((&rest[..end], start + end + 2)),
            _ => Err(BAD),
        }
    };
    let mut at = 0;
    let status_line = loop {
        let (line, next) = line_at(at)?;
        at = next;
        if !line.is_empty() {
            break line;
        }
    };
    let (version, rest) = match status_line.split_at_checked(9) {
        Some((b"HTTP/1.0 ", rest)) => (0, rest),
        Some((b"HTTP/1.1 ", rest)) => (1, rest),
        _ => return Err(BAD),
    };
    let digit = |b: u8| b.is_ascii_digit().then(|| u16::from(b - b'0'));
    let (status, reason) = match *rest {
        [a, b, c, ref reason @ ..] => match (digit(a), digit(b), digit(c)) {
            (Some(a), Some(b), Some(c)) => (a * 100 + b * 10 + c, reason),
            _ => return Err(BAD),
        },
        _ => return Err(BAD),
    };
    let reason = match reason {
        [b' ', reason @ ..] if is_safe_value(reason) => {
            // Read as empty when it has obs-text, as httparse does.
            let ascii = reason.iter().all(|&b| b < 0x80);
            core::str::from_utf8(reason).ok().filter(|_| ascii)
        }
        [] => None,
        _ => return Err(BAD),
    };
    let reason = reason.unwrap_or_default();
    let mut parsed = Response::start(head, version, status, reason);
    let mut lines = 0;
    loop {
        let (line, next) = line_at(at)?;
        at = next;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(BAD)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if !is_token(name) || !is_safe_value(value) {
            return Err(BAD);
        }
        if lines == slots {
            return Err(HandshakeError::TooManyHeaders);
        }
        lines += 1;
        parsed.note(name, trim_ows(value));
    }
    parsed.head = &head[..at];
    Ok(parsed)
}

/// The RFC 6455 §4.1 checks on a 101 response (call it only for status 101; any other
/// status is handled "per HTTP procedures", §4.1):
/// 1. HTTP/1.1 or later, else `HttpVersionTooOld`;
/// 2. `Upgrade` contains `websocket`, ASCII case-insensitive, else `MissingUpgradeWebSocket`;
/// 3. `Connection` contains the token `Upgrade`, ASCII case-insensitive, else
///    `MissingConnectionUpgrade`;
/// 4. `Sec-WebSocket-Accept` appears once (§11.3.3) and equals `expected` exactly, else
///    `InvalidAccept`;
/// 5. `Sec-WebSocket-Protocol` is absent, or appears once (§11.3.4) with exactly one of
///    `offered_subprotocols` (case-sensitive, as the server echoes it), else
///    `UnofferedSubprotocol`;
/// 6. every extension named in `Sec-WebSocket-Extensions` (the token before `;`) is the name
///    of one of `offered_extensions`, ASCII case-insensitive, else `UnofferedExtension`.
///    Whether the accepted parameters are acceptable is the extension's business.
pub fn check_response(
    response: &Response<'_>,
    expected: &[u8; 28],
    offered_subprotocols: &[&str],
    offered_extensions: &[&str],
) -> Result<(), HandshakeError> {
    check_response_with(response, expected, offered_subprotocols, |accepted| {
        was_offered(accepted, offered_extensions)
    })
}

/// [`check_response`] with the test of whether an accepted extension element was offered.
pub(crate) fn check_response_with(
    response: &Response<'_>,
    expected: &[u8; 28],
    offered_subprotocols: &[&str],
    was_offered: impl Fn(&[u8]) -> bool,
) -> Result<(), HandshakeError> {
    check_response_but_extensions(response, expected, offered_subprotocols)?;
    let all_offered = response
        .extensions
        .list(response.head, "Sec-WebSocket-Extensions")
        .all(was_offered);
    if !all_offered {
        return Err(HandshakeError::UnofferedExtension);
    }
    Ok(())
}

/// [`check_response`] for a request that offered no subprotocol and no extension, where
/// any extension element at all is one not offered: told by the parse (a
/// `Sec-WebSocket-Extensions` value with anything but commas and whitespace), without
/// reading the list again.
pub(crate) fn check_response_to_no_offer(
    response: &Response<'_>,
    expected: &[u8; 28],
) -> Result<(), HandshakeError> {
    check_response_but_extensions(response, expected, &[])?;
    if response.flags & ANY_EXTENSION != 0 {
        return Err(HandshakeError::UnofferedExtension);
    }
    Ok(())
}

/// [`check_response`] items 1 to 5.
fn check_response_but_extensions(
    response: &Response<'_>,
    expected: &[u8; 28],
    offered_subprotocols: &[&str],
) -> Result<(), HandshakeError> {
    let head = response.head;
    if response.version < 1 {
        return Err(HandshakeError::HttpVersionTooOld);
    }
    check_list_flags(response.flags)?;
    if response.accept.count() != 1 || response.accept.get(head) != expected {
        return Err(HandshakeError::InvalidAccept);
    }
    match response.protocol.count() {
        0 => {}
        1 => {
            let chosen = response.protocol.get(head);
            if !offered_subprotocols
                .iter()
                .any(|offered| offered.as_bytes() == chosen)
            {
                return Err(HandshakeError::UnofferedSubprotocol);
            }
        }
        _ => return Err(HandshakeError::UnofferedSubprotocol),
    }
    Ok(())
}

/// Whether the extension a response `accepted` (one list element, with its parameters) is
/// one the client offered, compared by name, ASCII case-insensitively (§9.1).
pub(crate) fn was_offered(accepted: &[u8], offered_extensions: &[&str]) -> bool {
    let name = extension_name(accepted);
    offered_extensions
        .iter()
        .any(|offer| extension_name(offer.as_bytes()).eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{accept_value, encode_key, find_head_end, list_contains};
    use std::string::String;
    use std::vec::Vec;

    const KEY: &[u8; 24] = b"dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &[u8; 28] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    /// The sample response of RFC 6455 §1.2 / §1.3.
    const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\
        \r\n";

    fn write(request: &ClientRequest<'_>) -> String {
        let mut out = [0u8; 1024];
        let n = request.write(KEY, &mut out).unwrap();
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    fn with_line(prefix: &str, line: &str) -> Vec<u8> {
        crate::handshake::test_heads::with_line(RFC_RESPONSE, prefix, line)
    }

    fn with_extra(line: &str) -> Vec<u8> {
        crate::handshake::test_heads::with_extra(RFC_RESPONSE, line)
    }

    fn check(head: &[u8], protocols: &[&str], extensions: &[&str]) -> Result<(), HandshakeError> {
        let response = parse_response(head, &Limits::default())?;
        check_response(&response, ACCEPT, protocols, extensions)
    }

    /// `check_response` as it was written before the one-pass index: by searching the head.
    fn check_by_search(
        response: &Response<'_>,
        expected: &[u8; 28],
        offered_subprotocols: &[&str],
        offered_extensions: &[&str],
    ) -> Result<(), HandshakeError> {
        let headers = response.headers();
        if !list_contains(headers.list("Upgrade"), "websocket") {
            return Err(HandshakeError::MissingUpgradeWebSocket);
        }
        if !list_contains(headers.list("Connection"), "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        if headers.occurrences("Sec-WebSocket-Accept") != 1
            || headers.get("Sec-WebSocket-Accept") != Some(&expected[..])
        {
            return Err(HandshakeError::InvalidAccept);
        }
        match headers.occurrences("Sec-WebSocket-Protocol") {
            0 => {}
            1 => {
                let chosen = headers.get("Sec-WebSocket-Protocol").unwrap_or_default();
                if !offered_subprotocols.iter().any(|o| o.as_bytes() == chosen) {
                    return Err(HandshakeError::UnofferedSubprotocol);
                }
            }
            _ => return Err(HandshakeError::UnofferedSubprotocol),
        }
        let all_offered = headers
            .list("Sec-WebSocket-Extensions")
            .all(|accepted| was_offered(accepted, offered_extensions));
        if !all_offered {
            return Err(HandshakeError::UnofferedExtension);
        }
        Ok(())
    }

    const LINES: &[&str] = &[
        "Upgrade: websocket",
        "upgrade: h2c,  WEBSOCKET ",
        "Connection: Upgrade",
        "CONNECTION: close",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "sec-websocket-accept:s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "Sec-WebSocket-Accept: wrong",
        "Sec-WebSocket-Protocol: chat",
        "Sec-WebSocket-Protocol: other",
        "Sec-WebSocket-Extensions: permessage-deflate; x=\"a,b\"",
        "sec-websocket-extensions: x-foo, , permessage-deflate",
        "Sec-WebSocket-Extensions: , \t,",
        "Sec-WebSocket-Extensions:",
        "Set-Cookie: a=b",
    ];

    proptest::proptest! {
        #[test]
        fn one_pass_index_agrees_with_searching_the_head(
            picks in proptest::collection::vec(0..LINES.len(), 0..9),
            line_end in proptest::sample::select(&["\r\n", "\n"][..]),
        ) {
            let mut head = std::format!("HTTP/1.1 101 Switching Protocols{line_end}");
            for &i in &picks {
                head.push_str(LINES[i]);
                head.push_str(line_end);
            }
            head.push_str(line_end);
            let response = parse_response(head.as_bytes(), &Limits::default()).unwrap();
            let headers = response.headers();
            for (protocols, extensions) in [
                (&["chat"][..], &["permessage-deflate"][..]),
                (&[][..], &["x-foo", "permessage-deflate; client_max_window_bits"][..]),
            ] {
                proptest::prop_assert_eq!(
                    check_response(&response, ACCEPT, protocols, extensions),
                    check_by_search(&response, ACCEPT, protocols, extensions)
                );
            }
            proptest::prop_assert_eq!(
                check_response_to_no_offer(&response, ACCEPT),
                check_by_search(&response, ACCEPT, &[], &[])
            );
            proptest::prop_assert_eq!(
                response.subprotocol(),
                headers
                    .get("Sec-WebSocket-Protocol")
                    .and_then(|v| core::str::from_utf8(v).ok())
            );
            proptest::prop_assert_eq!(
                response.extensions().map(str::as_bytes).collect::<Vec<_>>(),
                headers.list("Sec-WebSocket-Extensions").collect::<Vec<_>>()
            );
        }
    }

    /// Both parsers on `head` with `slots` header slots: their results, compared whole.
    fn both_parsers(head: &[u8], slots: usize) -> Result<(), String> {
        let compact = parse_response_compact(head, slots);
        let reference = parse_response_httparse(head, slots);
        let (compact, reference) = (
            compact.as_ref().map(Response::parts),
            reference.as_ref().map(Response::parts),
        );
        if compact == reference {
            Ok(())
        } else {
            Err(std::format!(
                "{:?}: compact {compact:?}, httparse {reference:?}",
                String::from_utf8_lossy(head)
            ))
        }
    }

    /// Pieces of status lines and header lines, good and bad.
    const STATUS_PIECES: &[&str] = &[
        "HTTP/1.1 101 Switching Protocols",
        "HTTP/1.0 101",
        "HTTP/1.1 101 ",
        "HTTP/1.1 200 OK\tfine",
        "HTTP/1.1 101 caf\u{e9}",
        "HTTP/1.1 101 a\x7fb",
        "HTTP/1.1 101 a\rb",
        "HTTP/1.1  101 x",
        "HTTP/1.1 10 x",
        "HTTP/1.1 1011",
        "HTTP/1.1 1x1 x",
        "HTTP/1.2 101 x",
        "HTTP/1.1",
        "http/1.1 101 x",
        "",
    ];
    const HEADER_PIECES: &[&str] = &[
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "sec-websocket-protocol:chat",
        "Sec-WebSocket-Extensions: \t permessage-deflate; x=\"a,b\" \t",
        "X-Empty:",
        "X-Spaces:  \t ",
        "X-Colon: a:b",
        "X-Obs: caf\u{e9}",
        "X-Tab:\ta\tb",
        " Folded: x",
        "\tfolded",
        "Bad Name: x",
        "Name : x",
        ": no name",
        "NoColon",
        "X-Ctl: a\x01b",
        "X-Del: a\x7f",
        "X-Nul: \x00",
        "X-CR: a\rb",
        "X\u{e9}: v",
        "",
    ];
    const ENDS: &[&str] = &["\r\n", "\n", "\r", ""];

    proptest::proptest! {
        /// The compact parser gives what httparse gives: the same parts, or the same error,
        /// on heads made of good and bad status and header lines with every line end.
        #[test]
        fn compact_parser_agrees_with_httparse(
            leading in proptest::collection::vec(proptest::sample::select(ENDS), 0..3),
            status in proptest::sample::select(STATUS_PIECES),
            lines in proptest::collection::vec(
                (proptest::sample::select(HEADER_PIECES), proptest::sample::select(ENDS)),
                0..8,
            ),
            first_end in proptest::sample::select(ENDS),
            last_end in proptest::sample::select(ENDS),
            slots in 0usize..6,
            cut in proptest::option::of(0usize..200),
        ) {
            let mut head = leading.concat();
            head.push_str(status);
            head.push_str(first_end);
            for (line, end) in &lines {
                head.push_str(line);
                head.push_str(end);
            }
            head.push_str(last_end);
            let mut head = head.into_bytes();
            if let Some(cut) = cut {
                head.truncate(cut);
            }
            proptest::prop_assert_eq!(both_parsers(&head, slots), Ok(()));
        }

        /// The same on arbitrary bytes.
        #[test]
        fn compact_parser_agrees_with_httparse_on_any_bytes(
            head in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            slots in 0usize..4,
        ) {
            let mut with_status = b"HTTP/1.1 101 x\r\n".to_vec();
            with_status.extend_from_slice(&head);
            proptest::prop_assert_eq!(both_parsers(&head, slots), Ok(()));
            proptest::prop_assert_eq!(both_parsers(&with_status, slots), Ok(()));
        }
    }

    #[test]
    fn compact_parser_reads_the_rfc_response_and_refuses_what_httparse_refuses() {
        let response = parse_response_compact(RFC_RESPONSE, HEADER_CAPACITY).unwrap();
        assert_eq!(
            (response.status(), response.reason()),
            (101, "Switching Protocols")
        );
        assert_eq!(response.subprotocol(), Some("chat"));
        assert_eq!(check_response(&response, ACCEPT, &["chat"], &[]), Ok(()));
        assert_eq!(
            parse_response_compact(RFC_RESPONSE, 3).unwrap_err(),
            HandshakeError::TooManyHeaders
        );
        for head in [
            &b"HTTP/1.1 101 x\r\nUpgrade : websocket\r\n\r\n"[..],
            b"HTTP/1.1 101 x\r\n folded\r\n\r\n",
            b"HTTP/1.1 101 x\r\nX: a\rb\r\n\r\n",
            b"HTTP/1.1 101 x\r\nX: a\x00\r\n\r\n",
            b"HTTP/1.1 1010 x\r\n\r\n",
            b"HTTP/1.1 101 x\r\nA: b\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(
                parse_response_compact(head, HEADER_CAPACITY).unwrap_err(),
                HandshakeError::MalformedHead,
                "{head:?}"
            );
            assert_eq!(both_parsers(head, HEADER_CAPACITY), Ok(()));
        }
    }

    #[test]
    fn client_writes_rfc_6455_sample_request() {
        let request = ClientRequest::from_url("ws://server.example.com/chat")
            .unwrap()
            .with_origin("http://example.com")
            .with_subprotocols(&["chat", "superchat"]);
        let expected = "GET /chat HTTP/1.1\r\n\
            Host: server.example.com\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Origin: http://example.com\r\n\
            Sec-WebSocket-Protocol: chat, superchat\r\n\
            \r\n";
        assert_eq!(write(&request), expected);
        // What the client writes, the server side accepts, with the RFC's accept value.
        let written = write(&request);
        let parsed =
            crate::handshake::parse_request(written.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(crate::handshake::check_upgrade(&parsed), Ok(*ACCEPT));
        assert_eq!(&encode_key(b"the sample nonce"), KEY);
        assert_eq!(&accept_value(KEY), ACCEPT);
    }

    #[test]
    fn client_omits_default_port_and_keeps_other_ports() {
        let request = ClientRequest::from_url("wss://example.com:443/").unwrap();
        assert!(write(&request).contains("\r\nHost: example.com\r\n"));
        let request = ClientRequest::from_url("ws://example.com:443/").unwrap();
        assert!(write(&request).contains("\r\nHost: example.com:443\r\n"));
        let request = ClientRequest::from_url("ws://example.com:9001/x?y=1").unwrap();
        let text = write(&request);
        assert!(text.starts_with("GET /x?y=1 HTTP/1.1\r\nHost: example.com:9001\r\n"));
    }

    #[test]
    fn client_brackets_ipv6_host() {
        let request = ClientRequest::from_url("ws://[::1]:8080/").unwrap();
        assert!(write(&request).contains("\r\nHost: [::1]:8080\r\n"));
        let request = ClientRequest::from_url("wss://[2001:db8::1]").unwrap();
        assert!(write(&request).contains("\r\nHost: [2001:db8::1]\r\n"));
    }

    #[test]
    fn client_puts_slash_before_bare_query() {
        let request = ClientRequest::from_url("ws://h?room=1").unwrap();
        assert!(write(&request).starts_with("GET /?room=1 HTTP/1.1\r\n"));
    }

    #[test]
    fn client_writes_extensions_and_extra_headers() {
        let request = ClientRequest::from_url("ws://h/")
            .unwrap()
            .with_extensions(&["permessage-deflate; client_max_window_bits", "x-foo"])
            .with_headers(&[("Authorization", "Bearer abc"), ("Cookie", "a=b")]);
        let text = write(&request);
        assert!(text.ends_with(
            "Sec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n\
            Authorization: Bearer abc\r\n\
            Cookie: a=b\r\n\
            \r\n"
        ));
        assert!(!text.contains("Sec-WebSocket-Protocol"));
        assert!(!text.contains("Origin"));
    }

    #[test]
    fn client_rejects_header_injection() {
        let base = ClientRequest::from_url("ws://h/").unwrap();
        let invalid_header = Err(Error::Usage(UsageError::InvalidHeader));
        let mut out = [0xAAu8; 1024];
        for request in [
            base.with_headers(&[("X", "a\r\nInjected: yes")]),
            base.with_headers(&[("X", "a\nb")]),
            base.with_headers(&[("X", "a\0b")]),
            base.with_headers(&[("Bad Name", "v")]),
            base.with_headers(&[("X:Y", "v")]),
            base.with_headers(&[("", "v")]),
            base.with_origin("http://a\r\nX: y"),
            base.with_subprotocols(&["chat\r\nX: y"]),
            base.with_subprotocols(&["chat, superchat"]),
            base.with_subprotocols(&[""]),
            base.with_extensions(&["deflate\r\nX: y"]),
            base.with_extensions(&[" "]),
        ] {
            assert_eq!(request.write(KEY, &mut out), invalid_header, "{request:?}");
        }
        let invalid_url = Err(Error::Usage(UsageError::InvalidUrl));
        for request in [
            ClientRequest {
                target: "/a\r\nX: y",
                ..base
            },
            ClientRequest {
                target: "/a b",
                ..base
            },
            ClientRequest {
                target: "a",
                ..base
            },
            ClientRequest { target: "", ..base },
            ClientRequest {
                target: "/#f",
                ..base
            },
            ClientRequest {
                host: "h\r\nX: y",
                ..base
            },
            ClientRequest {
                host: "h/x",
                ..base
            },
            ClientRequest { host: "", ..base },
            ClientRequest {
                host: "[::1]",
                ..base
            },
            ClientRequest { port: 0, ..base },
        ] {
            assert_eq!(request.write(KEY, &mut out), invalid_url, "{request:?}");
        }
        assert!(out.iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn client_write_buffer_too_small_leaves_out_untouched() {
        let request = ClientRequest::from_url("ws://example.com:8080/chat")
            .unwrap()
            .with_subprotocols(&["chat"]);
        let needed = write(&request).len();
        let mut out = [0xAAu8; 1024];
        for len in [0, 10, needed - 1] {
            assert_eq!(
                request.write(KEY, &mut out[..len]),
                Err(Error::BufferTooSmall { needed })
            );
            assert!(out.iter().all(|&b| b == 0xAA));
        }
        assert_eq!(request.write(KEY, &mut out[..needed]), Ok(needed));
    }

    #[test]
    fn rfc_6455_sample_response_is_accepted() {
        let mut scanned = 0;
        let len = find_head_end(RFC_RESPONSE, &mut scanned, &Limits::default())
            .unwrap()
            .unwrap();
        let response = parse_response(&RFC_RESPONSE[..len], &Limits::default()).unwrap();
        assert_eq!(response.status(), 101);
        assert_eq!(response.reason(), "Switching Protocols");
        assert_eq!(response.subprotocol(), Some("chat"));
        assert_eq!(response.extensions().count(), 0);
        assert_eq!(response.head(), RFC_RESPONSE);
        assert_eq!(response.header("sec-websocket-accept"), Some(&ACCEPT[..]));
        assert_eq!(response.headers().count(), 4);
        assert_eq!(
            check_response(&response, ACCEPT, &["chat", "superchat"], &[]),
            Ok(())
        );
    }

    #[test]
    fn response_head_is_cut_at_blank_line_before_frames() {
        let mut buf = RFC_RESPONSE.to_vec();
        buf.extend_from_slice(b"\x81\x02hi");
        let mut scanned = 0;
        let len = find_head_end(&buf, &mut scanned, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(len, RFC_RESPONSE.len());
    }

    #[test]
    fn non_101_response_parses() {
        let head = b"HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let response = parse_response(head, &Limits::default()).unwrap();
        assert_eq!((response.status(), response.reason()), (403, "Forbidden"));
        assert_eq!(
            check_response(&response, ACCEPT, &[], &[]),
            Err(HandshakeError::HttpVersionTooOld)
        );
    }

    #[test]
    fn malformed_and_oversized_responses() {
        assert_eq!(
            parse_response(b"HTTP/1.1 1010 x\r\n\r\n", &Limits::default()).unwrap_err(),
            HandshakeError::MalformedHead
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 101 x\r\nA: b\r\n", &Limits::default()).unwrap_err(),
            HandshakeError::MalformedHead
        );
        let limits = Limits {
            max_head_len: 8192,
            max_headers: 3,
        };
        assert_eq!(
            parse_response(RFC_RESPONSE, &limits).unwrap_err(),
            HandshakeError::TooManyHeaders
        );
        let limits = Limits {
            max_head_len: 10,
            max_headers: 64,
        };
        assert_eq!(
            parse_response(RFC_RESPONSE, &limits).unwrap_err(),
            HandshakeError::HeadTooLarge
        );
    }

    #[test]
    fn client_rejects_missing_upgrade_websocket() {
        let head = with_line("Upgrade:", "");
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::MissingUpgradeWebSocket)
        );
        let head = with_line("Upgrade:", "Upgrade: h2c");
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::MissingUpgradeWebSocket)
        );
        let head = with_line("Upgrade:", "Upgrade: WEBSOCKET");
        assert_eq!(check(&head, &["chat"], &[]), Ok(()));
    }

    #[test]
    fn client_rejects_missing_connection_upgrade() {
        let head = with_line("Connection:", "");
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::MissingConnectionUpgrade)
        );
        let head = with_line("Connection:", "Connection: close");
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::MissingConnectionUpgrade)
        );
        let head = with_line("Connection:", "Connection: keep-alive, upgrade");
        assert_eq!(check(&head, &["chat"], &[]), Ok(()));
    }

    #[test]
    fn client_rejects_wrong_missing_or_duplicate_accept() {
        let head = with_line(
            "Sec-WebSocket-Accept:",
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xoo=",
        );
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::InvalidAccept)
        );
        let head = with_line("Sec-WebSocket-Accept:", "");
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::InvalidAccept)
        );
        let head = with_extra("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::InvalidAccept)
        );
        assert_eq!(HandshakeError::InvalidAccept.status(), None);
    }

    #[test]
    fn client_rejects_unoffered_subprotocol() {
        assert_eq!(
            check(RFC_RESPONSE, &["superchat"], &[]),
            Err(HandshakeError::UnofferedSubprotocol)
        );
        assert_eq!(
            check(RFC_RESPONSE, &[], &[]),
            Err(HandshakeError::UnofferedSubprotocol)
        );
        assert_eq!(
            check(RFC_RESPONSE, &["Chat"], &[]),
            Err(HandshakeError::UnofferedSubprotocol)
        );
        let head = with_line(
            "Sec-WebSocket-Protocol:",
            "Sec-WebSocket-Protocol: chat, superchat",
        );
        assert_eq!(
            check(&head, &["chat", "superchat"], &[]),
            Err(HandshakeError::UnofferedSubprotocol)
        );
        let head = with_extra("Sec-WebSocket-Protocol: chat");
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::UnofferedSubprotocol)
        );
        // No subprotocol chosen is always fine.
        let head = with_line("Sec-WebSocket-Protocol:", "");
        assert_eq!(check(&head, &["chat"], &[]), Ok(()));
    }

    #[test]
    fn client_rejects_unoffered_extension() {
        let head =
            with_extra("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover");
        assert_eq!(
            check(
                &head,
                &["chat"],
                &["permessage-deflate; client_max_window_bits"]
            ),
            Ok(())
        );
        assert_eq!(check(&head, &["chat"], &["PerMessage-Deflate"]), Ok(()));
        assert_eq!(
            check(&head, &["chat"], &[]),
            Err(HandshakeError::UnofferedExtension)
        );
        let head =
            with_extra("Sec-WebSocket-Extensions: permessage-deflate, x-webkit-deflate-frame");
        assert_eq!(
            check(&head, &["chat"], &["permessage-deflate"]),
            Err(HandshakeError::UnofferedExtension)
        );
    }
}
