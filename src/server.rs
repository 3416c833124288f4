//! The server role: read the upgrade request, let the application decide, then run the
//! connection (RFC 6455 §4.2).

use crate::config::Config;
use crate::connection::{Connection, State, Unmasked, deadline_after};
use crate::deflate::{self, DeflateParams};
use crate::endpoint::Endpoint;
use crate::error::{
    AbnormalClosure, BufferTooSmall, Error, HandshakeError, SendError, TimedOut, UsageError,
};
use crate::event::{Event, Received};
use crate::handshake::{self, Limits, Request};
use crate::time::Instant;

/// How [`Server::accept`] answers: the subprotocol chosen among the client's offers and
/// extra response headers. `Accept::default()` chooses none and adds none.
///
/// ```
/// use sockless::Accept;
/// let options = Accept::default()
///     .with_subprotocol("chat")
///     .with_headers(&[("Set-Cookie", b"id=1")]);
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Accept<'a> {
    /// The subprotocol, one the client offered (RFC 6455 §4.2.2 step 5.4).
    pub subprotocol: Option<&'a str>,
    /// Headers added to the 101 response.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// permessage-deflate with these parameters (RFC 7692), chosen among the client's
    /// offers with [`deflate::negotiate`](crate::deflate::negotiate).
    pub deflate: Option<DeflateParams>,
}

impl<'a> Accept<'a> {
    /// No subprotocol, no extension, no extra header: [`Accept::default`] as a constant.
    pub const DEFAULT: Accept<'static> = Accept {
        subprotocol: None,
        headers: &[],
        deflate: None,
    };

    /// With `subprotocol` chosen.
    pub const fn with_subprotocol(mut self, subprotocol: &'a str) -> Self {
        self.subprotocol = Some(subprotocol);
        self
    }

    /// With permessage-deflate accepted with `params` (from
    /// [`deflate::negotiate`](crate::deflate::negotiate)); `None` declines it.
    pub const fn with_deflate(mut self, params: Option<DeflateParams>) -> Self {
        self.deflate = params;
        self
    }

    /// With `headers` added to the response.
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }
}

#[derive(Clone, Debug)]
enum Phase {
    /// Reading the request head; `scanned` bytes were already searched for its end.
    AwaitingRequest {
        config: Config,
        scanned: usize,
        deadline: Instant,
    },
    /// The request was handed to the application, which must accept or respond.
    /// `accept` is the Sec-WebSocket-Accept value when it is a valid upgrade.
    Deciding {
        config: Config,
        accept: Option<[u8; 28]>,
        deadline: Instant,
    },
    /// The handshake failed or timed out; this fixed response is owed.
    Rejecting(&'static [u8]),
    Open(Connection<Unmasked>),
    /// A response other than 101 was sent: nothing more happens.
    Done,
}

/// The server side of one WebSocket connection, from the first byte of the request to the
/// end of the closing handshake.
///
/// Drive it through [`Endpoint`]. On [`Event::Request`], decide with
/// [`accept`](Self::accept) or [`respond`](Self::respond); once accepted, send through
/// [`Endpoint::connection`].
#[derive(Clone, Debug)]
pub struct Server {
    /// The configuration lives in the handshake phases and, once open, in the connection's
    /// compact copy, so that an open connection stays small.
    phase: Phase,
}

impl Server {
    /// A server connection waiting for its request, with the given limits and options.
    /// `now` starts the handshake deadline ([`Config::handshake_timeout`]).
    pub fn new(config: Config, now: Instant) -> Self {
        Server {
            phase: Phase::AwaitingRequest {
                config,
                scanned: 0,
                deadline: deadline_after(now, config.handshake_timeout),
            },
        }
    }

    /// [`receive`](Endpoint::receive) in the other phases, kept out of line so that the
    /// frame path inlines into the caller's loop.
    fn receive_handshake<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b>, UsageError> {
        let (config, scanned, deadline) = match &mut self.phase {
            Phase::Open(connection) => {
                return connection.receive_frames(input, now);
            }
            Phase::AwaitingRequest {
                config,
                scanned,
                deadline,
            } => (*config, scanned, *deadline),
            Phase::Deciding { .. } => return Err(UsageError::DecisionPending),
            // Nothing is read after a rejection.
            Phase::Rejecting(_) | Phase::Done => return Ok(Received::without_event(input.len())),
        };
        let limits = Limits {
            max_head_len: config.max_head_len,
            max_headers: config.max_headers,
        };
        let input: &'b [u8] = input;
        let request = match Self::whole_head(input, scanned, &limits) {
            Some(request) => request,
            None => {
                let parsed = handshake::find_head_end(input, scanned, &limits).and_then(|end| {
                    end.map(|len| handshake::parse_request(&input[..len], &limits))
                        .transpose()
                });
                match parsed {
                    Ok(Some(request)) => request,
                    Ok(None) => return Ok(Received::without_event(0)),
                    Err(error) => return Ok(self.reject(error, input.len())),
                }
            }
        };
        let head_len = request.head().len();
        let accept = if request.is_upgrade() {
            match handshake::check_upgrade(&request) {
                Ok(accept) => Some(accept),
                Err(error) => return Ok(self.reject(error, input.len())),
            }
        } else {
            None
        };
        self.phase = Phase::Deciding {
            config,
            accept,
            deadline,
        };
        Ok(Received {
            consumed: head_len,
            event: Some(Event::Request(request)),
            place: crate::event::Place::INPUT,
            borrow: core::marker::PhantomData,
        })
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

    /// The handshake failed: queue the response its status calls for, drop the input.
    fn reject<'b>(&mut self, error: HandshakeError, input_len: usize) -> Received<'b> {
        self.phase = Phase::Rejecting(handshake::rejection_for(error));
        Received {
            consumed: input_len,
            event: Some(Event::HandshakeFailed(error)),
            place: crate::event::Place::INPUT,
            borrow: core::marker::PhantomData,
        }
    }

    /// Accept the upgrade `request` (the one from the last [`Event::Request`]): write the
    /// 101 response (RFC 6455 §4.2.2) into `out` and open the connection; `now` starts its
    /// keep-alive timer. The subprotocol in `options` must be one the client offered, and
    /// permessage-deflate (RFC 7692) may be accepted only if the client offered it.
    /// Bytes that followed the request head in the input are the first frames: pass them
    /// to `receive` next (an [`InputBuffer`](crate::InputBuffer) kept them).
    pub fn accept(
        &mut self,
        request: &Request<'_>,
        options: Accept<'_>,
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let Phase::Deciding { config, accept, .. } = self.phase else {
            return Err(UsageError::NoPendingRequest.into());
        };
        let Some(accept) = accept else {
            return Err(UsageError::NotAnUpgrade.into());
        };
        if let Some(protocol) = options.subprotocol {
            if !request.offers_subprotocol(protocol) {
                return Err(UsageError::UnofferedSubprotocol.into());
            }
        }
        if options.deflate.is_some() && !deflate::offered(request.extensions()) {
            return Err(UsageError::UnofferedExtension.into());
        }
        let connection = Connection::server(&config, now)
            .with_subprotocol(options.subprotocol)?
            .with_deflate(options.deflate);
        let extension = options
            .deflate
            .map(|params| params.response_value_for(request.extensions()));
        let written = handshake::write_accept_with(
            out,
            &accept,
            options.subprotocol,
            extension.as_ref().map(|value| value.as_str()),
            options.headers,
        )
        .map_err(Error::into_send_error)?;
        self.phase = Phase::Open(connection);
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
    ) -> Result<usize, SendError> {
        if !matches!(self.phase, Phase::Deciding { .. }) {
            return Err(UsageError::NoPendingRequest.into());
        }
        let written = handshake::write_response(out, status, headers, body)
            .map_err(Error::into_send_error)?;
        self.phase = Phase::Done;
        Ok(written)
    }

    /// The open connection, by value, once the handshake is done (to keep only what an
    /// open connection needs); the server back otherwise.
    // The `Err` gives the endpoint itself back (as `Rc::try_unwrap` does), so its size is
    // the endpoint's, by design.
    #[allow(clippy::result_large_err)]
    pub fn into_connection(self) -> Result<Connection<Unmasked>, Server> {
        match self.phase {
            Phase::Open(connection) => Ok(connection),
            phase => Err(Server { phase }),
        }
    }
}

impl Endpoint for Server {
    type Phase = crate::event::Opening;
    type Masking = Unmasked;

    #[inline]
    fn receive<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b>, UsageError> {
        match &mut self.phase {
            Phase::Open(connection) => connection.receive_frames(input, now),
            _ => self.receive_handshake(input, now),
        }
    }

    fn wants_transmit(&self) -> bool {
        match &self.phase {
            Phase::Open(connection) => connection.owes_control_frames(),
            _ => true,
        }
    }

    fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        match &mut self.phase {
            Phase::Open(connection) => connection.transmit_owed(out),
            Phase::Rejecting(response) => {
                let response = *response;
                let Some(dest) = out.get_mut(..response.len()) else {
                    return Err(BufferTooSmall {
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

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::AwaitingRequest { deadline, .. } | Phase::Deciding { deadline, .. } => {
                Some(*deadline)
            }
            Phase::Open(connection) => connection.poll_timeout(),
            Phase::Rejecting(_) | Phase::Done => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<TimedOut> {
        match &mut self.phase {
            Phase::AwaitingRequest { deadline, .. } | Phase::Deciding { deadline, .. } => {
                if now < *deadline {
                    return None;
                }
                // A request that never finished (or a decision never made): 408.
                self.phase = Phase::Rejecting(handshake::REQUEST_TIMEOUT_408);
                Some(TimedOut::Handshake)
            }
            Phase::Open(connection) => connection.handle_timeout(now),
            Phase::Rejecting(_) | Phase::Done => None,
        }
    }

    fn handle_eof(&mut self) -> Result<(), AbnormalClosure> {
        match &mut self.phase {
            Phase::Open(connection) => connection.handle_eof(),
            Phase::Done => Ok(()),
            _ => {
                self.phase = Phase::Done;
                Err(AbnormalClosure)
            }
        }
    }

    fn state(&self) -> State {
        match &self.phase {
            Phase::AwaitingRequest { .. } | Phase::Deciding { .. } => State::Connecting,
            Phase::Rejecting(_) => State::Failed,
            Phase::Open(connection) => connection.state(),
            Phase::Done => State::Closed,
        }
    }

    fn should_close_transport(&self) -> bool {
        match &self.phase {
            Phase::Open(connection) => connection.should_close_transport(),
            Phase::Done => true,
            _ => false,
        }
    }

    fn awaiting_pong(&self) -> bool {
        match &self.phase {
            Phase::Open(connection) => connection.awaiting_pong(),
            _ => false,
        }
    }

    #[inline]
    fn connection(&mut self) -> Result<&mut Connection<Unmasked>, UsageError> {
        match &mut self.phase {
            Phase::Open(connection) => Ok(connection),
            _ => Err(UsageError::NotOpen),
        }
    }

    fn into_connection(self) -> Result<Connection<Unmasked>, Self> {
        Self::into_connection(self)
    }
}
