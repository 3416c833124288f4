//! The client role: send the upgrade request, check the response, then run the
//! connection (RFC 6455 §4.1).

use rand_core::Rng;

use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::{Connection, HeaderWritten, Role, State};
use crate::error::{Error, UsageError};
use crate::event::{Event, MessageKind, Received};
use crate::frame::OpCode;
use crate::handshake::{self, ClientRequest, Limits};
use crate::time::Instant;

#[derive(Clone, Debug)]
enum Phase<'a> {
    /// The request is owed (`sent` false) or sent and the response awaited; `scanned`
    /// bytes of the response were already searched for its end.
    Handshaking {
        config: Config,
        request: ClientRequest<'a>,
        key: [u8; 24],
        sent: bool,
        scanned: usize,
    },
    Open(Connection),
    /// The handshake failed or was refused: nothing more happens.
    Done,
}

/// The client side of one WebSocket connection, from the upgrade request to the end of the
/// closing handshake.
///
/// Randomness (the handshake key, a fresh masking key for every frame, RFC 6455 §5.3)
/// comes from `rng`; with the `std` feature, [`OsRng`](crate::OsRng) is a ready source.
///
/// Drive it with [`poll_transmit`](Self::poll_transmit) (bytes out: first the request),
/// [`receive`](Self::receive) (bytes in, one [`Event`] at a time),
/// [`poll_timeout`](Self::poll_timeout) / [`handle_timeout`](Self::handle_timeout)
/// (time in) and [`handle_eof`](Self::handle_eof) (the transport ended); once
/// [`Event::Connected`] arrived, send with the `send_*` commands.
#[derive(Clone, Debug)]
pub struct Client<'a, R> {
    rng: R,
    /// The configuration lives in the handshake phase and, once open, in the connection's
    /// compact copy, so that an open connection stays small.
    phase: Phase<'a>,
}

impl<'a, R: Rng> Client<'a, R> {
    /// A client that will send `request`. Checks every caller-given string of the request
    /// (no header injection) and draws the 16-byte key from `rng`.
    pub fn new(request: ClientRequest<'a>, config: Config, mut rng: R) -> Result<Self, Error> {
        request.validate()?;
        let mut nonce = [0; 16];
        rng.fill_bytes(&mut nonce);
        let key = handshake::encode_key(&nonce);
        let phase = Phase::Handshaking {
            config,
            request,
            key,
            sent: false,
            scanned: 0,
        };
        Ok(Client { rng, phase })
    }

    /// A client for a `ws://` or `wss://` URL (host, port, path and query taken from it).
    /// For `wss://`, the caller provides the TLS layer underneath.
    pub fn connect(url: &'a str, config: Config, rng: R) -> Result<Self, Error> {
        Client::new(ClientRequest::from_url(url)?, config, rng)
    }

    #[inline]
    fn next_mask(rng: &mut R) -> Option<[u8; 4]> {
        Some(rng.next_u32().to_ne_bytes())
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::Handshaking { .. } => State::Connecting,
            Phase::Open(connection) => connection.state(),
            Phase::Done => State::Closed,
        }
    }

    /// Whether the caller should close the transport now: after the server closed it or
    /// the close timeout passed, after a failure once the Close was sent, or after a
    /// failed handshake.
    #[must_use]
    pub fn should_close_transport(&self) -> bool {
        match &self.phase {
            Phase::Open(connection) => connection.should_close_transport(),
            Phase::Done => true,
            Phase::Handshaking { .. } => false,
        }
    }

    /// Feed received bytes; returns how many were used and at most one event (see
    /// [`Received`]). The response head gives [`Event::Connected`] or
    /// [`Event::Rejected`]; bytes after it are the first frames.
    ///
    /// Errors: [`Error::Handshake`] for a response breaking RFC 6455 §4.1 (nothing is ever
    /// sent then); [`Error::Protocol`] when the server breaks RFC 6455 (the Close is
    /// queued for `poll_transmit`).
    #[inline]
    pub fn receive<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b>, Error> {
        match &mut self.phase {
            Phase::Open(connection) => connection.receive(input, now),
            _ => self.receive_handshake(input, now),
        }
    }

    /// [`receive`](Self::receive) in the other phases, kept out of line so that the
    /// frame path inlines into the caller's loop.
    fn receive_handshake<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b>, Error> {
        let (config, request, key, scanned) = match &mut self.phase {
            Phase::Open(connection) => return connection.receive(input, now),
            Phase::Done => {
                return Ok(Received::without_event(input.len()));
            }
            Phase::Handshaking {
                config,
                request,
                key,
                scanned,
                ..
            } => (*config, *request, *key, scanned),
        };
        let limits = Limits {
            max_head_len: config.max_head_len,
            max_headers: config.max_headers,
        };
        let head_len = match handshake::find_head_end(input, scanned, &limits) {
            Ok(Some(len)) => len,
            Ok(None) => {
                return Ok(Received::without_event(0));
            }
            Err(error) => {
                self.phase = Phase::Done;
                return Err(error.into());
            }
        };
        self.phase = Phase::Done;
        let input: &'b [u8] = input;
        let response = handshake::parse_response(&input[..head_len], &limits)?;
        if response.status() != 101 {
            return Ok(Received {
                consumed: head_len,
                event: Some(Event::Rejected(response)),
            });
        }
        let expected = handshake::accept_value(&key);
        handshake::check_response(
            &response,
            &expected,
            request.subprotocols,
            request.extensions,
        )?;
        let mut connection = Connection::new(Role::Client, &config);
        connection.handle_timeout(now)?;
        self.phase = Phase::Open(connection);
        Ok(Received {
            consumed: head_len,
            event: Some(Event::Connected(response)),
        })
    }

    /// Write the bytes owed: first the upgrade request, later a Pong, a keep-alive Ping or
    /// a Close. Returns how many were written (0: nothing owed). Call it after creating
    /// the client and after every `receive` and `handle_timeout`.
    /// [`Error::BufferTooSmall`] if not even one item fits.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        match &mut self.phase {
            Phase::Handshaking {
                request,
                key,
                sent: sent @ false,
                ..
            } => {
                let written = request.write(key, out)?;
                *sent = true;
                Ok(written)
            }
            Phase::Open(connection) => {
                let rng = &mut self.rng;
                connection.poll_transmit(out, || Self::next_mask(rng))
            }
            _ => Ok(0),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Open(connection) => connection.poll_timeout(),
            _ => None,
        }
    }

    /// Let time pass: ends a closing handshake the server does not finish, gives the
    /// server its close timeout to close the transport, sends keep-alive pings.
    /// [`Error::KeepAliveTimeout`] when a keep-alive Ping went unanswered.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        match &mut self.phase {
            Phase::Open(connection) => connection.handle_timeout(now),
            _ => Ok(()),
        }
    }

    /// The transport ended. [`Error::AbnormalClosure`] (1006) unless the closing
    /// handshake had finished.
    pub fn handle_eof(&mut self) -> Result<(), Error> {
        match &mut self.phase {
            Phase::Open(connection) => connection.handle_eof(),
            Phase::Done => Ok(()),
            Phase::Handshaking { .. } => {
                self.phase = Phase::Done;
                Err(Error::AbnormalClosure)
            }
        }
    }

    #[inline]
    fn open(&mut self) -> Result<(&mut Connection, Option<[u8; 4]>), Error> {
        match &mut self.phase {
            Phase::Open(connection) => Ok((connection, Self::next_mask(&mut self.rng))),
            _ => Err(UsageError::NotOpen.into()),
        }
    }

    /// Encode a whole text message as one masked frame into `out`; returns the bytes
    /// written.
    #[inline]
    pub fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, Error> {
        let (connection, mask) = self.open()?;
        connection.send_message(MessageKind::Text, text.as_bytes(), mask, out)
    }

    /// Encode a whole binary message as one masked frame into `out`.
    #[inline]
    pub fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let (connection, mask) = self.open()?;
        connection.send_message(MessageKind::Binary, data, mask, out)
    }

    /// Encode one fragment of a message (RFC 6455 §5.4): the first call opens a message of
    /// `kind`, `last` ends it. Control frames may be sent between fragments. Text
    /// fragments may split characters but must add up to valid UTF-8.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let (connection, mask) = self.open()?;
        connection.send_fragment(kind, data, last, mask, out)
    }

    /// Encode only the header of a data frame of `payload_len` bytes. The caller masks the
    /// payload with the returned key ([`frame::apply_mask`](crate::frame::apply_mask)) and
    /// sends it right after the header. Text sent this way is not checked for UTF-8.
    #[inline]
    pub fn send_header(
        &mut self,
        kind: MessageKind,
        payload_len: u64,
        last: bool,
        out: &mut [u8],
    ) -> Result<HeaderWritten, Error> {
        let (connection, mask) = self.open()?;
        connection.send_header(kind, payload_len, last, mask, out)
    }

    /// Encode a Ping (at most 125 bytes of payload).
    pub fn ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let (connection, mask) = self.open()?;
        connection.send_control(OpCode::Ping, payload, mask, out)
    }

    /// Encode a Pong (at most 125 bytes): the answer to a Ping when
    /// [`Config::auto_pong`] is off, or an unsolicited heartbeat.
    pub fn pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let (connection, mask) = self.open()?;
        connection.send_control(OpCode::Pong, payload, mask, out)
    }

    /// Start the closing handshake with `code` and `reason` (at most 123 bytes), or answer
    /// the server's Close with this code instead of the echo. Any Pong still owed is
    /// written first. Nothing can be sent afterwards.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let rng = &mut self.rng;
        match &mut self.phase {
            Phase::Open(connection) => {
                connection.close(code, reason, now, || Self::next_mask(rng), out)
            }
            _ => Err(UsageError::NotOpen.into()),
        }
    }
}
