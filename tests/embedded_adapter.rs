//! The embedded-io-async adapter on the host: embedded-io-async over tokio's sockets
//! (`embedded-io-adapters`), against tokio-tungstenite on loopback in both roles, plus an
//! in-memory transport that cancels every read and write it can. Every test is bounded by
//! `tokio::time::timeout`.
#![cfg(feature = "embedded-io-async")]

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use futures_util::{SinkExt, StreamExt};
use sockless::assemble::FixedAssembler;
use sockless::io::embedded::{Decision, Error, Message, ReadBuffer, Timer, WebSocket};
use sockless::{
    Accept, CloseCode, Config, Connection, Event, Instant, Masked, MessageKind, TimedOut,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TCloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;

use common::{TestRng, rng, wire_frames};

/// The bound on every test.
const LIMIT: Duration = Duration::from_secs(20);

/// Time on tokio's clock, counted from the timer's creation.
struct TokioTimer(tokio::time::Instant);

impl TokioTimer {
    fn new() -> Self {
        TokioTimer(tokio::time::Instant::now())
    }
}

impl Timer for TokioTimer {
    fn now(&self) -> Instant {
        Instant::from_elapsed(self.0.elapsed())
    }

    async fn sleep_until(&mut self, deadline: Instant) {
        tokio::time::sleep_until(self.0 + deadline.elapsed_since_epoch()).await;
    }
}

type Transport = FromTokio<TcpStream>;
type ClientWs = WebSocket<Transport, TokioTimer, Vec<u8>, Masked<TestRng>>;
type ServerWs = WebSocket<Transport, TokioTimer, Vec<u8>>;
type Input = ReadBuffer<Vec<u8>>;

/// Run `test` within [`LIMIT`].
async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test did not finish in time")
}

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/embedded?x=1", listener.local_addr().unwrap());
    (listener, url)
}

fn input(size: usize, config: &Config) -> Input {
    ReadBuffer::new(vec![0; size], config).unwrap()
}

/// An embedded client connected to `url`, with an output buffer of `output` bytes.
async fn connect(
    url: &str,
    config: Config,
    input: &mut Input,
    output: usize,
) -> Result<ClientWs, Error<std::io::Error>> {
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (transport, timer) = (FromTokio::new(stream), TokioTimer::new());
    WebSocket::connect(transport, timer, vec![0; output], input, url, config, rng()).await
}

/// A tokio-tungstenite server on `listener` that echoes every data message until the
/// client closes; returns the client's Close.
fn tungstenite_echo_server(listener: TcpListener) -> tokio::task::JoinHandle<Option<TCloseFrame>> {
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let mut close = None;
        // Polled until it ends, so that the echo of the Close goes out.
        while let Some(Ok(message)) = ws.next().await {
            match message {
                message @ (TMessage::Text(_) | TMessage::Binary(_)) => {
                    ws.send(message).await.unwrap()
                }
                TMessage::Close(frame) => close = frame,
                _ => {}
            }
        }
        close
    })
}

/// Text of exactly `len` bytes mixing ASCII, Cyrillic and emoji.
fn text_of(len: usize) -> String {
    let mut text = String::with_capacity(len);
    let pattern = ['a', 'ж', '🚀', ' ', 'Z', 'é'];
    let mut i = 0;
    while text.len() + 4 <= len {
        text.push(pattern[i % pattern.len()]);
        i += 1;
    }
    while text.len() < len {
        text.push('x');
    }
    text
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

const SIZES: [usize; 7] = [0, 125, 126, 1000, 4096, 65_536, 100_000];

/// The next whole message read with [`WebSocket::read`], pieces joined.
async fn next_whole(ws: &mut ClientWs, input: &mut Input) -> (MessageKind, Vec<u8>) {
    let mut collected = Vec::new();
    loop {
        match ws.read(input).await.unwrap() {
            Event::Text(text) => return (MessageKind::Text, text.as_bytes().to_vec()),
            Event::Binary(data) => return (MessageKind::Binary, data.to_vec()),
            Event::Chunk(chunk) => {
                collected.extend_from_slice(chunk.data);
                if chunk.last {
                    return (chunk.kind, collected);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn echoes_text_and_binary_through_tungstenite_in_pieces() {
    bounded(async {
        let (listener, url) = listen().await;
        let server = tungstenite_echo_server(listener);
        let config = Config::default();
        // Messages larger than both buffers: sent as fragments, read as chunks.
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 1024).await.unwrap();
        for len in SIZES {
            let text = text_of(len);
            ws.send_text(&text).await.unwrap();
            let (kind, echo) = next_whole(&mut ws, &mut input).await;
            assert_eq!(
                (kind, echo),
                (MessageKind::Text, text.into_bytes()),
                "text {len}"
            );
            let data = binary_of(len);
            ws.send_binary(&data).await.unwrap();
            assert_eq!(
                next_whole(&mut ws, &mut input).await,
                (MessageKind::Binary, data)
            );
        }
        ws.close(&mut input, CloseCode::NORMAL, "done")
            .await
            .unwrap();
        assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
        let frame = server.await.unwrap().expect("a Close frame");
        assert_eq!(
            (u16::from(frame.code), frame.reason.as_str()),
            (1000, "done")
        );
    })
    .await;
}

#[tokio::test]
async fn reads_whole_messages_with_a_fixed_assembler() {
    bounded(async {
        let (listener, url) = listen().await;
        let server = tungstenite_echo_server(listener);
        const MAX: usize = 128 << 10;
        let config = FixedAssembler::<MAX>::configure(Config::default());
        let mut assembler = Box::new(FixedAssembler::<MAX>::new());
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 2048).await.unwrap();
        for len in SIZES {
            let text = text_of(len);
            ws.send_text(&text).await.unwrap();
            let echo = ws.read_message(&mut input, &mut assembler).await.unwrap();
            assert_eq!(echo, Message::Text(&text), "text {len}");
            let data = binary_of(len);
            ws.send_binary(&data).await.unwrap();
            let echo = ws.read_message(&mut input, &mut assembler).await.unwrap();
            assert_eq!(echo, Message::Binary(&data), "binary {len}");
        }
        // One over the limit: the connection refuses it with 1009 itself.
        ws.send_binary(&binary_of(MAX + 1)).await.unwrap();
        let error = ws
            .read_message(&mut input, &mut assembler)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Protocol(sockless::ProtocolError::MessageTooLarge)
            ),
            "{error:?}"
        );
        let frame = server.await.unwrap().expect("a Close frame");
        assert_eq!(u16::from(frame.code), 1009);
    })
    .await;
}

#[tokio::test]
async fn a_message_too_large_for_the_assembler_is_closed_with_1009() {
    bounded(async {
        let (listener, url) = listen().await;
        let server = tungstenite_echo_server(listener);
        // The connection's own limit is higher than the assembler's: the adapter closes.
        let config = Config::default();
        let mut assembler = FixedAssembler::<1024>::new();
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 512).await.unwrap();
        ws.send_binary(&binary_of(600)).await.unwrap();
        let echo = ws.read_message(&mut input, &mut assembler).await.unwrap();
        assert_eq!(echo, Message::Binary(&binary_of(600)));
        ws.send_binary(&binary_of(5000)).await.unwrap();
        let error = ws
            .read_message(&mut input, &mut assembler)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Assemble(_)), "{error:?}");
        // Finishing the close handshake drops the rest of the message.
        ws.close(&mut input, CloseCode::NORMAL, "").await.unwrap();
        let frame = server.await.unwrap().expect("a Close frame");
        assert_eq!(u16::from(frame.code), 1009);
    })
    .await;
}

#[tokio::test]
async fn pings_are_answered_while_only_reading_and_our_ping_gets_its_pong() {
    bounded(async {
        let (listener, url) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            for i in 0..5u8 {
                let payload = vec![i; 1 + usize::from(i) * 30];
                ws.send(TMessage::Ping(payload.clone().into()))
                    .await
                    .unwrap();
                // Every Pong arrives within a second, though the client only reads.
                let pong = tokio::time::timeout(Duration::from_secs(1), ws.next())
                    .await
                    .expect("a Pong within a second")
                    .unwrap()
                    .unwrap();
                assert_eq!(pong, TMessage::Pong(payload.into()), "ping {i}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ws.send(TMessage::text("done")).await.unwrap();
            // Answers the client's Ping, then sees its Close and echoes it.
            let mut close = None;
            while let Some(Ok(message)) = ws.next().await {
                if let TMessage::Close(frame) = message {
                    close = frame;
                }
            }
            close
        });
        let config = Config::default();
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 512).await.unwrap();
        let mut pings = 0;
        loop {
            match ws.read(&mut input).await.unwrap() {
                Event::Ping(payload) => {
                    assert_eq!(payload.len(), 1 + pings * 30);
                    pings += 1;
                }
                Event::Text(text) => {
                    assert_eq!(text, "done");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(pings, 5);
        ws.ping(b"are you there").await.unwrap();
        match ws.read(&mut input).await.unwrap() {
            Event::Pong(payload) => assert_eq!(payload, b"are you there"),
            other => panic!("expected the Pong, got {other:?}"),
        }
        ws.close(&mut input, CloseCode(4000), "bye").await.unwrap();
        let frame = server.await.unwrap().expect("a Close frame");
        assert_eq!(
            (u16::from(frame.code), frame.reason.as_str()),
            (4000, "bye")
        );
    })
    .await;
}

#[tokio::test]
async fn the_server_closes_first_the_client_echoes_and_ends_cleanly() {
    bounded(async {
        let (listener, url) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            let frame = TCloseFrame {
                code: TCloseCode::from(4001),
                reason: "server bye".into(),
            };
            ws.send(TMessage::Close(Some(frame))).await.unwrap();
            // The echo; then tungstenite ends the stream, and the socket is dropped.
            let mut echo = None;
            while let Some(Ok(message)) = ws.next().await {
                if let TMessage::Close(frame) = message {
                    echo = frame;
                }
            }
            echo
        });
        let config = Config::default();
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 512).await.unwrap();
        match ws.read(&mut input).await.unwrap() {
            Event::Close(frame) => {
                assert_eq!(frame.code, Some(CloseCode(4001)));
                assert_eq!(frame.reason, "server bye");
            }
            other => panic!("expected the Close, got {other:?}"),
        }
        // Then the end of the connection, which is not an error until here.
        assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
        assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
        let echo = server.await.unwrap().expect("the echo");
        assert_eq!(u16::from(echo.code), 4001);
    })
    .await;
}

#[tokio::test]
async fn close_ends_at_the_close_timeout_when_the_peer_never_answers() {
    bounded(async {
        let (listener, url) = listen().await;
        let _server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            // Holds the connection without ever reading it.
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(ws);
        });
        let config = Config::default().with_close_timeout(Duration::from_millis(300));
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 512).await.unwrap();
        let started = std::time::Instant::now();
        let result = ws.close(&mut input, CloseCode::NORMAL, "").await;
        let took = started.elapsed();
        assert!(
            matches!(result, Err(Error::TimedOut(TimedOut::Closing))),
            "{result:?}"
        );
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
    })
    .await;
}

#[tokio::test]
async fn connect_ends_at_the_handshake_deadline_with_a_silent_server() {
    bounded(async {
        let (listener, url) = listen().await;
        let _server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(stream);
        });
        let config = Config::default().with_handshake_timeout(Duration::from_millis(300));
        let mut input = input(8192, &config);
        let started = std::time::Instant::now();
        let result = connect(&url, config, &mut input, 512).await;
        let took = started.elapsed();
        assert!(
            matches!(result, Err(Error::TimedOut(TimedOut::Handshake))),
            "{:?}",
            result.err()
        );
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    })
    .await;
}

/// An embedded server for the next connection on `listener`.
async fn accept_one(
    listener: &TcpListener,
    config: Config,
    input: &mut Input,
) -> Result<ServerWs, Error<std::io::Error>> {
    let (stream, _) = listener.accept().await.unwrap();
    let (transport, timer) = (FromTokio::new(stream), TokioTimer::new());
    let choose = |request: &sockless::Request<'_>| {
        if request.offers_subprotocol("chat") {
            Decision::Accept(Accept::default().with_subprotocol("chat"))
        } else {
            Decision::default_for(request)
        }
    };
    WebSocket::accept_with(transport, timer, vec![0; 1024], input, config, choose).await
}

#[tokio::test]
async fn accept_answers_a_slow_request_with_408_at_the_handshake_deadline() {
    bounded(async {
        let (listener, url) = listen().await;
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            answer
        });
        let config = Config::default().with_handshake_timeout(Duration::from_millis(300));
        let mut input = input(8192, &config);
        let result = accept_one(&listener, config, &mut input).await;
        assert!(
            matches!(result, Err(Error::TimedOut(TimedOut::Handshake))),
            "{:?}",
            result.err()
        );
        drop(result);
        let answer = client.await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 408 "), "{answer:?}");
    })
    .await;
}

#[tokio::test]
async fn accept_refuses_a_plain_request_with_426() {
    bounded(async {
        let (listener, url) = listen().await;
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut answer = vec![0; 200];
            let n = stream.read(&mut answer).await.unwrap();
            answer.truncate(n);
            answer
        });
        let config = Config::default();
        let mut input = input(8192, &config);
        let result = accept_one(&listener, config, &mut input).await;
        assert!(
            matches!(result, Err(Error::Rejected { status: 426 })),
            "{:?}",
            result.err()
        );
        let answer = client.await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 426 "), "{answer:?}");
    })
    .await;
}

#[tokio::test]
async fn server_role_against_a_tungstenite_client() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    bounded(async {
        let (listener, url) = listen().await;
        let client = tokio::spawn(async move {
            let mut request = url.as_str().into_client_request().unwrap();
            let protocol = "chat".parse().unwrap();
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol);
            let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
            assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat");
            for len in SIZES {
                let text = text_of(len);
                ws.send(TMessage::text(text.clone())).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::text(text));
                let data = binary_of(len);
                ws.send(TMessage::binary(data.clone())).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), TMessage::binary(data));
            }
            ws.send(TMessage::Ping(b"ping".to_vec().into()))
                .await
                .unwrap();
            assert_eq!(
                ws.next().await.unwrap().unwrap(),
                TMessage::Pong(b"ping".to_vec().into())
            );
            let frame = TCloseFrame {
                code: TCloseCode::from(4002),
                reason: "client bye".into(),
            };
            ws.close(Some(frame)).await.unwrap();
            // The server's echo ends the stream.
            let mut echo = None;
            while let Some(Ok(message)) = ws.next().await {
                if let TMessage::Close(frame) = message {
                    echo = frame;
                }
            }
            echo
        });
        let config = Config::default();
        let mut input = input(8192, &config);
        let mut ws = accept_one(&listener, config, &mut input).await.unwrap();
        assert_eq!(ws.subprotocol(), Some("chat"));
        // Echo piece by piece: no buffer the size of a message.
        let close = loop {
            match ws.read(&mut input).await.unwrap() {
                Event::Text(text) => ws.send_text(text).await.unwrap(),
                Event::Binary(data) => ws.send_binary(data).await.unwrap(),
                Event::Chunk(chunk) => ws
                    .send_fragment(chunk.kind, chunk.data, chunk.last)
                    .await
                    .unwrap(),
                Event::Ping(_) => {}
                Event::Close(frame) => break (frame.code, frame.reason.to_owned()),
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(close, (Some(CloseCode(4002)), "client bye".to_owned()));
        assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
        ws.close(&mut input, CloseCode::NORMAL, "").await.unwrap();
        drop(ws);
        let echo = client.await.unwrap().expect("the echo");
        assert_eq!(u16::from(echo.code), 4002);
    })
    .await;
}

/// A transport that keeps everything written until `flush`: the Pong and the Close echo
/// must still reach the wire under a loop that only reads.
struct HoldUntilFlush {
    inner: Transport,
    held: Vec<u8>,
}

impl embedded_io_async::ErrorType for HoldUntilFlush {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for HoldUntilFlush {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.inner.read(buf).await
    }
}

impl embedded_io_async::Write for HoldUntilFlush {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.held.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.write_all(&self.held).await?;
        self.held.clear();
        self.inner.flush().await
    }
}

#[tokio::test]
async fn owed_replies_are_flushed_under_a_read_only_loop() {
    bounded(async {
        let (listener, url) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            ws.send(TMessage::Ping(b"hold".to_vec().into()))
                .await
                .unwrap();
            let pong = tokio::time::timeout(Duration::from_secs(1), ws.next())
                .await
                .expect("a Pong within a second")
                .unwrap()
                .unwrap();
            assert_eq!(pong, TMessage::Pong(b"hold".to_vec().into()));
            ws.send(TMessage::Close(None)).await.unwrap();
            let echo = tokio::time::timeout(Duration::from_secs(1), ws.next())
                .await
                .expect("the echo within a second")
                .unwrap()
                .unwrap();
            assert!(matches!(echo, TMessage::Close(_)), "{echo:?}");
        });
        let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let transport = HoldUntilFlush {
            inner: FromTokio::new(stream),
            held: Vec::new(),
        };
        let config = Config::default();
        let mut input = input(8192, &config);
        let output = vec![0u8; 512];
        let mut ws = WebSocket::connect(
            transport,
            TokioTimer::new(),
            output,
            &mut input,
            &url,
            config,
            rng(),
        )
        .await
        .unwrap();
        assert!(matches!(
            ws.read(&mut input).await,
            Ok(Event::Ping(b"hold"))
        ));
        assert!(matches!(ws.read(&mut input).await, Ok(Event::Close(_))));
        assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
        server.await.unwrap();
    })
    .await;
}

/// An in-memory transport whose every read and write is pending on its first poll and
/// then moves one byte; the test drops the future at each of those points.
struct Trickle {
    incoming: Vec<u8>,
    read: usize,
    written: Vec<u8>,
    ready: bool,
}

impl Trickle {
    /// Pending on one poll, ready (with `take`) on the next.
    async fn step<T>(&mut self, take: impl FnOnce(&mut Self) -> T) -> T {
        let mut take = Some(take);
        std::future::poll_fn(|cx| {
            if !self.ready {
                self.ready = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.ready = false;
            Poll::Ready(take.take().unwrap()(self))
        })
        .await
    }
}

impl embedded_io_async::ErrorType for Trickle {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Trickle {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(self
            .step(|t| match t.incoming.get(t.read) {
                Some(&byte) if !buf.is_empty() => {
                    buf[0] = byte;
                    t.read += 1;
                    1
                }
                _ => 0,
            })
            .await)
    }
}

impl embedded_io_async::Write for Trickle {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(self
            .step(|t| match buf.first() {
                Some(&byte) => {
                    t.written.push(byte);
                    1
                }
                None => 0,
            })
            .await)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.step(|_| ()).await;
        Ok(())
    }
}

/// No deadline is ever set in this test; the clock stands still.
struct StillTimer;

impl Timer for StillTimer {
    fn now(&self) -> Instant {
        Instant::ZERO
    }

    async fn sleep_until(&mut self, _: Instant) {
        std::future::pending::<()>().await;
    }
}

/// A frame from a server (unmasked).
fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    common::raw_frame(first, None, payload, 0)
}

#[test]
fn cancelled_reads_and_writes_lose_nothing() {
    let text = "fragmented Привет 🚀 message".as_bytes();
    let cut1 = text.iter().position(|&b| b >= 0x80).unwrap() + 1; // inside a character
    let cut2 = text.len() - 6; // inside the emoji's neighbourhood
    let mut incoming = Vec::new();
    incoming.extend(server_frame(0x01, &text[..cut1]));
    incoming.extend(server_frame(0x89, b"mid-message ping"));
    incoming.extend(server_frame(0x00, &text[cut1..cut2]));
    incoming.extend(server_frame(0x80, &text[cut2..]));
    incoming.extend(server_frame(0x82, &[1, 2, 3, 4, 5]));
    incoming.extend(server_frame(0x88, &[0x0f, 0xa1, b'o', b'k'])); // 4001 "ok"
    let transport = Trickle {
        incoming,
        read: 0,
        written: Vec::new(),
        ready: false,
    };
    let config = Config::default();
    let connection = Connection::client(&config, rng(), Instant::ZERO);
    let mut ws = WebSocket::new(transport, StillTimer, vec![0u8; 256], connection).unwrap();
    let mut input = ReadBuffer::for_frames(vec![0u8; 256]).unwrap();

    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut events = Vec::new();
    let mut cancelled = 0;
    loop {
        // Poll a fresh read once; drop it if it is not done.
        let result = {
            let mut read = pin!(ws.read(&mut input));
            match read.as_mut().poll(&mut cx) {
                Poll::Pending => None,
                Poll::Ready(result) => Some(result.map(|event| common::Ev::of(&event))),
            }
        };
        match result {
            None => cancelled += 1,
            Some(Ok(event)) => events.push(event),
            Some(Err(Error::Closed)) => break,
            Some(Err(error)) => panic!("{error:?}"),
        }
        assert!(cancelled < 10_000, "no progress");
    }
    assert!(cancelled > 100, "only {cancelled} cancellations");
    // Pieces joined into messages; the rest as it came.
    let mut seen = Vec::new();
    let mut message = Vec::new();
    for event in events {
        match event {
            common::Ev::Chunk {
                kind, data, last, ..
            } => {
                message.extend(data);
                if last {
                    let whole = std::mem::take(&mut message);
                    seen.push(match kind {
                        MessageKind::Text => common::Ev::Text(String::from_utf8(whole).unwrap()),
                        MessageKind::Binary => common::Ev::Binary(whole),
                    });
                }
            }
            other => seen.push(other),
        }
    }
    assert_eq!(
        seen,
        [
            common::Ev::Ping(b"mid-message ping".to_vec()),
            common::Ev::Text(String::from_utf8(text.to_vec()).unwrap()),
            common::Ev::Binary(vec![1, 2, 3, 4, 5]),
            common::Ev::Close(Some(4001), "ok".into()),
        ]
    );
    // The Pong and the Close echo went out whole, in order, though every write of theirs
    // was cancelled once.
    let (transport, _, _) = ws.into_parts();
    let frames = wire_frames(&transport.written);
    let sent: Vec<_> = frames
        .iter()
        .map(|f| (f.opcode, f.payload.clone()))
        .collect();
    assert_eq!(
        sent,
        [(0xA, b"mid-message ping".to_vec()), (0x8, vec![0x0f, 0xa1])]
    );
    assert!(frames.iter().all(|f| f.masked && f.fin));
}
