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

use std::fmt::Debug;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a program may take to answer its command line.
const DEADLINE: Duration = Duration::from_secs(10);

/// What a program printed and how it ended.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run example `name` with `args` and no input; killed (and the test failed) after
/// [`DEADLINE`].
fn run<S: AsRef<str> + Debug>(name: &str, args: &[S]) -> Ran {
    let mut child = Command::new(common::example(name))
        .args(args.iter().map(AsRef::as_ref))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {args:?} did not exit within {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ran {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `--help` and `-h`: the usage, naming the program, on stdout; exit status 0.
fn help(name: &str) {
    for flag in ["--help", "-h"] {
        let ran = run(name, &[flag]);
        assert_eq!(ran.status.code(), Some(0), "{name} {flag}: {}", ran.stderr);
        assert!(
            ran.stdout.contains("usage") && ran.stdout.contains(name),
            "{name} {flag} printed {:?}",
            ran.stdout
        );
        assert_eq!(ran.stderr, "", "{name} {flag}");
    }
}

/// The one line on stderr of `name`'s run `ran`, exiting with `code`: it starts with the
/// program's name and names `what`; no panic, Debug dump or Debug-quoted string anywhere.
fn one_line<S: AsRef<str> + Debug>(name: &str, args: &[S], code: i32, what: &str) -> String {
    let ran = run(name, args);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    eprintln!(
        "{name} {args:?}: exit {:?}: {}",
        ran.status.code(),
        ran.stderr.trim_end()
    );
    assert_eq!(ran.status.code(), Some(code), "{name} {args:?}: {lines:?}");
    assert_eq!(lines.len(), 1, "{name} {args:?}: one line, not {lines:?}");
    let line = lines[0];
    assert!(
        line.starts_with(&format!("{name}: ")) && line.contains(what),
        "{name} {args:?}: {line:?} does not start with the name or name {what:?}"
    );
    for dump in ["panicked", "backtrace", "Error {", "Os {", "\""] {
        assert!(
            !line.contains(dump),
            "{name} {args:?}: {line:?} has {dump:?}"
        );
    }
    assert_eq!(ran.stdout, "", "{name} {args:?}: nothing on stdout");
    line.to_string()
}

/// A loopback address that is taken: the listener holds it while it lives.
fn busy_port() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// A loopback address where nothing listens (it did a moment ago).
fn closed_port() -> String {
    let (listener, addr) = busy_port();
    drop(listener);
    addr
}

/// The checks of a server example; `args` makes its command line from the address to
/// listen on.
fn server(name: &str, args: impl Fn(&str) -> Vec<String>) {
    help(name);
    one_line(name, &["--nonsense"], 2, "unexpected argument '--nonsense'");
    let mut extra = args("127.0.0.1:0");
    extra.push("extra".into());
    one_line(name, &extra, 2, "unexpected argument 'extra'");
    let line = one_line(name, &args("127.0.0.1:99999"), 2, "'127.0.0.1:99999'");
    assert!(line.contains("port"), "{line}");

    let (_taken, addr) = busy_port();
    let line = one_line(name, &args(&addr), 1, &addr);
    assert!(line.contains("cannot listen on"), "{line}");
}

/// The checks of a client example (of URLs with `scheme`); `args` makes its command line
/// from the URL.
fn client(name: &str, scheme: &str, args: impl Fn(&str) -> Vec<String>) {
    help(name);
    one_line(name, &["--nonsense"], 2, "unexpected argument '--nonsense'");
    let mut extra = args(&format!("{scheme}://{}/", closed_port()));
    extra.push("extra".into());
    one_line(name, &extra, 2, "unexpected argument 'extra'");
    // The port is blamed, not the scheme; a scheme is blamed when it is the scheme.
    let url = format!("{scheme}://127.0.0.1:99999/");
    let line = one_line(name, &args(&url), 2, "the port '99999'");
    assert!(!line.contains("scheme"), "{line}");
    one_line(name, &args("http://127.0.0.1:9001/"), 2, "scheme");

    let addr = closed_port();
    let line = one_line(name, &args(&format!("{scheme}://{addr}/")), 1, &addr);
    assert!(line.contains("cannot connect to"), "{line}");
}

fn just(arg: &str) -> Vec<String> {
    vec![arg.to_string()]
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
