#!/usr/bin/env node
// Smoke test for the benchmark peers (and anything else speaking the same protocols).
//
//   node bench/peers/smoke.mjs --raw ws://127.0.0.1:9001
//   node bench/peers/smoke.mjs --socketio http://127.0.0.1:9001
//   node bench/peers/smoke.mjs --raw ws://127.0.0.1:9001 --conns 5000   # + N idle connections
//
// Raw protocol: two clients in room /a, one in /b; a message from the first reaches both /a
// clients (sender included) and not /b; text stays text, binary stays binary; a 1 MiB message
// passes; after a member leaves, the room still works.
// Socket.IO protocol: three clients, two join `r` (acks { room }); `to` from one member reaches
// only the other member (ack { delivered: 1 }), with several arguments, binary and a 1 MiB
// payload; one client uses the default transports (polling, then upgrade).
// --conns N: first opens N idle connections (raw: to /idle-<i%100>; Socket.IO: websocket
// clients that join nothing), keeps them open while the checks above run, then checks they
// are all still open. Run `ulimit -n 20000` (or more) first, in the shell that starts both
// the peer and this script.
//
// Exits 0 when every check passed, 1 otherwise. Uses `ws` and `socket.io-client` from
// bench/peers/node/node_modules (run bench/peers/install.sh first).
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

const require = createRequire(new URL('./node/package.json', import.meta.url));
const WebSocket = require('ws');
const { io } = require('socket.io-client');

const MiB = 1024 * 1024;
const TIMEOUT_MS = Number(process.env.SMOKE_TIMEOUT_MS || 5000);
const QUIET_MS = 300; // how long "nothing arrives" is watched for

function parseArgs(argv) {
  const opts = { raw: null, socketio: null, conns: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--raw') opts.raw = next();
    else if (a === '--socketio') opts.socketio = next();
    else if (a === '--conns') opts.conns = Number(next());
    else if (a === '-h' || a === '--help') {
      console.log('usage: smoke.mjs (--raw ws://HOST:PORT | --socketio http://HOST:PORT) [--conns N]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.raw && !opts.socketio) throw new Error('give --raw URL and/or --socketio URL');
  if (!Number.isInteger(opts.conns) || opts.conns < 0) throw new Error('--conns must be a non-negative integer');
  return opts;
}

let passed = 0;
let failed = 0;
function check(cond, what) {
  if (cond) {
    passed++;
    console.log(`  ok    ${what}`);
  } else {
    failed++;
    console.log(`  FAIL  ${what}`);
  }
  return cond;
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// Runs `fn` with at most `limit` calls in flight.
async function pool(n, limit, fn) {
  let next = 0;
  const out = new Array(n);
  async function worker() {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return out;
}

// ---------------------------------------------------------------- raw WebSocket

class RawClient {
  constructor(url) {
    this.url = url;
    this.inbox = [];
    this.waiters = [];
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 4 * MiB });
    this.ws.on('message', (data, isBinary) => {
      const m = { data: Buffer.from(data), isBinary };
      const w = this.waiters.shift();
      if (w) w(m);
      else this.inbox.push(m);
    });
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => this.ws.once('close', resolve));
  }
  next(ms = TIMEOUT_MS) {
    if (this.inbox.length) return Promise.resolve(this.inbox.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), ms, `message on ${this.url}`).catch(
      (e) => {
        this.waiters.shift();
        throw e;
      },
    );
  }
  async nothingWithin(ms = QUIET_MS) {
    await sleep(ms);
    return this.inbox.length === 0;
  }
  send(data, binary) {
    this.ws.send(data, { binary });
  }
  async close() {
    this.ws.close(1000);
    await withTimeout(this.closed, TIMEOUT_MS, 'close').catch(() => this.ws.terminate());
  }
}

async function expectMsg(client, wantData, wantBinary, what) {
  try {
    const m = await client.next();
    check(m.isBinary === wantBinary && m.data.equals(wantData), what);
  } catch (e) {
    check(false, `${what} (${e.message})`);
  }
}

async function rawChecks(base) {
  const url = (p) => base.replace(/\/+$/, '') + p;
  const a1 = new RawClient(url('/a'));
  const a2 = new RawClient(url('/a'));
  const b1 = new RawClient(url('/b'));
  await withTimeout(Promise.all([a1.opened, a2.opened, b1.opened]), TIMEOUT_MS, 'raw connect');
  check(true, 'three clients connected (/a, /a, /b)');
  await sleep(100); // let the server finish registering the joins

  const text = Buffer.from(`hello ${Date.now()} ✓`);
  a1.send(text.toString(), false);
  await expectMsg(a1, text, false, 'text from a1 echoes back to the sender (a1), as text');
  await expectMsg(a2, text, false, 'text from a1 reaches a2, as text');
  check(await b1.nothingWithin(), 'text from a1 does not reach /b');

  const bin = Buffer.from([0, 1, 2, 3, 254, 255, 0x7b, 0x7d]);
  a2.send(bin, true);
  await expectMsg(a1, bin, true, 'binary from a2 reaches a1, as binary');
  await expectMsg(a2, bin, true, 'binary from a2 echoes back to a2, as binary');
  check(await b1.nothingWithin(), 'binary from a2 does not reach /b');

  const bText = Buffer.from('only b');
  b1.send(bText.toString(), false);
  await expectMsg(b1, bText, false, 'text from b1 echoes back to b1');
  check(await a1.nothingWithin(QUIET_MS / 2), 'text from b1 does not reach a1');
  check(await a2.nothingWithin(QUIET_MS / 2), 'text from b1 does not reach a2');

  const big = Buffer.alloc(MiB);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  a1.send(big, true);
  await expectMsg(a1, big, true, '1 MiB binary message echoes back to a1');
  await expectMsg(a2, big, true, '1 MiB binary message reaches a2');

  await a2.close();
  await sleep(100);
  const after = Buffer.from('after a2 left');
  a1.send(after.toString(), false);
  await expectMsg(a1, after, false, 'room still works after a member left (sender gets it)');
  check(a1.ws.readyState === WebSocket.OPEN, 'a1 still open');

  await Promise.all([a1.close(), b1.close()]);
}

async function rawIdle(base, n) {
  const url = (p) => base.replace(/\/+$/, '') + p;
  const t0 = Date.now();
  const clients = [];
  const errors = [];
  await pool(n, 200, async (i) => {
    const c = new RawClient(url(`/idle-${i % 100}`));
    clients.push(c);
    try {
      await withTimeout(c.opened, 30000, 'idle connect');
    } catch (e) {
      errors.push(e.message);
    }
  });
  check(errors.length === 0, `${n} idle raw connections opened in ${Date.now() - t0} ms` +
    (errors.length ? ` (${errors.length} failed, first: ${errors[0]})` : ''));
  return {
    async finish() {
      const open = clients.filter((c) => c.ws.readyState === WebSocket.OPEN).length;
      check(open === n, `${open}/${n} idle raw connections still open after the checks`);
      for (const c of clients) c.ws.terminate();
    },
  };
}

// ---------------------------------------------------------------- Socket.IO

function sioClient(base, transports) {
  const s = io(base, {
    path: '/socket.io/',
    transports,
    forceNew: true,
    reconnection: false,
    timeout: TIMEOUT_MS,
  });
  s.inbox = [];
  s.onAny((event, ...args) => s.inbox.push({ event, args }));
  s.connected_ = new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('connect_error', reject);
  });
  return s;
}

async function nextEvent(s, ms = TIMEOUT_MS) {
  const t0 = Date.now();
  while (s.inbox.length === 0) {
    if (Date.now() - t0 > ms) throw new Error(`no event within ${ms} ms`);
    await sleep(5);
  }
  return s.inbox.shift();
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function socketioChecks(base) {
  const s1 = sioClient(base, ['websocket']);
  const s2 = sioClient(base, ['websocket']);
  const s3 = sioClient(base, ['polling', 'websocket']); // default: polling, then upgrade
  await withTimeout(Promise.all([s1.connected_, s2.connected_, s3.connected_]), TIMEOUT_MS, 'socket.io connect');
  check(true, 'three clients connected (two websocket-only, one polling+upgrade)');

  const j1 = await s1.timeout(TIMEOUT_MS).emitWithAck('join', 'r').catch((e) => ({ error: e.message }));
  check(same(j1, { room: 'r' }), `join ack for s1 is { room: 'r' } (got ${JSON.stringify(j1)})`);
  const j2 = await s2.timeout(TIMEOUT_MS).emitWithAck('join', 'r').catch((e) => ({ error: e.message }));
  check(same(j2, { room: 'r' }), `join ack for s2 is { room: 'r' } (got ${JSON.stringify(j2)})`);
  s3.emit('join', 'other'); // no ack requested
  await sleep(100);

  const payload = { x: 1, s: 'héllo', arr: [1, 2, 3], nested: { ok: true } };
  const d1 = await s1.timeout(TIMEOUT_MS).emitWithAck('to', 'r', 'msg', payload, 'two', 3)
    .catch((e) => ({ error: e.message }));
  check(same(d1, { delivered: 1 }), `to-ack from s1 is { delivered: 1 } (got ${JSON.stringify(d1)})`);
  try {
    const e = await nextEvent(s2);
    check(e.event === 'msg' && same(e.args, [payload, 'two', 3]),
      `s2 received 'msg' with all three arguments (got ${JSON.stringify(e).slice(0, 200)})`);
  } catch (err) {
    check(false, `s2 received 'msg' (${err.message})`);
  }
  await sleep(QUIET_MS);
  check(s1.inbox.length === 0, 'sender s1 did not receive its own `to` (socket.to excludes the sender)');
  check(s3.inbox.length === 0, 's3 (not in r) received nothing');

  // binary argument, no ack requested
  const bin = Buffer.from([0, 1, 2, 250, 255]);
  s2.emit('to', 'r', 'bin', bin);
  try {
    const e = await nextEvent(s1);
    const got = e.args[0];
    const asBuf = got instanceof ArrayBuffer ? Buffer.from(got) : Buffer.isBuffer(got) ? got : null;
    check(e.event === 'bin' && asBuf !== null && asBuf.equals(bin),
      `s1 received 'bin' with a binary argument equal to what s2 sent (got ${asBuf ? 'binary' : typeof got})`);
  } catch (err) {
    check(false, `s1 received 'bin' (${err.message})`);
  }
  await sleep(QUIET_MS);
  check(s2.inbox.length === 0 && s3.inbox.length === 0, 'nobody else received the binary event');

  // 1 MiB string payload
  const big = 'x'.repeat(MiB);
  const d2 = await s2.timeout(TIMEOUT_MS).emitWithAck('to', 'r', 'big', big).catch((e) => ({ error: e.message }));
  check(same(d2, { delivered: 1 }), `to-ack for a 1 MiB payload is { delivered: 1 } (got ${JSON.stringify(d2)})`);
  try {
    const e = await nextEvent(s1);
    check(e.event === 'big' && e.args[0] === big, 's1 received the 1 MiB payload intact');
  } catch (err) {
    check(false, `s1 received the 1 MiB payload (${err.message})`);
  }

  // to a room the sender is not in: delivered counts all its members
  const d3 = await s3.timeout(TIMEOUT_MS).emitWithAck('to', 'r', 'from3', 'hi').catch((e) => ({ error: e.message }));
  check(same(d3, { delivered: 2 }), `to-ack from a non-member is { delivered: 2 } (got ${JSON.stringify(d3)})`);
  try {
    const [e1, e2] = await Promise.all([nextEvent(s1), nextEvent(s2)]);
    check(e1.event === 'from3' && e2.event === 'from3', 'both members of r received it from the non-member');
  } catch (err) {
    check(false, `both members received it from the non-member (${err.message})`);
  }

  // after s2 leaves, delivered drops to 0
  s2.disconnect();
  await sleep(200);
  const d4 = await s1.timeout(TIMEOUT_MS).emitWithAck('to', 'r', 'alone', 1).catch((e) => ({ error: e.message }));
  check(same(d4, { delivered: 0 }), `after s2 disconnected, to-ack is { delivered: 0 } (got ${JSON.stringify(d4)})`);
  check(s3.io.engine.transport.name === 'websocket', `polling client upgraded to websocket (transport ${s3.io.engine.transport.name})`);

  s1.disconnect();
  s3.disconnect();
}

async function socketioIdle(base, n) {
  const t0 = Date.now();
  const clients = [];
  const errors = [];
  await pool(n, 200, async () => {
    const s = sioClient(base, ['websocket']);
    clients.push(s);
    try {
      await withTimeout(s.connected_, 30000, 'idle connect');
    } catch (e) {
      errors.push(e.message);
    }
  });
  check(errors.length === 0, `${n} idle Socket.IO connections opened in ${Date.now() - t0} ms` +
    (errors.length ? ` (${errors.length} failed, first: ${errors[0]})` : ''));
  return {
    async finish() {
      const open = clients.filter((s) => s.connected).length;
      check(open === n, `${open}/${n} idle Socket.IO connections still connected after the checks`);
      for (const s of clients) s.disconnect();
    },
  };
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.raw) {
    console.log(`raw: ${opts.raw}`);
    const idle = opts.conns ? await rawIdle(opts.raw, opts.conns) : null;
    try {
      await rawChecks(opts.raw);
    } catch (e) {
      check(false, `raw checks aborted: ${e.message}`);
    }
    if (idle) {
      await sleep(1000);
      await idle.finish();
    }
  }
  if (opts.socketio) {
    console.log(`socket.io: ${opts.socketio}`);
    const idle = opts.conns ? await socketioIdle(opts.socketio, opts.conns) : null;
    try {
      await socketioChecks(opts.socketio);
    } catch (e) {
      check(false, `socket.io checks aborted: ${e.message}`);
    }
    if (idle) {
      await sleep(1000);
      await idle.finish();
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
