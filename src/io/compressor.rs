//! The compressor behind an adapter's connection (permessage-deflate, RFC 7692 §7.2.1), and
//! what it costs: a [`Compressor`] holds about 312 KB, so a connection gets one only when
//! it needs one of its own.
//!
//! - Our side takes context over (the default, `send_no_context_takeover` off): a message
//!   may refer back to the ones before it, so the state is the connection's. It is made on
//!   the first message sent, so a connection that never sends costs nothing.
//! - Our side takes no context over (RFC 7692 §7.1.1): the compressor is reset after every
//!   message and holds nothing of a connection in between, so one per thread (and per
//!   window size) serves every connection of that thread, and a connection costs no
//!   compressor memory at all.

use alloc::boxed::Box;
use core::cell::RefCell;

use crate::connection::{Connection, Masking};
use crate::deflate::{Compressor, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::error::UsageError;

/// How many window sizes there are (8 to 15 bits): one shared compressor each.
const WINDOW_SIZES: usize = (MAX_WINDOW_BITS - MIN_WINDOW_BITS + 1) as usize;

std::thread_local! {
    /// The compressors shared by this thread's connections that take no context over,
    /// by window bits (index `bits - MIN_WINDOW_BITS`), made on first use.
    static SHARED: RefCell<[Option<Box<Compressor>>; WINDOW_SIZES]> =
        const { RefCell::new([const { None }; WINDOW_SIZES]) };
}

/// The compressor of one connection.
#[derive(Debug)]
pub(crate) enum MessageCompressor {
    /// With context takeover: its own, made on the first message.
    Own(Option<Box<Compressor>>),
    /// Without: the thread's compressor for these parameters.
    Shared(DeflateParams),
}

impl MessageCompressor {
    /// The compressor for a connection that negotiated `params`, as `M::ROLE`.
    pub(crate) fn new<M: Masking>(params: DeflateParams) -> Self {
        if params.send_no_context_takeover(M::ROLE) {
            MessageCompressor::Shared(params)
        } else {
            MessageCompressor::Own(None)
        }
    }

    /// Compress one whole message's payload into `out` with this connection's compressor
    /// ([`Compressor::compress`]): its length, or `None` to send the message uncompressed.
    pub(crate) fn compress<M: Masking>(
        &mut self,
        connection: &Connection<M>,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, UsageError> {
        match self {
            MessageCompressor::Own(own) => {
                let compressor = match own {
                    Some(compressor) => compressor,
                    None => own.insert(Box::new(Compressor::new(connection)?)),
                };
                Ok(compressor.compress(payload, out))
            }
            MessageCompressor::Shared(params) => Ok(SHARED.with(|shared| {
                let mut shared = shared.borrow_mut();
                let bits = params
                    .send_window_bits(M::ROLE)
                    .clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
                let slot = &mut shared[usize::from(bits - MIN_WINDOW_BITS)];
                let compressor =
                    slot.get_or_insert_with(|| Box::new(Compressor::with_params(params, M::ROLE)));
                compressor.compress(payload, out)
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{Inflater, window_len};
    use crate::{Config, Event, Instant, Unmasked};
    use alloc::vec;
    use alloc::vec::Vec;

    /// `text` compressed by `compressor` and framed by `connection` into `out`: its length.
    fn send_text(
        compressor: &mut MessageCompressor,
        connection: &mut Connection<Unmasked>,
        text: &str,
        out: &mut [u8],
    ) -> usize {
        let mut scratch = vec![0u8; out.len()];
        let n = compressor
            .compress(connection, text.as_bytes(), &mut scratch)
            .unwrap()
            .expect("it pays to compress");
        connection
            .send_compressed(crate::MessageKind::Text, &scratch[..n], out)
            .unwrap()
    }

    fn shared_count() -> usize {
        SHARED.with(|shared| shared.borrow().iter().flatten().count())
    }

    fn params(no_context_takeover: bool, bits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: no_context_takeover,
            server_max_window_bits: bits,
            ..DeflateParams::default()
        }
    }

    /// What a client inflates from `wire`, one text message.
    fn inflate(params: DeflateParams, wire: &mut [u8]) -> Vec<u8> {
        let mut client = Connection::client(&Config::default(), crate::os_rng(), Instant::ZERO)
            .with_deflate(Some(params));
        let mut inflater = Inflater::new(&client, vec![0; window_len(15)]).unwrap();
        let mut text = Vec::new();
        let mut start = 0;
        // The inflater may owe the message's end after the last input byte is consumed.
        while start < wire.len() || inflater.has_pending() {
            let received = inflater
                .receive(&mut client, &mut wire[start..], Instant::ZERO)
                .unwrap();
            start += received.consumed;
            match received.event {
                Some(Event::Text(t)) => text.extend_from_slice(t.as_bytes()),
                Some(Event::Chunk(chunk)) => text.extend_from_slice(chunk.data),
                other => panic!("{other:?}"),
            }
        }
        text
    }

    #[test]
    fn connections_without_context_takeover_share_one_compressor_per_window() {
        let text = "shared between connections, ".repeat(20);
        let mut out = vec![0u8; 4096];
        let before = shared_count();
        for bits in [15, 15, 15, 12] {
            let params = params(true, bits);
            let mut server: Connection<Unmasked> =
                Connection::server(&Config::default(), Instant::ZERO).with_deflate(Some(params));
            let mut compressor = MessageCompressor::new::<Unmasked>(params);
            assert!(matches!(compressor, MessageCompressor::Shared(_)));
            for _ in 0..2 {
                let n = send_text(&mut compressor, &mut server, &text, &mut out);
                assert!(n < text.len() / 4, "compressed: {n} bytes");
                assert_eq!(out[0] & 0x40, 0x40, "RSV1");
                assert_eq!(inflate(params, &mut out[..n]), text.as_bytes());
            }
        }
        // One for the 15-bit window, one for the 12-bit one (tests run on their own
        // threads, so this thread's pool started empty).
        assert_eq!((before, shared_count()), (0, 2));
    }

    #[test]
    fn a_connection_with_context_takeover_gets_its_own_on_its_first_message() {
        let params = params(false, 15);
        let mut server: Connection<Unmasked> =
            Connection::server(&Config::default(), Instant::ZERO).with_deflate(Some(params));
        let mut compressor = MessageCompressor::new::<Unmasked>(params);
        assert!(matches!(compressor, MessageCompressor::Own(None)));
        // Words in no repeating order: the first message compresses a little, the same
        // one again is almost all a reference to the first.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let words = [
            "context", "taken", "over", "chat", "room", "deploy", "green", "ok",
        ];
        let text: Vec<&str> = (0..60)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                words[(seed % 8) as usize]
            })
            .collect();
        let text = text.join(" ");
        let mut out = vec![0u8; 4096];
        let first = send_text(&mut compressor, &mut server, &text, &mut out);
        let second = send_text(&mut compressor, &mut server, &text, &mut out);
        assert!(matches!(compressor, MessageCompressor::Own(Some(_))));
        // The second refers back to the first: much smaller.
        assert!(second * 3 < first, "{first} then {second}");
        assert_eq!(shared_count(), 0);
    }
}
