// What the chat's browser checks share (chat.mjs, chat_restart.mjs): Chromium's launch
// flags for this machine's closed network, and a page driven as a person would (open,
// join a room, say something, see a message).

/** Launch options for headless Debian Chromium. */
export const launchOptions = (executablePath) => ({
  executablePath,
  timeout: 60_000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

/** The page helpers for `browser`, the chat at `url`, each step waiting at most `stepMs`. */
export const pageHelpers = (browser, url, stepMs) => ({
  open: async (who) => {
    const page = await browser.newPage({ viewport: { width: 560, height: 640 } });
    page.on('console', (m) => console.error(`# ${who} console: ${m.text()}`));
    page.on('pageerror', (e) => console.error(`# ${who} page error: ${e.message}`));
    page.setDefaultTimeout(stepMs);
    return page;
  },
  join: async (page, name, at = url) => {
    await page.goto(at);
    await page.fill('#name', name);
    await page.fill('#room', 'lobby');
    await page.click('#join');
    await page.locator('.notice', { hasText: `you joined as ${name}` }).waitFor();
  },
  say: async (page, text) => {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
  },
  sees: (page, name, text) =>
    page.locator('.message', { has: page.locator('.name', { hasText: name }) })
      .filter({ has: page.locator('.text', { hasText: text }) })
      .waitFor(),
});
