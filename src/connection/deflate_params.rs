//! The permessage-deflate parameters a handshake agreed on (RFC 7692 §7.1), as the open
//! connection carries them: which frames may have RSV1 set, and how large the windows are.
//! Negotiating them is the `deflate` module's business; this is only the result.

use super::Role;

/// The largest LZ77 window, in bits (32 KiB), and the default of both directions
/// (RFC 7692 §7.1.2.1, §7.1.2.2).
pub const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window a peer may be asked for (RFC 7692 §7.1.2.1: 8 to 15).
pub const MIN_WINDOW_BITS: u8 = 8;

/// The parameters both sides agreed on: readable from the connection
/// ([`Connection::deflate`](crate::Connection::deflate)) once the handshake is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server compresses each message on its own (RFC 7692 §7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own (RFC 7692 §7.1.1.2).
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, in bits (RFC 7692 §7.1.2.1); 15 when not negotiated.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, in bits (RFC 7692 §7.1.2.2); 15 when not negotiated.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

impl DeflateParams {
    /// The window the peer compresses with, in bits: what a connection of `role` must keep
    /// to inflate (2^bits bytes).
    pub fn receive_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        }
    }

    /// The window we compress with when we are `role`, in bits.
    pub fn send_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
    }

    /// Whether the peer of a connection of `role` resets its context after every message
    /// (then so may our inflater).
    pub fn receive_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.client_no_context_takeover,
            Role::Client => self.server_no_context_takeover,
        }
    }

    /// Whether we, as `role`, must compress every message on its own.
    pub fn send_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// Packed into 10 bits for the connection (kept small): bit 0 server no context
    /// takeover, bit 1 client, bits 2-5 the server's window bits, bits 6-9 the client's;
    /// never 0, so 0 can mean "not negotiated".
    pub(crate) fn pack(&self) -> u16 {
        u16::from(self.server_no_context_takeover)
            | (u16::from(self.client_no_context_takeover) << 1)
            | (u16::from(self.server_max_window_bits & 0xF) << 2)
            | (u16::from(self.client_max_window_bits & 0xF) << 6)
    }

    pub(crate) fn unpack(packed: u16) -> Option<Self> {
        let params = DeflateParams {
            server_no_context_takeover: packed & 1 != 0,
            client_no_context_takeover: packed & 2 != 0,
            server_max_window_bits: ((packed >> 2) & 0xF) as u8,
            client_max_window_bits: ((packed >> 6) & 0xF) as u8,
        };
        (packed != 0).then_some(params)
    }
}
