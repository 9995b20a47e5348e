// The seeds' own pages (examples/pages/p7.html and p9.html, committed verbatim) against
// `chorus serve`, with only their WebSocket URL changed: `ws://localhost:8080[/]` becomes a raw
// room of the server under test. Two browser contexts load each page; a message typed and sent
// in one (through the page's own input and button) shows up in the other, and — as with the
// seeds' servers, which broadcast to every client including the sender — in the sender's too.
//
//   CHORUS_URL=http://127.0.0.1:4100 node --test browser/seed-pages.test.mjs
//
// Needs a running chorus server at $CHORUS_URL and Chromium at $CHROMIUM (default
// /usr/bin/chromium). Skipped when CHORUS_TEST_SKIP_BROWSER=1. Saves screenshots of the
// receiving pages to e2e/screenshots/seed-p7.png and seed-p9.png.
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';

import { wsBase } from '../raw-helpers.mjs';
import { launchChromium } from './chromium.mjs';

const SKIP = process.env.CHORUS_TEST_SKIP_BROWSER === '1' ? 'CHORUS_TEST_SKIP_BROWSER=1' : false;
const PAGES = fileURLToPath(new URL('../../examples/pages/', import.meta.url));
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
 * The seed page `file` with its one WebSocket URL literal `from` replaced by `to`; nothing else
 * changes. Fails if `from` is not in the page exactly once.
 */
async function seedPage(file, from, to) {
  const html = await readFile(PAGES + file, 'utf8');
  const quoted = `'${from}'`;
  const parts = html.split(quoted);
  assert.equal(parts.length, 2, `${file}: expected the URL ${quoted} exactly once`);
  return parts.join(`'${to}'`);
}

/**
 * A fresh browser context showing `html`. The page first loads the server's /healthz (a real
 * response on the server's own origin) and `html` then replaces it with page.setContent, its
 * scripts running as usual. (Serving `html` with context.route would not do, even on the
 * server's origin: Chromium's local network access checks then block the page's WebSocket to
 * 127.0.0.1 with ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS.) Records page errors and every
 * frame of the page's WebSocket.
 */
async function openSeedPage(name, html, expectUrl) {
  const base = process.env.CHORUS_URL.replace(/\/+$/, '');
  const context = await browser.newContext({ viewport: { width: 480, height: 420 } });
  const page = await context.newPage();
  const errors = [];
  const sockets = [];
  page.on('pageerror', (err) => errors.push(err));
  page.on('websocket', (ws) => {
    const s = { url: ws.url(), sent: [], received: [], closed: false };
    sockets.push(s);
    ws.on('framesent', (f) => s.sent.push(f.payload));
    ws.on('framereceived', (f) => s.received.push(f.payload));
    ws.on('socketerror', (e) => errors.push(new Error(`socket error: ${e}`)));
    ws.on('close', () => (s.closed = true));
  });
  const resp = await page.goto(`${base}/healthz`, WAIT);
  assert.equal(resp.status(), 200, '/healthz should answer 200');
  await page.setContent(html, { waitUntil: 'load', ...WAIT });
  const frames = () => {
    assert.equal(sockets.length, 1, `${name}: expected the page to open one WebSocket, it opened ${sockets.length}`);
    assert.equal(sockets[0].url, expectUrl, `${name}: the page's WebSocket URL`);
    return sockets[0];
  };
  return { context, page, errors, frames };
}

/** A message with non-ASCII text (CJK, accents, an emoji) and a nonce; no HTML-special chars. */
function message(who) {
  return `你好 ${who}，héllo ✓ 🎵 ${randomBytes(3).toString('hex')}`;
}

/** How many times `payload` arrived on the page's WebSocket. */
function countReceived(p, payload) {
  return p.frames().received.filter((x) => x === payload).length;
}

function roomFor(seed) {
  return `${wsBase()}/seed-${seed}-${randomBytes(6).toString('hex')}`;
}

test('P7 seed page (one div shows the last message) works against chorus serve', { skip: SKIP, timeout: 60_000 }, async () => {
  const url = roomFor('p7');
  const html = await seedPage('p7.html', 'ws://localhost:8080', url);
  let a;
  let b;
  try {
    // B first, then A: B joined the room well before A sends anything.
    b = await openSeedPage('p7.html', html, url);
    await b.page.waitForFunction(() => document.querySelector('.results').textContent === '连接服务成功', null, WAIT);
    a = await openSeedPage('p7.html', html, url);
    await a.page.waitForFunction(() => document.querySelector('.results').textContent === '连接服务成功', null, WAIT);

    const results = (p) => p.page.locator('.results');
    const send = async (p, text) => {
      await p.page.fill('input', text);
      await p.page.click('button');
    };

    const fromA = message('from A');
    await send(a, fromA);
    await assertText(results(b), fromA, 'B shows the message A sent');
    await assertText(results(a), fromA, 'A shows its own message, echoed');

    const fromB = message('from B');
    await send(b, fromB);
    await assertText(results(a), fromB, 'A shows the message B sent');
    await assertText(results(b), fromB, 'B shows its own message, echoed');

    // Each message arrived exactly once on each page, as sent.
    for (const [who, p] of [['A', a], ['B', b]]) {
      assert.equal(countReceived(p, fromA), 1, `${who} received A's message once`);
      assert.equal(countReceived(p, fromB), 1, `${who} received B's message once`);
      assert.equal(p.frames().closed, false, `${who}'s WebSocket is still open`);
      assert.deepEqual(p.errors.map(String), [], `${who}: page errors`);
    }
    assert.deepEqual(a.frames().sent, [fromA]);
    assert.deepEqual(b.frames().sent, [fromB]);

    // Markup someone sends is shown as text (the seed's innerHTML ran it in every page).
    const attack = '<img src=x onerror="window.__pwned = 1"><b>bold</b>';
    await send(a, attack);
    await assertText(results(b), attack, 'B shows the markup as text');
    await new Promise((r) => setTimeout(r, 200));
    for (const p of [a, b]) {
      assert.equal(await p.page.evaluate(() => window.__pwned), undefined, 'no script ran');
      assert.equal(await p.page.locator('.results img, .results b').count(), 0, 'no element made');
    }

    await mkdir(SHOTS, { recursive: true });
    await b.page.screenshot({ path: SHOTS + 'seed-p7.png' });
  } finally {
    await a?.context.close();
    await b?.context.close();
  }
});

test('P9 seed page (group chat, 周杰伦：…) works against chorus serve', { skip: SKIP, timeout: 60_000 }, async () => {
  const url = roomFor('p9');
  const html = await seedPage('p9.html', 'ws://localhost:8080/', url);
  let a;
  let b;
  // The page has no "connected" indicator; its global `ws` is only read, never touched.
  const opened = (p) => p.page.waitForFunction(() => typeof ws === 'object' && ws.readyState === WebSocket.OPEN, null, WAIT);
  // The messages the page appended: divs directly under <body>, other than the send box.
  const shown = (p) =>
    p.page.evaluate(() => [...document.querySelectorAll('body > div:not(.send-box)')].map((d) => d.textContent));
  const waitShown = async (p, want, what) => {
    try {
      await p.page.waitForFunction(
        (want) => {
          const got = [...document.querySelectorAll('body > div:not(.send-box)')].map((d) => d.textContent);
          return got.length >= want.length;
        },
        want,
        WAIT,
      );
    } catch (e) {
      assert.fail(`${what}: timed out; the page shows ${JSON.stringify(await shown(p))}, want ${JSON.stringify(want)}`);
    }
    assert.deepEqual(await shown(p), want, what);
  };
  const send = async (p, text) => {
    await p.page.fill('.val', text);
    await p.page.click('.btn');
    assert.equal(await p.page.inputValue('.val'), '', 'the page clears its input after sending');
  };

  try {
    b = await openSeedPage('p9.html', html, url);
    await opened(b);
    a = await openSeedPage('p9.html', html, url);
    await opened(a);

    const fromA = message('from A');
    await send(a, fromA);
    await waitShown(b, [`周杰伦：${fromA}`], 'B shows the message A sent');
    await waitShown(a, [`周杰伦：${fromA}`], 'A shows its own message, echoed');

    const fromB = message('from B');
    await send(b, fromB);
    await waitShown(a, [`周杰伦：${fromA}`, `周杰伦：${fromB}`], 'A shows the message B sent');
    await waitShown(b, [`周杰伦：${fromA}`, `周杰伦：${fromB}`], 'B shows its own message, echoed');

    for (const [who, p] of [['A', a], ['B', b]]) {
      assert.deepEqual(p.frames().received, [`周杰伦：${fromA}`, `周杰伦：${fromB}`], `${who}: frames received`);
      assert.equal(p.frames().closed, false, `${who}'s WebSocket is still open`);
      assert.deepEqual(p.errors.map(String), [], `${who}: page errors`);
    }
    assert.deepEqual(a.frames().sent, [`周杰伦：${fromA}`]);
    assert.deepEqual(b.frames().sent, [`周杰伦：${fromB}`]);

    // Markup someone sends is shown as text (the seed's innerHTML ran it in every page).
    const attack = '<img src=x onerror="window.__pwned = 1"><b>bold</b>';
    await send(a, attack);
    await waitShown(b, [`周杰伦：${fromA}`, `周杰伦：${fromB}`, `周杰伦：${attack}`], 'B shows the markup as text');
    await new Promise((r) => setTimeout(r, 200));
    for (const p of [a, b]) {
      assert.equal(await p.page.evaluate(() => window.__pwned), undefined, 'no script ran');
      assert.equal(await p.page.locator('body > div img, body > div b').count(), 0, 'no element made');
    }

    await mkdir(SHOTS, { recursive: true });
    await b.page.screenshot({ path: SHOTS + 'seed-p9.png' });
  } finally {
    await a?.context.close();
    await b?.context.close();
  }
});

/** Wait until `locator`'s text is exactly `want`; on timeout, say what it showed instead. */
async function assertText(locator, want, what) {
  const t0 = Date.now();
  let got;
  while (Date.now() - t0 < WAIT.timeout) {
    got = await locator.textContent({ timeout: WAIT.timeout });
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what}: timed out; it shows ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
