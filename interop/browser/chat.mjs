#!/usr/bin/env node
// The chat example in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): two pages pick a name and join the same room, the second first trying
// the first one's name (refused: it picks another, on the same connection); a message
// typed in one appears in the other (both ways); both negotiate permessage-deflate and a long message
// goes through compressed; a page that closes shows up as "left" in the other.
// A screenshot of the two pages side by side is written to SCREENSHOT.
//
// Usage: node chat.mjs PORT SCREENSHOT [PORT2]   (the chat listens on 127.0.0.1:PORT)
// With PORT2, bob's page is served by another chat process, on 127.0.0.1:PORT2, which
// shares its rooms with the first through Redis (`chat --redis`): every step then goes
// across processes, and the checks are named "chromium chat-redis".
// Prints PASS/FAIL lines; exits non-zero on any failure.

import { chromium } from 'playwright-core';
import { launchOptions, pageHelpers } from './chat_page.mjs';

const port = Number(process.argv[2]);
const screenshot = process.argv[3];
const port2 = process.argv[4] === undefined ? port : Number(process.argv[4]);
if (!Number.isInteger(port) || port <= 0 || !screenshot || !Number.isInteger(port2) || port2 <= 0) {
  console.error('usage: node chat.mjs PORT SCREENSHOT [PORT2]');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const url = `http://127.0.0.1:${port}/`;
// Bob's page: the same chat, or another process sharing its rooms.
const url2 = `http://127.0.0.1:${port2}/`;
const suite = port2 === port ? 'chat' : 'chat-redis';
const STEP_MS = 15_000;

let passed = 0;
let failed = 0;
const pass = (name, note) => { passed++; console.log(`PASS chromium ${suite} ${name}${note ? ` (${note})` : ''}`); };
const fail = (name, why) => { failed++; console.log(`FAIL chromium ${suite} ${name}: ${String(why).replace(/\s+/g, ' ').trim()}`); };

// Run `body`; a step that fails is reported and ends the run (later steps depend on it).
async function step(name, body) {
  try {
    const note = await body();
    pass(name, note);
  } catch (e) {
    fail(name, e && e.message ? e.message.split('\n')[0] : e);
    throw e;
  }
}

const watchdog = setTimeout(() => {
  fail('run', 'the chat test did not finish within 90s');
  process.exit(1);
}, 90_000);

let browser;
try {
  browser = await chromium.launch(launchOptions(executablePath));
  console.error(`# chromium ${browser.version()}`);
  const { open, join, say, sees } = pageHelpers(browser, url, STEP_MS);

  const ann = await open('ann');
  const bob = await open('bob');

  await step('page-served', async () => {
    const response = await ann.goto(url);
    if (response.status() !== 200) throw new Error(`GET / answered ${response.status()}`);
    return `${(await response.body()).length} B`;
  });
  await step('join-two-pages', async () => {
    await join(ann, 'ann');
    await join(bob, 'bob', url2);
    await ann.locator('.notice', { hasText: 'bob joined' }).waitFor();
    return port2 === port ? 'ann sees "bob joined"' : `ann (port ${port}) sees "bob joined" (port ${port2})`;
  });
  await step('message-ann-to-bob', async () => {
    await say(ann, 'Héllo from ann ✓');
    await sees(bob, 'ann', 'Héllo from ann ✓');
    await sees(ann, 'ann', 'Héllo from ann ✓');
    return 'shown in both pages';
  });
  await step('message-bob-to-ann', async () => {
    await say(bob, 'Hi ann! Sans-IO, one thread, one buffer.');
    await sees(ann, 'bob', 'Sans-IO, one thread, one buffer.');
    await say(ann, 'And the page is served by the same port.');
    await sees(bob, 'ann', 'served by the same port');
    return 'both ways';
  });
  await step('screenshot', async () => {
    // Each page as an image, then the two side by side in a third page.
    const shots = await Promise.all([ann, bob].map((p) => p.screenshot()));
    const frame = await browser.newPage({ viewport: { width: 2 * 560 + 3 * 16, height: 640 + 2 * 16 } });
    const images = shots
      .map((png) => `<img src="data:image/png;base64,${png.toString('base64')}">`)
      .join('');
    await frame.setContent(`<body style="margin:0;padding:16px;background:#cfd4dc;display:flex;gap:16px">${images}</body>`);
    await frame.screenshot({ path: screenshot });
    await frame.close();
    return screenshot;
  });
  await step('permessage-deflate', async () => {
    // Chromium offers the extension; the chat accepts it, each side compressing every
    // message on its own, the browser within a 1 KiB window.
    for (const [who, page] of [['ann', ann], ['bob', bob]]) {
      const extensions = await page.evaluate(() => socket.extensions);
      const expected = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10';
      if (extensions !== expected) throw new Error(`${who}'s socket.extensions is "${extensions}"`);
    }
    // A long message: compressed by Chromium, inflated by the chat, compressed again
    // (once for the room) and inflated by the other page.
    const long = 'compressed both ways, ' + 'la '.repeat(300) + 'end ✓';
    await say(ann, long);
    await sees(bob, 'ann', 'end ✓');
    const shown = await bob.locator('.message .text', { hasText: 'end ✓' }).last().textContent();
    if (shown !== long) throw new Error(`bob shows ${shown.length} characters, not the ${long.length} sent`);
    return `negotiated by both pages; a ${long.length}-character message arrives whole`;
  });
  await step('name-taken', async () => {
    // A third page asks for ann's name (in other letters) in the lobby: refused, it stays
    // at the name prompt, and ann's page hears nothing of it.
    const amy = await open('amy');
    let amySockets = 0;
    amy.on('websocket', () => { amySockets++; });
    await amy.goto(url2);
    await amy.fill('#name', 'Ann');
    await amy.fill('#room', 'lobby');
    await amy.click('#join');
    const why = await amy.locator('#join-error', { hasText: 'is taken' }).textContent();
    if (!(await amy.locator('#join-form').isVisible())) throw new Error('the name prompt is not shown');
    if (await amy.locator('#say-form').isVisible()) throw new Error('the refused page may type messages');
    // Another name, on the same connection: in, and both talk.
    await amy.fill('#name', 'amy');
    await amy.click('#join');
    await amy.locator('.notice', { hasText: 'you joined as amy' }).waitFor();
    await ann.locator('.notice', { hasText: 'amy joined' }).waitFor();
    if (amySockets !== 1) throw new Error(`amy's page opened ${amySockets} WebSocket connections, not 1`);
    if ((await ann.locator('.notice', { hasText: /^Ann joined/ }).count()) !== 0) {
      throw new Error('ann\'s page heard of the refused join');
    }
    await say(amy, 'amy here, after a refused name');
    await sees(ann, 'amy', 'after a refused name');
    await say(ann, 'welcome amy');
    await sees(amy, 'ann', 'welcome amy');
    // Ann's own messages are still drawn as hers, amy's as amy's.
    const mine = await ann.locator('.message.mine .name').allTextContents();
    if (mine.some((name) => name !== 'ann')) throw new Error(`ann's page draws as hers: ${mine}`);
    await amy.close();
    await ann.locator('.notice', { hasText: 'amy left' }).waitFor();
    return `"${why.trim()}", then amy joined on the same connection and both talked`;
  });
  await step('left-when-a-page-closes', async () => {
    await bob.close();
    await ann.locator('.notice', { hasText: 'bob left' }).waitFor();
    return 'ann sees "bob left"';
  });
} catch (e) {
  if (!failed) fail('run', e && e.message ? e.message.split('\n')[0] : e);
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
}
console.error(`# chromium chat: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
