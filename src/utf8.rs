//! UTF-8 validation of text messages and close reasons (RFC 6455 §5.6, §8.1).
//!
//! BENCHMARK_PLACEHOLDER

use core::fmt;

/// The validator used for every check: `valid_up_to` / `error_len` semantics of
/// [`core::str::Utf8Error`].
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
            // Complete the split character with the first bytes of this piece. `pending`
            // holds a valid prefix of it, so its first byte tells its length.
            let held = usize::from(self.len);
            let width = utf8_width(self.pending[0]);
            let take = rest.len().min(width - held);
            let mut buf = [0u8; 4];
            buf[..held].copy_from_slice(&self.pending[..held]);
            buf[held..held + take].copy_from_slice(&rest[..take]);
            match core::str::from_utf8(&buf[..held + take]) {
                // The character is whole and valid: go on after it.
                Ok(_) => {
                    rest = &rest[take..];
                    self.clear();
                }
                // Still a valid but incomplete character: the piece is used up.
                Err(e) if e.error_len().is_none() => {
                    self.keep(&buf[..held + take]);
                    return Ok(());
                }
                // The split character can no longer become valid.
                Err(_) => return Err(Utf8Error),
            }
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

/// The length of the character a valid leading byte starts (2, 3 or 4 for the leading
/// bytes of multi-byte characters, RFC 3629 §4).
const fn utf8_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}
