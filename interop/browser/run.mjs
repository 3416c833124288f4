#!/usr/bin/env node
// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) as
// a WebSocket CLIENT of the sockless echo_server.
// Usage: node run.mjs [--deflate] PORT
// With --deflate the server must accept permessage-deflate (peer "chromium-deflate"),
// and a compressible text message is echoed too.
// Serves a tiny page from 127.0.0.1, and in the page opens
// ws://127.0.0.1:PORT/browser, checks a non-ASCII text echo, a 1 MiB binary
// echo (compared byte for byte in the page), that permessage-deflate (which
// Chromium always offers) was declined, and that close(4000, 'browser done')
// gets a close event with code 4000. Prints PASS/FAIL lines; exits non-zero
// on any failure.

import http from 'node:http';
import { chromium } from 'playwright-core';

const DEFLATE = process.argv[2] === '--deflate';
if (DEFLATE) process.argv.splice(2, 1);
const PEER = DEFLATE ? 'chromium-deflate' : 'chromium';
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node run.mjs PORT');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let passed = 0;
let failed = 0;
const pass = (name, note) => { passed++; console.log(`PASS ${PEER} client ${name}${note ? ` (${note})` : ''}`); };
const fail = (name, why) => { failed++; console.log(`FAIL ${PEER} client ${name}: ${String(why).replace(/\s+/g, ' ').trim()}`); };

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>sockless interop</title></head>
<body><p>sockless browser interop</p></body></html>`;

// Runs inside the page. Returns [{name, ok, note}] in order; never throws.
async function inPage({ port, deflate }) {
  const results = [];
  const record = (name, ok, note) => results.push({ name, ok, note: String(note ?? '') });
  const withTimeout = (p, ms, what) => Promise.race([
    p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what} timed out after ${ms / 1000}s`)), ms)),
  ]);

  let ws;
  let opened = false;
  const queue = [];
  const waiters = [];
  let closeEvent = null;
  const closeWaiters = [];
  const nextMessage = () => (queue.length
    ? Promise.resolve(queue.shift())
    : closeEvent ? Promise.reject(new Error(`socket closed (code ${closeEvent.code})`))
      : new Promise((resolve, reject) => waiters.push({ resolve, reject })));

  try {
    ws = await withTimeout(new Promise((resolve, reject) => {
      const s = new WebSocket(`ws://127.0.0.1:${port}/browser`);
      s.binaryType = 'arraybuffer';
      s.onopen = () => { opened = true; resolve(s); };
      s.onerror = () => reject(new Error('WebSocket error event before open (handshake failed?)'));
      s.onmessage = (ev) => {
        const w = waiters.shift();
        if (w) w.resolve(ev.data); else queue.push(ev.data);
      };
      s.onclose = (ev) => {
        closeEvent = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
        for (const w of waiters.splice(0)) w.reject(new Error(`socket closed (code ${ev.code})`));
        for (const w of closeWaiters.splice(0)) w(closeEvent);
        if (!opened) reject(new Error(`closed before open (code ${ev.code})`));
      };
    }), 20000, 'connect');
    record('connect', true, 'ws://127.0.0.1:' + port + '/browser');
  } catch (e) {
    record('connect', false, e.message);
    return results;
  }

  if (deflate) {
    record('permessage-deflate-negotiated', ws.extensions.includes('permessage-deflate'),
      `negotiated ${JSON.stringify(ws.extensions)}`);
    try {
      const json = Array.from({ length: 2000 }, (_, i) =>
        JSON.stringify({ type: 'message', room: 'lobby', name: `user${i % 7}`, text: `héllo ${i} 🚀` })).join('\n');
      ws.send(json);
      const got = await withTimeout(nextMessage(), 20000, 'compressible echo');
      if (got !== json) throw new Error(`echo differs: length ${got.length} vs ${json.length}`);
      record('text-compressible-json', true, `${json.length} chars`);
    } catch (e) {
      record('text-compressible-json', false, e.message);
    }
  } else {
    record('permessage-deflate-declined', ws.extensions === '',
      ws.extensions === '' ? 'offered by Chromium, declined by server' : `negotiated ${JSON.stringify(ws.extensions)}`);
  }

  const text = 'héllo wörld ✓ 🚀 Привет мир — 日本語 ' + 'ünïcödé 🎉'.repeat(50);
  try {
    ws.send(text);
    const got = await withTimeout(nextMessage(), 20000, 'text echo');
    if (typeof got !== 'string') throw new Error(`expected a text message, got ${Object.prototype.toString.call(got)}`);
    if (got !== text) throw new Error(`echo differs: length ${got.length} vs ${text.length}`);
    record('text-non-ascii', true, `${new TextEncoder().encode(text).length} B UTF-8`);
  } catch (e) {
    record('text-non-ascii', false, e.message);
  }

  try {
    const n = 1024 * 1024;
    const buf = new Uint8Array(n);
    let x = 0x2545f491;
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      buf[i] = x & 0xff;
    }
    ws.send(buf.buffer);
    const got = await withTimeout(nextMessage(), 60000, 'binary echo');
    if (!(got instanceof ArrayBuffer)) throw new Error(`expected an ArrayBuffer, got ${typeof got === 'string' ? 'a text message' : Object.prototype.toString.call(got)}`);
    const g = new Uint8Array(got);
    if (g.length !== n) throw new Error(`length ${g.length} != ${n}`);
    for (let i = 0; i < n; i++) if (g[i] !== buf[i]) throw new Error(`first difference at index ${i}`);
    record('binary-1MiB', true, 'compared byte for byte in the page');
  } catch (e) {
    record('binary-1MiB', false, e.message);
  }

  try {
    const closed = closeEvent ? Promise.resolve(closeEvent) : new Promise((resolve) => closeWaiters.push(resolve));
    ws.close(4000, 'browser done');
    const ev = await withTimeout(closed, 20000, 'close');
    if (ev.code !== 4000) throw new Error(`close event code ${ev.code} != 4000 (reason ${JSON.stringify(ev.reason)}, wasClean ${ev.wasClean})`);
    record('close-4000', true, `code=${ev.code} reason=${JSON.stringify(ev.reason)} wasClean=${ev.wasClean}`);
  } catch (e) {
    record('close-4000', false, e.message);
  }
  return results;
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(PAGE);
});
await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${httpServer.address().port}/`;

let browser;
const watchdog = setTimeout(() => {
  fail('run', 'browser test did not finish within 90s');
  process.exit(1);
}, 90_000);
try {
  browser = await chromium.launch({
    executablePath,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  console.error(`# chromium ${browser.version()}`);
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`# page console: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`# page error: ${e.message}`));
  await page.goto(pageUrl);
  const results = await page.evaluate(inPage, { port, deflate: DEFLATE });
  for (const r of results) (r.ok ? pass(r.name, r.note) : fail(r.name, r.note));
  if (!results.length) fail('run', 'page returned no results');
} catch (e) {
  fail('run', e && e.message ? e.message.split('\n')[0] : e);
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  httpServer.close();
}
console.error(`# ${PEER} client: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
