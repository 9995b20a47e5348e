// Rooms and broadcasts with three official socket.io-client clients (a, b, c), in every transport
// mode. "Did not receive" is checked after a barrier (helpers.mjs): once the sender's later
// markers have reached everyone, anything its earlier emit produced would have arrived first.
// Room and event names are random, so other test files running at the same time (whose
// broadcasts also reach these clients) cannot interfere.
import assert from 'node:assert/strict';
import { it } from 'node:test';

import { barrier, connectMany, forEachMode, unique } from './helpers.mjs';

/** Join every client to `room` (acked, so the membership is in place afterwards). */
async function joinAll(room, ...clients) {
  for (const c of clients) assert.equal(await c.call('join', room), room);
}

/** The data of every `event` each client received, keyed by label. */
function whoGot(event, clients) {
  return Object.fromEntries(clients.map((c) => [c.label.split('[')[0], c.received(event).map((a) => a[0])]));
}

forEachMode('rooms', (mode) => {
  it('join and leave are acknowledged with the room name', async () => {
    const [a] = await connectMany(mode, 1);
    const room = unique('room');
    assert.deepEqual(await a.callAll('join', room), [room]);
    assert.deepEqual(await a.callAll('leave', room), [room]);
  });

  it('to-room reaches the other members but not the sender nor non-members', async () => {
    const [a, b, c] = await connectMany(mode, 3);
    const room = unique('room');
    const ev = unique('ev');
    await joinAll(room, a, b);
    a.socket.emit('to-room', room, ev, { hello: 'from a' });
    await b.waitForEvent(ev);
    await barrier(a, [b, c]);
    assert.deepEqual(whoGot(ev, [a, b, c]), { a: [], b: [{ hello: 'from a' }], c: [] });
  });

  it('to-room-all reaches every member, the sender included', async () => {
    const [a, b, c] = await connectMany(mode, 3);
    const room = unique('room');
    const ev = unique('ev');
    await joinAll(room, a, b);
    a.socket.emit('to-room-all', room, ev, 'for all');
    await Promise.all([a.waitForEvent(ev), b.waitForEvent(ev)]);
    await barrier(a, [b, c]);
    assert.deepEqual(whoGot(ev, [a, b, c]), { a: ['for all'], b: ['for all'], c: [] });
  });

  it('to-room-all from a non-member reaches the members only', async () => {
    const [a, b, c] = await connectMany(mode, 3);
    const room = unique('room');
    const ev = unique('ev');
    await joinAll(room, a, b);
    c.socket.emit('to-room-all', room, ev, 'from outside');
    await Promise.all([a.waitForEvent(ev), b.waitForEvent(ev)]);
    await barrier(c, [a, b]);
    assert.deepEqual(whoGot(ev, [a, b, c]), { a: ['from outside'], b: ['from outside'], c: [] });
  });

  it('to-room-except skips the members of the excepted room', async () => {
    const [a, b, c] = await connectMany(mode, 3);
    const room = unique('room');
    const except = unique('except');
    const ev = unique('ev');
    await joinAll(room, a, b, c);
    await joinAll(except, b);
    a.socket.emit('to-room-except', room, except, ev, 7);
    await Promise.all([a.waitForEvent(ev), c.waitForEvent(ev)]);
    await barrier(a, [b, c]);
    assert.deepEqual(whoGot(ev, [a, b, c]), { a: [7], b: [], c: [7] });
  });

  it('after leave a client no longer receives what is sent to the room', async () => {
    const [a, b, c] = await connectMany(mode, 3);
    const room = unique('room');
    const ev = unique('ev');
    await joinAll(room, a, b, c);
    a.socket.emit('to-room-all', room, ev, 'before');
    await Promise.all([a, b, c].map((x) => x.waitForEvent(ev, (args) => args[0] === 'before')));
    assert.equal(await b.call('leave', room), room);
    a.socket.emit('to-room-all', room, ev, 'after');
    await Promise.all([a, c].map((x) => x.waitForEvent(ev, (args) => args[0] === 'after')));
    await barrier(a, [b, c]);
    assert.deepEqual(whoGot(ev, [a, b, c]), { a: ['before', 'after'], b: ['before'], c: ['before', 'after'] });
  });

  it('a client in two rooms gets the messages of both, once each, even after joining twice', async () => {
    const [a, b] = await connectMany(mode, 2);
    const [r1, r2] = [unique('r1'), unique('r2')];
    const ev = unique('ev');
    await joinAll(r1, b);
    await joinAll(r2, b);
    assert.equal(await b.call('join', r1), r1, 'joining twice is harmless');
    a.socket.emit('to-room', r1, ev, 'one');
    a.socket.emit('to-room', r2, ev, 'two');
    await barrier(a, [b]);
    assert.deepEqual(whoGot(ev, [a, b]), { a: [], b: ['one', 'two'] });
  });

  it('broadcast reaches everyone in "/" but the sender', async () => {
    const [a, b, c] = await connectMany(mode, 3);
    const ev = unique('ev');
    a.socket.emit('broadcast', ev, { n: 1 });
    await Promise.all([b.waitForEvent(ev), c.waitForEvent(ev)]);
    await barrier(a, [b, c]);
    assert.deepEqual(whoGot(ev, [a, b, c]), { a: [], b: [{ n: 1 }], c: [{ n: 1 }] });
  });

  it('binary data sent to a room reaches every member intact', async () => {
    const [a, b, c] = await connectMany(mode, 3);
    const room = unique('room');
    const ev = unique('ev');
    const blob = Buffer.from([0xff, 0x00, 0x80, 0xfe, 0x01]);
    await joinAll(room, a, b, c);
    a.socket.emit('to-room', room, ev, { blob, text: 'ok' });
    const got = await Promise.all([b, c].map((x) => x.waitForEvent(ev)));
    for (const [data] of got) {
      assert.ok(Buffer.isBuffer(data.blob) && data.blob.equals(blob), 'room binary payload differs');
      assert.equal(data.text, 'ok');
    }
  });
});
