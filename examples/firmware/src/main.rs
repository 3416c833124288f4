//! sockless on a microcontroller: a sockless server and a sockless client talk over two
//! smoltcp TCP sockets, through a loopback interface inside the image, on an emulated
//! Cortex-M3 (QEMU's lm3s6965evb board). Two more raw sockets each break the protocol
//! against a sockless server of their own (an unmasked client frame, a reserved opcode),
//! which must answer with Close 1002. Every check prints a line over semihosting and
//! the exit code reports the result: 0 when every check passed, 1 otherwise (a panic
//! exits 1 too). `run.sh` builds it and runs it under QEMU.
//!
//! No allocator: the endpoints, their buffers, smoltcp's sockets and the loopback device
//! all live in statics of fixed size. The clock is a tick counter advanced by one
//! millisecond per round of the event loop, handed to smoltcp and to sockless alike.

#![no_std]
#![no_main]

mod loopback;
mod memory;

use core::convert::Infallible;
use core::mem::size_of;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use static_cell::{ConstStaticCell, StaticCell};

use sockless::assemble::FixedAssembler;
use sockless::rand_core::TryRng;
use sockless::{
    Accept, Client, ClientRequest, CloseCode, Config, Connection, Endpoint, Event, InputBuffer,
    Instant, Masked, MessageKind, ProtocolError, Server, State, Unmasked,
};

use loopback::Loopback;

/// Received bytes not used yet, per endpoint: a whole HTTP head of up to `MAX_HEAD` bytes
/// must fit (data frames stream through in pieces of any size).
const INPUT: usize = 1024;
/// Bytes sockless writes for one endpoint before they go to its socket: the largest frame
/// this example sends, and what `poll_transmit` owes (`sockless::MIN_OUTPUT_BUFFER`).
const OUTPUT: usize = 1024;
/// The largest whole message an endpoint collects (the connection fails a larger one with
/// 1009: `FixedAssembler::configure`).
const MESSAGE: usize = 1024;
/// The largest HTTP head either side accepts.
const MAX_HEAD: usize = 512;
/// smoltcp's receive and send buffers, per TCP socket.
const TCP_BUFFER: usize = 1024;
/// Six TCP sockets: the client and the server of the main connection, and for each of
/// the two protocol violations a raw socket with its sockless server.
const SOCKETS: usize = 6;
/// Every wait has a deadline: a check that is not met within this many ticks fails.
const DEADLINE_MS: u64 = 2_000;

const SERVER_PORT: u16 = 80;
/// The ports of the two violations' servers.
const VIOLATION_PORTS: [u16; 2] = [81, 82];
const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);

/// A small deterministic generator (xorshift32) for the client's handshake key and masks.
/// Enough for an example whose output must repeat; real firmware must draw these from its
/// hardware random number generator (RFC 6455 §10.3: masks must not be predictable).
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

/// What an endpoint received, kept (copied) for the checks.
struct Log {
    /// Server: the path of the request it accepted.
    request_path: [u8; 32],
    request_path_len: usize,
    /// Client: the server accepted the upgrade.
    connected: bool,
    /// The last whole message and how many messages came.
    message: [u8; MESSAGE],
    message_len: usize,
    message_kind: Option<MessageKind>,
    messages: u32,
    /// Pieces of messages that did not arrive whole.
    chunks: u32,
    /// The last Ping's and Pong's payloads.
    ping: [u8; 32],
    ping_len: Option<usize>,
    pong: [u8; 32],
    pong_len: Option<usize>,
    /// The peer's Close code (1005 when it had none).
    close: Option<u16>,
    /// The peer's violation, if it broke RFC 6455.
    failed: Option<ProtocolError>,
    /// Anything else that went wrong (a usage error, an unexpected event).
    errors: u32,
    /// `handle_eof` ran: with `Ok` when the closing handshake had finished.
    eof: Option<bool>,
    /// The transport ended after this endpoint had closed it itself.
    closed_first: bool,
}

impl Log {
    const fn new() -> Self {
        Log {
            request_path: [0; 32],
            request_path_len: 0,
            connected: false,
            message: [0; MESSAGE],
            message_len: 0,
            message_kind: None,
            messages: 0,
            chunks: 0,
            ping: [0; 32],
            ping_len: None,
            pong: [0; 32],
            pong_len: None,
            close: None,
            failed: None,
            errors: 0,
            eof: None,
            closed_first: false,
        }
    }

    fn last_message(&self) -> Option<(MessageKind, &[u8])> {
        self.message_kind
            .map(|kind| (kind, &self.message[..self.message_len]))
    }
}

/// Copies as much of `from` as fits into `to`; returns the length copied.
fn keep(to: &mut [u8], from: &[u8]) -> usize {
    let n = to.len().min(from.len());
    to[..n].copy_from_slice(&from[..n]);
    n
}

/// What the two roles do differently with an event: only a server gets requests.
trait Role: Endpoint {
    /// Answer a request; returns the bytes written into `out`.
    fn on_request(
        &mut self,
        request: &sockless::Request<'_>,
        now: Instant,
        out: &mut [u8],
    ) -> usize;
}

impl Role for Server {
    fn on_request(
        &mut self,
        request: &sockless::Request<'_>,
        now: Instant,
        out: &mut [u8],
    ) -> usize {
        // Accept, with subprotocol `chat` if the client offered it (RFC 6455 §4.2.2).
        let mut accept = Accept::default();
        if request.offers_subprotocol("chat") {
            accept = accept.with_subprotocol("chat");
        }
        self.accept(request, accept, now, out).unwrap_or(0)
    }
}

impl Role for Client<'_, XorShift> {
    fn on_request(&mut self, _: &sockless::Request<'_>, _: Instant, _: &mut [u8]) -> usize {
        0
    }
}

/// One sockless endpoint on one smoltcp socket, with its buffers.
struct Peer<E: 'static> {
    endpoint: E,
    socket: SocketHandle,
    input: InputBuffer<&'static mut [u8]>,
    /// Bytes sockless wrote, `sent..len` not yet taken by the socket.
    out: &'static mut [u8; OUTPUT],
    out_len: usize,
    out_sent: usize,
    assembler: &'static mut FixedAssembler<MESSAGE>,
    log: &'static mut Log,
    closed_transport: bool,
}

impl<E: Role> Peer<E> {
    /// One round: what the socket received goes to sockless, whose events are logged and
    /// whose owed bytes go back to the socket; then timers, the end of the transport.
    fn service(&mut self, sockets: &mut SocketSet<'_>, now: Instant) {
        let socket = sockets.get_mut::<tcp::Socket>(self.socket);
        self.flush(socket);
        if socket.can_recv()
            && let Ok(n) = socket.recv_slice(self.input.read_space())
        {
            self.input.commit(n);
        }
        loop {
            let phase = self.phase();
            let event =
                match memory::measured(phase, || self.input.receive(&mut self.endpoint, now)) {
                    Ok(Some(event)) => event.widen(),
                    Ok(None) => break,
                    Err(_) => {
                        self.log.errors += 1;
                        break;
                    }
                };
            let log = &mut *self.log;
            match memory::measured(phase, || self.assembler.push(&event)) {
                Ok(Some(message)) => {
                    log.message_len = keep(&mut log.message, message.as_bytes());
                    log.message_kind = Some(message.kind());
                    log.messages += 1;
                }
                Ok(None) => {}
                Err(_) => log.errors += 1,
            }
            match event {
                Event::Request(request) => {
                    log.request_path_len = keep(&mut log.request_path, request.path().as_bytes());
                    // Only when nothing is waiting: the 101 goes out whole.
                    if self.out_len == 0 {
                        self.out_len = memory::measured(phase, || {
                            self.endpoint.on_request(&request, now, &mut self.out[..])
                        });
                    }
                    if self.out_len == 0 {
                        log.errors += 1;
                    }
                }
                Event::Connected(_) => log.connected = true,
                Event::Chunk(_) => log.chunks += 1,
                Event::Ping(payload) => log.ping_len = Some(keep(&mut log.ping, payload)),
                Event::Pong(payload) => log.pong_len = Some(keep(&mut log.pong, payload)),
                Event::Close(frame) => log.close = Some(frame.reported_code().0),
                Event::Failed(error) => log.failed = Some(error),
                Event::Text(_) | Event::Binary(_) => {}
                _ => log.errors += 1,
            }
        }
        self.transmit(socket);
        if let Some(deadline) = self.endpoint.poll_timeout()
            && deadline <= now
        {
            memory::measured(self.phase(), || self.endpoint.handle_timeout(now));
            self.transmit(socket);
        }
        // The peer closed its side and everything it sent was used: the transport ended.
        if !socket.may_recv() && self.log.eof.is_none() && self.ever_open(socket) {
            self.log.eof =
                Some(memory::measured(self.phase(), || self.endpoint.handle_eof()).is_ok());
            self.log.closed_first = self.closed_transport;
        }
        if self.endpoint.should_close_transport()
            && self.out_sent == self.out_len
            && !self.closed_transport
        {
            socket.close();
            self.closed_transport = true;
        }
    }

    /// Whether the endpoint is still in its opening handshake (for the stack measurement).
    fn phase(&self) -> memory::Phase {
        match self.endpoint.state() {
            State::Connecting => memory::Phase::Handshake,
            _ => memory::Phase::Open,
        }
    }

    /// Whether the socket got past the TCP handshake (a listening or connecting socket
    /// cannot receive yet, which is not an end).
    fn ever_open(&self, socket: &tcp::Socket<'_>) -> bool {
        !matches!(
            socket.state(),
            tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
        ) && (self.log.connected || self.log.request_path_len > 0)
    }

    /// Write what sockless owes, as long as the output buffer has room for it.
    fn transmit(&mut self, socket: &mut tcp::Socket<'_>) {
        loop {
            self.flush(socket);
            if self.out_len != 0 {
                return;
            }
            match memory::measured(self.phase(), || {
                self.endpoint.poll_transmit(&mut self.out[..])
            }) {
                Ok(0) => return,
                Ok(n) => self.out_len = n,
                Err(_) => {
                    self.log.errors += 1;
                    return;
                }
            }
        }
    }

    /// Hand the written bytes to the socket, as many as it takes.
    fn flush(&mut self, socket: &mut tcp::Socket<'_>) {
        if self.out_sent < self.out_len
            && let Ok(n) = socket.send_slice(&self.out[self.out_sent..self.out_len])
        {
            self.out_sent += n;
        }
        if self.out_sent == self.out_len {
            self.out_sent = 0;
            self.out_len = 0;
        }
    }

    /// Run a command of the open connection (a send, a ping, a close) into the output
    /// buffer; false if it failed or the buffer was busy.
    fn command(
        &mut self,
        command: impl FnOnce(
            &mut Connection<E::Masking>,
            &mut [u8],
        ) -> Result<usize, sockless::SendError>,
    ) -> bool {
        if self.out_len != 0 {
            return false;
        }
        let Ok(connection) = self.endpoint.connection() else {
            return false;
        };
        match memory::measured(memory::Phase::Open, || {
            command(connection, &mut self.out[..])
        }) {
            Ok(n) => {
                self.out_len = n;
                true
            }
            Err(_) => false,
        }
    }
}

/// The network: smoltcp's interface over the loopback device, the sockets, the clock.
struct Net {
    iface: Interface,
    device: &'static mut Loopback,
    sockets: SocketSet<'static>,
    now_ms: u64,
}

impl Net {
    fn now(&self) -> Instant {
        Instant::from_millis(self.now_ms)
    }

    fn poll(&mut self) {
        let now = smoltcp::time::Instant::from_millis(self.now_ms as i64);
        self.iface.poll(now, self.device, &mut self.sockets);
    }
}

/// The firmware's state: the network, the main connection's two ends and the server of
/// the violation's connection.
struct World {
    net: Net,
    server: Peer<Server>,
    client: Peer<Client<'static, XorShift>>,
    strict: [Peer<Server>; 2],
    /// The raw sockets that break the protocol against `strict`, and what they received.
    raw: [SocketHandle; 2],
    raw_received: [[u8; 512]; 2],
    raw_len: [usize; 2],
}

impl World {
    /// One round of the event loop: the network, then every endpoint, then one tick.
    fn round(&mut self) {
        self.net.poll();
        let now = self.net.now();
        self.server.service(&mut self.net.sockets, now);
        self.client.service(&mut self.net.sockets, now);
        for i in 0..2 {
            self.strict[i].service(&mut self.net.sockets, now);
            let raw = self.net.sockets.get_mut::<tcp::Socket>(self.raw[i]);
            if raw.can_recv()
                && let Ok(n) = raw.recv_slice(&mut self.raw_received[i][self.raw_len[i]..])
            {
                self.raw_len[i] += n;
            }
        }
        self.net.poll();
        self.net.now_ms += 1;
    }

    /// Run rounds until `done` holds; false if the deadline passed first.
    fn run_until(&mut self, done: impl Fn(&World) -> bool) -> bool {
        let deadline = self.net.now_ms + DEADLINE_MS;
        while self.net.now_ms < deadline {
            self.round();
            if done(self) {
                return true;
            }
        }
        false
    }
}

/// The results: each check prints one line.
struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
            hprintln!("ok   {}", what);
        } else {
            self.failed += 1;
            hprintln!("FAIL {}", what);
        }
    }
}

/// A `&'static mut` to a value placed in a static of its own at compile time (each use of
/// the macro is a different static; taking it twice panics).
macro_rules! place {
    ($ty:ty = $value:expr) => {{
        static CELL: ConstStaticCell<$ty> = ConstStaticCell::new($value);
        CELL.take()
    }};
}

/// A TCP socket over two buffers of its own.
fn tcp_socket(
    buffers: &mut core::slice::IterMut<'static, [u8; TCP_BUFFER]>,
) -> tcp::Socket<'static> {
    let mut next = || tcp::SocketBuffer::new(&mut buffers.next().expect("a buffer per socket")[..]);
    tcp::Socket::new(next(), next())
}

/// The buffers of one endpoint, in statics.
macro_rules! peer {
    ($endpoint:expr, $socket:expr, $config:expr) => {
        Peer {
            endpoint: $endpoint,
            socket: $socket,
            input: InputBuffer::new(
                &mut place!([u8; INPUT] = [0; INPUT])[..],
                &$config,
            )
            .expect("the input buffer holds a head"),
            out: place!([u8; OUTPUT] = [0; OUTPUT]),
            out_len: 0,
            out_sent: 0,
            assembler: place!(FixedAssembler<MESSAGE> = FixedAssembler::new()),
            // At run time: an empty log is not all zeros (its `None`s), and a constant would
            // put it in .data.
            log: {
                static CELL: StaticCell<Log> = StaticCell::new();
                CELL.init_with(Log::new)
            },
            closed_transport: false,
        }
    };
}

#[entry]
fn main() -> ! {
    hprintln!("sockless firmware: a server and a client over smoltcp TCP, on a Cortex-M3");
    let mut report = Report {
        passed: 0,
        failed: 0,
    };

    // The network: one loopback interface at 127.0.0.1/8, four TCP sockets.
    let device = place!(Loopback = Loopback::new());
    let mut iface = Interface::new(
        IfaceConfig::new(HardwareAddress::Ip),
        device,
        smoltcp::time::Instant::ZERO,
    );
    iface.update_ip_addrs(|addrs| {
        addrs.push(IpCidr::new(LOCALHOST, 8)).ok();
    });
    // Initialised at run time: an empty slot is not all zeros, and a constant would put
    // the whole array in .data (flash and RAM).
    static STORAGE: StaticCell<[SocketStorage<'static>; SOCKETS]> = StaticCell::new();
    let storage = STORAGE.init_with(|| [SocketStorage::EMPTY; SOCKETS]);
    let mut sockets = SocketSet::new(&mut storage[..]);
    let buffers = place!([[u8; TCP_BUFFER]; 2 * SOCKETS] = [[0; TCP_BUFFER]; 2 * SOCKETS]);
    let buffers = &mut buffers.iter_mut();
    // A fresh socket cannot refuse these: a failure is a bug of this firmware (the panic
    // handler prints it and exits 1).
    let mut listening = tcp_socket(buffers);
    listening
        .listen(SERVER_PORT)
        .expect("a fresh socket listens");
    let server_socket = sockets.add(listening);
    let mut connecting = tcp_socket(buffers);
    connecting
        .connect(iface.context(), (LOCALHOST, SERVER_PORT), 49152)
        .expect("a fresh socket connects");
    let client_socket = sockets.add(connecting);
    let strict_sockets = VIOLATION_PORTS.map(|port| {
        let mut listening = tcp_socket(buffers);
        listening.listen(port).expect("a fresh socket listens");
        sockets.add(listening)
    });
    let raw = [(); 2].map(|()| sockets.add(tcp_socket(buffers)));

    // The endpoints: small heads, and messages of at most MESSAGE bytes (1009 beyond).
    let config =
        FixedAssembler::<MESSAGE>::configure(Config::default().with_max_head_len(MAX_HEAD));
    let now = Instant::ZERO;
    static SUBPROTOCOLS: [&str; 1] = ["chat"];
    let request =
        ClientRequest::new("127.0.0.1", SERVER_PORT, "/chat").with_subprotocols(&SUBPROTOCOLS);
    let client =
        Client::new(request, config, XorShift(0x2545_F491), now).expect("the request is valid");

    // The world itself is small (references to the statics): it stays in main's frame,
    // which never returns.
    let mut world = World {
        net: Net {
            iface,
            device,
            sockets,
            now_ms: 0,
        },
        server: peer!(Server::new(config, now), server_socket, config),
        client: peer!(client, client_socket, config),
        strict: [
            peer!(Server::new(config, now), strict_sockets[0], config),
            peer!(Server::new(config, now), strict_sockets[1], config),
        ],
        raw,
        raw_received: [[0; 512]; 2],
        raw_len: [0; 2],
    };

    // From here on, the stack is what the event loop and sockless need.
    memory::paint_free_stack();
    let loop_base = memory::stack_depth();
    exchange(&mut world, &mut report);
    let high_water = memory::stack_high_water();

    print_memory(high_water, loop_base);
    hprintln!("{} passed, {} failed", report.passed, report.failed);
    debug::exit(if report.failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Every check, in order, on the running world.
#[inline(never)]
fn exchange(world: &mut World, report: &mut Report) {
    // The opening handshake (RFC 6455 §4): the client's request, the server's 101.
    let ok = world.run_until(|w| w.client.log.connected && w.server.log.request_path_len > 0);
    let path_ok = &world.server.log.request_path[..world.server.log.request_path_len] == b"/chat";
    let subprotocol_ok = world
        .client
        .endpoint
        .connection()
        .is_ok_and(|c| c.subprotocol() == Some("chat"));
    report.check(
        ok && path_ok && subprotocol_ok,
        "handshake: GET /chat accepted with subprotocol chat, the 101 checked by the client",
    );

    // Text both ways.
    let sent = world
        .client
        .command(|c, out| c.send_text("hello from the client", out));
    let ok = sent && world.run_until(|w| w.server.log.messages == 1);
    report.check(
        ok && world.server.log.last_message()
            == Some((MessageKind::Text, b"hello from the client")),
        "text client -> server (masked, unmasked in place)",
    );
    let sent = world
        .server
        .command(|c, out| c.send_text("hello from the server, ½ ✓", out));
    let ok = sent && world.run_until(|w| w.client.log.messages == 1);
    report.check(
        ok && world.client.log.last_message()
            == Some((MessageKind::Text, "hello from the server, ½ ✓".as_bytes())),
        "text server -> client (UTF-8 validated)",
    );

    // Binary both ways: 300 bytes up (a 16-bit length), 700 down (several TCP reads).
    let mut data = [0u8; 700];
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = (i * 7 + 3) as u8;
    }
    let sent = world
        .client
        .command(|c, out| c.send_binary(&data[..300], out));
    let ok = sent && world.run_until(|w| w.server.log.messages == 2);
    report.check(
        ok && world.server.log.last_message() == Some((MessageKind::Binary, &data[..300])),
        "binary client -> server, 300 bytes",
    );
    let sent = world.server.command(|c, out| c.send_binary(&data, out));
    let ok = sent && world.run_until(|w| w.client.log.messages == 2);
    report.check(
        ok && world.client.log.last_message() == Some((MessageKind::Binary, &data[..])),
        "binary server -> client, 700 bytes",
    );

    // A fragmented text message (RFC 6455 §5.4), split inside a character, with a Ping
    // between its fragments (§5.5: control frames may be interleaved).
    let whole = "fragmented: größer ✓".as_bytes();
    let (first, rest) = whole.split_at(15); // inside "ö"
    let (second, third) = rest.split_at(6); // inside "✓"
    let mut ok = world
        .client
        .command(|c, out| c.send_fragment(MessageKind::Text, first, false, out));
    ok &= world.run_until(|w| w.server.log.chunks >= 1 && w.client.out_len == 0);
    ok &= world
        .client
        .command(|c, out| c.ping(b"between fragments", out));
    ok &= world.run_until(|w| w.client.log.pong_len.is_some() && w.client.out_len == 0);
    ok &= world
        .client
        .command(|c, out| c.send_fragment(MessageKind::Text, second, false, out));
    ok &= world.run_until(|w| w.client.out_len == 0);
    ok &= world
        .client
        .command(|c, out| c.send_fragment(MessageKind::Text, third, true, out));
    ok &= world.run_until(|w| w.server.log.messages == 3);
    report.check(
        ok && world.server.log.last_message() == Some((MessageKind::Text, whole))
            && world.server.log.chunks >= 3,
        "fragmented text client -> server, 3 fragments split inside characters, reassembled",
    );

    // Ping and Pong (§5.5.2, §5.5.3): the Ping above was answered automatically.
    let client_log = &world.client.log;
    let server_log = &world.server.log;
    report.check(
        server_log
            .ping_len
            .is_some_and(|n| &server_log.ping[..n] == b"between fragments")
            && client_log
                .pong_len
                .is_some_and(|n| &client_log.pong[..n] == b"between fragments"),
        "ping client -> server between fragments, pong back with the same payload",
    );
    let sent = world.server.command(|c, out| c.ping(b"server ping", out));
    let ok = sent
        && world.run_until(|w| {
            w.server
                .log
                .pong_len
                .is_some_and(|n| &w.server.log.pong[..n] == b"server ping")
        });
    let client_log = &world.client.log;
    report.check(
        ok && client_log
            .ping_len
            .is_some_and(|n| &client_log.ping[..n] == b"server ping"),
        "ping server -> client, pong back with the same payload",
    );

    // Two protocol violations, each on a connection of its own: a raw socket does the
    // handshake by hand, then sends a frame no client may send. The server fails the
    // connection with 1002 (§7.4.1) and closes the TCP connection.
    let cases: [(&[u8], ProtocolError, &str); 2] = [
        // FIN, opcode Text, no MASK bit (§5.1: a client masks every frame), "hi".
        (
            &[0x81, 0x02, b'h', b'i'],
            ProtocolError::UnmaskedClientFrame,
            "violation: an unmasked client frame (§5.1) gets Close 1002, then TCP is closed",
        ),
        // FIN, the reserved opcode 0x3 (§5.2), masked with 01 02 03 04, "hi".
        (
            &[0x83, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2],
            ProtocolError::ReservedOpcode(3),
            "violation: the reserved opcode 0x3 (§5.2) gets Close 1002, then TCP is closed",
        ),
    ];
    for (i, (frame, error, what)) in cases.into_iter().enumerate() {
        let (upgraded, closed) = violation(world, i, frame);
        let log = &world.strict[i].log;
        report.check(
            upgraded && log.request_path_len > 0 && log.failed == Some(error) && closed,
            what,
        );
        hprintln!(
            "       (upgraded: {}, failed with {:?}, Close 1002 sent and TCP closed: {})",
            upgraded,
            log.failed,
            closed
        );
    }

    // The closing handshake (§7.1.2): the client closes with 1000, the server echoes 1000
    // and closes TCP first (§7.1.1), the client sees the end after both Closes.
    let now = world.net.now();
    let sent = world
        .client
        .command(|c, out| c.close(CloseCode::NORMAL, "done", now, out));
    let ok = sent && world.run_until(|w| w.client.log.eof.is_some() && w.server.closed_transport);
    let (client_log, server_log) = (&world.client.log, &world.server.log);
    report.check(
        ok && server_log.close == Some(1000) && client_log.close == Some(1000),
        "close: client 1000 -> server, server echoes 1000",
    );
    report.check(
        client_log.eof == Some(true)
            && !client_log.closed_first
            && world.client.endpoint.state() == State::Closed
            && world.server.endpoint.state() == State::Closed,
        "close: both ends Closed, the server closed TCP first, the client's end was clean",
    );
    report.check(
        world.client.log.errors == 0
            && world.server.log.errors == 0
            && world.strict.iter().all(|peer| peer.log.errors == 0),
        "no usage error and no unexpected event on any endpoint",
    );
}

/// A violation's connection, driven by hand from raw socket `i`: the upgrade request,
/// then `frame`. Returns whether the upgrade was answered with a 101 for the request's
/// key, and whether Close 1002 came back, alone, before the server ended TCP.
fn violation(world: &mut World, i: usize, frame: &[u8]) -> (bool, bool) {
    const REQUEST: &[u8] = b"GET /strict HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    // The accept value of RFC 6455 §1.3's example key.
    const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    let (handle, port) = (world.raw[i], VIOLATION_PORTS[i]);
    let raw = world.net.sockets.get_mut::<tcp::Socket>(handle);
    let local_port = 49153 + i as u16;
    if raw
        .connect(world.net.iface.context(), (LOCALHOST, port), local_port)
        .is_err()
    {
        return (false, false);
    }
    if !world.run_until(|w| w.net.sockets.get::<tcp::Socket>(handle).can_send()) {
        return (false, false);
    }
    let raw = world.net.sockets.get_mut::<tcp::Socket>(handle);
    if raw.send_slice(REQUEST) != Ok(REQUEST.len()) {
        return (false, false);
    }
    let upgraded = world.run_until(|w| contains(&w.raw_received[i][..w.raw_len[i]], b"\r\n\r\n"));
    let head = &world.raw_received[i][..world.raw_len[i]];
    let upgraded = upgraded && head.starts_with(b"HTTP/1.1 101 ") && contains(head, ACCEPT);
    let head_len = world.raw_len[i];

    let raw = world.net.sockets.get_mut::<tcp::Socket>(handle);
    if raw.send_slice(frame) != Ok(frame.len()) {
        return (upgraded, false);
    }
    let ended = world.run_until(|w| !w.net.sockets.get::<tcp::Socket>(handle).may_recv());
    // The server's Close: unmasked, FIN + opcode Close, 2 bytes: the code 1002.
    let answer = &world.raw_received[i][head_len..world.raw_len[i]];
    let closed = ended && answer == [0x88, 0x02, 0x03, 0xEA];
    world.net.sockets.get_mut::<tcp::Socket>(handle).close();
    (upgraded, closed)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Flash and RAM, from the linker's section bounds; the sizes of sockless's types and of
/// the buffers; the stack high-water mark measured by painting.
fn print_memory(high_water: usize, loop_base: usize) {
    let s = memory::sections();
    hprintln!("memory (measured on the target):");
    hprintln!(
        "  flash {} B: .text {} B, .rodata {} B, .data {} B (+ vector table)",
        s.flash,
        s.text,
        s.rodata,
        s.data
    );
    hprintln!(
        "  static RAM {} B: .data {} B, .bss {} B; stack {} B",
        s.data + s.bss,
        s.data,
        s.bss,
        s.stack
    );
    hprintln!(
        "  stack high-water mark of the event loop: {} B below the top ({} B below main's frame)",
        high_water,
        high_water - loop_base
    );
    hprintln!(
        "  stack of the deepest sockless call (receive, poll_transmit, accept, send, close):"
    );
    hprintln!(
        "    during the handshake {} B, on the open connection {} B",
        memory::deepest_call(memory::Phase::Handshake),
        memory::deepest_call(memory::Phase::Open)
    );
    hprintln!("  sizes of sockless's types:");
    hprintln!(
        "    Server                      {:5} B",
        size_of::<Server>()
    );
    hprintln!(
        "    Client<'_, XorShift>        {:5} B",
        size_of::<Client<'static, XorShift>>()
    );
    hprintln!(
        "    Connection<Unmasked>        {:5} B",
        size_of::<Connection<Unmasked>>()
    );
    hprintln!(
        "    Connection<Masked<XorShift>> {:4} B",
        size_of::<Connection<Masked<XorShift>>>()
    );
    hprintln!(
        "    InputBuffer<&mut [u8]>      {:5} B",
        size_of::<InputBuffer<&mut [u8]>>()
    );
    hprintln!(
        "    FixedAssembler<{}>        {:5} B",
        MESSAGE,
        size_of::<FixedAssembler<MESSAGE>>()
    );
    hprintln!(
        "    Config                      {:5} B",
        size_of::<Config>()
    );
    hprintln!(
        "  buffers per endpoint: input {} B, output {} B, assembler {} B",
        INPUT,
        OUTPUT,
        MESSAGE
    );
    hprintln!(
        "  smoltcp: {} TCP sockets x {} B (rx + tx), loopback device {} B, interface {} B",
        SOCKETS,
        2 * TCP_BUFFER,
        size_of::<Loopback>(),
        size_of::<Interface>()
    );
}
