//! Opening handshakes. Server: parse [`sl::REQUEST`] and write the 101. Client: write the
//! request, then read and check the server's 101 (a canned one, valid for the key the
//! client draws: every client's randomness is made deterministic).

use std::hint::black_box;

use sockless::{Accept, Client, Config, Endpoint, Event, Instant, Server};

use crate::io::{MemStream, runtime};
use crate::sl::{self, REQUEST, URL};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn response_for(key: &[u8]) -> Vec<u8> {
    let accept = sockless::handshake::accept_value(key);
    let mut r = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
        .to_vec();
    r.extend_from_slice(&accept);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

// ---- server ----

pub fn server_sockless(count: usize) -> u64 {
    let mut input = [0u8; 1024];
    let mut out = [0u8; 512];
    let mut total = 0;
    for _ in 0..count {
        let input = &mut input[..REQUEST.len()];
        input.copy_from_slice(REQUEST);
        let mut server = Server::new(Config::default(), Instant::ZERO);
        let received = server.receive(input, Instant::ZERO).expect("request");
        let Some(Event::Request(request)) = received.event else {
            panic!("no request")
        };
        total += server
            .accept(&request, Accept::default(), Instant::ZERO, &mut out)
            .expect("accept") as u64;
        black_box(&server);
    }
    total
}

pub fn server_tungstenite(count: usize) -> u64 {
    let mut total = 0;
    for _ in 0..count {
        let ws = tungstenite::accept(MemStream::new(REQUEST)).expect("tungstenite accept");
        total += ws.get_ref().written;
    }
    total
}

pub fn server_embedded_websocket(count: usize) -> u64 {
    use embedded_websocket::{WebSocketServer, read_http_header};
    let mut input = [0u8; 1024];
    let mut out = [0u8; 512];
    let mut total = 0;
    for _ in 0..count {
        let input = &mut input[..REQUEST.len()];
        input.copy_from_slice(REQUEST);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        assert!(request.parse(input).expect("httparse").is_complete());
        let context = read_http_header(request.headers.iter().map(|h| (h.name, h.value)))
            .expect("embedded-websocket header")
            .expect("not an upgrade");
        let mut ws = WebSocketServer::new_server();
        total += ws
            .server_accept(&context.sec_websocket_key, None, &mut out)
            .expect("accept") as u64;
        black_box(&ws);
    }
    total
}

pub fn server_tokio_websockets(count: usize) -> u64 {
    runtime().block_on(async {
        let builder = tokio_websockets::ServerBuilder::new();
        let mut total = 0;
        for _ in 0..count {
            let (_request, ws) = builder
                .accept(MemStream::new(REQUEST))
                .await
                .expect("tokio-websockets accept");
            total += ws.get_ref().written;
        }
        total
    })
}

// ---- client ----

pub fn client_sockless(count: usize) -> u64 {
    let (_, response) = sl::client_and_response(11);
    let mut input = [0u8; 512];
    let mut out = [0u8; 1024];
    let mut total = 0;
    for _ in 0..count {
        let mut client =
            Client::connect(URL, Config::default(), sl::Rng(11), Instant::ZERO).expect("client");
        total += client.poll_transmit(&mut out).expect("request") as u64;
        let input = &mut input[..response.len()];
        input.copy_from_slice(&response);
        let received = client.receive(input, Instant::ZERO).expect("response");
        assert!(matches!(received.event, Some(Event::Connected(_))));
        black_box(&client);
    }
    total
}

pub fn client_tungstenite(count: usize) -> u64 {
    use tungstenite::http::Request;
    let response = response_for(KEY.as_bytes());
    let mut total = 0;
    for _ in 0..count {
        // What `IntoClientRequest` builds from a URL, with a fixed key instead of a random one.
        let request = Request::builder()
            .method("GET")
            .uri(URL)
            .header("Host", "example.com:8080")
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", KEY)
            .body(())
            .unwrap();
        let (ws, _response) =
            tungstenite::client(request, MemStream::new(&response)).expect("tungstenite client");
        total += ws.get_ref().written;
    }
    total
}

pub fn client_embedded_websocket(count: usize) -> u64 {
    use embedded_websocket::{WebSocketClient, WebSocketOptions};
    let options = WebSocketOptions {
        path: "/chat",
        host: "example.com:8080",
        origin: "http://example.com:8080",
        sub_protocols: None,
        additional_headers: None,
    };
    let mut out = [0u8; 1024];
    let key = WebSocketClient::new_client(sl::Rng(13))
        .client_connect(&options, &mut out)
        .expect("connect")
        .1;
    let response = response_for(key.as_bytes());
    let mut input = [0u8; 512];
    let mut total = 0;
    for _ in 0..count {
        let mut ws = WebSocketClient::new_client(sl::Rng(13));
        let (n, key) = ws
            .client_connect(&options, &mut out)
            .expect("embedded-websocket connect");
        total += n as u64;
        let input = &mut input[..response.len()];
        input.copy_from_slice(&response);
        ws.client_accept(&key, input)
            .expect("embedded-websocket accept");
        black_box(&ws);
    }
    total
}

pub fn client_tokio_websockets(count: usize) -> u64 {
    runtime().block_on(async {
        let builder = tokio_websockets::ClientBuilder::new()
            .uri(URL)
            .expect("uri");
        // Learn the key the seeded generator gives, from a request with no answer.
        fastrand::seed(17);
        let mut probe = MemStream::capturing();
        let _ = builder.connect_on(&mut probe).await;
        let request = probe.capture.take().unwrap();
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut headers);
        parsed.parse(&request).expect("request");
        let key = parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
            .unwrap()
            .value;
        let response = response_for(key);
        let mut total = 0;
        for _ in 0..count {
            fastrand::seed(17);
            let (ws, _) = builder
                .connect_on(MemStream::new(&response))
                .await
                .expect("tokio-websockets connect");
            total += ws.get_ref().written;
        }
        total
    })
}

pub type HsFn = fn(usize) -> u64;

pub const SERVER: &[(&str, HsFn)] = &[
    ("sockless", server_sockless),
    ("tungstenite", server_tungstenite),
    ("tokio-websockets", server_tokio_websockets),
    ("embedded-websocket", server_embedded_websocket),
];

pub const CLIENT: &[(&str, HsFn)] = &[
    ("sockless", client_sockless),
    ("tungstenite", client_tungstenite),
    ("tokio-websockets", client_tokio_websockets),
    ("embedded-websocket", client_embedded_websocket),
];
