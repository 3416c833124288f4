//! Whole messages from a real connection: the fixed-capacity assembler with the limit it
//! sets up (the connection fails an over-long message with 1009 itself), the caller's own
//! 1009 without that setup, pieces cut anywhere (inside a character too), and the `alloc`
//! assembler reusing its buffer.

#[cfg(feature = "alloc")]
use sockless::assemble::MessageAssembler;
use sockless::assemble::{AssembleError, FixedAssembler, WholeMessage};
use sockless::frame::FrameHeader;
use sockless::{Accept, Config, Endpoint, Event, Instant, ProtocolError, Server};

const N: usize = 64;
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn now() -> Instant {
    Instant::ZERO
}

/// A server past its handshake.
fn open_server(config: Config) -> Server {
    let mut server = Server::new(config, now());
    let mut request = REQUEST.to_vec();
    let received = server.receive(&mut request, now()).expect("request");
    assert_eq!(received.consumed, REQUEST.len());
    let Some(Event::Request(request)) = received.event else {
        panic!("no request event");
    };
    let mut out = [0u8; 512];
    let n = server
        .accept(&request, Accept::default(), now(), &mut out)
        .expect("accept");
    assert!(out[..n].starts_with(b"HTTP/1.1 101"));
    server
}

/// A client frame built by hand: masked, with the shortest length form.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![u8::from(fin) << 7 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// A whole message, owned (the library's `Message` needs its `alloc` feature).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Message {
    Text(String),
    Binary(Vec<u8>),
}

impl From<WholeMessage<'_>> for Message {
    fn from(message: WholeMessage<'_>) -> Self {
        match message {
            WholeMessage::Text(text) => Message::Text(text.into()),
            WholeMessage::Binary(data) => Message::Binary(data.into()),
        }
    }
}

/// What happened to one event, owned.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Message(Message),
    Refused(AssembleError),
    Failed(ProtocolError),
}

/// Feed `bytes` to `server` in reads of at most `read` bytes, keeping the unconsumed tail
/// as a socket loop would, and give every event to `on_event`; stops at a failure.
fn drive(
    server: &mut Server,
    bytes: &[u8],
    read: usize,
    mut on_event: impl FnMut(&mut Server, &Event<'_>) -> Option<Outcome>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for part in bytes.chunks(read) {
        pending.extend_from_slice(part);
        let mut start = 0;
        loop {
            let received = server
                .receive(&mut pending[start..], now())
                .expect("receive");
            start += received.consumed;
            let Some(event) = received.event else { break };
            if let Event::Failed(error) = event {
                outcomes.push(Outcome::Failed(error));
                return outcomes;
            }
            outcomes.extend(on_event(server, &event));
        }
        pending.drain(..start);
    }
    outcomes
}

/// Feed the events to a fixed assembler; its errors are answered with their close code,
/// as an application would, and what `close` wrote goes to `written`.
fn with_fixed<'s>(
    assembler: &'s mut FixedAssembler<N>,
    written: &'s mut Vec<u8>,
) -> impl FnMut(&mut Server, &Event<'_>) -> Option<Outcome> + 's {
    move |server, event| match assembler.push(event) {
        Ok(message) => message.map(|m| Outcome::Message(m.into())),
        Err(error) => {
            let mut out = [0u8; 256];
            let n = server
                .connection()
                .unwrap()
                .close(error.close_code(), "", now(), &mut out)
                .expect("close");
            written.extend_from_slice(&out[..n]);
            Some(Outcome::Refused(error))
        }
    }
}

/// Everything `poll_transmit` owes.
fn drain(server: &mut Server) -> Vec<u8> {
    let mut all = Vec::new();
    let mut out = [0u8; 256];
    loop {
        let n = server.poll_transmit(&mut out).expect("poll_transmit");
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&out[..n]);
    }
}

/// The close code of the one frame in `bytes`, which must be an unmasked Close.
fn close_code_of(bytes: &[u8]) -> u16 {
    let (header, len) = FrameHeader::decode(bytes).unwrap().expect("a whole header");
    assert_eq!(header.opcode as u8, 0x8, "a Close frame");
    assert_eq!(header.mask, None, "a server's frame is unmasked");
    assert_eq!(bytes.len(), len + header.payload_len as usize, "one frame");
    u16::from_be_bytes([bytes[len], bytes[len + 1]])
}

fn text_of(len: usize) -> String {
    // Two-byte characters between ASCII, so that reads and fragments cut characters.
    let mut text: String = "é-".chars().cycle().take(len * 2 / 3).collect();
    while text.len() < len {
        text.push('x');
    }
    assert_eq!(text.len(), len);
    text
}

#[test]
fn configure_makes_the_connection_fail_a_message_of_n_plus_one_with_1009() {
    let config = FixedAssembler::<N>::configure(Config::default());
    assert_eq!(config.max_message_len, N as u64);
    for (name, bytes) in [
        ("whole", client_frame(true, BINARY, &[7; N + 1])),
        (
            "in fragments",
            two_fragments(TEXT, text_of(N - 1).as_bytes(), b"ab"),
        ),
    ] {
        for read in [bytes.len(), 5, 1] {
            let mut server = open_server(config);
            let mut assembler = FixedAssembler::<N>::new();
            let mut written = Vec::new();
            let outcomes = drive(
                &mut server,
                &bytes,
                read,
                with_fixed(&mut assembler, &mut written),
            );
            // The assembler never overflowed: the connection refused the message first.
            assert_eq!(
                outcomes,
                [Outcome::Failed(ProtocolError::MessageTooLarge)],
                "{name}, reads of {read}"
            );
            assert_eq!(
                close_code_of(&drain(&mut server)),
                1009,
                "{name}, reads of {read}"
            );
            assert!(written.is_empty());
        }
    }
}

#[test]
fn a_message_of_exactly_n_bytes_comes_out_whole_whatever_the_reads() {
    let config = FixedAssembler::<N>::configure(Config::default());
    let text = text_of(N);
    assert_eq!(text.len(), N);
    let mut fragmented = client_frame(false, TEXT, &text.as_bytes()[..N / 2 + 1]);
    fragmented.extend(client_frame(false, CONTINUATION, b""));
    fragmented.extend(client_frame(
        true,
        CONTINUATION,
        &text.as_bytes()[N / 2 + 1..],
    ));
    let cases = [
        (
            client_frame(true, TEXT, text.as_bytes()),
            Message::Text(text.clone()),
        ),
        (fragmented, Message::Text(text.clone())),
        (
            client_frame(true, BINARY, &[9; N]),
            Message::Binary(vec![9; N]),
        ),
    ];
    for (bytes, expected) in cases {
        for read in [bytes.len(), 7, 3, 1] {
            let mut server = open_server(config);
            let mut assembler = FixedAssembler::<N>::new();
            let mut written = Vec::new();
            let outcomes = drive(
                &mut server,
                &bytes,
                read,
                with_fixed(&mut assembler, &mut written),
            );
            assert_eq!(
                outcomes,
                [Outcome::Message(expected.clone())],
                "reads of {read}"
            );
            assert!(drain(&mut server).is_empty());
        }
    }
}

#[test]
fn without_configure_the_assembler_refuses_n_plus_one_and_the_caller_closes_with_1009() {
    // The connection's own limit is far above N: the assembler is the one to notice.
    let fragmented = two_fragments(BINARY, &[1; N], &[2]);
    for bytes in [
        client_frame(true, TEXT, text_of(N + 1).as_bytes()),
        fragmented,
    ] {
        for read in [bytes.len(), 10] {
            let mut server = open_server(Config::default());
            let mut assembler = FixedAssembler::<N>::new();
            let mut written = Vec::new();
            let outcomes = drive(
                &mut server,
                &bytes,
                read,
                with_fixed(&mut assembler, &mut written),
            );
            assert_eq!(
                outcomes,
                [Outcome::Refused(AssembleError::TooLarge { limit: N })],
                "reads of {read}"
            );
            assert_eq!(close_code_of(&written), 1009);
        }
    }
}

/// A message of two fragments.
fn two_fragments(opcode: u8, first: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut bytes = client_frame(false, opcode, first);
    bytes.extend(client_frame(true, CONTINUATION, rest));
    bytes
}

#[cfg(feature = "alloc")]
#[test]
fn the_alloc_assembler_reuses_its_buffer_across_messages_from_a_connection() {
    let mut server = open_server(Config::default());
    let mut assembler = MessageAssembler::new();
    // Each message: what came out, the address of its bytes, the capacity after it.
    let mut seen = Vec::new();
    for (bytes, read) in [
        (
            two_fragments(TEXT, "héllo ".as_bytes(), "wörld".as_bytes()),
            3,
        ),
        (two_fragments(TEXT, "ça ".as_bytes(), b"va"), 1),
        (two_fragments(BINARY, &[1; 300], &[2; 300]), 1000),
        (two_fragments(BINARY, &[3; 10], &[4; 10]), 7),
        (two_fragments(TEXT, &[b'a'; 500], &[b'b'; 100]), 1000),
    ] {
        let mut address = 0;
        let outcomes = drive(&mut server, &bytes, read, |_, event| {
            let message = assembler.push(event).expect("valid")?;
            address = message.as_bytes().as_ptr() as usize;
            Some(Outcome::Message(message.into()))
        });
        assert_eq!(outcomes.len(), 1);
        seen.push((outcomes, address, assembler.capacity()));
    }
    let message = |i: usize| &seen[i].0[0];
    assert_eq!(
        *message(0),
        Outcome::Message(Message::Text("héllo wörld".into()))
    );
    assert_eq!(*message(1), Outcome::Message(Message::Text("ça va".into())));
    assert_eq!(
        *message(3),
        Outcome::Message(Message::Binary([[3; 10], [4; 10]].concat()))
    );
    // A message no larger than the buffer reuses it: same memory, same capacity.
    assert_eq!((seen[1].1, seen[1].2), (seen[0].1, seen[0].2));
    // A larger one grows it once; after that, the same memory again.
    assert!(seen[2].2 >= 600);
    assert_eq!((seen[3].1, seen[3].2), (seen[2].1, seen[2].2));
    assert_eq!((seen[4].1, seen[4].2), (seen[2].1, seen[2].2));
}

#[test]
fn text_is_never_handed_out_as_binary() {
    use sockless::{Chunk, MessageKind};
    // Pieces a connection would never hand out: invalid text.
    let first: Event<'_> = Event::Chunk(Chunk {
        kind: MessageKind::Text,
        data: b"caf\xc3",
        first: true,
        last: false,
    });
    let last: Event<'_> = Event::Chunk(Chunk {
        kind: MessageKind::Text,
        data: b"!",
        first: false,
        last: true,
    });
    #[cfg(feature = "alloc")]
    {
        let mut owned = MessageAssembler::new();
        assert_eq!(owned.push(&first), Ok(None));
        assert_eq!(owned.push(&last), Err(AssembleError::InvalidUtf8));
    }
    let mut fixed = FixedAssembler::<N>::new();
    assert_eq!(fixed.push(&first), Ok(None));
    assert_eq!(fixed.push(&last), Err(AssembleError::InvalidUtf8));
    assert_eq!(AssembleError::InvalidUtf8.close_code().0, 1007);
}
