//! The load benchmark's chat on tokio-tungstenite, written the way a tokio user would: a task per
//! connection, a `broadcast` channel per room, the room table behind a mutex.
//!
//! `tokio_chat [ADDR]` (default 127.0.0.1:8081); WebSocket endpoint `/chat`. Protocol:
//! the client sends `{"type":"join","name":N,"room":R}` once, then `{"type":"say","text":T}`;
//! the server sends `{"type":"message","name":N,"text":T,"time":MS}` to everyone in the
//! room (the sender included), `joined` / `left` notices, and the last 50 messages right
//! after a join. Anything else gets `{"type":"error","reason":...}`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

const HISTORY: usize = 50;
const MAX_FIELD: usize = 1024;
/// How many messages a slow member may fall behind before it misses some.
const ROOM_CHANNEL: usize = 1024;

struct Room {
    tx: broadcast::Sender<Arc<str>>,
    history: VecDeque<Arc<str>>,
}

type Rooms = Arc<Mutex<HashMap<String, Room>>>;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Join { name: String, room: String },
    Say { text: String },
}

#[path = "../../../../examples/common/cli.rs"]
mod cli;

const USAGE: cli::Usage = cli::Usage {
    name: "tokio_chat",
    about: "the load benchmark's chat on tokio-tungstenite: WebSocket at ws://ADDR/chat",
    synopsis: "[ADDR]",
    arguments: &[("ADDR", "where to listen (default 127.0.0.1:8081)")],
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = USAGE.parse(|args| match (args.next()?, args.next()?) {
        (None, _) => Ok("127.0.0.1:8081".into()),
        (Some(addr), None) if !addr.starts_with('-') => cli::address(addr),
        (Some(addr), Some(extra)) if !addr.starts_with('-') => Err(args.unexpected(&extra)),
        (Some(first), _) => Err(args.unexpected(&first)),
    });
    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(error) => return USAGE.fail(format_args!("cannot listen on {addr}: {error}")),
    };
    eprintln!("tokio_chat: ws://{addr}/chat");
    let rooms: Rooms = Arc::default();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of files, for one: wait a little rather than spin.
                eprintln!("tokio_chat: accept: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, rooms.clone()));
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn error(reason: &str) -> Message {
    Message::text(json!({"type": "error", "reason": reason}).to_string())
}

async fn serve(stream: TcpStream, rooms: Rooms) {
    // The callback's type is tungstenite's: its error is the whole refusal response.
    #[allow(clippy::result_large_err)]
    let only_chat = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if request.uri().path() == "/chat" {
            Ok(response)
        } else {
            let mut refused = ErrorResponse::new(Some("not found".into()));
            *refused.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
            Err(refused)
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, only_chat).await else {
        return;
    };
    // Until the join: no room.
    let mut member: Option<(String, String, broadcast::Receiver<Arc<str>>)> = None;
    loop {
        let incoming = match &mut member {
            None => ws.next().await,
            Some((_, _, rx)) => tokio::select! {
                incoming = ws.next() => incoming,
                out = rx.recv() => {
                    let sent = match out {
                        Ok(text) => ws.send(Message::text(&*text)).await,
                        // Fell behind by a whole channel: those messages are lost to it.
                        Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    if sent.is_err() {
                        break;
                    }
                    continue;
                }
            },
        };
        let text = match incoming {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: 1003.into(),
                    reason: "text only".into(),
                };
                let _ = ws.close(Some(frame)).await;
                break;
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue, // Ping (answered by tungstenite), Pong
        };
        let reply = match (serde_json::from_str::<Incoming>(&text), &member) {
            (Err(_), _) => Some(error("bad message")),
            (Ok(Incoming::Join { .. }), Some(_)) => Some(error("already joined")),
            (Ok(Incoming::Join { name, room }), None) => {
                if name.len() > MAX_FIELD || room.len() > MAX_FIELD {
                    Some(error("name or room too long"))
                } else {
                    let (rx, history) = {
                        let mut table = rooms.lock().unwrap();
                        let entry = table.entry(room.clone()).or_insert_with(|| Room {
                            tx: broadcast::channel(ROOM_CHANNEL).0,
                            history: VecDeque::new(),
                        });
                        let rx = entry.tx.subscribe();
                        let joined: Arc<str> =
                            json!({"type": "joined", "name": name}).to_string().into();
                        let _ = entry.tx.send(joined);
                        (rx, entry.history.clone())
                    };
                    member = Some((name, room, rx));
                    let mut failed = false;
                    for old in history {
                        failed |= ws.feed(Message::text(&*old)).await.is_err();
                    }
                    if failed || ws.flush().await.is_err() {
                        break;
                    }
                    None
                }
            }
            (Ok(Incoming::Say { .. }), None) => Some(error("join first")),
            (Ok(Incoming::Say { text }), Some((name, room, _))) => {
                if text.len() > MAX_FIELD {
                    Some(error("text too long"))
                } else {
                    let message: Arc<str> = json!({
                        "type": "message", "name": name, "text": text, "time": now_ms()
                    })
                    .to_string()
                    .into();
                    let mut table = rooms.lock().unwrap();
                    if let Some(entry) = table.get_mut(room) {
                        if entry.history.len() == HISTORY {
                            entry.history.pop_front();
                        }
                        entry.history.push_back(message.clone());
                        let _ = entry.tx.send(message);
                    }
                    None
                }
            }
        };
        if let Some(reply) = reply
            && ws.send(reply).await.is_err()
        {
            break;
        }
    }
    if let Some((name, room, rx)) = member {
        drop(rx);
        let mut table = rooms.lock().unwrap();
        if let Some(entry) = table.get_mut(&room) {
            if entry.tx.receiver_count() == 0 {
                table.remove(&room);
            } else {
                let left: Arc<str> = json!({"type": "left", "name": name}).to_string().into();
                let _ = entry.tx.send(left);
            }
        }
    }
}
