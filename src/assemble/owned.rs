//! The growable assembler (feature `alloc`): one `Vec` reused from message to message.

use alloc::string::String;
use alloc::vec::Vec;

use super::{AssembleError, Assembler, Phase, Storage, WholeMessage};
use crate::event::Event;

impl Storage for Vec<u8> {
    fn clear(&mut self) {
        Vec::clear(self);
    }

    fn append(&mut self, data: &[u8]) -> Result<(), ()> {
        self.extend_from_slice(data);
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A whole message that owns its bytes: [`WholeMessage::into_owned`] (or `Message::from`)
/// copies one out of the assembler, to keep it past the next `push`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl From<WholeMessage<'_>> for Message {
    fn from(message: WholeMessage<'_>) -> Self {
        match message {
            WholeMessage::Text(text) => Message::Text(String::from(text)),
            WholeMessage::Binary(data) => Message::Binary(data.to_vec()),
        }
    }
}

impl WholeMessage<'_> {
    /// An owned copy (feature `alloc`).
    pub fn into_owned(self) -> Message {
        Message::from(self)
    }
}

/// Collects the pieces of each message ([`Event::Chunk`]) into one `Vec` and hands out
/// whole messages, text as `&str`; whole [`Event::Text`] and [`Event::Binary`] pass
/// straight through, borrowed from the event. The same [`push`](Self::push) as
/// [`FixedAssembler`](super::FixedAssembler), without its limit.
///
/// Memory is bounded by [`Config::max_message_len`](crate::Config::max_message_len),
/// which the connection enforces (1009) before any piece past it is handed out: lower it
/// to what the application can hold.
///
/// # Capacity is reused
///
/// The buffer is kept from one message to the next: after the first messages, collecting
/// one allocates nothing. The price of that is the borrow: the message handed out borrows
/// the assembler, so use it (or copy it out with [`WholeMessage::into_owned`]) before the
/// next `push`; and the buffer stays as large as the largest message seen, until
/// [`shrink_to`](Self::shrink_to).
#[derive(Clone, Debug, Default)]
pub struct MessageAssembler {
    inner: Assembler<Vec<u8>>,
}

impl MessageAssembler {
    /// An empty assembler; it allocates with the first message in pieces.
    pub const fn new() -> Self {
        MessageAssembler {
            inner: Assembler {
                buffer: Vec::new(),
                phase: Phase::Idle,
            },
        }
    }

    /// An empty assembler with room for `capacity` bytes already allocated.
    pub fn with_capacity(capacity: usize) -> Self {
        MessageAssembler {
            inner: Assembler {
                buffer: Vec::with_capacity(capacity),
                phase: Phase::Idle,
            },
        }
    }

    /// Feed an event of the connection; feed every event, in the order `receive` handed
    /// them out. Returns the message it completes, if any:
    ///
    /// - [`Event::Text`] and [`Event::Binary`]: the message itself, borrowed from the
    ///   event (no copy).
    /// - [`Event::Chunk`]: the piece is appended to the buffer; the last piece gives the
    ///   whole message, borrowed from the buffer.
    /// - Anything else: `Ok(None)`, left to the caller.
    ///
    /// Text collected from pieces is checked as UTF-8 once more (the connection already
    /// did, so this does not fail when it fed the pieces); text that is not UTF-8 is
    /// [`AssembleError::InvalidUtf8`] (close with 1007), never handed out as binary.
    pub fn push<'a, R, S, H>(
        &'a mut self,
        event: &Event<'a, R, S, H>,
    ) -> Result<Option<WholeMessage<'a>>, AssembleError> {
        self.inner.push(event, usize::MAX)
    }

    /// How many bytes the buffer holds without allocating.
    pub fn capacity(&self) -> usize {
        self.inner.buffer.capacity()
    }

    /// Give back the memory beyond `min_capacity` bytes (or beyond the pieces of an
    /// unfinished message, if they are more).
    pub fn shrink_to(&mut self, min_capacity: usize) {
        if self.inner.phase != Phase::Collecting {
            self.inner.buffer.clear();
        }
        self.inner.buffer.shrink_to(min_capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event of any receiver (a literal names its phase).
    type Ev<'b> = Event<'b>;
    use crate::event::{Chunk, MessageKind};

    fn piece(kind: MessageKind, data: &[u8], first: bool, last: bool) -> Event<'_> {
        Event::Chunk(Chunk {
            kind,
            data,
            first,
            last,
        })
    }

    #[test]
    fn pieces_are_joined_and_text_is_str() {
        let mut assembler = MessageAssembler::new();
        let parts: [&[u8]; 3] = [b"h\xc3", b"\xa9", b"llo"];
        let mut out = None;
        for (i, data) in parts.iter().enumerate() {
            let event = piece(MessageKind::Text, data, i == 0, i == 2);
            out = assembler.push(&event).unwrap().map(Message::from);
            assert_eq!(out.is_some(), i == 2);
        }
        assert_eq!(out, Some(Message::Text("héllo".into())));
        let event = piece(MessageKind::Binary, b"\xff", true, true);
        let message = assembler.push(&event).unwrap().unwrap();
        assert_eq!(message.into_owned(), Message::Binary(alloc::vec![0xff]));
    }

    #[test]
    fn whole_messages_pass_through_without_a_copy() {
        let mut assembler = MessageAssembler::new();
        let text = "hello";
        let message = assembler.push(&Ev::Text(text)).unwrap().unwrap();
        assert_eq!(message.as_bytes().as_ptr(), text.as_ptr());
        assert_eq!(assembler.capacity(), 0);
    }

    #[test]
    fn capacity_is_reused_between_messages() {
        let mut assembler = MessageAssembler::new();
        let first = piece(MessageKind::Binary, &[1; 100], true, false);
        let last = piece(MessageKind::Binary, &[2; 100], false, true);
        assert_eq!(assembler.push(&first), Ok(None));
        let message = assembler.push(&last).unwrap().unwrap();
        assert_eq!(message.len(), 200);
        let (pointer, capacity) = (message.as_bytes().as_ptr(), assembler.capacity());
        assert!(capacity >= 200);
        // A second message, text this time, no larger: the same memory.
        let first = piece(MessageKind::Text, b"abc", true, false);
        let last = piece(MessageKind::Text, b"def", false, true);
        assert_eq!(assembler.push(&first), Ok(None));
        let message = assembler.push(&last).unwrap().unwrap();
        assert_eq!(message, WholeMessage::Text("abcdef"));
        assert_eq!(message.as_bytes().as_ptr(), pointer);
        assert_eq!(assembler.capacity(), capacity);
        // The memory is given back on request.
        assembler.shrink_to(0);
        assert_eq!(assembler.capacity(), 0);
    }

    #[test]
    fn with_capacity_allocates_up_front() {
        let mut assembler = MessageAssembler::with_capacity(64);
        let capacity = assembler.capacity();
        assert!(capacity >= 64);
        let message = assembler.push(&piece(MessageKind::Text, b"hi", true, true));
        assert_eq!(message, Ok(Some(WholeMessage::Text("hi"))));
        assert_eq!(assembler.capacity(), capacity);
    }

    #[test]
    fn shrink_to_keeps_an_unfinished_message() {
        let mut assembler = MessageAssembler::new();
        assert_eq!(
            assembler.push(&piece(MessageKind::Text, b"ab", true, false)),
            Ok(None)
        );
        assembler.shrink_to(0);
        assert!(assembler.capacity() >= 2);
        let last = piece(MessageKind::Text, b"cd", false, true);
        assert_eq!(assembler.push(&last), Ok(Some(WholeMessage::Text("abcd"))));
    }

    #[test]
    fn invalid_text_is_an_error_not_binary() {
        let mut assembler = MessageAssembler::new();
        let first = piece(MessageKind::Text, b"a\xc3", true, false);
        let last = piece(MessageKind::Text, b"(", false, true);
        assert_eq!(assembler.push(&first), Ok(None));
        assert_eq!(assembler.push(&last), Err(AssembleError::InvalidUtf8));
        // The next message is unaffected.
        let next = piece(MessageKind::Text, b"ok", true, true);
        assert_eq!(assembler.push(&next), Ok(Some(WholeMessage::Text("ok"))));
    }
}
