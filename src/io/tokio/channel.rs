//! The bounded channel behind [`Sender`]: messages from other tasks, written by the task
//! that reads the stream.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::task::{Poll, Waker};
use std::sync::{Mutex, MutexGuard};

use crate::io::{Error, Message};

#[derive(Debug)]
struct State {
    queue: VecDeque<Message>,
    capacity: usize,
    closed: bool,
    /// The task reading the stream, woken when a message is queued.
    reader: Option<Waker>,
    /// Senders waiting for room, woken when the reader takes a message.
    waiting: Vec<Waker>,
}

#[derive(Debug)]
pub(super) struct Channel {
    state: Mutex<State>,
}

impl Channel {
    /// The lock is only ever held for a few instructions, never across an `.await`.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn register_reader(&self, waker: &Waker) {
        let mut state = self.lock();
        match &state.reader {
            Some(current) if current.will_wake(waker) => {}
            _ => state.reader = Some(waker.clone()),
        }
    }

    /// The oldest queued message; wakes the senders waiting for room.
    pub(super) fn pop(&self) -> Option<Message> {
        let mut state = self.lock();
        let message = state.queue.pop_front()?;
        let waiting = core::mem::take(&mut state.waiting);
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
        Some(message)
    }

    /// No more messages are taken: queued ones are dropped, senders get
    /// [`Error::Closed`].
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.queue.clear();
        let waiting = core::mem::take(&mut state.waiting);
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
    }
}

/// The stream's end of the channel: closes it when the stream is dropped.
#[derive(Debug)]
pub(super) struct Owner(Arc<Channel>);

impl Owner {
    pub(super) fn new(capacity: usize) -> Self {
        Owner(Arc::new(Channel {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                capacity,
                closed: false,
                reader: None,
                waiting: Vec::new(),
            }),
        }))
    }

    pub(super) fn shared(&self) -> Arc<Channel> {
        self.0.clone()
    }

    pub(super) fn close(&self) {
        self.0.close();
    }

    pub(super) fn sender(&self) -> Sender {
        Sender {
            channel: self.0.clone(),
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A cloneable handle to send messages on a [`WebSocketStream`](super::WebSocketStream)
/// from other tasks, over a bounded channel
/// ([`Settings::channel_capacity`](super::Settings::channel_capacity) messages). Get one
/// with [`WebSocketStream::sender`](super::WebSocketStream::sender).
///
/// The task that reads the stream writes the queued messages (every read first moves
/// them into the output buffer, while it is under
/// [`Settings::write_buffer_limit`](super::Settings::write_buffer_limit), and writes
/// them), so the stream must be read for them to go out. When the channel is full,
/// [`send`](Self::send) waits: a peer that does not read makes senders wait, never memory
/// grow. Once the stream ended or was dropped, sending is [`Error::Closed`]; messages still
/// queued then are dropped. Errors of the connection are reported to the reader.
#[derive(Clone, Debug)]
pub struct Sender {
    channel: Arc<Channel>,
}

impl Sender {
    /// Queue `message`, waiting while the channel is full. `Ok` means queued (it is
    /// written by the reading task), not yet written.
    ///
    /// **Cancel safe**: dropped while waiting for room, nothing was queued.
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        let mut message = Some(message);
        core::future::poll_fn(|cx| {
            let mut state = self.channel.lock();
            if state.closed {
                return Poll::Ready(Err(Error::Closed));
            }
            if state.queue.len() < state.capacity {
                if let Some(message) = message.take() {
                    state.queue.push_back(message);
                }
                let reader = state.reader.clone();
                drop(state);
                if let Some(reader) = reader {
                    reader.wake();
                }
                return Poll::Ready(Ok(()));
            }
            if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiting.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Queue `message` if there is room now; gives it back with
    /// [`Error::Closed`] or, when the channel is full, `None`.
    pub fn try_send(&self, message: Message) -> Result<(), (Message, Option<Error>)> {
        let mut state = self.channel.lock();
        if state.closed {
            return Err((message, Some(Error::Closed)));
        }
        if state.queue.len() >= state.capacity {
            return Err((message, None));
        }
        state.queue.push_back(message);
        let reader = state.reader.clone();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
        Ok(())
    }

    /// Whether the stream ended or was dropped (sending would be [`Error::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.channel.lock().closed
    }
}
