//! A WebSocket adapter for smol / async-io, on sockless's public driver API only: a
//! template for wrapping sockless in an I/O layer of your own. It moves bytes and sleeps;
//! the [`Driver`] decides everything else (what to write and when, every deadline, when to
//! give the peer up, whether the end was clean). Any `futures_io` stream works as the
//! transport (`async_io::Async<TcpStream>` in the examples). Not cancel safe while a large
//! message is half written: dropping that `send` ends the connection (1006).
#![allow(dead_code)] // Each example uses one role.

use std::future::Future;
use std::io::IoSlice;
use std::time::Instant as StdInstant;

use async_io::Timer;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, future};
use sockless::driver::{Decision, Driver, End, SendError, Step};
use sockless::frame::apply_mask;
use sockless::{Client, CloseCode, Config, Endpoint, Event, InputBuffer, Instant, MessageKind};
use sockless::{OsRng, Request, Server, UsageError};

/// Staged output (headers, small messages, control frames); larger payloads are written
/// from where they lie (a client's are masked in a copy), never copied in.
const OUTPUT: usize = 16 << 10;
/// Received bytes not used yet (larger messages arrive as `Event::Chunk`s).
const INPUT: usize = 16 << 10;
/// How long closing the transport may take once the connection is over.
const SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(1);

/// One connection: the transport, the driver and the clock the driver's instants count on.
pub struct WebSocket<T, E> {
    io: T,
    driver: Driver<E, Box<[u8]>, Box<[u8]>>,
    origin: StdInstant,
}

/// Accept a connection: `decide` answers the request (`Decision::accept()`, a refusal ...).
/// A refusal ends as `Err(End::Rejected { .. })` once its response is written.
pub async fn accept<T: AsyncRead + AsyncWrite + Unpin>(
    io: T,
    config: Config,
    decide: impl FnOnce(&Request<'_>) -> Decision<'static>,
) -> Result<WebSocket<T, Server>, End> {
    let mut ws = WebSocket::new(io, Server::new(config, Instant::ZERO), &config)?;
    let decision = loop {
        ws.drive().await?;
        if let Some(Event::Request(request)) = ws.driver.event() {
            break decide(&request);
        }
    };
    ws.retry(|d, now| d.decide(decision, now)).await?;
    ws.flush().await.map(|()| ws) // a refusal ends here, once written
}

/// Run the opening handshake for `url` (`ws://`; for `wss://`, `io` is the TLS stream);
/// gives the connection and the response's status.
pub async fn connect<'u, T: AsyncRead + AsyncWrite + Unpin>(
    io: T,
    url: &'u str,
    config: Config,
) -> Result<(WebSocket<T, Client<'u, OsRng>>, u16), End> {
    let client = Client::connect(url, config, sockless::os_rng(), Instant::ZERO);
    let mut ws = WebSocket::new(io, client.map_err(End::Usage)?, &config)?;
    loop {
        ws.drive().await?;
        if let Some(Event::Connected(response)) = ws.driver.event() {
            let status = response.status();
            return Ok((ws, status));
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin, E: Endpoint> WebSocket<T, E> {
    fn new(io: T, endpoint: E, config: &Config) -> Result<Self, End> {
        let input = vec![0; INPUT.max(config.max_head_len)].into_boxed_slice();
        let input = InputBuffer::new(input, config).map_err(End::Usage)?;
        let output = vec![0; OUTPUT].into_boxed_slice();
        let driver = Driver::new(endpoint, input, output, config).map_err(End::Usage)?;
        let origin = StdInstant::now();
        Ok(WebSocket { io, driver, origin })
    }

    fn now(&self) -> Instant {
        Instant::from_elapsed(self.origin.elapsed())
    }

    /// The next event (Pings are answered, Close echoed by the driver). `Err` is the end
    /// of the connection, the transport closed: `End::Closed { .. }` after a clean close.
    /// Cancel safe: all partial state lives in the driver.
    pub async fn next(&mut self) -> Result<Event<'_>, End> {
        self.drive().await?;
        self.driver.event().ok_or(End::Abnormal)
    }

    /// Send a whole message (text must be UTF-8); a small one is written with the next
    /// read or `flush` (batched), a large one at once from `data`.
    pub async fn send(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), End> {
        if data.len() <= OUTPUT / 4 {
            return self
                .retry(|d, now| d.send_fragment(kind, data, true, now))
                .await;
        }
        let len = data.len() as u64;
        let mask = self
            .retry(|d, now| d.send_header(kind, len, true, now))
            .await?;
        let mut masked = Vec::new(); // a client's payload, masked in its own copy
        let payload = mask.map_or(data, |key| {
            masked.extend_from_slice(data);
            apply_mask(&mut masked, key, 0);
            &masked
        });
        while self.driver.transmit().payload_len > 0 {
            self.write_some(payload).await?;
        }
        Ok(())
    }

    /// Start the closing handshake; keep calling `next` until it gives `Err(End::..)`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), End> {
        self.retry(|d, now| d.close(code, reason, now)).await
    }

    /// Write everything staged (the transport is flushed after each write that empties it).
    pub async fn flush(&mut self) -> Result<(), End> {
        while !self.driver.transmit().is_empty() {
            self.write_some(&[]).await?;
        }
        Ok(())
    }

    /// A command, retried after writing while the output has no room for it.
    async fn retry<R, D>(&mut self, mut command: D) -> Result<R, End>
    where
        D: FnMut(&mut Driver<E, Box<[u8]>, Box<[u8]>>, Instant) -> Result<R, SendError>,
    {
        loop {
            let now = self.now();
            match command(&mut self.driver, now) {
                Ok(done) => return Ok(done),
                Err(SendError::NoRoom { .. }) => self.write_some(&[]).await?,
                Err(SendError::Usage(error)) => return Err(End::Usage(error)),
                Err(_) => return Err(End::Usage(UsageError::OutputBufferTooSmall)),
            }
        }
    }

    /// Until the driver has an event (`Ok`) or says to close the transport (`Err`).
    async fn drive(&mut self) -> Result<(), End> {
        loop {
            match self.driver.poll(self.now()) {
                Step::Event(_) => return Ok(()),
                Step::Write { .. } => drop(self.write_some(&[]).await),
                Step::Read { until } => {
                    let read = self.io.read(self.driver.read_space());
                    let read = deadline(self.origin, until, read).await;
                    let now = self.now();
                    match read {
                        Some(Ok(0)) => self.driver.read_closed(now),
                        Some(Ok(n)) => self.driver.filled(n, now),
                        Some(Err(_)) => self.driver.transport_failed(now),
                        None => {} // a deadline passed: the next poll acts on it
                    }
                }
                Step::Close(end) => return Err(self.shut(end).await),
            }
        }
    }

    /// One vectored write of what the driver owes (staged bytes, then `payload`'s part);
    /// flushes once all is out. `Err` once the connection has ended.
    async fn write_some(&mut self, payload: &[u8]) -> Result<(), End> {
        let t = self.driver.transmit();
        let at = t.payload_offset as usize;
        let rest = payload.get(at..at + t.payload_len as usize);
        let bufs = [
            IoSlice::new(t.staged),
            IoSlice::new(rest.unwrap_or_default()),
        ];
        let until = self.driver.poll_timeout();
        // Nothing to write while a payload is owed: the `send` holding it was cancelled.
        let wrote = match bufs.iter().all(|b| b.is_empty()) {
            true => Some(Ok(0)),
            false => deadline(self.origin, until, self.io.write_vectored(&bufs)).await,
        };
        let now = self.now();
        match wrote {
            Some(Ok(n)) if n > 0 => self.driver.wrote(n, now),
            Some(_) => self.driver.transport_failed(now), // an error, or nothing taken
            None => self.driver.handle_timeout(now),      // a deadline passed
        }
        if self.driver.transmit().is_empty() {
            let until = self.driver.poll_timeout();
            if let Some(Err(_)) = deadline(self.origin, until, self.io.flush()).await {
                let now = self.now();
                self.driver.transport_failed(now);
            }
        }
        match self.driver.end() {
            Some(end) if self.driver.transmit().is_empty() => Err(self.shut(end).await),
            _ => Ok(()),
        }
    }

    /// Close the transport (bounded in time): the connection is over, as `end` says.
    async fn shut(&mut self, end: End) -> End {
        let until = Some(self.now().saturating_add(SHUTDOWN));
        let _ = deadline(self.origin, until, self.io.close()).await;
        end
    }
}

/// `future`'s output, or `None` once the driver's instant `until` has passed.
async fn deadline<F: Future>(
    origin: StdInstant,
    until: Option<Instant>,
    f: F,
) -> Option<F::Output> {
    let timer = until.map_or_else(Timer::never, |at| {
        Timer::at(origin + at.elapsed_since_epoch())
    });
    future::or(async { Some(f.await) }, async {
        timer.await;
        None
    })
    .await
}
