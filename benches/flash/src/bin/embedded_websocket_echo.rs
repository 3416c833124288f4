//! The same echo client with embedded-websocket: open the connection, receive one text
//! message (whole or in pieces) and send it back. Pings and Close are answered by hand, as
//! sockless does by itself.

#![no_std]
#![no_main]

use embedded_websocket::{
    Error, WebSocketClient, WebSocketOptions, WebSocketReceiveMessageType as Received,
    WebSocketSendMessageType as Send,
};
use sockless_flash::{HOST, PATH, XorShift32, seed, transport_read, transport_write};

const RX: usize = 1024;

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let _ = echo();
    loop {
        core::hint::spin_loop();
    }
}

fn echo() -> Result<(), Error> {
    let mut ws = WebSocketClient::new_client(XorShift32(seed()));
    let options = WebSocketOptions {
        path: PATH,
        host: HOST,
        origin: "",
        sub_protocols: None,
        additional_headers: None,
    };
    let (mut rx, mut tx, mut payload) = ([0u8; RX], [0u8; RX + 16], [0u8; RX]);
    let (n, key) = ws.client_connect(&options, &mut tx)?;
    transport_write(&tx[..n]);
    let mut filled = 0;
    loop {
        filled += transport_read(&mut rx[filled..]);
        match ws.client_accept(&key, &rx[..filled]) {
            Ok((len, _)) => {
                rx.copy_within(len..filled, 0);
                filled -= len;
                break;
            }
            Err(Error::HttpHeaderIncomplete) => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        let mut start = 0;
        while start < filled {
            let read = match ws.read(&rx[start..filled], &mut payload) {
                Ok(read) => read,
                Err(Error::ReadFrameIncomplete) => break,
                Err(e) => return Err(e),
            };
            start += read.len_from;
            let data = &payload[..read.len_to];
            let n = match read.message_type {
                Received::Text => ws.write(Send::Text, read.end_of_message, data, &mut tx)?,
                Received::Ping => ws.write(Send::Pong, true, data, &mut tx)?,
                Received::CloseMustReply => ws.write(Send::CloseReply, true, data, &mut tx)?,
                _ => 0,
            };
            transport_write(&tx[..n]);
            if read.message_type == Received::Text && read.end_of_message {
                return Ok(());
            }
        }
        rx.copy_within(start..filled, 0);
        filled -= start;
        filled += transport_read(&mut rx[filled..]);
    }
}
