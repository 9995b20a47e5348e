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
//
// The same file drives the other Socket.IO seed pages against their own examples, each
// loaded from its server at `/`, each test skipped when its variable is unset:
//
//   P2_URL  examples/p2_socketio_broadcast.rs (examples/pages/p2.html): `chatEvent` typed in
//           one page comes back as `ServerMsg`, which the page console.logs, in the OTHER
//           page only (socket.broadcast.emit).
//   P4_URL  examples/p4_socketio_emit.rs (examples/pages/p4.html): the page loads the client
//           from the misspelt `sicket.io.js` (redirected by the example), emits `msg`
//           `你好服务器` at once and console.logs the `msg` answer, `你好浏览器`, sent to it alone.
//   P6_URL  examples/p6_socketio_chat_room.rs (examples/pages/p6.html, served with its CDN
//           client URL replaced by /socket.io/socket.io.js): `userN comes in !!!`,
//           `userN: text` and `userN leaves.` rendered as <div>s in #chatBox of every page.
//
// P4's and P6's pages connect with io('http://localhost:3000'), the seed's own server
// address. Unless the example under test is at that very origin, an init script maps that
// one address, and only it, to the example's URL in the page's call to io(); the page's
// HTML and script are otherwise as served (and checked against the committed file).
//
//   ./target/debug/examples/p2_socketio_broadcast 3401 &
//   ./target/debug/examples/p4_socketio_emit 3402 &
//   ./target/debug/examples/p6_socketio_chat_room 3403 &
//   cd e2e && P2_URL=http://127.0.0.1:3401 P4_URL=http://127.0.0.1:3402 \
//     P6_URL=http://127.0.0.1:3403 node --test browser/seed-socketio.test.mjs
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';

import { launchChromium } from './chromium.mjs';

/** Why the test of the example in env `name` (built as `example`) is skipped, or false. */
const skipUnless = (name, example, port) =>
  process.env.CHORUS_TEST_SKIP_BROWSER === '1'
    ? 'CHORUS_TEST_SKIP_BROWSER=1'
    : !process.env[name]
      ? `${name} is not set: start the example (./target/debug/examples/${example} ${port}, ` +
        `from the repository root) and set ${name}=http://127.0.0.1:${port}`
      : false;
const SKIP = skipUnless('P11_URL', 'p11_socketio_chat', 3300);
const SKIP_P2 = skipUnless('P2_URL', 'p2_socketio_broadcast', 3401);
const SKIP_P4 = skipUnless('P4_URL', 'p4_socketio_emit', 3402);
const SKIP_P6 = skipUnless('P6_URL', 'p6_socketio_chat_room', 3403);
const ALL_SKIPPED = SKIP && SKIP_P2 && SKIP_P4 && SKIP_P6;
const pagePath = (n) => fileURLToPath(new URL(`../../examples/pages/${n}.html`, import.meta.url));
const PAGE = pagePath('p11');
/** The server address the P4 and P6 seed pages hard-code in io(). */
const SEED_ORIGIN = 'http://localhost:3000';
const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
const WAIT = { timeout: 10_000 };

let browser;

before(async () => {
  if (ALL_SKIPPED) return;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/**
 * A fresh browser context showing the server's page at `/`, once its Socket.IO client is
 * connected and upgraded to WebSocket. Records page errors, console.log texts, the client
 * script's response and every frame of the page's WebSockets.
 *
 * `opts.page` is the committed page `/` must serve, `opts.body` turns it into what is
 * served (P6's URL replacement), `opts.socket` names the page's own socket variable, and
 * `opts.mapSeedOrigin` maps the page's io('http://localhost:3000') to `base`.
 */
async function openChat(base, name, opts = {}) {
  const { page: file = PAGE, body = (html) => html, socket: socketVar = 'socket', mapSeedOrigin = false } = opts;
  const context = await browser.newContext({ viewport: { width: 480, height: 420 } });
  if (mapSeedOrigin && new URL(base).origin !== SEED_ORIGIN) {
    // Wraps the io() the client script assigns to window.io: the seed's address becomes the
    // example's, any other argument goes through untouched.
    await context.addInitScript(
      ([seed, target]) => {
        let io;
        Object.defineProperty(window, 'io', {
          configurable: true,
          get: () => io,
          set: (real) => {
            const mapped = (uri, ...rest) =>
              real(typeof uri === 'string' && uri.replace(/\/+$/, '') === seed ? target : uri, ...rest);
            io = Object.assign(mapped, real);
          },
        });
      },
      [SEED_ORIGIN, base],
    );
  }
  const page = await context.newPage();
  const errors = [];
  const logs = [];
  const sockets = [];
  let script;
  page.on('pageerror', (err) => errors.push(err));
  page.on('console', (m) => m.type() === 'log' && logs.push(m.text()));
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
  const rel = file.replace(/^.*\/(examples\/pages\/)/, '$1');
  assert.equal(await resp.text(), body(await readFile(file, 'utf8')), `${name}: / serves ${rel} as it is`);
  assert.equal(script?.status(), 200, `${name}: the page loaded /socket.io/socket.io.js from the server`);
  try {
    // The page's own socket (`const socket = io()`, `var socket`, `const soc`); only read here.
    await page.waitForFunction(
      `typeof ${socketVar} === 'object' && ${socketVar}.connected && ` +
        `${socketVar}.io.engine.transport.name === 'websocket'`,
      null,
      WAIT,
    );
  } catch (e) {
    assert.fail(`${name}: the page's socket did not connect over WebSocket: ${e.message}; errors: ${errors.map(String)}`);
  }
  const upgraded = sockets.filter((s) => /\/socket\.io\/\?EIO=4&transport=websocket&sid=/.test(s.url));
  assert.equal(upgraded.length, 1, `${name}: one WebSocket upgrade, got ${JSON.stringify(sockets.map((s) => s.url))}`);
  return { name, context, page, errors, logs, script, ws: upgraded[0] };
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

/** Waits until `p` has console.logged at least `n` texts; on timeout, says what it logged. */
async function waitLogs(p, n, what) {
  const end = Date.now() + WAIT.timeout;
  while (p.logs.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(p.logs.length >= n, `${what}: timed out; ${p.name} logged ${JSON.stringify(p.logs)}`);
}

/** A quiet moment, for "nothing more arrives" checks. */
const settle = () => new Promise((r) => setTimeout(r, 300));

test('P2 seed page (Socket.IO broadcast) works against the P2 example', { skip: SKIP_P2, timeout: 60_000 }, async () => {
  const base = process.env.P2_URL.replace(/\/+$/, '');
  const opts = { page: pagePath('p2'), socket: 'socket' };
  let a;
  let b;
  try {
    a = await openChat(base, 'A', opts);
    b = await openChat(base, 'B', opts);

    const fromA = message('from A');
    await a.page.fill('#msg', fromA);
    await a.page.click('#submit');
    assert.equal(await a.page.inputValue('#msg'), '', 'the page clears its input after sending');
    await waitLogs(b, 1, 'B logs the ServerMsg of what A sent');
    assert.deepEqual(b.logs, [fromA], 'B console.logs exactly what A typed');

    const fromB = message('from B');
    await b.page.fill('#msg', fromB);
    await b.page.click('#submit');
    await waitLogs(a, 1, 'A logs the ServerMsg of what B sent');
    await settle();

    // broadcast: never back to the sender.
    assert.deepEqual(a.logs, [fromB], 'A logs only what B sent, not its own message');
    assert.deepEqual(b.logs, [fromA], 'B logs only what A sent, not its own message');
    const sent = (text) => `42${JSON.stringify(['chatEvent', text])}`;
    const got = (text) => `42${JSON.stringify(['ServerMsg', text])}`;
    assert.deepEqual(a.ws.sent.filter((x) => x.startsWith('42')), [sent(fromA)], 'A sent one chatEvent');
    assert.deepEqual(b.ws.sent.filter((x) => x.startsWith('42')), [sent(fromB)], 'B sent one chatEvent');
    assert.deepEqual(a.ws.received.filter((x) => x.startsWith('42')), [got(fromB)], 'A received one ServerMsg');
    assert.deepEqual(b.ws.received.filter((x) => x.startsWith('42')), [got(fromA)], 'B received one ServerMsg');
    for (const p of [a, b]) {
      assert.equal(p.ws.closed, false, `${p.name}'s WebSocket is still open`);
      assert.deepEqual(p.errors.map(String), [], `${p.name}: page errors`);
    }
  } finally {
    await a?.context.close();
    await b?.context.close();
  }
});

test('P4 seed page (Socket.IO emit, msg answered) works against the P4 example', { skip: SKIP_P4, timeout: 60_000 }, async () => {
  const base = process.env.P4_URL.replace(/\/+$/, '');
  const opts = { page: pagePath('p4'), socket: 'soc', mapSeedOrigin: true };
  let a;
  let b;
  try {
    a = await openChat(base, 'A', opts);
    // <script src='sicket.io.js'> (sic): the example redirects it to the real client.
    const from = a.script.request().redirectedFrom();
    assert.equal(from && new URL(from.url()).pathname, '/sicket.io.js', 'the client came by way of /sicket.io.js');
    assert.equal((await from.response())?.status(), 307, '/sicket.io.js is a temporary redirect');

    // The page emits `msg` 你好服务器 as soon as it loads and logs the answer.
    await waitLogs(a, 1, 'A logs the answer to its msg');
    assert.deepEqual(a.logs, ['你好浏览器'], 'A console.logs the server\'s msg answer');

    // A second page gets its own answer; the first gets no other (sent to the sender only).
    b = await openChat(base, 'B', opts);
    await waitLogs(b, 1, 'B logs the answer to its msg');
    await settle();
    assert.deepEqual(b.logs, ['你好浏览器'], 'B console.logs the server\'s msg answer');
    assert.deepEqual(a.logs, ['你好浏览器'], 'A logs nothing for B\'s msg');

    // B connected after A's upgrade: A heard of it on the WebSocket, as `enter`, with the
    // nickname `undefined` (the page connects without a username query). A's own `enter`
    // usually came by polling, before the upgrade, but may come on the WebSocket too.
    const enter = `42${JSON.stringify(['enter', 'undefined comes in !!!'])}`;
    const enters = a.ws.received.filter((x) => x.startsWith('42["enter"'));
    assert.ok(enters.length === 1 || enters.length === 2, `A received enter for B: ${JSON.stringify(enters)}`);
    assert.ok(enters.every((x) => x === enter), `A's enter frames: ${JSON.stringify(enters)}`);
    for (const p of [a, b]) {
      assert.equal(p.ws.closed, false, `${p.name}'s WebSocket is still open`);
      assert.deepEqual(p.errors.map(String), [], `${p.name}: page errors`);
    }
  } finally {
    await a?.context.close();
    await b?.context.close();
  }
});

test('P6 seed page (Socket.IO chat room) works against the P6 example', { skip: SKIP_P6, timeout: 60_000 }, async () => {
  const base = process.env.P6_URL.replace(/\/+$/, '');
  const opts = {
    page: pagePath('p6'),
    body: (html) =>
      html.replace('https://cdnjs.cloudflare.com/ajax/libs/socket.io/2.0.3/socket.io.js', '/socket.io/socket.io.js'),
    socket: 'soc',
    mapSeedOrigin: true,
  };
  // The page's showMessage: one <div> per event in #chatBox, coloured by kind.
  const divs = (p) =>
    p.page.evaluate(() => [...document.querySelectorAll('#chatBox > div')].map((d) => [d.textContent, d.style.color]));
  const texts = async (p) => (await divs(p)).map(([t]) => t);
  async function waitDivs(p, want, what) {
    try {
      await p.page.waitForFunction((n) => document.querySelectorAll('#chatBox > div').length >= n, want.length, WAIT);
    } catch {
      assert.fail(`${what}: timed out; #chatBox shows ${JSON.stringify(await texts(p))}, want ${JSON.stringify(want)}`);
    }
    assert.deepEqual(await texts(p), want, what);
  }
  const nameIn = async (p) => {
    await p.page.waitForFunction(() => document.querySelectorAll('#chatBox > div').length >= 1, null, WAIT);
    const [first] = await texts(p);
    const m = /^(user(\d+)) comes in !!!$/.exec(first);
    assert.ok(m, `${p.name}: its first line announces itself, got ${JSON.stringify(first)}`);
    return [m[1], Number(m[2])];
  };
  let a;
  let b;
  try {
    a = await openChat(base, 'A', opts);
    const [userA, nA] = await nameIn(a);
    b = await openChat(base, 'B', opts);
    const [userB, nB] = await nameIn(b);
    assert.ok(nB > nA, `B's number (${nB}) follows A's (${nA})`);
    const enterA = `${userA} comes in !!!`;
    const enterB = `${userB} comes in !!!`;
    await waitDivs(a, [enterA, enterB], "B's arrival shows in A");
    await waitDivs(b, [enterB], 'B shows only its own arrival');

    // Plain text (the page shows it with textContent; the seed used innerHTML).
    const fromA = `你好 from A héllo ✓ ${randomBytes(3).toString('hex')}`;
    await a.page.fill('#lmz_sendText', fromA);
    await a.page.click('#lmz_sendBtn');
    assert.equal(await a.page.inputValue('#lmz_sendText'), '', 'the page clears its input after sending');
    await waitDivs(b, [enterB, `${userA}: ${fromA}`], "B shows A's message");
    await waitDivs(a, [enterA, enterB, `${userA}: ${fromA}`], 'A shows its own message (io.emit)');

    const fromB = `🎵 from B ${randomBytes(3).toString('hex')}`;
    await b.page.fill('#lmz_sendText', fromB);
    await b.page.click('#lmz_sendBtn');
    await waitDivs(a, [enterA, enterB, `${userA}: ${fromA}`, `${userB}: ${fromB}`], "A shows B's message");
    await waitDivs(b, [enterB, `${userA}: ${fromA}`, `${userB}: ${fromB}`], 'B shows its own message');
    await settle();
    assert.deepEqual(
      (await divs(b)).map(([, c]) => c),
      ['palevioletred', 'black', 'black'],
      'B colours arrivals and messages as the page does',
    );
    // Markup someone sends is shown as text (the seed's innerHTML ran it in every page).
    const attack = '<img src=x onerror="window.__pwned = 1"><b>bold</b>';
    await a.page.fill('#lmz_sendText', attack);
    await a.page.click('#lmz_sendBtn');
    await waitDivs(b, [enterB, `${userA}: ${fromA}`, `${userB}: ${fromB}`, `${userA}: ${attack}`], 'B shows the markup as text');
    await settle();
    for (const p of [a, b]) {
      assert.equal(await p.page.evaluate(() => window.__pwned), undefined, `${p.name}: no script ran`);
      assert.equal(await p.page.locator('#chatBox img, #chatBox b').count(), 0, `${p.name}: no element made`);
    }

    for (const p of [a, b]) {
      assert.equal(p.ws.closed, false, `${p.name}'s WebSocket is still open`);
      assert.deepEqual(p.errors.map(String), [], `${p.name}: page errors`);
    }

    // B leaves: A shows it.
    await b.context.close();
    b = undefined;
    const left = [enterA, enterB, `${userA}: ${fromA}`, `${userB}: ${fromB}`, `${userA}: ${attack}`, `${userB} leaves.`];
    await waitDivs(a, left, "B's departure shows in A");
    assert.equal((await divs(a)).at(-1)[1], 'cadetblue', 'a departure in the page\'s leave colour');
  } finally {
    await a?.context.close();
    await b?.context.close();
  }
});
