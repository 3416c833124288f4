//! The chat's command line, as a person meets it (the contract is in
//! `examples/common/cli.rs`; tests/cli.rs at the root checks the other example programs
//! the same way): `--help` and `-h` print the usage and exit 0; a bad argument or value is
//! one line on stderr naming it, exit 2; a taken port is one line naming the address,
//! exit 1; never a panic or a Debug dump. Every child process is killed after 10 s.
//!
//! The binary is the one cargo builds for this package's tests (`CARGO_BIN_EXE_chat`).

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
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

fn just(arg: &str) -> Vec<String> {
    vec![arg.to_string()]
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
