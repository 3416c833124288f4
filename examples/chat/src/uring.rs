//! The chat's event loop on io_uring (Linux 6.1 or later; `--io-uring`): the same chat
//! (`chat.rs`), handed bytes by completions instead of readiness. sockless only needs
//! bytes, so nothing above this loop changes.
//!
//! - One `io_uring_enter` per turn submits every send and re-arm the turn queued and waits
//!   for completions. The wait itself has no timeout: the next deadline is a timeout
//!   request, armed once and moved only when an earlier deadline comes (see
//!   [`Uring::wake_at`]).
//! - A multishot accept on the listener, and one multishot receive per connection into a
//!   ring of buffers the kernel picks from (`BufRing`): no read call, no buffer per
//!   connection. An open connection with nothing left over handles the bytes where the
//!   kernel put them; the buffer goes back to the ring right after.
//! - Each connection's output of a turn leaves in one send, owned by the loop until it
//!   completes (the connection's queue fills again meanwhile, bounded as on mio).
//!
//! The ring is set up for one thread (SINGLE_ISSUER) with the kernel's completion work
//! done when the loop waits (DEFER_TASKRUN), which is why 6.1 is needed; the chat says
//! so and exits if the kernel has less.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant as Clock};

use io_uring::types::{BufRingEntry, Fd, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use crate::chat::{Chat, Transport};
use crate::client::Client;
use crate::outbox;
use crate::{ACCEPT_PAUSE_MS, READ_BUFFER, Report};

/// What a completion is for: the low byte of its `user_data`.
const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;
const CANCEL: u64 = 4;
/// The timeout request for the next deadline (one at most), and the updates that move it.
const TIMER: u64 = 5;
const TIMER_MOVED: u64 = 6;

/// Receive buffers: how many, how large, and their group's id.
const BUFFERS: u16 = 2048;
const BUFFER_SIZE: usize = 2048;
const GROUP: u16 = 1;

/// `user_data`: the operation, the connection's slot, and the low 24 bits of its id (so
/// that a late completion for a closed connection is not taken for its successor's).
fn user_data(op: u64, key: usize, id: u64) -> u64 {
    op | (key as u64 & 0xffff_ffff) << 8 | (id & 0xff_ffff) << 40
}

fn unpack(data: u64) -> (u64, usize, u64) {
    (
        data & 0xff,
        ((data >> 8) & 0xffff_ffff) as usize,
        data >> 40,
    )
}

/// Buffers the kernel picks for multishot receives, in a ring registered as group
/// `GROUP`. A buffer goes back to the ring as soon as its bytes are handled.
struct BufRing {
    /// The ring's entries: page-aligned memory the kernel reads.
    entries: *mut BufRingEntry,
    layout: std::alloc::Layout,
    memory: Vec<u8>,
    tail: u16,
    /// Buffers given back since the kernel last saw the tail.
    unpublished: bool,
}

impl BufRing {
    fn new(ring: &IoUring) -> io::Result<BufRing> {
        const { assert!(BUFFERS.is_power_of_two()) };
        let layout = std::alloc::Layout::from_size_align(
            BUFFERS as usize * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        // SAFETY: a layout of non-zero size; zeroed memory is an empty ring (tail 0).
        let entries = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::other("out of memory for the buffer ring"));
        }
        let mut buffers = BufRing {
            entries,
            layout,
            memory: vec![0; BUFFERS as usize * BUFFER_SIZE],
            tail: 0,
            unpublished: false,
        };
        // SAFETY: the entries stay allocated until `drop`, which comes after the ring's
        // (the loop declares the ring first, so it drops first... and the process exits
        // with both).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, BUFFERS, GROUP, 0)?;
        }
        for bid in 0..BUFFERS {
            buffers.give_back(bid);
        }
        buffers.publish();
        Ok(buffers)
    }

    /// Put buffer `bid` at the ring's tail (the kernel sees it at the next `publish`).
    fn give_back(&mut self, bid: u16) {
        let index = (self.tail & (BUFFERS - 1)) as usize;
        // SAFETY: `index` is below BUFFERS, the entries allocated.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(self.memory[bid as usize * BUFFER_SIZE..].as_ptr() as u64);
        entry.set_len(BUFFER_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.unpublished = true;
    }

    fn publish(&mut self) {
        // SAFETY: the tail lies in the first entry, allocated; the kernel reads it, so it
        // is stored atomically, after the entries (release).
        let tail = unsafe { BufRingEntry::tail(self.entries) }.cast::<AtomicU16>();
        unsafe { (*tail).store(self.tail, Ordering::Release) };
        self.unpublished = false;
    }

    /// Buffer `bid`, whole (the received bytes are at its start).
    fn get_mut(&mut self, bid: u16) -> &mut [u8] {
        &mut self.memory[bid as usize * BUFFER_SIZE..][..BUFFER_SIZE]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.entries.cast(), self.layout) };
    }
}

/// A send in flight: its bytes stay here, unmoved, until it completes.
struct Sending {
    bytes: Vec<u8>,
    sent: usize,
    /// The connection's socket (used only while the connection is open).
    fd: RawFd,
    /// The low 24 bits of the connection's id, as in the completion's `user_data`.
    id24: u64,
}

/// The chat's transport on io_uring: submissions queue here and go at the next turn.
pub struct Uring {
    ring: IoUring,
    /// The send in flight of each open connection, by slot: found by indexing, not
    /// hashing (a message costs a few look-ups).
    sending: Vec<Option<Sending>>,
    /// Sends still in flight of connections closed meanwhile, with their slot (which a
    /// new connection may have taken). Few: only connections closed in the middle of a
    /// send.
    orphans: Vec<(usize, Sending)>,
    /// The deadline (on the loop's clock) the timeout request is armed for, if one is.
    timer: Option<u64>,
    /// The timeout's duration, read by the kernel when the request is submitted.
    timespec: Box<Timespec>,
}

impl Uring {
    /// Queue `entry` (submitting what is queued first if the queue is full).
    ///
    /// # Safety
    /// What `entry` points to must stay valid until its completion.
    unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: passed on from the caller.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn recv(&mut self, fd: RawFd, key: usize, id: u64) -> io::Result<()> {
        let entry = opcode::RecvMulti::new(Fd(fd), GROUP)
            .build()
            .user_data(user_data(RECV, key, id));
        // SAFETY: the buffers are the ring's, registered for as long as it.
        unsafe { self.push(entry) }
    }

    /// Have a completion at deadline `at` (counted from `now`) at the latest.
    ///
    /// The loop's wait has no timeout of its own: a timed wait starts and cancels a
    /// kernel timer every time the loop sleeps (about once per message under load). One
    /// timeout request stays armed across turns instead, and is only moved when a
    /// deadline earlier than the armed one comes; a later one is armed when the armed one
    /// has fired (its turn finds nothing due, if the deadline went meanwhile).
    fn wake_at(&mut self, at: u64, now: u64) -> io::Result<()> {
        if self.timer.is_some_and(|armed| armed <= at) {
            return Ok(());
        }
        *self.timespec = Timespec::from(Duration::from_millis(at.saturating_sub(now)));
        let timespec: *const Timespec = &*self.timespec;
        let entry = match self.timer {
            None => opcode::Timeout::new(timespec).build().user_data(TIMER),
            // If it fired meanwhile, the update fails and the firing's completion (still
            // to come) has the next turn arm it again.
            Some(_) => opcode::TimeoutUpdate::new(TIMER, timespec)
                .build()
                .user_data(TIMER_MOVED),
        };
        self.timer = Some(at);
        // SAFETY: the kernel copies the timespec when the request is submitted; it stays
        // in its box until the next call, which comes after the next submission.
        unsafe { self.push(entry) }
    }

    fn accept(&mut self, listener: RawFd) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(Fd(listener))
            .build()
            .user_data(user_data(ACCEPT, 0, 0));
        // SAFETY: nothing is pointed to.
        unsafe { self.push(entry) }
    }

    /// The send in flight of the connection open in slot `key`, if there is one.
    fn in_flight(&mut self, key: usize) -> Option<&mut Sending> {
        self.sending.get_mut(key).and_then(Option::as_mut)
    }

    /// Send the rest of the send in flight of connection `key`.
    fn send(&mut self, key: usize) -> io::Result<()> {
        let Some(sending) = self.in_flight(key) else {
            return Ok(());
        };
        let rest = &sending.bytes[sending.sent..];
        let entry = opcode::Send::new(Fd(sending.fd), rest.as_ptr(), rest.len() as u32)
            .build()
            .user_data(user_data(SEND, key, sending.id24));
        // SAFETY: the bytes stay in `self.sending` (or `self.orphans`), untouched, until
        // the completion (a Vec's heap memory does not move when the Vec does).
        unsafe { self.push(entry) }
    }

    /// Send `result` of (`key`, `id24`) completed: `Some(true)` if all of it went,
    /// `Some(false)` if it failed, `None` if there is more to do (the rest is on its way)
    /// or it was a closed connection's (whose bytes can go now).
    fn sent(&mut self, key: usize, id24: u64, result: i32) -> io::Result<Option<bool>> {
        let Some(sending) = self.in_flight(key).filter(|s| s.id24 == id24) else {
            let orphan = self
                .orphans
                .iter()
                .position(|(k, s)| (*k, s.id24) == (key, id24));
            if let Some(i) = orphan {
                outbox::give_back(self.orphans.swap_remove(i).1.bytes);
            }
            return Ok(None);
        };
        sending.sent += result.max(0) as usize;
        if result > 0 && sending.sent < sending.bytes.len() {
            self.send(key)?;
            return Ok(None);
        }
        let done = self.sending[key].take().expect("in flight");
        // The memory goes to the next connection that queues something, as on mio.
        outbox::give_back(done.bytes);
        Ok(Some(result > 0))
    }
}

impl Transport for Uring {
    fn open(&mut self, key: usize, client: &mut Client) -> io::Result<()> {
        self.recv(client.socket.as_raw_fd(), key, client.id)
    }

    fn flush(&mut self, key: usize, client: &mut Client) -> io::Result<bool> {
        if self.in_flight(key).is_some() {
            return Ok(false); // `on_writable` when it completes
        }
        if client.outbox.is_empty() {
            return Ok(true);
        }
        if self.sending.len() <= key {
            self.sending.resize_with(key + 1, || None);
        }
        self.sending[key] = Some(Sending {
            bytes: client.outbox.take(),
            sent: 0,
            fd: client.socket.as_raw_fd(),
            id24: client.id & 0xff_ffff,
        });
        self.send(key)?;
        Ok(false)
    }

    fn close(&mut self, key: usize, client: &mut Client) {
        // A send in flight keeps its bytes until it completes; the slot is free for the
        // next connection. It holds the socket open as long as it waits, and a peer that
        // reads nothing makes it wait for ever: cancel it, so that the socket closes now,
        // as on mio.
        if let Some(sending) = self.sending.get_mut(key).and_then(Option::take) {
            let entry = opcode::AsyncCancel::new(user_data(SEND, key, sending.id24))
                .build()
                .user_data(user_data(CANCEL, key, client.id));
            self.orphans.push((key, sending));
            // SAFETY: nothing is pointed to.
            let _ = unsafe { self.push(entry) };
        }
        // The armed receive holds the socket open too: cancel it.
        let entry = opcode::AsyncCancel::new(user_data(RECV, key, client.id))
            .build()
            .user_data(user_data(CANCEL, key, client.id));
        // SAFETY: nothing is pointed to.
        let _ = unsafe { self.push(entry) };
    }
}

/// Whether completion `(key, id24)` is for the connection now in slot `key`.
fn live<T: Transport>(chat: &Chat<T>, key: usize, id24: u64) -> Option<u64> {
    chat.id_of(key).filter(|id| id & 0xff_ffff == id24)
}

/// Run the chat on `listener` with io_uring; returns only on a failure of the ring.
pub fn run(listener: std::net::TcpListener) -> io::Result<()> {
    let ring = IoUring::builder()
        .setup_cqsize(16 * 1024)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(4096)
        .map_err(|e| io::Error::other(format!("io_uring (Linux 6.1 or later): {e}")))?;
    if !ring.params().is_feature_nodrop() {
        return Err(io::Error::other("io_uring: this kernel lacks NODROP"));
    }
    let mut buffers = BufRing::new(&ring).map_err(|e| {
        io::Error::other(format!("io_uring buffer ring (Linux 5.19 or later): {e}"))
    })?;
    let mut chat = Chat::new(Uring {
        ring,
        sending: Vec::new(),
        orphans: Vec::new(),
        timer: None,
        timespec: Box::new(Timespec::new()),
    });
    let listener_fd = listener.as_raw_fd();
    chat.transport.accept(listener_fd)?;

    let clock = Clock::now();
    let now = || clock.elapsed().as_millis() as u64;
    let mut buffer = vec![0u8; READ_BUFFER].into_boxed_slice();
    let mut rearm: Vec<(usize, u64, RawFd)> = Vec::new();
    let mut accept_paused_until: Option<u64> = None;
    let mut report = Report::default();
    // The clock as the last turn read it (once per turn, right after the wait). The
    // timeout is counted from it: a deadline may thus be handled later by as long as the
    // last turn took (never earlier), as on mio, and the clock is read once per turn.
    let mut last = now();

    loop {
        let mut wake = chat.next_deadline();
        if let Some(until) = accept_paused_until {
            wake = Some(wake.map_or(until, |at| at.min(until)));
        }
        if let Some(at) = wake {
            chat.transport.wake_at(at, last)?;
        }
        if buffers.unpublished {
            buffers.publish();
        }
        let ring = &mut chat.transport.ring;
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        let now = now();
        last = now;

        // The completions one at a time, straight from the queue rather than copied out
        // first: the handlers need the chat, which owns the ring, between two.
        loop {
            let Some(cqe) = chat.transport.ring.completion().next() else {
                break;
            };
            let (op, key, id24) = unpack(cqe.user_data());
            let (result, flags) = (cqe.result(), cqe.flags());
            match op {
                ACCEPT => {
                    if result >= 0 {
                        // SAFETY: a new descriptor from accept, ours alone.
                        let fd = unsafe { OwnedFd::from_raw_fd(result) };
                        let socket = mio::net::TcpStream::from_std(std::net::TcpStream::from(fd));
                        chat.add(socket, now);
                    } else if result != -libc::EINTR && result != -libc::ECONNABORTED {
                        // EMFILE, ENFILE, ENOBUFS...: wait for connections to close.
                        report.accept_failed(&io::Error::from_raw_os_error(-result));
                        accept_paused_until = Some(now + ACCEPT_PAUSE_MS);
                    }
                    if !cqueue::more(flags) && accept_paused_until.is_none() {
                        chat.transport.accept(listener_fd)?;
                    }
                }
                RECV => {
                    let bid = cqueue::buffer_select(flags);
                    let live = live(&chat, key, id24);
                    if let (Some(_), Some(bid), true) = (live, bid, result > 0) {
                        chat.on_received(
                            key,
                            buffers.get_mut(bid),
                            result as usize,
                            &mut buffer,
                            now,
                        );
                    }
                    if let Some(bid) = bid {
                        buffers.give_back(bid);
                    }
                    // (No `let` chain: the chat builds with Rust 1.87.)
                    if let (Some(id), false) = (live, cqueue::more(flags)) {
                        if result == -libc::ENOBUFS {
                            // Out of buffers: again once some are back.
                            let fd = chat.socket(key).map_or(-1, |s| s.as_raw_fd());
                            rearm.push((key, id, fd));
                        } else {
                            chat.on_eof(key); // end of stream, or the connection failed
                        }
                    }
                }
                SEND => match chat.transport.sent(key, id24, result)? {
                    Some(true) => chat.on_writable(key),
                    Some(false) => chat.on_error(key),
                    None => {}
                },
                TIMER => chat.transport.timer = None, // fired: the next turn arms the next
                _ => {}                               // CANCEL, TIMER_MOVED: nothing to do
            }
        }
        for (key, id, fd) in rearm.drain(..) {
            if chat.id_of(key) == Some(id) {
                chat.transport.recv(fd, key, id)?;
            }
        }
        if accept_paused_until.is_some_and(|until| now >= until) {
            accept_paused_until = None;
            chat.transport.accept(listener_fd)?;
        }
        chat.on_timers(now);
        chat.end_turn();
        report.tick(now, &chat);
    }
}
