//! The chat's messages: JSON in WebSocket text frames, so that any client can speak it.
//!
//! A client sends, in this order:
//!
//! - `{"type":"join","name":N,"room":R}` once;
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
//!
//! Fields a client adds beyond these are ignored.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The longest name, room or text, in bytes of UTF-8 (after JSON unescaping).
pub const MAX_FIELD: usize = 1024;

/// What a client asks for. The strings borrow the frame when they hold no escapes.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Request<'a> {
    /// Enter `room` as `name`.
    Join {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        room: Cow<'a, str>,
    },
    /// Say `text` to the room.
    Say {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
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
}

impl Notice<'_> {
    /// The JSON text of this notice.
    pub fn to_json(&self) -> String {
        // Serializing strings and integers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Read one text frame from a client: the request, or the reason to send back in an
/// `error` notice.
pub fn parse(frame: &str) -> Result<Request<'_>, String> {
    let request: Request<'_> = serde_json::from_str(frame).map_err(|error| {
        if error.is_data() {
            // Valid JSON of the wrong shape: an unknown type, a missing field...
            format!("bad message: {error}")
        } else {
            format!("not JSON: {error}")
        }
    })?;
    match &request {
        Request::Join { name, room } => {
            check("name", name, false)?;
            check("room", room, false)?;
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
            (r#"{"type":"join","name":" ","room":"r"}"#, "name is empty"),
            (r#"{"type":"join","name":"n","room":""}"#, "room is empty"),
        ] {
            let error = parse(frame).expect_err(frame);
            assert!(error.starts_with(reason), "{frame}: {error}");
        }
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
    }
}
