//! sockless set-up shared by the benchmarks: a deterministic RNG and open connections.
use sockless::{Accept, Client, Config, Endpoint, Event, Instant, Server};

/// The upgrade request every server implementation parses (a browser-like one).
pub const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: example.com:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://example.com:8080\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Connection: keep-alive, Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
Upgrade: websocket\r\n\
\r\n";

// The tests' deterministic randomness source (xorshift64; seeds must not be 0), for the
// client's key and masks. Nothing else of the test fixtures is used here.
#[allow(dead_code)]
#[path = "../../../tests/common/fixtures.rs"]
mod fixtures;
pub use fixtures::TestRng as Rng;

/// rand_core 0.6 for embedded-websocket's client.
impl rand_core06::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.next()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rand_core06::Error> {
        rand_core06::RngCore::fill_bytes(self, dst);
        Ok(())
    }
}

/// A server that accepted [`REQUEST`].
pub fn open_server() -> Server {
    let mut server = Server::new(Config::default(), Instant::ZERO);
    let mut request = REQUEST.to_vec();
    let mut out = [0u8; 512];
    let received = server
        .receive(&mut request, Instant::ZERO)
        .expect("request");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    server
        .accept(&request, Accept::default(), Instant::ZERO, &mut out)
        .expect("accept");
    server
}

pub const URL: &str = "ws://example.com:8080/chat";

/// A client for [`URL`] with `Rng(seed)`, and the server's 101 for its key.
pub fn client_and_response(seed: u64) -> (Client<'static, Rng>, Vec<u8>) {
    let mut client =
        Client::connect(URL, Config::default(), Rng(seed), Instant::ZERO).expect("client");
    let mut request = [0u8; 1024];
    let n = client.poll_transmit(&mut request).expect("request");
    let mut server = Server::new(Config::default(), Instant::ZERO);
    let received = server
        .receive(&mut request[..n], Instant::ZERO)
        .expect("server");
    let Some(Event::Request(request)) = received.event else {
        panic!("no request")
    };
    let mut response = [0u8; 512];
    let n = server
        .accept(&request, Accept::default(), Instant::ZERO, &mut response)
        .expect("accept");
    (client, response[..n].to_vec())
}

/// An open client.
pub fn open_client() -> Client<'static, Rng> {
    let (mut client, mut response) = client_and_response(7);
    let received = client
        .receive(&mut response, Instant::ZERO)
        .expect("response");
    assert!(matches!(received.event, Some(Event::Connected(_))));
    client
}

/// The payload of the one data message in `wire`, decoded by sockless in the role that
/// receives it: checks another implementation's encoding.
pub fn decode_one(wire: &mut [u8], masked: bool) -> Vec<u8> {
    let mut server = open_server();
    let mut client = open_client();
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let input = &mut wire[start..];
        let received = if masked {
            server.receive(input, Instant::ZERO)
        } else {
            client.receive(input, Instant::ZERO)
        }
        .expect("decode");
        start += received.consumed;
        match received.event {
            Some(Event::Binary(data)) => return data.to_vec(),
            Some(Event::Chunk(chunk)) => {
                out.extend_from_slice(chunk.data);
                if chunk.last {
                    return out;
                }
            }
            other => panic!("decode: {other:?}"),
        }
    }
}
