//! The WebSocket handshake over HTTP/2 and HTTP/3 (extended CONNECT, RFC 8441 §4, §5;
//! RFC 9220 §3): `check_connect`, `ConnectRequest`, `connect_rejection`,
//! `connect_request_headers` and `check_connect_response` on arbitrary pseudo-header
//! fields, header fields, offers and statuses. It checks properties, not just the absence
//! of panics:
//!
//! - `check_connect` accepts exactly the requests with `:method` CONNECT, `:protocol`
//!   websocket and one `sec-websocket-version` of 13, and refuses the others with the error
//!   of the first rule they break; the rejection of a refusal is a 4xx with
//!   `sec-websocket-version: 13` exactly for an unsupported version;
//! - `connect_request_headers` accepts exactly a list of tokens and a non-empty extensions
//!   value without control characters, and what it writes `check_connect` accepts, with the
//!   same offers;
//! - what a server answers to an accepted request (`ConnectRequest::accept`, with the first
//!   valid subprotocol and the permessage-deflate parameters `deflate::negotiate` chose)
//!   `check_connect_response` accepts against the same offers, with that subprotocol and
//!   those parameters;
//! - `check_connect_response` passes a non-2xx status as `Refused`, and accepts a
//!   subprotocol only when exactly one was answered and it was offered, permessage-deflate
//!   only when offered and answered, with window bits in 8..=15.
//!
//! Input: a selector byte (bit 0: no `:protocol`; bit 1: no offered subprotocols; bit 2: no
//! offered extensions; bits 3-7: the server's deflate configuration), two bytes of the
//! response status (big-endian), then lines. Up to the first empty line, the request:
//! `:method`, `:protocol`, then header fields `name:value`. After it, the client's side:
//! the offered subprotocols value, the offered extensions value (both as given to
//! `connect_request_headers`), then the response's header fields `name:value`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockless::deflate::{
    DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS, negotiate,
};
use sockless::handshake::{
    ConnectRequest, ConnectResponse, check_connect, check_connect_response, connect_rejection,
    connect_request_headers,
};
use sockless::{HandshakeError, MAX_SUBPROTOCOL_LEN, UsageError};

type Fields = Vec<(String, Vec<u8>)>;
type Pairs<'a> = std::iter::Map<
    std::slice::Iter<'a, (String, Vec<u8>)>,
    fn(&'a (String, Vec<u8>)) -> (&'a str, &'a [u8]),
>;

fn pairs(fields: &Fields) -> Pairs<'_> {
    fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
}

fn field(line: &[u8]) -> (String, Vec<u8>) {
    let (name, value) = match line.iter().position(|&b| b == b':') {
        Some(colon) => (&line[..colon], &line[colon + 1..]),
        None => (line, &[][..]),
    };
    (String::from_utf8_lossy(name).into_owned(), value.to_vec())
}

fn trim(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

fn named<'f>(fields: &'f Fields, name: &str) -> Vec<&'f [u8]> {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .collect()
}

/// RFC 9110 §5.6.2 token characters.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_safe(s: &[u8]) -> bool {
    s.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The comma-separated items of a list without quoted strings.
fn items(list: &str) -> Vec<&str> {
    list.split(',')
        .map(|i| i.trim_matches([' ', '\t']))
        .filter(|i| !i.is_empty())
        .collect()
}

fn server_config(bits: u8) -> DeflateConfig {
    let mut config = DeflateConfig::default()
        .with_receive_no_context_takeover(bits & 0x10 != 0)
        .with_send_no_context_takeover(bits & 0x08 != 0);
    config.receive_window_bits = (bits & 0x07) * 2 + 3;
    config
}

fn in_range(params: &DeflateParams) -> bool {
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&params.server_max_window_bits)
        && (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&params.client_max_window_bits)
}

/// RFC 8441 §4, §5 and RFC 6455 §4.2.1 item 6, in `check_connect`'s order.
fn model_check_connect(
    method: &str,
    protocol: Option<&str>,
    fields: &Fields,
) -> Result<(), HandshakeError> {
    if method != "CONNECT" || protocol != Some("websocket") {
        return Err(HandshakeError::NotWebSocketProtocol);
    }
    match named(fields, "sec-websocket-version").as_slice() {
        [] => Err(HandshakeError::UnsupportedVersion),
        [one] if trim(one) == b"13" => Ok(()),
        [_] => Err(HandshakeError::UnsupportedVersion),
        _ => Err(HandshakeError::DuplicateHeader),
    }
}

/// The server accepts `request` with its first valid subprotocol and the permessage-deflate
/// parameters `config` chooses; when the client's offers are known (`offers`: the request
/// had at most one field of each, in UTF-8), the client accepts the response with them.
fn round_trip<'a, H, N, V>(
    request: &ConnectRequest<'a, H>,
    offers: Option<(Option<&str>, Option<&str>)>,
    config: &DeflateConfig,
) where
    H: IntoIterator<Item = (&'a N, &'a V)> + Clone,
    N: AsRef<str> + ?Sized + 'a,
    V: AsRef<[u8]> + ?Sized + 'a,
{
    for offered in request.subprotocols() {
        assert!(request.offers_subprotocol(offered), "{offered:?}");
    }
    let subprotocol = request
        .subprotocols()
        .find(|s| s.len() <= MAX_SUBPROTOCOL_LEN && is_token(s.as_bytes()));
    let deflate = negotiate(request.extensions(), config);
    if let Some(params) = deflate {
        assert!(in_range(&params), "{params:?}");
    }
    let value = deflate.map(|params| params.response_value_for(request.extensions()));
    let accepted = request
        .accept(subprotocol, value.as_ref().map(|v| v.as_str()))
        .expect("an offered token and a written answer are accepted");
    let accepted: Vec<(&str, &str)> = accepted.collect();
    let mut expected = Vec::new();
    expected.extend(subprotocol.map(|s| ("sec-websocket-protocol", s)));
    expected.extend(
        value
            .as_ref()
            .map(|v| ("sec-websocket-extensions", v.as_str())),
    );
    assert_eq!(accepted, expected);
    // A subprotocol the client did not offer is refused.
    if !request.offers_subprotocol("x-unoffered") {
        assert_eq!(
            request.accept(Some("x-unoffered"), None),
            Err(UsageError::UnofferedSubprotocol)
        );
    }
    let Some((offered_subprotocols, offered_extensions)) = offers else {
        return;
    };
    let checked = check_connect_response(
        200,
        accepted.iter().copied(),
        offered_subprotocols,
        offered_extensions,
    );
    assert_eq!(
        checked,
        Ok(ConnectResponse::Accepted {
            subprotocol,
            deflate
        }),
        "offers {offered_subprotocols:?} {offered_extensions:?}, answer {accepted:?}"
    );
}

/// The value of the only field named `name`, if it is UTF-8; `Some(None)` when there is none.
fn only<'f>(fields: &'f Fields, name: &str) -> Option<Option<&'f str>> {
    match named(fields, name).as_slice() {
        [] => Some(None),
        [one] => std::str::from_utf8(one).ok().map(Some),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, status_hi, status_lo, text @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*status_hi, *status_lo]);
    let config = server_config(selector >> 3);
    let mut lines = text.split(|&b| b == b'\n');
    let mut request_lines = lines.by_ref().take_while(|line| !line.is_empty());
    let method = String::from_utf8_lossy(request_lines.next().unwrap_or_default()).into_owned();
    let protocol = String::from_utf8_lossy(request_lines.next().unwrap_or_default()).into_owned();
    let protocol = (selector & 1 == 0).then_some(protocol.as_str());
    let request_fields: Fields = request_lines.map(field).collect();
    let offered_subprotocols =
        String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let offered_subprotocols = (selector & 2 == 0).then_some(offered_subprotocols.as_str());
    let offered_extensions = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let offered_extensions = (selector & 4 == 0).then_some(offered_extensions.as_str());
    let response_fields: Fields = lines.map(field).collect();

    // 1. An arbitrary request, as an HTTP/2 or HTTP/3 library hands it over.
    let checked = check_connect(&method, protocol, pairs(&request_fields));
    assert_eq!(
        checked.as_ref().map(drop).map_err(|e| *e),
        model_check_connect(&method, protocol, &request_fields),
        "{method:?} {protocol:?} {request_fields:?}"
    );
    match checked {
        Err(error) => {
            let (status, fields) = connect_rejection(error);
            assert!((400..500).contains(&status), "{error:?}: {status}");
            let fields: Vec<_> = fields.collect();
            if error == HandshakeError::UnsupportedVersion {
                assert_eq!(fields, [("sec-websocket-version", "13")]);
            } else {
                assert!(fields.is_empty(), "{error:?}: {fields:?}");
            }
        }
        Ok(request) => {
            let origin = named(&request_fields, "origin")
                .first()
                .and_then(|o| std::str::from_utf8(trim(o)).ok());
            assert_eq!(request.origin(), origin);
            let offers = only(&request_fields, "sec-websocket-protocol")
                .zip(only(&request_fields, "sec-websocket-extensions"));
            round_trip(&request, offers, &config);
        }
    }

    // 2. The client's request built from arbitrary offers.
    let built = connect_request_headers(offered_subprotocols, offered_extensions);
    let subprotocols_ok = offered_subprotocols.is_none_or(|list| {
        !items(list).is_empty()
            && items(list).iter().all(|i| is_token(i.as_bytes()))
            && is_safe(list.as_bytes())
    });
    let extensions_ok = offered_extensions
        .is_none_or(|value| !trim(value.as_bytes()).is_empty() && is_safe(value.as_bytes()));
    match built {
        Err(error) => {
            let expected = if subprotocols_ok {
                UsageError::InvalidHeader
            } else {
                UsageError::InvalidSubprotocol
            };
            assert!(!(subprotocols_ok && extensions_ok), "{error:?}");
            assert_eq!(error, expected);
        }
        Ok(fields) => {
            assert!(subprotocols_ok && extensions_ok);
            let fields: Vec<(&str, &str)> = fields.collect();
            let mut expected = vec![("sec-websocket-version", "13")];
            expected.extend(offered_subprotocols.map(|s| ("sec-websocket-protocol", s)));
            expected.extend(offered_extensions.map(|e| ("sec-websocket-extensions", e)));
            assert_eq!(fields, expected);
            let request = check_connect("CONNECT", Some("websocket"), fields.iter().copied())
                .expect("a request as the client writes it is accepted");
            assert_eq!(
                request.subprotocols().collect::<Vec<_>>(),
                offered_subprotocols.map(items).unwrap_or_default()
            );
            round_trip(
                &request,
                Some((offered_subprotocols, offered_extensions)),
                &config,
            );
        }
    }

    // 3. An arbitrary response against the offers.
    let checked = check_connect_response(
        status,
        pairs(&response_fields),
        offered_subprotocols,
        offered_extensions,
    );
    if !(200..300).contains(&status) {
        assert_eq!(checked, Ok(ConnectResponse::Refused { status }));
        return;
    }
    let answered = named(&response_fields, "sec-websocket-protocol");
    match checked {
        Ok(ConnectResponse::Accepted {
            subprotocol,
            deflate,
        }) => {
            match subprotocol {
                Some(chosen) => {
                    assert_eq!(answered.len(), 1);
                    assert_eq!(trim(answered[0]), chosen.as_bytes());
                    assert!(offered_subprotocols.is_some_and(|o| o.contains(chosen)));
                }
                None => assert!(answered.is_empty()),
            }
            if let Some(params) = deflate {
                assert!(in_range(&params), "{params:?}");
                let deflate = |v: &[u8]| {
                    String::from_utf8_lossy(v)
                        .to_ascii_lowercase()
                        .contains("permessage-deflate")
                };
                assert!(offered_extensions.is_some_and(|o| deflate(o.as_bytes())));
                assert!(
                    named(&response_fields, "sec-websocket-extensions")
                        .iter()
                        .any(|v| deflate(v))
                );
            }
        }
        Ok(refused) => panic!("a 2xx is no refusal: {refused:?}"),
        Err(error) => assert!(
            matches!(
                error,
                HandshakeError::UnofferedSubprotocol
                    | HandshakeError::UnofferedExtension
                    | HandshakeError::InvalidExtensionResponse
            ),
            "{error:?}"
        ),
    }
});
