#!/usr/bin/env node
// Node `ws` peer SERVER for the sockless echo_client.
// Usage: node peer_server.mjs [--deflate] PORT [EXPECTED_REQUEST_PATH]
// With --deflate, permessage-deflate is accepted and required (peer "node-deflate").
// Listens on 127.0.0.1:PORT, prints `ready`, runs the echo matrix on the first
// connection, then closes with 4001 "server bye" and expects the client's
// Close echo to carry 4001. Exits non-zero on any failure or if no client
// connected within 30 s.

import { WebSocketServer } from 'ws';
import { DEFLATE, DEFLATE_OPTIONS, Peer, Reporter, echoMatrix, MAX_PAYLOAD, SCRIPT_TIMEOUT_MS } from './common.mjs';

const port = Number(process.argv[2]);
const expectedPath = process.argv[3];
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node peer_server.mjs PORT [EXPECTED_REQUEST_PATH]');
  process.exit(2);
}

const rep = new Reporter('server');
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: DEFLATE ? DEFLATE_OPTIONS : false, maxPayload: MAX_PAYLOAD });
let busy = false;

const finish = () => {
  const code = rep.exitCode();
  wss.close();
  for (const c of wss.clients) c.terminate();
  // Exit explicitly so a lingering socket cannot keep the process alive.
  setTimeout(() => process.exit(code), 50);
};

const noClient = setTimeout(() => {
  rep.fail('client-connected', 'no client connected within 30s');
  finish();
}, 30_000);

const overall = setTimeout(() => {
  rep.fail('matrix', `did not finish within ${SCRIPT_TIMEOUT_MS / 1000}s`);
  finish();
}, SCRIPT_TIMEOUT_MS);
overall.unref();

wss.on('listening', () => console.log('ready'));
wss.on('error', (err) => {
  rep.fail('listen', err.message);
  finish();
});

wss.on('connection', async (ws, req) => {
  if (busy) {
    ws.close(1013, 'only one client expected');
    return;
  }
  busy = true;
  clearTimeout(noClient);
  const peer = new Peer(ws);
  try {
    if (expectedPath !== undefined) {
      await rep.run('request-path', async () => {
        if (req.url !== expectedPath) throw new Error(`request path ${JSON.stringify(req.url)} != ${JSON.stringify(expectedPath)}`);
        return req.url;
      });
    }
    if (DEFLATE) {
      await rep.run('deflate-negotiated', async () => {
        if (!ws.extensions.includes('permessage-deflate')) throw new Error(`not negotiated: ${JSON.stringify(ws.extensions)}`);
        return ws.extensions;
      });
    }
    await echoMatrix(rep, async () => peer);
    await rep.run('close-4001', async () => {
      ws.close(4001, 'server bye');
      const { code, reason } = await peer.whenClosed();
      if (code !== 4001) throw new Error(`echoed close code ${code} != 4001 (reason ${JSON.stringify(reason)})`);
      return `client replied code=${code} reason=${JSON.stringify(reason)}`;
    }, 30_000);
  } finally {
    finish();
  }
});
