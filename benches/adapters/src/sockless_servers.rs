//! The sockless echo servers, over the tokio adapter (`sockless::io::tokio`).

use futures_util::{FutureExt, SinkExt};
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

/// What one event asks of the echo loop.
enum Step {
    /// Send this back.
    Echo(Message),
    /// Nothing to send (a control frame, already answered, or a piece of a message).
    Nothing,
    /// The connection ended cleanly.
    End,
}

/// Turns a borrowed event into what to send back. Whole messages are copied once, into the
/// message handed to the Sink (the adapter has no way to send a borrowed payload while
/// the event borrows the stream); pieces of a message too large for the input buffer are
/// collected in `partial`, as a user collects them.
fn step(event: Result<OpenEvent<'_>, Error>, partial: &mut Vec<u8>) -> Result<Step, Error> {
    Ok(match event {
        Ok(OpenEvent::Binary(data)) => Step::Echo(Message::Binary(data.to_vec())),
        Ok(OpenEvent::Text(text)) => Step::Echo(Message::Text(text.to_owned())),
        Ok(OpenEvent::Chunk(chunk)) => {
            if chunk.first {
                partial.clear();
            }
            partial.extend_from_slice(chunk.data);
            if !chunk.last {
                return Ok(Step::Nothing);
            }
            let data = std::mem::take(partial);
            Step::Echo(match chunk.kind {
                MessageKind::Binary => Message::Binary(data),
                // The connection validated the text, piece by piece.
                MessageKind::Text => Message::Text(
                    String::from_utf8(data).map_err(|e| Error::Io(std::io::Error::other(e)))?,
                ),
            })
        }
        Ok(_) => Step::Nothing,
        Err(Error::Closed) => Step::End,
        Err(error) => return Err(error),
    })
}

/// `accept_async`, then `next_event`: events that borrow the stream's input buffer (no
/// assembly, no per-event allocation on the read side). Echoes are fed to the Sink while
/// events are already readable, flushed once none is.
pub async fn events(stream: TcpStream) -> Result<(), BoxError> {
    let mut ws: WebSocketStream<TcpStream> = accept_async(stream).await?;
    let mut partial = Vec::new();
    loop {
        let mut step = step(ws.next_event().await, &mut partial)?;
        loop {
            match step {
                Step::Echo(message) => ws.feed(message).await?,
                Step::Nothing => {}
                Step::End => return Ok(()),
            }
            match ws.next_event().now_or_never() {
                Some(event) => step = self::step(event, &mut partial)?,
                None => break,
            }
        }
        ws.flush().await?;
    }
}
