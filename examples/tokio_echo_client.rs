//! The echo client of `echo_client.rs` on the tokio adapter, with the same command line
//! and log lines: connects, sends back every text and binary message unchanged (whole,
//! up to 64 MiB) until the server closes, completes the close handshake and exits 0.
//!
//! `cargo run --release --features tokio --example tokio_echo_client -- ws://127.0.0.1:9001/path?query`
//!
//! With `--once TEXT` it is a probe instead: it sends TEXT, checks that the same text
//! comes back, closes with 1000 and exits 0 once the closing handshake is done.

#[path = "common/cli.rs"]
mod cli;

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use sockless::deflate::DeflateConfig;
use sockless::io::Message;
use sockless::io::tokio::{Settings, connect_with};
use sockless::{CloseCode, Config};

const USAGE: cli::Usage = cli::echo_client(
    "tokio_echo_client",
    "a WebSocket echo client on the tokio adapter: sends back what the server sends",
);

#[tokio::main]
async fn main() -> ExitCode {
    let (echo, url) = USAGE.client();
    match run(&url, echo.once.as_deref(), echo.deflate).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => USAGE.fail(error),
    }
}

/// Connect to `url` (a `ws://` one), then echo (or probe) until the server closes.
async fn run(url: &str, probe: Option<&str>, deflate: bool) -> Result<(), Box<dyn Error>> {
    // Keep-alive pings give every read a deadline, even when the server is quiet.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    // One deadline covers the TCP connect and the handshake.
    let mut settings = Settings::from(config);
    if deflate {
        settings = settings.with_deflate(DeflateConfig::default());
    }
    let (mut ws, response) = connect_with(url, settings)
        .await
        .map_err(|error| format!("cannot connect to {url}: {error}"))?;
    eprintln!("connected to {url} (status {})", response.status);
    if let Some(text) = probe {
        ws.send(Message::Text(text.into())).await?;
    }
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(text) if probe.is_some() => {
                if Some(text.as_str()) != probe {
                    return Err(format!("probe echo differs: {text:?}").into());
                }
                eprintln!("probe echoed: {text:?}");
                ws.close(CloseCode::NORMAL, "probe done").await?;
            }
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code.0, f.reason));
                eprintln!("server closed: code={code} reason={reason:?}");
            }
            // Whole messages, echoed with their type; Pings were already answered.
            message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await?,
            _ => {}
        }
    }
    Ok(())
}
