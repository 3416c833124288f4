//! Large messages (1 MiB and 16 MiB, text and binary, in one frame or in fragments with a
//! Ping between them, RFC 6455 §5.4) through the tokio adapter's `Stream`, which reads
//! most of a large frame's payload straight into the message it hands out: every byte
//! arrives as sent, from a raw masked client over TCP and from a sockless server to a
//! sockless client (unmasked); invalid text deep inside a large frame fails with 1007
//! (§8.1) and a message over the limit with 1009. Every test is bounded.
#![cfg(feature = "tokio")]

mod common;

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use sockless::io::tokio::WebSocketStream;
use sockless::io::{Error, Message};
use sockless::{Config, ProtocolError, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const MIB: usize = 1 << 20;

async fn bounded<F: Future>(f: F) -> F::Output {
    timeout(Duration::from_secs(60), f)
        .await
        .expect("the test took too long")
}

/// A frame as a client sends it, masked with a fixed key (any length).
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x9c, 0x41, 0x07, 0xe3];
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// `len` bytes of text with characters of 1 to 4 bytes (a little more to end on a
/// whole character), so that every cut lands inside some character.
fn text(len: usize) -> String {
    let mut text = String::with_capacity(len + 16);
    let mut i = 0u32;
    while text.len() < len {
        text.push_str(["a", "é", "€", "𝄞", "z"][(i % 5) as usize]);
        i = i.wrapping_mul(1_103_515_245).wrapping_add(12345);
    }
    text
}

/// `len` bytes that do not repeat with a short period.
fn binary(len: usize) -> Vec<u8> {
    common::noise(len, 0x2545_f491_4f6c_dd1d)
}

/// The wire of `payload` as one frame, or as three fragments with a Ping between the
/// first two (cut at odd offsets, inside characters for text).
fn wire(opcode: u8, payload: &[u8], fragmented: bool) -> Vec<u8> {
    if !fragmented {
        return masked(0x80 | opcode, payload);
    }
    let (a, b) = (payload.len() / 3 + 1, payload.len() / 3 * 2 + 3);
    let mut wire = masked(opcode, &payload[..a]);
    wire.extend(masked(0x89, b"ping"));
    wire.extend(masked(0x00, &payload[a..b]));
    wire.extend(masked(0x80, &payload[b..]));
    wire
}

/// A server stream and the raw client socket, over TCP loopback.
async fn raw_pair(config: Config) -> (WebSocketStream<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
    let (server, _) = accepted.unwrap();
    let ws = WebSocketStream::from_raw_socket(server, Role::Server, config);
    (ws, client.unwrap())
}

fn config() -> Config {
    Config::default()
        .with_max_frame_len(32 * MIB as u64)
        .with_max_message_len(32 * MIB as u64)
}

#[tokio::test(flavor = "current_thread")]
async fn large_messages_from_a_raw_client_arrive_whole() {
    bounded(async {
        let (mut ws, client) = raw_pair(config()).await;
        let (mut client_read, mut client_write) = client.into_split();
        let mut expected = Vec::new();
        let mut wires = Vec::new();
        for len in [MIB, 16 * MIB] {
            for fragmented in [false, true] {
                let text = text(len);
                wires.push(wire(0x1, text.as_bytes(), fragmented));
                if fragmented {
                    expected.push(Message::Ping(b"ping".to_vec()));
                }
                expected.push(Message::Text(text));
                let data = binary(len);
                wires.push(wire(0x2, &data, fragmented));
                if fragmented {
                    expected.push(Message::Ping(b"ping".to_vec()));
                }
                expected.push(Message::Binary(data));
            }
        }
        let writer = tokio::spawn(async move {
            for wire in wires {
                client_write.write_all(&wire).await.unwrap();
            }
            client_write
                .write_all(&masked(0x88, &[0x03, 0xe8]))
                .await
                .unwrap();
            client_write
        });
        // The client reads our Pongs and Close echo as they come.
        let reader = tokio::spawn(async move {
            let mut wire = Vec::new();
            client_read.read_to_end(&mut wire).await.unwrap();
            wire
        });
        for (i, want) in expected.iter().enumerate() {
            let got = ws.next().await.expect("a message").expect("no error");
            if &got != want {
                panic!("message {i} differs: {} bytes", message_len(&got));
            }
        }
        assert!(matches!(ws.next().await, Some(Ok(Message::Close(Some(_))))));
        assert!(ws.next().await.is_none());
        let _client_write = writer.await.unwrap();
        let wire = reader.await.unwrap();
        // Four Pongs (unmasked, "ping"), then the echo of the Close.
        let pong = [[0x8a, 4].as_slice(), b"ping"].concat();
        let close = [0x88, 2, 0x03, 0xe8];
        assert_eq!(wire, [pong.repeat(4), close.to_vec()].concat());
    })
    .await;
}

fn message_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
        _ => 0,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn large_messages_from_a_sockless_server_reach_a_sockless_client() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        let mut server =
            WebSocketStream::from_raw_socket(accepted.unwrap().0, Role::Server, config());
        let mut client = WebSocketStream::from_raw_socket(client.unwrap(), Role::Client, config());
        let messages = [
            Message::Binary(binary(16 * MIB)),
            Message::Text(text(MIB)),
            Message::Binary(binary(MIB + 7)),
            Message::Text(text(16 * MIB)),
        ];
        let sent = messages.clone();
        let sending = tokio::spawn(async move {
            for message in sent {
                server.send(message).await.unwrap();
            }
            server.close(sockless::CloseCode::NORMAL, "").await.unwrap();
            // Read on until the client answers the Close.
            while let Some(Ok(_)) = server.next().await {}
        });
        for want in &messages {
            let got = client.next().await.expect("a message").expect("no error");
            assert!(&got == want, "a {}-byte message differs", message_len(want));
        }
        assert!(matches!(
            client.next().await,
            Some(Ok(Message::Close(Some(_))))
        ));
        assert!(client.next().await.is_none());
        sending.await.unwrap();
    })
    .await;
}

/// What the raw client reads until the server closes: the close code of the server's
/// Close frame.
async fn close_code(client: &mut TcpStream) -> u16 {
    let mut wire = Vec::new();
    client.read_to_end(&mut wire).await.unwrap();
    assert_eq!(wire[0], 0x88, "{:x?}", &wire[..wire.len().min(8)]);
    u16::from_be_bytes([wire[2], wire[3]])
}

/// A raw client writes `wire`; the server's stream ends with `expected`, and the client
/// reads a Close with `code`.
async fn fails_with(config: Config, wire: Vec<u8>, expected: ProtocolError, code: u16) {
    let (mut ws, mut client) = raw_pair(config).await;
    let writer = tokio::spawn(async move {
        // The server may close before it has read everything.
        let _ = client.write_all(&wire).await;
        client
    });
    let error = ws.next().await.expect("an error").unwrap_err();
    assert!(
        matches!(error, Error::Protocol(got) if got == expected),
        "{error}"
    );
    assert!(ws.next().await.is_none());
    let mut client = writer.await.unwrap();
    assert_eq!(close_code(&mut client).await, code);
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_text_deep_in_a_large_frame_fails_with_1007() {
    bounded(async {
        // The last byte, so that the server has read everything when it closes (unread
        // bytes would make its close a reset).
        let mut bad = text(MIB).into_bytes();
        *bad.last_mut().unwrap() = 0xFF;
        let wire = masked(0x81, &bad);
        fails_with(config(), wire, ProtocolError::InvalidUtf8, 1007).await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_fragmented_message_over_the_limit_fails_with_1009() {
    bounded(async {
        let config = Config::default().with_max_message_len(MIB as u64);
        // The second header alone: it is refused as it arrives, and nothing is left unread.
        let mut wire = masked(0x02, &binary(MIB / 2 + 100));
        wire.extend_from_slice(&masked(0x80, &binary(MIB / 2))[..14]);
        fails_with(config, wire, ProtocolError::MessageTooLarge, 1009).await;
    })
    .await;
}

/// A transport that records how much room each read offers.
struct Recording<S> {
    inner: S,
    offered: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Recording<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.offered.lock().unwrap().push(buf.remaining());
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_frame_is_read_into_the_message_up_to_its_end_and_no_further() {
    bounded(async {
        let (ours, mut peer) = tokio::io::duplex(4 * MIB);
        let offered = std::sync::Arc::default();
        let transport = Recording {
            inner: ours,
            offered: std::sync::Arc::clone(&offered),
        };
        // The default 16 KiB input; a 200,000-byte frame, then a small one, all there to
        // be read at once.
        let mut ws = WebSocketStream::from_raw_socket(transport, Role::Server, config());
        let data = binary(200_000);
        let mut wire = masked(0x82, &data);
        wire.extend(masked(0x81, b"after"));
        peer.write_all(&wire).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(data));
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("after".into())
        );
        let offered = offered.lock().unwrap().clone();
        // The input's 16 KiB take the header and the first 16,370 bytes; the rest of the
        // frame is offered whole, straight into the message, and not a byte more (the
        // next header goes to the input, with the next message).
        assert_eq!(
            offered[..3],
            [16 * 1024, 200_000 - (16 * 1024 - 14), 16 * 1024]
        );
    })
    .await;
}

/// The room offered to each read of a large frame's payload, after the input's reads (of
/// the header and first bytes; one more if the first found nothing yet), with `capacity`
/// bytes of pipe between the peer and us.
async fn payload_reads(capacity: usize, payload: usize) -> Vec<usize> {
    let (ours, mut peer) = tokio::io::duplex(capacity);
    let offered = std::sync::Arc::default();
    let transport = Recording {
        inner: ours,
        offered: std::sync::Arc::clone(&offered),
    };
    let mut ws = WebSocketStream::from_raw_socket(transport, Role::Server, config());
    let data = binary(payload);
    let wire = masked(0x82, &data);
    let write = async move {
        peer.write_all(&wire).await.unwrap();
        peer
    };
    let (received, _peer) = tokio::join!(ws.next(), write);
    assert_eq!(received.unwrap().unwrap(), Message::Binary(data));
    let offered = offered.lock().unwrap().clone();
    let input = 16 * 1024;
    offered
        .into_iter()
        .skip_while(|&room| room == input)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn reads_of_a_large_payload_grow_while_full_and_start_over_when_short() {
    bounded(async {
        // All of a 3 MiB frame is there to read (after the 16 KiB input took the 14-byte
        // header and 16,370 bytes): each read that comes back full asks for twice as much
        // as the last, from 256 KiB up to 1 MiB, the last one for what is left.
        let first = 16 * 1024 - 14;
        let reads = payload_reads(4 * MIB, 3 * MIB).await;
        let left = 3 * MIB - first - (256 + 512 + 1024 + 1024) * 1024;
        assert_eq!(
            reads,
            [256 * 1024, 512 * 1024, MIB, MIB, left],
            "room offered to each read"
        );
        // Through a 64 KiB pipe every read comes back short: none asks for more than
        // 256 KiB, so a transport that zeroes the room it is given never zeroes more.
        let reads = payload_reads(64 * 1024, MIB).await;
        assert!(reads.len() > 4, "{reads:?}");
        assert!(reads.iter().all(|&room| room <= 256 * 1024), "{reads:?}");
    })
    .await;
}
