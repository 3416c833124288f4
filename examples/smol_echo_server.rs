//! The echo server of `echo_server.rs` on the smol / async-io example adapter
//! (`examples/smol/adapter.rs`, built on `sockless::driver` alone), with the same command
//! line and log lines: every text and binary message comes back whole, with the same type;
//! pings are answered, close handshakes completed. A task per connection.
//!
//! `cargo run --release --example smol_echo_server -- 127.0.0.1:9001`
//!
//! `--deflate` is refused: the example adapter leaves permessage-deflate out.

#[path = "smol/adapter.rs"]
mod adapter;
#[path = "common/cli.rs"]
mod cli;

use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use async_io::Async;
use sockless::assemble::{Message, MessageAssembler};
use sockless::driver::{Decision, End};
use sockless::{Config, Event, MessageKind};

const USAGE: cli::Usage = cli::Usage {
    name: "smol_echo_server",
    about: "a WebSocket echo server on the smol example adapter, a task per connection \
            (no permessage-deflate: the adapter leaves it out)",
    synopsis: "[ADDR]",
    arguments: &[cli::ADDR],
};

fn main() -> ExitCode {
    let (_, addr) = USAGE.server();
    let listener = match USAGE.listen(&addr, "") {
        Ok(listener) => listener,
        Err(failed) => return failed,
    };
    // Onto async-io's reactor.
    let listener = match Async::new(listener) {
        Ok(listener) => listener,
        Err(error) => return USAGE.fail(format_args!("cannot listen on {addr}: {error}")),
    };
    let executor = async_executor::Executor::new();
    async_io::block_on(executor.run(async {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            executor
                .spawn(async move {
                    let _ = tcp.get_ref().set_nodelay(true);
                    eprintln!("{peer}: {}", serve(tcp).await);
                })
                .detach();
        }
    }))
}

/// Serve one connection until it ends; returns how it ended.
async fn serve(tcp: Async<TcpStream>) -> String {
    // Keep-alive pings give every read a deadline, even on an idle connection.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    let mut plain = None;
    let accepted = adapter::accept(tcp, config, |request| {
        if request.is_upgrade() {
            return Decision::accept();
        }
        plain = Some(format!("{} {}", request.method(), request.target()));
        Decision::Respond {
            status: 400,
            headers: &[("Content-Type", b"text/plain")],
            body: b"This is a WebSocket echo server.\n",
        }
    })
    .await;
    let mut ws = match (accepted, plain) {
        (Ok(ws), _) => ws,
        (Err(End::Rejected { status }), Some(request)) => {
            return format!("answered plain HTTP {request} with {status}");
        }
        (Err(end), _) => return sentence(end),
    };
    let mut outcome = String::from("closed without a close handshake");
    let mut assembler = MessageAssembler::new();
    loop {
        // Whole messages (pieces are collected into one), copied out to be echoed.
        let message = match ws.next().await {
            Ok(Event::Close(frame)) => {
                let code = frame.code.map_or(1005, |c| c.0);
                outcome = format!("closed by peer, code={code} reason={:?}", frame.reason);
                continue;
            }
            Ok(event) => match assembler.push(&event) {
                Ok(Some(whole)) => whole.into_owned(),
                _ => continue,
            },
            Err(End::Closed { .. }) => return outcome,
            Err(end) => return sentence(end),
        };
        let sent = match &message {
            Message::Text(text) => ws.send(MessageKind::Text, text.as_bytes()).await,
            Message::Binary(data) => ws.send(MessageKind::Binary, data).await,
        };
        if let Err(end) = sent {
            return sentence(end);
        }
    }
}

/// How the connection ended, as the blocking echo server words it.
fn sentence(end: End) -> String {
    match end {
        End::Closed { .. } | End::Abnormal => "closed without a close handshake".into(),
        End::Failed(error) => sockless::Error::from(error).to_string(),
        End::HandshakeFailed(error) => sockless::Error::from(error).to_string(),
        End::TimedOut(timed_out) => timed_out.to_string(),
        End::Rejected { status } => format!("refused with {status}"),
        other => format!("{other:?}"),
    }
}
