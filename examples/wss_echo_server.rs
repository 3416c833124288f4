//! The echo server of `echo_server.rs` over TLS (rustls, feature `rustls`): every text and
//! binary message comes back whole, with the same type; pings are answered, close
//! handshakes completed. Certificate and key are PEM files (nothing is built in):
//!
//! ```sh
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
//!     -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
//!     -addext basicConstraints=critical,CA:FALSE -keyout key.pem -out cert.pem
//! cargo run --release --features rustls --example wss_echo_server -- 127.0.0.1:9443 cert.pem key.pem
//! ```
//!
//! With `--write-timeout SECS` (before the address) a client that stops reading is given
//! up after SECS seconds without progress instead of 30 (`Config::write_timeout`).

#[path = "common/cli.rs"]
mod cli;

use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sockless::Config;
use sockless::io::blocking::{self, Decision};
use sockless::io::{Error, Message};

const USAGE: cli::Usage = cli::Usage {
    name: "wss_echo_server",
    about: "a WebSocket echo server over TLS (rustls) on the blocking adapter",
    synopsis: "[--write-timeout SECS] ADDR CERT.pem KEY.pem",
    arguments: &[
        ("ADDR", "where to listen, such as 127.0.0.1:9443"),
        ("CERT.pem", "the certificate chain, PEM"),
        ("KEY.pem", "its private key, PEM"),
        cli::WRITE_TIMEOUT,
    ],
};

fn main() -> ExitCode {
    let positional: [(&str, cli::Check); 3] = [
        ("ADDR", cli::address),
        ("CERT.pem", cli::file),
        ("KEY.pem", cli::file),
    ];
    let echo = USAGE.echo(&positional, 3);
    let [addr, cert, key] = &echo.rest[..] else {
        return USAGE.fail("ADDR, CERT.pem and KEY.pem are needed");
    };
    let tls = match tls(cert, key) {
        Ok(tls) => Arc::new(tls),
        Err(error) => return USAGE.fail(error),
    };
    let listener = match USAGE.listen(addr, " (wss)") {
        Ok(listener) => listener,
        Err(failed) => return failed,
    };
    let write_timeout = echo.write_timeout;
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
    ExitCode::SUCCESS
}

/// The TLS configuration of the certificate chain in `cert` and the key in `key`.
fn tls(cert: &str, key: &str) -> Result<rustls::ServerConfig, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| format!("cannot read the certificate chain {cert}: {error}"))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| format!("cannot read the private key {key}: {error}"))?;
    // The crypto provider is chosen here, explicitly.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|error| format!("cannot use {cert} and its key: {error}"))
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
