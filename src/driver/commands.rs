//! What the application asks of a driven connection: messages and control frames staged
//! for the transport, and a server's decision on the request.

use super::{Core, Driver, End, EventKind};
use crate::close::CloseCode;
use crate::connection::Connection;
use crate::endpoint::Endpoint;
use crate::error::{SendError, UsageError};
use crate::event::MessageKind;
use crate::handshake;
use crate::input::InputBuffer;
use crate::server::{Accept, Server};
use crate::time::Instant;

/// A server's answer to the request ([`Driver::decide`]): one type for every adapter.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub enum Decision<'a> {
    /// Upgrade, with these options (subprotocol, permessage-deflate, extra headers).
    Accept(Accept<'a>),
    /// Answer with another status (a rejection such as 403, or a page for a plain GET),
    /// these headers and this body; the connection then ends.
    Respond {
        /// The HTTP status.
        status: u16,
        /// Extra header lines.
        headers: &'a [(&'a str, &'a [u8])],
        /// The body.
        body: &'a [u8],
    },
    /// Upgrade if the request is an upgrade, else answer 400 (the default).
    #[default]
    AcceptUpgrade,
}

impl<'a> Decision<'a> {
    /// Upgrade with no subprotocol, extension or extra header.
    pub const fn accept() -> Self {
        Decision::Accept(Accept::DEFAULT)
    }

    /// Answer `status` with an empty body.
    pub const fn reject(status: u16) -> Self {
        Decision::Respond {
            status,
            headers: &[],
            body: &[],
        }
    }
}

impl Decision<'static> {
    /// Accept any upgrade with no subprotocol, and answer anything else with 426 Upgrade
    /// Required and the headers that name the protocol (RFC 6455 §4.2.2, RFC 9110
    /// §15.5.22).
    pub fn default_for(request: &crate::Request<'_>) -> Self {
        if request.is_upgrade() {
            Decision::accept()
        } else {
            Decision::Respond {
                status: 426,
                headers: &[("Upgrade", b"websocket"), ("Connection", b"Upgrade")],
                body: b"",
            }
        }
    }

    /// [`default_for`](Self::default_for), accepting permessage-deflate (RFC 7692) too
    /// when the request offers it, on `config`'s terms (the first offer that
    /// [`deflate::negotiate`](crate::deflate::negotiate) can answer; none: accepted
    /// without it). Whoever inflates needs a window of 2^`config.receive_window_bits`
    /// bytes.
    ///
    /// ```
    /// use sockless::deflate::DeflateConfig;
    /// use sockless::driver::Decision;
    /// // A 1 KiB window: clients are asked to compress within 2^10 bytes.
    /// let config = DeflateConfig::default().with_receive_window_bits(10);
    /// let decide = |request: &sockless::Request<'_>| Decision::accept_deflate(request, &config);
    /// # let _ = decide;
    /// ```
    #[cfg(feature = "deflate")]
    pub fn accept_deflate(
        request: &crate::Request<'_>,
        config: &crate::deflate::DeflateConfig,
    ) -> Self {
        match Decision::default_for(request) {
            Decision::Accept(accept) => {
                let params = crate::deflate::negotiate(request.extensions(), config);
                Decision::Accept(accept.with_deflate(params))
            }
            other => other,
        }
    }
}

impl<E, O> Core<E, O>
where
    E: Endpoint,
    O: AsRef<[u8]> + AsMut<[u8]>,
{
    /// Stage what `encode` writes into the free output; `now` starts the write deadline
    /// if nothing was waiting.
    fn stage(
        &mut self,
        now: Instant,
        encode: impl FnOnce(&mut Connection<E::Masking>, &mut [u8]) -> Result<usize, SendError>,
    ) -> Result<(), SendError> {
        let connection = self.endpoint.connection()?;
        let written = encode(connection, self.output.space())?;
        self.output.staged(written);
        self.owe_output(now);
        Ok(())
    }

    /// Stage a whole text message (RFC 6455 §5.6), copied (and masked, for a client).
    pub fn send_text(&mut self, text: &str, now: Instant) -> Result<(), SendError> {
        self.stage(now, |connection, out| connection.send_text(text, out))
    }

    /// Stage a whole binary message, copied (and masked, for a client).
    pub fn send_binary(&mut self, data: &[u8], now: Instant) -> Result<(), SendError> {
        self.stage(now, |connection, out| connection.send_binary(data, out))
    }

    /// Stage one fragment of a message (§5.4); see
    /// [`Connection::send_fragment`].
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
        now: Instant,
    ) -> Result<(), SendError> {
        self.stage(now, |connection, out| {
            connection.send_fragment(kind, data, last, out)
        })
    }

    /// Send a whole message (RFC 6455 §5.6) the cheapest way. One that takes at most a
    /// quarter of the output is staged, copied (and masked, for a client). A larger one
    /// gets only its header staged: its payload is then owed from `data`, so while
    /// [`transmit`](Self::transmit) has a `payload_len`, write the
    /// [`write_parts`](Self::write_parts) of `data`, never copied in whole. A text message
    /// is checked for UTF-8 either way ([`UsageError::InvalidUtf8`], nothing staged).
    pub fn send_message(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        now: Instant,
    ) -> Result<(), SendError> {
        if data.len() <= self.output.capacity() / 4 {
            return self.send_fragment(kind, data, true, now);
        }
        if kind == MessageKind::Text {
            crate::utf8::validate_whole(data).map_err(|_| UsageError::InvalidUtf8)?;
        }
        self.send_header(kind, data.len() as u64, true, now)
            .map(drop)
    }

    /// Stage a data frame permessage-deflate compressed (RFC 7692): see
    /// [`Connection::send_compressed`].
    pub fn send_compressed(
        &mut self,
        kind: MessageKind,
        compressed: &[u8],
        now: Instant,
    ) -> Result<(), SendError> {
        self.stage(now, |connection, out| {
            connection.send_compressed(kind, compressed, out)
        })
    }

    /// Stage only the header of a data frame of `len` payload bytes: the payload is the
    /// caller's, written from where it lies after the staged bytes
    /// ([`transmit`](Self::transmit) names the range), so a large message is never copied.
    /// A client first masks its payload with the returned key
    /// ([`frame::apply_mask`](crate::frame::apply_mask) at offset 0). Until all of it is
    /// written nothing else is staged (commands give
    /// [`UsageError::PayloadPending`]). Text sent this way is not checked for UTF-8.
    pub fn send_header(
        &mut self,
        kind: MessageKind,
        len: u64,
        last: bool,
        now: Instant,
    ) -> Result<Option<[u8; 4]>, SendError> {
        let connection = self.endpoint.connection()?;
        let header = connection.send_header(kind, len, last, self.output.space())?;
        self.output.staged(header.len);
        self.output.payload_follows(len, header.mask);
        self.owe_output(now);
        Ok(header.mask)
    }

    /// Stage a Ping (§5.5.2, at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8], now: Instant) -> Result<(), SendError> {
        self.stage(now, |connection, out| connection.ping(payload, out))?;
        self.urgent = true;
        Ok(())
    }

    /// Stage a Pong (§5.5.3): the answer to a Ping when auto-pong is off.
    pub fn pong(&mut self, payload: &[u8], now: Instant) -> Result<(), SendError> {
        self.stage(now, |connection, out| connection.pong(payload, out))?;
        self.urgent = true;
        Ok(())
    }

    /// Start the closing handshake (§7.1.2), or answer the peer's Close with this code;
    /// `now` starts the close timeout. The connection ends when the peer answers (or the
    /// server closes the transport, for a client), or at the close timeout.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        self.stage(now, |connection, out| {
            connection.close(code, reason, now, out)
        })?;
        self.urgent = true;
        Ok(())
    }
}

impl<S, O> Driver<Server, S, O>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
    O: AsRef<[u8]> + AsMut<[u8]>,
{
    /// Answer the request the last [`Event::Request`](crate::Event::Request) showed: the
    /// 101 response or another answer is staged, and the driver goes on (the first frames
    /// that followed the head are read next). Until this is called,
    /// [`poll`](Driver::poll) gives the request's event again (and the handshake deadline
    /// still runs). [`UsageError::NoPendingRequest`] if there is no request.
    pub fn decide(&mut self, decision: Decision<'_>, now: Instant) -> Result<(), SendError> {
        let Driver { core, input } = self;
        core.decide_in(input, decision, now)
    }

    /// Answer the pending request with what `decide` makes of it, by the rules every
    /// adapter follows (RFC 6455 §4.2.2):
    ///
    /// - `decide` sees the whole request, and its decision may borrow it (a subprotocol
    ///   chosen among [`Request::subprotocols`](crate::Request::subprotocols)) or
    ///   anything that outlives the call (a header value made beforehand);
    /// - an [`Accept`](Decision::Accept) of a request that is not an upgrade is answered
    ///   400 Bad Request;
    /// - a decision the server cannot carry out (a subprotocol the client did not offer,
    ///   an invalid header, an answer larger than the output buffer) is answered 500
    ///   Internal Server Error, and the connection ends as
    ///   [`End::Usage`] with that mistake once the 500 is written; the mistake is
    ///   returned too.
    ///
    /// [`UsageError::NoPendingRequest`] if no request waits for an answer.
    pub fn decide_with<'d, F>(&'d mut self, now: Instant, decide: F) -> Result<(), UsageError>
    where
        F: FnOnce(&crate::Request<'d>) -> Decision<'d>,
    {
        let Driver { core, input } = self;
        core.decide_with_in(input, now, decide)
    }
}

impl<O> Core<Server, O>
where
    O: AsRef<[u8]> + AsMut<[u8]>,
{
    /// [`Driver::decide`], the request's head in `input`, the connection's input kept by
    /// the caller.
    pub fn decide_in<S: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        input: &InputBuffer<S>,
        decision: Decision<'_>,
        now: Instant,
    ) -> Result<(), SendError> {
        let request = self.pending_request(input)?;
        self.carry_out(&request, decision, now)
    }

    /// [`Driver::decide_with`], the request's head in `input`, the connection's input kept
    /// by the caller.
    pub fn decide_with_in<'d, S, F>(
        &mut self,
        input: &'d InputBuffer<S>,
        now: Instant,
        decide: F,
    ) -> Result<(), UsageError>
    where
        S: AsRef<[u8]> + AsMut<[u8]>,
        F: FnOnce(&crate::Request<'d>) -> Decision<'d>,
    {
        let request = self.pending_request(input)?;
        let decision = match decide(&request) {
            // §4.2.1: only an upgrade request can be accepted.
            Decision::Accept(_) if !request.is_upgrade() => Decision::reject(400),
            decision => decision,
        };
        let mistake = match self.carry_out(&request, decision, now) {
            Ok(()) => return Ok(()),
            Err(SendError::Usage(mistake)) => mistake,
            Err(SendError::NoRoom { .. }) => UsageError::OutputBufferTooSmall,
        };
        // The client learns that the server failed, the caller what it got wrong. A bare
        // 500 is a few dozen bytes: it fits any output that could take a 101.
        let _ = self.carry_out(&request, Decision::reject(500), now);
        self.pending = None;
        self.end = Some(End::Usage(mistake));
        Err(mistake)
    }

    /// The request the pending event shows, parsed from its head in `input`.
    fn pending_request<'i, S: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        input: &'i InputBuffer<S>,
    ) -> Result<handshake::Request<'i>, UsageError> {
        let Some(handle) = self.pending.filter(|h| h.kind() == EventKind::Request) else {
            return Err(UsageError::NoPendingRequest);
        };
        let head = &input.storage()[handle.range()];
        handshake::parse_request(head, &self.limits).map_err(|_| UsageError::NoPendingRequest)
    }

    /// Stage the answer `decision` gives `request`.
    fn carry_out(
        &mut self,
        request: &handshake::Request<'_>,
        decision: Decision<'_>,
        now: Instant,
    ) -> Result<(), SendError> {
        let out = self.output.space();
        let decision = match decision {
            Decision::AcceptUpgrade if request.is_upgrade() => Decision::accept(),
            Decision::AcceptUpgrade => Decision::reject(400),
            decision => decision,
        };
        let (written, end) = match decision {
            Decision::Accept(options) => (self.endpoint.accept(request, options, now, out)?, None),
            Decision::Respond {
                status,
                headers,
                body,
            } => (
                self.endpoint.respond(status, headers, body, out)?,
                Some(End::Rejected { status }),
            ),
            Decision::AcceptUpgrade => unreachable!("resolved above"),
        };
        self.output.staged(written);
        self.urgent = true;
        self.owe_output(now);
        self.pending = None;
        if let Some(end) = end {
            self.end.get_or_insert(end);
        }
        Ok(())
    }
}
