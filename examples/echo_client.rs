//! An echo client over `std::net`: connects, sends back every text and binary message
//! unchanged (whole, once complete, up to 64 MiB) until the server closes, completes the
//! close handshake and exits 0.
//!
//! `cargo run --release --example echo_client -- ws://127.0.0.1:9001/path?query`
//!
//! With `--once TEXT` it is a probe instead: it sends TEXT, checks that the same text
//! comes back, closes with 1000 and exits 0 once the closing handshake is done.

use std::error::Error;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant as Clock};

use sockless::assemble::{MessageAssembler, WholeMessage};
use sockless::handshake::WsUrl;
use sockless::{Client, CloseCode, Config, Endpoint, Event, InputBuffer, Instant, OsRng};

const BUFFER: usize = 64 * 1024;
/// How long a write may make no progress before the server is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

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

fn run(url: &str, probe: Option<&str>) -> Result<(), Box<dyn Error>> {
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err("wss:// needs a TLS layer, which this example does not have".into());
    }
    let clock = Clock::now();
    let now = || Instant::from_elapsed(clock.elapsed());
    // Keep-alive pings give every read a deadline, even when the server is quiet.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    // The handshake deadline starts now, and covers connecting too.
    let mut client = Client::connect(url, config, sockless::os_rng(), now())?;
    let mut stream = connect(parsed.host, parsed.port, config.handshake_timeout)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut input = InputBuffer::new(vec![0; BUFFER], &config)?;
    let mut output = vec![0; BUFFER + 64];
    let mut assembler = MessageAssembler::new();
    flush(&mut client, &mut stream, &mut output)?; // the upgrade request
    loop {
        while let Some(event) = input.receive(&mut client, now())? {
            let n = match event {
                Event::Connected(response) => {
                    eprintln!("connected to {url} (status {})", response.status());
                    match probe {
                        Some(text) => client.connection()?.send_text(text, &mut output)?,
                        None => 0,
                    }
                }
                Event::Rejected(response) => {
                    let (status, reason) = (response.status(), response.reason());
                    return Err(format!("server refused the upgrade: {status} {reason}").into());
                }
                Event::Text(text) if probe.is_some() => {
                    if Some(text) != probe {
                        return Err(format!("probe echo differs: {text:?}").into());
                    }
                    eprintln!("probe echoed: {text:?}");
                    let connection = client.connection()?;
                    connection.close(CloseCode::NORMAL, "probe done", now(), &mut output)?
                }
                Event::Close(frame) => {
                    let code = frame.reported_code().0;
                    eprintln!("server closed: code={code} reason={:?}", frame.reason);
                    0
                }
                // The Close with the error's code is queued: send it, then give up.
                Event::Failed(error) => {
                    flush(&mut client, &mut stream, &mut output)?;
                    return Err(error.into());
                }
                Event::HandshakeFailed(error) => return Err(error.into()),
                // Whole messages, or pieces collected into one; Pings (the Pong is queued).
                _ => match assembler.push(&event)? {
                    Some(message) => {
                        let connection = client.connection()?;
                        encode(&mut output, |out| match message {
                            WholeMessage::Text(text) => connection.send_text(text, out),
                            WholeMessage::Binary(data) => connection.send_binary(data, out),
                        })?
                    }
                    None => 0,
                },
            };
            stream.write_all(&output[..n])?;
            flush(&mut client, &mut stream, &mut output)?;
        }
        if client.should_close_transport() {
            return Ok(());
        }
        // Wait for bytes, at most until the next deadline (handshake, keep-alive, close).
        let timeout = client.poll_timeout().map(|at| {
            at.saturating_duration_since(now())
                .max(Duration::from_millis(1))
        });
        stream.set_read_timeout(timeout)?;
        match stream.read(input.read_space()) {
            Ok(0) => return Ok(client.handle_eof()?),
            Ok(n) => input.commit(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if let Some(timed_out) = client.handle_timeout(now()) {
                    return Err(timed_out.into());
                }
                flush(&mut client, &mut stream, &mut output)?; // a keep-alive Ping
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connect to the first address of `host` that answers within `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(ErrorKind::NotFound, format!("no address for {host}"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// Run an encoding command, growing `output` to the size it reports when it is too small
/// (a masked frame is a copy of the message).
fn encode(
    output: &mut Vec<u8>,
    mut command: impl FnMut(&mut [u8]) -> Result<usize, sockless::Error>,
) -> Result<usize, sockless::Error> {
    match command(output) {
        Err(sockless::Error::BufferTooSmall { needed }) => {
            output.resize(needed, 0);
            command(output)
        }
        other => other,
    }
}

/// Write everything owed: the request, a Pong, a keep-alive Ping, the Close.
fn flush(
    client: &mut Client<'_, OsRng>,
    stream: &mut TcpStream,
    output: &mut [u8],
) -> Result<(), Box<dyn Error>> {
    loop {
        let n = client.poll_transmit(output)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&output[..n])?;
    }
}
