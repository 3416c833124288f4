//! The chat example end to end: the built `chat` binary on a free loopback port, driven
//! by tungstenite clients (an independent implementation), raw TCP, and sockless's
//! blocking adapter for permessage-deflate (which tungstenite does not have).
//!
//! Every scenario runs against each of the chat's event loops: mio (`on_mio::`) and,
//! on Linux, io_uring (`on_io_uring::`, the chat started with `--io-uring`).
//!
//! The binary is the one cargo builds for this package's tests (`CARGO_BIN_EXE_chat`).

mod common;
use common::Client;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sockless::ClientRequest;
use sockless::deflate::{Compressor, DeflateConfig, DeflateParams};
use sockless::io::blocking;
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

/// The chat process, stopped when dropped.
struct Chat {
    child: Child,
    addr: String,
    /// Kept open: the chat may print more.
    _stdout: BufReader<ChildStdout>,
}

impl Chat {
    /// The chat on a free port, with `args` before the address (`--io-uring`).
    fn start(args: &[&str]) -> Chat {
        let binary = env!("CARGO_BIN_EXE_chat");
        let mut child = Command::new(binary)
            .args(args)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // "chat: open http://127.0.0.1:PORT/"
        let addr = line
            .trim()
            .trim_start_matches("chat: open http://")
            .trim_end_matches('/')
            .to_string();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "unexpected first line {line:?}"
        );
        Chat {
            child,
            addr,
            _stdout: stdout,
        }
    }

    fn connect(&self) -> Client {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let url = format!("ws://{}/chat", self.addr);
        let (ws, _) = tungstenite::client(url, stream).unwrap();
        Client { ws }
    }

    /// Resident memory of the chat process, in KiB (Linux).
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Client {
    /// The next JSON message from the server.
    fn next(&mut self) -> Value {
        loop {
            match self.ws.read().unwrap() {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Skip messages until one of `kind` comes.
    fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let value = self.next();
            if value["type"] == kind {
                return value;
            }
        }
    }
}

fn serves_the_page_and_404_elsewhere(chat: Chat) {
    let get = |path: &str| {
        let mut stream = TcpStream::connect(&chat.addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let page = get("/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("text/html") && page.contains("<title>sockless chat</title>"));
    assert!(get("/elsewhere").starts_with("HTTP/1.1 404 "));
    // An upgrade on another path is not the chat either.
    let url = format!("ws://{}/other", chat.addr);
    let stream = TcpStream::connect(&chat.addr).unwrap();
    match tungstenite::client(url, stream) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("expected a 404, got {:?}", other.map(|_| ())),
    }
}

fn a_message_reaches_everyone_in_the_room_and_no_one_else(chat: Chat) {
    let mut ann = chat.connect();
    ann.join("ann", "lobby");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "ann"}));
    let mut bob = chat.connect();
    bob.join("bob", "lobby");
    assert_eq!(bob.next(), json!({"type": "joined", "name": "bob"}));
    assert_eq!(ann.next(), json!({"type": "joined", "name": "bob"}));
    let mut eve = chat.connect();
    eve.join("eve", "elsewhere");
    assert_eq!(eve.next()["type"], "joined");

    ann.say("hello, bob ✓");
    for client in [&mut ann, &mut bob] {
        let message = client.next();
        assert_eq!(message["type"], "message");
        assert_eq!(message["name"], "ann");
        assert_eq!(message["text"], "hello, bob ✓");
        assert!(message["time"].as_u64().unwrap() > 1_600_000_000_000);
    }
    // Eve, in another room, heard nothing: her next message is her own.
    eve.say("anyone?");
    assert_eq!(eve.next()["text"], "anyone?");

    bob.ws.close(None).unwrap();
    assert_eq!(ann.next(), json!({"type": "left", "name": "bob"}));
}

fn mistakes_get_an_error_and_the_connection_stays_up(chat: Chat) {
    let mut ann = chat.connect();
    ann.ws.send(Message::text("{not json")).unwrap();
    assert_eq!(ann.next()["type"], "error");
    ann.say("too early");
    assert_eq!(
        ann.next(),
        json!({"type": "error", "reason": "join a room first"})
    );
    ann.send(json!({"type": "shout", "text": "x"}));
    assert!(
        ann.next()["reason"]
            .as_str()
            .unwrap()
            .contains("unknown variant")
    );
    ann.join(&"n".repeat(1025), "lobby");
    assert_eq!(
        ann.next(),
        json!({"type": "error", "reason": "name longer than 1024 bytes"})
    );
    ann.join("ann", "lobby");
    assert_eq!(ann.next()["type"], "joined");
    ann.join("ann", "again");
    assert_eq!(ann.next()["type"], "error");
    ann.say(&"t".repeat(1025));
    assert_eq!(ann.next()["type"], "error");
    // Still up, still in the lobby.
    ann.say("still here");
    assert_eq!(ann.next()["text"], "still here");
}

fn binary_messages_are_refused_with_1003(chat: Chat) {
    let mut ann = chat.connect();
    ann.join("ann", "lobby");
    ann.next();
    let mut bob = chat.connect();
    bob.join("bob", "lobby");
    bob.next();
    ann.next();
    bob.ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    match bob.ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Unsupported),
        other => panic!("expected Close 1003, got {other:?}"),
    }
    assert_eq!(ann.next(), json!({"type": "left", "name": "bob"}));
}

fn a_newcomer_gets_the_last_50_messages_then_its_joined(chat: Chat) {
    let mut ann = chat.connect();
    ann.join("ann", "history");
    ann.next();
    for i in 0..60 {
        ann.say(&format!("message {i}"));
    }
    for _ in 0..60 {
        ann.next_of("message");
    }
    let mut bob = chat.connect();
    bob.join("bob", "history");
    for i in 10..60 {
        let message = bob.next();
        assert_eq!(message["type"], "message");
        assert_eq!(message["text"], format!("message {i}"));
    }
    assert_eq!(bob.next(), json!({"type": "joined", "name": "bob"}));
}

fn a_client_that_does_not_read_is_dropped_and_memory_stays_bounded(chat: Chat) {
    let mut slow = chat.connect();
    slow.join("slow", "flood");
    slow.next();
    let mut fast = chat.connect();
    fast.join("fast", "flood");
    fast.next_of("joined");
    let before = chat.rss_kib();
    // Slow reads nothing more. Fast says 1 KiB messages (reading its own echoes) until
    // the server drops slow: the kernel buffers fill first, then slow's 256 KiB queue.
    let text = "x".repeat(1000);
    let started = Instant::now();
    let mut said = 0;
    'flood: loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "slow was not dropped after {said} messages"
        );
        for _ in 0..100 {
            fast.say(&text);
        }
        said += 100;
        for _ in 0..100 {
            let value = fast.next();
            if value == json!({"type": "left", "name": "slow"}) {
                break 'flood;
            }
        }
    }
    // Roughly the kernel's buffers and the queue: megabytes, not the whole flood.
    assert!(said >= 100);
    if let (Some(before), Some(after)) = (before, chat.rss_kib()) {
        eprintln!("chat RSS: {before} KiB before the flood, {after} KiB after {said} KiB sent");
        assert!(
            after < before + 16 * 1024,
            "RSS grew from {before} to {after} KiB"
        );
    }
    // The server closed slow's socket at once, though slow still reads nothing: its side
    // of the connection is no longer established (nothing holds it open).
    let server = chat.addr.parse().unwrap();
    let client = slow.ws.get_ref().local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while tcp_state(server, client) == Some(TCP_ESTABLISHED) {
        assert!(
            Instant::now() < deadline,
            "the chat's side of slow's connection is still open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Without a Close frame: what slow reads ends in the end of the stream or a reset,
    // after the messages already buffered (not in a read timeout).
    slow.ws
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ended = loop {
        match slow.ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                break false;
            }
            Err(_) => break true,
        }
    };
    assert!(ended, "slow's connection was not closed");
    // Fast is still served (after the rest of its flood's echoes).
    fast.say("after");
    while fast.next_of("message")["text"] != "after" {}
}

/// `/proc/net/tcp`'s state for an established connection.
const TCP_ESTABLISHED: u8 = 0x01;

/// The state (as `/proc/net/tcp` gives it) of the IPv4 socket at `local` connected to
/// `remote`, if there is one (Linux).
fn tcp_state(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> Option<u8> {
    let hex = |addr: std::net::SocketAddr| match addr {
        std::net::SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        std::net::SocketAddr::V6(_) => String::new(),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()))
            .then(|| u8::from_str_radix(fields.get(3)?, 16).ok())
            .flatten()
    })
}

/// A TCP stream that counts the bytes it reads, to see what a message costs on the wire.
struct Counted {
    stream: TcpStream,
    read: u64,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

impl blocking::Transport for Counted {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.stream.set_write_timeout(timeout)
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Both)
    }
}

/// A client that offers permessage-deflate as browsers do (sockless's blocking adapter:
/// it inflates what it receives and compresses what it sends).
struct DeflateClient {
    ws: blocking::ClientWebSocket<Counted>,
}

impl Chat {
    fn connect_deflate(&self) -> DeflateClient {
        let stream = TcpStream::connect(&self.addr).unwrap();
        let url = format!("ws://{}/chat", self.addr);
        let request = ClientRequest::from_url(&url)
            .unwrap()
            .with_deflate(DeflateConfig::default());
        let counted = Counted { stream, read: 0 };
        let ws = blocking::client(counted, request, sockless::Config::default()).unwrap();
        DeflateClient { ws }
    }
}

impl DeflateClient {
    fn send(&mut self, value: Value) {
        self.ws.send_text(&value.to_string()).unwrap();
    }

    fn join(&mut self, name: &str, room: &str) {
        self.send(json!({"type": "join", "name": name, "room": room}));
    }

    fn say(&mut self, text: &str) {
        self.send(json!({"type": "say", "text": text}));
    }

    fn next(&mut self) -> Value {
        loop {
            match self.ws.read().unwrap() {
                sockless::io::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                sockless::io::Message::Ping(_) | sockless::io::Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next JSON message, and how many bytes it took on the wire.
    fn next_counted(&mut self) -> (Value, u64) {
        let before = self.ws.get_ref().read;
        let value = self.next();
        (value, self.ws.get_ref().read - before)
    }
}

/// The chat accepts permessage-deflate by default, each side compressing every message
/// on its own and the client within a 1 KiB window; compressed messages come in and go
/// out (one compressed copy for the room), clients without the extension are served
/// uncompressed in the same room, a compressed message half-read while another client's
/// arrives is not mixed up with it, and one that inflates past the limit fails with 1009.
fn permessage_deflate_is_accepted_by_default(chat: Chat) {
    let mut ann = chat.connect_deflate();
    let mut bob = chat.connect_deflate();
    let mut eve = chat.connect();
    assert_eq!(
        ann.ws.deflate(),
        Some(DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 10,
        })
    );
    ann.join("ann", "lobby");
    ann.next();
    bob.join("bob", "lobby");
    bob.next();
    ann.next();
    eve.join("eve", "lobby");
    eve.next();
    ann.next();
    bob.next();

    // A long, compressible message: inflated by the chat, compressed to the deflate
    // clients, plain to eve.
    let text = "la la la, this compresses well. ".repeat(30);
    ann.say(&text);
    let (message, wire) = bob.next_counted();
    assert_eq!(message["text"], text.as_str());
    let plain = message.to_string().len() as u64;
    assert!(wire * 3 < plain, "{wire} bytes on the wire for {plain}");
    assert_eq!(ann.next()["text"], text.as_str());
    assert_eq!(eve.next()["text"], text.as_str());

    // Ann's next message arrives in two halves, 200 ms apart; meanwhile bob's compressed
    // message and eve's plain one are received whole.
    let params = ann.ws.deflate().unwrap();
    let mut framer = sockless::Connection::client(
        &sockless::Config::default(),
        sockless::os_rng(),
        sockless::Instant::ZERO,
    )
    .with_deflate(Some(params));
    let mut compressor = Compressor::new(&framer).unwrap();
    let halves_text = "split across two reads — ".repeat(20);
    let say = json!({"type": "say", "text": halves_text}).to_string();
    let mut frame = vec![0u8; say.len() + 64];
    let n = compressor.send_text(&mut framer, &say, &mut frame).unwrap();
    assert_eq!(frame[0] & 0x40, 0x40, "the frame is compressed (RSV1)");
    let stream = &mut ann.ws.get_mut().stream;
    stream.write_all(&frame[..n / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    bob.say(&"bob, whole and compressed. ".repeat(10));
    eve.say("eve, plain");
    std::thread::sleep(Duration::from_millis(200));
    let stream = &mut ann.ws.get_mut().stream;
    stream.write_all(&frame[n / 2..n]).unwrap();
    let expected = [
        "bob, whole and compressed. ".repeat(10),
        "eve, plain".into(),
        halves_text.clone(),
    ];
    for text in &expected {
        assert_eq!(bob.next()["text"], text.as_str());
        assert_eq!(eve.next()["text"], text.as_str());
    }

    // A message that inflates past the chat's 8 KiB limit: Close 1009.
    bob.say(&"x".repeat(9000));
    let close = loop {
        match bob.ws.read() {
            Ok(sockless::io::Message::Close(frame)) => break frame,
            Ok(_) => continue,
            Err(error) => panic!("expected Close 1009, got {error}"),
        }
    };
    assert_eq!(close.unwrap().code, sockless::CloseCode::TOO_BIG);
    assert_eq!(eve.next(), json!({"type": "left", "name": "bob"}));
}

/// A name already used in a room is refused there, whatever its case and the spaces around
/// it, with an error the client can tell from the others; the connection stays usable for
/// another name, and the name is free again once its member leaves. Elsewhere it is free.
fn a_name_taken_in_the_room_is_refused_until_its_member_leaves(chat: Chat) {
    let mut ann = chat.connect();
    ann.join("ann", "lobby");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "ann"}));
    let mut second = chat.connect();
    for name in ["ann", "ANN", " Ann "] {
        second.join(name, "lobby");
        let refused = second.next();
        assert_eq!(
            (
                &refused["type"],
                &refused["code"],
                &refused["name"],
                &refused["room"]
            ),
            (
                &json!("error"),
                &json!("name_taken"),
                &json!(name),
                &json!("lobby")
            ),
            "{refused}"
        );
        assert!(refused["reason"].as_str().unwrap().contains("taken"));
    }
    // Refused is not joined.
    second.say("am I in?");
    assert_eq!(
        second.next(),
        json!({"type": "error", "reason": "join a room first"})
    );
    // The same name in another room is someone else.
    let mut other_ann = chat.connect();
    other_ann.join("ann", "elsewhere");
    assert_eq!(other_ann.next(), json!({"type": "joined", "name": "ann"}));
    // Another name on the same connection: in, and both talk.
    second.join("ann2", "lobby");
    assert_eq!(second.next(), json!({"type": "joined", "name": "ann2"}));
    // Ann heard nothing of the refusals: the next she hears is ann2 coming in.
    assert_eq!(ann.next(), json!({"type": "joined", "name": "ann2"}));
    second.say("hello from ann2");
    for client in [&mut ann, &mut second] {
        let message = client.next();
        assert_eq!(
            (&message["name"], &message["text"]),
            (&json!("ann2"), &json!("hello from ann2"))
        );
    }
    ann.say("hello from ann");
    for client in [&mut ann, &mut second] {
        let message = client.next();
        assert_eq!(
            (&message["name"], &message["text"]),
            (&json!("ann"), &json!("hello from ann"))
        );
    }
    // Ann leaves: her name is free in the lobby again.
    ann.ws.close(None).unwrap();
    assert_eq!(second.next(), json!({"type": "left", "name": "ann"}));
    let mut third = chat.connect();
    third.join("Ann", "lobby");
    assert_eq!(
        third.next_of("joined"),
        json!({"type": "joined", "name": "Ann"})
    );
    assert_eq!(second.next(), json!({"type": "joined", "name": "Ann"}));
    // The other room's ann heard none of it.
    other_ann.say("still elsewhere");
    assert_eq!(other_ann.next()["text"], "still elsewhere");
}

/// A client back on a new connection while the chat still holds its old one (a network
/// that dropped it without a word) gives the same session: it takes its name over, and
/// the old connection is closed. Another session may not.
fn a_join_of_the_same_session_takes_the_name_over(chat: Chat) {
    let mut old = chat.connect();
    old.join_session("ann", "lobby", "session-of-ann");
    assert_eq!(old.next(), json!({"type": "joined", "name": "ann"}));
    let mut bob = chat.connect();
    bob.join("bob", "lobby");
    assert_eq!(bob.next(), json!({"type": "joined", "name": "bob"}));
    assert_eq!(old.next(), json!({"type": "joined", "name": "bob"}));
    // Another session, or none: refused.
    let mut other = chat.connect();
    other.join_session("ann", "lobby", "another");
    assert_eq!(other.next()["code"], "name_taken");
    other.join("ann", "lobby");
    assert_eq!(other.next()["code"], "name_taken");
    // The same session: in, and the old connection is closed (1000).
    let mut back = chat.connect();
    back.join_session("Ann", "lobby", "session-of-ann");
    assert_eq!(back.next(), json!({"type": "joined", "name": "Ann"}));
    match old.ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected Close 1000, got {other:?}"),
    }
    assert_eq!(bob.next(), json!({"type": "left", "name": "ann"}));
    assert_eq!(bob.next(), json!({"type": "joined", "name": "Ann"}));
    back.say("back");
    assert_eq!(bob.next()["text"], "back");
}

/// Deadlines fire on time, also one that comes earlier than the one the loop waits for:
/// a head left unfinished gets its 408 at the handshake deadline (10 s), and a client
/// that does not answer the chat's Close is cut off at the close deadline (5 s), which
/// falls before the first.
fn deadlines_fire_on_time_also_one_earlier_than_the_next(chat: Chat) {
    let started = Instant::now();
    let mut slow = TcpStream::connect(&chat.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut mute = chat.connect();
    mute.join("mute", "lobby");
    mute.next();
    // A binary message is refused with a Close, which this client never answers: it
    // reads the raw bytes (the Close) until the chat closes the connection.
    mute.ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    let refused = Instant::now();
    let stream = mute.ws.get_mut();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let cut_off = refused.elapsed();
    assert_eq!(bytes.first(), Some(&0x88), "a Close frame first: {bytes:?}");
    assert!(
        cut_off >= Duration::from_millis(4900) && cut_off < Duration::from_secs(9),
        "closed {cut_off:?} after the Close, expected 5 s"
    );
    let mut response = String::new();
    slow.read_to_string(&mut response).unwrap();
    let answered = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    assert!(
        answered >= Duration::from_millis(9900) && answered < Duration::from_secs(15),
        "408 after {answered:?}, expected 10 s"
    );
}

/// Each scenario as a test on each of the chat's loops.
macro_rules! on_each_loop {
    ($($scenario:ident),* $(,)?) => {
        mod on_mio {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(super::Chat::start(&[]));
                }
            )*
        }

        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        mod on_io_uring {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(super::Chat::start(&["--io-uring"]));
                }
            )*
        }
    };
}

on_each_loop!(
    serves_the_page_and_404_elsewhere,
    a_message_reaches_everyone_in_the_room_and_no_one_else,
    mistakes_get_an_error_and_the_connection_stays_up,
    binary_messages_are_refused_with_1003,
    a_newcomer_gets_the_last_50_messages_then_its_joined,
    a_client_that_does_not_read_is_dropped_and_memory_stays_bounded,
    permessage_deflate_is_accepted_by_default,
    a_name_taken_in_the_room_is_refused_until_its_member_leaves,
    a_join_of_the_same_session_takes_the_name_over,
    deadlines_fire_on_time_also_one_earlier_than_the_next,
);
