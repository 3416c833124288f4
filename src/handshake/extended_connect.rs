//! The opening handshake over HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220): an extended CONNECT
//! request with `:protocol` `websocket`, answered with a 2xx response, after which the
//! stream carries the WebSocket frames in place of the TCP connection of RFC 6455.
//!
//! The HTTP library parses and writes the messages (HEADERS frames, pseudo-header fields,
//! the `SETTINGS_ENABLE_CONNECT_PROTOCOL` setting of RFC 8441 §3 and RFC 9220 §3, and the
//! refusal of `Connection`, `Upgrade` and the other connection-specific fields that RFC 8441
//! §5 forbids here, which RFC 9113 §8.2.2 and RFC 9114 §4.2 make malformed). These helpers
//! check and produce the WebSocket part, which the HTTP library hands over as pseudo-header
//! values and `(name, value)` pairs, and keep nothing.
//!
//! There is no `Sec-WebSocket-Key` and no `Sec-WebSocket-Accept`: RFC 8441 §5 replaces them
//! with the `:protocol` pseudo-header field, which a script cannot set (§8). `Origin`,
//! `Sec-WebSocket-Version`, `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` keep
//! their RFC 6455 meaning (RFC 8441 §5), with lower-case names (RFC 9113 §8.2.1, RFC 9114
//! §4.2); names are compared ASCII case-insensitively all the same.
//!
//! The steps of both sides are in the [`handshake`](super) module documentation.

use super::headers::{ListItems, MAX_PARSED_HEAD, Seen};
use super::{is_safe_value, is_token};
use crate::deflate::{self, DeflateParams};
use crate::error::{HandshakeError, UsageError};
use crate::subprotocol::MAX_SUBPROTOCOL_LEN;
use crate::token::{extension_name, trim_ows};

/// The `:method` of an extended CONNECT request (RFC 8441 §4).
pub const CONNECT_METHOD: &str = "CONNECT";

/// The `:protocol` that asks for a WebSocket connection (RFC 8441 §5, §9.2; RFC 9220 §3).
pub const CONNECT_PROTOCOL: &str = "websocket";

/// The status of the response that accepts the request (RFC 8441 §5.1). Any 2xx opens the
/// tunnel of a CONNECT request (RFC 9110 §9.3.6), which [`check_connect_response`] accepts.
pub const CONNECT_ACCEPTED: u16 = 200;

const VERSION: &str = "sec-websocket-version";
const PROTOCOL: &str = "sec-websocket-protocol";
const EXTENSIONS: &str = "sec-websocket-extensions";
const ORIGIN: &str = "origin";

/// A checked extended CONNECT request for a WebSocket (from [`check_connect`]), borrowing
/// the HTTP library's header fields: the offers, read when asked for.
#[derive(Clone, Debug)]
pub struct ConnectRequest<'a, H> {
    headers: H,
    origin: Option<&'a [u8]>,
}

/// Check an extended CONNECT request for a WebSocket (RFC 8441 §4, §5; RFC 9220 §3), given
/// its `:method`, its `:protocol` (`None` when it had none) and its header fields, without
/// the pseudo-header fields: anything that iterates over `(name, value)` pairs of
/// references and can be iterated again, such as an `&http::HeaderMap` or an iterator over
/// `(&str, &[u8])` pairs. Names are compared ASCII case-insensitively, values with the
/// optional whitespace around them trimmed.
///
/// The rules, in the order they are checked:
/// 1. `:method` is `CONNECT`, compared exactly as methods are (RFC 9110 §9.1), else
///    `NotWebSocketProtocol`: the request is no extended CONNECT;
/// 2. `:protocol` is present and `websocket` (RFC 8441 §5: "MUST have a value of
///    `websocket`"), compared exactly, else `NotWebSocketProtocol`;
/// 3. no `sec-websocket-protocol` or `sec-websocket-extensions` value is over 1 GiB, else
///    `HeadTooLarge` (the limit of the list parsing; no HTTP library hands over such a
///    field);
/// 4. `sec-websocket-version` appears exactly once (RFC 6455 §11.3.5), else
///    `UnsupportedVersion` when missing or `DuplicateHeader`, and is `13` (RFC 6455 §4.2.1
///    item 6, which RFC 8441 §5 keeps), else `UnsupportedVersion`.
///
/// There is no `Sec-WebSocket-Key` to check (RFC 8441 §5). Answer an error with
/// [`connect_rejection`].
pub fn check_connect<'a, H, N, V>(
    method: &str,
    protocol: Option<&str>,
    headers: H,
) -> Result<ConnectRequest<'a, H>, HandshakeError>
where
    H: IntoIterator<Item = (&'a N, &'a V)> + Clone,
    N: AsRef<str> + ?Sized + 'a,
    V: AsRef<[u8]> + ?Sized + 'a,
{
    if method != CONNECT_METHOD || protocol != Some(CONNECT_PROTOCOL) {
        return Err(HandshakeError::NotWebSocketProtocol);
    }
    let mut versions = 0usize;
    let mut version_ok = false;
    let mut origin = None;
    for (name, value) in pairs(headers.clone()) {
        if name.eq_ignore_ascii_case(VERSION) {
            versions += 1;
            version_ok = trim_ows(value) == b"13";
        } else if name.eq_ignore_ascii_case(ORIGIN) {
            origin = origin.or(Some(trim_ows(value)));
        } else if (name.eq_ignore_ascii_case(PROTOCOL) || name.eq_ignore_ascii_case(EXTENSIONS))
            && value.len() > MAX_PARSED_HEAD
        {
            return Err(HandshakeError::HeadTooLarge);
        }
    }
    match versions {
        0 => return Err(HandshakeError::UnsupportedVersion),
        1 if version_ok => {}
        1 => return Err(HandshakeError::UnsupportedVersion),
        _ => return Err(HandshakeError::DuplicateHeader),
    }
    Ok(ConnectRequest { headers, origin })
}

impl<'a, H, N, V> ConnectRequest<'a, H>
where
    H: IntoIterator<Item = (&'a N, &'a V)> + Clone,
    N: AsRef<str> + ?Sized + 'a,
    V: AsRef<[u8]> + ?Sized + 'a,
{
    /// Offered subprotocols, in the client's order of preference: every element of every
    /// `sec-websocket-protocol` field (RFC 6455 §4.1 item 10, §11.3.4; RFC 8441 §5).
    /// Non-UTF-8 elements are skipped.
    pub fn subprotocols(&self) -> impl Iterator<Item = &'a str> + use<'a, H, N, V> {
        field_items(pairs(self.headers.clone()), PROTOCOL)
            .filter_map(|item| core::str::from_utf8(item).ok())
    }

    /// Offered extensions, one raw item per comma-separated extension (e.g.
    /// `"permessage-deflate; client_max_window_bits"`), from every `sec-websocket-extensions`
    /// field (RFC 6455 §9.1, §11.3.2; RFC 8441 §5). Non-UTF-8 items are skipped.
    pub fn extensions(&self) -> impl Iterator<Item = &'a str> + use<'a, H, N, V> {
        field_items(pairs(self.headers.clone()), EXTENSIONS)
            .filter_map(|item| core::str::from_utf8(item).ok())
    }

    /// Whether the client offered this subprotocol. The match is exact and case-sensitive,
    /// as for [`Request::offers_subprotocol`](super::Request::offers_subprotocol).
    pub fn offers_subprotocol(&self, protocol: &str) -> bool {
        field_items(pairs(self.headers.clone()), PROTOCOL)
            .any(|offered| offered == protocol.as_bytes())
    }

    /// The first `origin` value, if present and UTF-8 (RFC 6455 §4.2.1 item 7, §10.2;
    /// RFC 8441 §5). Sent by browsers; a server may refuse origins it does not trust.
    pub fn origin(&self) -> Option<&'a str> {
        self.origin
            .and_then(|origin| core::str::from_utf8(origin).ok())
    }

    /// The first value of the header field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        pairs(self.headers.clone())
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The header fields of the 200 response ([`CONNECT_ACCEPTED`]) that accepts this
    /// request with `subprotocol` (which the client must have offered) and `extensions` (a
    /// `sec-websocket-extensions` value, for extensions the caller implements itself):
    /// [`connect_response_headers`], after checking the offer.
    ///
    /// Errors: `UnofferedSubprotocol` for a subprotocol the client did not offer (RFC 6455
    /// §4.2.2 step 5.4), and those of [`connect_response_headers`].
    pub fn accept<'s>(
        &self,
        subprotocol: Option<&'s str>,
        extensions: Option<&'s str>,
    ) -> Result<ConnectHeaders<'s>, UsageError> {
        if subprotocol.is_some_and(|chosen| !self.offers_subprotocol(chosen)) {
            return Err(UsageError::UnofferedSubprotocol);
        }
        connect_response_headers(subprotocol, extensions)
    }
}

/// Up to three header fields to send, as `(name, value)` pairs with lower-case names, as
/// HTTP/2 and HTTP/3 require (RFC 9113 §8.2.1, RFC 9114 §4.2): from
/// [`connect_request_headers`], [`connect_response_headers`] and [`connect_rejection`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectHeaders<'s> {
    fields: [(&'static str, &'s str); 3],
    len: u8,
    next: u8,
}

impl<'s> ConnectHeaders<'s> {
    const fn empty() -> Self {
        ConnectHeaders {
            fields: [("", ""); 3],
            len: 0,
            next: 0,
        }
    }

    fn push(&mut self, name: &'static str, value: &'s str) {
        self.fields[usize::from(self.len)] = (name, value);
        self.len += 1;
    }
}

impl<'s> Iterator for ConnectHeaders<'s> {
    type Item = (&'static str, &'s str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == self.len {
            return None;
        }
        let field = self.fields[usize::from(self.next)];
        self.next += 1;
        Some(field)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.len - self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for ConnectHeaders<'_> {}

/// The header fields of a 200 response ([`CONNECT_ACCEPTED`]) that accepts an extended
/// CONNECT request (RFC 8441 §5, §5.1): `sec-websocket-protocol` with the chosen
/// subprotocol, if any (RFC 6455 §4.2.2 step 5.4), then `sec-websocket-extensions` with
/// `extensions`, if given (§4.2.2 step 5.5; sockless implements no extension, so only for
/// ones the caller implements itself). No `sec-websocket-accept` (RFC 8441 §5).
///
/// [`ConnectRequest::accept`] also checks that the subprotocol was offered.
///
/// Errors: `InvalidSubprotocol` for a subprotocol that is not an RFC 7230 token (RFC 6455
/// §11.3.4) or is longer than [`MAX_SUBPROTOCOL_LEN`] (what a
/// [`Connection`](crate::Connection) keeps); `InvalidHeader` for empty `extensions` or ones
/// with a control character but HTAB (so no CR, LF or NUL).
pub fn connect_response_headers<'s>(
    subprotocol: Option<&'s str>,
    extensions: Option<&'s str>,
) -> Result<ConnectHeaders<'s>, UsageError> {
    let mut fields = ConnectHeaders::empty();
    if let Some(protocol) = subprotocol {
        if protocol.len() > MAX_SUBPROTOCOL_LEN || !is_token(protocol.as_bytes()) {
            return Err(UsageError::InvalidSubprotocol);
        }
        fields.push(PROTOCOL, protocol);
    }
    if let Some(extensions) = extensions {
        check_extensions(extensions)?;
        fields.push(EXTENSIONS, extensions);
    }
    Ok(fields)
}

/// `extensions` is a non-empty field value without control characters but HTAB.
fn check_extensions(extensions: &str) -> Result<(), UsageError> {
    if trim_ows(extensions.as_bytes()).is_empty() || !is_safe_value(extensions.as_bytes()) {
        return Err(UsageError::InvalidHeader);
    }
    Ok(())
}

/// How a server answers an extended CONNECT request that [`check_connect`] refused: the
/// status and the header fields to send.
///
/// For `UnsupportedVersion` this is 400 with `sec-websocket-version: 13`. RFC 6455 asks
/// for "an appropriate HTTP error code (such as 426 Upgrade Required)" and the supported
/// versions in that field (§4.2.2, §4.4), and RFC 8441 §5 keeps the field's meaning; but a
/// 426 response must carry an `Upgrade` field (RFC 9110 §15.5.22), which HTTP/2 and HTTP/3
/// forbid (RFC 9113 §8.2.2, RFC 9114 §4.2), so the answer is the 400 Bad Request of the
/// example in RFC 6455 §4.4. Every other error answers
/// [`HandshakeError::status`] (400, or 431 for a field over the limit) with no field.
pub fn connect_rejection(error: HandshakeError) -> (u16, ConnectHeaders<'static>) {
    let mut fields = ConnectHeaders::empty();
    let status = match error {
        HandshakeError::UnsupportedVersion => {
            fields.push(VERSION, "13");
            400
        }
        other => other.status().unwrap_or(400),
    };
    (status, fields)
}

/// The header fields of a client's extended CONNECT request for a WebSocket (RFC 8441 §5,
/// §5.1): `sec-websocket-version: 13` (RFC 6455 §4.1 item 9), then
/// `sec-websocket-protocol` with the offered `subprotocols`, if any (a comma-separated
/// list as sent, e.g. `"chat, superchat"`: RFC 6455 §4.1 item 10), then
/// `sec-websocket-extensions` with `extensions`, if any (§4.1 item 11). No
/// `sec-websocket-key` (RFC 8441 §5). The pseudo-header fields (`:method` CONNECT,
/// `:protocol` websocket, `:scheme`, `:path`, `:authority`) are the HTTP library's to send.
///
/// Keep `subprotocols` and `extensions` for [`check_connect_response`].
///
/// Errors: `InvalidSubprotocol` when `subprotocols` is not a comma-separated list of one or
/// more RFC 7230 tokens (RFC 6455 §4.1 item 10); `InvalidHeader` for empty `extensions` or
/// ones with a control character but HTAB (so no CR, LF or NUL).
pub fn connect_request_headers<'s>(
    subprotocols: Option<&'s str>,
    extensions: Option<&'s str>,
) -> Result<ConnectHeaders<'s>, UsageError> {
    let mut fields = ConnectHeaders::empty();
    fields.push(VERSION, "13");
    if let Some(list) = subprotocols {
        let bytes = list.as_bytes();
        let mut items = list_items(bytes);
        let tokens = items.next().is_some_and(is_token) && items.all(is_token);
        if !tokens || !is_safe_value(bytes) {
            return Err(UsageError::InvalidSubprotocol);
        }
        fields.push(PROTOCOL, list);
    }
    if let Some(extensions) = extensions {
        check_extensions(extensions)?;
        fields.push(EXTENSIONS, extensions);
    }
    Ok(fields)
}

/// What the server answered to an extended CONNECT request, as [`check_connect_response`]
/// judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectResponse<'a> {
    /// A 2xx response that passed the checks: the stream now carries the WebSocket
    /// connection, OPEN (RFC 8441 §5), with this subprotocol.
    Accepted {
        /// The subprotocol the server chose, if any.
        subprotocol: Option<&'a str>,
        /// The permessage-deflate parameters the server accepted (RFC 7692), when it was
        /// offered and accepted: give them to
        /// [`Connection::with_deflate`](crate::Connection::with_deflate).
        deflate: Option<DeflateParams>,
    },
    /// Any other status: the server refused (a redirect, 401, 403, ...), to be handled
    /// "per HTTP procedures" (RFC 6455 §4.1). There is no WebSocket connection.
    Refused {
        /// The response status.
        status: u16,
    },
}

/// Check the response to a client's extended CONNECT request, given its status, its header
/// fields (as for [`check_connect`]: an `&http::HeaderMap`, or an iterator over
/// `(&str, &[u8])` pairs that can be iterated again; names compared ASCII
/// case-insensitively), and the `subprotocols` and `extensions` values the request offered
/// (as given to [`connect_request_headers`]).
///
/// The rules, in the order they are checked:
/// 1. the status is 2xx, which opens a CONNECT tunnel (RFC 9110 §9.3.6; RFC 8441 §5.1
///    shows 200), else `Ok(Refused { status })`;
/// 2. no `sec-websocket-protocol` or `sec-websocket-extensions` value is over 1 GiB, else
///    `HeadTooLarge`;
/// 3. `sec-websocket-protocol` is absent, or appears once (RFC 6455 §11.3.4) with exactly
///    one of the offered subprotocols (case-sensitive, as the server echoes it), else
///    `UnofferedSubprotocol` (RFC 6455 §4.1, response item 6);
/// 4. every extension named in `sec-websocket-extensions` (the token before `;`) is the
///    name of an offered one, ASCII case-insensitive, else `UnofferedExtension` (RFC 6455
///    §4.1, response item 5);
/// 5. when permessage-deflate was offered and is accepted, the answer fits an offer, as
///    [`deflate::check_response`](crate::deflate::check_response) checks it (RFC 7692
///    §7.1), else `InvalidExtensionResponse`; the agreed parameters come back in
///    [`ConnectResponse::Accepted`].
///
/// There is no `sec-websocket-accept` to check (RFC 8441 §5).
pub fn check_connect_response<'a, H, N, V>(
    status: u16,
    headers: H,
    offered_subprotocols: Option<&str>,
    offered_extensions: Option<&str>,
) -> Result<ConnectResponse<'a>, HandshakeError>
where
    H: IntoIterator<Item = (&'a N, &'a V)> + Clone,
    N: AsRef<str> + ?Sized + 'a,
    V: AsRef<[u8]> + ?Sized + 'a,
{
    if !(200..300).contains(&status) {
        return Ok(ConnectResponse::Refused { status });
    }
    let mut chosen = None;
    let mut protocols = 0usize;
    for (name, value) in pairs(headers.clone()) {
        let is_protocol = name.eq_ignore_ascii_case(PROTOCOL);
        if !is_protocol && !name.eq_ignore_ascii_case(EXTENSIONS) {
            continue;
        }
        if value.len() > MAX_PARSED_HEAD {
            return Err(HandshakeError::HeadTooLarge);
        }
        if is_protocol {
            protocols += 1;
            chosen = chosen.or(Some(trim_ows(value)));
        }
    }
    let subprotocol = match (protocols, chosen) {
        (0, _) => None,
        (1, Some(chosen)) => {
            let offered = offered_subprotocols
                .is_some_and(|list| list_items(list.as_bytes()).any(|offer| offer == chosen));
            match core::str::from_utf8(chosen) {
                Ok(chosen) if offered => Some(chosen),
                _ => return Err(HandshakeError::UnofferedSubprotocol),
            }
        }
        _ => return Err(HandshakeError::UnofferedSubprotocol),
    };
    let all_offered = field_items(pairs(headers.clone()), EXTENSIONS).all(|accepted| {
        let name = extension_name(accepted);
        offered_extensions.is_some_and(|list| {
            list_items(list.as_bytes())
                .any(|offer| extension_name(offer).eq_ignore_ascii_case(name))
        })
    });
    if !all_offered {
        return Err(HandshakeError::UnofferedExtension);
    }
    let deflate = match offered_extensions {
        Some(offers) => accepted_deflate(offers, field_items(pairs(headers), EXTENSIONS))?,
        None => None,
    };
    Ok(ConnectResponse::Accepted {
        subprotocol,
        deflate,
    })
}

/// The permessage-deflate parameters of a response whose extension elements are
/// `accepted`, checked against the `offers` (RFC 7692 §7.1); `None` when it was not
/// offered or not accepted.
fn accepted_deflate<'a>(
    offers: &str,
    accepted: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let offer_elements =
        || list_items(offers.as_bytes()).filter_map(|element| core::str::from_utf8(element).ok());
    if !deflate::offered(offer_elements()) {
        return Ok(None);
    }
    let mut elements = [""; 2];
    let mut count = 0;
    for element in accepted {
        if !extension_name(element).eq_ignore_ascii_case(deflate::EXTENSION_NAME.as_bytes()) {
            continue;
        }
        // Accepted twice, or with bytes no parameter can have: a bad answer (RFC 7692 §7.1).
        let (Some(slot), Ok(text)) = (elements.get_mut(count), core::str::from_utf8(element))
        else {
            return Err(HandshakeError::InvalidExtensionResponse);
        };
        *slot = text;
        count += 1;
    }
    deflate::check_response(offer_elements(), elements[..count].iter().copied())
}

/// The elements of one comma-separated field value, split exactly as
/// [`Headers::list`](super::Headers::list) splits a header line of an HTTP/1.1 head:
/// trimmed, empty elements skipped, commas inside quoted strings kept (RFC 9110 §5.6.1).
/// The value stands for a head of its own, so it must be at most [`MAX_PARSED_HEAD`]
/// bytes long (the callers check); a longer one gives no element.
fn list_items(value: &[u8]) -> ListItems<'_, 'static> {
    let mut field = Seen::default();
    if value.len() <= MAX_PARSED_HEAD {
        field.note(value, value);
    }
    field.list(value, "")
}

/// The header fields as `(name, value)` slices.
fn pairs<'a, H, N, V>(headers: H) -> impl Iterator<Item = (&'a str, &'a [u8])>
where
    H: IntoIterator<Item = (&'a N, &'a V)>,
    N: AsRef<str> + ?Sized + 'a,
    V: AsRef<[u8]> + ?Sized + 'a,
{
    headers
        .into_iter()
        .map(|(name, value)| (name.as_ref(), value.as_ref()))
}

/// Every element of every field named `name` (ASCII case-insensitive) among `headers`.
fn field_items<'a, H>(headers: H, name: &'static str) -> FieldItems<'a, H> {
    FieldItems {
        headers,
        name,
        current: list_items(&[]),
    }
}

/// The iterator of [`field_items`].
#[derive(Clone, Debug)]
struct FieldItems<'a, H> {
    headers: H,
    name: &'static str,
    current: ListItems<'a, 'static>,
}

impl<'a, H> Iterator for FieldItems<'a, H>
where
    H: Iterator<Item = (&'a str, &'a [u8])>,
{
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            let name = self.name;
            let (_, value) = self
                .headers
                .find(|(field, _)| field.eq_ignore_ascii_case(name))?;
            self.current = list_items(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::DeflateConfig;
    use std::vec::Vec;

    /// The request of RFC 8441 §5.1, without its pseudo-header fields.
    const RFC_REQUEST: &[(&str, &[u8])] = &[
        ("sec-websocket-protocol", b"chat, superchat"),
        ("sec-websocket-extensions", b"permessage-deflate"),
        ("sec-websocket-version", b"13"),
        ("origin", b"http://www.example.com"),
    ];

    type Fields<'a> = core::iter::Copied<core::slice::Iter<'a, (&'a str, &'a [u8])>>;

    fn fields<'a>(headers: &'a [(&'a str, &'a [u8])]) -> Fields<'a> {
        headers.iter().copied()
    }

    fn check(headers: &[(&str, &[u8])]) -> Result<(), HandshakeError> {
        check_connect("CONNECT", Some("websocket"), fields(headers)).map(drop)
    }

    /// `RFC_REQUEST` with the fields named `name` replaced by `value` (removed for `None`).
    fn with_field<'a>(name: &'a str, value: Option<&'a [u8]>) -> Vec<(&'a str, &'a [u8])> {
        let mut headers: Vec<_> = RFC_REQUEST
            .iter()
            .copied()
            .filter(|f| f.0 != name)
            .collect();
        headers.extend(value.map(|value| (name, value)));
        headers
    }

    #[test]
    fn rfc_8441_example_request_passes() {
        let request = check_connect("CONNECT", Some("websocket"), fields(RFC_REQUEST)).unwrap();
        assert_eq!(
            request.subprotocols().collect::<Vec<_>>(),
            ["chat", "superchat"]
        );
        assert_eq!(
            request.extensions().collect::<Vec<_>>(),
            ["permessage-deflate"]
        );
        assert!(request.offers_subprotocol("chat"));
        assert!(request.offers_subprotocol("superchat"));
        assert!(!request.offers_subprotocol("Chat"));
        assert!(!request.offers_subprotocol("cha"));
        assert_eq!(request.origin(), Some("http://www.example.com"));
        assert_eq!(request.header("Sec-WebSocket-Version"), Some(&b"13"[..]));
        assert_eq!(request.header("cookie"), None);
    }

    #[test]
    fn method_other_than_connect_is_not_websocket() {
        for method in ["GET", "connect", "POST", ""] {
            assert_eq!(
                check_connect(method, Some("websocket"), fields(RFC_REQUEST)).map(drop),
                Err(HandshakeError::NotWebSocketProtocol),
                "{method}"
            );
        }
    }

    #[test]
    fn protocol_other_than_websocket_is_refused() {
        for protocol in [
            None,
            Some("connect-udp"),
            Some("webtransport"),
            Some(""),
            Some("WebSocket"),
        ] {
            assert_eq!(
                check_connect("CONNECT", protocol, fields(RFC_REQUEST)).map(drop),
                Err(HandshakeError::NotWebSocketProtocol),
                "{protocol:?}"
            );
        }
    }

    #[test]
    fn missing_version_is_unsupported() {
        assert_eq!(
            check(&with_field("sec-websocket-version", None)),
            Err(HandshakeError::UnsupportedVersion)
        );
    }

    #[test]
    fn version_other_than_13_is_unsupported() {
        for version in [&b"8"[..], b"12", b"14", b"", b"13, 8", b"0013"] {
            assert_eq!(
                check(&with_field("sec-websocket-version", Some(version))),
                Err(HandshakeError::UnsupportedVersion),
                "{version:?}"
            );
        }
    }

    #[test]
    fn version_is_trimmed_and_its_name_case_insensitive() {
        assert_eq!(
            check(&with_field("sec-websocket-version", Some(b" 13\t"))),
            Ok(())
        );
        let mut headers = with_field("sec-websocket-version", None);
        headers.push(("Sec-WebSocket-Version", b"13"));
        assert_eq!(check(&headers), Ok(()));
    }

    #[test]
    fn repeated_version_is_a_duplicate() {
        let mut headers = RFC_REQUEST.to_vec();
        headers.push(("sec-websocket-version", b"13"));
        assert_eq!(check(&headers), Err(HandshakeError::DuplicateHeader));
    }

    #[test]
    fn no_key_is_needed_and_a_key_is_ignored() {
        let mut headers = RFC_REQUEST.to_vec();
        headers.push(("sec-websocket-key", b"not even base64"));
        assert_eq!(check(&headers), Ok(()));
    }

    #[test]
    fn lists_span_fields_and_keep_quoted_commas() {
        let headers: &[(&str, &[u8])] = &[
            ("sec-websocket-version", b"13"),
            ("Sec-WebSocket-Protocol", b"a, , b"),
            ("sec-websocket-protocol", b"c"),
            ("sec-websocket-extensions", b"x; p=\"1,2\", y"),
        ];
        let request = check_connect("CONNECT", Some("websocket"), fields(headers)).unwrap();
        assert_eq!(request.subprotocols().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            request.extensions().collect::<Vec<_>>(),
            ["x; p=\"1,2\"", "y"]
        );
        assert!(request.offers_subprotocol("c"));
    }

    #[test]
    fn no_offers_no_origin() {
        let headers: &[(&str, &[u8])] = &[("sec-websocket-version", b"13")];
        let request = check_connect("CONNECT", Some("websocket"), fields(headers)).unwrap();
        assert_eq!(request.subprotocols().count(), 0);
        assert_eq!(request.extensions().count(), 0);
        assert!(!request.offers_subprotocol("chat"));
        assert_eq!(request.origin(), None);
        assert_eq!(request.accept(None, None).unwrap().count(), 0);
    }

    #[test]
    fn non_utf8_offers_and_origin_are_skipped() {
        let headers: &[(&str, &[u8])] = &[
            ("sec-websocket-version", b"13"),
            ("sec-websocket-protocol", b"\xff, chat"),
            ("origin", b"\xfe"),
        ];
        let request = check_connect("CONNECT", Some("websocket"), fields(headers)).unwrap();
        assert_eq!(request.subprotocols().collect::<Vec<_>>(), ["chat"]);
        assert_eq!(request.origin(), None);
    }

    #[test]
    fn accept_lists_the_chosen_subprotocol_and_extensions() {
        let request = check_connect("CONNECT", Some("websocket"), fields(RFC_REQUEST)).unwrap();
        let response: Vec<_> = request.accept(Some("chat"), None).unwrap().collect();
        assert_eq!(response, [("sec-websocket-protocol", "chat")]);
        let response: Vec<_> = request
            .accept(Some("superchat"), Some("permessage-deflate"))
            .unwrap()
            .collect();
        assert_eq!(
            response,
            [
                ("sec-websocket-protocol", "superchat"),
                ("sec-websocket-extensions", "permessage-deflate")
            ]
        );
    }

    #[test]
    fn accept_refuses_an_unoffered_subprotocol() {
        let request = check_connect("CONNECT", Some("websocket"), fields(RFC_REQUEST)).unwrap();
        assert_eq!(
            request.accept(Some("mqtt"), None),
            Err(UsageError::UnofferedSubprotocol)
        );
        assert_eq!(
            request.accept(Some("CHAT"), None),
            Err(UsageError::UnofferedSubprotocol)
        );
    }

    #[test]
    fn response_headers_check_their_values() {
        assert_eq!(connect_response_headers(None, None).unwrap().len(), 0);
        for bad in ["", "two words", "a,b", "x\r\nInjected: 1", "é"] {
            assert_eq!(
                connect_response_headers(Some(bad), None),
                Err(UsageError::InvalidSubprotocol),
                "{bad:?}"
            );
        }
        let longest = "a".repeat(MAX_SUBPROTOCOL_LEN);
        assert!(connect_response_headers(Some(&longest), None).is_ok());
        let too_long = "a".repeat(MAX_SUBPROTOCOL_LEN + 1);
        assert_eq!(
            connect_response_headers(Some(&too_long), None),
            Err(UsageError::InvalidSubprotocol)
        );
        for bad in ["", " \t", "x\r\ny", "x\0"] {
            assert_eq!(
                connect_response_headers(None, Some(bad)),
                Err(UsageError::InvalidHeader),
                "{bad:?}"
            );
        }
        let fields: Vec<_> = connect_response_headers(None, Some("x; p=1"))
            .unwrap()
            .collect();
        assert_eq!(fields, [("sec-websocket-extensions", "x; p=1")]);
    }

    #[test]
    fn rejection_of_an_unsupported_version_names_13() {
        let (status, fields) = connect_rejection(HandshakeError::UnsupportedVersion);
        assert_eq!(status, 400);
        assert_eq!(
            fields.collect::<Vec<_>>(),
            [("sec-websocket-version", "13")]
        );
    }

    #[test]
    fn other_rejections_have_the_error_status_and_no_field() {
        for (error, expected) in [
            (HandshakeError::NotWebSocketProtocol, 400),
            (HandshakeError::DuplicateHeader, 400),
            (HandshakeError::HeadTooLarge, 431),
            (HandshakeError::UnofferedSubprotocol, 400),
        ] {
            let (status, fields) = connect_rejection(error);
            assert_eq!((status, fields.len()), (expected, 0), "{error:?}");
        }
    }

    #[test]
    fn request_headers_as_in_rfc_8441_example() {
        let fields: Vec<_> =
            connect_request_headers(Some("chat, superchat"), Some("permessage-deflate"))
                .unwrap()
                .collect();
        assert_eq!(
            fields,
            [
                ("sec-websocket-version", "13"),
                ("sec-websocket-protocol", "chat, superchat"),
                ("sec-websocket-extensions", "permessage-deflate"),
            ]
        );
        let fields: Vec<_> = connect_request_headers(None, None).unwrap().collect();
        assert_eq!(fields, [("sec-websocket-version", "13")]);
    }

    #[test]
    fn request_headers_refuse_bad_offers() {
        for bad in [
            "",
            " , ",
            "chat superchat",
            "chat, \"q\"",
            "chat\r\nx: y",
            "chat;v=1",
        ] {
            assert_eq!(
                connect_request_headers(Some(bad), None),
                Err(UsageError::InvalidSubprotocol),
                "{bad:?}"
            );
        }
        assert_eq!(
            connect_request_headers(None, Some("")),
            Err(UsageError::InvalidHeader)
        );
        assert_eq!(
            connect_request_headers(None, Some("x\ny")),
            Err(UsageError::InvalidHeader)
        );
    }

    fn check_response<'a>(
        status: u16,
        headers: &'a [(&'a str, &'a [u8])],
    ) -> Result<ConnectResponse<'a>, HandshakeError> {
        check_connect_response(
            status,
            fields(headers),
            Some("chat, superchat"),
            Some("permessage-deflate; client_max_window_bits, x-private"),
        )
    }

    #[test]
    fn rfc_8441_example_response_passes() {
        assert_eq!(
            check_response(200, &[("sec-websocket-protocol", b"chat")]),
            Ok(ConnectResponse::Accepted {
                subprotocol: Some("chat"),
                deflate: None
            })
        );
        assert_eq!(
            check_response(200, &[]),
            Ok(ConnectResponse::Accepted {
                subprotocol: None,
                deflate: None
            })
        );
    }

    #[test]
    fn any_2xx_accepts_and_other_statuses_refuse() {
        assert_eq!(
            check_response(204, &[]),
            Ok(ConnectResponse::Accepted {
                subprotocol: None,
                deflate: None
            })
        );
        for status in [100, 101, 199, 300, 400, 401, 426, 500] {
            assert_eq!(
                check_response(status, &[("sec-websocket-protocol", b"mqtt")]),
                Ok(ConnectResponse::Refused { status })
            );
        }
    }

    #[test]
    fn unoffered_subprotocol_is_refused() {
        for chosen in [&b"mqtt"[..], b"Chat", b"chat, superchat", b"", b"\xff"] {
            assert_eq!(
                check_response(200, &[("sec-websocket-protocol", chosen)]),
                Err(HandshakeError::UnofferedSubprotocol),
                "{chosen:?}"
            );
        }
        // Nothing offered: any choice is unoffered.
        assert_eq!(
            check_connect_response(
                200,
                fields(&[("sec-websocket-protocol", b"chat")]),
                None,
                None
            ),
            Err(HandshakeError::UnofferedSubprotocol)
        );
    }

    #[test]
    fn two_subprotocol_fields_are_refused() {
        assert_eq!(
            check_response(
                200,
                &[
                    ("sec-websocket-protocol", b"chat"),
                    ("Sec-WebSocket-Protocol", b"chat")
                ]
            ),
            Err(HandshakeError::UnofferedSubprotocol)
        );
    }

    #[test]
    fn extensions_must_have_been_offered_by_name() {
        let accepted = check_response(
            200,
            &[(
                "sec-websocket-extensions",
                b"Permessage-Deflate; server_no_context_takeover, x-private",
            )],
        );
        assert_eq!(
            accepted,
            Ok(ConnectResponse::Accepted {
                subprotocol: None,
                deflate: Some(DeflateParams {
                    server_no_context_takeover: true,
                    ..DeflateParams::default()
                })
            })
        );
        assert_eq!(
            check_response(200, &[("sec-websocket-extensions", b"x-other")]),
            Err(HandshakeError::UnofferedExtension)
        );
        assert_eq!(
            check_connect_response(
                200,
                fields(&[("sec-websocket-extensions", b"permessage-deflate")]),
                None,
                None
            ),
            Err(HandshakeError::UnofferedExtension)
        );
    }

    /// RFC 7692 §7.1: the permessage-deflate answer is checked against the offer, and the
    /// agreed parameters are handed back.
    #[test]
    fn the_permessage_deflate_answer_is_checked_and_returned() {
        let offer = DeflateConfig::default()
            .with_receive_window_bits(10)
            .offer();
        // The parameters agreed, as check_connect_response hands them back.
        let check = |answer: &[u8]| {
            let headers = [("sec-websocket-extensions", answer)];
            match check_connect_response(200, fields(&headers), None, Some(offer.as_str())) {
                Ok(ConnectResponse::Accepted { deflate, .. }) => Ok(deflate),
                Ok(refused) => panic!("{refused:?}"),
                Err(error) => Err(error),
            }
        };
        assert_eq!(
            check(b"permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"),
            Ok(Some(DeflateParams {
                server_max_window_bits: 10,
                client_max_window_bits: 12,
                ..DeflateParams::default()
            }))
        );
        for bad in [
            // Missing the server_max_window_bits that was offered (§7.1.2.1).
            &b"permessage-deflate"[..],
            // Above the offered limit.
            b"permessage-deflate; server_max_window_bits=11",
            // Accepted twice, an unknown parameter, a value out of range, not UTF-8.
            b"permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=10",
            b"permessage-deflate; server_max_window_bits=10; x=1",
            b"permessage-deflate; server_max_window_bits=10; client_max_window_bits=16",
            b"permessage-deflate; server_max_window_bits=\xff",
        ] {
            assert_eq!(
                check(bad),
                Err(HandshakeError::InvalidExtensionResponse),
                "{:?}",
                std::string::String::from_utf8_lossy(bad)
            );
        }
        // Declined: no parameters.
        assert_eq!(
            check_connect_response(200, fields(&[]), None, Some(offer.as_str())),
            Ok(ConnectResponse::Accepted {
                subprotocol: None,
                deflate: None
            })
        );
    }

    /// A value over 1 GiB, never touched (zeroed memory is mapped lazily).
    fn huge() -> Vec<u8> {
        std::vec![0u8; MAX_PARSED_HEAD + 1]
    }

    #[test]
    fn list_values_over_1_gib_are_too_large() {
        let huge = huge();
        for name in ["sec-websocket-protocol", "sec-websocket-extensions"] {
            let mut headers = RFC_REQUEST.to_vec();
            headers.push((name, huge.as_slice()));
            assert_eq!(check(&headers), Err(HandshakeError::HeadTooLarge), "{name}");
            assert_eq!(
                check_response(200, &[(name, huge.as_slice())]),
                Err(HandshakeError::HeadTooLarge),
                "{name}"
            );
        }
        // Other fields are not looked at.
        let mut headers = RFC_REQUEST.to_vec();
        headers.push(("cookie", huge.as_slice()));
        assert_eq!(check(&headers), Ok(()));
        assert_eq!(list_items(&huge).count(), 0);
    }

    #[test]
    fn list_items_split_one_value_like_a_header_line() {
        let items: Vec<_> = list_items(b" a ,, b;q=\"1,2\" ,c").collect();
        assert_eq!(items, [&b"a"[..], b"b;q=\"1,2\"", b"c"]);
        assert_eq!(list_items(b"").count(), 0);
        assert_eq!(list_items(b" , ").count(), 0);
    }

    #[test]
    fn connect_headers_iterate_exactly() {
        let mut fields = connect_request_headers(Some("chat"), None).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields.next(), Some(("sec-websocket-version", "13")));
        assert_eq!(fields.size_hint(), (1, Some(1)));
        assert_eq!(fields.next(), Some(("sec-websocket-protocol", "chat")));
        assert_eq!(fields.next(), None);
        assert_eq!(fields.next(), None);
    }
}
