//! sockless against other WebSocket implementations: receive, send, handshakes and memory.
//!
//! ```text
//! cargo run --release --manifest-path benches/compare/Cargo.toml [-- --runs 5] [recv|send|handshake|memory|deflate|engines]
//! ```
//!
//! Every figure is the median of `--runs` timed runs (after one untimed run whose output is
//! checked), and is read as a ratio against the other implementations of the same run.

#[path = "../../../examples/common/cli.rs"]
mod cli;
mod deflate;
mod engines;
mod handshake;
mod io;
mod memory;
mod recv;
mod send;
mod sl;
mod workload;

use std::process::ExitCode;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: memory::Counting = memory::Counting;

/// Median time of each job over `runs` rounds; each round runs every job once, in turn, so
/// that the drift of a shared machine falls on all of them alike.
fn medians(runs: usize, jobs: &mut [Box<dyn FnMut() + '_>]) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(runs); jobs.len()];
    for _ in 0..runs {
        for (job, times) in jobs.iter_mut().zip(&mut times) {
            let start = Instant::now();
            job();
            times.push(start.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect()
}

/// `COMPARE_ONLY=name` keeps only the implementations whose name contains it (for
/// profiling one of them with perf); the ratio columns then mean little.
fn selected(name: &str) -> bool {
    std::env::var("COMPARE_ONLY").map_or(true, |only| name.contains(&only))
}

fn rate(per_message: bool, units: u64, time: Duration) -> f64 {
    let per_s = units as f64 / time.as_secs_f64();
    if per_message {
        per_s / 1e6
    } else {
        per_s / 1e9
    }
}

fn unit(per_message: bool) -> &'static str {
    if per_message { "M msg/s" } else { "GB/s" }
}

fn recv_table(runs: usize) {
    eprintln!("generating workloads ...");
    let workloads = workload::all();
    println!("\n## Receive (server role, masked client frames, 64 KiB reads; median of {runs})\n");
    println!("| workload | implementation | rate | vs best peer | vs limit | check |");
    println!("|---|---|---:|---:|---:|---|");
    let mut summary = Vec::new();
    for w in &workloads {
        let units = if w.per_message {
            w.expected.messages
        } else {
            w.payload_bytes
        };
        // One untimed run each, checked; an implementation that fails is not timed.
        let impls: Vec<_> = recv::IMPLS
            .iter()
            .copied()
            .filter(|i| selected(i.0))
            .collect();
        let mut checks = Vec::new();
        for &(name, f, _) in &impls {
            let start = Instant::now();
            let check = match f(&w.input, w.expected.messages) {
                Ok(got) if got == w.expected => "ok".to_string(),
                Ok(got) => format!("MISMATCH {got:?}"),
                Err(e) => format!("fails: {e}"),
            };
            eprintln!("{} {name}: {check} in {:?}", w.name, start.elapsed());
            checks.push(check);
        }
        let limit_job = Box::new(|| {
            std::hint::black_box(recv::limit(&w.input));
        }) as Box<dyn FnMut()>;
        let impl_jobs = impls.iter().zip(&checks).map(|(&(_, f, _), check)| {
            let works = check == "ok";
            Box::new(move || {
                if works {
                    std::hint::black_box(f(&w.input, w.expected.messages).ok());
                }
            }) as Box<dyn FnMut()>
        });
        // The floor first, then each implementation.
        let mut jobs: Vec<Box<dyn FnMut()>> = vec![limit_job];
        jobs.extend(impl_jobs);
        let times = medians(runs, &mut jobs);
        let limit = rate(w.per_message, units, times[0]);
        let results: Vec<_> = impls
            .iter()
            .zip(&times[1..])
            .zip(checks)
            .map(|((&(name, _, validates), &time), check)| {
                let r = if check == "ok" {
                    rate(w.per_message, units, time)
                } else {
                    0.0
                };
                (name, r, validates, check)
            })
            .collect();
        let best_peer = results[1..]
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or(&results[0]);
        let best_validating = results[1..]
            .iter()
            .filter(|r| r.2)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or(&results[0]);
        for (name, r, validates, check) in &results {
            let note = if w.text && !validates {
                " (no UTF-8 check)"
            } else {
                ""
            };
            if check != "ok" {
                println!("| {} | {name}{note} | - | - | - | {check} |", w.name);
                continue;
            }
            println!(
                "| {} | {name}{note} | {r:.2} {} | {:.2}x | {:.0}% | {check} |",
                w.name,
                unit(w.per_message),
                r / best_peer.1,
                100.0 * r / limit,
            );
        }
        println!(
            "| {} | limit (copy + XOR 8 B at a time) | {limit:.2} {} | | 100% | |",
            w.name,
            unit(w.per_message)
        );
        let sockless = results[0].1;
        summary.push(format!(
            "{}: sockless {:.2}x best peer ({}), {:.2}x best UTF-8-checking peer ({}), {:.0}% of limit",
            w.name,
            sockless / best_peer.1,
            best_peer.0,
            sockless / best_validating.1,
            best_validating.0,
            100.0 * sockless / limit
        ));
    }
    println!();
    for line in summary {
        println!("- {line}");
    }
}

fn send_table(runs: usize) {
    println!("\n## Send (encode binary messages into memory; median of {runs})\n");
    println!("| case | implementation | rate | vs best peer | check |");
    println!("|---|---|---:|---:|---|");
    let small = vec![0xA5u8; 16];
    let large: Vec<u8> = (0..workload::MIB)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let cases: [(&str, &[u8], usize, bool); 4] = [
        ("client 16 B", &small, 1_000_000, true),
        ("server 16 B", &small, 1_000_000, false),
        ("client 1 MiB", &large, 64, true),
        ("server 1 MiB", &large, 64, false),
    ];
    let mut summary = Vec::new();
    for (case, payload, count, client) in cases {
        let per_message = payload.len() < 1024;
        let units = if per_message {
            count as u64
        } else {
            (count * payload.len()) as u64
        };
        let mut impls: Vec<(&str, send::SendFn)> = send::IMPLS.to_vec();
        if !client {
            impls.insert(1, ("sockless send_header (no copy)", send::sockless_header));
        }
        let checks: Vec<_> = impls
            .iter()
            .map(|&(_, f)| {
                let mut first = f(payload, 1, client).first;
                if sl::decode_one(&mut first, client) == payload {
                    "ok"
                } else {
                    "MISMATCH"
                }
            })
            .collect();
        let mut jobs: Vec<Box<dyn FnMut()>> = impls
            .iter()
            .map(|&(_, f)| {
                Box::new(move || {
                    std::hint::black_box(f(payload, count, client).bytes);
                }) as Box<dyn FnMut()>
            })
            .collect();
        let times = medians(runs, &mut jobs);
        let results: Vec<_> = impls
            .iter()
            .zip(times)
            .zip(checks)
            .map(|((&(name, _), time), check)| (name, rate(per_message, units, time), check))
            .collect();
        let best = results
            .iter()
            .filter(|r| !r.0.starts_with("sockless"))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        for &(name, r, check) in &results {
            println!(
                "| {case} | {name} | {r:.2} {} | {:.2}x | {check} |",
                unit(per_message),
                r / best.1
            );
        }
        summary.push(format!(
            "{case}: sockless send_binary {:.2}x best peer ({})",
            results[0].1 / best.1,
            best.0
        ));
        if !client {
            summary.push(format!(
                "{case}: sockless send_header {:.2}x best peer",
                results[1].1 / best.1
            ));
        }
    }
    println!();
    for line in summary {
        println!("- {line}");
    }
}

fn handshake_table(runs: usize) {
    const COUNT: usize = 20_000;
    println!("\n## Handshakes (per second, {COUNT} per run; median of {runs})\n");
    println!("| side | implementation | handshakes/s | vs tungstenite | vs best peer |");
    println!("|---|---|---:|---:|---:|");
    let mut summary = Vec::new();
    for (side, impls) in [
        ("server (parse request + write 101)", handshake::SERVER),
        ("client (write request + check 101)", handshake::CLIENT),
    ] {
        let impls: Vec<_> = impls
            .iter()
            .copied()
            .filter(|(name, _)| *name == "tungstenite" || selected(name))
            .collect();
        for &(name, f) in &impls {
            assert!(f(1) > 0, "{name}: wrote nothing");
        }
        let mut jobs: Vec<Box<dyn FnMut()>> = impls
            .iter()
            .map(|&(_, f)| {
                Box::new(move || {
                    std::hint::black_box(f(COUNT));
                }) as Box<dyn FnMut()>
            })
            .collect();
        let times = medians(runs, &mut jobs);
        let results: Vec<_> = impls
            .iter()
            .zip(times)
            .map(|(&(name, _), time)| (name, COUNT as f64 / time.as_secs_f64()))
            .collect();
        let tungstenite = results.iter().find(|r| r.0 == "tungstenite").unwrap().1;
        let best = results[1..]
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or(&results[0]);
        for &(name, r) in &results {
            println!(
                "| {side} | {name} | {:.0} k | {:.2}x | {:.2}x |",
                r / 1e3,
                r / tungstenite,
                r / best.1
            );
        }
        summary.push(format!(
            "{side}: sockless {:.2}x tungstenite, {:.2}x best peer ({})",
            results[0].1 / tungstenite,
            results[0].1 / best.1,
            best.0
        ));
    }
    println!("\n(fastwebsockets: handshake only through hyper's upgrade machinery, not measured;");
    println!(" websocket-sans-io: has no handshake.)\n");
    for line in summary {
        println!("- {line}");
    }
}

fn memory_table() {
    println!("\n## Per-connection memory\n");
    println!("| connection | size_of | heap held after 1 message in + 1 out | note |");
    println!("|---|---:|---:|---|");
    for row in memory::rows() {
        println!(
            "| {} | {} B | {} B | {} |",
            row.name, row.size_of, row.heap, row.note
        );
    }
    println!("\n### With permessage-deflate (RFC 7692), server role, on top of the connection\n");
    println!("| negotiated | Inflater (state + window) | Compressor (state + heap) |");
    println!("|---|---:|---:|");
    for (what, inflater, compressor) in deflate::memory() {
        println!("| {what} | {inflater} B | {compressor} B |");
    }
}

const USAGE: cli::Usage = cli::Usage {
    name: "sockless-compare",
    about: "sockless against other WebSocket implementations: receive, send, handshakes, \
            memory, permessage-deflate (tables on stdout)",
    synopsis: "[--runs N] [recv|send|handshake|memory|deflate|engines]...",
    arguments: &[
        ("--runs N", "timed runs per figure, after one untimed run (default 5)"),
        (
            "recv|send|handshake|...",
            "only these tables (default all: recv, send, handshake, memory, deflate, engines)",
        ),
    ],
};

/// The runs per figure and the tables asked for (all if none).
fn options(args: &mut cli::Args) -> Result<(usize, Vec<String>), cli::Stop> {
    let mut runs = 5;
    let mut only = Vec::new();
    while let Some(arg) = args.next()? {
        match arg.as_str() {
            "--runs" => runs = args.count("--runs")?,
            "recv" | "send" | "handshake" | "memory" | "deflate" | "engines" => only.push(arg),
            _ => return Err(args.unexpected(&arg)),
        }
    }
    Ok((runs, only))
}

fn main() -> ExitCode {
    let (runs, only) = USAGE.parse(options);
    let wanted = |what: &str| only.is_empty() || only.iter().any(|o| o == what);
    println!(
        "# sockless vs peers (median of {runs}; {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if wanted("memory") {
        memory_table();
    }
    if wanted("handshake") {
        handshake_table(runs);
    }
    if wanted("send") {
        send_table(runs);
    }
    if wanted("recv") {
        recv_table(runs);
    }
    if wanted("deflate") {
        deflate::table(runs);
    }
    if wanted("engines") {
        engines::table(runs);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options_of(line: &str) -> Result<(usize, Vec<String>), cli::Stop> {
        options(&mut USAGE.args(line.split_whitespace().map(String::from)))
    }

    #[test]
    fn runs_and_tables() {
        assert_eq!(options_of(""), Ok((5, vec![])));
        assert_eq!(
            options_of("recv --runs 2 engines"),
            Ok((2, vec!["recv".into(), "engines".into()]))
        );
        assert_eq!(options_of("--help"), Err(cli::Stop::Help));
    }

    #[test]
    fn a_bad_argument_is_named() {
        let expected = format!("(expected {})", USAGE.synopsis);
        assert_eq!(
            options_of("recv nonsense"),
            Err(cli::Stop::Bad(format!("unexpected argument 'nonsense' {expected}")))
        );
        assert_eq!(
            options_of("--runs 0"),
            Err(cli::Stop::Bad(
                "bad value '0' for --runs (expected a whole number, at least 1)".into()
            ))
        );
    }
}
