//! The command line of every example program, as a person meets it (the contract is in
//! `examples/common/cli.rs`):
//!
//! - `--help` and `-h`: the usage on stdout, with the program's name, and exit status 0;
//! - a bad argument, an extra argument, a bad value (an address's port, a URL's port, a
//!   number of seconds): one line on stderr, starting with the program's name and naming
//!   the argument, and exit status 2;
//! - a server on a port that is taken, a client on a port where nothing listens: one line
//!   naming the address and the cause, and exit status 1;
//! - never a panic, a backtrace, a Debug dump (`Error {`, `Os {`) or a Debug-quoted string.
//!
//! The binaries are the ones built next to this test (`cargo test` builds them; run
//! `cargo build --examples` first, with the same features, for `cargo test --test cli`
//! alone). Each program is tested where its example's features are on. Every child process
//! is killed after 10 s.
#![cfg(feature = "std")]

mod common;

mod command_line;

use command_line::*;

/// The example `name`, built next to this test.
fn program(name: &str) -> std::path::PathBuf {
    common::example(name)
}

#[test]
fn echo_server() {
    server("echo_server", just);
    one_line(
        "echo_server",
        &["--write-timeout", "soon"],
        2,
        "bad value 'soon' for --write-timeout",
    );
    one_line(
        "echo_server",
        &["--write-timeout"],
        2,
        "--write-timeout needs a value",
    );
}

#[test]
fn echo_client() {
    client("echo_client", "ws", just);
    one_line("echo_client", &["--once"], 2, "--once needs a value");
    // No TLS in this one: the line says which program has it.
    one_line("echo_client", &["wss://127.0.0.1:9/"], 2, "wss_echo_client");
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_echo_server() {
    server("tokio_echo_server", just);
    one_line(
        "tokio_echo_server",
        &["--write-timeout", "-1"],
        2,
        "bad value '-1' for --write-timeout",
    );
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_echo_client() {
    client("tokio_echo_client", "ws", just);
}

#[cfg(feature = "embedded-io-async")]
#[test]
fn embedded_echo_client() {
    client("embedded_echo_client", "ws", just);
}

#[test]
fn smol_echo_server() {
    server("smol_echo_server", just);
    // The smol example adapter has no permessage-deflate.
    one_line("smol_echo_server", &["--deflate"], 2, "'--deflate'");
}

#[test]
fn smol_echo_client() {
    client("smol_echo_client", "ws", just);
    one_line("smol_echo_client", &["--deflate"], 2, "'--deflate'");
}

/// A certificate for localhost and its key, in PEM files removed when dropped.
#[cfg(feature = "rustls")]
struct Certs {
    dir: std::path::PathBuf,
    cert: String,
    key: String,
}

#[cfg(feature = "rustls")]
impl Certs {
    fn new(test: &str) -> Certs {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let dir = std::env::temp_dir().join(format!("sockless-cli-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let path = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
        Certs {
            cert: path(cert),
            key: path(key),
            dir,
        }
    }
}

#[cfg(feature = "rustls")]
impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(feature = "rustls")]
#[test]
fn wss_echo_server() {
    let certs = Certs::new("server");
    server("wss_echo_server", |addr| {
        vec![addr.to_string(), certs.cert.clone(), certs.key.clone()]
    });
    one_line(
        "wss_echo_server",
        &["127.0.0.1:0", &certs.cert],
        2,
        "missing argument KEY.pem",
    );
    let line = one_line(
        "wss_echo_server",
        &["127.0.0.1:0", "/nonexistent/cert.pem", &certs.key],
        1,
        "/nonexistent/cert.pem",
    );
    assert!(line.contains("No such file"), "{line}");
}

#[cfg(feature = "rustls")]
#[test]
fn wss_echo_client() {
    let certs = Certs::new("client");
    client("wss_echo_client", "wss", |url| {
        vec![url.to_string(), certs.cert.clone()]
    });
    one_line(
        "wss_echo_client",
        &["wss://localhost:9443/"],
        2,
        "missing argument CA.pem",
    );
    // TLS is what this one does.
    one_line(
        "wss_echo_client",
        &["ws://127.0.0.1:9/", &certs.cert],
        2,
        "wss://",
    );
}
