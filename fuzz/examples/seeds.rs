//! Writes the seed corpus: RFC 6455 examples (§1.2, §1.3, §5.7) and test vectors from the
//! crate's tests, as files `<dir>/<target>/<name>`. Usage: `seeds <dir>`.
//!
//! Byte layout per target (see each target's docs): frame_decode, server_handshake and
//! client_handshake take a selector byte, a cut count and cut lengths before the bytes;
//! deflate_negotiate two configuration bytes before its lines; extended_connect a selector
//! byte and a status before its lines.

use std::fs;
use std::path::Path;

use sockless::Config;
use sockless_fuzz::{UPGRADE_REQUEST, new_client, response_for};

fn frame(first: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame_decode / handshake input: selector, cuts, bytes.
fn framed(selector: u8, cuts: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![selector, cuts.len() as u8];
    out.extend_from_slice(cuts);
    out.extend_from_slice(bytes);
    out
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: seeds <dir>");
    let dir = Path::new(&dir);
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let path = dir.join(target);
        fs::create_dir_all(&path).unwrap();
        fs::write(path.join(name), bytes).unwrap();
    };
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    // RFC 6455 §5.7 examples, unmasked (client reads) and masked (server reads).
    let mut streams: Vec<(&str, Vec<u8>)> = vec![
        ("hello", frame(0x81, None, b"Hello")),
        (
            "fragmented",
            [frame(0x01, None, b"Hel"), frame(0x80, None, b"lo")].concat(),
        ),
        ("ping", frame(0x89, None, b"Hello")),
        ("pong", frame(0x8A, None, b"Hello")),
        ("binary256", frame(0x82, None, &[0xAB; 256])),
        ("binary64k_header", vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
        ("close_1000", frame(0x88, None, b"\x03\xe8bye")),
        ("close_empty", frame(0x88, None, b"")),
        (
            "ping_between",
            [
                frame(0x01, None, b"a"),
                frame(0x89, None, b"p"),
                frame(0x80, None, b"b"),
            ]
            .concat(),
        ),
        (
            "utf8_split",
            [
                frame(0x01, None, "κό".as_bytes()[..3].as_ref()),
                frame(0x80, None, &"κό".as_bytes()[3..]),
            ]
            .concat(),
        ),
        ("len_top_bit", vec![0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        (
            "len_2_40",
            vec![0x82, 0x7F, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3],
        ),
        ("reserved_opcode", frame(0x83, None, b"")),
        ("rsv1", frame(0xC1, None, b"x")),
        ("control_126", vec![0x89, 0x7E, 0, 126]),
        ("fragmented_ping", frame(0x09, None, b"")),
        (
            "continuation_storm",
            [
                frame(0x01, None, b""),
                frame(0x00, None, b"").repeat(20),
                frame(0x80, None, b""),
            ]
            .concat(),
        ),
        ("nonminimal16", vec![0x82, 0x7E, 0, 5, 1, 2, 3, 4, 5]),
        ("close_bad_code", frame(0x88, None, b"\x03\xed")),
        ("invalid_utf8", frame(0x81, None, b"\xed\xa0\x80")),
    ];
    let masked: Vec<(String, Vec<u8>)> = streams
        .iter()
        .map(|(name, bytes)| {
            // Re-frame with a mask where the stream is whole frames built above.
            (format!("{name}_masked"), remask(bytes, KEY))
        })
        .collect();
    for (name, bytes) in &masked {
        streams.push((Box::leak(name.clone().into_boxed_str()), bytes.clone()));
    }
    for (name, bytes) in &streams {
        write("frame_decode", name, &framed(0, &[], bytes));
        write(
            "frame_decode",
            &format!("{name}_cut1"),
            &framed(0, &[1], bytes),
        );
        write(
            "frame_decode",
            &format!("{name}_cut3_small"),
            &framed(0xC5, &[3, 2], bytes),
        );
    }

    // Requests: RFC 6455 §1.2 and variants breaking one rule each.
    let rfc = UPGRADE_REQUEST;
    let text = std::str::from_utf8(rfc).unwrap();
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("rfc", rfc.to_vec()),
        ("rfc_with_frame", [rfc, &frame(0x81, Some(KEY), b"Hello")[..]].concat()),
        ("rfc_full", b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec()),
        ("version_8", text.replace("Version: 13", "Version: 8").into_bytes()),
        ("http10", text.replace("HTTP/1.1", "HTTP/1.0").into_bytes()),
        ("post", text.replace("GET", "POST").into_bytes()),
        ("short_key", text.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==").into_bytes()),
        ("dup_key", text.replace("\r\n\r\n", "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").into_bytes()),
        ("plain_get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
        ("bare_lf", text.replace("\r\n", "\n").into_bytes()),
        ("no_host", text.replace("Host: server.example.com\r\n", "").into_bytes()),
        ("connection_list", text.replace("Connection: Upgrade", "Connection: keep-alive, Upgrade").into_bytes()),
    ];
    for (name, bytes) in &requests {
        write("server_handshake", name, &framed(0, &[], bytes));
        write(
            "server_handshake",
            &format!("{name}_cut7"),
            &framed(0, &[7], bytes),
        );
    }

    // Responses to the fuzz client's fixed request (its key never changes).
    let (_, request) = new_client(Config::default());
    let ok = response_for(&request, "");
    let responses: Vec<(&str, Vec<u8>)> = vec![
        ("rfc_101", ok.clone()),
        (
            "101_with_frame",
            [&ok[..], &frame(0x81, None, b"Hello")[..]].concat(),
        ),
        (
            "101_chat",
            response_for(&request, "Sec-WebSocket-Protocol: chat\r\n"),
        ),
        (
            "101_deflate",
            response_for(&request, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        ),
        (
            "101_bad_accept",
            String::from_utf8(ok.clone())
                .unwrap()
                .replace("Accept: ", "Accept: x")
                .into_bytes(),
        ),
        (
            "401",
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ),
        (
            "302",
            b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\r\n".to_vec(),
        ),
        (
            "http10_101",
            String::from_utf8(ok.clone())
                .unwrap()
                .replace("HTTP/1.1", "HTTP/1.0")
                .into_bytes(),
        ),
    ];
    for (name, bytes) in &responses {
        write("client_handshake", name, &framed(0, &[], bytes));
        write(
            "client_handshake",
            &format!("{name}_offers"),
            &framed(0x20, &[5], bytes),
        );
    }

    // permessage-deflate negotiation (RFC 7692 §7.1, the examples of §7.1.3 and the
    // crate's tables): client and server configuration bytes, the offers line, then the
    // response lines.
    let negotiations: Vec<(&str, u8, u8, &str)> = vec![
        (
            "default",
            0x0B,
            0x0B,
            "permessage-deflate\npermessage-deflate",
        ),
        (
            "browser",
            0x0B,
            0x0B,
            "permessage-deflate; client_max_window_bits\npermessage-deflate",
        ),
        (
            "rfc_7692_two_offers",
            0x06,
            0x04,
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits\npermessage-deflate; server_max_window_bits=10; client_max_window_bits=8",
        ),
        (
            "no_context_takeover",
            0x3B,
            0x1B,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover\npermessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        (
            "quoted_bits",
            0x0B,
            0x0B,
            "permessage-deflate; server_max_window_bits=\"10\"\npermessage-deflate; server_max_window_bits=\"9\"",
        ),
        (
            "bad_offers_then_good",
            0x0B,
            0x05,
            "x-webkit-deflate-frame, permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=012, permessage-deflate; client_max_window_bits=9\npermessage-deflate; client_max_window_bits=9",
        ),
        (
            "duplicates",
            0x0B,
            0x0B,
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10\npermessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ),
        (
            "accepted_twice",
            0x0B,
            0x0B,
            "permessage-deflate\npermessage-deflate\npermessage-deflate",
        ),
        (
            "out_of_range",
            0x00,
            0x0F,
            "permessage-deflate; server_max_window_bits=16; client_max_window_bits=7\npermessage-deflate; client_max_window_bits",
        ),
        (
            "unoffered_client_bits",
            0x0B,
            0x0B,
            "PerMessage-Deflate\nPERMESSAGE-DEFLATE; Client_Max_Window_Bits=10",
        ),
    ];
    for (name, client, server, text) in &negotiations {
        let mut input = vec![*client, *server];
        input.extend_from_slice(text.as_bytes());
        write("deflate_negotiate", name, &input);
    }

    // Extended CONNECT (RFC 8441 §5.1's example and variants): selector, status, the
    // request (`:method`, `:protocol`, fields), an empty line, the client's offered
    // subprotocols and extensions, then the response's fields.
    const RFC_8441: &str = "CONNECT\nwebsocket\nsec-websocket-protocol:chat, superchat\nsec-websocket-extensions:permessage-deflate\nsec-websocket-version:13\norigin:http://www.example.com\n\nchat, superchat\npermessage-deflate\nsec-websocket-protocol:chat\nsec-websocket-extensions:permessage-deflate";
    let connects: Vec<(&str, u8, u16, String)> = vec![
        ("rfc_8441", 0x30, 200, RFC_8441.to_string()),
        (
            "rfc_8441_small_window",
            0x10,
            204,
            RFC_8441.replace(
                "extensions:permessage-deflate\n",
                "extensions:permessage-deflate; client_max_window_bits\n",
            ),
        ),
        ("refused_403", 0x30, 403, RFC_8441.to_string()),
        (
            "version_8",
            0x30,
            200,
            RFC_8441.replace("version:13", "version:8"),
        ),
        (
            "version_twice",
            0x30,
            200,
            RFC_8441.replace("version:13", "version:13\nSec-WebSocket-Version: 13"),
        ),
        ("get", 0x30, 200, RFC_8441.replacen("CONNECT", "GET", 1)),
        ("no_protocol", 0x31, 200, RFC_8441.to_string()),
        (
            "connect_udp",
            0x30,
            200,
            RFC_8441.replacen("websocket", "connect-udp", 1),
        ),
        (
            "unoffered_subprotocol",
            0x30,
            200,
            RFC_8441.replace("protocol:chat\n", "protocol:mqtt\n"),
        ),
        (
            "unoffered_extension",
            0x30,
            200,
            RFC_8441.replace("extensions:permessage-deflate\n", "extensions:x-foo\n"),
        ),
        (
            "bad_deflate_answer",
            0x30,
            200,
            format!("{RFC_8441}; client_max_window_bits=10"),
        ),
        ("no_offers", 0x36, 200, RFC_8441.to_string()),
        (
            "quoted_list",
            0x30,
            200,
            RFC_8441.replace("\n\nchat, superchat", "\n\n\"chat, x\", superchat"),
        ),
    ];
    for (name, selector, status, text) in &connects {
        let mut input = vec![*selector];
        input.extend_from_slice(&status.to_be_bytes());
        input.extend_from_slice(text.as_bytes());
        write("extended_connect", name, &input);
    }

    // UTF-8 vectors: RFC 3629 examples and the classic invalid forms.
    let texts: Vec<(&str, &[u8])> = vec![
        ("ascii", b"Hello-UTF-8!!"),
        ("kosme", "κόσμε".as_bytes()),
        ("mixed", "Hello-µ@ßöäüàá-UTF-8!!".as_bytes()),
        ("four_byte", "𝄞 \u{10FFFF}".as_bytes()),
        ("surrogate", b"\xed\xa0\x80"),
        ("overlong", b"\xc0\xaf"),
        ("overlong3", b"\xe0\x80\xaf"),
        ("above_max", b"\xf4\x90\x80\x80"),
        ("f5", b"a\xf5b"),
        ("stray_continuation", b"a\x80b"),
        ("truncated", b"\xe2\x82"),
    ];
    for (name, bytes) in &texts {
        let mut input = vec![0];
        input.extend_from_slice(bytes);
        write("utf8", name, &input);
        let mut cut = vec![2, 1, 2];
        cut.extend_from_slice(bytes);
        write("utf8", &format!("{name}_cut"), &cut);
    }
}

/// The same frames, masked with `key` (the input must be whole unmasked frames; anything
/// else is returned as it is).
fn remask(bytes: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 <= bytes.len() {
        let (b0, b1) = (bytes[i], bytes[i + 1]);
        let (len, header) = match b1 & 0x7F {
            126 if i + 4 <= bytes.len() => {
                (u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize, 4)
            }
            127 | 126 => return bytes.to_vec(),
            n => (usize::from(n), 2),
        };
        if i + header + len > bytes.len() {
            return bytes.to_vec();
        }
        let mut head = bytes[i..i + header].to_vec();
        head[1] |= 0x80;
        out.extend_from_slice(&head);
        out.extend_from_slice(&key);
        out.extend(
            bytes[i + header..i + header + len]
                .iter()
                .enumerate()
                .map(|(j, b)| b ^ key[j % 4]),
        );
        let _ = b0;
        i += header + len;
    }
    if i != bytes.len() {
        return bytes.to_vec();
    }
    out
}
