#!/usr/bin/env node
// Node ws at the protocol level (its Receiver and Sender with PerMessageDeflate, no
// sockets) on the compressed JSON chat workload that `sockless-compare deflate` wrote:
// receive (server role, inflating masked client frames written in 64 KiB pieces) and send
// (server role, compressing every message). ws inflates and deflates through Node's zlib,
// asynchronously. Each run gets a fresh copy of the bytes: ws unmasks in place.
// Usage: node deflate_node.mjs WS_DIR WIRE_FILE MESSAGES no_context_takeover(0|1) RUNS
// Prints: node-ws receive M_MSG_S send M_MSG_S
import { createRequire } from 'node:module';
import fs from 'node:fs';

const [wsDir, wireFile, countArg, nctArg, runsArg] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { Receiver, Sender, PerMessageDeflate } = require(wsDir);
const original = fs.readFileSync(wireFile);
const count = Number(countArg);
const nct = nctArg === '1';
const runs = Number(runsArg);

function extension() {
  const pmd = new PerMessageDeflate(
    { threshold: 0, serverNoContextTakeover: nct, clientNoContextTakeover: nct },
    true,
    0,
  );
  pmd.accept([nct ? { client_no_context_takeover: [true], server_no_context_takeover: [true] } : {}]);
  return pmd;
}

function receive(collect) {
  const wire = Buffer.from(original);
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ extensions: { 'permessage-deflate': extension() }, isServer: true, maxPayload: 0 });
    let n = 0;
    receiver.on('message', (data) => {
      if (collect) collect.push(Buffer.from(data));
      if (++n === count) resolve(n);
    });
    receiver.on('error', reject);
    for (let i = 0; i < wire.length; i += 65536) receiver.write(wire.subarray(i, i + 65536));
  });
}

function send(messages) {
  return new Promise((resolve) => {
    let total = 0;
    const socket = { write(chunk, cb) { total += chunk.length; if (cb) cb(); return true; }, cork() {}, uncork() {} };
    const sender = new Sender(socket, { 'permessage-deflate': extension() });
    let done = 0;
    for (const m of messages) {
      sender.send(m, { binary: false, compress: true, fin: true, mask: false, rsv1: true }, () => {
        if (++done === messages.length) resolve(total);
      });
    }
  });
}

const messages = [];
await receive(messages);
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rt = [];
const st = [];
for (let r = 0; r < runs; r++) {
  let t = process.hrtime.bigint();
  await receive();
  rt.push(Number(process.hrtime.bigint() - t) / 1e9);
  t = process.hrtime.bigint();
  await send(messages);
  st.push(Number(process.hrtime.bigint() - t) / 1e9);
}
console.log(`node-ws receive ${(count / median(rt) / 1e6).toFixed(3)} send ${(count / median(st) / 1e6).toFixed(3)}`);
