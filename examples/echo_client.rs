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

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use sockless::deflate::DeflateConfig;
use sockless::io::Message;
use sockless::io::blocking;
use sockless::{ClientRequest, CloseCode, Config};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = args.first().is_some_and(|a| a == "--deflate");
    if deflate {
        args.remove(0);
    }
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let probe = match args.get(1).map(String::as_str) {
        Some("--once") => Some(args.get(2).cloned().unwrap_or_default()),
        Some(other) => {
            eprintln!(
                "echo_client: unknown argument {other:?}; usage: echo_client [--deflate] URL [--once TEXT]"
            );
            return ExitCode::FAILURE;
        }
        None => None,
    };
    match run(&url, probe.as_deref(), deflate) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo_client: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str, probe: Option<&str>, deflate: bool) -> Result<(), Box<dyn Error>> {
    // Keep-alive pings give every read a deadline, even when the server is quiet.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    // Connecting and the handshake share the handshake deadline. A wss:// URL is an
    // error here (no TLS configured): see the wss_echo_client example.
    let mut request = ClientRequest::from_url(url)?;
    if deflate {
        request = request.with_deflate(DeflateConfig::default());
    }
    let mut ws = blocking::connect_request(request, config)?;
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
