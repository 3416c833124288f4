//! Rooms across processes, on Redis pub/sub (`--redis redis://HOST:PORT`).
//!
//! Each room is a Redis channel, `sockless:room:NAME`, which this process subscribes to
//! while it has members there. What a member says, and its join and leave notices, are
//! published once; every process subscribed delivers them to its own members.
//!
//! **Who delivers what.** The process a message comes from delivers it to its own members
//! at once, as the chat does without Redis, and skips the copy Redis echoes back to it:
//! every payload carries its origin (a random number per process) and a sequence number.
//! So local rooms keep working, at the same latency, whether Redis is there or not, and no
//! message is delivered twice. The price: two messages said at the same moment in two
//! processes may reach the members of each process in a different order (each process
//! sees its own first); within one process, the order is the one everybody there sees.
//!
//! **History.** What is said is also kept in a capped Redis list per room,
//! `sockless:history:NAME` (`LPUSH`, `LTRIM` to [`HISTORY`] entries; it expires a day
//! after the room's last message), and everything published, notices included, in a
//! second one, the room's log, `sockless:log:NAME` (200 entries, one minute). Both go in
//! the same `MULTI`/`EXEC` as the `PUBLISH`: a payload is in the lists if and only if it
//! was published, in Redis's order.
//!
//! When a room opens in this process (its first member here), the process subscribes,
//! then reads both lists. Until they are there (a round trip, or at most [`PENDING`] if
//! Redis does not answer), the room is *pending*: what happens in it is kept. Then each
//! newcomer gets what it would in a room of one process, in Redis's order: the last
//! messages said before its own joined notice (the history), its notice, everything
//! published after it (from the log: whether or not the subscription was there yet to
//! bring it live), then what came live after the lists were read. Every payload carries
//! its origin and sequence number, so one that arrives both from the lists and live is
//! delivered once. From then on, the room's history in this process is kept up to date
//! by what it delivers. (If more than 150 payloads follow a newcomer's notice before the
//! lists are read, the log no longer holds what came before: the newcomer then gets the
//! history list and what this process saw, in this process's order.)
//!
//! **Names.** A name is taken in a room whichever process its member is on. Each name in
//! use is a key, `sockless:name:LEN:ROOM:NAME` (NAME folded as `protocol::fold` does;
//! LEN, the room's length in bytes, keeps a room and a name from reading as another
//! pair), holding `ORIGIN SESSION`: the process whose member has it, and the member's
//! session (empty if it gave none). A join asks Redis first (`SET NX PX`, then `GET`: the
//! name is this process's if the key holds its value; or, if the key holds the same
//! session from another process, the client is back through another process and takes it
//! over), and the member is seated, or refused, when the answer comes; the loop goes
//! on meanwhile, and holds the name so that no one here takes it. A leave deletes the key
//! (a script: only if it still holds this member's value). The key is a lease of [`LEASE`]: each
//! process renews the names it holds every [`RENEW`] (making again those a restarted
//! Redis lost), so that the names of a process that dies are free again within
//! [`LEASE`]. If Redis cannot be asked (unreachable, the queue full, no answer within
//! [`PENDING`]), the process's own names are all that is checked.
//!
//! **The threads.** The chat's loop stays single-threaded and never waits for Redis. Two
//! broker threads own the Redis connections, each through the blocking `redis` client
//! with deadlines on everything (connect [`CONNECT_TIMEOUT`], each command
//! [`COMMAND_TIMEOUT`]):
//!
//! - the *publisher* sends `LPUSH` + `PUBLISH` per message, many messages per round
//!   trip when they queue up, with one `LTRIM` + `EXPIRE` per list and round trip,
//!   reads a room's two lists (`LRANGE`), or its log alone for a room subscribed to
//!   again, and claims, renews and releases names (one round trip for those of a batch);
//! - the *subscriber* holds the `SUBSCRIBE` connection: it subscribes and unsubscribes as
//!   the loop asks, and hands every message to the loop.
//!
//! The loop talks to them through channels and learns of what they bring through a
//! `mio::Waker`. The loop's queue to the publisher is bounded ([`QUEUE`]): if Redis is too
//! slow for it, what does not fit is delivered locally but not carried across processes,
//! and counted.
//!
//! **When Redis goes away** (or closes a connection), each thread logs it once and tries
//! again after 0.1 s, doubling up to 5 s. Local members never notice: their messages never
//! go through Redis. What was said meanwhile is carried across once Redis is back:
//!
//! - The *publisher* keeps what it could not publish, messages and notices with their
//!   ids, oldest first, and once connected again publishes it, in that order and before
//!   anything newer, the same way (each round trip one `MULTI`/`EXEC`: it reaches the
//!   history and the log too), logging how many it kept. It keeps the last [`BACKLOG`]
//!   publications, at most [`BACKLOG_BYTES`] of them, none older than [`BACKLOG_AGE`]
//!   (the log's minute: older would reach the others long after it was said): past
//!   that, the oldest are dropped, counted, and said once. What Redis refuses (a room's
//!   key that another program made something else than a list) is dropped and said, not
//!   tried again (Redis does not undo the rest of a transaction: what it did, is done).
//!   A round trip whose answer did not come in time is tried again, so it may be
//!   published twice: its ids make each process deliver it once, and a room's lists,
//!   read, count it once.
//! - The *subscriber* subscribes anew to every room that has members here, then tells
//!   the loop, room by room, and has the publisher read each room's log (`LRANGE`).
//!   Meanwhile (at most [`PENDING`]) the room holds what comes live; then it delivers
//!   what the log holds that it has not delivered yet, then what it held: each payload
//!   once, in Redis's order. Subscribing first, then reading the log, leaves no gap:
//!   what was published before the subscription is in the log, what after comes live,
//!   whichever process published it, and whenever (another process's backlog included).
//! - *Once*: each room here keeps, per origin, the highest sequence number it delivered
//!   ([`Heard`]). A process publishes in order and Redis keeps that order, so what comes
//!   again (from the log and live, or published twice) is recognized, a gap (publications
//!   dropped) holds nothing back, and a restarted process, with a new origin, starts
//!   afresh.
//!
//! Limits: a room's log keeps 200 entries for a minute, so what other processes said
//! beyond that while this one was away is not delivered here (newcomers still find the
//! messages in the history). If the log does not come in time, the room delivers what it
//! held and says so. A room that opened here while Redis was away got no history; on
//! catching up it gets what its log holds from other processes, which may include a
//! little said shortly before it opened.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Registry, Token, Waker};
use redis::{Client as RedisClient, Connection, RedisError};

use crate::rooms::HISTORY;

/// The longest wait for a connection to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest wait for the answer to one command (or one pipeline of them).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a pending room waits for its history before it goes on without it.
pub const PENDING: Duration = Duration::from_secs(3);
/// How many publications may wait for the publisher thread: a second of a busy
/// process's messages. (A bounded channel allocates its slots up front: 16,384 of them
/// hold under 1 MiB.)
pub const QUEUE: usize = 16_384;
/// How many events may wait for the loop, which takes up to [`PER_TURN`] each turn.
const EVENTS: usize = 2 * PER_TURN;
/// At most this many publications go in one round trip.
const BATCH: usize = 512;
/// What the publisher keeps while Redis is away, to publish once it is back: the last
/// this many publications (as many as the loop's queue holds: the same second of a busy
/// process's messages)...
pub const BACKLOG: usize = QUEUE;
/// ...of at most this many bytes in all (a message's fields are at most 1 KiB each, so
/// at least a few thousand messages)...
pub const BACKLOG_BYTES: usize = 8 << 20;
/// ...and none older than the room's log keeps things: what is older would reach the
/// other processes' members long after it was said, and the log could not bring it to
/// a subscriber catching up anyway.
pub const BACKLOG_AGE: Duration = Duration::from_secs(LOG_TTL_SECS as u64);
/// How long the subscriber waits for a message before it looks for new rooms to
/// subscribe to (the most a subscription waits).
const SUBSCRIBER_TICK: Duration = Duration::from_millis(20);
/// The first wait before connecting again, doubled after each failure up to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));
/// A room's history is forgotten by Redis this long after its last message.
const HISTORY_TTL_SECS: i64 = 24 * 3600;
/// Everything published in a room (messages and notices), the last this many for this
/// long: what a room opening in another process finds of what followed its newcomer's
/// joined notice while it was subscribing.
const LOG: usize = 200;
const LOG_TTL_SECS: i64 = 60;
/// A name held in a room is this process's for this long after it last claimed or
/// renewed it: how long the names of a process that died stay taken.
pub const LEASE: Duration = Duration::from_secs(20);
/// How often a process renews the names it holds (well within [`LEASE`], so that a slow
/// round trip or two do not lose them).
pub const RENEW: Duration = Duration::from_secs(5);
/// Deletes a name's key if it still holds this member's value (not another's, which took
/// it after this process's lease ran out, or took it over).
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// At most this many broker events are handled per turn of the loop, so that a flood
/// from Redis does not starve the sockets.
pub const PER_TURN: usize = 4096;

/// A publication's id: its origin (a process) and its sequence number there.
pub type Id = (u64, u64);

/// A room that just opened here, waiting for its history (see the module's docs).
pub struct Pending {
    /// Which [`Broker::subscribe`] it waits for (a room may close and open again).
    pub ticket: u64,
    pub since: Instant,
    /// Who joined meanwhile: connection key, connection id, how much of the backlog was
    /// there before it joined, and the id of its joined notice.
    pub joins: Vec<(usize, u64, usize, (u64, u64))>,
    /// What happened in the room meanwhile, in order: (is a `message`, JSON text, its
    /// id if it was published or came from Redis).
    pub backlog: Vec<(bool, Box<str>, Option<Id>)>,
    /// The ids of the messages delivered meanwhile (from here or live from Redis), not
    /// to be delivered again from the history.
    pub seen: HashSet<(u64, u64)>,
}

impl Pending {
    pub fn new(ticket: u64) -> Self {
        Pending {
            ticket,
            since: Instant::now(),
            joins: Vec::new(),
            backlog: Vec::new(),
            seen: HashSet::new(),
        }
    }
}

/// What a room here has delivered from each origin (process): the highest sequence
/// number. Each process publishes in order, and Redis keeps that order, so a payload at
/// or below it was delivered already (it comes again from the room's log, or twice from
/// a publication that timed out and was published again); one above it is new, whatever
/// gap lies between (publications dropped on the way). A process that restarts has a
/// new origin, so starts afresh.
#[derive(Default)]
pub struct Heard(HashMap<u64, u64>);

impl Heard {
    /// Whether `id` was not delivered yet; if so, it counts as delivered from now on.
    pub fn first_time(&mut self, (origin, seq): Id) -> bool {
        let last = self.0.entry(origin).or_insert(0);
        let new = seq > *last;
        if new {
            *last = seq;
        }
        new
    }
}

fn channel_of(room: &str) -> String {
    format!("sockless:room:{room}")
}

fn log_of(room: &str) -> String {
    format!("sockless:log:{room}")
}

fn history_of(room: &str) -> String {
    format!("sockless:history:{room}")
}

/// The key of `name` (folded) in `room`.
fn name_of(room: &str, name: &str) -> String {
    format!("sockless:name:{}:{room}:{name}", room.len())
}

/// What travels on a room's channel and sits in its history list: `ORIGIN:SEQ KIND JSON`,
/// with ORIGIN in hex, KIND `m` for a message (kept in the history) or `n` for a notice,
/// and JSON the text sent to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub origin: u64,
    pub seq: u64,
    pub message: bool,
    pub json: &'a str,
}

impl<'a> Envelope<'a> {
    fn encode(&self) -> String {
        let kind = if self.message { 'm' } else { 'n' };
        format!("{:x}:{} {kind} {}", self.origin, self.seq, self.json)
    }

    /// The envelope in `payload`, or `None` if it is not one (another program publishing
    /// on the channel, or writing to the lists): such payloads are not delivered. Its
    /// JSON must be JSON: it goes to the clients as it is.
    pub fn decode(payload: &'a str) -> Option<Self> {
        let (id, rest) = payload.split_once(' ')?;
        let (kind, json) = rest.split_once(' ')?;
        let (origin, seq) = id.split_once(':')?;
        serde_json::from_str::<serde::de::IgnoredAny>(json).ok()?;
        Some(Envelope {
            origin: u64::from_str_radix(origin, 16).ok()?,
            seq: seq.parse().ok()?,
            message: match kind {
                "m" => true,
                "n" => false,
                _ => return None,
            },
            json,
        })
    }

    /// Who said it, and which of its messages it is.
    pub fn id(&self) -> (u64, u64) {
        (self.origin, self.seq)
    }
}

/// What the broker threads bring to the loop.
pub enum Event {
    /// A payload published on a room's channel (by any process, this one included).
    Message { room: String, payload: String },
    /// The answer to [`Broker::subscribe`]: the room's history list, oldest first, or
    /// `None` if Redis could not be asked.
    History {
        room: String,
        ticket: u64,
        entries: Option<Histories>,
    },
    /// The subscriber subscribed to `room` again (Redis was away, or closed the
    /// subscription): from here on, what comes live follows what is in the room's log.
    /// Sent before anything the new subscription brings; an [`Event::CaughtUp`] of the
    /// same `generation` follows.
    Resubscribed { room: String, generation: u64 },
    /// The room's log (oldest first) read after [`Event::Resubscribed`], or `None` if
    /// Redis could not be asked.
    CaughtUp {
        room: String,
        generation: u64,
        log: Option<Vec<String>>,
    },
    /// The answer to [`Broker::claim`]: whether `name` (folded) in `room` is this
    /// process's now (for the member of `session`), or `None` if Redis could not be asked.
    Claimed {
        room: String,
        name: String,
        session: Option<String>,
        ticket: u64,
        granted: Option<bool>,
    },
}

/// A room's two lists in Redis, oldest first: its last messages (its history), and the
/// last of everything published there, notices included (its log).
pub struct Histories {
    pub messages: Vec<String>,
    pub log: Vec<String>,
}

enum ToPublisher {
    Publish {
        room: String,
        payload: String,
        keep: bool,
    },
    Fetch {
        room: String,
        ticket: u64,
    },
    /// Read `room`'s log for [`Event::CaughtUp`].
    CatchUp {
        room: String,
        generation: u64,
    },
    Claim {
        room: String,
        name: String,
        session: Option<String>,
        ticket: u64,
    },
    Release {
        room: String,
        name: String,
        session: Option<String>,
    },
    /// (room, name, session) of each name held.
    Renew {
        names: Vec<(String, String, Option<String>)>,
    },
}

enum ToSubscriber {
    Subscribe { room: String, ticket: u64 },
    Unsubscribe { room: String },
}

/// The loop's side of the broker: it publishes, subscribes, and receives [`Event`]s.
pub struct Broker {
    origin: u64,
    seq: u64,
    tickets: u64,
    publisher: SyncSender<ToPublisher>,
    subscriber: Sender<ToSubscriber>,
    events: Receiver<Event>,
    /// Set by the threads when they wake the loop, cleared by the loop before it looks.
    signalled: Arc<AtomicBool>,
    /// Publications that found the publisher's queue full since the last report.
    pub not_carried: usize,
}

impl Broker {
    /// Check `url`, start the two broker threads, and wake the loop's `registry` with
    /// `token` whenever they bring something. Connecting happens in the threads: Redis
    /// may come later.
    pub fn start(url: &str, registry: &Registry, token: Token) -> Result<Broker, String> {
        let client = RedisClient::open(url).map_err(|e| format!("--redis {url}: {e}"))?;
        let waker = Arc::new(Waker::new(registry, token).map_err(|e| e.to_string())?);
        let (publisher, to_publisher) = mpsc::sync_channel(QUEUE);
        let (subscriber, to_subscriber) = mpsc::channel();
        let (events_out, events) = mpsc::sync_channel(EVENTS);
        let signalled = Arc::new(AtomicBool::new(false));
        let out = Out {
            events: events_out,
            waker,
            signalled: signalled.clone(),
        };
        // A number that no other process picks: the hash of this one's id and the time,
        // keyed by the standard library's random keys.
        let origin = std::collections::hash_map::RandomState::new().hash_one((
            std::process::id(),
            Instant::now(),
            std::time::SystemTime::now(),
        ));
        let (client2, out2, fetches) = (client.clone(), out.clone(), publisher.clone());
        thread::Builder::new()
            .name("redis-publisher".into())
            .spawn(move || publish_loop(&client, origin, &to_publisher, &out))
            .map_err(|e| e.to_string())?;
        thread::Builder::new()
            .name("redis-subscriber".into())
            .spawn(move || subscribe_loop(&client2, &to_subscriber, &fetches, &out2))
            .map_err(|e| e.to_string())?;
        Ok(Broker {
            origin,
            seq: 0,
            tickets: 0,
            publisher,
            subscriber,
            events,
            signalled,
            not_carried: 0,
        })
    }

    /// Publish `json` on `room`'s channel (and keep it in the room's history if it is a
    /// `message`); returns its id. Never waits: if the publisher's queue is full, it is
    /// counted in [`not_carried`](Self::not_carried) instead.
    pub fn publish(&mut self, room: &str, json: &str, message: bool) -> (u64, u64) {
        self.seq += 1;
        let envelope = Envelope {
            origin: self.origin,
            seq: self.seq,
            message,
            json,
        };
        let publish = ToPublisher::Publish {
            room: room.into(),
            payload: envelope.encode(),
            keep: message,
        };
        if self.publisher.try_send(publish).is_err() {
            self.not_carried += 1;
        }
        envelope.id()
    }

    /// Subscribe to `room`'s channel; an [`Event::History`] with the returned ticket
    /// answers, within [`COMMAND_TIMEOUT`]s or at once when Redis is away.
    pub fn subscribe(&mut self, room: &str) -> u64 {
        self.tickets += 1;
        let ticket = self.tickets;
        let _ = self.subscriber.send(ToSubscriber::Subscribe {
            room: room.into(),
            ticket,
        });
        ticket
    }

    /// Ask Redis whether `name` (folded) is free in `room` (or held by `session`, in
    /// another process), taking it if so; an [`Event::Claimed`] with the returned ticket
    /// answers. `None` if the publisher's queue is full (nothing was asked).
    pub fn claim(&mut self, room: &str, name: &str, session: Option<&str>) -> Option<u64> {
        self.tickets += 1;
        let claim = ToPublisher::Claim {
            room: room.into(),
            name: name.into(),
            session: session.map(Into::into),
            ticket: self.tickets,
        };
        self.publisher.try_send(claim).ok().map(|()| self.tickets)
    }

    /// `name` (folded), which the member of `session` had, is no longer used in `room`
    /// here: free it for other processes. (If the queue is full, the name's lease runs
    /// out instead.)
    pub fn release(&mut self, room: &str, name: &str, session: Option<&str>) {
        let release = ToPublisher::Release {
            room: room.into(),
            name: name.into(),
            session: session.map(Into::into),
        };
        let _ = self.publisher.try_send(release);
    }

    /// Renew the lease of every (room, folded name, session) in `names`, held here.
    pub fn renew(&mut self, names: Vec<(String, String, Option<String>)>) {
        let _ = self.publisher.try_send(ToPublisher::Renew { names });
    }

    /// Stop listening to `room`'s channel (its last member here left).
    pub fn unsubscribe(&mut self, room: &str) {
        let _ = self
            .subscriber
            .send(ToSubscriber::Unsubscribe { room: room.into() });
    }

    /// Before looking at the events: from now on, a new one wakes the loop again.
    pub fn rearm(&self) {
        self.signalled.store(false, Ordering::SeqCst);
    }

    /// The next event the threads brought, if any (never waits).
    pub fn try_event(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Whether `envelope` came from this process (Redis echoes our own publications).
    pub fn is_own(&self, envelope: &Envelope<'_>) -> bool {
        self.is_own_origin(envelope.origin)
    }

    /// Whether `origin` is this process's.
    pub fn is_own_origin(&self, origin: u64) -> bool {
        origin == self.origin
    }
}

/// The way back to the loop: an event, then a wake-up.
#[derive(Clone)]
struct Out {
    events: SyncSender<Event>,
    waker: Arc<Waker>,
    signalled: Arc<AtomicBool>,
}

impl Out {
    /// Hand `event` to the loop. Waits while the loop's queue is full (the loop drains
    /// it every turn, so that wait is the loop's own pace); `false` once the loop is gone.
    fn send(&self, event: Event) -> bool {
        if self.events.send(event).is_err() {
            return false;
        }
        // One wake-up (a system call) until the loop has looked, not one per event.
        if !self.signalled.swap(true, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
        true
    }
}

/// A connection with deadlines on connecting, reading and writing.
fn connect(client: &RedisClient) -> Result<Connection, RedisError> {
    let connection = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    connection.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    connection.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(connection)
}

/// When to try connecting again, and the log lines that go with losing and regaining
/// Redis (one line each way, not one per attempt).
struct Backoff {
    role: &'static str,
    wait: Duration,
    next: Instant,
    down: bool,
}

impl Backoff {
    fn new(role: &'static str) -> Self {
        Backoff {
            role,
            wait: BACKOFF.0,
            next: Instant::now(),
            down: false,
        }
    }

    fn failed(&mut self, error: &RedisError) {
        if !self.down {
            log!(
                err,
                "chat: Redis unreachable ({}: {error}); local rooms go on, reconnecting",
                self.role
            );
        }
        self.down = true;
        self.next = Instant::now() + self.wait;
        self.wait = (self.wait * 2).min(BACKOFF.1);
    }

    fn connected(&mut self, note: &str) {
        if self.down {
            log!(err, "chat: Redis back ({}){note}", self.role);
        } else {
            log!(err, "chat: Redis connected ({})", self.role);
        }
        self.down = false;
        self.wait = BACKOFF.0;
    }

    fn may_try(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Try at once next time (the other thread just reached Redis).
    fn try_now(&mut self) {
        self.next = self.next.min(Instant::now());
    }
}

/// The publisher thread: publications and history reads, in the order the loop asked.
fn publish_loop(client: &RedisClient, origin: u64, requests: &Receiver<ToPublisher>, out: &Out) {
    // A name's value in Redis: this process, and its member's session.
    let holder =
        |session: &Option<String>| format!("{origin:x} {}", session.as_deref().unwrap_or(""));
    let lease = LEASE.as_millis() as u64;
    let mut publisher = Publisher {
        client,
        connection: None,
        backoff: Backoff::new("publisher"),
        backlog: Backlog::default(),
        dropped: 0,
    };
    let mut batch = Vec::with_capacity(BATCH);
    // The last subscription (generation) of the subscriber that made this thread try at
    // once.
    let mut hinted = 0;
    loop {
        // One request (waiting for it; while publications wait for Redis, only until it
        // is time to try again), then as many more as are already there.
        let first = if publisher.backlog.is_empty() {
            requests.recv().ok()
        } else {
            let wait = (publisher
                .backoff
                .next
                .saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(10));
            match requests.recv_timeout(wait) {
                Ok(request) => Some(request),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        if let Some(first) = first {
            batch.push(first);
        } else if publisher.backlog.is_empty() {
            return; // the loop is gone
        }
        while !batch.is_empty() && batch.len() < BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        // Names: claims, releases and renewals, in the order asked, in one round trip
        // after the batch; the claims, to be answered after it.
        let mut names = redis::pipe();
        let mut claims: Vec<(String, String, Option<String>, u64)> = Vec::new();
        let mut renewals = 0;
        for request in batch.drain(..) {
            match request {
                ToPublisher::Publish {
                    room,
                    payload,
                    keep,
                } => publisher.push(Publication {
                    room,
                    payload,
                    keep,
                    at: Instant::now(),
                }),
                ToPublisher::Fetch { room, ticket } => {
                    // What was published before goes first.
                    publisher.flush();
                    let mut lrange = redis::pipe();
                    lrange.lrange(history_of(&room), 0, HISTORY as isize - 1);
                    lrange.lrange(log_of(&room), 0, LOG as isize - 1);
                    let entries = (publisher
                        .run(|c| lrange.query::<(Vec<String>, Vec<String>)>(c)))
                    .map(|(mut messages, mut log)| {
                        // LPUSH puts the newest first.
                        messages.reverse();
                        log.reverse();
                        Histories { messages, log }
                    });
                    if !out.send(Event::History {
                        room,
                        ticket,
                        entries,
                    }) {
                        return;
                    }
                }
                ToPublisher::CatchUp { room, generation } => {
                    // The subscriber just reached Redis: no need to wait for this
                    // thread's next try (once per subscription, not once per room).
                    if generation > hinted {
                        hinted = generation;
                        publisher.backoff.try_now();
                    }
                    publisher.flush();
                    let lrange = |c: &mut Connection| {
                        redis::cmd("LRANGE")
                            .arg(log_of(&room))
                            .arg(0)
                            .arg(LOG - 1)
                            .query::<Vec<String>>(c)
                    };
                    let log = publisher.run(lrange).map(|mut log| {
                        log.reverse();
                        log
                    });
                    if !out.send(Event::CaughtUp {
                        room,
                        generation,
                        log,
                    }) {
                        return;
                    }
                }
                ToPublisher::Claim {
                    room,
                    name,
                    session,
                    ticket,
                } => {
                    // Taken if free (for the lease); then whose it is.
                    let key = name_of(&room, &name);
                    (names.cmd("SET").arg(&key).arg(holder(&session)))
                        .arg("NX")
                        .arg("PX")
                        .arg(lease)
                        .ignore();
                    names.get(&key);
                    claims.push((room, name, session, ticket));
                }
                ToPublisher::Release {
                    room,
                    name,
                    session,
                } => {
                    let key = name_of(&room, &name);
                    (names.cmd("EVAL").arg(RELEASE).arg(1).arg(&key))
                        .arg(holder(&session))
                        .ignore();
                    renewals += 1;
                }
                ToPublisher::Renew { names: held } => {
                    // Made again if Redis lost it; its lease pushed back. (Should another
                    // process hold it meanwhile, which only a lease run out can cause,
                    // its lease is pushed back: each keeps its member.)
                    for (room, name, session) in held {
                        let key = name_of(&room, &name);
                        (names.cmd("SET").arg(&key).arg(holder(&session)))
                            .arg("NX")
                            .arg("PX")
                            .arg(lease)
                            .ignore();
                        names.pexpire(&key, lease as i64).ignore();
                        renewals += 1;
                    }
                }
            }
        }
        // Names first: a member's name is released before its left notice is published,
        // so that whoever hears of it leaving may take the name at once.
        if !claims.is_empty() || renewals > 0 {
            let holders = publisher.run(|c| names.query::<Vec<Option<String>>>(c));
            for (i, (room, name, session, ticket)) in claims.into_iter().enumerate() {
                let ours = holder(&session);
                let found = (holders.as_ref()).map(|holders| holders.get(i).cloned().flatten());
                let granted = match found {
                    None => None,
                    Some(found) if found.as_deref() == Some(&*ours) => Some(true),
                    // The same session from another process: the client is back here.
                    Some(Some(found))
                        if session.is_some()
                            && found.split_once(' ').map(|(_, s)| s) == session.as_deref() =>
                    {
                        let key = name_of(&room, &name);
                        let set = |c: &mut Connection| {
                            redis::cmd("SET")
                                .arg(&key)
                                .arg(&ours)
                                .arg("PX")
                                .arg(lease)
                                .exec(c)
                        };
                        publisher.run(set).map(|()| true)
                    }
                    Some(_) => Some(false),
                };
                let claimed = Event::Claimed {
                    room,
                    name,
                    session,
                    ticket,
                    granted,
                };
                if !out.send(claimed) {
                    return;
                }
            }
        }
        publisher.flush();
    }
}

/// A publication on its way to Redis.
struct Publication {
    room: String,
    payload: String,
    /// Whether it goes in the room's history list too (a `message`).
    keep: bool,
    /// When the loop handed it over.
    at: Instant,
}

impl Publication {
    /// What it holds, in bytes.
    fn size(&self) -> usize {
        self.room.len() + self.payload.len()
    }
}

/// The publications not in Redis yet, oldest first: those of the round trip under way,
/// and, while Redis is away, what could not be published, kept to publish once it is
/// back. Bounded: past [`BACKLOG`] publications or [`BACKLOG_BYTES`], or older than
/// [`BACKLOG_AGE`], the oldest are dropped.
#[derive(Default)]
struct Backlog {
    entries: VecDeque<Publication>,
    bytes: usize,
}

impl Backlog {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keep `publication` (the newest); how many older ones were dropped to keep within
    /// the bounds.
    fn push(&mut self, publication: Publication) -> usize {
        let now = publication.at;
        self.bytes += publication.size();
        self.entries.push_back(publication);
        self.bound(now)
    }

    /// Drop the oldest publications until the rest are within the bounds at `now`; how
    /// many were dropped.
    fn bound(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        while let Some(oldest) = self.entries.front() {
            let stale = now.saturating_duration_since(oldest.at) > BACKLOG_AGE;
            if !stale && self.entries.len() <= BACKLOG && self.bytes <= BACKLOG_BYTES {
                break;
            }
            self.remove(1);
            dropped += 1;
        }
        dropped
    }

    /// The `n` oldest.
    fn oldest(&self, n: usize) -> impl Iterator<Item = &Publication> {
        self.entries.iter().take(n)
    }

    /// Forget the `n` oldest (published, or dropped).
    fn remove(&mut self, n: usize) {
        for publication in self.entries.drain(..n.min(self.entries.len())) {
            self.bytes -= publication.size();
        }
    }
}

/// Whether `error` is Redis's answer that it will not do what was asked (trying again
/// would not help), rather than Redis not being there to answer.
fn refused(error: &RedisError) -> bool {
    error.kind() != redis::ErrorKind::Io
        && matches!(error.retry_method(), redis::RetryMethod::NoRetry)
}

/// The publisher's connection, made when needed, and what it has to publish.
struct Publisher<'a> {
    client: &'a RedisClient,
    connection: Option<Connection>,
    backoff: Backoff,
    backlog: Backlog,
    /// Publications dropped (past the backlog's bounds, or refused by Redis) since
    /// Redis was last reached.
    dropped: usize,
}

impl Publisher<'_> {
    /// Run `command` on the connection (connecting first if it is time to try). A
    /// connection found dropped (Redis restarted since its last use) is replaced at once,
    /// once, and the command run again. `None` if Redis could not be reached, did not
    /// answer in time, or answered with an error.
    fn run<T>(
        &mut self,
        command: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        self.try_run(command).ok()
    }

    /// [`run`](Self::run), with Redis's error if it answered with one (`Err(None)`:
    /// Redis is away, or it was not yet time to try again).
    fn try_run<T>(
        &mut self,
        mut command: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Option<RedisError>> {
        let mut fresh = false;
        loop {
            if self.connection.is_none() {
                if !fresh && !self.backoff.may_try() {
                    return Err(None);
                }
                match connect(self.client) {
                    Ok(connection) => {
                        let mut note = String::new();
                        if !self.backlog.is_empty() {
                            note =
                                format!("; publishing the {} kept meanwhile", self.backlog.len());
                        }
                        let dropped = std::mem::take(&mut self.dropped);
                        if dropped > 0 {
                            note += &format!("; {dropped} were dropped (too many, or too old)");
                        }
                        self.backoff.connected(&note);
                        self.connection = Some(connection);
                    }
                    Err(e) => {
                        self.backoff.failed(&e);
                        return Err(None);
                    }
                }
                fresh = true;
            }
            let connection = self.connection.as_mut().ok_or(None)?;
            match command(connection) {
                Ok(value) => return Ok(value),
                // The connection is fine: Redis answered.
                Err(e) if refused(&e) => return Err(Some(e)),
                Err(e) => {
                    self.connection = None;
                    if fresh || !e.is_connection_dropped() {
                        self.backoff.failed(&e);
                        return Err(None);
                    }
                    fresh = true; // a stale connection: one more try on a new one
                }
            }
        }
    }

    /// Keep `publication` until [`flush`](Self::flush) publishes it.
    fn push(&mut self, publication: Publication) {
        let dropped = self.backlog.push(publication);
        self.count_dropped(dropped);
    }

    /// Publications that will never be published: counted, and said on the first.
    fn count_dropped(&mut self, dropped: usize) {
        if dropped > 0 && self.dropped == 0 {
            log!(
                err,
                "chat: Redis away too long: the oldest messages not carried yet are dropped (kept: the last {BACKLOG}, {} MiB, {} s)",
                BACKLOG_BYTES >> 20,
                BACKLOG_AGE.as_secs()
            );
        }
        self.dropped += dropped;
    }

    /// Publish the backlog, oldest first, up to [`BATCH`] publications per round trip:
    /// each one `MULTI`/`EXEC` of the pushes onto the lists and the `PUBLISH`es, in
    /// order, then the trimming of the lists pushed to. Stops at the first round trip
    /// that Redis did not take (what it refused is dropped, and counted).
    fn flush(&mut self) {
        loop {
            let stale = self.backlog.bound(Instant::now());
            self.count_dropped(stale);
            if self.backlog.is_empty() {
                return;
            }
            let n = self.backlog.len().min(BATCH);
            let mut pipe = redis::pipe();
            pipe.atomic();
            // The lists pushed to: trimmed, and their expiry pushed back, once per round
            // trip.
            let mut trims: HashSet<(String, usize, i64)> = HashSet::new();
            for publication in self.backlog.oldest(n) {
                let log = log_of(&publication.room);
                pipe.lpush(&log, &publication.payload).ignore();
                trims.insert((log, LOG, LOG_TTL_SECS));
                if publication.keep {
                    let history = history_of(&publication.room);
                    pipe.lpush(&history, &publication.payload).ignore();
                    trims.insert((history, HISTORY, HISTORY_TTL_SECS));
                }
                (pipe.publish(channel_of(&publication.room), &publication.payload)).ignore();
            }
            for (key, length, ttl) in trims {
                pipe.ltrim(&key, 0, length as isize - 1).ignore();
                pipe.expire(&key, ttl).ignore();
            }
            match self.try_run(|c| pipe.exec(c)) {
                Ok(()) => self.backlog.remove(n),
                Err(Some(e)) => {
                    log!(err, "chat: Redis refused {n} publications ({e}); dropped");
                    self.backlog.remove(n);
                    self.dropped += n;
                }
                Err(None) => return,
            }
        }
    }
}

/// The subscriber thread: the `SUBSCRIBE` connection, the rooms it must listen to, and
/// every message to the loop.
fn subscribe_loop(
    client: &RedisClient,
    requests: &Receiver<ToSubscriber>,
    fetches: &SyncSender<ToPublisher>,
    out: &Out,
) {
    let mut rooms: HashSet<String> = HashSet::new();
    let mut backoff = Backoff::new("subscriber");
    // Which connection this is: the loop matches each room's catch-up to the latest.
    let mut generation = 0u64;
    // A room just subscribed to: its history is asked for (after the subscription, so
    // that nothing falls between the two), or, without Redis, an empty answer at once.
    let answer = |room: String, ticket: u64, subscribed: bool| {
        if subscribed {
            let fetch = ToPublisher::Fetch { room, ticket };
            if let Err(mpsc::TrySendError::Full(ToPublisher::Fetch { room, ticket })) =
                fetches.try_send(fetch)
            {
                return out.send(Event::History {
                    room,
                    ticket,
                    entries: None,
                });
            }
            true
        } else {
            out.send(Event::History {
                room,
                ticket,
                entries: None,
            })
        }
    };
    loop {
        // Without Redis: keep track of the rooms (answering at once) until it is time to
        // try again.
        while !backoff.may_try() {
            let wait = backoff.next.saturating_duration_since(Instant::now());
            match requests.recv_timeout(wait) {
                Ok(ToSubscriber::Subscribe { room, ticket }) => {
                    rooms.insert(room.clone());
                    if !answer(room, ticket, false) {
                        return;
                    }
                }
                Ok(ToSubscriber::Unsubscribe { room }) => {
                    rooms.remove(&room);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let mut connection = match connect(client) {
            Ok(connection) => connection,
            Err(e) => {
                backoff.failed(&e);
                continue;
            }
        };
        let mut pubsub = connection.as_pubsub();
        if !rooms.is_empty() {
            let channels: Vec<String> = rooms.iter().map(|room| channel_of(room)).collect();
            if let Err(e) = pubsub.subscribe(&channels) {
                backoff.failed(&e);
                continue;
            }
        }
        backoff.connected(&format!("; listening again to {} rooms", rooms.len()));
        // What was published in those rooms while they were not subscribed to is in
        // their logs: the loop holds what comes live until it has read them.
        generation += 1;
        for room in &rooms {
            let room = room.clone();
            let resubscribed = Event::Resubscribed {
                room: room.clone(),
                generation,
            };
            if !out.send(resubscribed) {
                return;
            }
            let catch_up = ToPublisher::CatchUp { room, generation };
            if let Err(mpsc::TrySendError::Full(ToPublisher::CatchUp { room, generation })) =
                fetches.try_send(catch_up)
            {
                let log = None;
                if !out.send(Event::CaughtUp {
                    room,
                    generation,
                    log,
                }) {
                    return;
                }
            }
        }
        let mut ticking = false;
        // Connected: subscribe and unsubscribe as asked, and pass messages on.
        let error = 'connected: loop {
            loop {
                let request = match requests.try_recv() {
                    Ok(request) => request,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                };
                if ticking {
                    // Commands wait for their answer as long as any command may.
                    if let Err(e) = pubsub.set_read_timeout(Some(COMMAND_TIMEOUT)) {
                        break 'connected e;
                    }
                    ticking = false;
                }
                match request {
                    ToSubscriber::Subscribe { room, ticket } => {
                        rooms.insert(room.clone());
                        let result = pubsub.subscribe(channel_of(&room));
                        if !answer(room, ticket, result.is_ok()) {
                            return;
                        }
                        if let Err(e) = result {
                            break 'connected e;
                        }
                    }
                    ToSubscriber::Unsubscribe { room } => {
                        rooms.remove(&room);
                        if let Err(e) = pubsub.unsubscribe(channel_of(&room)) {
                            break 'connected e;
                        }
                    }
                }
            }
            if !ticking {
                if let Err(e) = pubsub.set_read_timeout(Some(SUBSCRIBER_TICK)) {
                    break 'connected e;
                }
                ticking = true;
            }
            match pubsub.get_message() {
                Ok(message) => {
                    let room = message.get_channel_name();
                    let Some(room) = room.strip_prefix("sockless:room:") else {
                        continue;
                    };
                    // (Not UTF-8: not the chat's; the loop skips it, and counts it.)
                    let payload = String::from_utf8_lossy(message.get_payload_bytes());
                    let event = Event::Message {
                        room: room.into(),
                        payload: payload.into_owned(),
                    };
                    if !out.send(event) {
                        return;
                    }
                }
                // Nothing within the tick: look for new rooms again.
                Err(e) if e.is_timeout() => {}
                Err(e) => break 'connected e,
            }
        };
        backoff.failed(&error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_anything_else_is_ignored() {
        let envelope = Envelope {
            origin: 0xdead_beef_0123,
            seq: 42,
            message: true,
            json: r#"{"type":"message","name":"a b","text":"x y"}"#,
        };
        let payload = envelope.encode();
        assert_eq!(Envelope::decode(&payload), Some(envelope));
        let notice = Envelope {
            message: false,
            json: r#"{"type":"joined","name":"a"}"#,
            ..envelope
        };
        assert_eq!(Envelope::decode(&notice.encode()), Some(notice));
        let others = [
            "",
            "hello",
            "1:2 m",
            "zz:1 m {}",
            "1:x m {}",
            "1:2 q {}",
            "1:2 m {",
        ];
        for other in others
            .into_iter()
            .chain(["1:2 n not json", "1:2 m {} trailing"])
        {
            assert_eq!(Envelope::decode(other), None, "{other:?}");
        }
    }

    /// Publication number `n`, of `bytes` bytes more, made `at`.
    fn publication(n: usize, bytes: usize, at: Instant) -> Publication {
        Publication {
            room: "r".into(),
            payload: format!("{n} {}", "x".repeat(bytes)),
            keep: true,
            at,
        }
    }

    /// The numbers of what `backlog` holds, oldest first.
    fn numbers(backlog: &Backlog) -> Vec<usize> {
        (backlog.oldest(usize::MAX))
            .map(|p| p.payload.split(' ').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn the_backlog_keeps_the_newest_in_order_within_its_count() {
        let now = Instant::now();
        let mut backlog = Backlog::default();
        let dropped: usize = (0..BACKLOG + 10)
            .map(|n| backlog.push(publication(n, 0, now)))
            .sum();
        assert_eq!(dropped, 10);
        assert_eq!(numbers(&backlog), (10..BACKLOG + 10).collect::<Vec<_>>());
        // What is published leaves it, oldest first, and its bytes with it.
        backlog.remove(BACKLOG - 1);
        assert_eq!(numbers(&backlog), [BACKLOG + 9]);
        backlog.remove(5);
        assert!(backlog.is_empty());
        assert_eq!(backlog.bytes, 0);
    }

    #[test]
    fn the_backlog_keeps_within_its_bytes() {
        let now = Instant::now();
        let mut backlog = Backlog::default();
        // Each 1 MiB and 3 bytes: 7 fit in 8 MiB, not 8.
        let dropped: usize = (0..10)
            .map(|n| backlog.push(publication(n, 1 << 20, now)))
            .sum();
        assert_eq!(BACKLOG_BYTES, 8 << 20);
        assert_eq!(dropped, 3);
        assert_eq!(numbers(&backlog), (3..10).collect::<Vec<_>>());
        assert_eq!(backlog.bytes, 7 * ((1 << 20) + 3));
    }

    #[test]
    fn the_backlog_forgets_what_is_older_than_the_log_keeps() {
        let then = Instant::now();
        let mut backlog = Backlog::default();
        backlog.push(publication(0, 0, then));
        backlog.push(publication(1, 0, then + BACKLOG_AGE / 2));
        assert_eq!(backlog.bound(then + BACKLOG_AGE), 0);
        assert_eq!(
            backlog.bound(then + BACKLOG_AGE + Duration::from_millis(1)),
            1
        );
        assert_eq!(numbers(&backlog), [1]);
        // A push is bounded too: the newest stays, whatever the age of the rest.
        let later = then + 3 * BACKLOG_AGE;
        assert_eq!(backlog.push(publication(2, 0, later)), 1);
        assert_eq!(numbers(&backlog), [2]);
    }

    #[test]
    fn a_room_delivers_each_publication_once_whatever_the_gaps_and_restarts() {
        let mut heard = Heard::default();
        let (a, b, a_restarted) = (0xa, 0xb, 0xa2);
        assert!(heard.first_time((a, 1)));
        assert!(heard.first_time((a, 2)));
        // Again (from the room's log, after it came live): not new.
        assert!(!heard.first_time((a, 2)));
        assert!(!heard.first_time((a, 1)));
        // Another process numbers its own.
        assert!(heard.first_time((b, 1)));
        assert!(!heard.first_time((b, 1)));
        // A gap (publications dropped on the way): what follows is new.
        assert!(heard.first_time((a, 7)));
        assert!(!heard.first_time((a, 7)));
        assert!(heard.first_time((a, 8)));
        // A process that restarted has another origin, and numbers from 1 again.
        assert!(heard.first_time((a_restarted, 1)));
        assert!(heard.first_time((a_restarted, 2)));
        assert!(heard.first_time((b, 2)));
    }

    #[test]
    fn only_answers_refusing_the_command_are_refusals() {
        let wrong_type = RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "WRONGTYPE",
        ));
        assert!(refused(&wrong_type));
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(!refused(&reset));
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(!refused(&timeout));
    }

    #[test]
    fn name_keys_tell_rooms_and_names_apart() {
        assert_eq!(name_of("lobby", "ann"), "sockless:name:5:lobby:ann");
        assert_ne!(name_of("a:b", "c"), name_of("a", "b:c"));
        assert_ne!(name_of("a", ""), name_of("", "a"));
    }

    #[test]
    fn a_bad_url_is_refused_with_its_reason() {
        let poll = mio::Poll::new().unwrap();
        let error = Broker::start("http://nowhere", poll.registry(), Token(0))
            .err()
            .expect("not a redis URL");
        assert!(error.starts_with("--redis http://nowhere: "), "{error}");
    }
}
