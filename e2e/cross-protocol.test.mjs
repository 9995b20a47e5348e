// `chorus serve` speaks Socket.IO and its native protocol over one set of rooms: a
// socket.io-client user and a native /ws user (what the chat page speaks) in the same room see
// each other's messages. Socket.IO clients use the built-in events of `chorus serve`
// (docs/socketio.md): join, set, to, broadcast.
//
//   CHORUS_URL=http://127.0.0.1:4100 node --test cross-protocol.test.mjs
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import WebSocket from 'ws';
import { io } from 'socket.io-client';

const WAIT = 5000;
const base = () => {
  const url = process.env.CHORUS_URL;
  if (!url) throw new Error('CHORUS_URL is not set; scripts/test.sh sets it');
  return url.replace(/\/+$/, '');
};

/** Resolves with the first value `check` accepts among `emitter`'s `event`s; rejects after WAIT. */
function next(on, off, event, check = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off(event, handler);
      reject(new Error(`timed out waiting for ${event}`));
    }, WAIT);
    function handler(...args) {
      if (!check(...args)) return;
      clearTimeout(timer);
      off(event, handler);
      resolve(args);
    }
    on(event, handler);
  });
}

/** A native-protocol client: request/reply by rid, pushes as 'push' events. */
async function native(name) {
  const ws = new WebSocket(`${base().replace(/^http/, 'ws')}/ws?name=${name}`);
  const pending = new Map();
  const listeners = new Set();
  let rid = 0;
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.type === 'reply' && pending.has(msg.rid)) {
      pending.get(msg.rid)(msg);
      pending.delete(msg.rid);
    } else {
      for (const f of listeners) f(msg);
    }
  });
  const hello = await next((e, f) => listeners.add(f), (e, f) => listeners.delete(f), 'push', (m) => m.type === 'hello');
  const request = (cmd) =>
    new Promise((resolve, reject) => {
      rid += 1;
      pending.set(rid, resolve);
      ws.send(JSON.stringify({ ...cmd, rid }));
      setTimeout(() => reject(new Error(`no reply to ${cmd.type}`)), WAIT);
    });
  const push = (check) => next((e, f) => listeners.add(f), (e, f) => listeners.delete(f), 'push', check);
  return { ws, hello: hello[0], request, push, close: () => ws.close() };
}

async function socketio(transports) {
  const socket = io(base(), { transports, reconnection: false, timeout: WAIT });
  await next(socket.on.bind(socket), socket.off.bind(socket), 'connect');
  return socket;
}

for (const [mode, transports] of [
  ['websocket', ['websocket']],
  ['polling', ['polling']],
]) {
  test(`a socket.io client and a native client chat in one room (${mode})`, async () => {
    const room = `cross-${randomBytes(4).toString('hex')}`;
    const sio = await socketio(transports);
    const nat = await native('ada');
    try {
      const set = await sio.timeout(WAIT).emitWithAck('set', { name: 'grace' });
      assert.deepEqual(set, { name: 'grace' });
      const joined = await nat.request({ type: 'join', room });
      assert.equal(joined.ok, true);
      // The native member hears the socket.io client come in, under its nickname.
      const presence = nat.push((m) => m.type === 'presence' && m.room === room && m.action === 'join');
      const join = await sio.timeout(WAIT).emitWithAck('join', room);
      assert.equal(join.room, room);
      assert.deepEqual(join.members.map((m) => m.name).sort(), ['ada', 'grace']);
      assert.equal((await presence)[0].member.name, 'grace');

      // native → socket.io: an emit to the room arrives as a plain socket.io event.
      const got = next(sio.on.bind(sio), sio.off.bind(sio), 'chat');
      const sent = await nat.request({ type: 'emit', event: 'chat', data: { text: 'hello from /ws' }, to: { room } });
      assert.equal(sent.ok, true);
      assert.deepEqual((await got)[0], { text: 'hello from /ws' });

      // socket.io → native: `to` reaches the other members with the room and the sender's name.
      const heard = nat.push((m) => m.type === 'event' && m.event === 'chat');
      const relayed = await sio.timeout(WAIT).emitWithAck('to', room, 'chat', { text: 'hi from socket.io' });
      assert.equal(relayed.delivered, 1);
      // The room keeps history: the ack came once the message was stored, with its place.
      const msg = (await heard)[0];
      assert.equal(relayed.offset, msg.offset);
      assert.equal(relayed.epoch, msg.epoch);
      assert.ok(relayed.offset >= 1);
      assert.deepEqual(msg.data, { text: 'hi from socket.io' });
      assert.equal(msg.room, room);
      assert.equal(msg.from.name, 'grace');

      // `to` a room one is not in is refused, as for native clients.
      const refused = await sio.timeout(WAIT).emitWithAck('to', 'elsewhere', 'chat', {});
      assert.equal(refused.error.code, 'not_in_room');
    } finally {
      sio.close();
      nat.close();
    }
  });
}

test('chorus serve serves the official socket.io browser client at /socket.io/socket.io.js', async () => {
  const res = await fetch(`${base()}/socket.io/socket.io.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /javascript/);
  assert.match(await res.text(), /engine\.io|Socket\.IO|socket\.io/i);
});
