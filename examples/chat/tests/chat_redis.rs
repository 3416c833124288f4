//! The chat as several processes sharing rooms through Redis (`--redis`): a real
//! `redis-server` on a free loopback port (no persistence), two chat processes, and
//! tungstenite clients, one on each process.
//!
//! Needs `redis-server` on the PATH (Debian: `apt-get install redis-server`). Without it
//! the tests say so and pass, unless `SOCKLESS_REDIS=require` (CI), when they fail.
//! The chat binary is the one cargo builds for this package's tests (`CARGO_BIN_EXE_chat`).

mod common;
use common::Client;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

/// How long any one expected message may take.
const WAIT: Duration = Duration::from_secs(10);

/// A `redis-server` of our own, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// A server on a free port, or `None` (after saying why) if there is no
    /// `redis-server` and `SOCKLESS_REDIS` is not `require`.
    fn start() -> Option<Redis> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            let required = std::env::var("SOCKLESS_REDIS").is_ok_and(|v| v == "require");
            assert!(
                !required,
                "redis-server not found and SOCKLESS_REDIS=require (apt-get install redis-server)"
            );
            // Straight to stderr: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "SKIP: redis-server not found (apt-get install redis-server)"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Redis::on(port))
    }

    /// A server on `port`, ready to answer (within 10 s).
    fn on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut redis = Redis { child, port };
        let deadline = Instant::now() + WAIT;
        while !redis.answers() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// Whether it answers PING.
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kill it and wait until it is gone.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A chat process, stopped when dropped; what it says on stderr is kept.
struct Chat {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Chat {
    fn start(addr: &str, redis: &Redis) -> Chat {
        let binary = env!("CARGO_BIN_EXE_chat");
        let mut child = Command::new(binary)
            .args([addr, "--redis", &redis.url()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // "chat: open http://127.0.0.1:PORT/"
        let addr = line
            .trim()
            .trim_start_matches("chat: open http://")
            .trim_end_matches('/')
            .to_string();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "unexpected first line {line:?}"
        );
        // Keep reading both outputs, so that the chat never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let log = Arc::new(Mutex::new(String::new()));
        let (mut stderr, into) = (BufReader::new(child.stderr.take().unwrap()), log.clone());
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                into.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Chat { child, addr, log }
    }

    fn connect(&self) -> Client {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let url = format!("ws://{}/chat", self.addr);
        let (ws, _) = tungstenite::client(url, stream).unwrap();
        Client { ws }
    }

    /// Wait (within 10 s) until the chat logged a line containing `text`.
    fn logs(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.log.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the chat did not log {text:?}; it logged:\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait (within 10 s) until the chat logged `text` at least `times` times.
    fn logs_times(&self, text: &str, times: usize) {
        let deadline = Instant::now() + WAIT;
        while self.log.lock().unwrap().matches(text).count() < times {
            assert!(
                Instant::now() < deadline,
                "the chat did not log {text:?} {times} times; it logged:\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|status| status.is_none())
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Client {
    /// The next JSON message, or `None` if none came within `wait`.
    fn within(&mut self, wait: Duration) -> Option<Value> {
        self.ws.get_ref().set_read_timeout(Some(wait)).unwrap();
        let result = loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => break Some(serde_json::from_str(&text).unwrap()),
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(other) => panic!("expected a text message, got {other:?}"),
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break None;
                }
                Err(e) => panic!("reading: {e}"),
            }
        };
        self.ws.get_ref().set_read_timeout(Some(WAIT)).unwrap();
        result
    }

    /// The next JSON message (within 10 s).
    fn next(&mut self) -> Value {
        self.within(WAIT).expect("no message within 10 s")
    }

    /// The next message must be `text` said by `name`.
    fn hears(&mut self, name: &str, text: &str) {
        let message = self.next();
        assert_eq!(
            (&message["type"], &message["name"], &message["text"]),
            (&json!("message"), &json!(name), &json!(text)),
            "{message}"
        );
    }

    /// The answer to a join: its joined notice (after the room's history) or an error.
    fn answer_to_join(&mut self) -> Value {
        loop {
            let message = self.next();
            if message["type"] != "message" {
                return message;
            }
        }
    }

    /// Nothing more comes within `wait`.
    fn hears_nothing(&mut self, wait: Duration) {
        if let Some(message) = self.within(wait) {
            panic!("unexpected {message}");
        }
    }
}

#[test]
fn two_processes_share_a_room_messages_notices_and_history() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    assert_ne!(a.addr, b.addr);

    let mut ann = a.connect();
    ann.join("ann", "lobby");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "ann"}));
    ann.say("said before bob came");
    ann.hears("ann", "said before bob came");

    // Bob, on the other process, gets the room's history from Redis, then his joined;
    // ann hears of him.
    let mut bob = b.connect();
    bob.join("bob", "lobby");
    bob.hears("ann", "said before bob came");
    assert_eq!(bob.next(), json!({"type": "joined", "name": "bob"}));
    assert_eq!(ann.next(), json!({"type": "joined", "name": "bob"}));

    // Both ways, each message once, to both.
    ann.say("hello from a ✓");
    ann.hears("ann", "hello from a ✓");
    bob.hears("ann", "hello from a ✓");
    bob.say("hello from b");
    bob.hears("bob", "hello from b");
    ann.hears("bob", "hello from b");

    // A room of the same name is the same room everywhere; another room is not.
    let mut eve = b.connect();
    eve.join("eve", "elsewhere");
    assert_eq!(eve.next()["name"], "eve");

    // A newcomer on the first process gets the history too, with bob's message in it.
    let mut cid = a.connect();
    cid.join("cid", "lobby");
    for (name, text) in [
        ("ann", "said before bob came"),
        ("ann", "hello from a ✓"),
        ("bob", "hello from b"),
    ] {
        cid.hears(name, text);
    }
    assert_eq!(cid.next(), json!({"type": "joined", "name": "cid"}));
    assert_eq!(ann.next(), json!({"type": "joined", "name": "cid"}));
    assert_eq!(bob.next(), json!({"type": "joined", "name": "cid"}));

    // Bob leaves: the first process's members see it.
    bob.ws.close(None).unwrap();
    assert_eq!(ann.next(), json!({"type": "left", "name": "bob"}));
    assert_eq!(cid.next(), json!({"type": "left", "name": "bob"}));
    // Nothing was delivered twice, and eve heard nothing of the lobby.
    ann.hears_nothing(Duration::from_millis(300));
    cid.hears_nothing(Duration::from_millis(10));
    eve.hears_nothing(Duration::from_millis(10));
}

#[test]
fn a_redis_restart_is_survived() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let mut a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join("ann", "lobby");
    assert_eq!(ann.next()["type"], "joined");
    let mut bob = b.connect();
    bob.join("bob", "lobby");
    assert_eq!(bob.next()["type"], "joined");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "bob"}));

    // Redis goes away: the chats say so, and a process's own rooms go on.
    redis.stop();
    let mut amy = a.connect();
    amy.join("amy", "lobby");
    assert_eq!(amy.next(), json!({"type": "joined", "name": "amy"}));
    assert_eq!(ann.next(), json!({"type": "joined", "name": "amy"}));
    ann.say("local while Redis is away");
    ann.hears("ann", "local while Redis is away");
    amy.hears("ann", "local while Redis is away");
    a.logs("Redis unreachable");
    assert!(a.is_running());

    // Redis is back on the same port. Within a bounded time (the chats retry every 5 s
    // at most), bob, on the other process, hears what was said in his room while Redis
    // was away, once each and in order, with nothing new said: the first process kept
    // it and publishes it on reconnecting.
    let port = redis.port;
    drop(redis);
    let _redis = Redis::on(port);
    let first = bob
        .within(Duration::from_secs(15))
        .expect("bob heard nothing 15 s after Redis came back");
    assert_eq!(first, json!({"type": "joined", "name": "amy"}));
    bob.hears("ann", "local while Redis is away");
    a.logs("Redis back (publisher); publishing the 2 kept meanwhile");
    // From then on, every message arrives, both ways, once.
    bob.say("and back");
    bob.hears("bob", "and back");
    for client in [&mut ann, &mut amy] {
        client.hears("bob", "and back");
    }
    ann.say("after");
    for client in [&mut ann, &mut amy, &mut bob] {
        client.hears("ann", "after");
    }
    bob.hears_nothing(Duration::from_millis(500));
    ann.hears_nothing(Duration::from_millis(10));
    amy.hears_nothing(Duration::from_millis(10));
}

/// Close every pub/sub connection Redis has (the subscribers of all the chat processes);
/// how many it closed.
fn kill_subscriptions(redis: &Redis) -> usize {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_connection_with_timeout(WAIT).unwrap();
    connection.set_read_timeout(Some(WAIT)).unwrap();
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut connection)
        .unwrap()
}

/// Read `client`'s messages until `name` says `end`: the texts `name` said before it, in
/// the order heard (what others said is skipped).
fn texts_of(client: &mut Client, name: &str, end: &str) -> Vec<String> {
    let mut heard = Vec::new();
    loop {
        let message = client.next();
        if message["type"] != "message" || message["name"] != name {
            continue;
        }
        let text = message["text"].as_str().unwrap().to_string();
        if text == end {
            return heard;
        }
        heard.push(text);
    }
}

/// Read `client`'s messages until both ann and bob said "end": what each said before, in
/// the order heard. A client's own messages reach it through its own process and the
/// other's through Redis, so the two interleave as they may; each sender's must come in
/// order, and nothing from a sender after its "end".
fn texts_until_both_end(client: &mut Client) -> (Vec<String>, Vec<String>) {
    let mut heard = [(Vec::new(), false), (Vec::new(), false)];
    while !(heard[0].1 && heard[1].1) {
        let message = client.next();
        let side = match (&message["type"], message["name"].as_str()) {
            (kind, Some("ann")) if kind == "message" => 0,
            (kind, Some("bob")) if kind == "message" => 1,
            _ => continue,
        };
        let (texts, ended) = &mut heard[side];
        assert!(!*ended, "after the sender's end: {message}");
        match message["text"].as_str().unwrap() {
            "end" => *ended = true,
            text => texts.push(text.to_string()),
        }
    }
    let [(ann, _), (bob, _)] = heard;
    (ann, bob)
}

#[test]
fn dropped_subscriptions_miss_nothing_and_deliver_nothing_twice() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join("ann", "kill");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "ann"}));
    let mut bob = b.connect();
    bob.join("bob", "kill");
    assert_eq!(bob.next(), json!({"type": "joined", "name": "bob"}));
    assert_eq!(ann.next(), json!({"type": "joined", "name": "bob"}));
    bob_and_ann_talk(&mut ann, &mut bob);

    // Both keep talking while Redis closes the subscriptions of both processes, twice:
    // what is published before each process subscribes again reaches it through the
    // room's log.
    let mut expected = Vec::new();
    let mut n = 0;
    let mut say = |ann: &mut Client, bob: &mut Client, count: usize| {
        for _ in 0..count {
            let text = n.to_string();
            ann.say(&format!("a{text}"));
            bob.say(&format!("b{text}"));
            expected.push(text);
            n += 1;
        }
    };
    for round in 1..=2 {
        say(&mut ann, &mut bob, 20);
        let killed = kill_subscriptions(&redis);
        assert!(killed >= 2, "closed {killed} subscriptions");
        say(&mut ann, &mut bob, 40);
        for chat in [&a, &b] {
            chat.logs_times("Redis back (subscriber)", round);
        }
    }
    say(&mut ann, &mut bob, 20);
    ann.say("end");
    bob.say("end");
    let from = |side: char| {
        expected
            .iter()
            .map(|n| format!("{side}{n}"))
            .collect::<Vec<_>>()
    };
    // Each hears both sides whole, once each, in order; nothing comes twice later.
    for client in [&mut ann, &mut bob] {
        assert_eq!(texts_until_both_end(client), (from('a'), from('b')));
        if let Some(message) = client.within(Duration::from_millis(300)) {
            panic!("after both ends: {message}");
        }
    }
}

#[test]
fn processes_share_one_port_and_its_clients_one_room() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    // The same port: SO_REUSEPORT. The kernel spreads the connections between the two.
    let b = Chat::start(&a.addr, &redis);
    assert_eq!(a.addr, b.addr);
    let names: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let mut clients: Vec<Client> = names
        .iter()
        .map(|name| {
            let mut client = a.connect();
            client.join(name, "hall");
            client
        })
        .collect();
    // Let every process subscribe before anyone speaks.
    std::thread::sleep(Duration::from_millis(300));
    for (client, name) in clients.iter_mut().zip(&names) {
        client.say(&format!("hi from {name}"));
    }
    for client in &mut clients {
        let mut heard = Vec::new();
        while heard.len() < names.len() {
            let message = client.next();
            if message["type"] == "message" {
                heard.push(message["text"].as_str().unwrap().to_string());
            }
        }
        heard.sort();
        let mut expected: Vec<String> = names.iter().map(|n| format!("hi from {n}")).collect();
        expected.sort();
        assert_eq!(heard, expected);
    }
}

#[test]
fn a_newcomer_while_messages_flow_gets_each_once_in_order() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join("ann", "busy");
    assert_eq!(ann.next()["type"], "joined");
    for i in 0..100 {
        ann.say(&i.to_string());
    }
    for i in 0..100 {
        ann.hears("ann", &i.to_string());
    }
    // Time for the first process to hand them to Redis (it does so after delivering).
    std::thread::sleep(Duration::from_millis(200));
    // Bob's room opens in the second process; once ann hears of him, she streams 100
    // more while the second process is still subscribing and reading the room's lists:
    // some reach bob from the room's log in Redis, some live, some both ways at once.
    let mut bob = b.connect();
    bob.join("bob", "busy");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "bob"}));
    for i in 100..200 {
        ann.say(&i.to_string());
    }
    ann.say("end");
    // The last 50 said before he came (the history), his joined, then every one said
    // after, once each and in order: as in a room of one process.
    let mut heard = Vec::new();
    loop {
        let message = bob.next();
        let text = match message["type"].as_str() {
            Some("message") => message["text"].as_str().unwrap().to_string(),
            _ => message["type"].as_str().unwrap().to_string(),
        };
        if text == "end" {
            break;
        }
        heard.push(text);
    }
    let mut expected: Vec<String> = (50..100).map(|i| i.to_string()).collect();
    expected.push("joined".into());
    expected.extend((100..200).map(|i| i.to_string()));
    assert_eq!(heard, expected);
}

#[test]
fn a_name_is_taken_across_processes_until_its_member_leaves() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join_session("ann", "names", "ann's session");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "ann"}));

    // On the other process, "Ann" is the same name in the same room: refused, and the
    // connection stays usable for another.
    let mut second = b.connect();
    second.join("Ann", "names");
    let refused = second.next();
    assert_eq!(
        (&refused["type"], &refused["code"], &refused["name"]),
        (&json!("error"), &json!("name_taken"), &json!("Ann")),
        "{refused}"
    );
    second.join("bob", "names");
    assert_eq!(second.next(), json!({"type": "joined", "name": "bob"}));
    assert_eq!(ann.next(), json!({"type": "joined", "name": "bob"}));
    bob_and_ann_talk(&mut ann, &mut second);

    // In another room the name is free, on either process.
    let mut elsewhere = b.connect();
    elsewhere.join("ann", "other room");
    assert_eq!(elsewhere.next(), json!({"type": "joined", "name": "ann"}));

    // Two at once on the two processes: exactly one gets the name.
    let (mut x, mut y) = (a.connect(), b.connect());
    x.join("zed", "names");
    y.join("zed", "names");
    // (The winner first gets the room's history.)
    let answers = [x.answer_to_join(), y.answer_to_join()];
    let joined = answers.iter().filter(|m| m["type"] == "joined").count();
    let taken = answers.iter().filter(|m| m["code"] == "name_taken").count();
    assert_eq!((joined, taken), (1, 1), "{answers:?}");

    // Ann leaves: once bob hears it, her name is free on his process too.
    ann.ws.close(None).unwrap();
    let left = loop {
        let message = second.next();
        if message["type"] == "left" && message["name"] == "ann" {
            break message;
        }
    };
    assert_eq!(left, json!({"type": "left", "name": "ann"}));
    let mut again = b.connect();
    again.join("ANN", "names");
    assert_eq!(
        again.answer_to_join(),
        json!({"type": "joined", "name": "ANN"})
    );
}

#[test]
fn a_client_back_through_another_process_takes_its_name_over() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    // Ann on the first process; its old connection is still there (a network that
    // dropped it without a word) when she comes back through the second.
    let mut old = a.connect();
    old.join_session("ann", "back", "ann's session");
    assert_eq!(old.next(), json!({"type": "joined", "name": "ann"}));
    let mut other = b.connect();
    other.join_session("ann", "back", "someone else");
    assert_eq!(other.next()["code"], "name_taken");
    let mut back = b.connect();
    back.join_session("ann", "back", "ann's session");
    assert_eq!(back.next(), json!({"type": "joined", "name": "ann"}));
}

/// One message each way between two members of one room, on two processes.
fn bob_and_ann_talk(ann: &mut Client, bob: &mut Client) {
    ann.say("hi bob");
    ann.hears("ann", "hi bob");
    bob.hears("ann", "hi bob");
    bob.say("hi ann");
    bob.hears("bob", "hi ann");
    ann.hears("bob", "hi ann");
}

#[test]
fn names_stay_taken_while_held_and_come_free_when_their_process_dies() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    let d = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join("ann", "lease");
    assert_eq!(ann.answer_to_join()["type"], "joined");
    let mut dan = d.connect();
    dan.join("dan", "lease");
    assert_eq!(dan.answer_to_join()["type"], "joined");
    let asked_for = |name: &str| {
        let mut client = b.connect();
        client.join(name, "lease");
        client.answer_to_join()
    };
    // Dan's process dies without a word (SIGKILL): his name stays taken until its lease
    // (20 s) runs out, then comes free. The process goes first: were dan's connection
    // closed before, his process could see him leave and give the name back, as it should.
    drop(d);
    drop(dan);
    let killed = Instant::now();
    let answer = asked_for("dan");
    assert_eq!(answer["code"], "name_taken", "{answer}");
    let freed = loop {
        let answer = asked_for("dan");
        if answer["type"] == "joined" {
            break killed.elapsed();
        }
        assert_eq!(answer["code"], "name_taken", "{answer}");
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "dan's name still taken 30 s after his process died"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(freed > Duration::from_secs(10), "freed after {freed:?}");
    let _ = writeln!(
        std::io::stderr(),
        "dan's name came free {freed:?} after his process died"
    );
    // Ann's process renews her name: more than a lease after she joined, it is hers.
    assert_eq!(asked_for("ann")["code"], "name_taken");
    // She heard dan come twice (his first process never said he left), and the second
    // leave (the client that got the name closed), and is still served.
    let heard: Vec<Value> = (0..3).map(|_| ann.next()).collect();
    let joined = json!({"type": "joined", "name": "dan"});
    let left = json!({"type": "left", "name": "dan"});
    assert_eq!(heard, [joined.clone(), joined, left]);
    ann.say("still here");
    ann.hears("ann", "still here");
}

#[test]
fn what_redis_refuses_is_dropped_once_and_the_rest_goes_on() {
    let Some(redis) = Redis::start() else { return };
    // The room's log is not a list (another program wrote it): Redis refuses the pushes
    // onto it, every time.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_connection_with_timeout(WAIT).unwrap();
    connection.set_read_timeout(Some(WAIT)).unwrap();
    redis::cmd("SET")
        .arg("sockless:log:spoilt")
        .arg("not a list")
        .exec(&mut connection)
        .unwrap();
    let mut a = Chat::start("127.0.0.1:0", &redis);
    let mut b = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join("ann", "spoilt");
    assert_eq!(ann.answer_to_join()["type"], "joined");
    let mut bob = b.connect();
    bob.join("bob", "spoilt");
    assert_eq!(bob.answer_to_join()["type"], "joined");
    // (Ann hears bob come or not, depending on what Redis made of the transaction.)
    for text in ["one", "two"] {
        ann.say(text);
    }
    assert_eq!(texts_of(&mut ann, "ann", "two"), ["one"]);
    a.logs("Redis refused");
    // Not published again and again: the room is still served, and other rooms are
    // carried across.
    let mut cid = a.connect();
    cid.join("cid", "fine");
    assert_eq!(cid.answer_to_join()["type"], "joined");
    let mut dan = b.connect();
    dan.join("dan", "fine");
    assert_eq!(dan.answer_to_join()["type"], "joined");
    assert_eq!(cid.next(), json!({"type": "joined", "name": "dan"}));
    cid.say("still carried");
    dan.hears("cid", "still carried");
    ann.say("three");
    ann.hears("ann", "three");
    assert!(a.is_running() && b.is_running());
    // Whatever bob got of the spoilt room (Redis makes the rest of a transaction it
    // refused part of), he got it once each, in order.
    let mut heard = Vec::new();
    while let Some(message) = bob.within(Duration::from_millis(300)) {
        if message["type"] == "message" {
            heard.push(message["text"].as_str().unwrap().to_string());
        }
    }
    let said = ["one", "two", "three"];
    let mut in_order = said.iter().filter(|&&t| heard.iter().any(|h| h == t));
    assert!(
        heard.iter().all(|h| in_order.next() == Some(&h.as_str())),
        "{heard:?}"
    );
}

#[test]
fn a_restarted_process_is_heard_again_and_the_old_one_not_twice() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let b = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join_session("ann", "again", "ann's session");
    assert_eq!(ann.answer_to_join()["type"], "joined");
    let mut bob = b.connect();
    bob.join("bob", "again");
    assert_eq!(bob.answer_to_join()["type"], "joined");
    for i in 0..5 {
        ann.say(&format!("first life {i}"));
    }
    ann.say("end");
    let first: Vec<String> = (0..5).map(|i| format!("first life {i}")).collect();
    assert_eq!(texts_of(&mut bob, "ann", "end"), first);
    // The first process dies (its sequence numbers start again from 1 in the next), and
    // ann comes back through a new one (taking her name back with her session), which
    // speaks while the second process's subscription is down, so the second
    // finds in the room's log the old process's messages (delivered) and the new one's
    // (not yet).
    drop(a); // SIGKILL: no left notice
    drop(ann);
    let a = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join_session("ann", "again", "ann's session");
    assert_eq!(ann.answer_to_join()["type"], "joined");
    let killed = kill_subscriptions(&redis);
    assert!(killed >= 2, "closed {killed} subscriptions");
    let second: Vec<String> = (0..5).map(|i| format!("second life {i}")).collect();
    for text in &second {
        ann.say(text);
    }
    b.logs_times("Redis back (subscriber)", 1);
    ann.say("end");
    let mut heard = Vec::new();
    loop {
        let message = bob.next();
        if message["type"] == "message" && message["text"] == "end" {
            break;
        }
        heard.push(message);
    }
    let mut expected = vec![json!({"type": "joined", "name": "ann"})];
    expected.extend(second.iter().map(|text| json!(text)));
    let heard: Vec<Value> = (heard.into_iter())
        .map(|m| {
            if m["type"] == "message" {
                m["text"].clone()
            } else {
                m
            }
        })
        .collect();
    // (The first process died without a word: no left notice.)
    assert_eq!(heard, expected);
    bob.hears_nothing(Duration::from_millis(300));
}

#[test]
fn what_is_not_the_chats_on_a_channel_or_in_a_log_is_skipped_and_counted() {
    let Some(redis) = Redis::start() else { return };
    let a = Chat::start("127.0.0.1:0", &redis);
    let mut b = Chat::start("127.0.0.1:0", &redis);
    let mut ann = a.connect();
    ann.join("ann", "junk");
    assert_eq!(ann.answer_to_join()["type"], "joined");
    let mut bob = b.connect();
    bob.join("bob", "junk");
    assert_eq!(bob.answer_to_join()["type"], "joined");
    assert_eq!(ann.next(), json!({"type": "joined", "name": "bob"}));
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_connection_with_timeout(WAIT).unwrap();
    connection.set_read_timeout(Some(WAIT)).unwrap();
    let junk: [&[u8]; 5] = [
        b"hello",
        b"1:2 m not json",
        b"1:3 q {}",
        b"ff:1 m {\"type\":",
        b"\xff\xfe 1:4 m {}",
    ];
    // Live, and in the room's log for the catch-up after the subscriptions drop.
    for payload in junk {
        redis::cmd("PUBLISH")
            .arg("sockless:room:junk")
            .arg(payload)
            .exec(&mut connection)
            .unwrap();
        redis::cmd("LPUSH")
            .arg("sockless:log:junk")
            .arg(payload)
            .exec(&mut connection)
            .unwrap();
    }
    b.logs("payloads from Redis were not the chat's (skipped)");
    assert!(kill_subscriptions(&redis) >= 2);
    b.logs_times("Redis back (subscriber)", 1);
    ann.say("still fine");
    bob.hears("ann", "still fine");
    bob.say("and here");
    bob.hears("bob", "and here");
    ann.hears("ann", "still fine");
    ann.hears("bob", "and here");
    bob.hears_nothing(Duration::from_millis(300));
    assert!(b.is_running());
}
