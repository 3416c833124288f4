//! The opening handshakes over tokio: [`accept`] and [`connect`] and their variants, each
//! bounded by [`Config::handshake_timeout`](crate::Config::handshake_timeout).

use alloc::string::String;
use alloc::vec::Vec;
use core::task::Poll;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant as TokioInstant;

use super::{
    Buf, MaskRng, OUTPUT_BUFFER, Settings, Transport, WebSocketStream, new_input, take_buffer,
};
use crate::driver::{self, Driver, End, EventKind, Step};
use crate::endpoint::Endpoint;
use crate::error::TimedOut;
use crate::event::Event;
use crate::handshake::{Request, WsUrl};
use crate::io::Error;
use crate::server::{Accept, Server};
use crate::time::Instant;
use crate::{Client, State};

/// How a server answers a request, chosen by the callback of [`accept_with`] after it
/// read every header of the request ([`Request::path`], [`Request::header`],
/// [`Request::subprotocols`]...), before anything is written.
///
/// It owns what it sends (the callback may build it from the request or from anything
/// else), and is carried out as the core's [`driver::Decision`], which borrows it.
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

/// What a handshake's drive stopped at.
enum Stop {
    /// An event is pending in the driver.
    Event(EventKind),
    /// The connection is open and everything owed was written and flushed.
    Open,
    /// The connection ended.
    End(End),
}

/// Drive a handshake until an event, the open connection, or the end.
async fn drive<E: Endpoint, S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Transport<S>,
    driver: &mut Driver<E, Buf, Buf>,
) -> Stop {
    core::future::poll_fn(|cx| {
        loop {
            if driver.endpoint().state() == State::Open && driver.pending_output() == 0 {
                // Nothing after the head is read here: the stream reads its frames.
                return io.poll_flush(driver, cx).map(|()| match driver.end() {
                    Some(end) => Stop::End(end),
                    None => Stop::Open,
                });
            }
            let now = io.now();
            match driver.poll(now) {
                Step::Event(handle) => return Poll::Ready(Stop::Event(handle.kind())),
                Step::Write { until } => {
                    if io.poll_write(driver, &[], cx).is_pending() {
                        core::task::ready!(
                            io.poll_until(super::earliest(until, driver.poll_timeout()), cx)
                        );
                    }
                }
                // A flush that failed was reported to the driver: poll it again.
                Step::Read { .. } if io.poll_flush(driver, cx).is_ready() && io.error.is_some() => {
                }
                Step::Read { until } => {
                    if io.poll_read(driver, cx).is_pending() {
                        core::task::ready!(io.poll_until(until, cx));
                    }
                }
                Step::Close(end) => return Poll::Ready(Stop::End(end)),
            }
        }
    })
    .await
}

async fn server_handshake<S, F>(
    stream: S,
    settings: Settings,
    epoch: TokioInstant,
    decide: F,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision,
{
    let config = settings.config;
    let mut io = Transport::new(stream, epoch);
    let server = Server::new(config, io.now());
    let mut driver = Driver::new(
        server,
        new_input(&settings),
        take_buffer(OUTPUT_BUFFER),
        &config,
    )?;
    let mut decide = Some(decide);
    loop {
        match drive(&mut io, &mut driver).await {
            Stop::Event(EventKind::Request) => {
                let Some(Event::Request(request)) = driver.event() else {
                    driver.skip_event();
                    continue;
                };
                let decision = match decide.take() {
                    Some(decide) => decide(&request),
                    None => Decision::default_for(&request),
                };
                let decision = match decision {
                    Decision::Accept { .. } if !request.is_upgrade() => {
                        Decision::default_for(&request)
                    }
                    decision => decision,
                };
                // permessage-deflate on the settings' terms, if the client offered it.
                let deflate = settings
                    .deflate
                    .and_then(|deflate| crate::deflate::negotiate(request.extensions(), &deflate));
                let now = io.now();
                let decided = match &decision {
                    Decision::Accept {
                        subprotocol,
                        headers,
                    } => {
                        let headers = borrowed(headers);
                        let mut options = Accept::default()
                            .with_headers(&headers)
                            .with_deflate(deflate);
                        if let Some(subprotocol) = subprotocol {
                            options = options.with_subprotocol(subprotocol);
                        }
                        driver.decide(driver::Decision::Accept(options), now)
                    }
                    Decision::Respond {
                        status,
                        headers,
                        body,
                    } => {
                        let headers = borrowed(headers);
                        let respond = driver::Decision::Respond {
                            status: *status,
                            headers: &headers,
                            body,
                        };
                        driver.decide(respond, now)
                    }
                };
                decided.map_err(send_error)?;
            }
            Stop::Event(_) => driver.skip_event(),
            Stop::Open => {
                let (server, input, output) = driver.into_parts();
                let Ok(connection) = server.into_connection() else {
                    return Err(Error::AbnormalClosure);
                };
                return Ok(WebSocketStream::assemble(
                    io, connection, input, output, &settings,
                ));
            }
            Stop::End(end) => {
                return Err(io
                    .finish(end, config.close_timeout)
                    .await
                    .unwrap_or(Error::AbnormalClosure));
            }
        }
    }
}

/// Headers as the core takes them.
fn borrowed(headers: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect()
}

/// A decision the output could not hold (a response too large for it) or a misuse.
fn send_error(error: driver::SendError) -> Error {
    match error {
        driver::SendError::Usage(error) => Error::Usage(error),
        other => Error::Io(std::io::Error::other(other)),
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
    stream: S,
    settings: Settings,
    epoch: TokioInstant,
) -> Result<(WebSocketStream<S>, HandshakeResponse), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = settings.config;
    let mut request = crate::ClientRequest::from_url(url)?;
    request.deflate = settings.deflate;
    let mut io = Transport::new(stream, epoch);
    let client = Client::new(request, config, MaskRng::new(), Instant::ZERO)?;
    let mut driver = Driver::new(
        client,
        new_input(&settings),
        take_buffer(OUTPUT_BUFFER),
        &config,
    )?;
    loop {
        match drive(&mut io, &mut driver).await {
            Stop::Event(EventKind::Connected) => {
                let Some(Event::Connected(response)) = driver.event() else {
                    continue;
                };
                let response = HandshakeResponse {
                    status: response.status(),
                    headers: response
                        .headers()
                        .map(|h| (String::from(h.name), h.value.to_vec()))
                        .collect(),
                    subprotocol: response.subprotocol().map(String::from),
                };
                let (client, input, output) = driver.into_parts();
                let Ok(connection) = client.into_connection() else {
                    return Err(Error::AbnormalClosure);
                };
                let ws = WebSocketStream::assemble(io, connection, input, output, &settings);
                return Ok((ws, response));
            }
            // Nothing else comes before the response; failures end the drive.
            Stop::Event(_) => driver.skip_event(),
            Stop::Open => return Err(Error::AbnormalClosure),
            Stop::End(end) => {
                return Err(io
                    .finish(end, config.close_timeout)
                    .await
                    .unwrap_or(Error::AbnormalClosure));
            }
        }
    }
}
