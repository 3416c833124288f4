//! Property tests (proptest): split invariance of the receive side for both roles, frame
//! header and masking round trips, and messages sent by one role received intact by the
//! other.

mod common;
use common::*;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use sockless::SendError;
use sockless::frame::{FrameHeader, OpCode, apply_mask};
use sockless::{Config, Endpoint, Error, MessageKind, ProtocolError, State};

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Characters of every UTF-8 length (1 to 4 bytes), including the edges of the ranges.
const CHARS: &[char] = &[
    'a',
    'z',
    ' ',
    '\0',
    '\u{7f}',
    '\u{80}',
    'é',
    'ß',
    '\u{7ff}',
    '\u{800}',
    '€',
    '中',
    '\u{d7ff}',
    '\u{e000}',
    '\u{fffd}',
    '\u{ffff}',
    '\u{10000}',
    '😀',
    '𝄞',
    '\u{10ffff}',
];

fn text() -> impl Strategy<Value = Vec<u8>> {
    let chars = prop_oneof![
        4 => prop::collection::vec(select(CHARS), 0..24),
        1 => prop::collection::vec(select(CHARS), 30..120),
    ];
    chars.prop_map(|chars| chars.into_iter().collect::<String>().into_bytes())
}

fn binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..32),
        1 => prop::collection::vec(any::<u8>(), 120..400),
    ]
}

fn message() -> impl Strategy<Value = (MessageKind, Vec<u8>)> {
    prop_oneof![
        text().prop_map(|data| (MessageKind::Text, data)),
        binary().prop_map(|data| (MessageKind::Binary, data)),
    ]
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..8),
        1 => prop::collection::vec(any::<u8>(), 120..=125),
    ]
}

#[derive(Clone, Debug)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn control() -> impl Strategy<Value = Control> {
    prop_oneof![
        control_payload().prop_map(Control::Ping),
        control_payload().prop_map(Control::Pong),
    ]
}

/// One item of a valid frame sequence.
#[derive(Clone, Debug)]
enum Item {
    /// A message, in one frame (`splits` empty) or in fragments cut at `splits` (which may
    /// repeat or sit at the ends: empty fragments are legal), with a control frame or
    /// none after each fragment but the last.
    Message {
        kind: MessageKind,
        data: Vec<u8>,
        splits: Vec<u32>,
        between: Vec<Option<Control>>,
    },
    Control(Control),
}

fn item() -> impl Strategy<Value = Item> {
    let fragmented = (
        message(),
        prop::collection::vec((any::<u32>(), prop::option::of(control())), 0..4),
    )
        .prop_map(|((kind, data), cuts)| {
            let (splits, between) = cuts.into_iter().unzip();
            Item::Message {
                kind,
                data,
                splits,
                between,
            }
        });
    prop_oneof![3 => fragmented, 1 => control().prop_map(Item::Control)]
}

/// Frames that break a rule whatever the state (no message is open at the end of a
/// sequence of items).
#[derive(Clone, Copy, Debug)]
enum Invalid {
    ReservedOpcode(u8),
    ReservedBit,
    WrongMasking,
    FragmentedPing,
    LongPing,
    NonMinimalLength,
    ContinuationWithoutMessage,
    CloseOneByte,
    CloseCode1005,
    CloseReasonNotUtf8,
    TextNotUtf8,
    TextEndsInsideCharacter,
    /// A fragment of a message, then a new Text frame while it is open.
    Interrupted,
}

/// How a sequence ends.
#[derive(Clone, Debug)]
enum End {
    Nothing,
    Close(Option<(u16, String)>),
    Invalid(Invalid),
}

fn end() -> impl Strategy<Value = End> {
    let close = prop::option::of((
        select(vec![
            1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999,
        ]),
        prop::collection::vec(select(CHARS), 0..10),
    ))
    .prop_map(|close| End::Close(close.map(|(code, reason)| (code, reason.into_iter().collect()))));
    let invalid = prop_oneof![
        select(vec![3u8, 4, 7, 0xB, 0xF]).prop_map(Invalid::ReservedOpcode),
        select(vec![
            Invalid::ReservedBit,
            Invalid::WrongMasking,
            Invalid::FragmentedPing,
            Invalid::LongPing,
            Invalid::NonMinimalLength,
            Invalid::ContinuationWithoutMessage,
            Invalid::CloseOneByte,
            Invalid::CloseCode1005,
            Invalid::CloseReasonNotUtf8,
            Invalid::TextNotUtf8,
            Invalid::TextEndsInsideCharacter,
            Invalid::Interrupted,
        ]),
    ];
    prop_oneof![
        2 => Just(End::Nothing),
        1 => close,
        2 => invalid.prop_map(End::Invalid),
    ]
}

/// Cut `data` into fragments (at least one) at `splits`, each a fraction of its length in
/// units of 2^-32.
fn fragments<'a>(data: &'a [u8], splits: &[u32]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = splits
        .iter()
        .map(|&s| (((data.len() as u64 + 1) * u64::from(s)) >> 32) as usize)
        .collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(&data[start..point]);
        start = point;
    }
    pieces.push(&data[start..]);
    pieces
}

/// Sorted, distinct cut points strictly inside `0..len`.
fn cut_points(len: usize, cuts: &[Index]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|i| i.index(len.max(1)))
        .filter(|&p| p > 0)
        .collect();
    points.sort_unstable();
    points.dedup();
    points
}

// ---------------------------------------------------------------------------------------
// What a receiver should see, normalised so that chunk boundaries do not matter
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Handshake(Ev),
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    /// The pieces of a message still open when the events stopped.
    Partial(MessageKind, Vec<u8>),
}

/// Concatenate chunks into messages; check that chunks are well formed (the first piece
/// opens a message, one kind per message, nothing else but control events inside one).
fn normalise(events: &[Ev]) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut open: Option<(MessageKind, Vec<u8>)> = None;
    for event in events {
        match event {
            Ev::Request(_) | Ev::Connected(_) | Ev::Rejected(_) => {
                seen.push(Seen::Handshake(event.clone()))
            }
            Ev::Text(text) => {
                assert!(open.is_none(), "whole message inside another: {events:?}");
                seen.push(Seen::Message(MessageKind::Text, text.as_bytes().to_vec()));
            }
            Ev::Binary(data) => {
                assert!(open.is_none(), "whole message inside another: {events:?}");
                seen.push(Seen::Message(MessageKind::Binary, data.clone()));
            }
            Ev::Chunk {
                kind,
                data,
                first,
                last,
            } => {
                assert_eq!(*first, open.is_none(), "`first` flag wrong: {events:?}");
                let (open_kind, bytes) = open.get_or_insert_with(|| (*kind, Vec::new()));
                assert_eq!(open_kind, kind, "kind changed inside a message");
                bytes.extend_from_slice(data);
                if *last {
                    let (kind, bytes) = open.take().unwrap();
                    if kind == MessageKind::Text {
                        assert!(std::str::from_utf8(&bytes).is_ok(), "text not UTF-8");
                    }
                    seen.push(Seen::Message(kind, bytes));
                }
            }
            Ev::Ping(payload) => seen.push(Seen::Ping(payload.clone())),
            Ev::Pong(payload) => seen.push(Seen::Pong(payload.clone())),
            Ev::Close(code, reason) => seen.push(Seen::Close(*code, reason.clone())),
        }
    }
    if let Some((kind, bytes)) = open {
        seen.push(Seen::Partial(kind, bytes));
    }
    seen
}

/// Everything observable after feeding one input.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    /// What the endpoint wrote before any input (the client's request).
    request: Vec<u8>,
    /// What `accept` wrote (server).
    accepted: Vec<u8>,
    seen: Vec<Seen>,
    outcome: Result<(), Error>,
    /// What `poll_transmit` owed once the whole input was fed.
    transmitted: Vec<u8>,
    state: State,
    close_transport: bool,
}

/// Feed `input` cut before each of `cuts` (sorted, distinct, inside the input), keeping
/// unconsumed bytes in front of the next piece as a socket reader would.
fn feed_cut(
    endpoint: &mut (impl Endpoint + 'static),
    input: &[u8],
    cuts: &[usize],
) -> (Vec<Ev>, Result<(), Error>, Vec<u8>) {
    let mut pending = Vec::new();
    let mut events = Vec::new();
    let mut accepted = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([&input.len()]) {
        pending.extend_from_slice(&input[start..end]);
        start = end;
        let (mut evs, outcome, left, mut acc) = feed_accepting(endpoint, &pending, at(0));
        events.append(&mut evs);
        accepted.append(&mut acc);
        if outcome.is_err() {
            return (events, outcome, accepted);
        }
        pending.drain(..pending.len() - left);
    }
    assert!(pending.is_empty(), "{} bytes never consumed", pending.len());
    (events, Ok(()), accepted)
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Server,
    Client,
}

fn new_client() -> sockless::Client<'static, TestRng> {
    let request = sockless::ClientRequest::from_url("ws://server.example.com/chat").unwrap();
    sockless::Client::new(request, Config::default(), rng(), at(0)).unwrap()
}

/// The handshake bytes the endpoint of `role` receives first.
fn handshake_input(role: Role) -> Vec<u8> {
    match role {
        Role::Server => UPGRADE_REQUEST.to_vec(),
        Role::Client => response_for(&drain(&mut new_client()), ""),
    }
}

fn run(role: Role, input: &[u8], cuts: &[usize]) -> Run {
    fn finish(
        endpoint: &mut (impl Endpoint + 'static),
        request: Vec<u8>,
        input: &[u8],
        cuts: &[usize],
    ) -> Run {
        let (events, outcome, accepted) = feed_cut(endpoint, input, cuts);
        let mut seen = normalise(&events);
        if outcome == Err(Error::Protocol(ProtocolError::InvalidUtf8)) {
            // How much of a text message is handed out before its invalid byte depends
            // on where the input was cut: only whole messages are comparable.
            seen.retain(|s| !matches!(s, Seen::Partial(..)));
        }
        Run {
            request,
            accepted,
            seen,
            outcome,
            transmitted: drain(endpoint),
            state: endpoint.state(),
            close_transport: endpoint.should_close_transport(),
        }
    }
    match role {
        Role::Server => finish(
            &mut sockless::Server::new(Config::default(), at(0)),
            Vec::new(),
            input,
            cuts,
        ),
        Role::Client => {
            let mut client = new_client();
            let request = drain(&mut client);
            finish(&mut client, request, input, cuts)
        }
    }
}

/// Masks for the frames a server receives, from a seed.
struct Masker(Option<TestRng>);

impl Masker {
    fn next(&mut self) -> Option<[u8; 4]> {
        use rand_core::Rng;
        self.0.as_mut().map(|rng| rng.next_u32().to_be_bytes())
    }
    fn frame(&mut self, first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mask = self.next();
        raw_frame(first_byte, mask, payload, 0)
    }
}

fn control_frame(masker: &mut Masker, control: &Control) -> Vec<u8> {
    match control {
        Control::Ping(payload) => masker.frame(0x89, payload),
        Control::Pong(payload) => masker.frame(0x8A, payload),
    }
}

fn control_seen(control: &Control) -> Seen {
    match control {
        Control::Ping(payload) => Seen::Ping(payload.clone()),
        Control::Pong(payload) => Seen::Pong(payload.clone()),
    }
}

/// The frames of `items` and `end` as the endpoint of `role` receives them, with what it
/// should report, the error it should end with, and the frames it then owes.
struct Scenario {
    frames: Vec<u8>,
    seen: Vec<Seen>,
    outcome: Result<(), Error>,
    /// (opcode, payload) of each owed frame.
    owed: Vec<(u8, Vec<u8>)>,
}

fn scenario(role: Role, items: &[Item], end: &End, mask_seed: u64) -> Scenario {
    let mut masker = Masker(match role {
        Role::Server => Some(TestRng(mask_seed | 1)),
        Role::Client => None,
    });
    let mut frames = Vec::new();
    let mut seen = Vec::new();
    let mut last_ping = None;
    let mut note_control = |control: &Control, seen: &mut Vec<Seen>| {
        if let Control::Ping(payload) = control {
            last_ping = Some(payload.clone());
        }
        seen.push(control_seen(control));
    };
    for item in items {
        match item {
            Item::Control(control) => {
                frames.extend(control_frame(&mut masker, control));
                note_control(control, &mut seen);
            }
            Item::Message {
                kind,
                data,
                splits,
                between,
            } => {
                let pieces = fragments(data, splits);
                let count = pieces.len();
                for (i, piece) in pieces.into_iter().enumerate() {
                    let opcode = match (i, kind) {
                        (0, MessageKind::Text) => 0x1,
                        (0, MessageKind::Binary) => 0x2,
                        _ => 0x0,
                    };
                    let fin = if i + 1 == count { 0x80 } else { 0 };
                    frames.extend(masker.frame(fin | opcode, piece));
                    if let Some(Some(control)) = between.get(i).filter(|_| i + 1 < count) {
                        frames.extend(control_frame(&mut masker, control));
                        note_control(control, &mut seen);
                    }
                }
                seen.push(Seen::Message(*kind, data.clone()));
            }
        }
    }
    let mut owed: Vec<(u8, Vec<u8>)> = last_ping.into_iter().map(|p| (0xA, p)).collect();
    let close_payload = |code: u16| code.to_be_bytes().to_vec();
    let mut outcome = Ok(());
    let mut fail = |error: ProtocolError, owed: &mut Vec<(u8, Vec<u8>)>| {
        outcome = Err(Error::Protocol(error));
        owed.push((0x8, close_payload(error.close_code().0)));
    };
    match end {
        End::Nothing => {}
        End::Close(close) => {
            let payload = match close {
                None => Vec::new(),
                Some((code, reason)) => {
                    let mut payload = close_payload(*code);
                    payload.extend_from_slice(reason.as_bytes());
                    payload
                }
            };
            frames.extend(masker.frame(0x88, &payload));
            let (code, reason) = match close {
                None => (None, String::new()),
                Some((code, reason)) => (Some(*code), reason.clone()),
            };
            seen.push(Seen::Close(code, reason));
            owed.push((0x8, close_payload(code.unwrap_or(1000))));
        }
        End::Invalid(invalid) => {
            use Invalid::*;
            let error = match invalid {
                ReservedOpcode(op) => {
                    frames.extend(masker.frame(0x80 | op, b""));
                    ProtocolError::ReservedOpcode(*op)
                }
                ReservedBit => {
                    frames.extend(masker.frame(0x80 | 0x40 | 0x2, b"rsv1"));
                    ProtocolError::ReservedBitsSet
                }
                WrongMasking => {
                    let mask = match role {
                        Role::Server => None,
                        Role::Client => Some(MASK),
                    };
                    frames.extend(raw_frame(0x82, mask, b"mask", 0));
                    match role {
                        Role::Server => ProtocolError::UnmaskedClientFrame,
                        Role::Client => ProtocolError::MaskedServerFrame,
                    }
                }
                FragmentedPing => {
                    frames.extend(masker.frame(0x09, b"ping"));
                    ProtocolError::FragmentedControlFrame
                }
                LongPing => {
                    frames.extend(masker.frame(0x89, &[7; 126]));
                    ProtocolError::ControlFrameTooLong
                }
                NonMinimalLength => {
                    let mask = masker.next();
                    frames.extend(raw_frame(0x82, mask, b"short", 16));
                    ProtocolError::NonMinimalLength
                }
                ContinuationWithoutMessage => {
                    frames.extend(masker.frame(0x80, b"cont"));
                    ProtocolError::UnexpectedContinuation
                }
                CloseOneByte => {
                    frames.extend(masker.frame(0x88, &[3]));
                    ProtocolError::ClosePayloadTooShort
                }
                CloseCode1005 => {
                    frames.extend(masker.frame(0x88, &close_payload(1005)));
                    ProtocolError::InvalidCloseCode(1005)
                }
                CloseReasonNotUtf8 => {
                    frames.extend(masker.frame(0x88, b"\x03\xe8ok\xff"));
                    ProtocolError::InvalidCloseReason
                }
                TextNotUtf8 => {
                    frames.extend(masker.frame(0x81, b"ok \xed\xa0\x80 surrogate"));
                    ProtocolError::InvalidUtf8
                }
                TextEndsInsideCharacter => {
                    frames.extend(masker.frame(0x81, b"ends in \xe2\x82"));
                    ProtocolError::InvalidUtf8
                }
                Interrupted => {
                    let first = "fragment é".as_bytes();
                    frames.extend(masker.frame(0x01, first));
                    frames.extend(masker.frame(0x81, b"new"));
                    seen.push(Seen::Partial(MessageKind::Text, first.to_vec()));
                    ProtocolError::MessageInterrupted
                }
            };
            fail(error, &mut owed);
        }
    }
    Scenario {
        frames,
        seen,
        outcome,
        owed,
    }
}

/// The invariance property for one role: whole, 1-byte pieces and arbitrary cuts give the
/// same run, and that run is the one the scenario calls for.
fn check_split_invariance(
    role: Role,
    items: &[Item],
    end: &End,
    mask_seed: u64,
    cuts: &[Index],
) -> Result<(), TestCaseError> {
    let scenario = scenario(role, items, end, mask_seed);
    let mut input = handshake_input(role);
    let handshake_len = input.len();
    input.extend_from_slice(&scenario.frames);

    let whole = run(role, &input, &[]);
    let bytes: Vec<usize> = (1..input.len()).collect();
    let one_by_one = run(role, &input, &bytes);
    let arbitrary = run(role, &input, &cut_points(input.len(), cuts));
    // Cuts right around the end of the handshake head and in the first frame header.
    let around_head: Vec<usize> = (handshake_len - 3..handshake_len + 3)
        .filter(|&p| p > 0 && p < input.len())
        .collect();
    let head = run(role, &input, &around_head);
    prop_assert_eq!(&one_by_one, &whole, "1-byte pieces");
    prop_assert_eq!(&arbitrary, &whole, "arbitrary cuts");
    prop_assert_eq!(&head, &whole, "cuts around the head");

    // And the run is the right one.
    let mut expected_seen = vec![Seen::Handshake(match role {
        Role::Server => Ev::Request("/chat?room=1".into()),
        Role::Client => Ev::Connected(None),
    })];
    expected_seen.extend(scenario.seen.iter().cloned());
    if whole.outcome == Err(Error::Protocol(ProtocolError::InvalidUtf8)) {
        expected_seen.retain(|s| !matches!(s, Seen::Partial(..)));
    }
    prop_assert_eq!(&whole.seen, &expected_seen);
    prop_assert_eq!(whole.outcome, scenario.outcome);
    match role {
        Role::Server => prop_assert!(whole.accepted.starts_with(b"HTTP/1.1 101 ")),
        Role::Client => prop_assert!(whole.request.starts_with(b"GET /chat HTTP/1.1\r\n")),
    }
    let owed: Vec<(u8, Vec<u8>)> = wire_frames(&whole.transmitted)
        .into_iter()
        .map(|f| {
            assert!(f.fin && f.rsv == 0 && f.minimal);
            assert_eq!(f.masked, matches!(role, Role::Client));
            (f.opcode, f.payload)
        })
        .collect();
    prop_assert_eq!(&owed, &scenario.owed);
    let closing = !matches!(end, End::Nothing);
    prop_assert_eq!(
        whole.state,
        if closing { State::Closed } else { State::Open }
    );
    // After the closing handshake a client waits for the server to close the transport;
    // after a failure both close it at once.
    let close_transport = match end {
        End::Nothing => false,
        End::Close(_) => matches!(role, Role::Server),
        End::Invalid(_) => true,
    };
    prop_assert_eq!(whole.close_transport, close_transport);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Split invariance, server role: the upgrade request then masked frames.
    #[test]
    fn split_invariance_server(
        items in prop::collection::vec(item(), 0..6),
        end in end(),
        mask_seed in any::<u64>(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        check_split_invariance(Role::Server, &items, &end, mask_seed, &cuts)?;
    }

    /// Split invariance, client role: the 101 response then unmasked frames.
    #[test]
    fn split_invariance_client(
        items in prop::collection::vec(item(), 0..6),
        end in end(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        check_split_invariance(Role::Client, &items, &end, 0, &cuts)?;
    }
}

/// The 64-bit length form (more than 65535 bytes), too large for many proptest cases with
/// 1-byte pieces: a few fixed cuttings, both roles.
#[test]
fn split_invariance_with_64_bit_lengths() {
    let text: String = "aé€😀".repeat(7_000);
    let binary: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    let items = vec![
        Item::Message {
            kind: MessageKind::Binary,
            data: binary,
            splits: vec![],
            between: vec![],
        },
        Item::Message {
            kind: MessageKind::Text,
            data: text.into_bytes(),
            splits: vec![u32::MAX / 2],
            between: vec![Some(Control::Ping(b"mid".to_vec()))],
        },
    ];
    for role in [Role::Server, Role::Client] {
        let scenario = scenario(role, &items, &End::Close(None), 99);
        let mut input = handshake_input(role);
        input.extend_from_slice(&scenario.frames);
        let whole = run(role, &input, &[]);
        assert_eq!(whole.outcome, Ok(()));
        assert_eq!(whole.seen.len(), 5, "{role:?}");
        for step in [1, 3, 13, 4096] {
            let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
            assert_eq!(
                run(role, &input, &cuts),
                whole,
                "{role:?}, pieces of {step}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Round trips: frame headers, masking
// ---------------------------------------------------------------------------------------

fn header() -> impl Strategy<Value = FrameHeader> {
    let opcode = select(vec![
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ]);
    let len = prop_oneof![
        0u64..=125,
        126u64..=0xFFFF,
        0x1_0000u64..=(u64::MAX >> 1),
        select(vec![0, 125, 126, 127, 0xFFFF, 0x1_0000, u64::MAX >> 1]),
    ];
    (
        any::<bool>(),
        0u8..8,
        opcode,
        prop::option::of(any::<[u8; 4]>()),
        len,
    )
        .prop_map(|(fin, rsv, opcode, mask, payload_len)| {
            // Control frames are whole and short (§5.5); anything else is refused.
            let (fin, payload_len) = if opcode.is_control() {
                (true, payload_len % 126)
            } else {
                (fin, payload_len)
            };
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every header the encoder writes decodes to itself, in the shortest form; every
    /// prefix of it asks for more bytes; a short buffer is refused with the size needed
    /// and left untouched; small frames match the hand-built encoding of the harness.
    #[test]
    fn frame_header_round_trip(header in header(), trailing in prop::collection::vec(any::<u8>(), 0..4)) {
        let mut buf = [0u8; 20];
        let n = header.encode(&mut buf).expect("fits in 14 bytes");
        prop_assert_eq!(n, header.encoded_len());
        prop_assert!(n <= sockless::frame::MAX_HEADER_LEN);
        prop_assert_eq!(FrameHeader::decode(&buf[..n]), Ok(Some((header, n))));
        let mut longer = buf[..n].to_vec();
        longer.extend_from_slice(&trailing);
        prop_assert_eq!(FrameHeader::decode(&longer), Ok(Some((header, n))));
        for cut in 0..n {
            prop_assert_eq!(FrameHeader::decode(&buf[..cut]), Ok(None), "prefix of {}", cut);
        }
        let mut small = [0xAAu8; 14];
        prop_assert_eq!(header.encode(&mut small[..n - 1]), Err(n));
        prop_assert_eq!(small, [0xAAu8; 14]);
        let first_byte = (u8::from(header.fin) << 7) | (header.rsv << 4) | header.opcode as u8;
        if header.payload_len <= 300 {
            let payload = vec![0u8; header.payload_len as usize];
            let reference = raw_frame(first_byte, header.mask, &payload, 0);
            prop_assert_eq!(&buf[..n], &reference[..n]);
        }
    }

    /// Masking is its own inverse, matches the byte-by-byte definition (§5.3), and a
    /// payload masked in pieces with the right offsets equals one masked whole.
    #[test]
    fn masking_round_trip(
        data in prop::collection::vec(any::<u8>(), 0..300),
        key in any::<[u8; 4]>(),
        offset in 0usize..16,
        split in any::<Index>(),
    ) {
        let mut masked = data.clone();
        apply_mask(&mut masked, key, offset);
        let reference: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(offset + i) % 4])
            .collect();
        prop_assert_eq!(&masked, &reference);
        let mut twice = masked.clone();
        apply_mask(&mut twice, key, offset);
        prop_assert_eq!(&twice, &data);
        let at = split.index(data.len() + 1);
        let mut pieces = data.clone();
        let (head, tail) = pieces.split_at_mut(at);
        apply_mask(head, key, offset);
        apply_mask(tail, key, offset + at);
        prop_assert_eq!(&pieces, &masked);
    }
}

// ---------------------------------------------------------------------------------------
// Round trip between the two roles
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Send {
    Text(String),
    Binary(Vec<u8>),
    Fragmented {
        kind: MessageKind,
        data: Vec<u8>,
        splits: Vec<u32>,
        pings: Vec<Option<Vec<u8>>>,
    },
    Ping(Vec<u8>),
}

fn send() -> impl Strategy<Value = Send> {
    prop_oneof![
        text().prop_map(|t| Send::Text(String::from_utf8(t).unwrap())),
        binary().prop_map(Send::Binary),
        (
            message(),
            prop::collection::vec((any::<u32>(), prop::option::of(control_payload())), 0..4)
        )
            .prop_map(|((kind, data), cuts)| {
                let (splits, pings) = cuts.into_iter().unzip();
                Send::Fragmented {
                    kind,
                    data,
                    splits,
                    pings,
                }
            }),
        control_payload().prop_map(Send::Ping),
    ]
}

/// Encode `sends` with `sender`'s commands; returns the bytes and what the receiver should
/// report.
fn encode_sends(sender: &mut impl Endpoint, sends: &[Send]) -> (Vec<u8>, Vec<Seen>) {
    let mut wire = Vec::new();
    let mut seen = Vec::new();
    let mut out = vec![0u8; 1024];
    let mut emit = |n: Result<usize, SendError>, out: &[u8]| {
        wire.extend_from_slice(&out[..n.expect("send")]);
    };
    for send in sends {
        match send {
            Send::Text(text) => {
                emit(sender.connection().unwrap().send_text(text, &mut out), &out);
                seen.push(Seen::Message(MessageKind::Text, text.as_bytes().to_vec()));
            }
            Send::Binary(data) => {
                emit(
                    sender.connection().unwrap().send_binary(data, &mut out),
                    &out,
                );
                seen.push(Seen::Message(MessageKind::Binary, data.clone()));
            }
            Send::Ping(payload) => {
                emit(sender.connection().unwrap().ping(payload, &mut out), &out);
                seen.push(Seen::Ping(payload.clone()));
            }
            Send::Fragmented {
                kind,
                data,
                splits,
                pings,
            } => {
                let pieces = fragments(data, splits);
                let count = pieces.len();
                for (i, piece) in pieces.into_iter().enumerate() {
                    let last = i + 1 == count;
                    emit(
                        sender
                            .connection()
                            .unwrap()
                            .send_fragment(*kind, piece, last, &mut out),
                        &out,
                    );
                    if let Some(Some(payload)) = pings.get(i).filter(|_| !last) {
                        emit(sender.connection().unwrap().ping(payload, &mut out), &out);
                        seen.push(Seen::Ping(payload.clone()));
                    }
                }
                seen.push(Seen::Message(*kind, data.clone()));
            }
        }
    }
    (wire, seen)
}

fn check_round_trip(
    sender: &mut (impl Endpoint + 'static),
    receiver: &mut (impl Endpoint + 'static),
    sends: &[Send],
    cuts: &[Index],
) -> Result<(), TestCaseError> {
    let (wire, expected) = encode_sends(sender, sends);
    for frame in wire_frames(&wire) {
        prop_assert!(frame.minimal && frame.rsv == 0);
        prop_assert_eq!(frame.masked, expects_masked(receiver));
    }
    let (events, outcome, _) = feed_cut(receiver, &wire, &cut_points(wire.len(), cuts));
    prop_assert_eq!(outcome, Ok(()));
    prop_assert_eq!(normalise(&events), expected);
    // The automatic Pong answers the latest Ping, and the sender hears it.
    let last_ping = sends.iter().rev().find_map(|send| match send {
        Send::Ping(payload) => Some(payload.clone()),
        Send::Fragmented { splits, pings, .. } => pings
            .iter()
            .take(splits.len())
            .rev()
            .find_map(|p| p.clone()),
        _ => None,
    });
    let (events, outcome) = pump(receiver, sender, at(0));
    prop_assert_eq!(outcome, Ok(()));
    prop_assert_eq!(
        events,
        last_ping.map(Ev::Pong).into_iter().collect::<Vec<_>>()
    );
    prop_assert_eq!(
        (sender.state(), receiver.state()),
        (State::Open, State::Open)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Messages, fragments and pings sent by the client arrive intact at the server,
    /// whatever the cuts; and the other way round.
    #[test]
    fn messages_round_trip_between_roles(
        sends in prop::collection::vec(send(), 0..6),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
        client_to_server in any::<bool>(),
    ) {
        let (mut client, mut server) = connected_pair(Config::default());
        if client_to_server {
            check_round_trip(&mut client, &mut server, &sends, &cuts)?;
        } else {
            check_round_trip(&mut server, &mut client, &sends, &cuts)?;
        }
    }
}
