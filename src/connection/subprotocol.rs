//! The negotiated subprotocol, kept inside the connection in fixed storage so that an open
//! connection borrows nothing from its handshake.

use crate::error::UsageError;
use crate::token::is_token;

/// The longest subprotocol name a connection stores. Registered names (`chat`, `mqtt`,
/// `v12.stomp`, `graphql-transport-ws`) are far shorter; a longer one is refused with
/// [`UsageError::InvalidSubprotocol`] when it is offered or chosen.
pub const MAX_SUBPROTOCOL_LEN: usize = 24;

/// A subprotocol name (an RFC 7230 token, so ASCII) of at most [`MAX_SUBPROTOCOL_LEN`]
/// bytes, padded with NUL bytes (never part of a token), so that it needs no length; empty
/// means none. Word-aligned, so that clearing it is a word-aligned clear (on small targets,
/// one `memset` routine fewer in flash).
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(4))]
pub(crate) struct Subprotocol {
    name: [u8; MAX_SUBPROTOCOL_LEN],
}

impl Subprotocol {
    /// `name`, checked: a token of at most [`MAX_SUBPROTOCOL_LEN`] bytes.
    pub(crate) fn new(name: &str) -> Result<Self, UsageError> {
        let bytes = name.as_bytes();
        if bytes.len() > MAX_SUBPROTOCOL_LEN || !is_token(bytes) {
            return Err(UsageError::InvalidSubprotocol);
        }
        let mut stored = Subprotocol::default();
        stored.name[..bytes.len()].copy_from_slice(bytes);
        Ok(stored)
    }

    pub(crate) fn get(&self) -> Option<&str> {
        let len = self.name.iter().position(|&b| b == 0);
        let name = &self.name[..len.unwrap_or(MAX_SUBPROTOCOL_LEN)];
        // Always ASCII (a token), so this never fails.
        (!name.is_empty())
            .then(|| core::str::from_utf8(name).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_every_length_up_to_the_limit_come_back_whole() {
        assert_eq!(Subprotocol::default().get(), None);
        let longest = "v12.stomp-graphql-ws-x~1";
        assert_eq!(longest.len(), MAX_SUBPROTOCOL_LEN);
        for len in 1..=MAX_SUBPROTOCOL_LEN {
            let name = &longest[..len];
            assert_eq!(Subprotocol::new(name).unwrap().get(), Some(name));
        }
        let too_long = "a".repeat(MAX_SUBPROTOCOL_LEN + 1);
        assert_eq!(
            Subprotocol::new(&too_long).unwrap_err(),
            UsageError::InvalidSubprotocol
        );
        assert_eq!(
            Subprotocol::new("a\0b").unwrap_err(),
            UsageError::InvalidSubprotocol
        );
    }
}
