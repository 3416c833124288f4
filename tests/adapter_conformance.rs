//! The adapter conformance suite (`tests/conformance/`) run against every adapter through
//! its public API: `io::blocking`, `io::tokio`, `io::embedded` (over embedded-io-adapters'
//! tokio wrappers) and the smol example adapter (`examples/smol/adapter.rs`). Each adapter
//! implements [`conformance::Adapter`] here; `suite!` gives it every scenario.
//!
//! `cargo test --all-features --test adapter_conformance` (the blocking and smol parts also
//! run with the default features).
#![cfg(feature = "std")]

mod conformance;

use conformance::{Adapter, Ended, Got, Pipe};
use sockless::{CloseCode, Config};

/// The URL every client connects to (the scripted peer does not look at it).
const URL: &str = "ws://example.com/chat";

/// A test for each scenario, for one adapter; `#[ignore]` marks those the adapter fails.
macro_rules! suite {
    ($name:ident: $adapter:ty { $( $scenario:ident ),* $(,)? }) => {
        mod $name {
            $(
                #[test]
                fn $scenario() {
                    crate::conformance::scenarios::$scenario::<$adapter>()
                }
            )*
        }
    };
}

/// Every scenario, for `$adapter`, plus the `$extra` ones that only some adapters can run
/// (cancelling a read needs an async one): the suite is named once, whatever the adapter.
macro_rules! every_scenario {
    ($name:ident: $adapter:ty $(, $extra:ident)* $(,)?) => {
        suite!($name: $adapter {
            pong_while_only_reading,
            replies_are_flushed_in_a_read_only_loop,
            reads_and_writes_cut_at_every_size,
            sends_push_back_when_the_peer_stops_reading,
            unanswered_close_ends_at_the_close_timeout,
            peer_closing_first_gives_one_close_then_the_end,
            flood_after_our_close_ends_at_the_close_timeout,
            silent_peer_times_out_in_the_handshake,
            trickled_head_times_out_in_the_handshake,
            unanswered_keep_alive_ping_times_out,
            malformed_input_gets_its_close_code,
            peer_that_stops_reading_is_given_up,
            reset_after_both_closes_is_clean,
            reset_after_our_close_is_answered_is_clean,
            eof_before_any_close_is_abnormal,
            sends_arrive_intact_through_cut_writes,
            decisions_are_carried_out_by_one_set_of_rules,
            $($extra,)*
        });
    };
}

/// One of two connection types, one per role, behind one name.
macro_rules! either {
    ($ws:expr, $w:ident => $e:expr) => {
        match $ws {
            Role::Server($w) => $e,
            Role::Client($w) => $e,
        }
    };
}

/// A connection in either role.
pub enum Role<S, C> {
    Server(S),
    Client(C),
}

/// The `io` adapters' error, as the suite counts ends.
#[cfg(feature = "std")]
fn io_end(error: sockless::io::Error) -> Ended {
    use sockless::io::Error;
    match error {
        Error::Closed => Ended::Clean,
        Error::TimedOut(t) => Ended::TimedOut(t),
        Error::Protocol(e) => Ended::Failed(e.close_code().0),
        Error::Handshake(e) => Ended::Handshake(e.to_string()),
        Error::AbnormalClosure => Ended::Abnormal,
        Error::Io(e) => Ended::Io(e.to_string()),
        Error::Rejected { status } => Ended::Rejected(status),
        Error::Usage(e) => Ended::Usage(e),
        other => Ended::Other(other.to_string()),
    }
}

#[cfg(feature = "std")]
fn io_got(message: sockless::io::Message) -> Got {
    use sockless::io::Message;
    match message {
        Message::Text(text) => Got::Text(text),
        Message::Binary(data) => Got::Binary(data),
        Message::Ping(data) => Got::Ping(data),
        Message::Pong(data) => Got::Pong(data),
        Message::Close(frame) => Got::Close(frame.map(|f| f.code.0)),
        other => Got::Other(format!("{other:?}")),
    }
}

#[cfg(feature = "std")]
mod blocking {
    use super::*;
    use sockless::io::blocking::{self, ClientWebSocket, Decision, ServerWebSocket};

    /// `io::blocking`: each call blocks the scenario's thread.
    pub struct Blocking;

    impl Adapter for Blocking {
        const CANCEL_SAFE_READS: bool = false;
        const SHUTS_DOWN: bool = true;
        type Ws = Role<ServerWebSocket<Pipe>, ClientWebSocket<Pipe>>;

        async fn accept(
            io: Pipe,
            config: Config,
            decision: Decision<'static>,
        ) -> Result<Self::Ws, Ended> {
            let ws = blocking::accept_with(io, config, |_| decision);
            ws.map(Role::Server).map_err(io_end)
        }

        async fn connect(io: Pipe, config: Config) -> Result<Self::Ws, Ended> {
            let request = sockless::ClientRequest::from_url(URL).expect("a valid URL");
            let ws = blocking::client(io, request, config);
            ws.map(Role::Client).map_err(io_end)
        }

        async fn read(ws: &mut Self::Ws) -> Result<Got, Ended> {
            either!(ws, w => w.read()).map(io_got).map_err(io_end)
        }

        async fn send(ws: &mut Self::Ws, data: &[u8]) -> Result<(), Ended> {
            either!(ws, w => w.send_binary(data)).map_err(io_end)
        }

        async fn close(ws: &mut Self::Ws, code: u16) -> Result<(), Ended> {
            either!(ws, w => w.close(CloseCode(code), "")).map_err(io_end)
        }
    }
}

#[cfg(feature = "tokio")]
mod tokio_adapter {
    use super::*;
    use futures_util::StreamExt;
    use sockless::io::Message;
    use sockless::io::tokio::{
        Decision, Settings, WebSocketStream, accept_with, client_async_with,
    };

    /// `io::tokio`: a `Stream` of messages.
    pub struct Tokio;

    impl Adapter for Tokio {
        const CANCEL_SAFE_READS: bool = true;
        const SHUTS_DOWN: bool = true;
        type Ws = WebSocketStream<Pipe>;

        async fn accept(
            io: Pipe,
            config: Config,
            decision: Decision<'static>,
        ) -> Result<Self::Ws, Ended> {
            accept_with(io, Settings::from(config), |_| decision)
                .await
                .map_err(io_end)
        }

        async fn connect(io: Pipe, config: Config) -> Result<Self::Ws, Ended> {
            let connected = client_async_with(URL, io, Settings::from(config)).await;
            connected.map(|(ws, _)| ws).map_err(io_end)
        }

        async fn read(ws: &mut Self::Ws) -> Result<Got, Ended> {
            match ws.next().await {
                Some(message) => message.map(io_got).map_err(io_end),
                None => Err(Ended::Clean),
            }
        }

        async fn send(ws: &mut Self::Ws, data: &[u8]) -> Result<(), Ended> {
            ws.send(Message::Binary(data.to_vec()))
                .await
                .map_err(io_end)
        }

        async fn close(ws: &mut Self::Ws, code: u16) -> Result<(), Ended> {
            ws.close(CloseCode(code), "").await.map_err(io_end)
        }
    }
}

#[cfg(all(feature = "embedded-io-async", feature = "tokio"))]
mod embedded {
    use super::*;
    use embedded_io_adapters::tokio_1::FromTokio;
    use sockless::assemble::FixedAssembler;
    use sockless::io::embedded::{Decision, Error, Message, ReadBuffer, Timer, WebSocket};
    use sockless::{Instant, Masked, OsRng};

    /// Time on tokio's clock, counted from the timer's creation.
    pub struct TokioTimer(tokio::time::Instant);

    impl Timer for TokioTimer {
        fn now(&self) -> Instant {
            Instant::from_elapsed(self.0.elapsed())
        }

        async fn sleep_until(&mut self, deadline: Instant) {
            tokio::time::sleep_until(self.0 + deadline.elapsed_since_epoch()).await;
        }
    }

    type Io = FromTokio<Pipe>;
    type Server = WebSocket<Io, TokioTimer, Vec<u8>>;
    type Client = WebSocket<Io, TokioTimer, Vec<u8>, Masked<OsRng>>;

    /// `io::embedded` with its caller-provided buffers.
    pub struct Conn {
        ws: Role<Server, Client>,
        input: ReadBuffer<Vec<u8>>,
        assembler: FixedAssembler<4096>,
    }

    fn end(error: Error<std::io::Error>) -> Ended {
        match error {
            Error::Closed => Ended::Clean,
            Error::TimedOut(t) => Ended::TimedOut(t),
            Error::Protocol(e) => Ended::Failed(e.close_code().0),
            Error::Handshake(e) => Ended::Handshake(e.to_string()),
            Error::AbnormalClosure => Ended::Abnormal,
            Error::Io(e) => Ended::Io(e.to_string()),
            Error::Rejected { status } => Ended::Rejected(status),
            Error::Usage(e) => Ended::Usage(e),
            other => Ended::Other(other.to_string()),
        }
    }

    fn parts(config: &Config) -> (TokioTimer, Vec<u8>, ReadBuffer<Vec<u8>>) {
        let input = ReadBuffer::new(vec![0; 8192], config).expect("input");
        (
            TokioTimer(tokio::time::Instant::now()),
            vec![0; 4096],
            input,
        )
    }

    /// The embedded-io-async adapter over tokio's traits.
    pub struct Embedded;

    impl Adapter for Embedded {
        const CANCEL_SAFE_READS: bool = true;
        // embedded-io-async has no shutdown: the caller drops the transport.
        const SHUTS_DOWN: bool = false;
        type Ws = Conn;

        async fn accept(
            io: Pipe,
            config: Config,
            decision: Decision<'static>,
        ) -> Result<Self::Ws, Ended> {
            let (timer, output, mut input) = parts(&config);
            let ws = WebSocket::accept_with(
                FromTokio::new(io),
                timer,
                output,
                &mut input,
                config,
                |_| decision,
            )
            .await
            .map_err(end)?;
            let assembler = FixedAssembler::new();
            Ok(Conn {
                ws: Role::Server(ws),
                input,
                assembler,
            })
        }

        async fn connect(io: Pipe, config: Config) -> Result<Self::Ws, Ended> {
            let (timer, output, mut input) = parts(&config);
            let rng = sockless::os_rng();
            let ws = WebSocket::connect(
                FromTokio::new(io),
                timer,
                output,
                &mut input,
                URL,
                config,
                rng,
            )
            .await
            .map_err(end)?;
            let assembler = FixedAssembler::new();
            Ok(Conn {
                ws: Role::Client(ws),
                input,
                assembler,
            })
        }

        async fn read(c: &mut Self::Ws) -> Result<Got, Ended> {
            let message =
                either!(&mut c.ws, w => w.read_message(&mut c.input, &mut c.assembler).await);
            Ok(match message.map_err(end)? {
                Message::Text(text) => Got::Text(text.into()),
                Message::Binary(data) => Got::Binary(data.to_vec()),
                Message::Ping(data) => Got::Ping(data.to_vec()),
                Message::Pong(data) => Got::Pong(data.to_vec()),
                Message::Close(frame) => Got::Close(frame.code.map(|c| c.0)),
                other => Got::Other(format!("{other:?}")),
            })
        }

        async fn send(c: &mut Self::Ws, data: &[u8]) -> Result<(), Ended> {
            either!(&mut c.ws, w => w.send_binary(data).await).map_err(end)
        }

        async fn close(c: &mut Self::Ws, code: u16) -> Result<(), Ended> {
            either!(&mut c.ws, w => w.close(&mut c.input, CloseCode(code), "").await).map_err(end)
        }
    }
}

#[cfg(feature = "std")]
#[path = "../examples/smol/adapter.rs"]
mod smol_adapter;

#[cfg(feature = "std")]
mod smol {
    use super::*;
    use sockless::assemble::MessageAssembler;
    use sockless::driver::{Decision, End};
    use sockless::{Connection, Event, Masked, MessageKind, OsRng};

    use crate::smol_adapter as adapter;

    /// A client's open connection through the example adapter.
    type ClientWs = adapter::WebSocket<Pipe, Connection<Masked<OsRng>>>;

    /// The smol / async-io example adapter, with an assembler for whole messages.
    pub struct Conn {
        ws: Role<adapter::WebSocket<Pipe, Connection>, ClientWs>,
        assembler: MessageAssembler,
    }

    fn ended(end: End) -> Ended {
        match end {
            End::Closed { .. } => Ended::Clean,
            End::TimedOut(t) => Ended::TimedOut(t),
            End::Failed(e) => Ended::Failed(e.close_code().0),
            End::HandshakeFailed(e) => Ended::Handshake(e.to_string()),
            End::Abnormal => Ended::Abnormal,
            End::Rejected { status } => Ended::Rejected(status),
            End::Usage(e) => Ended::Usage(e),
            other => Ended::Other(format!("{other:?}")),
        }
    }

    /// The example adapter built on `sockless::driver`.
    pub struct Smol;

    impl Adapter for Smol {
        const CANCEL_SAFE_READS: bool = true;
        const SHUTS_DOWN: bool = true;
        type Ws = Conn;

        async fn accept(
            io: Pipe,
            config: Config,
            decision: Decision<'static>,
        ) -> Result<Self::Ws, Ended> {
            let ws = adapter::accept(io, config, |_| decision);
            let ws = Role::Server(ws.await.map_err(ended)?);
            Ok(Conn {
                ws,
                assembler: MessageAssembler::new(),
            })
        }

        async fn connect(io: Pipe, config: Config) -> Result<Self::Ws, Ended> {
            let (ws, _) = adapter::connect(io, URL, config).await.map_err(ended)?;
            Ok(Conn {
                ws: Role::Client(ws),
                assembler: MessageAssembler::new(),
            })
        }

        async fn read(c: &mut Self::Ws) -> Result<Got, Ended> {
            loop {
                let event = either!(&mut c.ws, w => w.next().await).map_err(ended)?;
                match event {
                    Event::Ping(data) => return Ok(Got::Ping(data.to_vec())),
                    Event::Pong(data) => return Ok(Got::Pong(data.to_vec())),
                    Event::Close(frame) => return Ok(Got::Close(frame.code.map(|c| c.0))),
                    event => match c.assembler.push(&event) {
                        Ok(Some(sockless::assemble::WholeMessage::Text(t))) => {
                            return Ok(Got::Text(t.into()));
                        }
                        Ok(Some(sockless::assemble::WholeMessage::Binary(b))) => {
                            return Ok(Got::Binary(b.to_vec()));
                        }
                        _ => {} // a piece, or a failure (the end follows)
                    },
                }
            }
        }

        async fn send(c: &mut Self::Ws, data: &[u8]) -> Result<(), Ended> {
            either!(&mut c.ws, w => w.send(MessageKind::Binary, data).await).map_err(ended)
        }

        async fn close(c: &mut Self::Ws, code: u16) -> Result<(), Ended> {
            either!(&mut c.ws, w => w.close(CloseCode(code), "").await).map_err(ended)
        }
    }
}

#[cfg(feature = "std")]
every_scenario!(blocking_suite: crate::blocking::Blocking);

#[cfg(feature = "tokio")]
every_scenario!(tokio_suite: crate::tokio_adapter::Tokio, cancelled_reads_lose_nothing);

#[cfg(all(feature = "embedded-io-async", feature = "tokio"))]
every_scenario!(embedded_suite: crate::embedded::Embedded, cancelled_reads_lose_nothing);

#[cfg(feature = "std")]
every_scenario!(smol_suite: crate::smol::Smol, cancelled_reads_lose_nothing);
