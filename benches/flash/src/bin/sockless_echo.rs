//! A minimal echo client with sockless: open the connection, receive one text message
//! (whole or in pieces) and send it back, then close.

#![no_std]
#![no_main]

use sockless::handshake::ClientRequest;
use sockless::{Client, Config, Endpoint, Event, InputBuffer, Instant, MessageKind};
use sockless_flash::{
    HOST_NAME, PATH, PORT, XorShift32, now_ms, seed, transport_read, transport_write,
};

const RX: usize = 1024;

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let _ = echo();
    loop {
        core::hint::spin_loop();
    }
}

fn echo() -> Result<(), sockless::Error> {
    let config = Config::DEFAULT
        .with_max_head_len(RX)
        .with_max_frame_len(4096)
        .with_max_message_len(4096);
    // Host, port and path given apart, as the embedded-websocket program gives them (no
    // URL parser linked).
    let request = ClientRequest::new(HOST_NAME, PORT, PATH);
    let now = Instant::from_millis(now_ms());
    let mut client = Client::new(request, config, XorShift32(seed()), now)?;
    let mut rx = InputBuffer::new([0u8; RX], &config)?;
    let mut tx = [0u8; RX + 16];
    loop {
        let n = client.poll_transmit(&mut tx)?;
        transport_write(&tx[..n]);
        let n = transport_read(rx.read_space());
        rx.commit(n);
        let now = Instant::from_millis(now_ms());
        while let Some(event) = rx.receive(&mut client, now)? {
            // Pongs, the answer to a Close and the Close of a failure are queued by
            // sockless itself.
            let (n, done) = match event {
                Event::Text(text) => (client.connection()?.send_text(text, &mut tx)?, true),
                Event::Chunk(chunk) if chunk.kind == MessageKind::Text => {
                    let connection = client.connection()?;
                    let n = connection.send_fragment(
                        MessageKind::Text,
                        chunk.data,
                        chunk.last,
                        &mut tx,
                    )?;
                    (n, chunk.last)
                }
                Event::Rejected(_) | Event::HandshakeFailed(_) | Event::Failed(_) => (0, true),
                _ => (0, false),
            };
            transport_write(&tx[..n]);
            let n = client.poll_transmit(&mut tx)?;
            transport_write(&tx[..n]);
            if done {
                return Ok(());
            }
        }
    }
}
