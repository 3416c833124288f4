//! Limits and options, as one plain struct with documented defaults.

use crate::time::Duration;

/// Limits and options of a connection. Every field has a default suited to a `std` server;
/// lower them to fit a microcontroller's buffers.
///
/// ```
/// use sockless::{Config, Duration};
/// let config = Config {
///     max_message_len: 4096,
///     max_frame_len: 4096,
///     keep_alive: Some(Duration::from_secs(30)),
///     ..Config::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest payload of one frame. A frame declaring more fails the connection with 1009
    /// as soon as its header is read, before any payload is accepted. Default 16 MiB.
    pub max_frame_len: u64,
    /// Largest message, all fragments together. Exceeding it fails the connection with
    /// 1009 as soon as a frame header shows it will be exceeded. Default 64 MiB.
    pub max_message_len: u64,
    /// Largest HTTP head (request or response, with the blank line). A longer head fails
    /// the handshake (a server answers 431). The caller's input buffer must be able to
    /// hold a head this large. Default 8 KiB.
    pub max_head_len: usize,
    /// Most header lines in an HTTP head, at most [`HEADER_CAPACITY`](crate::handshake::HEADER_CAPACITY).
    /// More fail the handshake (a server answers 431). Default 64.
    pub max_headers: usize,
    /// How long to wait for the peer's Close after sending ours, and (client) for the
    /// server to close the transport after the close handshake (RFC 6455 §7.1.1).
    /// Default 5 s.
    pub close_timeout: Duration,
    /// Send a Ping when nothing was received for this long. `None` (the default) sends no
    /// keep-alive pings.
    pub keep_alive: Option<Duration>,
    /// How long a keep-alive Ping may go unanswered before the connection is given up
    /// ([`Error::KeepAliveTimeout`](crate::Error::KeepAliveTimeout)). Default 10 s.
    pub keep_alive_timeout: Duration,
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
        close_timeout: Duration::from_secs(5),
        keep_alive: None,
        keep_alive_timeout: Duration::from_secs(10),
        auto_pong: true,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
