//! The load client, the same for every server: raw WebSocket over tokio `TcpStream`s, on a
//! current-thread runtime pinned to [`CLIENT_CORE`](crate::sys::CLIENT_CORE). It writes
//! masked frames it encodes itself (22 bytes of work for a 16-byte message, one patched
//! prefix for a 1 MiB one) and checks every echoed frame: header, length, and payload,
//! which carries the connection and sequence number, so a lost, repeated, reordered or
//! corrupted echo fails the run.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::sys::{CpuMark, CpuUse};

pub type Result<T> = std::result::Result<T, String>;

/// The RFC 6455 example key and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Bounds on every wait, so that no run can hang.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection `index` comes from 127.0.0.(10 + index % 64): 64 source addresses, so that
/// 10,000 connections per run, and the TIME_WAITs of earlier runs, never use up the
/// ephemeral ports of one address.
fn source(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + (index % 64) as u8)
}

/// Connects from `source(index)` and completes the opening handshake.
pub async fn open(port: u16, index: usize) -> Result<TcpStream> {
    let handshake = async {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket
            .bind(SocketAddr::from((source(index), 0)))
            .map_err(|e| format!("bind {}: {e}", source(index)))?;
        let mut stream = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let request = format!(
            "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("request: {e}"))?;
        let mut head = [0u8; 1024];
        let mut len = 0;
        while !head[..len].ends_with(b"\r\n\r\n") {
            if len == head.len() {
                return Err("response head over 1 KiB".to_string());
            }
            // One byte at a time: nothing after the head may be consumed here.
            let n = stream
                .read(&mut head[len..len + 1])
                .await
                .map_err(|e| format!("response: {e}"))?;
            if n == 0 {
                return Err("connection closed during the handshake".to_string());
            }
            len += n;
        }
        let head = String::from_utf8_lossy(&head[..len]);
        if !head.starts_with("HTTP/1.1 101") || !head.contains(ACCEPT) {
            return Err(format!("bad handshake response: {head:?}"));
        }
        Ok(stream)
    };
    timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| "handshake timed out".to_string())?
}

/// `count` connections, opened `CONCURRENT` at a time (a listen backlog is finite).
pub async fn open_many(port: u16, count: usize) -> Result<Vec<TcpStream>> {
    const CONCURRENT: usize = 100;
    let mut streams = Vec::with_capacity(count);
    for start in (0..count).step_by(CONCURRENT) {
        let end = (start + CONCURRENT).min(count);
        for stream in join_all((start..end).map(|i| open(port, i))).await {
            streams.push(stream?);
        }
    }
    Ok(streams)
}

/// Appends a masked client frame (FIN set) with `opcode` and a payload under 126 bytes.
fn push_small_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    out.push(0x80 | payload.len() as u8);
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// The 16-byte payload of message `seq` on connection `conn`.
fn small_payload(conn: u64, seq: u64) -> [u8; 16] {
    let mut payload = [0u8; 16];
    payload[..8].copy_from_slice(&seq.to_le_bytes());
    payload[8..].copy_from_slice(&conn.to_le_bytes());
    payload
}

fn mask_for(conn: u64, seq: u64) -> [u8; 4] {
    ((seq ^ conn << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32)
        .to_le_bytes()[..4]
        .try_into()
        .unwrap()
}

/// Sends a Close (1000) and waits, bounded, for the server's Close and end of stream.
/// Anything else arriving first is an error: every echo was already counted.
pub async fn close(mut stream: TcpStream) -> Result<()> {
    let closing = async {
        let mut frame = Vec::new();
        push_small_frame(&mut frame, 0x8, &1000u16.to_be_bytes(), [1, 2, 3, 4]);
        stream.write_all(&frame).await.map_err(|e| format!("close: {e}"))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = stream.read(&mut buf).await.map_err(|e| format!("close: {e}"))?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.len() > 256 {
                break;
            }
        }
        if got.first() != Some(&0x88) {
            return Err(format!("expected the server's Close, got {:?}", &got[..got.len().min(16)]));
        }
        Ok(())
    };
    timeout(CLOSE_TIMEOUT, closing)
        .await
        .map_err(|_| "closing handshake timed out".to_string())?
}

/// Messages per batch write, and at most two batches in flight per connection: a window
/// small enough that no echo ever waits for the client to read (512 echoes of 18 bytes
/// fit any socket buffer), so a connection never deadlocks, and large enough to keep the
/// server busy.
const BATCH: u64 = 256;
pub const WINDOW: u64 = 2 * BATCH;
/// A 16-byte message echoed by the server: FIN + binary, length 16, no mask.
const ECHO_LEN: usize = 18;

/// Pipelines `count` 16-byte messages over `stream` and checks every echo. Returns when
/// the last echo arrived.
async fn pipeline_small(stream: &mut TcpStream, conn: u64, count: u64) -> Result<Instant> {
    let mut out = Vec::with_capacity(BATCH as usize * 22);
    let mut input = vec![0u8; 64 * 1024];
    let (mut filled, mut sent, mut received) = (0, 0u64, 0u64);
    while received < count {
        while sent < count && sent + BATCH <= received + WINDOW {
            out.clear();
            let end = (sent + BATCH).min(count);
            for seq in sent..end {
                push_small_frame(&mut out, 0x2, &small_payload(conn, seq), mask_for(conn, seq));
            }
            stream.write_all(&out).await.map_err(|e| format!("write: {e}"))?;
            sent = end;
        }
        let n = stream
            .read(&mut input[filled..])
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("connection {conn} closed after {received} echoes"));
        }
        filled += n;
        let whole = filled / ECHO_LEN * ECHO_LEN;
        for frame in input[..whole].chunks_exact(ECHO_LEN) {
            if frame[..2] != [0x82, 16] || frame[2..] != small_payload(conn, received) {
                return Err(format!(
                    "connection {conn}, echo {received}: got {frame:02x?}, want {:02x?}",
                    small_payload(conn, received)
                ));
            }
            received += 1;
        }
        input.copy_within(whole..filled, 0);
        filled -= whole;
        if received > sent {
            return Err(format!("connection {conn}: more echoes than messages"));
        }
    }
    if filled != 0 {
        return Err(format!("connection {conn}: {filled} bytes after the last echo"));
    }
    Ok(Instant::now())
}

/// `connections` connections, each pipelining `per_connection` 16-byte messages. Returns the
/// time from the first write to the last echo; connections are opened before and closed
/// (cleanly) after the timed part.
pub async fn small(
    port: u16,
    pid: u32,
    connections: usize,
    per_connection: u64,
) -> Result<(Duration, CpuUse)> {
    let mut streams = open_many(port, connections).await?;
    let cpu = CpuMark::now(pid);
    let start = Instant::now();
    let runs = streams
        .iter_mut()
        .enumerate()
        .map(|(conn, stream)| pipeline_small(stream, conn as u64, per_connection));
    let ends = timeout(RUN_TIMEOUT, join_all(runs))
        .await
        .map_err(|_| "run timed out".to_string())?;
    let cpu = cpu.since();
    let mut last = start;
    for end in ends {
        last = last.max(end?);
    }
    let time = last - start;
    for result in join_all(streams.into_iter().map(close)).await {
        result?;
    }
    Ok((time, cpu))
}

pub const MIB: usize = 1024 * 1024;
/// 1 MiB messages in flight on the connection at most.
const LARGE_WINDOW: usize = 4;

/// Byte `i` of every 1 MiB payload (the first 8 bytes carry the message's number instead).
fn large_byte(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ i >> 12) as u8
}

/// One connection, `count` binary messages of 1 MiB, at most [`LARGE_WINDOW`] in flight;
/// every echoed byte checked. Returns the time from the first write to the last echo.
pub async fn large(port: u16, pid: u32, count: usize) -> Result<(Duration, CpuUse)> {
    let stream = open(port, 0).await?;
    let mask = [0x5a, 0xc3, 0x17, 0x88];
    let payload: Vec<u8> = (0..MIB).map(large_byte).collect();
    // Client frame: FIN + binary, 127 (64-bit length), the length, the mask, masked data.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(MIB as u64).to_be_bytes());
    frame.extend_from_slice(&mask);
    let header = frame.len();
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let (mut reader, mut writer) = stream.into_split();
    let window = tokio::sync::Semaphore::new(LARGE_WINDOW);
    let cpu = CpuMark::now(pid);
    let start = Instant::now();
    let write = async {
        for index in 0..count as u64 {
            window.acquire().await.map_err(|e| e.to_string())?.forget();
            for (i, b) in index.to_le_bytes().into_iter().enumerate() {
                frame[header + i] = b ^ mask[i % 4];
            }
            writer.write_all(&frame).await.map_err(|e| format!("write: {e}"))?;
        }
        Ok::<_, String>(())
    };
    let read = async {
        let mut echo = vec![0u8; MIB];
        for index in 0..count as u64 {
            let mut head = [0u8; 10];
            reader.read_exact(&mut head).await.map_err(|e| format!("read: {e}"))?;
            let mut want = [0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0];
            want[2..].copy_from_slice(&(MIB as u64).to_be_bytes());
            if head != want {
                return Err(format!("echo {index}: header {head:02x?}"));
            }
            reader.read_exact(&mut echo).await.map_err(|e| format!("read: {e}"))?;
            if echo[..8] != index.to_le_bytes() || echo[8..] != payload[8..] {
                return Err(format!("echo {index}: payload differs"));
            }
            window.add_permits(1);
        }
        Ok(Instant::now())
    };
    let (written, last) = timeout(RUN_TIMEOUT, futures_util::future::join(write, read))
        .await
        .map_err(|_| "run timed out".to_string())?;
    let cpu = cpu.since();
    written?;
    let time = last? - start;
    close(reader.reunite(writer).map_err(|e| e.to_string())?).await?;
    Ok((time, cpu))
}

/// Per-connection memory of the server with process id `pid`: RSS growth (bytes) over
/// `count` connections that completed the handshake and then stayed idle, and again after
/// each of them echoed one 16-byte message. The connections are left open for the caller
/// to drop after the server is gone.
pub async fn idle(port: u16, pid: u32, count: usize) -> Result<(f64, f64, Vec<TcpStream>)> {
    // One connection used and closed first, so that what the first connection ever
    // allocates (runtime, buffers kept by the allocator) is in the baseline.
    let mut warm = open(port, count).await?;
    pipeline_small(&mut warm, 0, 1).await?;
    close(warm).await?;
    let settle = Duration::from_millis(300);
    tokio::time::sleep(settle).await;
    let before = crate::sys::rss(pid)?;
    let mut streams = timeout(RUN_TIMEOUT, open_many(port, count))
        .await
        .map_err(|_| "opening the idle connections timed out".to_string())??;
    tokio::time::sleep(settle).await;
    let handshaken = crate::sys::rss(pid)?;
    for chunk in streams.chunks_mut(100) {
        let echoes = chunk
            .iter_mut()
            .enumerate()
            .map(|(conn, stream)| pipeline_small(stream, conn as u64, 1));
        for echo in timeout(RUN_TIMEOUT, join_all(echoes))
            .await
            .map_err(|_| "echo on idle connections timed out".to_string())?
        {
            echo?;
        }
    }
    tokio::time::sleep(settle).await;
    let used = crate::sys::rss(pid)?;
    let per = |after: u64| (after as f64 - before as f64) / count as f64;
    Ok((per(handshaken), per(used), streams))
}
