//! The echo client of `echo_client.rs` on the smol / async-io example adapter
//! (`examples/smol/adapter.rs`, built on `sockless::driver` alone), with the same command
//! line and log lines: connects, sends back every text and binary message unchanged (whole,
//! up to 64 MiB) until the server closes, completes the close handshake and exits 0.
//!
//! `cargo run --release --example smol_echo_client -- ws://127.0.0.1:9001/path?query`
//!
//! With `--once TEXT` it is a probe instead: it sends TEXT, checks that the same text
//! comes back, closes with 1000 and exits 0 once the closing handshake is done.
//! `--deflate` is refused: the example adapter leaves permessage-deflate out.

#[path = "smol/adapter.rs"]
mod adapter;
#[path = "common/cli.rs"]
mod cli;

use std::error::Error;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use async_io::{Async, Timer};
use futures_lite::future;
use sockless::assemble::{Message, MessageAssembler};
use sockless::driver::End;
use sockless::handshake::WsUrl;
use sockless::{CloseCode, Config, Event, MessageKind};

const USAGE: cli::Usage = cli::Usage {
    name: "smol_echo_client",
    about: "a WebSocket echo client on the smol example adapter: sends back what the server \
            sends (no permessage-deflate: the adapter leaves it out)",
    synopsis: "[URL] [--once TEXT]",
    arguments: &[cli::URL, cli::ONCE],
};

fn main() -> ExitCode {
    let (echo, url) = USAGE.client();
    match async_io::block_on(run(&url, echo.once.as_deref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => USAGE.fail(error),
    }
}

async fn run(url: &str, probe: Option<&str>) -> Result<(), Box<dyn Error>> {
    // Keep-alive pings give every read a deadline, even when the server is quiet.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    // A ws:// URL (checked with the arguments).
    let parsed = WsUrl::parse(url)?;
    // The TCP connection and the opening handshake, within the handshake's deadline.
    let connecting = async {
        let addr = (parsed.host.trim_matches(['[', ']']), parsed.port)
            .to_socket_addrs()?
            .next()
            .ok_or("the host has no address")?;
        let timeout = async {
            Timer::after(config.handshake_timeout).await;
            Err(std::io::ErrorKind::TimedOut.into())
        };
        let tcp = future::or(Async::<TcpStream>::connect(addr), timeout).await?;
        tcp.get_ref().set_nodelay(true)?;
        let connected = adapter::connect(tcp, url, config).await.map_err(describe)?;
        Ok::<_, Box<dyn Error>>(connected)
    };
    let (mut ws, status) = connecting
        .await
        .map_err(|error| format!("cannot connect to {url}: {error}"))?;
    eprintln!("connected to {url} (status {status})");
    if let Some(text) = probe {
        ws.send(MessageKind::Text, text.as_bytes())
            .await
            .map_err(describe)?;
    }
    let mut assembler = MessageAssembler::new();
    let mut closing = false; // our Close is out: the server's is its answer
    loop {
        let message = match ws.next().await {
            Ok(Event::Close(_)) if closing => continue,
            Ok(Event::Close(frame)) => {
                let code = frame.code.map_or(1005, |c| c.0);
                eprintln!("server closed: code={code} reason={:?}", frame.reason);
                continue;
            }
            Ok(event) => match assembler.push(&event) {
                Ok(Some(whole)) => whole.into_owned(),
                _ => continue,
            },
            // A clean close, whatever the transport did after it.
            Err(End::Closed { .. }) => return Ok(()),
            Err(end) => return Err(describe(end).into()),
        };
        let sent = match &message {
            Message::Text(text) if probe.is_some() => {
                if Some(text.as_str()) != probe {
                    return Err(format!("probe echo differs: {text:?}").into());
                }
                eprintln!("probe echoed: {text:?}");
                closing = true;
                ws.close(CloseCode::NORMAL, "probe done").await
            }
            // Whole messages (pieces are collected into one); Pings were answered.
            Message::Text(text) => ws.send(MessageKind::Text, text.as_bytes()).await,
            Message::Binary(data) => ws.send(MessageKind::Binary, data).await,
        };
        sent.map_err(describe)?;
    }
}

/// How the connection ended, in words.
fn describe(end: End) -> String {
    match end {
        End::Failed(error) => sockless::Error::from(error).to_string(),
        End::HandshakeFailed(error) => sockless::Error::from(error).to_string(),
        End::TimedOut(timed_out) => timed_out.to_string(),
        End::Abnormal => "the connection ended without a close handshake".into(),
        End::Rejected { status } => format!("the server refused the upgrade with status {status}"),
        End::Usage(error) => error.to_string(),
        other => format!("the connection ended: {other:?}"),
    }
}
