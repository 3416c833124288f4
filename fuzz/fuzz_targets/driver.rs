//! A server behind the `Driver`, fed arbitrary reads (a valid upgrade request first, so
//! that most runs reach the open connection, then arbitrary bytes or masked frames),
//! arbitrary write results (the transport taking all, some or none of what it is offered),
//! transport ends and failures, clock jumps and application commands. It checks:
//!
//! - no panic, whatever comes;
//! - every deadline is honoured: a step never names a deadline that has already passed
//!   (a passed deadline is acted on before anything else), and a connection whose output
//!   the transport never takes is given up once the write timeout has passed;
//! - storage can be exchanged at any point (`replace_input`, `replace_output`) without
//!   losing or changing a byte: the checks above hold across it;
//! - memory is bounded: what waits for the transport never exceeds the output storage plus
//!   the payload of one `send_header`, and an event's bytes fit in the input storage;
//! - the end is final: once a step says `Close`, every later step says the same;
//! - time moves on: advancing the clock to each named deadline always ends the connection
//!   within a bounded number of jumps when no input arrives;
//! - a data frame's payload read straight into the caller's storage (`payload_space` /
//!   `payload_filled`, in cuts of arbitrary sizes) comes back as a piece of exactly the
//!   bytes given, or the connection's failure, and takes that many bytes off the space;
//!   more than the space is refused (`UsageError::NoPayloadSpace`) and changes nothing.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sockless::driver::{Decision, Driver, Step};
use sockless::{
    CloseCode, Config, Duration, Event, InputBuffer, Instant, MessageKind, Server, UsageError,
};
use sockless_fuzz::UPGRADE_REQUEST;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes from the peer, as they are.
    Raw(Vec<u8>),
    /// A masked frame from the peer: first byte, payload.
    Frame(u8, Vec<u8>),
    /// The transport takes this many of the bytes offered (0: it is blocked).
    Write(u16),
    /// Time passes.
    Wait(u16),
    /// The application sends a message of this many bytes (staged or header + payload).
    Send(bool, u16),
    Ping(u8),
    Close(u16),
    /// Take the pending event, or answer the request with one of the decisions
    /// `decide_with` must carry out by its rules (see `decision`).
    Take(u8),
    Skip,
    ReadClosed,
    Failed,
    /// The adapter moves the input, then the output, to storage of these sizes (refused
    /// while an event is pending, a payload is owed, or the bytes held do not fit).
    Replace(u16, u16),
    /// Report this many bytes more than `payload_space` allows as read into the
    /// caller's storage (refused).
    Overfill(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    keep_alive_ms: Option<u8>,
    /// Read this many bytes (plus one) at most per read, a data frame's payload straight
    /// into storage of ours whenever `payload_space` allows; `None`: all there is, always
    /// through the input.
    direct_cut: Option<u16>,
    input_len: u16,
    output_len: u16,
    ops: Vec<Op>,
}

const WRITE_TIMEOUT_MS: u64 = 300;
/// The largest output storage a run uses (first or exchanged).
const MAX_OUTPUT: usize = sockless::MIN_OUTPUT_BUFFER + 4095;

fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// A server's decision on `request`, chosen by `choice`: the default, a subprotocol the
/// request offers (borrowed from it), one it does not offer, or a refusal whose body may
/// not fit the output.
fn decision<'a>(choice: u8, request: &sockless::Request<'a>, body: &'a [u8]) -> Decision<'a> {
    match choice % 4 {
        0 => Decision::AcceptUpgrade,
        1 => match request.subprotocols().next() {
            Some(offered) => Decision::Accept(sockless::Accept::DEFAULT.with_subprotocol(offered)),
            None => Decision::accept(),
        },
        2 => Decision::Accept(sockless::Accept::DEFAULT.with_subprotocol("never-offered")),
        _ => Decision::Respond {
            status: 403,
            headers: &[],
            body,
        },
    }
}

fuzz_target!(|input: Input| {
    let config = Config::default()
        .with_max_head_len(1024)
        .with_max_frame_len(4096)
        .with_max_message_len(8192)
        .with_handshake_timeout(Duration::from_millis(500))
        .with_close_timeout(Duration::from_millis(400))
        .with_keep_alive(
            input
                .keep_alive_ms
                .map(|ms| Duration::from_millis(u64::from(ms) + 1)),
        )
        .with_keep_alive_timeout(Duration::from_millis(200))
        .with_write_timeout(Duration::from_millis(WRITE_TIMEOUT_MS));
    let input_len = 1024 + usize::from(input.input_len % 4096);
    let output_len = sockless::MIN_OUTPUT_BUFFER + usize::from(input.output_len % 4096);
    let buffer = InputBuffer::new(vec![0u8; input_len], &config).unwrap();
    let mut now = Instant::ZERO;
    let server = Server::new(config, now);
    let mut driver = Driver::new(server, buffer, vec![0u8; output_len], &config).unwrap();
    let mut ended = None;
    let mut unread: Vec<u8> = UPGRADE_REQUEST.to_vec();

    let mut check = |driver: &mut Driver<Server, Vec<u8>, Vec<u8>>, now: Instant| -> Step {
        let step = driver.poll(now);
        match step {
            Step::Write { until } | Step::Read { until } => {
                if let Some(until) = until {
                    assert!(
                        until > now,
                        "a passed deadline ({until:?}) was not acted on at {now:?}"
                    );
                }
            }
            Step::Event(handle) => assert!(handle.len() <= input_len.max(8192)),
            Step::Close(end) => {
                if let Some(previous) = ended {
                    assert_eq!(previous, end, "the end changed");
                }
                ended = Some(end);
            }
        }
        if let Some(end) = ended {
            assert_eq!(step, Step::Close(end), "a step after the end");
        }
        let transmit = driver.transmit();
        assert!(transmit.staged.len() <= MAX_OUTPUT);
        assert!(
            transmit.payload_len < 2048,
            "at most one message's payload is owed"
        );
        step
    };

    for op in input.ops.iter().take(200) {
        let step = check(&mut driver, now);
        match op {
            Op::Raw(bytes) => unread.extend_from_slice(bytes),
            Op::Frame(first, payload) => {
                unread.extend(masked(*first, &payload[..payload.len().min(300)]))
            }
            Op::Write(n) => {
                if let Step::Write { .. } = step {
                    let t = driver.transmit();
                    let n = usize::from(*n).min(t.staged.len() + t.payload_len as usize);
                    driver.wrote(n, now);
                }
            }
            Op::Wait(ms) => now = now.saturating_add(Duration::from_millis(u64::from(*ms))),
            Op::Send(large, len) => {
                let data = vec![b'x'; usize::from(*len % 2048)];
                if *large {
                    let _ = driver.send_header(MessageKind::Binary, data.len() as u64, true, now);
                } else {
                    let _ = driver.send_binary(&data, now);
                }
            }
            Op::Ping(len) => {
                let _ = driver.ping(&vec![1; usize::from(*len % 130)], now);
            }
            Op::Close(code) => {
                let _ = driver.close(CloseCode(*code), "", now);
            }
            Op::Take(choice) => {
                if let Step::Event(_) = step {
                    let request = matches!(driver.event(), Some(sockless::Event::Request(_)));
                    if request {
                        let body = vec![b'x'; usize::from(*choice) * 64];
                        match driver.decide_with(now, |request| decision(*choice, request, &body)) {
                            // A mistake was answered 500 and ends the connection as such.
                            Err(mistake) => {
                                assert_eq!(driver.end(), Some(sockless::driver::End::Usage(mistake)))
                            }
                            Ok(()) => assert!(driver.event().is_none(), "the request was answered"),
                        }
                    }
                }
            }
            Op::Skip => driver.skip_event(),
            Op::ReadClosed => driver.read_closed(now),
            Op::Failed => driver.transport_failed(now),
            Op::Replace(input_len, output_len) => {
                let _ = driver.replace_input(vec![0u8; usize::from(*input_len % 8192)]);
                let output = vec![0u8; usize::from(*output_len) % (MAX_OUTPUT + 1)];
                let _ = driver.replace_output(output);
            }
            Op::Overfill(extra) => {
                let space = driver.payload_space();
                let mut too_much = vec![0u8; space + 1 + usize::from(*extra)];
                assert_eq!(
                    driver.payload_filled(&mut too_much, now).unwrap_err(),
                    UsageError::NoPayloadSpace
                );
                assert_eq!(driver.payload_space(), space, "a refusal changed nothing");
            }
        }
        // Whatever the driver can read of what the peer sent, it reads: straight into
        // storage of ours while a frame's payload is still to come, if the run says so.
        if let Step::Read { .. } = check(&mut driver, now) {
            let space = driver.payload_space();
            match input.direct_cut {
                Some(cut) if space > 0 && !unread.is_empty() => {
                    let n = space.min(usize::from(cut) + 1).min(unread.len());
                    let mut ours: Vec<u8> = unread.drain(..n).collect();
                    match driver.payload_filled(&mut ours, now) {
                        Ok(Event::Chunk(chunk)) => {
                            assert_eq!(chunk.data.len(), n);
                            let left = if n == space { 0 } else { space - n };
                            assert_eq!(driver.payload_space(), left);
                        }
                        Ok(Event::Failed(_)) => assert_eq!(driver.payload_space(), 0),
                        other => panic!("{other:?} for {n} bytes of {space}"),
                    }
                }
                // Reads into the input are cut as small, so that frames arrive in pieces.
                Some(cut) => {
                    let n = unread.len().min(usize::from(cut) + 1);
                    let n = driver.feed(&unread[..n], now);
                    unread.drain(..n);
                }
                None => {
                    let n = driver.feed(&unread, now);
                    unread.drain(..n);
                }
            }
        }
    }

    // With no more input and a transport that takes nothing, jumping to each named
    // deadline ends the connection after a bounded number of jumps.
    for _ in 0..64 {
        match check(&mut driver, now) {
            Step::Close(_) => return,
            Step::Event(_) => {
                if matches!(driver.event(), Some(sockless::Event::Request(_))) {
                    let _ = driver.decide(Decision::AcceptUpgrade, now);
                }
            }
            Step::Write { until } | Step::Read { until } => match until {
                Some(until) => now = until,
                // Nothing will ever happen without input: the peer ends the transport.
                None => driver.read_closed(now),
            },
        }
    }
    panic!("the connection never ended: {:?}", driver.poll(now));
});
