// Three `chorus serve` nodes on one Redis (history there: --store redis), behind nginx
// doing plain round robin — no ip_hash, no sticky sessions — with the official clients:
// socket.io-client over WebSocket, over long-polling and over polling upgraded to
// WebSocket, and a native `/ws` client, all in one room across the nodes, and plain
// WebSocket clients in a raw room. Then one node is
// killed with SIGKILL in mid-traffic: its clients reconnect through nginx to the others and
// recover every acknowledged message, none twice. And Redis itself stopped (SIGSTOP, then
// SIGCONT) and killed: the nodes wait, reconnect, subscribe again and go on.
//
// Needs target/debug/chorus (scripts/test.sh builds it), redis-server and nginx (it
// installs them); skipped when one is missing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { BIN, freePort, haveChorus, startChorus, stopChorus, withTimeout } from './chorus-process.mjs';
import { NGINX, REDIS, startNginx, startRedis } from './cluster-process.mjs';

const WAIT_MS = 15000;
const running = [];
after(async () => { for (const stop of running) await stop(); });

const missing = !haveChorus() ? `no chorus binary at ${BIN}`
  : !REDIS ? 'no redis-server' : !NGINX ? 'no nginx' : null;

async function cluster(n) {
  const redis = await startRedis();
  running.push(() => redis.stop());
  return { redis, ...(await nodesOn(redis, n)) };
}

/** `n` nodes on `redis` behind a round-robin nginx. */
async function nodesOn(redis, n) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const port = await freePort();
    const child = await startChorus(port, ['--broker', redis.url, '--store', 'redis',
      '--chat-page', 'false', '--socketio-recovery-secs', '60']);
    running.push(() => child.kill('SIGKILL'));
    nodes.push({ port, child });
  }
  const nginx = await startNginx(nodes.map((node) => node.port));
  running.push(() => nginx.stop());
  // Each node hears the others (heartbeats every second) before clients come.
  await new Promise((r) => setTimeout(r, 1500));
  return { nodes, nginx };
}

/** A socket.io-client through nginx that records every `said` it gets. */
async function sioClient(url, transports, name) {
  const socket = io(url, {
    transports,
    upgrade: true,
    timeout: WAIT_MS,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    query: { name },
  });
  running.push(() => socket.close());
  socket.said = [];
  socket.drops = 0;
  socket.recoveries = 0;
  socket.on('said', (text) => socket.said.push(text));
  socket.on('disconnect', () => { socket.drops += 1; });
  socket.on('connect', () => { if (socket.recovered) socket.recoveries += 1; });
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), `${name} connects`, WAIT_MS);
  return socket;
}

/** A native `/ws` client through nginx: its events' data, and a request helper. */
async function nativeClient(url, name) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?name=${name}`);
  const client = { ws, said: [], replies: new Map(), rid: 0 };
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    if (msg.type === 'event' && msg.event === 'said') client.said.push(msg.data);
    if (msg.type === 'reply') client.replies.get(msg.rid)?.(msg);
  });
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
    `${name} connects`, WAIT_MS);
  client.request = (body) => {
    const rid = ++client.rid;
    const reply = new Promise((resolve) => client.replies.set(rid, resolve));
    ws.send(JSON.stringify({ ...body, rid }));
    return withTimeout(reply, `reply ${rid}`, WAIT_MS);
  };
  return client;
}

async function until(what, done, ms = WAIT_MS) {
  await withTimeout((async () => {
    while (!done()) await new Promise((r) => setTimeout(r, 20));
  })(), what, ms);
}

test('one room across three nodes behind round-robin nginx, every transport', async (t) => {
  if (missing) return t.skip(missing);
  const { nginx } = await cluster(3);
  const room = 'lobby';
  const clients = {
    websocket: await sioClient(nginx.url, ['websocket'], 'ws'),
    polling: await sioClient(nginx.url, ['polling'], 'poll'),
    upgrade: await sioClient(nginx.url, ['polling', 'websocket'], 'upgrade'),
  };
  for (const socket of Object.values(clients)) {
    await socket.timeout(WAIT_MS).emitWithAck('join', room);
  }
  const native = await nativeClient(nginx.url, 'native');
  assert.equal((await native.request({ type: 'join', room })).ok, true);
  // Polling with no stickiness: its requests land on every node, and are served.
  await until('the upgrading client upgrades', () => clients.upgrade.io.engine.transport.name === 'websocket');

  // Everyone says something to the room; everyone hears everyone else once.
  for (const [name, socket] of Object.entries(clients)) {
    const ack = await socket.timeout(WAIT_MS).emitWithAck('to', room, 'said', `from ${name}`);
    assert.equal(typeof ack.offset, 'number', JSON.stringify(ack));
  }
  const reply = await native.request({ type: 'emit', event: 'said', data: 'from native', to: { room } });
  assert.equal(reply.ok, true, JSON.stringify(reply));
  const everything = ['from websocket', 'from polling', 'from upgrade', 'from native'];
  for (const [name, socket] of Object.entries(clients)) {
    const expected = everything.filter((text) => text !== `from ${name}`);
    await until(`${name} hears the others`, () => socket.said.length >= expected.length);
    assert.deepEqual([...socket.said].sort(), [...expected].sort(), name);
  }
  await until('native hears everyone', () => native.said.length >= 4);
  assert.deepEqual([...native.said].sort(), [...everything].sort());
  Object.values(clients).forEach((socket) => socket.close());
  native.ws.close();

  // Plain WebSocket clients in a raw room (the seeds' pages): round robin puts them on
  // different nodes; each hears the other (and itself, as a raw room does).
  const raws = [];
  for (const name of ['raw1', 'raw2', 'raw3']) {
    const ws = new WebSocket(`${nginx.url.replace('http', 'ws')}/room/cluster-lobby`);
    ws.heard = [];
    ws.on('message', (data) => ws.heard.push(String(data)));
    await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
      `${name} connects`, WAIT_MS);
    raws.push(ws);
  }
  // Each is in the room once it hears its own probe.
  for (const [i, ws] of raws.entries()) {
    ws.send(`probe ${i}`);
    await until(`raw${i + 1} is in the room`, () => ws.heard.includes(`probe ${i}`));
  }
  raws.forEach((ws, i) => ws.send(`hello from raw${i + 1}`));
  for (const ws of raws) {
    await until('every raw client hears every other',
      () => [1, 2, 3].every((n) => ws.heard.includes(`hello from raw${n}`)));
  }
  raws.forEach((ws) => ws.close());
});

test('a node killed with SIGKILL in mid-traffic: its clients recover every acknowledged message once', async (t) => {
  if (missing) return t.skip(missing);
  const { nodes, nginx } = await cluster(3);
  const room = 'news';
  // Six listeners through nginx (round robin sends their requests to every node, their
  // sessions land where their handshakes did), and two straight on the node to be killed,
  // so that it surely holds some.
  const listeners = [];
  const victim = `http://127.0.0.1:${nodes[2].port}`;
  for (const [url, transports] of [[nginx.url, ['websocket']], [nginx.url, ['polling']],
    [nginx.url, ['polling', 'websocket']], [nginx.url, ['websocket']], [nginx.url, ['polling']],
    [nginx.url, ['polling', 'websocket']], [victim, ['websocket']], [victim, ['polling']]]) {
    // A client of the doomed node reconnects through nginx, as a browser behind it would.
    const socket = await sioClient(url, transports, `listener${listeners.length}`);
    if (url === victim) socket.io.uri = nginx.url;
    await socket.timeout(WAIT_MS).emitWithAck('join', room);
    listeners.push(socket);
  }
  // The publisher talks to a node that stays up, directly.
  const publisher = await sioClient(`http://127.0.0.1:${nodes[0].port}`, ['websocket'], 'publisher');
  await publisher.timeout(WAIT_MS).emitWithAck('join', room);

  const acked = [];
  const total = 150;
  for (let i = 0; i < total; i++) {
    if (i === 50) {
      // Mid-traffic: node 3 dies without a word.
      await stopChorus(nodes[2].child, 'SIGKILL');
    }
    try {
      const ack = await publisher.timeout(WAIT_MS).emitWithAck('to', room, 'said', `m${i}`);
      if (typeof ack.offset === 'number') acked.push(`m${i}`);
    } catch { /* not acknowledged: not promised */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(acked.length, total, 'the publisher\'s node stayed up: everything was acknowledged');
  for (const [i, socket] of listeners.entries()) {
    await until(`listener${i} has every acknowledged message (has ${socket.said.length})`,
      () => acked.every((text) => socket.said.includes(text)), 30000);
    const twice = socket.said.filter((text, k) => socket.said.indexOf(text) !== k);
    assert.deepEqual(twice, [], `listener${i} got nothing twice`);
    assert.deepEqual(socket.said.filter((text) => acked.includes(text)), acked,
      `listener${i} got them in order`);
  }
  const dropped = listeners.filter((socket) => socket.drops > 0);
  assert.ok(dropped.length >= 1, 'some listeners were on the killed node');
  for (const socket of dropped) {
    assert.ok(socket.recoveries >= 1, 'a dropped listener came back recovered');
  }
  listeners.forEach((socket) => socket.close());
  publisher.close();
});

test('Redis stopped for seconds, then killed and restarted: the nodes wait, reconnect and go on', async (t) => {
  if (missing) return t.skip(missing);
  let redis = await startRedis();
  let stopRedis = () => redis.stop();
  running.push(() => stopRedis());
  const { nodes } = await nodesOn(redis, 2);
  const room = 'weather';
  const publisher = await sioClient(`http://127.0.0.1:${nodes[0].port}`, ['websocket'], 'publisher');
  const listener = await sioClient(`http://127.0.0.1:${nodes[1].port}`, ['polling', 'websocket'], 'listener');
  for (const socket of [publisher, listener]) await socket.timeout(WAIT_MS).emitWithAck('join', room);
  const say = async (text) => {
    const ack = await publisher.timeout(WAIT_MS).emitWithAck('to', room, 'said', text);
    assert.equal(typeof ack.offset, 'number', JSON.stringify(ack));
  };
  await say('before');
  await until('the listener hears it', () => listener.said.includes('before'));

  // Frozen for 3 s (a stalled server, a network pause): publishes wait, then all go out.
  redis.child.kill('SIGSTOP');
  const frozen = ['during 1', 'during 2', 'during 3'].map((text) => say(text));
  await new Promise((r) => setTimeout(r, 3000));
  redis.child.kill('SIGCONT');
  await Promise.all(frozen);
  await until('the listener hears what was published while Redis was frozen',
    () => ['during 1', 'during 2', 'during 3'].every((text) => listener.said.includes(text)));

  // Killed, and a new one on the same port (nothing saved): the nodes reconnect by
  // themselves, subscribe again, and the room works across them.
  const port = redis.port;
  await redis.stop();
  redis = await startRedis(port);
  stopRedis = () => redis.stop();
  let delivered = false;
  for (let attempt = 0; attempt < 50 && !delivered; attempt++) {
    try {
      await say(`after ${attempt}`);
      await until('the listener hears it after the restart',
        () => listener.said.includes(`after ${attempt}`), 2000);
      delivered = true;
    } catch { await new Promise((r) => setTimeout(r, 200)); }
  }
  assert.ok(delivered, 'messages cross the nodes again after Redis came back');
  const twice = listener.said.filter((text, k) => listener.said.indexOf(text) !== k);
  assert.deepEqual(twice, [], 'nothing twice');
  publisher.close();
  listener.close();
});
