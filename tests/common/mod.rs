//! Shared test harness: raw frame builders that do not use the crate's encoder, endpoints
//! driven to the open state, owned copies of events so that tests can compare whole
//! transcripts, and the [`fixtures`] the fuzz targets share.
#![allow(dead_code)]

mod fixtures;
pub mod net;

pub use fixtures::*;

use sockless::{
    Accept, Client, ClientRequest, Config, Endpoint, Error, Event, Instant, MessageKind, Server,
};

/// An example binary built next to the running test: `cargo test` builds them (`cargo build
/// --examples`, with the test's features, before running one test file alone).
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/<name>
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join(name))
        .unwrap();
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --examples` (with this test's features) first",
        binary.display()
    );
    binary
}

pub fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// `len` bytes that do not compress (xorshift64 from `seed`), the same for the same seed.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An owned copy of an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Request(String),
    Connected(Option<String>),
    Rejected(u16),
    Text(String),
    Binary(Vec<u8>),
    Chunk {
        kind: MessageKind,
        data: Vec<u8>,
        first: bool,
        last: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

impl Ev {
    pub fn of<'b, R, S, H>(event: &Event<'b, R, S, H>) -> Ev
    where
        R: Into<sockless::Request<'b>> + Copy,
        S: Into<sockless::Response<'b>> + Copy,
        H: Into<sockless::HandshakeError> + Copy,
    {
        match &event.widen() {
            Event::Request(request) => Ev::Request(request.target().to_string()),
            Event::Connected(response) => Ev::Connected(response.subprotocol().map(str::to_string)),
            Event::Rejected(response) => Ev::Rejected(response.status()),
            Event::Text(text) => Ev::Text(text.to_string()),
            Event::Binary(data) => Ev::Binary(data.to_vec()),
            Event::Chunk(chunk) => Ev::Chunk {
                kind: chunk.kind,
                data: chunk.data.to_vec(),
                first: chunk.first,
                last: chunk.last,
            },
            Event::Ping(payload) => Ev::Ping(payload.to_vec()),
            Event::Pong(payload) => Ev::Pong(payload.to_vec()),
            Event::Close(frame) => Ev::Close(frame.code.map(|c| c.0), frame.reason.to_string()),
            other => panic!("Ev::of: {other:?} is an outcome, not an event"),
        }
    }
}

/// The harness reports the failure events as the outcome of a feed: `Event::Failed` as
/// `Err(Error::Protocol)`, `Event::HandshakeFailed` as `Err(Error::Handshake)`. The
/// answer they queued is still in the endpoint, for `drain`.
fn failure_of(event: &Event<'_>) -> Option<Error> {
    match event {
        Event::Failed(error) => Some(Error::Protocol(*error)),
        Event::HandshakeFailed(error) => Some(Error::Handshake(*error)),
        _ => None,
    }
}

/// Feed `input` to `endpoint` in one piece, collecting events until it needs more input or
/// fails. Returns the events, the outcome, and how many bytes were left unconsumed.
pub fn feed(
    endpoint: &mut (impl Endpoint + ?Sized),
    input: &[u8],
    now: Instant,
) -> (Vec<Ev>, Result<(), Error>, usize) {
    let mut buffer = input.to_vec();
    let mut start = 0;
    let mut events = Vec::new();
    loop {
        match endpoint.receive(&mut buffer[start..], now) {
            Ok(received) => {
                start += received.consumed;
                match received.event.map(Event::widen) {
                    Some(event) => match failure_of(&event) {
                        Some(error) => return (events, Err(error), buffer.len() - start),
                        None => events.push(Ev::of(&event)),
                    },
                    None => return (events, Ok(()), buffer.len() - start),
                }
            }
            Err(error) => return (events, Err(error.into()), buffer.len() - start),
        }
    }
}

/// Feed `input` cut into pieces of at most `piece` bytes, keeping unconsumed bytes in
/// front of the next piece as a socket reader would.
pub fn feed_in_pieces(
    endpoint: &mut (impl Endpoint + ?Sized),
    input: &[u8],
    piece: usize,
    now: Instant,
) -> (Vec<Ev>, Result<(), Error>) {
    let mut events = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for part in input.chunks(piece.max(1)) {
        pending.extend_from_slice(part);
        let (mut evs, outcome, left) = feed(endpoint, &pending, now);
        events.append(&mut evs);
        if outcome.is_err() {
            return (events, outcome);
        }
        pending.drain(..pending.len() - left);
    }
    (events, Ok(()))
}

/// Everything `poll_transmit` owes, until it says nothing.
pub fn drain(endpoint: &mut (impl Endpoint + ?Sized)) -> Vec<u8> {
    let mut all = Vec::new();
    let mut out = [0u8; 4096];
    for _ in 0..100 {
        let n = endpoint.poll_transmit(&mut out).expect("poll_transmit");
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&out[..n]);
    }
    panic!("poll_transmit never ran dry");
}

/// A frame built by hand (independent of the crate's encoder). `len_form` forces the
/// length encoding: 0 = shortest, 16 = 126 + 16 bits, 64 = 127 + 64 bits.
pub fn raw_frame(first_byte: u8, mask: Option<[u8; 4]>, payload: &[u8], len_form: u8) -> Vec<u8> {
    let mut frame = vec![first_byte];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    let form = match len_form {
        0 if len < 126 => 7,
        0 if len <= 0xFFFF => 16,
        0 => 64,
        other => other,
    };
    match form {
        7 => frame.push(mask_bit | len as u8),
        16 => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as `endpoint` expects to receive it: masked for a server, unmasked for a client.
pub fn frame_for(endpoint: &(impl Endpoint + ?Sized), first_byte: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(
        first_byte,
        expects_masked(endpoint).then_some(MASK),
        payload,
        0,
    )
}

pub const UPGRADE_REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A server past its handshake (no subprotocol chosen).
pub fn open_server(config: Config) -> Server {
    let mut server = Server::new(config, at(0));
    let mut request = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut request, at(0)).expect("request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request event")
    };
    let mut out = [0u8; 1024];
    server
        .accept(&request, Accept::default(), at(0), &mut out)
        .expect("accept");
    server
}

/// A client past its handshake.
pub fn open_client(config: Config) -> Client<'static, TestRng> {
    let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    let mut client = Client::new(request, config, rng(), at(0)).unwrap();
    let request = drain(&mut client);
    let (events, outcome, _) = feed(&mut client, &response_for(&request, ""), at(0));
    outcome.expect("response accepted");
    assert_eq!(events, vec![Ev::Connected(None)]);
    client
}

/// Both roles, open, for tests that apply to each.
pub fn both_roles(config: Config) -> (Server, Client<'static, TestRng>) {
    (open_server(config), open_client(config))
}

/// Move everything `from` owes to `to`; returns the events `to` saw.
pub fn pump(
    from: &mut (impl Endpoint + ?Sized),
    to: &mut (impl Endpoint + ?Sized),
    now: Instant,
) -> (Vec<Ev>, Result<(), Error>) {
    let bytes = drain(from);
    let (events, outcome, left) = feed(to, &bytes, now);
    assert!(
        outcome.is_err() || left == 0,
        "whole frames must be consumed"
    );
    (events, outcome)
}

/// The close code of the single Close frame in `bytes`.
pub fn close_code_in(bytes: &[u8]) -> Option<u16> {
    wire_frames(bytes)
        .iter()
        .find(|f| f.opcode == 0x8)
        .map(|f| u16::from_be_bytes([f.payload[0], f.payload[1]]))
}

/// Like [`feed`], but a server accepts the upgrade when its `Request` event comes (as an
/// application would) and carries on with the bytes after the head. Returns the events,
/// the outcome, how many bytes were left unconsumed, and the bytes `accept` wrote.
pub fn feed_accepting(
    endpoint: &mut (impl Endpoint + 'static),
    input: &[u8],
    now: Instant,
) -> (Vec<Ev>, Result<(), Error>, usize, Vec<u8>) {
    let mut buffer = input.to_vec();
    let mut start = 0;
    let mut events = Vec::new();
    let mut accepted = Vec::new();
    loop {
        match endpoint.receive(&mut buffer[start..], now) {
            Ok(received) => {
                start += received.consumed;
                match received.event.map(Event::widen) {
                    Some(event) => {
                        if let Some(error) = failure_of(&event) {
                            return (events, Err(error), buffer.len() - start, accepted);
                        }
                        events.push(Ev::of(&event));
                        if let Event::Request(request) = &event {
                            let mut out = [0u8; 1024];
                            match accept_request(endpoint, request, now, &mut out) {
                                Ok(n) => accepted.extend_from_slice(&out[..n]),
                                Err(error) => {
                                    return (
                                        events,
                                        Err(error.into()),
                                        buffer.len() - start,
                                        accepted,
                                    );
                                }
                            }
                        }
                    }
                    None => return (events, Ok(()), buffer.len() - start, accepted),
                }
            }
            Err(error) => return (events, Err(error.into()), buffer.len() - start, accepted),
        }
    }
}

/// A client and a server that went through the opening handshake with each other (the
/// client's own request, the server's own 101), both open at `at(0)`.
pub fn connected_pair(config: Config) -> (Client<'static, TestRng>, Server) {
    let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    let mut client = Client::new(request, config, rng(), at(0)).unwrap();
    let mut server = Server::new(config, at(0));
    let request = drain(&mut client);
    let (events, outcome, left, response) = feed_accepting(&mut server, &request, at(0));
    outcome.expect("request accepted");
    assert_eq!((events, left), (vec![Ev::Request("/chat".into())], 0));
    let (events, outcome, left) = feed(&mut client, &response, at(0));
    outcome.expect("response accepted");
    assert_eq!((events, left), (vec![Ev::Connected(None)], 0));
    (client, server)
}

/// The header lines of a request or response head (start line and blank line left out).
pub fn header_lines(head: &str) -> Vec<(String, String)> {
    let head = head.split("\r\n\r\n").next().unwrap();
    head.split("\r\n")
        .skip(1)
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header line has a colon");
            (name.to_string(), value.trim().to_string())
        })
        .collect()
}

/// Every value of the header `name` (case-insensitive).
pub fn values_of(head: &str, name: &str) -> Vec<String> {
    header_lines(head)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}
