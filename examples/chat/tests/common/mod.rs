//! What the chat's end-to-end tests share: a WebSocket client speaking the chat's JSON
//! messages (each test adds how it waits for the server's).
#![allow(dead_code)] // Each test uses what it needs.

use std::net::TcpStream;

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// One client of the chat.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    pub fn send(&mut self, value: Value) {
        self.ws.send(Message::text(value.to_string())).unwrap();
    }

    pub fn join(&mut self, name: &str, room: &str) {
        self.send(json!({"type": "join", "name": name, "room": room}));
    }

    pub fn say(&mut self, text: &str) {
        self.send(json!({"type": "say", "text": text}));
    }

    /// Join with a session (see examples/chat/src/protocol.rs).
    pub fn join_session(&mut self, name: &str, room: &str, session: &str) {
        self.send(json!({"type": "join", "name": name, "room": room, "session": session}));
    }
}
