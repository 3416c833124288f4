//! `Utf8Validator` against `core::str::from_utf8`: on every split point into two pieces,
//! one byte at a time, and in arbitrary pieces. The whole is accepted iff it is valid, and
//! the first failing piece is the earliest whose end leaves a prefix that can no longer be
//! valid UTF-8.
//!
//! Input: one byte `n` then `n % 16` cut lengths, then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockless::utf8::{Utf8Validator, validate_whole};
use sockless_fuzz::{pieces, split_cuts, valid_prefix};

/// Feed `parts` in order and check each step against the reference.
fn check_pieces(text: &[u8], parts: &[&[u8]]) {
    let valid = core::str::from_utf8(text).is_ok();
    let mut validator = Utf8Validator::new();
    let mut end = 0;
    for part in parts {
        end += part.len();
        let expected_ok = valid_prefix(&text[..end]);
        let got = validator.feed(part);
        assert_eq!(
            got.is_ok(),
            expected_ok,
            "piece ending at {end} of {text:02x?}"
        );
        if !expected_ok {
            // The earliest failing piece: every earlier prefix was still a valid start.
            return;
        }
        assert_eq!(
            validator.is_complete(),
            core::str::from_utf8(&text[..end]).is_ok(),
            "is_complete after {end} bytes"
        );
    }
    assert_eq!(validator.finish().is_ok(), valid, "finish");
    assert!(validator.is_complete(), "finish resets");
}

fuzz_target!(|data: &[u8]| {
    let (cuts, text) = split_cuts(data);
    assert_eq!(
        validate_whole(text).is_ok(),
        core::str::from_utf8(text).is_ok()
    );
    if let Ok(s) = validate_whole(text) {
        assert_eq!(s.as_bytes(), text);
    }
    check_pieces(text, &[text]);
    for split in 0..=text.len() {
        let (a, b) = text.split_at(split);
        check_pieces(text, &[a, b]);
    }
    let bytes: Vec<&[u8]> = text.chunks(1).collect();
    check_pieces(text, &bytes);
    check_pieces(text, &pieces(text, cuts));
    // Empty pieces anywhere change nothing.
    let with_empty: Vec<&[u8]> = pieces(text, cuts)
        .into_iter()
        .flat_map(|p| [&[][..], p])
        .collect();
    check_pieces(text, &with_empty);
});
