//! The echo server of `echo_server.rs` on the tokio adapter (a task per connection), with
//! the same command line and log lines: every text and binary message comes back whole,
//! with the same type; pings are answered, close handshakes completed.
//!
//! `cargo run --release --features tokio --example tokio_echo_server -- 127.0.0.1:9001`
//!
//! With `--deflate` (before the address) it accepts permessage-deflate (RFC 7692) with the
//! default parameters when a client offers it.
//!
//! With `--write-timeout SECS` (before the address) a client that stops reading is given
//! up after SECS seconds without progress instead of 30 (`Config::write_timeout`).

#[path = "common/cli.rs"]
mod cli;

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use sockless::Config;
use sockless::deflate::DeflateConfig;
use sockless::io::tokio::{Decision, Settings, accept_with};
use sockless::io::{Error, Message};

const USAGE: cli::Usage = cli::echo_server(
    "tokio_echo_server",
    "a WebSocket echo server on the tokio adapter, a task per connection",
);

#[tokio::main]
async fn main() -> ExitCode {
    let (echo, addr) = USAGE.server();
    let (deflate, write_timeout) = (echo.deflate, echo.write_timeout);
    let listener = match USAGE.listen(&addr, "") {
        Ok(listener) => listener,
        Err(failed) => return failed,
    };
    // Onto tokio's reactor.
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(listener) => listener,
        Err(error) => return USAGE.fail(format_args!("cannot listen on {addr}: {error}")),
    };
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            eprintln!("{peer}: {}", serve(tcp, deflate, write_timeout).await);
        });
    }
}

/// Serve one connection until it ends; returns how it ended.
async fn serve(tcp: tokio::net::TcpStream, deflate: bool, write_timeout: Duration) -> String {
    // Keep-alive pings give every read a deadline, even on an idle connection.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)))
        .with_write_timeout(write_timeout);
    let mut settings = Settings::from(config);
    if deflate {
        settings = settings.with_deflate(DeflateConfig::default());
    }
    let mut plain = None;
    let accepted = accept_with(tcp, settings, |request| {
        if request.is_upgrade() {
            return Decision::accept();
        }
        plain = Some(format!(
            "answered plain HTTP {} {} with 400",
            request.method(),
            request.target()
        ));
        Decision::Respond {
            status: 400,
            headers: &[("Content-Type", b"text/plain")],
            body: b"This is a WebSocket echo server.\n",
        }
    })
    .await;
    let mut ws = match accepted {
        Ok(ws) => ws,
        Err(Error::Rejected { .. }) if plain.is_some() => return plain.unwrap_or_default(),
        Err(error) => return sentence(error),
    };
    let mut outcome = String::from("closed without a close handshake");
    while let Some(message) = ws.next().await {
        match message {
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code.0, f.reason));
                outcome = format!("closed by peer, code={code} reason={reason:?}");
            }
            // Whole messages, echoed with their type; Pings were already answered.
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if let Err(error) = ws.send(message).await {
                    return sentence(error);
                }
            }
            Ok(_) => {}
            Err(error) => return sentence(error),
        }
    }
    outcome
}

/// The error as the blocking echo server words it.
fn sentence(error: Error) -> String {
    match error {
        Error::Protocol(error) => sockless::Error::from(error).to_string(),
        Error::Handshake(error) => sockless::Error::from(error).to_string(),
        Error::TimedOut(timed_out) => timed_out.to_string(),
        other => other.to_string(),
    }
}
