//! Replies staged while an event is held: [`WebSocketStream::next_event_with`] hands the
//! event and a [`Reply`] to one closure, so that an echo or a transform sends from the
//! event's own bytes, with no message allocated in between.

use alloc::collections::VecDeque;
use alloc::string::ToString;
use core::task::ready;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Buf, Core, MaskRng, Ready, STAGE_LIMIT, WebSocketStream, message_len};
use crate::connection::{Connection, Masked, State, Unmasked};
use crate::driver::{self, SendError};
use crate::endpoint::Endpoint;
use crate::error::UsageError;
use crate::event::{Event, OpenEvent};
use crate::io::{Error, Message};
use crate::time::Instant;

/// What the closure of [`WebSocketStream::next_event_with`] sends while it holds an event.
///
/// A message of up to [`STAGE_LIMIT`] bytes is staged in the stream's output straight from
/// the bytes given: no allocation, and the only copy is into the output. A larger one,
/// one sent while earlier messages wait for room, or any with permessage-deflate is
/// copied once into an owned [`Message`] and queued behind them, as
/// the [`Sink`](futures_sink::Sink) would. Either way it goes out with the stream's
/// next write, in order; nothing is lost, and
/// [`buffered_amount`](WebSocketStream::buffered_amount) counts it.
#[derive(Debug)]
pub struct Reply<'a> {
    core: CoreMut<'a>,
    queue: &'a mut VecDeque<Message>,
    queued_bytes: &'a mut usize,
    /// A message may be staged at once: the connection is open, nothing waits before it,
    /// no large payload is owed and nothing is compressed. (Only the closure's sends
    /// change this while it runs, and only by queueing.)
    direct: bool,
    now: Instant,
}

/// The open connection's core, in either role, while the event borrows its input.
#[derive(Debug)]
enum CoreMut<'a> {
    Server(&'a mut driver::Core<Connection<Unmasked>, Buf>),
    Client(&'a mut driver::Core<Connection<Masked<MaskRng>>, Buf>),
}

impl CoreMut<'_> {
    fn state(&self) -> State {
        match self {
            CoreMut::Server(core) => core.endpoint().state(),
            CoreMut::Client(core) => core.endpoint().state(),
        }
    }
}

/// A message's bytes as the caller gave them.
#[derive(Clone, Copy)]
enum Payload<'p> {
    Text(&'p str),
    Binary(&'p [u8]),
}

impl Payload<'_> {
    fn len(self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::Binary(data) => data.len(),
        }
    }
}

impl Reply<'_> {
    /// Send a text message (RFC 6455 §5.6). [`Error::Closed`] once our Close was sent or
    /// the connection ended.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(Payload::Text(text))
    }

    /// Send a binary message. [`Error::Closed`] once our Close was sent or the connection
    /// ended.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send(Payload::Binary(data))
    }

    #[inline]
    fn send(&mut self, payload: Payload<'_>) -> Result<(), Error> {
        if self.direct && payload.len() <= STAGE_LIMIT {
            match self.stage(payload) {
                Ok(()) => return Ok(()),
                Err(SendError::NoRoom { .. }) => {}
                Err(SendError::Usage(UsageError::NotOpen)) => return Err(Error::Closed),
                Err(SendError::Usage(error)) => return Err(Error::Usage(error)),
            }
        }
        self.queue_copy(payload)
    }

    /// Stage `payload` in the driver's output, copied (and masked, for a client).
    fn stage(&mut self, payload: Payload<'_>) -> Result<(), SendError> {
        let now = self.now;
        match (&mut self.core, payload) {
            (CoreMut::Server(core), Payload::Text(text)) => core.send_text(text, now),
            (CoreMut::Server(core), Payload::Binary(data)) => core.send_binary(data, now),
            (CoreMut::Client(core), Payload::Text(text)) => core.send_text(text, now),
            (CoreMut::Client(core), Payload::Binary(data)) => core.send_binary(data, now),
        }
    }

    /// Queue an owned copy of `payload` behind what waits; whatever follows it queues too.
    #[inline(never)]
    fn queue_copy(&mut self, payload: Payload<'_>) -> Result<(), Error> {
        if self.core.state() != State::Open {
            return Err(Error::Closed);
        }
        self.direct = false;
        let message = match payload {
            Payload::Text(text) => Message::Text(text.to_string()),
            Payload::Binary(data) => Message::Binary(data.to_vec()),
        };
        *self.queued_bytes += message_len(&message);
        self.queue.push_back(message);
        Ok(())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// The next event, handed to `answer` with a [`Reply`] that sends while the event is
    /// held: an echo or a transform sends from the event's own bytes, with no message
    /// allocated in between (see [`Reply`] for when one is). Returns what `answer`
    /// returns. The event is what [`next_event`](Self::next_event) would give (Pings
    /// already answered, a Close already echoed, large messages in
    /// [`Event::Chunk`]s); the errors and the end are the same too.
    ///
    /// Replies go out with the stream's next write, which the next read makes (nothing
    /// needs flushing while the loop keeps reading; `SinkExt::flush` writes them at
    /// once). Waits first, writing, while
    /// more than [`Settings::write_buffer_limit`](super::Settings::write_buffer_limit)
    /// bytes wait to be written, so a peer that does not read cannot make the stream
    /// queue without bound.
    ///
    /// **Cancel safe**: dropping the future before `answer` runs loses nothing (an event
    /// found is kept for the next call); `answer` runs whole once it starts.
    ///
    /// ```
    /// use sockless::Event;
    /// use sockless::io::tokio::WebSocketStream;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockless::io::Error> {
    /// # let (ours, mut peer) = tokio::io::duplex(1024);
    /// # use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # peer.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).await?;
    /// let mut ws = WebSocketStream::from_raw_socket(ours, sockless::Role::Server, sockless::Config::default());
    /// // An echo server's loop: every text message goes back as it came.
    /// let echoed = ws
    ///     .next_event_with(|event, reply| match event {
    ///         Event::Text(text) => reply.send_text(text).map(|()| true),
    ///         _ => Ok(false),
    ///     })
    ///     .await??;
    /// assert!(echoed);
    /// # futures_util::SinkExt::flush(&mut ws).await?;
    /// # let mut echo = [0u8; 4];
    /// # peer.read_exact(&mut echo).await?;
    /// # assert_eq!(echo, [0x81, 2, b'h', b'i']);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_event_with<R, F>(&mut self, answer: F) -> Result<R, Error>
    where
        F: FnOnce(OpenEvent<'_>, &mut Reply<'_>) -> R,
    {
        let ready = core::future::poll_fn(|cx| {
            // Room for the replies first: a peer that does not read gets no more events.
            // (An end is found and reported by the step.)
            if self.buffered_amount() >= self.write_limit {
                ready!(self.poll_room(cx))?;
            }
            self.poll_step(false, cx)
        });
        if ready.await? != Ready::Event {
            return Err(Error::Closed);
        }
        let staging_waits = !self.payload.is_empty() || self.deflate.is_some();
        let (queue, queued_bytes) = (&mut self.queue, &mut self.queued_bytes);
        let reported = &mut self.reported;
        let now = self.io.recent();
        let deflate = &self.deflate;
        macro_rules! answered {
            ($d:expr, $role:ident) => {{
                let (event, core) = match deflate {
                    #[cfg(feature = "deflate")]
                    Some(deflate) => $d.event_inflated_and_core(&deflate.inflater),
                    _ => $d.event_and_core(),
                };
                match event {
                    // A text message that failed its check when taken: reported here,
                    // not again at the end.
                    Some(Event::Failed(error)) => {
                        *reported = true;
                        Err(Error::Protocol(error))
                    }
                    Some(event) => {
                        let core = CoreMut::$role(core);
                        let direct =
                            queue.is_empty() && !staging_waits && core.state() == State::Open;
                        let mut reply = Reply {
                            core,
                            queue,
                            queued_bytes,
                            direct,
                            now,
                        };
                        Ok(answer(event, &mut reply))
                    }
                    None => Err(Error::Closed),
                }
            }};
        }
        match &mut self.core {
            Core::Server(d) => answered!(d, Server),
            Core::Client(d) => answered!(d, Client),
        }
    }
}
