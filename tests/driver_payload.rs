//! A data frame's payload read straight into the caller's storage
//! (`Driver::payload_space` / `Driver::payload_filled`) instead of into the input buffer:
//! the same messages, byte for byte, as through the input, whatever the cuts (the mask
//! offset continues across them, RFC 6455 §5.3; text split inside a character is checked
//! as it arrives, §8.1), with control frames between fragments (§5.4), a Close in the
//! middle of a message, invalid text (1007) and a message over the limit (1009); misuse is
//! a `UsageError`, never a panic, and changes nothing.

mod common;
use common::*;

use sockless::deflate::DeflateParams;
use sockless::driver::{Driver, End, Step};
use sockless::{
    CloseCode, Config, Connection, Endpoint, Event, InputBuffer, MessageKind, ProtocolError,
    UsageError,
};

type Storage = Vec<u8>;

/// A driver over a small input (256 bytes), so that most of a message's payload comes
/// after its header has left the input.
fn driver<E: Endpoint>(endpoint: E, config: &Config) -> Driver<E, Storage, Storage> {
    let input = InputBuffer::for_frames(vec![0u8; 256]).unwrap();
    Driver::new(endpoint, input, vec![0u8; 4096], config).unwrap()
}

/// What the I/O loop saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Close(Option<CloseCode>),
    Failed(ProtocolError),
}

/// How a run over a whole wire ended.
#[derive(Debug)]
struct Run {
    seen: Vec<Seen>,
    /// Payload bytes read straight into the message.
    direct: usize,
    /// How many `payload_filled` calls there were.
    direct_reads: usize,
    /// What the driver wrote.
    written: Vec<u8>,
    end: End,
}

/// Drive `d` over `wire` as an I/O loop would: `cut` bytes at most per read into the input,
/// `direct_cut` at most per read straight into the message being assembled whenever
/// `payload_space` allows, every piece collected as an application collects them.
fn drive<E: Endpoint>(
    mut d: Driver<E, Storage, Storage>,
    wire: &[u8],
    cut: usize,
    direct_cut: usize,
) -> Run {
    let now = at(0);
    let (mut seen, mut written, mut message) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pos, mut direct, mut direct_reads) = (0, 0, 0);
    for _ in 0..1_000_000 {
        match d.poll(now) {
            Step::Write { .. } => {
                let t = d.transmit();
                assert_eq!(t.payload_len, 0);
                written.extend_from_slice(t.staged);
                let n = t.staged.len();
                d.wrote(n, now);
            }
            Step::Event(_) => match d.event().unwrap() {
                Event::Chunk(chunk) => {
                    if chunk.first {
                        message.clear();
                    }
                    message.extend_from_slice(chunk.data);
                    if chunk.last {
                        seen.push(Seen::Message(chunk.kind, std::mem::take(&mut message)));
                    }
                }
                Event::Text(text) => seen.push(Seen::Message(MessageKind::Text, text.into())),
                Event::Binary(data) => seen.push(Seen::Message(MessageKind::Binary, data.into())),
                Event::Ping(payload) => seen.push(Seen::Ping(payload.to_vec())),
                Event::Close(frame) => seen.push(Seen::Close(frame.code)),
                Event::Failed(error) => seen.push(Seen::Failed(error)),
                other => panic!("unexpected {other:?}"),
            },
            Step::Read { .. } if pos == wire.len() => d.read_closed(now),
            Step::Read { .. } => {
                let space = d.payload_space();
                if space == 0 {
                    let end = wire.len().min(pos + cut);
                    pos += d.feed(&wire[pos..end], now);
                    continue;
                }
                let n = space.min(direct_cut).min(wire.len() - pos);
                let start = message.len();
                message.extend_from_slice(&wire[pos..pos + n]);
                pos += n;
                direct += n;
                direct_reads += 1;
                let piece = match d.payload_filled(&mut message[start..], now).unwrap() {
                    Event::Chunk(chunk) => {
                        assert_eq!(chunk.data.len(), n);
                        Ok((chunk.kind, chunk.first, chunk.last))
                    }
                    Event::Failed(error) => Err(error),
                    other => panic!("unexpected {other:?}"),
                };
                match piece {
                    Ok((kind, first, last)) => {
                        if first {
                            message.drain(..start);
                        }
                        if last {
                            seen.push(Seen::Message(kind, std::mem::take(&mut message)));
                        }
                    }
                    Err(error) => seen.push(Seen::Failed(error)),
                }
            }
            Step::Close(end) => {
                return Run {
                    seen,
                    direct,
                    direct_reads,
                    written,
                    end,
                };
            }
        }
    }
    panic!("the driver never ended");
}

/// Text with characters of every length (1 to 4 bytes), `len` bytes or a little more.
fn text(len: usize) -> Vec<u8> {
    let mut text = String::new();
    while text.len() < len {
        text.push_str("a é € 𝄞 ");
    }
    text.into_bytes()
}

/// A frame for the role that receives it: masked for a server, unmasked for a client.
fn frame(masked: bool, first: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first, masked.then_some(MASK), payload, 0)
}

/// `payload` as a message of three fragments cut at `cuts` (inside characters, for
/// text), with a Ping between the first two, then a Close.
fn fragmented(masked: bool, opcode: u8, payload: &[u8], cuts: [usize; 2]) -> Vec<u8> {
    let [a, b] = cuts;
    let mut wire = frame(masked, opcode, &payload[..a]);
    wire.extend(frame(masked, 0x89, b"between"));
    wire.extend(frame(masked, 0x00, &payload[a..b]));
    wire.extend(frame(masked, 0x80, &payload[b..]));
    wire.extend(frame(masked, 0x88, &1000u16.to_be_bytes()));
    wire
}

fn server(config: Config) -> Driver<Connection, Storage, Storage> {
    driver(Connection::server(&config, at(0)), &config)
}

#[test]
fn every_cut_size_gives_the_same_message_in_both_roles() {
    let config = Config::default();
    let payloads = [
        (0x01, MessageKind::Text, text(1500)),
        (0x02, MessageKind::Binary, noise(1500, 7)),
    ];
    for (opcode, kind, payload) in payloads {
        // The cuts fall inside characters: "é" is 2 bytes at 2..4 of each "a é € 𝄞 ".
        let cuts = [403, 1001];
        assert!(std::str::from_utf8(&payload[..cuts[0]]).is_err());
        for direct_cut in (1..=67).chain([usize::MAX]) {
            let cut = direct_cut % 200 + 1;
            for masked in [true, false] {
                let wire = fragmented(masked, opcode, &payload, cuts);
                let run = if masked {
                    drive(server(Config::default()), &wire, cut, direct_cut)
                } else {
                    let client = Connection::client(&config, rng(), at(0));
                    drive(driver(client, &config), &wire, cut, direct_cut)
                };
                let context = format!("{kind:?} cut {cut} direct {direct_cut} masked {masked}");
                assert_eq!(
                    run.seen,
                    [
                        Seen::Ping(b"between".to_vec()),
                        Seen::Message(kind, payload.clone()),
                        Seen::Close(Some(CloseCode::NORMAL)),
                    ],
                    "{context}"
                );
                // Most of the payload came straight into the message, in pieces of at
                // most `direct_cut` bytes.
                assert!(run.direct > payload.len() / 2, "{context}: {}", run.direct);
                assert!(run.direct_reads >= run.direct / direct_cut.min(payload.len()));
                assert_eq!(close_code_in(&run.written), Some(1000), "{context}");
                let closed = End::Closed {
                    code: Some(CloseCode::NORMAL),
                };
                assert_eq!(run.end, closed, "{context}");
            }
        }
    }
}

#[test]
fn a_header_alone_in_the_input_leaves_the_whole_payload_to_read_directly() {
    let payload = noise(1000, 3);
    let mut wire = frame(true, 0x82, &payload);
    wire.extend(frame(true, 0x88, &[]));
    // The first read takes the 8-byte header exactly.
    let mut d = server(Config::default());
    assert_eq!(d.feed(&wire[..8], at(0)), 8);
    assert!(matches!(d.poll(at(0)), Step::Read { .. }));
    assert_eq!(d.payload_space(), 1000);
    let mut message = wire[8..8 + 1000].to_vec();
    let Ok(Event::Chunk(chunk)) = d.payload_filled(&mut message, at(0)) else {
        panic!("no piece")
    };
    assert!(chunk.first && chunk.last && chunk.kind == MessageKind::Binary);
    assert_eq!(message, payload);
    assert_eq!(d.payload_space(), 0, "the next bytes are a header");
}

#[test]
fn invalid_text_read_directly_fails_with_1007() {
    // An invalid byte in the middle, and a character cut by the end of the message.
    let mut invalid = text(1000);
    invalid[700] = 0xFF;
    let mut cut_short = text(1000);
    cut_short.truncate(cut_short.len() - 1);
    cut_short.extend_from_slice("€".as_bytes().split_last().unwrap().1);
    for (payload, fin) in [(invalid, 0x81), (cut_short, 0x81), (text(1000), 0x01)] {
        let mut wire = frame(true, fin, &payload);
        if fin == 0x01 {
            // A final fragment that ends inside a character.
            wire.extend(frame(true, 0x80, &[0xF0, 0x9D]));
        }
        for direct_cut in [1, 3, 64, usize::MAX] {
            let run = drive(server(Config::default()), &wire, 100, direct_cut);
            assert_eq!(
                run.seen,
                [Seen::Failed(ProtocolError::InvalidUtf8)],
                "direct {direct_cut}"
            );
            assert!(run.direct > 0);
            assert_eq!(close_code_in(&run.written), Some(1007));
            assert_eq!(run.end, End::Failed(ProtocolError::InvalidUtf8));
        }
    }
}

#[test]
fn a_message_over_the_limit_fails_with_1009_after_direct_reads() {
    let config = Config::default().with_max_message_len(1000);
    let mut wire = frame(true, 0x02, &noise(600, 1));
    wire.extend(frame(true, 0x80, &noise(401, 2)));
    let run = drive(server(config), &wire, 100, 50);
    assert_eq!(run.seen, [Seen::Failed(ProtocolError::MessageTooLarge)]);
    assert!(run.direct >= 500, "{}", run.direct);
    assert_eq!(close_code_in(&run.written), Some(1009));
    assert_eq!(run.end, End::Failed(ProtocolError::MessageTooLarge));
    // One byte less fits.
    let mut wire = frame(true, 0x02, &noise(600, 1));
    wire.extend(frame(true, 0x80, &noise(400, 2)));
    wire.extend(frame(true, 0x88, &[]));
    let fits = drive(server(config), &wire, 100, 50);
    let mut whole = noise(600, 1);
    whole.extend(noise(400, 2));
    assert_eq!(
        fits.seen,
        [Seen::Message(MessageKind::Binary, whole), Seen::Close(None)]
    );
}

#[test]
fn a_close_in_the_middle_of_a_message_ends_it_cleanly() {
    let mut wire = frame(true, 0x01, &text(900));
    wire.extend(frame(true, 0x88, &1001u16.to_be_bytes()));
    // Nothing after the Close is read (§7.1.1).
    wire.extend(frame(true, 0x80, b"after"));
    let run = drive(server(Config::default()), &wire, 64, 100);
    assert_eq!(run.seen, [Seen::Close(Some(CloseCode::GOING_AWAY))]);
    assert!(run.direct > 700);
    assert_eq!(close_code_in(&run.written), Some(1001));
    let code = Some(CloseCode::GOING_AWAY);
    assert_eq!(run.end, End::Closed { code });
}

#[test]
fn misuse_is_refused_and_changes_nothing() {
    let now = at(0);
    let mut d = server(Config::default());
    // No frame open.
    assert_eq!(d.payload_space(), 0);
    assert_eq!(
        d.payload_filled(&mut [1, 2, 3], now).unwrap_err(),
        UsageError::NoPayloadSpace
    );
    let payload = noise(500, 9);
    let wire = frame(true, 0x82, &payload);
    // Header and 10 bytes received, not used yet: they come first.
    assert_eq!(d.feed(&wire[..18], now), 18);
    assert_eq!(d.payload_space(), 0);
    assert!(d.payload_filled(&mut [0; 4], now).is_err());
    // The piece from the input is pending: it comes first too.
    assert!(matches!(d.poll(now), Step::Event(_)));
    assert_eq!(d.payload_space(), 0);
    assert!(d.payload_filled(&mut [0; 4], now).is_err());
    let Some(Event::Chunk(chunk)) = d.event() else {
        panic!("no piece")
    };
    assert_eq!(chunk.data, &payload[..10]);
    assert_eq!(d.payload_space(), 490);
    // More than the frame has left, and nothing at all.
    let mut rest = wire[18..].to_vec();
    rest.push(0);
    assert_eq!(
        d.payload_filled(&mut rest, now).unwrap_err(),
        UsageError::NoPayloadSpace
    );
    assert_eq!(
        d.payload_filled(&mut [], now).unwrap_err(),
        UsageError::NoPayloadSpace
    );
    assert_eq!(d.payload_space(), 490, "nothing changed");
    // Bytes of the frame read into the input and not used yet come first.
    assert_eq!(d.feed(&wire[18..23], now), 5);
    assert_eq!(d.payload_space(), 0);
    assert!(d.payload_filled(&mut [0; 4], now).is_err());
    assert!(matches!(d.poll(now), Step::Event(_)));
    let Some(Event::Chunk(chunk)) = d.event() else {
        panic!("no piece")
    };
    assert_eq!(chunk.data, &payload[10..15]);
    assert_eq!(d.payload_space(), 485);
    // The right count then goes through, unmasked from the right key offset (15).
    rest.pop();
    let mut rest = rest.split_off(5);
    let (a, b) = rest.split_at_mut(123);
    assert!(matches!(
        d.payload_filled(a, now),
        Ok(Event::Chunk(c)) if !c.first && !c.last
    ));
    assert!(matches!(
        d.payload_filled(b, now),
        Ok(Event::Chunk(c)) if !c.first && c.last
    ));
    assert_eq!(rest, payload[15..]);
    assert_eq!(d.payload_space(), 0);
}

#[test]
fn a_compressed_message_is_read_through_the_input() {
    let config = Config::default();
    let params = DeflateParams::default();
    let connection = Connection::server(&config, at(0)).with_deflate(Some(params));
    let mut d = driver(connection, &config);
    // RSV1 on a 1000-byte first frame: its bytes are the inflater's, from the input.
    let wire = frame(true, 0xC2, &noise(1000, 4));
    assert_eq!(d.feed(&wire[..100], at(0)), 100);
    assert!(matches!(d.poll(at(0)), Step::Event(_)));
    assert!(matches!(d.event(), Some(Event::Compressed(_))));
    assert_eq!(d.payload_space(), 0);
    assert!(d.payload_filled(&mut [0; 8], at(0)).is_err());
}

#[test]
fn nothing_is_read_directly_after_the_connection_failed() {
    let mut d = server(Config::default());
    let wire = frame(true, 0x82, &noise(1000, 5));
    assert_eq!(d.feed(&wire[..8], at(0)), 8);
    assert!(matches!(d.poll(at(0)), Step::Read { .. }));
    assert_eq!(d.payload_space(), 1000);
    let mut bad = [0u8; 4];
    // A frame's bytes that are a protocol violation elsewhere: the application fails it.
    d.connection()
        .unwrap()
        .fail_with(ProtocolError::InvalidUtf8);
    assert_eq!(d.payload_space(), 0);
    assert!(d.payload_filled(&mut bad, at(0)).is_err());
}
