//! Shared pieces of the fuzz targets: a deterministic randomness source, endpoints driven
//! to the open state, input cutting, an independent reference model of the receive side
//! (RFC 6455 §5), and a collector that checks every event against the
//! invariants the crate promises.
use sockless::{
    AbnormalClosure, Accept, BufferTooSmall, Client, ClientRequest, CloseCode, Config, Endpoint,
    Event, HandshakeError, HeaderWritten, Instant, MessageKind, Received, SendError, Server, State,
    TimedOut, UsageError,
};

#[allow(dead_code)]
#[path = "../../tests/common/fixtures.rs"]
mod fixtures;
pub use fixtures::{
    RNG_SEED, TestRng, WireFrame, expects_masked, key_of, response_for, rng, wire_frames,
};

/// The upgrade request every open server is driven with.
pub const UPGRADE_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The largest leftover a reader ever has to keep between `receive` calls: a partial frame
/// header (at most 13 bytes) or a partial control frame (at most 14 + 124 bytes).
pub const MAX_LEFTOVER: usize = 14 + 125 - 1;

/// Both roles behind one object-safe interface (the public [`Endpoint`] trait, whose
/// masking differs by role, plus the send commands of its [`Connection`](sockless::Connection)),
/// so that a target can hold either and run the same checks against each. The method names
/// differ from the crate's so that calls on a concrete `Server` or `Client` stay unambiguous.
pub trait Peer {
    fn receive_bytes<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b>, UsageError>;
    fn transmit(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall>;
    fn next_timeout(&self) -> Option<Instant>;
    fn timeout(&mut self, now: Instant) -> Option<TimedOut>;
    fn eof(&mut self) -> Result<(), AbnormalClosure>;
    fn current_state(&self) -> State;
    fn close_transport(&self) -> bool;
    /// Frames this role receives are masked (it is a server).
    fn receives_masked(&self) -> bool;
    fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, SendError>;
    fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, SendError>;
    fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError>;
    fn send_header(
        &mut self,
        kind: MessageKind,
        len: u64,
        last: bool,
        out: &mut [u8],
    ) -> Result<HeaderWritten, SendError>;
    fn payload_written(&mut self, len: u64) -> Result<(), UsageError>;
    fn ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError>;
    fn pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError>;
    fn close(
        &mut self,
        code: u16,
        reason: &str,
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, SendError>;
}

impl<E: Endpoint> Peer for E {
    fn receive_bytes<'b>(
        &mut self,
        input: &'b mut [u8],
        now: Instant,
    ) -> Result<Received<'b>, UsageError> {
        self.receive(input, now).map(Received::widen)
    }
    fn transmit(&mut self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        self.poll_transmit(out)
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn timeout(&mut self, now: Instant) -> Option<TimedOut> {
        self.handle_timeout(now)
    }
    fn eof(&mut self) -> Result<(), AbnormalClosure> {
        self.handle_eof()
    }
    fn current_state(&self) -> State {
        self.state()
    }
    fn close_transport(&self) -> bool {
        self.should_close_transport()
    }
    fn receives_masked(&self) -> bool {
        expects_masked(self)
    }
    fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, SendError> {
        self.connection()?.send_text(text, out)
    }
    fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.connection()?.send_binary(data, out)
    }
    fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.connection()?.send_fragment(kind, data, last, out)
    }
    fn send_header(
        &mut self,
        kind: MessageKind,
        len: u64,
        last: bool,
        out: &mut [u8],
    ) -> Result<HeaderWritten, SendError> {
        self.connection()?.send_header(kind, len, last, out)
    }
    fn payload_written(&mut self, len: u64) -> Result<(), UsageError> {
        self.connection()?.payload_written(len)
    }
    fn ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.connection()?.ping(payload, out)
    }
    fn pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.connection()?.pong(payload, out)
    }
    fn close(
        &mut self,
        code: u16,
        reason: &str,
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.connection()?.close(CloseCode(code), reason, now, out)
    }
}

/// A server past its handshake.
pub fn open_server(config: Config) -> Server {
    let mut server = Server::new(config, Instant::ZERO);
    let mut request = UPGRADE_REQUEST.to_vec();
    let received = server
        .receive(&mut request, Instant::ZERO)
        .expect("request");
    assert_eq!(received.consumed, UPGRADE_REQUEST.len());
    let Some(Event::Request(request)) = received.event else {
        panic!("no request event")
    };
    let mut out = [0u8; 512];
    server
        .accept(&request, Accept::default(), Instant::ZERO, &mut out)
        .expect("accept");
    server
}

/// A client for `ws://server.example.com/chat`, its request already taken.
pub fn new_client(config: Config) -> (Client<'static, TestRng>, Vec<u8>) {
    let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    let mut client = Client::new(request, config, rng(), Instant::ZERO).unwrap();
    let mut out = [0u8; 1024];
    let n = client.poll_transmit(&mut out).expect("request");
    assert_eq!(
        client.poll_transmit(&mut out),
        Ok(0),
        "the request is sent once"
    );
    (client, out[..n].to_vec())
}

/// A client past its handshake.
pub fn open_client(config: Config) -> Client<'static, TestRng> {
    let (mut client, request) = new_client(config);
    let mut response = response_for(&request, "");
    let received = client
        .receive(&mut response, Instant::ZERO)
        .expect("response");
    assert!(matches!(received.event, Some(Event::Connected(_))));
    client
}

/// Feed an opening-handshake head in `pieces` as a socket reader would (everything not yet
/// consumed, each time) until the endpoint reports its event or refuses the head. While it
/// waits it must consume nothing and must not be holding `max_head_len` bytes or more.
/// `outcome_of` turns the event and the bytes it consumed into the outcome; `failed` and
/// `pending` give the outcome of a refused head (an [`Event::HandshakeFailed`], which
/// must drop the whole input) and of an unfinished head. Returns the outcome and the bytes
/// fed.
pub fn drive_head<T>(
    endpoint: &mut dyn Peer,
    pieces: &[&[u8]],
    max_head_len: usize,
    mut outcome_of: impl FnMut(Event<'_>, usize) -> T,
    failed: impl FnOnce(HandshakeError) -> T,
    pending: T,
) -> (T, Vec<u8>) {
    let mut fed = Vec::new();
    for piece in pieces {
        fed.extend_from_slice(piece);
        let mut input = fed.clone();
        let received = endpoint
            .receive_bytes(&mut input, Instant::ZERO)
            .unwrap_or_else(|e| panic!("unexpected error {e:?}"));
        match received.event {
            Some(Event::HandshakeFailed(e)) => {
                assert_eq!(received.consumed, fed.len(), "a refused head is dropped");
                return (failed(e), fed);
            }
            Some(event) => return (outcome_of(event, received.consumed), fed),
            None => {
                assert_eq!(received.consumed, 0, "part of a head consumed");
                assert!(fed.len() < max_head_len, "waiting with a full head buffer");
            }
        }
    }
    (pending, fed)
}

/// Split `data` into `(cuts, rest)`: the first byte says how many cut bytes follow (mod 16);
/// each cut byte is a piece length (0 meaning 256). No cut bytes: one piece.
pub fn split_cuts(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    let n = usize::from(n % 16).min(rest.len());
    rest.split_at(n)
}

/// Cut `stream` into pieces whose lengths cycle through `cuts`.
pub fn pieces<'s>(stream: &'s [u8], cuts: &[u8]) -> Vec<&'s [u8]> {
    if cuts.is_empty() {
        return vec![stream];
    }
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let len = match cuts[i % cuts.len()] {
            0 => 256,
            n => usize::from(n),
        };
        let (piece, tail) = rest.split_at(len.min(rest.len()));
        out.push(piece);
        rest = tail;
        i += 1;
    }
    out
}

/// Whether `bytes` can still be the start of valid UTF-8.
pub fn valid_prefix(bytes: &[u8]) -> bool {
    match core::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// An application-level event, with messages whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Msg(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// How a stream of received bytes ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Everything was read; a frame may be incomplete.
    Clean,
    /// The peer's Close arrived: nothing after it is read.
    Closed,
    /// The connection failed with this close code.
    Failed(u16),
}

/// Collects the events of one receiving endpoint, checking each against the invariants:
/// chunks in order and within the input, no empty chunk but the last, text always a valid
/// prefix, nothing larger than the limits, nothing after a Close or a failure.
#[derive(Debug, Default)]
pub struct Collector {
    pub events: Vec<Ev>,
    /// The message whose chunks are arriving.
    pub open: Option<(MessageKind, Vec<u8>)>,
    pub end: Option<End>,
    pub max_frame_len: u64,
    pub max_message_len: u64,
}

impl Collector {
    pub fn new(config: &Config) -> Self {
        Collector {
            max_frame_len: config.max_frame_len,
            max_message_len: config.max_message_len,
            ..Collector::default()
        }
    }

    pub fn stopped(&self) -> bool {
        matches!(self.end, Some(End::Closed | End::Failed(_)))
    }

    /// The bytes of the open message (empty when none).
    pub fn partial(&self) -> (Option<MessageKind>, &[u8]) {
        match &self.open {
            Some((kind, data)) => (Some(*kind), data),
            None => (None, &[]),
        }
    }

    fn whole(&mut self, kind: MessageKind, data: &[u8]) {
        assert!(
            self.open.is_none(),
            "a whole message while chunks of another are open"
        );
        assert!(
            data.len() as u64 <= self.max_frame_len,
            "message in one frame over max_frame_len"
        );
        assert!(
            data.len() as u64 <= self.max_message_len,
            "message over max_message_len"
        );
        self.events.push(Ev::Msg(kind, data.to_vec()));
    }

    /// Record one event of a `receive` call given `input_len` bytes.
    pub fn event(&mut self, event: &Event<'_>, input_len: usize) {
        assert!(
            !self.stopped(),
            "event {event:?} after the end {:?}",
            self.end
        );
        match event {
            Event::Request(_)
            | Event::Connected(_)
            | Event::Rejected(_)
            | Event::HandshakeFailed(_) => {
                panic!("handshake event on an open connection: {event:?}")
            }
            Event::Text(text) => self.whole(MessageKind::Text, text.as_bytes()),
            Event::Binary(data) => self.whole(MessageKind::Binary, data),
            Event::Chunk(chunk) => {
                assert!(chunk.data.len() <= input_len, "chunk larger than the input");
                assert!(
                    !chunk.data.is_empty() || chunk.last,
                    "an empty chunk that is not the last"
                );
                match (&mut self.open, chunk.first) {
                    (None, true) => self.open = Some((chunk.kind, chunk.data.to_vec())),
                    (Some((kind, data)), false) => {
                        assert_eq!(*kind, chunk.kind, "chunk kind changed within a message");
                        data.extend_from_slice(chunk.data);
                    }
                    (open, first) => panic!(
                        "chunk first={first} with open message {:?}",
                        open.as_ref().map(|o| o.0)
                    ),
                }
                let (kind, data) = self.open.as_ref().unwrap();
                assert!(
                    data.len() as u64 <= self.max_message_len,
                    "message over max_message_len"
                );
                if *kind == MessageKind::Text {
                    assert!(valid_prefix(data), "invalid UTF-8 handed out");
                }
                if chunk.last {
                    let (kind, data) = self.open.take().unwrap();
                    if kind == MessageKind::Text {
                        assert!(
                            core::str::from_utf8(&data).is_ok(),
                            "text message ended invalid"
                        );
                    }
                    self.events.push(Ev::Msg(kind, data));
                }
            }
            Event::Ping(payload) => {
                assert!(payload.len() <= 125);
                self.events.push(Ev::Ping(payload.to_vec()));
            }
            Event::Pong(payload) => {
                assert!(payload.len() <= 125);
                self.events.push(Ev::Pong(payload.to_vec()));
            }
            Event::Close(frame) => {
                if let Some(code) = frame.code {
                    assert!(
                        code.is_allowed_on_wire(),
                        "close code {code:?} reported from the wire"
                    );
                }
                assert!(frame.reason.len() <= 123);
                self.events
                    .push(Ev::Close(frame.code.map(|c| c.0), frame.reason.to_string()));
                self.end = Some(End::Closed);
            }
            Event::Failed(error) => {
                assert!(
                    error.close_code().is_allowed_on_wire(),
                    "failure {error:?} with a code that cannot be sent"
                );
                self.end = Some(End::Failed(error.close_code().0));
            }
            other => panic!("an event this collector does not know: {other:?}"),
        }
    }
}

/// Feed `pending` (the reader's buffer) to `peer` until it needs more input or stops;
/// returns how many bytes were consumed. Checks progress and the leftover bound.
pub fn receive_all(
    peer: &mut dyn Peer,
    pending: &mut [u8],
    now: Instant,
    collector: &mut Collector,
) -> usize {
    let mut start = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= pending.len() + 2, "receive makes no progress");
        let was_stopped = collector.stopped();
        let input_len = pending.len() - start;
        let received = peer
            .receive_bytes(&mut pending[start..], now)
            .unwrap_or_else(|e| panic!("unexpected error from receive: {e:?}"));
        assert!(received.consumed <= input_len);
        start += received.consumed;
        match received.event {
            Some(event) => {
                assert!(received.consumed > 0, "an event that consumed nothing");
                if let Event::Failed(_) = event {
                    // The rest of the input is dropped with the failure.
                    assert_eq!(received.consumed, input_len, "input kept after a failure");
                }
                collector.event(&event, input_len);
            }
            None => {
                if was_stopped {
                    assert_eq!(
                        received.consumed, input_len,
                        "input after the end must be swallowed"
                    );
                } else {
                    assert!(
                        input_len - received.consumed <= MAX_LEFTOVER,
                        "{} bytes left over: more than a header or a control frame",
                        input_len - received.consumed
                    );
                }
                return start;
            }
        }
    }
}

/// Feed `stream` to `peer` in `pieces`, as a socket reader does (unconsumed bytes stay in
/// front of the next piece). Returns the events and how the stream ended.
pub fn feed_pieces(peer: &mut dyn Peer, pieces: &[&[u8]], now: Instant, collector: &mut Collector) {
    let mut pending: Vec<u8> = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        let used = receive_all(peer, &mut pending, now, collector);
        pending.drain(..used);
    }
    if collector.end.is_none() {
        collector.end = Some(End::Clean);
    }
}

/// What an independent reading of RFC 6455 §5 says a receiver must
/// report for `stream`: the complete events, the bytes of a message still open, and how it
/// ended. The order of checks on one header is that of the byte they need (fail fast),
/// then the rules that need the whole header, then the payload.
pub fn model(
    server: bool,
    config: &Config,
    stream: &[u8],
) -> (Vec<Ev>, Option<(MessageKind, Vec<u8>)>, End) {
    let mut events = Vec::new();
    let mut open: Option<(MessageKind, Vec<u8>)> = None;
    let mut pos = 0;
    let end = loop {
        let rest = &stream[pos..];
        let Some(&b0) = rest.first() else {
            break End::Clean;
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 7;
        let op = b0 & 0x0F;
        if !matches!(op, 0 | 1 | 2 | 8 | 9 | 10) {
            break End::Failed(1002);
        }
        let control = op & 0x8 != 0;
        if control && !fin {
            break End::Failed(1002);
        }
        let Some(&b1) = rest.get(1) else {
            break End::Clean;
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if control && len7 > 125 {
            break End::Failed(1002);
        }
        let (len, mut header_len) = match len7 {
            126 => {
                let Some(b) = rest.get(2..4) else {
                    break End::Clean;
                };
                let v = u64::from(b[0]) << 8 | u64::from(b[1]);
                if v < 126 {
                    break End::Failed(1002);
                }
                (v, 4)
            }
            127 => {
                if rest.len() > 2 && rest[2] & 0x80 != 0 {
                    break End::Failed(1002);
                }
                if rest.len() >= 8 && rest[2..8].iter().all(|&b| b == 0) {
                    break End::Failed(1002);
                }
                let Some(b) = rest.get(2..10) else {
                    break End::Clean;
                };
                (b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)), 10)
            }
            n => (u64::from(n), 2),
        };
        let key = if masked {
            let Some(k) = rest.get(header_len..header_len + 4) else {
                break End::Clean;
            };
            header_len += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        if rsv != 0 || masked != server {
            break End::Failed(1002);
        }
        if !control {
            match (op, &open) {
                (0, None) => break End::Failed(1002),
                (1 | 2, Some(_)) => break End::Failed(1002),
                _ => {}
            }
            if len > config.max_frame_len {
                break End::Failed(1009);
            }
            let before = if op == 0 {
                open.as_ref().map_or(0, |o| o.1.len() as u64)
            } else {
                0
            };
            if before.saturating_add(len) > config.max_message_len {
                break End::Failed(1009);
            }
        }
        if usize::try_from(len).is_err() {
            break End::Failed(1009);
        }
        let body = &rest[header_len..];
        let available = body.len().min(len as usize);
        let mut payload: Vec<u8> = body[..available].to_vec();
        if let Some(key) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        if control {
            if (available as u64) < len {
                break End::Clean;
            }
            pos += header_len + available;
            match op {
                8 => {
                    if payload.is_empty() {
                        events.push(Ev::Close(None, String::new()));
                        break End::Closed;
                    }
                    if payload.len() == 1 {
                        break End::Failed(1002);
                    }
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                        break End::Failed(1002);
                    }
                    let Ok(reason) = core::str::from_utf8(&payload[2..]) else {
                        break End::Failed(1007);
                    };
                    events.push(Ev::Close(Some(code), reason.to_string()));
                    break End::Closed;
                }
                9 => events.push(Ev::Ping(payload)),
                _ => events.push(Ev::Pong(payload)),
            }
            continue;
        }
        let kind = match op {
            1 => MessageKind::Text,
            2 => MessageKind::Binary,
            _ => open.as_ref().unwrap().0,
        };
        if op != 0 {
            open = Some((kind, Vec::new()));
        }
        let message = open.as_mut().unwrap();
        message.1.extend_from_slice(&payload);
        if kind == MessageKind::Text && !valid_prefix(&message.1) {
            break End::Failed(1007);
        }
        if (available as u64) < len {
            break End::Clean;
        }
        pos += header_len + available;
        if fin {
            if kind == MessageKind::Text && core::str::from_utf8(&message.1).is_err() {
                break End::Failed(1007);
            }
            let (kind, data) = open.take().unwrap();
            events.push(Ev::Msg(kind, data));
        }
    };
    (events, open, end)
}

/// Check a collector's record of a stream against the model's verdict on it.
pub fn check_against_model(
    collector: &Collector,
    expected: &(Vec<Ev>, Option<(MessageKind, Vec<u8>)>, End),
) {
    let (events, open, end) = expected;
    assert_eq!(&collector.events, events, "events differ from the model");
    assert_eq!(
        collector.end.as_ref(),
        Some(end),
        "the end differs from the model"
    );
    let (kind, got) = collector.partial();
    let want: &[u8] = open.as_ref().map_or(&[], |o| &o.1);
    match end {
        // Everything given is handed out: no payload byte is held back.
        End::Clean => {
            assert_eq!(got, want, "open message bytes differ from the model");
            if !got.is_empty() {
                assert_eq!(kind, open.as_ref().map(|o| o.0));
            }
        }
        // Up to the violation, a prefix of the message may have been handed out.
        End::Failed(_) => assert!(
            want.starts_with(got),
            "open message bytes are not a prefix of the model's"
        ),
        End::Closed => assert!(got.is_empty() || want.starts_with(got)),
    }
}

/// Decode the whole frames an endpoint wrote (`sender_is_client`: masked); panics on
/// anything a conformant sender could not have written (RSV bits, reserved opcodes, the
/// wrong masking, a non-minimal length, a long or fragmented control frame).
pub fn decode_output(bytes: &[u8], sender_is_client: bool) -> Vec<WireFrame> {
    let frames = wire_frames(bytes);
    for frame in &frames {
        assert_eq!(frame.rsv, 0, "RSV bits in output");
        assert!(
            matches!(frame.opcode, 0 | 1 | 2 | 8 | 9 | 10),
            "reserved opcode in output"
        );
        assert_eq!(
            frame.masked, sender_is_client,
            "masking rule broken in output"
        );
        assert!(frame.minimal, "non-minimal length in output");
        if frame.opcode & 8 != 0 {
            assert!(
                frame.payload.len() <= 125 && frame.fin,
                "bad control frame in output"
            );
        }
    }
    frames
}

/// A config with limits chosen by `selector`, for targets fed raw bytes.
pub fn config_from(selector: u8) -> Config {
    const FRAME: [u64; 8] = [16 << 20, 0, 1, 125, 126, 1000, 65_535, 65_536];
    const MESSAGE: [u64; 4] = [64 << 20, 0, 200, 70_000];
    Config::default()
        .with_max_frame_len(FRAME[usize::from(selector & 7)])
        .with_max_message_len(MESSAGE[usize::from((selector >> 3) & 3)])
        .with_auto_pong(selector & 0x20 == 0)
}

/// Where an HTTP head ends, found independently: just after the first empty line, where a
/// line ends with LF or CRLF.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        if buf[i] != b'\n' {
            return None;
        }
        match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) => Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        }
    })
}

/// The header lines of a head (a lenient reading: every line after the first with a colon),
/// names lowercased, values trimmed.
pub fn header_lines(head: &[u8]) -> Vec<(String, Vec<u8>)> {
    let trim = |mut v: &[u8]| {
        while let [b' ' | b'\t', rest @ ..] = v {
            v = rest;
        }
        while let [rest @ .., b' ' | b'\t'] = v {
            v = rest;
        }
        v.to_vec()
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    // Empty lines before the start line are skipped (RFC 7230 §3.5).
    for line in lines.by_ref() {
        if !line.is_empty() {
            break;
        }
    }
    lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((
                String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase(),
                trim(&line[colon + 1..]),
            ))
        })
        .collect()
}

/// All values of header `name` (lowercase).
pub fn values<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Vec<&'h [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
        .collect()
}

/// Whether some comma-separated element of the values of `name` is `token`
/// (case-insensitive). Lenient: quotes are not honoured.
pub fn list_has(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    values(headers, name).iter().any(|v| {
        v.split(|&b| b == b',').any(|item| {
            let item = String::from_utf8_lossy(item);
            item.trim_matches(|c| c == ' ' || c == '\t')
                .eq_ignore_ascii_case(token)
        })
    })
}

/// The first line of a head, after any empty lines.
pub fn start_line(head: &[u8]) -> &[u8] {
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !l.is_empty())
        .unwrap_or(&[])
}
