//! UTF-8 validation of text messages and close reasons (RFC 6455 §5.6, §8.1).
//!
//! # Choice of validator: `simdutf8::compat`
//!
//! Measured with criterion on this project's 2-core x86_64 VM (Xeon with AVX2/AVX-512),
//! 2026, in GiB/s, for 64 KiB / 1 MiB of ASCII and of mixed Cyrillic + ASCII + 4-byte emoji:
//!
//! | validator                                        | ASCII      | mixed       |
//! |--------------------------------------------------|------------|-------------|
//! | `core::str::from_utf8`                           | ~20-40     | 1.2-1.9     |
//! | `simdutf8`, default features off, baseline target | same as core (it *is* core) | same |
//! | `simdutf8`, `std` feature (runtime AVX2 detection) | 52 / 88  | 15 / 13.5   |
//! | `simdutf8`, features off, `-C target-feature=+avx2` | 110 / 119 | 15.6 / 15.2 |
//!
//! Through this module with simdutf8's `std` feature on: [`validate_whole`] 53 / 47 (ASCII)
//! and 9.7 / 9.3 (mixed); [`Utf8Validator::feed`] in 16 KiB pieces 52 / 49 and 9.2 / 9.2,
//! so piecewise validation costs nothing measurable. The VM is noisy (±30% run to run).
//!
//! With `default-features = false` simdutf8 has no runtime CPU detection (that needs
//! `std`): it picks AVX2 or SSE 4.2 at compile time from the target features, and on a
//! baseline x86_64 target it falls back to `core::str::from_utf8` itself. So it is never
//! slower than core and is up to 10x faster on non-ASCII text wherever SIMD is enabled
//! (the `std` feature of simdutf8, a `target-cpu`, or NEON on aarch64); on targets without
//! SIMD (thumbv7em, for example) it is core, which is then called directly (below). Its
//! `compat` errors carry the same `valid_up_to` / `error_len` as [`core::str::Utf8Error`],
//! which the fail-fast validation below relies on.

use core::fmt;

/// The validator used for every check, with the `valid_up_to` / `error_len` semantics of
/// [`core::str::Utf8Error`]: simdutf8 on the architectures it has SIMD code for, and
/// elsewhere (thumbv7em, riscv32...) `core::str::from_utf8` called directly, which is what
/// simdutf8 would call there, without its error conversion (64 bytes of flash on thumbv7em).
#[cfg(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "wasm32"
))]
#[inline]
fn from_utf8(bytes: &[u8]) -> Result<&str, simdutf8::compat::Utf8Error> {
    simdutf8::compat::from_utf8(bytes)
}

#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "wasm32"
)))]
#[inline]
fn from_utf8(bytes: &[u8]) -> Result<&str, core::str::Utf8Error> {
    core::str::from_utf8(bytes)
}

/// Invalid UTF-8 was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl core::error::Error for Utf8Error {}

/// Validate a whole byte slice at once and return it as str (the fast path for messages that arrive whole).
///
/// §8.1: a text message (and a close reason, §5.5.1) that is not valid UTF-8 fails the
/// connection with 1007.
#[inline]
pub fn validate_whole(bytes: &[u8]) -> Result<&str, Utf8Error> {
    from_utf8(bytes).map_err(|_| Utf8Error)
}

/// Validates a text message delivered in pieces. Small: holds at most the 3 bytes of a character split between pieces.
///
/// RFC 6455 §5.6 and §8.1 allow, and encourage, failing a connection as soon as the text
/// received so far can no longer be the start of valid UTF-8, even before the message (or
/// the frame) is complete; this validator reports exactly that moment.
///
/// After an error the validator's state is meaningless; call [`reset`](Self::reset) (or
/// [`finish`](Self::finish)) before using it for another message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// The leading bytes of a character split between pieces; only `pending[..len]` is
    /// meaningful, the rest is kept zero.
    pending: [u8; 3],
    /// How many bytes of `pending` are in use (0 to 3).
    len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Validator {
            pending: [0; 3],
            len: 0,
        }
    }

    /// Validate the next piece. Err as soon as the bytes seen so far can no longer be the prefix of
    /// valid UTF-8 — including a piece that ENDS inside a character that already cannot be valid
    /// (e.g. piece ending in F4 90, or ED A0 (surrogate), or E0 80 (overlong), or C0, F5..FF anywhere).
    /// A piece ending inside a character that may still become valid is Ok (the partial bytes are kept).
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), Utf8Error> {
        let mut rest = piece;
        if self.len > 0 {
            // Complete the split character: validate its held bytes followed by as many
            // bytes of this piece as a character can still need (`4 - held`). `pending`
            // holds a valid but incomplete prefix, so the first character boundary in
            // `buf` lies after all of it: either the character is whole (and `buf` may go
            // on into the next one), or it is still incomplete and the piece is used up.
            let held = usize::from(self.len);
            let take = rest.len().min(4 - held);
            let mut buf = [0u8; 4];
            buf[..held].copy_from_slice(&self.pending[..held]);
            buf[held..held + take].copy_from_slice(&rest[..take]);
            let buf = &buf[..held + take];
            let valid = match core::str::from_utf8(buf) {
                Ok(_) => buf.len(),
                // Bytes that can no longer become valid, in the split character or
                // right after it.
                Err(e) if e.error_len().is_some() => return Err(Utf8Error),
                Err(e) => e.valid_up_to(),
            };
            if valid == 0 {
                // Still a valid but incomplete character: the piece is used up.
                self.keep(buf);
                return Ok(());
            }
            // The character is whole and valid: go on after it.
            rest = &rest[valid - held..];
            self.clear();
        }

        match from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(e) => {
                // The piece ends inside a character that may still become valid (§8.1 only
                // fails on bytes that cannot): keep its 1 to 3 bytes for the next piece.
                self.keep(&rest[e.valid_up_to()..]);
                Ok(())
            }
        }
    }

    /// True when no character is split, i.e. the message may end here.
    pub const fn is_complete(&self) -> bool {
        self.len == 0
    }

    /// End of message: Err if it ends inside a character. Resets the validator either way.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.is_complete();
        self.reset();
        if complete { Ok(()) } else { Err(Utf8Error) }
    }

    /// Forget any partial character (start a new message).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Remember `partial`, the 1 to 3 leading bytes of a split character.
    fn keep(&mut self, partial: &[u8]) {
        debug_assert!((1..=3).contains(&partial.len()));
        self.pending = [0; 3];
        self.pending[..partial.len()].copy_from_slice(partial);
        // At most 3: checked above.
        self.len = partial.len() as u8;
    }

    /// Forget the split character after completing it.
    fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `bytes` can still be the start of valid UTF-8.
    fn is_valid_prefix(bytes: &[u8]) -> bool {
        match core::str::from_utf8(bytes) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        }
    }

    /// Feed `input` split at the (sorted) positions `cuts`, checking that each piece fails
    /// exactly when the bytes so far stop being a valid prefix, and that the message is
    /// accepted exactly when `core::str::from_utf8` accepts it.
    fn check_split(input: &[u8], cuts: &[usize]) {
        let mut validator = Utf8Validator::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([input.len()]) {
            let result = validator.feed(&input[start..end]);
            let expected_ok = is_valid_prefix(&input[..end]);
            assert_eq!(
                result.is_ok(),
                expected_ok,
                "{input:02x?} cut at {cuts:?}, piece ending at {end}"
            );
            if !expected_ok {
                return;
            }
            assert_eq!(
                validator.is_complete(),
                core::str::from_utf8(&input[..end]).is_ok()
            );
            start = end;
        }
        assert_eq!(
            validator.finish().is_ok(),
            core::str::from_utf8(input).is_ok(),
            "{input:02x?}"
        );
        assert_eq!(validator, Utf8Validator::new());
    }

    /// Every one- and two-cut split of `input`, and 1-byte pieces.
    fn check_all_splits(input: &[u8]) {
        assert_eq!(
            validate_whole(input).is_ok(),
            core::str::from_utf8(input).is_ok()
        );
        check_split(input, &[]);
        for a in 0..=input.len() {
            check_split(input, &[a]);
            for b in a..=input.len() {
                check_split(input, &[a, b]);
            }
        }
        let mut validator = Utf8Validator::new();
        for (i, &byte) in input.iter().enumerate() {
            let ok = validator.feed(&[byte]).is_ok();
            assert_eq!(ok, is_valid_prefix(&input[..=i]), "{input:02x?} byte {i}");
            if !ok {
                return;
            }
        }
        assert_eq!(
            validator.finish().is_ok(),
            core::str::from_utf8(input).is_ok()
        );
    }

    const CHARS: [char; 15] = [
        'a',
        '\u{7F}',
        '\u{80}',
        'é',
        '\u{7FF}',
        '\u{800}',
        'Ж',
        '€',
        '\u{D7FF}',
        '\u{E000}',
        '\u{FFFF}',
        '\u{10000}',
        '😀',
        '\u{10FFFF}',
        '\0',
    ];

    #[test]
    fn valid_text_split_anywhere() {
        for a in CHARS {
            for b in CHARS {
                let mut buf = [0u8; 16];
                let mut len = 0;
                for c in [a, b, 'x', a] {
                    len += c.encode_utf8(&mut buf[len..]).len();
                }
                assert!(core::str::from_utf8(&buf[..len]).is_ok());
                check_all_splits(&buf[..len]);
            }
        }
    }

    const INVALID: [&[u8]; 22] = [
        b"\xC0\x80",
        b"\xC1\xBF",
        b"\xE0\x80\x80",
        b"\xE0\x9F\xBF",
        b"\xF0\x80\x80\x80",
        b"\xF0\x8F\xBF\xBF",
        b"\xED\xA0\x80",
        b"\xED\xBF\xBF",
        b"\xF4\x90\x80\x80",
        b"\xF5\x80\x80\x80",
        b"\xFF",
        b"\xFE",
        b"\xF8\x88\x80\x80\x80",
        b"\x80",
        b"\xBF",
        b"\xC3",
        b"\xE2\x82",
        b"\xF0\x9F\x98",
        b"\xC3\x28",
        b"\xE2\x28\xA1",
        b"\xF0\x9F\x98\x28",
        b"\xF0\x9F\x98\x80\x80",
    ];

    #[test]
    fn invalid_text_fails_at_the_earliest_piece() {
        let contexts: [(&[u8], &[u8]); 4] = [
            (b"", b""),
            (b"ab", b"cd"),
            ("Ж".as_bytes(), "😀".as_bytes()),
            (b"\xF0\x9F\x98\x80", b"x"),
        ];
        for bad in INVALID {
            for (before, after) in contexts {
                let mut buf = [0u8; 32];
                let len = before.len() + bad.len() + after.len();
                buf[..before.len()].copy_from_slice(before);
                buf[before.len()..before.len() + bad.len()].copy_from_slice(bad);
                buf[before.len() + bad.len()..len].copy_from_slice(after);
                assert!(core::str::from_utf8(&buf[..len]).is_err());
                check_all_splits(&buf[..len]);
            }
        }
    }

    #[test]
    fn pieces_ending_in_impossible_characters_fail_at_once() {
        for bad in [
            &b"\xF4\x90"[..],
            b"\xED\xA0",
            b"\xE0\x80",
            b"\xF0\x80",
            b"\xC0",
            b"\xC1",
            b"\xF5",
            b"\xFF",
        ] {
            let mut validator = Utf8Validator::new();
            assert_eq!(validator.feed(bad), Err(Utf8Error), "{bad:02x?}");
            // Split inside the character, after a complete one.
            let mut validator = Utf8Validator::new();
            validator.feed(b"ok \xF0\x9F").unwrap();
            validator.feed(b"\x98\x80").unwrap();
            assert_eq!(validator.feed(bad), Err(Utf8Error), "{bad:02x?}");
            // The leading byte alone in one piece, the deciding byte in the next.
            if bad.len() == 2 {
                let mut validator = Utf8Validator::new();
                validator.feed(&bad[..1]).unwrap();
                assert_eq!(validator.feed(&bad[1..]), Err(Utf8Error), "{bad:02x?}");
            }
        }
    }

    #[test]
    fn possible_characters_are_kept_across_pieces() {
        let mut validator = Utf8Validator::new();
        assert_eq!(validator.feed(b"\xF4\x8F"), Ok(()));
        assert!(!validator.is_complete());
        assert_eq!(validator.feed(b""), Ok(()));
        assert_eq!(validator.feed(b"\xBF"), Ok(()));
        assert_eq!(validator.feed(b"\xBF!"), Ok(()));
        assert!(validator.is_complete());
        assert_eq!(validator.finish(), Ok(()));
    }

    #[test]
    fn finish_inside_a_character_fails_and_resets() {
        let mut validator = Utf8Validator::new();
        validator.feed(b"abc\xE2\x82").unwrap();
        assert_eq!(validator.finish(), Err(Utf8Error));
        assert!(validator.is_complete());
        assert_eq!(validator.feed(b"\xAC"), Err(Utf8Error));
        validator.reset();
        assert_eq!(validator, Utf8Validator::default());
        assert_eq!(validator.feed("€".as_bytes()), Ok(()));
        assert_eq!(validator.finish(), Ok(()));
    }

    #[test]
    fn random_bytes_split_anywhere() {
        // Bytes biased towards the interesting ones, so that valid multi-byte characters
        // and near misses both occur.
        const ALPHABET: [u8; 16] = [
            b'a', 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0,
            0xF4, 0xF5,
        ];
        let mut state = 0x2545_F491_u32;
        let mut valid = 0;
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let len = (state % 9) as usize;
            let mut buf = [0u8; 8];
            for byte in &mut buf[..len] {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *byte = ALPHABET[(state % 16) as usize];
            }
            valid += usize::from(core::str::from_utf8(&buf[..len]).is_ok());
            check_all_splits(&buf[..len]);
        }
        assert!(valid > 100, "only {valid} valid inputs");
    }

    #[test]
    fn large_input_in_pieces() {
        let text = "Привет, мир! hello 😀🚀 ещё €\u{10FFFF}\u{800} ".as_bytes();
        let mut buf = [0u8; 4096];
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = text[i % text.len()];
        }
        let whole = buf.len() / text.len() * text.len();
        assert!(validate_whole(&buf[..whole]).is_ok());
        for piece_len in [1, 2, 3, 5, 7, 64, 100, 1000] {
            let mut validator = Utf8Validator::new();
            for piece in buf[..whole].chunks(piece_len) {
                validator.feed(piece).unwrap();
            }
            assert_eq!(validator.finish(), Ok(()));
        }
        buf[3001] = 0xFF;
        let mut validator = Utf8Validator::new();
        assert_eq!(validator.feed(&buf[..3000]), Ok(()));
        assert_eq!(validator.feed(&buf[3000..3002]), Err(Utf8Error));
    }

    #[test]
    fn validator_is_small() {
        assert!(core::mem::size_of::<Utf8Validator>() <= 4);
    }
}
