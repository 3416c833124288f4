//! Transcript tests of the state machine: a client and a server driven against each other
//! in memory with a simulated clock, step by step. After every step the transcript records
//! the events, the outcome, the frames written (opcode, FIN, close code), and for both
//! roles `state()`, `should_close_transport()` and `poll_timeout()`. Each test compares the
//! whole transcript with one `assert_eq!`, so that a change in any step shows.

mod common;
use common::*;

use sockless::{
    Client, ClientRequest, CloseCode, Config, Duration, Endpoint, Error, MessageKind,
    ProtocolError, Server, State, TimedOut, UsageError,
};

/// A frame or HTTP head seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Wire {
    /// The first line of an HTTP head.
    Http(String),
    Text {
        fin: bool,
    },
    Binary {
        fin: bool,
    },
    Continuation {
        fin: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
    /// A reserved opcode (only in frames made by hand).
    Reserved(u8),
}

/// What one endpoint looks like after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snap {
    state: State,
    close_transport: bool,
    /// `poll_timeout()`, in milliseconds of the simulated clock.
    timeout: Option<u64>,
}

const fn snap(state: State, close_transport: bool, timeout: Option<u64>) -> Snap {
    Snap {
        state,
        close_transport,
        timeout,
    }
}

/// The handshake deadline (`Config::handshake_timeout`, 10 s by default) runs from the
/// endpoint's creation at 0 until the handshake is done.
const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
const CONNECTING: Snap = snap(State::Connecting, false, Some(HANDSHAKE_TIMEOUT_MS));
const OPEN: Snap = snap(State::Open, false, None);
/// Failed, or Closed after a failure: the transport is to be closed at once.
const CLOSED_DONE: Snap = snap(State::Closed, true, None);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Step {
    what: &'static str,
    events: Vec<Ev>,
    outcome: Result<(), Error>,
    wire: Vec<Wire>,
    client: Snap,
    server: Snap,
}

fn step(
    what: &'static str,
    events: Vec<Ev>,
    outcome: Result<(), Error>,
    wire: Vec<Wire>,
    client: Snap,
    server: Snap,
) -> Step {
    Step {
        what,
        events,
        outcome,
        wire,
        client,
        server,
    }
}

/// A step that reports no event and succeeds: only what it wrote and the states after it.
fn writes(what: &'static str, wire: Vec<Wire>, client: Snap, server: Snap) -> Step {
    step(what, vec![], Ok(()), wire, client, server)
}

/// A step that reports no event, succeeds and writes nothing.
fn quiet(what: &'static str, client: Snap, server: Snap) -> Step {
    writes(what, vec![], client, server)
}

/// Decode what was written: an HTTP head (its first line) and/or frames. `masked` says
/// whether frames must be masked (sent by a client); `None` for hand-made frames.
fn decode(bytes: &[u8], masked: Option<bool>) -> Vec<Wire> {
    let mut wire = Vec::new();
    let mut frames = bytes;
    if bytes.starts_with(b"GET ") || bytes.starts_with(b"HTTP/") {
        let text = std::str::from_utf8(bytes).unwrap();
        let end = text.find("\r\n\r\n").expect("whole head") + 4;
        wire.push(Wire::Http(text.lines().next().unwrap().to_string()));
        frames = &bytes[end..];
    }
    for frame in wire_frames(frames) {
        assert_eq!(frame.rsv, 0);
        assert!(frame.minimal);
        if let Some(masked) = masked {
            assert_eq!(frame.masked, masked, "masked iff sent by the client");
        }
        let fin = frame.fin;
        wire.push(match frame.opcode {
            0x0 => Wire::Continuation { fin },
            0x1 => Wire::Text { fin },
            0x2 => Wire::Binary { fin },
            0x8 => Wire::Close(
                (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]])),
            ),
            0x9 => Wire::Ping(frame.payload),
            0xA => Wire::Pong(frame.payload),
            other => Wire::Reserved(other),
        });
    }
    wire
}

/// The outcome of `handle_timeout`: the deadline that ended the connection, if one did.
fn timed_out(outcome: Option<TimedOut>) -> Result<(), Error> {
    outcome.map_or(Ok(()), |deadline| Err(deadline.into()))
}

fn snapshot(endpoint: &impl Endpoint) -> Snap {
    Snap {
        state: endpoint.state(),
        close_transport: endpoint.should_close_transport(),
        timeout: endpoint
            .poll_timeout()
            .map(|t| t.elapsed_since_epoch().as_millis() as u64),
    }
}

/// A client and a server connected in memory, with the bytes in flight each way.
struct Session {
    client: Client<'static, TestRng>,
    server: Server,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    steps: Vec<Step>,
}

const CLOSE_TIMEOUT_MS: u64 = 1000;

fn config() -> Config {
    Config::default().with_close_timeout(Duration::from_millis(CLOSE_TIMEOUT_MS))
}

impl Session {
    fn new() -> Self {
        let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
        Session {
            client: Client::new(request, config(), rng(), at(0)).unwrap(),
            server: Server::new(config(), at(0)),
            to_server: Vec::new(),
            to_client: Vec::new(),
            steps: Vec::new(),
        }
    }

    fn record(
        &mut self,
        what: &'static str,
        events: Vec<Ev>,
        outcome: Result<(), Error>,
        wire: Vec<Wire>,
    ) {
        let client = snapshot(&self.client);
        let server = snapshot(&self.server);
        self.steps
            .push(step(what, events, outcome, wire, client, server));
    }

    /// A command of the client that writes into a buffer.
    fn client_does<E: Into<Error>>(
        &mut self,
        what: &'static str,
        command: impl FnOnce(&mut Client<'static, TestRng>, &mut [u8]) -> Result<usize, E>,
    ) {
        let mut out = [0u8; 1024];
        let result = command(&mut self.client, &mut out).map_err(Into::into);
        let n = *result.as_ref().unwrap_or(&0);
        self.to_server.extend_from_slice(&out[..n]);
        self.record(
            what,
            Vec::new(),
            result.map(drop),
            decode(&out[..n], Some(true)),
        );
    }

    /// A command of the server that writes into a buffer.
    fn server_does<E: Into<Error>>(
        &mut self,
        what: &'static str,
        command: impl FnOnce(&mut Server, &mut [u8]) -> Result<usize, E>,
    ) {
        let mut out = [0u8; 1024];
        let result = command(&mut self.server, &mut out).map_err(Into::into);
        let n = *result.as_ref().unwrap_or(&0);
        self.to_client.extend_from_slice(&out[..n]);
        self.record(
            what,
            Vec::new(),
            result.map(drop),
            decode(&out[..n], Some(false)),
        );
    }

    fn client_transmits(&mut self) {
        let bytes = drain(&mut self.client);
        self.to_server.extend_from_slice(&bytes);
        self.record(
            "client: poll_transmit",
            Vec::new(),
            Ok(()),
            decode(&bytes, Some(true)),
        );
    }

    fn server_transmits(&mut self) {
        let bytes = drain(&mut self.server);
        self.to_client.extend_from_slice(&bytes);
        self.record(
            "server: poll_transmit",
            Vec::new(),
            Ok(()),
            decode(&bytes, Some(false)),
        );
    }

    /// The server reads everything in flight to it (accepting an upgrade request).
    fn server_receives(&mut self, ms: u64) {
        let input = std::mem::take(&mut self.to_server);
        let (events, outcome, left, accepted) = feed_accepting(&mut self.server, &input, at(ms));
        self.to_server = input[input.len() - left..].to_vec();
        self.to_client.extend_from_slice(&accepted);
        let wire = decode(&accepted, Some(false));
        self.record("server: receive", events, outcome, wire);
    }

    /// The client reads everything in flight to it.
    fn client_receives(&mut self, ms: u64) {
        let input = std::mem::take(&mut self.to_client);
        let (events, outcome, left) = feed(&mut self.client, &input, at(ms));
        self.to_client = input[input.len() - left..].to_vec();
        self.record("client: receive", events, outcome, Vec::new());
    }

    /// Bytes made by hand (not by the crate), put in flight to the server.
    fn inject_to_server(&mut self, what: &'static str, bytes: Vec<u8>) {
        let wire = decode(&bytes, None);
        self.to_server.extend_from_slice(&bytes);
        self.record(what, Vec::new(), Ok(()), wire);
    }

    /// Bytes made by hand (not by the crate), put in flight to the client.
    fn inject_to_client(&mut self, what: &'static str, bytes: Vec<u8>) {
        let wire = decode(&bytes, None);
        self.to_client.extend_from_slice(&bytes);
        self.record(what, Vec::new(), Ok(()), wire);
    }

    fn client_timeout(&mut self, ms: u64) {
        let outcome = timed_out(self.client.handle_timeout(at(ms)));
        self.record("client: handle_timeout", Vec::new(), outcome, Vec::new());
    }

    fn server_timeout(&mut self, ms: u64) {
        let outcome = timed_out(self.server.handle_timeout(at(ms)));
        self.record("server: handle_timeout", Vec::new(), outcome, Vec::new());
    }

    fn client_eof(&mut self) {
        let outcome = self.client.handle_eof().map_err(Error::from);
        self.record("client: handle_eof", Vec::new(), outcome, Vec::new());
    }

    fn server_eof(&mut self) {
        let outcome = self.server.handle_eof().map_err(Error::from);
        self.record("server: handle_eof", Vec::new(), outcome, Vec::new());
    }

    /// The opening handshake, as the first three steps of every transcript.
    fn handshake(&mut self) {
        self.client_transmits();
        self.server_receives(0);
        self.client_receives(0);
    }
}

/// The steps of [`Session::handshake`].
fn handshake_steps() -> Vec<Step> {
    vec![
        writes(
            "client: poll_transmit",
            vec![Wire::Http("GET /chat HTTP/1.1".into())],
            CONNECTING,
            CONNECTING,
        ),
        step(
            "server: receive",
            vec![Ev::Request("/chat".into())],
            Ok(()),
            vec![Wire::Http("HTTP/1.1 101 Switching Protocols".into())],
            CONNECTING,
            OPEN,
        ),
        step(
            "client: receive",
            vec![Ev::Connected(None)],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
    ]
}

fn transcript(mut steps: Vec<Step>) -> Vec<Step> {
    let mut all = handshake_steps();
    all.append(&mut steps);
    all
}

/// One `assert_eq!` on the whole transcript; on a mismatch, the first differing step is
/// printed readably first.
#[track_caller]
fn assert_transcript(actual: &[Step], expected: &[Step]) {
    let differs = (0..actual.len().max(expected.len())).find(|&i| actual.get(i) != expected.get(i));
    if let Some(i) = differs {
        eprintln!(
            "first difference at step {i}:\nactual:   {:#?}\nexpected: {:#?}",
            actual.get(i),
            expected.get(i)
        );
    }
    assert_eq!(actual, expected);
}

const NOT_OPEN: Result<(), Error> = Err(Error::Usage(UsageError::NotOpen));
/// `handle_timeout` when our Close went unanswered for the close timeout (RFC 6455 §7.1.1).
const CLOSING_TIMED_OUT: Result<(), Error> = Err(Error::TimedOut(TimedOut::Closing));

/// Handshake, messages both ways (whole and fragmented, a character split between
/// fragments, a Ping between fragments), Ping and Pong both ways.
#[test]
fn normal_session() {
    let mut s = Session::new();
    s.handshake();
    s.client_does("client: send_text", |c, out| {
        c.connection()?.send_text("hello", out)
    });
    s.server_receives(10);
    s.server_does("server: send_binary", |sv, out| {
        sv.connection()?.send_binary(&[1, 2, 3], out)
    });
    s.client_receives(20);
    s.client_does("client: ping", |c, out| {
        c.connection()?.ping(b"are you there", out)
    });
    s.server_receives(30);
    s.server_transmits();
    s.client_receives(40);
    s.server_does("server: send_fragment", |sv, out| {
        sv.connection()?
            .send_fragment(MessageKind::Text, b"h\xc3", false, out)
    });
    s.server_does("server: ping", |sv, out| {
        sv.connection()?.ping(b"between", out)
    });
    s.server_does("server: send_fragment", |sv, out| {
        sv.connection()?
            .send_fragment(MessageKind::Text, b"\xa9llo", true, out)
    });
    s.client_receives(50);
    s.client_transmits();
    s.server_receives(60);
    s.client_does("client: send_fragment", |c, out| {
        c.connection()?
            .send_fragment(MessageKind::Binary, b"ab", false, out)
    });
    s.client_does("client: send_fragment", |c, out| {
        c.connection()?
            .send_fragment(MessageKind::Binary, b"", false, out)
    });
    s.client_does("client: send_fragment", |c, out| {
        c.connection()?
            .send_fragment(MessageKind::Binary, b"c", true, out)
    });
    s.server_receives(70);
    s.client_transmits();
    s.server_transmits();

    let chunk = |kind, data: &[u8], first, last| Ev::Chunk {
        kind,
        data: data.to_vec(),
        first,
        last,
    };
    let text = MessageKind::Text;
    let binary = MessageKind::Binary;
    let expected = transcript(vec![
        writes(
            "client: send_text",
            vec![Wire::Text { fin: true }],
            OPEN,
            OPEN,
        ),
        step(
            "server: receive",
            vec![Ev::Text("hello".into())],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
        writes(
            "server: send_binary",
            vec![Wire::Binary { fin: true }],
            OPEN,
            OPEN,
        ),
        step(
            "client: receive",
            vec![Ev::Binary(vec![1, 2, 3])],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
        writes(
            "client: ping",
            vec![Wire::Ping(b"are you there".to_vec())],
            OPEN,
            OPEN,
        ),
        step(
            "server: receive",
            vec![Ev::Ping(b"are you there".to_vec())],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
        writes(
            "server: poll_transmit",
            vec![Wire::Pong(b"are you there".to_vec())],
            OPEN,
            OPEN,
        ),
        step(
            "client: receive",
            vec![Ev::Pong(b"are you there".to_vec())],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
        writes(
            "server: send_fragment",
            vec![Wire::Text { fin: false }],
            OPEN,
            OPEN,
        ),
        writes(
            "server: ping",
            vec![Wire::Ping(b"between".to_vec())],
            OPEN,
            OPEN,
        ),
        writes(
            "server: send_fragment",
            vec![Wire::Continuation { fin: true }],
            OPEN,
            OPEN,
        ),
        step(
            "client: receive",
            vec![
                chunk(text, b"h\xc3", true, false),
                Ev::Ping(b"between".to_vec()),
                chunk(text, b"\xa9llo", false, true),
            ],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
        writes(
            "client: poll_transmit",
            vec![Wire::Pong(b"between".to_vec())],
            OPEN,
            OPEN,
        ),
        step(
            "server: receive",
            vec![Ev::Pong(b"between".to_vec())],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
        writes(
            "client: send_fragment",
            vec![Wire::Binary { fin: false }],
            OPEN,
            OPEN,
        ),
        writes(
            "client: send_fragment",
            vec![Wire::Continuation { fin: false }],
            OPEN,
            OPEN,
        ),
        writes(
            "client: send_fragment",
            vec![Wire::Continuation { fin: true }],
            OPEN,
            OPEN,
        ),
        step(
            "server: receive",
            vec![
                chunk(binary, b"ab", true, false),
                chunk(binary, b"c", false, true),
            ],
            Ok(()),
            vec![],
            OPEN,
            OPEN,
        ),
        quiet("client: poll_transmit", OPEN, OPEN),
        quiet("server: poll_transmit", OPEN, OPEN),
    ]);
    assert_transcript(&s.steps, &expected);
}

/// The server starts the closing handshake; the client answers; the server closes the
/// transport, which the client sees as the end of input.
#[test]
fn server_initiated_close() {
    let mut s = Session::new();
    s.handshake();
    s.server_does("server: close", |sv, out| {
        sv.connection()?
            .close(CloseCode::NORMAL, "bye", at(100), out)
    });
    s.server_does("server: send_text", |sv, out| {
        sv.connection()?.send_text("late", out)
    });
    s.client_receives(150);
    s.client_does("client: send_text", |c, out| {
        c.connection()?.send_text("late", out)
    });
    s.client_transmits();
    s.server_receives(200);
    s.client_eof();

    let expected = transcript(vec![
        writes(
            "server: close",
            vec![Wire::Close(Some(1000))],
            OPEN,
            snap(State::LocalClosing, false, Some(1100)),
        ),
        step(
            "server: send_text",
            vec![],
            NOT_OPEN,
            vec![],
            OPEN,
            snap(State::LocalClosing, false, Some(1100)),
        ),
        step(
            "client: receive",
            vec![Ev::Close(Some(1000), "bye".into())],
            Ok(()),
            vec![],
            snap(State::RemoteClosing, false, Some(1150)),
            snap(State::LocalClosing, false, Some(1100)),
        ),
        step(
            "client: send_text",
            vec![],
            NOT_OPEN,
            vec![],
            snap(State::RemoteClosing, false, Some(1150)),
            snap(State::LocalClosing, false, Some(1100)),
        ),
        writes(
            "client: poll_transmit",
            vec![Wire::Close(Some(1000))], // The client waits for the server to close the transport (§7.1.1).
            snap(State::Closed, false, Some(1150)),
            snap(State::LocalClosing, false, Some(1100)),
        ),
        step(
            "server: receive",
            vec![Ev::Close(Some(1000), String::new())],
            Ok(()),
            vec![],
            snap(State::Closed, false, Some(1150)),
            CLOSED_DONE,
        ),
        quiet("client: handle_eof", CLOSED_DONE, CLOSED_DONE),
    ]);
    assert_transcript(&s.steps, &expected);
}

/// The client starts the closing handshake; the server answers and closes the transport
/// first.
#[test]
fn client_initiated_close() {
    let mut s = Session::new();
    s.handshake();
    s.client_does("client: close", |c, out| {
        c.connection()?
            .close(CloseCode(1001), "going away", at(100), out)
    });
    s.server_receives(120);
    s.server_transmits();
    s.client_receives(130);
    s.client_eof();
    s.server_eof();

    let expected = transcript(vec![
        writes(
            "client: close",
            vec![Wire::Close(Some(1001))],
            snap(State::LocalClosing, false, Some(1100)),
            OPEN,
        ),
        step(
            "server: receive",
            vec![Ev::Close(Some(1001), "going away".into())],
            Ok(()),
            vec![],
            snap(State::LocalClosing, false, Some(1100)),
            snap(State::RemoteClosing, false, None),
        ),
        writes(
            "server: poll_transmit",
            vec![Wire::Close(Some(1001))],
            snap(State::LocalClosing, false, Some(1100)),
            CLOSED_DONE,
        ),
        step(
            "client: receive",
            vec![Ev::Close(Some(1001), String::new())],
            Ok(()),
            vec![],
            // Both Close frames exchanged: now the client waits, at most the close
            // timeout, for the server to close the transport.
            snap(State::Closed, false, Some(1130)),
            CLOSED_DONE,
        ),
        quiet("client: handle_eof", CLOSED_DONE, CLOSED_DONE),
        quiet("server: handle_eof", CLOSED_DONE, CLOSED_DONE),
    ]);
    assert_transcript(&s.steps, &expected);
}

/// After the closing handshake the server never closes the transport: the client closes
/// it itself when its close timeout passes.
#[test]
fn client_closes_transport_when_server_does_not() {
    let mut s = Session::new();
    s.handshake();
    s.server_does("server: close", |sv, out| {
        sv.connection()?.close(CloseCode::NORMAL, "", at(100), out)
    });
    s.client_receives(100);
    s.client_transmits();
    s.client_timeout(1099);
    s.client_timeout(1100);
    s.client_eof();

    let server_closing = snap(State::LocalClosing, false, Some(1100));
    let client_waiting = snap(State::Closed, false, Some(1100));
    let expected = transcript(vec![
        writes(
            "server: close",
            vec![Wire::Close(Some(1000))],
            OPEN,
            server_closing,
        ),
        step(
            "client: receive",
            vec![Ev::Close(Some(1000), String::new())],
            Ok(()),
            vec![],
            snap(State::RemoteClosing, false, Some(1100)),
            server_closing,
        ),
        writes(
            "client: poll_transmit",
            vec![Wire::Close(Some(1000))],
            client_waiting,
            server_closing,
        ),
        quiet("client: handle_timeout", client_waiting, server_closing),
        quiet("client: handle_timeout", CLOSED_DONE, server_closing),
        quiet("client: handle_eof", CLOSED_DONE, server_closing),
    ]);
    assert_transcript(&s.steps, &expected);
}

/// Our Close (the client's), never answered: at `now + close_timeout` the client gives up
/// and closes the transport.
#[test]
fn close_timeout_client() {
    let mut s = Session::new();
    s.handshake();
    s.client_does("client: close", |c, out| {
        c.connection()?.close(CloseCode::NORMAL, "", at(100), out)
    });
    s.client_timeout(500);
    s.client_timeout(1099);
    s.client_timeout(1100);
    s.client_eof();

    let closing = snap(State::LocalClosing, false, Some(100 + CLOSE_TIMEOUT_MS));
    let expected = transcript(vec![
        writes(
            "client: close",
            vec![Wire::Close(Some(1000))],
            closing,
            OPEN,
        ),
        quiet("client: handle_timeout", closing, OPEN),
        quiet("client: handle_timeout", closing, OPEN),
        step(
            "client: handle_timeout",
            vec![],
            CLOSING_TIMED_OUT,
            vec![],
            CLOSED_DONE,
            OPEN,
        ),
        quiet("client: handle_eof", CLOSED_DONE, OPEN),
    ]);
    assert_transcript(&s.steps, &expected);
}

/// Our Close (the server's), never answered: at `now + close_timeout` the server gives up
/// and closes the transport.
#[test]
fn close_timeout_server() {
    let mut s = Session::new();
    s.handshake();
    s.server_does("server: close", |sv, out| {
        sv.connection()?.close(CloseCode(4000), "app", at(250), out)
    });
    s.server_timeout(1249);
    s.server_timeout(1250);
    s.server_eof();

    let closing = snap(State::LocalClosing, false, Some(250 + CLOSE_TIMEOUT_MS));
    let expected = transcript(vec![
        writes(
            "server: close",
            vec![Wire::Close(Some(4000))],
            OPEN,
            closing,
        ),
        quiet("server: handle_timeout", OPEN, closing),
        step(
            "server: handle_timeout",
            vec![],
            CLOSING_TIMED_OUT,
            vec![],
            OPEN,
            CLOSED_DONE,
        ),
        quiet("server: handle_eof", OPEN, CLOSED_DONE),
    ]);
    assert_transcript(&s.steps, &expected);
}

/// The server receives an unmasked frame after a good one: the good message is delivered,
/// then the server fails (1002), sends its Close and closes the transport; the client
/// answers the Close.
#[test]
fn protocol_error_server_receives_unmasked_frame() {
    let mut s = Session::new();
    s.handshake();
    s.client_does("client: send_text", |c, out| {
        c.connection()?.send_text("ok", out)
    });
    s.inject_to_server(
        "peer: unmasked text frame",
        raw_frame(0x81, None, b"bad", 0),
    );
    s.server_receives(50);
    s.server_does("server: send_text", |sv, out| {
        sv.connection()?.send_text("x", out)
    });
    s.server_receives(55);
    s.server_transmits();
    s.client_receives(60);
    s.client_transmits();
    s.client_eof();

    let failed = snap(State::Failed, false, None);
    let expected = transcript(vec![
        writes(
            "client: send_text",
            vec![Wire::Text { fin: true }],
            OPEN,
            OPEN,
        ),
        writes(
            "peer: unmasked text frame",
            vec![Wire::Text { fin: true }],
            OPEN,
            OPEN,
        ),
        step(
            "server: receive",
            vec![Ev::Text("ok".into())],
            Err(Error::Protocol(ProtocolError::UnmaskedClientFrame)),
            vec![],
            OPEN,
            failed,
        ),
        step("server: send_text", vec![], NOT_OPEN, vec![], OPEN, failed),
        // Nothing more is read once failed.
        quiet("server: receive", OPEN, failed),
        writes(
            "server: poll_transmit",
            vec![Wire::Close(Some(1002))],
            OPEN,
            CLOSED_DONE,
        ),
        step(
            "client: receive",
            vec![Ev::Close(Some(1002), String::new())],
            Ok(()),
            vec![],
            snap(State::RemoteClosing, false, Some(1060)),
            CLOSED_DONE,
        ),
        writes(
            "client: poll_transmit",
            vec![Wire::Close(Some(1002))],
            snap(State::Closed, false, Some(1060)),
            CLOSED_DONE,
        ),
        quiet("client: handle_eof", CLOSED_DONE, CLOSED_DONE),
    ]);
    assert_transcript(&s.steps, &expected);
}

/// The client receives a frame the server may not send (`bad`, after a good one): it
/// fails with `error`, sends Close 1002 and closes the transport; the server answers.
fn client_protocol_error(what: &'static str, bad: Vec<u8>, error: ProtocolError) {
    let mut s = Session::new();
    s.handshake();
    s.server_does("server: send_binary", |sv, out| {
        sv.connection()?.send_binary(b"ok", out)
    });
    s.inject_to_client(what, bad.clone());
    s.client_receives(50);
    s.client_does("client: ping", |c, out| c.connection()?.ping(b"x", out));
    s.client_transmits();
    s.server_receives(60);
    s.server_transmits();

    let failed = snap(State::Failed, false, None);
    let expected = transcript(vec![
        writes(
            "server: send_binary",
            vec![Wire::Binary { fin: true }],
            OPEN,
            OPEN,
        ),
        writes(what, decode(&bad, None), OPEN, OPEN),
        step(
            "client: receive",
            vec![Ev::Binary(b"ok".to_vec())],
            Err(Error::Protocol(error)),
            vec![],
            failed,
            OPEN,
        ),
        step("client: ping", vec![], NOT_OPEN, vec![], failed, OPEN),
        writes(
            "client: poll_transmit",
            vec![Wire::Close(Some(1002))],
            CLOSED_DONE,
            OPEN,
        ),
        step(
            "server: receive",
            vec![Ev::Close(Some(1002), String::new())],
            Ok(()),
            vec![],
            CLOSED_DONE,
            snap(State::RemoteClosing, false, None),
        ),
        writes(
            "server: poll_transmit",
            vec![Wire::Close(Some(1002))],
            CLOSED_DONE,
            CLOSED_DONE,
        ),
    ]);
    eprintln!("{what}");
    assert_transcript(&s.steps, &expected);
}

#[test]
fn protocol_error_client_receives_masked_frame() {
    client_protocol_error(
        "peer: masked text frame",
        raw_frame(0x81, Some(MASK), b"bad", 0),
        ProtocolError::MaskedServerFrame,
    );
}

#[test]
fn protocol_error_client_receives_reserved_opcode() {
    for opcode in [0x3, 0x7, 0xB, 0xF] {
        client_protocol_error(
            "peer: reserved opcode",
            raw_frame(0x80 | opcode, None, b"", 0),
            ProtocolError::ReservedOpcode(opcode),
        );
    }
}

/// The transport ends while open, on each side: abnormal closure (1006), Closed, and
/// nothing more is read or sent.
#[test]
fn abrupt_end_of_input() {
    let mut s = Session::new();
    s.handshake();
    s.client_does("client: send_text", |c, out| {
        c.connection()?.send_text("in flight", out)
    });
    s.client_eof();
    s.client_receives(10);
    s.client_does("client: send_text", |c, out| {
        c.connection()?.send_text("late", out)
    });
    s.client_transmits();
    s.server_receives(10);
    s.server_eof();
    s.server_transmits();

    let abnormal: Result<(), Error> = Err(Error::AbnormalClosure);
    let expected = transcript(vec![
        writes(
            "client: send_text",
            vec![Wire::Text { fin: true }],
            OPEN,
            OPEN,
        ),
        step(
            "client: handle_eof",
            vec![],
            abnormal,
            vec![],
            CLOSED_DONE,
            OPEN,
        ),
        quiet("client: receive", CLOSED_DONE, OPEN),
        step(
            "client: send_text",
            vec![],
            NOT_OPEN,
            vec![],
            CLOSED_DONE,
            OPEN,
        ),
        quiet("client: poll_transmit", CLOSED_DONE, OPEN),
        step(
            "server: receive",
            vec![Ev::Text("in flight".into())],
            Ok(()),
            vec![],
            CLOSED_DONE,
            OPEN,
        ),
        step(
            "server: handle_eof",
            vec![],
            abnormal,
            vec![],
            CLOSED_DONE,
            CLOSED_DONE,
        ),
        quiet("server: poll_transmit", CLOSED_DONE, CLOSED_DONE),
    ]);
    assert_transcript(&s.steps, &expected);
    assert_eq!(Error::AbnormalClosure.close_code(), Some(CloseCode(1006)));
}
