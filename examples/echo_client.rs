//! An echo client over `std::net`: connects, sends back every text and binary message
//! unchanged (whole, once complete, up to 64 MiB) until the server closes, completes the
//! close handshake and exits 0.
//!
//! `cargo run --release --example echo_client -- ws://127.0.0.1:9001/path?query`
//!
//! With `--once TEXT` it is a probe instead: it sends TEXT, checks that the same text
//! comes back, closes with 1000 and exits 0 once the closing handshake is done.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Instant as Clock;

use sockless::assemble::{Message, MessageAssembler};
use sockless::handshake::WsUrl;
use sockless::{Client, CloseCode, Config, Error, Event, Instant, OsRng};

const BUFFER: usize = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let probe = match args.get(1).map(String::as_str) {
        Some("--once") => Some(args.get(2).cloned().unwrap_or_default()),
        Some(other) => {
            eprintln!(
                "echo_client: unknown argument {other:?}; usage: echo_client URL [--once TEXT]"
            );
            return ExitCode::FAILURE;
        }
        None => None,
    };
    match run(&url, probe.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo_client: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str, probe: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err("wss:// needs a TLS layer, which this example does not have".into());
    }
    let mut stream = TcpStream::connect((parsed.host, parsed.port))?;
    stream.set_nodelay(true)?;
    let clock = Clock::now();
    let now = || Instant::from_elapsed(clock.elapsed());
    let config = Config {
        max_message_len: 64 << 20,
        ..Config::default()
    };
    let mut client = Client::connect(url, config, sockless::os_rng())?;
    let mut input = vec![0; BUFFER];
    let mut output = vec![0; BUFFER + 64];
    let mut filled = 0;
    let mut assembler = MessageAssembler::new();
    flush(&mut client, &mut stream, &mut output)?;
    loop {
        let mut start = 0;
        loop {
            let received = match client.receive(&mut input[start..filled], now()) {
                Ok(received) => received,
                Err(error) => {
                    // Send the Close the error calls for (if the connection was open).
                    flush(&mut client, &mut stream, &mut output)?;
                    return Err(error.into());
                }
            };
            start += received.consumed;
            let Some(event) = received.event else { break };
            let written = match event {
                Event::Connected(response) => {
                    eprintln!("connected to {url} (status {})", response.status());
                    match probe {
                        Some(text) => client.send_text(text, &mut output)?,
                        None => 0,
                    }
                }
                Event::Text(text) if probe.is_some() => {
                    if Some(text) != probe {
                        return Err(format!("probe echo differs: {text:?}").into());
                    }
                    eprintln!("probe echoed: {text:?}");
                    client.close(CloseCode::NORMAL, "probe done", now(), &mut output)?
                }
                Event::Rejected(response) => {
                    return Err(format!(
                        "server refused the upgrade: {} {}",
                        response.status(),
                        response.reason()
                    )
                    .into());
                }
                Event::Text(text) => encode(&mut output, |out| client.send_text(text, out))?,
                Event::Binary(data) => encode(&mut output, |out| client.send_binary(data, out))?,
                Event::Chunk(_) => match assembler.push(&event) {
                    Some(Message::Text(text)) => {
                        encode(&mut output, |out| client.send_text(&text, out))?
                    }
                    Some(Message::Binary(data)) => {
                        encode(&mut output, |out| client.send_binary(&data, out))?
                    }
                    None => 0,
                },
                Event::Close(frame) => {
                    eprintln!(
                        "server closed: code={} reason={:?}",
                        frame.reported_code().0,
                        frame.reason
                    );
                    0
                }
                _ => 0,
            };
            stream.write_all(&output[..written])?;
            flush(&mut client, &mut stream, &mut output)?;
        }
        input.copy_within(start..filled, 0);
        filled -= start;
        if client.should_close_transport() {
            return Ok(());
        }
        let timeout = client
            .poll_timeout()
            .map(|at| at.saturating_duration_since(now()));
        stream.set_read_timeout(timeout.map(|t| t.max(std::time::Duration::from_millis(1))))?;
        match stream.read(&mut input[filled..]) {
            Ok(0) => return client.handle_eof().map_err(Into::into),
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                client.handle_timeout(now())?;
                flush(&mut client, &mut stream, &mut output)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Run an encoding command, growing `output` to the size it reports when it is too small
/// (a masked frame is a copy of the message).
fn encode(
    output: &mut Vec<u8>,
    mut command: impl FnMut(&mut [u8]) -> Result<usize, Error>,
) -> Result<usize, Error> {
    match command(output) {
        Err(Error::BufferTooSmall { needed }) => {
            output.resize(needed, 0);
            command(output)
        }
        other => other,
    }
}

/// Write everything owed: the request, a Pong, the Close.
fn flush(
    client: &mut Client<'_, OsRng>,
    stream: &mut TcpStream,
    output: &mut [u8],
) -> std::io::Result<()> {
    loop {
        let n = client
            .poll_transmit(output)
            .map_err(std::io::Error::other)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&output[..n])?;
    }
}
