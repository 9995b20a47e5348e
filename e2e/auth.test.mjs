// JWT authentication from outside clients: the official `socket.io-client` with `auth.token`,
// a Node `ws` client with `?token=`, and chorus.js (the browser client, run here on `ws`)
// refreshing its token before it expires. Tokens are made with Node's own crypto (HS256),
// as docs/auth.md shows.
//
// Starts its own `chorus serve` (tokens required) from target/debug/chorus, which
// scripts/test.sh builds first; set CHORUS_BIN to use another binary. Skipped if none.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { runInThisContext } from 'node:vm';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { BIN, freePort, haveChorus, startChorus, stopChorus, withTimeout as within } from './chorus-process.mjs';

const SECRET = 'e2e-secret-0123456789abcdef0123456789';
const WAIT_MS = 5000;

/** An HS256 JWT, made the way docs/auth.md shows. */
function token(claims) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

const withTimeout = (promise, what, ms = WAIT_MS) => within(promise, what, ms);

let server = null;
let base = null;

before(async () => {
  if (!haveChorus()) return;
  const port = await freePort();
  server = await startChorus(port, ['--store', 'memory', '--anonymous', 'false', '--jwt-leeway-secs', '0'],
    { CHORUS_JWT_SECRET: SECRET });
  base = `http://127.0.0.1:${port}`;
});

after(() => server && stopChorus(server));

const sockets = [];
function sio(opts) {
  const socket = io(base, { reconnection: false, timeout: WAIT_MS, ...opts });
  sockets.push(socket);
  return socket;
}
after(() => sockets.forEach((s) => s.close()));

function connectResult(socket) {
  return withTimeout(new Promise((resolve) => {
    socket.once('connect', () => resolve({ ok: true }));
    socket.once('connect_error', (err) => resolve({ ok: false, message: err.message, data: err.data }));
  }), 'connect or connect_error');
}

test('socket.io-client: auth.token good, bad and missing, over WebSocket and long-polling', async (t) => {
  if (!base) return t.skip(`no chorus binary at ${BIN}`);
  for (const transports of [['websocket'], ['polling']]) {
    const good = sio({ transports, auth: { token: token({ sub: 'sio', name: 'Sia', join: ['chat:*'] }) } });
    assert.deepEqual(await connectResult(good), { ok: true }, transports[0]);
    const room = `chat:e2e-${transports[0]}`;
    const joined = await good.timeout(WAIT_MS).emitWithAck('join', room);
    assert.equal(joined.room, room);
    assert.deepEqual(joined.members.map((m) => m.name), ['Sia']);
    const refused = await good.timeout(WAIT_MS).emitWithAck('join', 'lobby');
    assert.equal(refused.error.code, 'forbidden');
    good.close();

    const bad = sio({ transports, auth: { token: token({ sub: 'sio' }).slice(0, -2) + 'xx' } });
    const badResult = await connectResult(bad);
    assert.equal(badResult.message, 'invalid token');
    assert.equal(badResult.data.error, 'invalid_token');

    const missing = sio({ transports });
    const missingResult = await connectResult(missing);
    assert.equal(missingResult.message, 'token required');
    assert.equal(missingResult.data.error, 'invalid_token');
  }
});

test('socket.io-client: the server disconnects a socket whose token expires', async (t) => {
  if (!base) return t.skip(`no chorus binary at ${BIN}`);
  const socket = sio({ transports: ['websocket'], auth: { token: token({ sub: 'brief', exp: now() + 2 }) } });
  assert.deepEqual(await connectResult(socket), { ok: true });
  const reason = await withTimeout(new Promise((r) => socket.once('disconnect', r)), 'disconnect at exp');
  assert.equal(reason, 'io server disconnect');
});

test('ws: ?token= names the connection; a bad token gets 401 before the upgrade', async (t) => {
  if (!base) return t.skip(`no chorus binary at ${BIN}`);
  const wsBase = base.replace(/^http/, 'ws');
  const ws = new WebSocket(`${wsBase}/ws?token=${token({ sub: 'u1', name: 'Nora' })}`);
  const hello = await withTimeout(new Promise((r) => ws.once('message', (m) => r(JSON.parse(m)))), 'hello');
  assert.equal(hello.name, 'Nora');
  ws.close();

  const refused = new WebSocket(`${wsBase}/ws?token=${token({ sub: 'u1', exp: now() - 60 })}`);
  const response = await withTimeout(new Promise((resolve) => {
    refused.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, auth: res.headers['www-authenticate'], body }));
    });
  }), '401');
  refused.on('error', () => {});
  assert.equal(response.status, 401);
  assert.match(response.auth, /^Bearer .*error="invalid_token"/);
  assert.equal(JSON.parse(response.body).error, 'invalid_token');
});

test('chorus.js: a token function is refreshed in-band before it expires; a fixed token that expires stops the client', async (t) => {
  if (!base) return t.skip(`no chorus binary at ${BIN}`);
  globalThis.WebSocket ??= WebSocket;
  runInThisContext(await (await fetch(`${base}/chorus.js`)).text());
  const url = `${base.replace(/^http/, 'ws')}/ws`;

  let issued = 0;
  const c = globalThis.Chorus.connect(url, {
    timeout: WAIT_MS,
    token: async () => { issued += 1; return token({ sub: 'js', name: `JS${issued}`, exp: now() + 2 }); },
  });
  const drops = [];
  c.on('disconnect', (info) => drops.push(info));
  const hello = await withTimeout(new Promise((r) => c.on('connect', r)), 'connect');
  assert.equal(hello.name, 'JS1');
  // Past the first token's exp (and then some): refreshed, never dropped.
  await new Promise((r) => setTimeout(r, 3500));
  assert.deepEqual(await c.ping(), {});
  assert.ok(issued >= 2, `the function gave ${issued} tokens`);
  assert.deepEqual(drops, []);
  c.close();

  const fixed = globalThis.Chorus.connect(url, { token: token({ sub: 'js2', exp: now() + 2 }) });
  const closed = await withTimeout(new Promise((r) => fixed.on('disconnect', r)), 'close at exp');
  assert.equal(closed.code, 3000);
  assert.equal(closed.reason, 'token expired');
  assert.equal(fixed.readyState, 3, 'no reconnect with an expired token');
});
