//! The client role: send the upgrade request, check the response, then run the
//! connection (RFC 6455 §4.1).

use rand_core::Rng;

use crate::config::Config;
use crate::connection::{Connection, DeflateParams, Masked, State, deadline_after};
use crate::deflate;
use crate::endpoint::Endpoint;
use crate::error::{AbnormalClosure, BufferTooSmall, HandshakeError, TimedOut, UsageError};
use crate::event::{Event, Received};
use crate::handshake::{self, ClientRequest, Limits, Response};
use crate::subprotocol::{MAX_SUBPROTOCOL_LEN, Subprotocol};
use crate::time::Instant;

#[derive(Clone, Debug)]
enum Phase<'a, R> {
    /// The request is owed (`sent` false) or sent and the response awaited; `scanned`
    /// bytes of the response were already searched for its end.
    Handshaking {
        /// The configuration, whose `handshake_timeout` holds the handshake's deadline (as
        /// the time since the epoch) once the client is made: the timeout has no other use
        /// then, and this keeps the client within 256 bytes.
        config: Config,
        request: ClientRequest<'a>,
        /// The random nonce whose base64 form is `Sec-WebSocket-Key` (kept raw: smaller).
        nonce: [u8; 16],
        sent: bool,
        /// Kept in 32 bits (heads are at most 1 GiB) so that the client stays small.
        scanned: u32,
        /// How what the request offers is written and its answer checked, chosen by `new`.
        offers: &'static Offers,
        rng: R,
    },
    Open(Connection<Masked<R>>),
    /// The handshake failed, timed out or was refused: nothing more happens.
    Done,
}

/// The client side of one WebSocket connection, from the upgrade request to the end of the
/// closing handshake.
///
/// Randomness (the handshake key, a fresh masking key for every frame, RFC 6455 §5.3)
/// comes from `rng`; with the `std` feature, `OsRng` is a ready source.
///
/// Drive it through [`Endpoint`]: [`poll_transmit`](Endpoint::poll_transmit) first gives
/// the request; once [`Event::Connected`] arrived, send through
/// [`Endpoint::connection`]. The client borrows its request (`'a`) only for the handshake:
/// [`into_connection`](Self::into_connection) then gives an open [`Connection`] that
/// borrows nothing.
#[derive(Clone, Debug)]
pub struct Client<'a, R> {
    phase: Phase<'a, R>,
}

impl<'a, R: Rng> Client<'a, R> {
    /// A client that will send `request`. Checks every caller-given string of the request
    /// (no header injection; offered subprotocols are tokens of at most
    /// [`MAX_SUBPROTOCOL_LEN`](crate::MAX_SUBPROTOCOL_LEN) bytes) and draws the 16-byte key
    /// from `rng`. `now` starts the handshake deadline ([`Config::handshake_timeout`]).
    pub fn new(
        request: ClientRequest<'a>,
        config: Config,
        mut rng: R,
        now: Instant,
    ) -> Result<Self, UsageError> {
        request.validate()?;
        if request
            .subprotocols
            .iter()
            .any(|p| p.len() > MAX_SUBPROTOCOL_LEN)
        {
            return Err(UsageError::InvalidSubprotocol);
        }
        let mut nonce = [0; 16];
        rng.fill_bytes(&mut nonce);
        // A request that offers nothing is answered by a response that accepts nothing;
        // chosen here, where a request built from constants is known, so that a program
        // whose requests never offer anything does not link the negotiation at all.
        let offers: &'static Offers = if request.offers_nothing() {
            const {
                &Offers {
                    put: |_, _| {},
                    negotiate: accept_nothing,
                }
            }
        } else {
            const {
                &Offers {
                    put: |request, s| request.put_offers(s),
                    negotiate: negotiate_offers,
                }
            }
        };
        let deadline = deadline_after(now, config.handshake_timeout);
        let phase = Phase::Handshaking {
            config: Config {
                handshake_timeout: deadline.elapsed_since_epoch(),
                ..config
            },
            request,
            nonce,
            sent: false,
            scanned: 0,
            offers,
            rng,
        };
        Ok(Client { phase })
    }

    /// A client for a `ws://` or `wss://` URL (host, port, path and query taken from it).
    /// For `wss://`, the caller provides the TLS layer underneath.
    pub fn connect(url: &'a str, config: Config, rng: R, now: Instant) -> Result<Self, UsageError> {
        Client::new(ClientRequest::from_url(url)?, config, rng, now)
    }

    /// The open connection, by value, once the handshake is done: it borrows nothing, so it
    /// can be stored for the rest of the connection's life. The client back otherwise.
    // The `Err` gives the endpoint itself back (as `Rc::try_unwrap` does), so its size is
    // the endpoint's, by design.
    #[allow(clippy::result_large_err)]
    pub fn into_connection(self) -> Result<Connection<Masked<R>>, Self> {
        match self.phase {
            Phase::Open(connection) => Ok(connection),
            phase => Err(Client { phase }),
        }
    }

    /// [`receive`](Endpoint::receive) before the connection is open, kept out of line so
    /// that the frame path inlines into the caller's loop.
    fn receive_handshake<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b>, UsageError> {
        let (config, request, nonce, scanned, offers) = match &mut self.phase {
            Phase::Open(connection) => return connection.receive_frames(input, now),
            Phase::Done => return Ok(Received::without_event(input.len())),
            Phase::Handshaking {
                config,
                request,
                nonce,
                scanned,
                offers,
                ..
            } => (*config, *request, *nonce, scanned, *offers),
        };
        let limits = Limits {
            max_head_len: config.max_head_len,
            max_headers: config.max_headers,
        };
        let input: &'b [u8] = input;
        let failed = |error| {
            Ok(Received {
                consumed: input.len(),
                event: Some(Event::HandshakeFailed(error)),
                place: crate::event::Place::INPUT,
                borrow: core::marker::PhantomData,
            })
        };
        let mut searched = *scanned as usize;
        let found = handshake::find_head_end(input, &mut searched, &limits);
        *scanned = u32::try_from(searched).unwrap_or(u32::MAX);
        let head_len = match found {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(Received::without_event(0)),
            Err(error) => {
                self.phase = Phase::Done;
                return failed(error);
            }
        };
        let Phase::Handshaking { rng, .. } = core::mem::replace(&mut self.phase, Phase::Done)
        else {
            unreachable!("matched above")
        };
        let response = match handshake::parse_response(&input[..head_len], &limits) {
            Ok(response) => response,
            Err(error) => return failed(error),
        };
        if response.status() != 101 {
            return Ok(Received {
                consumed: head_len,
                event: Some(Event::Rejected(response)),
                place: crate::event::Place::INPUT,
                borrow: core::marker::PhantomData,
            });
        }
        let expected = handshake::accept_value(&handshake::encode_key(&nonce));
        let (subprotocol, deflate) = match (offers.negotiate)(&response, &expected, &request) {
            Ok(agreed) => agreed,
            Err(error) => return failed(error),
        };
        // Made in place (no copy of the whole connection).
        self.phase = Phase::Open(Connection::client(&config, rng, now));
        if let Phase::Open(connection) = &mut self.phase {
            connection.set_agreed(subprotocol, deflate);
        }
        Ok(Received {
            consumed: head_len,
            event: Some(Event::Connected(response)),
            place: crate::event::Place::INPUT,
            borrow: core::marker::PhantomData,
        })
    }
}

/// The deadline of the opening handshake, which `Client::new` keeps in the configuration.
fn handshake_deadline(config: &Config) -> Instant {
    Instant::from_elapsed(config.handshake_timeout)
}

/// What a request offers (subprotocols, extensions), written and negotiated: by
/// `ClientRequest::put_offers` and [`negotiate_offers`], or, for a request that offers
/// nothing, by nothing and [`accept_nothing`].
#[derive(Debug)]
struct Offers {
    put: fn(&ClientRequest<'_>, &mut handshake::Sink<'_>),
    negotiate: Negotiate,
}

/// The checks of a 101 response that depend on what the request offered (RFC 6455 §4.1),
/// and what they agreed on for the connection: its subprotocol and permessage-deflate
/// parameters.
type Negotiate = fn(
    &Response<'_>,
    &[u8; 28],
    &ClientRequest<'_>,
) -> Result<(Subprotocol, Option<DeflateParams>), HandshakeError>;

/// For a request that offers no subprotocol and no extension: every check of RFC 6455
/// §4.1, where any `Sec-WebSocket-Protocol` fails as a subprotocol not offered and any
/// `Sec-WebSocket-Extensions` element as an extension not offered.
fn accept_nothing(
    response: &Response<'_>,
    expected: &[u8; 28],
    _request: &ClientRequest<'_>,
) -> Result<(Subprotocol, Option<DeflateParams>), HandshakeError> {
    handshake::check_response_to_no_offer(response, expected)?;
    Ok((Subprotocol::default(), None))
}

/// For a request that offers subprotocols or extensions: every check of RFC 6455 §4.1,
/// then the permessage-deflate answer against our offers (RFC 7692 §7.1).
fn negotiate_offers(
    response: &Response<'_>,
    expected: &[u8; 28],
    request: &ClientRequest<'_>,
) -> Result<(Subprotocol, Option<DeflateParams>), HandshakeError> {
    // Our permessage-deflate offer, as the element `write` sent (RFC 7692 §7.1).
    let offer = request.deflate.map(|config| config.offer_element());
    handshake::check_response_with(response, expected, request.subprotocols, |ext| {
        handshake::was_offered(ext, request.extensions)
            || offer.is_some() && handshake::was_offered(ext, &[deflate::EXTENSION_NAME])
    })?;
    // RFC 7692 §7.1: the permessage-deflate answer fits one of our offers.
    let offers = request
        .extensions
        .iter()
        .copied()
        .filter_map(deflate::parse_offer);
    let deflate = deflate::check_response_to(offers.chain(offer), response.extensions())?;
    // The chosen subprotocol is one we offered, so it fits (checked in `new`).
    let subprotocol = match response.subprotocol() {
        Some(name) => Subprotocol::new(name).map_err(|_| HandshakeError::UnofferedSubprotocol)?,
        None => Subprotocol::default(),
    };
    Ok((subprotocol, deflate))
}

impl<R: Rng> Endpoint for Client<'_, R> {
    type Phase = crate::event::Opening;
    type Masking = Masked<R>;

    /// The response head gives [`Event::Connected`], [`Event::Rejected`] or
    /// [`Event::HandshakeFailed`]; bytes after it are the first frames.
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
            Phase::Handshaking {
                request,
                nonce,
                sent: sent @ false,
                offers,
                ..
            } => {
                // Validated by `new`: only the buffer can be too small.
                let key = handshake::encode_key(nonce);
                let written = request.write_with(&key, out, offers.put)?;
                *sent = true;
                Ok(written)
            }
            Phase::Open(connection) => connection.transmit_owed(out),
            _ => Ok(0),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Handshaking { config, .. } => Some(handshake_deadline(config)),
            Phase::Open(connection) => connection.poll_timeout(),
            Phase::Done => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<TimedOut> {
        match &mut self.phase {
            Phase::Handshaking { config, .. } => {
                if now < handshake_deadline(config) {
                    return None;
                }
                // The server never answered: give up (nothing to send).
                self.phase = Phase::Done;
                Some(TimedOut::Handshake)
            }
            Phase::Open(connection) => connection.handle_timeout(now),
            Phase::Done => None,
        }
    }

    fn handle_eof(&mut self) -> Result<(), AbnormalClosure> {
        match &mut self.phase {
            Phase::Open(connection) => connection.handle_eof(),
            Phase::Done => Ok(()),
            Phase::Handshaking { .. } => {
                self.phase = Phase::Done;
                Err(AbnormalClosure)
            }
        }
    }

    fn state(&self) -> State {
        match &self.phase {
            Phase::Handshaking { .. } => State::Connecting,
            Phase::Open(connection) => connection.state(),
            Phase::Done => State::Closed,
        }
    }

    fn should_close_transport(&self) -> bool {
        match &self.phase {
            Phase::Open(connection) => connection.should_close_transport(),
            Phase::Done => true,
            Phase::Handshaking { .. } => false,
        }
    }

    fn awaiting_pong(&self) -> bool {
        match &self.phase {
            Phase::Open(connection) => connection.awaiting_pong(),
            _ => false,
        }
    }

    #[inline]
    fn connection(&mut self) -> Result<&mut Connection<Masked<R>>, UsageError> {
        match &mut self.phase {
            Phase::Open(connection) => Ok(connection),
            _ => Err(UsageError::NotOpen),
        }
    }

    fn into_connection(self) -> Result<Connection<Masked<R>>, Self> {
        Self::into_connection(self)
    }
}
