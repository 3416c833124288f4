//! Which side of the connection we are, as the frames we send show it (RFC 6455 §5.1,
//! §5.3): a client masks every frame with a fresh, unpredictable key; a server masks none.

use rand_core::Rng;

/// Which side of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We opened the connection: our frames are masked, the peer's must not be.
    Client,
    /// We accepted the connection: the peer's frames must be masked, ours are not.
    Server,
}

/// Where the masking keys of the frames we send come from: the type parameter of
/// [`Connection`](crate::Connection) that fixes its role.
pub trait Masking {
    /// The role this masking belongs to.
    const ROLE: Role;
    /// The key for the next frame we send: `None` for a server.
    fn next_key(&mut self) -> Option<[u8; 4]>;
}

/// A server's frames are not masked (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unmasked;

impl Masking for Unmasked {
    const ROLE: Role = Role::Server;
    #[inline(always)]
    fn next_key(&mut self) -> Option<[u8; 4]> {
        None
    }
}

/// A client's frames are masked with a fresh key from the random number generator `R`
/// for every frame (RFC 6455 §5.3). With the `std` feature, `OsRng` is a
/// ready source.
#[derive(Clone, Debug)]
pub struct Masked<R>(pub R);

impl<R: Rng> Masking for Masked<R> {
    const ROLE: Role = Role::Client;
    #[inline(always)]
    fn next_key(&mut self) -> Option<[u8; 4]> {
        Some(self.0.next_u32().to_ne_bytes())
    }
}
