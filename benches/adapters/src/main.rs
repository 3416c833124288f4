//! sockless's tokio adapter against tokio-tungstenite and fastwebsockets, over loopback, as
//! /work/shared/BENCH.md ("Over sockets: the adapters") describes.
//!
//! ```text
//! cargo run --release --manifest-path benches/adapters/Cargo.toml [-- --runs 5] [small|large|memory]
//! ```
//!
//! Each echo server runs in a child process of its own (this binary, `server <key>`),
//! pinned to core 0 on a current-thread runtime; the load client runs here, pinned to core
//! 1, on a current-thread runtime. Every figure is the median of `--runs` timed runs, after
//! one untimed run; every echoed message of every run is checked. Each round runs every
//! server once, in turn, so that the drift of a shared machine falls on all of them alike.
//! `ADAPTERS_ONLY=key` keeps only the servers whose key contains it (plus the references).

mod client;
#[path = "../../../examples/common/cli.rs"]
mod cli;
mod server;
mod sockless_servers;
mod sys;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};

use server::{IMPLS, Impl};

/// 16-byte messages: connections, and messages each connection pipelines per run.
const CONNECTIONS: usize = 100;
const PER_CONNECTION: u64 = 30_000;
/// 1 MiB messages per run, over one connection.
const LARGE_COUNT: usize = 128;
/// Idle connections for the memory measurement.
const IDLE: usize = 10_000;

/// An echo server in its child process; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(key: &str) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["server", key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the {key} server: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let port = line
            .trim()
            .parse()
            .map_err(|_| format!("the {key} server printed {line:?}, not its port"))?;
        Ok(Server { child, port })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn selected(key: &str) -> bool {
    matches!(key, "tungstenite" | "tungstenite-send" | "fastwebsockets")
        || std::env::var("ADAPTERS_ONLY").map_or(true, |only| key.contains(&only))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What one run of one server measured: the figure (higher is better unless said
/// otherwise), and figures that come with it (CPU use, a second memory figure).
struct Sample {
    value: f64,
    extra: Vec<f64>,
}

/// The median of each figure over the runs of one server, or why it failed.
type Figures = Vec<Result<Sample, String>>;

/// Runs `measure` for each server: once untimed (its failure excludes the server), then
/// `runs` rounds of every server in turn; the median of each figure.
fn rounds(
    runs: usize,
    impls: &[&Impl],
    mut measure: impl FnMut(&Impl) -> Result<Sample, String>,
) -> Figures {
    let mut failed: Vec<Option<String>> = impls
        .iter()
        .map(|i| {
            let result = measure(i).err();
            eprintln!("  {}: {}", i.name, result.as_deref().unwrap_or("ok"));
            result
        })
        .collect();
    let mut samples: Vec<Vec<Sample>> = impls.iter().map(|_| Vec::new()).collect();
    for round in 0..runs {
        for (n, i) in impls.iter().enumerate() {
            if failed[n].is_some() {
                continue;
            }
            match measure(i) {
                Ok(sample) => {
                    eprintln!("  round {}: {}: {:.4e} {:.2?}", round + 1, i.name, sample.value, sample.extra);
                    samples[n].push(sample)
                }
                Err(e) => failed[n] = Some(e),
            }
        }
    }
    samples
        .into_iter()
        .zip(failed)
        .map(|(samples, failed)| match failed {
            Some(e) => Err(e),
            None => Ok(Sample {
                value: median(samples.iter().map(|s| s.value).collect()),
                extra: (0..samples[0].extra.len())
                    .map(|k| median(samples.iter().map(|s| s.extra[k]).collect()))
                    .collect(),
            }),
        })
        .collect()
}

fn figure_of(impls: &[&Impl], figures: &Figures, key: &str) -> Option<f64> {
    impls
        .iter()
        .position(|i| i.key == key)
        .and_then(|n| figures[n].as_ref().ok())
        .map(|s| s.value)
}

fn ratio(value: f64, reference: Option<f64>) -> String {
    reference.map_or("-".into(), |r| format!("{:.2}x", value / r))
}

/// A throughput table: rate, ratio to the tokio-tungstenite server with the same echo
/// loop, ratio to fastwebsockets, check.
fn rate_table(title: &str, unit: &str, impls: &[&Impl], figures: &Figures, scale: f64) {
    println!("\n## {title}\n");
    println!(
        "| server | {unit} | vs tokio-tungstenite (same loop) | vs fastwebsockets | server CPU | client CPU | check |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (i, figure) in impls.iter().zip(figures) {
        match figure {
            Ok(s) => println!(
                "| {} | {:.3} | {} | {} | {:.0}% | {:.0}% | ok |",
                i.name,
                s.value / scale,
                ratio(s.value, figure_of(impls, figures, i.like)),
                ratio(s.value, figure_of(impls, figures, "fastwebsockets")),
                100.0 * s.extra[0],
                100.0 * s.extra[1],
            ),
            Err(e) => println!("| {} | - | - | - | - | - | fails: {e} |", i.name),
        }
    }
}

const USAGE: cli::Usage = cli::Usage {
    name: "sockless-adapters-bench",
    about: "echo servers over loopback: sockless's tokio adapter against tokio-tungstenite \
            and fastwebsockets (tables on stdout)",
    synopsis: "[--runs N] [small|large|memory]... | server KEY | load PORT PID small|large RUNS",
    arguments: &[
        ("--runs N", "timed runs per figure, after one untimed run (default 5)"),
        ("small|large|memory", "only these measurements (default all three)"),
        ("server KEY", "be the echo server KEY (sockless, tungstenite, ...) and print its port"),
        ("load PORT PID small|large RUNS", "drive one server started by hand, for profiling"),
    ],
};

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Task {
    /// The benchmark: `--runs` timed runs of each measurement in `only` (all if empty).
    Bench { runs: usize, only: Vec<String> },
    /// `server KEY`.
    Server(&'static str),
    /// `load PORT PID small|large RUNS`.
    Load { port: u16, pid: u32, what: String, runs: usize },
}

fn task(args: &mut cli::Args) -> Result<Task, cli::Stop> {
    let mut runs = 5;
    let mut only = Vec::new();
    while let Some(arg) = args.next()? {
        match arg.as_str() {
            "server" => {
                let key = args.value("server", "KEY")?;
                return match IMPLS.iter().find(|i| i.key == key) {
                    Some(i) => Ok(Task::Server(i.key)),
                    None => {
                        let keys: Vec<_> = IMPLS.iter().map(|i| i.key).collect();
                        Err(cli::bad_value("server", &key, &keys.join(", ")))
                    }
                };
            }
            "load" => {
                let port = args.parsed("load", "PORT: a port number")?;
                let pid = args.parsed("load", "PID: a process id")?;
                let what = args.value("load", "small|large")?;
                if what != "small" && what != "large" {
                    return Err(cli::bad_value("load", &what, "small or large"));
                }
                let runs = args.count("load")?.min(100);
                return match args.next()? {
                    Some(extra) => Err(args.unexpected(&extra)),
                    None => Ok(Task::Load { port, pid, what, runs }),
                };
            }
            "--runs" => runs = args.count("--runs")?,
            "small" | "large" | "memory" => only.push(arg),
            _ => return Err(args.unexpected(&arg)),
        }
    }
    Ok(Task::Bench { runs, only })
}

fn main() -> ExitCode {
    let (runs, only) = match USAGE.parse(task) {
        Task::Bench { runs, only } => (runs, only),
        Task::Server(key) => server::run(key),
        Task::Load { port, pid, what, runs } => return load(port, pid, &what, runs),
    };
    let wanted = |what: &str| only.is_empty() || only.iter().any(|o| o == what);

    sys::pin_to(sys::CLIENT_CORE);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return USAGE.fail(format_args!("cannot start a tokio runtime: {error}")),
    };
    let impls: Vec<&Impl> = IMPLS.iter().filter(|i| selected(i.key)).collect();

    println!("# sockless tokio adapter vs peers, echo over loopback\n");
    println!("- machine: {}", sys::machine());
    println!("- date: {}", sys::date());
    println!("- built with: {}", sys::versions());
    println!(
        "- each server: its own process, current-thread tokio runtime, pinned to core {}; \
         load client: one raw client (pre-masked frames, every echo checked), \
         current-thread runtime, pinned to core {}",
        sys::SERVER_CORE,
        sys::CLIENT_CORE
    );
    println!("- every figure: median of {runs} runs (after one untimed run)");

    if wanted("small") || wanted("large") {
        let servers: Vec<Result<Server, String>> = impls.iter().map(|i| Server::start(i.key)).collect();
        let server = |i: &Impl| {
            let n = impls.iter().position(|j| j.key == i.key).unwrap();
            servers[n]
                .as_ref()
                .map(|s| (s.port, s.pid()))
                .map_err(Clone::clone)
        };
        if wanted("small") {
            eprintln!("16 B messages, {CONNECTIONS} connections x {PER_CONNECTION} ...");
            let total = (CONNECTIONS as u64 * PER_CONNECTION) as f64;
            let figures = rounds(runs, &impls, |i| {
                let (port, pid) = server(i)?;
                let (time, cpu) =
                    runtime.block_on(client::small(port, pid, CONNECTIONS, PER_CONNECTION))?;
                Ok(Sample {
                    value: total / time.as_secs_f64(),
                    extra: vec![cpu.server, cpu.client],
                })
            });
            rate_table(
                &format!(
                    "16 B messages, {CONNECTIONS} connections pipelining \
                     (up to {} in flight each), {PER_CONNECTION} each per run",
                    client::WINDOW
                ),
                "M msg/s",
                &impls,
                &figures,
                1e6,
            );
            summary(&impls, &figures);
        }
        if wanted("large") {
            eprintln!("1 MiB messages, {LARGE_COUNT} per run ...");
            let bytes = (LARGE_COUNT * client::MIB) as f64;
            let figures = rounds(runs, &impls, |i| {
                let (port, pid) = server(i)?;
                let (time, cpu) = runtime.block_on(client::large(port, pid, LARGE_COUNT))?;
                Ok(Sample {
                    value: bytes / time.as_secs_f64(),
                    extra: vec![cpu.server, cpu.client],
                })
            });
            rate_table(
                &format!(
                    "1 MiB messages, one connection, up to 4 in flight, {LARGE_COUNT} per run \
                     (GB/s of payload echoed; x 954 = msg/s)"
                ),
                "GB/s",
                &impls,
                &figures,
                1e9,
            );
            summary(&impls, &figures);
        }
        drop(servers);
    }

    if wanted("memory") {
        eprintln!("memory: {IDLE} idle connections per server ...");
        // Each measurement on a fresh server process.
        let figures = rounds(runs, &impls, |i| {
            let server = Server::start(i.key)?;
            let (handshaken, used, streams) =
                runtime.block_on(client::idle(server.port, server.pid(), IDLE))?;
            // The server goes first, so that the TIME_WAITs are its own.
            drop(server);
            drop(streams);
            // Lower is better: bytes per connection.
            Ok(Sample {
                value: handshaken,
                extra: vec![used],
            })
        });
        println!(
            "\n## Memory per idle connection (server RSS growth over {IDLE} connections / {IDLE}; \
             lower is better)\n"
        );
        println!(
            "| server | after the handshake | vs tokio-tungstenite | after one 16 B echo each | vs tokio-tungstenite | check |"
        );
        println!("|---|---:|---:|---:|---:|---|");
        let reference = impls
            .iter()
            .position(|i| i.key == "tungstenite")
            .and_then(|n| figures[n].as_ref().ok());
        for (i, figure) in impls.iter().zip(&figures) {
            match figure {
                Ok(s) => println!(
                    "| {} | {:.0} B | {} | {:.0} B | {} | ok |",
                    i.name,
                    s.value,
                    reference.map_or("-".into(), |r| format!("{:.3}x", s.value / r.value)),
                    s.extra[0],
                    reference.map_or("-".into(), |r| format!("{:.3}x", s.extra[0] / r.extra[0])),
                ),
                Err(e) => println!("| {} | - | - | - | - | fails: {e} |", i.name),
            }
        }
        println!();
        for key in ["sockless", "sockless-events"] {
            let Some(n) = impls.iter().position(|i| i.key == key) else {
                continue;
            };
            if let (Ok(s), Some(r)) = (&figures[n], reference) {
                println!(
                    "- {}: {:.0} B per idle connection vs tokio-tungstenite {:.0} B: {:.3}x \
                     (target: at most 0.25x: {})",
                    impls[n].name,
                    s.value,
                    r.value,
                    s.value / r.value,
                    if s.value <= r.value / 4.0 { "met" } else { "MISSED" }
                );
            }
        }
    }
    ExitCode::SUCCESS
}

fn load(port: u16, pid: u32, what: &str, runs: usize) -> ExitCode {
    sys::pin_to(sys::CLIENT_CORE);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return USAGE.fail(format_args!("cannot start a tokio runtime: {error}")),
    };
    for _ in 0..runs {
        let result = match what {
            "small" => runtime
                .block_on(client::small(port, pid, CONNECTIONS, PER_CONNECTION))
                .map(|(t, cpu)| ((CONNECTIONS as u64 * PER_CONNECTION) as f64 / t.as_secs_f64() / 1e6, cpu)),
            _ => runtime
                .block_on(client::large(port, pid, LARGE_COUNT))
                .map(|(t, cpu)| ((LARGE_COUNT * client::MIB) as f64 / t.as_secs_f64() / 1e9, cpu)),
        };
        match result {
            Ok((rate, cpu)) => println!("{rate:.3} ({}) {cpu:?}", if what == "small" { "M msg/s" } else { "GB/s" }),
            Err(e) => println!("fails: {e}"),
        }
    }
    ExitCode::SUCCESS
}

fn summary(impls: &[&Impl], figures: &Figures) {
    let tung = figure_of(impls, figures, "tungstenite");
    let fws = figure_of(impls, figures, "fastwebsockets");
    println!();
    for key in ["sockless", "sockless-events"] {
        let Some(v) = figure_of(impls, figures, key) else {
            continue;
        };
        let name = impls.iter().find(|i| i.key == key).unwrap().name;
        let (t, f) = (tung.map_or(0.0, |t| v / t), fws.map_or(0.0, |f| v / f));
        println!(
            "- {name}: {t:.2}x tokio-tungstenite (target 1.5x: {}), {f:.2}x fastwebsockets (target 1.0x: {})",
            if t >= 1.5 { "met" } else { "MISSED" },
            if f >= 1.0 { "met" } else { "MISSED" },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_of(line: &str) -> Result<Task, cli::Stop> {
        task(&mut USAGE.args(line.split_whitespace().map(String::from)))
    }

    fn bad(line: &str) -> String {
        match task_of(line) {
            Err(cli::Stop::Bad(message)) => message,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn the_benchmark_server_and_load_commands() {
        assert_eq!(task_of("").unwrap(), Task::Bench { runs: 5, only: vec![] });
        assert_eq!(
            task_of("--runs 3 small memory").unwrap(),
            Task::Bench { runs: 3, only: vec!["small".into(), "memory".into()] }
        );
        assert_eq!(task_of("server sockless").unwrap(), Task::Server("sockless"));
        assert_eq!(
            task_of("load 9000 42 large 500").unwrap(),
            Task::Load { port: 9000, pid: 42, what: "large".into(), runs: 100 }
        );
        assert_eq!(task_of("small --help"), Err(cli::Stop::Help));
        assert_eq!(task_of("-h"), Err(cli::Stop::Help));
    }

    #[test]
    fn a_bad_argument_is_named() {
        assert_eq!(
            bad("nonsense"),
            format!("unexpected argument 'nonsense' (expected {})", USAGE.synopsis)
        );
        let not_a_count = "(expected a whole number, at least 1)";
        assert_eq!(bad("--runs many"), format!("bad value 'many' for --runs {not_a_count}"));
        assert_eq!(bad("--runs 0"), format!("bad value '0' for --runs {not_a_count}"));
        assert_eq!(bad("--runs"), "--runs needs a value (expected --runs N)");
        assert!(bad("server nobody").starts_with("bad value 'nobody' for server (expected sockless, "));
        assert_eq!(
            bad("load 99999 1 small 1"),
            "bad value '99999' for load (expected PORT: a port number)"
        );
        assert_eq!(bad("load 9000 1 medium 1"), "bad value 'medium' for load (expected small or large)");
        assert!(bad("load 9000 1 small 1 extra").starts_with("unexpected argument 'extra'"));
    }
}
