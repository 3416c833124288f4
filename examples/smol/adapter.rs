//! A WebSocket adapter for smol / async-io, on sockless's public driver API only: a
//! template for wrapping sockless in an I/O layer of your own. It moves bytes and sleeps;
//! the [`Driver`] decides everything else (what to write and when, every deadline, when to
//! give the peer up, whether the end was clean). Any `futures_io` stream works as the
//! transport (`async_io::Async<TcpStream>` in the examples). Not cancel safe while a large
//! message is half written: dropping that `send` ends the connection (1006).
#![allow(dead_code)] // Each example uses one role.

use std::future::Future;
use std::io::IoSlice;
use std::time::{Duration, Instant as StdInstant};

use async_io::Timer;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use sockless::driver::{Decision, Driver, End, SendError, Step};
use sockless::{
    Client, CloseCode, Config, Connection, Endpoint, Event, EventOf, InputBuffer, Instant,
};
use sockless::{Masked, MessageKind, OsRng, Request, Server, Unmasked, UsageError};

/// Staged output (headers, small messages, control frames). Larger payloads are written
/// from where they lie (a client's masked here a piece at a time).
const OUTPUT: usize = 16 << 10;
/// Received bytes not used yet (larger messages arrive as `Event::Chunk`s).
const INPUT: usize = 16 << 10;

/// One connection: the transport, the driver and the clock the driver's instants count on.
pub struct WebSocket<T, E> {
    io: T,
    driver: Driver<E, Box<[u8]>, Box<[u8]>>,
    origin: StdInstant,
}

/// Accept a connection: `decide` answers the request (`Decision::accept()`, a refusal ...).
/// A refusal ends as `Err(End::Rejected { .. })` once its response is written, a decision
/// the server cannot carry out as `Err(End::Usage(..))` once its 500 is.
pub async fn accept<'d, T, F>(
    io: T,
    config: Config,
    decide: F,
) -> Result<WebSocket<T, Connection<Unmasked>>, End>
where
    T: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Decision<'d>,
{
    let mut ws = WebSocket::new(io, Server::new(config, Instant::ZERO), &config)?;
    while !matches!(ws.next().await?, Event::Request(_)) {}
    let now = ws.now();
    let _ = ws.driver.decide_with(now, |request| decide(request)); // a mistake is answered 500, then ends
    ws.flush().await?;
    ws.into_open()
}

/// Run the opening handshake for `url` (`ws://`; for `wss://`, `io` is the TLS stream);
/// gives the connection and the response's status.
pub async fn connect<T: AsyncRead + AsyncWrite + Unpin>(
    io: T,
    url: &str,
    config: Config,
) -> Result<(WebSocket<T, Connection<Masked<OsRng>>>, u16), End> {
    let client = Client::connect(url, config, sockless::os_rng(), Instant::ZERO);
    let mut ws = WebSocket::new(io, client.map_err(End::Usage)?, &config)?;
    loop {
        if let Event::Connected(response) = ws.next().await? {
            let status = response.status();
            return Ok((ws.into_open()?, status));
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

    /// The open connection alone: its events cannot be handshake events.
    fn into_open(self) -> Result<WebSocket<T, Connection<E::Masking>>, End> {
        let driver = self.driver.into_open().map_err(|_| End::Abnormal)?;
        let (io, origin) = (self.io, self.origin);
        Ok(WebSocket { io, driver, origin })
    }

    fn now(&self) -> Instant {
        Instant::from_elapsed(self.origin.elapsed())
    }

    /// The next event (Pings are answered, Close echoed by the driver). `Err` is the end
    /// of the connection, the transport closed: `End::Closed { .. }` after a clean close.
    /// Cancel safe: all partial state lives in the driver.
    pub async fn next(&mut self) -> Result<EventOf<'_, E::Phase>, End> {
        loop {
            match self.driver.poll(self.now()) {
                Step::Event(_) => return self.driver.event().ok_or(End::Abnormal),
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

    /// Send a whole message (text is checked for UTF-8): a small one is written with the
    /// next read or `flush` (batched), a large one at once from `data`.
    pub async fn send(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), End> {
        self.retry(|d, now| d.send_message(kind, data, now)).await?;
        while self.driver.transmit().payload_len > 0 {
            self.write_some(data).await?;
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
    async fn retry<R>(
        &mut self,
        mut command: impl FnMut(&mut Driver<E, Box<[u8]>, Box<[u8]>>, Instant) -> Result<R, SendError>,
    ) -> Result<R, End> {
        loop {
            let now = self.now();
            match command(&mut self.driver, now) {
                Err(SendError::NoRoom { .. }) => self.write_some(&[]).await?,
                Err(SendError::Usage(error)) => return Err(End::Usage(error)),
                done => return done.map_err(|_| End::Usage(UsageError::OutputBufferTooSmall)),
            }
        }
    }

    /// One vectored write of what the driver owes (staged bytes, then `payload`'s part);
    /// flushes once all is out. `Err` once the connection has ended.
    async fn write_some(&mut self, payload: &[u8]) -> Result<(), End> {
        let until = self.driver.poll_timeout();
        let [staged, owed] = self.driver.write_parts(payload);
        let bufs = [IoSlice::new(staged), IoSlice::new(owed)];
        let wrote = deadline(self.origin, until, self.io.write_vectored(&bufs)).await;
        let now = self.now();
        match wrote {
            Some(Ok(n)) if n > 0 => self.driver.wrote(n, now),
            // An error, or nothing taken (nothing given: the `send` that owed a payload
            // was cancelled).
            Some(_) => self.driver.transport_failed(now),
            None => self.driver.handle_timeout(now), // a deadline passed
        }
        if self.driver.transmit().is_empty() {
            let until = self.driver.poll_timeout();
            if let Some(Err(_)) = deadline(self.origin, until, self.io.flush()).await {
                self.driver.transport_failed(now);
            }
        }
        match self.driver.end() {
            Some(end) if self.driver.transmit().is_empty() => Err(self.shut(end).await),
            _ => Ok(()),
        }
    }

    /// Close the transport, within a second: the connection is over, as `end` says.
    async fn shut(&mut self, end: End) -> End {
        let until = Some(self.now().saturating_add(Duration::from_secs(1)));
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
    let at = until.map(|at| origin + at.elapsed_since_epoch());
    let timer = at.map_or_else(Timer::never, Timer::at);
    async { Some(f.await) }
        .or(async {
            timer.await;
            None
        })
        .await
}
