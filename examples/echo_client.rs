//! An echo client over `std::net` and the blocking adapter (`sockless::io::blocking`):
//! connects, sends back every text and binary message unchanged (whole, once complete, up
//! to 64 MiB) until the server closes, completes the close handshake and exits 0.
//!
//! `cargo run --release --example echo_client -- ws://127.0.0.1:9001/path?query`
//!
//! With `--once TEXT` it is a probe instead: it sends TEXT, checks that the same text
//! comes back, closes with 1000 and exits 0 once the closing handshake is done.
//!
//! With `--deflate` (before the URL) it offers permessage-deflate (RFC 7692) with the
//! default parameters.

#[path = "common/cli.rs"]
mod cli;

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use sockless::deflate::DeflateConfig;
use sockless::io::Message;
use sockless::io::blocking;
use sockless::{ClientRequest, CloseCode, Config};

const USAGE: cli::Usage = cli::echo_client(
    "echo_client",
    "a WebSocket echo client on the blocking adapter: sends back what the server sends",
);

fn main() -> ExitCode {
    let (echo, url) = USAGE.client();
    match run(&url, echo.once.as_deref(), echo.deflate) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => USAGE.fail(error),
    }
}

fn run(url: &str, probe: Option<&str>, deflate: bool) -> Result<(), Box<dyn Error>> {
    // Keep-alive pings give every read a deadline, even when the server is quiet.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    // Connecting and the handshake share the handshake deadline (a wss:// URL was refused
    // with the arguments: see the wss_echo_client example).
    let mut request = ClientRequest::from_url(url)?;
    if deflate {
        request = request.with_deflate(DeflateConfig::default());
    }
    let mut ws = blocking::connect_request(request, config)
        .map_err(|error| format!("cannot connect to {url}: {error}"))?;
    match ws.deflate() {
        Some(params) => eprintln!("connected to {url} (status 101, permessage-deflate {params:?})"),
        None => eprintln!("connected to {url} (status 101)"),
    }
    if let Some(text) = probe {
        ws.send_text(text)?;
    }
    echo(&mut ws, probe)
}

/// Echo every message until the server closes; with a probe, check its echo and close.
fn echo<S: blocking::Transport>(
    ws: &mut blocking::ClientWebSocket<S>,
    probe: Option<&str>,
) -> Result<(), Box<dyn Error>> {
    loop {
        match ws.read()? {
            Message::Text(text) if probe.is_some() => {
                if Some(text.as_str()) != probe {
                    return Err(format!("probe echo differs: {text:?}").into());
                }
                eprintln!("probe echoed: {text:?}");
                // Returns once the server answered (and closed the connection).
                ws.close(CloseCode::NORMAL, "probe done")?;
                return Ok(());
            }
            // Whole messages (pieces are collected into one); Pings were answered.
            message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message)?,
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code.0, f.reason));
                eprintln!("server closed: code={code} reason={reason:?}");
                // The echo was written and the server closed the transport.
                return Ok(());
            }
            _ => {}
        }
    }
}
