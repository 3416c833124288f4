//! permessage-deflate negotiation through the roles (RFC 7692 §5, §7.1): the client's
//! offer on the wire, the server's choice and its 101, the client's check of the answer,
//! and the agreed parameters readable from both connections.

mod common;
use common::*;
use sockless::SendError;
use sockless::deflate::{self, DeflateConfig, DeflateParams};
use sockless::{
    Accept, Client, ClientRequest, Config, Endpoint, Error, Event, HandshakeError, Server,
    UsageError,
};

fn request_with(config: Option<DeflateConfig>) -> Vec<u8> {
    let mut request = ClientRequest::from_url("ws://h/chat").unwrap();
    request.deflate = config;
    let mut client = Client::new(request, Config::default(), rng(), at(0)).unwrap();
    drain(&mut client)
}

#[test]
fn client_offers_what_browsers_offer_by_default() {
    let head = String::from_utf8(request_with(Some(DeflateConfig::default()))).unwrap();
    assert_eq!(
        values_of(&head, "Sec-WebSocket-Extensions"),
        ["permessage-deflate; client_max_window_bits"]
    );
    // After any raw extensions, in one list.
    let request = ClientRequest::from_url("ws://h/")
        .unwrap()
        .with_extensions(&["x-foo"])
        .with_deflate(DeflateConfig::default().with_receive_window_bits(10));
    let mut client = Client::new(request, Config::default(), rng(), at(0)).unwrap();
    let head = String::from_utf8(drain(&mut client)).unwrap();
    assert_eq!(
        values_of(&head, "Sec-WebSocket-Extensions"),
        ["x-foo, permessage-deflate; server_max_window_bits=10; client_max_window_bits"]
    );
    let head = String::from_utf8(request_with(None)).unwrap();
    assert!(values_of(&head, "Sec-WebSocket-Extensions").is_empty());
}

/// A client and a server that negotiate with the given configurations; returns what each
/// connection holds and the server's 101.
fn negotiate_pair(
    client_config: DeflateConfig,
    server_config: DeflateConfig,
) -> (Option<DeflateParams>, Option<DeflateParams>, String) {
    let request = ClientRequest::from_url("ws://h/chat")
        .unwrap()
        .with_deflate(client_config);
    let mut client = Client::new(request, Config::default(), rng(), at(0)).unwrap();
    let mut server = Server::new(Config::default(), at(0));
    let mut head = drain(&mut client);
    let received = server.receive(&mut head, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let params = deflate::negotiate(request.extensions(), &server_config);
    let mut out = [0u8; 1024];
    let n = server
        .accept(
            &request,
            Accept::default().with_deflate(params),
            at(0),
            &mut out,
        )
        .unwrap();
    let response = out[..n].to_vec();
    let (events, outcome, _) = feed(&mut client, &response, at(0));
    outcome.unwrap();
    assert_eq!(events, vec![Ev::Connected(None)]);
    (
        client.connection().unwrap().deflate(),
        server.connection().unwrap().deflate(),
        String::from_utf8(response).unwrap(),
    )
}

#[test]
fn both_roles_agree_on_the_parameters() {
    let (client, server, response) =
        negotiate_pair(DeflateConfig::default(), DeflateConfig::default());
    assert_eq!(client, Some(DeflateParams::default()));
    assert_eq!(server, client);
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Extensions"),
        ["permessage-deflate"]
    );

    let (client, server, response) = negotiate_pair(
        DeflateConfig::default()
            .with_receive_window_bits(11)
            .with_receive_no_context_takeover(true),
        DeflateConfig::default()
            .with_receive_window_bits(9)
            .with_receive_no_context_takeover(true),
    );
    let expected = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 11,
        client_max_window_bits: 9,
    };
    assert_eq!((client, server), (Some(expected), Some(expected)));
    assert_eq!(
        values_of(&response, "Sec-WebSocket-Extensions"),
        [
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
          server_max_window_bits=11; client_max_window_bits=9"
        ]
    );
    let role = sockless::Role::Server;
    assert_eq!(expected.receive_window_bits(role), 9);
    assert_eq!(expected.send_window_bits(role), 11);
}

#[test]
fn server_declines_or_cannot_accept_unoffered_deflate() {
    let mut server = Server::new(Config::default(), at(0));
    let mut head = UPGRADE_REQUEST.to_vec();
    let received = server.receive(&mut head, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!()
    };
    assert_eq!(
        deflate::negotiate(request.extensions(), &DeflateConfig::default()),
        None
    );
    let mut out = [0u8; 1024];
    let accept = Accept::default().with_deflate(Some(DeflateParams::default()));
    assert_eq!(
        server.accept(&request, accept, at(0), &mut out),
        Err(SendError::Usage(UsageError::UnofferedExtension))
    );
    // Declining: the 101 names no extension and the connection has none.
    let n = server
        .accept(&request, Accept::default(), at(0), &mut out)
        .unwrap();
    let response = String::from_utf8(out[..n].to_vec()).unwrap();
    assert!(values_of(&response, "Sec-WebSocket-Extensions").is_empty());
    assert_eq!(server.connection().unwrap().deflate(), None);
}

/// What a client makes of each answer to its default offer (RFC 7692 §7.1: a bad answer
/// fails the connection).
#[test]
fn client_fails_on_answers_that_break_rfc_7692() {
    let cases: &[(&str, Result<Option<DeflateParams>, HandshakeError>)] = &[
        ("", Ok(None)),
        (
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
            Ok(Some(DeflateParams::default())),
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8\r\n",
            Ok(Some(DeflateParams {
                client_max_window_bits: 8,
                ..DeflateParams::default()
            })),
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; x=1\r\n",
            Err(HandshakeError::InvalidExtensionResponse),
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            Err(HandshakeError::InvalidExtensionResponse),
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate\r\n\
             Sec-WebSocket-Extensions: permessage-deflate\r\n",
            Err(HandshakeError::InvalidExtensionResponse),
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n",
            Err(HandshakeError::InvalidExtensionResponse),
        ),
    ];
    for (extra, expected) in cases {
        let request = ClientRequest::from_url("ws://h/chat")
            .unwrap()
            .with_deflate(DeflateConfig::default());
        let mut client = Client::new(request, Config::default(), rng(), at(0)).unwrap();
        let head = drain(&mut client);
        let (_, outcome, _) = feed(&mut client, &response_for(&head, extra), at(0));
        match expected {
            Ok(params) => {
                outcome.unwrap();
                assert_eq!(client.connection().unwrap().deflate(), *params, "{extra}");
            }
            Err(error) => assert_eq!(outcome, Err(Error::Handshake(*error)), "{extra}"),
        }
    }
    // Not offered at all: the name check fails first.
    let request = ClientRequest::from_url("ws://h/chat").unwrap();
    let mut client = Client::new(request, Config::default(), rng(), at(0)).unwrap();
    let head = drain(&mut client);
    let extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let (_, outcome, _) = feed(&mut client, &response_for(&head, extra), at(0));
    assert_eq!(
        outcome,
        Err(Error::Handshake(HandshakeError::UnofferedExtension))
    );
}

#[test]
fn a_raw_offer_is_checked_like_the_built_one() {
    let request = ClientRequest::from_url("ws://h/chat")
        .unwrap()
        .with_extensions(&["permessage-deflate; server_no_context_takeover"]);
    let mut client = Client::new(request, Config::default(), rng(), at(0)).unwrap();
    let head = drain(&mut client);
    let extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let (_, outcome, _) = feed(&mut client, &response_for(&head, extra), at(0));
    assert_eq!(
        outcome,
        Err(Error::Handshake(HandshakeError::InvalidExtensionResponse))
    );
}

/// RFC 7692 §7.1.2.1: an offered `server_max_window_bits` is answered, even at 15 (the
/// default, which the 101 otherwise leaves out); the client's check needs it.
#[test]
fn server_answers_an_offered_window_of_15() {
    let offer = "permessage-deflate; server_max_window_bits=15";
    let text = std::str::from_utf8(UPGRADE_REQUEST).unwrap();
    let mut head = text
        .replace(
            "\r\n\r\n",
            &format!("\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n"),
        )
        .into_bytes();
    let mut server = Server::new(Config::default(), at(0));
    let received = server.receive(&mut head, at(0)).unwrap();
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let params = deflate::negotiate(request.extensions(), &DeflateConfig::default());
    assert_eq!(params, Some(DeflateParams::default()));
    let mut out = [0u8; 1024];
    let n = server
        .accept(
            &request,
            Accept::default().with_deflate(params),
            at(0),
            &mut out,
        )
        .unwrap();
    let response = String::from_utf8(out[..n].to_vec()).unwrap();
    let answer = values_of(&response, "Sec-WebSocket-Extensions");
    assert_eq!(answer, [offer]);
    assert_eq!(
        deflate::check_response([offer].into_iter(), answer.iter().map(String::as_str)),
        Ok(params)
    );
}
