//! The one interface every role is driven through: bytes and time in, owed bytes out.

use crate::connection::{Connection, Masking, State};
use crate::error::{AbnormalClosure, BufferTooSmall, TimedOut, UsageError};
use crate::event::{EventOf, OpenEvent, Opened, Phase, Received};
use crate::time::Instant;

/// What drives a WebSocket endpoint, whatever its role: [`Server`](crate::Server) and
/// [`Client`](crate::Client) (which run the HTTP/1.1 handshake first) and
/// [`Connection`] (already open). Adapters and event loops are written once, over this.
///
/// The methods sort as quinn's do: `receive` and `handle_*` take input; `poll_*` give
/// output; `state` and `should_close_transport` are getters. After each input, in this
/// order:
///
/// 1. [`receive`](Self::receive) until it returns no event (an
///    [`InputBuffer`](crate::InputBuffer) keeps the unused tail for you), handling each
///    event, then write what [`poll_transmit`](Self::poll_transmit) gives until it gives 0
///    bytes. A violation by the peer is an event too ([`Event::Failed`](crate::Event::Failed),
///    [`Event::HandshakeFailed`](crate::Event::HandshakeFailed)) whose answer is queued for
///    `poll_transmit`, so a loop that always ends with `poll_transmit` never loses it.
/// 2. Arrange to call [`handle_timeout`](Self::handle_timeout) at
///    [`poll_timeout`](Self::poll_timeout) (it is set from the first byte: the handshake
///    has a deadline too), then `poll_transmit` again.
/// 3. Call [`handle_eof`](Self::handle_eof) when the transport ends, and close the
///    transport when [`should_close_transport`](Self::should_close_transport) says so.
pub trait Endpoint {
    /// The masking of the open connection: [`Unmasked`](crate::Unmasked) for a server,
    /// [`Masked`](crate::Masked) for a client.
    type Masking: Masking;

    /// Which events [`receive`](Self::receive) can hand out: [`Opening`](crate::Opening)
    /// for [`Server`](crate::Server) and [`Client`](crate::Client) (the handshake's too),
    /// [`Opened`] for an open [`Connection`] (never a handshake event).
    type Phase: Phase;

    /// Feed received bytes; returns how many were used and at most one event (see
    /// [`Received`]). Payloads are unmasked in place and borrowed from `input`.
    ///
    /// The peer's mistakes are events, not errors. The only error is the caller's:
    /// [`UsageError::DecisionPending`] while a server's request waits for `accept` or
    /// `respond`.
    fn receive<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b, EventOf<'b, Self::Phase>>, UsageError>;

    /// Write the bytes the protocol owes into `out`: the client's request, a Pong, a
    /// keep-alive Ping, a Close (echo or failure), a handshake rejection. Returns how many
    /// were written; 0 means nothing is owed (or a `send_header` payload is still pending).
    /// Call it after every `receive` and `handle_timeout`, until it returns 0.
    fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall>;

    /// Whether [`poll_transmit`](Self::poll_transmit) may write anything now: `false`
    /// only when it surely gives 0 bytes, so that a loop which asks after every event
    /// can skip the call. `true` by default (always ask).
    fn wants_transmit(&self) -> bool {
        true
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever: the
    /// handshake deadline, the keep-alive timer, or the close timeout. Never before the
    /// `now` the endpoint was created with.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Let time pass. Returns which deadline passed, if one ended the connection; then
    /// write what `poll_transmit` still gives (a server's 408) and close the transport. A
    /// keep-alive Ping that falls due is queued for `poll_transmit`.
    fn handle_timeout(&mut self, now: Instant) -> Option<TimedOut>;

    /// The transport ended. [`AbnormalClosure`] (1006) unless the closing handshake had
    /// finished.
    fn handle_eof(&mut self) -> Result<(), AbnormalClosure>;

    /// Where the connection stands.
    fn state(&self) -> State;

    /// Whether the caller should close the transport now: after the closing handshake,
    /// after a failure once its answer was sent, after a rejection or a timeout.
    fn should_close_transport(&self) -> bool;

    /// Whether a keep-alive Ping was sent or is queued and its Pong has not arrived: the
    /// deadline [`poll_timeout`](Self::poll_timeout) gives is then the Pong's (the
    /// [`Driver`](crate::driver::Driver) names it). `false` by default.
    fn awaiting_pong(&self) -> bool {
        false
    }

    /// The open connection, to send with; [`UsageError::NotOpen`] during the handshake
    /// and after it failed.
    fn connection(&mut self) -> Result<&mut Connection<Self::Masking>, UsageError>;

    /// The open connection alone, once the handshake is done (a [`Connection`] is one
    /// already), whose events cannot be handshake events; the endpoint back, unchanged,
    /// during the handshake and after it failed.
    fn into_connection(self) -> Result<Connection<Self::Masking>, Self>
    where
        Self: Sized;
}

/// An open connection is driven the same way: the HTTP handshake was done before (by
/// [`Server`](crate::Server), [`Client`](crate::Client) or another HTTP stack).
impl<M: Masking> Endpoint for Connection<M> {
    type Masking = M;
    type Phase = Opened;

    #[inline]
    fn receive<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b, OpenEvent<'b>>, UsageError> {
        self.receive_frames(input, now)
    }

    #[inline]
    fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        self.transmit_owed(out)
    }

    #[inline]
    fn wants_transmit(&self) -> bool {
        self.owes_control_frames()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline()
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<TimedOut> {
        self.on_timeout(now)
    }

    fn handle_eof(&mut self) -> Result<(), AbnormalClosure> {
        self.on_eof()
    }

    fn state(&self) -> State {
        self.state
    }

    fn should_close_transport(&self) -> bool {
        self.close_transport
    }

    fn awaiting_pong(&self) -> bool {
        Connection::awaiting_pong(self)
    }

    #[inline]
    fn connection(&mut self) -> Result<&mut Connection<M>, UsageError> {
        Ok(self)
    }

    fn into_connection(self) -> Result<Connection<M>, Self> {
        Ok(self)
    }
}
