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

/// Frames from a server that floods: small binary frames, many to a write.
fn flood_frames() -> Vec<u8> {
    let mut frame = vec![0x82, 16];
    frame.extend_from_slice(&[0x5a; 16]);
    frame.repeat(512)
}

#[tokio::test]
async fn the_close_timeout_wins_over_a_peer_that_floods_frames_after_our_close() {
    bounded(async {
        let (listener, url) = listen().await;
        let _server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            let mut stream = ws.into_inner();
            let flood = flood_frames();
            // Frames, never a Close, until the client goes away (or 15 s).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            while tokio::time::Instant::now() < deadline {
                if stream.write_all(&flood).await.is_err() {
                    break;
                }
            }
        });
        let config = Config::default().with_close_timeout(Duration::from_millis(300));
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 512).await.unwrap();
        // The flood is under way.
        assert!(matches!(ws.read(&mut input).await, Ok(Event::Binary(_))));
        let started = std::time::Instant::now();
        let result = ws.close(&mut input, CloseCode::NORMAL, "").await;
        let took = started.elapsed();
        eprintln!("flood after our Close: given up after {took:?} (close timeout 300 ms)");
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

/// A transport that always has another server frame to read, at once: a read never
/// waits, so only a deadline checked before reading can end a close. It ends (EOF) after
/// `limit` reads, so that an adapter that never checks gives up in bounded time.
struct Flood {
    stream: Vec<u8>,
    at: usize,
    reads: usize,
    limit: usize,
}

impl embedded_io_async::ErrorType for Flood {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Flood {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.reads += 1;
        if self.reads > self.limit {
            return Ok(0);
        }
        for byte in buf.iter_mut() {
            *byte = self.stream[self.at];
            self.at = (self.at + 1) % self.stream.len();
        }
        Ok(buf.len())
    }
}

impl embedded_io_async::Write for Flood {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A clock that moves 1 ms each time it is read; its sleeps never end by themselves.
struct Ticking(std::cell::Cell<u64>);

impl Timer for Ticking {
    fn now(&self) -> Instant {
        self.0.set(self.0.get() + 1);
        Instant::from_elapsed(Duration::from_millis(self.0.get()))
    }

    async fn sleep_until(&mut self, _: Instant) {
        std::future::pending::<()>().await;
    }
}

#[test]
fn the_close_timeout_wins_over_frames_that_are_always_ready() {
    let config = Config::default().with_close_timeout(Duration::from_millis(300));
    let connection = Connection::client(&config, rng(), Instant::ZERO);
    let flood = Flood {
        stream: server_frame(0x82, &[0x5a; 16]),
        at: 0,
        reads: 0,
        limit: 100_000,
    };
    let mut ws = WebSocket::new(
        flood,
        Ticking(std::cell::Cell::new(0)),
        vec![0u8; 256],
        connection,
    )
    .unwrap();
    let mut input = ReadBuffer::for_frames(vec![0u8; 1024]).unwrap();
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let result = {
        let mut close = pin!(ws.close(&mut input, CloseCode::NORMAL, ""));
        match close.as_mut().poll(&mut cx) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("the transport never waits"),
        }
    };
    assert!(
        matches!(result, Err(Error::TimedOut(TimedOut::Closing))),
        "{result:?}"
    );
    let (flood, timer, _) = ws.into_parts();
    // Given up at the deadline (a few ms of the ticking clock past it), long before the
    // transport ran dry.
    assert!(flood.reads < 1000, "{} reads", flood.reads);
    assert!((300..400).contains(&timer.0.get()), "{} ms", timer.0.get());
}

#[tokio::test]
async fn a_reset_after_both_close_frames_is_a_clean_close() {
    bounded(async {
        let (listener, url) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            let frame = TCloseFrame {
                code: TCloseCode::from(1000),
                reason: "reset next".into(),
            };
            ws.send(TMessage::Close(Some(frame))).await.unwrap();
            // The client's echo, then a reset instead of a FIN (SO_LINGER 0), as
            // Autobahn's server and others do.
            let echo = loop {
                match ws.next().await {
                    Some(Ok(TMessage::Close(frame))) => break frame,
                    Some(Ok(_)) => {}
                    other => panic!("no echo: {other:?}"),
                }
            };
            let stream = ws.into_inner();
            stream.set_zero_linger().unwrap();
            drop(stream);
            echo
        });
        let config = Config::default();
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 512).await.unwrap();
        match ws.read(&mut input).await {
            Ok(Event::Close(frame)) => assert_eq!(frame.code, Some(CloseCode::NORMAL)),
            other => panic!("expected the Close, got {other:?}"),
        }
        // The reset ends the connection as the clean close it was.
        let ended = ws.read(&mut input).await;
        assert!(matches!(ended, Err(Error::Closed)), "{ended:?}");
        assert!(matches!(
            ws.close(&mut input, CloseCode::NORMAL, "").await,
            Ok(())
        ));
        let echo = server.await.unwrap().expect("the echo");
        assert_eq!(u16::from(echo.code), 1000);
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_given_up_at_the_write_timeout() {
    bounded(async {
        let (listener, url) = listen().await;
        let _server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            // Holds the connection without ever reading it.
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(ws);
        });
        let write_timeout = Duration::from_millis(500);
        let config = Config::default().with_write_timeout(write_timeout);
        let mut input = input(8192, &config);
        let mut ws = connect(&url, config, &mut input, 16 << 10).await.unwrap();
        let message = binary_of(64 << 10);
        let mut sent = 0;
        let (error, took) = loop {
            let started = std::time::Instant::now();
            match ws.send_binary(&message).await {
                Ok(()) => sent += 1,
                Err(error) => break (error, started.elapsed()),
            }
            assert!(sent < 100_000, "the peer never stopped taking bytes");
        };
        eprintln!("a peer that stops reading: given up {took:?} into a send, after {sent} messages (write timeout 500 ms)");
        assert!(
            matches!(error, Error::TimedOut(TimedOut::Write)),
            "{error:?} after {sent} messages"
        );
        assert!(
            took >= write_timeout - Duration::from_millis(10),
            "{took:?}"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
        // The connection is over.
        assert!(matches!(ws.send_text("more").await, Err(Error::Closed)));
        assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
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
    WebSocket::accept_with(transport, timer, vec![0; 1024], input, config, |request| {
        if request.offers_subprotocol("chat") {
            Decision::Accept(Accept::default().with_subprotocol("chat"))
        } else {
            Decision::default_for(request)
        }
    })
    .await
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

/// Events with the pieces of each message joined into the whole message; the rest as
/// they came.
fn join_pieces(events: Vec<common::Ev>) -> Vec<common::Ev> {
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
    seen
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
    assert_eq!(
        join_pieces(events),
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

/// permessage-deflate (RFC 7692): compressed messages inflated in the window of the
/// [`ReadBuffer`], without allocation, in both roles; the peer compresses with
/// `deflate::Compressor` or sends the RFC 7692 §7.2.3 example bytes.
#[cfg(all(feature = "deflate", feature = "std"))]
mod deflate {
    use super::*;

    use sockless::deflate::{Compressor, DeflateConfig, DeflateParams};
    use sockless::io::Message as OwnedMessage;
    use sockless::io::blocking;
    use sockless::io::embedded::{Inflate, InflaterWindow};
    use sockless::{ClientRequest, Masking, ProtocolError, Role, UsageError};

    use common::Ev;

    /// An in-memory transport that is always ready: a read never crosses byte `cut` (0:
    /// no cut) and takes at most `max_read` bytes; 0 (the end) once everything was read.
    struct Script {
        incoming: Vec<u8>,
        read: usize,
        cut: usize,
        max_read: usize,
        written: Vec<u8>,
    }

    impl Script {
        fn new(incoming: Vec<u8>) -> Self {
            Script {
                incoming,
                read: 0,
                cut: 0,
                max_read: usize::MAX,
                written: Vec::new(),
            }
        }
    }

    impl embedded_io_async::ErrorType for Script {
        type Error = core::convert::Infallible;
    }

    impl embedded_io_async::Read for Script {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let mut end = self.incoming.len();
            if self.read < self.cut {
                end = end.min(self.cut);
            }
            let n = (end - self.read).min(self.max_read).min(buf.len());
            buf[..n].copy_from_slice(&self.incoming[self.read..self.read + n]);
            self.read += n;
            Ok(n)
        }
    }

    impl embedded_io_async::Write for Script {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    /// Run `future` over a [`Script`], which never makes it wait.
    fn block_on<F: Future>(future: F) -> F::Output {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        for _ in 0..1000 {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
        panic!("the future waits on a transport that is always ready");
    }

    type Window = InflaterWindow<Vec<u8>>;

    /// A receive buffer of `capacity` bytes with an inflater window of `window` bytes.
    fn buffer(capacity: usize, window: usize) -> ReadBuffer<Vec<u8>, Window> {
        ReadBuffer::for_frames(vec![0u8; capacity])
            .unwrap()
            .with_inflater_window(vec![0u8; window])
            .unwrap()
    }

    /// A frame as an endpoint of role `receiver` gets it: masked for a server.
    fn frame(receiver: Role, first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = (receiver == Role::Server).then_some(common::MASK);
        common::raw_frame(first, mask, payload, 0)
    }

    fn peer_of(role: Role) -> Role {
        match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }

    /// `payload` compressed as permessage-deflate sends it (RFC 7692 §7.2.1).
    fn compressed(compressor: &mut Compressor, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; payload.len() + 64];
        let n = compressor
            .compress(payload, &mut out)
            .expect("the payload fits the compressor's window");
        out.truncate(n);
        out
    }

    /// `payload` in DEFLATE blocks with no compression (RFC 1951 §3.2.4), which need no
    /// window: how a peer with any window may send a message larger than ours.
    fn stored(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for block in payload.chunks(0xffff) {
            let len = block.len() as u16;
            out.push(0x00);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(block);
        }
        // The header of the empty stored block whose length the receiver appends (RFC
        // 7692 §7.2.2, as in the §7.2.3.3 example).
        out.push(0x00);
        out
    }

    /// A connection of `role` that negotiated `params`.
    fn open<M: Masking>(params: DeflateParams, config: &Config) -> Connection<M>
    where
        Connection<M>: FromRole,
    {
        Connection::<M>::of_role(config).with_deflate(Some(params))
    }

    /// The two kinds of open connection, made the same way.
    trait FromRole {
        fn of_role(config: &Config) -> Self;
    }

    impl FromRole for Connection<Masked<TestRng>> {
        fn of_role(config: &Config) -> Self {
            Connection::client(config, rng(), Instant::ZERO)
        }
    }

    impl FromRole for Connection<sockless::Unmasked> {
        fn of_role(config: &Config) -> Self {
            Connection::server(config, Instant::ZERO)
        }
    }

    /// What an endpoint of role `receiver` that negotiated `params` (a 512-byte window for
    /// what it receives) is sent, and the events it must see, pieces joined: the RFC 7692
    /// §7.2.3 examples, compressed messages whole and fragmented around a Ping, an
    /// uncompressed one, one larger than the window, a Close.
    fn stream(receiver: Role, params: &DeflateParams) -> (Vec<u8>, Vec<Ev>) {
        let mut compressor = Compressor::with_params(params, peer_of(receiver)).with_threshold(0);
        let f = |first: u8, payload: &[u8]| frame(receiver, first, payload);
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        // §7.2.3.1: "Hello" compressed; §7.2.3.2: "Hello" again, sharing the context.
        bytes.extend(f(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]));
        bytes.extend(f(0xc1, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
        // §7.2.3.1: fragmented; §7.2.3.3: no compression; §7.2.3.4: BFINAL set.
        bytes.extend(f(0x41, &[0xf2, 0x48, 0xcd]));
        bytes.extend(f(0x80, &[0xc9, 0xc9, 0x07, 0x00]));
        bytes.extend(f(
            0xc1,
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
        ));
        bytes.extend(f(0xc1, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]));
        expected.extend((0..5).map(|_| Ev::Text("Hello".into())));
        // Compressed text in one frame.
        let text = text_of(400);
        bytes.extend(f(0xc1, &compressed(&mut compressor, text.as_bytes())));
        expected.push(Ev::Text(text));
        // Compressed binary in three frames, a Ping between the last two.
        let data = binary_of(500);
        let packed = compressed(&mut compressor, &data);
        let (a, b) = (packed.len() / 3, packed.len() * 2 / 3);
        bytes.extend(f(0x42, &packed[..a]));
        bytes.extend(f(0x00, &packed[a..b]));
        bytes.extend(f(0x89, b"between"));
        bytes.extend(f(0x80, &packed[b..]));
        expected.push(Ev::Ping(b"between".to_vec()));
        expected.push(Ev::Binary(data));
        // Uncompressed, which RFC 7692 §6 allows at any time.
        bytes.extend(f(0x81, b"plain"));
        expected.push(Ev::Text("plain".into()));
        // Six times the window, in two frames.
        let big = text_of(3000);
        let packed = stored(big.as_bytes());
        bytes.extend(f(0x41, &packed[..1000]));
        bytes.extend(f(0x80, &packed[1000..]));
        expected.push(Ev::Text(big));
        bytes.extend(f(0x88, &[0x03, 0xe8, b'b', b'y', b'e']));
        expected.push(Ev::Close(Some(1000), "bye".into()));
        (bytes, expected)
    }

    /// How a test reads: event by event, or whole messages through a FixedAssembler.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Reading {
        Events,
        Whole,
    }

    fn ev_of(message: &Message<'_>) -> Ev {
        match *message {
            Message::Text(text) => Ev::Text(text.into()),
            Message::Binary(data) => Ev::Binary(data.into()),
            Message::Ping(payload) => Ev::Ping(payload.into()),
            Message::Pong(payload) => Ev::Pong(payload.into()),
            Message::Close(frame) => Ev::Close(frame.code.map(|c| c.0), frame.reason.into()),
            _ => unreachable!(),
        }
    }

    /// Read everything `transport` holds until the connection ends; the events (pieces
    /// joined), the error that ended it (`Closed` for a clean end), the bytes written.
    fn read_all<M: Masking, I: Inflate>(
        connection: Connection<M>,
        transport: Script,
        mut input: ReadBuffer<Vec<u8>, I>,
        reading: Reading,
    ) -> (Vec<Ev>, Error<core::convert::Infallible>, Vec<u8>) {
        let mut ws = WebSocket::new(transport, StillTimer, vec![0u8; 256], connection).unwrap();
        let mut assembler = FixedAssembler::<4096>::new();
        let mut events = Vec::new();
        let error = block_on(async {
            loop {
                let event = match reading {
                    Reading::Events => ws.read(&mut input).await.map(|e| Ev::of(&e)),
                    Reading::Whole => ws
                        .read_message(&mut input, &mut assembler)
                        .await
                        .map(|m| ev_of(&m)),
                };
                match event {
                    Ok(event) => events.push(event),
                    Err(error) => return error,
                }
            }
        });
        let (transport, _, _) = ws.into_parts();
        (join_pieces(events), error, transport.written)
    }

    /// The frames an endpoint wrote, as (opcode, payload).
    fn sent(written: &[u8]) -> Vec<(u8, Vec<u8>)> {
        wire_frames(written)
            .into_iter()
            .map(|f| (f.opcode, f.payload))
            .collect()
    }

    /// Both roles, reading events and whole messages, with the transport's reads cut at
    /// every byte of the stream, and one byte at a time: the same messages every time,
    /// the Pong and the Close echo written, uncompressed.
    fn inflates_split_at_every_byte<M: Masking>(receiver: Role)
    where
        Connection<M>: FromRole,
    {
        let params = DeflateParams {
            server_max_window_bits: 9,
            client_max_window_bits: 9,
            ..DeflateParams::default()
        };
        let config = Config::default();
        let (bytes, expected) = stream(receiver, &params);
        let replies = [(0xA, b"between".to_vec()), (0x8, vec![0x03, 0xe8])];
        for reading in [Reading::Events, Reading::Whole] {
            // Cut at every byte (0: not cut), then one byte per read.
            let runs = (0..bytes.len()).map(|cut| (cut, usize::MAX));
            for (cut, max_read) in runs.chain([(0, 1)]) {
                let mut transport = Script::new(bytes.clone());
                transport.cut = cut;
                transport.max_read = max_read;
                let connection = open::<M>(params, &config);
                let input = buffer(256, 512);
                let (events, error, written) = read_all(connection, transport, input, reading);
                let case = format!("{receiver:?} {reading:?} cut {cut} max_read {max_read}");
                assert_eq!(events, expected, "{case}");
                assert!(matches!(error, Error::Closed), "{case}: {error:?}");
                assert_eq!(sent(&written), replies, "{case}");
                assert!(wire_frames(&written).iter().all(|f| f.rsv == 0), "{case}");
            }
        }
    }

    #[test]
    fn a_client_inflates_compressed_messages_split_at_every_byte() {
        inflates_split_at_every_byte::<Masked<TestRng>>(Role::Client);
    }

    #[test]
    fn a_server_inflates_compressed_messages_split_at_every_byte() {
        inflates_split_at_every_byte::<sockless::Unmasked>(Role::Server);
    }

    #[test]
    fn a_message_many_times_the_window_comes_in_pieces_of_the_window() {
        // A 256-byte window (8 bits) for 100 KB of text in stored blocks, then 100 KB of
        // zeros compressed (every distance 1, within any window).
        let params = DeflateParams {
            server_max_window_bits: 8,
            ..DeflateParams::default()
        };
        let config = Config::default();
        let text = text_of(100_000);
        let mut bytes = frame(Role::Client, 0xc1, &stored(text.as_bytes()));
        let zeros = vec![0u8; 100_000];
        let mut compressor = Compressor::with_params(&DeflateParams::default(), Role::Server);
        let packed = compressed(&mut compressor, &zeros);
        bytes.extend(frame(Role::Client, 0xc2, &packed));
        bytes.extend(frame(Role::Client, 0x88, &[]));
        let mut ws = WebSocket::new(
            Script::new(bytes),
            StillTimer,
            vec![0u8; 256],
            open::<Masked<TestRng>>(params, &config),
        )
        .unwrap();
        let mut input = buffer(1024, 256);
        for (kind, expected) in [
            (MessageKind::Text, text.as_bytes()),
            (MessageKind::Binary, &zeros[..]),
        ] {
            let mut pieces = 0;
            let mut joined = Vec::new();
            loop {
                match block_on(ws.read(&mut input)).unwrap() {
                    Event::Chunk(chunk) => {
                        assert!(chunk.data.len() <= 256);
                        assert_eq!((chunk.kind, chunk.first), (kind, pieces == 0));
                        pieces += 1;
                        joined.extend_from_slice(chunk.data);
                        if chunk.last {
                            break;
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(joined == expected, "{kind:?}");
            assert!(pieces >= 100_000 / 256, "{pieces} pieces");
        }
        assert!(matches!(block_on(ws.read(&mut input)), Ok(Event::Close(_))));

        // With the full window (15 bits, 32 KiB), through a FixedAssembler too.
        const MAX: usize = 100_000;
        let config = FixedAssembler::<MAX>::configure(Config::default());
        let mut bytes = frame(Role::Client, 0xc2, &packed);
        bytes.extend(frame(Role::Client, 0xc1, &stored(text.as_bytes())));
        let connection = open::<Masked<TestRng>>(DeflateParams::default(), &config);
        let mut ws =
            WebSocket::new(Script::new(bytes), StillTimer, vec![0u8; 256], connection).unwrap();
        let mut input = buffer(1024, 32 << 10);
        let mut assembler = Box::new(FixedAssembler::<MAX>::new());
        let message = block_on(ws.read_message(&mut input, &mut assembler)).unwrap();
        assert_eq!(message, Message::Binary(&zeros));
        let message = block_on(ws.read_message(&mut input, &mut assembler)).unwrap();
        assert_eq!(message, Message::Text(&text));
    }

    /// Read until the connection fails; the error, the inflated bytes handed out before,
    /// and the code of the Close written.
    fn read_until_failure<M: Masking>(
        connection: Connection<M>,
        bytes: Vec<u8>,
        window: usize,
    ) -> (Error<core::convert::Infallible>, usize, Option<u16>) {
        let mut ws =
            WebSocket::new(Script::new(bytes), StillTimer, vec![0u8; 256], connection).unwrap();
        let mut input = buffer(1024, window);
        let mut inflated = 0;
        let error = loop {
            match block_on(ws.read(&mut input)) {
                Ok(Event::Chunk(chunk)) => inflated += chunk.data.len(),
                Ok(Event::Text(text)) => inflated += text.len(),
                Ok(Event::Binary(data)) => inflated += data.len(),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(error) => break error,
            }
        };
        // Nothing more is read or sent.
        assert!(matches!(block_on(ws.read(&mut input)), Err(Error::Closed)));
        let (transport, _, _) = ws.into_parts();
        let frames = wire_frames(&transport.written);
        assert_eq!(frames.len(), 1, "{frames:?}");
        let close = (frames[0].opcode == 0x8)
            .then(|| u16::from_be_bytes([frames[0].payload[0], frames[0].payload[1]]));
        (error, inflated, close)
    }

    #[test]
    fn a_decompression_bomb_is_closed_with_1009() {
        let limit = 64 << 10;
        let config = Config::default().with_max_message_len(limit);
        // 1 MiB of zeros, a few KB compressed: far below the limit on the wire.
        let mut compressor = Compressor::with_params(&DeflateParams::default(), Role::Client);
        let bomb = compressed(&mut compressor, &vec![0u8; 1 << 20]);
        assert!(bomb.len() < limit as usize / 4, "{}", bomb.len());
        let bytes = frame(Role::Server, 0xc2, &bomb);
        let connection = open::<sockless::Unmasked>(DeflateParams::default(), &config);
        let (error, inflated, close) = read_until_failure(connection, bytes, 32 << 10);
        assert!(
            matches!(error, Error::Protocol(ProtocolError::MessageTooLarge)),
            "{error:?}"
        );
        assert!(inflated as u64 <= limit, "{inflated}");
        assert_eq!(close, Some(1009));

        // The same through a FixedAssembler that configured the limit.
        let config = FixedAssembler::<4096>::configure(Config::default());
        let connection = open::<sockless::Unmasked>(DeflateParams::default(), &config);
        let bytes = frame(Role::Server, 0xc2, &bomb);
        let mut ws =
            WebSocket::new(Script::new(bytes), StillTimer, vec![0u8; 256], connection).unwrap();
        let mut input = buffer(1024, 32 << 10);
        let mut assembler = FixedAssembler::<4096>::new();
        let error = block_on(ws.read_message(&mut input, &mut assembler)).unwrap_err();
        assert!(
            matches!(error, Error::Protocol(ProtocolError::MessageTooLarge)),
            "{error:?}"
        );
        let (transport, _, _) = ws.into_parts();
        assert_eq!(sent(&transport.written), [(0x8, vec![0x03, 0xf1])]);
    }

    #[test]
    fn corrupt_compressed_data_is_closed_with_1007() {
        let config = Config::default();
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        for payload in [
            &[0xff, 0xff, 0xff, 0xff][..],
            &[0x07],
            &[0x00, 0x05, 0x00, 0x00],
        ] {
            let bytes = frame(Role::Client, 0xc1, payload);
            let connection = open::<Masked<TestRng>>(DeflateParams::default(), &config);
            let (error, _, close) = read_until_failure(connection, bytes, 32 << 10);
            assert!(
                matches!(error, Error::Protocol(ProtocolError::InvalidCompressedData)),
                "{payload:?}: {error:?}"
            );
            assert_eq!(close, Some(1007), "{payload:?}");
        }
    }

    #[test]
    fn text_that_inflates_to_bad_utf8_is_closed_with_1007() {
        let config = Config::default();
        let params = DeflateParams {
            server_max_window_bits: 8,
            client_max_window_bits: 8,
            ..DeflateParams::default()
        };
        // Whole: inflated in one piece.
        let mut compressor = Compressor::with_params(&params, Role::Client).with_threshold(0);
        let bytes = frame(Role::Server, 0xc1, &compressed(&mut compressor, b"ok \xff"));
        let connection = open::<sockless::Unmasked>(params, &config);
        let (error, inflated, close) = read_until_failure(connection, bytes, 256);
        assert!(
            matches!(error, Error::Protocol(ProtocolError::InvalidUtf8)),
            "{error:?}"
        );
        assert_eq!((inflated, close), (0, Some(1007)));
        // In pieces: the pieces before the bad byte are handed out, then 1007.
        let mut text = text_of(2000).into_bytes();
        text[1500] = 0xff;
        let bytes = frame(Role::Server, 0xc1, &stored(&text));
        let connection = open::<sockless::Unmasked>(params, &config);
        let (error, inflated, close) = read_until_failure(connection, bytes, 256);
        assert!(
            matches!(error, Error::Protocol(ProtocolError::InvalidUtf8)),
            "{error:?}"
        );
        assert!((1000..=1500).contains(&inflated), "{inflated}");
        assert_eq!(close, Some(1007));
    }

    /// As `cancelled_reads_and_writes_lose_nothing`, in the middle of compressed
    /// messages: every read and write of the transport is cancelled once, while the
    /// inflater has bytes pending, output owed, a message half handed out.
    #[test]
    fn cancelled_reads_lose_nothing_of_a_compressed_message() {
        let params = DeflateParams {
            server_max_window_bits: 8,
            ..DeflateParams::default()
        };
        let config = Config::default();
        let mut compressor = Compressor::with_params(&params, Role::Server).with_threshold(0);
        let f = |first: u8, payload: &[u8]| frame(Role::Client, first, payload);
        let small = "Привет 🚀, compressed twice: Привет 🚀".as_bytes();
        let packed = compressed(&mut compressor, small);
        let big = text_of(700);
        let stored_big = stored(big.as_bytes());
        let mut incoming = Vec::new();
        incoming.extend(f(0x41, &packed[..packed.len() / 2]));
        incoming.extend(f(0x89, b"mid-message ping"));
        incoming.extend(f(0x80, &packed[packed.len() / 2..]));
        incoming.extend(f(0xc1, &stored_big));
        incoming.extend(f(0xc2, &compressed(&mut compressor, &[9; 200])));
        incoming.extend(f(0x88, &[0x0f, 0xa1, b'o', b'k']));
        let expected = [
            Ev::Ping(b"mid-message ping".to_vec()),
            Ev::Text(String::from_utf8(small.to_vec()).unwrap()),
            Ev::Text(big.clone()),
            Ev::Binary(vec![9; 200]),
            Ev::Close(Some(4001), "ok".into()),
        ];
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for reading in [Reading::Events, Reading::Whole] {
            let transport = Trickle {
                incoming: incoming.clone(),
                read: 0,
                written: Vec::new(),
                ready: false,
            };
            let connection = open::<Masked<TestRng>>(params, &config);
            let mut ws = WebSocket::new(transport, StillTimer, vec![0u8; 256], connection).unwrap();
            let mut input = buffer(256, 256);
            let mut assembler = FixedAssembler::<1024>::new();
            let mut events = Vec::new();
            let mut cancelled = 0;
            loop {
                // Poll a fresh read once; drop it if it is not done.
                let result = match reading {
                    Reading::Events => {
                        let mut read = pin!(ws.read(&mut input));
                        match read.as_mut().poll(&mut cx) {
                            Poll::Pending => None,
                            Poll::Ready(result) => Some(result.map(|e| Ev::of(&e))),
                        }
                    }
                    Reading::Whole => {
                        let mut read = pin!(ws.read_message(&mut input, &mut assembler));
                        match read.as_mut().poll(&mut cx) {
                            Poll::Pending => None,
                            Poll::Ready(result) => Some(result.map(|m| ev_of(&m))),
                        }
                    }
                };
                match result {
                    None => cancelled += 1,
                    Some(Ok(event)) => events.push(event),
                    Some(Err(Error::Closed)) => break,
                    Some(Err(error)) => panic!("{reading:?}: {error:?}"),
                }
                assert!(cancelled < 100_000, "no progress");
            }
            assert!(cancelled > 500, "only {cancelled} cancellations");
            assert_eq!(join_pieces(events), expected, "{reading:?}");
            let (transport, _, _) = ws.into_parts();
            assert_eq!(
                sent(&transport.written),
                [(0xA, b"mid-message ping".to_vec()), (0x8, vec![0x0f, 0xa1])]
            );
        }
    }

    #[test]
    fn a_window_too_small_for_the_offer_is_a_usage_error_before_anything_is_sent() {
        let config = Config::default();
        let offer = |bits: u8| {
            ClientRequest::from_url("ws://example.com/")
                .unwrap()
                .with_deflate(DeflateConfig::default().with_receive_window_bits(bits))
        };
        let connect = |input: &mut ReadBuffer<Vec<u8>, Window>, bits: u8| {
            let mut transport = Script::new(Vec::new());
            let result = block_on(WebSocket::connect_request(
                &mut transport,
                StillTimer,
                vec![0u8; 512],
                input,
                offer(bits),
                config,
                rng(),
            ));
            (result.err(), transport.written)
        };
        // 16 KiB holds 14 bits, not the default 15.
        let mut input = ReadBuffer::new(vec![0u8; 8192], &config)
            .unwrap()
            .with_inflater_window(vec![0u8; 16 << 10])
            .unwrap();
        let (error, written) = connect(&mut input, 15);
        assert_eq!(error, Some(Error::Usage(UsageError::InvalidDeflateWindow)));
        assert!(written.is_empty());
        // Offering 14 bits, the request goes out (and the handshake ends with the script).
        let (error, written) = connect(&mut input, 14);
        assert!(!matches!(error, Some(Error::Usage(_))), "{error:?}");
        let request = String::from_utf8(written).unwrap();
        assert!(
            request
                .contains("permessage-deflate; server_max_window_bits=14; client_max_window_bits"),
            "{request}"
        );
        // No window at all.
        let mut plain = ReadBuffer::new(vec![0u8; 8192], &config).unwrap();
        let mut transport = Script::new(Vec::new());
        let result = block_on(WebSocket::connect_request(
            &mut transport,
            StillTimer,
            vec![0u8; 512],
            &mut plain,
            offer(8),
            config,
            rng(),
        ));
        assert_eq!(
            result.err(),
            Some(Error::Usage(UsageError::InvalidDeflateWindow))
        );
        assert!(transport.written.is_empty());
        // Below the smallest window (8 bits); a length that is not a power of two uses the
        // largest one it holds.
        let too_small = ReadBuffer::for_frames(vec![0u8; 256])
            .unwrap()
            .with_inflater_window([0u8; 255]);
        assert_eq!(too_small.err(), Some(UsageError::InvalidDeflateWindow));
        assert!(
            ReadBuffer::for_frames(vec![0u8; 256])
                .unwrap()
                .with_inflater_window([0u8; 300])
                .is_ok()
        );
        // A connection set up elsewhere with permessage-deflate, read without a window.
        let connection = open::<Masked<TestRng>>(DeflateParams::default(), &config);
        let mut ws = WebSocket::new(
            Script::new(vec![0x81, 0]),
            StillTimer,
            vec![0u8; 256],
            connection,
        )
        .unwrap();
        let mut plain = ReadBuffer::for_frames(vec![0u8; 256]).unwrap();
        assert_eq!(
            block_on(ws.read(&mut plain)).err(),
            Some(Error::Usage(UsageError::InvalidDeflateWindow))
        );
    }

    #[test]
    fn a_server_accepts_the_offer_only_within_its_window() {
        let request = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
        let config = Config::default();
        let accept = |bits: u8| {
            let mut transport = Script::new(request.to_vec());
            let mut input = ReadBuffer::new(vec![0u8; 8192], &config)
                .unwrap()
                .with_inflater_window([0u8; 1024])
                .unwrap();
            let deflate = DeflateConfig::default().with_receive_window_bits(bits);
            let result = block_on(WebSocket::accept_with(
                &mut transport,
                StillTimer,
                vec![0u8; 512],
                &mut input,
                config,
                |request| Decision::accept_deflate(request, &deflate),
            ));
            let params = result.as_ref().ok().and_then(|ws| ws.deflate());
            (result.err(), params, transport.written)
        };
        // A 32 KiB window is asked for, 1 KiB given: the client gets a 500 (as for any
        // decision the server cannot carry out), the caller the mistake.
        let (error, _, written) = accept(15);
        assert_eq!(error, Some(Error::Usage(UsageError::InvalidDeflateWindow)));
        assert!(written.starts_with(b"HTTP/1.1 500 "), "{written:?}");
        // The client is limited to 2^10 bytes (RFC 7692 §7.1.2.2).
        let (error, params, written) = accept(10);
        assert_eq!(error, None);
        let expected = DeflateParams {
            client_max_window_bits: 10,
            ..DeflateParams::default()
        };
        assert_eq!(params, Some(expected));
        let response = String::from_utf8(written).unwrap();
        assert!(response.starts_with("HTTP/1.1 101 "), "{response}");
        assert!(
            response.contains(
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n"
            ),
            "{response}"
        );
    }

    /// Messages that compress, that do not, small and large.
    fn messages() -> Vec<OwnedMessage> {
        let json: String = (0..2000)
            .map(|i| {
                format!(
                    "{{\"type\":\"message\",\"name\":\"u{}\",\"text\":\"hé {i} 🚀\"}}\n",
                    i % 9
                )
            })
            .collect();
        let noise = crate::common::noise(50_000, 0x9e37_79b9_7f4a_7c15);
        vec![
            OwnedMessage::Text(json[..700].to_owned()),
            OwnedMessage::Text(json.clone()),
            OwnedMessage::Text("hi".into()),
            OwnedMessage::Binary(noise),
            OwnedMessage::Binary(vec![7; 90_000]),
            OwnedMessage::Binary(binary_of(1000)),
            OwnedMessage::Text(json),
        ]
    }

    /// The next whole message read with [`WebSocket::read`], pieces joined.
    async fn next_message<T, M, I>(
        ws: &mut WebSocket<T, TokioTimer, Vec<u8>, M>,
        input: &mut ReadBuffer<Vec<u8>, I>,
    ) -> OwnedMessage
    where
        T: embedded_io_async::Read + embedded_io_async::Write,
        T::Error: core::fmt::Debug,
        M: Masking,
        I: Inflate,
    {
        let mut collected = Vec::new();
        loop {
            match ws.read(input).await.unwrap() {
                Event::Text(text) => return OwnedMessage::Text(text.into()),
                Event::Binary(data) => return OwnedMessage::Binary(data.into()),
                Event::Chunk(chunk) => {
                    collected.extend_from_slice(chunk.data);
                    if chunk.last {
                        return match chunk.kind {
                            MessageKind::Text => {
                                OwnedMessage::Text(String::from_utf8(collected).unwrap())
                            }
                            MessageKind::Binary => OwnedMessage::Binary(collected),
                        };
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn client_role_inflates_what_a_compressing_server_echoes() {
        bounded(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("ws://{}/deflate", listener.local_addr().unwrap());
            // The blocking adapter compresses what it sends.
            let server = std::thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                let mut ws = blocking::accept_with(stream, Config::default(), |request| {
                    blocking::Decision::accept_deflate(request, &Default::default())
                })
                .unwrap();
                assert!(ws.deflate().is_some());
                loop {
                    match ws.read() {
                        Ok(m @ (OwnedMessage::Text(_) | OwnedMessage::Binary(_))) => {
                            ws.send(m).unwrap()
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
            let config = Config::default();
            let mut window = [0u8; 32 << 10];
            let mut input = ReadBuffer::new(vec![0u8; 8192], &config)
                .unwrap()
                .with_inflater_window(&mut window[..])
                .unwrap();
            let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
            let stream = TcpStream::connect(addr).await.unwrap();
            let request = ClientRequest::from_url(&url)
                .unwrap()
                .with_deflate(DeflateConfig::default());
            let mut ws = WebSocket::connect_request(
                FromTokio::new(stream),
                TokioTimer::new(),
                vec![0u8; 1024],
                &mut input,
                request,
                config,
                rng(),
            )
            .await
            .unwrap();
            assert_eq!(ws.deflate(), Some(DeflateParams::default()));
            for message in messages() {
                match &message {
                    OwnedMessage::Text(text) => ws.send_text(text).await.unwrap(),
                    OwnedMessage::Binary(data) => ws.send_binary(data).await.unwrap(),
                    _ => unreachable!(),
                }
                assert_eq!(next_message(&mut ws, &mut input).await, message);
            }
            ws.close(&mut input, CloseCode::NORMAL, "").await.unwrap();
            drop(ws);
            tokio::task::spawn_blocking(move || server.join().unwrap())
                .await
                .unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn server_role_inflates_what_a_compressing_client_sends() {
        for bits in [10, 15] {
            bounded(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = format!("ws://{}/deflate", listener.local_addr().unwrap());
                // The blocking adapter compresses what it sends: with 10 bits, only
                // messages of at most 1 KiB.
                let client = std::thread::spawn(move || {
                    let request = ClientRequest::from_url(&url)
                        .unwrap()
                        .with_deflate(DeflateConfig::default());
                    let mut ws = blocking::connect_request(request, Config::default()).unwrap();
                    let params = ws.deflate().expect("permessage-deflate");
                    assert_eq!(params.client_max_window_bits, bits);
                    for message in messages() {
                        ws.send(message.clone()).unwrap();
                        assert_eq!(ws.read().unwrap(), message);
                    }
                    ws.close(CloseCode(4003), "done").unwrap();
                });
                let (stream, _) = listener.accept().await.unwrap();
                let config = Config::default();
                let deflate = DeflateConfig::default().with_receive_window_bits(bits);
                let mut input = ReadBuffer::new(vec![0u8; 8192], &config)
                    .unwrap()
                    .with_inflater_window(vec![0u8; 1 << bits])
                    .unwrap();
                let mut ws = WebSocket::accept_with(
                    FromTokio::new(stream),
                    TokioTimer::new(),
                    vec![0u8; 1024],
                    &mut input,
                    config,
                    |request| Decision::accept_deflate(request, &deflate),
                )
                .await
                .unwrap();
                assert_eq!(ws.deflate().unwrap().client_max_window_bits, bits);
                // Echo piece by piece, uncompressed.
                let close = loop {
                    match ws.read(&mut input).await.unwrap() {
                        Event::Text(text) => ws.send_text(text).await.unwrap(),
                        Event::Binary(data) => ws.send_binary(data).await.unwrap(),
                        Event::Chunk(chunk) => ws
                            .send_fragment(chunk.kind, chunk.data, chunk.last)
                            .await
                            .unwrap(),
                        Event::Close(frame) => break frame.code,
                        other => panic!("unexpected {other:?}"),
                    }
                };
                assert_eq!(close, Some(CloseCode(4003)));
                assert!(matches!(ws.read(&mut input).await, Err(Error::Closed)));
                drop(ws);
                tokio::task::spawn_blocking(move || client.join().unwrap())
                    .await
                    .unwrap();
            })
            .await;
        }
    }
}

/// A transport error of a given kind, for [`Scripted`].
#[derive(Debug, PartialEq, Eq)]
struct Failure(embedded_io_async::ErrorKind);

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl core::error::Error for Failure {}

impl embedded_io_async::Error for Failure {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        self.0
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

impl embedded_io_async::ErrorType for Scripted {
    type Error = Failure;
}

impl embedded_io_async::Read for Scripted {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        if std::time::Instant::now() > self.gives_out {
            return Err(Failure(embedded_io_async::ErrorKind::Other));
        }
        let next = match self.reads.pop_front() {
            Some(next) => next,
            None => match &self.then {
                Some(then) => then.clone(),
                None => return Err(Failure(embedded_io_async::ErrorKind::ConnectionReset)),
            },
        };
        buf[..next.len()].copy_from_slice(&next);
        Ok(next.len())
    }
}

impl embedded_io_async::Write for Scripted {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Failure> {
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Failure> {
        Ok(())
    }
}

/// A client frame, masked with a fixed key (payload under 126 bytes).
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

#[tokio::test]
async fn a_reset_after_the_closing_handshake_is_a_clean_end() {
    bounded(async {
        let config = Config::default();
        let client = |reads| {
            let timer = TokioTimer::new();
            let connection = sockless::Connection::client(&config, rng(), timer.now());
            WebSocket::new(Scripted::new(reads, None), timer, vec![0; 512], connection).unwrap()
        };
        let mut input = ReadBuffer::for_frames(vec![0; 4096]).unwrap();
        // We close; the server answers, then resets the TCP connection.
        let mut ws = client(vec![server_frame(0x88, &[0x03, 0xe8])]);
        let closed = ws.close(&mut input, CloseCode::NORMAL, "bye").await;
        assert_eq!(closed, Ok(()));
        // The server closes first, we echo, then it resets.
        let mut input = ReadBuffer::for_frames(vec![0; 4096]).unwrap();
        let mut ws = client(vec![server_frame(0x88, &[0x03, 0xe8])]);
        assert!(matches!(ws.read(&mut input).await, Ok(Event::Close(_))));
        let end = ws.read(&mut input).await.map(|_| ());
        assert_eq!(end, Err(Error::Closed));
        // A reset before the peer's Close is still a failure.
        let mut input = ReadBuffer::for_frames(vec![0; 4096]).unwrap();
        let mut ws = client(vec![]);
        let read = ws.read(&mut input).await.map(|_| ());
        assert!(
            matches!(
                read,
                Err(Error::Io(Failure(
                    embedded_io_async::ErrorKind::ConnectionReset
                )))
            ),
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
        let timer = TokioTimer::new();
        let connection = sockless::Connection::server(&config, timer.now());
        let transport = Scripted::new(vec![], Some(client_frame(0x89, b"still here")));
        let mut ws = WebSocket::new(transport, timer, vec![0; 512], connection).unwrap();
        let mut input = ReadBuffer::for_frames(vec![0; 4096]).unwrap();
        let start = std::time::Instant::now();
        let closed = ws.close(&mut input, CloseCode::NORMAL, "").await;
        let took = start.elapsed();
        assert_eq!(
            closed,
            Err(Error::TimedOut(TimedOut::Closing)),
            "after {took:?}"
        );
        assert!(
            took >= close_timeout && took < close_timeout + Duration::from_secs(2),
            "{took:?}"
        );
    })
    .await;
}
