//! A minimal echo client with sockless: open the connection (every check of the server's
//! response), receive one text message (whole or in pieces, its UTF-8 validated) and send
//! it back, answer Pings, then close: our Close, and the server's answer to it.

#![no_std]
#![no_main]

use sockless::handshake::ClientRequest;
use sockless::{Client, CloseCode, Config, Endpoint, Event, InputBuffer, Instant, MessageKind};
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
    // Our Close is sent: nothing more is echoed.
    let mut closing = false;
    loop {
        // What sockless owes: the request, Pongs, the answer to a Close, the Close of a
        // failure.
        let n = client.poll_transmit(&mut tx)?;
        transport_write(&tx[..n]);
        // After the closing handshake, a failure or a refusal.
        if client.should_close_transport() {
            return Ok(());
        }
        let n = transport_read(rx.read_space());
        rx.commit(n);
        let now = Instant::from_millis(now_ms());
        while let Some(event) = rx.receive(&mut client, now)? {
            // A Ping is answered by sockless itself (its Pong comes out of poll_transmit).
            let (n, echoed) = match event {
                _ if closing => (0, false),
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
                _ => (0, false),
            };
            transport_write(&tx[..n]);
            if echoed {
                // The message is echoed whole: start the closing handshake (RFC 6455
                // §7.1.2), then wait for the server's Close.
                let n = client
                    .connection()?
                    .close(CloseCode::NORMAL, "", now, &mut tx)?;
                transport_write(&tx[..n]);
                closing = true;
            }
            let n = client.poll_transmit(&mut tx)?;
            transport_write(&tx[..n]);
        }
    }
}
