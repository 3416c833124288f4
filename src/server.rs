//! The server role: read the upgrade request, let the application decide, then run the
//! connection (RFC 6455 §4.2).

use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::{Connection, HeaderWritten, Role, State};
use crate::error::{Error, HandshakeError, UsageError};
use crate::event::{Event, MessageKind, Received};
use crate::frame::OpCode;
use crate::handshake::{self, Limits, Request};
use crate::time::Instant;

#[derive(Clone, Debug)]
enum Phase {
    /// Reading the request head; `scanned` bytes were already searched for its end.
    AwaitingRequest {
        config: Config,
        scanned: usize,
    },
    /// The request was handed to the application, which must accept or respond.
    /// `accept` is the Sec-WebSocket-Accept value when it is a valid upgrade.
    Deciding {
        config: Config,
        accept: Option<[u8; 28]>,
    },
    /// The handshake failed; this fixed response is owed.
    Rejecting(&'static [u8]),
    Open(Connection),
    /// A response other than 101 was sent: nothing more happens.
    Done,
}

/// The server side of one WebSocket connection, from the first byte of the request to the
/// end of the closing handshake.
///
/// Drive it with [`receive`](Self::receive) (bytes in, one [`Event`] at a time),
/// [`poll_transmit`](Self::poll_transmit) (owed bytes out),
/// [`poll_timeout`](Self::poll_timeout) / [`handle_timeout`](Self::handle_timeout)
/// (time in) and [`handle_eof`](Self::handle_eof) (the transport ended). On
/// [`Event::Request`], decide with [`accept`](Self::accept) or
/// [`respond`](Self::respond); then send with the `send_*` commands.
#[derive(Clone, Debug)]
pub struct Server {
    /// The configuration lives in the handshake phases and, once open, in the connection's
    /// compact copy, so that an open connection stays small.
    phase: Phase,
}

impl Server {
    /// A server connection waiting for its request, with the given limits and options.
    pub fn new(config: Config) -> Self {
        Server {
            phase: Phase::AwaitingRequest { config, scanned: 0 },
        }
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::AwaitingRequest { .. } | Phase::Deciding { .. } => State::Connecting,
            Phase::Rejecting(_) => State::Failed,
            Phase::Open(connection) => connection.state(),
            Phase::Done => State::Closed,
        }
    }

    /// Whether the caller should close the transport now: after the closing handshake,
    /// after a failure once the Close was sent, or after a rejection was sent.
    #[must_use]
    pub fn should_close_transport(&self) -> bool {
        match &self.phase {
            Phase::Open(connection) => connection.should_close_transport(),
            Phase::Done => true,
            _ => false,
        }
    }

    /// Feed received bytes; returns how many were used and at most one event (see
    /// [`Received`]). Payloads are unmasked in place and borrowed from `input`.
    ///
    /// Errors: [`Error::Handshake`] for a bad request (the response with its status is
    /// then queued for `poll_transmit`); [`Error::Protocol`] when the client breaks
    /// RFC 6455 (the Close is queued); [`UsageError::DecisionPending`] while a request
    /// waits for `accept` or `respond`.
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
        match &mut self.phase {
            Phase::Open(connection) => connection.receive(input, now),
            Phase::AwaitingRequest { config, scanned } => {
                let config = *config;
                let limits = Limits {
                    max_head_len: config.max_head_len,
                    max_headers: config.max_headers,
                };
                let input: &'b [u8] = input;
                let request = match Self::whole_head(input, scanned, &limits) {
                    Some(request) => request,
                    None => {
                        let head_len = match handshake::find_head_end(input, scanned, &limits) {
                            Ok(Some(len)) => len,
                            Ok(None) => {
                                return Ok(Received::without_event(0));
                            }
                            Err(error) => return Err(self.reject(error)),
                        };
                        match handshake::parse_request(&input[..head_len], &limits) {
                            Ok(request) => request,
                            Err(error) => return Err(self.reject(error)),
                        }
                    }
                };
                let head_len = request.head().len();
                let accept = if request.is_upgrade() {
                    match handshake::check_upgrade(&request) {
                        Ok(accept) => Some(accept),
                        Err(error) => return Err(self.reject(error)),
                    }
                } else {
                    None
                };
                self.phase = Phase::Deciding { config, accept };
                Ok(Received {
                    consumed: head_len,
                    event: Some(Event::Request(request)),
                })
            }
            Phase::Deciding { .. } => Err(UsageError::DecisionPending.into()),
            // Nothing is read after a rejection.
            Phase::Rejecting(_) | Phase::Done => Ok(Received::without_event(input.len())),
        }
    }

    /// The request, when its head arrived whole in the first input, as it nearly always
    /// does: parsed in one pass, without first searching for its end. `None` sends the
    /// input the general way (find the end, then parse), which also reports any error:
    /// a head httparse refuses here is refused the same way there, once it is complete.
    ///
    /// Only the first input qualifies (`scanned` is still 0), so a head that trickles in
    /// is not parsed again and again. httparse skips empty lines before a request line
    /// and the search for the end does not, so such input goes the general way too.
    fn whole_head<'b>(input: &'b [u8], scanned: &usize, limits: &Limits) -> Option<Request<'b>> {
        if *scanned != 0 || matches!(input.first(), None | Some(b'\r' | b'\n')) {
            return None;
        }
        let window = &input[..input.len().min(limits.max_head_len)];
        handshake::parse_request_prefix(window, limits)
            .ok()
            .flatten()
    }

    fn reject(&mut self, error: HandshakeError) -> Error {
        self.phase = Phase::Rejecting(handshake::rejection_for(error));
        Error::Handshake(error)
    }

    /// Accept the upgrade `request` (the one from the last [`Event::Request`]): write the
    /// 101 response (RFC 6455 §4.2.2) into `out` and open the connection. `subprotocol`
    /// must be one the client offered; `headers` are added to the response. Bytes that
    /// followed the request head in the input are the first frames: pass them to
    /// `receive` next.
    pub fn accept(
        &mut self,
        request: &Request<'_>,
        subprotocol: Option<&str>,
        headers: &[(&str, &[u8])],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let Phase::Deciding { config, accept } = self.phase else {
            return Err(UsageError::NoPendingRequest.into());
        };
        let Some(accept) = accept else {
            return Err(UsageError::NotAnUpgrade.into());
        };
        if let Some(protocol) = subprotocol {
            if !request.offers_subprotocol(protocol) {
                return Err(UsageError::UnofferedSubprotocol.into());
            }
        }
        let written = handshake::write_accept(out, &accept, subprotocol, headers)?;
        self.phase = Phase::Open(Connection::new(Role::Server, &config));
        Ok(written)
    }

    /// Answer the pending request with any other status (a rejection such as 403, or a
    /// plain HTTP answer such as 200 with a page), `headers` and `body`. The connection is
    /// then over: write the bytes and close the transport.
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if !matches!(self.phase, Phase::Deciding { .. }) {
            return Err(UsageError::NoPendingRequest.into());
        }
        let written = handshake::write_response(out, status, headers, body)?;
        self.phase = Phase::Done;
        Ok(written)
    }

    /// Write the bytes the protocol owes (a Pong, a Close, or a handshake rejection) into
    /// `out`; returns how many were written (0: nothing owed). Call it after every
    /// `receive` and `handle_timeout`. [`Error::BufferTooSmall`] if not even one frame
    /// fits (139 bytes always do).
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        match &mut self.phase {
            Phase::Open(connection) => connection.poll_transmit(out, || None),
            Phase::Rejecting(response) => {
                let response = *response;
                let Some(dest) = out.get_mut(..response.len()) else {
                    return Err(Error::BufferTooSmall {
                        needed: response.len(),
                    });
                };
                dest.copy_from_slice(response);
                self.phase = Phase::Done;
                Ok(response.len())
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

    /// Let time pass: ends a closing handshake the client does not finish, and sends
    /// keep-alive pings. [`Error::KeepAliveTimeout`] when a keep-alive Ping went
    /// unanswered.
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
            _ => {
                self.phase = Phase::Done;
                Err(Error::AbnormalClosure)
            }
        }
    }

    #[inline]
    fn connection(&mut self) -> Result<&mut Connection, Error> {
        match &mut self.phase {
            Phase::Open(connection) => Ok(connection),
            _ => Err(UsageError::NotOpen.into()),
        }
    }

    /// Encode a whole text message as one frame into `out`; returns the bytes written.
    #[inline]
    pub fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, Error> {
        self.connection()?
            .send_message(MessageKind::Text, text.as_bytes(), None, out)
    }

    /// Encode a whole binary message as one frame into `out`.
    #[inline]
    pub fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.connection()?
            .send_message(MessageKind::Binary, data, None, out)
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
        self.connection()?
            .send_fragment(kind, data, last, None, out)
    }

    /// Encode only the header of a data frame of `payload_len` bytes; the caller sends the
    /// payload itself right after it (for example in one vectored write, without copying).
    /// Nothing else may be written between the header and its payload. Text sent this
    /// way is not checked for UTF-8.
    #[inline]
    pub fn send_header(
        &mut self,
        kind: MessageKind,
        payload_len: u64,
        last: bool,
        out: &mut [u8],
    ) -> Result<HeaderWritten, Error> {
        self.connection()?
            .send_header(kind, payload_len, last, None, out)
    }

    /// Encode a Ping (at most 125 bytes of payload).
    pub fn ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.connection()?
            .send_control(OpCode::Ping, payload, None, out)
    }

    /// Encode a Pong (at most 125 bytes): the answer to a Ping when
    /// [`Config::auto_pong`] is off, or an unsolicited heartbeat.
    pub fn pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.connection()?
            .send_control(OpCode::Pong, payload, None, out)
    }

    /// Start the closing handshake with `code` and `reason` (at most 123 bytes), or answer
    /// the client's Close with this code instead of the echo. Any Pong still owed is
    /// written first. Nothing can be sent afterwards.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.connection()?.close(code, reason, now, || None, out)
    }
}
