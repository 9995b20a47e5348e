// The P11 seed page (examples/pages/p11.html, the Socket.IO chat of seed 004, verbatim) in
// Chromium, against the P11 example server itself (examples/p11_socketio_chat.rs, not
// `chorus serve`): the page at `/` loads the official Socket.IO client from the server's
// /socket.io/socket.io.js and connects with `io()`. Two browser contexts load it; a message
// typed and submitted in one shows up in both (the server's `io.emit`), once each, as text.
//
//   cargo build --example p11_socketio_chat && ./target/debug/examples/p11_socketio_chat 3300 &
//   cd e2e && P11_URL=http://127.0.0.1:3300 node --test browser/seed-socketio.test.mjs
//
// Start the example from the repository root, so that it finds the client in
// ./e2e/node_modules/socket.io-client. Skipped when P11_URL is not set, or with
// CHORUS_TEST_SKIP_BROWSER=1. Needs Chromium at $CHROMIUM (default /usr/bin/chromium). Saves
// a screenshot of the receiving page to e2e/screenshots/seed-p11.png.
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';

import { launchChromium } from './chromium.mjs';

const SKIP =
  process.env.CHORUS_TEST_SKIP_BROWSER === '1'
    ? 'CHORUS_TEST_SKIP_BROWSER=1'
    : !process.env.P11_URL
      ? 'P11_URL is not set: start the P11 example (./target/debug/examples/p11_socketio_chat 3300, ' +
        'from the repository root) and set P11_URL=http://127.0.0.1:3300'
      : false;
const PAGE = fileURLToPath(new URL('../../examples/pages/p11.html', import.meta.url));
const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
const WAIT = { timeout: 10_000 };

let browser;

before(async () => {
  if (SKIP) return;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/**
 * A fresh browser context showing the server's page at `/`, once its Socket.IO client is
 * connected and upgraded to WebSocket. Records page errors, the client script's response
 * and every frame of the page's WebSockets.
 */
async function openChat(base, name) {
  const context = await browser.newContext({ viewport: { width: 480, height: 420 } });
  const page = await context.newPage();
  const errors = [];
  const sockets = [];
  let script;
  page.on('pageerror', (err) => errors.push(err));
  page.on('response', (resp) => {
    if (new URL(resp.url()).pathname === '/socket.io/socket.io.js') script = resp;
  });
  page.on('websocket', (ws) => {
    const s = { url: ws.url(), sent: [], received: [], closed: false };
    sockets.push(s);
    ws.on('framesent', (f) => s.sent.push(f.payload));
    ws.on('framereceived', (f) => s.received.push(f.payload));
    ws.on('socketerror', (e) => errors.push(new Error(`socket error: ${e}`)));
    ws.on('close', () => (s.closed = true));
  });

  const resp = await page.goto(`${base}/`, WAIT);
  assert.equal(resp.status(), 200, `${name}: GET /`);
  assert.equal(await resp.text(), await readFile(PAGE, 'utf8'), `${name}: / serves examples/pages/p11.html as it is`);
  assert.equal(script?.status(), 200, `${name}: the page loaded /socket.io/socket.io.js from the server`);
  try {
    // The page's own `const socket = io()`; only read here.
    await page.waitForFunction(
      () => typeof socket === 'object' && socket.connected && socket.io.engine.transport.name === 'websocket',
      null,
      WAIT,
    );
  } catch (e) {
    assert.fail(`${name}: the page's socket did not connect over WebSocket: ${e.message}; errors: ${errors.map(String)}`);
  }
  const upgraded = sockets.filter((s) => /\/socket\.io\/\?EIO=4&transport=websocket&sid=/.test(s.url));
  assert.equal(upgraded.length, 1, `${name}: one WebSocket upgrade, got ${JSON.stringify(sockets.map((s) => s.url))}`);
  return { name, context, page, errors, ws: upgraded[0] };
}

/** The texts of the page's <li> messages. */
const shown = (p) => p.page.evaluate(() => [...document.querySelectorAll('ul > li')].map((li) => li.textContent));

/** Waits until the page shows exactly `want`; on timeout, says what it showed instead. */
async function waitShown(p, want, what) {
  try {
    await p.page.waitForFunction((n) => document.querySelectorAll('ul > li').length >= n, want.length, WAIT);
  } catch {
    assert.fail(`${what}: timed out; the page shows ${JSON.stringify(await shown(p))}, want ${JSON.stringify(want)}`);
  }
  assert.deepEqual(await shown(p), want, what);
}

/** A message with non-ASCII text, HTML-special characters and a nonce. */
function message(who) {
  return `你好 ${who} <b>not bold</b> & héllo ✓ 🎵 ${randomBytes(3).toString('hex')}`;
}

/** The Socket.IO packet carrying `chat message` with `text`, as the frame's payload. */
const packet = (text) => `42${JSON.stringify(['chat message', text])}`;

test('P11 seed page (Socket.IO chat, io.emit) works against the P11 example', { skip: SKIP, timeout: 60_000 }, async () => {
  const base = process.env.P11_URL.replace(/\/+$/, '');
  let a;
  let b;
  try {
    b = await openChat(base, 'B');
    a = await openChat(base, 'A');

    // A submits with the button, B with Enter (the form's submit either way).
    const fromA = message('from A');
    await a.page.fill('input', fromA);
    await a.page.click('button');
    assert.equal(await a.page.inputValue('input'), '', 'the page clears its input after sending');
    await waitShown(b, [fromA], 'B shows the message A sent');
    await waitShown(a, [fromA], 'A shows its own message (io.emit includes the sender)');

    const fromB = message('from B');
    await b.page.fill('input', fromB);
    await b.page.press('input', 'Enter');
    await waitShown(a, [fromA, fromB], 'A shows the message B sent');
    await waitShown(b, [fromA, fromB], 'B shows its own message');

    // An empty input sends nothing (the page checks `if(input.value)`).
    await a.page.fill('input', '');
    await a.page.click('button');
    await new Promise((r) => setTimeout(r, 300));

    for (const p of [a, b]) {
      // Shown as text: the markup in the messages made no elements.
      assert.equal(await p.page.locator('ul b').count(), 0, `${p.name}: no <b> element in the list`);
      // Each message arrived exactly once, over the WebSocket, as sent.
      const chat = p.ws.received.filter((x) => x.startsWith('42'));
      assert.deepEqual(chat, [packet(fromA), packet(fromB)], `${p.name}: chat packets received`);
      assert.equal(p.ws.closed, false, `${p.name}'s WebSocket is still open`);
      assert.deepEqual(p.errors.map(String), [], `${p.name}: page errors`);
    }
    assert.deepEqual(a.ws.sent.filter((x) => x.startsWith('42')), [packet(fromA)]);
    assert.deepEqual(b.ws.sent.filter((x) => x.startsWith('42')), [packet(fromB)]);
    await waitShown(a, [fromA, fromB], 'A shows nothing more');

    await mkdir(SHOTS, { recursive: true });
    await b.page.screenshot({ path: SHOTS + 'seed-p11.png' });
  } finally {
    await a?.context.close();
    await b?.context.close();
  }
});
