// The seeds' plain-WebSocket pages in Chromium, each against its own Rust example: P1
// (greeting), P3 (scream server), P5 (chat room: two pages, and markup shown as text), P8
// (express-ws: /talk, /data, /clients) and P10 (suffix). The pages are the committed files
// with only their WebSocket URL pointed at the example (P8 uses the page's own host).
//
//   P1_URL=… P3_URL=… P5_URL=… P8_URL=… P10_URL=… node --test browser/seed-ws-pages.test.mjs
//
// Each test needs its example's URL (scripts/test.sh starts them) and Chromium at $CHROMIUM;
// a test whose URL is unset is skipped. Saves e2e/screenshots/seed-p5.png and seed-p8.png.
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';

import { launchChromium } from './chromium.mjs';

const SKIP_ALL = process.env.CHORUS_TEST_SKIP_BROWSER === '1';
const skip = (name) => (SKIP_ALL ? 'CHORUS_TEST_SKIP_BROWSER=1' : !process.env[`${name}_URL`] && `${name}_URL is not set`);
const PAGES = fileURLToPath(new URL('../../examples/pages/', import.meta.url));
const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
const WAIT = { timeout: 10_000 };

let browser;

before(async () => {
  if (!SKIP_ALL) browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

const base = (name) => process.env[`${name}_URL`].replace(/\/+$/, '');

/**
 * A page of seed `file` in a fresh context, on its example's origin: the committed file with
 * its WebSocket URL literal `from` (quoted as in the file) replaced by the example's. The
 * context first loads the example's /healthz (a real document of its origin), then the
 * rewritten page is set as its content, scripts running as usual. Records the page's errors, console lines and its WebSocket's
 * frames from then on.
 */
async function open(name, file, from) {
  const url = base(name);
  let html = await readFile(PAGES + file, 'utf8');
  if (from) {
    const parts = html.split(from);
    assert.equal(parts.length, 2, `${file}: expected ${from} exactly once`);
    html = parts.join(from[0] + url.replace(/^http/, 'ws') + from.slice(-1));
  }
  const context = await browser.newContext({ viewport: { width: 520, height: 420 } });
  const page = await context.newPage();
  const p = { context, page, errors: [], console: [], sent: [], received: [], closed: false };
  const record = () => {
    page.on('pageerror', (err) => p.errors.push(err));
    page.on('console', (msg) => p.console.push(msg.text()));
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => p.sent.push(f.payload));
      ws.on('framereceived', (f) => p.received.push(f.payload));
      ws.on('close', () => (p.closed = true));
    });
  };
  if (!from) {
    record();
    await page.goto(`${url}/`, WAIT);
    return p;
  }
  // A real document of the example's origin first (chorus's /healthz), then the page.
  const health = await page.goto(`${url}/healthz`, WAIT);
  assert.equal(health.status(), 200);
  record();
  await page.setContent(html, { waitUntil: 'load', ...WAIT });
  return p;
}

async function until(what, done) {
  for (let i = 0; i < 200; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out: ${what}`);
}

test('P1 seed page: says hello and gets the greeting', { skip: skip('P1'), timeout: 60_000 }, async () => {
  const p = await open('P1', 'p1.html', '"ws://localhost:3000"');
  try {
    await until('the greeting', () => p.received.includes('message from server'));
    assert.deepEqual(p.sent, ['hello from client!']);
    assert.deepEqual(p.errors.map(String), []);
  } finally {
    await p.context.close();
  }
});

test('P3 seed page: hi comes back screamed', { skip: skip('P3'), timeout: 60_000 }, async () => {
  const p = await open('P3', 'p3.html', "'ws://localhost:3000/'");
  try {
    await until('the answer in the console', () => p.console.includes('Received Message: HI!!!'));
    assert.deepEqual(p.sent, ['hi']);
    assert.deepEqual(p.received, ['HI!!!']);
    await until('the page closes its socket', () => p.closed);
    // The seed's own send() before the socket is open throws, as its header says.
    assert.equal(p.errors.length, 1, p.errors.map(String).join('\n'));
    assert.match(String(p.errors[0]), /InvalidStateError|CONNECTING/);
  } finally {
    await p.context.close();
  }
});

test('P5 seed page: a chat room of two, and markup shown as text', { skip: skip('P5'), timeout: 60_000 }, async () => {
  const lines = (p) => p.page.evaluate(() => [...document.querySelectorAll('#chatBox > div')].map((d) => d.textContent));
  const waitLine = (p, text) => until(`${text} in the page`, async () => (await lines(p)).includes(text));
  let a;
  let b;
  try {
    a = await open('P5', 'p5.html', "'ws://localhost:3000'");
    await until('A announced', async () => (await lines(a)).length >= 1);
    const me = /^(user\d+) comes in !!!$/.exec((await lines(a))[0]);
    assert.ok(me, `A's first line: ${(await lines(a))[0]}`);
    b = await open('P5', 'p5.html', "'ws://localhost:3000'");
    await until('B announced', async () => (await lines(b)).length >= 1);

    const text = `你好 héllo ✓ ${randomBytes(3).toString('hex')}`;
    await a.page.fill('#lmz_sendText', text);
    await a.page.click('#lmz_sendBtn');
    await waitLine(b, `${me[1]}: ${text}`);

    const attack = '<img src=x onerror="window.__pwned = 1"><b>bold</b>';
    await a.page.fill('#lmz_sendText', attack);
    await a.page.click('#lmz_sendBtn');
    await waitLine(b, `${me[1]}: ${attack}`);
    await waitLine(a, `${me[1]}: ${attack}`);
    await new Promise((r) => setTimeout(r, 200));
    for (const p of [a, b]) {
      assert.equal(await p.page.evaluate(() => window.__pwned), undefined, 'no script ran');
      assert.equal(await p.page.locator('#chatBox img, #chatBox b').count(), 0, 'no element made');
      assert.deepEqual(p.errors.map(String), []);
    }
    await mkdir(SHOTS, { recursive: true });
    await b.page.screenshot({ path: SHOTS + 'seed-p5.png' });
  } finally {
    await a?.context.close();
    await b?.context.close();
  }
});

test('P8 page: /talk echoes, /data answers, /clients counts', { skip: skip('P8'), timeout: 60_000 }, async () => {
  const p = await open('P8', 'p8.html', null);
  try {
    await p.page.locator('#log li', { hasText: 'connected to /talk' }).waitFor(WAIT);
    await until('/data shown', async () => (await p.page.textContent('#data')) === '122222');
    await until('one client listed', async () => (await p.page.textContent('#clients')) === '1');
    await p.page.fill('#text', 'hello express-ws');
    await p.page.click('#send');
    await p.page.locator('#log li', { hasText: 'echo: hello express-ws' }).waitFor(WAIT);
    assert.deepEqual(p.errors.map(String), []);
    await mkdir(SHOTS, { recursive: true });
    await p.page.screenshot({ path: SHOTS + 'seed-p8.png' });
  } finally {
    await p.context.close();
  }
});

test('P10 seed page: the verse comes back with its suffix', { skip: skip('P10'), timeout: 60_000 }, async () => {
  const p = await open('P10', 'p10.html', "'ws://localhost:3000'");
  try {
    const want = '床前明月光，原来是惠康;举头望明月，低头思故乡,';
    await until('the answer in the console', () => p.console.includes(want));
    assert.ok(p.console.includes('连接上服务器了'));
    assert.deepEqual(p.sent, ['床前明月光，原来是惠康;']);
    assert.deepEqual(p.received, [want]);
    assert.deepEqual(p.errors.map(String), []);
  } finally {
    await p.context.close();
  }
});
