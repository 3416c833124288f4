//! The echo client of `echo_client.rs` over TLS (rustls, feature `rustls`): connects to a
//! `wss://` URL trusting exactly the certificates of a PEM file, sends back every text and
//! binary message until the server closes, completes the close handshake and exits 0.
//! With `--once TEXT` it is a probe: it sends TEXT, checks the echo and closes with 1000.
//!
//! `cargo run --release --features rustls --example wss_echo_client -- wss://localhost:9443/ cert.pem`

#[path = "common/cli.rs"]
mod cli;

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sockless::io::Message;
use sockless::io::blocking;
use sockless::{CloseCode, Config};

const USAGE: cli::Usage = cli::Usage {
    name: "wss_echo_client",
    about: "a WebSocket echo client over TLS (rustls) on the blocking adapter",
    synopsis: "URL CA.pem [--once TEXT]",
    arguments: &[
        (
            "URL",
            "the server's wss:// URL, such as wss://localhost:9443/",
        ),
        ("CA.pem", "the certificates to trust (and no others), PEM"),
        cli::ONCE,
    ],
};

fn main() -> ExitCode {
    let positional: [(&str, cli::Check); 2] = [("URL", cli::wss_url), ("CA.pem", cli::file)];
    let echo = USAGE.echo(&positional, 2);
    let [url, ca] = &echo.rest[..] else {
        return USAGE.fail("URL and CA.pem are needed");
    };
    match run(url, ca, echo.once.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => USAGE.fail(error),
    }
}

fn run(url: &str, ca: &str, probe: Option<&str>) -> Result<(), Box<dyn Error>> {
    // Trust exactly the given certificates, with an explicitly chosen crypto provider.
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| format!("cannot read the certificates {ca}: {error}"))?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|error| format!("cannot trust a certificate of {ca}: {error}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let config = Config::default()
        .with_max_message_len(64 << 20)
        .with_keep_alive(Some(Duration::from_secs(30)));
    // TCP, TLS and the WebSocket handshake share the handshake deadline.
    let mut ws = blocking::connect_tls(url, config, Arc::new(tls))
        .map_err(|error| format!("cannot connect to {url}: {error}"))?;
    eprintln!("connected to {url} (status 101)");
    if let Some(text) = probe {
        ws.send_text(text)?;
    }
    loop {
        match ws.read()? {
            Message::Text(text) if probe.is_some() => {
                if Some(text.as_str()) != probe {
                    return Err(format!("probe echo differs: {text:?}").into());
                }
                eprintln!("probe echoed: {text:?}");
                ws.close(CloseCode::NORMAL, "probe done")?;
                return Ok(());
            }
            message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message)?,
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code.0, f.reason));
                eprintln!("server closed: code={code} reason={reason:?}");
                return Ok(());
            }
            _ => {}
        }
    }
}
