//! What an idle tokio `WebSocketStream` holds: its own size and the heap it keeps after a
//! message went both ways and it waits for the next, counted by a global allocator (this file is its own test
//! binary, with one test, so nothing else allocates meanwhile on its threads).
#![cfg(feature = "tokio")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use sockless::io::Message;
use sockless::io::tokio::WebSocketStream;
use sockless::{Config, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Live heap bytes of the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[tokio::test(flavor = "current_thread")]
async fn an_idle_stream_gives_its_buffers_back_and_holds_nothing_of_its_messages() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let size = size_of::<WebSocketStream<tokio::io::DuplexStream>>();
        let (ours, mut peer) = tokio::io::duplex(4 << 20);
        let before = LIVE.load(Ordering::Relaxed);
        let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, Config::default());
        let created = LIVE.load(Ordering::Relaxed) - before;

        // A small and a large message each way (the large one arrives in pieces and is
        // assembled, and is written from its own buffer), then idle.
        let large = vec![0x5a; 1 << 20];
        for payload in [&b"hello"[..], &large[..]] {
            let mut frame = vec![0x82, 0xff];
            frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            if payload.len() < 126 {
                frame = vec![0x82, 0x80 | payload.len() as u8];
            }
            frame.extend_from_slice(&[0; 4]); // a zero mask leaves the payload as it is
            frame.extend_from_slice(payload);
            peer.write_all(&frame).await.unwrap();
            let message = ws.next().await.unwrap().unwrap();
            assert_eq!(message, Message::Binary(payload.to_vec()));
            ws.send(message).await.unwrap();
            let mut echo = vec![0; payload.len() + if payload.len() < 126 { 2 } else { 10 }];
            peer.read_exact(&mut echo).await.unwrap();
        }
        // It waits for the next message: with nothing kept or owed, it gives its
        // buffers back while it waits.
        let waited = tokio::time::timeout(Duration::from_millis(20), ws.next()).await;
        assert!(waited.is_err(), "no message was sent: {waited:?}");
        // What the stream holds is what dropping it gives back (the pipe's buffers are
        // shared with the peer's end, which lives on).
        let live = LIVE.load(Ordering::Relaxed);
        drop(ws);
        let idle = live - LIVE.load(Ordering::Relaxed);
        println!("size_of WebSocketStream<DuplexStream>: {size} B");
        println!("heap at creation: {created} B; held when idle after 1 MiB each way: {idle} B");
        // At work: the input buffer (16 KiB), the output staging area and the timer.
        // Waiting: the smallest storage the driver takes and the timer; nothing of the
        // 1 MiB messages, nothing of the two buffers.
        let expected = 16 * 1024 + sockless::io::tokio::OUTPUT_BUFFER;
        assert!(created >= expected as isize, "{created}");
        let parked = sockless::MIN_INPUT_BUFFER + sockless::MIN_OUTPUT_BUFFER;
        assert!(idle >= parked as isize, "idle {idle}");
        assert!(idle < parked as isize + 1024, "idle {idle}");
        assert!(size < 1024, "{size}");
    })
    .await
    .expect("the test took too long");
}
