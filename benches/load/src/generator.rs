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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};
use sockless::rand_core::TryRng;
use sockless::{Client, ClientRequest, Config, Endpoint, Event};

use crate::deflate::{self, Deflate, SharedInflater};
use crate::hist::Histogram;

/// Handshakes in flight at once per process (keeps the servers' listen backlogs from
/// overflowing, which would stall connections for a SYN retry).
pub const IN_FLIGHT: usize = 128;
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
pub enum Phase {
    Waiting,
    Connecting,
    Handshaking,
    Open,
    Dead,
}

pub struct Conn {
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

/// Who the clients of this process are, where they connect from and to, and when each
/// sends within the second: the same for every generator (WebSocket or floor, any I/O).
pub struct Plan {
    room_size: usize,
    first_room: usize,
    addrs: Vec<SocketAddr>,
    sources: Vec<SocketAddr>,
    shard_for: Vec<usize>,
    /// (microseconds into the second, local client), in order.
    pub schedule: Vec<(u64, usize)>,
}

impl Plan {
    pub fn new(args: &Args) -> Result<Plan, Box<dyn std::error::Error>> {
        let addrs: Vec<SocketAddr> = args
            .urls
            .iter()
            .map(|u| {
                let rest = u.split_once("://").map_or(u.as_str(), |(_, rest)| rest);
                rest[..rest.find('/').unwrap_or(rest.len())].parse()
            })
            .collect::<Result<_, _>>()?;
        let sources: Vec<SocketAddr> = (1..=16)
            .map(|i| format!("{}.{i}:0", args.src_prefix).parse())
            .collect::<Result<_, _>>()?;
        let n = args.rooms * args.room_size;
        let total = args.total_rooms * args.room_size;
        let mut plan = Plan {
            room_size: args.room_size,
            first_room: args.first_room,
            addrs,
            sources,
            shard_for: Vec::with_capacity(n),
            schedule: Vec::with_capacity(n),
        };
        for local in 0..n {
            let global_room = plan.global_room(local / args.room_size);
            plan.shard_for
                .push(shard_of(&room_name(global_room), plan.addrs.len()));
            // A room's members 1/room_size s apart, rooms interleaved, so that the whole
            // load (over every process) is even through the second.
            let (room, member) = (global_room, local % args.room_size);
            let slot = (member * args.total_rooms + room) as u64;
            plan.schedule.push((slot * 1_000_000 / total as u64, local));
        }
        plan.schedule.sort_unstable();
        Ok(plan)
    }

    pub fn clients(&self) -> usize {
        self.shard_for.len()
    }

    /// The global id of local client `local`.
    pub fn id(&self, local: usize) -> usize {
        self.first_room * self.room_size + local
    }

    pub fn global_room(&self, local_room: usize) -> usize {
        self.first_room + local_room
    }

    pub fn source(&self, local: usize) -> SocketAddr {
        self.sources[local % self.sources.len()]
    }

    /// The server (shard) of local client `local`: the one that owns its room.
    pub fn server(&self, local: usize) -> SocketAddr {
        self.addrs[self.shard_for[local]]
    }

    /// The URL index of local client `local`.
    pub fn shard(&self, local: usize) -> usize {
        self.shard_for[local]
    }
}

/// A generator's phases, the same for every generator: connect (`connected` on stdout),
/// settle (`ready`), wait for `go`, send on the schedule for the given seconds, drain, and
/// report (`result ...`, `hist ...`).
pub struct Phases {
    n: usize,
    seconds: u64,
    room_size: u64,
    /// Joined notices every room must see before it is settled.
    settle_target: u64,
    pub open: usize,
    connected_at: Option<Instant>,
    ready_at: Option<Instant>,
    go_at: Option<Instant>,
    /// (schedule index, round)
    cursor: (usize, u64),
    sending_done: bool,
    pub expected_per_room: Vec<u64>,
    wire_at_go: u64,
    /// Messages sent more than `LATE_US` after they were due: the generator did not keep
    /// the pace (the machine is too busy, or the load too high for the generators).
    late: u64,
}

/// A message sent this much after it was due counts as late, in microseconds.
const LATE_US: u64 = 100_000;

impl Phases {
    pub fn new(n: usize, settle_target: u64, args: &Args) -> Self {
        Phases {
            n,
            seconds: args.seconds,
            room_size: args.room_size as u64,
            settle_target,
            open: 0,
            connected_at: None,
            ready_at: None,
            go_at: None,
            cursor: (0, 0),
            sending_done: false,
            expected_per_room: vec![0; args.rooms],
            wire_at_go: 0,
            late: 0,
        }
    }

    /// Move on when due, telling the orchestrator; returns how long the loop may wait for
    /// I/O, and whether `go` came just now.
    pub fn step(
        &mut self,
        out: &mut impl Write,
        t0: Instant,
        joined: &[u64],
        failures: u64,
        wire_bytes: u64,
        go: bool,
    ) -> Result<(Duration, bool), Box<dyn std::error::Error>> {
        if self.connected_at.is_none() && self.open + failures as usize == self.n {
            self.connected_at = Some(Instant::now());
            writeln!(out, "connected {} {}", t0.elapsed().as_micros(), failures)?;
            out.flush()?;
        }
        if self.connected_at.is_none() && t0.elapsed() > CONNECT_BOUND {
            let (open, n) = (self.open, self.n);
            return Err(
                format!("only {open} of {n} connections open after {CONNECT_BOUND:?}").into(),
            );
        }
        if let (Some(at), None) = (self.connected_at, self.ready_at) {
            let settled = joined.iter().all(|&j| j >= self.settle_target);
            if settled || at.elapsed() > SETTLE_BOUND {
                self.ready_at = Some(Instant::now());
                writeln!(out, "ready {settled}")?;
                out.flush()?;
            }
        }
        let mut went = false;
        if self.go_at.is_none() && go {
            self.go_at = Some(Instant::now());
            self.wire_at_go = wire_bytes;
            went = true;
        }
        if let Some(ready) = self.ready_at
            && self.go_at.is_none()
            && ready.elapsed() > GO_BOUND
        {
            return Err("no go from the orchestrator".into());
        }
        Ok((
            Duration::from_millis(if self.go_at.is_some() { 2 } else { 20 }),
            went,
        ))
    }

    /// Microseconds since `go` while sending.
    pub fn sending(&self) -> Option<u64> {
        match (self.go_at, self.sending_done) {
            (Some(start), false) => Some(start.elapsed().as_micros() as u64),
            _ => None,
        }
    }

    /// The next local client due to send by `elapsed` (microseconds since `go`), if any;
    /// if none, `timeout` is cut to when the next one is due.
    pub fn due(&mut self, plan: &Plan, elapsed: u64, timeout: &mut Duration) -> Option<usize> {
        if self.sending_done {
            return None;
        }
        let (offset, i) = plan.schedule[self.cursor.0];
        let due = self.cursor.1 * 1_000_000 + offset;
        if due > elapsed {
            *timeout = (*timeout).min(Duration::from_micros(due - elapsed));
            return None;
        }
        if elapsed - due > LATE_US {
            self.late += 1;
        }
        self.cursor.0 += 1;
        if self.cursor.0 == plan.schedule.len() {
            self.cursor = (0, self.cursor.1 + 1);
            if self.cursor.1 == self.seconds {
                self.sending_done = true;
            }
        }
        Some(i)
    }

    /// Sent and drained (everything delivered, or the drain bound passed).
    pub fn finished(&self, delivered: u64) -> bool {
        let Some(start) = self.go_at.filter(|_| self.sending_done) else {
            return false;
        };
        let expected: u64 = self.expected_per_room.iter().sum();
        delivered >= expected || start.elapsed() > Duration::from_secs(self.seconds) + DRAIN_BOUND
    }

    /// The bytes read since `go`.
    pub fn wire_since_go(&self, wire_bytes: u64) -> u64 {
        wire_bytes - self.wire_at_go
    }

    /// The `result` and `hist` lines. `clients`: (local room, received, sent, dead) of each
    /// client; `extra`: more `k=v` fields.
    #[allow(clippy::too_many_arguments)]
    pub fn report(
        &self,
        out: &mut impl Write,
        t0: Instant,
        clients: &[(usize, u64, u64, bool)],
        failures: u64,
        delivered: u64,
        misrouted: u64,
        hist: &Histogram,
        extra: &str,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let expected: u64 = self.expected_per_room.iter().sum();
        let sent: u64 = clients.iter().map(|c| c.2).sum();
        let dead = clients.iter().filter(|c| c.3).count();
        // Per client: what its room sent, against what it got.
        let (mut missing, mut extra_msgs) = (0u64, 0u64);
        for &(room, received, _, _) in clients {
            let want = self.expected_per_room[room] / self.room_size;
            missing += want.saturating_sub(received);
            extra_msgs += received.saturating_sub(want);
        }
        let connect_us = self
            .connected_at
            .map_or(0, |at| at.duration_since(t0).as_micros());
        writeln!(
            out,
            "result clients={} connect_us={connect_us} failures={failures} dead={dead} sent={sent} \
             expected={expected} delivered={delivered} missing={missing} extra={extra_msgs} \
             misrouted={misrouted} late={} peak_rss={} {extra}",
            self.n,
            self.late,
            crate::memory("self", "VmHWM:"),
        )?;
        writeln!(out, "hist {}", hist.encode())?;
        out.flush()?;
        Ok(())
    }
}

/// The clients of this process, not connected yet.
fn build_conns(
    args: &Args,
    plan: &Plan,
    config: Config,
    now: sockless::Instant,
) -> Result<Vec<Conn>, Box<dyn std::error::Error>> {
    // The clients borrow their URL for the life of the process.
    let urls: Vec<&'static str> = args
        .urls
        .iter()
        .map(|u| &*Box::leak(u.clone().into_boxed_str()))
        .collect();
    let n = plan.clients();
    let mut conns: Vec<Conn> = Vec::with_capacity(n);
    for local in 0..n {
        let id = plan.id(local);
        let rng = FastRng(0x9e3779b97f4a7c15 ^ (id as u64 + 1).wrapping_mul(0x2545f4914f6cdd1d));
        let mut request = ClientRequest::from_url(urls[plan.shard(local)])?;
        if args.deflate {
            request = request.with_deflate(deflate::offer());
        }
        conns.push(Conn {
            stream: None,
            client: Client::new(request, config, rng, now)?,
            phase: Phase::Waiting,
            tail: Vec::new(),
            partial: Vec::new(),
            out: Vec::new(),
            inflater: None,
            room: local / args.room_size,
            id,
            received: 0,
            sent: 0,
        });
    }
    Ok(conns)
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let now_us = || t0.elapsed().as_micros() as u64;
    let sockless_now = || sockless::Instant::from_elapsed(t0.elapsed());
    let plan = Plan::new(&args)?;
    let config = Config::default().with_handshake_timeout(Duration::from_secs(60));
    let n = plan.clients();
    let mut conns = build_conns(&args, &plan, config, sockless_now())?;
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
    // The messages sent compressed and not before `go` (the joins).
    let mut sent_at_go = (0, 0);
    // Each member sees the joined notices of those who joined after it.
    let settle_target = (args.room_size * (args.room_size - 1) / 2) as u64;
    let mut phases = Phases::new(n, settle_target, &args);
    let mut next_connect = 0;
    let mut in_flight = 0;
    let mut out = std::io::stdout().lock();

    loop {
        if let Some(fatal) = stats.fatal.take() {
            return Err(fatal.into());
        }
        // Start more connections, a bounded number at a time.
        while next_connect < n && in_flight < IN_FLIGHT {
            let i = next_connect;
            next_connect += 1;
            match start_connect(plan.source(i), plan.server(i)) {
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
        let go_now = go.load(Ordering::SeqCst);
        let (mut timeout, went) = phases.step(
            &mut out,
            t0,
            &stats.joined,
            stats.failures,
            stats.wire_bytes,
            go_now,
        )?;
        if went {
            sent_at_go = deflate
                .as_ref()
                .map_or((0, 0), |d| (d.sent_compressed, d.sent_plain));
        }

        // Send what is due.
        if let Some(elapsed) = phases.sending() {
            while let Some(i) = phases.due(&plan, elapsed, &mut timeout) {
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
                    phases.expected_per_room[conn.room] += args.room_size as u64;
                    flush(conn);
                }
            }
        }
        if phases.finished(stats.delivered) {
            break;
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
                read(
                    conn,
                    &mut buf,
                    &mut scratch,
                    &mut stats,
                    &mut deflate,
                    now,
                    args.room_size,
                );
            }
            let is = conn.phase;
            let waiting = |p| matches!(p, Phase::Connecting | Phase::Handshaking);
            if waiting(was) && !waiting(is) {
                in_flight -= 1;
                match is {
                    Phase::Open => phases.open += 1,
                    _ => stats.failures += 1,
                }
            }
            if is == Phase::Dead
                && let Some(mut s) = conn.stream.take()
            {
                let _ = poll.registry().deregister(&mut s);
            }
        }
    }

    let sent: u64 = conns.iter().map(|c| c.sent).sum();
    let (compressed, plain) = match &deflate {
        Some(d) => (
            d.sent_compressed - sent_at_go.0,
            d.sent_plain - sent_at_go.1,
        ),
        None => (0, sent),
    };
    let clients: Vec<(usize, u64, u64, bool)> = conns
        .iter()
        .map(|c| (c.room, c.received, c.sent, c.phase == Phase::Dead))
        .collect();
    let extra = format!(
        "errors={} other={} wire_bytes={} text_bytes={} sent_compressed={compressed} \
         sent_plain={plain} inflaters_held={}",
        stats.errors,
        stats.other,
        phases.wire_since_go(stats.wire_bytes),
        stats.text_bytes,
        deflate.as_ref().map_or(0, |d| d.held_max),
    );
    phases.report(
        &mut out,
        t0,
        &clients,
        stats.failures,
        stats.delivered,
        stats.misrouted,
        &stats.hist,
        &extra,
    )
}

pub fn start_connect(source: SocketAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
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
        let Some(pos) = handle_input(
            conn,
            &mut buf[..len],
            scratch,
            stats,
            deflate,
            now,
            room_size,
        ) else {
            return;
        };
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

/// Handle every event in `buf` (what was kept, then what was read), queueing what is owed
/// in `conn.out`: returns the bytes used (the rest is to keep), or `None` if the connection
/// died.
fn handle_input(
    conn: &mut Conn,
    buf: &mut [u8],
    scratch: &mut [u8],
    stats: &mut Stats,
    deflate: &mut Option<Deflate>,
    now: (u64, sockless::Instant),
    room_size: usize,
) -> Option<usize> {
    let len = buf.len();
    let mut pos = 0;
    // An inflater with output still to hand out is called again even with no input
    // left (it keeps the unconsumed bytes' place: they stay in `tail`).
    let inflating = |conn: &Conn| conn.inflater.as_ref().is_some_and(|i| i.has_pending());
    while pos < len || inflating(conn) {
        let (consumed, event) = receive_one(
            conn,
            &mut buf[pos..len],
            scratch,
            stats,
            deflate,
            now,
            room_size,
        );
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
            return None;
        }
    }
    Some(pos)
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
        Event::Text(text) => on_text(
            text.as_bytes(),
            conn.room,
            global_room,
            room_size,
            &mut conn.received,
            stats,
            now_us,
        ),
        Event::Chunk(chunk) => {
            if chunk.first {
                conn.partial.clear();
            }
            conn.partial.extend_from_slice(chunk.data);
            if chunk.last {
                let text = std::mem::take(&mut conn.partial);
                on_text(
                    &text,
                    conn.room,
                    global_room,
                    room_size,
                    &mut conn.received,
                    stats,
                    now_us,
                );
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

/// The WebSocket clients on the io_uring generator (`uring.rs`): the same handling as on
/// mio, handed the bytes the ring received.
#[cfg(target_os = "linux")]
pub struct WsProtocol {
    conns: Vec<Option<Conn>>,
    stats: Stats,
    deflate: Option<Deflate>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    room_size: usize,
    t0: Instant,
}

#[cfg(target_os = "linux")]
impl WsProtocol {
    pub fn new(args: &Args) -> Result<Self, Box<dyn std::error::Error>> {
        let t0 = Instant::now();
        let plan = Plan::new(args)?;
        let config = Config::default().with_handshake_timeout(Duration::from_secs(60));
        let conns = build_conns(args, &plan, config, sockless::Instant::ZERO)?;
        Ok(WsProtocol {
            conns: conns.into_iter().map(Some).collect(),
            stats: Stats {
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
            },
            deflate: args.deflate.then(|| Deflate::new(config.max_message_len)),
            buf: Vec::with_capacity(READ_BUFFER),
            scratch: vec![0; 4096],
            room_size: args.room_size,
            t0,
        })
    }

    /// Move what the client queued to `out` (no copy when `out` is empty).
    fn hand_over(conn: &mut Conn, out: &mut Vec<u8>) {
        if out.is_empty() {
            std::mem::swap(out, &mut conn.out);
        } else {
            out.append(&mut conn.out);
        }
    }
}

#[cfg(target_os = "linux")]
impl crate::uring::Protocol for WsProtocol {
    type Client = Conn;

    fn client(&mut self, local: usize) -> Conn {
        self.conns[local].take().expect("each client is taken once")
    }

    fn on_connected(&mut self, conn: &mut Conn, out: &mut Vec<u8>) -> bool {
        conn.phase = Phase::Handshaking;
        match conn.client.poll_transmit(&mut self.scratch) {
            Ok(len) => out.extend_from_slice(&self.scratch[..len]),
            Err(_) => conn.phase = Phase::Dead,
        }
        false
    }

    fn on_bytes(
        &mut self,
        conn: &mut Conn,
        input: &[u8],
        out: &mut Vec<u8>,
        now_us: u64,
    ) -> Result<bool, String> {
        self.stats.wire_bytes += input.len() as u64;
        self.buf.clear();
        self.buf.extend_from_slice(&conn.tail);
        self.buf.extend_from_slice(input);
        conn.tail.clear();
        let now = (now_us, sockless::Instant::from_elapsed(self.t0.elapsed()));
        let used = handle_input(
            conn,
            &mut self.buf,
            &mut self.scratch,
            &mut self.stats,
            &mut self.deflate,
            now,
            self.room_size,
        );
        Self::hand_over(conn, out);
        if let Some(fatal) = self.stats.fatal.take() {
            return Err(fatal);
        }
        match used {
            Some(used) if conn.phase != Phase::Dead => {
                conn.tail.extend_from_slice(&self.buf[used..]);
                Ok(conn.phase == Phase::Open)
            }
            _ => Err("the connection failed".into()),
        }
    }

    fn say(&mut self, conn: &mut Conn, now_us: u64, out: &mut Vec<u8>) {
        let text = format!(
            "{{\"type\":\"say\",\"text\":\"{}:{}:{}\"}}",
            conn.id, conn.sent, now_us
        );
        if send_text(conn, &mut self.deflate, &text, &mut self.scratch).is_ok() {
            conn.sent += 1;
        }
        Self::hand_over(conn, out);
    }

    fn counts(&self, conn: &Conn) -> (u64, u64) {
        (conn.received, conn.sent)
    }

    fn settle_target(&self) -> u64 {
        (self.room_size * (self.room_size - 1) / 2) as u64
    }

    fn joined(&self) -> &[u64] {
        &self.stats.joined
    }

    fn fail(&mut self) {
        self.stats.failures += 1;
    }

    fn failures(&self) -> u64 {
        self.stats.failures
    }

    fn delivered(&self) -> u64 {
        self.stats.delivered
    }

    fn wire_bytes(&self) -> u64 {
        self.stats.wire_bytes
    }

    fn report(
        &self,
        phases: &Phases,
        mut out: &mut dyn Write,
        t0: Instant,
        clients: &[(usize, u64, u64, bool)],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let sent: u64 = clients.iter().map(|c| c.2).sum();
        let (compressed, plain) = match &self.deflate {
            Some(d) => (d.sent_compressed, d.sent_plain),
            None => (0, sent),
        };
        let extra = format!(
            "errors={} other={} wire_bytes={} text_bytes={} sent_compressed={compressed} \
             sent_plain={plain} inflaters_held={}",
            self.stats.errors,
            self.stats.other,
            phases.wire_since_go(self.stats.wire_bytes),
            self.stats.text_bytes,
            self.deflate.as_ref().map_or(0, |d| d.held_max),
        );
        phases.report(
            &mut out,
            t0,
            clients,
            self.stats.failures,
            self.stats.delivered,
            self.stats.misrouted,
            &self.stats.hist,
            &extra,
        )
    }
}
