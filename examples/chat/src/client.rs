//! One connection: its socket, where it is in its life, and its little bit of memory.
//!
//! What a connection owns, and for how long (`size_of::<Client>()` is printed at start):
//!
//! - the sans-IO state: a `Server` (boxed, only for the few milliseconds of the
//!   handshake), then the open `Connection` (248 bytes, no buffers inside);
//! - `leftover`: bytes read but not used yet, kept while the shared read buffer serves
//!   other connections. Once the connection is open, sockless guarantees this is shorter
//!   than `MIN_INPUT_BUFFER` (131 bytes: a partial frame header or control frame; data
//!   frames stream through as pieces). During the handshake it is a partial HTTP head
//!   (at most `Config::max_head_len`, 8 KiB). On the heap, and only while not empty:
//!   almost always it is;
//! - `outbox`: what the socket has not taken yet, bounded by [`LIMIT`](crate::outbox::LIMIT), on the
//!   heap only while not empty;
//! - `assembler`: a text message that arrived in pieces (a read that ended inside a
//!   frame), at most [`MAX_MESSAGE`] bytes, on the heap only until its last piece;
//! - `inflater`: with permessage-deflate, an inflater (11.6 KB) only while one of its
//!   compressed messages is half-read; between messages the thread's shared one serves
//!   it (see `compression.rs`);
//! - `member`: the name (at most 1 KiB, on the heap) and seat, once joined (its room
//!   keeps the name too, folded, with the session it gave if any, to refuse the name to
//!   others).

use mio::net::TcpStream;
use sockless::assemble::FixedAssembler;
use sockless::deflate::DeflateParams;
use sockless::frame::MAX_HEADER_LEN;
use sockless::{
    CloseCode, Connection, Endpoint, Instant, MIN_OUTPUT_BUFFER, MessageKind, Server, State,
};

use crate::compression::{SharedInflater, fits_window};
use crate::outbox::{Full, Outbox};
use crate::rooms::Seat;

/// The longest message a client may send: a `say` whose text is 1 KiB, even with every
/// character escaped (`\u0001`: 6 bytes each), fits. Longer messages are failed by the
/// connection itself with Close 1009, before any of them is buffered.
pub const MAX_MESSAGE: usize = 8 * 1024;

// The open connection is what nearly every connection is, nearly all the time: it stays
// inline (no pointer to follow per frame), and the short handshake is the one boxed.
#[allow(clippy::large_enum_variant)]
pub enum Stage {
    /// Reading the HTTP request.
    Handshake(Box<Server>),
    /// A WebSocket connection.
    Open(Connection),
    /// Done (a page was served, the close handshake finished): writing out what is
    /// queued, then closing, at `until` at the latest.
    Draining { until: u64 },
}

/// A client that joined a room.
pub struct Member {
    pub seat: Seat,
    pub name: Box<str>,
}

pub struct Client {
    /// Unique for the life of the process (a slot is reused, an id never is).
    pub id: u64,
    pub socket: TcpStream,
    pub stage: Stage,
    pub leftover: Box<[u8]>,
    pub outbox: Outbox,
    pub assembler: Option<Box<FixedAssembler<MAX_MESSAGE>>>,
    pub inflater: Option<Box<SharedInflater>>,
    pub member: Option<Member>,
    /// The deadline this connection has in the timer heap (`u64::MAX`: none).
    pub timer: u64,
    /// In the list of connections to flush at the end of the loop's turn.
    pub dirty: bool,
    /// In the list of connections to close at the end of the loop's turn.
    pub doomed: bool,
}

impl Client {
    pub fn new(id: u64, socket: TcpStream, server: Server) -> Self {
        Client {
            id,
            socket,
            stage: Stage::Handshake(Box::new(server)),
            leftover: Box::default(),
            outbox: Outbox::default(),
            assembler: None,
            inflater: None,
            member: None,
            timer: u64::MAX,
            dirty: false,
            doomed: false,
        }
    }

    /// Let time pass for the endpoint, whichever stage it is in (a 408 queued, a
    /// keep-alive Ping, a close handshake given up).
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.stage {
            Stage::Handshake(server) => drop(server.handle_timeout(now)),
            Stage::Open(connection) => drop(connection.handle_timeout(now)),
            Stage::Draining { .. } => {}
        }
    }

    /// The transport ended: 1006 unless the closing handshake had finished (the endpoint
    /// knows which).
    pub fn handle_eof(&mut self) {
        match &mut self.stage {
            Stage::Handshake(server) => drop(server.handle_eof()),
            Stage::Open(connection) => drop(connection.handle_eof()),
            Stage::Draining { .. } => {}
        }
    }

    /// Whether the endpoint says to close the transport (never while draining: that
    /// decision was taken).
    pub fn should_close_transport(&self) -> bool {
        match &self.stage {
            Stage::Handshake(server) => server.should_close_transport(),
            Stage::Open(connection) => connection.should_close_transport(),
            Stage::Draining { .. } => false,
        }
    }

    /// The open connection, while it may still send messages.
    pub fn open(&mut self) -> Option<&mut Connection> {
        match &mut self.stage {
            Stage::Open(connection) if connection.state() == State::Open => Some(connection),
            _ => None,
        }
    }

    /// The permessage-deflate parameters, once open with the extension negotiated.
    pub fn deflate(&self) -> Option<DeflateParams> {
        match &self.stage {
            Stage::Open(connection) => connection.deflate(),
            _ => None,
        }
    }

    /// When the loop must next call `handle_timeout` (or close a draining connection), in
    /// milliseconds on the loop's clock.
    pub fn deadline(&self) -> Option<u64> {
        match &self.stage {
            Stage::Handshake(server) => server.poll_timeout().map(millis),
            Stage::Open(connection) => connection.poll_timeout().map(millis),
            Stage::Draining { until } => Some(*until),
        }
    }

    /// Once the server accepted the upgrade, keep only the open connection.
    pub fn upgrade(&mut self) {
        if let Stage::Handshake(server) = &self.stage {
            if server.state() == State::Open {
                let Stage::Handshake(server) =
                    std::mem::replace(&mut self.stage, Stage::Draining { until: 0 })
                else {
                    unreachable!()
                };
                self.stage = match server.into_connection() {
                    Ok(connection) => Stage::Open(connection),
                    Err(server) => Stage::Handshake(Box::new(server)),
                };
            }
        }
    }

    /// Queue a text message: as `compressed` (the same message, compressed by the
    /// thread's compressor) if given and the connection negotiated permessage-deflate
    /// with a window it fits, else as it is. Nothing is queued once the connection is
    /// closing.
    pub fn send_text(&mut self, text: &str, compressed: Option<&[u8]>) -> Result<(), Full> {
        let Stage::Open(connection) = &mut self.stage else {
            return Ok(());
        };
        let compressed = compressed.filter(|_| {
            connection
                .deflate()
                .is_some_and(|params| fits_window(&params, text.len()))
        });
        match compressed {
            Some(bytes) => self.outbox.encode(bytes.len() + MAX_HEADER_LEN, |out| {
                connection.send_compressed(MessageKind::Text, bytes, out)
            }),
            None => self.outbox.encode(text.len() + MAX_HEADER_LEN, |out| {
                connection.send_text(text, out)
            }),
        }
        .map(drop)
    }

    /// Queue our Close with `code` (the closing handshake starts; nothing more is sent).
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), Full> {
        let Some(connection) = (match &mut self.stage {
            Stage::Open(connection) if connection.state() == State::Open => Some(connection),
            _ => None,
        }) else {
            return Ok(());
        };
        self.outbox
            .encode(MIN_OUTPUT_BUFFER, |out| {
                connection.close(code, reason, now, out)
            })
            .map(drop)
    }

    /// Queue what the protocol owes: a Pong, a keep-alive Ping, a Close, a 408 / 400.
    ///
    /// This is asked after every event, and nearly always nothing is owed: the endpoint
    /// writes into a buffer on the stack, and only what it wrote (rare, and at most
    /// `MIN_OUTPUT_BUFFER` bytes) is copied into the queue, so that the queue is not grown
    /// and zeroed for nothing on every message.
    pub fn transmit_owed(&mut self) -> Result<(), Full> {
        // Nearly always nothing is owed, which the endpoint can tell without the buffer.
        let wants = match &self.stage {
            Stage::Handshake(server) => server.wants_transmit(),
            Stage::Open(connection) => connection.wants_transmit(),
            Stage::Draining { .. } => false,
        };
        if !wants {
            return Ok(());
        }
        let mut owed = [0u8; MIN_OUTPUT_BUFFER];
        loop {
            // The server's output always fits MIN_OUTPUT_BUFFER: no BufferTooSmall.
            let polled = match &mut self.stage {
                Stage::Handshake(server) => server.poll_transmit(&mut owed),
                Stage::Open(connection) => connection.poll_transmit(&mut owed),
                Stage::Draining { .. } => return Ok(()),
            };
            let n = polled.unwrap_or(0);
            if n == 0 {
                break;
            }
            let Ok(_) = self.outbox.encode(n, |out| {
                out[..n].copy_from_slice(&owed[..n]);
                Ok::<_, core::convert::Infallible>(n)
            })?;
        }
        Ok(())
    }
}

/// An instant on the loop's clock, in milliseconds, rounded up so that a deadline is
/// never handled early.
pub fn millis(at: Instant) -> u64 {
    // Whole seconds are whole milliseconds: only the nanoseconds are rounded up (no
    // 128-bit division, for a deadline re-armed after every message).
    let since = at.elapsed_since_epoch();
    (since.as_secs().checked_mul(1000))
        .and_then(|millis| millis.checked_add(u64::from(since.subsec_nanos().div_ceil(1_000_000))))
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn millis_rounds_up_as_a_128_bit_division_would() {
        let mut nanos: Vec<u128> = vec![0, 1, 999_999, 1_000_000, 1_000_001, 1_999_999_999];
        nanos.extend([
            u64::MAX as u128 * 1_000_000,
            u64::MAX as u128 * 1_000_000 + 1,
        ]);
        nanos.extend((0..1000u128).map(|i| i * 7_919_777 + i * i * 1_000_003));
        nanos.push(Duration::MAX.as_nanos());
        for nanos in nanos {
            let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
            let sub = (nanos % 1_000_000_000) as u32;
            let at = Instant::from_elapsed(Duration::new(secs, sub));
            let nanos = at.elapsed_since_epoch().as_nanos();
            let expected = u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX);
            assert_eq!(millis(at), expected, "{nanos} ns");
        }
    }
}
