// The MessagePack parser (`socket.io-msgpack-parser`, the official client's `parser`
// option) against `chorus serve --socketio-parser msgpack`: every packet one MessagePack
// binary message, over WebSocket and long-polling — joins and acks, events with several
// arguments and binary, a native /ws client in the same room, and connection-state
// recovery (the offset rides as the last argument, as with the default parser).
//
// Starts its own `chorus serve` from target/debug/chorus (scripts/test.sh builds it);
// skipped if there is none.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import parser from 'socket.io-msgpack-parser';
import WebSocket from 'ws';
import { freePort, haveChorus, startChorus, withTimeout as within } from './chorus-process.mjs';

const WAIT_MS = 8000;
const withTimeout = (promise, what) => within(promise, what, WAIT_MS);

let dir = null;
let port = null;
let server = null;
const cleanups = [];

before(async () => {
  if (!haveChorus()) return;
  dir = mkdtempSync(join(tmpdir(), 'chorus-msgpack-'));
  port = await freePort();
  server = await startChorus(port, ['--socketio-parser', 'msgpack', '--store', 'sqlite',
    '--data-dir', dir, '--chat-page', 'false']);
});

after(() => {
  for (const f of cleanups.reverse()) f();
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function client(transports) {
  const socket = io(`http://127.0.0.1:${port}`, {
    transports, parser, timeout: WAIT_MS, reconnectionDelay: 100, reconnectionDelayMax: 300,
  });
  socket.got = [];
  socket.onAny((event, ...args) => socket.got.push([event, ...args]));
  cleanups.push(() => socket.close());
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), 'connect');
  return socket;
}

async function until(what, done) {
  await withTimeout((async () => {
    while (!done()) await new Promise((r) => setTimeout(r, 20));
  })(), what);
}

for (const transports of [['websocket'], ['polling']]) {
  test(`msgpack clients over ${transports[0]}: rooms, acks, several arguments and binary`, async (t) => {
    if (!haveChorus()) return t.skip('no chorus binary');
    const alice = await client(transports);
    const bob = await client(transports);
    const room = `mp-${transports[0]}`;
    for (const socket of [alice, bob]) {
      const joined = await socket.timeout(WAIT_MS).emitWithAck('join', room);
      assert.equal(joined.room, room);
    }
    const sent = await alice.timeout(WAIT_MS).emitWithAck('to', room, 'parts', 1, Buffer.from([0, 1, 255]),
      { nested: { ok: true } });
    assert.ok(sent.offset > 0, `stored, with its offset: ${JSON.stringify(sent)}`);
    await until('bob gets the parts', () => bob.got.some(([e]) => e === 'parts'));
    const [, n, bin, obj] = bob.got.find(([e]) => e === 'parts');
    assert.equal(n, 1);
    assert.ok(Buffer.from(bin).equals(Buffer.from([0, 1, 255])), 'binary stays binary');
    assert.deepEqual(obj, { nested: { ok: true } });
  });
}

test('a native client shares the room with msgpack clients', async (t) => {
  if (!haveChorus()) return t.skip('no chorus binary');
  const sio = await client(['websocket']);
  await sio.timeout(WAIT_MS).emitWithAck('join', 'mixed-parsers');
  const native = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  native.got = [];
  native.on('message', (data, binary) => { if (!binary) native.got.push(JSON.parse(String(data))); });
  cleanups.push(() => native.close());
  await withTimeout(new Promise((resolve) => native.once('open', resolve)), 'native open');
  native.send(JSON.stringify({ type: 'join', rid: 1, room: 'mixed-parsers' }));
  await until('native joined', () => native.got.some((m) => m.type === 'reply' && m.rid === 1));
  native.send(JSON.stringify({ type: 'emit', rid: 2, event: 'hello', data: { from: 'native' },
    to: { room: 'mixed-parsers' } }));
  await until('the msgpack client hears the native one', () =>
    sio.got.some(([e, d]) => e === 'hello' && d.from === 'native'));
  await sio.timeout(WAIT_MS).emitWithAck('to', 'mixed-parsers', 'hello', { from: 'msgpack' });
  await until('and the other way', () =>
    native.got.some((m) => m.type === 'event' && m.event === 'hello' && m.data.from === 'msgpack'));
});

test('a msgpack client recovers its session after its connection drops', async (t) => {
  if (!haveChorus()) return t.skip('no chorus binary');
  const alice = await client(['websocket']);
  const bob = await client(['websocket']);
  for (const socket of [alice, bob]) await socket.timeout(WAIT_MS).emitWithAck('join', 'mp-recover');
  await bob.timeout(WAIT_MS).emitWithAck('to', 'mp-recover', 'said', 'before');
  await until('alice got it', () => alice.got.some(([e, text]) => e === 'said' && text === 'before'));
  const id = alice.id;
  alice.io.engine.close();
  await bob.timeout(WAIT_MS).emitWithAck('to', 'mp-recover', 'said', 'while away');
  await withTimeout(new Promise((resolve) => alice.once('connect', resolve)), 'reconnect');
  assert.equal(alice.recovered, true, 'recovered');
  assert.equal(alice.id, id, 'the same socket');
  await until('what she missed', () => alice.got.some(([e, text]) => e === 'said' && text === 'while away'));
});
