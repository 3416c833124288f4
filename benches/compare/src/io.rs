//! In-memory transports for the peers that own their I/O: reads copy at most 64 KiB at a
//! time (as a socket read into a 64 KiB buffer would), writes are counted, not kept.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The size of one socket read, for every implementation.
pub const READ_SIZE: usize = 64 * 1024;

/// Reads `input` at most [`READ_SIZE`] bytes per call; counts what is written.
pub struct MemStream<'a> {
    input: &'a [u8],
    pos: usize,
    /// Bytes written to the stream.
    pub written: u64,
    /// When set, written bytes are kept here (for checking one encode's output).
    pub capture: Option<Vec<u8>>,
}

impl<'a> MemStream<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        MemStream {
            input,
            pos: 0,
            written: 0,
            capture: None,
        }
    }

    pub fn sink() -> MemStream<'static> {
        MemStream::new(&[])
    }

    pub fn capturing() -> MemStream<'static> {
        MemStream {
            capture: Some(Vec::new()),
            ..MemStream::new(&[])
        }
    }

    fn read_into(&mut self, dest: &mut [u8]) -> usize {
        let n = dest.len().min(READ_SIZE).min(self.input.len() - self.pos);
        dest[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    fn record(&mut self, bytes: &[u8]) {
        self.written += bytes.len() as u64;
        if let Some(capture) = &mut self.capture {
            capture.extend_from_slice(bytes);
        }
    }
}

impl io::Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(buf))
    }
}

impl io::Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.record(buf);
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for buf in bufs {
            self.record(buf);
            n += buf.len();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for MemStream<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = buf
            .remaining()
            .min(READ_SIZE)
            .min(this.input.len() - this.pos);
        buf.put_slice(&this.input[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().record(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut n = 0;
        for buf in bufs {
            this.record(buf);
            n += buf.len();
        }
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A current-thread tokio runtime, as the async peers are driven.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}
