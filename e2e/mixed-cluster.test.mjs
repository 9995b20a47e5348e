// A chorus node and a Node socket.io 4.8 server with the official `@socket.io/redis-adapter`
// on one real Redis, as one cluster (`--socketio-adapter socket.io-redis`): a room's
// broadcasts cross both ways — text, several arguments, binary, `io.emit` to everyone,
// `except` — and `@socket.io/redis-emitter` (a backend emitting without a socket.io server)
// reaches chorus's Socket.IO and native clients.
//
// Needs target/debug/chorus (scripts/test.sh builds it) and redis-server (it installs it);
// skipped when one is missing.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { createAdapter } from '@socket.io/redis-adapter';
import { Emitter } from '@socket.io/redis-emitter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { BIN, freePort, haveChorus, startChorus, withTimeout } from './chorus-process.mjs';
import { REDIS, startRedis } from './cluster-process.mjs';

const WAIT_MS = 10000;
const cleanups = [];
after(async () => { for (const f of cleanups.reverse()) await f(); });

const missing = !haveChorus() ? `no chorus binary at ${BIN}` : !REDIS ? 'no redis-server' : null;

/** A Node socket.io server on `redisUrl` with the events chorus serve has built in. */
async function nodeServer(redisUrl) {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const server = new Server(httpServer, { adapter: createAdapter(pub, sub) });
  server.on('connection', (socket) => {
    socket.on('join', (room, ack) => { socket.join(room); ack?.({ room }); });
    socket.on('to', (room, event, ...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
      socket.to(room).emit(event, ...args);
      ack?.({ ok: true });
    });
  });
  const port = await freePort();
  await new Promise((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
  });
  return { server, url: `http://127.0.0.1:${port}` };
}

/** A socket.io-client that records every event it gets. */
async function client(url) {
  const socket = io(url, { transports: ['websocket'], timeout: WAIT_MS });
  socket.got = [];
  socket.onAny((event, ...args) => socket.got.push([event, ...args]));
  cleanups.push(() => socket.close());
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), 'connect', WAIT_MS);
  return socket;
}

async function until(what, done) {
  await withTimeout((async () => {
    while (!done()) await new Promise((r) => setTimeout(r, 20));
  })(), what, WAIT_MS);
}

const has = (socket, event, check) => socket.got.some(([e, ...args]) => e === event && check(args));

test('a chorus node and a Node socket.io server share rooms through the Redis adapter', async (t) => {
  if (missing) return t.skip(missing);
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const port = await freePort();
  const chorus = await startChorus(port, ['--broker', redis.url, '--store', 'none',
    '--socketio-adapter', 'socket.io-redis', '--chat-page', 'false']);
  cleanups.push(() => chorus.kill('SIGKILL'));
  const node = await nodeServer(redis.url);

  const onNode = await client(node.url);
  const onChorus = await client(`http://127.0.0.1:${port}`);
  const outsider = await client(`http://127.0.0.1:${port}`);
  for (const socket of [onNode, onChorus]) {
    assert.equal((await socket.timeout(WAIT_MS).emitWithAck('join', 'mixed')).room, 'mixed');
  }
  // A native client of chorus in the same room.
  const native = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  native.got = [];
  native.on('message', (data, binary) => { if (!binary) native.got.push(JSON.parse(String(data))); });
  cleanups.push(() => native.close());
  await withTimeout(new Promise((resolve) => native.once('open', resolve)), 'native', WAIT_MS);
  native.send(JSON.stringify({ type: 'join', rid: 1, room: 'mixed' }));
  await until('native joined', () => native.got.some((m) => m.type === 'reply' && m.rid === 1));

  // Node → chorus: text, several arguments with a binary one.
  await onNode.timeout(WAIT_MS).emitWithAck('to', 'mixed', 'said', 'from node');
  await until('chorus hears node', () => has(onChorus, 'said', ([text]) => text === 'from node'));
  await until('the native client too', () => native.got.some((m) => m.type === 'event' && m.data === 'from node'));
  await onNode.timeout(WAIT_MS).emitWithAck('to', 'mixed', 'parts', 1, Buffer.from([0, 1, 255]), { ok: true });
  await until('chorus hears the parts', () => has(onChorus, 'parts', ([n, bin, obj]) =>
    n === 1 && Buffer.from(bin).equals(Buffer.from([0, 1, 255])) && obj.ok === true));

  // chorus → Node: the built-in `to`, text and binary.
  await onChorus.timeout(WAIT_MS).emitWithAck('to', 'mixed', 'said', 'from chorus');
  await until('node hears chorus', () => has(onNode, 'said', ([text]) => text === 'from chorus'));
  await onChorus.timeout(WAIT_MS).emitWithAck('to', 'mixed', 'bytes', Buffer.from('héllo'));
  await until('node hears the bytes', () => has(onNode, 'bytes', ([bin]) =>
    Buffer.from(bin).toString() === 'héllo'));

  // The Node server's own broadcasts: to everyone, and to a room but those in another.
  node.server.emit('everyone', 42);
  await until('every chorus client hears io.emit', () =>
    [onChorus, outsider].every((s) => has(s, 'everyone', ([n]) => n === 42)));
  node.server.to('mixed').except('mixed').emit('nobody', 1);
  node.server.to('mixed').emit('marker', 2);
  await until('the marker arrives', () => has(onChorus, 'marker', ([n]) => n === 2));
  assert.ok(!has(onChorus, 'nobody', () => true), 'except is kept');
  assert.ok(!has(outsider, 'marker', () => true), 'rooms are kept');

  // @socket.io/redis-emitter: a backend with only a Redis client.
  const emitterClient = createClient({ url: redis.url });
  await emitterClient.connect();
  cleanups.push(() => emitterClient.quit());
  new Emitter(emitterClient).to('mixed').emit('news', { headline: 'mixed clusters' });
  await until('the emitter reaches chorus', () =>
    has(onChorus, 'news', ([n]) => n.headline === 'mixed clusters'));
  await until('and Node', () => has(onNode, 'news', ([n]) => n.headline === 'mixed clusters'));
  await until('and the native client', () =>
    native.got.some((m) => m.type === 'event' && m.event === 'news'));
  // Nothing arrived twice on the chorus side.
  const saids = onChorus.got.filter(([e, text]) => e === 'said' && text === 'from node');
  assert.equal(saids.length, 1);

  // The Node server's requests reach chorus's sockets too.
  const fetched = await node.server.in('mixed').fetchSockets();
  const ids = fetched.map((s) => s.id).sort();
  assert.ok(ids.includes(onNode.id), 'its own socket');
  assert.ok(ids.includes(onChorus.id), `chorus's socket, by its id: ${JSON.stringify(ids)}`);
  const remote = fetched.find((s) => s.id === onChorus.id);
  assert.ok(remote.rooms.has('mixed'), 'with its rooms');
  node.server.in('mixed').socketsJoin('vip');
  await new Promise((r) => setTimeout(r, 200));
  node.server.to('vip').emit('vip-only', 'welcome');
  await until('a socket of chorus made to join by the Node server hears the room',
    () => has(onChorus, 'vip-only', ([text]) => text === 'welcome'));
  assert.ok(!has(outsider, 'vip-only', () => true));
  node.server.in('vip').socketsLeave('vip');
  await new Promise((r) => setTimeout(r, 200));
  node.server.to('vip').emit('vip-only', 'gone');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!has(onChorus, 'vip-only', ([text]) => text === 'gone'), 'and made to leave');
  // serverSideEmitWithAck: chorus answers (no handler in chorus serve: null), nobody waits
  // for a timeout.
  const answers = await withTimeout(node.server.serverSideEmitWithAck('ping', 1), 'ack', WAIT_MS);
  assert.deepEqual(answers, [null]);
  // A broadcast with acks from the Node server (`io.to(room).timeout(t).emitWithAck`):
  // chorus's sockets, Socket.IO and native, are asked too and answer; it completes without
  // waiting for its timeout (chorus tells how many sockets it asked).
  const hex = (bytes) => Buffer.from(bytes).toString('hex');
  onNode.on('poll', (q, n, b, callback) => callback(`node:${q}${n}:${hex(b)}`));
  onChorus.on('poll', (q, n, b, callback) => callback(`chorus:${q}${n}:${hex(b)}`));
  native.on('message', (data, binary) => {
    if (binary) return;
    const m = JSON.parse(String(data));
    if (m.type === 'event' && m.event === 'poll' && m.ack !== undefined) {
      const [q, n, b] = m.data;
      const bytes = Buffer.from(b.$binary, 'base64');
      native.send(JSON.stringify({ type: 'ack', ack: m.ack, data: `native:${q}${n}:${hex(bytes)}` }));
    }
  });
  const asked = Date.now();
  const responses = await withTimeout(
    node.server.to('mixed').timeout(WAIT_MS / 2).emitWithAck('poll', 'q', 2, Buffer.from([7, 8])),
    'broadcast with acks', WAIT_MS);
  // Three arguments, one binary: three for Socket.IO clients, the bytes as bytes; an array
  // for the native one, the bytes as {"$binary": base64}.
  assert.deepEqual([...responses].sort(), ['chorus:q2:0708', 'native:q2:0708', 'node:q2:0708']);
  assert.ok(Date.now() - asked < WAIT_MS / 2, 'complete before the timeout');
  // A chorus socket by its id, as socket.io servers address one socket.
  node.server.to(onChorus.id).emit('direct', 'just you');
  await until('one chorus socket by its id', () => has(onChorus, 'direct', ([t]) => t === 'just you'));
  assert.ok(!has(outsider, 'direct', () => true));
  // disconnectSockets reaches chorus's socket.
  const gone = new Promise((resolve) => outsider.once('disconnect', resolve));
  outsider.io.reconnection(false);
  node.server.in(outsider.id).disconnectSockets(true);
  await withTimeout(gone, 'outsider disconnected', WAIT_MS);
});
