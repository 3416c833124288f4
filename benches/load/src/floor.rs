//! The floor: a raw TCP server and generator of the chat's shape, with no WebSocket framing,
//! masking or JSON, so that each row of the benchmark can say how far the chat is above
//! what the kernel and the event loop alone cost.
//!
//! Same shape as the chat run: the same process counts, the same rooms (a message goes to
//! every member of its sender's room), the same pacing (one message a second per client,
//! spread evenly), the same sizes on the wire (a request as long as the chat's masked `say`
//! frame, an answer as long as the chat's `message` frame), latency measured the same way
//! (send time in the message, read back at delivery). On the same I/O model as the chat: one
//! `mio::Poll` (epoll), one read buffer shared by every connection, reads sized to what is
//! there, each connection's output queued during the turn and written once at its end.
//!
//! A frame: `length: u16` (big-endian, the bytes after it), `kind: u8`, then by kind:
//! - `J` join, client to server: `room: u32` (big-endian);
//! - `A` joined, server to client: nothing (the answer to a join, to the joiner only);
//! - `S` say, client to server: `answer: u16` (the length of the whole answer frame to send
//!   back), then the text;
//! - `M` message, server to every member of the room: the text, padded with spaces to the
//!   length the `S` asked for.

use std::collections::HashMap;
use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::generator::{self, Args};
use crate::hist::Histogram;

pub const JOIN: u8 = b'J';
pub const JOINED: u8 = b'A';
pub const SAY: u8 = b'S';
pub const MESSAGE: u8 = b'M';

/// The longest frame (length field included).
pub const MAX_FRAME: usize = 2 + 1024;

/// One decoded frame, borrowing from the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Join { room: u32 },
    Joined,
    Say { answer: u16, text: &'a [u8] },
    Message { text: &'a [u8] },
}

/// A frame that breaks the rules above: the connection is closed.
#[derive(Debug, PartialEq, Eq)]
pub struct BadFrame(pub &'static str);

impl std::fmt::Display for BadFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad floor frame: {}", self.0)
    }
}

/// The first frame in `input`, and the bytes it took; `Ok(None)` if it is not all there yet.
pub fn decode(input: &[u8]) -> Result<Option<(Frame<'_>, usize)>, BadFrame> {
    if input.len() < 2 {
        return Ok(None);
    }
    let len = u16::from_be_bytes([input[0], input[1]]) as usize;
    if len == 0 {
        return Err(BadFrame("empty frame"));
    }
    if 2 + len > MAX_FRAME {
        return Err(BadFrame("frame too long"));
    }
    if input.len() < 2 + len {
        return Ok(None);
    }
    let body = &input[3..2 + len];
    let frame = match input[2] {
        JOIN => match <[u8; 4]>::try_from(body) {
            Ok(room) => Frame::Join {
                room: u32::from_be_bytes(room),
            },
            Err(_) => return Err(BadFrame("a join holds a 4-byte room")),
        },
        JOINED if body.is_empty() => Frame::Joined,
        JOINED => return Err(BadFrame("a joined holds nothing")),
        SAY => {
            if body.len() < 2 {
                return Err(BadFrame("a say starts with its answer's length"));
            }
            let answer = u16::from_be_bytes([body[0], body[1]]);
            let text = &body[2..];
            if (answer as usize) < 3 + text.len() || answer as usize > MAX_FRAME {
                return Err(BadFrame("a say's answer cannot hold its text"));
            }
            Frame::Say { answer, text }
        }
        MESSAGE => Frame::Message { text: body },
        _ => return Err(BadFrame("unknown kind")),
    };
    Ok(Some((frame, 2 + len)))
}

fn header(out: &mut Vec<u8>, len: usize, kind: u8) {
    out.extend_from_slice(&(len as u16 + 1).to_be_bytes());
    out.push(kind);
}

pub fn encode_join(room: u32, out: &mut Vec<u8>) {
    header(out, 4, JOIN);
    out.extend_from_slice(&room.to_be_bytes());
}

pub fn encode_joined(out: &mut Vec<u8>) {
    header(out, 0, JOINED);
}

/// A say of `text` whose answer will be `answer` bytes long, padded with spaces to make the
/// say itself `len` bytes long (at least its minimum, `5 + text.len()`).
pub fn encode_say(text: &[u8], len: usize, answer: u16, out: &mut Vec<u8>) {
    let body = len.max(5 + text.len()) - 3;
    header(out, body, SAY);
    out.extend_from_slice(&answer.to_be_bytes());
    out.extend_from_slice(text);
    out.resize(out.len() + body - 2 - text.len(), b' ');
}

/// The message frame that answers a say: `text` padded to `answer` bytes in all.
pub fn encode_message(text: &[u8], answer: u16, out: &mut Vec<u8>) {
    let body = answer as usize - 3;
    header(out, body, MESSAGE);
    out.extend_from_slice(text);
    out.resize(out.len() + body - text.len(), b' ');
}

/// The chat's frames for the message `text` of client `id`, to size the floor's alike: its
/// masked `say` frame (header of 2 + 4 bytes) and the `message` frame it gets back (header of
/// 2 bytes; the server's clock in milliseconds has 13 digits).
pub fn chat_sizes(id: usize, text: &str) -> (usize, u16) {
    let say = format!("{{\"type\":\"say\",\"text\":\"{text}\"}}").len() + 6;
    let message = format!(
        "{{\"type\":\"message\",\"name\":\"u{id}\",\"text\":\"{text}\",\"time\":1765000000000}}"
    )
    .len()
        + 2;
    (say, message as u16)
}

// ---- The server -------------------------------------------------------------------------

const LISTENER: Token = Token(usize::MAX);
const READ_BUFFER: usize = 64 * 1024;

/// One floor connection on the server.
pub struct Peer {
    stream: TcpStream,
    /// A partial frame, kept between reads.
    leftover: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    room: Option<u32>,
    dirty: bool,
}

/// What every floor server keeps whatever its I/O: rooms and each connection's queue. The
/// io_uring server uses the same handling with its own loop.
#[derive(Default)]
pub struct Rooms {
    members: HashMap<u32, Vec<usize>>,
    message: Vec<u8>,
}

impl Rooms {
    /// Handle the whole frames in `input` for connection `key`, queueing the answers with
    /// `queue(key, bytes)`; returns the bytes used (the rest is a partial frame).
    pub fn handle(
        &mut self,
        key: usize,
        room_of: &mut Option<u32>,
        input: &[u8],
        mut queue: impl FnMut(usize, &[u8]),
    ) -> Result<usize, BadFrame> {
        let mut used = 0;
        while let Some((frame, len)) = decode(&input[used..])? {
            used += len;
            match frame {
                Frame::Join { room } if room_of.is_none() => {
                    *room_of = Some(room);
                    self.members.entry(room).or_default().push(key);
                    self.message.clear();
                    encode_joined(&mut self.message);
                    queue(key, &self.message);
                }
                Frame::Say { answer, text } => {
                    let Some(room) = *room_of else {
                        return Err(BadFrame("say before join"));
                    };
                    self.message.clear();
                    encode_message(text, answer, &mut self.message);
                    for &member in self.members.get(&room).map_or(&[][..], Vec::as_slice) {
                        queue(member, &self.message);
                    }
                }
                _ => return Err(BadFrame("not a client's frame")),
            }
        }
        Ok(used)
    }

    pub fn leave(&mut self, key: usize, room: Option<u32>) {
        if let Some(room) = room
            && let Some(members) = self.members.get_mut(&room)
        {
            members.retain(|&m| m != key);
            if members.is_empty() {
                self.members.remove(&room);
            }
        }
    }
}

/// A listener on `addr` with SO_REUSEPORT (several server processes on one port, as the
/// chat), non-blocking.
pub fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// The floor server on mio: runs until killed.
pub fn serve(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = addr.parse()?;
    let mut listener = TcpListener::from_std(listen(addr)?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut peers: Vec<Option<Peer>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut rooms = Rooms::default();
    let mut dirty: Vec<usize> = Vec::new();
    let mut doomed: Vec<usize> = Vec::new();
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let key = free.pop().unwrap_or_else(|| {
                                peers.push(None);
                                peers.len() - 1
                            });
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            if poll
                                .registry()
                                .register(&mut stream, Token(key), interest)
                                .is_err()
                            {
                                free.push(key);
                                continue;
                            }
                            peers[key] = Some(Peer {
                                stream,
                                leftover: Vec::new(),
                                out: Vec::new(),
                                sent: 0,
                                room: None,
                                dirty: false,
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break, // EMFILE and the like: the backlog waits
                    }
                }
                continue;
            }
            let key = event.token().0;
            if event.is_writable() {
                mark(&mut peers, &mut dirty, key);
            }
            if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
                continue;
            }
            while let Some(peer) = peers[key].as_mut() {
                let kept = peer.leftover.len();
                buffer[..kept].copy_from_slice(&peer.leftover);
                peer.leftover.clear();
                let space = buffer.len() - kept;
                let n = match peer.stream.read(&mut buffer[kept..]) {
                    Ok(0) => {
                        doomed.push(key);
                        break;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        peer.leftover.extend_from_slice(&buffer[..kept]);
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {
                        peer.leftover.extend_from_slice(&buffer[..kept]);
                        continue;
                    }
                    Err(_) => {
                        doomed.push(key);
                        break;
                    }
                };
                let mut room = peer.room;
                let result = rooms.handle(key, &mut room, &buffer[..kept + n], |to, bytes| {
                    if let Some(peer) = peers_get(&mut peers, to) {
                        peer.out.extend_from_slice(bytes);
                        if !peer.dirty {
                            peer.dirty = true;
                            dirty.push(to);
                        }
                    }
                });
                let Some(peer) = peers[key].as_mut() else {
                    break;
                };
                peer.room = room;
                match result {
                    Ok(used) => peer.leftover.extend_from_slice(&buffer[used..kept + n]),
                    Err(_) => {
                        doomed.push(key);
                        break;
                    }
                }
                if n < space {
                    break; // drained: epoll (edge-triggered) reports the next bytes
                }
            }
        }
        // The end of the turn: one write per connection with something queued.
        for key in dirty.drain(..) {
            let Some(peer) = peers[key].as_mut() else {
                continue;
            };
            peer.dirty = false;
            while peer.sent < peer.out.len() {
                match peer.stream.write(&peer.out[peer.sent..]) {
                    Ok(0) => {
                        doomed.push(key);
                        break;
                    }
                    Ok(n) => peer.sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        doomed.push(key);
                        break;
                    }
                }
            }
            if peer.sent == peer.out.len() {
                peer.out.clear();
                peer.sent = 0;
            }
        }
        for key in doomed.drain(..) {
            if let Some(mut peer) = peers[key].take() {
                rooms.leave(key, peer.room);
                let _ = poll.registry().deregister(&mut peer.stream);
                free.push(key);
            }
        }
    }
}

fn peers_get(peers: &mut [Option<Peer>], key: usize) -> Option<&mut Peer> {
    peers.get_mut(key).and_then(Option::as_mut)
}

fn mark(peers: &mut [Option<Peer>], dirty: &mut Vec<usize>, key: usize) {
    if let Some(peer) = peers_get(peers, key)
        && !peer.dirty
    {
        peer.dirty = true;
        dirty.push(key);
    }
}

// ---- The generator ----------------------------------------------------------------------

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Waiting,
    Connecting,
    Open,
    Dead,
}

struct Conn {
    stream: Option<TcpStream>,
    phase: Phase,
    tail: Vec<u8>,
    out: Vec<u8>,
    /// Local room index.
    room: usize,
    id: usize,
    received: u64,
    sent: u64,
}

/// What a generator counts, whatever its I/O.
pub struct Tally {
    pub joined: Vec<u64>,
    pub delivered: u64,
    pub misrouted: u64,
    pub other: u64,
    pub failures: u64,
    pub wire_bytes: u64,
    pub text_bytes: u64,
    pub hist: Histogram,
}

impl Tally {
    pub fn new(rooms: usize) -> Self {
        Tally {
            joined: vec![0; rooms],
            delivered: 0,
            misrouted: 0,
            other: 0,
            failures: 0,
            wire_bytes: 0,
            text_bytes: 0,
            hist: Histogram::new(),
        }
    }

    /// Count the frames in `input` for a client of local room `room` and global room
    /// `global_room`; returns the bytes used.
    pub fn receive(
        &mut self,
        input: &[u8],
        room: usize,
        global_room: usize,
        room_size: usize,
        received: &mut u64,
        now_us: u64,
    ) -> Result<usize, BadFrame> {
        let mut used = 0;
        while let Some((frame, len)) = decode(&input[used..])? {
            used += len;
            match frame {
                Frame::Joined => self.joined[room] += 1,
                Frame::Message { text } => {
                    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
                    let mut fields = std::str::from_utf8(&text[..end]).unwrap_or("").split(':');
                    let sender: Option<usize> = fields.next().and_then(|f| f.parse().ok());
                    let _seq = fields.next();
                    let sent: Option<u64> = fields.next().and_then(|f| f.parse().ok());
                    match (sender, sent) {
                        (Some(sender), Some(sent)) => {
                            if sender / room_size != global_room {
                                self.misrouted += 1;
                            }
                            *received += 1;
                            self.delivered += 1;
                            self.text_bytes += text.len() as u64;
                            self.hist.record(now_us.saturating_sub(sent));
                        }
                        _ => self.other += 1,
                    }
                }
                _ => self.other += 1,
            }
        }
        Ok(used)
    }
}

impl Tally {
    /// The generator's last lines (see `generator::Phases::report`).
    pub fn report(
        &self,
        phases: &generator::Phases,
        out: &mut impl Write,
        t0: Instant,
        clients: &[(usize, u64, u64, bool)],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let extra = format!(
            "other={} wire_bytes={} text_bytes={}",
            self.other,
            phases.wire_since_go(self.wire_bytes),
            self.text_bytes
        );
        phases.report(
            out,
            t0,
            clients,
            self.failures,
            self.delivered,
            self.misrouted,
            &self.hist,
            &extra,
        )
    }
}

/// The say of client `id`'s message number `seq`, sent at `now_us`, sized as the chat's.
pub fn say(id: usize, seq: u64, now_us: u64, out: &mut Vec<u8>) {
    let text = format!("{id}:{seq}:{now_us}");
    let (len, answer) = chat_sizes(id, &text);
    encode_say(text.as_bytes(), len, answer, out);
}

/// The floor generator on mio: the same phases and lines on stdout as the chat's generator
/// (`generator.rs`).
pub fn generate(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let now_us = || t0.elapsed().as_micros() as u64;
    let plan = generator::Plan::new(&args)?;
    let n = plan.clients();
    let mut conns: Vec<Conn> = (0..n)
        .map(|local| Conn {
            stream: None,
            phase: Phase::Waiting,
            tail: Vec::new(),
            out: Vec::new(),
            room: local / args.room_size,
            id: plan.id(local),
            received: 0,
            sent: 0,
        })
        .collect();
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
    let mut buf = vec![0u8; 256 * 1024];
    let mut tally = Tally::new(args.rooms);
    // Each member gets the answer to its own join.
    let mut phases = generator::Phases::new(n, args.room_size as u64, &args);
    let mut next_connect = 0;
    let mut in_flight = 0;
    let mut out = std::io::stdout().lock();
    loop {
        while next_connect < n && in_flight < generator::IN_FLIGHT {
            let i = next_connect;
            next_connect += 1;
            match generator::start_connect(plan.source(i), plan.server(i)) {
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
                    eprintln!("floor generator: connect {i}: {e}");
                    conns[i].phase = Phase::Dead;
                    tally.failures += 1;
                }
            }
        }
        let go_now = go.load(Ordering::SeqCst);
        let (mut timeout, _) = phases.step(
            &mut out,
            t0,
            &tally.joined,
            tally.failures,
            tally.wire_bytes,
            go_now,
        )?;
        if let Some(elapsed) = phases.sending() {
            while let Some(i) = phases.due(&plan, elapsed, &mut timeout) {
                let conn = &mut conns[i];
                if conn.phase == Phase::Open {
                    say(conn.id, conn.sent, now_us(), &mut conn.out);
                    conn.sent += 1;
                    phases.expected_per_room[conn.room] += args.room_size as u64;
                    flush(conn);
                }
            }
        }
        if phases.finished(tally.delivered) {
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
                        conn.phase = Phase::Open;
                        let _ = stream.set_nodelay(true);
                        encode_join(plan.global_room(conn.room) as u32, &mut conn.out);
                    }
                    Ok(None) => continue,
                    Ok(Some(e)) | Err(e) => {
                        eprintln!("floor generator: connect {i}: {e}");
                        conn.phase = Phase::Dead;
                    }
                }
            }
            if event.is_writable() {
                flush(conn);
            }
            if (event.is_readable() || event.is_read_closed()) && conn.phase == Phase::Open {
                read(conn, &mut buf, &mut tally, &plan, args.room_size, now_us());
            }
            if was == Phase::Connecting && conn.phase != Phase::Connecting {
                in_flight -= 1;
                match conn.phase {
                    Phase::Open => phases.open += 1,
                    _ => tally.failures += 1,
                }
            }
            if conn.phase == Phase::Dead
                && let Some(mut s) = conn.stream.take()
            {
                let _ = poll.registry().deregister(&mut s);
            }
        }
    }
    let counts: Vec<(usize, u64, u64, bool)> = conns
        .iter()
        .map(|c| (c.room, c.received, c.sent, c.phase == Phase::Dead))
        .collect();
    tally.report(&phases, &mut out, t0, &counts)
}

fn flush(conn: &mut Conn) {
    let Some(stream) = conn.stream.as_mut() else {
        return;
    };
    let mut sent = 0;
    while sent < conn.out.len() {
        match stream.write(&conn.out[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                conn.phase = Phase::Dead;
                break;
            }
        }
    }
    conn.out.drain(..sent);
}

fn read(
    conn: &mut Conn,
    buf: &mut [u8],
    tally: &mut Tally,
    plan: &generator::Plan,
    room_size: usize,
    now_us: u64,
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
                conn.phase = Phase::Dead;
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
                conn.phase = Phase::Dead;
                return;
            }
        };
        tally.wire_bytes += n as u64;
        let global_room = plan.global_room(conn.room);
        match tally.receive(
            &buf[..kept + n],
            conn.room,
            global_room,
            room_size,
            &mut conn.received,
            now_us,
        ) {
            Ok(used) => conn.tail.extend_from_slice(&buf[used..kept + n]),
            Err(e) => {
                eprintln!("floor generator: client {}: {e}", conn.id);
                conn.phase = Phase::Dead;
                return;
            }
        }
        if n < buf.len() - kept {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut out = Vec::new();
        encode_join(7, &mut out);
        encode_joined(&mut out);
        encode_say(b"12:3:456", 46, 81, &mut out);
        encode_message(b"12:3:456", 81, &mut out);
        let mut at = 0;
        let mut frames = Vec::new();
        while let Some((frame, len)) = decode(&out[at..]).unwrap() {
            frames.push((frame, len));
            at += len;
        }
        assert_eq!(at, out.len());
        assert_eq!(frames[0], (Frame::Join { room: 7 }, 7));
        assert_eq!(frames[1], (Frame::Joined, 3));
        // The say is as long as asked, padded after its text.
        assert_eq!(frames[2].1, 46);
        let Frame::Say { answer, text } = &frames[2].0 else {
            panic!("{:?}", frames[2])
        };
        assert_eq!(*answer, 81);
        assert!(text.starts_with(b"12:3:456") && text[8..].iter().all(|&b| b == b' '));
        assert_eq!(frames[3].1, 81);
    }

    #[test]
    fn partial_frames_wait_for_the_rest() {
        let mut out = Vec::new();
        encode_say(b"1:2:3", 30, 40, &mut out);
        for cut in 0..out.len() {
            assert_eq!(decode(&out[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(decode(&out).unwrap().is_some());
    }

    #[test]
    fn bad_frames_are_refused() {
        assert_eq!(decode(&[0, 0]), Err(BadFrame("empty frame")));
        assert_eq!(decode(&[0xff, 0xff, b'S']), Err(BadFrame("frame too long")));
        assert_eq!(decode(&[0, 1, b'X']), Err(BadFrame("unknown kind")));
        assert_eq!(
            decode(&[0, 3, b'J', 0, 0]),
            Err(BadFrame("a join holds a 4-byte room"))
        );
        // An answer too short for its text.
        assert_eq!(
            decode(&[0, 6, b'S', 0, 4, b'a', b'b', b'c']),
            Err(BadFrame("a say's answer cannot hold its text"))
        );
    }

    #[test]
    fn sizes_match_the_chats_frames() {
        let text = "12345:7:123456789";
        let (say_len, answer) = chat_sizes(12345, text);
        assert_eq!(
            say_len,
            r#"{"type":"say","text":"12345:7:123456789"}"#.len() + 6
        );
        let mut out = Vec::new();
        say(12345, 7, 123456789, &mut out);
        assert_eq!(out.len(), say_len);
        let Some((Frame::Say { answer: asked, .. }, _)) = decode(&out).unwrap() else {
            panic!()
        };
        assert_eq!(asked, answer);
        assert_eq!(
            answer as usize,
            r#"{"type":"message","name":"u12345","text":"12345:7:123456789","time":1765000000000}"#
                .len()
                + 2
        );
    }

    #[test]
    fn rooms_deliver_to_every_member_and_joins_to_the_joiner() {
        let mut rooms = Rooms::default();
        let mut got: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut join = Vec::new();
        encode_join(3, &mut join);
        let (mut a, mut b) = (None, None);
        rooms
            .handle(1, &mut a, &join, |k, m| got.push((k, m.to_vec())))
            .unwrap();
        rooms
            .handle(2, &mut b, &join, |k, m| got.push((k, m.to_vec())))
            .unwrap();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 2]);
        got.clear();
        let mut input = Vec::new();
        say(1, 0, 99, &mut input);
        let whole = input.len();
        input.extend_from_slice(&[0, 9]); // the start of the next frame
        let used = rooms
            .handle(1, &mut a, &input, |k, m| got.push((k, m.to_vec())))
            .unwrap();
        assert_eq!(used, whole);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 2]);
        let mut tally = Tally::new(1);
        let mut received = 0;
        let used = tally
            .receive(&got[0].1, 0, 0, 100, &mut received, 1099)
            .unwrap();
        assert_eq!(
            (used, received, tally.delivered, tally.misrouted),
            (got[0].1.len(), 1, 1, 0)
        );
        assert_eq!(tally.hist.quantile(1.0), 1000);
        rooms.leave(2, b);
        got.clear();
        rooms
            .handle(1, &mut a, &input[..whole], |k, m| got.push((k, m.to_vec())))
            .unwrap();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1]);
        // A say before a join closes the connection.
        let mut c = None;
        assert!(rooms.handle(5, &mut c, &input[..whole], |_, _| {}).is_err());
    }
}
