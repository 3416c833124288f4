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
use std::time::Instant as Clock;

use sockless::assemble::{Message, MessageAssembler};
use sockless::{Config, Error, Event, Instant, MessageKind, Server};

/// Input buffer: any head and any control frame fit; larger messages stream through it.
const BUFFER: usize = 64 * 1024;

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
    let config = Config {
        max_message_len: 64 << 20,
        ..Config::default()
    };
    let mut server = Server::new(config);
    stream.set_nodelay(true)?;
    let mut input = vec![0; BUFFER];
    let mut output = vec![0; BUFFER + 64];
    let mut filled = 0;
    let mut assembler = MessageAssembler::new();
    let mut outcome = String::from("closed without a close handshake");
    loop {
        let mut start = 0;
        loop {
            let received = match server.receive(&mut input[start..filled], now()) {
                Ok(received) => received,
                Err(error) => {
                    // The rejection or Close the error calls for is owed: send it, then stop.
                    flush(&mut server, &mut stream, &mut output)?;
                    return Err(error.into());
                }
            };
            start += received.consumed;
            let Some(event) = received.event else { break };
            let written = match event {
                Event::Request(request) if request.is_upgrade() => {
                    server.accept(&request, None, &[], &mut output)?
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
                Event::Text(text) => {
                    echo(&mut server, &mut stream, MessageKind::Text, text.as_bytes())?
                }
                Event::Binary(data) => echo(&mut server, &mut stream, MessageKind::Binary, data)?,
                Event::Chunk(_) => match assembler.push(&event) {
                    Some(Message::Text(text)) => {
                        echo(&mut server, &mut stream, MessageKind::Text, text.as_bytes())?
                    }
                    Some(Message::Binary(data)) => {
                        echo(&mut server, &mut stream, MessageKind::Binary, &data)?
                    }
                    None => 0,
                },
                Event::Close(frame) => {
                    outcome = format!(
                        "closed by peer, code={} reason={:?}",
                        frame.reported_code().0,
                        frame.reason
                    );
                    0
                }
                _ => 0,
            };
            stream.write_all(&output[..written])?;
            flush(&mut server, &mut stream, &mut output)?;
        }
        input.copy_within(start..filled, 0);
        filled -= start;
        if server.should_close_transport() {
            return Ok(outcome);
        }
        let timeout = server
            .poll_timeout()
            .map(|at| at.saturating_duration_since(now()));
        stream.set_read_timeout(timeout.map(|t| t.max(std::time::Duration::from_millis(1))))?;
        match stream.read(&mut input[filled..]) {
            Ok(0) => {
                return match server.handle_eof() {
                    Ok(()) => Ok(outcome),
                    Err(error) => Err(error.into()),
                };
            }
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                server.handle_timeout(now())?;
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
    kind: MessageKind,
    payload: &[u8],
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut header = [0; sockless::frame::MAX_HEADER_LEN];
    let written = server.send_header(kind, payload.len() as u64, true, &mut header)?;
    let mut slices = [IoSlice::new(&header[..written.len]), IoSlice::new(payload)];
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let n = stream.write_vectored(slices)?;
        if n == 0 {
            return Err(std::io::Error::from(ErrorKind::WriteZero).into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(0)
}

/// Write everything the protocol owes (Pong, Close, rejection).
fn flush(server: &mut Server, stream: &mut TcpStream, output: &mut [u8]) -> Result<(), Error> {
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
