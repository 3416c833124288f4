//! The chat's command line, as a person meets it (the contract is in
//! `examples/common/cli.rs`; tests/cli.rs at the root checks the other example programs
//! the same way): `--help` and `-h` print the usage and exit 0; a bad argument or value is
//! one line on stderr naming it, exit 2; a taken port is one line naming the address,
//! exit 1; never a panic or a Debug dump. Every child process is killed after 10 s.
//!
//! The binary is the one cargo builds for this package's tests (`CARGO_BIN_EXE_chat`).

#[path = "../../../tests/command_line/mod.rs"]
mod command_line;

use command_line::*;

/// The chat, as cargo builds it for this package's tests.
fn program(_name: &str) -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_chat").into()
}

#[test]
fn chat() {
    server("chat", just);
    one_line("chat", &["--redis"], 2, "--redis needs a value");
    one_line(
        "chat",
        &["--io-uring", "--redis", "redis://127.0.0.1:6379/"],
        2,
        "--io-uring does not take --redis",
    );
    one_line("chat", &["localhost:8080"], 2, "'localhost:8080'");
}
