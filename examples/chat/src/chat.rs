//! The chat: what each event of each connection means. The loop in `main.rs` hands it
//! sockets, readiness and time; it answers through the connections' outgoing queues.
//!
//! Every change of a connection goes through the same steps, whatever caused it (bytes
//! read, a deadline): handle the events `receive` gives, queue what `poll_transmit`
//! owes, close if `should_close_transport` says so, and re-arm the deadline from
//! `poll_timeout` ([`Chat::settle`]). Connections that must go are only marked
//! ("doomed") and closed at the end of the turn, so that a room is never changed while
//! a message is being delivered to it.
//!
//! The chat reads bytes and queues bytes; how they reach the sockets is the loop's
//! [`Transport`]: readiness and `read` / `write` on mio ([`Mio`], `main.rs`), or
//! completions on io_uring (`uring.rs`, Linux), with the same handling of every event.

use std::collections::{HashMap, HashSet};
use std::io::{self, ErrorKind, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use sockless::assemble::{FixedAssembler, WholeMessage};
use sockless::{
    Accept, CloseCode, Config, Event, InputBuffer, Instant, MIN_INPUT_BUFFER, MIN_OUTPUT_BUFFER,
    MessageKind, Request, Server,
};

use crate::broker::{self, Broker, Envelope, Heard, Pending};
use crate::client::{Client, MAX_MESSAGE, Member, Stage};
use crate::compression::{self, Compression};
use crate::outbox::Full;
use crate::protocol::{self, Notice};
use crate::rooms::{self, Rooms};
use crate::slab::Slab;
use crate::timers::{Due, Timers};

/// The limits of every connection: messages of at most [`MAX_MESSAGE`] bytes (longer
/// ones fail with 1009), a Ping after 30 s of silence (a peer that does not answer
/// within 10 s is given up), 10 s for the handshake, 5 s for the closing handshake.
pub const CONFIG: Config = FixedAssembler::<MAX_MESSAGE>::configure(
    Config::DEFAULT
        .with_max_frame_len(MAX_MESSAGE as u64)
        .with_keep_alive(Some(Duration::from_secs(30)))
        .with_keep_alive_timeout(Duration::from_secs(10))
        .with_handshake_timeout(Duration::from_secs(10))
        .with_close_timeout(Duration::from_secs(5)),
);

/// How long a finished connection may take to write out what is queued (a page, the
/// last Close) before it is closed anyway.
const LINGER_MS: u64 = 5_000;

/// How many full reads one connection gets per turn, so that one busy client cannot
/// starve the others; the rest is read in the next turn.
const READS_PER_TURN: usize = 4;

const PAGE: &str = include_str!("page.html");

/// The longest 101 response the chat writes: the fixed part (under 140 bytes) and a
/// `Sec-WebSocket-Extensions` line (at most 156 bytes with every permessage-deflate
/// parameter).
const ACCEPT_RESPONSE_MAX: usize = 512;

/// Every connection, and which of them have something to flush or must go.
struct Clients {
    slab: Slab<Client>,
    /// Connections with bytes queued, to flush at the end of the turn.
    dirty: Vec<usize>,
    /// Connections to close at the end of the turn.
    doomed: Vec<usize>,
}

impl Clients {
    /// Deal with the result of queueing for `key`: flush it at the end of the turn, or,
    /// if its queue is full (it does not read), drop it.
    fn queued(&mut self, key: usize, result: Result<(), Full>) {
        let Some(client) = self.slab.get_mut(key) else {
            return;
        };
        match result {
            Ok(()) if !client.dirty => {
                client.dirty = true;
                self.dirty.push(key);
            }
            Ok(()) => {}
            Err(Full) => self.doom(key),
        }
    }

    fn doom(&mut self, key: usize) {
        if let Some(client) = self.slab.get_mut(key) {
            if !client.doomed {
                client.doomed = true;
                self.doomed.push(key);
            }
        }
    }

    /// Queue `text` for each of `members`. The frame is encoded by each member's own
    /// connection, right into its queue: one copy per member. For the members that
    /// negotiated permessage-deflate it is compressed once, and the same compressed
    /// bytes go to all of them.
    fn deliver(&mut self, compression: &mut Compression, members: &[usize], text: &str) {
        let deflating = |&key: &usize| self.slab.get(key).is_some_and(|c| c.deflate().is_some());
        let compressed = if members.iter().any(deflating) {
            compression.compress(text)
        } else {
            None
        };
        for &key in members {
            let Some(client) = self.slab.get_mut(key) else {
                continue;
            };
            if client.doomed {
                continue;
            }
            let result = client.send_text(text, compressed);
            self.queued(key, result);
        }
    }
}

/// How the chat's bytes reach the sockets, apart from reading (which the loop does and
/// hands over: [`Chat::on_readable`] for readiness, [`Chat::on_received`] for bytes already
/// read).
pub trait Transport {
    /// A new connection `key`: start watching it.
    fn open(&mut self, key: usize, client: &mut Client) -> io::Result<()>;
    /// Write what `client.outbox` holds. `Ok(true)`: nothing is left to write, nor in
    /// flight; otherwise the loop calls [`Chat::on_writable`] when the socket can take
    /// more (or the write in flight completed).
    fn flush(&mut self, key: usize, client: &mut Client) -> io::Result<bool>;
    /// `client` is closed now; its socket closes when it drops, right after.
    fn close(&mut self, key: usize, client: &mut Client);
}

/// The transport on mio: readiness from the poll, `write` straight from the queue.
pub struct Mio(pub Registry);

impl Transport for Mio {
    fn open(&mut self, key: usize, client: &mut Client) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.0.register(&mut client.socket, Token(key), interest)
    }

    fn flush(&mut self, _key: usize, client: &mut Client) -> io::Result<bool> {
        client.outbox.flush(&mut client.socket)
    }

    fn close(&mut self, _key: usize, client: &mut Client) {
        let _ = self.0.deregister(&mut client.socket);
    }
}

pub struct Chat<T: Transport> {
    pub transport: T,
    clients: Clients,
    rooms: Rooms,
    compression: Compression,
    timers: Timers,
    next_id: u64,
    /// Connections whose socket may hold more to read than their turn allowed.
    pub unread: Vec<usize>,
    /// With `--redis`: rooms shared with other processes (see `broker.rs`).
    shared: Option<Shared>,
    /// The time of day for a message's `time`, kept from the loop's clock.
    wall: WallClock,
}

/// Milliseconds since the Unix epoch, from the loop's clock (milliseconds since it
/// started) and the system's time of day read once a minute: a message's `time` costs
/// no clock read of its own, and the system's time set forward or back shows within a
/// minute.
#[derive(Default)]
struct WallClock {
    /// The time of day, less the loop's clock, when the system's time was last read;
    /// and the loop's clock then.
    synced: Option<(u64, u64)>,
}

impl WallClock {
    /// How long the time of day follows the loop's clock alone.
    const RESYNC_MS: u64 = 60_000;

    fn unix_millis(&mut self, now: u64) -> u64 {
        match self.synced {
            Some((offset, at)) if now.saturating_sub(at) < Self::RESYNC_MS => offset + now,
            _ => {
                let wall = unix_millis();
                self.synced = Some((wall.saturating_sub(now), now));
                wall
            }
        }
    }
}

/// The rooms shared through Redis, on the loop's side.
struct Shared {
    broker: Broker,
    /// Rooms that just opened here and wait for their history.
    pending: HashMap<u32, Pending>,
    /// For each room, what it delivered (or found in its lists when it opened) from
    /// each process: what comes again, from a log or live, is not delivered again.
    heard: HashMap<u32, Heard>,
    /// Rooms whose subscription was made again, holding what comes live until the
    /// room's log is read (see `broker.rs`).
    catching_up: HashMap<u32, CatchUp>,
    /// Payloads from Redis that were not the chat's (skipped), and how many of them
    /// were said on stderr.
    malformed: (usize, usize),
    /// The broker brought more than one turn takes: come back at once.
    more: bool,
    /// Joins waiting for Redis to say whether their name is free in their room, by room
    /// and folded name: the name is held here meanwhile.
    claims: HashMap<(Box<str>, Box<str>), Claim>,
    /// The connections (key, id) waiting for one of these answers.
    joining: HashMap<usize, u64>,
    /// When the names held here were last renewed in Redis.
    renewed: std::time::Instant,
}

/// What a room holds from Redis at most while it catches up: past it, it stops waiting
/// for the room's log.
const HELD: usize = broker::QUEUE;

/// A room catching up (see [`Shared::catching_up`]).
struct CatchUp {
    /// Which subscription (the subscriber's connection) it catches up for.
    generation: u64,
    since: std::time::Instant,
    /// What came live meanwhile, in order.
    held: Vec<String>,
}

/// A join waiting for Redis (see [`Shared::claims`]).
struct Claim {
    /// Which [`Broker::claim`] it waits for.
    ticket: u64,
    /// The connection (its key and id), the name it asked for (as it sent it) and its
    /// session.
    key: usize,
    id: u64,
    name: Box<str>,
    session: Option<Box<str>>,
    since: std::time::Instant,
}

impl<T: Transport> Chat<T> {
    pub fn new(transport: T) -> Self {
        Chat {
            transport,
            clients: Clients {
                slab: Slab::new(),
                dirty: Vec::new(),
                doomed: Vec::new(),
            },
            rooms: Rooms::new(),
            compression: Compression::default(),
            timers: Timers::new(),
            next_id: 0,
            unread: Vec::new(),
            shared: None,
            wall: WallClock::default(),
        }
    }

    /// Share rooms with other processes through `broker` (`--redis`).
    pub fn share(&mut self, broker: Broker) {
        self.shared = Some(Shared {
            broker,
            pending: HashMap::new(),
            heard: HashMap::new(),
            catching_up: HashMap::new(),
            malformed: (0, 0),
            more: false,
            claims: HashMap::new(),
            joining: HashMap::new(),
            renewed: std::time::Instant::now(),
        });
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.clients.slab.len()
    }

    /// How many rooms are open.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    /// The id of connection `key` (unique for the life of the process), if it is open.
    #[cfg_attr(
        not(all(target_os = "linux", target_pointer_width = "64")),
        allow(dead_code)
    )]
    pub fn id_of(&self, key: usize) -> Option<u64> {
        self.clients.slab.get(key).map(|client| client.id)
    }

    /// A new connection: hand it to the transport and start its handshake deadline.
    pub fn add(&mut self, socket: TcpStream, now: u64) {
        // Small messages go out at once rather than wait for Nagle's timer.
        let _ = socket.set_nodelay(true);
        let id = self.next_id;
        self.next_id += 1;
        let server = Server::new(CONFIG, Instant::from_millis(now));
        let key = self.clients.slab.insert(Client::new(id, socket, server));
        let client = self.clients.slab.get_mut(key).expect("just inserted");
        if self.transport.open(key, client).is_err() {
            self.clients.slab.remove(key);
            return;
        }
        self.arm(key);
    }

    /// The peer of `key` closed its side (or the connection failed): 1006 unless the
    /// closing handshake had finished; the connection goes at the end of the turn.
    pub fn on_eof(&mut self, key: usize) {
        if let Some(client) = self.clients.slab.get_mut(key) {
            client.handle_eof();
        }
        self.clients.doom(key);
    }

    /// The socket of connection `key`, if it is open.
    #[cfg_attr(
        not(all(target_os = "linux", target_pointer_width = "64")),
        allow(dead_code)
    )]
    pub fn socket(&self, key: usize) -> Option<&TcpStream> {
        self.clients.slab.get(key).map(|client| &client.socket)
    }

    /// The connection of `key` failed (a write): it goes at the end of the turn.
    #[cfg_attr(
        not(all(target_os = "linux", target_pointer_width = "64")),
        allow(dead_code)
    )]
    pub fn on_error(&mut self, key: usize) {
        self.clients.doom(key);
    }

    /// `len` bytes arrived for `key` at the start of `bytes`, read by the loop (io_uring's
    /// provided buffers). An open connection with nothing left over uses them where they
    /// are (`bytes` must be at least [`MIN_INPUT_BUFFER`] long: the free space after
    /// them is what a partial control frame may need); otherwise they go after the
    /// leftover in the shared `buffer`.
    #[cfg_attr(
        not(all(target_os = "linux", target_pointer_width = "64")),
        allow(dead_code)
    )]
    pub fn on_received(
        &mut self,
        key: usize,
        bytes: &mut [u8],
        len: usize,
        buffer: &mut [u8],
        now: u64,
    ) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        if client.doomed || matches!(client.stage, Stage::Draining { .. }) {
            return;
        }
        let in_place = client.leftover.is_empty()
            && matches!(client.stage, Stage::Open(_))
            && bytes.len() >= MIN_INPUT_BUFFER;
        if in_place {
            let mut input = InputBuffer::for_frames(bytes).expect("checked above");
            input.commit(len);
            self.take_input(key, &mut input, now);
        } else {
            let mut input = InputBuffer::new(buffer, &CONFIG).expect("a head fits");
            input.push(&client.leftover);
            if input.push(&bytes[..len]) < len {
                // More than a head and a read: only a client that breaks the rules.
                self.clients.doom(key);
                return;
            }
            self.take_input(key, &mut input, now);
        }
    }

    /// Handle what `input` holds for `key`, keep what it could not use yet, and settle.
    fn take_input(&mut self, key: usize, input: &mut InputBuffer<&mut [u8]>, now: u64) {
        self.receive(key, input, now);
        if let Some(client) = self.clients.slab.get_mut(key) {
            client.leftover = input.buffered().into();
        }
        self.settle(key, now);
    }

    /// The socket of `key` is readable: read, in the shared `buffer`, as much as this
    /// turn allows.
    pub fn on_readable(&mut self, key: usize, buffer: &mut [u8], now: u64) {
        for _ in 0..READS_PER_TURN {
            let Some(client) = self.clients.slab.get_mut(key) else {
                return;
            };
            if client.doomed || matches!(client.stage, Stage::Draining { .. }) {
                return;
            }
            // The bytes this connection left over last time go first, then the new ones.
            let mut input = InputBuffer::new(&mut *buffer, &CONFIG).expect("a head fits");
            input.push(&client.leftover);
            let space = input.read_space().len();
            let n = match client.socket.read(input.read_space()) {
                Ok(0) => {
                    self.on_eof(key);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.clients.doom(key);
                    return;
                }
            };
            input.commit(n);
            self.take_input(key, &mut input, now);
            if n < space {
                // The socket is drained: epoll (edge-triggered) reports the next bytes.
                return;
            }
        }
        self.unread.push(key);
    }

    /// The socket of `key` can take more: flush it at the end of the turn.
    pub fn on_writable(&mut self, key: usize) {
        self.clients.queued(key, Ok(()));
    }

    /// Hand the events in `input` to their handlers, queueing what the protocol owes
    /// after each. With permessage-deflate, compressed messages come out inflated by the
    /// thread's inflater (see `compression.rs`).
    fn receive(&mut self, key: usize, input: &mut InputBuffer<&mut [u8]>, now: u64) {
        let now_instant = Instant::from_millis(now);
        loop {
            let Some(client) = self.clients.slab.get_mut(key) else {
                return;
            };
            let mut inflater = match &client.stage {
                Stage::Open(connection) if connection.deflate().is_some() => {
                    Some(self.compression.lend(client.inflater.take(), connection))
                }
                _ => None,
            };
            // One handler for both stages: an open connection's events are widened to
            // the handshake's vocabulary.
            let received = match (&mut client.stage, inflater.as_mut()) {
                (Stage::Handshake(server), _) => input.receive(&mut **server, now_instant),
                (Stage::Open(connection), Some(inflater)) => input
                    .receive_inflating(inflater, connection, now_instant)
                    .map(|event| event.map(Event::widen)),
                (Stage::Open(connection), None) => input
                    .receive(connection, now_instant)
                    .map(|event| event.map(Event::widen)),
                (Stage::Draining { .. }, _) => return,
            };
            let more = match received {
                Ok(Some(event)) => {
                    self.on_event(key, event, now);
                    true
                }
                Ok(None) => false,
                Err(error) => {
                    // Only a mistake of ours (a request left undecided) could get here.
                    log!(err, "connection {key}: {error}");
                    self.clients.doom(key);
                    false
                }
            };
            let Some(client) = self.clients.slab.get_mut(key) else {
                return;
            };
            if let Some(inflater) = inflater {
                // A half-read message keeps its inflater until the rest arrives.
                client.inflater = self.compression.give_back(inflater);
            }
            if !more {
                return;
            }
            let result = client.transmit_owed();
            self.clients.queued(key, result);
        }
    }

    fn on_event(&mut self, key: usize, event: Event<'_>, now: u64) {
        match event {
            Event::Request(request) => self.on_request(key, &request, now),
            Event::Text(text) => self.on_text(key, text, now),
            Event::Chunk(piece) if piece.kind == MessageKind::Text => {
                self.on_piece(key, &event, now)
            }
            Event::Binary(_) | Event::Chunk(_) => self.refuse(
                key,
                CloseCode::UNSUPPORTED_DATA,
                "binary messages are not accepted",
                now,
            ),
            // Ping: the Pong is queued. Close: the echo is queued. Failed: the Close with
            // its code is queued. HandshakeFailed: the 400 / 426 / 431 is queued. Pong:
            // nothing to do.
            _ => {}
        }
    }

    /// A request: the WebSocket upgrade on `/chat`, the page on `/`, 404 elsewhere.
    fn on_request(&mut self, key: usize, request: &Request<'_>, now: u64) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        let Stage::Handshake(server) = &mut client.stage else {
            return;
        };
        let now = Instant::from_millis(now);
        let path = request.path();
        let queued = if request.is_upgrade() && path == "/chat" {
            // permessage-deflate when the client offers it (every browser does).
            let accept = Accept::default().with_deflate(compression::negotiate(request));
            client.outbox.encode(ACCEPT_RESPONSE_MAX, |out| {
                server.accept(request, accept, now, out)
            })
        } else if request.method() == "GET" && path == "/" && !request.is_upgrade() {
            let headers: &[(&str, &[u8])] = &[
                ("Content-Type", b"text/html; charset=utf-8"),
                ("Cache-Control", b"no-cache"),
            ];
            client.outbox.encode(PAGE.len() + MIN_OUTPUT_BUFFER, |out| {
                server.respond(200, headers, PAGE.as_bytes(), out)
            })
        } else {
            let headers: &[(&str, &[u8])] = &[("Content-Type", b"text/plain")];
            client.outbox.encode(MIN_OUTPUT_BUFFER, |out| {
                server.respond(404, headers, b"Not found: the chat is at /\n", out)
            })
        };
        match queued {
            Ok(Ok(_)) => {
                client.upgrade();
                self.clients.queued(key, Ok(()));
            }
            Ok(Err(error)) => {
                log!(err, "connection {key}: {error}");
                self.clients.doom(key);
            }
            Err(Full) => self.clients.doom(key),
        }
    }

    /// A piece of a text message that did not arrive whole: collect it.
    fn on_piece(&mut self, key: usize, event: &Event<'_>, now: u64) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        let mut assembler = client
            .assembler
            .take()
            .unwrap_or_else(|| Box::new(FixedAssembler::new()));
        let unfinished = match assembler.push(event) {
            Ok(Some(WholeMessage::Text(text))) => {
                self.on_text(key, text, now);
                false
            }
            Ok(None) => true,
            // The connection fails a message over MAX_MESSAGE (1009) before the assembler
            // could overflow, and binary pieces never get here.
            Ok(Some(WholeMessage::Binary(_))) | Err(_) => false,
        };
        if unfinished {
            if let Some(client) = self.clients.slab.get_mut(key) {
                client.assembler = Some(assembler);
            }
        }
        // A finished message's assembler is dropped: its memory goes back.
    }

    /// A whole text message: a request of the chat's protocol.
    fn on_text(&mut self, key: usize, text: &str, now: u64) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        if client.open().is_none() {
            // After our Close, whatever the client still says is ignored.
            return;
        }
        match protocol::parse(text) {
            Ok(protocol::Request::Join {
                name,
                room,
                session,
            }) => {
                let session = session.as_deref().filter(|session| !session.is_empty());
                self.join(key, &name, &room, session, now)
            }
            Ok(protocol::Request::Say { text }) => self.say(key, &text, now),
            Err(reason) => self.error(key, &reason),
        }
    }

    fn error(&mut self, key: usize, reason: &str) {
        let notice = Notice::Error { reason }.to_json();
        self.clients.deliver(&mut self.compression, &[key], &notice);
    }

    /// `key` asks to join `room` as `name`: refused if the name is taken there (here, or
    /// with `--redis` in another process: Redis is asked first) by another client, else
    /// seated. A connection of the same `session` that has the name loses it, and is
    /// closed: it is the same client, whose old connection died unnoticed.
    fn join(&mut self, key: usize, name: &str, room: &str, session: Option<&str>, now: u64) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        if client.member.is_some() {
            return self.error(key, "already joined: send join only once");
        }
        if (self.shared.as_ref()).is_some_and(|s| s.joining.get(&key) == Some(&client.id)) {
            return self.error(key, "already joining: wait for the answer");
        }
        let folded = protocol::fold(name);
        // The key of a claim of the name in Redis (with `--redis` only).
        let claim = (self.shared.is_some())
            .then(|| (Box::<str>::from(room), Box::<str>::from(folded.as_str())));
        if let (Some(shared), Some(claim)) = (&self.shared, &claim) {
            if shared.claims.contains_key(claim) {
                return self.name_taken(key, name, room);
            }
        }
        if let Some((holder, held_by)) = self.rooms.holder(room, &folded) {
            let holder = *holder;
            if session.is_none() || held_by.as_deref() != session {
                return self.name_taken(key, name, room);
            }
            let reason = "replaced by a new connection of the same session";
            self.refuse(holder, CloseCode::NORMAL, reason, now);
            self.leave(holder); // if its connection was closing already
        }
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        if let (Some(shared), Some(claim)) = (&mut self.shared, claim) {
            // Whether another process has the name: the answer comes as a broker event
            // (see `on_claimed`). Meanwhile the name is held here.
            if let Some(ticket) = shared.broker.claim(room, &folded, session) {
                shared.joining.insert(key, client.id);
                (shared.claims).insert(
                    claim,
                    Claim {
                        ticket,
                        key,
                        id: client.id,
                        name: name.into(),
                        session: session.map(Into::into),
                        since: std::time::Instant::now(),
                    },
                );
                return;
            }
            // The publisher's queue is full: only this process's names are checked.
        }
        self.seat(key, name, &folded, room, session);
    }

    /// Refuse `key`'s join: `name` is taken in `room`. It may try again.
    fn name_taken(&mut self, key: usize, name: &str, room: &str) {
        let reason = format!("name taken: someone in {room:?} is already called {name:?}");
        let notice = Notice::name_taken(name, room, &reason).to_json();
        self.clients.deliver(&mut self.compression, &[key], &notice);
    }

    /// Seat `key` in `room` as `name` (`folded`: as [`protocol::fold`] makes it; free
    /// there): the room's history to it, then the news to all.
    fn seat(&mut self, key: usize, name: &str, folded: &str, room: &str, session: Option<&str>) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        let id = client.id;
        let Some(seat) = self.rooms.join(room, folded, key, session) else {
            return self.name_taken(key, name, room);
        };
        client.member = Some(Member {
            seat,
            name: name.into(),
        });
        let joined = Notice::Joined { name }.to_json();
        if let Some(shared) = &mut self.shared {
            if self.rooms.members(seat.room).len() == 1 {
                // The room opens here: its history comes from Redis (see `broker.rs`).
                let ticket = shared.broker.subscribe(room);
                shared.pending.insert(seat.room, Pending::new(ticket));
            }
            let notice = shared.broker.publish(room, &joined, false);
            if let Some(pending) = shared.pending.get_mut(&seat.room) {
                pending.joins.push((key, id, pending.backlog.len(), notice));
                return self.broadcast(seat.room, &joined, false, Some(notice));
            }
        }
        for message in self.rooms.history(seat.room) {
            self.clients.deliver(&mut self.compression, &[key], message);
        }
        self.broadcast(seat.room, &joined, false, None);
    }

    /// `text` from `key` to everyone in its room, itself included; kept in the history.
    fn say(&mut self, key: usize, text: &str, now: u64) {
        let Some(Member { seat, name }) =
            self.clients.slab.get(key).and_then(|c| c.member.as_ref())
        else {
            return self.error(key, "join a room first");
        };
        let room = seat.room;
        let time = self.wall.unix_millis(now);
        // The notice is written once, right into the room's history, and sent from there.
        (self.rooms).record_with(room, |history| {
            Notice::Message { name, text, time }.write_to(history)
        });
        let message = self.rooms.latest(room).unwrap_or_default();
        if let Some(shared) = &mut self.shared {
            // As `broadcast` does, with the notice where it is.
            let mut id = None;
            if let Some(name) = self.rooms.name(room) {
                let published = shared.broker.publish(name, message, true);
                if let Some(pending) = shared.pending.get_mut(&room) {
                    pending.seen.insert(published);
                }
                id = Some(published);
            }
            if let Some(pending) = shared.pending.get_mut(&room) {
                return pending.backlog.push((true, message.into(), id));
            }
        }
        let members = self.rooms.members(room);
        self.clients
            .deliver(&mut self.compression, members, message);
    }

    /// Queue `text` (a `message` if `message`, else a notice) for every member of
    /// `room`, or keep it for them while the room waits for its history (with its `id`,
    /// if it was published or came from Redis).
    fn broadcast(&mut self, room: u32, text: &str, message: bool, id: Option<(u64, u64)>) {
        if let Some(pending) = self
            .shared
            .as_mut()
            .and_then(|shared| shared.pending.get_mut(&room))
        {
            return pending.backlog.push((message, text.into(), id));
        }
        let members = self.rooms.members(room);
        self.clients.deliver(&mut self.compression, members, text);
    }

    /// Take `key` out of its room, telling the others.
    fn leave(&mut self, key: usize) {
        let Some(member) = self
            .clients
            .slab
            .get_mut(key)
            .and_then(|client| client.member.take())
        else {
            return;
        };
        // Its name, while the room may still be open, for the other processes.
        let room_name = (self.shared.as_ref())
            .and_then(|_| self.rooms.name(member.seat.room))
            .map(Box::<str>::from);
        let folded = protocol::fold(&member.name);
        if let (Some(shared), Some(room)) = (&mut self.shared, &room_name) {
            let session = (self.rooms.holder(room, &folded)).and_then(|(_, s)| s.as_deref());
            shared.broker.release(room, &folded, session);
        }
        if let Some((moved, seat)) = self.rooms.leave(member.seat, &folded) {
            if let Some(Some(moved)) = self.clients.slab.get_mut(moved).map(|c| c.member.as_mut()) {
                moved.seat = seat;
            }
        }
        if self.shared.is_none() && self.rooms.members(member.seat.room).is_empty() {
            return; // the room closed: no one is left to tell
        }
        let name = &member.name;
        let left = Notice::Left { name }.to_json();
        let id = (self.shared.as_mut())
            .and_then(|shared| Some(shared.broker.publish(room_name.as_deref()?, &left, false)));
        self.broadcast(member.seat.room, &left, false, id);
        if let (Some(shared), Some(name)) = (&mut self.shared, room_name) {
            shared.closed(member.seat.room, &name, &self.rooms);
        }
    }

    /// Close the connection with `code` (the client answers with its Close); it leaves
    /// its room at once.
    fn refuse(&mut self, key: usize, code: CloseCode, reason: &str, now: u64) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        if client.open().is_none() {
            return;
        }
        let result = client.close(code, reason, Instant::from_millis(now));
        self.clients.queued(key, result);
        self.leave(key);
    }

    /// After anything happened to `key`: queue what is owed, close if it is over, and
    /// arm its deadline.
    fn settle(&mut self, key: usize, now: u64) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        let result = client.transmit_owed();
        let over = client.should_close_transport();
        if over {
            client.stage = Stage::Draining {
                until: now + LINGER_MS,
            };
            client.leftover = Box::default();
            client.assembler = None;
            client.inflater = None;
        }
        self.clients.queued(key, result);
        if over {
            self.leave(key);
        }
        self.arm(key);
    }

    /// Put `key`'s deadline in the heap if it is earlier than the one already there.
    fn arm(&mut self, key: usize) {
        let Some(client) = self.clients.slab.get_mut(key) else {
            return;
        };
        if let Some(at) = client.deadline() {
            if at < client.timer {
                client.timer = at;
                self.timers.schedule(Due {
                    at,
                    key,
                    id: client.id,
                });
            }
        }
    }

    /// When [`on_timers`](Self::on_timers) must next run.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Handle every deadline that passed.
    pub fn on_timers(&mut self, now: u64) {
        while let Some(due) = self.timers.pop_due(now) {
            let Some(client) = self.clients.slab.get_mut(due.key) else {
                continue;
            };
            if client.id != due.id || client.timer != due.at {
                continue; // for a closed connection, or replaced by an earlier one
            }
            client.timer = u64::MAX;
            match client.stage {
                Stage::Draining { until } if until <= now => self.clients.doom(due.key),
                Stage::Draining { .. } => self.arm(due.key),
                _ => {
                    // A handshake that took too long (a 408 is queued), a keep-alive Ping
                    // to send or unanswered, a close handshake not answered.
                    client.handle_timeout(Instant::from_millis(now));
                    self.settle(due.key, now);
                }
            }
        }
    }

    /// The end of a turn: write out every queue that changed, close the connections that
    /// must go (which may tell their rooms, which queues more), until nothing is left.
    pub fn end_turn(&mut self) {
        while !self.clients.dirty.is_empty() || !self.clients.doomed.is_empty() {
            let mut dirty = std::mem::take(&mut self.clients.dirty);
            for &key in &dirty {
                let Some(client) = self.clients.slab.get_mut(key) else {
                    continue;
                };
                client.dirty = false;
                match self.transport.flush(key, client) {
                    Ok(true) if matches!(client.stage, Stage::Draining { .. }) => {
                        self.clients.doom(key)
                    }
                    Ok(_) => {}
                    Err(_) => self.clients.doom(key),
                }
            }
            dirty.clear();
            if self.clients.dirty.is_empty() {
                self.clients.dirty = dirty; // keep the allocation
            }
            while let Some(key) = self.clients.doomed.pop() {
                self.close(key);
            }
        }
    }

    /// Close `key` now: out of its room, out of the poll, socket closed. A client whose
    /// queue was full gets no Close frame: it is not reading, so it would not see one.
    fn close(&mut self, key: usize) {
        self.leave(key);
        if let Some(shared) = &mut self.shared {
            shared.joining.remove(&key); // a claim's answer finds no one
        }
        if let Some(mut client) = self.clients.slab.remove(key) {
            self.transport.close(key, &mut client);
        }
    }
}

/// Rooms shared with other processes (`--redis`; see `broker.rs`).
impl<T: Transport> Chat<T> {
    /// What the broker threads brought: other processes' messages and notices, the
    /// histories of rooms that opened here. At most [`broker::PER_TURN`] events per turn.
    pub fn on_broker(&mut self) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        shared.more = false;
        shared.broker.rearm();
        let mut handled = 0;
        while handled < broker::PER_TURN {
            let Some(event) = self.shared.as_ref().and_then(|s| s.broker.try_event()) else {
                break;
            };
            handled += 1;
            match event {
                broker::Event::Message { room, payload } => self.on_published(&room, &payload),
                broker::Event::History {
                    room,
                    ticket,
                    entries,
                } => {
                    let Some(room) = self.rooms.find(&room) else {
                        continue;
                    };
                    let waited = (self.shared.as_ref())
                        .and_then(|shared| shared.pending.get(&room))
                        .is_some_and(|pending| pending.ticket == ticket);
                    if waited {
                        self.open_shared(room, entries.as_ref());
                    }
                }
                broker::Event::Resubscribed { room, generation } => {
                    let (Some(room), Some(shared)) = (self.rooms.find(&room), &mut self.shared)
                    else {
                        continue;
                    };
                    let catch_up = shared.catching_up.entry(room).or_insert(CatchUp {
                        generation,
                        since: std::time::Instant::now(),
                        held: Vec::new(),
                    });
                    // (What an earlier subscription brought stays held, in order.)
                    catch_up.generation = generation;
                    catch_up.since = std::time::Instant::now();
                }
                broker::Event::CaughtUp {
                    room,
                    generation,
                    log,
                } => {
                    let Some(room) = self.rooms.find(&room) else {
                        continue;
                    };
                    let waited = (self.shared.as_ref())
                        .and_then(|shared| shared.catching_up.get(&room))
                        .is_some_and(|catch_up| catch_up.generation == generation);
                    if waited {
                        self.caught_up(room, log.as_deref());
                    }
                }
                broker::Event::Claimed {
                    room,
                    name,
                    session,
                    ticket,
                    granted,
                } => self.on_claimed(room, name, session, Some(ticket), granted),
            }
        }
        let Some(shared) = &mut self.shared else {
            return;
        };
        // The turn's budget ran out: more may wait.
        shared.more = handled == broker::PER_TURN;
        shared.report();
        // Rooms whose history did not come in time go on without it.
        let late: Vec<u32> = (shared.pending.iter())
            .filter(|(_, pending)| pending.since.elapsed() >= broker::PENDING)
            .map(|(&room, _)| room)
            .collect();
        for room in late {
            log!(
                err,
                "chat: no history from Redis in time; the room opens without it"
            );
            self.open_shared(room, None);
        }
        // Rooms whose log did not come in time deliver what they held.
        let late: Vec<u32> = (self.shared.iter())
            .flat_map(|shared| &shared.catching_up)
            .filter(|(_, catch_up)| catch_up.since.elapsed() >= broker::PENDING)
            .map(|(&room, _)| room)
            .collect();
        for room in late {
            self.caught_up(room, None);
        }
        // Joins whose names Redis did not answer for in time go on with this process's
        // word for it.
        let Some(shared) = &mut self.shared else {
            return;
        };
        let late: Vec<(Box<str>, Box<str>)> = (shared.claims.iter())
            .filter(|(_, claim)| claim.since.elapsed() >= broker::PENDING)
            .map(|(names, _)| names.clone())
            .collect();
        for (room, name) in late {
            log!(
                err,
                "chat: no answer from Redis in time about a name; checked here only"
            );
            self.on_claimed(room.into(), name.into(), None, None, None);
        }
        // The names held here, renewed before their lease in Redis runs out.
        let Some(shared) = &mut self.shared else {
            return;
        };
        if shared.renewed.elapsed() >= broker::RENEW {
            shared.renewed = std::time::Instant::now();
            let names: Vec<(String, String, Option<String>)> = (self.rooms.names().into_iter())
                .map(|(room, folded, session)| {
                    (room.into(), folded.into(), session.map(Into::into))
                })
                .collect();
            if !names.is_empty() {
                shared.broker.renew(names);
            }
        }
    }

    /// Redis answered whether `name` (folded) is free in `room` for the claim `ticket`
    /// of the member of `session` (`granted`: `None` if it could not be asked; `ticket`:
    /// `None` if Redis did not answer in time): seat the member who asked, or refuse its
    /// join.
    fn on_claimed(
        &mut self,
        room: String,
        name: String,
        session: Option<String>,
        ticket: Option<u64>,
        granted: Option<bool>,
    ) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let names = (room.into_boxed_str(), name.into_boxed_str());
        let waited = (shared.claims.get(&names))
            .is_some_and(|claim| ticket.is_none_or(|ticket| claim.ticket == ticket));
        let claim = if waited {
            shared.claims.remove(&names)
        } else {
            None
        };
        // The connection that asked, if it is still there and waiting.
        let asker = claim.filter(|claim| {
            let waiting = shared.joining.get(&claim.key) == Some(&claim.id);
            if waiting {
                shared.joining.remove(&claim.key);
            }
            waiting
        });
        let (room, folded) = (&*names.0, &*names.1);
        match asker {
            Some(claim) if granted == Some(false) => self.name_taken(claim.key, &claim.name, room),
            Some(claim) => {
                let session = claim.session.as_deref();
                self.seat(claim.key, &claim.name, folded, room, session)
            }
            // Granted to no one here (the asker left, or the answer came too late and
            // the name is no longer used nor asked for here): give it back.
            None if granted == Some(true) && !self.rooms.is_taken(room, folded) => {
                if let Some(shared) = &mut self.shared {
                    if !shared.claims.contains_key(&names) {
                        shared.broker.release(room, folded, session.as_deref());
                    }
                }
            }
            None => {}
        }
    }

    /// How long the loop may wait for the sockets before it must look at the broker
    /// again (`None`: as long as it likes, the broker's waker wakes it).
    pub fn broker_timeout(&self) -> Option<Duration> {
        let shared = self.shared.as_ref()?;
        if shared.more {
            Some(Duration::ZERO)
        } else if !shared.pending.is_empty()
            || !shared.claims.is_empty()
            || !shared.catching_up.is_empty()
        {
            Some(Duration::from_millis(100))
        } else if self.rooms.len() > 0 {
            // The names held here are renewed on time.
            Some(broker::RENEW.saturating_sub(shared.renewed.elapsed()))
        } else {
            None
        }
    }

    /// A payload from a room's channel: unless this process published it, or already
    /// delivered it, deliver it to the room's members here (or hold it while the room
    /// catches up).
    fn on_published(&mut self, room: &str, payload: &str) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let Some(envelope) = Envelope::decode(payload) else {
            shared.malformed.0 += 1;
            return;
        };
        let Some(room) = self.rooms.find(room) else {
            return; // the last member here left meanwhile
        };
        if shared.broker.is_own(&envelope) {
            return;
        }
        if let Some(catch_up) = shared.catching_up.get_mut(&room) {
            if catch_up.held.len() < HELD {
                return catch_up.held.push(payload.into());
            }
            log!(
                err,
                "chat: too much from Redis while a room catches up; it goes on without its log"
            );
            self.caught_up(room, None);
        }
        self.deliver_published(room, &envelope);
    }

    /// `envelope`, from another process, to `room`'s members here, unless they had it.
    fn deliver_published(&mut self, room: u32, envelope: &Envelope<'_>) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        if !shared
            .heard
            .entry(room)
            .or_default()
            .first_time(envelope.id())
        {
            return;
        }
        if let Some(pending) = shared.pending.get_mut(&room) {
            pending.seen.insert(envelope.id());
        }
        if envelope.message {
            self.rooms.record(room, envelope.json);
        }
        self.broadcast(room, envelope.json, envelope.message, Some(envelope.id()));
    }

    /// `room` subscribed again, and its `log` (oldest first) came, or `None` (Redis did
    /// not answer in time): first what the log holds that was not delivered here, then
    /// what came live meanwhile, each once, in Redis's order.
    fn caught_up(&mut self, room: u32, log: Option<&[String]>) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let Some(catch_up) = shared.catching_up.remove(&room) else {
            return;
        };
        if log.is_none() {
            log!(
                err,
                "chat: no log from Redis in time after subscribing again; what other processes said meanwhile may be missing"
            );
        }
        for payload in log.into_iter().flatten().chain(&catch_up.held) {
            let Some(shared) = &mut self.shared else {
                return;
            };
            let Some(envelope) = Envelope::decode(payload) else {
                shared.malformed.0 += 1;
                continue;
            };
            if !shared.broker.is_own(&envelope) {
                self.deliver_published(room, &envelope);
            }
        }
    }

    /// The lists of a room that opened here came (`None` without Redis): each member who
    /// joined meanwhile gets the history, then what happened in the room since it
    /// joined, in order, as it would in a room of one process.
    ///
    /// Redis's order decides what is "since": the room's log holds the member's own
    /// joined notice, and everything published after it until the lists were read,
    /// whether or not the subscription was already there to bring it. What came live
    /// after the lists were read follows. Without the lists (or with the notice no longer
    /// in the log), the order is this process's: the history, then what it saw.
    fn open_shared(&mut self, room: u32, lists: Option<&broker::Histories>) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let Some(pending) = shared.pending.remove(&room) else {
            return;
        };
        let (messages, log) = match lists {
            Some(lists) => (decode_all(&lists.messages), decode_all(&lists.log)),
            None => (Vec::new(), Vec::new()),
        };
        // Whatever the lists hold was delivered from them (or was local): a copy that
        // Redis brings live later is dropped.
        let in_lists: HashSet<(u64, u64)> = messages.iter().chain(&log).map(Envelope::id).collect();
        // The room's history here: what was said before, and not seen meanwhile.
        let older: Vec<&str> = (messages.iter())
            .filter(|e| e.message && !pending.seen.contains(&e.id()))
            .map(|e| e.json)
            .collect();
        self.rooms.seed(room, &older);
        for &(key, id, start, notice) in &pending.joins {
            let still_here = self.clients.slab.get(key).is_some_and(|client| {
                client.id == id && client.member.as_ref().is_some_and(|m| m.seat.room == room)
            });
            if !still_here {
                continue;
            }
            let mut deliver =
                |text: &str| self.clients.deliver(&mut self.compression, &[key], text);
            let backlog = &pending.backlog[start..];
            match log.iter().position(|e| e.id() == notice) {
                Some(own) => {
                    // Said before it joined: the older of the history list, then the
                    // log's messages before its notice (the history list may have moved
                    // past them meanwhile).
                    let logged: HashSet<(u64, u64)> = log.iter().map(Envelope::id).collect();
                    let before: Vec<&str> = (messages.iter())
                        .filter(|e| !logged.contains(&e.id()))
                        .chain(&log[..own])
                        .filter(|e| e.message)
                        .map(|e| e.json)
                        .collect();
                    rooms::last_of(&before)
                        .iter()
                        .for_each(|text| deliver(text));
                    log[own..].iter().for_each(|e| deliver(e.json));
                    (backlog.iter())
                        .filter(|(_, _, id)| id.is_none_or(|id| !in_lists.contains(&id)))
                        .for_each(|(_, text, _)| deliver(text));
                }
                None => {
                    let mut before = older.clone();
                    let said_before = pending.backlog[..start].iter().filter(|b| b.0);
                    before.extend(said_before.map(|(_, text, _)| &**text));
                    rooms::last_of(&before)
                        .iter()
                        .for_each(|text| deliver(text));
                    backlog.iter().for_each(|(_, text, _)| deliver(text));
                }
            }
        }
        // What the lists held, and what came meanwhile, counts as delivered.
        let heard = shared.heard.entry(room).or_default();
        let ids = (pending.backlog.iter()).filter_map(|(_, _, id)| *id);
        for id in in_lists.into_iter().chain(ids) {
            heard.first_time(id);
        }
    }
}

impl Shared {
    /// A member left `room` (called `name`): if the room closed here, stop listening.
    fn closed(&mut self, room: u32, name: &str, rooms: &Rooms) {
        if rooms.name(room).is_none() {
            self.broker.unsubscribe(name);
            self.pending.remove(&room);
            self.heard.remove(&room);
            self.catching_up.remove(&room);
        }
    }

    /// A line on stderr when messages could not be handed to the publisher (its queue
    /// was full): the first time, then every 10,000; and one when payloads from Redis
    /// were not the chat's: the first time, then every 1,000 more.
    fn report(&mut self) {
        let (malformed, said) = self.malformed;
        if malformed > said && (said == 0 || malformed >= said + 1000) {
            log!(
                err,
                "chat: {malformed} payloads from Redis were not the chat's (skipped)"
            );
            self.malformed.1 = malformed;
        }
        let not_carried = self.broker.not_carried;
        if not_carried > 0 && (not_carried == 1 || not_carried.is_multiple_of(10_000)) {
            log!(
                err,
                "chat: {not_carried} messages delivered here but not carried to other processes (Redis too slow)"
            );
        }
    }
}

/// The envelopes among `entries`, each id once (a publication that timed out may have
/// been made, and then made again); what another program put there is ignored.
fn decode_all(entries: &[String]) -> Vec<Envelope<'_>> {
    let mut ids = HashSet::new();
    (entries.iter())
        .filter_map(|entry| Envelope::decode(entry))
        .filter(|envelope| ids.insert(envelope.id()))
        .collect()
}

/// Milliseconds since the Unix epoch, read from the system.
fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::{WallClock, unix_millis};

    #[test]
    fn the_time_of_day_follows_the_loops_clock_and_is_read_again_each_minute() {
        let mut wall = WallClock::default();
        let before = unix_millis();
        let first = wall.unix_millis(5_000);
        assert!(first >= before && first <= unix_millis());
        // Within the minute: the loop's clock alone, to the millisecond.
        assert_eq!(wall.unix_millis(5_250), first + 250);
        assert_eq!(wall.unix_millis(64_999), first + 59_999);
        // A minute on, the system's time is read again: here it has moved by far less
        // than the loop's clock claims, and the system's time wins.
        let again = wall.unix_millis(3_605_000);
        assert!(again < first + 3_600_000);
        assert!(again >= before && again <= unix_millis());
    }
}
