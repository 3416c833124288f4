//! A chat server: many rooms, names, join and leave notices, the last 50 messages for a
//! newcomer; the page at `/` and the WebSocket at `/chat`, on one port.
//!
//! ```text
//! cargo run --release -p sockless-chat [-- [--io-uring] [ADDR] [--redis redis://HOST:PORT]]
//! ```
//!
//! ADDR defaults to 127.0.0.1:8080. The listener has `SO_REUSEPORT`: several chat
//! processes may listen on one port, the kernel spreading new connections among them.
//! With `--redis`, they share their rooms through Redis pub/sub, whichever process each
//! client reached (see `broker.rs`); without it, each process is a chat of its own.
//!
//! `--io-uring` (Linux 6.1 or later): the same chat on an io_uring loop (`uring.rs`)
//! instead of mio: completions hand it bytes, with no read or write call per message
//! (rooms stay within the process there: it does not take `--redis`).
//!
//! This file is the event loop the sans-IO design exists for: one thread, one `mio::Poll`
//! (epoll, kqueue), one read buffer shared by every connection, and one heap of
//! deadlines. sockless does the WebSocket protocol and never touches a socket or a clock;
//! the loop owns both. The rest, by concern:
//!
//! - `chat.rs`: what each event of each connection means, and delivery to rooms;
//! - `broker.rs`: rooms across processes on Redis (`--redis`), on two threads of their own;
//! - `client.rs`: one connection and the memory it holds;
//! - `compression.rs`: permessage-deflate, one compressor and one inflater per thread;
//! - `outbox.rs`: a connection's bounded outgoing queue;
//! - `rooms.rs`: rooms, members, history;
//! - `protocol.rs`: the JSON messages;
//! - `timers.rs`, `slab.rs`: a deadline heap and the connection table;
//! - `uring.rs`: the same chat on an io_uring loop (`--io-uring`, Linux);
//! - `page.html`: the page (no build step, nothing fetched from elsewhere).
//!
//! Bounded memory: a client that does not read, letting more than 256 KiB pile up for
//! it, is dropped (no Close frame: it would not read that either). Open files: when the
//! process runs out (`EMFILE`), it stops accepting for 100 ms and tries again, leaving
//! new clients in the kernel's backlog; it never raises a limit or panics.

/// A line on stdout (`out`) or stderr (`err`), and never a panic if it cannot be
/// written (a closed pipe): the chat goes on.
macro_rules! log {
    (out, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
    (err, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod broker;
mod chat;
#[path = "../../common/cli.rs"]
mod cli;
mod client;
mod compression;
mod outbox;
mod protocol;
mod rooms;
mod slab;
mod timers;
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod uring;

use std::io::ErrorKind;
use std::time::{Duration, Instant as Clock};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use chat::{Chat, Mio};

const LISTENER: Token = Token(usize::MAX);
/// The broker threads wake the loop with this one (`--redis`).
const BROKER: Token = Token(usize::MAX - 1);

/// The read buffer every connection shares: what one `read` may bring.
const READ_BUFFER: usize = 64 * 1024;

/// Connections accepted per turn, so that a flood of them does not stall the others.
const ACCEPTS_PER_TURN: usize = 256;

/// How long accepting pauses after a failure such as `EMFILE`.
const ACCEPT_PAUSE_MS: u64 = 100;

const USAGE: cli::Usage = cli::Usage {
    name: "chat",
    about: "a chat server: the page at http://ADDR/, the WebSocket at ws://ADDR/chat",
    synopsis: "[--io-uring] [ADDR] [--redis redis://HOST:PORT]",
    arguments: &[
        ("ADDR", "where to listen (default 127.0.0.1:8080)"),
        (
            "--io-uring",
            "the io_uring loop instead of mio (Linux 6.1 or later)",
        ),
        (
            "--redis URL",
            "share the rooms with other chat processes through Redis",
        ),
    ],
};

fn main() {
    let (addr, io_uring, redis) = USAGE.parse(|args| {
        let (mut addr, mut io_uring, mut redis) = (None, false, None);
        while let Some(arg) = args.next()? {
            match arg.as_str() {
                "--io-uring" => io_uring = true,
                "--redis" if redis.is_none() => {
                    redis = Some(args.value(&arg, "redis://HOST:PORT")?)
                }
                _ if addr.is_none() && !arg.starts_with('-') => addr = Some(cli::socket_addr(arg)?),
                _ => return Err(args.unexpected(&arg)),
            }
        }
        match &redis {
            Some(_) if io_uring => {
                return Err(cli::Stop::Bad("--io-uring does not take --redis".into()));
            }
            Some(url) if !url.contains("://") => {
                return Err(cli::bad_value(
                    "--redis",
                    url,
                    "a URL such as redis://127.0.0.1:6379/",
                ));
            }
            _ => {}
        }
        Ok((
            addr.map_or_else(|| "127.0.0.1:8080".into(), |a| a.to_string()),
            io_uring,
            redis,
        ))
    });
    if let Err(error) = run(&addr, io_uring, redis.as_deref()) {
        log!(err, "chat: {error}");
        std::process::exit(1);
    }
}

fn run(addr: &str, io_uring: bool, redis: Option<&str>) -> std::io::Result<()> {
    let addr = addr
        .parse()
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, format!("bad address {addr}")))?;
    let mut listener = listen(addr).map_err(|error| {
        std::io::Error::new(error.kind(), format!("cannot listen on {addr}: {error}"))
    })?;
    if io_uring {
        return run_uring(listener);
    }
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut chat = Chat::new(Mio(poll.registry().try_clone()?));
    if let Some(url) = redis {
        let broker = broker::Broker::start(url, poll.registry(), BROKER)
            .map_err(|error| std::io::Error::new(ErrorKind::InvalidInput, error))?;
        chat.share(broker);
    }
    log!(out, "chat: open http://{}/", listener.local_addr()?);
    if let Some(url) = redis {
        log!(out, "chat: rooms shared through {url}");
    }
    log!(
        out,
        "chat: {} bytes per connection (size_of::<Client>()), plus buffers only while in use",
        std::mem::size_of::<client::Client>()
    );

    let clock = Clock::now();
    let now = || clock.elapsed().as_millis() as u64;
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0u8; READ_BUFFER].into_boxed_slice();
    // Accepting: more may wait (the turn's budget ran out), or paused until then.
    let mut accept_more = false;
    let mut accept_paused_until: Option<u64> = None;
    let mut report = Report::default();
    // The clock as the last turn read it (once per turn, right after the poll). The
    // poll's timeout is counted from it: a deadline may thus be handled later by as long
    // as the last turn took (never earlier), and the clock is read once per turn, not
    // twice.
    let mut last = now();

    loop {
        let mut wake = chat.next_deadline();
        if let Some(until) = accept_paused_until {
            wake = Some(wake.map_or(until, |at| at.min(until)));
        }
        let mut timeout = if accept_more || !chat.unread.is_empty() {
            Some(Duration::ZERO)
        } else {
            wake.map(|at| Duration::from_millis(at.saturating_sub(last)))
        };
        if let Some(broker) = chat.broker_timeout() {
            timeout = Some(timeout.map_or(broker, |t| t.min(broker)));
        }
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = now();
        last = now;

        // Connections that had more to read than their last turn allowed go after the
        // ones that just became readable.
        let unread = std::mem::take(&mut chat.unread);
        for event in events.iter() {
            match event.token() {
                LISTENER => accept_more = true,
                BROKER => {} // below, every turn
                Token(key) => {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        chat.on_readable(key, &mut buffer, now);
                    }
                    if event.is_writable() {
                        chat.on_writable(key);
                    }
                }
            }
        }
        for key in unread {
            chat.on_readable(key, &mut buffer, now);
        }

        if accept_paused_until.is_some_and(|until| now >= until) {
            accept_paused_until = None;
            accept_more = true;
        }
        if accept_more && accept_paused_until.is_none() {
            let mut accepted = 0;
            while accepted < ACCEPTS_PER_TURN {
                match listener.accept() {
                    Ok((socket, _)) => chat.add(socket, now),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if is_transient(&e) => {}
                    Err(e) => {
                        // EMFILE, ENFILE, ENOBUFS...: wait for connections to close.
                        report.accept_failed(&e);
                        accept_paused_until = Some(now + ACCEPT_PAUSE_MS);
                        break;
                    }
                }
                accepted += 1;
            }
            // The budget ran out: more may wait (epoll will not say so again).
            accept_more = accepted == ACCEPTS_PER_TURN;
        }

        chat.on_broker();
        chat.on_timers(now);
        chat.end_turn();
        report.tick(now, &chat);
    }
}

/// The chat on io_uring (Linux).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn run_uring(listener: TcpListener) -> std::io::Result<()> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    // The loop takes the listener from mio (never registered with a poll).
    // SAFETY: the descriptor is the listener's, given up by `into_raw_fd`.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(listener.into_raw_fd()) };
    log!(out, "chat: open http://{}/", listener.local_addr()?);
    log!(out, "chat: on io_uring");
    uring::run(listener)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn run_uring(_: TcpListener) -> std::io::Result<()> {
    Err(std::io::Error::new(
        ErrorKind::Unsupported,
        "--io-uring: io_uring is Linux only",
    ))
}

/// The listening socket, with SO_REUSEPORT where there is one: several chat processes may
/// listen on the same port, and the kernel spreads the connections over them (each
/// process has its own rooms). SO_REUSEADDR and a backlog of 128, as `mio` sets them.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Not on Windows, where it would let another socket take the port over.
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    #[cfg(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    ))]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// An accept error about that one connection only.
fn is_transient(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Interrupted | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// A line on stderr every 10 s when the numbers changed, and accept failures (at most one
/// line per 10 s), rather than a line per connection.
#[derive(Default)]
struct Report {
    last: (usize, usize),
    at: u64,
    accept_failures: usize,
}

impl Report {
    fn accept_failed(&mut self, error: &std::io::Error) {
        if self.accept_failures == 0 {
            log!(
                err,
                "chat: cannot accept ({error}); pausing, then trying again"
            );
        }
        self.accept_failures += 1;
    }

    fn tick<T: chat::Transport>(&mut self, now: u64, chat: &Chat<T>) {
        if now < self.at + 10_000 {
            return;
        }
        self.at = now;
        let counts = (chat.len(), chat.rooms());
        if counts != self.last || self.accept_failures > 1 {
            log!(
                err,
                "chat: {} connections, {} rooms, {} accept failures",
                counts.0,
                counts.1,
                self.accept_failures
            );
            self.last = counts;
        }
        self.accept_failures = 0;
    }
}
