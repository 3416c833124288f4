//! The WebSocket base framing protocol (RFC 6455 §5): frame headers and payload masking.
//!
//! Everything here works on caller-provided byte slices and never allocates. Decoding a
//! header judges only what a header alone can tell (§5.2, §5.5); rules that depend on the
//! endpoint's role (masking, §5.1) or on negotiated extensions (RSV bits, §5.2) are left to
//! the connection.

mod header;
mod mask;

pub use header::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
pub(crate) use mask::apply_mask_short;
pub use mask::{apply_mask, copy_masked};
