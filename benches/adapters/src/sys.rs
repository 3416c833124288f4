//! What the benchmark asks of the operating system: pinning to a core, a process's RSS,
//! and a line describing the machine and the date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The core the echo servers run on; the load client runs on [`CLIENT_CORE`].
pub const SERVER_CORE: usize = 0;
pub const CLIENT_CORE: usize = 1;

/// Online cores of the machine (not of our affinity mask, which a pinned parent passes on).
pub fn cores() -> usize {
    // SAFETY: sysconf only reads its argument.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Pins the calling thread (and the threads it starts later) to `core`. With one core there
/// is nothing to split, and nothing is done.
pub fn pin_to(core: usize) {
    if cores() < 2 {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it, and
    // sched_setaffinity only reads it.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    };
    if !ok {
        eprintln!(
            "warning: could not pin to core {core}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Resident set size of process `pid` in bytes (VmRSS of /proc/PID/status).
pub fn rss(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS line")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or("unreadable VmRSS")?;
    Ok(kib * 1024)
}

/// "AMD EPYC ... (2 cores), Linux 6.x": what the figures were measured on.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    format!("{cpu} ({} cores), Linux {kernel}", cores())
}

/// Today's date and time, UTC, as "YYYY-MM-DD HH:MM UTC".
pub fn date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), by 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60
    )
}

/// The versions of the peers this binary was built with, read from its Cargo.lock.
pub fn versions() -> String {
    let lock = include_str!("../Cargo.lock");
    let mut found = Vec::new();
    let mut name = "";
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"');
        } else if let Some(v) = line.strip_prefix("version = ") {
            if matches!(name, "sockless" | "tokio-tungstenite" | "fastwebsockets" | "tokio") {
                found.push(format!("{name} {}", v.trim_matches('"')));
            }
        }
    }
    found.join(", ")
}

/// CPU time (user + system) of this process so far.
pub fn own_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time (user + system) of process `pid` so far, from /proc/PID/stat (clock ticks).
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) close with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf only reads its argument.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// CPU used by the load client and by the server over a stretch of time, as fractions of
/// that time (1.0 = one core busy throughout).
#[derive(Clone, Copy, Debug)]
pub struct CpuUse {
    pub client: f64,
    pub server: f64,
}

/// Where the CPU clocks stood at the start of a stretch.
pub struct CpuMark {
    at: std::time::Instant,
    client: Duration,
    server: Duration,
    pid: u32,
}

impl CpuMark {
    pub fn now(server_pid: u32) -> CpuMark {
        CpuMark {
            at: std::time::Instant::now(),
            client: own_cpu(),
            server: cpu_of(server_pid),
            pid: server_pid,
        }
    }

    pub fn since(&self) -> CpuUse {
        let wall = self.at.elapsed().as_secs_f64();
        CpuUse {
            client: (own_cpu() - self.client).as_secs_f64() / wall,
            server: (cpu_of(self.pid) - self.server).as_secs_f64() / wall,
        }
    }
}
