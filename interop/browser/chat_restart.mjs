#!/usr/bin/env node
// The chat page through a server restart, in headless Chromium (driven by playwright-core):
// this script starts the chat (CHAT_BINARY, on 127.0.0.1:PORT), two pages join a room, the
// chat is killed (SIGKILL: no Close frame, as a crash or a machine going away) and started
// again on the same port. Each page must say it lost the connection ("reconnecting"), come
// back by itself (its backoff: 0.5 s doubling to 10 s, with jitter), rejoin its room under
// its name and say so; a message sent after the restart must reach the other page.
// Then once more, with bob's page kept away (its WebSocket connections refused by the test)
// until a new page took the name "bob" on the restarted chat: bob's rejoin is refused and
// his page asks for another name, with which he is back.
//
// Usage: node chat_restart.mjs CHAT_BINARY PORT
// Prints PASS/FAIL lines; exits non-zero on any failure. The chat processes it started are
// killed when it ends, whatever the reason.

import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';
import { launchOptions, pageHelpers } from './chat_page.mjs';

const binary = process.argv[2];
const port = Number(process.argv[3]);
if (!binary || !Number.isInteger(port) || port <= 0) {
  console.error('usage: node chat_restart.mjs CHAT_BINARY PORT');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const url = `http://127.0.0.1:${port}/`;
const STEP_MS = 15_000;

let passed = 0;
let failed = 0;
const pass = (name, note) => { passed++; console.log(`PASS chromium chat-restart ${name}${note ? ` (${note})` : ''}`); };
const fail = (name, why) => { failed++; console.log(`FAIL chromium chat-restart ${name}: ${String(why).replace(/\s+/g, ' ').trim()}`); };

async function step(name, body) {
  try {
    pass(name, await body());
  } catch (e) {
    fail(name, e && e.message ? e.message.split('\n')[0] : e);
    throw e;
  }
}

// The chat process running now, killed on every way out.
let chat = null;
const killChat = () => {
  if (chat && chat.exitCode === null && chat.signalCode === null) chat.kill('SIGKILL');
};
process.on('exit', killChat);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { killChat(); process.exit(1); });
}

// Start the chat on the port; resolves once it printed its address (within 10 s).
function startChat() {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [`127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    chat = child;
    let out = '';
    const timer = setTimeout(() => reject(new Error('the chat did not start within 10 s')), 10_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the chat exited at start (${signal || code}): ${out.trim()}`));
    });
    child.stdout.on('data', (data) => {
      out += data;
      if (out.includes('open http://')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

// Kill the chat and wait until it is gone.
function stopChat() {
  return new Promise((resolve) => {
    if (!chat || chat.exitCode !== null || chat.signalCode !== null) return resolve();
    chat.once('exit', () => resolve());
    chat.kill('SIGKILL');
  });
}

const watchdog = setTimeout(() => {
  fail('run', 'the restart test did not finish within 100s');
  killChat();
  process.exit(1);
}, 100_000);

let browser;
try {
  await startChat();
  browser = await chromium.launch(launchOptions(executablePath));
  const { open, join, say, sees } = pageHelpers(browser, url, STEP_MS);

  const ann = await open('ann');
  const bob = await open('bob');
  // Bob's WebSocket connections go through the test, which refuses them while `bobAway`.
  let bobAway = false;
  await bob.routeWebSocket(/\/chat$/, (ws) => {
    if (bobAway) ws.close({ code: 1013, reason: 'kept away by the test' });
    else ws.connectToServer();
  });
  await step('join', async () => {
    await join(ann, 'ann');
    await join(bob, 'bob');
    await say(ann, 'before the restart');
    await sees(bob, 'ann', 'before the restart');
    return 'two pages in #lobby';
  });
  let down;
  await step('connection-lost', async () => {
    await stopChat();
    down = Date.now();
    for (const page of [ann, bob]) {
      await page.locator('.notice.error', { hasText: 'reconnecting' }).waitFor();
      await page.locator('#status', { hasText: 'reconnecting' }).waitFor();
      if (await page.locator('#send').isEnabled()) throw new Error('Send stays enabled while disconnected');
    }
    return 'both pages say "reconnecting…" and disable Send';
  });
  await step('reconnected', async () => {
    // Down long enough for a few failed tries (the backoff grows), then back on the port.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await startChat();
    const up = Date.now();
    for (const [who, page] of [['ann', ann], ['bob', bob]]) {
      await page.locator('.notice', { hasText: `reconnected: back in #lobby as ${who}` }).waitFor();
      await page.locator('#status', { hasText: `connected as ${who}` }).waitFor();
    }
    return `both back in #lobby ${((Date.now() - up) / 1000).toFixed(1)} s after the chat came back (down ${((up - down) / 1000).toFixed(1)} s)`;
  });
  await step('message-after-restart', async () => {
    await say(ann, 'after the restart ✓');
    await sees(bob, 'ann', 'after the restart ✓');
    await say(bob, 'bob too, after the restart');
    await sees(ann, 'bob', 'bob too, after the restart');
    // The message from before is shown once (a rejoin brings the room's history again).
    const before = await bob.locator('.message .text', { hasText: 'before the restart' }).count();
    if (before !== 1) throw new Error(`"before the restart" is shown ${before} times`);
    return 'both ways';
  });
  await step('rejoin-refused-asks-another-name', async () => {
    await stopChat();
    await bob.locator('#status', { hasText: 'reconnecting' }).waitFor();
    bobAway = true;
    await startChat();
    await ann.locator('#status', { hasText: 'connected as ann' }).waitFor();
    // While bob is away, a new page takes his name.
    const eve = await open('eve');
    await join(eve, 'bob');
    bobAway = false;
    // Bob's next try (within 10 s) is refused: the name prompt, on the same connection.
    const why = await bob.locator('#join-error', { hasText: 'is taken' }).textContent({ timeout: 20_000 });
    await bob.locator('.notice.error', { hasText: 'could not rejoin' }).waitFor();
    if (await bob.locator('#say-form').isVisible()) throw new Error('the refused page may type messages');
    await bob.fill('#name', 'bob2');
    await bob.click('#join');
    await bob.locator('.notice', { hasText: 'you joined as bob2' }).waitFor();
    await say(ann, 'hello bob2');
    await sees(bob, 'ann', 'hello bob2');
    await say(bob, 'bob2 here');
    await sees(ann, 'bob2', 'bob2 here');
    await sees(eve, 'bob2', 'bob2 here');
    await eve.close();
    return `"${why.trim()}", then back as bob2`;
  });
} catch (e) {
  if (!failed) fail('run', e && e.message ? e.message.split('\n')[0] : e);
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  killChat();
}
console.error(`# chromium chat-restart: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
