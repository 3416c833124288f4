//! The opening handshakes over tokio: [`accept`] and [`connect`] and their variants, each
//! bounded by [`Config::handshake_timeout`](crate::Config::handshake_timeout).

use alloc::string::String;
use alloc::vec::Vec;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant as TokioInstant;

use super::{Core, MaskRng, Settings, WebSocketStream, new_input};
use crate::endpoint::Endpoint;
use crate::error::TimedOut;
use crate::event::Event;
use crate::handshake::{Request, WsUrl};
use crate::io::Error;
use crate::server::{Accept, Server};
use crate::time::Instant;
use crate::{Client, MIN_OUTPUT_BUFFER};

/// How a server answers a request, chosen by the callback of [`accept_with`] after it
/// read every header of the request ([`Request::path`], [`Request::header`],
/// [`Request::subprotocols`]...), before anything is written.
///
/// ```
/// use sockless::io::tokio::Decision;
/// let accept = Decision::accept().with_subprotocol("chat").with_header("Set-Cookie", "id=1");
/// let refuse = Decision::respond(403, "not for you\n");
/// # let _ = (accept, refuse);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Accept the upgrade (101), with a subprotocol the client offered and extra headers.
    /// A request that is not an upgrade is answered 400 instead.
    Accept {
        /// The subprotocol, one of the client's offers.
        subprotocol: Option<String>,
        /// Headers added to the 101 response.
        headers: Vec<(String, Vec<u8>)>,
    },
    /// Answer with another status (a refusal, or a plain HTTP page) and end.
    Respond {
        /// The status.
        status: u16,
        /// The response headers.
        headers: Vec<(String, Vec<u8>)>,
        /// The body.
        body: Vec<u8>,
    },
}

impl Decision {
    /// Accept the upgrade, no subprotocol, no extra header.
    pub fn accept() -> Self {
        Decision::Accept {
            subprotocol: None,
            headers: Vec::new(),
        }
    }

    /// Answer with `status` and `body` (and no upgrade).
    pub fn respond(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Decision::Respond {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// With `subprotocol` chosen (an [`Accept`](Self::Accept) only).
    pub fn with_subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        if let Decision::Accept {
            subprotocol: chosen,
            ..
        } = &mut self
        {
            *chosen = Some(subprotocol.into());
        }
        self
    }

    /// With a response header added.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        let (Decision::Accept { headers, .. } | Decision::Respond { headers, .. }) = &mut self;
        headers.push((name.into(), value.into()));
        self
    }

    /// What [`accept`] decides: accept an upgrade, answer anything else with 400.
    pub fn default_for(request: &Request<'_>) -> Self {
        if request.is_upgrade() {
            Decision::accept()
        } else {
            Decision::respond(
                400,
                "This is a WebSocket endpoint: send an upgrade request.\n",
            )
            .with_header("Content-Type", "text/plain")
        }
    }
}

/// The server's answer to a client's upgrade request, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeResponse {
    /// The status (101).
    pub status: u16,
    /// Every header, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
}

impl HandshakeResponse {
    /// The first value of the header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Accept a WebSocket client on `stream` (server role), with the default [`Settings`]:
/// read the request, answer 101 to an upgrade (and 400 to anything else), within
/// [`Config::handshake_timeout`](crate::Config::handshake_timeout) (a request that does not
/// arrive in time is answered 408: [`Error::TimedOut`]). Also exported as
/// `accept_async`.
///
/// **Cancel safety**: dropping the future drops the stream (nothing to resume).
pub async fn accept<S>(stream: S) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, Settings::default(), Decision::default_for).await
}

/// [`accept`] with `settings` (or a plain [`Config`](crate::Config)) and `decide`, which
/// sees the whole request and chooses the answer: accept (with a subprotocol, extra
/// headers) or respond with another status. Any answer other than 101 ends with
/// [`Error::Rejected`] carrying the status we sent, once it was written.
///
/// **Cancel safety**: dropping the future drops the stream (nothing to resume).
pub async fn accept_with<S, F>(
    stream: S,
    settings: impl Into<Settings>,
    decide: F,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision,
{
    server_handshake(stream, settings.into(), TokioInstant::now(), decide).await
}

fn elapsed(epoch: TokioInstant) -> Instant {
    Instant::from_elapsed(TokioInstant::now().saturating_duration_since(epoch))
}

fn deadline(epoch: TokioInstant, at: Option<Instant>) -> TokioInstant {
    match at {
        Some(at) => epoch + at.elapsed_since_epoch(),
        // Cannot happen during a handshake; a day stands for "never".
        None => TokioInstant::now() + core::time::Duration::from_secs(86_400),
    }
}

/// Run an encoding command into the end of `out`, growing the space to what it reports.
fn encode(
    out: &mut Vec<u8>,
    mut command: impl FnMut(&mut [u8]) -> Result<usize, crate::Error>,
) -> Result<(), Error> {
    let start = out.len();
    let mut size = MIN_OUTPUT_BUFFER.max(1024);
    loop {
        out.resize(start + size, 0);
        match command(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(crate::Error::BufferTooSmall { needed }) if needed > size => size = needed,
            Err(error) => {
                out.truncate(start);
                return Err(error.into());
            }
        }
    }
}

/// Everything `poll_transmit` owes, into `out`.
fn transmit<E: Endpoint>(endpoint: &mut E, out: &mut Vec<u8>) -> Result<(), Error> {
    loop {
        let before = out.len();
        encode(out, |buf| {
            endpoint
                .poll_transmit(buf)
                .map_err(|e| crate::Error::BufferTooSmall { needed: e.needed })
        })?;
        if out.len() == before {
            return Ok(());
        }
    }
}

/// Write `out` before `deadline`; an error or the deadline is returned as it is.
async fn write_until<S: AsyncWrite + Unpin>(
    io: &mut S,
    out: &[u8],
    until: TokioInstant,
) -> Result<(), Error> {
    let write = async {
        io.write_all(out).await?;
        io.flush().await
    };
    match tokio::time::timeout_at(until, write).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::TimedOut(TimedOut::Handshake)),
    }
}

async fn server_handshake<S, F>(
    mut io: S,
    settings: Settings,
    epoch: TokioInstant,
    decide: F,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision,
{
    let config = settings.config;
    let mut server = Server::new(config, elapsed(epoch));
    let mut input = new_input(&settings);
    let mut out = Vec::new();
    let mut decide = Some(decide);
    let mut failure: Option<Error> = None;
    loop {
        while !input.is_empty() && failure.is_none() {
            let now = elapsed(epoch);
            let Some(event) = input.receive(&mut server, now)? else {
                break;
            };
            match event {
                Event::Request(request) => {
                    let decision = match decide.take() {
                        Some(decide) => decide(&request),
                        None => Decision::default_for(&request),
                    };
                    failure = answer(&mut server, &request, decision, &settings, now, &mut out)?;
                    // The bytes after the head are frames: the stream reads them.
                    break;
                }
                Event::HandshakeFailed(error) => failure = Some(Error::Handshake(error)),
                _ => {}
            }
        }
        transmit(&mut server, &mut out)?;
        if server.should_close_transport() {
            // A rejection, a plain answer or a 408: write it (for at most the close
            // timeout), shut the transport down, report why.
            let until = TokioInstant::now() + config.close_timeout;
            if write_until(&mut io, &out, until).await.is_ok() {
                let _ = tokio::time::timeout_at(until, io.shutdown()).await;
            }
            return Err(failure.unwrap_or(Error::AbnormalClosure));
        }
        if server.connection().is_ok() {
            let until = TokioInstant::now() + config.handshake_timeout;
            write_until(&mut io, &out, until).await?;
            out.clear();
            let Ok(connection) = server.into_connection() else {
                unreachable!("the connection is open")
            };
            let core = Core::Server(connection);
            return Ok(WebSocketStream::assemble(
                io, core, input, out, epoch, &settings,
            ));
        }
        if let Some(failure) = failure.take() {
            return Err(failure);
        }
        let at = server.poll_timeout();
        let read = io.read(input.read_space());
        match tokio::time::timeout_at(deadline(epoch, at), read).await {
            Err(_) => {
                let now = elapsed(epoch).max(at.unwrap_or(Instant::ZERO));
                if let Some(timed_out) = server.handle_timeout(now) {
                    failure = Some(Error::TimedOut(timed_out));
                }
            }
            Ok(Ok(0)) => {
                server.handle_eof()?;
                return Err(Error::AbnormalClosure);
            }
            Ok(Ok(n)) => input.commit(n),
            Ok(Err(error)) => return Err(error.into()),
        }
    }
}

/// Carry out `decision` for `request`: the 101, or another response (then the failure to
/// report once it is written).
fn answer(
    server: &mut Server,
    request: &Request<'_>,
    decision: Decision,
    settings: &Settings,
    now: Instant,
    out: &mut Vec<u8>,
) -> Result<Option<Error>, Error> {
    let decision = match decision {
        Decision::Accept { .. } if !request.is_upgrade() => Decision::default_for(request),
        decision => decision,
    };
    match decision {
        Decision::Accept {
            subprotocol,
            headers,
        } => {
            let headers: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            // permessage-deflate on the settings' terms, if the client offered it.
            let deflate = settings
                .deflate
                .and_then(|config| crate::deflate::negotiate(request.extensions(), &config));
            let mut options = Accept::default()
                .with_headers(&headers)
                .with_deflate(deflate);
            if let Some(subprotocol) = &subprotocol {
                options = options.with_subprotocol(subprotocol);
            }
            encode(out, |buf| server.accept(request, options, now, buf))?;
            Ok(None)
        }
        Decision::Respond {
            status,
            headers,
            body,
        } => {
            let headers: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            encode(out, |buf| server.respond(status, &headers, &body, buf))?;
            Ok(Some(Error::Rejected { status }))
        }
    }
}

/// Run the client handshake for `url` on `stream` (client role), with the default
/// [`Settings`]: send the upgrade request, check the 101. The caller provides the
/// transport, TLS included for a `wss://` URL. Within
/// [`Config::handshake_timeout`](crate::Config::handshake_timeout), else
/// [`Error::TimedOut`]; a refusal is [`Error::Rejected`] with the server's status.
///
/// **Cancel safety**: dropping the future drops the stream (nothing to resume).
pub async fn client_async<S>(
    url: &str,
    stream: S,
) -> Result<(WebSocketStream<S>, HandshakeResponse), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    client_async_with(url, stream, Settings::default()).await
}

/// [`client_async`] with `settings` (or a plain [`Config`](crate::Config)).
///
/// **Cancel safety**: dropping the future drops the stream (nothing to resume).
pub async fn client_async_with<S>(
    url: &str,
    stream: S,
    settings: impl Into<Settings>,
) -> Result<(WebSocketStream<S>, HandshakeResponse), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    client_handshake(url, stream, settings.into(), TokioInstant::now()).await
}

/// Connect to a `ws://` URL over TCP and run the client handshake, with the default
/// [`Settings`]. One deadline, [`Config::handshake_timeout`](crate::Config::handshake_timeout),
/// covers the name lookup, the TCP connect and the handshake ([`Error::TimedOut`]). A
/// `wss://` URL is [`Error::TlsNotConfigured`]: use `connect_tls` (feature
/// `tokio-rustls`) or [`client_async`] over your own TLS stream. Also exported as
/// `connect_async`.
///
/// **Cancel safety**: dropping the future drops the connection (nothing to resume).
pub async fn connect(url: &str) -> Result<(WebSocketStream<TcpStream>, HandshakeResponse), Error> {
    connect_with(url, Settings::default()).await
}

/// [`connect`] with `settings` (or a plain [`Config`](crate::Config)).
///
/// **Cancel safety**: dropping the future drops the connection (nothing to resume).
pub async fn connect_with(
    url: &str,
    settings: impl Into<Settings>,
) -> Result<(WebSocketStream<TcpStream>, HandshakeResponse), Error> {
    let settings = settings.into();
    let epoch = TokioInstant::now();
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err(Error::TlsNotConfigured);
    }
    let until = epoch + settings.config.handshake_timeout;
    let tcp = tcp_connect(parsed.host, parsed.port, until).await?;
    client_handshake(url, tcp, settings, epoch).await
}

/// A TCP connection to `host:port`, with no Nagle delay, before `until`.
pub(super) async fn tcp_connect(
    host: &str,
    port: u16,
    until: TokioInstant,
) -> Result<TcpStream, Error> {
    match tokio::time::timeout_at(until, TcpStream::connect((host, port))).await {
        Ok(Ok(tcp)) => {
            tcp.set_nodelay(true)?;
            Ok(tcp)
        }
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err(Error::TimedOut(TimedOut::Handshake)),
    }
}

/// The client handshake, its deadline counted from `epoch` (which may be before the
/// TCP connect and the TLS handshake).
pub(super) async fn client_handshake<S>(
    url: &str,
    mut io: S,
    settings: Settings,
    epoch: TokioInstant,
) -> Result<(WebSocketStream<S>, HandshakeResponse), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = settings.config;
    let mut request = crate::ClientRequest::from_url(url)?;
    request.deflate = settings.deflate;
    let mut client = Client::new(request, config, MaskRng::new(), Instant::ZERO)?;
    let until = deadline(epoch, client.poll_timeout());
    let mut out = Vec::new();
    transmit(&mut client, &mut out)?;
    write_until(&mut io, &out, until).await?;
    out.clear();
    let mut input = new_input(&settings);
    loop {
        if !input.is_empty() {
            let now = elapsed(epoch);
            let response = match input.receive(&mut client, now)? {
                // More bytes are needed: read them.
                None => None,
                Some(Event::Connected(response)) => Some(HandshakeResponse {
                    status: response.status(),
                    headers: response
                        .headers()
                        .map(|h| (String::from(h.name), h.value.to_vec()))
                        .collect(),
                    subprotocol: response.subprotocol().map(String::from),
                }),
                Some(Event::Rejected(response)) => {
                    return Err(Error::Rejected {
                        status: response.status(),
                    });
                }
                Some(Event::HandshakeFailed(error)) => return Err(Error::Handshake(error)),
                // Nothing else comes before the response; whatever it was is used.
                Some(_) => continue,
            };
            if let Some(response) = response {
                let Ok(connection) = client.into_connection() else {
                    unreachable!("the connection is open")
                };
                let core = Core::Client(connection);
                let ws = WebSocketStream::assemble(io, core, input, out, epoch, &settings);
                return Ok((ws, response));
            }
        }
        let read = io.read(input.read_space());
        match tokio::time::timeout_at(until, read).await {
            Err(_) => return Err(Error::TimedOut(TimedOut::Handshake)),
            Ok(Ok(0)) => {
                client.handle_eof()?;
                return Err(Error::AbnormalClosure);
            }
            Ok(Ok(n)) => input.commit(n),
            Ok(Err(error)) => return Err(error.into()),
        }
    }
}
