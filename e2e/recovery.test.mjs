// Socket.IO connection-state recovery with the official `socket.io-client` (its own
// reconnection logic, unmodified): a client whose connection drops comes back as the same
// socket (`socket.recovered`, same `socket.id`) with every message it missed, over WebSocket
// and long-polling — and also after the server was killed with SIGKILL and restarted on the
// same data directory, which socket.io itself cannot do.
//
// Starts its own `chorus serve` (SQLite store in a temporary directory) from
// target/debug/chorus, which scripts/test.sh builds first; set CHORUS_BIN to use another
// binary. Skipped if none.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { BIN, freePort, haveChorus, startChorus, stopChorus, withTimeout as within } from './chorus-process.mjs';

const WAIT_MS = 8000;

const withTimeout = (promise, what, ms = WAIT_MS) => within(promise, what, ms);

const once = (emitter, event) => withTimeout(new Promise((resolve) => emitter.once(event, resolve)), event);

let dir = null;
let port = null;
let server = null;

async function startServer() {
  server = await startChorus(port, ['--store', 'sqlite', '--data-dir', dir, '--chat-page', 'false']);
}

async function killServer() {
  await stopChorus(server, 'SIGKILL');
  server = null;
}

before(async () => {
  if (!haveChorus()) return;
  dir = mkdtempSync(join(tmpdir(), 'chorus-recovery-'));
  port = await freePort();
  await startServer();
});

const sockets = [];
after(() => {
  sockets.forEach((s) => s.close());
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A client that records every `said` text it gets; reconnects by itself, quickly. */
async function client(transports) {
  const socket = io(`http://127.0.0.1:${port}`, {
    transports,
    timeout: WAIT_MS,
    reconnectionDelay: 200,
    reconnectionDelayMax: 500,
  });
  sockets.push(socket);
  socket.said = [];
  socket.on('said', (text) => socket.said.push(text));
  await once(socket, 'connect');
  return socket;
}

/** Waits until `socket` has received `n` `said` texts. */
async function saidCount(socket, n) {
  await withTimeout((async () => {
    while (socket.said.length < n) await new Promise((r) => setTimeout(r, 20));
  })(), `${n} messages (got ${JSON.stringify(socket.said)})`);
}

/** Sends `text` to the other members of `room`; resolves once the server stored it. */
async function say(socket, room, text) {
  const ack = await socket.timeout(WAIT_MS).emitWithAck('to', room, 'said', text);
  assert.equal(typeof ack.offset, 'number', JSON.stringify(ack));
}

for (const [mode, transports] of [['websocket', ['websocket']], ['polling', ['polling']]]) {
  test(`a dropped socket.io-client comes back recovered with what it missed (${mode})`, async (t) => {
    if (!dir) return t.skip(`no chorus binary at ${BIN}`);
    const room = `recover-${mode}`;
    const alice = await client(transports);
    const bob = await client(['websocket']);
    await alice.timeout(WAIT_MS).emitWithAck('join', room);
    await bob.timeout(WAIT_MS).emitWithAck('join', room);
    await say(bob, room, 'one');
    await saidCount(alice, 1);
    const id = alice.id;

    // The connection drops (as on a network change): the client reconnects by itself.
    const disconnected = once(alice, 'disconnect');
    alice.io.engine.close();
    await disconnected;
    await say(bob, room, 'two');
    await say(bob, room, 'three');
    await once(alice, 'connect');
    assert.equal(alice.recovered, true, 'socket.recovered');
    assert.equal(alice.id, id, 'the same socket id');
    await saidCount(alice, 3);
    assert.deepEqual(alice.said, ['one', 'two', 'three']);

    // Still in the room, live.
    await say(bob, room, 'four');
    await saidCount(alice, 4);
    assert.deepEqual(alice.said, ['one', 'two', 'three', 'four']);
    alice.close();
    bob.close();
  });
}

test('socket.io-client recovers after the server is killed (SIGKILL) and restarted', async (t) => {
  if (!dir) return t.skip(`no chorus binary at ${BIN}`);
  const room = 'recover-restart';
  const alice = await client(['websocket']);
  const bob = await client(['websocket']);
  await alice.timeout(WAIT_MS).emitWithAck('join', room);
  await bob.timeout(WAIT_MS).emitWithAck('join', room);
  await say(bob, room, 'before');
  await saidCount(alice, 1);
  const id = alice.id;

  // Alice drops out; bob's next messages are acknowledged (stored) while she is away.
  alice.io.reconnection(false);
  const disconnected = once(alice, 'disconnect');
  alice.io.engine.close();
  await disconnected;
  await say(bob, room, 'while');
  await say(bob, room, 'away');
  bob.close();
  await killServer();
  await startServer();

  alice.io.reconnection(true);
  alice.connect();
  await once(alice, 'connect');
  assert.equal(alice.recovered, true, 'socket.recovered after a restart');
  assert.equal(alice.id, id, 'the same socket id after a restart');
  await saidCount(alice, 3);
  assert.deepEqual(alice.said, ['before', 'while', 'away']);

  // Back in the room in the new process.
  const carol = await client(['websocket']);
  await carol.timeout(WAIT_MS).emitWithAck('join', room);
  await say(carol, room, 'welcome back');
  await saidCount(alice, 4);
  assert.equal(alice.said[3], 'welcome back');
  alice.close();
  carol.close();
});
