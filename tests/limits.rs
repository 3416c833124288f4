//! Configurable limits on frames and messages, failed with 1009 (RFC 6455 §7.4.1, §10.4),
//! with memory that never grows with a declared length; the size of each role's state.

mod common;
use common::*;
use sockless::{Client, Config, Endpoint, Error, ProtocolError, Server};

fn small() -> Config {
    Config::default()
        .with_max_frame_len(1000)
        .with_max_message_len(2500)
}

#[test]
fn defaults_suit_a_std_server() {
    let config = Config::default();
    assert_eq!(config.max_message_len, 64 << 20);
    assert_eq!(config.max_frame_len, 16 << 20);
}

#[test]
fn frame_over_the_limit_fails_with_1009_from_its_header_in_each_role() {
    fn check(mut endpoint: impl Endpoint) {
        let bytes = frame_for(&endpoint, 0x82, &[0; 1001]);
        // Only the header (and mask) is given: the limit is judged before any payload.
        let header_len = bytes.len() - 1001;
        let (_, outcome, _) = feed(&mut endpoint, &bytes[..header_len], at(1));
        assert_eq!(outcome, Err(Error::Protocol(ProtocolError::FrameTooLarge)));
        assert_eq!(close_code_in(&drain(&mut endpoint)), Some(1009));
    }
    let (server, client) = both_roles(small());
    check(server);
    check(client);
}

#[test]
fn frame_at_the_limit_is_accepted() {
    let mut server = open_server(small());
    let (events, outcome, _) = feed(
        &mut server,
        &raw_frame(0x82, Some(MASK), &[5; 1000], 0),
        at(1),
    );
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Binary(vec![5; 1000])]);
}

#[test]
fn message_over_the_limit_across_fragments_fails_with_1009_in_each_role() {
    fn check(mut endpoint: impl Endpoint) {
        let mut bytes = frame_for(&endpoint, 0x02, &[1; 1000]);
        bytes.extend(frame_for(&endpoint, 0x00, &[2; 1000]));
        bytes.extend(frame_for(&endpoint, 0x80, &[3; 501]));
        let (events, outcome, _) = feed(&mut endpoint, &bytes, at(1));
        assert_eq!(
            events.len(),
            2,
            "the fragments within the limit are delivered"
        );
        assert_eq!(
            outcome,
            Err(Error::Protocol(ProtocolError::MessageTooLarge))
        );
        assert_eq!(close_code_in(&drain(&mut endpoint)), Some(1009));
    }
    let (server, client) = both_roles(small());
    check(server);
    check(client);
}

#[test]
fn message_limit_resets_for_each_message() {
    let mut server = open_server(small());
    for _ in 0..5 {
        let mut bytes = raw_frame(0x02, Some(MASK), &[1; 1000], 0);
        bytes.extend(raw_frame(0x80, Some(MASK), &[2; 1000], 0));
        let (_, outcome, _) = feed(&mut server, &bytes, at(1));
        outcome.unwrap();
    }
}

#[test]
fn large_message_streams_through_a_small_buffer() {
    // 1 MiB through 4 KiB pieces: never a buffer the size of the message.
    let config = Config::default();
    let mut server = open_server(config);
    let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
    let bytes = raw_frame(0x82, Some(MASK), &payload, 0);
    let (events, outcome) = feed_in_pieces(&mut server, &bytes, 4096, at(1));
    outcome.unwrap();
    let mut total = 0;
    for event in &events {
        let Ev::Chunk { data, .. } = event else {
            panic!("{event:?}")
        };
        assert!(data.len() <= 4096);
        assert_eq!(data[..], payload[total..total + data.len()]);
        total += data.len();
    }
    assert_eq!(total, payload.len());
}

/// A randomness source with no state of its own (as the OS source is), so that the
/// size measured is the connection's alone.
struct StatelessRng;

impl rand_core::TryRng for StatelessRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(4)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(4)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(4);
        Ok(())
    }
}

#[test]
fn open_connection_state_is_at_most_264_bytes() {
    let server = core::mem::size_of::<Server>();
    let client = core::mem::size_of::<Client<'static, StatelessRng>>();
    println!("size_of::<Server>() = {server}, size_of::<Client<stateless rng>>() = {client}");
    assert!(server <= 264, "Server is {server} bytes");
    assert!(client <= 264, "Client is {client} bytes");
}

#[cfg(feature = "std")]
#[test]
fn client_with_the_os_randomness_source_is_at_most_264_bytes() {
    let client = core::mem::size_of::<Client<'static, sockless::OsRng>>();
    assert!(client <= 264, "Client<OsRng> is {client} bytes");
}
