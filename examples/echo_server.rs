//! An echo server over `std::net` and the blocking adapter (`sockless::io::blocking`), a
//! thread per connection: every text and binary message comes back whole, with the same
//! type; pings are answered, close handshakes completed.
//!
//! A message is echoed once it is complete (up to 64 MiB), not piece by piece: a peer that
//! does not read while it sends (many do not) would otherwise fill both TCP windows and
//! wait for us forever. Text is still validated as it arrives, so bad UTF-8 fails at once.
//!
//! `cargo run --release --example echo_server -- 127.0.0.1:9001`
//!
//! With `--deflate` (before the address) it accepts permessage-deflate (RFC 7692) when a
//! client offers it, with the default parameters: messages are inflated as they arrive and
//! compressed when echoed.
//!
//! With `--write-timeout SECS` (before the address) a client that stops reading is given
//! up after SECS seconds without progress instead of 30 (`Config::write_timeout`).

#[path = "common/cli.rs"]
mod cli;

use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use sockless::Config;
use sockless::io::blocking::{self, Decision};
use sockless::io::{Error, Message};

const USAGE: cli::Usage = cli::echo_server(
    "echo_server",
    "a WebSocket echo server on the blocking adapter, a thread per connection",
);

fn main() -> ExitCode {
    let (echo, addr) = USAGE.server();
    let (deflate, write_timeout) = (echo.deflate, echo.write_timeout);
    let listener = match USAGE.listen(&addr, "") {
        Ok(listener) => listener,
        Err(failed) => return failed,
    };
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            match serve(stream, deflate, write_timeout) {
                Ok(outcome) => eprintln!("{peer}: {outcome}"),
                Err(error) => eprintln!("{peer}: {error}"),
            }
        });
    }
    ExitCode::SUCCESS
}

/// Serve one connection until it ends; returns how it ended.
fn serve(stream: TcpStream, deflate: bool, write_timeout: Duration) -> Result<String, Error> {
    stream.set_nodelay(true)?;
    // Keep-alive pings give every read a deadline, even on an idle connection.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)))
        .with_write_timeout(write_timeout);
    let mut plain = None;
    let accepted = blocking::accept_with(stream, config, |request| {
        if request.is_upgrade() && deflate {
            return Decision::accept_deflate(request, &Default::default());
        }
        if request.is_upgrade() {
            return Decision::accept();
        }
        plain = Some(format!("{} {}", request.method(), request.target()));
        Decision::Respond {
            status: 400,
            headers: &[("Content-Type", b"text/plain")],
            body: b"This is a WebSocket echo server.\n",
        }
    });
    let mut ws = match (accepted, plain) {
        (Ok(ws), _) => ws,
        (Err(Error::Rejected { status }), Some(request)) => {
            return Ok(format!("answered plain HTTP {request} with {status}"));
        }
        (Err(error), _) => return Err(error),
    };
    let mut outcome = String::from("closed without a close handshake");
    loop {
        match ws.read() {
            // Whole messages (pieces are collected into one); Pings were answered.
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.send(message)?,
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code.0, f.reason));
                outcome = format!("closed by peer, code={code} reason={reason:?}");
            }
            Ok(_) => {}
            Err(Error::Closed) => return Ok(outcome),
            // A violation (its Close was sent), a timeout: how the connection ended.
            Err(error @ (Error::Protocol(_) | Error::TimedOut(_))) => return Ok(error.to_string()),
            Err(error) => return Err(error),
        }
    }
}
