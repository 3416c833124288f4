//! What the `std` and tokio adapters read and send: whole messages, owned.

use alloc::string::String;
use alloc::vec::Vec;

use crate::close::CloseCode;

/// A whole message, or a control frame, as the adapters hand them out and take them in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A Ping (at most 125 bytes). Reading one means the Pong was already queued.
    Ping(Vec<u8>),
    /// A Pong (at most 125 bytes).
    Pong(Vec<u8>),
    /// A Close, with its code and reason if it had one. Reading one means the closing
    /// handshake is under way (our answer is queued); sending one starts it.
    Close(Option<OwnedCloseFrame>),
}

/// The code and reason of a Close frame, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedCloseFrame {
    /// The close code.
    pub code: CloseCode,
    /// The reason, at most 123 bytes of UTF-8.
    pub reason: String,
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Message::Binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Message::Binary(data.to_vec())
    }
}

impl From<crate::assemble::Message> for Message {
    fn from(message: crate::assemble::Message) -> Self {
        match message {
            crate::assemble::Message::Text(text) => Message::Text(text),
            crate::assemble::Message::Binary(data) => Message::Binary(data),
        }
    }
}
