//! `--servers sockless-redis`: the chat as several processes on one port (`SO_REUSEPORT`:
//! the kernel spreads the connections among them), sharing every room through a
//! `redis-server` of the run's own (`chat --redis`). Any process takes any client, so a
//! room's 100 members sit in every process, and each message goes through Redis once per
//! process. Redis is one of the server processes of the row: its CPU and memory count.
//!
//! The ports (the chats' one, and redis-server's next to it) come from `free_ports` like
//! every run's: with `SO_REUSEPORT`, a chat process of another run on the same port would
//! silently share its connections instead of failing to bind.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Connections per chat process (about; the kernel's spreading is by hash).
const PER_PROCESS: usize = 10_000;

/// How many chat processes for `clients`: at least two, so that every room spans
/// processes.
pub fn processes(clients: usize) -> usize {
    clients.div_ceil(PER_PROCESS).max(2)
}

/// The redis-server of a run, on `port`: loopback only, nothing written to disk.
pub fn server(port: u16) -> Command {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Wait until the redis-server on `port` accepts connections (within 10 s).
pub fn wait(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "redis-server did not listen on port {port} within 10 s (apt-get install redis-server)"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// One chat process on `addr`, sharing its rooms through the redis-server on `port`.
pub fn chat(binary: &Path, addr: &str, port: u16) -> Command {
    let mut command = Command::new(binary);
    command
        .arg(addr)
        .args(["--redis", &format!("redis://127.0.0.1:{port}/")]);
    command
}
