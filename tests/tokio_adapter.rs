//! The tokio adapter (`sockless::io::tokio`) against itself, raw byte peers, a transport
//! that holds bytes until `flush`, tokio-tungstenite, and over TLS. Every test is bounded
//! with `tokio::time::timeout`.
#![cfg(feature = "tokio")]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use sockless::io::tokio::{
    Decision, Settings, WebSocketStream, accept, accept_with, client_async, connect, connect_with,
};
use sockless::io::{Error, Message, OwnedCloseFrame};
use sockless::{CloseCode, Config, Event, Role, TimedOut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

/// Every test ends within this, or fails.
async fn bounded<F: Future>(f: F) -> F::Output {
    timeout(Duration::from_secs(20), f)
        .await
        .expect("the test took too long")
}

/// A frame as a client sends it (masked with a fixed key).
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// A server stream over an in-memory pipe, and the peer's end of the pipe.
fn server_pair(config: Config) -> (WebSocketStream<DuplexStream>, DuplexStream) {
    let (ours, peer) = tokio::io::duplex(1 << 20);
    (
        WebSocketStream::from_raw_socket(ours, Role::Server, config),
        peer,
    )
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", listener.local_addr().unwrap());
    (listener, url)
}

/// Echo every text and binary message until the stream ends; returns the peer's Close.
async fn echo<S>(mut ws: WebSocketStream<S>) -> Option<OwnedCloseFrame>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut close = None;
    while let Some(message) = ws.next().await {
        match message.expect("a message") {
            message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await.unwrap(),
            Message::Close(frame) => close = frame,
            _ => {}
        }
    }
    close
}

/// Messages of every kind and a large one, through an echo, from `ws`.
async fn round_trip<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let large: Vec<u8> = (0..(1 << 20) + 7).map(|i| (i * 31 % 251) as u8).collect();
    for message in [
        Message::Text("héllo wörld ✓".into()),
        Message::Binary(vec![0, 1, 2, 255]),
        Message::Text(String::new()),
        Message::Binary(large),
    ] {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), message);
    }
    ws.send(Message::Ping(b"are you there".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Pong(b"are you there".to_vec())
    );
}

#[tokio::test]
async fn echo_in_both_roles_then_close_from_the_client() {
    bounded(async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            echo(accept(tcp).await.unwrap()).await
        });
        let (mut ws, response) = connect(&url).await.unwrap();
        assert_eq!(response.status, 101);
        assert_eq!(ws.role(), Role::Client);
        round_trip(&mut ws).await;
        ws.close(CloseCode(4000), "client bye").await.unwrap();
        // The server's echo, then the end of the stream (the server shut the transport).
        let echo = ws.next().await.unwrap().unwrap();
        assert_eq!(
            echo,
            Message::Close(Some(OwnedCloseFrame {
                code: CloseCode(4000),
                reason: String::new()
            }))
        );
        assert!(ws.next().await.is_none());
        let seen = server.await.unwrap().unwrap();
        assert_eq!(
            (seen.code, seen.reason.as_str()),
            (CloseCode(4000), "client bye")
        );
        // Sending after the end is `Closed`.
        assert!(matches!(
            ws.send(Message::Text("late".into())).await,
            Err(Error::Closed)
        ));
    })
    .await;
}

#[tokio::test]
async fn close_from_the_server_ends_both_sides_cleanly() {
    bounded(async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept(tcp).await.unwrap();
            let hello = ws.next().await.unwrap().unwrap();
            assert_eq!(hello, Message::Text("hello".into()));
            ws.close(CloseCode::GOING_AWAY, "server bye").await.unwrap();
            // The client's echo, then the end.
            let echo = ws.next().await.unwrap().unwrap();
            assert!(matches!(echo, Message::Close(Some(f)) if f.code == CloseCode::GOING_AWAY));
            assert!(ws.next().await.is_none());
        });
        let (mut ws, _) = connect(&url).await.unwrap();
        ws.send(Message::Text("hello".into())).await.unwrap();
        let close = ws.next().await.unwrap().unwrap();
        assert!(matches!(&close, Message::Close(Some(f)) if f.reason == "server bye"));
        // Exactly one Close was echoed, and the stream ends when the server closes TCP.
        assert!(ws.next().await.is_none());
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_pings_every_100ms_gets_every_pong_while_we_only_read() {
    bounded(async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept(tcp).await.unwrap();
            let mut pings = 0;
            // Only reading: no send, no flush.
            while let Some(message) = ws.next().await {
                if let Message::Ping(_) = message.unwrap() {
                    pings += 1;
                }
            }
            pings
        });
        let (mut peer, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        use tokio_tungstenite::tungstenite::Message as T;
        for i in 0..10u8 {
            let sent = Instant::now();
            peer.send(T::Ping(vec![i].into())).await.unwrap();
            let pong = timeout(Duration::from_millis(100), peer.next())
                .await
                .expect("the Pong did not arrive within 100 ms");
            assert_eq!(pong.unwrap().unwrap(), T::Pong(vec![i].into()));
            tokio::time::sleep_until(sent + Duration::from_millis(100)).await;
        }
        peer.close(None).await.unwrap();
        assert_eq!(server.await.unwrap(), 10);
    })
    .await;
}

/// A transport that keeps every written byte until `flush` (as TLS or a `BufWriter` may).
struct HoldUntilFlush {
    inner: DuplexStream,
    held: Vec<u8>,
}

impl AsyncRead for HoldUntilFlush {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for HoldUntilFlush {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while !this.held.is_empty() {
            let n = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, &this.held))?;
            this.held.drain(..n);
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_transport_that_holds_bytes_until_flush_still_gets_the_pong_and_the_close_echo() {
    bounded(async {
        let (ours, mut peer) = tokio::io::duplex(4096);
        let held = HoldUntilFlush {
            inner: ours,
            held: Vec::new(),
        };
        let mut ws = WebSocketStream::from_raw_socket(held, Role::Server, Config::default());
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(message) = ws.next().await {
                seen.push(message.unwrap());
            }
            seen
        });
        peer.write_all(&masked(0x89, b"ping?")).await.unwrap();
        let mut pong = [0; 7];
        timeout(Duration::from_secs(1), peer.read_exact(&mut pong))
            .await
            .expect("the Pong stayed in the transport")
            .unwrap();
        assert_eq!(pong, *b"\x8a\x05ping?");
        peer.write_all(&masked(0x88, &[0x03, 0xe8, b'o', b'k']))
            .await
            .unwrap();
        let mut echo = Vec::new();
        timeout(Duration::from_secs(1), peer.read_to_end(&mut echo))
            .await
            .expect("the Close echo stayed in the transport, or the transport was not shut")
            .unwrap();
        assert_eq!(echo, [0x88, 0x02, 0x03, 0xe8]);
        let seen = reader.await.unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], Message::Ping(b"ping?".to_vec()));
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_never_answers_our_close_ends_at_the_close_timeout() {
    bounded(async {
        let config = Config::default().with_close_timeout(Duration::from_millis(300));
        let (mut ws, mut peer) = server_pair(config);
        let started = Instant::now();
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        let mut close = [0; 7];
        peer.read_exact(&mut close).await.unwrap();
        assert_eq!(close, *b"\x88\x05\x03\xe8bye");
        // The peer stays silent.
        match ws.next().await {
            Some(Err(Error::TimedOut(TimedOut::Closing))) => {}
            other => panic!("expected the close timeout, got {other:?}"),
        }
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(ws.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_ends_at_the_keep_alive_timeout() {
    bounded(async {
        let config = Config::default()
            .with_keep_alive(Some(Duration::from_millis(100)))
            .with_keep_alive_timeout(Duration::from_millis(200));
        let (mut ws, mut peer) = server_pair(config);
        let started = Instant::now();
        match ws.next().await {
            Some(Err(Error::TimedOut(TimedOut::KeepAlive))) => {}
            other => panic!("expected the keep-alive timeout, got {other:?}"),
        }
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        // Our keep-alive Ping reached the peer, then the transport was shut.
        let mut wire = Vec::new();
        peer.read_to_end(&mut wire).await.unwrap();
        assert_eq!(wire[..2], [0x89, 4]);
    })
    .await;
}

#[tokio::test]
async fn a_slowloris_client_gets_408_and_accept_times_out() {
    bounded(async {
        let (listener, _) = listener().await;
        let addr = listener.local_addr().unwrap();
        let config = Config::default().with_handshake_timeout(Duration::from_millis(400));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let started = Instant::now();
            let result = accept_with(tcp, config, Decision::default_for).await;
            (result.err(), started.elapsed())
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = b"GET /slow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
        let mut answer = Vec::new();
        for byte in request {
            if tcp.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
            let mut buf = [0; 256];
            if let Ok(Ok(n)) = timeout(Duration::from_millis(1), tcp.read(&mut buf)).await {
                answer.extend_from_slice(&buf[..n]);
                if n == 0 {
                    break;
                }
            }
        }
        let _ = timeout(Duration::from_secs(1), tcp.read_to_end(&mut answer)).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        let (error, waited) = server.await.unwrap();
        assert!(matches!(error, Some(Error::TimedOut(TimedOut::Handshake))));
        assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(2));
    })
    .await;
}

#[tokio::test]
async fn connecting_to_a_silent_server_ends_at_the_handshake_deadline() {
    bounded(async {
        let (listener, url) = listener().await;
        // Accepts the TCP connection, then says nothing.
        let silent = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(tcp);
        });
        let config = Config::default().with_handshake_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let result = connect_with(&url, config).await;
        let waited = started.elapsed();
        assert!(matches!(result, Err(Error::TimedOut(TimedOut::Handshake))));
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2));
        silent.abort();
    })
    .await;
}

#[tokio::test]
async fn wss_without_tls_is_a_typed_error() {
    let result = bounded(connect("wss://127.0.0.1:1/")).await;
    assert!(matches!(result, Err(Error::TlsNotConfigured)));
}

/// `accept` decides as every adapter does by default (`Decision::default_for`): a request
/// that is not an upgrade gets 426 Upgrade Required, with the headers naming the protocol.
#[tokio::test]
async fn a_plain_http_request_gets_426_upgrade_required() {
    bounded(async {
        let (listener, _) = listener().await;
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            accept(tcp).await.err()
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 426"), "{answer:?}");
        assert!(answer.windows(18).any(|w| w == b"Upgrade: websocket"));
        assert!(matches!(
            server.await.unwrap(),
            Some(Error::Rejected { status: 426 })
        ));
    })
    .await;
}

/// A fragmented text message (a character split across frames) with a Ping between its
/// fragments, as a client sends it.
fn fragmented() -> (Vec<u8>, &'static str) {
    let text = "frag héllo wörld 🚀 end";
    let bytes = text.as_bytes();
    let cut1 = text.find('é').unwrap() + 1;
    let cut2 = text.find('🚀').unwrap() + 2;
    let mut wire = masked(0x01, &bytes[..cut1]);
    wire.extend(masked(0x00, &bytes[cut1..cut2]));
    wire.extend(masked(0x89, b"mid"));
    wire.extend(masked(0x80, &bytes[cut2..]));
    (wire, text)
}

#[tokio::test]
async fn a_read_cancelled_at_every_byte_boundary_loses_nothing() {
    bounded(async {
        let (wire, text) = fragmented();
        // Whole messages (`Stream`), cancelled after each byte.
        let (mut ws, mut peer) = server_pair(Config::default());
        let mut seen = Vec::new();
        for byte in &wire {
            peer.write_all(&[*byte]).await.unwrap();
            // Poll once, then drop the `next()` future.
            if let Some(item) = ws.next().now_or_never() {
                seen.push(item.unwrap().unwrap());
            }
        }
        assert_eq!(
            seen,
            [Message::Ping(b"mid".to_vec()), Message::Text(text.into())]
        );
        let mut pong = [0; 5];
        peer.read_exact(&mut pong).await.unwrap();
        assert_eq!(pong, *b"\x8a\x03mid");

        // Borrowed events (`next_event`), cancelled after each byte.
        let (mut ws, mut peer) = server_pair(Config::default());
        let mut pieces = Vec::new();
        let mut pings = 0;
        for byte in &wire {
            peer.write_all(&[*byte]).await.unwrap();
            if let Some(event) = ws.next_event().now_or_never() {
                match event.unwrap() {
                    Event::Chunk(chunk) => {
                        assert_eq!(chunk.first, pieces.is_empty());
                        pieces.push((chunk.data.to_vec(), chunk.last));
                    }
                    Event::Ping(payload) => {
                        assert_eq!(payload, b"mid");
                        pings += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(pings, 1);
        assert_eq!(pieces.iter().filter(|(_, last)| *last).count(), 1);
        assert!(pieces.last().unwrap().1);
        let joined: Vec<u8> = pieces.into_iter().flat_map(|(data, _)| data).collect();
        assert_eq!(joined, text.as_bytes());
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_never_reads_makes_send_wait_not_memory_grow() {
    bounded(async {
        // A small pipe whose far end is never read.
        let (ours, _peer) = tokio::io::duplex(1024);
        let limit = 64 * 1024;
        let settings = Settings::from(Config::default()).with_write_buffer_limit(limit);
        let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, settings);
        let message = Message::Binary(vec![7; 16 * 1024]);
        let mut fed = 0;
        loop {
            match timeout(Duration::from_millis(200), ws.feed(message.clone())).await {
                Ok(result) => {
                    result.unwrap();
                    fed += 1;
                    assert!(ws.buffered_amount() <= limit + 16 * 1024 + 14);
                }
                Err(_) => break,
            }
            assert!(fed < 100, "feed never pushed back");
        }
        assert!(ws.buffered_amount() <= limit + 16 * 1024 + 14);
        assert!(fed >= 4, "only {fed} messages before backpressure");

        // The same through a `Sender`: its channel fills, then `send` waits.
        let capacity = 4;
        let settings = settings.with_channel_capacity(capacity);
        let (ours, _peer) = tokio::io::duplex(1024);
        let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, settings);
        let sender = ws.sender();
        let reader = tokio::spawn(async move {
            let _ = ws.next().await;
            ws
        });
        let mut queued = 0;
        while timeout(Duration::from_millis(200), sender.send(message.clone()))
            .await
            .is_ok()
        {
            queued += 1;
            assert!(queued < 100, "the sender never pushed back");
        }
        // The reader moved what fit under the limit into its buffer; the rest waits.
        assert!(queued <= capacity + limit / (16 * 1024) + 2, "{queued}");
        reader.abort();
    })
    .await;
}

#[tokio::test]
async fn senders_on_other_tasks_are_written_by_the_reading_task() {
    bounded(async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept(tcp).await.unwrap();
            let sender = ws.sender();
            for i in 0..3 {
                let sender = sender.clone();
                tokio::spawn(async move {
                    sender
                        .send(Message::Text(format!("from task {i}")))
                        .await
                        .unwrap();
                });
            }
            // Only reading; the reading drives the senders' writes.
            while let Some(message) = ws.next().await {
                message.unwrap();
            }
            assert!(sender.is_closed());
        });
        let (mut ws, _) = connect(&url).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            match ws.next().await.unwrap().unwrap() {
                Message::Text(text) => got.push(text),
                other => panic!("{other:?}"),
            }
        }
        got.sort();
        assert_eq!(got, ["from task 0", "from task 1", "from task 2"]);
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        while ws.next().await.is_some() {}
        server.await.unwrap();
    })
    .await;
}

/// Our [`echo`] server on a local port, and a tokio-tungstenite client connected to it.
async fn our_echo_server_and_a_tokio_tungstenite_client() -> (
    tokio::task::JoinHandle<Option<OwnedCloseFrame>>,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
) {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        echo(accept(tcp).await.unwrap()).await
    });
    let (peer, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    (server, peer)
}

#[tokio::test]
async fn our_server_against_a_tokio_tungstenite_client() {
    use tokio_tungstenite::tungstenite::Message as T;
    bounded(async {
        let (server, mut peer) = our_echo_server_and_a_tokio_tungstenite_client().await;
        let large = vec![9u8; 3 << 20];
        for message in [
            T::Text("héllo".into()),
            T::Binary(large.clone().into()),
            T::Binary(Vec::new().into()),
        ] {
            peer.send(message.clone()).await.unwrap();
            assert_eq!(peer.next().await.unwrap().unwrap(), message);
        }
        peer.send(T::Ping(b"p".to_vec().into())).await.unwrap();
        assert_eq!(
            peer.next().await.unwrap().unwrap(),
            T::Pong(b"p".to_vec().into())
        );
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        peer.close(Some(CloseFrame {
            code: 4001.into(),
            reason: "tt bye".into(),
        }))
        .await
        .unwrap();
        while let Some(Ok(_)) = peer.next().await {}
        let seen = server.await.unwrap().unwrap();
        assert_eq!(
            (seen.code, seen.reason.as_str()),
            (CloseCode(4001), "tt bye")
        );
    })
    .await;
}

#[tokio::test]
async fn our_client_against_a_tokio_tungstenite_server() {
    use tokio_tungstenite::tungstenite::Message as T;
    bounded(async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut close = None;
            while let Some(message) = ws.next().await {
                match message.unwrap() {
                    m @ (T::Text(_) | T::Binary(_)) => ws.send(m).await.unwrap(),
                    T::Close(frame) => close = frame,
                    _ => {}
                }
            }
            close.map(|f| (u16::from(f.code), f.reason.to_string()))
        });
        let tcp = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches("/echo"))
            .await
            .unwrap();
        let (mut ws, response) = client_async(&url, tcp).await.unwrap();
        assert_eq!(response.status, 101);
        round_trip(&mut ws).await;
        ws.close(CloseCode(4002), "sockless bye").await.unwrap();
        assert!(matches!(
            ws.next().await,
            Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode(4002)
        ));
        assert!(ws.next().await.is_none());
        assert_eq!(
            server.await.unwrap(),
            Some((4002, "sockless bye".to_string()))
        );
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_given_up_after_the_write_timeout() {
    bounded(async {
        let config = Config::default().with_write_timeout(Duration::from_millis(300));
        let large = Message::Binary(vec![7; 64 * 1024]);

        // The writer sees it: a send that the transport never takes fails.
        let (ours, _peer) = tokio::io::duplex(1024);
        let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, config);
        let started = Instant::now();
        let sent = ws.send(large.clone()).await;
        assert!(
            matches!(sent, Err(Error::TimedOut(TimedOut::Write))),
            "{sent:?}"
        );
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(ws.next().await.is_none());
        assert!(matches!(ws.send(large.clone()).await, Err(Error::Closed)));

        // The reader sees it: messages staged, then only reading (no flush).
        let (ours, _peer) = tokio::io::duplex(1024);
        let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, config);
        ws.feed(large.clone()).await.unwrap();
        ws.feed(Message::Text("small".into())).await.unwrap();
        let started = Instant::now();
        match ws.next().await {
            Some(Err(Error::TimedOut(TimedOut::Write))) => {}
            other => panic!("expected the write timeout, got {other:?}"),
        }
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(ws.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_keep_alive_ping_that_cannot_go_out_times_the_peer_out() {
    bounded(async {
        let config = Config::default()
            .with_keep_alive(Some(Duration::from_millis(100)))
            .with_keep_alive_timeout(Duration::from_millis(200));
        // A peer that takes 1 KiB and then nothing: our Ping waits behind a message.
        let (ours, _peer) = tokio::io::duplex(1024);
        let started = Instant::now();
        let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, config);
        ws.feed(Message::Binary(vec![7; 64 * 1024])).await.unwrap();
        match ws.next().await {
            Some(Err(Error::TimedOut(TimedOut::KeepAlive))) => {}
            other => panic!("expected the keep-alive timeout, got {other:?}"),
        }
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(ws.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_reset_after_both_close_frames_is_a_clean_close() {
    bounded(async {
        let (listener, url) = listener().await;
        let (echoed_tx, echoed_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept(tcp).await.unwrap();
            ws.close(CloseCode::NORMAL, "done").await.unwrap();
            // The client's echo: the closing handshake is over on both sides.
            let echo = ws.next().await.unwrap().unwrap();
            assert!(matches!(echo, Message::Close(Some(f)) if f.code == CloseCode::NORMAL));
            echoed_rx.await.unwrap();
            // Then a reset instead of a FIN, as Autobahn's server and many others do.
            let tcp = ws.into_inner();
            tcp.set_zero_linger().unwrap();
            drop(tcp);
        });
        let (mut ws, _) = connect(&url).await.unwrap();
        let close = ws.next().await.unwrap().unwrap();
        assert!(matches!(close, Message::Close(Some(f)) if f.reason == "done"));
        echoed_tx.send(()).unwrap();
        server.await.unwrap();
        // The reset ends the stream cleanly: no I/O error.
        match ws.next().await {
            None => {}
            other => panic!("expected a clean end, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_deadline_wins_over_a_flood() {
    bounded(async {
        let config = Config::default().with_close_timeout(Duration::from_millis(300));
        let (mut ws, mut peer) = server_pair(config);
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        // The peer never answers our Close; it floods data frames instead.
        let flood = tokio::spawn(async move {
            let frame = masked(0x82, &[1; 100]);
            let burst: Vec<u8> = frame
                .iter()
                .copied()
                .cycle()
                .take(frame.len() * 100)
                .collect();
            let mut sent = 0u64;
            while peer.write_all(&burst).await.is_ok() {
                sent += 100;
            }
            sent
        });
        let started = Instant::now();
        loop {
            match ws.next().await {
                Some(Ok(_)) => continue,
                Some(Err(Error::TimedOut(TimedOut::Closing))) => break,
                other => panic!("expected the close timeout, got {other:?}"),
            }
        }
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(ws.next().await.is_none());
        drop(ws);
        let sent = flood.await.unwrap();
        assert!(sent > 100, "the flood sent only {sent} frames");
    })
    .await;
}

#[cfg(feature = "tokio-rustls")]
mod wss {
    use std::sync::Arc;

    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use sockless::io::tokio::{accept_tls, connect_tls};

    use super::*;

    fn tls_configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    #[tokio::test]
    async fn wss_round_trip_in_both_roles() {
        bounded(async {
            let (server_tls, client_tls) = tls_configs();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let ws = accept_tls(tcp, &acceptor, Config::default(), Decision::default_for)
                    .await
                    .unwrap();
                echo(ws).await
            });
            let url = format!("wss://localhost:{port}/secure");
            let (mut ws, response) = connect_tls(&url, client_tls, Config::default())
                .await
                .unwrap();
            assert_eq!(response.status, 101);
            round_trip(&mut ws).await;
            ws.close(CloseCode::NORMAL, "tls bye").await.unwrap();
            assert!(matches!(ws.next().await, Some(Ok(Message::Close(_)))));
            assert!(ws.next().await.is_none());
            assert_eq!(server.await.unwrap().unwrap().reason, "tls bye");
        })
        .await;
    }

    #[tokio::test]
    async fn connect_tls_refuses_a_ws_url() {
        let (_, client_tls) = tls_configs();
        let result = bounded(connect_tls(
            "ws://localhost:1/",
            client_tls,
            Config::default(),
        ))
        .await;
        assert!(matches!(
            result,
            Err(Error::Usage(sockless::UsageError::InvalidUrl))
        ));
    }
}

/// A scripted transport: each read hands out the next of `reads`; once they run out,
/// `then` for ever (ready at once, every time) or, without it, a connection reset. After
/// 5 s of wall time reads fail, so that a test of a bug that loops for ever fails instead
/// of hanging. Writes are taken whole.
struct Scripted {
    reads: std::collections::VecDeque<Vec<u8>>,
    then: Option<Vec<u8>>,
    gives_out: std::time::Instant,
}

impl Scripted {
    fn new(reads: Vec<Vec<u8>>, then: Option<Vec<u8>>) -> Scripted {
        Scripted {
            reads: reads.into(),
            then,
            gives_out: std::time::Instant::now() + Duration::from_secs(5),
        }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if std::time::Instant::now() > self.gives_out {
            return Poll::Ready(Err(std::io::Error::other("the script ran out")));
        }
        let next = match self.reads.pop_front() {
            Some(next) => next,
            None => match &self.then {
                Some(then) => then.clone(),
                None => return Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into())),
            },
        };
        buf.put_slice(&next);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_reset_after_the_closing_handshake_is_a_clean_end() {
    bounded(async {
        // We close; the server answers, then resets the TCP connection.
        let transport = Scripted::new(vec![vec![0x88, 0x02, 0x03, 0xe8]], None);
        let mut ws = WebSocketStream::from_raw_socket(transport, Role::Client, Config::default());
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        let close = ws.next().await;
        assert!(
            matches!(&close, Some(Ok(Message::Close(Some(frame)))) if frame.code == CloseCode::NORMAL),
            "{close:?}"
        );
        let end = ws.next().await;
        assert!(end.is_none(), "{end:?}");
        // A reset before the peer's Close is still a failure.
        let transport = Scripted::new(vec![], None);
        let mut ws = WebSocketStream::from_raw_socket(transport, Role::Client, Config::default());
        let read = ws.next().await;
        assert!(
            matches!(&read, Some(Err(Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{read:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_pings_for_ever_after_our_close_ends_at_the_close_timeout() {
    bounded(async {
        let close_timeout = Duration::from_millis(300);
        let config = Config::default().with_close_timeout(close_timeout);
        let transport = Scripted::new(vec![], Some(masked(0x89, b"still here")));
        let mut ws = WebSocketStream::from_raw_socket(transport, Role::Server, config);
        let start = Instant::now();
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        let end = loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_))) => {}
                other => break other,
            }
        };
        let took = start.elapsed();
        assert!(
            matches!(end, Some(Err(Error::TimedOut(TimedOut::Closing)))),
            "{end:?} after {took:?}"
        );
        assert!(took < close_timeout + Duration::from_secs(2), "{took:?}");
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_given_up_at_the_write_timeout() {
    bounded(async {
        let write_timeout = Duration::from_millis(500);
        let config = Config::default().with_write_timeout(write_timeout);
        // The peer's end is kept open and never read: 4 KiB fit in the pipe, then nothing.
        let (ours, _peer) = tokio::io::duplex(4096);
        let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, config);
        let start = Instant::now();
        let sent = ws.send(Message::Binary(vec![1; 64 * 1024])).await;
        let took = start.elapsed();
        assert!(
            matches!(sent, Err(Error::TimedOut(TimedOut::Write))),
            "{sent:?} after {took:?}"
        );
        assert!(
            took >= write_timeout && took < write_timeout + Duration::from_secs(2),
            "{took:?}"
        );
        // The connection is over: reading ends, sending fails.
        assert!(ws.next().await.is_none());
        assert!(matches!(
            ws.send(Message::Text("more".into())).await,
            Err(Error::Closed)
        ));
    })
    .await;
}

/// `next_event_with`: the server answers each text message from the event's own bytes
/// while it holds it. "burst" asks for 200 replies of 1,000 bytes (more than the 16 KiB
/// output holds, so most are queued) and "large" for one of 100 KiB (larger than what is
/// staged directly); a tokio-tungstenite client sees every reply whole, once, in order,
/// then a clean close.
#[tokio::test]
async fn replies_sent_while_an_event_is_held_arrive_whole_and_in_order() {
    use tokio_tungstenite::tungstenite::Message as T;
    bounded(async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept(tcp).await.unwrap();
            let mut answered = 0;
            loop {
                let replied = ws.next_event_with(|event, reply| match event {
                    Event::Text("burst") => {
                        (0..200u32).try_for_each(|i| reply.send_binary(&[(i % 251) as u8; 1000]))
                    }
                    Event::Text("large") => reply.send_binary(&vec![7u8; 100 << 10]),
                    Event::Text(text) => reply.send_text(text),
                    _ => Ok(()),
                });
                match replied.await {
                    Ok(sent) => sent.unwrap(),
                    Err(Error::Closed) => return answered,
                    Err(error) => panic!("{error}"),
                }
                answered += 1;
            }
        });
        let (mut peer, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        for text in ["héllo", "burst", "large", "last"] {
            peer.send(T::Text(text.into())).await.unwrap();
        }
        assert_eq!(peer.next().await.unwrap().unwrap(), T::Text("héllo".into()));
        for i in 0..200u32 {
            let expected = T::Binary(vec![(i % 251) as u8; 1000].into());
            assert_eq!(peer.next().await.unwrap().unwrap(), expected, "reply {i}");
        }
        assert_eq!(
            peer.next().await.unwrap().unwrap(),
            T::Binary(vec![7u8; 100 << 10].into())
        );
        assert_eq!(peer.next().await.unwrap().unwrap(), T::Text("last".into()));
        peer.close(None).await.unwrap();
        while let Some(Ok(_)) = peer.next().await {}
        // Four messages and the Close were answered; then the stream ended cleanly.
        assert_eq!(server.await.unwrap(), 5);
    })
    .await;
}

/// A client answering from the event's bytes masks its replies (RFC 6455 §5.3): a
/// tokio-tungstenite server, which refuses unmasked frames, gets them back.
#[tokio::test]
async fn a_client_replying_while_holding_an_event_masks_its_replies() {
    use tokio_tungstenite::tungstenite::Message as T;
    bounded(async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut peer = tokio_tungstenite::accept_async(tcp).await.unwrap();
            for text in ["one", "two"] {
                peer.send(T::Text(text.into())).await.unwrap();
                assert_eq!(peer.next().await.unwrap().unwrap(), T::Text(text.into()));
            }
            peer.close(None).await.unwrap();
            while let Some(Ok(_)) = peer.next().await {}
        });
        let (mut ws, _) = connect(&url).await.unwrap();
        loop {
            let echoed = ws.next_event_with(|event, reply| match event {
                Event::Text(text) => reply.send_text(text),
                _ => Ok(()),
            });
            match echoed.await {
                Ok(sent) => sent.unwrap(),
                Err(Error::Closed) => break,
                Err(error) => panic!("{error}"),
            }
        }
        server.await.unwrap();
    })
    .await;
}

/// Once our Close is sent, a reply is refused as `Closed` (nothing may follow a Close,
/// RFC 6455 §5.5.1); the message that was still on its way is handed out all the same.
#[tokio::test]
async fn a_reply_after_our_close_is_refused() {
    bounded(async {
        let (mut ws, mut peer) = server_pair(Config::default());
        peer.write_all(&masked(0x81, b"late")).await.unwrap();
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        let refused = ws
            .next_event_with(|event, reply| {
                assert!(matches!(event, Event::Text("late")));
                reply.send_text("too late")
            })
            .await
            .unwrap();
        assert!(matches!(refused, Err(Error::Closed)), "{refused:?}");
        // Only our Close went out.
        let mut written = [0u8; 5];
        peer.read_exact(&mut written).await.unwrap();
        assert_eq!(written, [0x88, 5, 0x03, 0xe8, b'b']);
    })
    .await;
}

/// The stream keeps the buffer of a small message sent for the next message it hands out:
/// messages of every size around that limit, text and binary in turn, many in one read,
/// come back whole through an echo, nothing of an earlier message left in a later one.
#[tokio::test]
async fn an_echo_that_reuses_buffers_sends_every_message_back_as_it_came() {
    use tokio_tungstenite::tungstenite::Message as T;
    bounded(async {
        let (server, mut peer) = our_echo_server_and_a_tokio_tungstenite_client().await;
        let messages: Vec<T> = (0..600usize)
            .map(|i| {
                // Sizes go up and down across 0..=300, so a buffer is reused for a
                // shorter message than the one it held.
                let len = (i * 97) % 301;
                if i % 2 == 0 {
                    let text: String = (0..len)
                        .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
                        .collect();
                    T::Text(text.into())
                } else {
                    T::Binary(
                        (0..len)
                            .map(|j| (i * 7 + j) as u8)
                            .collect::<Vec<u8>>()
                            .into(),
                    )
                }
            })
            .collect();
        for message in &messages {
            peer.feed(message.clone()).await.unwrap();
        }
        peer.flush().await.unwrap();
        for message in &messages {
            assert_eq!(&peer.next().await.unwrap().unwrap(), message);
        }
        peer.close(None).await.unwrap();
        while let Some(Ok(_)) = peer.next().await {}
        assert_eq!(server.await.unwrap(), None);
    })
    .await;
}
