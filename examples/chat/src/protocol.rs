//! The chat's messages: JSON in WebSocket text frames, so that any client can speak it.
//!
//! A client sends, in this order:
//!
//! - `{"type":"join","name":N,"room":R}` once (or until one is not refused), with an
//!   optional `"session":S`: a random string the client keeps across its reconnections
//!   (the page makes one of 128 bits when it loads). A join whose name is held in the room
//!   by a connection that gave the same session takes the name over, and that connection
//!   is closed (1000): it is the same client, back before the server noticed its old
//!   connection was gone (a network that dropped it without a word);
//! - then any number of `{"type":"say","text":T}`.
//!
//! The server sends:
//!
//! - to the newcomer, right after its join: the room's history, up to the last
//!   [`HISTORY`](crate::rooms::HISTORY) `message` objects, oldest first;
//! - to everyone in the room (the newcomer or the sender included):
//!   `{"type":"joined","name":N}`, `{"type":"message","name":N,"text":T,"time":MS}` (MS:
//!   milliseconds since the Unix epoch, when the server received it) and
//!   `{"type":"left","name":N}`;
//! - to one client, for a message it should not have sent: `{"type":"error","reason":...}`.
//!   The connection stays up.
//! - to one client whose join names a name already taken in that room:
//!   `{"type":"error","code":"name_taken","reason":...,"name":N,"room":R}`. It has not
//!   joined, and may send another join on the same connection. Names are compared as
//!   [`fold`] makes them: "Ann", "ann" and " ann " are one name (Unicode lowercase, the
//!   spaces around it ignored); the name shown is the one the member sent. With
//!   `--redis`, a name is taken in a room whichever process its member is on.
//!
//! Fields a client adds beyond these are ignored.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The longest name, room or text, in bytes of UTF-8 (after JSON unescaping).
pub const MAX_FIELD: usize = 1024;

/// What a client asks for. The strings borrow the frame when they hold no escapes.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Enter `room` as `name`.
    Join {
        name: Cow<'a, str>,
        room: Cow<'a, str>,
        /// The client's session, if it gave one (an empty one is none).
        session: Option<Cow<'a, str>>,
    },
    /// Say `text` to the room.
    Say { text: Cow<'a, str> },
}

/// A request's fields as they come, whatever its type: read in one pass over the frame,
/// in any order (serde's tagged enums would first copy the whole object into a tree, to
/// find the tag wherever it is).
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Field<'a>>,
    #[serde(borrow, default)]
    room: Option<Field<'a>>,
    #[serde(borrow, default)]
    session: Option<Field<'a>>,
    #[serde(borrow, default)]
    text: Option<Field<'a>>,
}

/// A string field, borrowed from the frame when it holds no escapes (serde borrows a
/// `Cow` only where it is a field of its own, not inside an `Option`).
#[derive(Deserialize)]
#[serde(transparent)]
struct Field<'a>(#[serde(borrow)] Cow<'a, str>);

/// `field`, which a request of its type must have.
fn required<'a>(field: Option<Field<'a>>, name: &str) -> Result<Cow<'a, str>, String> {
    field
        .map(|field| field.0)
        .ok_or_else(|| format!("bad message: missing field `{name}`"))
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Notice<'a> {
    Message {
        name: &'a str,
        text: &'a str,
        time: u64,
    },
    Joined {
        name: &'a str,
    },
    Left {
        name: &'a str,
    },
    Error {
        reason: &'a str,
    },
    /// A join refused: `name` is taken in `room`. `code` is [`NAME_TAKEN`], for a
    /// client to tell this error from the others.
    #[serde(rename = "error")]
    Refused {
        code: &'a str,
        reason: &'a str,
        name: &'a str,
        room: &'a str,
    },
}

/// The `code` of the error that refuses a join whose name is taken in the room.
pub const NAME_TAKEN: &str = "name_taken";

/// A name as the chat compares it within a room: lowercase (Unicode), without the
/// spaces around it. "Ann" and "ann " cannot both be in one room.
pub fn fold(name: &str) -> String {
    name.trim().to_lowercase()
}

impl<'a> Notice<'a> {
    /// The refusal of a join as `name` into `room`, where that name is taken.
    pub fn name_taken(name: &'a str, room: &'a str, reason: &'a str) -> Self {
        Notice::Refused {
            code: NAME_TAKEN,
            reason,
            name,
            room,
        }
    }

    /// The JSON text of this notice.
    pub fn to_json(&self) -> String {
        match *self {
            Notice::Message { .. } | Notice::Joined { .. } | Notice::Left { .. } => {
                let mut json = String::new();
                self.write_to(&mut json);
                json
            }
            // Serializing strings and integers into a String cannot fail.
            _ => serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// Append the JSON text of this notice to `json`. The notices of every message and
    /// every member (`message`, `joined`, `left`) are written here, without serde, byte
    /// for byte as serde writes them (see the tests), and a `message` without a `String`
    /// of its own; the errors by serde.
    pub fn write_to(&self, json: &mut String) {
        match *self {
            Notice::Message { name, text, time } => write_message(json, name, text, time),
            Notice::Joined { name } => write_named(json, r#"{"type":"joined","name":""#, name),
            Notice::Left { name } => write_named(json, r#"{"type":"left","name":""#, name),
            _ => json.push_str(&self.to_json()),
        }
    }
}

/// Append to `json` a notice whose only field after its type is `name`: `head` (up to
/// the name's opening quote), the name, and the end of the object.
fn write_named(json: &mut String, head: &str, name: &str) {
    // Exact when the name needs no escape.
    json.reserve(head.len() + name.len() + 2);
    json.push_str(head);
    push_json_chars(json, name);
    json.push_str(r#""}"#);
}

/// Append to `json` the notice `{"type":"message","name":N,"text":T,"time":MS}` (the
/// [`Notice::Message`]) byte for byte as serde_json writes it (see the tests): the keys
/// in declaration order, no spaces, the strings escaped as [`push_json_chars`] does. It is
/// written here, without serde, because one is written for every message said, right
/// where it is kept (the room's history).
fn write_message(json: &mut String, name: &str, text: &str, time: u64) {
    // The quotes around the strings are in the fixed parts.
    const HEAD: &str = r#"{"type":"message","name":""#;
    const TEXT: &str = r#"","text":""#;
    const TIME: &str = r#"","time":"#;
    let mut digits = itoa::Buffer::new();
    let time = digits.format(time);
    // Exact when neither string needs an escape, as in nearly every message.
    json.reserve(HEAD.len() + name.len() + TEXT.len() + text.len() + TIME.len() + time.len() + 1);
    json.push_str(HEAD);
    push_json_chars(json, name);
    json.push_str(TEXT);
    push_json_chars(json, text);
    json.push_str(TIME);
    json.push_str(time);
    json.push('}');
}

/// `value` as the characters of a JSON string, between its quotes (RFC 8259, section 7),
/// escaped exactly as serde_json escapes them: only `"`, `\` and the control characters
/// below U+0020 need an escape. A string without them (nearly all) is copied as it is;
/// one with them goes through serde_json.
fn push_json_chars(json: &mut String, value: &str) {
    if needs_escape(value) {
        push_escaped(json, value);
    } else {
        json.push_str(value);
    }
}

/// [`push_json_chars`] for a string that needs escapes (rare: kept out of the way of the
/// plain ones).
#[cold]
#[inline(never)]
fn push_escaped(json: &mut String, value: &str) {
    // Serializing a string into a String cannot fail, and its quotes are there.
    let quoted = serde_json::to_string(value).unwrap_or_default();
    let chars = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
    json.push_str(chars.unwrap_or_default());
}

/// Whether `value` holds a byte that a JSON string must escape (RFC 8259, section 7):
/// `"`, `\` or a control character below U+0020. Eight bytes at a time, with the
/// word-at-a-time tests of "Bit Twiddling Hacks" (Sean Eron Anderson: "determine if a
/// word has a byte less than n", exact for n <= 128, and "has a zero byte", on the word
/// XOR the byte repeated); the last bytes one by one.
fn needs_escape(value: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Whether a byte of `word` is below `n` (at most 128).
    fn has_less(word: u64, n: u8) -> bool {
        word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH != 0
    }
    /// Whether a byte of `word` is `byte`.
    fn has(word: u64, byte: u8) -> bool {
        has_less(word ^ (ONES * u64::from(byte)), 1)
    }
    let mut words = value.as_bytes().chunks_exact(8);
    let escaped_word = |word: &[u8]| {
        // (Every chunk is 8 bytes long: the fallback, never taken, says "escape".)
        let word = <[u8; 8]>::try_from(word).map_or(0, u64::from_ne_bytes);
        has_less(word, 0x20) || has(word, b'"') || has(word, b'\\')
    };
    let escaped = |&byte: &u8| byte < 0x20 || byte == b'"' || byte == b'\\';
    words.any(escaped_word) || words.remainder().iter().any(escaped)
}

/// A `say` as the page writes it (`JSON.stringify({type: "say", text})`), whose text
/// holds nothing that JSON escapes: its text, read without the general parser. Such a
/// frame is valid JSON, and serde would read the same borrowed text from it (the tests
/// check this); any other frame (fields in another order, spaces, escapes, invalid
/// JSON) is `None`, for serde.
fn plain_say(frame: &str) -> Option<&str> {
    let text = (frame.strip_prefix(r#"{"type":"say","text":""#))?.strip_suffix(r#""}"#)?;
    (!needs_escape(text)).then_some(text)
}

/// Read one text frame from a client: the request, or the reason to send back in an
/// `error` notice.
pub fn parse(frame: &str) -> Result<Request<'_>, String> {
    if let Some(text) = plain_say(frame) {
        check("text", text, true)?;
        return Ok(Request::Say { text: text.into() });
    }
    let fields: Fields<'_> = serde_json::from_str(frame).map_err(|error| {
        if error.is_data() {
            // Valid JSON of the wrong shape: no type, a field that is not a string...
            format!("bad message: {error}")
        } else {
            format!("not JSON: {error}")
        }
    })?;
    let request = match &*fields.kind {
        "join" => Request::Join {
            name: required(fields.name, "name")?,
            room: required(fields.room, "room")?,
            session: fields.session.map(|session| session.0),
        },
        "say" => Request::Say {
            text: required(fields.text, "text")?,
        },
        other => {
            return Err(format!(
                "bad message: unknown variant `{other}`, expected `join` or `say`"
            ));
        }
    };
    match &request {
        Request::Join {
            name,
            room,
            session,
        } => {
            check("name", name, false)?;
            check("room", room, false)?;
            if let Some(session) = session {
                check("session", session, true)?;
            }
        }
        Request::Say { text } => check("text", text, true)?,
    }
    Ok(request)
}

/// A field's length limit, and that a name or room is not blank.
fn check(field: &str, value: &str, may_be_blank: bool) -> Result<(), String> {
    if value.len() > MAX_FIELD {
        return Err(format!("{field} longer than {MAX_FIELD} bytes"));
    }
    if !may_be_blank && value.trim().is_empty() {
        return Err(format!("{field} is empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join<'a>(name: &'a str, room: &'a str) -> Request<'a> {
        Request::Join {
            name: name.into(),
            room: room.into(),
            session: None,
        }
    }

    #[test]
    fn join_and_say_are_read_with_fields_in_any_order() {
        assert_eq!(
            parse(r#"{"type":"join","name":"ann","room":"lobby"}"#),
            Ok(join("ann", "lobby"))
        );
        assert_eq!(
            parse(r#"{"room":"b","extra":[1,2],"name":"bob","type":"join"}"#),
            Ok(join("bob", "b"))
        );
        assert_eq!(
            parse(r#"{"type":"join","name":"ann","room":"r","session":"5f2a"}"#),
            Ok(Request::Join {
                name: "ann".into(),
                room: "r".into(),
                session: Some("5f2a".into()),
            })
        );
        assert_eq!(
            parse(r#"{"type":"say","text":"hi \"there\" \u00e9 ✓"}"#),
            Ok(Request::Say {
                text: "hi \"there\" é ✓".into()
            })
        );
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let Ok(Request::Say { text }) = parse(r#"{"type":"say","text":"plain"}"#) else {
            panic!("not a say");
        };
        assert!(matches!(text, Cow::Borrowed("plain")));
        let Ok(Request::Join {
            name,
            room,
            session: Some(session),
        }) = parse(r#"{"session":"s1","room":"r","type":"join","name":"ann"}"#)
        else {
            panic!("not a join with a session");
        };
        assert!(matches!(name, Cow::Borrowed("ann")));
        assert!(matches!(room, Cow::Borrowed("r")));
        assert!(matches!(session, Cow::Borrowed("s1")));
    }

    #[test]
    fn anything_else_is_an_error_with_a_reason() {
        for (frame, reason) in [
            ("hello", "not JSON"),
            (r#"{"type":"join","name":"x""#, "not JSON"),
            ("42", "bad message"),
            (
                r#"{"name":"x","room":"y"}"#,
                "bad message: missing field `type`",
            ),
            (
                r#"{"type":"shout","text":"x"}"#,
                "bad message: unknown variant `shout`",
            ),
            (
                r#"{"type":"join","name":"x"}"#,
                "bad message: missing field `room`",
            ),
            (r#"{"type":"say","text":5}"#, "bad message: invalid type"),
            (r#"{"type":"say"}"#, "bad message: missing field `text`"),
            (
                r#"{"type":"join","room":"r"}"#,
                "bad message: missing field `name`",
            ),
            (r#"{"type":7,"text":"x"}"#, "bad message: invalid type"),
            (r#"{"type":"join","name":" ","room":"r"}"#, "name is empty"),
            (r#"{"type":"join","name":"n","room":""}"#, "room is empty"),
        ] {
            let error = parse(frame).expect_err(frame);
            assert!(error.starts_with(reason), "{frame}: {error}");
        }
    }

    /// What serde alone reads from a `say` frame (the general path of [`parse`]).
    fn say_with_serde(frame: &str) -> Result<Request<'_>, String> {
        let fields: Fields<'_> = serde_json::from_str(frame).map_err(|e| e.to_string())?;
        match (&*fields.kind, fields.text) {
            ("say", Some(text)) => {
                check("text", &text.0, true)?;
                Ok(Request::Say { text: text.0 })
            }
            _ => Err("not a say".into()),
        }
    }

    /// The `say` read without serde is the one serde reads, borrowed alike, and every
    /// frame it does not take (escapes, control characters, other shapes, broken JSON)
    /// still gets serde's answer.
    #[test]
    fn a_plain_say_is_read_as_serde_reads_it() {
        let mut texts: Vec<String> = [
            "",
            "12345:7:123456789",
            "é ✓ 𝄞 \u{7f}",
            "0123456789abcdef",
            "0123456789abcdef0",
            "a \"quote\"",
            "back\\\\slash",
            "\\u00e9",
            "\\",
            "a\"}",
            "}",
            "\"}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every character up to U+00FF, raw, at each place in a 16-byte block and after.
        for c in (0..=0xffu32).filter_map(char::from_u32) {
            for at in [0, 5, 15, 16, 17, 40] {
                texts.push(format!("{}{c}{}", "x".repeat(at), "y".repeat(3)));
            }
        }
        texts.push("é".repeat(MAX_FIELD / 2));
        texts.push(format!("{}x", "é".repeat(MAX_FIELD / 2)));
        let mut plain = 0;
        for text in &texts {
            for frame in [
                format!(r#"{{"type":"say","text":"{text}"}}"#),
                format!(r#"{{"type":"say","text":"{text}"}} "#),
                format!(r#"{{"type":"say","text":"{text}""#),
                format!(r#"{{"text":"{text}","type":"say"}}"#),
            ] {
                let serde = say_with_serde(&frame);
                match (parse(&frame), &serde) {
                    (Ok(read), Ok(serde)) => assert_eq!(&read, serde, "{frame}"),
                    (Err(_), Err(_)) => {}
                    (read, _) => panic!("{frame}: {read:?} / {serde:?}"),
                }
                if let Some(read) = plain_say(&frame) {
                    plain += 1;
                    match serde {
                        Ok(Request::Say {
                            text: Cow::Borrowed(serde),
                        }) => assert_eq!(read, serde),
                        // Valid, but too long: refused by both.
                        Err(_) => assert!(read.len() > MAX_FIELD, "{frame}"),
                        _ => panic!("{frame}: serde borrows no plain text"),
                    }
                }
            }
        }
        // Most frames were plain ones, read without serde; not the others.
        assert!(plain > 1000, "{plain}");
        assert!(plain_say(r#"{"type":"say","text":"a\"b"}"#).is_none());
        assert!(plain_say("{\"type\":\"say\",\"text\":\"a\u{1}b\"}").is_none());
        assert!(needs_escape("0123456789abcdef\u{1f}"));
        assert!(!needs_escape("0123456789abcdef\u{20}"));
    }

    /// The word-at-a-time check is the byte-by-byte definition, for every byte at every
    /// place in a word and in the bytes after the last word, next to every other byte.
    #[test]
    fn the_escape_check_is_exact() {
        let escaped = |value: &str| value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        let mut checked = 0;
        for c in (0..=0xffu32).filter_map(char::from_u32) {
            for neighbour in ['a', ' ', '!', '#', '[', ']', '\u{7f}', 'é', '\u{1f}', '"'] {
                for at in 0..20 {
                    let value = format!("{}{c}{neighbour}{}", "x".repeat(at), "y".repeat(at % 9));
                    assert_eq!(needs_escape(&value), escaped(&value), "{value:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 50_000);
        assert!(!needs_escape("") && !needs_escape("12345:7:123456789"));
    }

    #[test]
    fn fields_over_1_kib_are_refused_and_1_kib_is_not() {
        let long = "é".repeat(MAX_FIELD / 2); // 1024 bytes
        let frame = format!(r#"{{"type":"say","text":"{long}"}}"#);
        assert!(parse(&frame).is_ok());
        let frame = format!(r#"{{"type":"say","text":"{long}x"}}"#);
        assert_eq!(parse(&frame), Err("text longer than 1024 bytes".into()));
        let frame = format!(r#"{{"type":"join","name":"{long}!","room":"r"}}"#);
        assert_eq!(parse(&frame), Err("name longer than 1024 bytes".into()));
        let frame = format!(r#"{{"type":"join","name":"n","room":"{long}!"}}"#);
        assert_eq!(parse(&frame), Err("room longer than 1024 bytes".into()));
        let frame = format!(r#"{{"type":"join","name":"n","room":"r","session":"{long}!"}}"#);
        assert_eq!(parse(&frame), Err("session longer than 1024 bytes".into()));
    }

    #[test]
    fn notices_are_the_documented_json() {
        let message = Notice::Message {
            name: "ann",
            text: "a \"b\"\n",
            time: 17,
        };
        assert_eq!(
            message.to_json(),
            r#"{"type":"message","name":"ann","text":"a \"b\"\n","time":17}"#
        );
        assert_eq!(
            Notice::Joined { name: "ann" }.to_json(),
            r#"{"type":"joined","name":"ann"}"#
        );
        assert_eq!(
            Notice::Left { name: "ann" }.to_json(),
            r#"{"type":"left","name":"ann"}"#
        );
        assert_eq!(
            Notice::Error { reason: "no" }.to_json(),
            r#"{"type":"error","reason":"no"}"#
        );
        assert_eq!(
            Notice::name_taken("Ann", "lobby", "taken").to_json(),
            r#"{"type":"error","code":"name_taken","reason":"taken","name":"Ann","room":"lobby"}"#
        );
        let mut both = String::new();
        Notice::Joined { name: "ann" }.write_to(&mut both);
        message.write_to(&mut both);
        assert_eq!(
            both,
            r#"{"type":"joined","name":"ann"}{"type":"message","name":"ann","text":"a \"b\"\n","time":17}"#
        );
    }

    /// The `message` notice written by hand is the JSON serde writes, for strings that
    /// need no escape, every kind that does, and non-ASCII text.
    #[test]
    fn a_message_is_written_as_serde_writes_it() {
        let mut strings: Vec<String> = [
            "",
            "ann",
            "12345:7:123456789",
            "a \"quoted\" word",
            "back\\slash",
            "tab\tnew\nline\r",
            "\u{0}\u{1}\u{8}\u{b}\u{c}\u{1f}",
            "\u{7f} is not escaped",
            "é ✓ 𝄞 \u{2028}\u{2029}",
            "</script>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every character up to U+00FF, alone and between others.
        strings.extend(
            (0..=0xffu32)
                .filter_map(char::from_u32)
                .map(|c| format!("x{c}y")),
        );
        strings.push("é".repeat(MAX_FIELD / 2));
        for name in ["ann", "Zoë \"Z\"", "a\u{1}b"] {
            for text in &strings {
                for time in [0, 17, 1_765_000_000_123, u64::MAX] {
                    let notice = Notice::Message { name, text, time };
                    let json = notice.to_json();
                    assert_eq!(json, serde_json::to_string(&notice).unwrap());
                    if !json.contains('\\') {
                        assert_eq!(json.len(), json.capacity(), "{json}");
                    }
                    // Appended after what the string holds, as the history does.
                    let mut after = String::from("earlier");
                    notice.write_to(&mut after);
                    assert_eq!(after, format!("earlier{json}"));
                }
            }
        }
        for name in &strings {
            for notice in [Notice::Joined { name }, Notice::Left { name }] {
                let json = notice.to_json();
                assert_eq!(json, serde_json::to_string(&notice).unwrap());
                if !json.contains('\\') {
                    assert_eq!(json.len(), json.capacity(), "{json}");
                }
            }
        }
    }

    #[test]
    fn names_are_compared_without_case_and_surrounding_spaces() {
        assert_eq!(fold("Ann"), fold("ann"));
        assert_eq!(fold("  ANN\t"), "ann");
        assert_eq!(fold("ÉLODIE"), fold("élodie"));
        assert_ne!(fold("ann"), fold("an n"));
        assert_ne!(fold("ann"), fold("anne"));
    }
}
