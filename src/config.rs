//! Limits and options, as one plain struct with documented defaults.

use crate::time::Duration;

/// Limits and options of a connection. Every field has a default suited to a `std` server;
/// lower them to fit a microcontroller's buffers. Fields can be read and assigned; build
/// one with the `with_*` methods (new fields may be added in a minor release).
///
/// ```
/// use sockless::{Config, Duration};
/// let config = Config::default()
///     .with_max_message_len(4096)
///     .with_max_frame_len(4096)
///     .with_keep_alive(Some(Duration::from_secs(30)));
/// assert_eq!(config.max_head_len, 8192);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload of one frame. A frame declaring more fails the connection with 1009
    /// as soon as its header is read, before any payload is accepted. Default 16 MiB.
    pub max_frame_len: u64,
    /// Largest message, all fragments together. Exceeding it fails the connection with
    /// 1009 as soon as a frame header shows it will be exceeded. Default 64 MiB.
    pub max_message_len: u64,
    /// Largest HTTP head (request or response, with the blank line). A longer head fails
    /// the handshake (a server answers 431). The caller's input buffer must be able to
    /// hold a head this large ([`InputBuffer::new`](crate::InputBuffer::new) checks).
    /// Default 8 KiB.
    pub max_head_len: usize,
    /// Most header lines in an HTTP head, at most [`HEADER_CAPACITY`](crate::handshake::HEADER_CAPACITY).
    /// More fail the handshake (a server answers 431). Default 64.
    pub max_headers: usize,
    /// How long the opening handshake may take, from the endpoint's creation until the
    /// server decided (`accept` or `respond`) or the client read the response. A server
    /// that waits longer answers 408 (a head that trickles in, "slowloris"); a client gives
    /// up. Default 10 s.
    pub handshake_timeout: Duration,
    /// How long to wait for the peer's Close after sending ours, and (client) for the
    /// server to close the transport after the close handshake (RFC 6455 §7.1.1).
    /// Default 5 s.
    pub close_timeout: Duration,
    /// Send a Ping when nothing was received for this long. `None` (the default) sends no
    /// keep-alive pings.
    pub keep_alive: Option<Duration>,
    /// How long a keep-alive Ping may go unanswered before the connection is given up
    /// ([`TimedOut::KeepAlive`](crate::TimedOut::KeepAlive)). Default 10 s.
    pub keep_alive_timeout: Duration,
    /// How long output we owe may wait for the peer to take it: when writing makes no
    /// progress for this long (a peer that stopped reading, whose TCP window stays
    /// closed), the connection is given up without a closing handshake, which the peer
    /// would not read either, and the transport is closed
    /// ([`TimedOut::Writing`](crate::TimedOut::Writing)). The adapters enforce it on
    /// every write, reading included. Default 30 s: far longer than any live peer's
    /// pause (a full TCP window drains in milliseconds), short enough that a stuck
    /// peer does not hold a connection for long.
    pub write_timeout: Duration,
    /// Answer every Ping with a Pong automatically (RFC 6455 §5.5.2). Default `true`.
    /// When `false`, the application answers with `pong` itself.
    pub auto_pong: bool,
}

impl Config {
    /// The defaults, as a constant.
    pub const DEFAULT: Config = Config {
        max_frame_len: 16 << 20,
        max_message_len: 64 << 20,
        max_head_len: 8192,
        max_headers: 64,
        handshake_timeout: Duration::from_secs(10),
        close_timeout: Duration::from_secs(5),
        keep_alive: None,
        keep_alive_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(30),
        auto_pong: true,
    };

    /// With [`max_frame_len`](Self::max_frame_len) set.
    pub const fn with_max_frame_len(mut self, len: u64) -> Self {
        self.max_frame_len = len;
        self
    }

    /// With [`max_message_len`](Self::max_message_len) set.
    pub const fn with_max_message_len(mut self, len: u64) -> Self {
        self.max_message_len = len;
        self
    }

    /// With [`max_head_len`](Self::max_head_len) set.
    pub const fn with_max_head_len(mut self, len: usize) -> Self {
        self.max_head_len = len;
        self
    }

    /// With [`max_headers`](Self::max_headers) set.
    pub const fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// With [`handshake_timeout`](Self::handshake_timeout) set.
    pub const fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// With [`close_timeout`](Self::close_timeout) set.
    pub const fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// With [`keep_alive`](Self::keep_alive) set.
    pub const fn with_keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// With [`keep_alive_timeout`](Self::keep_alive_timeout) set.
    pub const fn with_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.keep_alive_timeout = timeout;
        self
    }

    /// With [`write_timeout`](Self::write_timeout) set.
    pub const fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// With [`auto_pong`](Self::auto_pong) set.
    pub const fn with_auto_pong(mut self, auto_pong: bool) -> Self {
        self.auto_pong = auto_pong;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
