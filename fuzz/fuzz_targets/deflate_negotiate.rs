//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): the server's choice among the offers
//! of a `Sec-WebSocket-Extensions` value (`deflate::negotiate`) and the client's check of
//! the server's answer (`deflate::check_response`), on arbitrary offers and answers and
//! arbitrary configurations of both sides. It checks properties, not just the absence of
//! panics:
//!
//! - both functions agree with a model of RFC 7692 §7.1 written here from the RFC (each
//!   parameter at most once, no value for the no-context-takeover ones, window bits a
//!   decimal 8 to 15 without leading zeroes, possibly quoted; a response needs a value for
//!   `client_max_window_bits` and must fit an offer);
//! - every accepted answer has window bits in 8..=15;
//! - the value the server writes for its choice (`DeflateParams::response_value_for`), checked
//!   by the client against the same offers, is accepted with the same parameters;
//! - what a client configuration offers (`DeflateConfig::offer`) is accepted by every
//!   server configuration, with the parameters RFC 7692 §7.1.1 and §7.1.2 give.
//!
//! Input: one byte for the client's configuration, one for the server's (bits 0-3: the
//! receive window bits plus 4, so 4 to 19, out of range at both ends; bit 4: receive no
//! context takeover; bit 5: send no context takeover), then text (lossy UTF-8) in lines:
//! the first line is the offers (the request's `Sec-WebSocket-Extensions` value), every
//! further line the response's value. Each line is split into elements at commas.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockless::HandshakeError;
use sockless::deflate::{
    DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS, check_response, negotiate,
};

fn config(byte: u8) -> DeflateConfig {
    // Set the field itself (not the clamping builder) so that out-of-range values reach
    // the negotiation.
    let mut config = DeflateConfig::default()
        .with_receive_no_context_takeover(byte & 0x10 != 0)
        .with_send_no_context_takeover(byte & 0x20 != 0);
    config.receive_window_bits = (byte & 0x0F) + 4;
    config
}

fn clamp(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

fn in_range(params: &DeflateParams) -> bool {
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&params.server_max_window_bits)
        && (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&params.client_max_window_bits)
}

/// One permessage-deflate element as the model reads it.
#[derive(Clone, Copy, Debug, Default)]
struct Model {
    server_nct: bool,
    client_nct: bool,
    server_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_bits: Option<Option<u8>>,
}

fn ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The model's reading of an element: `None` for another extension, `Some(Err)` for an
/// invalid permessage-deflate element (RFC 7692 §7.1), `Some(Ok)` for a valid one.
fn model(element: &str, response: bool) -> Option<Result<Model, ()>> {
    let mut parts = element.split(';');
    let name = parts.next().unwrap_or("").trim_matches(ows);
    if !name.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut model = Model::default();
    for part in parts {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim_matches(ows), Some(v.trim_matches(ows))),
            None => (part.trim_matches(ows), None),
        };
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return Some(Err(())); // §7.1: a parameter at most once.
        }
        seen.push(key.clone());
        let bits = value.map(|v| {
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            let ok = !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit());
            v.parse::<u8>().ok().filter(|b| ok && (8..=15).contains(b))
        });
        match (key.as_str(), value, bits) {
            ("server_no_context_takeover", None, _) => model.server_nct = true,
            ("client_no_context_takeover", None, _) => model.client_nct = true,
            ("server_max_window_bits", Some(_), Some(Some(b))) => model.server_bits = Some(b),
            ("client_max_window_bits", Some(_), Some(Some(b))) => model.client_bits = Some(Some(b)),
            ("client_max_window_bits", None, _) if !response => model.client_bits = Some(None),
            _ => return Some(Err(())),
        }
    }
    Some(Ok(model))
}

/// RFC 7692 §7.1 as the model reads it: the server's answer to one valid offer.
fn model_answer(offer: &Model, config: &DeflateConfig) -> Option<DeflateParams> {
    let ours = clamp(config.receive_window_bits);
    let client = match offer.client_bits {
        Some(hint) => hint.unwrap_or(15).min(ours),
        // A limit the client did not say it can honour (§7.1.2.2).
        None if ours < 15 => return None,
        None => 15,
    };
    Some(DeflateParams {
        server_no_context_takeover: offer.server_nct || config.send_no_context_takeover,
        client_no_context_takeover: offer.client_nct || config.receive_no_context_takeover,
        server_max_window_bits: offer.server_bits.unwrap_or(15),
        client_max_window_bits: client,
    })
}

/// Whether a valid response fits a valid offer (§7.1.1.1, §7.1.2.1, §7.1.2.2).
fn fits(offer: &Model, response: &Model) -> bool {
    let server_ok = match (offer.server_bits, response.server_bits) {
        (Some(_), None) => false,
        (Some(o), Some(r)) => r <= o,
        (None, _) => true,
    };
    let client_ok = match (offer.client_bits, response.client_bits) {
        (None, Some(_)) => false,
        (Some(Some(o)), Some(Some(r))) => r <= o,
        _ => true,
    };
    (!offer.server_nct || response.server_nct) && server_ok && client_ok
}

fn model_check(offers: &[&str], answers: &[&str]) -> Result<Option<DeflateParams>, ()> {
    let mut found = Vec::new();
    for answer in answers {
        if let Some(parsed) = model(answer, true) {
            found.push(parsed?);
        }
    }
    let response = match found.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(()), // accepted twice
    };
    let offer = offers
        .iter()
        .filter_map(|o| model(o, false).and_then(Result::ok))
        .find(|o| fits(o, &response))
        .ok_or(())?;
    Ok(Some(DeflateParams {
        server_no_context_takeover: response.server_nct,
        client_no_context_takeover: response.client_nct || offer.client_nct,
        server_max_window_bits: response.server_bits.unwrap_or(15),
        client_max_window_bits: response.client_bits.flatten().unwrap_or(15),
    }))
}

fuzz_target!(|data: &[u8]| {
    let [client_byte, server_byte, text @ ..] = data else {
        return;
    };
    let client = config(*client_byte);
    let server = config(*server_byte);

    // 1. What a client configuration offers, every server configuration accepts, with the
    // parameters RFC 7692 §7.1.1 and §7.1.2 give; the client accepts the answer.
    let offer = client.offer();
    let expected = DeflateParams {
        server_no_context_takeover: client.receive_no_context_takeover
            || server.send_no_context_takeover,
        client_no_context_takeover: client.send_no_context_takeover
            || server.receive_no_context_takeover,
        server_max_window_bits: clamp(client.receive_window_bits),
        client_max_window_bits: clamp(server.receive_window_bits),
    };
    let chosen = negotiate([offer.as_str()], &server);
    assert_eq!(chosen, Some(expected), "offer {offer}");
    let answer = expected.response_value_for([offer.as_str()]);
    // A sockless offer never asks for a window of 15, so nothing is added.
    assert_eq!(answer.as_str(), expected.response_value().as_str());
    assert_eq!(
        check_response([offer.as_str()].into_iter(), [answer.as_str()]),
        Ok(Some(expected)),
        "offer {offer}, answer {answer}"
    );

    // 2. Arbitrary offers: the server's choice is the model's, within range, and its
    // written answer is accepted by the client with the same parameters.
    let text = String::from_utf8_lossy(text);
    let mut lines = text.split('\n');
    let offers: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let chosen = negotiate(offers.iter().copied(), &server);
    let modelled = offers.iter().find_map(|o| match model(o, false) {
        Some(Ok(offer)) => model_answer(&offer, &server),
        _ => None,
    });
    assert_eq!(chosen, modelled, "offers {offers:?}");
    if let Some(params) = chosen {
        assert!(in_range(&params), "{params:?}");
        let answer = params.response_value_for(offers.iter().copied());
        assert_eq!(
            check_response(offers.iter().copied(), [answer.as_str()]),
            Ok(Some(params)),
            "offers {offers:?}, answer {answer}"
        );
    }

    // 3. Arbitrary answers against the offers: the client's check is the model's.
    let answers: Vec<&str> = lines.flat_map(|line| line.split(',')).collect();
    let checked = check_response(offers.iter().copied(), answers.iter().copied());
    let modelled = model_check(&offers, &answers);
    match (checked, modelled) {
        (Ok(got), Ok(want)) => {
            assert_eq!(got, want, "offers {offers:?}, answers {answers:?}");
            assert!(got.is_none_or(|p| in_range(&p)));
        }
        (Err(error), Err(())) => assert_eq!(error, HandshakeError::InvalidExtensionResponse),
        (got, want) => panic!("offers {offers:?}, answers {answers:?}: {got:?}, model {want:?}"),
    }
});
