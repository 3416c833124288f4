//! The chat load benchmark of issue 12 (shared BENCH.md, "Many connections").
//!
//! `cargo run --release --manifest-path benches/load/Cargo.toml -- [--sizes 1000,10000,100000]
//! [--seconds 30] [--servers sockless,tokio,node] [--chart docs/load.png] [--deflate]`
//!
//! For each size and server: start the chat (one process, or shards of at most
//! `SHARD_CLIENTS` connections with rooms hashed to them), start the load generator
//! processes (each owns whole rooms), wait until every client is connected and joined,
//! then every client sends one message a second for the given seconds; each message must
//! reach the 100 members of its room. Prints a markdown table and draws the chart.
//!
//! `--deflate`: every client offers permessage-deflate (RFC 7692) as a browser does, and
//! must get it (see `deflate.rs`); only the servers that support it run (the chat, and Node
//! ws with it configured as the chat does; tokio-tungstenite has none). No chart then,
//! unless `--chart` is given.
//!
//! `load gen ...` is the generator process itself (see `generator.rs`).

mod chart;
mod deflate;
mod generator;
mod hist;
mod redis;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hist::Histogram;

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
    /// The chat as several processes on one port, rooms shared through Redis.
    SocklessRedis,
    Tokio,
    Node,
}

impl Server {
    pub fn label(self) -> &'static str {
        match self {
            Server::Sockless => "sockless (mio)",
            Server::SocklessRedis => "sockless (mio) on Redis",
            Server::Tokio => "tokio-tungstenite",
            Server::Node => "Node ws",
        }
    }

    /// Whether it runs with permessage-deflate under `--deflate` (tokio-tungstenite has
    /// none; Node ws has it configured as the chat does, see `node/chat.mjs`).
    pub fn has_deflate(self) -> bool {
        matches!(self, Server::Sockless | Server::SocklessRedis | Server::Node)
    }
}

pub struct Row {
    pub server: Server,
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
    pub note: String,
}

struct Options {
    sizes: Vec<usize>,
    seconds: u64,
    servers: Vec<Server>,
    chart: Option<PathBuf>,
    deflate: bool,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("gen") {
        if let Err(e) = generator::run(gen_args(&args[1..])) {
            eprintln!("generator: {e}");
            // The orchestrator shows this line as the reason the generator ended early.
            println!("failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}\nusage: load [--sizes 1000,10000,100000] [--seconds 30] \
                       [--servers sockless,tokio,node] [--chart docs/load.png] [--deflate]");
            std::process::exit(2);
        }
    };
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

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        sizes: vec![1_000, 10_000, 100_000],
        seconds: 30,
        servers: vec![Server::Sockless, Server::Tokio, Server::Node],
        chart: None,
        deflate: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--deflate" {
            options.deflate = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => {
                options.sizes = value
                    .split(',')
                    .map(|s| s.replace('_', "").parse().map_err(|_| format!("bad size {s}")))
                    .collect::<Result<_, _>>()?;
                if options.sizes.iter().any(|&n| n == 0 || n % ROOM_SIZE != 0) {
                    return Err(format!("sizes are multiples of the room size {ROOM_SIZE}"));
                }
            }
            "--seconds" => {
                options.seconds = value.parse().map_err(|_| "bad --seconds")?;
                if !(1..=600).contains(&options.seconds) {
                    return Err("--seconds is 1 to 600".into());
                }
            }
            "--servers" => {
                options.servers = value
                    .split(',')
                    .map(|s| match s {
                        "sockless" => Ok(Server::Sockless),
                        "sockless-redis" => Ok(Server::SocklessRedis),
                        "tokio" => Ok(Server::Tokio),
                        "node" => Ok(Server::Node),
                        other => Err(format!("unknown server {other}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--chart" => options.chart = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if options.chart.is_none() && !options.deflate {
        options.chart = Some(root().join("docs/load.png"));
    }
    if options.deflate {
        for server in options.servers.iter().filter(|s| !s.has_deflate()) {
            eprintln!("load: {} has no permessage-deflate: skipped with --deflate", server.label());
        }
        options.servers.retain(|s| s.has_deflate());
        if options.servers.is_empty() {
            return Err("none of these servers has permessage-deflate".into());
        }
    }
    Ok(options)
}

fn gen_args(args: &[String]) -> generator::Args {
    let get = |name: &str| -> String {
        let at = args.iter().position(|a| a == name).unwrap_or_else(|| panic!("missing {name}"));
        args[at + 1].clone()
    };
    let num = |name: &str| -> usize { get(name).parse().unwrap_or_else(|_| panic!("bad {name}")) };
    generator::Args {
        urls: get("--urls").split(',').map(String::from).collect(),
        first_room: num("--first-room"),
        rooms: num("--rooms"),
        room_size: num("--room-size"),
        total_rooms: num("--total-rooms"),
        seconds: num("--seconds") as u64,
        src_prefix: get("--src"),
        deflate: args.iter().any(|a| a == "--deflate"),
    }
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
    let status = command
        .status()
        .map_err(|e| format!("{what}: {e}"))?;
    if !status.success() {
        return Err(format!("{what} failed: {status}"));
    }
    Ok(())
}

fn orchestrate(options: &Options) -> Result<(), String> {
    let root = root();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Build what will run: the chat example of the crate, and the tokio peer.
    if options.servers.contains(&Server::Sockless) || options.servers.contains(&Server::SocklessRedis) {
        run_quiet(
            Command::new("cargo")
                .args(["build", "--release", "--example", "chat", "--manifest-path"])
                .arg(root.join("Cargo.toml")),
            "building the chat example",
        )?;
    }
    if options.servers.contains(&Server::Tokio) {
        run_quiet(
            Command::new("cargo")
                .args(["build", "--release", "--bin", "tokio_chat", "--manifest-path"])
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
            let with = if options.deflate { " with permessage-deflate" } else { "" };
            eprintln!("load: {} with {size} clients{with} ...", server.label());
            let row = match measure(server, size, options.seconds, run, options.deflate) {
                Ok(row) => row,
                Err(e) => {
                    eprintln!("load: {} at {size}: {e}", server.label());
                    failed_row(server, size, options.deflate, e)
                }
            };
            eprintln!("{}", row_line(&row));
            if row.deflate {
                eprintln!(
                    "load: at most {} connections held an inflater of their own at once",
                    row.inflaters_held
                );
            }
            rows.push(row);
        }
    }
    println!("{}", table(&rows, options.seconds));
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

fn failed_row(server: Server, clients: usize, deflate: bool, note: String) -> Row {
    Row {
        server,
        deflate,
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
        note,
    }
}

fn limit_nofile() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
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
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn alive(children: &mut [Child]) -> bool {
    children.iter_mut().all(|c| matches!(c.try_wait(), Ok(None)))
}

fn measure(
    server: Server,
    clients: usize,
    seconds: u64,
    run: usize,
    deflate: bool,
) -> Result<Row, String> {
    let mut shards = if clients <= ONE_PROCESS { 1 } else { clients.div_ceil(SHARD_CLIENTS) };
    if server == Server::SocklessRedis {
        // One address for the generators; the processes are counted as shards below.
        shards = 1;
    }
    let rooms = clients / ROOM_SIZE;
    let generators = clients.div_ceil(GEN_CLIENTS);
    let base_port = 20_000 + (run % 100) * 20;
    let mut addrs: Vec<String> = (0..shards).map(|s| format!("127.0.0.1:{}", base_port + s)).collect();
    if server == Server::SocklessRedis {
        addrs = vec![format!("127.0.0.1:{}", redis::free_port()?)];
    }
    // Each shard holds the rooms hashed to it: it must stay under the open-files cap.
    let mut per_shard = vec![0usize; shards];
    for room in 0..rooms {
        per_shard[generator::shard_of(&generator::room_name(room), shards)] += ROOM_SIZE;
    }
    let mut busiest = per_shard.iter().max().copied().unwrap_or(0);
    if server == Server::SocklessRedis {
        // Spread by the kernel's hash: allow a quarter more than an even share.
        busiest = clients.div_ceil(redis::processes(clients)) * 5 / 4;
    }
    if busiest as u64 + 100 > limit_nofile() {
        return Err(format!("a shard would hold {busiest} connections, over the open-files cap"));
    }
    let mut servers: Vec<Child> = Vec::new();
    let result = (|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut redis_port = 0;
        while server == Server::SocklessRedis && (redis_port == 0 || addrs[0].ends_with(&format!(":{redis_port}"))) {
            redis_port = redis::free_port()?;
        }
        let processes = redis::processes(clients);
        if server == Server::SocklessRedis {
            let redis = spawn(&mut redis::server(redis_port)).map_err(|e| format!("starting redis-server: {e}"))?;
            redis::wait(redis_port)?;
            let chat = root().join("target/release/examples/chat");
            for _ in 0..processes {
                let mut command = redis::chat(&chat, &addrs[0], redis_port);
                // Its stderr shows: its connections every 10 s, and anything about Redis.
                command.stdin(Stdio::null()).stdout(Stdio::null());
                servers.push(spawn(&mut command).map_err(|e| format!("starting the server: {e}"))?);
            }
            // Last, so that it is stopped last: the chats do not see it go.
            servers.push(redis);
        }
        for addr in addrs.iter().filter(|_| server != Server::SocklessRedis) {
            let mut command = match server {
                Server::Sockless | Server::SocklessRedis => {
                    let mut c = Command::new(root().join("target/release/examples/chat"));
                    c.arg(addr);
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
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            servers.push(spawn(&mut command).map_err(|e| format!("starting the server: {e}"))?);
        }
        // Listening?
        let deadline = Instant::now() + Duration::from_secs(30);
        for addr in &addrs {
            while TcpStream::connect(addr).is_err() {
                if Instant::now() > deadline || !alive(&mut servers) {
                    return Err(format!("the server on {addr} did not start listening"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        let pids: Vec<u32> = servers.iter().map(Child::id).collect();
        let baseline: u64 = pids.iter().map(|&p| rss(p)).sum();

        // The generators, each with whole rooms.
        let urls = addrs.iter().map(|a| format!("ws://{a}/chat")).collect::<Vec<_>>().join(",");
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
                .args(["--first-room", &first.to_string(), "--rooms", &count.to_string()])
                .args(["--room-size", &ROOM_SIZE.to_string()])
                .args(["--total-rooms", &rooms.to_string(), "--seconds", &seconds.to_string()])
                // A source network per run and generator: 16 addresses, fresh ports.
                .args(["--src", &format!("127.{}.{}", run % 250 + 1, g + 1)])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            if deflate {
                command.arg("--deflate");
            }
            let mut child = spawn(&mut command).map_err(|e| format!("starting a generator: {e}"))?;
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
            &rx, &mut stdins, &mut servers, generators, seconds, &pids, &gen_pids, baseline, started,
        );
        if outcome.is_err() {
            stop(&mut gens);
        }
        let (connect, cpu, gen_cpu, busy, rss_total, rss_delta, lines) = outcome?;
        for g in gens.iter_mut() {
            let _ = g.wait();
        }
        let mut hist = Histogram::new();
        let (mut expected, mut delivered, mut missing, mut failures) = (0, 0, 0, 0);
        let (mut wire_bytes, mut text_bytes, mut sent_compressed, mut sent_plain) = (0, 0, 0, 0);
        let (mut inflaters_held, mut gen_rss) = (0, 0);
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
            for key in ["extra", "misrouted", "errors", "dead"] {
                if value(key) > 0 {
                    notes.push(format!("{key} {}", value(key)));
                }
            }
            hist.add_encoded(&histogram).ok_or("a generator's histogram is malformed")?;
        }
        if expected == 0 {
            notes.push("nothing sent".into());
        }
        if server == Server::SocklessRedis {
            // Its RSS is in the row's memory; here alone, at the end of the run.
            eprintln!("load: redis-server RSS at the end: {} MiB", rss(servers[servers.len() - 1].id()) >> 20);
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Ok(Row {
            server,
            deflate,
            clients,
            shards: if server == Server::SocklessRedis { processes } else { shards },
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
            note: notes.join(", "),
        })
    })();
    stop(&mut servers);
    result
}

type Outcome = (Duration, f64, f64, f64, u64, i64, Vec<(String, String)>);

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
    let cpu0: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    let gen0: u64 = gen_pids.iter().map(|&p| cpu_ticks(p)).sum();
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
        std::thread::sleep(Duration::from_millis(250).min(end.saturating_duration_since(Instant::now())));
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
    let cpu1: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    let gen1: u64 = gen_pids.iter().map(|&p| cpu_ticks(p)).sum();
    let machine1 = machine_ticks();
    let busy = (machine1.0 - machine0.0) as f64 / (machine1.1 - machine0.1).max(1) as f64 * 100.0;
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (cpu1 - cpu0) as f64 / ticks / go.elapsed().as_secs_f64() * 100.0;
    let gen_cpu = (gen1 - gen0) as f64 / ticks / go.elapsed().as_secs_f64() * 100.0;
    let server_alive = alive(servers);
    let mut results: Vec<(Option<String>, Option<String>)> = vec![(None, None); generators];
    let mut done = 0;
    while done < generators {
        let (g, line) = wait(Duration::from_secs(60), "results")?;
        if let Some(rest) = line.strip_prefix("result ") {
            results[g].0 = Some(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("hist ") {
            results[g].1 = Some(rest.to_string());
            done += 1;
        } else if line == "exit" && results[g].1.is_none() {
            return Err(format!("generator {g} ended without results"));
        }
    }
    if !server_alive {
        eprintln!("load: a server process died during the run");
    }
    let lines = results
        .into_iter()
        .map(|(r, h)| (r.unwrap_or_default(), h.unwrap_or_default()))
        .collect();
    Ok((connect, cpu, gen_cpu, busy, rss_total, rss_total as i64 - baseline as i64, lines))
}

fn row_line(row: &Row) -> String {
    let verdict = if row.expected > 0 && row.missing == 0 && row.failures == 0 && row.note.is_empty() {
        "all delivered"
    } else {
        "FAILED"
    };
    format!(
        "| {}{} | {} | {} / {} | {:.1} s | {:.1} | {:.1} | {:.1} | {} / {} ({}) | {} | {} | {:.0}% | {:.0}% | {:.0} MiB | {:.0}% | {} | {:.0} MiB | {}{}{} |",
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
        row.gen_cpu_percent,
        row.gen_rss as f64 / (1 << 20) as f64,
        row.machine_busy,
        if row.rss_per_conn.is_nan() { "-".into() } else { format!("{:.2} KiB", row.rss_per_conn / 1024.0) },
        row.rss_total as f64 / (1 << 20) as f64,
        if row.failures > 0 { format!("{} connections failed; ", row.failures) } else { String::new() },
        if row.missing > 0 { format!("{} missing; ", thousands(row.missing)) } else { String::new() },
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
    format!("{:.1} B ({:.1} B of JSON)", per(row.wire_bytes), per(row.text_bytes))
}

/// The share of the clients' messages sent compressed (with permessage-deflate).
fn compressed_share(row: &Row) -> String {
    let sent = row.sent_compressed + row.sent_plain;
    if !row.deflate || sent == 0 {
        return "-".into();
    }
    format!("{:.0}%", row.sent_compressed as f64 / sent as f64 * 100.0)
}

fn table(rows: &[Row], seconds: u64) -> String {
    let mut out = format!(
        "Chat load: rooms of {ROOM_SIZE}, each client sends 1 message/s for {seconds} s; latency = \
         send to delivery at every member (sender included).\n\n\
         | server | clients | server processes / generators | connect | p50 ms | p99 ms | max ms | \
         delivered / expected | bytes read / delivered message | client messages sent compressed | \
         server CPU (100% = 1 core) | generator CPU | generator peak RSS | machine busy (both cores) | server RSS / connection | server RSS | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    );
    for row in rows {
        out.push_str(&row_line(row));
        out.push('\n');
    }
    out
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
