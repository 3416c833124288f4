//! The echo servers, one per implementation, each written the way that implementation's
//! users write one. Each runs in a child process of its own (`server <key>`), pinned to
//! [`SERVER_CORE`](crate::sys::SERVER_CORE), on a current-thread tokio runtime: it prints
//! its port on stdout, echoes every text and binary message, and exits when its stdin
//! closes (the benchmark ended or died) or after [`LIFETIME`] at the latest.

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream};

pub type BoxError = Box<dyn Error + Send + Sync>;

/// No server outlives this, whatever happens to the benchmark.
const LIFETIME: Duration = Duration::from_secs(30 * 60);

/// One echo server.
pub struct Impl {
    /// What `server <key>` runs.
    pub key: &'static str,
    /// Its name in the tables.
    pub name: &'static str,
    /// The tokio-tungstenite server it is compared with: the one with the same echo loop.
    pub like: &'static str,
}

/// Every server, in table order. The tokio-tungstenite ones are the references.
pub const IMPLS: &[Impl] = &[
    Impl {
        key: "sockless",
        name: "sockless Stream/Sink",
        like: "tungstenite",
    },
    Impl {
        key: "sockless-events",
        name: "sockless zero-copy events",
        like: "tungstenite",
    },
    Impl {
        key: "sockless-send",
        name: "sockless Stream/Sink, send each",
        like: "tungstenite-send",
    },
    Impl {
        key: "tungstenite",
        name: "tokio-tungstenite",
        like: "tungstenite",
    },
    Impl {
        key: "tungstenite-send",
        name: "tokio-tungstenite, send each",
        like: "tungstenite-send",
    },
    Impl {
        key: "fastwebsockets",
        name: "fastwebsockets (hyper upgrade)",
        like: "tungstenite",
    },
];

pub fn run(key: &'static str) -> ! {
    crate::sys::pin_to(crate::sys::SERVER_CORE);
    // Exit when the benchmark closes our stdin, or at the end of our lifetime.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0)
    });
    std::thread::spawn(|| {
        std::thread::sleep(LIFETIME);
        eprintln!("echo server: lifetime over, exiting");
        std::process::exit(1)
    });
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => fail(key, format_args!("cannot start a tokio runtime: {e}")),
    };
    runtime.block_on(async move {
        let bound = TcpListener::bind("127.0.0.1:0").await;
        let listener = match bound.and_then(|l| Ok((l.local_addr()?.port(), l))) {
            Ok((port, listener)) => {
                println!("{port}");
                listener
            }
            Err(e) => fail(key, format_args!("cannot listen on 127.0.0.1:0: {e}")),
        };
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    report(key, &e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match key {
                "sockless" => spawn(key, crate::sockless_servers::stream_sink(stream, false)),
                "sockless-send" => spawn(key, crate::sockless_servers::stream_sink(stream, true)),
                "sockless-events" => spawn(key, crate::sockless_servers::events(stream)),
                "tungstenite" => spawn(key, tungstenite(stream, false)),
                "tungstenite-send" => spawn(key, tungstenite(stream, true)),
                "fastwebsockets" => spawn(key, fastwebsockets(stream)),
                other => panic!("no server {other}"),
            }
        }
    })
}

fn spawn(key: &'static str, connection: impl Future<Output = Result<(), BoxError>> + 'static + Send) {
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            report(key, &*e);
        }
    });
}

/// Errors go to stderr, the first few of them: a server that fails shows it, and the
/// client's checks fail too.
/// A server that cannot start: one line, exit status 1.
fn fail(key: &str, line: std::fmt::Arguments) -> ! {
    eprintln!("echo server {key}: {line}");
    std::process::exit(1)
}

fn report(key: &str, error: &dyn Error) {
    static REPORTED: AtomicUsize = AtomicUsize::new(0);
    if REPORTED.fetch_add(1, Relaxed) < 5 {
        eprintln!("echo server {key}: {error}");
    }
}

/// The echo loop of a `Stream` + `Sink` of messages, either of the two ways users write it.
///
/// `send_each`: `ws.send(message)` for every message, which writes and flushes each one
/// (the loop most READMEs show).
///
/// Otherwise what `StreamExt::forward` does, the loop of tokio-tungstenite's own echo
/// server example, without splitting the stream: `feed` every message that is already
/// readable, `flush` once nothing more is.
pub async fn echo_stream_sink<W, M, E>(
    mut ws: W,
    send_each: bool,
    is_data: impl Fn(&M) -> bool,
) -> Result<(), E>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    if send_each {
        while let Some(message) = ws.next().await {
            let message = message?;
            if is_data(&message) {
                ws.send(message).await?;
            }
        }
        return Ok(());
    }
    while let Some(message) = ws.next().await {
        let mut message = message?;
        loop {
            if is_data(&message) {
                ws.feed(message).await?;
            }
            match ws.next().now_or_never() {
                Some(Some(next)) => message = next?,
                Some(None) => return ws.flush().await,
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

/// tokio-tungstenite: `accept_async`, then its `WebSocketStream` as a Stream and Sink.
async fn tungstenite(stream: TcpStream, send_each: bool) -> Result<(), BoxError> {
    use tokio_tungstenite::tungstenite::Message;
    let ws = tokio_tungstenite::accept_async(stream).await?;
    echo_stream_sink(ws, send_each, |m: &Message| m.is_binary() || m.is_text()).await?;
    Ok(())
}

/// fastwebsockets, as its echo_server example: hyper serves the HTTP/1.1 upgrade, the
/// upgraded connection is read through a `FragmentCollector`, each data frame written back.
async fn fastwebsockets(stream: TcpStream) -> Result<(), BoxError> {
    use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};

    async fn echo(upgrade: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = FragmentCollector::new(upgrade.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => return Ok(()),
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
    }

    async fn upgrade_request(
        mut request: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, WebSocketError> {
        let (response, upgrade) = upgrade::upgrade(&mut request)?;
        tokio::spawn(async move {
            // As in fastwebsockets' example: the echo task runs outside tokio's budget.
            if let Err(e) = tokio::task::unconstrained(echo(upgrade)).await {
                report("fastwebsockets", &e);
            }
        });
        Ok(response)
    }

    hyper::server::conn::http1::Builder::new()
        .serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper::service::service_fn(upgrade_request),
        )
        .with_upgrades()
        .await?;
    Ok(())
}
