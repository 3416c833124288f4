//! The receive path: every implementation, server role, decodes one workload's masked
//! client frames read 64 KiB at a time, and reports what it delivered.

use std::hint::black_box;

use crate::io::{MemStream, READ_SIZE, runtime};
use crate::sl;
use crate::workload::{Counter, Tally};

/// The floor: the same input read through the same 64 KiB buffer and XORed in place
/// 8 bytes at a time. Returns a value derived from every chunk so nothing is elided.
pub fn limit(input: &[u8]) -> u64 {
    let mut buf = vec![0u8; READ_SIZE];
    let word = u64::from_ne_bytes([0x37, 0xfa, 0x21, 0x3d, 0x37, 0xfa, 0x21, 0x3d]);
    let mut acc = 0u64;
    for chunk in input.chunks(READ_SIZE) {
        let buf = &mut buf[..chunk.len()];
        buf.copy_from_slice(chunk);
        for lane in buf.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes(lane.try_into().unwrap()) ^ word;
            lane.copy_from_slice(&v.to_ne_bytes());
        }
        black_box(&mut *buf);
        acc = acc.wrapping_add(u64::from(buf[0]));
    }
    acc
}

/// sockless: `Server::receive` on the 64 KiB buffer, keeping the unconsumed tail.
pub fn sockless(input: &[u8], _expected: u64) -> Result<Tally, String> {
    use sockless::{Endpoint, Event, Instant};
    let mut server = sl::open_server();
    let mut buf = vec![0u8; READ_SIZE];
    let mut counter = Counter::default();
    let (mut pos, mut filled) = (0, 0);
    let now = Instant::ZERO;
    while pos < input.len() {
        let n = (READ_SIZE - filled).min(input.len() - pos);
        buf[filled..filled + n].copy_from_slice(&input[pos..pos + n]);
        pos += n;
        filled += n;
        let mut start = 0;
        loop {
            let received = server
                .receive(&mut buf[start..filled], now)
                .expect("sockless receive");
            start += received.consumed;
            match received.event {
                None => break,
                Some(Event::Binary(data)) => counter.message(data),
                Some(Event::Text(text)) => counter.message(text.as_bytes()),
                Some(Event::Chunk(chunk)) => {
                    counter.piece(chunk.data);
                    if chunk.last {
                        counter.end();
                    }
                }
                Some(other) => panic!("sockless: unexpected {other:?}"),
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
    assert_eq!(filled, 0, "sockless left bytes");
    Ok(counter.tally)
}

/// tungstenite: `WebSocket::read` (default config) over an in-memory `Read`.
pub fn tungstenite(input: &[u8], expected: u64) -> Result<Tally, String> {
    use tungstenite::protocol::{Message, Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(MemStream::new(input), Role::Server, None);
    let mut counter = Counter::default();
    while counter.tally.messages < expected {
        match ws.read().expect("tungstenite read") {
            Message::Binary(data) => counter.message(&data),
            Message::Text(text) => counter.message(text.as_bytes()),
            other => panic!("tungstenite: unexpected {other:?}"),
        }
    }
    Ok(counter.tally)
}

/// fastwebsockets: `FragmentCollector::read_frame` over an in-memory `AsyncRead`.
pub fn fastwebsockets(input: &[u8], expected: u64) -> Result<Tally, String> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    runtime().block_on(async {
        let mut ws = FragmentCollector::new(WebSocket::after_handshake(
            MemStream::new(input),
            Role::Server,
        ));
        let mut counter = Counter::default();
        while counter.tally.messages < expected {
            let frame = ws.read_frame().await.expect("fastwebsockets read");
            match frame.opcode {
                OpCode::Binary | OpCode::Text => counter.message(&frame.payload),
                other => panic!("fastwebsockets: unexpected {other:?}"),
            }
        }
        Ok(counter.tally)
    })
}

/// tokio-websockets: `WebSocketStream` as a `Stream` of messages, current-thread runtime.
pub fn tokio_websockets(input: &[u8], expected: u64) -> Result<Tally, String> {
    use futures_util::StreamExt;
    runtime().block_on(async {
        let mut ws = tokio_websockets::ServerBuilder::new().serve(MemStream::new(input));
        let mut counter = Counter::default();
        while counter.tally.messages < expected {
            let message = ws
                .next()
                .await
                .expect("tokio-websockets: end")
                .expect("tokio-websockets read");
            assert!(
                message.is_binary() || message.is_text(),
                "tokio-websockets: unexpected {message:?}"
            );
            counter.message(message.as_payload());
        }
        Ok(counter.tally)
    })
}

/// embedded-websocket: `WebSocket::read` from the 64 KiB buffer into a second 64 KiB
/// buffer (it unmasks while copying). Checks no UTF-8.
pub fn embedded_websocket(input: &[u8], expected: u64) -> Result<Tally, String> {
    use embedded_websocket::{
        Error, WebSocketReceiveMessageType as Kind, WebSocketServer, WebSocketState,
    };
    let mut ws = WebSocketServer::new_server();
    ws.state = WebSocketState::Open;
    let mut buf = vec![0u8; READ_SIZE];
    let mut to = vec![0u8; READ_SIZE];
    let mut counter = Counter::default();
    let (mut pos, mut filled) = (0, 0);
    while pos < input.len() {
        let n = (READ_SIZE - filled).min(input.len() - pos);
        buf[filled..filled + n].copy_from_slice(&input[pos..pos + n]);
        pos += n;
        filled += n;
        let mut start = 0;
        while start < filled {
            match ws.read(&buf[start..filled], &mut to) {
                Ok(result) => {
                    if result.len_from == 0 {
                        // A non-final fragment split across reads leaves a zero-length
                        // continuation behind, and it then reads nothing more.
                        return Err("stalls on a non-final fragment split across reads".into());
                    }
                    start += result.len_from;
                    counter.piece(&to[..result.len_to]);
                    match result.message_type {
                        Kind::Binary | Kind::Text => {
                            if result.end_of_message {
                                counter.end();
                            }
                        }
                        other => panic!("embedded-websocket: unexpected {other:?}"),
                    }
                }
                Err(Error::ReadFrameIncomplete) => break,
                Err(e) => panic!("embedded-websocket read: {e:?}"),
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
    assert_eq!(counter.tally.messages, expected);
    Ok(counter.tally)
}

/// websocket-sans-io: `WebsocketFrameDecoder::add_data`, frame events only; checks no
/// UTF-8 and no message sequencing.
pub fn websocket_sans_io(input: &[u8], expected: u64) -> Result<Tally, String> {
    use websocket_sans_io::{Opcode, WebsocketFrameDecoder, WebsocketFrameEvent as Ev};
    let mut decoder = WebsocketFrameDecoder::new();
    let mut buf = vec![0u8; READ_SIZE];
    let mut counter = Counter::default();
    for chunk in input.chunks(READ_SIZE) {
        let filled = chunk.len();
        buf[..filled].copy_from_slice(chunk);
        let mut start = 0;
        loop {
            let result = decoder
                .add_data(&mut buf[start..filled])
                .expect("websocket-sans-io decode");
            match result.event {
                Some(Ev::PayloadChunk {
                    original_opcode: Opcode::Binary | Opcode::Text,
                }) => {
                    counter.piece(&buf[start..start + result.consumed_bytes]);
                }
                Some(Ev::End {
                    frame_info,
                    original_opcode: Opcode::Binary | Opcode::Text,
                }) if frame_info.fin => {
                    counter.end();
                }
                Some(Ev::Start { .. } | Ev::End { .. }) => {}
                Some(other) => panic!("websocket-sans-io: unexpected {other:?}"),
                None if result.consumed_bytes == 0 => break,
                None => {}
            }
            start += result.consumed_bytes;
        }
    }
    // The End of the very last frame comes with an empty call.
    while let Some(event) = decoder.add_data(&mut []).expect("websocket-sans-io").event {
        if let Ev::End { frame_info, .. } = event
            && frame_info.fin
        {
            counter.end();
        }
    }
    assert_eq!(counter.tally.messages, expected);
    Ok(counter.tally)
}

pub type RecvFn = fn(&[u8], u64) -> Result<Tally, String>;

/// Name, function, whether it validates UTF-8.
pub const IMPLS: &[(&str, RecvFn, bool)] = &[
    ("sockless", sockless, true),
    ("tungstenite", tungstenite, true),
    ("fastwebsockets", fastwebsockets, true),
    ("tokio-websockets", tokio_websockets, true),
    ("embedded-websocket", embedded_websocket, false),
    ("websocket-sans-io", websocket_sans_io, false),
];
