//! The opening handshake (RFC 6455 §4): parsing and checking HTTP/1.1 heads, and writing
//! them, without allocating.
//!
//! Heads are found with [`find_head_end`], parsed with [`parse_request`] (server) or
//! [`parse_response`] (client) on top of `httparse` (on bare-metal targets the response,
//! by a compact parser of the same rules), checked with [`check_upgrade`] or
//! [`check_response`], and written into caller-provided buffers with [`write_accept`],
//! [`write_response`] and [`ClientRequest::write`]. Every writer computes the length first and
//! writes nothing at all when the buffer is too short.
//!
//! When another stack performs the HTTP/1.1 upgrade (hyper, axum...), [`accept_value`] gives
//! the server's `Sec-WebSocket-Accept` and [`check_accept`] checks the client's; then
//! [`Connection::server`](crate::Connection::server) or
//! [`Connection::client`](crate::Connection::client) runs on the upgraded connection.
//!
//! # Over HTTP/2 and HTTP/3: extended CONNECT
//!
//! Over HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220) the handshake is an extended CONNECT
//! request with `:protocol` `websocket`, answered with a 2xx response, after which the
//! request's stream carries the WebSocket frames in place of the TCP connection of RFC 6455
//! (RFC 8441 §5). The HTTP library parses and sends the messages; these helpers check and
//! list the WebSocket header fields, given as an `&http::HeaderMap` or as
//! `(&str, &[u8])` pairs. There is no `Sec-WebSocket-Key` and no `Sec-WebSocket-Accept`
//! (RFC 8441 §5).
//!
//! A server:
//! 1. [`check_connect`] on the request's method, `:protocol` and header fields; on an error,
//!    answer with the status and fields of [`connect_rejection`];
//! 2. choose a subprotocol from [`ConnectRequest::subprotocols`] and send a 200 response
//!    ([`CONNECT_ACCEPTED`]) with the fields of [`ConnectRequest::accept`];
//! 3. run the WebSocket connection on the stream:
//!    [`Connection::server`](crate::Connection::server), then
//!    [`with_subprotocol`](crate::Connection::with_subprotocol) with the choice, and
//!    [`with_deflate`](crate::Connection::with_deflate) with the permessage-deflate
//!    parameters if accepted (from [`deflate::negotiate`](crate::deflate::negotiate) over
//!    [`ConnectRequest::extensions`], answered with their
//!    [`response_value_for`](crate::deflate::DeflateParams::response_value_for) the same
//!    offers as the `extensions` of `accept`).
//!
//! A client:
//! 1. once the server's `SETTINGS_ENABLE_CONNECT_PROTOCOL` is 1 (RFC 8441 §3, RFC 9220 §3),
//!    send a CONNECT request with `:protocol` [`CONNECT_PROTOCOL`], `:scheme` `https` for
//!    `wss` and `http` for `ws`, `:path` and `:authority` from the WebSocket URI (RFC 8441
//!    §4, §5), and the fields of [`connect_request_headers`];
//! 2. check the response with [`check_connect_response`];
//! 3. run the WebSocket connection on the stream:
//!    [`Connection::client`](crate::Connection::client), then `with_subprotocol` with the
//!    server's choice and `with_deflate` with the parameters it accepted (to offer
//!    permessage-deflate, pass [`DeflateConfig::offer`](crate::deflate::DeflateConfig::offer)
//!    as the `extensions` of `connect_request_headers`).
//!
//! The end of the stream (END_STREAM in HTTP/2, FIN in HTTP/3) stands for the orderly close
//! of the TCP connection, and a reset (RST_STREAM with CANCEL, H3_REQUEST_CANCELLED) for an
//! abrupt one (RFC 8441 §5, RFC 9220 §3): call
//! [`handle_eof`](crate::Endpoint::handle_eof) when the peer's stream ends, and end ours
//! when [`should_close_transport`](crate::Endpoint::should_close_transport) says so.
//!
//! ```
//! use sockless::handshake::{
//!     ConnectResponse, check_connect, check_connect_response, connect_request_headers,
//! };
//!
//! // Client: the fields of the request (RFC 8441 §5.1).
//! let offered = "chat, superchat";
//! let request: Vec<(&str, &str)> = connect_request_headers(Some(offered), None)?.collect();
//! assert_eq!(request, [("sec-websocket-version", "13"), ("sec-websocket-protocol", offered)]);
//!
//! // Server: check the request as the HTTP library hands it over, and accept it.
//! let fields = request.iter().map(|&(name, value)| (name, value.as_bytes()));
//! let connect = check_connect("CONNECT", Some("websocket"), fields)?;
//! assert!(connect.offers_subprotocol("chat"));
//! let response: Vec<(&str, &str)> = connect.accept(Some("chat"), None)?.collect();
//! assert_eq!(response, [("sec-websocket-protocol", "chat")]);
//!
//! // Client: check the 200 response.
//! let fields = response.iter().map(|&(name, value)| (name, value.as_bytes()));
//! let checked = check_connect_response(200, fields, Some(offered), None)?;
//! assert_eq!(checked, ConnectResponse::Accepted { subprotocol: Some("chat"), deflate: None });
//! # Ok::<(), sockless::Error>(())
//! ```

mod accept;
mod client;
mod extended_connect;
mod headers;
mod server;
mod url;

pub(crate) use crate::token::{is_safe_value, is_token};
pub use accept::{GUID, accept_value, check_accept, encode_key};
pub use client::{ClientRequest, Response, check_response, parse_response};
pub(crate) use client::{check_response_to_no_offer, check_response_with, was_offered};
pub use extended_connect::{
    CONNECT_ACCEPTED, CONNECT_METHOD, CONNECT_PROTOCOL, ConnectHeaders, ConnectRequest,
    ConnectResponse, check_connect, check_connect_response, connect_rejection,
    connect_request_headers, connect_response_headers,
};
pub use headers::{Header, Headers, ListItems, list_contains};
pub(crate) use server::{REQUEST_TIMEOUT_408, parse_request_prefix, write_accept_with};
pub use server::{
    Request, check_upgrade, parse_request, rejection_for, write_accept, write_response,
};
pub use url::WsUrl;

use crate::error::HandshakeError;
use crate::target::COMPACT_CODE;

/// Limits on an HTTP head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest head accepted, in bytes, including the blank line that ends it.
    pub max_head_len: usize,
    /// The most header lines accepted; capped at [`HEADER_CAPACITY`].
    pub max_headers: usize,
}

impl Default for Limits {
    /// 8192 bytes and 64 header lines.
    fn default() -> Self {
        Limits {
            max_head_len: 8192,
            max_headers: HEADER_CAPACITY,
        }
    }
}

impl Limits {
    /// How many header slots to give `httparse`: `max_headers`, capped at [`HEADER_CAPACITY`].
    pub(crate) fn header_slots(&self) -> usize {
        self.max_headers.min(HEADER_CAPACITY)
    }
}

/// Most header lines ever parsed (httparse needs a fixed array on the stack);
/// [`Limits::max_headers`] is capped at this.
pub const HEADER_CAPACITY: usize = 64;

/// Incremental search for the end of an HTTP head in `buf`.
///
/// The head ends at the first empty line: `"\r\n\r\n"`, or, as `httparse` also accepts, a bare
/// LF in place of either CRLF (`"\n\n"`, `"\r\n\n"`, `"\n\r\n"`).
///
/// Bytes before `*scanned` were already searched by an earlier call on a prefix of the same
/// buffer, so the total work stays linear when a head arrives one byte at a time. Start with
/// `*scanned == 0`.
///
/// Returns `Ok(Some(head_len))`, the length of the head including the blank line, when the end
/// lies within the first `limits.max_head_len` bytes; `Ok(None)` when the head is not complete
/// yet, in which case `*scanned` has been advanced and must be passed back on the next call; or
/// `Err(HeadTooLarge)` as soon as `buf` holds `max_head_len` bytes with no end among them (it
/// never waits for more input). Bytes after the head (for example the first frames, pipelined
/// behind a 101 response) are never looked at.
pub fn find_head_end(
    buf: &[u8],
    scanned: &mut usize,
    limits: &Limits,
) -> Result<Option<usize>, HandshakeError> {
    // Bare-metal targets, where flash is scarce, search one LF at a time: heads are short
    // there, and the word-at-a-time loop costs about 200 bytes of flash.
    find_head_end_with(buf, scanned, limits, !COMPACT_CODE)
}

/// [`find_head_end`], a machine word at a time first when `by_words`.
fn find_head_end_with(
    buf: &[u8],
    scanned: &mut usize,
    limits: &Limits,
    by_words: bool,
) -> Result<Option<usize>, HandshakeError> {
    let window = &buf[..buf.len().min(limits.max_head_len)];
    let mut i = (*scanned).min(window.len());
    // A machine word of start positions at a time, while the three overlapping words at
    // `i`, `i + 1` and `i + 2` fit: a blank line can start only where an LF is followed by
    // an LF, one byte or two bytes on. The mask over-approximates (see `lf_bytes`); each
    // candidate is checked exactly, lowest first.
    while let Some(words) = window.get(i..i + WORD + 2).filter(|_| by_words) {
        let at = |k: usize| lf_bytes(load(&words[k..]));
        let lfs = at(0);
        // Most words hold no LF at all.
        let mut candidates = if lfs == 0 { 0 } else { lfs & (at(1) | at(2)) };
        while candidates != 0 {
            let lf = i + candidates.trailing_zeros() as usize / 8;
            if let Some(end) = blank_line_end(window, lf) {
                return Ok(Some(end));
            }
            candidates &= candidates - 1;
        }
        i += WORD;
    }
    // The last few bytes (or all of them), one LF at a time.
    loop {
        let Some(offset) = window[i..].iter().position(|&b| b == b'\n') else {
            i = window.len();
            break;
        };
        let lf = i + offset;
        if let Some(end) = blank_line_end(window, lf) {
            return Ok(Some(end));
        }
        match &window[lf + 1..] {
            // A trailing LF (or LF CR) may still begin the blank line: search it again.
            [] | [b'\r'] => {
                i = lf;
                break;
            }
            _ => i = lf + 1,
        }
    }
    if window.len() >= limits.max_head_len {
        return Err(HandshakeError::HeadTooLarge);
    }
    *scanned = i;
    Ok(None)
}

const WORD: usize = core::mem::size_of::<usize>();
const ONES: usize = usize::MAX / 255;

/// The first word of `bytes` (which holds at least one), little-endian.
fn load(bytes: &[u8]) -> usize {
    let word: [u8; WORD] = bytes
        .get(..WORD)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default();
    usize::from_le_bytes(word)
}

/// The high bit of every byte of `word` that is an LF, and possibly of some bytes above
/// one (the borrow of `w - 0x01..` only ever spreads upwards from a zero byte of
/// `w = word ^ 0x0a..`); never of a byte below the lowest LF.
fn lf_bytes(word: usize) -> usize {
    let w = word ^ (ONES * usize::from(b'\n'));
    w.wrapping_sub(ONES) & !w & (ONES << 7)
}

/// If a blank line begins at `lf` (an LF, then LF or CR LF), the length of the head it ends.
fn blank_line_end(window: &[u8], lf: usize) -> Option<usize> {
    match window.get(lf..)? {
        [b'\n', b'\n', ..] => Some(lf + 2),
        [b'\n', b'\r', b'\n', ..] => Some(lf + 3),
        _ => None,
    }
}

/// Whether a head of this length may be parsed: at most `limits.max_head_len` bytes, and at
/// most 1 GiB (parsed heads record positions in 30 bits).
pub(crate) fn head_fits(head: &[u8], limits: &Limits) -> bool {
    head.len() <= limits.max_head_len.min(headers::MAX_PARSED_HEAD)
}

/// Where bytes go: counted only (first pass) or counted and copied (second pass). The
/// writers run their emitting code twice so they never leave partial output behind.
pub(crate) struct Sink<'o> {
    out: Option<&'o mut [u8]>,
    len: usize,
}

impl<'o> Sink<'o> {
    /// A sink that only counts.
    pub(crate) fn counting() -> Self {
        Sink { out: None, len: 0 }
    }

    /// A sink that copies into `out`, which must be long enough (checked by a counting pass).
    pub(crate) fn writing(out: &'o mut [u8]) -> Self {
        Sink {
            out: Some(out),
            len: 0,
        }
    }

    /// Append `bytes`.
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        if let Some(out) = self.out.as_deref_mut() {
            out[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        }
        self.len += bytes.len();
    }

    /// Append `n` in decimal.
    pub(crate) fn put_decimal(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[start..]);
    }

    /// Append one header line: `name: value\r\n`.
    pub(crate) fn put_header(&mut self, name: &[u8], value: &[u8]) {
        self.put(name);
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }

    /// Bytes counted or written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Run `emit` once to count, then, if `out` is long enough, once more to write. Returns the
/// length written, or `BufferTooSmall` with `out` untouched.
pub(crate) fn write_twice(
    out: &mut [u8],
    emit: impl Fn(&mut Sink<'_>),
) -> Result<usize, crate::error::BufferTooSmall> {
    let mut counter = Sink::counting();
    emit(&mut counter);
    let needed = counter.len();
    if needed > out.len() {
        return Err(crate::error::BufferTooSmall { needed });
    }
    let mut writer = Sink::writing(&mut out[..needed]);
    emit(&mut writer);
    debug_assert_eq!(writer.len(), needed);
    Ok(needed)
}

/// Editing sample heads, for the unit tests of requests and responses.
#[cfg(test)]
pub(crate) mod test_heads {
    use std::string::String;
    use std::vec::Vec;

    /// `head` with the line starting with `prefix` replaced by `line` (removed when `line`
    /// is empty).
    pub(crate) fn with_line(head: &[u8], prefix: &str, line: &str) -> Vec<u8> {
        let text = core::str::from_utf8(head).unwrap();
        let mut out = String::new();
        for l in text.split_inclusive("\r\n") {
            if l.starts_with(prefix) {
                if !line.is_empty() {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
            } else {
                out.push_str(l);
            }
        }
        out.into_bytes()
    }

    /// `head` with `line` added before the blank line.
    pub(crate) fn with_extra(head: &[u8], line: &str) -> Vec<u8> {
        let mut out = head[..head.len() - 2].to_vec();
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\r\n";

    #[test]
    fn find_head_end_in_one_go() {
        let mut buf = std::vec::Vec::from(HEAD);
        buf.extend_from_slice(b"\x81\x00trailing frame");
        let mut scanned = 0;
        let found = find_head_end(&buf, &mut scanned, &Limits::default());
        assert_eq!(found, Ok(Some(HEAD.len())));
    }

    #[test]
    fn find_head_end_byte_at_a_time_is_linear() {
        let limits = Limits::default();
        let mut scanned = 0;
        for len in 1..HEAD.len() {
            let before = scanned;
            assert_eq!(find_head_end(&HEAD[..len], &mut scanned, &limits), Ok(None));
            // Each call leaves at most the last two bytes (LF, or LF CR) unsettled.
            assert!(scanned >= before, "scanned went backwards");
            assert!(scanned + 2 >= len, "scanned {scanned} lags behind {len}");
            assert!(scanned <= len);
        }
        assert_eq!(
            find_head_end(HEAD, &mut scanned, &limits),
            Ok(Some(HEAD.len()))
        );
    }

    #[test]
    fn find_head_end_accepts_bare_lf() {
        for head in [
            &b"GET / HTTP/1.1\nHost: a\n\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\n\n",
            b"GET / HTTP/1.1\nHost: a\n\r\n",
        ] {
            let mut scanned = 0;
            assert_eq!(
                find_head_end(head, &mut scanned, &Limits::default()),
                Ok(Some(head.len()))
            );
            // And byte at a time.
            let mut scanned = 0;
            for len in 1..head.len() {
                assert_eq!(
                    find_head_end(&head[..len], &mut scanned, &Limits::default()),
                    Ok(None)
                );
            }
            assert_eq!(
                find_head_end(head, &mut scanned, &Limits::default()),
                Ok(Some(head.len()))
            );
        }
    }

    #[test]
    fn find_head_end_errors_head_too_large_at_max_head_len() {
        let limits = Limits {
            max_head_len: 16,
            max_headers: 8,
        };
        let junk = [b'a'; 32];
        let mut scanned = 0;
        assert_eq!(find_head_end(&junk[..15], &mut scanned, &limits), Ok(None));
        assert_eq!(
            find_head_end(&junk[..16], &mut scanned, &limits),
            Err(HandshakeError::HeadTooLarge)
        );
        let mut scanned = 0;
        assert_eq!(
            find_head_end(&junk, &mut scanned, &limits),
            Err(HandshakeError::HeadTooLarge)
        );
    }

    #[test]
    fn find_head_end_allows_head_of_exactly_max_head_len() {
        let limits = Limits {
            max_head_len: HEAD.len(),
            max_headers: 8,
        };
        let mut scanned = 0;
        assert_eq!(
            find_head_end(HEAD, &mut scanned, &limits),
            Ok(Some(HEAD.len()))
        );
        let limits = Limits {
            max_head_len: HEAD.len() - 1,
            max_headers: 8,
        };
        let mut scanned = 0;
        assert_eq!(
            find_head_end(HEAD, &mut scanned, &limits),
            Err(HandshakeError::HeadTooLarge)
        );
    }

    /// The first blank line, found the plain way.
    fn naive_head_end(buf: &[u8], max: usize) -> Option<usize> {
        let window = &buf[..buf.len().min(max)];
        (0..window.len()).find_map(|lf| blank_line_end(window, lf))
    }

    proptest::proptest! {
        #[test]
        fn find_head_end_matches_naive_search(
            bytes in proptest::collection::vec(
                proptest::sample::select(&b"a\r\n\x0b\x01\x0a\x0a"[..]), 0..80),
            max in 1usize..100,
            step in 1usize..12,
        ) {
            let limits = Limits { max_head_len: max, max_headers: 8 };
            let expected = match naive_head_end(&bytes, max) {
                Some(end) => Ok(Some(end)),
                None if bytes.len() >= max => Err(HandshakeError::HeadTooLarge),
                None => Ok(None),
            };
            // By words (the default here) and one LF at a time (bare metal).
            for by_words in [true, false] {
                let mut scanned = 0;
                proptest::prop_assert_eq!(
                    find_head_end_with(&bytes, &mut scanned, &limits, by_words),
                    expected
                );
                // Fed in pieces of `step` bytes, the answer is the same.
                let mut scanned = 0;
                let mut len = 0;
                let result = loop {
                    len = (len + step).min(bytes.len());
                    let found = find_head_end_with(&bytes[..len], &mut scanned, &limits, by_words);
                    proptest::prop_assert!(scanned <= len);
                    if found != Ok(None) || len == bytes.len() {
                        break found;
                    }
                };
                proptest::prop_assert_eq!(result, expected);
            }
        }
    }

    #[test]
    fn sink_writes_decimals() {
        let mut buf = [0u8; 32];
        let len = write_twice(&mut buf, |s| {
            s.put_decimal(0);
            s.put(b" ");
            s.put_decimal(65535);
            s.put(b" ");
            s.put_decimal(usize::MAX);
        })
        .unwrap();
        let expected = std::format!("0 65535 {}", usize::MAX);
        assert_eq!(&buf[..len], expected.as_bytes());
    }

    #[test]
    fn token_and_value_rules() {
        assert!(is_token(b"Sec-WebSocket-Protocol"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"a\r\nb"));
        assert!(is_safe_value(b"text/html; q=0.9\tx"));
        assert!(!is_safe_value(b"a\rb"));
        assert!(!is_safe_value(b"a\nb"));
        assert!(!is_safe_value(b"a\0b"));
        assert!(!is_safe_value(b"a\x7fb"));
    }
}
