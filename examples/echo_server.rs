//! An echo server over `std::net`, a thread per connection: every text and binary message
//! comes back whole, with the same type; pings are answered, close handshakes completed.
//!
//! A message is echoed once it is complete (up to 64 MiB), not piece by piece: a peer that
//! does not read while it sends (many do not) would otherwise fill both TCP windows and
//! wait for us forever. Text is still validated as it arrives, so bad UTF-8 fails at once.
//!
//! `cargo run --release --example echo_server -- 127.0.0.1:9001`

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant as Clock};

use sockless::assemble::{MessageAssembler, WholeMessage};
use sockless::frame::MAX_HEADER_LEN;
use sockless::{Accept, Config, Endpoint, Error, Event, InputBuffer, Instant, Server};

/// Input buffer: any head and any control frame fit; larger messages stream through it.
const BUFFER: usize = 64 * 1024;
/// How long a write may make no progress before the peer is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            match serve(stream) {
                Ok(outcome) => eprintln!("{peer}: {outcome}"),
                Err(error) => eprintln!("{peer}: {error}"),
            }
        });
    }
    Ok(())
}

/// Serve one connection until it ends; returns how it ended.
fn serve(mut stream: TcpStream) -> Result<String, Box<dyn std::error::Error>> {
    let clock = Clock::now();
    let now = || Instant::from_elapsed(clock.elapsed());
    // Keep-alive pings give every read a deadline, even on an idle connection.
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    let mut server = Server::new(config, now());
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut input = InputBuffer::new(vec![0; BUFFER], &config)?;
    // Responses and control frames; messages are echoed from the input buffer itself.
    let mut output = [0; 1024];
    let mut assembler = MessageAssembler::new();
    let mut outcome = String::from("closed without a close handshake");
    loop {
        while let Some(event) = input.receive(&mut server, now())? {
            let n = match event {
                Event::Request(request) if request.is_upgrade() => {
                    server.accept(&request, Accept::default(), now(), &mut output)?
                }
                Event::Request(request) => {
                    outcome = format!(
                        "answered plain HTTP {} {} with 400",
                        request.method(),
                        request.target()
                    );
                    server.respond(
                        400,
                        &[("Content-Type", b"text/plain")],
                        b"This is a WebSocket echo server.\n",
                        &mut output,
                    )?
                }
                Event::Close(frame) => {
                    let code = frame.reported_code().0;
                    outcome = format!("closed by peer, code={code} reason={:?}", frame.reason);
                    0
                }
                // The answer (a Close with the error's code, a 400 / 426 / 431) is queued.
                Event::Failed(error) => {
                    outcome = Error::from(error).to_string();
                    0
                }
                Event::HandshakeFailed(error) => {
                    outcome = Error::from(error).to_string();
                    0
                }
                // Whole messages, or pieces collected into one; Pings (the Pong is queued).
                _ => match assembler.push(&event)? {
                    Some(message) => echo(&mut server, &mut stream, message)?,
                    None => 0,
                },
            };
            stream.write_all(&output[..n])?;
            flush(&mut server, &mut stream, &mut output)?;
        }
        if server.should_close_transport() {
            return Ok(outcome);
        }
        // Wait for bytes, at most until the next deadline (handshake, keep-alive, close).
        let timeout = server.poll_timeout().map(|at| {
            at.saturating_duration_since(now())
                .max(Duration::from_millis(1))
        });
        stream.set_read_timeout(timeout)?;
        match stream.read(input.read_space()) {
            Ok(0) => {
                server.handle_eof()?;
                return Ok(outcome);
            }
            Ok(n) => input.commit(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if let Some(timed_out) = server.handle_timeout(now()) {
                    outcome = timed_out.to_string();
                }
                flush(&mut server, &mut stream, &mut output)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Echo a whole message: the frame header, then the payload straight from where it lies,
/// in one vectored write (no copy of the payload). Returns 0: nothing left in `output`.
fn echo(
    server: &mut Server,
    stream: &mut TcpStream,
    message: WholeMessage<'_>,
) -> Result<usize, Box<dyn std::error::Error>> {
    let payload = message.as_bytes();
    let connection = server.connection()?;
    let mut header = [0; MAX_HEADER_LEN];
    let written =
        connection.send_header(message.kind(), payload.len() as u64, true, &mut header)?;
    let mut slices = [IoSlice::new(&header[..written.len]), IoSlice::new(payload)];
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let n = stream.write_vectored(slices)?;
        if n == 0 {
            return Err(std::io::Error::from(ErrorKind::WriteZero).into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    // The payload is on the wire: the connection may write other frames again.
    connection.payload_written(payload.len() as u64)?;
    Ok(0)
}

/// Write everything the protocol owes (Pong, Close, rejection, 408).
fn flush(
    server: &mut Server,
    stream: &mut TcpStream,
    output: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        let n = server.poll_transmit(output)?;
        if n == 0 {
            return Ok(());
        }
        // A peer that went away cannot be answered; the connection ends anyway.
        if stream.write_all(&output[..n]).is_err() {
            return Ok(());
        }
    }
}
