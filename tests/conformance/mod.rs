//! One conformance suite for every adapter: a scripted transport ([`pipe`]) plays the
//! peer, byte by byte where it matters, and each scenario checks what a user of any
//! adapter must be able to count on (the pains of other WebSocket crates' users: Pongs
//! while only reading, replies flushed, bounded buffers, closes that end, deadlines,
//! cancellation, close codes for bad input, a peer that stops reading, a reset after a
//! clean close).
//!
//! An adapter joins by implementing [`Adapter`] (accept, connect, read a whole message,
//! send, close) over [`Pipe`]; its side of each scenario runs on its own thread, in a
//! current-thread tokio runtime (a blocking adapter simply blocks it).

pub mod pipe;
pub mod scenarios;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use sockless::driver::Decision;
use sockless::{Config, TimedOut, UsageError};

pub use pipe::{Frame, Peer, Pipe, pipe};

/// A whole message or control frame an adapter read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The peer's Close, with its code.
    Close(Option<u16>),
    /// Anything else the adapter gave.
    Other(String),
}

/// How an adapter says its connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// After the closing handshake.
    Clean,
    TimedOut(TimedOut),
    /// The peer broke the protocol; we closed with this code.
    Failed(u16),
    /// The opening handshake failed.
    Handshake(String),
    /// The transport ended without a closing handshake.
    Abnormal,
    /// The transport failed.
    Io(String),
    /// The server answered the request with this status instead of 101.
    Rejected(u16),
    /// The application misused the adapter (its decision could not be carried out).
    Usage(UsageError),
    Other(String),
}

/// What the suite needs of an adapter. Each method runs to the end of its step; `read`
/// must be cancel safe for an adapter with `CANCEL_SAFE_READS`.
#[allow(async_fn_in_trait)] // Run on one thread: no `Send` bound wanted.
pub trait Adapter: 'static {
    /// Whether dropping a `read` future loses nothing (async adapters).
    const CANCEL_SAFE_READS: bool;
    /// Whether the adapter shuts the transport down itself once the connection is over
    /// (embedded-io-async has no shutdown: there the caller drops the transport).
    const SHUTS_DOWN: bool;
    /// The adapter's connection (both roles).
    type Ws;
    /// Server: answer the request over `io` with `decision` (through the adapter's own
    /// `accept_with`).
    async fn accept(
        io: Pipe,
        config: Config,
        decision: Decision<'static>,
    ) -> Result<Self::Ws, Ended>;
    /// Client: connect to `ws://example.com/chat` over `io`.
    async fn connect(io: Pipe, config: Config) -> Result<Self::Ws, Ended>;
    /// The next whole message or control frame; `Err` at the end.
    async fn read(ws: &mut Self::Ws) -> Result<Got, Ended>;
    /// Send a binary message.
    async fn send(ws: &mut Self::Ws, data: &[u8]) -> Result<(), Ended>;
    /// Start (or, for an adapter whose close waits, run) the closing handshake.
    async fn close(ws: &mut Self::Ws, code: u16) -> Result<(), Ended>;
}

/// What the adapter's side reports to the test.
#[derive(Debug)]
pub enum Report {
    Open,
    Got(Got),
    /// Bytes of payload sent so far.
    Sent(usize),
    Ended(Ended),
}

/// What the application on the adapter's side does once the connection is open.
#[derive(Clone, Copy, Debug)]
pub enum App {
    /// Only reads, until the end.
    ReadOnly,
    /// Closes with this code, then reads until the end.
    CloseThenRead(u16),
    /// Sends binary messages of this size until a send fails.
    SendForever(usize),
    /// Reads, but polls each read once and drops it when it is not ready (a `select!`
    /// that another branch wins), again and again.
    CancelledReads,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// Short deadlines, so that the suite runs in seconds.
pub fn config() -> Config {
    Config::default()
        .with_handshake_timeout(Duration::from_millis(400))
        .with_close_timeout(Duration::from_millis(300))
        .with_write_timeout(Duration::from_millis(300))
        .with_keep_alive(None)
}

/// How long a scenario waits for anything the adapter should do at once.
pub const SOON: Duration = Duration::from_secs(2);

/// Start the adapter's side of a scenario on its own thread (a server accepts any
/// upgrade).
pub fn start<A: Adapter>(role: Role, config: Config, app: App) -> (Peer, Receiver<Report>) {
    start_deciding::<A>(role, config, app, Decision::accept())
}

/// [`start`], a server answering the request with `decision`.
pub fn start_deciding<A: Adapter>(
    role: Role,
    config: Config,
    app: App,
    decision: Decision<'static>,
) -> (Peer, Receiver<Report>) {
    let (io, peer) = pipe();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async move {
            let opened = match role {
                Role::Server => A::accept(io, config, decision).await,
                Role::Client => A::connect(io, config).await,
            };
            let end = match opened {
                Ok(mut ws) => {
                    let _ = tx.send(Report::Open);
                    run::<A>(&mut ws, app, &tx).await
                }
                Err(end) => end,
            };
            let _ = tx.send(Report::Ended(end));
        });
    });
    (peer, rx)
}

async fn run<A: Adapter>(ws: &mut A::Ws, app: App, tx: &Sender<Report>) -> Ended {
    match app {
        App::ReadOnly => {}
        App::CloseThenRead(code) => {
            if let Err(end) = A::close(ws, code).await {
                return end;
            }
        }
        App::SendForever(size) => {
            let data = vec![0x5a; size];
            let mut sent = 0;
            loop {
                if let Err(end) = A::send(ws, &data).await {
                    return end;
                }
                sent += size;
                let _ = tx.send(Report::Sent(sent));
            }
        }
        App::CancelledReads => loop {
            let read = std::pin::pin!(A::read(ws));
            match futures_util::FutureExt::now_or_never(read) {
                Some(Ok(got)) => drop(tx.send(Report::Got(got))),
                Some(Err(end)) => return end,
                None => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        },
    }
    loop {
        match A::read(ws).await {
            Ok(got) => drop(tx.send(Report::Got(got))),
            Err(end) => return end,
        }
    }
}

/// Everything the adapter reported until its end (or `until`): what it read, and how it
/// ended with the time that took.
pub fn until_end(rx: &Receiver<Report>, until: Instant) -> (Vec<Got>, Option<Ended>) {
    let mut got = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Report::Got(g)) => got.push(g),
            Ok(Report::Ended(end)) => return (got, Some(end)),
            Ok(_) => {}
            Err(_) => return (got, None),
        }
    }
}

/// Wait for the connection to open; panics with the adapter's end if it does not.
pub fn opened(rx: &Receiver<Report>) {
    match rx.recv_timeout(SOON) {
        Ok(Report::Open) => {}
        other => panic!("the connection did not open: {other:?}"),
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A client's upgrade request.
pub fn request() -> Vec<u8> {
    format!(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Play the client's part of the opening handshake against an adapter's server.
pub fn handshake_as_client(peer: &mut Peer) {
    peer.send(&request());
    let head = peer.head(Instant::now() + SOON).expect("a response head");
    assert!(head.starts_with("HTTP/1.1 101"), "not a 101: {head}");
}

/// Play the server's part of the opening handshake against an adapter's client.
pub fn handshake_as_server(peer: &mut Peer) {
    let head = peer.head(Instant::now() + SOON).expect("a request head");
    let key = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim())
        })
        .expect("a Sec-WebSocket-Key");
    let accept = sockless::handshake::accept_value(key.as_bytes());
    let accept = std::str::from_utf8(&accept).expect("base64");
    peer.send(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .as_bytes(),
    );
}

/// A frame as the peer in `role` sends it (a client's masked).
pub fn frame(peer_role: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    Frame::encode(fin, opcode, payload, peer_role == Role::Client)
}

/// A Close frame's payload.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}
