//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` values (RFC 6455 §4.1, §4.2.2).

use base64ct::{Base64, Encoding};

use crate::target::COMPACT_CODE;

/// The GUID appended to the key before hashing (RFC 6455 §1.3, §4.2.2 step 5.4).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`: base64(SHA-1(key ++ GUID)),
/// as ASCII (RFC 6455 §4.2.2 step 5.4).
///
/// `key` is the header value as received (surrounding whitespace trimmed), not its decoded
/// bytes. For the key `dGhlIHNhbXBsZSBub25jZQ==` of §1.3 this is
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
pub fn accept_value(key: &[u8]) -> [u8; 28] {
    let digest = sha1(key, GUID);
    let mut out = [0u8; 28];
    // 20 bytes always encode to exactly 28 base64 characters (with one '=' of padding).
    encode_base64(&digest, &mut out);
    out
}

/// SHA-1 of `a` then `b`: unrolled rounds (sha1_smol), or on bare-metal targets, where
/// flash is scarce, one compact loop (hmac-sha1-compact, 2.6 KB smaller on thumbv7em).
#[cfg(not(target_os = "none"))]
fn sha1(a: &[u8], b: &[u8]) -> [u8; 20] {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(a);
    sha1.update(b);
    sha1.digest().bytes()
}

#[cfg(target_os = "none")]
fn sha1(a: &[u8], b: &[u8]) -> [u8; 20] {
    sha1_compact(a, b)
}

/// The bare-metal [`sha1`] (also built for the tests, which hold it to the other).
#[cfg(any(test, target_os = "none"))]
fn sha1_compact(a: &[u8], b: &[u8]) -> [u8; 20] {
    let mut sha1 = hmac_sha1_compact::Hash::new();
    sha1.update(a);
    sha1.update(b);
    sha1.finalize()
}

/// Whether `accept`, a received `Sec-WebSocket-Accept` value, is the one for the
/// `Sec-WebSocket-Key` value `key` the client sent: exactly the 28 bytes of
/// [`accept_value`]`(key)` (RFC 6455 §4.1, the client's check of the response, item 4; §4.2.2
/// step 5.4).
///
/// For a client whose HTTP/1.1 upgrade another stack performs (hyper, axum, ...): that stack
/// hands over the response header, this checks it. Both values are as received, with the
/// whitespace around them trimmed; the comparison is not constant-time (the value is no
/// secret).
pub fn check_accept(key: &[u8], accept: &[u8]) -> bool {
    accept == accept_value(key)
}

/// The `Sec-WebSocket-Key` for a nonce: base64 of 16 random bytes (RFC 6455 §4.1, client
/// requirement 7). The nonce must be freshly and randomly chosen for every connection.
pub fn encode_key(nonce: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    // 16 bytes always encode to exactly 24 base64 characters (with two '=' of padding).
    encode_base64(nonce, &mut out);
    out
}

/// Base64 with padding (RFC 4648 §4) of `input` into `out`, which holds exactly its
/// `input.len().div_ceil(3) * 4` characters: base64ct, or on bare-metal targets, where
/// flash is scarce, [`encode_base64_compact`] (460 bytes smaller on thumbv7em,
/// `benches/flash`). Both values are public (the key is sent in clear, the accept value
/// derives from it), so base64ct's constant time buys nothing here.
fn encode_base64(input: &[u8], out: &mut [u8]) {
    if COMPACT_CODE {
        encode_base64_compact(input, out);
    } else {
        let encoded = Base64::encode(input, out).map(str::len);
        debug_assert_eq!(encoded, Ok(out.len()));
    }
}

/// [`encode_base64`] by table lookup, one character at a time from its group of three
/// bytes, the last group padded with `=` (also built for the tests, which hold it to
/// base64ct).
fn encode_base64_compact(input: &[u8], out: &mut [u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (i, c) in out.iter_mut().enumerate() {
        // Character `k` of the group of (up to) three bytes at `start`.
        let (start, k) = (i / 4 * 3, i % 4);
        let byte = |j: usize| u32::from(input.get(start + j).copied().unwrap_or(0));
        let bits = byte(0) << 16 | byte(1) << 8 | byte(2);
        // A group of n bytes gives n + 1 characters, then padding.
        *c = match start + k <= input.len() {
            true => ALPHABET[(bits >> (18 - 6 * k)) as usize & 63],
            false => b'=',
        };
    }
}

/// Whether a received `Sec-WebSocket-Key` value is the base64 encoding of exactly 16 bytes
/// (RFC 6455 §4.2.1 item 5).
///
/// Checked by its shape rather than by decoding it (base64ct decodes in constant time, which
/// a public nonce does not need, and cost a fifth of a whole server handshake): the
/// canonical encoding of 16 bytes (RFC 4648 §4) is 21 characters of the alphabet, a 22nd
/// that carries the last 2 bits of data and 4 zero bits (so one of `A`, `Q`, `g`, `w`), then
/// `==`. The tests hold this to base64ct's strict decoder.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    let Some((data, b"==")) = key.split_last_chunk::<2>() else {
        return false;
    };
    let Some((full, &[last])) = data.split_last_chunk::<1>() else {
        return false;
    };
    full.len() == 21
        && full.iter().all(|&c| is_base64_char(c))
        && matches!(last, b'A' | b'Q' | b'g' | b'w')
}

/// A character of the base64 alphabet (RFC 4648 §4, Table 1).
fn is_base64_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_value_matches_rfc_6455_section_1_3() {
        assert_eq!(
            &accept_value(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    /// The two SHA-1s agree on every length around the block boundaries (55, 56, 64, 119
    /// bytes...), split anywhere between their two inputs; and with FIPS 180's "abc".
    #[test]
    fn compact_sha1_equals_sha1_smol() {
        let data: std::vec::Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            for split in [0, len / 3, len] {
                let (a, b) = data[..len].split_at(split);
                assert_eq!(sha1_compact(a, b), sha1(a, b), "len {len}, split {split}");
            }
        }
        assert_eq!(
            sha1_compact(b"ab", b"c"),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
    }

    #[test]
    fn check_accept_of_rfc_6455_section_1_3_sample() {
        let key = b"dGhlIHNhbXBsZSBub25jZQ==";
        assert!(check_accept(key, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        // Any other value is refused: another key's, a changed byte, a prefix, a longer
        // value, different case, surrounding whitespace, nothing.
        assert!(!check_accept(
            b"AQIDBAUGBwgJCgsMDQ4PEA==",
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        ));
        assert!(!check_accept(key, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOp="));
        assert!(!check_accept(key, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo"));
        assert!(!check_accept(key, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=="));
        assert!(!check_accept(key, b"S3PPLMBITXAQ9KYGZZHZRBK+XOO="));
        assert!(!check_accept(key, b" s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert!(!check_accept(key, b""));
        // The key is hashed as sent, not decoded or trimmed.
        assert!(!check_accept(
            b" dGhlIHNhbXBsZSBub25jZQ==",
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        ));
    }

    /// The compact encoder writes what base64ct writes, for every length up to 40 bytes
    /// and every byte value in every position of a group.
    #[test]
    fn compact_base64_equals_base64ct() {
        let data: std::vec::Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..=40 {
            for start in (0..data.len() - len).step_by(7) {
                let input = &data[start..start + len];
                let mut expected = [0u8; 64];
                let expected = Base64::encode(input, &mut expected).unwrap().as_bytes();
                let mut out = [0u8; 56];
                let out = &mut out[..len.div_ceil(3) * 4];
                encode_base64_compact(input, out);
                assert_eq!(&out[..], expected, "{input:?}");
            }
        }
        let mut out = [0u8; 24];
        encode_base64_compact(b"the sample nonce", &mut out);
        assert_eq!(&out, b"dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn encode_key_of_rfc_sample_nonce() {
        // §4.1: the nonce "the sample nonce" encodes to the §1.3 key.
        assert_eq!(
            &encode_key(b"the sample nonce"),
            b"dGhlIHNhbXBsZSBub25jZQ=="
        );
    }

    #[test]
    fn encoded_keys_are_valid_keys() {
        for fill in [0u8, 0x5a, 0xff] {
            assert!(is_valid_key(&encode_key(&[fill; 16])));
        }
    }

    #[test]
    fn keys_decoding_to_15_or_17_bytes_are_invalid() {
        let mut buf = [0u8; 32];
        let k15 = Base64::encode(&[7u8; 15], &mut buf).unwrap();
        assert!(!is_valid_key(k15.as_bytes()));
        let k17 = Base64::encode(&[7u8; 17], &mut buf).unwrap();
        assert!(!is_valid_key(k17.as_bytes()));
        let k18 = Base64::encode(&[7u8; 18], &mut buf).unwrap();
        assert!(!is_valid_key(k18.as_bytes()));
        assert!(!is_valid_key(b""));
        assert!(!is_valid_key(b"not base64 at all!!!!!!!"));
    }

    /// What the shape check must agree with: base64ct's strict decoder, which refuses
    /// non-canonical padding bits, yields exactly 16 bytes.
    fn decodes_to_16_bytes(key: &[u8]) -> bool {
        let mut decoded = [0u8; 18];
        matches!(Base64::decode(key, &mut decoded), Ok(bytes) if bytes.len() == 16)
    }

    #[test]
    fn every_one_byte_change_of_a_key_is_judged_as_base64ct_decodes_it() {
        for nonce in [[0u8; 16], [0xff; 16], *b"the sample nonce"] {
            let key = encode_key(&nonce);
            for at in 0..key.len() {
                for byte in 0..=255u8 {
                    let mut changed = key;
                    changed[at] = byte;
                    assert_eq!(
                        is_valid_key(&changed),
                        decodes_to_16_bytes(&changed),
                        "{:?}",
                        core::str::from_utf8(&changed)
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn shape_check_agrees_with_base64ct(
            key in proptest::collection::vec(
                proptest::sample::select(&b"AQgwBZaz09+/=-_ .\x00"[..]), 0..30),
        ) {
            proptest::prop_assert_eq!(is_valid_key(&key), decodes_to_16_bytes(&key));
        }
    }
}
