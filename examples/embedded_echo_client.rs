//! The echo client of `echo_client.rs`, on the embedded-io-async adapter
//! (`sockless::io::embedded`): the code a firmware would run over embassy-net, here over
//! tokio's sockets through `embedded-io-adapters`. Connects, sends back every text and
//! binary message unchanged until the server closes, completes the close handshake and
//! exits 0. A message that arrives whole is echoed straight from the receive buffer; one
//! that arrives in pieces (fragmented, or larger than the buffer) is collected first, up
//! to 64 MiB, as `echo_client` does. (Echoing each piece as it arrives needs no such
//! buffer, but a peer that sends a large message while it limits how many of our frames
//! it queues unread, as Python websockets does, would then wait for us while we wait for
//! it.)
//!
//! `cargo run --release --features embedded-io-async --example embedded_echo_client -- ws://127.0.0.1:9001/path?query`
//!
//! With `--once TEXT` it is a probe instead: it sends TEXT, checks that the same text
//! comes back, closes with 1000 and exits 0 once the closing handshake is done.
//!
//! With `--deflate` (before the URL) it offers permessage-deflate (RFC 7692) with the
//! default parameters and inflates what the server compresses in a 32 KiB window given to
//! its receive buffer (feature `deflate`, on by default); it echoes uncompressed, as RFC
//! 7692 allows.

#[path = "common/cli.rs"]
mod cli;

use std::process::ExitCode;
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use sockless::handshake::WsUrl;
use sockless::io::embedded::{Error, Inflate, ReadBuffer, Timer, WebSocket};
use sockless::{ClientRequest, CloseCode, Config, Event, Instant};
use tokio::net::TcpStream;

/// The receive buffer and the output buffer (messages larger than these go through in
/// pieces).
const BUFFER: usize = 64 * 1024;

const USAGE: cli::Usage = cli::echo_client(
    "embedded_echo_client",
    "a WebSocket echo client on the embedded-io-async adapter (over tokio's sockets)",
);

fn main() -> ExitCode {
    let (echo, url) = USAGE.client();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return USAGE.fail(format_args!("no runtime: {error}")),
    };
    match runtime.block_on(run(&url, echo.once.as_deref(), echo.deflate)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => USAGE.fail(error),
    }
}

/// The adapter's clock and delay, on tokio's clock (embassy-time on a microcontroller).
struct TokioTimer(tokio::time::Instant);

impl Timer for TokioTimer {
    fn now(&self) -> Instant {
        Instant::from_elapsed(self.0.elapsed())
    }

    async fn sleep_until(&mut self, deadline: Instant) {
        tokio::time::sleep_until(self.0 + deadline.elapsed_since_epoch()).await;
    }
}

async fn run(
    url: &str,
    probe: Option<&str>,
    deflate: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    // A ws:// URL (checked with the arguments).
    let parsed = WsUrl::parse(url)?;
    // Keep-alive pings give every read a deadline, even when the server is quiet.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    let timer = TokioTimer(tokio::time::Instant::now());
    // Connecting is bounded by the handshake timeout too (the adapter starts its own
    // deadline once the transport is there).
    let connecting = TcpStream::connect((parsed.host, parsed.port));
    let stream = match tokio::time::timeout(config.handshake_timeout, connecting).await {
        Ok(stream) => stream.map_err(|error| format!("cannot connect to {url}: {error}"))?,
        Err(_) => {
            return Err(format!("no connection to {url} within the handshake timeout").into());
        }
    };
    stream.set_nodelay(true)?;
    let input = ReadBuffer::new(vec![0; BUFFER], &config)?;
    let request = ClientRequest::from_url(url)?;
    let transport = FromTokio::new(stream);
    if !deflate {
        return echo(url, transport, timer, input, request, config, probe).await;
    }
    #[cfg(feature = "deflate")]
    {
        use sockless::deflate::{DeflateConfig, window_len};
        // The default offer lets the server compress within 2^15 bytes: a 32 KiB window.
        let offer = DeflateConfig::default();
        let window = vec![0; window_len(offer.receive_window_bits)];
        let input = input.with_inflater_window(window)?;
        let request = request.with_deflate(offer);
        echo(url, transport, timer, input, request, config, probe).await
    }
    #[cfg(not(feature = "deflate"))]
    Err("--deflate needs the deflate feature".into())
}

/// Connect to `url` with `request`, then echo (or probe) until the server closes.
async fn echo<I: Inflate>(
    url: &str,
    transport: FromTokio<TcpStream>,
    timer: TokioTimer,
    mut input: ReadBuffer<Vec<u8>, I>,
    request: ClientRequest<'_>,
    config: Config,
    probe: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let output = vec![0; BUFFER];
    let rng = sockless::os_rng();
    let mut ws =
        WebSocket::connect_request(transport, timer, output, &mut input, request, config, rng)
            .await
            .map_err(|error| format!("cannot connect to {url}: {error}"))?;
    match ws.deflate() {
        Some(params) => eprintln!("connected to {url} (status 101, permessage-deflate {params:?})"),
        None => eprintln!("connected to {url} (status 101)"),
    }
    if let Some(text) = probe {
        ws.send_text(text).await?;
    }
    // The pieces of the message that is arriving in pieces.
    let mut pieces = Vec::new();
    loop {
        let event = match ws.read(&mut input).await {
            Ok(event) => event,
            // The end of a clean close.
            Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let echo = match event {
            Event::Text(text) if probe.is_some() => text.as_bytes(),
            Event::Text(text) => {
                ws.send_text(text).await?;
                continue;
            }
            Event::Binary(data) => {
                ws.send_binary(data).await?;
                continue;
            }
            Event::Chunk(chunk) => {
                pieces.extend_from_slice(chunk.data);
                if !chunk.last {
                    continue;
                }
                if probe.is_some() {
                    &pieces[..]
                } else {
                    // Sent as one message (in frames of the output buffer's size).
                    ws.send_fragment(chunk.kind, &pieces, true).await?;
                    pieces.clear();
                    continue;
                }
            }
            Event::Close(frame) => {
                let code = frame.reported_code().0;
                eprintln!("server closed: code={code} reason={:?}", frame.reason);
                continue;
            }
            // Pings (the Pong was already written) and Pongs.
            _ => continue,
        };
        if Some(echo) != probe.map(str::as_bytes) {
            let echo = String::from_utf8_lossy(echo);
            return Err(format!("probe echo differs: {echo:?}").into());
        }
        eprintln!("probe echoed: {:?}", probe.unwrap_or_default());
        return Ok(ws
            .close(&mut input, CloseCode::NORMAL, "probe done")
            .await?);
    }
}
