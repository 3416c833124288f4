//! A blocking driver for either role over a `TcpStream`, for tests against real peers.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Instant as Clock;

use sockless::{Endpoint, Error, Event, InputBuffer, Instant, SendError};

use super::{Ev, accept_request};

/// One endpoint over one socket, read through a fixed 64 KiB [`InputBuffer`].
pub struct Blocking<E> {
    pub endpoint: E,
    stream: TcpStream,
    input: InputBuffer<Vec<u8>>,
    out: Vec<u8>,
    clock: Clock,
    eof: bool,
}

impl<E: Endpoint + 'static> Blocking<E> {
    pub fn new(endpoint: E, stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        Blocking {
            endpoint,
            stream,
            input: InputBuffer::new(vec![0; 64 * 1024], &sockless::Config::default()).unwrap(),
            out: vec![0; 64 * 1024 + 64],
            clock: Clock::now(),
            eof: false,
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_elapsed(self.clock.elapsed())
    }

    /// Write everything the protocol owes.
    pub fn flush(&mut self) -> Result<(), Error> {
        loop {
            let n = self.endpoint.poll_transmit(&mut self.out)?;
            if n == 0 {
                return Ok(());
            }
            if self.stream.write_all(&self.out[..n]).is_err() {
                return Ok(());
            }
        }
    }

    /// Run a command that encodes into the output buffer, and write the result.
    pub fn send(
        &mut self,
        mut command: impl FnMut(&mut E, &mut [u8], Instant) -> Result<usize, SendError>,
    ) -> Result<(), Error> {
        let now = self.now();
        let n = match command(&mut self.endpoint, &mut self.out, now) {
            Err(SendError::NoRoom { needed }) => {
                self.out.resize(needed, 0);
                command(&mut self.endpoint, &mut self.out, now)?
            }
            other => other?,
        };
        self.stream.write_all(&self.out[..n]).expect("write");
        self.flush()
    }

    /// The next event (owned), reading as needed. `Ok(None)` once the transport ended
    /// cleanly or should be closed. A failure event is written out (its Close or
    /// rejection) and returned as the error.
    pub fn next_event(&mut self) -> Result<Option<Ev>, Error> {
        loop {
            let now = self.now();
            if let Some(event) = self.input.receive(&mut self.endpoint, now)? {
                let event = event.widen();
                let failure = match &event {
                    Event::Failed(error) => Some(Error::Protocol(*error)),
                    Event::HandshakeFailed(error) => Some(Error::Handshake(*error)),
                    Event::Request(request) => {
                        // Accept every upgrade, as an echo server would.
                        let n = accept_request(&mut self.endpoint, request, now, &mut self.out)?;
                        self.stream.write_all(&self.out[..n]).expect("write");
                        None
                    }
                    _ => None,
                };
                if let Some(error) = failure {
                    self.flush()?;
                    return Err(error);
                }
                let event = Ev::of(&event);
                self.flush()?;
                return Ok(Some(event));
            }
            self.flush()?;
            if self.endpoint.should_close_transport() || self.eof {
                return Ok(None);
            }
            let timeout = self
                .endpoint
                .poll_timeout()
                .map(|at| at.saturating_duration_since(now));
            self.stream
                .set_read_timeout(timeout.map(|t| t.max(std::time::Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(self.input.read_space()) {
                Ok(0) => {
                    self.eof = true;
                    self.endpoint.handle_eof()?;
                    return Ok(None);
                }
                Ok(n) => self.input.commit(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    let now = self.now();
                    if let Some(timed_out) = self.endpoint.handle_timeout(now) {
                        self.flush()?;
                        return Err(timed_out.into());
                    }
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.eof = true;
                    self.endpoint.handle_eof()?;
                    return Ok(None);
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The next whole message (chunks joined), skipping Ping and Pong, or the first other
    /// event.
    pub fn next_message(&mut self) -> Result<Option<Ev>, Error> {
        let mut pieces: Vec<u8> = Vec::new();
        loop {
            match self.next_event()? {
                Some(Ev::Chunk {
                    kind, data, last, ..
                }) => {
                    pieces.extend_from_slice(&data);
                    if last {
                        return Ok(Some(match kind {
                            sockless::MessageKind::Text => {
                                Ev::Text(String::from_utf8(pieces).expect("validated text"))
                            }
                            sockless::MessageKind::Binary => Ev::Binary(pieces),
                        }));
                    }
                }
                // Pings are answered by the state machine; pongs need nothing.
                Some(Ev::Ping(_) | Ev::Pong(_)) => continue,
                other => return Ok(other),
            }
        }
    }

    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
