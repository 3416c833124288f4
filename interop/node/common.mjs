// Shared test matrix for the Node `ws` interop peers (client and server
// directions). Every case prints exactly one line:
//   PASS node <role> <case>
//   FAIL node <role> <case>: <why>
// Case names never contain ": " so the driver can split on it.

import { Buffer } from 'node:buffer';

// `--deflate` (first argument): permessage-deflate (RFC 7692) on, reported as its own peer.
export const DEFLATE = process.argv[2] === '--deflate';
if (DEFLATE) process.argv.splice(2, 1);
export const PEER = DEFLATE ? 'node-deflate' : 'node';
// Compress every message, however small (ws's default skips those under 1 KiB).
export const DEFLATE_OPTIONS = { threshold: 0 };
// 64 MiB is what echo_server accepts; allow a bit of slack above it.
export const MAX_PAYLOAD = 80 * 1024 * 1024;
// A 16 MiB echo takes well under a second on loopback; 30 s means "hung".
export const CASE_TIMEOUT_MS = 30_000;
// Whole-script limit, so a hanging peer cannot stall the driver for long.
export const SCRIPT_TIMEOUT_MS = 120_000;

export const SIZES = [
  ['0B', 0],
  ['125B', 125],
  ['126B', 126],
  ['64KiB', 64 * 1024],
  ['1MiB', 1024 * 1024],
  ['16MiB', 16 * 1024 * 1024],
];

// ASCII, Cyrillic (2-byte UTF-8) and an emoji (4-byte UTF-8).
const PATTERN = Buffer.from('Hello, Привет мир! 🚀 ', 'utf8');

const isContinuation = (b) => (b & 0xc0) === 0x80;

// UTF-8 bytes of a non-ASCII text of exactly n bytes: the repeated pattern is
// cut back to a character boundary at or below n, then padded with ASCII 'x'.
export function textOfSize(n) {
  const buf = Buffer.alloc(n);
  for (let off = 0; off < n; off += PATTERN.length) PATTERN.copy(buf, off, 0, Math.min(PATTERN.length, n - off));
  if (n > 0) {
    // Find the start of the last character; if it is incomplete, pad over it.
    let start = n - 1;
    while (start > 0 && isContinuation(buf[start])) start--;
    const lead = buf[start];
    const len = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    if (start + len > n) buf.fill(0x78, start);
  }
  // Round-trip check: valid UTF-8 of exactly n bytes.
  if (Buffer.byteLength(buf.toString('utf8')) !== n || !Buffer.from(buf.toString('utf8')).equals(buf)) {
    throw new Error(`textOfSize(${n}) is not valid UTF-8`);
  }
  return buf;
}

// Deterministic pseudo-random bytes (xorshift32).
export function binaryOfSize(n, seed = 0x50c4 + n) {
  const buf = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

// Fragments of one text message, as raw UTF-8 buffers. Boundaries: inside a
// 2-byte Cyrillic letter, inside the 4-byte emoji, an empty continuation
// frame, and a plain ASCII cut.
export function fragmentedText() {
  const whole = Buffer.from('fragmented Привет 🚀 message; '.repeat(40), 'utf8');
  const i1 = whole.indexOf(Buffer.from('П')) + 1;
  const i2 = whole.indexOf(Buffer.from('🚀'), i1) + 2;
  const i3 = whole.indexOf(0x20, whole.length >> 1);
  const frags = [whole.subarray(0, i1), whole.subarray(i1, i2), Buffer.alloc(0), whole.subarray(i2, i3), whole.subarray(i3)];
  return { frags, whole };
}

export function fragmentedBinary() {
  const frags = [1, 125, 126, 70000, 0, 4096].map((n, i) => binaryOfSize(n, 0xf2a6 + i));
  return { frags, whole: Buffer.concat(frags) };
}

export const PING_PAYLOAD = Buffer.from('interop-ping \x00\xff\xfe', 'latin1');
export const PING_PAYLOAD_MAX = Buffer.from(Array.from({ length: 125 }, (_, i) => i));

function mismatch(got, expected) {
  if (got.isBinary !== expected.isBinary) {
    return `expected ${expected.isBinary ? 'binary' : 'text'} message, got ${got.isBinary ? 'binary' : 'text'}`;
  }
  if (got.data.length !== expected.data.length) return `length ${got.data.length} != expected ${expected.data.length}`;
  for (let i = 0; i < got.data.length; i++) if (got.data[i] !== expected.data[i]) return `first difference at index ${i}`;
  return null;
}

// Wraps a `ws` WebSocket: queues incoming messages, pongs and the close.
export class Peer {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    this.pongs = [];
    this.pongWaiters = [];
    this.closed = null;
    this.closeWaiters = [];
    this.error = null;
    ws.on('message', (data, isBinary) => {
      const m = { data: Buffer.isBuffer(data) ? data : Buffer.concat([].concat(data)), isBinary };
      const w = this.waiters.shift();
      if (w) w.resolve(m); else this.messages.push(m);
    });
    ws.on('pong', (data) => {
      const w = this.pongWaiters.shift();
      if (w) w.resolve(data); else this.pongs.push(data);
    });
    ws.on('error', (err) => { this.error = err; });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      const err = new Error(`connection closed (code ${code}${this.error ? `, ${this.error.message}` : ''})`);
      for (const w of this.waiters.splice(0)) w.reject(err);
      for (const w of this.pongWaiters.splice(0)) w.reject(err);
      for (const w of this.closeWaiters.splice(0)) w(this.closed);
    });
  }

  get open() { return this.ws.readyState === 1; }

  next() {
    if (this.messages.length) return Promise.resolve(this.messages.shift());
    if (this.closed) return Promise.reject(new Error(`connection closed (code ${this.closed.code})`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  nextPong() {
    if (this.pongs.length) return Promise.resolve(this.pongs.shift());
    if (this.closed) return Promise.reject(new Error(`connection closed (code ${this.closed.code})`));
    return new Promise((resolve, reject) => this.pongWaiters.push({ resolve, reject }));
  }

  whenClosed() {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  send(data, opts) {
    return new Promise((resolve, reject) => this.ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
  }

  async expectEcho(expected) {
    const got = await this.next();
    const why = mismatch(got, expected);
    if (why) throw new Error(why);
  }
}

export class Reporter {
  constructor(role) { this.role = role; this.passed = 0; this.failed = 0; }

  ok(name, note) {
    this.passed++;
    console.log(`PASS ${PEER} ${this.role} ${name}${note ? ` (${note})` : ''}`);
  }

  fail(name, why) {
    this.failed++;
    console.log(`FAIL ${PEER} ${this.role} ${name}: ${String(why).replace(/\s+/g, ' ').trim() || 'failed'}`);
  }

  async run(name, fn, timeoutMs = CASE_TIMEOUT_MS) {
    const t0 = performance.now();
    let timer;
    try {
      const note = await Promise.race([
        fn(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000}s`)), timeoutMs); }),
      ]);
      this.ok(name, typeof note === 'string' ? note : `${((performance.now() - t0) / 1000).toFixed(2)}s`);
      return true;
    } catch (err) {
      this.fail(name, err && err.message ? err.message : err);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  exitCode() {
    console.error(`# ${PEER} ${this.role}: ${this.passed} passed, ${this.failed} failed`);
    return this.failed || !this.passed ? 1 : 0;
  }
}

// Runs the echo matrix over getPeer() (which may reconnect).
export async function echoMatrix(rep, getPeer) {
  for (const [kind, make] of [['text', textOfSize], ['binary', binaryOfSize]]) {
    for (const [label, n] of SIZES) {
      const data = make(n);
      const isBinary = kind === 'binary';
      await rep.run(`${kind}-${label}`, async () => {
        const p = await getPeer();
        // A Buffer with binary:false goes out as a Text frame carrying these
        // exact UTF-8 bytes.
        await p.send(data, { binary: isBinary });
        await p.expectEcho({ data, isBinary });
      });
    }
  }

  const ft = fragmentedText();
  await rep.run('fragmented-text', async () => {
    const p = await getPeer();
    for (let i = 0; i < ft.frags.length; i++) {
      await p.send(ft.frags[i], { binary: false, fin: i === ft.frags.length - 1 });
    }
    await p.expectEcho({ data: ft.whole, isBinary: false });
    return `${ft.frags.length} fragments, 2 split a multibyte char, 1 empty`;
  });

  const fb = fragmentedBinary();
  await rep.run('fragmented-binary', async () => {
    const p = await getPeer();
    for (let i = 0; i < fb.frags.length; i++) {
      await p.send(fb.frags[i], { binary: true, fin: i === fb.frags.length - 1 });
    }
    await p.expectEcho({ data: fb.whole, isBinary: true });
    return `${fb.frags.length} fragments, ${fb.whole.length} B`;
  });

  for (const [name, payload] of [['ping-pong', PING_PAYLOAD], ['ping-pong-125B', PING_PAYLOAD_MAX]]) {
    await rep.run(name, async () => {
      const p = await getPeer();
      const t0 = performance.now();
      p.ws.ping(payload);
      const got = await p.nextPong();
      if (!Buffer.from(got).equals(payload)) {
        throw new Error(`pong payload ${Buffer.from(got).toString('hex')} != ${payload.toString('hex')}`);
      }
      return `${payload.length} B payload, ${(performance.now() - t0).toFixed(1)} ms`;
    }, 10_000);
  }
}
