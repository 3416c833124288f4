//! The command line that every example program, and every bench program, follows:
//!
//! - `--help` (or `-h`) prints the usage on stdout and exits 0;
//! - a bad or extra argument is one line on stderr that names it and says what was
//!   expected, and the exit status is 2;
//! - a failure at run time (cannot listen, cannot connect) is one line on stderr that names
//!   what failed and why ([`Usage::fail`]), and the exit status is 1.
//!
//! Nothing here panics or prints a Debug dump. Examples cannot share a module otherwise,
//! so each one includes this file: `#[path = "common/cli.rs"] mod cli;` (the benches, their
//! own workspaces, with a longer path).
#![allow(dead_code, reason = "each program uses the parts it needs")]

use std::fmt::Display;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// A program's usage: its name, what it does, its arguments.
pub struct Usage {
    /// The program's name, at the start of every line it prints about its arguments.
    pub name: &'static str,
    /// What it does, in one line.
    pub about: &'static str,
    /// Its arguments in one line, such as `[--deflate] [ADDR]`.
    pub synopsis: &'static str,
    /// Each argument and what it means, with its default.
    pub arguments: &'static [(&'static str, &'static str)],
}

/// Why the arguments were not read to the end: `--help`, or a bad argument.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// `--help` or `-h`.
    Help,
    /// The line to print after the program's name: it names the argument and says what
    /// was expected.
    Bad(String),
}

impl Usage {
    /// The text `--help` prints.
    pub fn text(&self) -> String {
        const HELP: (&str, &str) = ("-h, --help", "print this help and exit");
        let width = self
            .arguments
            .iter()
            .chain([&HELP])
            .map(|(arg, _)| arg.len());
        let width = width.max().unwrap_or(0);
        let mut text = format!(
            "{name}: {about}\n\nusage: {name} {synopsis}\n\n",
            name = self.name,
            about = self.about,
            synopsis = self.synopsis
        );
        for (arg, meaning) in self.arguments.iter().chain([&HELP]) {
            text += &format!("  {arg:width$}  {meaning}\n");
        }
        text
    }

    /// The process's arguments read by `parse`; on `--help` the usage is printed and the
    /// process exits 0, on a bad argument its line is printed and the process exits 2.
    pub fn parse<T>(&self, parse: impl FnOnce(&mut Args) -> Result<T, Stop>) -> T {
        let mut args = self.args(std::env::args().skip(1));
        parse(&mut args).unwrap_or_else(|stop| self.exit(stop))
    }

    /// `args` to be read in order (what [`Usage::parse`] reads; tests give their own).
    pub fn args(&self, args: impl IntoIterator<Item = String>) -> Args {
        Args {
            args: args.into_iter().collect::<Vec<_>>().into_iter(),
            synopsis: self.synopsis,
        }
    }

    /// The end of a parse that stopped: the usage and exit status 0, or the bad
    /// argument's line and exit status 2.
    pub fn exit(&self, stop: Stop) -> ! {
        match stop {
            Stop::Help => {
                // A closed stdout is no reason to fail (nor to panic, as `print!` would).
                let _ = std::io::stdout().write_all(self.text().as_bytes());
                std::process::exit(0)
            }
            Stop::Bad(line) => {
                self.say(line);
                std::process::exit(2)
            }
        }
    }

    /// One line on stderr, after the program's name.
    pub fn say(&self, line: impl Display) {
        let _ = writeln!(std::io::stderr(), "{}: {line}", self.name);
    }

    /// A failure at run time: its line on stderr, and exit status 1.
    pub fn fail(&self, line: impl Display) -> ExitCode {
        self.say(line);
        ExitCode::FAILURE
    }

    /// A listener on `addr`, announced on stderr as `listening on IP:PORT` and `note`
    /// (the line scripts and tests wait for), or the failure's line and exit status 1.
    pub fn listen(&self, addr: &str, note: &str) -> Result<TcpListener, ExitCode> {
        match TcpListener::bind(addr).and_then(|listener| Ok((listener.local_addr()?, listener))) {
            Ok((local, listener)) => {
                let _ = writeln!(std::io::stderr(), "listening on {local}{note}");
                Ok(listener)
            }
            Err(error) => Err(self.fail(format_args!("cannot listen on {addr}: {error}"))),
        }
    }
}

/// What an echo program was given: the options its usage lists, and the other arguments
/// in order (checked).
pub struct Echo {
    /// `--deflate`.
    pub deflate: bool,
    /// `--write-timeout SECS` (default `Config::DEFAULT.write_timeout`, 30 s).
    pub write_timeout: Duration,
    /// `--once TEXT`.
    pub once: Option<String>,
    /// The other arguments, in order.
    pub rest: Vec<String>,
}

/// Where an echo server listens.
pub const ADDR: (&str, &str) = ("ADDR", "where to listen (default 127.0.0.1:9001)");
/// An echo server's `--deflate`.
pub const ACCEPT_DEFLATE: (&str, &str) = (
    "--deflate",
    "accept permessage-deflate (RFC 7692) when a client offers it",
);
/// An echo server's `--write-timeout SECS`.
pub const WRITE_TIMEOUT: (&str, &str) = (
    "--write-timeout SECS",
    "give up a client that stops reading after SECS seconds (default 30)",
);
/// The URL an echo client connects to.
pub const URL: (&str, &str) = (
    "URL",
    "the server's ws:// URL (default ws://127.0.0.1:9001/)",
);
/// An echo client's `--deflate`.
pub const OFFER_DEFLATE: (&str, &str) = ("--deflate", "offer permessage-deflate (RFC 7692)");
/// An echo client's `--once TEXT`.
pub const ONCE: (&str, &str) = (
    "--once TEXT",
    "a probe: send TEXT, check that it comes back, close with 1000, exit 0",
);

/// The arguments of echo_server and tokio_echo_server.
const SERVER_ARGUMENTS: &[(&str, &str)] = &[ADDR, ACCEPT_DEFLATE, WRITE_TIMEOUT];
/// The arguments of the echo clients that have permessage-deflate.
const CLIENT_ARGUMENTS: &[(&str, &str)] = &[URL, OFFER_DEFLATE, ONCE];

/// The usage of an echo server with `--deflate` and `--write-timeout`.
pub const fn echo_server(name: &'static str, about: &'static str) -> Usage {
    Usage {
        name,
        about,
        synopsis: "[--deflate] [--write-timeout SECS] [ADDR]",
        arguments: SERVER_ARGUMENTS,
    }
}

/// The usage of an echo client with `--deflate`.
pub const fn echo_client(name: &'static str, about: &'static str) -> Usage {
    Usage {
        name,
        about,
        synopsis: "[--deflate] [URL] [--once TEXT]",
        arguments: CLIENT_ARGUMENTS,
    }
}

impl Usage {
    /// An echo server's command line: its options, and where to listen (default
    /// 127.0.0.1:9001). Exits as [`Usage::parse`] does.
    pub fn server(&self) -> (Echo, String) {
        let mut echo = self.echo(&[("ADDR", address)], 0);
        let addr = echo.rest.pop().unwrap_or_else(|| "127.0.0.1:9001".into());
        (echo, addr)
    }

    /// An echo client's command line: its options, and the `ws://` URL (default
    /// ws://127.0.0.1:9001/). Exits as [`Usage::parse`] does.
    pub fn client(&self) -> (Echo, String) {
        let mut echo = self.echo(&[("URL", ws_url)], 0);
        let url = echo
            .rest
            .pop()
            .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
        (echo, url)
    }
}

/// A check of an argument's value (see [`address`], [`ws_url`]).
pub type Check = fn(String) -> Result<String, Stop>;

impl Usage {
    /// The command line of an echo program: `--deflate`, `--write-timeout SECS` and
    /// `--once TEXT` where its usage lists them, anywhere; then `positional`, each named
    /// and checked, the first `required` of them required. Exits as [`Usage::parse`] does.
    pub fn echo(&self, positional: &[(&str, Check)], required: usize) -> Echo {
        self.parse(|args| {
            let mut echo = Echo {
                deflate: false,
                write_timeout: sockless::Config::DEFAULT.write_timeout,
                once: None,
                rest: Vec::new(),
            };
            while let Some(arg) = args.next()? {
                match arg.as_str() {
                    "--deflate" if self.takes(&arg) => echo.deflate = true,
                    "--write-timeout" if self.takes(&arg) => {
                        echo.write_timeout = args.seconds(&arg)?;
                    }
                    "--once" if self.takes(&arg) => echo.once = Some(args.value(&arg, "TEXT")?),
                    _ if arg.starts_with('-') => return Err(args.unexpected(&arg)),
                    _ => match positional.get(echo.rest.len()) {
                        Some((_, check)) => echo.rest.push(check(arg)?),
                        None => return Err(args.unexpected(&arg)),
                    },
                }
            }
            match positional
                .get(echo.rest.len())
                .filter(|_| echo.rest.len() < required)
            {
                Some((name, _)) => Err(Stop::Bad(format!(
                    "missing argument {name} (expected {})",
                    self.synopsis
                ))),
                None => Ok(echo),
            }
        })
    }

    /// Whether the usage lists `option`.
    fn takes(&self, option: &str) -> bool {
        self.arguments
            .iter()
            .any(|(arg, _)| arg.split(' ').next() == Some(option))
    }
}

/// A program's arguments, read in order.
pub struct Args {
    args: std::vec::IntoIter<String>,
    synopsis: &'static str,
}

impl Args {
    /// The next argument, `None` at the end; `--help` and `-h` stop with [`Stop::Help`].
    pub fn next(&mut self) -> Result<Option<String>, Stop> {
        match self.args.next() {
            Some(arg) if arg == "--help" || arg == "-h" => Err(Stop::Help),
            arg => Ok(arg),
        }
    }

    /// The value after `option`, taken as it is; `what` names it (`TEXT`).
    pub fn value(&mut self, option: &str, what: &str) -> Result<String, Stop> {
        self.args
            .next()
            .ok_or_else(|| Stop::Bad(format!("{option} needs a value (expected {option} {what})")))
    }

    /// The value after `option`, parsed; `expected` says what it must be.
    pub fn parsed<T: FromStr>(&mut self, option: &str, expected: &str) -> Result<T, Stop> {
        let value = self.value(option, expected)?;
        value
            .parse()
            .map_err(|_| bad_value(option, &value, expected))
    }

    /// A whole number of at least 1 after `option`.
    pub fn count(&mut self, option: &str) -> Result<usize, Stop> {
        const EXPECTED: &str = "a whole number, at least 1";
        let value = self.value(option, "N")?;
        match value.parse() {
            Ok(0) | Err(_) => Err(bad_value(option, &value, EXPECTED)),
            Ok(count) => Ok(count),
        }
    }

    /// A duration in seconds after `option` (`2`, `0.5`).
    pub fn seconds(&mut self, option: &str) -> Result<Duration, Stop> {
        const EXPECTED: &str = "seconds, such as 2 or 0.5";
        let value = self.value(option, "SECS")?;
        value
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| bad_value(option, &value, EXPECTED))
    }

    /// `arg` is not one this program takes (or one too many).
    pub fn unexpected(&self, arg: &str) -> Stop {
        Stop::Bad(format!(
            "unexpected argument '{arg}' (expected {})",
            self.synopsis
        ))
    }
}

/// `value` is not what `option` takes.
pub fn bad_value(option: &str, value: &str, expected: &str) -> Stop {
    Stop::Bad(format!(
        "bad value '{value}' for {option} (expected {expected})"
    ))
}

/// An address to listen on, `HOST:PORT` (resolved when listening: `localhost:9001` is
/// one).
pub fn address(arg: String) -> Result<String, Stop> {
    match arg.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => match port.parse::<u16>() {
            Ok(_) => Ok(arg),
            Err(_) => Err(Stop::Bad(format!(
                "bad address '{arg}': the port '{port}' is not a number from 0 to 65535"
            ))),
        },
        _ => Err(Stop::Bad(format!(
            "bad address '{arg}' (expected HOST:PORT, such as 127.0.0.1:9001)"
        ))),
    }
}

/// An address to listen on, `IP:PORT` (no name to resolve).
pub fn socket_addr(arg: String) -> Result<SocketAddr, Stop> {
    let arg = address(arg)?;
    arg.parse().map_err(|_| {
        Stop::Bad(format!(
            "bad address '{arg}' (expected IP:PORT, such as 127.0.0.1:9001 or [::1]:9001)"
        ))
    })
}

/// A `ws://` URL (RFC 6455 §3), for a client without TLS.
pub fn ws_url(arg: String) -> Result<String, Stop> {
    url(arg, false)
}

/// A `wss://` URL (RFC 6455 §3), for a client over TLS.
pub fn wss_url(arg: String) -> Result<String, Stop> {
    url(arg, true)
}

/// A file's name, read when it is needed.
pub fn file(arg: String) -> Result<String, Stop> {
    Ok(arg)
}

/// A `ws://` URL, or with `tls` a `wss://` one (RFC 6455 §3); a bad one is blamed on the
/// part that is wrong.
pub fn url(arg: String, tls: bool) -> Result<String, Stop> {
    let bad = |why: &str| Err(Stop::Bad(format!("bad URL '{arg}': {why}")));
    match sockless::handshake::WsUrl::parse(&arg) {
        Ok(url) if url.secure && !tls => bad("this program has no TLS (wss_echo_client has)"),
        Ok(url) if !url.secure && tls => bad("this program connects over TLS: use wss://"),
        Ok(_) => Ok(arg),
        Err(_) => bad(&url_problem(&arg)),
    }
}

/// What is wrong with a URL that `WsUrl::parse` refused.
fn url_problem(url: &str) -> String {
    if url.chars().any(|c| !c.is_ascii_graphic()) {
        return "spaces, control and non-ASCII characters must be percent-encoded".into();
    }
    if url.contains('#') {
        return "a WebSocket URL has no fragment ('#')".into();
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("ws://")
        .or_else(|| lower.strip_prefix("wss://"))
    else {
        return "the scheme must be ws:// or wss://".into();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return "a WebSocket URL has no user information ('user@')".into();
    }
    let port = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed
            .split_once(']')
            .and_then(|(_, after)| after.strip_prefix(':')),
        None => authority.split_once(':').map(|(_, port)| port),
    };
    let valid = |port: &str| {
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0)
    };
    match port {
        Some(port) if !port.is_empty() && !valid(port) => {
            format!("the port '{port}' is not a number from 1 to 65535")
        }
        _ => "the host is missing or not a valid host name or address".into(),
    }
}
