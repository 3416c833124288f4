//! What the build target asks of the code.

/// Whether the hot paths take their compact shapes: on bare-metal targets
/// (`target_os = "none"`: microcontrollers), where flash is scarce. Same bytes and same
/// rules either way, less code (`benches/flash` measures it); elsewhere the shapes
/// measured fastest. The SHA-1 of the handshake follows the same line (Cargo.toml).
pub(crate) const COMPACT_CODE: bool = cfg!(target_os = "none");
