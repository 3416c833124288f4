//! The embedded-io-async adapter (`sockless::io::embedded`) on embassy-executor: a server
//! task and a client task, each with a sockless `WebSocket` over a smoltcp TCP socket
//! made into an `embedded_io_async::Read + Write` transport, and a network task that
//! polls smoltcp's interface (the loopback device of the main firmware) and advances the
//! clock. The client sends text, binary, a fragmented message and a Ping; the server
//! echoes every message; the client closes with 1000. Each check prints a line over
//! semihosting, and the exit code reports the result.
//!
//! Built with `--features embassy` (run.sh runs it after the main firmware). Everything is
//! polled: a transport that cannot go on wakes its task again at once, so the executor
//! never sleeps and the run has a deadline of its own (`DEADLINE_MS` rounds of the network
//! task), after which it fails instead of hanging.

#![no_std]
#![no_main]

#[path = "../loopback.rs"]
mod loopback;
#[allow(dead_code)] // The per-call measurement is the main firmware's.
#[path = "../memory.rs"]
mod memory;

use core::cell::RefCell;
use core::convert::Infallible;
use core::future::poll_fn;
use core::mem::size_of;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::task::Poll;

use cortex_m_semihosting::{debug, hprintln};
use embassy_executor::{Executor, Spawner};
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use panic_semihosting as _;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use static_cell::{ConstStaticCell, StaticCell};

use sockless::assemble::FixedAssembler;
use sockless::io::embedded::{self, Decision, Message, ReadBuffer, Timer, WebSocket};
use sockless::rand_core::TryRng;
use sockless::{Accept, ClientRequest, CloseCode, Config, Instant, Masked, MessageKind};

use loopback::Loopback;

const INPUT: usize = 1024;
const OUTPUT: usize = 1024;
const MESSAGE: usize = 1024;
const TCP_BUFFER: usize = 1024;
const PORT: u16 = 80;
const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);
/// The whole run must end within this many rounds of the network task (one millisecond
/// of the firmware's clock each).
const DEADLINE_MS: u32 = 30_000;

/// The firmware's clock: milliseconds, advanced by the network task once per round.
static TICKS: AtomicU32 = AtomicU32::new(0);
static PASSED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);
static CLIENT_DONE: AtomicBool = AtomicBool::new(false);
static SERVER_DONE: AtomicBool = AtomicBool::new(false);

fn check(ok: bool, what: &str) {
    if ok {
        PASSED.fetch_add(1, Ordering::Relaxed);
        hprintln!("ok   {}", what);
    } else {
        FAILED.fetch_add(1, Ordering::Relaxed);
        hprintln!("FAIL {}", what);
    }
}

/// smoltcp's state, shared by the tasks of this one executor (never borrowed across an
/// `.await`).
struct Net {
    iface: Interface,
    device: &'static mut Loopback,
    sockets: SocketSet<'static>,
}

type Shared = &'static RefCell<Net>;

/// A smoltcp TCP socket as an embedded-io-async transport.
struct TcpIo {
    net: Shared,
    handle: SocketHandle,
}

/// The socket can no longer carry data.
#[derive(Debug, PartialEq, Eq)]
struct Reset;

impl core::fmt::Display for Reset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the TCP connection was reset")
    }
}

impl core::error::Error for Reset {}

impl embedded_io_async::Error for Reset {
    fn kind(&self) -> ErrorKind {
        ErrorKind::ConnectionReset
    }
}

impl ErrorType for TcpIo {
    type Error = Reset;
}

/// Whether the socket is still opening (no data can flow yet, and that is no end).
fn opening(socket: &tcp::Socket<'_>) -> bool {
    matches!(
        socket.state(),
        tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
    )
}

impl TcpIo {
    /// Run `f` on the socket until it gives a result; meanwhile the task is woken again
    /// at once (the network task polls smoltcp in between).
    async fn until<R>(&mut self, mut f: impl FnMut(&mut tcp::Socket<'static>) -> Option<R>) -> R {
        poll_fn(|cx| {
            let mut net = self.net.borrow_mut();
            match f(net.sockets.get_mut::<tcp::Socket>(self.handle)) {
                Some(result) => Poll::Ready(result),
                None => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Read for TcpIo {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Reset> {
        self.until(|socket| {
            if socket.can_recv() {
                Some(socket.recv_slice(buf).map_err(|_| Reset))
            } else if opening(socket) || socket.may_recv() {
                None
            } else {
                Some(Ok(0)) // The peer closed its side: the end of the stream.
            }
        })
        .await
    }
}

impl Write for TcpIo {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Reset> {
        self.until(|socket| {
            if socket.can_send() {
                Some(socket.send_slice(buf).map_err(|_| Reset))
            } else if opening(socket) || socket.may_send() {
                None
            } else {
                Some(Err(Reset))
            }
        })
        .await
    }

    /// Done once the peer acknowledged everything written.
    async fn flush(&mut self) -> Result<(), Reset> {
        self.until(|socket| {
            if socket.send_queue() == 0 {
                Some(Ok(()))
            } else if socket.may_send() {
                None
            } else {
                Some(Err(Reset))
            }
        })
        .await
    }
}

/// Time for the adapter: the network task's tick counter.
struct Clock;

impl Timer for Clock {
    fn now(&self) -> Instant {
        Instant::from_millis(u64::from(TICKS.load(Ordering::Relaxed)))
    }

    async fn sleep_until(&mut self, deadline: Instant) {
        poll_fn(|cx| {
            if self.now() >= deadline {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }
}

/// A small deterministic generator (xorshift32). Real firmware must draw the client's key
/// and masks from its hardware random number generator (RFC 6455 §10.3).
struct XorShift(u32);

impl TryRng for XorShift {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        Ok(x)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let high = u64::from(self.try_next_u32()?);
        Ok(high << 32 | u64::from(self.try_next_u32()?))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(4) {
            let word = self.try_next_u32()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

fn config() -> Config {
    FixedAssembler::<MESSAGE>::configure(Config::default().with_max_head_len(512))
}

type ServerSocket = WebSocket<TcpIo, Clock, &'static mut [u8; OUTPUT]>;
type ClientSocket = WebSocket<TcpIo, Clock, &'static mut [u8; OUTPUT], Masked<XorShift>>;

/// Accepts one connection with subprotocol `chat` and echoes every message until the
/// client closes, then closes TCP.
#[embassy_executor::task]
async fn server(net: Shared, handle: SocketHandle) {
    static INPUT_STORAGE: ConstStaticCell<[u8; INPUT]> = ConstStaticCell::new([0; INPUT]);
    static OUT: ConstStaticCell<[u8; OUTPUT]> = ConstStaticCell::new([0; OUTPUT]);
    static ASSEMBLER: ConstStaticCell<FixedAssembler<MESSAGE>> =
        ConstStaticCell::new(FixedAssembler::new());
    let config = config();
    let Ok(mut input) = ReadBuffer::new(&mut INPUT_STORAGE.take()[..], &config) else {
        check(false, "server: input buffer");
        return;
    };
    let assembler = ASSEMBLER.take();
    let io = TcpIo { net, handle };
    let decide = |request: &sockless::Request<'_>| {
        if request.offers_subprotocol("chat") {
            Decision::Accept(Accept::default().with_subprotocol("chat"))
        } else {
            Decision::default_for(request)
        }
    };
    let accepted =
        ServerSocket::accept_with(io, Clock, OUT.take(), &mut input, config, decide).await;
    check(accepted.is_ok(), "server: accept_with, subprotocol chat");
    let Ok(mut ws) = accepted else {
        SERVER_DONE.store(true, Ordering::Relaxed);
        return;
    };
    let mut close_code = None;
    let ended = loop {
        let echoed = match ws.read_message(&mut input, assembler).await {
            Ok(Message::Text(text)) => ws.send_text(text).await,
            Ok(Message::Binary(data)) => ws.send_binary(data).await,
            Ok(Message::Close(frame)) => {
                close_code = Some(frame.reported_code());
                Ok(())
            }
            Ok(_) => Ok(()), // Pings were answered by the adapter.
            Err(error) => break error,
        };
        if let Err(error) = echoed {
            break error;
        }
    };
    check(
        close_code == Some(CloseCode::NORMAL) && ended == embedded::Error::Closed,
        "server: the client's Close 1000 echoed, the read loop ended with Closed",
    );
    net.borrow_mut()
        .sockets
        .get_mut::<tcp::Socket>(handle)
        .close();
    SERVER_DONE.store(true, Ordering::Relaxed);
}

/// Connects, sends each kind of message and checks its echo, pings, closes.
#[embassy_executor::task]
async fn client(net: Shared, handle: SocketHandle) {
    static INPUT_STORAGE: ConstStaticCell<[u8; INPUT]> = ConstStaticCell::new([0; INPUT]);
    static OUT: ConstStaticCell<[u8; OUTPUT]> = ConstStaticCell::new([0; OUTPUT]);
    static ASSEMBLER: ConstStaticCell<FixedAssembler<MESSAGE>> =
        ConstStaticCell::new(FixedAssembler::new());
    let config = config();
    let Ok(mut input) = ReadBuffer::new(&mut INPUT_STORAGE.take()[..], &config) else {
        check(false, "client: input buffer");
        return;
    };
    let assembler = ASSEMBLER.take();
    static SUBPROTOCOLS: [&str; 1] = ["chat"];
    let request = ClientRequest::new("127.0.0.1", PORT, "/async").with_subprotocols(&SUBPROTOCOLS);
    let io = TcpIo { net, handle };
    let rng = XorShift(0x9E37_79B9);
    let connected =
        ClientSocket::connect_request(io, Clock, OUT.take(), &mut input, request, config, rng)
            .await;
    let Ok(mut ws) = connected else {
        check(false, "client: connect_request");
        CLIENT_DONE.store(true, Ordering::Relaxed);
        return;
    };
    check(
        ws.subprotocol() == Some("chat"),
        "client: connect_request, subprotocol chat",
    );

    let sent = ws.send_text("hello over embassy, ½ ✓").await;
    let echo = ws.read_message(&mut input, assembler).await;
    check(
        sent.is_ok() && echo == Ok(Message::Text("hello over embassy, ½ ✓")),
        "text echoed",
    );

    let mut data = [0u8; 300];
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = (i * 13 + 1) as u8;
    }
    let sent = ws.send_binary(&data).await;
    let echo = ws.read_message(&mut input, assembler).await;
    check(
        sent.is_ok() && echo == Ok(Message::Binary(&data)),
        "binary echoed, 300 bytes",
    );

    let whole = "fragments: größer ✓";
    let (first, second) = whole.as_bytes().split_at(14); // inside "ö"
    let sent = ws
        .send_fragment(MessageKind::Text, first, false)
        .await
        .is_ok()
        && ws
            .send_fragment(MessageKind::Text, second, true)
            .await
            .is_ok();
    let echo = ws.read_message(&mut input, assembler).await;
    check(
        sent && echo == Ok(Message::Text(whole)),
        "fragmented text echoed whole",
    );

    let sent = ws.ping(b"async ping").await;
    let pong = ws.read_message(&mut input, assembler).await;
    check(
        sent.is_ok() && pong == Ok(Message::Pong(b"async ping")),
        "ping answered by pong",
    );

    let closed = ws.close(&mut input, CloseCode::NORMAL, "done").await;
    check(
        closed.is_ok() && ws.state() == sockless::State::Closed,
        "client: close 1000, the closing handshake finished and the server closed TCP",
    );
    net.borrow_mut()
        .sockets
        .get_mut::<tcp::Socket>(handle)
        .close();
    CLIENT_DONE.store(true, Ordering::Relaxed);
}

/// Polls smoltcp and advances the clock, once per round; ends the run when both tasks
/// are done or the deadline passed.
#[embassy_executor::task]
async fn network(net: Shared) {
    loop {
        let now = TICKS.load(Ordering::Relaxed);
        {
            let mut guard = net.borrow_mut();
            let Net {
                iface,
                device,
                sockets,
            } = &mut *guard;
            iface.poll(
                smoltcp::time::Instant::from_millis(i64::from(now)),
                *device,
                sockets,
            );
        }
        let done = CLIENT_DONE.load(Ordering::Relaxed) && SERVER_DONE.load(Ordering::Relaxed);
        if done || now >= DEADLINE_MS {
            check(done, "both tasks finished before the deadline");
            finish();
        }
        TICKS.store(now + 1, Ordering::Relaxed);
        embassy_futures::yield_now().await;
    }
}

fn finish() -> ! {
    let s = memory::sections();
    hprintln!("memory (measured on the target):");
    hprintln!(
        "  flash {} B: .text {} B, .rodata {} B, .data {} B",
        s.flash,
        s.text,
        s.rodata,
        s.data
    );
    hprintln!(
        "  static RAM {} B (the tasks' futures are statics of embassy's task pools)",
        s.data + s.bss
    );
    hprintln!(
        "  stack high-water mark (executor and every task): {} B",
        memory::stack_high_water()
    );
    hprintln!(
        "  WebSocket (server) {} B, WebSocket (client) {} B, ReadBuffer {} B",
        size_of::<ServerSocket>(),
        size_of::<ClientSocket>(),
        size_of::<ReadBuffer<&mut [u8]>>()
    );
    let (passed, failed) = (
        PASSED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
    );
    hprintln!("{} passed, {} failed", passed, failed);
    debug::exit(if failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    hprintln!("sockless firmware: the embedded-io-async adapter on embassy-executor, over smoltcp");
    static DEVICE: ConstStaticCell<Loopback> = ConstStaticCell::new(Loopback::new());
    let device = DEVICE.take();
    let mut iface = Interface::new(
        IfaceConfig::new(HardwareAddress::Ip),
        device,
        smoltcp::time::Instant::ZERO,
    );
    iface.update_ip_addrs(|addrs| {
        addrs.push(IpCidr::new(LOCALHOST, 8)).ok();
    });
    static STORAGE: StaticCell<[SocketStorage<'static>; 2]> = StaticCell::new();
    let mut sockets = SocketSet::new(&mut STORAGE.init_with(|| [SocketStorage::EMPTY; 2])[..]);
    static BUFFERS: ConstStaticCell<[[u8; TCP_BUFFER]; 4]> =
        ConstStaticCell::new([[0; TCP_BUFFER]; 4]);
    let [a, b, c, d] = BUFFERS.take();
    let mut listening = tcp::Socket::new(
        tcp::SocketBuffer::new(&mut a[..]),
        tcp::SocketBuffer::new(&mut b[..]),
    );
    let mut connecting = tcp::Socket::new(
        tcp::SocketBuffer::new(&mut c[..]),
        tcp::SocketBuffer::new(&mut d[..]),
    );
    let listened = listening.listen(PORT).is_ok();
    let connected = connecting
        .connect(iface.context(), (LOCALHOST, PORT), 49152)
        .is_ok();
    check(listened && connected, "TCP: listen and connect");
    let server_socket = sockets.add(listening);
    let client_socket = sockets.add(connecting);

    static NET: StaticCell<RefCell<Net>> = StaticCell::new();
    let net: Shared = NET.init(RefCell::new(Net {
        iface,
        device,
        sockets,
    }));

    static EXECUTOR: StaticCell<Executor> = StaticCell::new();
    let executor = EXECUTOR.init(Executor::new());
    memory::paint_free_stack();
    executor.run(|spawner: Spawner| {
        spawner.spawn(network(net).expect("one network task"));
        spawner.spawn(server(net, server_socket).expect("one server task"));
        spawner.spawn(client(net, client_socket).expect("one client task"));
    })
}
