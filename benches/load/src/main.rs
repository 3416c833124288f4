//! The chat load benchmark: the chat under 1,000 / 10,000 / 100,000 clients, next to its peers
//! and to a floor.
//!
//! `cargo run --release --manifest-path benches/load/Cargo.toml -- [--sizes 1000,10000,100000]
//! [--seconds 30] [--room-size 100] [--servers sockless,tokio,node,floor] [--chart docs/load.png]
//! [--deflate]`
//! (servers: sockless, sockless-redis, sockless-uring, tokio, node, floor, floor-uring)
//!
//! For each size and server: start the server (one process, or several of at most
//! `SHARD_CLIENTS` connections each), start the load generator processes (each owns whole
//! rooms), wait until every client is connected and joined, then every client sends one
//! message a second for the given seconds; each message must reach every member of its room
//! (`--room-size`, 100 by default; with 1, each client gets its own message back: one request
//! a second and its answer). Prints a markdown table and draws the chart.
//!
//! Several server processes: with rooms of 1, the sockless chat and the floor listen on one
//! port with SO_REUSEPORT and the kernel spreads the connections over them (any process
//! takes any client); with larger rooms (and for tokio-tungstenite and Node ws) each process
//! owns the rooms hashed to it, and a client connects to the one that owns its room.
//!
//! `sockless-redis`: the chat as several processes on one port sharing every room through a
//! redis-server of the run's own (see `redis.rs`); Redis's CPU and memory count in the row,
//! and its floor is `floor`.
//!
//! `floor`: a raw TCP server and generator of the same shape (see `floor.rs`); every row
//! gets its server's CPU per delivered message and the ratio to the floor's in the same run
//! at the same size ("x floor").
//!
//! `--deflate`: every client offers permessage-deflate (RFC 7692) as a browser does, and
//! must get it (see `deflate.rs`); only the servers that support it run (the chat, and Node
//! ws with it configured as the chat does; tokio-tungstenite has none). No chart then,
//! unless `--chart` is given.
//!
//! `load gen ...` is the generator process itself (see `generator.rs`).

mod chart;
#[path = "../../../examples/common/cli.rs"]
mod cli;
mod deflate;
mod floor;
mod generator;
mod hist;
mod redis;
#[cfg(target_os = "linux")]
mod uring;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hist::Histogram;

/// Members per room unless `--room-size` says otherwise.
const ROOM_SIZE: usize = 100;
/// At most this many connections per chat process and per generator process (open files
/// are capped at 20,000 per process here).
const SHARD_CLIENTS: usize = 15_000;
const GEN_CLIENTS: usize = 16_000;
/// Sizes up to this run against one chat process.
const ONE_PROCESS: usize = 19_000;

/// Every child process, killed on the way out (normal exit, error, panic or signal).
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn kill_all() {
    let pids = match CHILDREN.try_lock() {
        Ok(mut pids) => std::mem::take(&mut *pids),
        Err(_) => return,
    };
    for pid in pids {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    kill_all();
    unsafe { libc::_exit(130) };
}

/// Start a child that dies with us (PR_SET_PDEATHSIG) and is remembered for `kill_all`.
fn spawn(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = command.spawn()?;
    CHILDREN.lock().unwrap().push(child.id());
    Ok(child)
}

fn stop(children: &mut Vec<Child>) {
    let mut pids = CHILDREN.lock().unwrap();
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
        pids.retain(|&p| p != child.id());
    }
    children.clear();
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Server {
    Sockless,
    /// The chat as several processes on one port, rooms shared through Redis (`redis.rs`).
    SocklessRedis,
    Tokio,
    Node,
    /// The raw TCP floor on mio (`floor.rs`).
    Floor,
    /// The sockless chat on its io_uring loop (`--io-uring`, Linux), with the generators on
    /// io_uring too.
    SocklessUring,
    /// The raw TCP floor on io_uring, server and generator (`uring.rs`, Linux).
    FloorUring,
}

impl Server {
    pub fn label(self) -> &'static str {
        match self {
            Server::Sockless => "sockless (mio)",
            Server::SocklessRedis => "sockless (mio) on Redis",
            Server::Tokio => "tokio-tungstenite",
            Server::Node => "Node ws",
            Server::Floor => "floor (mio)",
            Server::SocklessUring => "sockless (io_uring)",
            Server::FloorUring => "floor (io_uring)",
        }
    }

    /// The name in `--servers`.
    pub fn name(self) -> &'static str {
        match self {
            Server::Sockless => "sockless",
            Server::SocklessRedis => "sockless-redis",
            Server::Tokio => "tokio",
            Server::Node => "node",
            Server::Floor => "floor",
            Server::SocklessUring => "sockless-uring",
            Server::FloorUring => "floor-uring",
        }
    }

    /// The floor of the same I/O model, whose row the "x floor" ratio is taken against.
    pub fn floor(self) -> Server {
        match self {
            Server::FloorUring | Server::SocklessUring => Server::FloorUring,
            _ => Server::Floor,
        }
    }

    /// Its generators run on io_uring.
    pub fn uring(self) -> bool {
        matches!(self, Server::FloorUring | Server::SocklessUring)
    }

    /// Several processes of it may listen on one port (SO_REUSEPORT): with rooms of 1 any
    /// of them can serve any client.
    pub fn reuses_port(self) -> bool {
        matches!(
            self,
            Server::Sockless
                | Server::SocklessRedis
                | Server::SocklessUring
                | Server::Floor
                | Server::FloorUring
        )
    }

    /// Whether it runs with permessage-deflate under `--deflate` (tokio-tungstenite has
    /// none; Node ws has it configured as the chat does, see `node/chat.mjs`).
    pub fn has_deflate(self) -> bool {
        matches!(
            self,
            Server::Sockless | Server::SocklessRedis | Server::Node
        )
    }
}

pub struct Row {
    pub server: Server,
    pub room_size: usize,
    /// The server processes' CPU time from `go` until the generators finished (drain
    /// included), in seconds: what the messages delivered cost.
    pub cpu_seconds: f64,
    /// The clients offered (and got) permessage-deflate.
    pub deflate: bool,
    pub clients: usize,
    pub shards: usize,
    pub generators: usize,
    pub connect: Duration,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub expected: u64,
    pub delivered: u64,
    pub missing: u64,
    pub failures: u64,
    pub cpu_percent: f64,
    pub gen_cpu_percent: f64,
    pub machine_busy: f64,
    pub rss_per_conn: f64,
    pub rss_total: u64,
    /// The generators' peak RSS over their whole run (VmHWM), all together.
    pub gen_rss: u64,
    /// With `--deflate`: the most connections of one generator that held an inflater of
    /// their own at once (a message half-read), summed over the generators.
    pub inflaters_held: u64,
    /// Bytes the clients read from their sockets while the messages flowed, and the JSON
    /// of the messages delivered (inflated).
    pub wire_bytes: u64,
    pub text_bytes: u64,
    /// The clients' messages that went compressed, and those that went as they are.
    pub sent_compressed: u64,
    pub sent_plain: u64,
    /// Messages the generators sent over 100 ms after they were due (they could not keep
    /// the pace): the latencies are then too low, but nothing failed.
    pub late: u64,
    pub note: String,
}

#[derive(Debug)]
struct Options {
    sizes: Vec<usize>,
    room_size: usize,
    seconds: u64,
    servers: Vec<Server>,
    chart: Option<PathBuf>,
    deflate: bool,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const USAGE: cli::Usage = cli::Usage {
    name: "load",
    about: "the chat load benchmark: servers under many clients in rooms, a markdown table \
            on stdout and a chart",
    synopsis: "[--sizes N,N,...] [--seconds S] [--room-size N] [--servers NAME,...] \
               [--chart FILE.png] [--deflate]",
    arguments: &[
        ("--sizes N,N,...", "clients per run (default 1000,10000,100000)"),
        ("--seconds S", "how long the clients send, 1 to 600 (default 30)"),
        ("--room-size N", "members per room, dividing every size (default 100)"),
        (
            "--servers NAME,...",
            "of sockless, sockless-redis, sockless-uring, tokio, node, floor, floor-uring \
             (default sockless,tokio,node)",
        ),
        ("--chart FILE.png", "where to draw the chart (default docs/load.png)"),
        ("--deflate", "every client offers permessage-deflate (no chart unless --chart)"),
        (
            "floor-server [ADDR]",
            "be the raw TCP floor server (floor-uring-server: on io_uring; default \
             127.0.0.1:8090)",
        ),
    ],
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(uring) = args.first().and_then(|a| match a.as_str() {
        "floor-server" => Some(false),
        "floor-uring-server" => Some(true),
        _ => None,
    }) {
        let addr = USAGE.parse(|args| {
            args.next()?; // the command
            let addr = match args.next()? {
                Some(addr) => cli::address(addr)?,
                None => "127.0.0.1:8090".into(),
            };
            match args.next()? {
                Some(extra) => Err(args.unexpected(&extra)),
                None => Ok(addr),
            }
        });
        if let Err(e) = serve_floor(&addr, uring) {
            USAGE.say(format_args!("floor server on {addr}: {e}"));
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("gen") {
        let gen_args = match gen_args(&args[1..]) {
            Ok(gen_args) => gen_args,
            Err(e) => USAGE.exit(cli::Stop::Bad(format!("gen: {e}"))),
        };
        let floor = args.iter().any(|a| a == "--floor");
        let on_uring = args.iter().any(|a| a == "--uring");
        let result = match (floor, on_uring) {
            #[cfg(target_os = "linux")]
            (true, true) => uring::generate_floor(gen_args),
            (true, _) => floor::generate(gen_args),
            #[cfg(target_os = "linux")]
            (false, true) => uring::generate_ws(gen_args),
            _ => generator::run(gen_args),
        };
        if let Err(e) = result {
            eprintln!("generator: {e}");
            // The orchestrator shows this line as the reason the generator ended early.
            println!("failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let options = USAGE.parse(parse);
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all();
        default_hook(info);
    }));
    if let Err(e) = generator_exe() {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
    let code = match orchestrate(&options) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("load: {e}");
            1
        }
    };
    kill_all();
    if let Ok(copy) = generator_exe() {
        let _ = std::fs::remove_file(copy);
    }
    std::process::exit(code);
}

/// The floor server, on mio or on io_uring (Linux).
fn serve_floor(addr: &str, uring: bool) -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(target_os = "linux")]
    if uring {
        return uring::serve(addr);
    }
    if uring {
        return Err("io_uring is Linux only".into());
    }
    floor::serve(addr)
}

fn parse(args: &mut cli::Args) -> Result<Options, cli::Stop> {
    let bad = |message: String| cli::Stop::Bad(message);
    let mut options = Options {
        sizes: vec![1_000, 10_000, 100_000],
        room_size: ROOM_SIZE,
        seconds: 30,
        servers: vec![Server::Sockless, Server::Tokio, Server::Node],
        chart: None,
        deflate: false,
    };
    while let Some(flag) = args.next()? {
        match flag.as_str() {
            "--deflate" => options.deflate = true,
            "--sizes" => {
                let value = args.value(&flag, "N,N,...")?;
                options.sizes = value
                    .split(',')
                    .map(|s| match s.replace('_', "").parse() {
                        Ok(0) | Err(_) => Err(cli::bad_value(
                            "--sizes",
                            s,
                            "numbers of clients, at least 1, such as 1000,10000",
                        )),
                        Ok(size) => Ok(size),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--room-size" => {
                let value = args.value(&flag, "N")?;
                options.room_size = match value.replace('_', "").parse() {
                    Ok(0) | Err(_) => {
                        return Err(cli::bad_value(&flag, &value, "a whole number, at least 1"));
                    }
                    Ok(size) => size,
                };
            }
            "--seconds" => {
                let value = args.value(&flag, "S")?;
                options.seconds = match value.parse() {
                    Ok(seconds @ 1..=600) => seconds,
                    _ => return Err(cli::bad_value(&flag, &value, "whole seconds, 1 to 600")),
                };
            }
            "--servers" => {
                let value = args.value(&flag, "NAME,...")?;
                options.servers = value
                    .split(',')
                    .map(|s| match s {
                        "sockless" => Ok(Server::Sockless),
                        "sockless-redis" => Ok(Server::SocklessRedis),
                        "tokio" => Ok(Server::Tokio),
                        "node" => Ok(Server::Node),
                        "floor" => Ok(Server::Floor),
                        "floor-uring" if cfg!(target_os = "linux") => Ok(Server::FloorUring),
                        "sockless-uring" if cfg!(target_os = "linux") => Ok(Server::SocklessUring),
                        other => Err(cli::bad_value(
                            "--servers",
                            other,
                            "sockless, sockless-redis, sockless-uring, tokio, node, floor or \
                             floor-uring",
                        )),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--chart" => options.chart = Some(PathBuf::from(args.value(&flag, "FILE.png")?)),
            _ => return Err(args.unexpected(&flag)),
        }
    }
    if let Some(&size) = options.sizes.iter().find(|&&n| n % options.room_size != 0) {
        return Err(bad(format!(
            "the room size {} must divide every size: {size} clients are not whole rooms",
            options.room_size
        )));
    }
    if options.chart.is_none() && !options.deflate {
        options.chart = Some(root().join("docs/load.png"));
    }
    if options.deflate {
        for server in options.servers.iter().filter(|s| !s.has_deflate()) {
            eprintln!(
                "load: {} has no permessage-deflate: skipped with --deflate",
                server.label()
            );
        }
        options.servers.retain(|s| s.has_deflate());
        if options.servers.is_empty() {
            return Err(bad("none of these servers has permessage-deflate".into()));
        }
    }
    Ok(options)
}

/// The generator's arguments (`load gen ...`, given by the orchestrator).
fn gen_args(args: &[String]) -> Result<generator::Args, String> {
    let get = |name: &str| -> Result<String, String> {
        let at = args.iter().position(|a| a == name);
        at.and_then(|at| args.get(at + 1))
            .cloned()
            .ok_or(format!("missing {name}"))
    };
    let num = |name: &str| -> Result<usize, String> {
        let value = get(name)?;
        value
            .parse()
            .map_err(|_| format!("bad value '{value}' for {name} (expected a number)"))
    };
    Ok(generator::Args {
        urls: get("--urls")?.split(',').map(String::from).collect(),
        first_room: num("--first-room")?,
        rooms: num("--rooms")?,
        room_size: num("--room-size")?,
        total_rooms: num("--total-rooms")?,
        seconds: num("--seconds")? as u64,
        src_prefix: get("--src")?,
        deflate: args.iter().any(|a| a == "--deflate"),
    })
}

/// A private copy of this executable for the generator processes, so that a rebuild of
/// the crate during a long run (which replaces the file) cannot take it away.
fn generator_exe() -> Result<PathBuf, String> {
    static COPY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let copy = std::env::temp_dir().join(format!("sockless-load-{}", std::process::id()));
        std::fs::copy(&me, &copy).map_err(|e| format!("copying {}: {e}", me.display()))?;
        Ok(copy)
    })
    .clone()
}

fn run_quiet(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{what}: {e}"))?;
    if !status.success() {
        return Err(format!("{what} failed: {status}"));
    }
    Ok(())
}

fn orchestrate(options: &Options) -> Result<(), String> {
    let root = root();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Build what will run: the chat (the package sockless-chat of the crate's workspace),
    // and the tokio peer.
    if options.servers.iter().any(|s| {
        matches!(
            s,
            Server::Sockless | Server::SocklessRedis | Server::SocklessUring
        )
    }) {
        run_quiet(
            Command::new("cargo")
                .args(["build", "--release", "-p", "sockless-chat", "--manifest-path"])
                .arg(root.join("Cargo.toml")),
            "building the chat example",
        )?;
    }
    if options.servers.contains(&Server::Tokio) {
        run_quiet(
            Command::new("cargo")
                .args([
                    "build",
                    "--release",
                    "--bin",
                    "tokio_chat",
                    "--manifest-path",
                ])
                .arg(here.join("Cargo.toml")),
            "building tokio_chat",
        )?;
    }
    if options.servers.contains(&Server::Node) && !here.join("node/node_modules/ws").exists() {
        run_quiet(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent"])
                .current_dir(here.join("node")),
            "npm install in benches/load/node",
        )?;
    }
    eprintln!(
        "load: open files {} per process, ephemeral ports {}",
        limit_nofile(),
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap_or_default()
            .trim()
    );
    let mut rows = Vec::new();
    let mut run = 0;
    for &size in &options.sizes {
        for &server in &options.servers {
            run += 1;
            let with = if options.deflate {
                " with permessage-deflate"
            } else {
                ""
            };
            eprintln!("load: {} with {size} clients{with} ...", server.label());
            let row = match measure(server, size, options, run) {
                Ok(row) => row,
                Err(e) => {
                    eprintln!("load: {} at {size}: {e}", server.label());
                    failed_row(server, size, options, e)
                }
            };
            eprintln!("{}", row_line(&row, floor_of(&rows, &row)));
            if row.deflate {
                eprintln!(
                    "load: at most {} connections held an inflater of their own at once",
                    row.inflaters_held
                );
            }
            rows.push(row);
        }
    }
    println!("{}", table(&rows, options.seconds, options.room_size));
    let Some(path) = &options.chart else {
        eprintln!("load: no chart with --deflate unless --chart is given");
        return Ok(());
    };
    if let Err(e) = chart::draw(&rows, path) {
        eprintln!("load: chart not drawn: {e}");
    } else {
        eprintln!("load: chart written to {}", path.display());
    }
    Ok(())
}

fn failed_row(server: Server, clients: usize, options: &Options, note: String) -> Row {
    Row {
        server,
        room_size: options.room_size,
        cpu_seconds: f64::NAN,
        deflate: options.deflate,
        clients,
        shards: 0,
        generators: 0,
        connect: Duration::ZERO,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        max_ms: f64::NAN,
        expected: 0,
        delivered: 0,
        missing: 0,
        failures: 0,
        cpu_percent: f64::NAN,
        gen_cpu_percent: f64::NAN,
        machine_busy: f64::NAN,
        rss_per_conn: f64::NAN,
        rss_total: 0,
        gen_rss: 0,
        inflaters_held: 0,
        wire_bytes: 0,
        text_bytes: 0,
        sent_compressed: 0,
        sent_plain: 0,
        late: 0,
        note,
    }
}

fn limit_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// CPU time of every thread of `pid`, in nanoseconds (schedstat: finer than the clock
/// ticks of stat, which at 1,000 clients count a dozen ticks a run).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return cpu_ticks(pid) * 1_000_000_000 / clock_ticks();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn clock_ticks() -> u64 {
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as u64
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12) // fields 14 and 15 of stat(5), counted from field 3
}

/// VmRSS of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    memory(&pid.to_string(), "VmRSS:")
}

/// A memory `field` of /proc/`process`/status ("self" or a pid), in bytes.
pub fn memory(process: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Busy and total jiffies of the whole machine (all cores), from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The first of `count` ports in a row on 127.0.0.1 that nothing listens on: another run
/// on the same machine (another benchmark, with SO_REUSEPORT) must not share our port,
/// or the kernel would hand it some of our clients. Starts from a place that depends on
/// this process and `run`, and checks each port by binding it (without SO_REUSEPORT).
fn free_ports(run: usize, count: usize) -> Result<u16, String> {
    let start = (std::process::id() as usize * 7 + run) % 400;
    for slot in (0..400).map(|i| (start + i) % 400) {
        let base = 20_000 + slot * 20;
        if (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", (base + i) as u16)).is_ok())
        {
            return Ok(base as u16);
        }
    }
    Err("no free range of ports between 20,000 and 28,000".into())
}

/// How many sockets listen on `port` of 127.0.0.1 (each SO_REUSEPORT process has its own).
fn listeners(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A")
        })
        .count()
}

fn alive(children: &mut [Child]) -> bool {
    children
        .iter_mut()
        .all(|c| matches!(c.try_wait(), Ok(None)))
}

fn measure(server: Server, clients: usize, options: &Options, run: usize) -> Result<Row, String> {
    let (seconds, deflate, room_size) = (options.seconds, options.deflate, options.room_size);
    let on_redis = server == Server::SocklessRedis;
    let shards = if on_redis {
        // At least two chat processes, so that every room spans processes.
        redis::processes(clients)
    } else if clients <= ONE_PROCESS {
        1
    } else {
        clients.div_ceil(SHARD_CLIENTS)
    };
    let rooms = clients / room_size;
    let generators = clients.div_ceil(GEN_CLIENTS);
    // On Redis: the chats' port, and redis-server's next to it.
    let base_port = free_ports(run, if on_redis { 2 } else { shards })?;
    // With rooms of 1, processes that can share one port do (the kernel spreads the
    // connections); otherwise each listens on its own and owns the rooms hashed to it. The
    // chats on Redis always share one: any of them serves any room.
    let shared_port = on_redis || (room_size == 1 && server.reuses_port());
    let addrs: Vec<String> = (0..shards)
        .map(|s| {
            format!(
                "127.0.0.1:{}",
                base_port as usize + if shared_port { 0 } else { s }
            )
        })
        .collect();
    if shared_port {
        // SO_REUSEPORT spreads by a hash of the addresses: allow a little unevenness.
        if (clients / shards) as u64 * 11 / 10 + 100 > limit_nofile() {
            return Err(format!(
                "{shards} processes would hold about {} connections each, near the open-files cap",
                clients / shards
            ));
        }
    } else {
        // Each shard holds the rooms hashed to it: it must stay under the open-files cap.
        let mut per_shard = vec![0usize; shards];
        for room in 0..rooms {
            per_shard[generator::shard_of(&generator::room_name(room), shards)] += room_size;
        }
        let busiest = per_shard.iter().max().copied().unwrap_or(0);
        if busiest as u64 + 100 > limit_nofile() {
            return Err(format!(
                "a shard would hold {busiest} connections, over the open-files cap"
            ));
        }
    }
    let mut servers: Vec<Child> = Vec::new();
    let result = (|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let redis_port = base_port + 1;
        if on_redis {
            servers.push(spawn(&mut redis::server(redis_port)).map_err(|e| {
                format!("starting redis-server: {e} (apt-get install redis-server)")
            })?);
            redis::wait(redis_port)?;
        }
        for addr in &addrs {
            let mut command = match server {
                Server::Floor => {
                    let mut c = Command::new(generator_exe()?);
                    c.args(["floor-server", addr]);
                    c
                }
                Server::FloorUring => {
                    let mut c = Command::new(generator_exe()?);
                    c.args(["floor-uring-server", addr]);
                    c
                }
                Server::Sockless => {
                    let mut c = Command::new(root().join("target/release/chat"));
                    c.arg(addr);
                    c
                }
                Server::SocklessRedis => redis::chat(
                    &root().join("target/release/chat"),
                    addr,
                    redis_port,
                ),
                Server::SocklessUring => {
                    let mut c = Command::new(root().join("target/release/chat"));
                    c.args(["--io-uring", addr]);
                    c
                }
                Server::Tokio => {
                    let mut c = Command::new(here.join("target/release/tokio_chat"));
                    c.arg(addr);
                    c
                }
                Server::Node => {
                    let mut c = Command::new("node");
                    c.arg(here.join("node/chat.mjs")).arg(addr);
                    if deflate {
                        c.arg("--deflate");
                    }
                    c
                }
            };
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            servers.push(spawn(&mut command).map_err(|e| format!("starting the server: {e}"))?);
        }
        if on_redis {
            // redis-server last, so that it is stopped after the chats: they do not see it go.
            servers.rotate_left(1);
        }
        // Listening? Every process, also when they share a port.
        let deadline = Instant::now() + Duration::from_secs(30);
        for addr in &addrs {
            while TcpStream::connect(addr).is_err() {
                if Instant::now() > deadline || !alive(&mut servers) {
                    return Err(format!("the server on {addr} did not start listening"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if shared_port {
            let port = base_port;
            // (redis-server listens on a port of its own.)
            while listeners(port) < shards {
                if Instant::now() > deadline || !alive(&mut servers) {
                    return Err(format!("not all {shards} processes listen on port {port}"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        let pids: Vec<u32> = servers.iter().map(Child::id).collect();
        let baseline: u64 = pids.iter().map(|&p| rss(p)).sum();

        // The generators, each with whole rooms.
        let mut unique = addrs.clone();
        unique.dedup();
        let urls = unique
            .iter()
            .map(|a| format!("ws://{a}/chat"))
            .collect::<Vec<_>>()
            .join(",");
        let per_gen = rooms.div_ceil(generators);
        let exe = generator_exe()?;
        let (tx, rx) = mpsc::channel::<(usize, String)>();
        let mut gens: Vec<Child> = Vec::new();
        let mut stdins: Vec<ChildStdin> = Vec::new();
        let started = Instant::now();
        for g in 0..generators {
            let first = g * per_gen;
            let count = per_gen.min(rooms - first);
            let mut command = Command::new(&exe);
            command
                .args(["gen", "--urls", &urls])
                .args([
                    "--first-room",
                    &first.to_string(),
                    "--rooms",
                    &count.to_string(),
                ])
                .args(["--room-size", &room_size.to_string()])
                .args([
                    "--total-rooms",
                    &rooms.to_string(),
                    "--seconds",
                    &seconds.to_string(),
                ])
                // A source network per run and generator: 16 addresses, fresh ports.
                .args(["--src", &format!("127.{}.{}", run % 250 + 1, g + 1)])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            if deflate {
                command.arg("--deflate");
            }
            if matches!(server, Server::Floor | Server::FloorUring) {
                command.arg("--floor");
            }
            if server.uring() {
                command.arg("--uring");
            }
            let mut child =
                spawn(&mut command).map_err(|e| format!("starting a generator: {e}"))?;
            stdins.push(child.stdin.take().unwrap());
            let stdout = child.stdout.take().unwrap();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send((g, line)).is_err() {
                        break;
                    }
                }
                let _ = tx.send((g, "exit".into()));
            });
            gens.push(child);
        }
        drop(tx);
        let gen_pids: Vec<u32> = gens.iter().map(Child::id).collect();
        let outcome = drive(
            &rx,
            &mut stdins,
            &mut servers,
            generators,
            seconds,
            &pids,
            &gen_pids,
            baseline,
            started,
        );
        if outcome.is_err() {
            stop(&mut gens);
        }
        let (connect, (cpu, cpu_seconds), gen_cpu, busy, rss_total, rss_delta, lines) = outcome?;
        for g in gens.iter_mut() {
            let _ = g.wait();
        }
        let mut hist = Histogram::new();
        let (mut expected, mut delivered, mut missing, mut failures) = (0, 0, 0, 0);
        let (mut wire_bytes, mut text_bytes, mut sent_compressed, mut sent_plain) = (0, 0, 0, 0);
        let (mut inflaters_held, mut gen_rss, mut late) = (0, 0, 0);
        let mut notes = Vec::new();
        for (result, histogram) in lines {
            let value = |key: &str| -> u64 {
                result
                    .split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            expected += value("expected");
            delivered += value("delivered");
            missing += value("missing");
            failures += value("failures");
            wire_bytes += value("wire_bytes");
            text_bytes += value("text_bytes");
            sent_compressed += value("sent_compressed");
            sent_plain += value("sent_plain");
            inflaters_held += value("inflaters_held");
            gen_rss += value("peak_rss");
            late += value("late");
            for key in ["extra", "misrouted", "errors", "dead"] {
                if value(key) > 0 {
                    notes.push(format!("{key} {}", value(key)));
                }
            }
            hist.add_encoded(&histogram)
                .ok_or("a generator's histogram is malformed")?;
        }
        if expected == 0 {
            notes.push("nothing sent".into());
        }
        if let (true, Some(redis)) = (on_redis, servers.last()) {
            // Its RSS is in the row's memory; here alone, at the end of the run.
            eprintln!(
                "load: redis-server RSS at the end: {} MiB",
                rss(redis.id()) >> 20
            );
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Ok(Row {
            server,
            room_size,
            cpu_seconds,
            deflate,
            clients,
            shards,
            generators,
            connect,
            p50_ms: ms(hist.quantile(0.50)),
            p99_ms: ms(hist.quantile(0.99)),
            max_ms: ms(hist.max),
            expected,
            delivered,
            missing,
            failures,
            cpu_percent: cpu,
            gen_cpu_percent: gen_cpu,
            machine_busy: busy,
            rss_per_conn: rss_delta as f64 / clients as f64,
            rss_total,
            gen_rss,
            inflaters_held,
            wire_bytes,
            text_bytes,
            sent_compressed,
            sent_plain,
            late,
            note: notes.join(", "),
        })
    })();
    stop(&mut servers);
    result
}

/// Connect time, server CPU (percent of a core, seconds), generator CPU, machine busy, server
/// RSS, its growth, and each generator's `result` and `hist` lines.
type Outcome = (
    Duration,
    (f64, f64),
    f64,
    f64,
    u64,
    i64,
    Vec<(String, String)>,
);

/// A run is stopped when the servers together hold more than this (the machine is shared).
const RSS_GUARD: u64 = 8 << 30;

/// From the generators' start to their results: connect, settle, go, sample the servers.
#[allow(clippy::too_many_arguments)]
fn drive(
    rx: &mpsc::Receiver<(usize, String)>,
    stdins: &mut [ChildStdin],
    servers: &mut [Child],
    generators: usize,
    seconds: u64,
    pids: &[u32],
    gen_pids: &[u32],
    baseline: u64,
    started: Instant,
) -> Result<Outcome, String> {
    let mut connected = 0;
    let mut ready = 0;
    let mut connect = Duration::ZERO;
    let mut failures = 0u64;
    let wait = |bound: Duration, what: &str| -> Result<(usize, String), String> {
        rx.recv_timeout(bound)
            .map_err(|_| format!("no {what} from the generators within {bound:?}"))
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while connected < generators || ready < generators {
        let (g, line) = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(got) => got,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now_rss: u64 = pids.iter().map(|&p| rss(p)).sum();
                if now_rss > RSS_GUARD {
                    return Err(format!(
                        "stopped while connecting: the servers grew to {} MiB (guard {} MiB)",
                        now_rss >> 20,
                        RSS_GUARD >> 20
                    ));
                }
                if Instant::now() > deadline {
                    return Err("the clients did not connect and settle within 300 s".into());
                }
                continue;
            }
            Err(_) => return Err("the generators ended early".into()),
        };
        let mut words = line.split_whitespace();
        match words.next() {
            Some("connected") => {
                connected += 1;
                failures += words.nth(1).and_then(|f| f.parse().ok()).unwrap_or(0);
                connect = connect.max(started.elapsed());
            }
            Some("ready") => {
                ready += 1;
                if words.next() != Some("true") {
                    eprintln!("load: generator {g} gave up waiting for the joins to settle");
                }
            }
            _ => return Err(format!("generator {g} ended early: {line}")),
        }
    }
    if failures > 0 {
        eprintln!("load: {failures} connections failed");
    }
    if !alive(servers) {
        return Err("a server process died while the clients connected".into());
    }
    std::thread::sleep(Duration::from_millis(500));
    let cpu0: u64 = pids.iter().map(|&p| cpu_ns(p)).sum();
    let gen0: u64 = gen_pids.iter().map(|&p| cpu_ns(p)).sum();
    let machine0 = machine_ticks();
    let go = Instant::now();
    for stdin in stdins.iter_mut() {
        let _ = stdin.write_all(b"go\n");
        let _ = stdin.flush();
    }
    // Sample the servers' memory at mid-window; watch it all along.
    let mut rss_total = 0;
    let half = go + Duration::from_millis(seconds * 1000 / 2);
    let end = go + Duration::from_secs(seconds);
    while Instant::now() < end {
        std::thread::sleep(
            Duration::from_millis(250).min(end.saturating_duration_since(Instant::now())),
        );
        let now_rss: u64 = pids.iter().map(|&p| rss(p)).sum();
        if rss_total == 0 && Instant::now() >= half {
            rss_total = now_rss;
        }
        if now_rss > RSS_GUARD {
            return Err(format!(
                "stopped: the servers grew to {} MiB (guard {} MiB): they queue what they cannot send",
                now_rss >> 20,
                RSS_GUARD >> 20
            ));
        }
    }
    let cpu1: u64 = pids.iter().map(|&p| cpu_ns(p)).sum();
    let gen1: u64 = gen_pids.iter().map(|&p| cpu_ns(p)).sum();
    let machine1 = machine_ticks();
    let busy = (machine1.0 - machine0.0) as f64 / (machine1.1 - machine0.1).max(1) as f64 * 100.0;
    let window = go.elapsed().as_secs_f64();
    let cpu = cpu1.saturating_sub(cpu0) as f64 / 1e9 / window * 100.0;
    let gen_cpu = gen1.saturating_sub(gen0) as f64 / 1e9 / window * 100.0;
    let server_alive = alive(servers);
    let mut results: Vec<(Option<String>, Option<String>)> = vec![(None, None); generators];
    let mut done = 0;
    while done < generators {
        // Generators that fell behind the pace still send what was due, then drain.
        let (g, line) = wait(Duration::from_secs(60 + seconds), "results")?;
        if let Some(rest) = line.strip_prefix("result ") {
            results[g].0 = Some(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("hist ") {
            results[g].1 = Some(rest.to_string());
            done += 1;
        } else if line == "exit" && results[g].1.is_none() {
            return Err(format!("generator {g} ended without results"));
        }
    }
    // CPU per message counts the servers' CPU until every generator finished (what was
    // delivered late, while draining, was served then too).
    let cpu2: u64 = pids.iter().map(|&p| cpu_ns(p)).sum();
    let cpu_seconds = cpu2.max(cpu1).saturating_sub(cpu0) as f64 / 1e9;
    if !server_alive {
        eprintln!("load: a server process died during the run");
    }
    let lines = results
        .into_iter()
        .map(|(r, h)| (r.unwrap_or_default(), h.unwrap_or_default()))
        .collect();
    Ok((
        connect,
        (cpu, cpu_seconds),
        gen_cpu,
        busy,
        rss_total,
        rss_total as i64 - baseline as i64,
        lines,
    ))
}

/// The row of `row`'s floor (same I/O model, same size) among `rows`, if measured.
fn floor_of<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.server == row.server.floor() && r.clients == row.clients)
}

/// Server CPU time per delivered message, in microseconds.
fn cpu_per_message(row: &Row) -> f64 {
    if row.delivered == 0 {
        return f64::NAN;
    }
    row.cpu_seconds * 1e6 / row.delivered as f64
}

/// CPU per message and p99 against the floor's.
fn against_floor(row: &Row, floor: Option<&Row>) -> String {
    let Some(floor) = floor else {
        return "-".into();
    };
    if floor.server == row.server {
        return "1.00x".into();
    }
    let cpu = cpu_per_message(row) / cpu_per_message(floor);
    let p99 = row.p99_ms / floor.p99_ms;
    if !cpu.is_finite() {
        return "-".into();
    }
    if p99.is_finite() {
        format!("CPU {cpu:.2}x, p99 {p99:.1}x")
    } else {
        format!("CPU {cpu:.2}x")
    }
}

fn row_line(row: &Row, floor: Option<&Row>) -> String {
    let verdict =
        if row.expected > 0 && row.missing == 0 && row.failures == 0 && row.note.is_empty() {
            "all delivered"
        } else {
            "FAILED"
        };
    format!(
        "| {}{} | {} | {} / {} | {:.1} s | {:.1} | {:.1} | {:.1} | {} / {} ({}) | {} | {} | {:.0}% | {:.1} µs | {} | {:.0}% | {:.0} MiB | {:.0}% | {} | {:.0} MiB | {}{}{}{} |",
        row.server.label(),
        if row.deflate { " + deflate" } else { "" },
        thousands(row.clients as u64),
        row.shards,
        row.generators,
        row.connect.as_secs_f64(),
        row.p50_ms,
        row.p99_ms,
        row.max_ms,
        thousands(row.delivered),
        thousands(row.expected),
        verdict,
        bytes_per_message(row),
        compressed_share(row),
        row.cpu_percent,
        cpu_per_message(row),
        against_floor(row, floor),
        row.gen_cpu_percent,
        row.gen_rss as f64 / (1 << 20) as f64,
        row.machine_busy,
        if row.rss_per_conn.is_nan() {
            "-".into()
        } else {
            format!("{:.2} KiB", row.rss_per_conn / 1024.0)
        },
        row.rss_total as f64 / (1 << 20) as f64,
        if row.failures > 0 {
            format!("{} connections failed; ", row.failures)
        } else {
            String::new()
        },
        if row.missing > 0 {
            format!("{} missing; ", thousands(row.missing))
        } else {
            String::new()
        },
        if row.late > 0 {
            format!(
                "{} sent over 100 ms late (the generators could not keep the pace); ",
                thousands(row.late)
            )
        } else {
            String::new()
        },
        row.note,
    )
}

/// What the clients read per delivered message: on the wire (frame headers included), and
/// the message's JSON.
fn bytes_per_message(row: &Row) -> String {
    if row.delivered == 0 {
        return "-".into();
    }
    let per = |bytes: u64| bytes as f64 / row.delivered as f64;
    format!(
        "{:.1} B ({:.1} B of JSON)",
        per(row.wire_bytes),
        per(row.text_bytes)
    )
}

/// The share of the clients' messages sent compressed (with permessage-deflate).
fn compressed_share(row: &Row) -> String {
    let sent = row.sent_compressed + row.sent_plain;
    if !row.deflate || sent == 0 {
        return "-".into();
    }
    format!("{:.0}%", row.sent_compressed as f64 / sent as f64 * 100.0)
}

fn table(rows: &[Row], seconds: u64, room_size: usize) -> String {
    let mut out = format!(
        "Chat load: rooms of {room_size}, each client sends 1 message/s for {seconds} s; latency = \
         send to delivery at every member (sender included). CPU per message: server CPU time \
         from the start of sending until every generator finished / messages delivered; x floor: against the floor of the same I/O model \
         at the same size in this run.\n\n\
         | server | clients | server processes / generators | connect | p50 ms | p99 ms | max ms | \
         delivered / expected | bytes read / delivered message | client messages sent compressed | \
         server CPU (100% = 1 core) | CPU per message | x floor | generator CPU | generator peak RSS | machine busy (both cores) | server RSS / connection | server RSS | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|\n"
    );
    for row in rows {
        out.push_str(&row_line(row, floor_of(rows, row)));
        out.push('\n');
    }
    out
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options of a command line, or the line its error prints after `load: `.
    fn parse_line(line: &str) -> Result<Options, String> {
        parse(&mut USAGE.args(line.split_whitespace().map(String::from))).map_err(|stop| {
            match stop {
                cli::Stop::Bad(message) => message,
                cli::Stop::Help => "help".into(),
            }
        })
    }

    #[test]
    fn room_size_defaults_to_100_and_takes_any_divisor() {
        assert_eq!(parse_line("--sizes 1000").unwrap().room_size, 100);
        let options = parse_line("--sizes 1000,10000,100000 --room-size 1").unwrap();
        assert_eq!(
            (options.room_size, options.sizes),
            (1, vec![1000, 10000, 100000])
        );
        assert_eq!(
            parse_line("--sizes 1200 --room-size 3")
                .unwrap()
                .room_size,
            3
        );
        // The order of the flags does not matter.
        assert_eq!(
            parse_line("--room-size 7 --sizes 700").unwrap().room_size,
            7
        );
    }

    #[test]
    fn a_room_size_that_does_not_divide_a_size_is_refused() {
        let error = parse_line("--sizes 1000,10050 --room-size 100").unwrap_err();
        assert_eq!(
            error,
            "the room size 100 must divide every size: 10050 clients are not whole rooms"
        );
        assert_eq!(
            parse_line("--room-size 0").unwrap_err(),
            "bad value '0' for --room-size (expected a whole number, at least 1)"
        );
        assert_eq!(
            parse_line("--room-size ten").unwrap_err(),
            "bad value 'ten' for --room-size (expected a whole number, at least 1)"
        );
        assert_eq!(
            parse_line("--room-size").unwrap_err(),
            "--room-size needs a value (expected --room-size N)"
        );
        // The default sizes are in rooms of 100, not of 300.
        assert!(parse_line("--room-size 300").is_err());
    }

    #[test]
    fn servers_by_name_with_their_floor() {
        let options = parse_line("--servers sockless,sockless-redis,floor").unwrap();
        assert_eq!(
            options.servers,
            [Server::Sockless, Server::SocklessRedis, Server::Floor]
        );
        for server in options.servers {
            assert_eq!(server.floor(), Server::Floor);
            assert_eq!(
                parse_line(&format!("--servers {}", server.name()))
                    .unwrap()
                    .servers,
                [server]
            );
        }
        assert_eq!(
            parse_line("--servers floor2").unwrap_err(),
            "bad value 'floor2' for --servers (expected sockless, sockless-redis, \
             sockless-uring, tokio, node, floor or floor-uring)"
        );
        // The floor has no permessage-deflate: skipped with --deflate.
        assert_eq!(
            parse_line("--servers sockless,floor,sockless-redis --deflate")
                .unwrap()
                .servers,
            [Server::Sockless, Server::SocklessRedis]
        );
        // The chats on Redis share one port, on mio generators.
        assert!(Server::SocklessRedis.reuses_port());
        assert!(!Server::SocklessRedis.uring());
    }

    #[test]
    fn help_and_bad_arguments_name_themselves() {
        assert_eq!(parse_line("--seconds 5 --help").unwrap_err(), "help");
        assert_eq!(parse_line("-h").unwrap_err(), "help");
        assert_eq!(
            parse_line("--seconds 5 --nonsense").unwrap_err(),
            format!("unexpected argument '--nonsense' (expected {})", USAGE.synopsis)
        );
        assert_eq!(
            parse_line("--seconds 0").unwrap_err(),
            "bad value '0' for --seconds (expected whole seconds, 1 to 600)"
        );
        assert_eq!(
            parse_line("--sizes 1000,lots").unwrap_err(),
            "bad value 'lots' for --sizes (expected numbers of clients, at least 1, such as \
             1000,10000)"
        );
    }
}
