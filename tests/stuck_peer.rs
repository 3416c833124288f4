//! The driving scenarios of real peers, end to end against the example binaries:
//!
//! - a client that sends until its writes block and never reads again is given up by
//!   every example server within its write timeout (`--write-timeout 2`), and the
//!   connection is closed;
//! - a server that resets the TCP connection right after the closing handshake: every
//!   example client still exits 0 (a clean close is never an I/O error).
//!
//! The binaries are the ones built next to this test (`cargo test` builds them; run
//! `cargo build --examples --all-features` before `cargo test --all-features --test
//! stuck_peer` alone). Each test needs its example's features.
#![cfg(feature = "std")]
#![allow(dead_code)]

mod common;
use common::example;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The write timeout the servers are started with.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How much later than the write timeout the connection may end: the server's clock
/// starts when its own write stalls, before ours do, so this is slack for a loaded machine.
const MARGIN: Duration = Duration::from_secs(3);

/// A server example on a free loopback port, killed when dropped; its log lines arrive
/// on `log`.
struct Server {
    child: Child,
    addr: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(name: &str, args: &[&str]) -> Server {
        let mut child = Command::new(example(name))
            .args(["--write-timeout", &WRITE_TIMEOUT.as_secs().to_string()])
            .arg("127.0.0.1:0")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (lines, log) = mpsc::channel();
        thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let first = log
            .recv_timeout(Duration::from_secs(20))
            .expect("the server says where it listens");
        // "listening on 127.0.0.1:PORT" (and " (wss)").
        let addr = first
            .trim_start_matches("listening on ")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "unexpected first line {first:?}"
        );
        Server { child, addr, log }
    }

    /// The log line about the connection from `peer`, waiting at most `within`.
    fn line_about(&self, peer: &str, within: Duration) -> Option<String> {
        let end = Instant::now() + within;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            match self.log.recv_timeout(left) {
                Ok(line) if line.starts_with(&format!("{peer}:")) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A masked client frame (RFC 6455 §5.2, §5.3) with a fixed key.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x5a, 0x0f, 0xc3, 0x81];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// An unmasked server frame (payload under 126 bytes).
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x80 | opcode, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

/// Read an HTTP head byte by byte (nothing after it is taken).
fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) => head.push(byte[0]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// How a flood ended.
#[derive(Debug)]
struct Flood {
    /// When our writes stopped making progress.
    blocked_at: Instant,
    /// When the connection was seen closed (a write failed), if it was within the bound.
    closed_after: Option<Duration>,
    sent: usize,
}

/// Send 64 KiB binary messages over `stream` (already upgraded), never reading, until the
/// writes block; then keep offering the rest, still never reading, until a write fails
/// (the server closed the connection) or the write timeout and the margin passed.
fn flood(stream: &mut (impl Write + ?Sized), bound: Duration) -> Flood {
    let frame = client_frame(0x2, &vec![0xab; 64 * 1024]);
    let mut at = 0;
    let mut sent = 0;
    let mut progress = Instant::now();
    let mut blocked_at = None;
    let started = Instant::now();
    loop {
        match stream.write(&frame[at..]) {
            Ok(0) => panic!("the socket took nothing"),
            Ok(n) => {
                sent += n;
                at = (at + n) % frame.len();
                progress = Instant::now();
                blocked_at = None;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // Blocked: no progress for 300 ms.
                if blocked_at.is_none() && progress.elapsed() >= Duration::from_millis(300) {
                    blocked_at = Some(progress);
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                let blocked_at = blocked_at.unwrap_or(progress);
                return Flood {
                    blocked_at,
                    closed_after: Some(blocked_at.elapsed()),
                    sent,
                };
            }
        }
        if let Some(blocked) = blocked_at {
            if blocked.elapsed() > bound {
                return Flood {
                    blocked_at: blocked,
                    closed_after: None,
                    sent,
                };
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writes never blocked ({sent} bytes sent)"
        );
    }
}

/// Connect to `server`, upgrade, flood it without reading; assert it gives the
/// connection up within the write timeout (and the margin) and says why.
fn stuck_client_is_given_up(server: &Server) {
    let mut tcp = TcpStream::connect(&server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(UPGRADE).unwrap();
    let head = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let peer = tcp.local_addr().unwrap().to_string();
    tcp.set_nonblocking(true).unwrap();
    let flood = flood(&mut tcp, WRITE_TIMEOUT + MARGIN);
    let closed = flood.closed_after.unwrap_or_else(|| {
        panic!(
            "the server still held the connection {:?} after our writes blocked ({} bytes \
             sent); its log: {:?}",
            WRITE_TIMEOUT + MARGIN,
            flood.sent,
            server.line_about(&peer, Duration::from_secs(1))
        )
    });
    let line = server
        .line_about(&peer, Duration::from_secs(5))
        .expect("the server logs how the connection ended");
    assert!(line.contains("write timeout"), "{line}");
    eprintln!(
        "given up {closed:?} after our writes blocked ({} bytes sent): {line}",
        flood.sent
    );
}

#[test]
fn echo_server_gives_up_a_client_that_stops_reading() {
    let server = Server::start("echo_server", &[]);
    stuck_client_is_given_up(&server);
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_echo_server_gives_up_a_client_that_stops_reading() {
    let server = Server::start("tokio_echo_server", &[]);
    stuck_client_is_given_up(&server);
}

/// Over TLS the client's own rustls keeps reading records inside its blocked writes until
/// its plaintext buffer is full, so the server's writes stall later than ours: a longer
/// bound.
const WSS_BOUND: Duration = Duration::from_secs(15);

/// Over TLS: `rustls::StreamOwned` reports what it buffered as written and reads from
/// the socket inside a blocked write; the server must give the peer up all the same.
#[cfg(feature = "rustls")]
#[test]
fn wss_echo_server_gives_up_a_client_that_stops_reading() {
    use rustls::pki_types::CertificateDer;
    use std::sync::Arc;

    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("sockless-stuck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let server = Server::start(
        "wss_echo_server",
        &[cert.to_str().unwrap(), key.to_str().unwrap()],
    );
    let _ = std::fs::remove_dir_all(&dir);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(made.cert.der().to_vec()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().unwrap();
    let tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(&server.addr).unwrap();
    let peer = tcp.local_addr().unwrap().to_string();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    stream.write_all(UPGRADE).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // A blocking socket whose writes give up quickly: `flood` sees them block.
    stream
        .sock
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let flood = flood(&mut stream, WSS_BOUND);
    let closed = flood.closed_after.unwrap_or_else(|| {
        panic!(
            "the server still held the connection {:?} after our writes blocked; its log: {:?}",
            WSS_BOUND,
            server.line_about(&peer, Duration::from_secs(1))
        )
    });
    let line = server
        .line_about(&peer, Duration::from_secs(5))
        .expect("the server logs how the connection ended");
    assert!(line.contains("write timeout"), "{line}");
    eprintln!("given up {closed:?} after our writes blocked: {line}");
}

/// Which frames a resetting server sends after the handshake.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// Wait for the client's text (`--once`), echo it, send Close 1000 at once, read the
    /// client's Close, reset.
    EchoTheProbe,
    /// Send a text for the client to echo, read the echo, send Close 1000, read the
    /// client's Close echo, reset.
    SendOneMessage,
}

/// Read one client frame (masked) from `stream`: its opcode and payload.
fn read_client_frame(stream: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0; 2];
    stream.read_exact(&mut head)?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut len = [0; 2];
            stream.read_exact(&mut len)?;
            u64::from(u16::from_be_bytes(len))
        }
        127 => {
            let mut len = [0; 8];
            stream.read_exact(&mut len)?;
            u64::from_be_bytes(len)
        }
        len => u64::from(len),
    };
    let mut key = [0; 4];
    if head[1] & 0x80 != 0 {
        stream.read_exact(&mut key)?;
    }
    let mut payload = vec![0; len as usize];
    stream.read_exact(&mut payload)?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    Ok((head[0] & 0x0f, payload))
}

/// A raw server for one connection: the handshake, `script`, then a TCP reset (SO_LINGER
/// 0, then close). Returns what it saw, for the assertion messages.
fn resetting_server(listener: TcpListener, script: Script) -> thread::JoinHandle<String> {
    resetting_server_over(listener, script, |tcp| tcp)
}

/// A stream over a TCP connection, which the server resets.
trait Socket {
    fn socket(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

#[cfg(feature = "rustls")]
impl Socket for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

/// [`resetting_server`] over the stream `wrap` makes of the TCP connection (TLS).
fn resetting_server_over<S: Read + Write + Socket + 'static>(
    listener: TcpListener,
    script: Script,
    wrap: impl FnOnce(TcpStream) -> S + Send + 'static,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tcp = wrap(tcp);
        let head = read_head(&mut tcp);
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_string())
            })
            .expect("a key");
        let accept = sockless::handshake::accept_value(key.as_bytes());
        let accept = std::str::from_utf8(&accept).unwrap();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        tcp.write_all(response.as_bytes()).unwrap();
        let mut seen = Vec::new();
        match script {
            Script::EchoTheProbe => {
                let (opcode, text) = read_client_frame(&mut tcp).unwrap();
                assert_eq!(opcode, 0x1);
                tcp.write_all(&server_frame(0x1, &text)).unwrap();
            }
            Script::SendOneMessage => {
                tcp.write_all(&server_frame(0x1, b"echo me")).unwrap();
                let (opcode, text) = read_client_frame(&mut tcp).unwrap();
                seen.push(format!("{opcode:#x} {:?}", String::from_utf8_lossy(&text)));
            }
        }
        tcp.write_all(&server_frame(0x8, &[0x03, 0xe8])).unwrap();
        // Until the client's Close (its own, or its echo of ours).
        loop {
            match read_client_frame(&mut tcp) {
                Ok((0x8, payload)) => {
                    seen.push(format!("close {payload:?}"));
                    break;
                }
                Ok((opcode, payload)) => seen.push(format!("{opcode:#x} {payload:?}")),
                Err(e) => {
                    seen.push(format!("read failed: {e}"));
                    break;
                }
            }
        }
        // Let the client read our Close before the reset arrives (it sent its Close, so
        // ours is on its way or read already), then reset.
        thread::sleep(Duration::from_millis(100));
        socket2::SockRef::from(tcp.socket())
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(tcp);
        seen.join("; ")
    })
}

/// Run `command` until it exits (killed and failed after `limit`): its status and its
/// standard error.
fn run_for_at_most(mut command: Command, limit: Duration) -> (std::process::ExitStatus, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    (status, log)
}

/// Run the example client `name` against a server that resets after the closing
/// handshake; assert it exits 0.
fn exits_0_after_a_reset(name: &str, script: Script) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/reset", listener.local_addr().unwrap());
    let server = resetting_server(listener, script);
    let mut command = Command::new(example(name));
    command.arg(&url);
    if let Script::EchoTheProbe = script {
        command.args(["--once", "probe"]);
    }
    let (status, log) = run_for_at_most(command, Duration::from_secs(20));
    let seen = server.join().unwrap();
    assert!(
        status.success(),
        "{name} ({script:?}) exited with {status} after a clean close and a reset; \
         its log: {log}; the server saw: {seen}"
    );
}

#[test]
fn echo_client_exits_0_when_the_server_resets_after_the_close() {
    exits_0_after_a_reset("echo_client", Script::EchoTheProbe);
    exits_0_after_a_reset("echo_client", Script::SendOneMessage);
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_echo_client_exits_0_when_the_server_resets_after_the_close() {
    exits_0_after_a_reset("tokio_echo_client", Script::EchoTheProbe);
    exits_0_after_a_reset("tokio_echo_client", Script::SendOneMessage);
}

#[cfg(feature = "embedded-io-async")]
#[test]
fn embedded_echo_client_exits_0_when_the_server_resets_after_the_close() {
    exits_0_after_a_reset("embedded_echo_client", Script::EchoTheProbe);
    exits_0_after_a_reset("embedded_echo_client", Script::SendOneMessage);
}

#[cfg(feature = "rustls")]
#[test]
fn wss_echo_client_exits_0_when_the_server_resets_after_the_close() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;

    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("sockless-reset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, made.cert.pem()).unwrap();
    let cert = CertificateDer::from(made.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let config = Arc::new(config);
    for script in [Script::EchoTheProbe, Script::SendOneMessage] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = config.clone();
        let server = resetting_server_over(listener, script, move |tcp| {
            let tls = rustls::ServerConnection::new(config).unwrap();
            rustls::StreamOwned::new(tls, tcp)
        });
        let mut command = Command::new(example("wss_echo_client"));
        command
            .arg(format!("wss://localhost:{port}/reset"))
            .arg(&ca);
        if let Script::EchoTheProbe = script {
            command.args(["--once", "probe"]);
        }
        let (status, log) = run_for_at_most(command, Duration::from_secs(20));
        let seen = server.join().unwrap();
        assert!(
            status.success(),
            "wss_echo_client ({script:?}) exited with {status} after a clean close and a \
             reset; its log: {log}; the server saw: {seen}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
