//! permessage-deflate through the adapters over loopback TCP: the blocking adapter (the
//! server's decision hook, the client's request) and the tokio adapter (its settings), in
//! both roles, with messages that compress, that do not, and that are small.
#![cfg(all(feature = "deflate", feature = "std"))]

mod common;

use std::net::TcpListener;

use sockless::ClientRequest;
use sockless::deflate::DeflateConfig;
use sockless::io::Message;
use sockless::io::blocking::{self, Decision};

fn messages() -> Vec<Message> {
    let json: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"type\":\"message\",\"name\":\"u{}\",\"text\":\"hé {i} 🚀\"}}\n",
                i % 9
            )
        })
        .collect();
    let noise = common::noise(100_000, 0x9e37_79b9_7f4a_7c15);
    vec![
        Message::Text(json.clone()),
        Message::Text("hi".into()),
        Message::Binary(noise),
        Message::Binary(vec![7; 1 << 20]),
        Message::Text(json),
    ]
}

#[test]
fn blocking_adapter_negotiates_inflates_and_compresses_in_both_roles() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/deflate", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept_with(stream, sockless::Config::default(), |request| {
            Decision::accept_deflate(request, &Default::default())
        })
        .unwrap();
        assert!(ws.deflate().is_some());
        loop {
            match ws.read() {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.send(message).unwrap(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let request = ClientRequest::from_url(&url)
        .unwrap()
        .with_deflate(DeflateConfig::default());
    let mut ws = blocking::connect_request(request, sockless::Config::default()).unwrap();
    assert_eq!(ws.deflate(), Some(Default::default()));
    for message in messages() {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), message);
    }
    ws.close(sockless::CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_adapter_negotiates_inflates_and_compresses_in_both_roles() {
    use futures_util::StreamExt;
    use sockless::io::tokio::{Decision as TokioDecision, Settings, accept_with, connect_with};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/deflate", listener.local_addr().unwrap());
    let settings = Settings::default().with_deflate(
        DeflateConfig::default()
            .with_receive_window_bits(10)
            .with_send_no_context_takeover(true),
    );
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = accept_with(tcp, settings, |_| TokioDecision::accept())
            .await
            .unwrap();
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Text(_) | Message::Binary(_)) {
                ws.send(message).await.unwrap();
            }
        }
    });
    let (mut ws, response) = connect_with(
        &url,
        Settings::default().with_deflate(DeflateConfig::default()),
    )
    .await
    .unwrap();
    let extensions = response.header("Sec-WebSocket-Extensions").unwrap();
    assert_eq!(
        extensions,
        b"permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    );
    for message in messages() {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), message);
    }
    ws.close(sockless::CloseCode::NORMAL, "").await.unwrap();
    drop(ws);
    server.await.unwrap();
}

/// The tokio adapter's `next_event_with` on a connection that negotiated
/// permessage-deflate: the event comes inflated (from the inflater's window) and the
/// replies go out compressed; the client gets every message back as it sent it.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_replies_to_inflated_events_go_out_compressed() {
    use futures_util::StreamExt;
    use sockless::io::tokio::{Decision as TokioDecision, Settings, accept_with, connect_with};
    use sockless::{Event, MessageKind};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/deflate", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let settings = Settings::default().with_deflate(DeflateConfig::default());
        let mut ws = accept_with(tcp, settings, |_| TokioDecision::accept())
            .await
            .unwrap();
        let mut partial = Vec::new();
        loop {
            let echoed = ws.next_event_with(|event, reply| match event {
                Event::Text(text) => reply.send_text(text),
                Event::Binary(data) => reply.send_binary(data),
                // A message too large for the input arrives in pieces.
                Event::Chunk(chunk) => {
                    partial.extend_from_slice(chunk.data);
                    if !chunk.last {
                        return Ok(());
                    }
                    let whole = std::mem::take(&mut partial);
                    match chunk.kind {
                        MessageKind::Text => reply.send_text(std::str::from_utf8(&whole).unwrap()),
                        MessageKind::Binary => reply.send_binary(&whole),
                    }
                }
                _ => Ok(()),
            });
            match echoed.await {
                Ok(sent) => sent.unwrap(),
                Err(sockless::io::Error::Closed) => return,
                Err(error) => panic!("{error}"),
            }
        }
    });
    let (mut ws, response) = connect_with(
        &url,
        Settings::default().with_deflate(DeflateConfig::default()),
    )
    .await
    .unwrap();
    assert!(response.header("Sec-WebSocket-Extensions").is_some());
    for message in messages() {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), message);
    }
    ws.close(sockless::CloseCode::NORMAL, "").await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    server.await.unwrap();
}
