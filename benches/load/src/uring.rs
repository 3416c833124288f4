//! io_uring for the floor's server and for the generators (Linux): the system calls out of
//! the per-message path. One `io_uring_enter` per turn submits every send and re-arm queued
//! during the turn and waits for completions; each connection has one multishot receive
//! armed, which fills buffers the kernel picks from a ring of provided buffers (no read
//! call, no buffer per connection); each connection's output of a turn leaves in one send
//! straight from its queue. Kernel 5.19 or later (multishot receive and accept, buffer
//! rings); `--servers floor-uring` and the io_uring generator check what they use at start.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use crate::floor::{self, BadFrame, Rooms, Tally};
use crate::generator::{self, Args};

/// What a completion is for: the low byte of its `user_data`.
const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;
const CONNECT: u64 = 4;

/// `user_data`: the operation, the connection's slot and the slot's generation (so that a
/// late completion for a closed connection is not taken for its successor's).
fn user_data(op: u64, key: usize, generation: u32) -> u64 {
    op | (key as u64) << 8 | (generation as u64 & 0xff_ffff) << 40
}

fn unpack(data: u64) -> (u64, usize, u32) {
    (
        data & 0xff,
        ((data >> 8) & 0xffff_ffff) as usize,
        (data >> 40) as u32,
    )
}

/// A completion, copied out of the queue.
#[derive(Clone, Copy)]
pub struct Completion {
    pub op: u64,
    pub key: usize,
    pub generation: u32,
    pub result: i32,
    pub flags: u32,
}

/// Buffers the kernel picks for multishot receives: `count` buffers of `size` bytes in a
/// ring registered as buffer group `GROUP`. A buffer goes back to the ring as soon as its
/// bytes are handled.
struct BufRing {
    /// The ring's entries: page-aligned memory shared with the kernel.
    entries: *mut BufRingEntry,
    layout: std::alloc::Layout,
    memory: Vec<u8>,
    size: usize,
    count: u16,
    tail: u16,
}

const GROUP: u16 = 7;

impl BufRing {
    fn new(ring: &IoUring, count: u16, size: usize) -> io::Result<BufRing> {
        assert!(count.is_power_of_two());
        let layout = std::alloc::Layout::from_size_align(
            count as usize * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size; zeroed memory is a valid ring (tail 0).
        let entries = unsafe { std::alloc::alloc_zeroed(layout) } as *mut BufRingEntry;
        if entries.is_null() {
            return Err(io::Error::other("out of memory for the buffer ring"));
        }
        let mut ring_buffers = BufRing {
            entries,
            layout,
            memory: vec![0; count as usize * size],
            size,
            count,
            tail: 0,
        };
        // SAFETY: the entries stay allocated until `drop`, after the ring that uses them
        // (`Ring` drops its `IoUring` first).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, count, GROUP, 0)?;
        }
        for bid in 0..count {
            ring_buffers.push(bid);
        }
        ring_buffers.publish();
        Ok(ring_buffers)
    }

    /// Put buffer `bid` at the ring's tail (seen by the kernel at the next `publish`).
    fn push(&mut self, bid: u16) {
        let index = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `index` is within the `count` entries allocated.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(self.memory[bid as usize * self.size..].as_ptr() as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lies in the first entry, which is allocated; the kernel
        // reads it, so it is written atomically with release ordering.
        let tail = unsafe { BufRingEntry::tail(self.entries) } as *const AtomicU16;
        unsafe { (*tail).store(self.tail, Ordering::Release) };
    }

    fn get(&self, bid: u16, len: usize) -> &[u8] {
        &self.memory[bid as usize * self.size..][..len]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.entries as *mut u8, self.layout) };
    }
}

/// An io_uring with its provided buffers.
pub struct Ring {
    ring: IoUring,
    buffers: BufRing,
    completions: Vec<Completion>,
    /// Buffers handled since the last publish.
    recycled: bool,
}

impl Ring {
    /// A ring of `entries` submissions (twice as many completions can wait, and more are
    /// kept by the kernel rather than dropped) and `buffers` receive buffers of `size` bytes.
    pub fn new(entries: u32, buffers: u16, size: usize) -> io::Result<Ring> {
        // One thread submits and reaps (SINGLE_ISSUER), and the kernel's completion work
        // runs when it waits (DEFER_TASKRUN, 6.1) rather than interrupting it.
        let ring = IoUring::builder()
            .setup_cqsize(entries * 4)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(entries)
            .map_err(|e| io::Error::other(format!("io_uring_setup (kernel 6.1 or later): {e}")))?;
        if !ring.params().is_feature_nodrop() || !ring.params().is_feature_ext_arg() {
            return Err(io::Error::other(
                "this kernel's io_uring lacks NODROP or EXT_ARG (5.11 or later is needed)",
            ));
        }
        let buffers = BufRing::new(&ring, buffers, size).map_err(|e| {
            io::Error::other(format!(
                "registering a buffer ring (kernel 5.19 or later): {e}"
            ))
        })?;
        Ok(Ring {
            ring,
            buffers,
            completions: Vec::with_capacity(4096),
            recycled: false,
        })
    }

    /// Queue `entry`; submitted at the next `turn` (or now, if the queue is full).
    ///
    /// # Safety
    /// What `entry` points to (buffers, addresses) must stay valid until its completion.
    pub unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: passed on from the caller.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    pub fn accept(&mut self, listener: RawFd) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(Fd(listener))
            .build()
            .user_data(user_data(ACCEPT, 0, 0));
        // SAFETY: nothing is pointed to.
        unsafe { self.push(entry) }
    }

    /// Arm the multishot receive of `fd`.
    pub fn recv(&mut self, fd: RawFd, key: usize, generation: u32) -> io::Result<()> {
        let entry = opcode::RecvMulti::new(Fd(fd), GROUP)
            .build()
            .user_data(user_data(RECV, key, generation));
        // SAFETY: the buffers are the ring's, valid as long as it.
        unsafe { self.push(entry) }
    }

    /// Send `bytes` on `fd`.
    ///
    /// # Safety
    /// `bytes` must stay where it is, unchanged, until the completion.
    pub unsafe fn send(
        &mut self,
        fd: RawFd,
        bytes: &[u8],
        key: usize,
        generation: u32,
    ) -> io::Result<()> {
        let entry = opcode::Send::new(Fd(fd), bytes.as_ptr(), bytes.len() as u32)
            .build()
            .user_data(user_data(SEND, key, generation));
        unsafe { self.push(entry) }
    }

    /// Submit what is queued, wait for at least one completion or `timeout`, and take the
    /// completions out of the queue (`completions()`).
    pub fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.recycled {
            self.buffers.publish();
            self.recycled = false;
        }
        let result = match timeout {
            Some(timeout) => {
                let ts = Timespec::from(timeout);
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.completions.clear();
        for cqe in self.ring.completion() {
            let (op, key, generation) = unpack(cqe.user_data());
            self.completions.push(Completion {
                op,
                key,
                generation,
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
        Ok(())
    }

    pub fn completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completions)
    }

    pub fn give_back(&mut self, completions: Vec<Completion>) {
        self.completions = completions;
    }

    /// The bytes of a receive completion (its buffer goes back with `recycle`).
    pub fn received(&self, c: &Completion) -> Option<(u16, &[u8])> {
        let bid = cqueue::buffer_select(c.flags)?;
        Some((bid, self.buffers.get(bid, c.result.max(0) as usize)))
    }

    pub fn recycle(&mut self, bid: u16) {
        self.buffers.push(bid);
        self.recycled = true;
    }
}

/// A connection's output: bytes queued during a turn, and the bytes of the send in flight
/// (which must not move until it completes).
#[derive(Default)]
pub struct Output {
    pub queued: Vec<u8>,
    sending: Vec<u8>,
    sent: usize,
    pub in_flight: bool,
}

impl Output {
    /// Start a send of what is queued if none is in flight.
    pub fn start(
        &mut self,
        ring: &mut Ring,
        fd: RawFd,
        key: usize,
        generation: u32,
    ) -> io::Result<()> {
        if self.in_flight || self.queued.is_empty() {
            return Ok(());
        }
        std::mem::swap(&mut self.queued, &mut self.sending);
        self.sent = 0;
        self.in_flight = true;
        // SAFETY: `sending` is not touched until the completion (`done`).
        unsafe { ring.send(fd, &self.sending, key, generation) }
    }

    /// A send completed with `result`: go on with the rest, or with what was queued since.
    /// `Err` if the connection failed.
    pub fn done(
        &mut self,
        ring: &mut Ring,
        result: i32,
        fd: RawFd,
        key: usize,
        generation: u32,
    ) -> io::Result<()> {
        self.in_flight = false;
        if result <= 0 {
            let errno = if result < 0 { -result } else { libc::EPIPE };
            return Err(io::Error::from_raw_os_error(errno));
        }
        self.sent += result as usize;
        if self.sent < self.sending.len() {
            self.in_flight = true;
            // SAFETY: as in `start`.
            return unsafe { ring.send(fd, &self.sending[self.sent..], key, generation) };
        }
        self.sending.clear();
        self.start(ring, fd, key, generation)
    }
}

// ---- The floor server on io_uring --------------------------------------------------------

struct Peer {
    fd: OwnedFd,
    generation: u32,
    leftover: Vec<u8>,
    output: Output,
    room: Option<u32>,
    dirty: bool,
    /// The receive ended (end of stream or an error): closed once no send is in flight.
    ended: bool,
}

/// The floor server on io_uring: runs until killed.
pub fn serve(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = addr.parse()?;
    let listener = floor::listen(addr)?;
    let mut ring = Ring::new(4096, 4096, 2048)?;
    ring.accept(listener.as_raw_fd())?;
    let mut peers: Vec<Option<Peer>> = Vec::new();
    let mut generations: Vec<u32> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut rooms = Rooms::default();
    let mut dirty: Vec<usize> = Vec::new();
    let mut rearm: Vec<usize> = Vec::new();
    let mut input = Vec::new();
    loop {
        ring.turn(None)?;
        let completions = ring.completions();
        for c in &completions {
            match c.op {
                ACCEPT => {
                    if !cqueue::more(c.flags) {
                        ring.accept(listener.as_raw_fd())?;
                    }
                    if c.result < 0 {
                        continue; // EMFILE and the like: the backlog waits
                    }
                    // SAFETY: a new descriptor, ours alone.
                    let fd = unsafe { OwnedFd::from_raw_fd(c.result) };
                    set_nodelay(&fd);
                    let key = free.pop().unwrap_or_else(|| {
                        peers.push(None);
                        generations.push(0);
                        peers.len() - 1
                    });
                    ring.recv(fd.as_raw_fd(), key, generations[key])?;
                    peers[key] = Some(Peer {
                        fd,
                        generation: generations[key],
                        leftover: Vec::new(),
                        output: Output::default(),
                        room: None,
                        dirty: false,
                        ended: false,
                    });
                }
                RECV => {
                    let Some(peer) = live(&mut peers, c) else {
                        if let Some((bid, _)) = ring.received(c) {
                            ring.recycle(bid);
                        }
                        continue;
                    };
                    let mut failed = false;
                    if c.result > 0
                        && let Some((bid, bytes)) = ring.received(c)
                    {
                        // Straight from the kernel's buffer, unless a partial frame waits.
                        let mut room = peer.room;
                        let key = c.key;
                        let bytes: &[u8] = if peer.leftover.is_empty() {
                            bytes
                        } else {
                            input.clear();
                            input.extend_from_slice(&peer.leftover);
                            input.extend_from_slice(bytes);
                            &input
                        };
                        let result = rooms.handle(key, &mut room, bytes, |to, message| {
                            if let Some(Some(peer)) = peers.get_mut(to) {
                                peer.output.queued.extend_from_slice(message);
                                if !peer.dirty {
                                    peer.dirty = true;
                                    dirty.push(to);
                                }
                            }
                        });
                        let peer = peers[key].as_mut().expect("live");
                        peer.room = room;
                        peer.leftover.clear();
                        match result {
                            Ok(used) => peer.leftover.extend_from_slice(&bytes[used..]),
                            Err(BadFrame(_)) => failed = true,
                        }
                        ring.recycle(bid);
                    }
                    let peer = peers[c.key].as_mut().expect("live");
                    if failed {
                        // The receive ends with the shutdown; closed then.
                        unsafe { libc::shutdown(peer.fd.as_raw_fd(), libc::SHUT_RDWR) };
                    }
                    if !cqueue::more(c.flags) {
                        if c.result == -libc::ENOBUFS {
                            rearm.push(c.key);
                        } else {
                            peer.ended = true;
                            close_if_done(
                                &mut peers,
                                &mut generations,
                                &mut free,
                                &mut rooms,
                                c.key,
                            );
                        }
                    }
                }
                SEND => {
                    let Some(peer) = live(&mut peers, c) else {
                        continue;
                    };
                    let fd = peer.fd.as_raw_fd();
                    if peer
                        .output
                        .done(&mut ring, c.result, fd, c.key, peer.generation)
                        .is_err()
                    {
                        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                    }
                    close_if_done(&mut peers, &mut generations, &mut free, &mut rooms, c.key);
                }
                _ => {}
            }
        }
        ring.give_back(completions);
        for key in rearm.drain(..) {
            if let Some(peer) = peers[key].as_ref() {
                ring.recv(peer.fd.as_raw_fd(), key, peer.generation)?;
            }
        }
        // The end of the turn: one send per connection with something queued.
        for key in dirty.drain(..) {
            let Some(peer) = peers[key].as_mut() else {
                continue;
            };
            peer.dirty = false;
            let fd = peer.fd.as_raw_fd();
            let generation = peer.generation;
            peer.output.start(&mut ring, fd, key, generation)?;
        }
    }
}

fn live<'a>(peers: &'a mut [Option<Peer>], c: &Completion) -> Option<&'a mut Peer> {
    peers
        .get_mut(c.key)
        .and_then(Option::as_mut)
        .filter(|p| p.generation == c.generation)
}

fn close_if_done(
    peers: &mut [Option<Peer>],
    generations: &mut [u32],
    free: &mut Vec<usize>,
    rooms: &mut Rooms,
    key: usize,
) {
    if peers[key]
        .as_ref()
        .is_some_and(|p| p.ended && !p.output.in_flight)
    {
        let peer = peers[key].take().expect("checked");
        rooms.leave(key, peer.room);
        generations[key] = generations[key].wrapping_add(1);
        free.push(key);
    }
}

fn set_nodelay(fd: &OwnedFd) {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and option value.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

// ---- The generator on io_uring ------------------------------------------------------------

/// What a generator's clients say and understand, apart from the I/O: the floor's frames or
/// WebSocket.
pub trait Protocol {
    /// A client's state beyond its socket.
    type Client;
    fn client(&mut self, local: usize) -> Self::Client;
    /// The connection is up: queue the first bytes (the join, or the handshake). `true` if
    /// the client is open now (it may send messages).
    fn on_connected(&mut self, client: &mut Self::Client, out: &mut Vec<u8>) -> bool;
    /// Bytes arrived: handle the whole frames, queue what is owed, keep the rest.
    /// `Ok(true)` once the client is open.
    fn on_bytes(
        &mut self,
        client: &mut Self::Client,
        input: &[u8],
        out: &mut Vec<u8>,
        now_us: u64,
    ) -> Result<bool, String>;
    /// Queue the client's next message, sent at `now_us`.
    fn say(&mut self, client: &mut Self::Client, now_us: u64, out: &mut Vec<u8>);
    /// Each client's (received, sent).
    fn counts(&self, client: &Self::Client) -> (u64, u64);
    /// Notices each room must see before it is settled.
    fn settle_target(&self) -> u64;
    /// Joined notices seen per local room.
    fn joined(&self) -> &[u64];
    /// A connection failed.
    fn fail(&mut self);
    fn failures(&self) -> u64;
    fn delivered(&self) -> u64;
    /// Bytes read from the sockets.
    fn wire_bytes(&self) -> u64;
    /// The generator's last lines (`generator::Phases::report`).
    fn report(
        &self,
        phases: &generator::Phases,
        out: &mut dyn Write,
        t0: Instant,
        clients: &[(usize, u64, u64, bool)],
    ) -> Result<(), Box<dyn std::error::Error>>;
}

/// The floor's clients.
pub struct FloorProtocol {
    tally: Tally,
    room_size: usize,
    first_room: usize,
}

pub struct FloorClient {
    id: usize,
    room: usize,
    tail: Vec<u8>,
    received: u64,
    sent: u64,
}

impl Protocol for FloorProtocol {
    type Client = FloorClient;

    fn client(&mut self, local: usize) -> FloorClient {
        FloorClient {
            id: self.first_room * self.room_size + local,
            room: local / self.room_size,
            tail: Vec::new(),
            received: 0,
            sent: 0,
        }
    }

    fn on_connected(&mut self, client: &mut FloorClient, out: &mut Vec<u8>) -> bool {
        floor::encode_join((self.first_room + client.room) as u32, out);
        true
    }

    fn on_bytes(
        &mut self,
        client: &mut FloorClient,
        input: &[u8],
        _out: &mut Vec<u8>,
        now_us: u64,
    ) -> Result<bool, String> {
        self.tally.wire_bytes += input.len() as u64;
        let global_room = self.first_room + client.room;
        let mut joined = std::mem::take(&mut client.tail);
        let bytes: &[u8] = if joined.is_empty() {
            input
        } else {
            joined.extend_from_slice(input);
            &joined
        };
        let used = self
            .tally
            .receive(
                bytes,
                client.room,
                global_room,
                self.room_size,
                &mut client.received,
                now_us,
            )
            .map_err(|e| e.to_string())?;
        let rest = bytes[used..].to_vec();
        client.tail = rest;
        Ok(true)
    }

    fn say(&mut self, client: &mut FloorClient, now_us: u64, out: &mut Vec<u8>) {
        floor::say(client.id, client.sent, now_us, out);
        client.sent += 1;
    }

    fn counts(&self, client: &FloorClient) -> (u64, u64) {
        (client.received, client.sent)
    }

    fn settle_target(&self) -> u64 {
        self.room_size as u64
    }

    fn joined(&self) -> &[u64] {
        &self.tally.joined
    }

    fn fail(&mut self) {
        self.tally.failures += 1;
    }

    fn failures(&self) -> u64 {
        self.tally.failures
    }

    fn delivered(&self) -> u64 {
        self.tally.delivered
    }

    fn wire_bytes(&self) -> u64 {
        self.tally.wire_bytes
    }

    fn report(
        &self,
        phases: &generator::Phases,
        mut out: &mut dyn Write,
        t0: Instant,
        clients: &[(usize, u64, u64, bool)],
    ) -> Result<(), Box<dyn std::error::Error>> {
        self.tally.report(phases, &mut out, t0, clients)
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Waiting,
    Connecting,
    Handshaking,
    Open,
    Dead,
}

struct Conn<C> {
    fd: Option<OwnedFd>,
    /// The server's address, pointed to by the connect in flight.
    addr: Box<socket2::SockAddr>,
    phase: Phase,
    output: Output,
    client: C,
    room: usize,
    dirty: bool,
}

/// The floor generator on io_uring.
pub fn generate_floor(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let protocol = FloorProtocol {
        tally: Tally::new(args.rooms),
        room_size: args.room_size,
        first_room: args.first_room,
    };
    generate(args, protocol)
}

/// The WebSocket generator on io_uring.
pub fn generate_ws(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let protocol = generator::WsProtocol::new(&args)?;
    generate(args, protocol)
}

/// A generator on io_uring: the same phases and lines on stdout as `generator.rs`, with
/// `protocol` for what the clients say.
pub fn generate<P: Protocol>(
    args: Args,
    mut protocol: P,
) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let now_us = || t0.elapsed().as_micros() as u64;
    let plan = generator::Plan::new(&args)?;
    let n = plan.clients();
    let mut ring = Ring::new(4096, 4096, 2048)?;
    let mut conns: Vec<Conn<P::Client>> = (0..n)
        .map(|local| Conn {
            fd: None,
            addr: Box::new(plan.server(local).into()),
            phase: Phase::Waiting,
            output: Output::default(),
            client: protocol.client(local),
            room: local / args.room_size,
            dirty: false,
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
    let mut phases = generator::Phases::new(n, protocol.settle_target(), &args);
    let mut next_connect = 0;
    let mut in_flight = 0;
    let mut dirty: Vec<usize> = Vec::new();
    let mut rearm: Vec<usize> = Vec::new();
    let mut out = std::io::stdout().lock();
    loop {
        while next_connect < n && in_flight < generator::IN_FLIGHT {
            let i = next_connect;
            next_connect += 1;
            match connect(&mut ring, &mut conns[i], plan.source(i), i) {
                Ok(()) => in_flight += 1,
                Err(e) => {
                    eprintln!("generator: connect {i}: {e}");
                    conns[i].phase = Phase::Dead;
                    protocol.fail();
                }
            }
        }
        let go_now = go.load(Ordering::SeqCst);
        let (mut timeout, _) = phases.step(
            &mut out,
            t0,
            protocol.joined(),
            protocol.failures(),
            protocol.wire_bytes(),
            go_now,
        )?;
        if let Some(elapsed) = phases.sending() {
            while let Some(i) = phases.due(&plan, elapsed, &mut timeout) {
                let conn = &mut conns[i];
                if conn.phase == Phase::Open {
                    protocol.say(&mut conn.client, now_us(), &mut conn.output.queued);
                    phases.expected_per_room[conn.room] += args.room_size as u64;
                    mark(&mut dirty, i, conn);
                }
            }
        }
        if phases.finished(protocol.delivered()) {
            break;
        }
        // One send per connection with something queued, submitted with the wait.
        for i in dirty.drain(..) {
            let conn = &mut conns[i];
            conn.dirty = false;
            if let Some(fd) = conn.fd.as_ref() {
                conn.output.start(&mut ring, fd.as_raw_fd(), i, 0)?;
            }
        }
        for i in rearm.drain(..) {
            if let Some(fd) = conns[i].fd.as_ref() {
                ring.recv(fd.as_raw_fd(), i, 0)?;
            }
        }
        ring.turn(Some(timeout))?;
        let completions = ring.completions();
        let now = now_us();
        for c in &completions {
            let i = c.key;
            let conn = &mut conns[i];
            let was = conn.phase;
            match c.op {
                CONNECT => {
                    if c.result < 0 {
                        eprintln!(
                            "generator: connect {i}: {}",
                            io::Error::from_raw_os_error(-c.result)
                        );
                        conn.phase = Phase::Dead;
                    } else {
                        let fd = conn.fd.as_ref().expect("connecting").as_raw_fd();
                        ring.recv(fd, i, 0)?;
                        let open = protocol.on_connected(&mut conn.client, &mut conn.output.queued);
                        conn.phase = if open {
                            Phase::Open
                        } else {
                            Phase::Handshaking
                        };
                        mark(&mut dirty, i, conn);
                    }
                }
                RECV => {
                    let received = ring.received(c);
                    let bid = received.map(|(bid, _)| bid);
                    if c.result > 0
                        && conn.phase != Phase::Dead
                        && let Some((_, bytes)) = received
                    {
                        match protocol.on_bytes(
                            &mut conn.client,
                            bytes,
                            &mut conn.output.queued,
                            now,
                        ) {
                            Ok(true) if conn.phase == Phase::Handshaking => {
                                conn.phase = Phase::Open
                            }
                            Ok(_) => {}
                            Err(e) => {
                                eprintln!("generator: client {i}: {e}");
                                conn.phase = Phase::Dead;
                            }
                        }
                        mark(&mut dirty, i, conn);
                    }
                    if let Some(bid) = bid {
                        ring.recycle(bid);
                    }
                    if !cqueue::more(c.flags) {
                        if c.result == -libc::ENOBUFS && conn.phase != Phase::Dead {
                            rearm.push(i);
                        } else {
                            conn.phase = Phase::Dead;
                        }
                    }
                }
                SEND => {
                    let fd = conn.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
                    if conn.output.done(&mut ring, c.result, fd, i, 0).is_err() {
                        conn.phase = Phase::Dead;
                    }
                }
                _ => {}
            }
            let is = conn.phase;
            let waiting = |p| matches!(p, Phase::Connecting | Phase::Handshaking);
            if waiting(was) && !waiting(is) {
                in_flight -= 1;
                match is {
                    Phase::Open => phases.open += 1,
                    _ => protocol.fail(),
                }
            }
        }
        ring.give_back(completions);
    }
    let clients: Vec<(usize, u64, u64, bool)> = conns
        .iter()
        .map(|c| {
            let (received, sent) = protocol.counts(&c.client);
            (c.room, received, sent, c.phase == Phase::Dead)
        })
        .collect();
    protocol.report(&phases, &mut out, t0, &clients)?;
    out.flush()?;
    // Leave without closing the sockets one by one: the process's end closes them.
    std::process::exit(0);
}

/// Send what `conn` queued at the end of the turn.
fn mark<C>(dirty: &mut Vec<usize>, i: usize, conn: &mut Conn<C>) {
    if !conn.output.queued.is_empty() && !conn.dirty {
        conn.dirty = true;
        dirty.push(i);
    }
}

fn connect<C>(ring: &mut Ring, conn: &mut Conn<C>, source: SocketAddr, i: usize) -> io::Result<()> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&source.into())?;
    socket.set_tcp_nodelay(true)?;
    let fd: OwnedFd = socket.into();
    let entry = opcode::Connect::new(
        Fd(fd.as_raw_fd()),
        conn.addr.as_ptr().cast(),
        conn.addr.len(),
    )
    .build()
    .user_data(user_data(CONNECT, i, 0));
    conn.fd = Some(fd);
    conn.phase = Phase::Connecting;
    // SAFETY: the address is boxed in the connection, which lives to the end of the run.
    unsafe { ring.push(entry) }
}
