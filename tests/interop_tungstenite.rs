//! Interoperability with tungstenite over loopback TCP, in both directions: messages of
//! every size class, fragmented messages, ping/pong, and close with code and reason
//! started by either side.

mod common;
use common::net::Blocking;
use common::*;

use std::net::{TcpListener, TcpStream};
use std::thread;

use sockless::{Client, ClientRequest, CloseCode, Config, Endpoint, Instant, Server};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::protocol::frame::coding::{CloseCode as TCloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::{Message, WebSocket};

const SIZES: [usize; 6] = [0, 125, 126, 64 << 10, 1 << 20, 16 << 20];

/// Text of exactly `len` bytes mixing ASCII, Cyrillic and emoji.
fn text_of(len: usize) -> String {
    let mut text = String::with_capacity(len);
    let pattern = ['a', 'ж', '🚀', ' ', 'Z', 'é'];
    let mut i = 0;
    while text.len() + 4 <= len {
        text.push(pattern[i % pattern.len()]);
        i += 1;
    }
    while text.len() < len {
        text.push('x');
    }
    text
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn tungstenite_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

fn config() -> Config {
    Config::default().with_max_message_len(64 << 20)
}

/// A sockless server that echoes each whole message until the peer closes; returns the
/// close it saw. (Echoing piece by piece would deadlock against a blocking peer that does
/// not read while it writes a 16 MiB message.)
fn sockless_echo_server(listener: TcpListener) -> thread::JoinHandle<Option<Ev>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = Blocking::new(Server::new(config(), Instant::ZERO), stream);
        echo_until_close(&mut ws)
    })
}

/// Echo each whole message (with the `Endpoint` interface, so either role) until the peer's
/// Close; returns that Close.
fn echo_until_close<E: Endpoint + 'static>(ws: &mut Blocking<E>) -> Option<Ev> {
    let mut close = None;
    while let Some(event) = ws.next_message().unwrap() {
        match event {
            Ev::Text(text) => ws
                .send(|e, out, _| e.connection()?.send_text(&text, out))
                .unwrap(),
            Ev::Binary(data) => ws
                .send(|e, out, _| e.connection()?.send_binary(&data, out))
                .unwrap(),
            Ev::Close(..) => close = Some(event),
            _ => {}
        }
    }
    close
}

fn tungstenite_client(addr: std::net::SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    let (ws, _) = tungstenite::client::client_with_config(
        format!("ws://{addr}/interop"),
        stream,
        Some(tungstenite_config()),
    )
    .unwrap();
    ws
}

/// Read past everything else until the peer's Close frame arrives.
fn read_until_close(ws: &mut WebSocket<TcpStream>) -> Option<CloseFrame> {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return frame,
            Ok(_) => continue,
            Err(e) => panic!("before the Close arrived: {e}"),
        }
    }
}

fn read_data(ws: &mut WebSocket<TcpStream>) -> Message {
    loop {
        match ws.read().unwrap() {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

/// From the tungstenite side: a text and a binary message of every size in [`SIZES`],
/// each echoed back intact.
fn send_every_size_and_read_echoes(ws: &mut WebSocket<TcpStream>) {
    for size in SIZES {
        let text = text_of(size);
        ws.send(Message::text(text.clone())).unwrap();
        assert_eq!(read_data(ws), Message::text(text), "text of {size} bytes");
        let data = binary_of(size);
        ws.send(Message::binary(data.clone())).unwrap();
        assert_eq!(
            read_data(ws),
            Message::binary(data),
            "binary of {size} bytes"
        );
    }
}

/// From the tungstenite side: a Ping is answered by the identical Pong (§5.5.3).
fn ping_and_read_pong(ws: &mut WebSocket<TcpStream>, payload: &[u8]) {
    ws.send(Message::Ping(payload.to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(payload.to_vec().into()));
}

/// From the tungstenite side: close with `code` and `reason`; the echo carries the same
/// code (§5.5.1).
fn close_and_read_echo(ws: &mut WebSocket<TcpStream>, code: u16, reason: &str) {
    ws.close(Some(CloseFrame {
        code: TCloseCode::from(code),
        reason: reason.to_string().into(),
    }))
    .unwrap();
    let echoed = read_until_close(ws);
    assert_eq!(echoed.map(|f| u16::from(f.code)), Some(code));
}

#[test]
fn tungstenite_client_against_sockless_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = sockless_echo_server(listener);
    let mut ws = tungstenite_client(addr);

    send_every_size_and_read_echoes(&mut ws);

    // Fragmented text splitting a character between frames, and fragmented binary.
    let text = "fragmented ж🚀 text";
    let bytes = text.as_bytes();
    let cut = text.find('🚀').unwrap() + 2;
    ws.send(Message::Frame(Frame::message(
        bytes[..cut].to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .unwrap();
    ws.send(Message::Ping(b"between".to_vec().into())).unwrap();
    ws.send(Message::Frame(Frame::message(
        bytes[cut..].to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .unwrap();
    let mut saw_pong = false;
    let echoed = loop {
        match ws.read().unwrap() {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"between");
                saw_pong = true;
            }
            other => break other,
        }
    };
    assert!(saw_pong, "the Ping between fragments was answered");
    assert_eq!(echoed, Message::text(text));
    let data = binary_of(300_000);
    for (i, piece) in data.chunks(100_000).enumerate() {
        let opcode = if i == 0 { Data::Binary } else { Data::Continue };
        ws.send(Message::Frame(Frame::message(
            piece.to_vec(),
            OpCode::Data(opcode),
            i == 2,
        )))
        .unwrap();
    }
    assert_eq!(read_data(&mut ws), Message::binary(data));

    // Ping gets the identical Pong.
    ping_and_read_pong(&mut ws, b"are you there");

    // Close with code and reason: the echo carries the same code.
    close_and_read_echo(&mut ws, 4000, "interop bye");
    assert!(matches!(
        ws.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
    let seen = server.join().unwrap();
    assert_eq!(seen, Some(Ev::Close(Some(4000), "interop bye".into())));
}

#[test]
fn sockless_server_starts_the_close_with_tungstenite_client() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = Blocking::new(Server::new(config(), Instant::ZERO), stream);
        assert!(matches!(ws.next_event().unwrap(), Some(Ev::Request(_))));
        ws.send(|s, out, _| s.connection()?.send_text("goodbye soon", out))
            .unwrap();
        ws.send(|s, out, now| {
            s.connection()?
                .close(CloseCode(4002), "sockless bye", now, out)
        })
        .unwrap();
        let mut events = Vec::new();
        while let Some(event) = ws.next_event().unwrap() {
            events.push(event);
        }
        (events, ws.endpoint.state())
    });
    let mut ws = tungstenite_client(addr);
    assert_eq!(ws.read().unwrap(), Message::text("goodbye soon"));
    let Message::Close(Some(frame)) = ws.read().unwrap() else {
        panic!("expected Close")
    };
    assert_eq!(u16::from(frame.code), 4002);
    assert_eq!(frame.reason.as_str(), "sockless bye");
    // tungstenite answers the Close; then the server closes the transport.
    while ws.read().is_ok() {}
    let (events, state) = server.join().unwrap();
    assert_eq!(events, vec![Ev::Close(Some(4002), "sockless bye".into())]);
    assert_eq!(state, sockless::State::Closed);
}

/// A tungstenite server that runs the matrix against an echoing sockless client, then
/// closes with 4001.
#[test]
fn sockless_client_against_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept_with_config(stream, Some(tungstenite_config())).unwrap();
        send_every_size_and_read_echoes(&mut ws);
        let text = "ж🚀 split";
        ws.send(Message::Frame(Frame::message(
            text.as_bytes()[..3].to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .unwrap();
        ws.send(Message::Frame(Frame::message(
            text.as_bytes()[3..].to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .unwrap();
        assert_eq!(read_data(&mut ws), Message::text(text));
        ping_and_read_pong(&mut ws, b"ping from tungstenite");
        close_and_read_echo(&mut ws, 4001, "server bye");
        drop(ws); // the server closes the transport first (RFC 6455 §7.1.1)
    });

    let stream = TcpStream::connect(addr).unwrap();
    let client = client_for(format!("ws://{addr}/from-sockless"));
    let mut ws = Blocking::new(client, stream);
    ws.flush().unwrap();
    assert_eq!(ws.next_event().unwrap(), Some(Ev::Connected(None)));
    let close = echo_until_close(&mut ws);
    server.join().unwrap();
    assert_eq!(close, Some(Ev::Close(Some(4001), "server bye".into())));
    assert_eq!(ws.endpoint.state(), sockless::State::Closed);
}

#[test]
fn sockless_client_starts_the_close_with_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        assert_eq!(ws.read().unwrap(), Message::binary(vec![1, 2, 3]));
        let frame = read_until_close(&mut ws);
        // Flush tungstenite's Close answer, then end the transport.
        let _ = ws.flush();
        frame.map(|f| (u16::from(f.code), f.reason.to_string()))
    });
    let stream = TcpStream::connect(addr).unwrap();
    let client = client_for(format!("ws://{addr}/"));
    let mut ws = Blocking::new(client, stream);
    ws.flush().unwrap();
    assert_eq!(ws.next_event().unwrap(), Some(Ev::Connected(None)));
    ws.send(|c, out, _| c.connection()?.send_binary(&[1, 2, 3], out))
        .unwrap();
    ws.send(|c, out, now| {
        c.connection()?
            .close(CloseCode(4003), "client bye", now, out)
    })
    .unwrap();
    let mut events = Vec::new();
    while let Some(event) = ws.next_event().unwrap() {
        events.push(event);
    }
    assert_eq!(events, vec![Ev::Close(Some(4003), "client bye".into())]);
    assert_eq!(
        server.join().unwrap(),
        Some((4003, "client bye".to_string()))
    );
}

/// A client for `url`; the URL is leaked so that the client is `'static`, as
/// [`Blocking`] requires (a test-only convenience).
fn client_for(url: String) -> Client<'static, TestRng> {
    let url: &'static str = Box::leak(url.into_boxed_str());
    Client::new(
        ClientRequest::from_url(url).unwrap(),
        config(),
        rng(),
        Instant::ZERO,
    )
    .unwrap()
}
