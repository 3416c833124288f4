//! Whole messages out of the pieces [`receive`](crate::Endpoint::receive) hands out: a
//! thin adapter over [`Event`], for applications that want each message in one slice.
//!
//! Two assemblers, with the same [`push`](FixedAssembler::push):
//!
//! - [`FixedAssembler<N>`]: up to `N` bytes in a [`heapless::Vec`], with no allocator
//!   (firmware). A larger message is [`AssembleError::TooLarge`]: close with 1009. Set the
//!   connection up with [`FixedAssembler::configure`] so that the connection itself fails
//!   such a message with 1009 before the assembler can overflow.
//! - `MessageAssembler` (feature `alloc`): one `Vec` whose capacity is reused from one
//!   message to the next; bounded by [`Config::max_message_len`](crate::Config::max_message_len).
//!
//! Both hand out a [`WholeMessage`] that borrows: the event itself when the message arrived
//! whole ([`Event::Text`], [`Event::Binary`]: zero copies), or the assembler's buffer when
//! it came in [`Event::Chunk`]s. Text is always `&str`: text that is not UTF-8 is
//! [`AssembleError::InvalidUtf8`], never handed out as binary. Other events (control
//! frames, handshake, failures) give `Ok(None)` and are left to the caller.
//!
//! ```
//! use sockless::assemble::{FixedAssembler, WholeMessage};
//! use sockless::{Chunk, Config, MessageKind, OpenEvent};
//!
//! // The recommended setup: the connection refuses (1009) any message over 64 bytes.
//! let config = FixedAssembler::<64>::configure(Config::default());
//! assert_eq!(config.max_message_len, 64);
//!
//! let mut assembler = FixedAssembler::<64>::new();
//! let first = Chunk { kind: MessageKind::Text, data: b"h\xc3", first: true, last: false };
//! let last = Chunk { kind: MessageKind::Text, data: b"\xa9llo", first: false, last: true };
//! // An open connection's events, as a `Connection` or an adapter hands them out.
//! assert_eq!(assembler.push(&OpenEvent::Chunk(first)), Ok(None));
//! assert_eq!(assembler.push(&OpenEvent::Chunk(last)), Ok(Some(WholeMessage::Text("héllo"))));
//! ```

mod fixed;
#[cfg(feature = "alloc")]
mod owned;

use core::fmt;

pub use fixed::FixedAssembler;
#[cfg(feature = "alloc")]
pub use owned::{Message, MessageAssembler};

use crate::close::CloseCode;
use crate::event::{Event, MessageKind};

/// A whole message, borrowed from the event that carried it or from the assembler that
/// collected it. Use it before the next `push`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WholeMessage<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> WholeMessage<'a> {
    /// Text or binary.
    pub const fn kind(&self) -> MessageKind {
        match self {
            WholeMessage::Text(_) => MessageKind::Text,
            WholeMessage::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload bytes, whatever the kind.
    pub const fn as_bytes(&self) -> &'a [u8] {
        match self {
            WholeMessage::Text(text) => text.as_bytes(),
            WholeMessage::Binary(data) => data,
        }
    }

    /// The payload length in bytes.
    pub const fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why an assembler could not hand out a message. The message is dropped (the rest of its
/// pieces are ignored) and the next message starts clean. The connection should be closed
/// with [`close_code`](Self::close_code):
/// `connection.close(error.close_code(), "", now, out)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssembleError {
    /// The message is larger than the assembler holds ([`FixedAssembler`]'s `N` bytes).
    /// Close with 1009 ([`CloseCode::TOO_BIG`]). Cannot happen when the connection was
    /// set up with [`FixedAssembler::configure`]: the connection fails the message first.
    TooLarge {
        /// The most bytes the assembler holds.
        limit: usize,
    },
    /// A text message whose bytes are not UTF-8. The connection validates every text
    /// message, so this means the assembler was fed pieces from elsewhere or out of order.
    /// Close with 1007 ([`CloseCode::INVALID_PAYLOAD`]).
    InvalidUtf8,
}

impl AssembleError {
    /// The close code to send: 1009 for [`TooLarge`](Self::TooLarge), 1007 for
    /// [`InvalidUtf8`](Self::InvalidUtf8).
    pub const fn close_code(&self) -> CloseCode {
        match self {
            AssembleError::TooLarge { .. } => CloseCode::TOO_BIG,
            AssembleError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
        }
    }
}

impl fmt::Display for AssembleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssembleError::TooLarge { limit } => write!(
                f,
                "a message was larger than the {limit} bytes the assembler holds (close with 1009)"
            ),
            AssembleError::InvalidUtf8 => {
                f.write_str("a text message was not valid UTF-8 (close with 1007)")
            }
        }
    }
}

impl core::error::Error for AssembleError {}

/// The buffer an assembler collects pieces in.
trait Storage {
    /// Forget the bytes collected, keeping the memory.
    fn clear(&mut self);
    /// Append `data`, or append nothing and return `Err` if it would not fit.
    fn append(&mut self, data: &[u8]) -> Result<(), ()>;
    /// The bytes collected.
    fn bytes(&self) -> &[u8];
}

/// Where an assembler is in the stream of events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Between messages: the buffer holds nothing of use (the last message handed out).
    #[default]
    Idle,
    /// The buffer holds the pieces of an unfinished message.
    Collecting,
    /// The rest of a message that could not be handed out: its pieces are ignored until
    /// the last one.
    Skipping,
}

/// What both assemblers share: the buffer, and where it is in the stream of events.
#[derive(Clone, Debug, Default)]
struct Assembler<S> {
    buffer: S,
    phase: Phase,
}

impl<S: Storage> Assembler<S> {
    /// Feed an event; `limit` is the most bytes of one message handed out.
    fn push<'a, R, Q, H>(
        &'a mut self,
        event: &Event<'a, R, Q, H>,
        limit: usize,
    ) -> Result<Option<WholeMessage<'a>>, AssembleError> {
        let whole = match *event {
            Event::Text(text) => WholeMessage::Text(text),
            Event::Binary(data) => WholeMessage::Binary(data),
            Event::Chunk(chunk) => {
                match self.phase {
                    Phase::Collecting if !chunk.first => {}
                    Phase::Skipping if !chunk.first => {
                        if chunk.last {
                            self.phase = Phase::Idle;
                        }
                        return Ok(None);
                    }
                    // A first piece; or a later one with no start seen (the caller did
                    // not feed every event): what was collected belongs to no message.
                    _ => {
                        self.buffer.clear();
                        self.phase = Phase::Collecting;
                    }
                }
                if chunk.data.len() > limit.saturating_sub(self.buffer.bytes().len())
                    || self.buffer.append(chunk.data).is_err()
                {
                    self.buffer.clear();
                    self.phase = if chunk.last {
                        Phase::Idle
                    } else {
                        Phase::Skipping
                    };
                    return Err(AssembleError::TooLarge { limit });
                }
                if !chunk.last {
                    return Ok(None);
                }
                self.phase = Phase::Idle;
                match chunk.kind {
                    MessageKind::Binary => WholeMessage::Binary(self.buffer.bytes()),
                    // The connection validated every piece and the end of the message, so
                    // this does not fail when fed by a connection; if it ever did, the
                    // bytes are refused, never handed out as binary.
                    MessageKind::Text => match crate::utf8::validate_whole(self.buffer.bytes()) {
                        Ok(text) => WholeMessage::Text(text),
                        Err(_) => return Err(AssembleError::InvalidUtf8),
                    },
                }
            }
            _ => return Ok(None),
        };
        if whole.len() > limit {
            return Err(AssembleError::TooLarge { limit });
        }
        Ok(Some(whole))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event of any receiver (a literal names its phase).
    type Ev<'b> = Event<'b>;
    use crate::config::Config;
    use crate::event::Chunk;

    fn piece(kind: MessageKind, data: &[u8], first: bool, last: bool) -> Event<'_> {
        Event::Chunk(Chunk {
            kind,
            data,
            first,
            last,
        })
    }

    /// Feed `parts` as the pieces of one message; every piece but the last gives `None`.
    fn assemble<const N: usize>(
        assembler: &mut FixedAssembler<N>,
        kind: MessageKind,
        parts: &[&[u8]],
    ) -> Result<Option<Message>, AssembleError> {
        let last = parts.len() - 1;
        for (i, data) in parts.iter().enumerate() {
            let event = piece(kind, data, i == 0, i == last);
            let out = assembler.push(&event)?.map(Message::of);
            if i == last {
                return Ok(out);
            }
            assert_eq!(out, None, "piece {i} of {}", parts.len());
        }
        unreachable!()
    }

    /// An owned copy, to compare without `alloc`.
    #[derive(Debug, PartialEq, Eq)]
    enum Message {
        Text(heapless::String<64>),
        Binary(heapless::Vec<u8, 64>),
    }

    impl Message {
        fn of(message: WholeMessage<'_>) -> Self {
            match message {
                WholeMessage::Text(text) => Message::Text(text.try_into().unwrap()),
                WholeMessage::Binary(data) => Message::Binary(data.try_into().unwrap()),
            }
        }

        fn text(text: &str) -> Option<Self> {
            Some(Message::Text(text.try_into().unwrap()))
        }

        fn binary(data: &[u8]) -> Option<Self> {
            Some(Message::Binary(data.try_into().unwrap()))
        }
    }

    #[test]
    fn whole_messages_are_borrowed_from_the_event() {
        let mut assembler = FixedAssembler::<8>::new();
        let text = "héllo";
        let message = assembler.push(&Ev::Text(text)).unwrap().unwrap();
        assert_eq!(message, WholeMessage::Text("héllo"));
        assert_eq!(message.as_bytes().as_ptr(), text.as_ptr());
        let data = [1u8, 2, 3];
        let message = assembler.push(&Ev::Binary(&data)).unwrap().unwrap();
        assert_eq!(message, WholeMessage::Binary(&[1, 2, 3]));
        assert_eq!(message.as_bytes().as_ptr(), data.as_ptr());
        assert_eq!(message.kind(), MessageKind::Binary);
        assert_eq!((message.len(), message.is_empty()), (3, false));
        assert_eq!(
            assembler.push(&Ev::Binary(&[])),
            Ok(Some(WholeMessage::Binary(&[])))
        );
    }

    #[test]
    fn other_events_are_left_to_the_caller() {
        let mut assembler = FixedAssembler::<8>::new();
        assert_eq!(assembler.push(&Ev::Ping(b"p")), Ok(None));
        assert_eq!(assembler.push(&Ev::Pong(b"p")), Ok(None));
        let failed = Ev::Failed(crate::ProtocolError::InvalidUtf8);
        assert_eq!(assembler.push(&failed), Ok(None));
    }

    #[test]
    fn pieces_of_both_kinds_are_joined() {
        let mut assembler = FixedAssembler::<16>::new();
        let parts: [&[u8]; 3] = [b"ab", b"", b"cd"];
        let binary = assemble(&mut assembler, MessageKind::Binary, &parts);
        assert_eq!(binary, Ok(Message::binary(b"abcd")));
        let text = assemble(&mut assembler, MessageKind::Text, &parts);
        assert_eq!(text, Ok(Message::text("abcd")));
        // One piece that is first and last; an empty message.
        let one = assemble(&mut assembler, MessageKind::Text, &[b"x"]);
        assert_eq!(one, Ok(Message::text("x")));
        let empty = assemble(&mut assembler, MessageKind::Binary, &[b""]);
        assert_eq!(empty, Ok(Message::binary(b"")));
    }

    #[test]
    fn text_split_inside_a_character_is_joined() {
        let mut assembler = FixedAssembler::<16>::new();
        // "é" is c3 a9; "€" is e2 82 ac, cut after each of its bytes.
        let parts: [&[u8]; 5] = [b"h\xc3", b"\xa9l", b"\xe2", b"\x82", b"\xaclo"];
        let text = assemble(&mut assembler, MessageKind::Text, &parts);
        assert_eq!(text, Ok(Message::text("hél€lo")));
    }

    #[test]
    fn a_message_of_exactly_n_bytes_fits() {
        let mut assembler = FixedAssembler::<4>::new();
        let chunked = assemble(&mut assembler, MessageKind::Binary, &[b"ab", b"cd"]);
        assert_eq!(chunked, Ok(Message::binary(b"abcd")));
        let chunked = assemble(&mut assembler, MessageKind::Text, &[b"abcd"]);
        assert_eq!(chunked, Ok(Message::text("abcd")));
        assert!(assembler.push(&Ev::Text("abcd")).unwrap().is_some());
        assert!(assembler.push(&Ev::Binary(b"abcd")).unwrap().is_some());
        assert_eq!(FixedAssembler::<4>::CAPACITY, 4);
    }

    #[test]
    fn a_message_of_n_plus_one_bytes_is_too_large() {
        let too_large = Err(AssembleError::TooLarge { limit: 4 });
        let mut assembler = FixedAssembler::<4>::new();
        assert_eq!(assembler.push(&Ev::Text("abcde")), too_large);
        assert_eq!(assembler.push(&Ev::Binary(b"abcde")), too_large);
        // In one last piece, and on the last piece.
        let one = piece(MessageKind::Binary, b"abcde", true, true);
        assert_eq!(assembler.push(&one), too_large);
        let first = piece(MessageKind::Text, b"abcd", true, false);
        assert_eq!(assembler.push(&first), Ok(None));
        let last = piece(MessageKind::Text, b"e", false, true);
        assert_eq!(assembler.push(&last), too_large);
        let error = AssembleError::TooLarge { limit: 4 };
        assert_eq!(error.close_code(), CloseCode::TOO_BIG);
    }

    #[test]
    fn after_too_large_the_rest_is_skipped_and_the_next_message_is_whole() {
        let mut assembler = FixedAssembler::<4>::new();
        let pieces: [(&[u8], bool, bool); 3] = [
            (b"abc", true, false),
            (b"de", false, false),
            (b"fg", false, false),
        ];
        let outcomes = pieces.map(|(data, first, last)| {
            let event = piece(MessageKind::Binary, data, first, last);
            assembler
                .push(&event)
                .map(|message| message.map(Message::of))
        });
        let too_large = Err(AssembleError::TooLarge { limit: 4 });
        assert_eq!(outcomes, [Ok(None), too_large, Ok(None)]);
        // The last piece of the skipped message is ignored too.
        let last = piece(MessageKind::Binary, b"h", false, true);
        assert_eq!(assembler.push(&last), Ok(None));
        let next = assemble(&mut assembler, MessageKind::Text, &[b"ij", b"kl"]);
        assert_eq!(next, Ok(Message::text("ijkl")));
        // A first piece while skipping starts a new message.
        let too_large = Err(AssembleError::TooLarge { limit: 4 });
        let first = piece(MessageKind::Binary, b"abcde", true, false);
        assert_eq!(assembler.push(&first), too_large);
        let next = assemble(&mut assembler, MessageKind::Binary, &[b"m", b"n"]);
        assert_eq!(next, Ok(Message::binary(b"mn")));
    }

    #[test]
    fn invalid_text_is_an_error_never_binary() {
        let mut assembler = FixedAssembler::<8>::new();
        let text = assemble(&mut assembler, MessageKind::Text, &[b"a\xc3", b"("]);
        assert_eq!(text, Err(AssembleError::InvalidUtf8));
        // A character cut at the end of the message.
        let text = assemble(&mut assembler, MessageKind::Text, &[b"a", b"\xe2\x82"]);
        assert_eq!(text, Err(AssembleError::InvalidUtf8));
        assert_eq!(
            AssembleError::InvalidUtf8.close_code(),
            CloseCode::INVALID_PAYLOAD
        );
        // The same bytes as binary are fine, and the next text is whole.
        let binary = assemble(&mut assembler, MessageKind::Binary, &[b"a\xc3", b"("]);
        assert_eq!(binary, Ok(Message::binary(b"a\xc3(")));
        let text = assemble(&mut assembler, MessageKind::Text, &[b"ok"]);
        assert_eq!(text, Ok(Message::text("ok")));
    }

    #[test]
    fn a_later_piece_without_a_start_does_not_join_the_previous_message() {
        let mut assembler = FixedAssembler::<8>::new();
        let whole = assemble(&mut assembler, MessageKind::Binary, &[b"old"]);
        assert_eq!(whole, Ok(Message::binary(b"old")));
        let stray = piece(MessageKind::Binary, b"new", false, true);
        let message = assembler.push(&stray).unwrap().map(Message::of);
        assert_eq!(message, Message::binary(b"new"));
    }

    #[test]
    fn configure_lowers_the_message_limit_to_n() {
        let config = FixedAssembler::<1000>::configure(Config::default());
        assert_eq!(config.max_message_len, 1000);
        assert_eq!(config.max_frame_len, Config::default().max_frame_len);
        let lower = Config::default().with_max_message_len(10);
        assert_eq!(FixedAssembler::<1000>::configure(lower), lower);
    }

    #[test]
    fn errors_print_sentences() {
        use std::string::ToString;
        let text = AssembleError::TooLarge { limit: 4 }.to_string();
        assert!(text.contains("4 bytes") && text.contains("1009"), "{text}");
        assert!(AssembleError::InvalidUtf8.to_string().contains("1007"));
    }
}
