//! Per-connection memory: `size_of` of the connection object, plus the heap it holds
//! (measured with a counting allocator, switched on only here) after it received one
//! 16-byte message and sent one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

use crate::io::{MemStream, runtime};
use crate::sl;
use crate::workload::push_frame;

pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON.load(Relaxed) {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// [`heap_held`] for the other modules.
pub fn heap_held_pub<T>(f: impl FnOnce() -> T) -> (T, isize) {
    heap_held(f)
}

/// Heap bytes still held after `f` returned what it keeps (the connection).
fn heap_held<T>(f: impl FnOnce() -> T) -> (T, isize) {
    LIVE.store(0, Relaxed);
    ON.store(true, Relaxed);
    let kept = f();
    ON.store(false, Relaxed);
    (kept, LIVE.load(Relaxed))
}

pub struct Row {
    pub name: &'static str,
    pub size_of: usize,
    pub heap: isize,
    pub note: &'static str,
}

pub fn rows() -> Vec<Row> {
    let mut frame = Vec::new();
    push_frame(&mut frame, true, 2, &[7u8; 16], [1, 2, 3, 4]);
    let frame: &'static [u8] = frame.leak();
    let payload = [9u8; 16];
    let mut rows = Vec::new();

    rows.push(Row {
        name: "sockless Server",
        size_of: size_of::<sockless::Server>(),
        heap: 0,
        note: "no heap; caller's read buffer (any size) not counted",
    });
    rows.push(Row {
        name: "sockless Client",
        size_of: size_of::<sockless::Client<'static, sl::Rng>>(),
        heap: 0,
        note: "with an 8-byte RNG; borrows its request strings",
    });

    {
        use tungstenite::protocol::{Message, Role, WebSocket};
        let (ws, heap) = heap_held(|| {
            let mut ws = WebSocket::from_raw_socket(MemStream::new(frame), Role::Server, None);
            ws.read().unwrap();
            ws.send(Message::Binary(payload.to_vec().into())).unwrap();
            ws
        });
        rows.push(Row {
            name: "tungstenite WebSocket",
            size_of: size_of_val(&ws),
            heap,
            note: "default config: 128 KiB read buffer, 128 KiB write buffer",
        });
    }
    {
        use fastwebsockets::{FragmentCollector, Frame, Payload, Role, WebSocket};
        let rt = runtime();
        let (ws, heap) = heap_held(|| {
            rt.block_on(async {
                let mut ws = FragmentCollector::new(WebSocket::after_handshake(
                    MemStream::new(frame),
                    Role::Server,
                ));
                ws.read_frame().await.unwrap();
                ws.write_frame(Frame::binary(Payload::Borrowed(&payload)))
                    .await
                    .unwrap();
                ws
            })
        });
        rows.push(Row {
            name: "fastwebsockets FragmentCollector",
            size_of: size_of_val(&ws),
            heap,
            note: "8 KiB read buffer to start, grows to the largest frame",
        });
    }
    {
        use futures_util::{SinkExt, StreamExt};
        let rt = runtime();
        let (ws, heap) = heap_held(|| {
            rt.block_on(async {
                let mut ws = tokio_websockets::ServerBuilder::new().serve(MemStream::new(frame));
                ws.next().await.unwrap().unwrap();
                ws.send(tokio_websockets::Message::binary(payload.to_vec()))
                    .await
                    .unwrap();
                ws
            })
        });
        rows.push(Row {
            name: "tokio-websockets WebSocketStream",
            size_of: size_of_val(&ws),
            heap,
            note: "codec buffers grow with frames",
        });
    }
    rows.push(Row {
        name: "embedded-websocket WebSocketServer",
        size_of: size_of::<embedded_websocket::WebSocketServer>(),
        heap: 0,
        note: "plus caller's read buffer AND a payload buffer (unmasks into a copy)",
    });
    rows.push(Row {
        name: "websocket-sans-io decoder+encoder",
        size_of: size_of::<websocket_sans_io::WebsocketFrameDecoder>()
            + size_of::<websocket_sans_io::WebsocketFrameEncoder>(),
        heap: 0,
        note: "frames only: no message, UTF-8 or close state",
    });
    rows
}
