//! The send path: encode `count` binary messages of one payload, as a client (masked) or a
//! server, into memory. Returns the bytes produced and, when asked, the first frame's
//! bytes (checked by decoding them with sockless).

use std::hint::black_box;

use bytes::Bytes;

use crate::io::{MemStream, runtime};
use crate::sl;

pub struct Sent {
    pub bytes: u64,
    pub first: Vec<u8>,
}

/// sockless `send_binary`: header and payload (masked by a client) written to one buffer.
pub fn sockless(payload: &[u8], count: usize, client: bool) -> Sent {
    let mut out = vec![0u8; payload.len() + 14];
    let mut bytes = 0;
    let mut first = Vec::new();
    let mut client_conn = client.then(|| sl::open_client().into_connection().unwrap());
    let mut server_conn = (!client).then(|| sl::open_server().into_connection().unwrap());
    for i in 0..count {
        let n = match (&mut client_conn, &mut server_conn) {
            (Some(c), _) => c.send_binary(payload, &mut out),
            (_, Some(s)) => s.send_binary(payload, &mut out),
            _ => unreachable!(),
        }
        .expect("sockless send");
        black_box(&out[..n]);
        bytes += n as u64;
        if i == 0 {
            first = out[..n].to_vec();
        }
    }
    Sent { bytes, first }
}

/// sockless `send_header` (server): only the header is written; the payload goes out as is
/// (a vectored write), without a copy.
pub fn sockless_header(payload: &[u8], count: usize, client: bool) -> Sent {
    assert!(!client);
    let mut server = sl::open_server().into_connection().unwrap();
    let mut header = [0u8; 14];
    let mut bytes = 0;
    let mut first = Vec::new();
    for i in 0..count {
        let written = server
            .send_header(
                sockless::MessageKind::Binary,
                payload.len() as u64,
                true,
                &mut header,
            )
            .expect("sockless send_header");
        black_box((&header[..written.len], payload));
        // The payload went out with the header (a vectored write): the next may follow.
        server
            .payload_written(payload.len() as u64)
            .expect("sockless payload_written");
        bytes += (written.len + payload.len()) as u64;
        if i == 0 {
            first = [&header[..written.len], payload].concat();
        }
    }
    Sent { bytes, first }
}

/// tungstenite `WebSocket::send` (write + flush) into an in-memory `Write`.
pub fn tungstenite(payload: &[u8], count: usize, client: bool) -> Sent {
    use tungstenite::protocol::{Message, Role, WebSocket};
    let role = if client { Role::Client } else { Role::Server };
    let data = Bytes::copy_from_slice(payload);
    let mut first = {
        let mut ws = WebSocket::from_raw_socket(MemStream::capturing(), role, None);
        ws.send(Message::Binary(data.clone()))
            .expect("tungstenite send");
        ws.get_mut().capture.take().unwrap()
    };
    first.shrink_to_fit();
    let mut ws = WebSocket::from_raw_socket(MemStream::sink(), role, None);
    for _ in 0..count {
        ws.send(Message::Binary(data.clone()))
            .expect("tungstenite send");
    }
    Sent {
        bytes: ws.get_ref().written,
        first,
    }
}

/// fastwebsockets `WebSocket::write_frame` into an in-memory `AsyncWrite` (vectored).
pub fn fastwebsockets(payload: &[u8], count: usize, client: bool) -> Sent {
    use fastwebsockets::{Frame, Payload, Role, WebSocket};
    let role = || if client { Role::Client } else { Role::Server };
    runtime().block_on(async {
        let mut ws = WebSocket::after_handshake(MemStream::capturing(), role());
        ws.write_frame(Frame::binary(Payload::Borrowed(payload)))
            .await
            .expect("fastwebsockets write");
        let first = ws.into_inner().capture.unwrap();
        let mut ws = WebSocket::after_handshake(MemStream::sink(), role());
        for _ in 0..count {
            ws.write_frame(Frame::binary(Payload::Borrowed(payload)))
                .await
                .expect("fastwebsockets write");
        }
        Sent {
            bytes: ws.into_inner().written,
            first,
        }
    })
}

/// tokio-websockets: `SinkExt::send` of a `Message` into an in-memory `AsyncWrite`.
pub fn tokio_websockets(payload: &[u8], count: usize, client: bool) -> Sent {
    use futures_util::SinkExt;
    use tokio_websockets::{ClientBuilder, Message, ServerBuilder};
    let data = Bytes::copy_from_slice(payload);
    let open = |stream| {
        if client {
            ClientBuilder::new().take_over(stream)
        } else {
            ServerBuilder::new().serve(stream)
        }
    };
    runtime().block_on(async {
        let mut ws = open(MemStream::capturing());
        ws.send(Message::binary(data.clone()))
            .await
            .expect("tokio-websockets send");
        let first = ws.get_mut().capture.take().unwrap();
        let mut ws = open(MemStream::sink());
        for _ in 0..count {
            ws.send(Message::binary(data.clone()))
                .await
                .expect("tokio-websockets send");
        }
        Sent {
            bytes: ws.get_ref().written,
            first,
        }
    })
}

/// embedded-websocket `WebSocket::write` into one buffer.
pub fn embedded_websocket(payload: &[u8], count: usize, client: bool) -> Sent {
    use embedded_websocket::{
        WebSocketClient, WebSocketSendMessageType, WebSocketServer, WebSocketState,
    };
    let mut out = vec![0u8; payload.len() + 14];
    let mut server = WebSocketServer::new_server();
    server.state = WebSocketState::Open;
    let mut client_ws = WebSocketClient::new_client(sl::Rng(3));
    client_ws.state = WebSocketState::Open;
    let mut bytes = 0;
    let mut first = Vec::new();
    for i in 0..count {
        let n = if client {
            client_ws.write(WebSocketSendMessageType::Binary, true, payload, &mut out)
        } else {
            server.write(WebSocketSendMessageType::Binary, true, payload, &mut out)
        }
        .expect("embedded-websocket write");
        black_box(&out[..n]);
        bytes += n as u64;
        if i == 0 {
            first = out[..n].to_vec();
        }
    }
    Sent { bytes, first }
}

/// websocket-sans-io `WebsocketFrameEncoder`: the header, then the payload copied after
/// it and masked in place (`transform_frame_payload`).
pub fn websocket_sans_io(payload: &[u8], count: usize, client: bool) -> Sent {
    use websocket_sans_io::{FrameInfo, Opcode, WebsocketFrameEncoder};
    let mut out = vec![0u8; payload.len() + 14];
    let mut encoder = WebsocketFrameEncoder::new();
    let mut rng = sl::Rng(5);
    let mut bytes = 0;
    let mut first = Vec::new();
    for i in 0..count {
        let info = FrameInfo {
            opcode: Opcode::Binary,
            payload_length: payload.len() as u64,
            mask: client.then(|| (rng.next() as u32).to_ne_bytes()),
            fin: true,
            reserved: 0,
        };
        let header = encoder.start_frame(&info);
        let h = header.len();
        out[..h].copy_from_slice(&header);
        let body = &mut out[h..h + payload.len()];
        body.copy_from_slice(payload);
        encoder.transform_frame_payload(body);
        let n = h + payload.len();
        black_box(&out[..n]);
        bytes += n as u64;
        if i == 0 {
            first = out[..n].to_vec();
        }
    }
    Sent { bytes, first }
}

pub type SendFn = fn(&[u8], usize, bool) -> Sent;

pub const IMPLS: &[(&str, SendFn)] = &[
    ("sockless", sockless),
    ("tungstenite", tungstenite),
    ("fastwebsockets", fastwebsockets),
    ("tokio-websockets", tokio_websockets),
    ("embedded-websocket", embedded_websocket),
    ("websocket-sans-io", websocket_sans_io),
];
