//! The checks of a program's command line, shared by the crate's `tests/cli.rs` (the
//! example programs) and the chat's `examples/chat/tests/cli.rs`: each includes this module
//! and gives it `fn program(name: &str) -> PathBuf`, where to find the binary `name`.
//!
//! - `--help` and `-h`: the usage on stdout, with the program's name, and exit status 0;
//! - a bad argument, an extra argument, a bad value: one line on stderr, starting with the
//!   program's name and naming the argument, and exit status 2;
//! - a server on a port that is taken, a client on a port where nothing listens: one line
//!   naming the address and the cause, and exit status 1;
//! - never a panic, a backtrace, a Debug dump (`Error {`, `Os {`) or a Debug-quoted string.
//!
//! Every child process is killed after 10 s.
#![allow(dead_code)] // Each including test uses what it needs.

use std::fmt::Debug;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a program may take to answer its command line.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// What a program printed and how it ended.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Run program `name` (found by the including test's `program`) with `args` and no input; killed (and the test failed) after
/// [`DEADLINE`].
pub fn run<S: AsRef<str> + Debug>(name: &str, args: &[S]) -> Ran {
    let mut child = Command::new(super::program(name))
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
pub fn help(name: &str) {
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
pub fn one_line<S: AsRef<str> + Debug>(name: &str, args: &[S], code: i32, what: &str) -> String {
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
pub fn busy_port() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// A loopback address where nothing listens (it did a moment ago).
pub fn closed_port() -> String {
    let (listener, addr) = busy_port();
    drop(listener);
    addr
}

/// The checks of a server example; `args` makes its command line from the address to
/// listen on.
pub fn server(name: &str, args: impl Fn(&str) -> Vec<String>) {
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
pub fn client(name: &str, scheme: &str, args: impl Fn(&str) -> Vec<String>) {
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

pub fn just(arg: &str) -> Vec<String> {
    vec![arg.to_string()]
}
