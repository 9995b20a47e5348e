// Soak: clients connect, chat and churn against a running chorus for a bounded time, in
// rounds; after each round every client is gone and the server should be back where it
// started: no open connections, sessions, clients or rooms left in its gauges, the same
// number of open file descriptors, and a resident size that stops growing from one round to
// the next (the allocator keeps some memory after the first round; a leak keeps adding).
//
//   node scripts/soak.mjs --url http://127.0.0.1:3000 --pid PID [--rounds 5] [--seconds 15]
//        [--clients 300] [--settle-ms 6000]
//
// scripts/soak.sh builds and starts the server and runs this. Clients are a mix of the
// three protocols: raw rooms, the native /ws protocol (joins, acknowledged emits, history),
// and socket.io-client (websocket and polling, the built-in join/to events). Each lives a
// random 0.3-4 s, sends every 20-200 ms, and ends one of four ways: a clean close, a dropped
// TCP connection (no close frame), a connection that stops reading while messages keep
// coming (the server must drop it as a slow consumer or by heartbeat), or a client that
// goes silent (the heartbeat must reap it).
//
// Exits 1 if anything is left behind, with the figures.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'e2e', 'package.json'));
const WebSocket = require('ws');
const { io } = require('socket.io-client');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const base = args.url ?? 'http://127.0.0.1:3000';
const pid = Number(args.pid);
const rounds = Number(args.rounds ?? 5);
const seconds = Number(args.seconds ?? 15);
const target = Number(args.clients ?? 300);
const settleMs = Number(args['settle-ms'] ?? 6000);
if (!pid) {
  console.error('soak: --pid of the server is required');
  process.exit(2);
}
const wsBase = base.replace(/^http/, 'ws');

const rand = (lo, hi) => lo + Math.random() * (hi - lo);
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssKiB() {
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
}
function fds() {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}
async function gauges() {
  const text = await (await fetch(`${base}/metrics`)).text();
  const sum = (name) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  return {
    connections: sum('chorus_connections_open'),
    sessions: sum('chorus_engineio_sessions'),
    clients: sum('chorus_clients'),
    rooms: sum('chorus_rooms'),
  };
}

const stats = { started: 0, messages: 0, received: 0, errors: 0, ends: {} };
const live = new Set();

const ENDINGS = ['close', 'close', 'close', 'drop', 'stall', 'silent'];

/// One client's life: connect, chat, end as `ending` says.
function client() {
  const kind = pick(['raw', 'native', 'native', 'socketio-ws', 'socketio-polling']);
  const room = `soak-${Math.floor(Math.random() * 20)}`;
  const life = rand(300, 4000);
  const ending = pick(ENDINGS);
  stats.started++;
  stats.ends[ending] = (stats.ends[ending] ?? 0) + 1;
  const handle = { done: null };
  live.add(handle);
  const finished = () => live.delete(handle);

  if (kind.startsWith('socketio')) {
    const socket = io(base, {
      transports: kind === 'socketio-ws' ? ['websocket'] : ['polling'],
      reconnection: false,
      forceNew: true,
    });
    let timer;
    socket.on('connect', () => {
      socket.emit('join', room);
      timer = setInterval(() => {
        stats.messages++;
        socket.emit('to', room, 'chat', { text: 'x'.repeat(Math.floor(rand(1, 400))) });
      }, rand(20, 200));
    });
    socket.onAny(() => stats.received++);
    socket.on('connect_error', () => stats.errors++);
    socket.on('disconnect', () => clearInterval(timer));
    setTimeout(() => {
      clearInterval(timer);
      const engine = socket.io.engine;
      if (ending === 'drop' || ending === 'silent') {
        // The underlying transport just goes away (no Socket.IO or Engine.IO close).
        const ws = engine?.transport?.ws;
        if (ws?._socket) ws._socket.destroy();
        else engine?.transport?.pollXhr?.abort?.();
      }
      socket.close();
      finished();
    }, life);
    return;
  }

  const url = kind === 'raw' ? `${wsBase}/${room}` : `${wsBase}/ws?name=soak`;
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let timer;
  let rid = 0;
  ws.on('open', () => {
    if (kind === 'native') ws.send(JSON.stringify({ type: 'join', rid: ++rid, room }));
    timer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      stats.messages++;
      const text = 'y'.repeat(Math.floor(rand(1, 400)));
      if (kind === 'raw') ws.send(text);
      else if (Math.random() < 0.05) ws.send(JSON.stringify({ type: 'history', rid: ++rid, room, limit: 20 }));
      else ws.send(JSON.stringify({ type: 'emit', rid: ++rid, event: 'chat', data: { text }, to: { room } }));
    }, rand(20, 200));
  });
  ws.on('message', () => stats.received++);
  ws.on('error', () => stats.errors++);
  ws.on('close', () => clearInterval(timer));
  setTimeout(() => {
    switch (ending) {
      case 'close':
        clearInterval(timer);
        ws.close(1000);
        break;
      case 'drop':
        clearInterval(timer);
        ws._socket?.destroy();
        break;
      case 'stall':
        // Stops reading but stays connected; the room keeps talking to it.
        ws._socket?.pause();
        break;
      case 'silent':
        // Stops reading and answering pings: TCP stays up, the server must reap it.
        clearInterval(timer);
        ws._socket?.pause();
        break;
    }
    // Whatever the server has not reaped by the end of the round is dropped then.
    handle.done = () => ws._socket?.destroy();
    finished();
    stalled.add(handle);
  }, life);
}
const stalled = new Set();

async function round(n) {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    while (live.size < target) client();
    await sleep(50);
  }
  // Let the last lives run out, then cut whatever is still stalled.
  await sleep(4100);
  for (const h of stalled) h.done?.();
  stalled.clear();
  await sleep(settleMs);
  const g = await gauges();
  return { round: n, ...g, rss_kib: rssKiB(), fds: fds() };
}

// The gauges first: the metrics request's own keep-alive connection is then part of the
// baseline (one open connection, one descriptor), as it is of every later reading.
const baseline = { round: 0, ...(await gauges()) };
Object.assign(baseline, { rss_kib: rssKiB(), fds: fds() });
console.log(JSON.stringify(baseline));
const results = [baseline];
for (let n = 1; n <= rounds; n++) {
  const r = await round(n);
  console.log(JSON.stringify({ ...r, clients_started: stats.started, messages: stats.messages, received: stats.received }));
  results.push(r);
}
console.log(`endings: ${JSON.stringify(stats.ends)}, connect errors: ${stats.errors}`);

const problems = [];
const last = results[results.length - 1];
for (const key of ['connections', 'sessions', 'clients', 'rooms']) {
  if (last[key] !== baseline[key]) problems.push(`${key}: ${baseline[key]} before, ${last[key]} after`);
}
if (last.fds > baseline.fds) problems.push(`open fds ${baseline.fds} -> ${last.fds}`);
if (rounds >= 3) {
  // From the second round on the resident size must stop climbing (10% + 2 MiB of slack
  // for the allocator's arenas and the history store's cache).
  const second = results[2].rss_kib;
  if (last.rss_kib > second * 1.1 + 2048) problems.push(`RSS kept growing: ${second} KiB after round 2, ${last.rss_kib} KiB after round ${rounds}`);
}
console.log(
  `soak: baseline RSS ${baseline.rss_kib} KiB, fds ${baseline.fds}; after ${rounds} rounds RSS ${last.rss_kib} KiB, fds ${last.fds}; ${stats.started} clients, ${stats.messages} messages sent, ${stats.received} received`,
);
if (problems.length) {
  console.log(`soak: FAILED: ${problems.join('; ')}`);
  process.exit(1);
}
console.log('soak: OK (nothing left behind)');
process.exit(0);
