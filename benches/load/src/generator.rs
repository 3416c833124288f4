//! One load generator process: a mio event loop of sockless clients owning whole rooms, so
//! that every delivery of a message it sends is seen (and timed) by this same process.
//!
//! Talks to the orchestrator on stdin / stdout, one line each:
//! `connected MICROS FAILED` once every client is open and has sent its join,
//! `ready SETTLED` once the rooms' `joined` notices arrived (or a bound passed),
//! then waits for `go` on stdin, sends for the given seconds, drains, and prints
//! `result k=v ...` and `hist ...` before exiting.

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use sockless::rand_core::TryRng;
use sockless::{Client, ClientRequest, Config, Endpoint, Event};
use socket2::{Domain, Socket, Type};

use crate::deflate::{self, Deflate, SharedInflater};
use crate::hist::Histogram;

/// Handshakes in flight at once per process (keeps the servers' listen backlogs from
/// overflowing, which would stall connections for a SYN retry).
const IN_FLIGHT: usize = 128;
/// Bounds of each phase.
const CONNECT_BOUND: Duration = Duration::from_secs(180);
const SETTLE_BOUND: Duration = Duration::from_secs(60);
const GO_BOUND: Duration = Duration::from_secs(300);
const DRAIN_BOUND: Duration = Duration::from_secs(10);
const READ_BUFFER: usize = 256 * 1024;

pub struct Args {
    pub urls: Vec<String>,
    pub first_room: usize,
    pub rooms: usize,
    pub room_size: usize,
    pub total_rooms: usize,
    pub seconds: u64,
    /// Source addresses: `PREFIX.1` ... `PREFIX.SOURCES`.
    pub src_prefix: String,
    /// Every client offers permessage-deflate, and must get it.
    pub deflate: bool,
}

/// Masking keys from xorshift: the generator stands in for many browsers; it needs no
/// cryptographic randomness, and a system call per frame would make it the bottleneck.
#[derive(Clone, Debug)]
pub struct FastRng(u64);

impl TryRng for FastRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        Ok(x)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// FNV-1a: which shard owns a room.
pub fn shard_of(room: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in room.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % shards as u64) as usize
}

pub fn room_name(room: usize) -> String {
    format!("room-{room}")
}

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Waiting,
    Connecting,
    Handshaking,
    Open,
    Dead,
}

struct Conn {
    stream: Option<TcpStream>,
    client: Client<'static, FastRng>,
    phase: Phase,
    /// Input not used yet (a partial frame), kept between reads.
    tail: Vec<u8>,
    /// A text message that arrived in pieces.
    partial: Vec<u8>,
    /// Output the socket did not take yet.
    out: Vec<u8>,
    /// With `--deflate`, an inflater of its own only while one of its messages is
    /// half-read (see `deflate.rs`).
    inflater: Option<Box<SharedInflater>>,
    /// Local room index.
    room: usize,
    id: usize,
    received: u64,
    sent: u64,
}

struct Stats {
    joined: Vec<u64>,
    delivered: u64,
    misrouted: u64,
    errors: u64,
    other: u64,
    failures: u64,
    hist: Histogram,
    /// Bytes read from the sockets, and the JSON of the messages delivered.
    wire_bytes: u64,
    text_bytes: u64,
    /// What makes the whole generator fail (a connection without permessage-deflate when
    /// it was asked for).
    fatal: Option<String>,
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let now_us = || t0.elapsed().as_micros() as u64;
    let sockless_now = || sockless::Instant::from_elapsed(t0.elapsed());
    let shards = args.urls.len();
    let urls: Vec<&'static str> = args
        .urls
        .iter()
        .map(|u| &*Box::leak(u.clone().into_boxed_str()))
        .collect();
    let addrs: Vec<SocketAddr> = args
        .urls
        .iter()
        .map(|u| {
            let rest = u.trim_start_matches("ws://");
            rest[..rest.find('/').unwrap_or(rest.len())].parse()
        })
        .collect::<Result<_, _>>()?;
    let sources: Vec<SocketAddr> = (1..=16)
        .map(|i| format!("{}.{i}:0", args.src_prefix).parse())
        .collect::<Result<_, _>>()?;
    let config = Config::default().with_handshake_timeout(Duration::from_secs(60));
    let n = args.rooms * args.room_size;
    let total = args.total_rooms * args.room_size;
    let mut conns: Vec<Conn> = Vec::with_capacity(n);
    let mut shard_for = Vec::with_capacity(n);
    for local in 0..n {
        let room = local / args.room_size;
        let global_room = args.first_room + room;
        let id = global_room * args.room_size + local % args.room_size;
        let shard = shard_of(&room_name(global_room), shards);
        shard_for.push(shard);
        let rng = FastRng(0x9e3779b97f4a7c15 ^ (id as u64 + 1).wrapping_mul(0x2545f4914f6cdd1d));
        let mut request = ClientRequest::from_url(urls[shard])?;
        if args.deflate {
            request = request.with_deflate(deflate::offer());
        }
        conns.push(Conn {
            stream: None,
            client: Client::new(request, config, rng, sockless_now())?,
            phase: Phase::Waiting,
            tail: Vec::new(),
            partial: Vec::new(),
            out: Vec::new(),
            inflater: None,
            room,
            id,
            received: 0,
            sent: 0,
        });
    }
    // When each client sends within the second: a room's members 1/100 s apart, rooms
    // interleaved, so that the whole load (over every process) is even through the second.
    let mut schedule: Vec<(u64, usize)> = conns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (room, member) = (c.id / args.room_size, c.id % args.room_size);
            let slot = (member * args.total_rooms + room) as u64;
            (slot * 1_000_000 / total as u64, i)
        })
        .collect();
    schedule.sort_unstable();

    let go = Arc::new(AtomicBool::new(false));
    {
        let go = go.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            go.store(true, Ordering::SeqCst);
        });
    }

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut scratch = vec![0u8; 4096];
    let mut stats = Stats {
        joined: vec![0; args.rooms],
        delivered: 0,
        misrouted: 0,
        errors: 0,
        other: 0,
        failures: 0,
        hist: Histogram::new(),
        wire_bytes: 0,
        text_bytes: 0,
        fatal: None,
    };
    // One compressor and one inflater for every connection (RFC 7692 §7.1.1: neither side
    // takes context over from one message to the next; see `deflate.rs`).
    let mut deflate = args.deflate.then(|| Deflate::new(config.max_message_len));
    // The bytes read, and the messages sent compressed and not, before `go` (the joins).
    let mut wire_at_go = 0;
    let mut sent_at_go = (0, 0);
    let mut next_connect = 0;
    let mut in_flight = 0;
    let mut open = 0;
    let mut connected_at: Option<Instant> = None;
    let mut ready_at: Option<Instant> = None;
    let mut go_at: Option<Instant> = None;
    let mut cursor = (0usize, 0u64); // (schedule index, round)
    let mut sending_done = false;
    let mut expected_per_room = vec![0u64; args.rooms];
    let mut out = std::io::stdout().lock();
    let settle_target = (args.room_size * (args.room_size - 1) / 2) as u64;

    loop {
        if let Some(fatal) = stats.fatal.take() {
            return Err(fatal.into());
        }
        // Start more connections, a bounded number at a time.
        while next_connect < n && in_flight < IN_FLIGHT {
            let i = next_connect;
            next_connect += 1;
            match start_connect(sources[i % sources.len()], addrs[shard_for[i]]) {
                Ok(mut stream) => {
                    poll.registry().register(
                        &mut stream,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns[i].stream = Some(stream);
                    conns[i].phase = Phase::Connecting;
                    in_flight += 1;
                }
                Err(e) => {
                    eprintln!("generator: connect {i}: {e}");
                    conns[i].phase = Phase::Dead;
                    stats.failures += 1;
                }
            }
        }
        if connected_at.is_none() && open + stats.failures as usize == n {
            connected_at = Some(Instant::now());
            writeln!(out, "connected {} {}", t0.elapsed().as_micros(), stats.failures)?;
            out.flush()?;
        }
        if connected_at.is_none() && t0.elapsed() > CONNECT_BOUND {
            return Err(format!("only {open} of {n} connections open after {CONNECT_BOUND:?}").into());
        }
        if let (Some(at), None) = (connected_at, ready_at) {
            let settled = stats.joined.iter().all(|&j| j >= settle_target);
            if settled || at.elapsed() > SETTLE_BOUND {
                ready_at = Some(Instant::now());
                writeln!(out, "ready {}", settled)?;
                out.flush()?;
            }
        }
        if go_at.is_none() && go.load(Ordering::SeqCst) {
            go_at = Some(Instant::now());
            wire_at_go = stats.wire_bytes;
            sent_at_go = deflate.as_ref().map_or((0, 0), |d| (d.sent_compressed, d.sent_plain));
        }
        if let Some(ready) = ready_at {
            if go_at.is_none() && ready.elapsed() > GO_BOUND {
                return Err("no go from the orchestrator".into());
            }
        }

        // Send what is due.
        let mut timeout = Duration::from_millis(if go_at.is_some() { 2 } else { 20 });
        if let (Some(start), false) = (go_at, sending_done) {
            let elapsed = start.elapsed().as_micros() as u64;
            loop {
                let (offset, i) = schedule[cursor.0];
                let due = cursor.1 * 1_000_000 + offset;
                if due > elapsed {
                    timeout = timeout.min(Duration::from_micros(due - elapsed));
                    break;
                }
                let conn = &mut conns[i];
                if conn.phase == Phase::Open {
                    let text = format!(
                        "{{\"type\":\"say\",\"text\":\"{}:{}:{}\"}}",
                        conn.id,
                        conn.sent,
                        now_us()
                    );
                    send_text(conn, &mut deflate, &text, &mut scratch)?;
                    conn.sent += 1;
                    expected_per_room[conn.room] += args.room_size as u64;
                    flush(conn);
                }
                cursor.0 += 1;
                if cursor.0 == schedule.len() {
                    cursor = (0, cursor.1 + 1);
                    if cursor.1 == args.seconds {
                        sending_done = true;
                        break;
                    }
                }
            }
        }
        if sending_done {
            let start = go_at.unwrap();
            let expected: u64 = expected_per_room.iter().sum();
            let late = start.elapsed() > Duration::from_secs(args.seconds) + DRAIN_BOUND;
            if stats.delivered >= expected || late {
                break;
            }
        }

        poll.poll(&mut events, Some(timeout))?;
        for event in events.iter() {
            let i = event.token().0;
            let conn = &mut conns[i];
            let was = conn.phase;
            if conn.phase == Phase::Connecting {
                let stream = conn.stream.as_ref().unwrap();
                match stream.take_error() {
                    Ok(None) if stream.peer_addr().is_ok() => {
                        conn.phase = Phase::Handshaking;
                        let _ = stream.set_nodelay(true);
                        let len = conn.client.poll_transmit(&mut scratch)?;
                        conn.out.extend_from_slice(&scratch[..len]);
                    }
                    Ok(None) => continue, // not yet
                    Ok(Some(e)) | Err(e) => {
                        eprintln!("generator: connect {i}: {e}");
                        conn.phase = Phase::Dead;
                    }
                }
            }
            if event.is_writable() {
                flush(conn);
            }
            if (event.is_readable() || event.is_read_closed()) && conn.phase != Phase::Dead {
                let now = (now_us(), sockless_now());
                read(conn, &mut buf, &mut scratch, &mut stats, &mut deflate, now, args.room_size);
            }
            let is = conn.phase;
            let waiting = |p| matches!(p, Phase::Connecting | Phase::Handshaking);
            if waiting(was) && !waiting(is) {
                in_flight -= 1;
                match is {
                    Phase::Open => open += 1,
                    _ => stats.failures += 1,
                }
            }
            if is == Phase::Dead {
                if let Some(mut s) = conn.stream.take() {
                    let _ = poll.registry().deregister(&mut s);
                }
            }
        }
    }

    let expected: u64 = expected_per_room.iter().sum();
    let sent: u64 = conns.iter().map(|c| c.sent).sum();
    let dead = conns.iter().filter(|c| c.phase == Phase::Dead).count();
    // Per client: what its room sent, against what it got.
    let (mut missing, mut extra) = (0u64, 0u64);
    for c in &conns {
        let want = expected_per_room[c.room] / args.room_size as u64;
        missing += want.saturating_sub(c.received);
        extra += c.received.saturating_sub(want);
    }
    let connect_us = connected_at.map_or(0, |at| at.duration_since(t0).as_micros());
    let (compressed, plain) = match &deflate {
        Some(d) => (d.sent_compressed - sent_at_go.0, d.sent_plain - sent_at_go.1),
        None => (0, sent),
    };
    writeln!(
        out,
        "result clients={n} connect_us={connect_us} failures={} dead={dead} sent={sent} \
         expected={expected} delivered={} missing={missing} extra={extra} misrouted={} \
         errors={} other={} wire_bytes={} text_bytes={} sent_compressed={compressed} \
         sent_plain={plain} inflaters_held={} peak_rss={}",
        stats.failures,
        stats.delivered,
        stats.misrouted,
        stats.errors,
        stats.other,
        stats.wire_bytes - wire_at_go,
        stats.text_bytes,
        deflate.as_ref().map_or(0, |d| d.held_max),
        crate::memory("self", "VmHWM:"),
    )?;
    writeln!(out, "hist {}", stats.hist.encode())?;
    out.flush()?;
    Ok(())
}

fn start_connect(source: SocketAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&source.into())?;
    match socket.connect(&server.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

fn kill(conn: &mut Conn, _stats: &mut Stats) {
    conn.phase = Phase::Dead;
}

/// Write what is owed; keep what the socket does not take.
fn flush(conn: &mut Conn) {
    let Some(stream) = conn.stream.as_mut() else {
        return;
    };
    while !conn.out.is_empty() {
        match stream.write(&conn.out) {
            Ok(0) => break,
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                conn.phase = Phase::Dead;
                break;
            }
        }
    }
}

/// Queue `text` on the open connection: compressed by the shared compressor with
/// `--deflate` (when that pays), as it is otherwise.
fn send_text(
    conn: &mut Conn,
    deflate: &mut Option<Deflate>,
    text: &str,
    scratch: &mut [u8],
) -> Result<(), sockless::Error> {
    let connection = conn.client.connection()?;
    let written = match deflate {
        Some(deflate) => deflate.send_text(connection, text, scratch)?,
        None => connection.send_text(text, scratch)?,
    };
    conn.out.extend_from_slice(&scratch[..written]);
    Ok(())
}

/// Read what the socket has and handle every event in it. `now` is the time in
/// microseconds since the start (for latencies) and as the client's clock.
fn read(
    conn: &mut Conn,
    buf: &mut [u8],
    scratch: &mut [u8],
    stats: &mut Stats,
    deflate: &mut Option<Deflate>,
    now: (u64, sockless::Instant),
    room_size: usize,
) {
    loop {
        let Some(stream) = conn.stream.as_mut() else {
            return;
        };
        let kept = conn.tail.len();
        buf[..kept].copy_from_slice(&conn.tail);
        conn.tail.clear();
        let n = match stream.read(&mut buf[kept..]) {
            Ok(0) => {
                kill(conn, stats);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                conn.tail.extend_from_slice(&buf[..kept]);
                return;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                conn.tail.extend_from_slice(&buf[..kept]);
                continue;
            }
            Err(_) => {
                kill(conn, stats);
                return;
            }
        };
        stats.wire_bytes += n as u64;
        let len = kept + n;
        let mut pos = 0;
        // An inflater with output still to hand out is called again even with no input
        // left (it keeps the unconsumed bytes' place: they stay in `tail`).
        let inflating = |conn: &Conn| conn.inflater.as_ref().is_some_and(|i| i.has_pending());
        while pos < len || inflating(conn) {
            let (consumed, event) =
                receive_one(conn, &mut buf[pos..len], scratch, stats, deflate, now, room_size);
            pos += consumed;
            if !event {
                break;
            }
            // A Pong or Close owed.
            while let Ok(w) = conn.client.poll_transmit(scratch) {
                if w == 0 {
                    break;
                }
                conn.out.extend_from_slice(&scratch[..w]);
            }
            if conn.phase == Phase::Dead {
                return;
            }
        }
        conn.tail.extend_from_slice(&buf[pos..len]);
        flush(conn);
        if n < buf.len() - kept {
            // Short read: the socket is most likely drained (mio wakes us again if not,
            // since the edge re-arms on new data; one more read would confirm it, at the
            // cost of a system call per wake-up).
            return;
        }
    }
}

/// Hand `input` to the client (through an inflater once open with `--deflate`) and handle
/// the event it gives, if any: returns the bytes it used and whether there was an event.
fn receive_one(
    conn: &mut Conn,
    input: &mut [u8],
    scratch: &mut [u8],
    stats: &mut Stats,
    deflate: &mut Option<Deflate>,
    now: (u64, sockless::Instant),
    room_size: usize,
) -> (usize, bool) {
    // RFC 7692 §7.1.1: the server takes no context over, so the generator's one inflater
    // serves every connection between messages (see `deflate.rs`).
    let mut inflater = match deflate.as_mut() {
        Some(deflate) if conn.phase == Phase::Open => Some(deflate.lend(conn.inflater.take())),
        _ => None,
    };
    let received = match inflater.as_mut() {
        Some(inflater) => inflater.receive(&mut conn.client, input, now.1),
        None => conn.client.receive(input, now.1),
    };
    let outcome = match received {
        Ok(received) => {
            let event = received.event.is_some();
            if let Some(event) = received.event {
                on_event(conn, event, scratch, stats, deflate, now.0, room_size);
            }
            (received.consumed, event)
        }
        Err(e) => {
            eprintln!("generator: client {}: {e}", conn.id);
            kill(conn, stats);
            (input.len(), false)
        }
    };
    if let (Some(deflate), Some(inflater)) = (deflate.as_mut(), inflater) {
        // A half-read message keeps its inflater until the rest arrives.
        conn.inflater = deflate.give_back(inflater);
    }
    outcome
}

fn on_event(
    conn: &mut Conn,
    event: Event<'_>,
    scratch: &mut [u8],
    stats: &mut Stats,
    deflate: &mut Option<Deflate>,
    now_us: u64,
    room_size: usize,
) {
    let global_room = conn.id / room_size;
    match event {
        Event::Connected(_) => on_connected(conn, scratch, stats, deflate, room_size),
        Event::Text(text) => {
            on_text(text.as_bytes(), conn.room, global_room, room_size, &mut conn.received, stats, now_us)
        }
        Event::Chunk(chunk) => {
            if chunk.first {
                conn.partial.clear();
            }
            conn.partial.extend_from_slice(chunk.data);
            if chunk.last {
                let text = std::mem::take(&mut conn.partial);
                on_text(&text, conn.room, global_room, room_size, &mut conn.received, stats, now_us);
                conn.partial = text;
            }
        }
        Event::Ping(_) | Event::Pong(_) | Event::Binary(_) => {}
        other => {
            eprintln!("generator: client {}: {other:?}", conn.id);
            kill(conn, stats);
        }
    }
}

/// Open: check the extension was negotiated when asked for, and join the room.
fn on_connected(
    conn: &mut Conn,
    scratch: &mut [u8],
    stats: &mut Stats,
    deflate: &mut Option<Deflate>,
    room_size: usize,
) {
    conn.phase = Phase::Open;
    if let (Some(deflate), Ok(connection)) = (deflate.as_mut(), conn.client.connection())
        && let Err(e) = deflate.check(connection)
    {
        stats.fatal = Some(format!("client {}: {e}", conn.id));
        kill(conn, stats);
        return;
    }
    let join = format!(
        "{{\"type\":\"join\",\"name\":\"u{}\",\"room\":\"{}\"}}",
        conn.id,
        room_name(conn.id / room_size)
    );
    if let Err(e) = send_text(conn, deflate, &join, scratch) {
        eprintln!("generator: client {}: join: {e}", conn.id);
        kill(conn, stats);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn on_text(
    text: &[u8],
    room: usize,
    global_room: usize,
    room_size: usize,
    received: &mut u64,
    stats: &mut Stats,
    now_us: u64,
) {
    if find(text, b"\"type\":\"message\"").is_some() {
        let Some(at) = find(text, b"\"text\":\"") else {
            stats.other += 1;
            return;
        };
        let body = &text[at + 8..];
        let end = body.iter().position(|&b| b == b'"').unwrap_or(body.len());
        let mut fields = std::str::from_utf8(&body[..end]).unwrap_or("").split(':');
        let sender: Option<usize> = fields.next().and_then(|f| f.parse().ok());
        let _seq = fields.next();
        let sent: Option<u64> = fields.next().and_then(|f| f.parse().ok());
        match (sender, sent) {
            (Some(sender), Some(sent)) => {
                if sender / room_size != global_room {
                    stats.misrouted += 1;
                }
                *received += 1;
                stats.delivered += 1;
                stats.text_bytes += text.len() as u64;
                stats.hist.record(now_us.saturating_sub(sent));
            }
            _ => stats.other += 1,
        }
    } else if find(text, b"\"type\":\"joined\"").is_some() {
        stats.joined[room] += 1;
    } else if find(text, b"\"type\":\"error\"").is_some() {
        stats.errors += 1;
    } else if find(text, b"\"type\":\"left\"").is_none() {
        stats.other += 1;
    }
}

