//! WebSocket over an HTTP/2 stream (RFC 8441), in one process: an `h2` server with
//! extended CONNECT enabled and an `h2` client over an in-memory duplex pipe. The server
//! checks the extended CONNECT with `check_connect` and answers 200 with the fields of
//! `ConnectRequest::accept`; the client checks the answer with `check_connect_response`.
//! Then a sockless `Connection` on each end of the stream exchanges text and binary
//! messages both ways (some larger than one DATA frame and than the initial flow-control
//! window) and the closing handshake, every byte carried in h2 DATA frames. The same
//! conversation runs again with permessage-deflate (RFC 7692) negotiated in the CONNECT
//! request and its response.
#![cfg(all(feature = "std", feature = "deflate"))]

use std::time::Duration;

use bytes::Bytes;
use h2::ext::Protocol;
use h2::{RecvStream, SendStream};
use http::{Method, Request, Response};
use tokio::io::DuplexStream;

use sockless::deflate::{Compressor, DeflateConfig, DeflateParams, Inflater, window_len};
use sockless::handshake::{
    CONNECT_ACCEPTED, CONNECT_PROTOCOL, ConnectResponse, check_connect, check_connect_response,
    connect_rejection, connect_request_headers,
};
use sockless::{
    CloseCode, Config, Connection, Endpoint, Event, HandshakeError, InputBuffer, Instant, Masking,
    MessageKind, State,
};

/// Nothing here may take longer: the test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(30);

/// The subprotocols the client offers (RFC 8441 §5.1).
const OFFER: &str = "chat, superchat";

/// h2's default largest DATA frame (RFC 9113 §6.5.2, SETTINGS_MAX_FRAME_SIZE).
const H2_FRAME: usize = 16_384;

/// A message as a test end sees it, or the end of the peer's stream.
#[derive(Debug, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Close(Option<u16>),
    /// The peer ended its stream (END_STREAM): `handle_eof` succeeded or not.
    Eof(bool),
}

/// One end of the WebSocket connection: a sockless `Connection` on an h2 stream.
struct Peer<M: Masking> {
    ws: Connection<M>,
    input: InputBuffer<Vec<u8>>,
    /// Received DATA not yet taken by `input`.
    pending: Bytes,
    send: SendStream<Bytes>,
    recv: RecvStream,
    out: Vec<u8>,
    /// The pieces of a message that arrives in chunks.
    partial: Vec<u8>,
    /// DATA frames received so far, and their bytes.
    frames: usize,
    bytes: usize,
    /// With permessage-deflate: what inflates received messages and compresses ours.
    inflater: Option<Inflater<Vec<u8>>>,
    compressor: Option<Compressor>,
    /// Our END_STREAM is sent.
    ended: bool,
}

impl<M: Masking> Peer<M> {
    fn new(ws: Connection<M>, send: SendStream<Bytes>, recv: RecvStream) -> Self {
        let inflater = ws
            .deflate()
            .map(|params| vec![0; window_len(params.receive_window_bits(ws.role()))])
            .map(|window| Inflater::new(&ws, window).expect("an inflater"));
        let compressor = ws
            .deflate()
            .map(|_| Compressor::new(&ws).expect("a compressor"));
        Peer {
            ws,
            // Small, so that large messages stream through in chunks.
            input: InputBuffer::for_frames(vec![0; 4096]).unwrap(),
            pending: Bytes::new(),
            send,
            recv,
            out: vec![0; 256 << 10],
            partial: Vec::new(),
            frames: 0,
            bytes: 0,
            inflater,
            compressor,
            ended: false,
        }
    }

    fn now() -> Instant {
        Instant::ZERO
    }

    /// Send the first `n` bytes of `out` as DATA.
    fn send_out(&mut self, n: usize) {
        let data = Bytes::copy_from_slice(&self.out[..n]);
        self.send.send_data(data, false).expect("send DATA");
    }

    /// Write what the connection owes, then end our stream once the connection says the
    /// transport should close (END_STREAM is the orderly TCP close: RFC 8441 §5).
    fn flush(&mut self) {
        loop {
            let n = self.ws.poll_transmit(&mut self.out).expect("output buffer");
            if n == 0 {
                break;
            }
            self.send_out(n);
        }
        if self.ws.should_close_transport() && !self.ended {
            self.send.send_data(Bytes::new(), true).expect("END_STREAM");
            self.ended = true;
        }
    }

    fn send_text(&mut self, text: &str) {
        let n = match &mut self.compressor {
            Some(compressor) => compressor.send_text(&mut self.ws, text, &mut self.out),
            None => self.ws.send_text(text, &mut self.out),
        };
        self.send_out(n.expect("send_text"));
    }

    fn send_binary(&mut self, data: &[u8]) {
        let n = match &mut self.compressor {
            Some(compressor) => compressor.send_binary(&mut self.ws, data, &mut self.out),
            None => self.ws.send_binary(data, &mut self.out),
        };
        self.send_out(n.expect("send_binary"));
    }

    fn close(&mut self, code: CloseCode, reason: &str) {
        let n = self
            .ws
            .close(code, reason, Self::now(), &mut self.out)
            .expect("close");
        self.send_out(n);
    }

    /// The next message from what is buffered, if a whole one is.
    fn drain(&mut self) -> Option<Msg> {
        loop {
            if !self.pending.is_empty() {
                let taken = self.input.push(&self.pending);
                let _ = self.pending.split_to(taken);
            }
            let event = match &mut self.inflater {
                Some(inflater) => self
                    .input
                    .receive_inflating(inflater, &mut self.ws, Self::now()),
                None => self.input.receive(&mut self.ws, Self::now()),
            }
            .unwrap();
            let Some(event) = event else {
                if self.pending.is_empty() {
                    return None;
                }
                continue;
            };
            match event {
                Event::Text(text) => return Some(Msg::Text(text.to_owned())),
                Event::Binary(data) => return Some(Msg::Binary(data.to_vec())),
                Event::Chunk(chunk) => {
                    self.partial.extend_from_slice(chunk.data);
                    if chunk.last {
                        let data = std::mem::take(&mut self.partial);
                        return Some(match chunk.kind {
                            MessageKind::Text => Msg::Text(String::from_utf8(data).unwrap()),
                            MessageKind::Binary => Msg::Binary(data),
                        });
                    }
                }
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close(frame) => return Some(Msg::Close(frame.code.map(u16::from))),
                other => panic!("unexpected event {other:?}"),
            }
        }
    }

    /// Receive until a whole message (or the end of the stream) arrives, writing what the
    /// connection owes on the way, and releasing the flow-control capacity of every DATA
    /// frame taken (RFC 9113 §5.2).
    async fn next(&mut self) -> Msg {
        loop {
            let msg = self.drain();
            self.flush();
            if let Some(msg) = msg {
                return msg;
            }
            match self.recv.data().await {
                Some(Ok(data)) => {
                    self.frames += 1;
                    self.bytes += data.len();
                    self.recv
                        .flow_control()
                        .release_capacity(data.len())
                        .expect("release capacity");
                    self.pending = data;
                }
                Some(Err(e)) => panic!("h2 stream error: {e}"),
                None => {
                    let clean = self.ws.handle_eof().is_ok();
                    self.flush();
                    return Msg::Eof(clean);
                }
            }
        }
    }
}

/// Text of exactly `len` bytes, mixing one-, two- and four-byte characters, so that DATA
/// frames and chunks end inside characters.
fn text_of(len: usize) -> String {
    let pattern = ['a', 'ж', '🚀', ' '];
    let mut text = String::with_capacity(len);
    for c in pattern.iter().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(*c);
    }
    while text.len() < len {
        text.push('x');
    }
    text
}

/// Binary data of `len` bytes that is not all alike.
fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// An h2 server on `io` with extended CONNECT enabled (RFC 8441 §3); its first request,
/// and the connection driven in the background.
async fn accept_first(io: DuplexStream) -> (Request<RecvStream>, h2::server::SendResponse<Bytes>) {
    let mut connection = h2::server::Builder::new()
        .enable_connect_protocol()
        .handshake::<_, Bytes>(io)
        .await
        .expect("h2 server handshake");
    let first = connection
        .accept()
        .await
        .expect("a request")
        .expect("a valid request");
    tokio::spawn(async move { while let Some(Ok(_)) = connection.accept().await {} });
    first
}

/// An h2 client on `io` once the server's SETTINGS_ENABLE_CONNECT_PROTOCOL arrived, with
/// the connection driven in the background; sends an extended CONNECT for `protocol`
/// with the fields of `connect_request_headers`.
async fn send_connect(
    io: DuplexStream,
    protocol: &'static str,
    extensions: Option<&str>,
) -> (h2::client::ResponseFuture, SendStream<Bytes>) {
    let (send_request, connection) = h2::client::handshake(io)
        .await
        .expect("h2 client handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut send_request = send_request.ready().await.expect("ready");
    // The setting comes in the server's first SETTINGS frame (RFC 8441 §3); the outer
    // deadline bounds this wait.
    while !send_request.is_extended_connect_protocol_enabled() {
        tokio::task::yield_now().await;
        send_request = send_request.ready().await.expect("ready");
    }
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri("https://server.example.com/chat")
        .header("origin", "https://www.example.com")
        .extension(Protocol::from_static(protocol));
    for (name, value) in connect_request_headers(Some(OFFER), extensions).unwrap() {
        request = request.header(name, value);
    }
    send_request
        .send_request(request.body(()).unwrap(), false)
        .expect("send CONNECT")
}

/// What the client offers and the server accepts of permessage-deflate in the
/// conversation with it on: the server asks for a smaller client window.
const DEFLATE_OFFER: DeflateConfig = DeflateConfig::DEFAULT;
const DEFLATE_ACCEPT: DeflateConfig = DeflateConfig::DEFAULT.with_receive_window_bits(12);
const DEFLATE_AGREED: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 12,
};

/// The server end: check the extended CONNECT, accept it with the client's first
/// choice of subprotocol (and permessage-deflate if `deflate` and offered), then run the
/// conversation.
async fn server_side(io: DuplexStream, deflate: bool) -> Peer<sockless::Unmasked> {
    let (request, mut respond) = accept_first(io).await;
    let (parts, body) = request.into_parts();
    let protocol = parts.extensions.get::<Protocol>().map(Protocol::as_str);
    let connect =
        check_connect(parts.method.as_str(), protocol, &parts.headers).expect("valid CONNECT");
    assert_eq!(
        connect.subprotocols().collect::<Vec<_>>(),
        ["chat", "superchat"]
    );
    assert!(connect.offers_subprotocol("chat"));
    assert_eq!(connect.origin(), Some("https://www.example.com"));
    let chosen = connect.subprotocols().next();
    let params = deflate
        .then(|| sockless::deflate::negotiate(connect.extensions(), &DEFLATE_ACCEPT))
        .flatten();
    assert_eq!(params, deflate.then_some(DEFLATE_AGREED));
    let answer = params.map(|params| params.response_value());
    let mut response = Response::builder().status(CONNECT_ACCEPTED);
    let extensions = answer.as_ref().map(|value| value.as_str());
    for (name, value) in connect.accept(chosen, extensions).unwrap() {
        response = response.header(name, value);
    }
    let send = respond
        .send_response(response.body(()).unwrap(), false)
        .expect("send 200");
    let ws = Connection::server(&Config::default(), Instant::ZERO)
        .with_subprotocol(chosen)
        .unwrap()
        .with_deflate(params);
    let mut server = Peer::new(ws, send, body);
    assert_eq!(server.ws.subprotocol(), Some("chat"));

    // Text and binary from the client, each answered.
    assert_eq!(server.next().await, Msg::Text("hello over h2".into()));
    server.send_text("hello back");
    assert_eq!(server.next().await, Msg::Binary(vec![0, 1, 2, 0xff]));
    server.send_binary(&[9, 8, 7]);

    // A binary message over several DATA frames and over the 65,535-byte initial window:
    // it arrives only because every frame's capacity is released.
    let before = server.frames;
    assert_eq!(server.next().await, Msg::Binary(binary_of(100_000)));
    if !deflate {
        assert!(
            server.frames - before >= 100_000 / H2_FRAME,
            "{} DATA frames",
            server.frames - before
        );
    }
    // Echoed, and a large text message of our own.
    server.send_binary(&binary_of(100_000));
    server.send_text(&text_of(70_000));

    // The client closes; the echo is queued by `next` and written by its `flush`, and the
    // server then ends its stream first (RFC 6455 §7.1.1).
    assert_eq!(server.next().await, Msg::Close(Some(1000)));
    assert_eq!(server.ws.state(), State::Closed);
    assert!(server.ws.should_close_transport());
    assert!(server.ended, "END_STREAM sent after the echo");
    assert_eq!(server.next().await, Msg::Eof(true));
    server
}

/// The client end: send the extended CONNECT (offering permessage-deflate if `deflate`),
/// check the 200, then run the conversation.
async fn client_side(io: DuplexStream, deflate: bool) -> Peer<sockless::Masked<sockless::OsRng>> {
    let offer = deflate.then(|| DEFLATE_OFFER.offer());
    let extensions = offer.as_ref().map(|value| value.as_str());
    let (response, send) = send_connect(io, CONNECT_PROTOCOL, extensions).await;
    let response = response.await.expect("response");
    let status = response.status().as_u16();
    let checked = check_connect_response(status, response.headers(), Some(OFFER), extensions)
        .expect("valid response");
    let ConnectResponse::Accepted {
        subprotocol,
        deflate: params,
    } = checked
    else {
        panic!("refused: {checked:?}");
    };
    assert_eq!(subprotocol, Some("chat"));
    assert_eq!(params, deflate.then_some(DEFLATE_AGREED));
    let ws = Connection::client(&Config::default(), sockless::os_rng(), Instant::ZERO)
        .with_subprotocol(subprotocol)
        .unwrap()
        .with_deflate(params);
    let mut client = Peer::new(ws, send, response.into_body());
    assert_eq!(client.ws.subprotocol(), Some("chat"));

    client.send_text("hello over h2");
    assert_eq!(client.next().await, Msg::Text("hello back".into()));
    client.send_binary(&[0, 1, 2, 0xff]);
    assert_eq!(client.next().await, Msg::Binary(vec![9, 8, 7]));

    client.send_binary(&binary_of(100_000));
    let before = client.frames;
    assert_eq!(client.next().await, Msg::Binary(binary_of(100_000)));
    if deflate {
        // Its pattern repeats: compressed, it is a small part of its size on the wire.
        assert!(client.bytes < 10_000, "{} bytes received", client.bytes);
    } else {
        assert!(client.frames - before >= 100_000 / H2_FRAME);
    }
    let before = client.bytes;
    assert_eq!(client.next().await, Msg::Text(text_of(70_000)));
    if deflate {
        assert!(client.bytes - before < 7_000, "{}", client.bytes - before);
    }

    // Close with 1000; the server echoes it and ends its stream, which ends ours.
    client.close(CloseCode::NORMAL, "done");
    assert_eq!(client.ws.state(), State::LocalClosing);
    assert_eq!(client.next().await, Msg::Close(Some(1000)));
    assert_eq!(client.ws.state(), State::Closed);
    assert_eq!(client.next().await, Msg::Eof(true));
    assert!(client.ws.should_close_transport());
    assert!(
        client.ended,
        "END_STREAM sent once the server's stream ended"
    );
    client
}

async fn conversation(deflate: bool) {
    let (client_io, server_io) = tokio::io::duplex(64 << 10);
    let run = async {
        tokio::join!(
            server_side(server_io, deflate),
            client_side(client_io, deflate)
        )
    };
    let (server, client) = tokio::time::timeout(DEADLINE, run)
        .await
        .expect("the exchange finished before the deadline");
    assert_eq!(server.ws.state(), State::Closed);
    assert_eq!(client.ws.state(), State::Closed);
}

#[tokio::test]
async fn websocket_over_h2_extended_connect() {
    conversation(false).await;
}

#[tokio::test]
async fn permessage_deflate_over_h2_extended_connect() {
    conversation(true).await;
}

#[tokio::test]
async fn extended_connect_for_another_protocol_is_refused() {
    let (client_io, server_io) = tokio::io::duplex(64 << 10);
    let server = async {
        let (request, mut respond) = accept_first(server_io).await;
        let protocol = request.extensions().get::<Protocol>().map(Protocol::as_str);
        assert_eq!(protocol, Some("webtransport"));
        let error = check_connect(request.method().as_str(), protocol, request.headers())
            .map(drop)
            .unwrap_err();
        assert_eq!(error, HandshakeError::NotWebSocketProtocol);
        let (status, fields) = connect_rejection(error);
        assert_eq!((status, fields.len()), (400, 0));
        let response = Response::builder().status(status).body(()).unwrap();
        respond.send_response(response, true).expect("send 400");
    };
    let client = async {
        let (response, _send) = send_connect(client_io, "webtransport", None).await;
        let response = response.await.expect("response");
        let status = response.status().as_u16();
        let checked = check_connect_response(status, response.headers(), Some(OFFER), None);
        assert_eq!(checked, Ok(ConnectResponse::Refused { status: 400 }));
    };
    tokio::time::timeout(DEADLINE, async { tokio::join!(server, client) })
        .await
        .expect("the exchange finished before the deadline");
}
