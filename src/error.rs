//! Errors, split as h11 and wsproto split them: what the peer did wrong
//! ([`ProtocolError`], [`HandshakeError`]) and what the caller did wrong ([`UsageError`]).
//!
//! What the peer does wrong is never returned as an `Err` by `receive`: it arrives as
//! [`Event::Failed`](crate::Event::Failed) or [`Event::HandshakeFailed`](crate::Event::HandshakeFailed),
//! with the answer the RFC asks for already queued for `poll_transmit`, so that a `?` in the
//! caller's loop can never drop it. [`Error`] gathers every kind, for callers (and adapters)
//! that want one error type.

use core::fmt;

use crate::close_code::CloseCode;

/// Every error of the crate, for callers that want one type (each has a `From`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke RFC 6455 after the handshake (reported by
    /// [`Event::Failed`](crate::Event::Failed)).
    Protocol(ProtocolError),
    /// The opening handshake failed (reported by
    /// [`Event::HandshakeFailed`](crate::Event::HandshakeFailed)).
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
    /// A deadline passed (reported by `handle_timeout`).
    TimedOut(TimedOut),
    /// The transport ended without a Close frame: abnormal closure, reported as 1006
    /// (RFC 6455 §7.1.5).
    AbnormalClosure,
}

impl Error {
    /// The close code this error stands for, where there is one: the code sent for a
    /// protocol violation, or 1006 for a connection that ended without a closing handshake.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => Some(e.close_code()),
            Error::AbnormalClosure
            | Error::TimedOut(TimedOut::KeepAlive)
            | Error::TimedOut(TimedOut::Write) => Some(CloseCode::ABNORMAL),
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

/// Why a command (`send_text`, `send_binary`, `send_fragment`, `send_compressed`,
/// `send_header`, `ping`, `pong`, `close`, on a [`Connection`](crate::Connection) or a
/// [`Driver`](crate::driver::Driver)) wrote nothing: only what a send can fail with. The
/// connection is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The frame needs `needed` bytes and there is less room: give a larger buffer, or
    /// (through a driver) write what is staged first and try again. A frame larger than
    /// the whole buffer never fits: send it with `send_header`, whose payload is written
    /// from where it lies.
    NoRoom {
        /// The bytes the frame needs.
        needed: usize,
    },
    /// The command cannot be used now or with these arguments (the connection is not
    /// open, a payload is still owed, a control payload is too long, the text is not
    /// UTF-8...).
    Usage(UsageError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoRoom { needed } => {
                write!(
                    f,
                    "the frame needs {needed} bytes of room, and there are fewer"
                )
            }
            SendError::Usage(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl core::error::Error for SendError {}

impl From<UsageError> for SendError {
    fn from(error: UsageError) -> Self {
        SendError::Usage(error)
    }
}

impl From<BufferTooSmall> for SendError {
    fn from(e: BufferTooSmall) -> Self {
        SendError::NoRoom { needed: e.needed }
    }
}

impl Error {
    /// The error of a command built on a writer that fails only with a short buffer or a
    /// misuse (the handshake's response writers): as the command's [`SendError`].
    pub(crate) fn into_send_error(self) -> SendError {
        match self {
            Error::BufferTooSmall { needed } => SendError::NoRoom { needed },
            Error::Usage(error) => SendError::Usage(error),
            // No such writer fails otherwise; were one to, it is a misuse of this state.
            _ => SendError::Usage(UsageError::NotOpen),
        }
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::NoRoom { needed } => Error::BufferTooSmall { needed },
            SendError::Usage(error) => Error::Usage(error),
        }
    }
}

impl From<BufferTooSmall> for Error {
    fn from(e: BufferTooSmall) -> Self {
        Error::BufferTooSmall { needed: e.needed }
    }
}

impl From<TimedOut> for Error {
    fn from(e: TimedOut) -> Self {
        Error::TimedOut(e)
    }
}

impl From<AbnormalClosure> for Error {
    fn from(_: AbnormalClosure) -> Self {
        Error::AbnormalClosure
    }
}

/// The output buffer given to `poll_transmit` cannot hold even the first thing owed.
/// Nothing was written and nothing changed; call again with at least `needed` bytes
/// ([`MIN_OUTPUT_BUFFER`](crate::MIN_OUTPUT_BUFFER) always fits a frame; a handshake
/// rejection needs at most 150).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// How many bytes the output buffer must hold.
    pub needed: usize,
}

/// The transport ended before the closing handshake finished: abnormal closure, reported
/// as 1006 (RFC 6455 §7.1.5). Returned by `handle_eof`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbnormalClosure;

/// Which deadline passed, as `handle_timeout` reports it. In every case the connection is
/// over: write what `poll_transmit` still gives (a server's 408), then close the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimedOut {
    /// The opening handshake did not finish within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout): a server answers
    /// 408 Request Timeout; a client gives up.
    Handshake,
    /// The peer did not answer our keep-alive Ping within
    /// [`Config::keep_alive_timeout`](crate::Config::keep_alive_timeout). It is given up
    /// without a closing handshake, which it would not answer either.
    KeepAlive,
    /// The closing handshake did not finish within
    /// [`Config::close_timeout`](crate::Config::close_timeout) (RFC 6455 §7.1.1).
    Closing,
    /// The peer took none of the bytes we owe it for
    /// [`Config::write_timeout`](crate::Config::write_timeout): it stopped reading, and is
    /// given up without a closing handshake, which could not reach it either.
    Write,
}

/// A violation of RFC 6455 by the peer, after the opening handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A compressed message (permessage-deflate, RFC 7692) that is not a valid DEFLATE
    /// stream, or refers beyond the negotiated window (RFC 7692 §6.2, §7.2.2): 1007, as for
    /// any message data that is inconsistent with its type (RFC 6455 §7.4.1).
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code sent to the peer for this violation (RFC 6455 §7.4.1): 1007 for bad
    /// UTF-8, 1009 for a frame or message over the limit, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge | ProtocolError::MessageTooLarge => CloseCode::TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// A failed opening handshake (RFC 6455 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Client: the server's permessage-deflate response breaks RFC 7692 §7.1 (an unknown,
    /// repeated or invalid parameter, or one that no offer allowed).
    InvalidExtensionResponse,
    /// RFC 8441 / RFC 9220: an extended CONNECT request whose `:protocol` is not
    /// `websocket` (400).
    NotWebSocketProtocol,
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
            | HandshakeError::UnofferedExtension
            | HandshakeError::InvalidExtensionResponse => None,
            _ => Some(400),
        }
    }
}

/// A misuse of the API by the caller. Nothing was written and nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A subprotocol longer than [`MAX_SUBPROTOCOL_LEN`](crate::MAX_SUBPROTOCOL_LEN), or
    /// not an RFC 7230 token.
    InvalidSubprotocol,
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
    /// A header written by `send_header` still waits for its payload: nothing else may be
    /// written until [`payload_written`](crate::Connection::payload_written) accounts for it.
    PayloadPending,
    /// `payload_written` was told of more payload bytes than the last header announced.
    PayloadOverrun,
    /// An input buffer smaller than [`MIN_INPUT_BUFFER`](crate::MIN_INPUT_BUFFER) or than
    /// the configured [`max_head_len`](crate::Config::max_head_len).
    InputBufferTooSmall,
    /// Server: permessage-deflate was accepted but the client did not offer it.
    UnofferedExtension,
    /// A compressed message was to be sent, or an inflater made, on a connection that did
    /// not negotiate permessage-deflate.
    DeflateNotNegotiated,
    /// An inflater window that is not a power of two at least as large as the negotiated
    /// window (2^bits bytes).
    InvalidDeflateWindow,
    /// The input given to an inflater did not start with the bytes it left unconsumed.
    InputNotKept,
    /// The output buffer given to a [`Driver`](crate::driver::Driver) is smaller than
    /// [`MIN_OUTPUT_BUFFER`](crate::MIN_OUTPUT_BUFFER), or than a client's request.
    OutputBufferTooSmall,
    /// Payload was reported read straight into caller storage
    /// ([`payload_filled`](crate::driver::Driver::payload_filled)) beyond what
    /// [`payload_space`](crate::driver::Driver::payload_space) allowed: no data frame
    /// open, an event pending, received input not used yet, or more bytes than the frame
    /// has left.
    NoPayloadSpace,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(e) => write!(f, "the peer broke the WebSocket protocol: {e}"),
            Error::Handshake(e) => write!(f, "the opening handshake failed: {e}"),
            Error::BufferTooSmall { needed } => {
                write!(
                    f,
                    "the output buffer is too small: {needed} bytes are needed"
                )
            }
            Error::Usage(e) => write!(f, "invalid use of the API: {e}"),
            Error::TimedOut(e) => e.fmt(f),
            Error::AbnormalClosure => AbnormalClosure.fmt(f),
        }
    }
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the output buffer is too small: {} bytes are needed",
            self.needed
        )
    }
}

impl fmt::Display for AbnormalClosure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection ended without a closing handshake (1006)")
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimedOut::Handshake => "the opening handshake did not finish in time",
            TimedOut::KeepAlive => "the peer did not answer a keep-alive ping in time",
            TimedOut::Closing => "the closing handshake did not finish in time",
            TimedOut::Write => "the peer took none of our bytes within the write timeout",
        })
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => {
                write!(f, "a frame used the reserved opcode {op:#x}")
            }
            ProtocolError::ReservedBitsSet => {
                f.write_str("a frame set an RSV bit that no negotiated extension defines")
            }
            ProtocolError::UnmaskedClientFrame => f.write_str("the client sent an unmasked frame"),
            ProtocolError::MaskedServerFrame => f.write_str("the server sent a masked frame"),
            ProtocolError::NonMinimalLength => {
                f.write_str("a frame length was not encoded in its shortest form")
            }
            ProtocolError::LengthHighBitSet => {
                f.write_str("a 64-bit frame length had its most significant bit set")
            }
            ProtocolError::ControlFrameTooLong => {
                f.write_str("a control frame carried more than 125 bytes")
            }
            ProtocolError::FragmentedControlFrame => f.write_str("a control frame was fragmented"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("a continuation frame arrived with no message open")
            }
            ProtocolError::MessageInterrupted => {
                f.write_str("a new message began before the fragmented one ended")
            }
            ProtocolError::FrameTooLarge => f.write_str("a frame was larger than the limit"),
            ProtocolError::MessageTooLarge => f.write_str("a message was larger than the limit"),
            ProtocolError::InvalidUtf8 => f.write_str("a text message was not valid UTF-8"),
            ProtocolError::ClosePayloadTooShort => {
                f.write_str("a Close frame carried a single byte")
            }
            ProtocolError::InvalidCloseCode(code) => {
                write!(
                    f,
                    "a Close frame carried the code {code}, which may not be sent"
                )
            }
            ProtocolError::InvalidCloseReason => {
                f.write_str("a Close frame's reason was not valid UTF-8")
            }
            ProtocolError::InvalidCompressedData => {
                f.write_str("a compressed message was not a valid DEFLATE stream")
            }
        }?;
        write!(f, " (close code {})", self.close_code().0)
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::HeadTooLarge => "the HTTP head is larger than the limit",
            HandshakeError::TooManyHeaders => "the HTTP head has more header lines than allowed",
            HandshakeError::MalformedHead => "the HTTP head is not valid HTTP/1.1",
            HandshakeError::MethodNotGet => "the request method is not GET",
            HandshakeError::HttpVersionTooOld => "the HTTP version is older than 1.1",
            HandshakeError::MissingHost => "the request has no Host header",
            HandshakeError::DuplicateHeader => "a header that may appear once appears twice",
            HandshakeError::MissingUpgradeWebSocket => "the Upgrade header does not name websocket",
            HandshakeError::MissingConnectionUpgrade => {
                "the Connection header does not contain Upgrade"
            }
            HandshakeError::InvalidKey => "Sec-WebSocket-Key is missing or not 16 bytes in base64",
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version is missing or not 13",
            HandshakeError::InvalidAccept => "Sec-WebSocket-Accept is missing or wrong",
            HandshakeError::UnofferedSubprotocol => {
                "the server chose a subprotocol the client did not offer"
            }
            HandshakeError::UnofferedExtension => {
                "the server accepted an extension the client did not offer"
            }
            HandshakeError::InvalidExtensionResponse => {
                "the server's permessage-deflate parameters break RFC 7692"
            }
            HandshakeError::NotWebSocketProtocol => {
                "the extended CONNECT request's :protocol is not websocket"
            }
        })?;
        match self.status() {
            Some(status) => write!(f, " (status {status})"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsageError::InvalidHeader => {
                "a header name is not a token, or a name or value holds a control character"
            }
            UsageError::InvalidUrl => "the URL is not ws:// or wss:// with a host",
            UsageError::NotOpen => "the connection is not open",
            UsageError::NoPendingRequest => "no request is waiting for accept or respond",
            UsageError::DecisionPending => {
                "a request waits for accept or respond before more input is read"
            }
            UsageError::NotAnUpgrade => "the request is not a WebSocket upgrade",
            UsageError::UnofferedSubprotocol => "the client did not offer that subprotocol",
            UsageError::InvalidSubprotocol => "the subprotocol is not a token of at most 24 bytes",
            UsageError::MessageInProgress => "a fragmented message is still being sent",
            UsageError::FragmentKindMismatch => {
                "a fragment's kind differs from the message being sent"
            }
            UsageError::ControlPayloadTooLong => {
                "a control payload is over 125 bytes, or a close reason over 123"
            }
            UsageError::InvalidCloseCode => "that close code may not be sent",
            UsageError::InvalidUtf8 => "the text is not valid UTF-8",
            UsageError::InvalidStatus => "that HTTP status cannot be sent here",
            UsageError::PayloadPending => {
                "a header written by send_header still waits for its payload"
            }
            UsageError::PayloadOverrun => {
                "more payload was reported written than the header announced"
            }
            UsageError::InputBufferTooSmall => {
                "the input buffer cannot hold the largest head or control frame"
            }
            UsageError::UnofferedExtension => "the client did not offer permessage-deflate",
            UsageError::DeflateNotNegotiated => "permessage-deflate was not negotiated",
            UsageError::InvalidDeflateWindow => {
                "the inflater window is not a power of two as large as the negotiated window"
            }
            UsageError::InputNotKept => {
                "the input did not start with the bytes the inflater left unconsumed"
            }
            UsageError::NoPayloadSpace => {
                "payload was read into caller storage where the driver expected none"
            }
            UsageError::OutputBufferTooSmall => "the output buffer is too small",
        })
    }
}

impl core::error::Error for Error {}
impl core::error::Error for ProtocolError {}
impl core::error::Error for HandshakeError {}
impl core::error::Error for UsageError {}
impl core::error::Error for BufferTooSmall {}
impl core::error::Error for AbnormalClosure {}
impl core::error::Error for TimedOut {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    /// Every error prints a sentence of its own, never its variant's name.
    #[test]
    fn errors_print_sentences_not_variant_names() {
        use HandshakeError as H;
        use ProtocolError as P;
        use UsageError as U;
        let protocol = [
            P::ReservedOpcode(3),
            P::ReservedBitsSet,
            P::UnmaskedClientFrame,
            P::MaskedServerFrame,
            P::NonMinimalLength,
            P::LengthHighBitSet,
            P::ControlFrameTooLong,
            P::FragmentedControlFrame,
            P::UnexpectedContinuation,
            P::MessageInterrupted,
            P::FrameTooLarge,
            P::MessageTooLarge,
            P::InvalidUtf8,
            P::ClosePayloadTooShort,
            P::InvalidCloseCode(1005),
            P::InvalidCloseReason,
            P::InvalidCompressedData,
        ];
        let handshake = [
            H::HeadTooLarge,
            H::TooManyHeaders,
            H::MalformedHead,
            H::MethodNotGet,
            H::HttpVersionTooOld,
            H::MissingHost,
            H::DuplicateHeader,
            H::MissingUpgradeWebSocket,
            H::MissingConnectionUpgrade,
            H::InvalidKey,
            H::UnsupportedVersion,
            H::InvalidAccept,
            H::UnofferedSubprotocol,
            H::UnofferedExtension,
            H::InvalidExtensionResponse,
            H::NotWebSocketProtocol,
        ];
        let usage = [
            U::InvalidHeader,
            U::InvalidUrl,
            U::NotOpen,
            U::NoPendingRequest,
            U::DecisionPending,
            U::NotAnUpgrade,
            U::UnofferedSubprotocol,
            U::InvalidSubprotocol,
            U::MessageInProgress,
            U::FragmentKindMismatch,
            U::ControlPayloadTooLong,
            U::InvalidCloseCode,
            U::InvalidUtf8,
            U::InvalidStatus,
            U::PayloadPending,
            U::PayloadOverrun,
            U::InputBufferTooSmall,
            U::UnofferedExtension,
            U::DeflateNotNegotiated,
            U::InvalidDeflateWindow,
            U::InputNotKept,
            U::NoPayloadSpace,
        ];
        let mut all: std::vec::Vec<(Error, std::string::String)> = std::vec::Vec::new();
        all.extend(protocol.iter().map(|e| (Error::from(*e), format!("{e:?}"))));
        all.extend(
            handshake
                .iter()
                .map(|e| (Error::from(*e), format!("{e:?}"))),
        );
        all.extend(usage.iter().map(|e| (Error::from(*e), format!("{e:?}"))));
        for timed_out in [
            TimedOut::Handshake,
            TimedOut::KeepAlive,
            TimedOut::Closing,
            TimedOut::Write,
        ] {
            all.push((timed_out.into(), format!("{timed_out:?}")));
        }
        all.push((AbnormalClosure.into(), "AbnormalClosure".into()));
        all.push((BufferTooSmall { needed: 7 }.into(), "BufferTooSmall".into()));
        let mut seen = std::collections::BTreeSet::new();
        for (error, name) in &all {
            let text = format!("{error}");
            let variant = name.split('(').next().unwrap();
            assert!(!text.contains(variant), "{text:?} names {variant}");
            assert!(text.chars().next().unwrap().is_lowercase(), "{text:?}");
            assert!(seen.insert(text.clone()), "{text:?} twice");
            let _: &dyn core::error::Error = error;
        }
        assert_eq!(
            format!("{}", Error::from(P::InvalidUtf8)),
            "the peer broke the WebSocket protocol: a text message was not valid UTF-8 \
             (close code 1007)"
        );
        assert_eq!(
            format!("{}", Error::from(H::UnsupportedVersion)),
            "the opening handshake failed: Sec-WebSocket-Version is missing or not 13 \
             (status 426)"
        );
    }
}
