//! The driver's send path, in both roles: arbitrary messages (`send_message`: staged whole
//! when small, header only when large), Pings, and writes of what `write_parts` gives cut
//! at arbitrary sizes (the transport taking all, some or none of it). It checks:
//!
//! - no panic, whatever comes;
//! - what goes on the wire decodes to exactly the messages and Pings sent, in order, each
//!   message one final frame with its opcode and payload, a client's masked (RFC 6455
//!   §5.3), nothing lost, duplicated or changed, however the writes were cut;
//! - a text message that is not UTF-8 is refused with nothing staged; a send that does not
//!   fit, or comes while a payload is owed, is refused and changes nothing;
//! - progress: while anything is owed, `write_parts` offers at least one byte;
//! - memory is bounded: what is staged never exceeds the output storage.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sockless::driver::Driver;
use sockless::{
    Config, Connection, Endpoint, InputBuffer, Instant, MessageKind, SendError, UsageError,
};
use sockless_fuzz::{decode_output, rng};

#[derive(Arbitrary, Debug)]
enum Op {
    /// A message of `len * 8` bytes of `byte` (text or binary).
    Message {
        text: bool,
        len: u16,
        byte: u8,
    },
    Ping(u8),
    /// The transport takes at most this many bytes of what is offered (0: blocked).
    Write(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    client: bool,
    output_len: u16,
    ops: Vec<Op>,
}

const MAX_OUTPUT: usize = sockless::MIN_OUTPUT_BUFFER + 8191;

fuzz_target!(|input: Input| {
    let config = Config::default();
    let output_len = sockless::MIN_OUTPUT_BUFFER + usize::from(input.output_len) % 8192;
    if input.client {
        let connection = Connection::client(&config, rng(), Instant::ZERO);
        run(connection, true, output_len, &input.ops);
    } else {
        run(
            Connection::server(&config, Instant::ZERO),
            false,
            output_len,
            &input.ops,
        );
    }
});

/// What the wire must carry: the data messages and the Pings, each in order.
#[derive(Default)]
struct Sent {
    messages: Vec<(u8, Vec<u8>)>,
    pings: Vec<Vec<u8>>,
}

fn run<E: Endpoint>(endpoint: E, client: bool, output_len: usize, ops: &[Op]) {
    let config = Config::default();
    let input = InputBuffer::for_frames(vec![0u8; 4096]).unwrap();
    let mut driver = Driver::new(endpoint, input, vec![0u8; output_len], &config).unwrap();
    let now = Instant::ZERO;
    let mut sent = Sent::default();
    let mut wire = Vec::new();
    // The payload of the last message whose header went alone, until it is all written.
    let mut owed = Vec::new();
    for op in ops {
        match *op {
            Op::Message { text, len, byte } => {
                let data = vec![byte; usize::from(len) * 8];
                let kind = if text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                // `byte` repeated is UTF-8 only if it is ASCII (or there is none of it).
                let invalid = text && byte >= 0x80 && !data.is_empty();
                let before = driver.transmit().len();
                match driver.send_message(kind, &data, now) {
                    Ok(()) => {
                        assert!(!invalid, "invalid UTF-8 accepted");
                        sent.messages.push((if text { 1 } else { 2 }, data.clone()));
                        if driver.transmit().payload_len > 0 {
                            assert_eq!(driver.transmit().payload_len, data.len() as u64);
                            owed = data;
                        }
                    }
                    Err(error) => {
                        let expected = matches!(error, SendError::NoRoom { .. })
                            || error == SendError::Usage(UsageError::PayloadPending)
                            || (invalid && error == UsageError::InvalidUtf8.into());
                        assert!(expected, "unexpected refusal: {error:?}");
                        assert_eq!(driver.transmit().len(), before, "a refusal staged bytes");
                    }
                }
            }
            Op::Ping(len) => {
                let payload = vec![len; usize::from(len % 126)];
                let before = driver.transmit().len();
                match driver.ping(&payload, now) {
                    Ok(()) => sent.pings.push(payload),
                    Err(error) => {
                        assert!(
                            matches!(error, SendError::NoRoom { .. })
                                || error == SendError::Usage(UsageError::PayloadPending),
                            "unexpected refusal: {error:?}"
                        );
                        assert_eq!(driver.transmit().len(), before, "a refusal staged bytes");
                    }
                }
            }
            Op::Write(n) => write(&mut driver, &owed, usize::from(n), &mut wire),
        }
        assert!(driver.transmit().staged.len() <= MAX_OUTPUT);
    }
    // The transport takes the rest.
    let mut rounds = 0;
    while !driver.transmit().is_empty() {
        rounds += 1;
        assert!(rounds < 100_000, "the output never drains");
        write(&mut driver, &owed, usize::MAX, &mut wire);
    }
    let frames = decode_output(&wire, client);
    let mut messages = Vec::new();
    let mut pings = Vec::new();
    for frame in frames {
        match frame.opcode {
            1 | 2 => {
                assert!(frame.fin, "a message sent whole went out in fragments");
                messages.push((frame.opcode, frame.payload));
            }
            9 => pings.push(frame.payload),
            other => panic!("unexpected opcode {other} on the wire"),
        }
    }
    assert!(
        messages == sent.messages,
        "the messages on the wire differ from those sent"
    );
    assert_eq!(
        pings, sent.pings,
        "the Pings on the wire differ from those sent"
    );
}

/// One write of at most `n` bytes of what the driver offers.
fn write<E: Endpoint>(
    driver: &mut Driver<E, Vec<u8>, Vec<u8>>,
    owed: &[u8],
    n: usize,
    wire: &mut Vec<u8>,
) {
    let owes = !driver.transmit().is_empty();
    let [staged, payload] = driver.write_parts(owed);
    assert!(
        !owes || !(staged.is_empty() && payload.is_empty()),
        "something is owed, yet nothing is offered"
    );
    let take = (staged.len() + payload.len()).min(n);
    let from_staged = take.min(staged.len());
    wire.extend_from_slice(&staged[..from_staged]);
    wire.extend_from_slice(&payload[..take - from_staged]);
    driver.wrote(take, Instant::ZERO);
}
