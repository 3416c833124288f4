//! Whole-message reassembly into owned buffers (feature `alloc`): a thin adapter over
//! [`Event`], for applications that want whole messages and can afford the memory.

use alloc::string::String;
use alloc::vec::Vec;

use crate::event::{Event, MessageKind};

/// A whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// Collects the pieces of each message ([`Event::Chunk`]) into one buffer and hands out
/// whole messages; whole [`Event::Text`] and [`Event::Binary`] pass straight through.
///
/// Memory is bounded by [`Config::max_message_len`](crate::Config::max_message_len),
/// which the connection enforces before any piece is handed out.
#[derive(Clone, Debug, Default)]
pub struct MessageAssembler {
    buffer: Vec<u8>,
}

impl MessageAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        MessageAssembler::default()
    }

    /// Feed an event. Returns the message it completes, if any; other events (control
    /// frames, handshake) give `None` and are left to the caller.
    pub fn push(&mut self, event: &Event<'_>) -> Option<Message> {
        match event {
            Event::Text(text) => Some(Message::Text(String::from(*text))),
            Event::Binary(data) => Some(Message::Binary(data.to_vec())),
            Event::Chunk(chunk) => {
                if chunk.first {
                    self.buffer.clear();
                }
                self.buffer.extend_from_slice(chunk.data);
                if !chunk.last {
                    return None;
                }
                let bytes = core::mem::take(&mut self.buffer);
                Some(match chunk.kind {
                    MessageKind::Binary => Message::Binary(bytes),
                    // The connection validated every piece and the end of the message, so
                    // this cannot fail; were it to, the bytes are still handed out.
                    MessageKind::Text => match String::from_utf8(bytes) {
                        Ok(text) => Message::Text(text),
                        Err(error) => Message::Binary(error.into_bytes()),
                    },
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Chunk;

    #[test]
    fn assembler_joins_chunks_split_inside_a_character() {
        let mut assembler = MessageAssembler::new();
        let parts: [&[u8]; 3] = [b"h\xc3", b"\xa9", b"llo"];
        let mut out = None;
        for (i, data) in parts.iter().enumerate() {
            let chunk = Chunk {
                kind: MessageKind::Text,
                data,
                first: i == 0,
                last: i == 2,
            };
            out = assembler.push(&Event::Chunk(chunk));
            assert_eq!(out.is_some(), i == 2);
        }
        assert_eq!(out, Some(Message::Text("héllo".into())));
    }
}
