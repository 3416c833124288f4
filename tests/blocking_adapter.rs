//! The blocking adapter (`sockless::io::blocking`) over loopback, in both roles: echo,
//! Pongs under a read-only loop, both closing directions, every deadline (close,
//! handshake on both sides), violations by a raw peer, and wss with rustls. Each test runs
//! under a time bound.
#![cfg(feature = "std")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sockless::io::blocking::{self, Decision, Transport};
use sockless::io::{Error, Message, OwnedCloseFrame};
use sockless::{CloseCode, Config, ProtocolError, TimedOut};

/// Run `test` on its own thread and fail if it takes longer than `secs`.
fn bounded(secs: u64, test: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => runner.join().unwrap(),
        // The test panicked: show its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(runner.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test took more than {secs} s"),
    }
}

fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// A server thread that accepts one connection and echoes every message until the peer
/// closes; it returns what it read last (the Close) and what the read after it gave.
fn echo_server(
    listener: TcpListener,
    config: Config,
) -> thread::JoinHandle<(Message, Result<Message, Error>)> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept_with(stream, config, |_| Decision::accept()).unwrap();
        loop {
            match ws.read().unwrap() {
                message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).unwrap(),
                close @ Message::Close(_) => return (close, ws.read()),
                _ => {}
            }
        }
    })
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(OwnedCloseFrame {
        code: CloseCode(code),
        reason: reason.into(),
    }))
}

#[test]
fn echo_of_text_binary_and_large_messages() {
    bounded(30, || {
        let (listener, addr) = bind();
        let server = echo_server(listener, Config::default());
        let mut ws = blocking::connect(&format!("ws://{addr}/echo")).unwrap();
        let large: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
        let large_text = "héllo wörld ✓ ".repeat((1 << 20) / 20);
        let messages = [
            Message::Text("hello".into()),
            Message::Text(String::new()),
            Message::Binary(vec![0, 1, 2, 255]),
            Message::Binary(large.clone()),
            Message::Text(large_text.clone()),
        ];
        for message in messages {
            ws.send(message.clone()).unwrap();
            assert_eq!(ws.read().unwrap(), message);
        }
        // The borrowed forms too, and the zero-copy read.
        ws.send_binary(&large).unwrap();
        let length = ws
            .read_event(|event| match event {
                sockless::Event::Binary(data) => data.len(),
                sockless::Event::Chunk(chunk) => chunk.data.len(),
                other => panic!("{other:?}"),
            })
            .unwrap();
        assert!(length > 0 && length <= large.len());
        // Read the rest of the message, then close.
        let mut seen = length;
        while seen < large.len() {
            seen += ws
                .read_event(|event| match event {
                    sockless::Event::Chunk(chunk) => chunk.data.len(),
                    other => panic!("{other:?}"),
                })
                .unwrap();
        }
        assert_eq!(seen, large.len());
        ws.close(CloseCode::NORMAL, "done").unwrap();
        assert!(ws.is_closed());
        assert!(matches!(ws.send_text("late"), Err(Error::Closed)));
        assert!(matches!(ws.read(), Err(Error::Closed)));
        let (close, after) = server.join().unwrap();
        assert_eq!(close, close_frame(1000, "done"));
        assert!(matches!(after, Err(Error::Closed)), "{after:?}");
    });
}

/// A stream that keeps what is written until `flush` (as a `BufWriter` would): owed
/// frames must still reach the wire (USER-PAINS 2).
struct HeldUntilFlush {
    inner: TcpStream,
    held: Vec<u8>,
}

impl Read for HeldUntilFlush {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for HeldUntilFlush {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.held.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.write_all(&self.held)?;
        self.held.clear();
        self.inner.flush()
    }
}

impl Transport for HeldUntilFlush {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        self.flush()?;
        Transport::shutdown(&mut self.inner)
    }
}

/// A tungstenite peer pings every 100 ms; each Pong must come back within 1 s.
fn ping_ten_times<S: Read + Write>(peer: &mut tungstenite::WebSocket<S>) {
    for i in 0..10u8 {
        let payload = vec![i; usize::from(i) * 12];
        let sent = Instant::now();
        peer.send(tungstenite::Message::Ping(payload.clone().into()))
            .unwrap();
        match peer.read() {
            Ok(tungstenite::Message::Pong(pong)) => assert_eq!(&pong[..], &payload[..]),
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("no Pong for ping {i}: {e}"),
        }
        assert!(sent.elapsed() < Duration::from_secs(1));
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_read_only_server_answers_every_ping_even_over_a_stream_held_until_flush() {
    bounded(30, || {
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let stream = HeldUntilFlush {
                inner: stream,
                held: Vec::new(),
            };
            let mut ws = blocking::accept(stream).unwrap();
            let mut pings = 0;
            loop {
                match ws.read().unwrap() {
                    Message::Ping(_) => pings += 1,
                    close @ Message::Close(_) => return (pings, close, ws.read()),
                    other => panic!("{other:?}"),
                }
            }
        });
        let stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let (mut peer, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
        ping_ten_times(&mut peer);
        peer.close(None).unwrap();
        // The Close echo reaches the wire too, then the end of the stream.
        loop {
            match peer.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let (pings, close, after) = server.join().unwrap();
        assert_eq!(pings, 10);
        assert_eq!(close, Message::Close(None));
        assert!(matches!(after, Err(Error::Closed)));
    });
}

#[test]
fn a_read_only_client_answers_every_ping() {
    bounded(30, || {
        let (listener, addr) = bind();
        let peer = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(1)))
                .unwrap();
            let mut peer = tungstenite::accept(stream).unwrap();
            ping_ten_times(&mut peer);
            peer.close(None).unwrap();
            loop {
                match peer.read() {
                    Ok(_) => {}
                    Err(tungstenite::Error::ConnectionClosed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut ws = blocking::connect(&format!("ws://{addr}/")).unwrap();
        let mut pings = 0;
        loop {
            match ws.read().unwrap() {
                Message::Ping(_) => pings += 1,
                Message::Close(frame) => {
                    assert_eq!(frame, None);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(pings, 10);
        assert!(matches!(ws.read(), Err(Error::Closed)));
        peer.join().unwrap();
    });
}

#[test]
fn the_server_closes_first() {
    bounded(20, || {
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = blocking::accept(stream).unwrap();
            ws.send_text("before close").unwrap();
            ws.close(CloseCode(4001), "server bye").unwrap();
            assert!(ws.is_closed());
        });
        let mut ws = blocking::connect(&format!("ws://{addr}/")).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text("before close".into()));
        assert_eq!(ws.read().unwrap(), close_frame(4001, "server bye"));
        // The echo was written, the server closed the TCP connection and ours is shut.
        assert!(ws.is_closed());
        assert!(matches!(ws.read(), Err(Error::Closed)));
        assert!(matches!(ws.read(), Err(Error::Closed)));
        server.join().unwrap();
    });
}

#[test]
fn the_client_closes_first_and_a_raw_peer_sees_one_echo_then_the_end() {
    bounded(20, || {
        let (listener, addr) = bind();
        let server = echo_server(listener, Config::default());
        let mut ws = blocking::connect(&format!("ws://{addr}/")).unwrap();
        ws.close(CloseCode::NORMAL, "client bye").unwrap();
        assert!(ws.is_closed());
        let (close, after) = server.join().unwrap();
        assert_eq!(close, close_frame(1000, "client bye"));
        assert!(matches!(after, Err(Error::Closed)));

        // The same, byte by byte: exactly one Close comes back, then the end of the stream.
        let (listener, addr) = bind();
        let server = echo_server(listener, Config::default());
        let mut raw = raw_client(&addr);
        raw.write_all(&masked(0x88, &[0x03, 0xE8, b'o', b'k']))
            .unwrap();
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, [0x88, 0x02, 0x03, 0xE8]);
        let (close, after) = server.join().unwrap();
        assert_eq!(close, close_frame(1000, "ok"));
        assert!(matches!(after, Err(Error::Closed)));
    });
}

/// A client frame, masked with a fixed key.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// A TCP connection to `addr` whose opening handshake was done by hand.
fn raw_client(addr: &str) -> TcpStream {
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut raw);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    raw
}

/// Read an HTTP head, byte by byte (nothing after it is taken).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A server whose opening handshake is done by hand; it answers with 101 and returns the
/// stream.
fn raw_server(listener: &TcpListener) -> TcpStream {
    let (mut raw, _) = listener.accept().unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = read_head(&mut raw);
    let key = head
        .lines()
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    let accept = sockless::handshake::accept_value(key.as_bytes());
    let accept = std::str::from_utf8(&accept).unwrap();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    raw.write_all(response.as_bytes()).unwrap();
    raw
}

/// Read one frame from a client (masked) or a server; its first byte and unmasked
/// payload.
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0; 2];
    stream.read_exact(&mut head).unwrap();
    let len = usize::from(head[1] & 0x7f);
    assert!(len < 126);
    let mut key = [0; 4];
    if head[1] & 0x80 != 0 {
        stream.read_exact(&mut key).unwrap();
    }
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).unwrap();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    (head[0], payload)
}

#[test]
fn a_peer_that_never_answers_our_close_ends_at_the_close_timeout() {
    bounded(20, || {
        let config = Config::default().with_close_timeout(Duration::from_millis(300));
        // Our server, a raw client that never answers.
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = blocking::accept_with(stream, config, |_| Decision::accept()).unwrap();
            let start = Instant::now();
            let closed = ws.close(CloseCode::GOING_AWAY, "");
            (closed, start.elapsed(), ws.is_closed())
        });
        let mut raw = raw_client(&addr);
        assert_eq!(read_frame(&mut raw), (0x88, vec![0x03, 0xE9]));
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{rest:?}");
        let (closed, took, shut) = server.join().unwrap();
        assert!(
            matches!(closed, Err(Error::TimedOut(TimedOut::Closing))),
            "{closed:?}"
        );
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3));
        assert!(shut);

        // Our client, a raw server that never answers.
        let (listener, addr) = bind();
        let peer = thread::spawn(move || {
            let mut raw = raw_server(&listener);
            let frame = read_frame(&mut raw);
            let mut rest = Vec::new();
            raw.read_to_end(&mut rest).unwrap();
            (frame, rest)
        });
        let mut ws = blocking::connect_with(&format!("ws://{addr}/"), config).unwrap();
        let start = Instant::now();
        let closed = ws.close(CloseCode::NORMAL, "bye");
        assert!(
            matches!(closed, Err(Error::TimedOut(TimedOut::Closing))),
            "{closed:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(3));
        let (frame, rest) = peer.join().unwrap();
        assert_eq!(frame, (0x88, b"\x03\xe8bye".to_vec()));
        assert!(rest.is_empty());
    });
}

#[test]
fn a_slowloris_client_gets_408_at_the_handshake_deadline() {
    bounded(20, || {
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let config = Config::default().with_handshake_timeout(Duration::from_millis(500));
            let start = Instant::now();
            let accepted = blocking::accept_with(stream, config, |_| Decision::accept());
            (accepted.err(), start.elapsed())
        });
        let mut raw = TcpStream::connect(&addr).unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        // One byte every 20 ms, for ever: the deadline must still fire.
        let mut response = Vec::new();
        raw.set_nonblocking(true).unwrap();
        for byte in b"X-Slow: ".iter().cycle() {
            let _ = raw.write_all(&[*byte]);
            let mut buf = [0; 256];
            match raw.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            thread::sleep(Duration::from_millis(20));
        }
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{response}"
        );
        let (error, took) = server.join().unwrap();
        assert!(
            matches!(error, Some(Error::TimedOut(TimedOut::Handshake))),
            "{error:?}"
        );
        assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(3));
    });
}

#[test]
fn a_silent_server_ends_the_connect_at_the_handshake_deadline() {
    bounded(20, || {
        let (listener, addr) = bind();
        let silent = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // Read the request, answer nothing, wait for the client to give up.
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
            sink
        });
        let config = Config::default().with_handshake_timeout(Duration::from_millis(400));
        let start = Instant::now();
        let result = blocking::connect_with(&format!("ws://{addr}/quiet"), config);
        let took = start.elapsed();
        assert!(
            matches!(result, Err(Error::TimedOut(TimedOut::Handshake))),
            "{:?}",
            result.err()
        );
        assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3));
        // The request was sent, then the transport was shut.
        let request = silent.join().unwrap();
        assert!(request.starts_with(b"GET /quiet HTTP/1.1\r\n"));
    });
}

#[test]
fn wss_without_tls_is_a_typed_error() {
    let result = blocking::connect("wss://127.0.0.1:1/");
    assert!(matches!(result, Err(Error::TlsNotConfigured)));
    let result = blocking::connect("http://127.0.0.1:1/");
    assert!(matches!(
        result,
        Err(Error::Usage(sockless::UsageError::InvalidUrl))
    ));
}

#[test]
fn a_violation_by_the_client_closes_with_its_code() {
    bounded(20, || {
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = blocking::accept(stream).unwrap();
            let first = ws.read();
            (first, ws.read(), ws.is_closed())
        });
        let mut raw = raw_client(&addr);
        // An unmasked frame from a client (RFC 6455 §5.1): 1002.
        raw.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        assert_eq!(read_frame(&mut raw), (0x88, vec![0x03, 0xEA]));
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        let (first, second, shut) = server.join().unwrap();
        assert!(
            matches!(
                first,
                Err(Error::Protocol(ProtocolError::UnmaskedClientFrame))
            ),
            "{first:?}"
        );
        assert!(matches!(second, Err(Error::Closed)));
        assert!(shut);
    });
}

#[test]
fn a_violation_by_the_server_closes_with_its_code() {
    bounded(20, || {
        let (listener, addr) = bind();
        let peer = thread::spawn(move || {
            let mut raw = raw_server(&listener);
            // Text that is not UTF-8 (RFC 6455 §8.1): 1007.
            raw.write_all(&[0x81, 0x02, 0xC3, 0x28]).unwrap();
            read_frame(&mut raw)
        });
        let mut ws = blocking::connect(&format!("ws://{addr}/")).unwrap();
        let result = ws.read();
        assert!(
            matches!(result, Err(Error::Protocol(ProtocolError::InvalidUtf8))),
            "{result:?}"
        );
        assert!(ws.is_closed());
        assert_eq!(peer.join().unwrap(), (0x88, vec![0x03, 0xEF]));
    });
}

#[test]
fn the_accept_hook_chooses_a_subprotocol_or_refuses() {
    bounded(20, || {
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let mut outcomes = Vec::new();
            for _ in 0..3 {
                let (stream, _) = listener.accept().unwrap();
                let accepted = blocking::accept_with(stream, Config::default(), |request| {
                    if request.path() == "/private" {
                        return Decision::reject(403);
                    }
                    if request.offers_subprotocol("chat") {
                        Decision::Accept(sockless::Accept::default().with_subprotocol("chat"))
                    } else {
                        Decision::accept()
                    }
                });
                outcomes.push(match accepted {
                    Ok(ws) => format!("open {:?}", ws.subprotocol()),
                    Err(Error::Rejected { status }) => format!("refused {status}"),
                    Err(other) => format!("error {other}"),
                });
            }
            outcomes
        });
        let url = format!("ws://{addr}/private");
        let refused = blocking::connect(&url);
        assert!(matches!(refused, Err(Error::Rejected { status: 403 })));

        let url = format!("ws://{addr}/room");
        let request = sockless::ClientRequest::from_url(&url)
            .unwrap()
            .with_subprotocols(&["superchat", "chat"]);
        let stream = TcpStream::connect(&addr).unwrap();
        let ws = blocking::client(stream, request, Config::default()).unwrap();
        assert_eq!(ws.subprotocol(), Some("chat"));
        drop(ws);

        // Plain HTTP: 400.
        let mut raw = TcpStream::connect(&addr).unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        raw.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");

        let outcomes = server.join().unwrap();
        assert_eq!(
            outcomes,
            ["refused 403", "open Some(\"chat\")", "refused 400"]
        );
    });
}

#[test]
fn keep_alive_gives_up_a_peer_that_stops_answering() {
    bounded(20, || {
        let (listener, addr) = bind();
        let peer = thread::spawn(move || {
            // Answers the handshake, then reads and never writes.
            let mut raw = raw_server(&listener);
            let mut sink = Vec::new();
            let _ = raw.read_to_end(&mut sink);
        });
        let config = Config::default()
            .with_keep_alive(Some(Duration::from_millis(100)))
            .with_keep_alive_timeout(Duration::from_millis(200));
        let mut ws = blocking::connect_with(&format!("ws://{addr}/"), config).unwrap();
        let start = Instant::now();
        let result = ws.read();
        assert!(
            matches!(result, Err(Error::TimedOut(TimedOut::KeepAlive))),
            "{result:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(3));
        peer.join().unwrap();
    });
}

#[cfg(feature = "rustls")]
mod wss {
    use super::*;
    use std::sync::Arc;

    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A self-signed certificate for `localhost`, made now; the server's configuration and a
    /// client configuration that trusts exactly that certificate.
    fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = made.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    #[test]
    fn wss_round_trip_in_both_roles() {
        bounded(30, || {
            let (server_config, client_config) = configs();
            let (listener, addr) = bind();
            let port = listener.local_addr().unwrap().port();
            let server = thread::spawn(move || {
                let (tcp, _) = listener.accept().unwrap();
                let tls = rustls::ServerConnection::new(server_config).unwrap();
                let stream = rustls::StreamOwned::new(tls, tcp);
                let mut ws = blocking::accept(stream).unwrap();
                loop {
                    match ws.read().unwrap() {
                        message @ (Message::Text(_) | Message::Binary(_)) => {
                            ws.send(message).unwrap()
                        }
                        close @ Message::Close(_) => return (close, ws.read()),
                        _ => {}
                    }
                }
            });
            let _ = addr;
            let url = format!("wss://localhost:{port}/secure");
            let mut ws = blocking::connect_tls(&url, Config::default(), client_config).unwrap();
            let large: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
            for message in [Message::Text("over tls".into()), Message::Binary(large)] {
                ws.send(message.clone()).unwrap();
                assert_eq!(ws.read().unwrap(), message);
            }
            ws.close(CloseCode::NORMAL, "tls bye").unwrap();
            let (close, after) = server.join().unwrap();
            assert_eq!(close, close_frame(1000, "tls bye"));
            assert!(matches!(after, Err(Error::Closed)));
        });
    }

    #[test]
    fn an_untrusted_certificate_fails_the_connect() {
        bounded(20, || {
            let (server_config, _) = configs();
            let (_, other_client) = configs();
            let (listener, _) = bind();
            let port = listener.local_addr().unwrap().port();
            let server = thread::spawn(move || {
                let (tcp, _) = listener.accept().unwrap();
                let tls = rustls::ServerConnection::new(server_config).unwrap();
                blocking::accept(rustls::StreamOwned::new(tls, tcp)).err()
            });
            let url = format!("wss://localhost:{port}/");
            let result = blocking::connect_tls(&url, Config::default(), other_client);
            let Err(Error::Io(error)) = result else {
                panic!("{:?}", result.err());
            };
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
            assert!(server.join().unwrap().is_some());
            // A ws:// URL is not for connect_tls.
            let (_, client) = configs();
            let result = blocking::connect_tls("ws://localhost:1/", Config::default(), client);
            assert!(matches!(
                result,
                Err(Error::Usage(sockless::UsageError::InvalidUrl))
            ));
        });
    }
}

#[cfg(unix)]
#[test]
fn both_roles_over_a_unix_socket_pair() {
    use std::os::unix::net::UnixStream;
    bounded(20, || {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let server = thread::spawn(move || {
            let mut ws = blocking::accept(theirs).unwrap();
            let message = ws.read().unwrap();
            ws.send(message).unwrap();
            (ws.read().unwrap(), ws.read())
        });
        let request = sockless::ClientRequest::new("localhost", 80, "/unix");
        let mut ws = blocking::client(ours, request, Config::default()).unwrap();
        ws.send(Message::Binary(vec![7; 300_000])).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Binary(vec![7; 300_000]));
        ws.close(CloseCode(4321), "unix bye").unwrap();
        let (close, after) = server.join().unwrap();
        assert_eq!(close, close_frame(4321, "unix bye"));
        assert!(matches!(after, Err(Error::Closed)));
    });
}

#[test]
fn a_peer_that_stops_reading_is_given_up_at_the_write_timeout() {
    bounded(30, || {
        // With a message of the peer's waiting unread in our input, or none.
        for message_waits in [false, true] {
            let config = Config::default().with_write_timeout(Duration::from_millis(500));
            let (listener, addr) = bind();
            let server = thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                let mut ws = blocking::accept_with(stream, config, |_| Decision::accept()).unwrap();
                if message_waits {
                    assert_eq!(ws.read().unwrap(), Message::Text("one".into()));
                }
                // Large messages, or small ones (staged: then the driver reads the
                // waiting message while it writes, and keeps it for the next read).
                let (len, count) = if message_waits {
                    (200, 1 << 20)
                } else {
                    (1 << 20, 1024)
                };
                let message = vec![7u8; len];
                // At most 200 MiB or 1 GiB: far more than loopback's socket buffers hold.
                for _ in 0..count {
                    let start = Instant::now();
                    if let Err(error) = ws.send_binary(&message) {
                        return (error, start.elapsed(), ws.is_closed());
                    }
                }
                panic!(
                    "{} MiB went into a peer that reads nothing",
                    (len * count) >> 20
                );
            });
            // A client that completes the handshake, sends two messages at once if asked,
            // then never reads again.
            let mut raw = raw_client(&addr);
            if message_waits {
                let mut two = masked(0x81, b"one");
                two.extend(masked(0x81, b"two"));
                raw.write_all(&two).unwrap();
            }
            let (error, took, shut) = server.join().unwrap();
            drop(raw);
            eprintln!("a peer that stopped reading was given up after {took:?}");
            assert!(
                matches!(error, Error::TimedOut(TimedOut::Write)),
                "{error:?}"
            );
            // The deadline runs from the last byte the peer took.
            assert!(
                took >= Duration::from_millis(500) && took < Duration::from_secs(3),
                "{took:?}"
            );
            assert!(shut);
        }
    });
}

#[test]
fn a_reset_after_both_close_frames_is_a_clean_close() {
    bounded(20, || {
        for client_reads_first in [true, false] {
            let (listener, addr) = bind();
            // A raw server that sends its Close, lets the client's Close arrive unread,
            // then drops the socket: with unread bytes, the kernel resets the connection.
            let peer = thread::spawn(move || {
                let mut raw = raw_server(&listener);
                raw.write_all(&[0x88, 0x02, 0x03, 0xe8]).unwrap();
                thread::sleep(Duration::from_millis(300));
            });
            let mut ws = blocking::connect(&format!("ws://{addr}/")).unwrap();
            if client_reads_first {
                let close = ws.read().unwrap();
                assert_eq!(close, close_frame(1000, ""));
            } else {
                // Our Close crosses the server's: both have passed when the reset comes.
                thread::sleep(Duration::from_millis(100));
                let closed = ws.close(CloseCode::NORMAL, "bye");
                assert!(closed.is_ok(), "{closed:?}");
            }
            let after = ws.read();
            assert!(matches!(after, Err(Error::Closed)), "{after:?}");
            assert!(ws.is_closed());
            peer.join().unwrap();
        }
    });
}

#[test]
fn the_close_timeout_wins_over_a_flood_of_frames() {
    bounded(30, || {
        let config = Config::default().with_close_timeout(Duration::from_millis(500));
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = blocking::accept_with(stream, config, |_| Decision::accept()).unwrap();
            let start = Instant::now();
            let closed = ws.close(CloseCode::NORMAL, "");
            (closed, start.elapsed())
        });
        // A client that never answers our Close and sends binary frames as fast as it
        // can, until the server gives it up (or 10 s pass).
        let mut raw = raw_client(&addr);
        let burst: Vec<u8> = (0..4096).flat_map(|_| masked(0x82, b"flood")).collect();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) && raw.write_all(&burst).is_ok() {}
        let (closed, took) = server.join().unwrap();
        eprintln!("a flooding peer was given up at the close timeout after {took:?}");
        assert!(
            matches!(closed, Err(Error::TimedOut(TimedOut::Closing))),
            "{closed:?}"
        );
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(3),
            "{took:?}"
        );
    });
}

#[test]
fn borrowed_payloads_of_every_size_class_echo_intact() {
    bounded(30, || {
        let (listener, addr) = bind();
        let server = echo_server(listener, Config::default());
        let mut ws = blocking::connect(&format!("ws://{addr}/echo")).unwrap();
        // Staged in the output buffer; a header then the payload masked on a copy in one
        // piece, then in several pieces (the client's own masking of a borrowed payload).
        for len in [
            0,
            100,
            1000,
            1010,
            2000,
            16 * 1024,
            16 * 1024 + 1,
            100_000,
            1 << 20,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 257) as u8).collect();
            ws.send_binary(&data).unwrap();
            assert_eq!(
                ws.read().unwrap(),
                Message::Binary(data),
                "binary of {len} bytes"
            );
            let text = "ü".repeat(len / 2);
            ws.send_text(&text).unwrap();
            assert_eq!(
                ws.read().unwrap(),
                Message::Text(text),
                "text of {len} bytes"
            );
        }
        ws.close(CloseCode::NORMAL, "").unwrap();
        let (close, _) = server.join().unwrap();
        assert_eq!(close, close_frame(1000, ""));
    });
}

#[test]
fn a_decision_the_request_does_not_allow_is_answered_500() {
    bounded(20, || {
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            // A subprotocol the client did not offer (RFC 6455 §4.2.2).
            blocking::accept_with(stream, Config::default(), |_| {
                Decision::Accept(sockless::Accept::default().with_subprotocol("never-offered"))
            })
            .err()
        });
        let refused = blocking::connect(&format!("ws://{addr}/"));
        assert!(
            matches!(refused, Err(Error::Rejected { status: 500 })),
            "{refused:?}"
        );
        let error = server.join().unwrap();
        assert!(matches!(error, Some(Error::Usage(_))), "{error:?}");
    });
}

/// A scripted transport: each read hands out the next of `reads` (bytes or an error);
/// once they run out, `then` forever (a new copy each read), until `gives_out` passes,
/// after which reads fail (so that a test of a bug that loops for ever fails instead of
/// hanging). Writes are kept in `written`.
struct ScriptedReads {
    reads: std::collections::VecDeque<std::io::Result<Vec<u8>>>,
    then: Option<Vec<u8>>,
    gives_out: Instant,
    written: Vec<u8>,
}

impl ScriptedReads {
    fn new(reads: Vec<std::io::Result<Vec<u8>>>, then: Option<Vec<u8>>) -> ScriptedReads {
        ScriptedReads {
            reads: reads.into(),
            then,
            gives_out: Instant::now() + Duration::from_secs(5),
            written: Vec::new(),
        }
    }
}

impl Read for ScriptedReads {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() > self.gives_out {
            return Err(std::io::Error::other("the script ran out"));
        }
        let next = match self.reads.pop_front() {
            Some(next) => next?,
            None => match &self.then {
                Some(then) => then.clone(),
                None => return Err(std::io::ErrorKind::ConnectionReset.into()),
            },
        };
        assert!(next.len() <= buf.len());
        buf[..next.len()].copy_from_slice(&next);
        Ok(next.len())
    }
}

impl Write for ScriptedReads {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Transport for ScriptedReads {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> std::io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> std::io::Result<()> {
        Ok(())
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A server's Close frame (unmasked) with `code`.
fn server_close_frame(code: u16) -> Vec<u8> {
    let mut frame = vec![0x88, 0x02];
    frame.extend_from_slice(&code.to_be_bytes());
    frame
}

#[test]
fn a_reset_after_the_closing_handshake_is_a_clean_end() {
    bounded(20, || {
        let config = Config::default();
        // We close; the server answers, then resets the TCP connection.
        let reads = vec![Ok(server_close_frame(1000))];
        let connection =
            sockless::Connection::client(&config, sockless::os_rng(), sockless::Instant::ZERO);
        let mut ws =
            blocking::WebSocket::from_connection(ScriptedReads::new(reads, None), connection, &[])
                .unwrap();
        assert!(matches!(ws.close(CloseCode::NORMAL, "bye"), Ok(())));
        assert!(ws.is_closed());
        // The server closes first, we echo, then it resets.
        let reads = vec![Ok(server_close_frame(1000))];
        let connection =
            sockless::Connection::client(&config, sockless::os_rng(), sockless::Instant::ZERO);
        let mut ws =
            blocking::WebSocket::from_connection(ScriptedReads::new(reads, None), connection, &[])
                .unwrap();
        assert_eq!(ws.read().unwrap(), close_frame(1000, ""));
        assert!(matches!(ws.read(), Err(Error::Closed)));
        // A reset before the peer's Close is still a failure.
        let connection =
            sockless::Connection::client(&config, sockless::os_rng(), sockless::Instant::ZERO);
        let mut ws =
            blocking::WebSocket::from_connection(ScriptedReads::new(vec![], None), connection, &[])
                .unwrap();
        let read = ws.read();
        assert!(
            matches!(&read, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{read:?}"
        );
    });
}

#[test]
fn a_peer_that_pings_for_ever_after_our_close_ends_at_the_close_timeout() {
    bounded(20, || {
        let close_timeout = Duration::from_millis(300);
        let config = Config::default().with_close_timeout(close_timeout);
        let connection = sockless::Connection::server(&config, sockless::Instant::ZERO);
        let ping = masked(0x89, b"still here");
        let transport = ScriptedReads::new(vec![], Some(ping));
        let mut ws = blocking::WebSocket::from_connection(transport, connection, &[]).unwrap();
        let start = Instant::now();
        let closed = ws.close(CloseCode::NORMAL, "");
        let took = start.elapsed();
        assert!(
            matches!(closed, Err(Error::TimedOut(TimedOut::Closing))),
            "{closed:?} after {took:?}"
        );
        assert!(
            took >= close_timeout && took < close_timeout + Duration::from_secs(2),
            "{took:?}"
        );
    });
}

/// Bytes allocated and not freed by this thread.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: every call is passed on to `System`; the count is a thread-local cell.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = LIVE.try_with(|live| live.set(live.get() + layout.size() as isize));
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let _ = LIVE.try_with(|live| live.set(live.get() - layout.size() as isize));
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    pub fn live() -> isize {
        LIVE.with(Cell::get)
    }
}

#[global_allocator]
static COUNTING: counting::Counting = counting::Counting;

#[test]
fn the_memory_of_a_large_message_is_released_once_it_is_handed_out() {
    bounded(60, || {
        let (listener, addr) = bind();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = blocking::accept(stream).unwrap();
            ws.send(Message::Binary(vec![0x5c; 4 << 20])).unwrap();
            ws.read()
        });
        let mut ws = blocking::connect(&format!("ws://{addr}/large")).unwrap();
        let before = counting::live();
        // Arrives in pieces of the 16 KiB input buffer, collected into one message.
        let message = ws.read().unwrap();
        assert_eq!(message, Message::Binary(vec![0x5c; 4 << 20]));
        drop(message);
        let held = counting::live() - before;
        assert!(
            held < 64 * 1024,
            "{held} bytes still held after a 4 MiB message"
        );
        ws.close(CloseCode::NORMAL, "").unwrap();
        server.join().unwrap().unwrap();
    });
}
