// The official Socket.IO admin UI's own page (the npm package @socket.io/admin-ui's
// ui/dist, served here as static files) in headless Chromium against a `chorus serve`
// started with --admin-ui-password: it logs in, shows chorus's namespaces, rooms and
// sockets, and its disconnect button reaches the socket. Saves e2e/screenshots/admin-ui.png.
//
// Starts its own chorus from target/debug/chorus; skipped without it or without the
// package.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { freePort, haveChorus, startChorus, withTimeout } from '../chorus-process.mjs';
import { launchChromium } from './chromium.mjs';

const UI = fileURLToPath(new URL('../node_modules/@socket.io/admin-ui/ui/dist/', import.meta.url));
const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
const WAIT = { timeout: 10_000 };
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png' };

const cleanups = [];
after(async () => { for (const f of cleanups.reverse()) await f(); });

/** The UI's static files on a free port. */
async function serveUi() {
  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    try {
      const body = await readFile(join(UI, path === '/' ? 'index.html' : path.replace(/^\/+/, '')));
      res.writeHead(200, { 'content-type': TYPES[extname(path) || '.html'] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${server.address().port}`;
}

test("the admin UI's page shows chorus's namespaces, rooms and sockets, and disconnects one", async (t) => {
  if (!haveChorus()) return t.skip('no chorus binary');
  if (!existsSync(join(UI, 'index.html'))) return t.skip('no @socket.io/admin-ui in e2e/node_modules');
  const uiUrl = await serveUi();
  const port = await freePort();
  const chorus = await startChorus(port, ['--store', 'none', '--chat-page', 'false',
    '--admin-ui-password', 'a long passphrase', '--allowed-origins', uiUrl]);
  cleanups.push(() => chorus.kill('SIGKILL'));
  const serverUrl = `http://127.0.0.1:${port}`;

  // An application's client, in a room.
  const app = io(serverUrl, { transports: ['websocket'], reconnection: false });
  cleanups.push(() => app.close());
  await withTimeout(new Promise((resolve) => app.once('connect', resolve)), 'app connect', 10_000);
  assert.equal((await app.timeout(10_000).emitWithAck('join', 'lobby')).room, 'lobby');
  const appId = app.id;

  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  await page.goto(`${uiUrl}/`);
  await page.getByLabel('Server URL').fill(serverUrl);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('a long passphrase');
  await page.getByRole('button', { name: 'Connect' }).click();

  // The dashboard's namespaces: chorus's `/` and the UI's own `/admin`.
  await page.locator('tr', { hasText: '/admin' }).first().waitFor(WAIT);
  const slash = page.locator('tr').filter({ has: page.locator('td code', { hasText: /^\/$/ }) });
  await slash.first().waitFor(WAIT);
  assert.match(await slash.first().innerText(), /\b1\b/, 'one socket in /');
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'admin-ui.png') });

  // The rooms page lists the room the client joined.
  await page.goto(`${uiUrl}/#/rooms`);
  await page.locator('tr', { hasText: 'lobby' }).first().waitFor(WAIT);

  // The socket's page; its status row's button disconnects it.
  await page.goto(`${uiUrl}/#/sockets`);
  await page.getByText(appId).first().click();
  await page.locator('tr', { hasText: '127.0.0.1' }).first().waitFor(WAIT);
  const gone = new Promise((resolve) => app.once('disconnect', resolve));
  await page.locator('tr', { hasText: 'Status' }).first().locator('button').click();
  const reason = await withTimeout(gone, 'disconnected from the UI', 10_000);
  assert.equal(reason, 'io server disconnect');
  assert.deepEqual(errors, [], 'no page errors');
});
