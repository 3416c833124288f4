//! The echo server of `echo_server.rs` over TLS (rustls, feature `rustls`): every text and
//! binary message comes back whole, with the same type; pings are answered, close
//! handshakes completed. Certificate and key are PEM files (nothing is built in):
//!
//! ```sh
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
//!     -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
//!     -keyout key.pem -out cert.pem
//! cargo run --release --features rustls --example wss_echo_server -- 127.0.0.1:9443 cert.pem key.pem
//! ```
//!
//! With `--write-timeout SECS` (before the address) a client that stops reading is given
//! up after SECS seconds without progress instead of 30 (`Config::write_timeout`).

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sockless::Config;
use sockless::io::blocking::{self, Decision};
use sockless::io::{Error, Message};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (write_timeout, args) = options()?;
    let [addr, cert, key] = &args[..] else {
        return Err(
            "usage: wss_echo_server [--write-timeout SECS] ADDRESS CERT.pem KEY.pem".into(),
        );
    };
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    // The crypto provider is chosen here, explicitly.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    let tls = Arc::new(tls);
    let listener = TcpListener::bind(addr)?;
    eprintln!("listening on {} (wss)", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let tls = tls.clone();
        std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            match serve(stream, tls, write_timeout) {
                Ok(outcome) => eprintln!("{peer}: {outcome}"),
                Err(error) => eprintln!("{peer}: {error}"),
            }
        });
    }
    Ok(())
}

/// The option before the address, `--write-timeout SECS`; the rest in order.
fn options() -> Result<(Duration, Vec<String>), String> {
    let mut write_timeout = Config::DEFAULT.write_timeout;
    let mut rest = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--write-timeout" => {
                let secs = args.next().unwrap_or_default();
                write_timeout = secs
                    .parse::<f64>()
                    .ok()
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .ok_or(format!("--write-timeout takes seconds, not {secs:?}"))?;
            }
            _ => rest.push(arg),
        }
    }
    Ok((write_timeout, rest))
}

/// Serve one connection until it ends; returns how it ended.
fn serve(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    write_timeout: Duration,
) -> Result<String, Error> {
    stream.set_nodelay(true)?;
    let tls = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    // The TLS handshake runs inside the first reads, within the handshake deadline.
    let stream = rustls::StreamOwned::new(tls, stream);
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)))
        .with_write_timeout(write_timeout);
    let mut plain = None;
    let accepted = blocking::accept_with(stream, config, |request| {
        if request.is_upgrade() {
            return Decision::accept();
        }
        plain = Some(format!("{} {}", request.method(), request.target()));
        Decision::Respond {
            status: 400,
            headers: &[("Content-Type", b"text/plain")],
            body: b"This is a WebSocket echo server.\n",
        }
    });
    let mut ws = match (accepted, plain) {
        (Ok(ws), _) => ws,
        (Err(Error::Rejected { status }), Some(request)) => {
            return Ok(format!("answered plain HTTP {request} with {status}"));
        }
        (Err(error), _) => return Err(error),
    };
    let mut outcome = String::from("closed without a close handshake");
    loop {
        match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.send(message)?,
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code.0, f.reason));
                outcome = format!("closed by peer, code={code} reason={reason:?}");
            }
            Ok(_) => {}
            Err(Error::Closed) => return Ok(outcome),
            Err(error @ (Error::Protocol(_) | Error::TimedOut(_))) => return Ok(error.to_string()),
            Err(error) => return Err(error),
        }
    }
}
