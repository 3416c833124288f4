//! Errors, split as h11 and wsproto split them: what the peer did wrong
//! ([`ProtocolError`], [`HandshakeError`]) and what the caller did wrong ([`UsageError`]).

use core::fmt;

use crate::close::CloseCode;

/// Everything that can go wrong while driving a [`Client`](crate::Client) or a
/// [`Server`](crate::Server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The peer broke RFC 6455 after the handshake. The connection has failed: a Close
    /// frame with [`ProtocolError::close_code`] is queued for
    /// [`poll_transmit`](crate::Server::poll_transmit), and no more input is read.
    Protocol(ProtocolError),
    /// The opening handshake failed. On a server, a response with
    /// [`HandshakeError::status`] is queued for `poll_transmit`; on a client, nothing is sent.
    Handshake(HandshakeError),
    /// The output buffer is too small: it must hold `needed` bytes. Nothing was written and
    /// nothing changed; call again with a larger buffer.
    BufferTooSmall {
        /// How many bytes the output buffer must hold.
        needed: usize,
    },
    /// The caller used the API in a way the protocol or the current state does not allow.
    /// Nothing was written and nothing changed.
    Usage(UsageError),
    /// The peer stopped answering our keep-alive Ping within the configured time. The
    /// connection is closed; close the transport.
    KeepAliveTimeout,
    /// The transport ended without a Close frame: abnormal closure, reported as 1006
    /// (RFC 6455 §7.1.5).
    AbnormalClosure,
}

impl Error {
    /// The close code this error stands for, where there is one: the code sent for a
    /// protocol violation, or 1006 for an abnormal closure.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => Some(e.close_code()),
            Error::AbnormalClosure | Error::KeepAliveTimeout => Some(CloseCode::ABNORMAL),
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

/// A violation of RFC 6455 by the peer, after the opening handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// An opcode from 0x3-0x7 or 0xB-0xF (§5.2).
    ReservedOpcode(u8),
    /// An RSV bit set with no negotiated extension defining it (§5.2).
    ReservedBitsSet,
    /// A client sent an unmasked frame (§5.1).
    UnmaskedClientFrame,
    /// A server sent a masked frame (§5.1).
    MaskedServerFrame,
    /// A payload length not in its shortest form (§5.2).
    NonMinimalLength,
    /// A 64-bit payload length with its most significant bit set (§5.2).
    LengthHighBitSet,
    /// A control frame with a payload over 125 bytes (§5.5).
    ControlFrameTooLong,
    /// A control frame with FIN clear (§5.5).
    FragmentedControlFrame,
    /// A Continuation frame with no message open (§5.4).
    UnexpectedContinuation,
    /// A new Text or Binary frame while a fragmented message is still open (§5.4).
    MessageInterrupted,
    /// A frame payload over the configured limit, or over what the platform can address.
    FrameTooLarge,
    /// A message (all fragments) over the configured limit.
    MessageTooLarge,
    /// A text message that is not valid UTF-8 (§5.6, §8.1).
    InvalidUtf8,
    /// A Close payload of exactly one byte (§5.5.1).
    ClosePayloadTooShort,
    /// A Close code that may not appear on the wire (§7.4).
    InvalidCloseCode(u16),
    /// A Close reason that is not valid UTF-8 (§5.5.1).
    InvalidCloseReason,
}

impl ProtocolError {
    /// The close code sent to the peer for this violation (RFC 6455 §7.4.1): 1007 for bad
    /// UTF-8, 1009 for a frame or message over the limit, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCloseReason => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge | ProtocolError::MessageTooLarge => CloseCode::TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// A failed opening handshake (RFC 6455 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The head is larger than the configured limit (server: 431).
    HeadTooLarge,
    /// The head has more header lines than allowed (server: 431).
    TooManyHeaders,
    /// The head is not valid HTTP/1.1 (server: 400).
    MalformedHead,
    /// The request method is not `GET` (§4.2.1, 400).
    MethodNotGet,
    /// The HTTP version is older than 1.1 (§4.2.1, 400).
    HttpVersionTooOld,
    /// `Host` is missing (§4.2.1, 400).
    MissingHost,
    /// A header that must appear at most once appears more than once (§11.3, 400).
    DuplicateHeader,
    /// `Upgrade` is missing or does not contain `websocket` (§4.2.1 / §4.1, 400).
    MissingUpgradeWebSocket,
    /// `Connection` is missing or does not contain the token `Upgrade` (§4.2.1 / §4.1, 400).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing or does not decode to 16 bytes (§4.2.1, 400).
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or not 13 (§4.2.1, 426).
    UnsupportedVersion,
    /// Client: `Sec-WebSocket-Accept` is missing or wrong (§4.1).
    InvalidAccept,
    /// Client: the server chose a subprotocol that was not offered (§4.1).
    UnofferedSubprotocol,
    /// Client: the server accepted an extension that was not offered (§4.1).
    UnofferedExtension,
}

impl HandshakeError {
    /// The HTTP status a server answers with for this failure: 426 for a missing or
    /// unsupported version, 431 for a head over the limits, 400 otherwise. `None` for the
    /// failures only a client detects.
    pub fn status(&self) -> Option<u16> {
        match self {
            HandshakeError::UnsupportedVersion => Some(426),
            HandshakeError::HeadTooLarge | HandshakeError::TooManyHeaders => Some(431),
            HandshakeError::InvalidAccept
            | HandshakeError::UnofferedSubprotocol
            | HandshakeError::UnofferedExtension => None,
            _ => Some(400),
        }
    }
}

/// A misuse of the API by the caller. Nothing was written and nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// A header name that is not an RFC 7230 token, or a name or value with CR, LF or NUL.
    InvalidHeader,
    /// A URL that is not `ws://` or `wss://` with a host.
    InvalidUrl,
    /// The operation needs an open connection (handshake done, our Close not sent).
    NotOpen,
    /// The operation needs the state where the server decides on a request.
    NoPendingRequest,
    /// Server: `receive` was called while a request waits for `accept` or `respond`.
    DecisionPending,
    /// Server: `accept` was called for a request that is not a WebSocket upgrade.
    NotAnUpgrade,
    /// The chosen subprotocol was not offered by the client.
    UnofferedSubprotocol,
    /// A whole message or a first fragment was sent while a fragmented message is open.
    MessageInProgress,
    /// A fragment of the other kind (text vs binary) than the open message.
    FragmentKindMismatch,
    /// A control frame payload over 125 bytes, or a close reason over 123 bytes.
    ControlPayloadTooLong,
    /// A close code that may not be sent (§7.4).
    InvalidCloseCode,
    /// Text fragments that are not valid UTF-8.
    InvalidUtf8,
    /// A response status that cannot be sent (not 100-999, or 101 outside `accept`).
    InvalidStatus,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(e) => write!(
                f,
                "protocol violation by the peer ({}): {e:?}",
                e.close_code().0
            ),
            Error::Handshake(e) => match e.status() {
                Some(status) => write!(f, "opening handshake failed ({status}): {e:?}"),
                None => write!(f, "opening handshake failed: {e:?}"),
            },
            Error::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Error::Usage(e) => write!(f, "invalid use of the API: {e:?}"),
            Error::KeepAliveTimeout => f.write_str("the peer did not answer a keep-alive ping"),
            Error::AbnormalClosure => {
                f.write_str("the transport ended without a Close frame (1006)")
            }
        }
    }
}

impl core::error::Error for Error {}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} (close code {})", self.close_code().0)
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status() {
            Some(status) => write!(f, "{self:?} (status {status})"),
            None => write!(f, "{self:?}"),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl core::error::Error for ProtocolError {}
impl core::error::Error for HandshakeError {}
impl core::error::Error for UsageError {}
