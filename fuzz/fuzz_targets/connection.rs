//! A client and a server driven against each other in memory: arbitrary messages,
//! fragment sizes, input cuts, pings, closes, timeouts and injected corrupt bytes. It checks
//! invariants, not just the absence of panics:
//!
//! - what one side sent intact is what the other received (when nothing was corrupted on
//!   the way): the same messages, pings, pongs and Close, in order;
//! - no event after a Close or an error, nothing sent after our Close;
//! - owed output is never lost: after a Ping with auto_pong, the next output holds the
//!   Pong for the latest Ping (before any Close); after a violation the Close carries its
//!   code (the violation itself is an `Event::Failed`, reported before that Close is
//!   written); a peer's Close is echoed with its code;
//! - a header from `send_header` holds every command and owed frame back until
//!   `payload_written` accounted for its payload;
//! - memory stays within the limits: no chunk larger than the input, no message over
//!   max_message_len, at most a header or a control frame left over between reads;
//! - a failure without corruption is only ever 1009, for something over the limits;
//! - time: handle_timeout at poll_timeout always moves on, and every connection that is
//!   not open ends with should_close_transport, at the latest when its timer runs out.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sockless::{
    AbnormalClosure, Accept, Client, Config, Duration, Endpoint, Event, Instant, MessageKind,
    SendError, Server, State, TimedOut, UsageError,
};
use sockless_fuzz::*;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Limits {
    frame: u8,
    message: u8,
    manual_pong: bool,
    close_timeout_ms: u16,
    keep_alive_ms: Option<u16>,
    keep_alive_timeout_ms: u16,
}

impl Limits {
    fn config(&self) -> Config {
        const SMALL: [u64; 8] = [0, 1, 125, 126, 200, 1000, 65_535, 65_536];
        let pick = |b: u8, default: u64| {
            if b < 192 {
                default
            } else {
                SMALL[usize::from(b & 7)]
            }
        };
        Config::default()
            .with_max_frame_len(pick(self.frame, 16 << 20))
            .with_max_message_len(pick(self.message, 64 << 20))
            .with_auto_pong(!self.manual_pong)
            .with_close_timeout(Duration::from_millis(u64::from(self.close_timeout_ms)))
            .with_keep_alive(
                self.keep_alive_ms
                    .map(|ms| Duration::from_millis(u64::from(ms) + 1)),
            )
            .with_keep_alive_timeout(Duration::from_millis(u64::from(self.keep_alive_timeout_ms)))
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Text {
        side: Side,
        text: String,
        room: Option<u8>,
    },
    Binary {
        side: Side,
        data: Vec<u8>,
        room: Option<u8>,
    },
    /// A whole message in fragments of the given sizes.
    Fragmented {
        side: Side,
        text: String,
        binary: bool,
        sizes: Vec<u8>,
    },
    /// One fragment, so that other frames can come between fragments.
    Fragment {
        side: Side,
        text: String,
        binary: bool,
        last: bool,
    },
    /// A binary fragment whose header comes from `send_header` and payload from the caller.
    Header {
        side: Side,
        data: Vec<u8>,
        last: bool,
    },
    Ping {
        side: Side,
        payload: Vec<u8>,
    },
    Pong {
        side: Side,
        payload: Vec<u8>,
    },
    Close {
        side: Side,
        code: u16,
        reason: String,
    },
    Transmit {
        side: Side,
        room: Option<u8>,
    },
    /// Deliver up to `max` bytes (0: all) of what the other side wrote, in pieces of `cuts`.
    Deliver {
        to: Side,
        max: u16,
        cuts: Vec<u8>,
    },
    Advance {
        ms: u16,
    },
    Timeout {
        side: Side,
    },
    Corrupt {
        to: Side,
        position: u16,
        xor: u8,
    },
    Eof,
}

#[derive(Arbitrary, Debug)]
struct Scenario {
    client: Limits,
    server: Limits,
    ops: Vec<Op>,
}

const VALID_CODES: [u16; 15] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
];

/// One side's bookkeeping.
struct Half {
    config: Config,
    is_client: bool,
    /// Bytes this side wrote that the other has not read yet.
    outbox: Vec<u8>,
    /// Bytes delivered to this side and not consumed yet (the reader's buffer).
    inbox: Vec<u8>,
    collector: Collector,
    /// What this side sent, as the other should see it.
    sent: Vec<Ev>,
    /// The fragmented message this side is sending.
    sending: Option<(MessageKind, Vec<u8>)>,
    /// Bytes sent towards this side were corrupted.
    corrupted: bool,
    /// This side sent something over the other's limits.
    oversize_sent: bool,
    close_sent: bool,
    pong_expected: Option<Vec<u8>>,
    echo_expected: Option<u16>,
    failure_code_expected: Option<u16>,
}

impl Half {
    fn new(config: Config, is_client: bool) -> Self {
        Half {
            config,
            is_client,
            outbox: Vec::new(),
            inbox: Vec::new(),
            collector: Collector::new(&config),
            sent: Vec::new(),
            sending: None,
            corrupted: false,
            oversize_sent: false,
            close_sent: false,
            pong_expected: None,
            echo_expected: None,
            failure_code_expected: None,
        }
    }
}

struct World {
    client: Client<'static, TestRng>,
    server: Server,
    halves: [Half; 2],
    now: Instant,
}

fn is_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Run `write` with a buffer of `room` bytes (or a roomy one); a BufferTooSmall must leave
/// the buffer untouched and name a size that then works.
fn with_room(
    room: Option<u8>,
    roomy: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, SendError>,
) -> Result<Vec<u8>, SendError> {
    let size = room.map_or(roomy, usize::from);
    let mut out = vec![0xEE; size];
    match write(&mut out) {
        Ok(n) => {
            assert!(n <= size);
            out.truncate(n);
            Ok(out)
        }
        Err(SendError::NoRoom { needed }) => {
            assert!(needed > size, "BufferTooSmall with room enough");
            assert!(
                out.iter().all(|&b| b == 0xEE),
                "written despite BufferTooSmall"
            );
            let mut out = vec![0xEE; needed];
            let n = write(&mut out).expect("the size BufferTooSmall named works");
            assert_eq!(n, needed);
            Ok(out)
        }
        Err(other) => Err(other),
    }
}

impl World {
    fn peer(&mut self, side: Side) -> &mut dyn Peer {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    fn peer_ref(&self, side: Side) -> &dyn Peer {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Bytes `side` wrote: check their form and what they owe, and queue them.
    fn output(&mut self, side: Side, bytes: &[u8], from_close_call: bool) {
        let half = &mut self.halves[side.index()];
        if bytes.is_empty() {
            return;
        }
        assert!(!half.close_sent, "{side:?} wrote after its Close");
        for frame in decode_output(bytes, half.is_client) {
            match frame.opcode {
                0xA => {
                    if let Some(payload) = half.pong_expected.take() {
                        assert_eq!(frame.payload, payload, "the Pong answers the latest Ping");
                    }
                    half.sent.push(Ev::Pong(frame.payload));
                }
                0x9 => half.sent.push(Ev::Ping(frame.payload)),
                0x8 => {
                    assert!(
                        half.pong_expected.is_none(),
                        "{side:?}: owed Pong lost, the Close went out first"
                    );
                    let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                    assert!(is_allowed(code));
                    if let Some(expected) = half.failure_code_expected.take() {
                        assert_eq!(code, expected, "the failure's close code");
                    }
                    if let Some(expected) = half.echo_expected.take() {
                        if !from_close_call {
                            assert_eq!(code, expected, "the Close echo");
                        }
                    }
                    let reason =
                        String::from_utf8(frame.payload[2..].to_vec()).expect("UTF-8 reason");
                    half.close_sent = true;
                    half.sent.push(Ev::Close(Some(code), reason));
                }
                other => panic!("{side:?}: data frame {other} out of poll_transmit/close"),
            }
        }
        half.outbox.extend_from_slice(bytes);
    }

    /// A data frame `side` sent: log the message when complete; note what is over the
    /// other side's limits.
    fn data_sent(&mut self, side: Side, kind: MessageKind, data: &[u8], last: bool) {
        let limits = self.halves[side.other().index()].config;
        let half = &mut self.halves[side.index()];
        assert!(!half.close_sent, "{side:?} sent data after its Close");
        let message = half.sending.get_or_insert_with(|| (kind, Vec::new()));
        assert_eq!(message.0, kind);
        message.1.extend_from_slice(data);
        if data.len() as u64 > limits.max_frame_len
            || message.1.len() as u64 > limits.max_message_len
        {
            half.oversize_sent = true;
        }
        if last {
            let (kind, data) = half.sending.take().unwrap();
            half.sent.push(Ev::Msg(kind, data));
        }
    }

    fn send_bytes(&mut self, side: Side, bytes: &[u8]) {
        let half = &mut self.halves[side.index()];
        decode_output(bytes, half.is_client);
        half.outbox.extend_from_slice(bytes);
    }

    fn transmit(&mut self, side: Side, room: Option<u8>) {
        let roomy = room.is_none();
        let result = with_room(room, 1024, |out| {
            self.peer(side).transmit(out).map_err(SendError::from)
        });
        let bytes = result.expect("poll_transmit");
        self.output(side, &bytes, false);
        if roomy {
            assert_eq!(
                self.peer(side).transmit(&mut [0u8; 1024]),
                Ok(0),
                "owed output left after a roomy poll_transmit"
            );
        }
    }

    fn deliver(&mut self, to: Side, max: u16, cuts: &[u8]) {
        let from = &mut self.halves[to.other().index()].outbox;
        let n = if max == 0 {
            from.len()
        } else {
            from.len().min(usize::from(max))
        };
        let bytes: Vec<u8> = from.drain(..n).collect();
        if self.peer(to).close_transport() {
            return;
        }
        for piece in pieces(&bytes, cuts) {
            self.halves[to.index()].inbox.extend_from_slice(piece);
            self.read(to);
        }
    }

    /// Let `side` read its buffer, checking every event.
    fn read(&mut self, side: Side) {
        let now = self.now;
        let mut inbox = core::mem::take(&mut self.halves[side.index()].inbox);
        let mut start = 0;
        loop {
            let state_before = self.peer(side).current_state();
            let stopped = self.halves[side.index()].collector.stopped();
            let input_len = inbox.len() - start;
            let peer: &mut dyn Peer = match side {
                Side::Client => &mut self.client,
                Side::Server => &mut self.server,
            };
            let received = peer
                .receive_bytes(&mut inbox[start..], now)
                .expect("receive on an open connection");
            let half = &mut self.halves[side.index()];
            assert!(received.consumed <= input_len);
            start += received.consumed;
            let Some(event) = received.event else {
                if stopped
                    || matches!(
                        state_before,
                        State::Closed | State::Failed | State::RemoteClosing
                    )
                {
                    assert_eq!(
                        received.consumed, input_len,
                        "input after the end must be swallowed"
                    );
                } else {
                    assert!(
                        input_len - received.consumed <= MAX_LEFTOVER,
                        "too much left over"
                    );
                }
                break;
            };
            assert!(received.consumed > 0, "an event that consumed nothing");
            assert!(
                matches!(state_before, State::Open | State::LocalClosing),
                "event in state {state_before:?}"
            );
            half.collector.event(&event, input_len);
            match event {
                Event::Ping(payload) if half.config.auto_pong && state_before == State::Open => {
                    half.pong_expected = Some(payload.to_vec());
                }
                Event::Close(frame) if !half.close_sent => {
                    half.echo_expected = Some(frame.code.map_or(1000, |c| c.0));
                }
                Event::Failed(violation) => {
                    assert_eq!(received.consumed, input_len, "input kept after a failure");
                    if !half.close_sent {
                        // The Close with the violation's code is owed to poll_transmit.
                        half.failure_code_expected = Some(violation.close_code().0);
                        assert_eq!(self.peer(side).current_state(), State::Failed);
                        assert!(!self.peer(side).close_transport());
                    }
                    if !self.halves[side.index()].corrupted {
                        // Without corruption the only failure is something over our limits.
                        assert_eq!(
                            violation.close_code().0,
                            1009,
                            "{side:?} failed on intact input: {violation:?}"
                        );
                        assert!(
                            self.halves[side.other().index()].oversize_sent,
                            "1009 for nothing over the limits"
                        );
                    }
                }
                _ => {}
            }
        }
        inbox.drain(..start);
        self.halves[side.index()].inbox = inbox;
    }

    fn timeout(&mut self, side: Side) {
        let now = self.now;
        let keep_alive = self.halves[side.index()].config.keep_alive.is_some();
        let state = self.peer(side).current_state();
        let timed_out = self.peer(side).timeout(now);
        match timed_out {
            None => return,
            Some(TimedOut::KeepAlive) => {
                assert!(keep_alive, "keep-alive timeout without keep-alive");
                assert_eq!(state, State::Open, "keep-alive timeout in {state:?}");
            }
            Some(TimedOut::Closing) => {
                assert_eq!(state, State::LocalClosing, "close timeout in {state:?}")
            }
            Some(other) => panic!("handle_timeout on an open connection: {other:?}"),
        }
        // The connection is over: nothing more is owed, the transport closes.
        let peer = self.peer(side);
        assert!(peer.close_transport());
        assert_eq!(peer.current_state(), State::Closed);
        assert_eq!(peer.next_timeout(), None);
        assert_eq!(
            peer.transmit(&mut [0u8; 256]),
            Ok(0),
            "output after a timeout"
        );
        self.halves[side.index()].pong_expected = None;
    }

    /// Time moves to `now`: every due timer is handled, and handling it moves it on.
    fn advance(&mut self, now: Instant) {
        assert!(now >= self.now);
        self.now = now;
        for side in [Side::Client, Side::Server] {
            for _ in 0..4 {
                match self.peer(side).next_timeout() {
                    Some(deadline) if deadline <= now => {
                        let _ = deadline;
                        self.timeout(side);
                    }
                    _ => break,
                }
            }
            if let Some(deadline) = self.peer(side).next_timeout() {
                assert!(
                    deadline > now,
                    "{side:?}: a timer still due after handling it ({deadline:?})"
                );
            }
        }
    }

    fn apply(&mut self, op: &Op) -> bool {
        match op {
            Op::Text { side, text, room } => {
                let side = *side;
                let result = with_room(*room, text.len() + 14, |out| {
                    self.peer(side).send_text(text, out)
                });
                if let Ok(bytes) = result {
                    self.data_sent(side, MessageKind::Text, text.as_bytes(), true);
                    self.send_bytes(side, &bytes);
                }
            }
            Op::Binary { side, data, room } => {
                let side = *side;
                let result = with_room(*room, data.len() + 14, |out| {
                    self.peer(side).send_binary(data, out)
                });
                if let Ok(bytes) = result {
                    self.data_sent(side, MessageKind::Binary, data, true);
                    self.send_bytes(side, &bytes);
                }
            }
            Op::Fragmented {
                side,
                text,
                binary,
                sizes,
            } => {
                let kind = if *binary {
                    MessageKind::Binary
                } else {
                    MessageKind::Text
                };
                let mut rest = text.as_bytes();
                let mut i = 0;
                loop {
                    let size = sizes
                        .get(i)
                        .map_or(rest.len(), |&s| usize::from(s).min(rest.len()));
                    let (piece, tail) = rest.split_at(size);
                    let last = tail.is_empty() && i >= sizes.len().saturating_sub(1);
                    if !self.fragment(*side, kind, piece, last) || last {
                        break;
                    }
                    rest = tail;
                    i += 1;
                }
            }
            Op::Fragment {
                side,
                text,
                binary,
                last,
            } => {
                let kind = if *binary {
                    MessageKind::Binary
                } else {
                    MessageKind::Text
                };
                self.fragment(*side, kind, text.as_bytes(), *last);
            }
            Op::Header { side, data, last } => {
                let side = *side;
                let mut out = [0u8; 14];
                if let Ok(written) = self.peer(side).send_header(
                    MessageKind::Binary,
                    data.len() as u64,
                    *last,
                    &mut out,
                ) {
                    let mut bytes = out[..written.len].to_vec();
                    let start = bytes.len();
                    bytes.extend_from_slice(data);
                    if let Some(key) = written.mask {
                        sockless::frame::apply_mask(&mut bytes[start..], key, 0);
                    }
                    assert_eq!(written.mask.is_some(), side == Side::Client);
                    self.payload_written(side, data.len() as u64);
                    self.data_sent(side, MessageKind::Binary, data, *last);
                    self.send_bytes(side, &bytes);
                }
            }
            Op::Ping { side, payload } => {
                let side = *side;
                let result = with_room(None, 139, |out| self.peer(side).ping(payload, out));
                match result {
                    Ok(bytes) => {
                        self.halves[side.index()]
                            .sent
                            .push(Ev::Ping(payload.clone()));
                        self.send_bytes(side, &bytes);
                    }
                    Err(SendError::Usage(UsageError::ControlPayloadTooLong)) => {
                        assert!(payload.len() > 125)
                    }
                    Err(SendError::Usage(UsageError::NotOpen)) => {
                        assert_ne!(self.peer(side).current_state(), State::Open)
                    }
                    Err(other) => panic!("ping: {other:?}"),
                }
            }
            Op::Pong { side, payload } => {
                let side = *side;
                let result = with_room(None, 139, |out| self.peer(side).pong(payload, out));
                if let Ok(bytes) = result {
                    let half = &mut self.halves[side.index()];
                    // An application Pong answers the Ping that was waiting.
                    half.pong_expected = None;
                    half.sent.push(Ev::Pong(payload.clone()));
                    self.send_bytes(side, &bytes);
                }
            }
            Op::Close { side, code, reason } => {
                let side = *side;
                let code = if code % 4 != 3 {
                    VALID_CODES[usize::from(code % 15)]
                } else {
                    *code
                };
                let now = self.now;
                let state = self.peer(side).current_state();
                let result = with_room(None, 512, |out| {
                    self.peer(side).close(code, reason, now, out)
                });
                match result {
                    Ok(bytes) => {
                        assert!(is_allowed(code) && reason.len() <= 123);
                        assert!(matches!(state, State::Open | State::RemoteClosing));
                        self.output(side, &bytes, true);
                        let half = &self.halves[side.index()];
                        assert!(half.close_sent);
                        assert_eq!(
                            half.sent.last(),
                            Some(&Ev::Close(Some(code), reason.clone()))
                        );
                    }
                    Err(SendError::Usage(UsageError::InvalidCloseCode)) => {
                        assert!(!is_allowed(code))
                    }
                    Err(SendError::Usage(UsageError::ControlPayloadTooLong)) => {
                        assert!(reason.len() > 123)
                    }
                    Err(SendError::Usage(UsageError::NotOpen)) => {
                        assert!(!matches!(state, State::Open | State::RemoteClosing))
                    }
                    Err(other) => panic!("close: {other:?}"),
                }
            }
            Op::Transmit { side, room } => self.transmit(*side, *room),
            Op::Deliver { to, max, cuts } => self.deliver(*to, *max, cuts),
            Op::Advance { ms } => {
                let now = self
                    .now
                    .saturating_add(Duration::from_millis(u64::from(*ms)));
                self.advance(now);
            }
            Op::Timeout { side } => {
                let before = (
                    self.peer(*side).current_state(),
                    self.peer(*side).next_timeout(),
                );
                let due = before.1.is_some_and(|deadline| deadline <= self.now);
                self.timeout(*side);
                if !due && before.1.is_some() {
                    assert_eq!(
                        self.peer(*side).current_state(),
                        before.0,
                        "an early handle_timeout changed the state"
                    );
                }
            }
            Op::Corrupt { to, position, xor } => {
                let outbox = &mut self.halves[to.other().index()].outbox;
                if *xor != 0 && !outbox.is_empty() {
                    let len = outbox.len();
                    outbox[usize::from(*position) % len] ^= xor;
                    self.halves[to.index()].corrupted = true;
                }
            }
            Op::Eof => {
                for side in [Side::Client, Side::Server] {
                    let peer = self.peer(side);
                    let state = peer.current_state();
                    let result = peer.eof();
                    match state {
                        // Mid-conversation, or while waiting for the peer's Close: 1006.
                        State::Open | State::LocalClosing => {
                            assert_eq!(result, Err(AbnormalClosure), "{side:?} eof in {state:?}")
                        }
                        // After the closing handshake, or a reported failure or timeout.
                        State::Closed => assert_eq!(result, Ok(()), "{side:?} eof in {state:?}"),
                        _ => {}
                    }
                    assert!(peer.close_transport());
                    assert_eq!(peer.current_state(), State::Closed);
                    assert_eq!(peer.next_timeout(), None);
                    assert_eq!(peer.transmit(&mut [0u8; 256]), Ok(0), "output after eof");
                    self.halves[side.index()].pong_expected = None;
                }
                return false;
            }
        }
        true
    }

    /// The caller wrote the `len` payload bytes a `send_header` promised. Until then nothing
    /// else may be written: commands are refused and owed frames wait. Reported in two parts.
    fn payload_written(&mut self, side: Side, len: u64) {
        let peer = self.peer(side);
        if len > 0 {
            let mut probe = [0u8; 256];
            assert_eq!(
                peer.ping(b"", &mut probe),
                Err(UsageError::PayloadPending.into()),
                "a command between a header and its payload"
            );
            assert_eq!(
                peer.transmit(&mut probe),
                Ok(0),
                "owed output between a header and its payload"
            );
            assert_eq!(
                peer.payload_written(len + 1),
                Err(UsageError::PayloadOverrun)
            );
        }
        let first = len / 2;
        peer.payload_written(first).expect("payload_written");
        peer.payload_written(len - first).expect("payload_written");
        assert_eq!(
            peer.payload_written(1),
            Err(UsageError::PayloadOverrun),
            "more payload than promised"
        );
    }

    /// Send one fragment; false if it was refused.
    fn fragment(&mut self, side: Side, kind: MessageKind, data: &[u8], last: bool) -> bool {
        match with_room(None, data.len() + 14, |out| {
            self.peer(side).send_fragment(kind, data, last, out)
        }) {
            Ok(bytes) => {
                self.data_sent(side, kind, data, last);
                self.send_bytes(side, &bytes);
                true
            }
            Err(SendError::Usage(
                UsageError::NotOpen | UsageError::FragmentKindMismatch | UsageError::InvalidUtf8,
            )) => false,
            Err(other) => panic!("send_fragment: {other:?}"),
        }
    }

    /// Transmit and deliver everything, both ways, until nothing moves.
    fn flush(&mut self) {
        for _ in 0..16 {
            let mut moved = false;
            for side in [Side::Client, Side::Server] {
                self.transmit(side, None);
                moved |= !self.halves[side.index()].outbox.is_empty();
                self.deliver(side.other(), 0, &[]);
            }
            if !moved {
                return;
            }
        }
        panic!("output never ran dry");
    }

    /// What each side received is what the other sent (when nothing was corrupted).
    fn check_delivery(&self, eof: bool) {
        for side in [Side::Client, Side::Server] {
            let receiver = &self.halves[side.index()];
            let sender = &self.halves[side.other().index()];
            if receiver.corrupted {
                continue;
            }
            let got = &receiver.collector.events;
            assert!(
                sender.sent.starts_with(got),
                "{side:?} received what was not sent:\n got {got:?}\nsent {:?}",
                sender.sent
            );
            let (_, partial) = receiver.collector.partial();
            let sending: &[u8] = sender.sending.as_ref().map_or(&[], |m| &m.1);
            let reading = matches!(
                self.peer_ref(side).current_state(),
                State::Open | State::LocalClosing
            );
            let closed = receiver.collector.end == Some(End::Closed);
            if !eof && (reading || closed) && sender.outbox.is_empty() {
                assert_eq!(
                    got, &sender.sent,
                    "{side:?} did not receive everything sent"
                );
                if reading && partial.len() <= sending.len() && got.len() == sender.sent.len() {
                    assert_eq!(partial, sending, "{side:?}: open message differs");
                }
            }
            if got.len() == sender.sent.len() && !partial.is_empty() {
                assert!(
                    sending.starts_with(partial),
                    "{side:?}: open message is not what was sent"
                );
            }
        }
    }

    /// Every connection that is not open ends, at the latest when its timer runs out.
    fn check_liveness(&mut self) {
        for _ in 0..6 {
            self.flush();
            let mut next = None;
            for side in [Side::Client, Side::Server] {
                let peer = self.peer_ref(side);
                if peer.current_state() == State::Open || peer.close_transport() {
                    continue;
                }
                let deadline = peer.next_timeout().unwrap_or_else(|| {
                    panic!(
                        "{side:?} stuck in {:?}: no timer, transport open",
                        peer.current_state()
                    )
                });
                next = Some(next.map_or(deadline, |n: Instant| n.min(deadline)));
            }
            let Some(next) = next else { return };
            self.advance(next.max(self.now));
        }
        panic!("connections did not end");
    }
}

fn open(scenario: &Scenario) -> World {
    let client_config = scenario.client.config();
    let server_config = scenario.server.config();
    let (mut client, request) = new_client(client_config);
    let mut server = Server::new(server_config, Instant::ZERO);
    let mut input = request.clone();
    let received = server.receive(&mut input, Instant::ZERO).expect("request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut response = [0u8; 512];
    let n = server
        .accept(&request, Accept::default(), Instant::ZERO, &mut response)
        .expect("accept");
    let received = client
        .receive(&mut response[..n], Instant::ZERO)
        .expect("response");
    assert!(matches!(received.event, Some(Event::Connected(_))));
    assert_eq!(received.consumed, n);
    World {
        client,
        server,
        halves: [
            Half::new(client_config, true),
            Half::new(server_config, false),
        ],
        now: Instant::ZERO,
    }
}

fuzz_target!(|scenario: Scenario| {
    let mut world = open(&scenario);
    let mut eof = false;
    for op in &scenario.ops {
        if !world.apply(op) {
            eof = true;
            break;
        }
        world.check_delivery(true);
    }
    if !eof {
        world.flush();
        world.check_delivery(false);
        world.check_liveness();
    }
    world.check_delivery(true);
});
