//! A scripted in-memory transport: the adapter's end ([`Pipe`]) speaks every I/O trait an
//! adapter may want (std `Read + Write`, tokio's and futures' `AsyncRead + AsyncWrite`), the
//! test's end ([`Peer`]) decides how reads are cut, how much each write may take, when
//! writes block, and when the stream ends or is reset.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Shared {
    /// Bytes for the adapter to read.
    to_adapter: VecDeque<u8>,
    /// The peer ended its side (the adapter reads EOF once `to_adapter` is empty).
    eof: bool,
    /// The peer reset the stream: every read and write of the adapter fails.
    reset: bool,
    /// Bytes the adapter wrote, for the peer.
    to_peer: VecDeque<u8>,
    /// Bytes written but held until the adapter flushes.
    unflushed: Vec<u8>,
    hold_until_flush: bool,
    /// The most bytes `to_peer` holds: writes block beyond it (a peer that stops reading).
    capacity: usize,
    /// The most bytes one read gives / one write takes.
    read_chunk: usize,
    write_chunk: usize,
    /// The adapter closed (shut down) its end.
    closed: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    wakers: Vec<Waker>,
}

struct Link {
    shared: Mutex<Shared>,
    changed: Condvar,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, mut shared: MutexGuard<'_, Shared>) {
        let wakers = std::mem::take(&mut shared.wakers);
        drop(shared);
        self.changed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// A new transport: the adapter's end and the scripted peer's end.
pub fn pipe() -> (Pipe, Peer) {
    let link = Arc::new(Link {
        shared: Mutex::new(Shared {
            capacity: usize::MAX,
            read_chunk: usize::MAX,
            write_chunk: usize::MAX,
            ..Shared::default()
        }),
        changed: Condvar::new(),
    });
    (
        Pipe(link.clone()),
        Peer {
            link,
            received: Vec::new(),
        },
    )
}

/// The adapter's end.
pub struct Pipe(Arc<Link>);

impl Pipe {
    fn try_read(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let mut s = self.0.lock();
        // What arrived before a reset is read first (the Close before the RST).
        if !s.to_adapter.is_empty() && !buf.is_empty() {
            let n = buf.len().min(s.read_chunk).min(s.to_adapter.len());
            for (b, byte) in buf.iter_mut().zip(s.to_adapter.drain(..n)) {
                *b = byte;
            }
            return Some(Ok(n));
        }
        if s.reset {
            return Some(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if s.eof || buf.is_empty() {
            return Some(Ok(0));
        }
        None
    }

    fn try_write(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        let mut s = self.0.lock();
        if s.reset {
            return Some(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if s.closed {
            return Some(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let held = s.to_peer.len() + s.unflushed.len();
        let room = s.capacity.saturating_sub(held);
        if buf.is_empty() {
            return Some(Ok(0));
        }
        if room == 0 {
            return None;
        }
        let n = buf.len().min(room).min(s.write_chunk);
        if s.hold_until_flush {
            s.unflushed.extend_from_slice(&buf[..n]);
        } else {
            s.to_peer.extend(&buf[..n]);
        }
        self.0.notify(s);
        Some(Ok(n))
    }

    fn do_flush(&self) -> io::Result<()> {
        let mut s = self.0.lock();
        // With nothing held back a flush does nothing, as a socket's does: only bytes that
        // cannot reach the peer any more make it fail.
        if s.reset && !s.unflushed.is_empty() {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let held = std::mem::take(&mut s.unflushed);
        s.to_peer.extend(held);
        self.0.notify(s);
        Ok(())
    }

    fn shut(&self) {
        let mut s = self.0.lock();
        let held = std::mem::take(&mut s.unflushed);
        s.to_peer.extend(held);
        s.closed = true;
        self.0.notify(s);
    }

    /// Park the task until the peer changes something.
    fn park<T>(
        &self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&Self) -> Option<T>,
    ) -> Poll<T> {
        if let Some(done) = attempt(self) {
            return Poll::Ready(done);
        }
        self.0.lock().wakers.push(cx.waker().clone());
        // Checked again: the peer may have acted between the attempt and the registration.
        attempt(self).map_or(Poll::Pending, Poll::Ready)
    }

    /// Block the thread until `attempt` succeeds or `timeout` passes (`WouldBlock`).
    fn block<T>(
        &self,
        timeout: Option<Duration>,
        mut attempt: impl FnMut(&Self) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        let until = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(done) = attempt(self) {
                return done;
            }
            let s = self.0.lock();
            let wait = until.map(|u| u.saturating_duration_since(Instant::now()));
            if wait == Some(Duration::ZERO) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let wait = wait
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_millis(50));
            drop(self.0.changed.wait_timeout(s, wait));
        }
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = self.0.lock().read_timeout;
        self.block(timeout, |p| p.try_read(buf))
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let timeout = self.0.lock().write_timeout;
        self.block(timeout, |p| p.try_write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.do_flush()
    }
}

impl sockless::io::blocking::Transport for Pipe {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.lock().read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.lock().write_timeout = timeout;
        Ok(())
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.shut();
        Ok(())
    }
}

impl tokio::io::AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let space = buf.initialize_unfilled();
        let mut got = vec![0; space.len()];
        match self.park(cx, |p| p.try_read(&mut got)) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(&got[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.park(cx, |p| p.try_write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.do_flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut();
        Poll::Ready(Ok(()))
    }
}

impl futures_lite::AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.park(cx, |p| p.try_read(buf))
    }
}

impl futures_lite::AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.park(cx, |p| p.try_write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.do_flush())
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut();
        Poll::Ready(Ok(()))
    }
}

/// The scripted peer's end (used by the test's thread).
pub struct Peer {
    link: Arc<Link>,
    /// Bytes taken from the adapter and not parsed yet.
    received: Vec<u8>,
}

impl Peer {
    fn edit(&self, change: impl FnOnce(&mut Shared)) {
        let mut s = self.link.lock();
        change(&mut s);
        self.link.notify(s);
    }

    /// Give the adapter `bytes` to read.
    pub fn send(&self, bytes: &[u8]) {
        self.edit(|s| s.to_adapter.extend(bytes));
    }

    /// Each read of the adapter gives at most `n` bytes.
    pub fn cut_reads(&self, n: usize) {
        self.edit(|s| s.read_chunk = n.max(1));
    }

    /// Each write of the adapter takes at most `n` bytes.
    pub fn cut_writes(&self, n: usize) {
        self.edit(|s| s.write_chunk = n.max(1));
    }

    /// Hold what the adapter writes until it flushes.
    pub fn hold_until_flush(&self) {
        self.edit(|s| s.hold_until_flush = true);
    }

    /// Stop reading: the adapter's writes block once `n` more bytes are waiting.
    pub fn stop_reading_after(&self, n: usize) {
        self.edit(|s| s.capacity = s.to_peer.len() + s.unflushed.len() + n);
    }

    /// End our side of the stream (the adapter reads EOF).
    pub fn eof(&self) {
        self.edit(|s| s.eof = true);
    }

    /// Reset the stream: the adapter's reads and writes fail.
    pub fn reset(&self) {
        self.edit(|s| s.reset = true);
    }

    /// Wait until the adapter has read everything sent so far, at most until `until`.
    pub fn wait_consumed(&self, until: Instant) -> bool {
        self.wait(until, |s| s.to_adapter.is_empty())
    }

    /// Wait until the adapter closed its end, at most until `until`.
    pub fn wait_closed(&self, until: Instant) -> bool {
        self.wait(until, |s| s.closed)
    }

    fn wait(&self, until: Instant, ready: impl Fn(&Shared) -> bool) -> bool {
        let mut s = self.link.lock();
        loop {
            if ready(&s) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .link
                .changed
                .wait_timeout(s, left.min(Duration::from_millis(20)))
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Take what the adapter wrote; wait until there is something new or it closed (or
    /// `until`). Returns whether anything arrived.
    fn pull(&mut self, until: Instant) -> bool {
        let got = self.wait(until, |s| !s.to_peer.is_empty() || s.closed);
        let mut s = self.link.lock();
        let before = self.received.len();
        self.received.extend(s.to_peer.drain(..));
        self.link.notify(s);
        got && self.received.len() > before
    }

    /// The bytes the adapter wrote up to the end of an HTTP head.
    pub fn head(&mut self, until: Instant) -> Option<String> {
        loop {
            if let Some(end) = self.received.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.received.drain(..end + 4).collect();
                return Some(String::from_utf8_lossy(&head).into_owned());
            }
            if !self.pull(until) {
                return None;
            }
        }
    }

    /// The next frame the adapter wrote (unmasked), or `None` at `until` or the end.
    pub fn frame(&mut self, until: Instant) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = Frame::parse(&self.received) {
                self.received.drain(..used);
                return Some(frame);
            }
            if !self.pull(until) {
                return None;
            }
        }
    }
}

/// One frame as the peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    fn parse(bytes: &[u8]) -> Option<(Frame, usize)> {
        let [b0, b1, ..] = *bytes else { return None };
        let (mut len, mut at) = ((b1 & 0x7f) as u64, 2);
        if len == 126 {
            len = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as u64;
            at = 4;
        } else if len == 127 {
            len = u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?);
            at = 10;
        }
        let mask = if b1 & 0x80 != 0 {
            let key: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            at += 4;
            Some(key)
        } else {
            None
        };
        let end = at + usize::try_from(len).ok()?;
        let mut payload = bytes.get(at..end)?.to_vec();
        if let Some(key) = mask {
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b ^= key[i % 4]);
        }
        let frame = Frame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            payload,
        };
        Some((frame, end))
    }

    /// The close code of a Close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The bytes of a frame (`masked`: as a client sends it, with a fixed key).
    pub fn encode(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = vec![(fin as u8) << 7 | opcode];
        let bit = (masked as u8) << 7;
        match payload.len() {
            n @ 0..=125 => out.push(bit | n as u8),
            n @ 126..=0xffff => {
                out.push(bit | 126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(bit | 127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        let key = [0x37, 0xfa, 0x21, 0x3d];
        if masked {
            out.extend(key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend(payload);
        }
        out
    }
}
