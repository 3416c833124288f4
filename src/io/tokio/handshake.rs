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
use crate::driver::{Driver, End, EventKind, Step};
use crate::endpoint::Endpoint;
use crate::error::TimedOut;
use crate::event::Event;
use crate::handshake::{Request, WsUrl};
use crate::io::Error;
use crate::server::Server;
use crate::time::Instant;
use crate::{Client, State};

/// How a server answers a request: the core's
/// [`driver::Decision`](crate::driver::Decision), one type for every adapter.
/// [`Decision::default_for`] is what [`accept`] decides.
///
/// ```
/// use sockless::io::tokio::Decision;
/// let accept = Decision::Accept(sockless::Accept::default().with_subprotocol("chat"));
/// let refuse = Decision::Respond { status: 403, headers: &[], body: b"not for you\n" };
/// # let _ = (accept, refuse);
/// ```
pub use crate::driver::Decision;

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
/// read the request, answer 101 to an upgrade (and 426 Upgrade Required to anything else:
/// [`Decision::default_for`]), within
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
/// [`Error::Rejected`] carrying the status we sent, once it was written. The decision may
/// borrow anything that outlives the call (a header value made beforehand). The driver
/// carries it out ([`Driver::decide_with`](crate::driver::Driver::decide_with)), by the
/// same rules in every adapter: an accepted request that is not an upgrade gets 400; a
/// decision the server cannot carry out (a subprotocol the client did not offer, an
/// invalid header, an answer larger than the output buffer) gets 500 and
/// [`Error::Usage`]. With [`Settings::with_deflate`], an accepting decision that leaves
/// permessage-deflate unchosen accepts the client's offer on the settings' terms.
///
/// **Cancel safety**: dropping the future drops the stream (nothing to resume).
pub async fn accept_with<'d, S, F>(
    stream: S,
    settings: impl Into<Settings>,
    decide: F,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision<'d>,
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

async fn server_handshake<'d, S, F>(
    stream: S,
    settings: Settings,
    epoch: TokioInstant,
    decide: F,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision<'d>,
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
                let Some(decide) = decide.take() else {
                    driver.skip_event();
                    continue;
                };
                // The driver answers as `decide` says (a misuse: 500, then `End::Usage`),
                // with permessage-deflate on the settings' terms unless `decide` chose.
                let deflate = settings.deflate;
                let now = io.now();
                let _ = driver.decide_with(now, |request| {
                    with_deflate(decide(request), request, deflate.as_ref())
                });
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

/// `decision`, accepting permessage-deflate on `deflate`'s terms if it accepts the
/// request without choosing and the client offered it (RFC 7692 §5).
fn with_deflate<'r>(
    decision: Decision<'r>,
    request: &Request<'_>,
    deflate: Option<&crate::deflate::DeflateConfig>,
) -> Decision<'r> {
    match (decision, deflate) {
        (Decision::Accept(accept), Some(deflate)) if accept.deflate.is_none() => {
            let params = crate::deflate::negotiate(request.extensions(), deflate);
            Decision::Accept(accept.with_deflate(params))
        }
        (decision, _) => decision,
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
