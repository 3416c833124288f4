//! The message-level state machine shared by both roles, after the opening handshake.
//!
//! It knows nothing of HTTP: [`Client`](crate::Client) and [`Server`](crate::Server) run
//! the handshake and then hand every byte and command to a [`Connection`]. The only
//! difference between the roles here is the masking rule (RFC 6455 §5.1) and who closes
//! the transport first (§7.1.1).
//!
//! States, as in wsproto: `Open`, `LocalClosing` (our Close sent, waiting for the peer's),
//! `RemoteClosing` (the peer's Close received, our answer owed), `Failed` (a violation
//! seen, our Close owed) and `Closed`.

mod receive;
mod send;

use crate::close::CloseCode;
use crate::config::Config;
use crate::error::{Error, ProtocolError};
use crate::event::MessageKind;
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::time::{Duration, Instant};
use crate::utf8::Utf8Validator;

pub(crate) use receive::FrameProgress;
pub use send::HeaderWritten;

/// Which side of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We opened the connection: our frames are masked, the peer's must not be.
    Client,
    /// We accepted the connection: the peer's frames must be masked, ours are not.
    Server,
}

/// Where the connection stands, as seen by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The opening handshake is not finished.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// We sent a Close and wait for the peer's.
    LocalClosing,
    /// The peer sent a Close; ours is queued for `poll_transmit`.
    RemoteClosing,
    /// The peer broke the protocol; our Close is queued for `poll_transmit`.
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
    keep_alive_ms: Option<u32>,
    keep_alive_timeout_ms: u32,
}

/// `duration` in whole milliseconds, saturating at `u32::MAX` (49 days). Computed in 32
/// bits: `Duration::as_millis` works in 128 bits, which costs small targets flash.
fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs())
        .ok()
        .and_then(|secs| secs.checked_mul(1000))
        .and_then(|millis| millis.checked_add(duration.subsec_millis()))
        .unwrap_or(u32::MAX)
}

fn after(now: Instant, ms: u32) -> Instant {
    now.saturating_add(Duration::from_millis(u64::from(ms)))
}

/// An open WebSocket connection: the state machine after the handshake. Reached through
/// [`Client`](crate::Client) and [`Server`](crate::Server).
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    role: Role,
    state: State,
    auto_pong: bool,
    /// The transport should now be closed by the caller.
    close_transport: bool,
    /// A keep-alive Ping is queued, or sent and unanswered (`awaiting_pong`).
    ping_owed: bool,
    awaiting_pong: bool,
    ping_counter: u32,
    max_frame_len: u64,
    max_message_len: u64,
    timeouts: Timeouts,
    /// The one timer: keep-alive (Open), close handshake (LocalClosing), or the wait for
    /// the server to close the transport (Closed, client).
    deadline: Option<Instant>,
    /// The Close we owe (RemoteClosing: the echo; Failed: the error's code).
    close_owed: Option<CloseCode>,
    pong_owed: Option<OwedPong>,
    /// Receive side: the frame being read and the message being assembled.
    frame: FrameProgress,
    /// Send side: the kind of the fragmented message we are sending, if any.
    sending: Option<MessageKind>,
    send_utf8: Utf8Validator,
}

impl Connection {
    pub(crate) fn new(role: Role, config: &Config) -> Self {
        Connection {
            role,
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
                keep_alive_ms: config.keep_alive.map(millis),
                keep_alive_timeout_ms: millis(config.keep_alive_timeout),
            },
            deadline: None,
            close_owed: None,
            pong_owed: None,
            frame: FrameProgress::default(),
            sending: None,
            send_utf8: Utf8Validator::new(),
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn should_close_transport(&self) -> bool {
        self.close_transport
    }

    /// When `handle_timeout` is next needed. A keep-alive timer that has not started yet
    /// (the connection opened without a clock reading, as `Server::accept` does) asks for
    /// a call at once, which starts it.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.close_transport {
            return None;
        }
        let keep_alive_unarmed = self.state == State::Open
            && self.deadline.is_none()
            && self.timeouts.keep_alive_ms.is_some();
        if keep_alive_unarmed {
            Some(Instant::ZERO)
        } else {
            self.deadline
        }
    }

    /// Start the keep-alive timer if it is configured and not running.
    fn arm_keep_alive(&mut self, now: Instant) {
        if self.state == State::Open && !self.awaiting_pong && !self.ping_owed {
            self.deadline = self.timeouts.keep_alive_ms.map(|ms| after(now, ms));
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        let Some(deadline) = self.deadline else {
            self.arm_keep_alive(now);
            return Ok(());
        };
        if now < deadline || self.close_transport {
            return Ok(());
        }
        self.deadline = None;
        match self.state {
            State::Open if self.awaiting_pong || self.ping_owed => {
                // The peer did not answer our keep-alive Ping in time: give it up without
                // a closing handshake, which it would not answer either.
                self.state = State::Closed;
                self.close_transport = true;
                self.pong_owed = None;
                self.ping_owed = false;
                Err(Error::KeepAliveTimeout)
            }
            State::Open => {
                self.ping_owed = true;
                self.ping_counter = self.ping_counter.wrapping_add(1);
                self.deadline = Some(after(now, self.timeouts.keep_alive_timeout_ms));
                Ok(())
            }
            // §7.1.1: the peer's Close (or, for a client, the server's closing of the
            // transport) did not come in time: close the transport ourselves.
            State::LocalClosing | State::Closed => {
                self.state = State::Closed;
                self.close_transport = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The transport reached its end (the peer closed it).
    pub(crate) fn handle_eof(&mut self) -> Result<(), Error> {
        // After the peer's Close (RemoteClosing, Closed), or once the failure or timeout was
        // reported (Closed), the end of the transport is expected; otherwise it is 1006.
        let expected = matches!(self.state, State::Closed | State::RemoteClosing);
        self.state = State::Closed;
        self.close_transport = true;
        self.deadline = None;
        self.pong_owed = None;
        self.ping_owed = false;
        self.close_owed = None;
        if expected {
            Ok(())
        } else {
            // §7.1.5: the transport closed without a closing handshake: 1006.
            Err(Error::AbnormalClosure)
        }
    }

    /// Fail the connection (§7.1.7): queue a Close with the violation's code (unless ours
    /// was already sent), and read no more.
    fn fail(&mut self, error: ProtocolError) -> Error {
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
        self.deadline = None;
        self.ping_owed = false;
        Error::Protocol(error)
    }

    /// The peer's Close arrived (§5.5.1, §7.1.3).
    fn on_close_received(&mut self, code: Option<CloseCode>, now: Instant) {
        self.ping_owed = false;
        // A client waits for the server to close the transport after the closing
        // handshake, at most the close timeout (§7.1.1); the clock starts now.
        self.deadline = match self.role {
            Role::Client => Some(after(now, self.timeouts.close_ms)),
            Role::Server => None,
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
        if self.role == Role::Server {
            self.close_transport = true;
            self.deadline = None;
        } else if self.deadline.is_none() {
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
        assert!(
            core::mem::size_of::<Connection>() <= 256,
            "{}",
            core::mem::size_of::<Connection>()
        );
    }
}
