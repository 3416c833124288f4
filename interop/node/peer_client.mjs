#!/usr/bin/env node
// Node `ws` peer CLIENT for the sockless echo_server.
// Usage: node peer_client.mjs [--deflate] ws://127.0.0.1:PORT/
// With --deflate, permessage-deflate is offered on every connection and must be accepted
// (peer "node-deflate").
// Prints one PASS/FAIL line per case; exits non-zero if any case failed.

import { WebSocket } from 'ws';
import { DEFLATE, DEFLATE_OPTIONS, Peer, Reporter, echoMatrix, MAX_PAYLOAD, SCRIPT_TIMEOUT_MS } from './common.mjs';

const uri = process.argv[2];
if (!uri) {
  console.error('usage: node peer_client.mjs ws://127.0.0.1:PORT/');
  process.exit(2);
}

function connect(perMessageDeflate = false) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, { perMessageDeflate, maxPayload: MAX_PAYLOAD, handshakeTimeout: 20_000 });
    const peer = new Peer(ws);
    ws.once('upgrade', (res) => { peer.response = res; });
    ws.once('open', () => resolve(peer));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake got HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const rep = new Reporter('client');
let conn = null;
let failuresAtConnect = 0;
// One connection for the whole matrix; a fresh one after any failed case (its
// state is unknown: a late echo, a half-sent message), so one failure does not
// cascade into the following cases.
async function getPeer() {
  if (!conn || !conn.open || rep.failed !== failuresAtConnect) {
    if (conn) conn.ws.terminate();
    conn = await connect(DEFLATE ? DEFLATE_OPTIONS : false);
    failuresAtConnect = rep.failed;
  }
  return conn;
}

const overall = setTimeout(() => {
  rep.fail('script', `did not finish within ${SCRIPT_TIMEOUT_MS / 1000}s`);
  process.exit(rep.exitCode());
}, SCRIPT_TIMEOUT_MS);
overall.unref();

await rep.run('handshake', async () => {
  const p = await getPeer();
  const ext = p.response.headers['sec-websocket-extensions'];
  if (DEFLATE) {
    if (!ext || !ext.includes('permessage-deflate')) throw new Error(`deflate not accepted: ${ext}`);
    return `HTTP ${p.response.statusCode}, ${ext}`;
  }
  if (ext !== undefined) throw new Error(`unexpected Sec-WebSocket-Extensions: ${ext}`);
  return `HTTP ${p.response.statusCode}`;
}, 30_000);

await echoMatrix(rep, getPeer);

await rep.run('close-4000', async () => {
  const p = await getPeer();
  p.ws.close(4000, 'interop bye');
  const { code, reason } = await p.whenClosed();
  if (code !== 4000) throw new Error(`echoed close code ${code} != 4000 (reason ${JSON.stringify(reason)})`);
  return `server replied code=${code} reason=${JSON.stringify(reason)}`;
}, 30_000);

if (DEFLATE) await rep.run('deflate-echo-compressible', async () => {
  const p = await getPeer();
  for (const [data, isBinary] of [[Buffer.from('compressible '.repeat(2000) + 'Привет 🚀'), false], [Buffer.alloc(65536), true], [Buffer.from('short'), false]]) {
    await p.send(data, { binary: isBinary });
    await p.expectEcho({ data, isBinary });
  }
  return `negotiated ${p.ws.extensions}; echo ok`;
}, 60_000);

if (!DEFLATE) await rep.run('compression-offered-declined', async () => {
  // perMessageDeflate: true makes ws offer permessage-deflate.
  const p = await connect(true);
  try {
    const ext = p.response.headers['sec-websocket-extensions'];
    if (ext !== undefined) throw new Error(`server accepted an extension: ${ext}`);
    if (p.ws.extensions !== '') throw new Error(`negotiated ${JSON.stringify(p.ws.extensions)}`);
    for (const [data, isBinary] of [[Buffer.from('compressible '.repeat(200) + 'Привет 🚀'), false], [Buffer.alloc(4096), true]]) {
      await p.send(data, { binary: isBinary });
      await p.expectEcho({ data, isBinary });
    }
    p.ws.close(1000);
    await p.whenClosed();
  } finally {
    p.ws.terminate();
  }
  return 'permessage-deflate offered and declined; echo ok';
}, 60_000);

if (conn && conn.ws.readyState !== WebSocket.CLOSED) conn.ws.terminate();
process.exitCode = rep.exitCode();
