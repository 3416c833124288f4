//! Negotiating permessage-deflate in the opening handshake (RFC 7692 §5, §7.1): the client's
//! offer, the server's choice among offers and its response, the client's check of that
//! response. Nothing here allocates.

use core::fmt;

use crate::connection::{DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::error::HandshakeError;
use crate::token::{extension_name, trim_ows};

/// The extension's name in `Sec-WebSocket-Extensions` (RFC 7692 §7).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// What our side wants from permessage-deflate, in either role: what a client offers, what
/// a server accepts. The default asks nothing of the peer: 32 KiB windows and context
/// takeover both ways, which is what browsers offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// The largest window (in bits, 8 to 15) the peer may compress with, so the size of our
    /// inflater's window: 2^bits bytes (RFC 7692 §7.1.2). Default 15 (32 KiB).
    pub receive_window_bits: u8,
    /// Ask the peer to compress every message on its own, without the previous ones as
    /// context (RFC 7692 §7.1.1). Default off.
    pub receive_no_context_takeover: bool,
    /// Compress every message we send on its own, and say so (RFC 7692 §7.1.1): a
    /// compressor can then be shared between connections. Default off.
    pub send_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig::DEFAULT
    }
}

impl DeflateConfig {
    /// The default, usable in a `const`: 32 KiB windows and context takeover both ways.
    pub const DEFAULT: DeflateConfig = DeflateConfig {
        receive_window_bits: MAX_WINDOW_BITS,
        receive_no_context_takeover: false,
        send_no_context_takeover: false,
    };

    /// With the peer limited to a window of 2^`bits` bytes (clamped to 8..=15).
    pub const fn with_receive_window_bits(mut self, bits: u8) -> Self {
        self.receive_window_bits = clamp_bits(bits);
        self
    }

    /// With the peer asked to compress each message on its own.
    pub const fn with_receive_no_context_takeover(mut self, on: bool) -> Self {
        self.receive_no_context_takeover = on;
        self
    }

    /// With our own messages compressed each on its own.
    pub const fn with_send_no_context_takeover(mut self, on: bool) -> Self {
        self.send_no_context_takeover = on;
        self
    }

    /// The `Sec-WebSocket-Extensions` element a client offers for this configuration
    /// (RFC 7692 §7.1): always `client_max_window_bits` (we can compress within any window
    /// the server asks for, §7.1.2.2), plus `server_max_window_bits=N` below 15 and the
    /// no-context-takeover parameters asked for.
    pub fn offer(&self) -> ExtensionValue {
        let mut value = ExtensionValue::new();
        self.write_offer(|bytes| value.push_bytes(bytes));
        value
    }

    /// Give [`offer`](Self::offer) to `put`, piece by piece (the client's request writes
    /// it straight into its output).
    pub(crate) fn write_offer(&self, mut put: impl FnMut(&[u8])) {
        put(EXTENSION_NAME.as_bytes());
        if self.receive_no_context_takeover {
            put(b"; server_no_context_takeover");
        }
        if self.send_no_context_takeover {
            put(b"; client_no_context_takeover");
        }
        let bits = clamp_bits(self.receive_window_bits);
        if bits < MAX_WINDOW_BITS {
            put(b"; server_max_window_bits=");
            // 8 to 14.
            if bits >= 10 {
                put(b"1");
            }
            put(&[b'0' + bits % 10]);
        }
        put(b"; client_max_window_bits");
    }

    /// [`offer`](Self::offer) as parsed: what the client checks the server's answer
    /// against, without writing the offer out and parsing it back.
    pub(crate) fn offer_element(&self) -> Element {
        let bits = clamp_bits(self.receive_window_bits);
        Element {
            server_no_context_takeover: self.receive_no_context_takeover,
            client_no_context_takeover: self.send_no_context_takeover,
            server_max_window_bits: (bits < MAX_WINDOW_BITS).then_some(bits),
            client_max_window_bits: Some(None),
        }
    }
}

const fn clamp_bits(bits: u8) -> u8 {
    if bits < MIN_WINDOW_BITS {
        MIN_WINDOW_BITS
    } else if bits > MAX_WINDOW_BITS {
        MAX_WINDOW_BITS
    } else {
        bits
    }
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value of a server's 101 accepting these parameters
    /// (RFC 7692 §7.1): only what differs from the defaults is written. To answer offers,
    /// use [`response_value_for`](Self::response_value_for), which also writes an offered
    /// `server_max_window_bits` of 15.
    pub fn response_value(&self) -> ExtensionValue {
        let mut value = ExtensionValue::new();
        value.push(EXTENSION_NAME);
        if self.server_no_context_takeover {
            value.push("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push("; client_no_context_takeover");
        }
        if self.server_max_window_bits < MAX_WINDOW_BITS {
            value.push("; server_max_window_bits=");
            value.push_bits(self.server_max_window_bits);
        }
        if self.client_max_window_bits < MAX_WINDOW_BITS {
            value.push("; client_max_window_bits=");
            value.push_bits(self.client_max_window_bits);
        }
        value
    }

    /// The `Sec-WebSocket-Extensions` value of a server's 101 accepting these parameters
    /// (from [`negotiate`]) in answer to `offers` (the same elements given to
    /// [`negotiate`]): [`response_value`](Self::response_value), plus
    /// `server_max_window_bits=15` when the offer was answered with the default window yet
    /// asked for one. RFC 7692 §7.1.2.1: a server accepts an offer with
    /// `server_max_window_bits` "by including the `server_max_window_bits` extension
    /// parameter in the extension negotiation response", even at 15, and a client may fail
    /// the connection when it is missing (as [`check_response`] does).
    pub fn response_value_for<'o>(
        &self,
        offers: impl IntoIterator<Item = &'o str>,
    ) -> ExtensionValue {
        let mut value = self.response_value();
        if self.server_max_window_bits < MAX_WINDOW_BITS {
            return value;
        }
        let written = self.written();
        let fits_as_written = offers
            .into_iter()
            .filter_map(|offer| parse_element(offer.as_bytes(), Side::Offer).ok().flatten())
            .find_map(|offer| {
                let answers = answer_fits(&offer, self);
                answers.then(|| response_fits(&offer, &written))
            });
        if fits_as_written == Some(false) {
            value.push("; server_max_window_bits=15");
        }
        value
    }

    /// These parameters as [`response_value`](Self::response_value) writes them.
    fn written(&self) -> Element {
        let bits = |bits: u8| (bits < MAX_WINDOW_BITS).then_some(bits);
        Element {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: bits(self.server_max_window_bits),
            client_max_window_bits: bits(self.client_max_window_bits).map(Some),
        }
    }
}

/// A `Sec-WebSocket-Extensions` element written without allocating (at most 128 bytes,
/// enough for every permessage-deflate parameter).
#[derive(Clone, Copy)]
pub struct ExtensionValue {
    len: u8,
    bytes: [u8; 128],
}

impl ExtensionValue {
    const fn new() -> Self {
        ExtensionValue {
            len: 0,
            bytes: [0; 128],
        }
    }

    fn push(&mut self, text: &str) {
        self.push_bytes(text.as_bytes());
    }

    /// Append `bytes` (ASCII, within the 128 bytes: what the writers here give).
    fn push_bytes(&mut self, bytes: &[u8]) {
        let start = usize::from(self.len);
        self.bytes[start..start + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len() as u8;
    }

    fn push_bits(&mut self, bits: u8) {
        if bits >= 10 {
            self.push("1");
        }
        let digit = [b'0' + bits % 10];
        // An ASCII digit.
        self.push(core::str::from_utf8(&digit).unwrap_or("0"));
    }

    /// The element, e.g. `permessage-deflate; client_max_window_bits`.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for ExtensionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ExtensionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parameters of one permessage-deflate element, parsed and checked for duplicates and
/// values (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value (only in an offer, §7.1.2.2).
    pub client_max_window_bits: Option<Option<u8>>,
}

/// Whether an element is an offer (client to server) or a response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Offer,
    Response,
}

/// A window size value: a decimal integer from 8 to 15 without leading zeroes, possibly as a
/// quoted string (RFC 7692 §7.1.2.1, §7.1.2.2; RFC 6455 §9.1 allows the quotes).
fn window_bits(value: &[u8]) -> Option<u8> {
    let value = match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    };
    match value {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// Parse `element` (one comma-separated item of `Sec-WebSocket-Extensions`). `Ok(None)` when
/// it names another extension; `Err(())` when it is permessage-deflate with a parameter
/// that is unknown, repeated, or has a missing or invalid value (RFC 7692 §7.1: a server
/// declines such an offer, a client fails on such a response).
pub(crate) fn parse_element(element: &[u8], side: Side) -> Result<Option<Element>, ()> {
    if !extension_name(element).eq_ignore_ascii_case(EXTENSION_NAME.as_bytes()) {
        return Ok(None);
    }
    let mut parsed = Element::default();
    let mut params = element.split(|&b| b == b';');
    params.next(); // the name
    for param in params {
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(eq) => (trim_ows(&param[..eq]), Some(trim_ows(&param[eq + 1..]))),
            None => (trim_ows(param), None),
        };
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if is("server_no_context_takeover") {
            // §7.1.1.1: no value; §7.1: at most once.
            if value.is_some() || parsed.server_no_context_takeover {
                return Err(());
            }
            parsed.server_no_context_takeover = true;
        } else if is("client_no_context_takeover") {
            // §7.1.1.2.
            if value.is_some() || parsed.client_no_context_takeover {
                return Err(());
            }
            parsed.client_no_context_takeover = true;
        } else if is("server_max_window_bits") {
            // §7.1.2.1: a value from 8 to 15, in an offer as in a response.
            let bits = value.and_then(window_bits).ok_or(())?;
            if parsed.server_max_window_bits.replace(bits).is_some() {
                return Err(());
            }
        } else if is("client_max_window_bits") {
            // §7.1.2.2: a value from 8 to 15; an offer may give none.
            let bits = match value {
                Some(value) => Some(window_bits(value).ok_or(())?),
                None if side == Side::Offer => None,
                None => return Err(()),
            };
            if parsed.client_max_window_bits.replace(bits).is_some() {
                return Err(());
            }
        } else {
            // §7.1: an extension parameter not defined for use in an offer or response.
            return Err(());
        }
    }
    Ok(Some(parsed))
}

/// The server's choice (RFC 7692 §5.1, §7.1): the parameters answering the first of
/// `offers` (the elements of the request's `Sec-WebSocket-Extensions`, as
/// [`Request::extensions`](crate::Request::extensions) gives them, in the client's order
/// of preference) that names permessage-deflate, is valid, and that `config` can accept.
/// Offers with an unknown, repeated or invalid parameter are declined (skipped), as
/// §7.1 requires. `None`: decline permessage-deflate altogether.
///
/// The answer honours every offered parameter: `server_no_context_takeover` (§7.1.1.1) and
/// `server_max_window_bits` (§7.1.2.1) are echoed; `client_max_window_bits` (§7.1.2.2)
/// limits the client to `config.receive_window_bits` (an offer without it is declined when
/// that is below 15, since the client could not honour a limit); the no-context-takeover
/// parameters `config` asks for are added.
pub fn negotiate<'o>(
    offers: impl IntoIterator<Item = &'o str>,
    config: &DeflateConfig,
) -> Option<DeflateParams> {
    offers
        .into_iter()
        .find_map(|offer| match parse_element(offer.as_bytes(), Side::Offer) {
            Ok(Some(element)) => answer(&element, config),
            _ => None,
        })
}

fn answer(offer: &Element, config: &DeflateConfig) -> Option<DeflateParams> {
    let wanted = clamp_bits(config.receive_window_bits);
    let client_max_window_bits = match offer.client_max_window_bits {
        // The client can limit its window: to its own hint, or to ours if smaller.
        Some(hint) => hint.unwrap_or(MAX_WINDOW_BITS).min(wanted),
        None if wanted < MAX_WINDOW_BITS => return None,
        None => MAX_WINDOW_BITS,
    };
    Some(DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover
            || config.send_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || config.receive_no_context_takeover,
        server_max_window_bits: offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        client_max_window_bits,
    })
}

/// Whether `params` can be an answer to `offer` (any server configuration): the offer's
/// `server_no_context_takeover` and `server_max_window_bits` echoed, `client_max_window_bits`
/// only if offered and at most the offered value, `client_no_context_takeover` if offered.
fn answer_fits(offer: &Element, params: &DeflateParams) -> bool {
    let client_ok = match offer.client_max_window_bits {
        Some(hint) => params.client_max_window_bits <= hint.unwrap_or(MAX_WINDOW_BITS),
        None => params.client_max_window_bits == MAX_WINDOW_BITS,
    };
    (params.server_no_context_takeover || !offer.server_no_context_takeover)
        && (params.client_no_context_takeover || !offer.client_no_context_takeover)
        && params.server_max_window_bits == offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS)
        && client_ok
}

/// Whether `offers` include a permessage-deflate element at all.
pub(crate) fn offered<'o>(mut offers: impl Iterator<Item = &'o str>) -> bool {
    offers.any(|offer| {
        extension_name(offer.as_bytes()).eq_ignore_ascii_case(EXTENSION_NAME.as_bytes())
    })
}

/// The client's check of the server's answer (RFC 7692 §7.1, §7.1.1, §7.1.2): `accepted`
/// is the response's extension elements (as
/// [`Response::extensions`](crate::Response::extensions) gives them) and `offers` the
/// elements the client sent. `Ok(None)`: the server declined permessage-deflate.
///
/// [`HandshakeError::InvalidExtensionResponse`] (the client fails the connection) when
/// permessage-deflate is accepted more than once, with a parameter that is unknown,
/// repeated or without a valid value, or with parameters that no offer allowed: a
/// `client_max_window_bits` not offered or above the offered value (§7.1.2.2), a
/// `server_max_window_bits` above the offered one or missing when one was offered
/// (§7.1.2.1), a missing `server_no_context_takeover` that was offered (§7.1.1.1).
pub fn check_response<'o, 'a>(
    offers: impl Iterator<Item = &'o str> + Clone,
    accepted: impl IntoIterator<Item = &'a str>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    check_response_to(offers.filter_map(parse_offer), accepted)
}

/// `offer` parsed, if it is a valid permessage-deflate offer.
pub(crate) fn parse_offer(offer: &str) -> Option<Element> {
    parse_element(offer.as_bytes(), Side::Offer).ok().flatten()
}

/// [`check_response`] against offers already parsed.
pub(crate) fn check_response_to<'a>(
    mut offers: impl Iterator<Item = Element>,
    accepted: impl IntoIterator<Item = &'a str>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let mut found = None;
    for element in accepted {
        match parse_element(element.as_bytes(), Side::Response) {
            Ok(None) => {}
            Ok(Some(parsed)) if found.is_none() => found = Some(parsed),
            _ => return Err(HandshakeError::InvalidExtensionResponse),
        }
    }
    let Some(response) = found else {
        return Ok(None);
    };
    let allowed = offers.find(|offer| response_fits(offer, &response));
    let Some(offer) = allowed else {
        return Err(HandshakeError::InvalidExtensionResponse);
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: response.server_no_context_takeover,
        // Offered, it binds us even if the server did not repeat it.
        client_no_context_takeover: response.client_no_context_takeover
            || offer.client_no_context_takeover,
        server_max_window_bits: response.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        client_max_window_bits: response
            .client_max_window_bits
            .flatten()
            .unwrap_or(MAX_WINDOW_BITS),
    }))
}

fn response_fits(offer: &Element, response: &Element) -> bool {
    if offer.server_no_context_takeover && !response.server_no_context_takeover {
        return false;
    }
    match (
        offer.server_max_window_bits,
        response.server_max_window_bits,
    ) {
        (Some(_), None) => return false,
        (Some(offered), Some(answered)) if answered > offered => return false,
        _ => {}
    }
    match (
        offer.client_max_window_bits,
        response.client_max_window_bits,
    ) {
        (None, Some(_)) => return false,
        (Some(Some(offered)), Some(Some(answered))) if answered > offered => return false,
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(snct: bool, cnct: bool, smwb: u8, cmwb: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        }
    }

    /// What the client checks the answer against is its written offer, parsed back.
    #[test]
    fn offer_element_is_the_offer_parsed() {
        for bits in 0..=16 {
            for (receive, send) in [(false, false), (true, false), (false, true), (true, true)] {
                let config = DeflateConfig::DEFAULT
                    .with_receive_window_bits(bits)
                    .with_receive_no_context_takeover(receive)
                    .with_send_no_context_takeover(send);
                let offer = config.offer();
                assert_eq!(
                    parse_offer(offer.as_str()),
                    Some(config.offer_element()),
                    "{offer}"
                );
            }
        }
    }

    /// Offers (one request's elements) and what the server answers with the default
    /// configuration, and with a 1 KiB receive window.
    #[test]
    fn server_negotiation_table() {
        let small = DeflateConfig::default().with_receive_window_bits(10);
        let table: &[(&[&str], Option<DeflateParams>, Option<DeflateParams>)] = &[
            (
                &["permessage-deflate"],
                Some(params(false, false, 15, 15)),
                None,
            ),
            (
                &["permessage-deflate; client_max_window_bits"],
                Some(params(false, false, 15, 15)),
                Some(params(false, false, 15, 10)),
            ),
            (
                &["permessage-deflate; client_max_window_bits=9"],
                Some(params(false, false, 15, 9)),
                Some(params(false, false, 15, 9)),
            ),
            (
                &["PerMessage-Deflate; Server_No_Context_Takeover; client_no_context_takeover"],
                Some(params(true, true, 15, 15)),
                None,
            ),
            (
                &["permessage-deflate; server_max_window_bits=\"10\""],
                Some(params(false, false, 10, 15)),
                None,
            ),
            // Bad offers are declined; the next acceptable one is chosen.
            (&["permessage-deflate; server_max_window_bits"], None, None),
            (
                &["permessage-deflate; server_max_window_bits=7"],
                None,
                None,
            ),
            (
                &["permessage-deflate; server_max_window_bits=16"],
                None,
                None,
            ),
            (
                &["permessage-deflate; server_max_window_bits=010"],
                None,
                None,
            ),
            (
                &["permessage-deflate; client_max_window_bits=1a"],
                None,
                None,
            ),
            (
                &["permessage-deflate; server_no_context_takeover=1"],
                None,
                None,
            ),
            (&["permessage-deflate; foo"], None, None),
            (
                &["permessage-deflate; client_no_context_takeover; client_no_context_takeover"],
                None,
                None,
            ),
            (
                &["permessage-deflate; client_max_window_bits; client_max_window_bits=10"],
                None,
                None,
            ),
            (
                &[
                    "x-webkit-deflate-frame",
                    "permessage-deflate; foo=1",
                    "permessage-deflate; server_max_window_bits=12",
                    "permessage-deflate",
                ],
                Some(params(false, false, 12, 15)),
                None,
            ),
            (
                &[
                    "permessage-deflate",
                    "permessage-deflate; client_max_window_bits",
                ],
                Some(params(false, false, 15, 15)),
                Some(params(false, false, 15, 10)),
            ),
            (&["x-foo"], None, None),
            (&[], None, None),
        ];
        for (offers, default, limited) in table {
            assert_eq!(
                negotiate(offers.iter().copied(), &DeflateConfig::default()),
                *default,
                "{offers:?}"
            );
            assert_eq!(
                negotiate(offers.iter().copied(), &small),
                *limited,
                "{offers:?}"
            );
        }
    }

    #[test]
    fn configured_no_context_takeover_is_added_to_the_answer() {
        let config = DeflateConfig::default()
            .with_send_no_context_takeover(true)
            .with_receive_no_context_takeover(true);
        assert_eq!(
            negotiate(["permessage-deflate"], &config),
            Some(params(true, true, 15, 15))
        );
    }

    /// The client's offer and the server's response, as they are written.
    #[test]
    fn offers_and_responses_are_written_as_the_rfc_spells_them() {
        assert_eq!(
            DeflateConfig::default().offer().as_str(),
            "permessage-deflate; client_max_window_bits"
        );
        let all = DeflateConfig::default()
            .with_receive_window_bits(9)
            .with_receive_no_context_takeover(true)
            .with_send_no_context_takeover(true);
        assert_eq!(
            all.offer().as_str(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits"
        );
        assert_eq!(
            DeflateParams::default().response_value().as_str(),
            "permessage-deflate"
        );
        assert_eq!(
            params(true, true, 10, 8).response_value().as_str(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=8"
        );
        // What a server writes, its client accepts, with the same parameters.
        for config in [DeflateConfig::default(), all] {
            let offer = config.offer();
            let answer = negotiate([offer.as_str()], &DeflateConfig::default()).unwrap();
            let response = answer.response_value();
            assert_eq!(
                check_response([offer.as_str()].into_iter(), [response.as_str()]),
                Ok(Some(answer))
            );
        }
    }

    /// Offers and responses: the parameters the client ends up with, or a failure.
    #[test]
    #[allow(clippy::type_complexity)]
    fn client_check_table() {
        let fail = Err(HandshakeError::InvalidExtensionResponse);
        let table: &[(&str, &[&str], Result<Option<DeflateParams>, HandshakeError>)] = &[
            ("permessage-deflate", &[], Ok(None)),
            ("permessage-deflate", &["x-foo"], Ok(None)),
            (
                "permessage-deflate",
                &["permessage-deflate"],
                Ok(Some(params(false, false, 15, 15))),
            ),
            (
                "permessage-deflate",
                &["permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
                Ok(Some(params(true, true, 15, 15))),
            ),
            // The server may limit its own window unasked (§7.1.2.1).
            (
                "permessage-deflate",
                &["permessage-deflate; server_max_window_bits=10"],
                Ok(Some(params(false, false, 10, 15))),
            ),
            // client_max_window_bits only if offered (§7.1.2.2).
            (
                "permessage-deflate",
                &["permessage-deflate; client_max_window_bits=10"],
                fail,
            ),
            (
                "permessage-deflate; client_max_window_bits",
                &["permessage-deflate; client_max_window_bits=10"],
                Ok(Some(params(false, false, 15, 10))),
            ),
            (
                "permessage-deflate; client_max_window_bits=9",
                &["permessage-deflate; client_max_window_bits=10"],
                fail,
            ),
            // A response's client_max_window_bits needs a value.
            (
                "permessage-deflate; client_max_window_bits",
                &["permessage-deflate; client_max_window_bits"],
                fail,
            ),
            // An offered server_max_window_bits is answered, at most as large.
            (
                "permessage-deflate; server_max_window_bits=10",
                &["permessage-deflate"],
                fail,
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                &["permessage-deflate; server_max_window_bits=11"],
                fail,
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                &["permessage-deflate; server_max_window_bits=9"],
                Ok(Some(params(false, false, 9, 15))),
            ),
            // An offered server_no_context_takeover is answered (§7.1.1.1).
            (
                "permessage-deflate; server_no_context_takeover",
                &["permessage-deflate"],
                fail,
            ),
            // An offered client_no_context_takeover binds the client even unanswered.
            (
                "permessage-deflate; client_no_context_takeover",
                &["permessage-deflate"],
                Ok(Some(params(false, true, 15, 15))),
            ),
            ("permessage-deflate", &["permessage-deflate; foo"], fail),
            (
                "permessage-deflate",
                &["permessage-deflate; server_max_window_bits"],
                fail,
            ),
            (
                "permessage-deflate",
                &["permessage-deflate; server_max_window_bits=16"],
                fail,
            ),
            (
                "permessage-deflate",
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                fail,
            ),
            (
                "permessage-deflate",
                &["permessage-deflate", "permessage-deflate"],
                fail,
            ),
        ];
        for (offer, response, expected) in table {
            assert_eq!(
                check_response([*offer].into_iter(), response.iter().copied()),
                *expected,
                "{offer:?} -> {response:?}"
            );
        }
        // Several offers: the response fits one of them.
        let offers = [
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits",
        ];
        assert_eq!(
            check_response(
                offers.into_iter(),
                ["permessage-deflate; client_max_window_bits=12"]
            ),
            Ok(Some(params(false, false, 15, 12)))
        );
    }

    /// Found by the deflate_negotiate fuzz target: an offer with `server_max_window_bits=15`
    /// was answered without the parameter (15 is the default, so `response_value` leaves it
    /// out), which the client's check rightly fails (RFC 7692 §7.1.2.1).
    #[test]
    fn an_offered_server_window_of_15_is_answered_explicitly() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["permessage-deflate; server_max_window_bits=15"],
                "permessage-deflate; server_max_window_bits=15",
            ),
            (
                &["permessage-deflate; server_max_window_bits=\"15\"; client_max_window_bits"],
                "permessage-deflate; server_max_window_bits=15",
            ),
            // Below 15 it is written anyway; unasked, it is left out.
            (
                &["permessage-deflate; server_max_window_bits=12"],
                "permessage-deflate; server_max_window_bits=12",
            ),
            (&["permessage-deflate"], "permessage-deflate"),
            // The chosen offer decides, not the first one.
            (
                &[
                    "permessage-deflate; server_max_window_bits=16",
                    "permessage-deflate; client_max_window_bits",
                    "permessage-deflate; server_max_window_bits=15",
                ],
                "permessage-deflate",
            ),
        ];
        for (offers, expected) in cases {
            let params = negotiate(offers.iter().copied(), &DeflateConfig::default()).unwrap();
            let value = params.response_value_for(offers.iter().copied());
            assert_eq!(value.as_str(), *expected, "{offers:?}");
            assert_eq!(
                check_response(offers.iter().copied(), [value.as_str()]),
                Ok(Some(params)),
                "{offers:?}"
            );
        }
        // What response_value alone writes fails the client's check.
        let offer = ["permessage-deflate; server_max_window_bits=15"];
        let params = negotiate(offer, &DeflateConfig::default()).unwrap();
        assert_eq!(
            check_response(offer.into_iter(), [params.response_value().as_str()]),
            Err(HandshakeError::InvalidExtensionResponse)
        );
    }

    #[test]
    fn params_pack_round_trips() {
        for snct in [false, true] {
            for cnct in [false, true] {
                for smwb in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
                    for cmwb in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
                        let p = params(snct, cnct, smwb, cmwb);
                        assert_ne!(p.pack(), 0);
                        assert_eq!(DeflateParams::unpack(p.pack()), Some(p));
                    }
                }
            }
        }
        assert_eq!(DeflateParams::unpack(0), None);
    }
}
