//! The sockless echo servers, over the tokio adapter (`sockless::io::tokio`).

use sockless::io::tokio::{WebSocketStream, accept_async};
use sockless::io::{Error, Message};
use sockless::{MessageKind, OpenEvent};
use tokio::net::TcpStream;

use crate::server::BoxError;

/// `accept_async`, then the `WebSocketStream` as a Stream and Sink of messages, with the
/// same echo loop as tokio-tungstenite's (a change of imports).
pub async fn stream_sink(stream: TcpStream, send_each: bool) -> Result<(), BoxError> {
    let ws = accept_async(stream).await?;
    crate::server::echo_stream_sink(ws, send_each, |m: &Message| {
        matches!(m, Message::Text(_) | Message::Binary(_))
    })
    .await?;
    Ok(())
}

/// `accept_async`, then `next_event_with`: each event borrows the stream's input buffer
/// and is echoed from there while it is held (no message allocated, the only copy into
/// the output); pieces of a message too large for the input are collected in `partial`,
/// as a user collects them. Replies go out with the next read's write: no flush call.
pub async fn events(stream: TcpStream) -> Result<(), BoxError> {
    let mut ws: WebSocketStream<TcpStream> = accept_async(stream).await?;
    let mut partial = Vec::new();
    loop {
        let echoed = ws.next_event_with(|event, reply| match event {
            OpenEvent::Binary(data) => reply.send_binary(data),
            OpenEvent::Text(text) => reply.send_text(text),
            OpenEvent::Chunk(chunk) => {
                if chunk.first {
                    partial.clear();
                }
                partial.extend_from_slice(chunk.data);
                if !chunk.last {
                    return Ok(());
                }
                match chunk.kind {
                    MessageKind::Binary => reply.send_binary(&partial),
                    // The connection validated the text, piece by piece.
                    MessageKind::Text => match std::str::from_utf8(&partial) {
                        Ok(text) => reply.send_text(text),
                        Err(e) => Err(Error::Io(std::io::Error::other(e))),
                    },
                }
            }
            _ => Ok(()),
        });
        match echoed.await {
            Ok(sent) => sent?,
            Err(Error::Closed) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
    }
}
