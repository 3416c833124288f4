//! A minimal echo client with sockless: open the connection, receive one text message
//! (whole or in pieces) and send it back, then close.

#![no_std]
#![no_main]

use sockless::handshake::ClientRequest;
use sockless::{Client, Config, Event, Instant, MessageKind};
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
    let config = Config {
        max_head_len: RX,
        max_frame_len: 4096,
        max_message_len: 4096,
        ..Config::DEFAULT
    };
    // Host, port and path given apart, as the embedded-websocket program gives them (no
    // URL parser linked).
    let request = ClientRequest {
        host: HOST_NAME,
        port: PORT,
        secure: false,
        target: PATH,
        origin: None,
        subprotocols: &[],
        extensions: &[],
        headers: &[],
    };
    let mut client = Client::new(request, config, XorShift32(seed()))?;
    let (mut rx, mut tx) = ([0u8; RX], [0u8; RX + 16]);
    let mut filled = 0;
    loop {
        let n = client.poll_transmit(&mut tx)?;
        transport_write(&tx[..n]);
        filled += transport_read(&mut rx[filled..]);
        let now = Instant::from_millis(now_ms());
        let mut start = 0;
        loop {
            let received = client.receive(&mut rx[start..filled], now)?;
            start += received.consumed;
            // Pongs and the answer to a Close are queued by sockless itself.
            let (n, done) = match received.event {
                None => break,
                Some(Event::Text(text)) => (client.send_text(text, &mut tx)?, true),
                Some(Event::Chunk(chunk)) if chunk.kind == MessageKind::Text => (
                    client.send_fragment(MessageKind::Text, chunk.data, chunk.last, &mut tx)?,
                    chunk.last,
                ),
                Some(Event::Rejected(_)) => return Ok(()),
                Some(_) => (0, false),
            };
            transport_write(&tx[..n]);
            let n = client.poll_transmit(&mut tx)?;
            transport_write(&tx[..n]);
            if done {
                return Ok(());
            }
        }
        rx.copy_within(start..filled, 0);
        filled -= start;
    }
}
