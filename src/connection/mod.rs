//! The open connection: the message-level state machine shared by both roles, after the
//! opening handshake, whoever did it.
//!
//! It knows nothing of HTTP: [`Client`](crate::Client) and [`Server`](crate::Server) run
//! the HTTP/1.1 handshake and then hand every byte and command to a [`Connection`]; a
//! stream upgraded elsewhere (hyper, HTTP/2 extended CONNECT, HTTP/3) starts from
//! [`Connection::server`] or [`Connection::client`] directly. The only difference between
//! the roles here is the masking rule (RFC 6455 §5.1), fixed by the type parameter, and
//! who closes the transport first (§7.1.1).
//!
//! States, as in wsproto: `Open`, `LocalClosing` (our Close sent, waiting for the peer's),
//! `RemoteClosing` (the peer's Close received, our answer owed), `Failed` (a violation
//! seen, our Close owed) and `Closed`.

mod deflate_params;
mod masking;
mod receive;
mod send;

use rand_core::Rng;

use crate::close::CloseCode;
use crate::config::Config;
use crate::error::{AbnormalClosure, ProtocolError, TimedOut, UsageError};
use crate::event::{Event, MessageKind, Received};
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::subprotocol::Subprotocol;
use crate::time::{Duration, Instant};
use crate::utf8::Utf8Validator;

pub use deflate_params::{DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
pub use masking::{Masked, Masking, Role, Unmasked};
pub(crate) use receive::FrameProgress;
pub use send::HeaderWritten;
#[cfg(all(feature = "deflate", feature = "alloc"))]
pub(crate) use send::compressed_header_len;

/// Where the connection stands, as seen by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// The opening handshake is not finished.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// We sent a Close and wait for the peer's.
    LocalClosing,
    /// The peer sent a Close; ours is queued for `poll_transmit`.
    RemoteClosing,
    /// The peer broke the protocol (or the handshake failed); our answer is queued for
    /// `poll_transmit`.
    Failed,
    /// Nothing more is sent or received. See `should_close_transport` for when to close
    /// the transport.
    Closed,
}

/// A Pong owed to the peer: the payload of the latest Ping (§5.5.3: answering the latest
/// is enough).
#[derive(Clone, Copy, Debug)]
struct OwedPong {
    len: u8,
    payload: [u8; MAX_CONTROL_PAYLOAD],
}

/// Timeouts kept compactly (milliseconds, saturating) so that an open connection stays
/// small.
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    close_ms: u32,
    /// The keep-alive interval, at least 1 ms; 0 when there is none.
    keep_alive_ms: u32,
    /// At least 1 ms, so that the Pong deadline always lies after the Ping's.
    keep_alive_timeout_ms: u32,
}

/// `duration` in whole milliseconds, saturating at `u32::MAX` (49 days). Computed in 32
/// bits: `Duration::as_millis` works in 128 bits, which costs small targets flash. Out of
/// line: a connection converts its three timeouts once, and three inlined copies cost
/// 76 bytes of flash on thumbv7em (`benches/flash`).
#[inline(never)]
fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs())
        .ok()
        .and_then(|secs| secs.checked_mul(1000))
        .and_then(|millis| millis.checked_add(duration.subsec_millis()))
        .unwrap_or(u32::MAX)
}

/// The one timer of an open connection, in whole milliseconds since the caller's epoch,
/// rounded up so that it never fires early; unset when `u64::MAX`. Half the size of an
/// `Option<Instant>`, which keeps the open connection within 256 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timer(u64);

impl Timer {
    const UNSET: Timer = Timer(u64::MAX);

    /// A timer that fires at `instant` (or up to 1 ms after it).
    #[cfg(test)]
    pub(crate) fn at(instant: Instant) -> Timer {
        Timer::after(instant, 0)
    }

    /// A timer that fires `ms` milliseconds after `now` (or up to 1 ms later): `at(now +
    /// ms)`, in whole milliseconds without adding durations. One saturating path: the
    /// rounded-up sub-second part and `ms` together stay below 2^33, so only the whole
    /// seconds in milliseconds and the final sum can overflow.
    pub(crate) fn after(now: Instant, ms: u32) -> Timer {
        let elapsed = now.elapsed_since_epoch();
        let extra = u64::from(elapsed.subsec_nanos().div_ceil(1_000_000)) + u64::from(ms);
        let total = elapsed
            .as_secs()
            .checked_mul(1000)
            .and_then(|secs_ms| secs_ms.checked_add(extra))
            .unwrap_or(u64::MAX);
        Timer(total.min(u64::MAX - 1))
    }

    pub(crate) fn get(self) -> Option<Instant> {
        (self != Timer::UNSET).then(|| Instant::from_millis(self.0))
    }
}

/// `now + duration`: a deadline.
pub(crate) fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.saturating_add(duration)
}

/// An open WebSocket connection: the state machine after the opening handshake, for either
/// role (`M` is [`Unmasked`] for a server, [`Masked`] for a client).
///
/// [`Server`](crate::Server) and [`Client`](crate::Client) hand it out through
/// [`Endpoint::connection`](crate::Endpoint::connection) once their handshake is done. A stream whose handshake was done
/// elsewhere (a hyper or axum upgrade, an HTTP/2 extended CONNECT stream of RFC 8441, an
/// HTTP/3 one of RFC 9220) starts here: [`Connection::server`] or [`Connection::client`].
///
/// Drive it through [`Endpoint`](crate::Endpoint) (bytes and time in, owed bytes out); send with the
/// commands below. Every command encodes into the caller's buffer and returns how many
/// bytes to write; [`SendError::NoRoom`](crate::SendError::NoRoom) writes nothing.
#[derive(Clone, Debug)]
pub struct Connection<M = Unmasked> {
    masks: M,
    pub(crate) state: State,
    auto_pong: bool,
    /// The transport should now be closed by the caller.
    pub(crate) close_transport: bool,
    /// A keep-alive Ping is queued, or sent and unanswered (`awaiting_pong`).
    ping_owed: bool,
    awaiting_pong: bool,
    ping_counter: u32,
    max_frame_len: u64,
    max_message_len: u64,
    timeouts: Timeouts,
    /// The one timer: keep-alive (Open), close handshake (LocalClosing), or the wait for
    /// the server to close the transport (Closed, client).
    deadline: Timer,
    /// The Close we owe (RemoteClosing: the echo; Failed: the error's code).
    close_owed: Option<CloseCode>,
    pong_owed: Option<OwedPong>,
    /// Receive side: the frame being read and the message being assembled.
    frame: FrameProgress,
    /// Send side: the kind of the fragmented message we are sending, if any.
    sending: Option<MessageKind>,
    send_utf8: Utf8Validator,
    /// Payload bytes promised by the last `send_header` and not yet reported written:
    /// nothing else may go on the wire before them.
    payload_pending: u64,
    subprotocol: Subprotocol,
    /// The negotiated permessage-deflate parameters, packed
    /// ([`DeflateParams::pack`]); 0 when not negotiated.
    deflate: u16,
}

impl Connection<Unmasked> {
    /// The server side of a connection whose opening handshake is done (here, by
    /// [`Server::accept`](crate::Server::accept), or by another HTTP stack). `now` starts
    /// the keep-alive timer.
    pub fn server(config: &Config, now: Instant) -> Self {
        Connection::with_masks(Unmasked, config, now)
    }
}

impl<R: Rng> Connection<Masked<R>> {
    /// The client side of a connection whose opening handshake is done, masking every frame
    /// with keys from `rng` (RFC 6455 §5.3). `now` starts the keep-alive timer.
    pub fn client(config: &Config, rng: R, now: Instant) -> Self {
        Connection::with_masks(Masked(rng), config, now)
    }
}

impl<M: Masking> Connection<M> {
    fn with_masks(masks: M, config: &Config, now: Instant) -> Self {
        let keep_alive_ms = config
            .keep_alive
            .map_or(0, |interval| millis(interval).max(1));
        let mut connection = Connection {
            masks,
            state: State::Open,
            auto_pong: config.auto_pong,
            close_transport: false,
            ping_owed: false,
            awaiting_pong: false,
            ping_counter: 0,
            max_frame_len: config.max_frame_len,
            max_message_len: config.max_message_len,
            timeouts: Timeouts {
                close_ms: millis(config.close_timeout),
                keep_alive_ms,
                keep_alive_timeout_ms: millis(config.keep_alive_timeout).max(1),
            },
            deadline: Timer::UNSET,
            close_owed: None,
            pong_owed: None,
            frame: FrameProgress::default(),
            sending: None,
            send_utf8: Utf8Validator::new(),
            payload_pending: 0,
            subprotocol: Subprotocol::default(),
            deflate: 0,
        };
        connection.arm_keep_alive(now);
        connection
    }

    /// This connection with the subprotocol its handshake chose (a token of at most
    /// [`MAX_SUBPROTOCOL_LEN`](crate::MAX_SUBPROTOCOL_LEN) bytes, else [`UsageError::InvalidSubprotocol`]), readable
    /// with [`subprotocol`](Self::subprotocol).
    pub fn with_subprotocol(mut self, subprotocol: Option<&str>) -> Result<Self, UsageError> {
        self.set_subprotocol(subprotocol)?;
        Ok(self)
    }

    /// [`with_subprotocol`](Self::with_subprotocol) in place.
    fn set_subprotocol(&mut self, subprotocol: Option<&str>) -> Result<(), UsageError> {
        self.subprotocol = match subprotocol {
            Some(name) => Subprotocol::new(name)?,
            None => Subprotocol::default(),
        };
        Ok(())
    }

    /// What the client's opening handshake agreed on: the subprotocol (already checked)
    /// and the permessage-deflate parameters.
    pub(crate) fn set_agreed(&mut self, subprotocol: Subprotocol, deflate: Option<DeflateParams>) {
        self.subprotocol = subprotocol;
        self.set_deflate(deflate);
    }

    /// This connection with the permessage-deflate parameters its handshake agreed on (RFC
    /// 7692), readable with [`deflate`](Self::deflate): RSV1 is then allowed on the first
    /// frame of a data message, whose payload arrives as
    /// [`Event::Compressed`](crate::Event::Compressed). `None` leaves it off.
    pub fn with_deflate(mut self, params: Option<DeflateParams>) -> Self {
        self.set_deflate(params);
        self
    }

    /// [`with_deflate`](Self::with_deflate) in place.
    fn set_deflate(&mut self, params: Option<DeflateParams>) {
        self.deflate = params.map_or(0, |params| params.pack());
    }

    /// The permessage-deflate parameters the opening handshake agreed on, if any.
    pub fn deflate(&self) -> Option<DeflateParams> {
        DeflateParams::unpack(self.deflate)
    }

    /// The limit on a message's length, from the configuration.
    #[cfg(feature = "deflate")]
    pub(crate) fn max_message_len(&self) -> u64 {
        self.max_message_len
    }

    /// The subprotocol the opening handshake chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.get()
    }

    /// Which side of the connection this is.
    pub fn role(&self) -> Role {
        M::ROLE
    }

    /// The timer's deadline, as `poll_timeout` reports it.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.close_transport {
            None
        } else {
            self.deadline.get()
        }
    }

    /// Start the keep-alive timer if it is configured and not running.
    /// With no keep-alive configured, the timer of an open connection is never set, so
    /// there is nothing to do: the common case costs one comparison.
    #[inline]
    fn arm_keep_alive(&mut self, now: Instant) {
        let ms = self.timeouts.keep_alive_ms;
        if ms != 0 && self.state == State::Open && !self.awaiting_pong && !self.ping_owed {
            self.arm_keep_alive_at(now, ms);
        }
    }

    #[inline(never)]
    fn arm_keep_alive_at(&mut self, now: Instant, ms: u32) {
        self.deadline = Timer::after(now, ms);
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> Option<TimedOut> {
        let deadline = self.deadline.get()?;
        if now < deadline || self.close_transport {
            return None;
        }
        self.deadline = Timer::UNSET;
        match self.state {
            State::Open if self.ping_owed || self.awaiting_pong => {
                // The peer did not answer our keep-alive Ping in time: give it up without
                // a closing handshake, which it would not answer either. A Ping still
                // queued counts the same: it is held back only because our output does
                // not drain (the peer does not take our bytes, or a `send_header` payload
                // is not written), and re-arming the timer then would keep a peer that
                // stopped reading for ever.
                self.state = State::Closed;
                self.close_transport = true;
                self.pong_owed = None;
                self.ping_owed = false;
                Some(TimedOut::KeepAlive)
            }
            State::Open => {
                self.ping_owed = true;
                self.ping_counter = self.ping_counter.wrapping_add(1);
                self.deadline = Timer::after(now, self.timeouts.keep_alive_timeout_ms);
                None
            }
            // §7.1.1: the peer's Close (or, for a client, the server's closing of the
            // transport) did not come in time: close the transport ourselves.
            State::LocalClosing => {
                self.state = State::Closed;
                self.close_transport = true;
                Some(TimedOut::Closing)
            }
            State::Closed => {
                // A client whose server did not close the transport after the closing
                // handshake: the handshake itself finished, so this is no failure.
                self.close_transport = true;
                None
            }
            _ => None,
        }
    }

    /// The transport reached its end (the peer closed it).
    pub(crate) fn on_eof(&mut self) -> Result<(), AbnormalClosure> {
        // After the peer's Close (RemoteClosing, Closed), or once the failure or timeout was
        // reported (Closed), the end of the transport is expected; otherwise it is 1006.
        let expected = matches!(self.state, State::Closed | State::RemoteClosing);
        self.state = State::Closed;
        self.close_transport = true;
        self.deadline = Timer::UNSET;
        self.pong_owed = None;
        self.ping_owed = false;
        self.close_owed = None;
        if expected {
            Ok(())
        } else {
            // §7.1.5: the transport closed without a closing handshake: 1006.
            Err(AbnormalClosure)
        }
    }

    /// Fail the connection because of `error`, found by something in front of it (an
    /// extension such as an inflater, or a driver checking a text message): queue a Close
    /// with the error's code (RFC 6455 §7.1.7, unless ours was already sent) and read no
    /// more. The caller drops whatever input it still holds.
    pub fn fail_with(&mut self, error: ProtocolError) {
        let _: Received<'_> = self.fail(error, 0);
    }

    /// Hand whole text messages out unchecked from now on (see [`Received`]'s
    /// `unchecked_text`): the driver checks them once, when it makes the `&str`.
    pub(crate) fn defer_text_check(&mut self) {
        self.frame.defer_text_check = true;
    }

    /// Whether whole text messages are handed out unchecked (see
    /// [`defer_text_check`](Self::defer_text_check)).
    #[cfg(feature = "deflate")]
    pub(crate) fn defers_text_check(&self) -> bool {
        self.frame.defer_text_check
    }

    /// Whether a keep-alive Ping was sent or is queued and its Pong has not arrived: the
    /// deadline [`poll_timeout`](crate::Endpoint::poll_timeout) gives is then the Pong's.
    pub fn awaiting_pong(&self) -> bool {
        self.ping_owed || self.awaiting_pong
    }

    /// Fail the connection (§7.1.7): queue a Close with the violation's code (unless ours
    /// was already sent), and read no more. Everything left in the input is dropped.
    pub(crate) fn fail<'b, R, S, H>(
        &mut self,
        error: ProtocolError,
        input_len: usize,
    ) -> Received<'b, Event<'b, R, S, H>> {
        match self.state {
            State::Open | State::RemoteClosing => {
                self.state = State::Failed;
                self.close_owed = Some(error.close_code());
            }
            _ => {
                self.state = State::Closed;
                self.close_transport = true;
            }
        }
        self.deadline = Timer::UNSET;
        self.ping_owed = false;
        Received {
            consumed: input_len,
            event: Some(Event::Failed(error)),
            place: crate::event::Place::INPUT,
            borrow: core::marker::PhantomData,
        }
    }

    /// The peer's Close arrived (§5.5.1, §7.1.3).
    fn on_close_received(&mut self, code: Option<CloseCode>, now: Instant) {
        self.ping_owed = false;
        // A client waits for the server to close the transport after the closing
        // handshake, at most the close timeout (§7.1.1); the clock starts now.
        self.deadline = match M::ROLE {
            Role::Client => Timer::after(now, self.timeouts.close_ms),
            Role::Server => Timer::UNSET,
        };
        match self.state {
            State::Open => {
                // §5.5.1: answer with a Close, echoing the status code (1000 for none).
                self.state = State::RemoteClosing;
                self.close_owed = Some(code.unwrap_or(CloseCode::NORMAL));
            }
            _ => self.finish_closing_handshake(),
        }
    }

    /// Both Close frames have been exchanged (§7.1.1): the server closes the transport
    /// first; a client waits for that (the deadline is already set).
    fn finish_closing_handshake(&mut self) {
        self.state = State::Closed;
        self.pong_owed = None;
        self.ping_owed = false;
        if M::ROLE == Role::Server {
            self.close_transport = true;
            self.deadline = Timer::UNSET;
        } else if self.deadline == Timer::UNSET {
            // The client's close timeout already ran out (handle_timeout while our answer
            // was still owed): the wait for the server is over, so close it ourselves.
            self.close_transport = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_saturate_at_u32_max() {
        for duration in [
            Duration::ZERO,
            Duration::from_nanos(999_999),
            Duration::from_millis(1),
            Duration::new(5, 999_999_999),
            Duration::from_millis(u64::from(u32::MAX)),
            Duration::from_millis(u64::from(u32::MAX) + 1),
            Duration::new(4_294_967, 296_000_000),
            Duration::new(4_294_968, 0),
            Duration::from_secs(u64::from(u32::MAX) + 1),
            Duration::MAX,
        ] {
            let expected = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
            assert_eq!(millis(duration), expected, "{duration:?}");
        }
    }

    #[test]
    fn open_connection_state_is_small() {
        let size = core::mem::size_of::<Connection<Unmasked>>();
        assert!(size <= 248, "{size}");
    }

    #[test]
    fn timer_rounds_up_to_the_millisecond_and_round_trips() {
        assert_eq!(
            Timer::at(Instant::from_millis(1500)).get(),
            Some(Instant::from_millis(1500))
        );
        let between = Instant::from_elapsed(Duration::new(1, 500_000_001));
        assert_eq!(Timer::at(between).get(), Some(Instant::from_millis(1501)));
        assert!(Timer::at(between).get().unwrap() >= between);
        assert_eq!(Timer::UNSET.get(), None);
        let far = Instant::from_elapsed(Duration::MAX);
        assert_eq!(
            Timer::at(far).get(),
            Some(Instant::from_millis(u64::MAX - 1))
        );
        assert_eq!(Timer::after(far, u32::MAX), Timer::at(far));
    }

    proptest::proptest! {
        /// `Timer::after` is the timer at `now + ms`, for any instant (whole milliseconds
        /// or not, up to the largest) and any delay.
        #[test]
        fn timer_after_is_the_timer_at_the_sum(
            secs in proptest::prop_oneof![
                0u64..1_000_000,
                proptest::num::u64::ANY,
                u64::MAX / 1000 - 5_000_000..u64::MAX / 1000 + 5_000_000,
            ],
            nanos in proptest::prop_oneof![proptest::strategy::Just(0u32), 0u32..1_000_000_000],
            ms in proptest::num::u32::ANY,
        ) {
            let now = Instant::from_elapsed(Duration::new(secs, nanos));
            let sum = now.saturating_add(Duration::from_millis(u64::from(ms)));
            proptest::prop_assert_eq!(Timer::after(now, ms), Timer::at(sum));
        }
    }
}
