//! The negotiated subprotocol (RFC 6455 §1.9, §11.3.4), kept inside the connection in
//! fixed storage so that an open connection borrows nothing from its handshake. Below both:
//! the handshake checks a name against it, the connection keeps one.

use crate::error::UsageError;
use crate::token::is_token;

/// The longest subprotocol name a connection stores. Registered names (`chat`, `mqtt`,
/// `v12.stomp`, `graphql-transport-ws`) are far shorter; a longer one is refused with
/// [`UsageError::InvalidSubprotocol`] when it is offered or chosen.
pub const MAX_SUBPROTOCOL_LEN: usize = 24;

/// A subprotocol name (an RFC 7230 token, so ASCII) of at most [`MAX_SUBPROTOCOL_LEN`]
/// bytes; empty means none.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subprotocol {
    len: u8,
    name: [u8; MAX_SUBPROTOCOL_LEN],
}

/// None. The name is cleared byte by byte: a 25-byte unaligned clear would otherwise
/// call the unaligned `memset` routine, which nothing else needs on small targets (208
/// bytes of flash on thumbv7em, `benches/flash`).
impl Default for Subprotocol {
    fn default() -> Self {
        Subprotocol {
            len: 0,
            name: core::array::from_fn(|_| 0),
        }
    }
}

impl Subprotocol {
    /// `name`, checked: a token of at most [`MAX_SUBPROTOCOL_LEN`] bytes.
    pub(crate) fn new(name: &str) -> Result<Self, UsageError> {
        let bytes = name.as_bytes();
        if bytes.len() > MAX_SUBPROTOCOL_LEN || !is_token(bytes) {
            return Err(UsageError::InvalidSubprotocol);
        }
        let mut stored = Subprotocol {
            len: bytes.len() as u8,
            name: [0; MAX_SUBPROTOCOL_LEN],
        };
        stored.name[..bytes.len()].copy_from_slice(bytes);
        Ok(stored)
    }

    pub(crate) fn get(&self) -> Option<&str> {
        let name = &self.name[..usize::from(self.len)];
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
