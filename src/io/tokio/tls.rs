//! `wss://` over tokio-rustls (feature `tokio-rustls`): the caller gives the rustls
//! configuration; sockless never picks trust roots or a TLS backend by itself.

use alloc::string::String;
use alloc::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant as TokioInstant;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use super::handshake::{Decision, HandshakeResponse, client_handshake, tcp_connect};
use super::{Settings, WebSocketStream, accept_with};
use crate::error::{TimedOut, UsageError};
use crate::handshake::WsUrl;
use crate::io::Error;

/// Connect to a `wss://` URL: TCP, then TLS with `tls` (your trust roots, client
/// certificates, ALPN...) through [`TlsConnector`], checking the URL's host name, then the
/// WebSocket handshake. One deadline,
/// [`Config::handshake_timeout`](crate::Config::handshake_timeout), covers all three. A
/// `ws://` URL is refused ([`UsageError::InvalidUrl`]): use
/// [`connect`](super::connect) for it.
///
/// **Cancel safety**: dropping the future drops the connection (nothing to resume).
pub async fn connect_tls(
    url: &str,
    tls: Arc<rustls::ClientConfig>,
    settings: impl Into<Settings>,
) -> Result<
    (
        WebSocketStream<client::TlsStream<TcpStream>>,
        HandshakeResponse,
    ),
    Error,
> {
    let settings = settings.into();
    let epoch = TokioInstant::now();
    let parsed = WsUrl::parse(url)?;
    if !parsed.secure {
        return Err(UsageError::InvalidUrl.into());
    }
    let until = epoch + settings.config.handshake_timeout;
    let name = ServerName::try_from(String::from(parsed.host))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tcp = tcp_connect(parsed.host, parsed.port, until).await?;
    let connect = TlsConnector::from(tls).connect(name, tcp);
    let stream = match tokio::time::timeout_at(until, connect).await {
        Ok(stream) => stream?,
        Err(_) => return Err(Error::TimedOut(TimedOut::Handshake)),
    };
    client_handshake(url, stream, settings, epoch).await
}

/// Accept a WebSocket client over TLS on `stream`: the TLS handshake through `acceptor`,
/// then [`accept_with`] with `decide` ([`Decision::default_for`] accepts any upgrade). One
/// deadline, [`Config::handshake_timeout`](crate::Config::handshake_timeout), covers the TLS
/// handshake and the WebSocket one. (A `tokio_rustls::server::TlsStream` made elsewhere
/// can also be given to [`accept`](super::accept) directly.)
///
/// **Cancel safety**: dropping the future drops the connection (nothing to resume).
pub async fn accept_tls<'d, S, F>(
    stream: S,
    acceptor: &TlsAcceptor,
    settings: impl Into<Settings>,
    decide: F,
) -> Result<WebSocketStream<server::TlsStream<S>>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&crate::Request<'_>) -> Decision<'d>,
{
    let settings = settings.into();
    let epoch = TokioInstant::now();
    let until = epoch + settings.config.handshake_timeout;
    let stream = match tokio::time::timeout_at(until, acceptor.accept(stream)).await {
        Ok(stream) => stream?,
        Err(_) => return Err(Error::TimedOut(TimedOut::Handshake)),
    };
    let left = until.saturating_duration_since(TokioInstant::now());
    let config = settings.config.with_handshake_timeout(left);
    accept_with(stream, settings.with_config(config), decide).await
}
