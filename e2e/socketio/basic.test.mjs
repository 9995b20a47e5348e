// Connection, events and acknowledgements with the official socket.io-client, in every transport
// mode. Server: the test app in e2e/socketio/reference-server.mjs, at SOCKETIO_URL.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import { MODES, WAIT_MS, closeAll, connect, forEachMode, open, unique, waitForUpgrade } from './helpers.mjs';

/** Arguments of every JSON type, non-ASCII text included. */
const MIXED_ARGS = [
  'héllo ✓ 😀',
  42,
  -3.25,
  true,
  false,
  null,
  '',
  { nested: { list: [1, 'two', null, { three: 3 }], empty: {} } },
  [1, [2, [3]], 'x'],
];

forEachMode('connect', (mode) => {
  it('sends auth with the CONNECT packet; the welcome echoes it and the socket id', async () => {
    const auth = { token: unique('tok'), user: { name: 'Zoë', tags: ['a', 'b'] }, n: 7 };
    const c = await connect(mode, { auth });
    assert.ok(c.socket.connected);
    assert.equal(typeof c.socket.id, 'string');
    assert.ok(c.socket.id.length > 0);
    assert.deepEqual(c.welcome, { id: c.socket.id, auth });
  });

  it('without auth the server sees an empty object', async () => {
    const c = await connect(mode);
    assert.deepEqual(c.welcome, { id: c.socket.id, auth: {} });
  });

  it('each connection gets its own id, distinct from the Engine.IO session id', async () => {
    const [a, b] = await Promise.all([connect(mode), connect(mode)]);
    assert.notEqual(a.socket.id, b.socket.id);
    // Socket.IO v5: the namespace socket id is not the Engine.IO sid (which authorizes the
    // session's HTTP requests and so must not be shown to other clients).
    assert.notEqual(a.socket.id, a.socket.io.engine.id);
  });
});

forEachMode('events', (mode) => {
  it('an event with several arguments of mixed types comes back intact', async () => {
    const c = await connect(mode);
    c.socket.emit('echo', ...MIXED_ARGS);
    const args = await c.waitForEvent('echo');
    assert.deepEqual(args, MIXED_ARGS);
  });

  it('an event without arguments comes back without arguments', async () => {
    const c = await connect(mode);
    c.socket.emit('echo');
    assert.deepEqual(await c.waitForEvent('echo'), []);
  });

  it('100 events arrive in the order they were sent', async () => {
    const c = await connect(mode);
    const tag = unique('seq');
    for (let i = 0; i < 100; i++) c.socket.emit('echo', tag, i);
    await c.waitFor((log) => c.received('echo').filter((a) => a[0] === tag).length >= 100, '100 echo events');
    assert.deepEqual(
      c.received('echo').filter((a) => a[0] === tag).map((a) => a[1]),
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it('a 200 KB string: the server counts its characters and echoes it unchanged', async () => {
    const c = await connect(mode);
    const big = '0123456é✓\n'.repeat(20_000); // 200,000 characters, about 260 KB of UTF-8
    assert.equal(big.length, 200_000);
    assert.equal(await c.call('size', big), 200_000);
    const [back] = await c.callAll('echo', big);
    assert.equal(back.length, big.length);
    assert.ok(back === big, 'echoed 200 KB string differs');
    c.socket.emit('echo', 'big', big);
    const [label, again] = await c.waitForEvent('echo', (a) => a[0] === 'big');
    assert.equal(label, 'big');
    assert.ok(again === big, '200 KB string sent back as an event differs');
  });
});

forEachMode('acks client to server', (mode) => {
  it('emitWithAck resolves to the first argument the server acknowledges with', async () => {
    const c = await connect(mode);
    assert.equal(await c.call('echo', 'one'), 'one');
    assert.deepEqual(await c.call('echo', { a: [1, 2] }, 'ignored'), { a: [1, 2] });
  });

  it('an ack carries all the arguments, of mixed types', async () => {
    const c = await connect(mode);
    assert.deepEqual(await c.callAll('echo', ...MIXED_ARGS), MIXED_ARGS);
  });

  it('an ack without arguments', async () => {
    const c = await connect(mode);
    assert.deepEqual(await c.callAll('echo'), []);
  });

  it('50 concurrent acks each resolve with their own value', async () => {
    const c = await connect(mode);
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => c.call('echo', `v${i}`)));
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `v${i}`));
  });
});

forEachMode('acks server to client', (mode) => {
  it('the client answers the server\'s "question" through its ack callback', async () => {
    const c = await connect(mode);
    const questions = [];
    c.socket.on('question', (data, answer) => {
      questions.push(data);
      answer({ reply: `re: ${data.q}`, n: data.n + 1 });
    });
    const res = await c.call('ask', { q: 'why?', n: 41 });
    assert.deepEqual(questions, [{ q: 'why?', n: 41 }]);
    assert.deepEqual(res, { answer: { reply: 're: why?', n: 42 } });
  });

  it('only the first argument of the client\'s answer reaches the server\'s emitWithAck', async () => {
    const c = await connect(mode);
    c.socket.on('question', (data, answer) => answer('first', 'second'));
    assert.deepEqual(await c.call('ask', 'q'), { answer: 'first' });
  });
});

// The server waits 2 s for the client's answer, so these three run concurrently.
describe('acks server to client: no answer', { concurrency: true }, () => {
  for (const mode of MODES) {
    it(`the server's emitWithAck times out and it acks {error:"timeout"} [${mode.name}]`, async (t) => {
      const c = await connect(mode);
      t.after(() => c.close());
      const questions = [];
      c.socket.on('question', (data) => questions.push(data)); // never calls the ack
      const started = Date.now();
      const res = await c.socket.timeout(WAIT_MS).emitWithAck('ask', 'hello?');
      const took = Date.now() - started;
      assert.deepEqual(questions, ['hello?'], 'the question reached the client');
      assert.deepEqual(res, { error: 'timeout' });
      assert.ok(took >= 1900, `server gave up after ${took} ms, expected about 2000`);
    });
  }
});

describe('upgrade from polling to websocket', () => {
  afterEach(closeAll);
  const mode = MODES.find((m) => m.upgrade);

  it('events and acks emitted before, during and after the upgrade all arrive, in order', async () => {
    const c = open(mode);
    const tag = unique('upg');
    const acks = [];
    let i = 0;
    const send = () => {
      const n = i++;
      c.socket.emit('echo', tag, n);
      acks.push(c.call('echo', tag, n));
    };
    // Emitted right away, before the connection exists: socket.io-client buffers them and
    // sends them with the CONNECT over polling.
    for (let k = 0; k < 20; k++) send();
    await c.waitForEntry('connect');
    for (let k = 0; k < 20; k++) send();
    await waitForUpgrade(c);
    for (let k = 0; k < 20; k++) send();
    assert.deepEqual(await Promise.all(acks), Array.from({ length: 60 }, () => tag));
    await c.waitFor(() => c.received('echo').filter((a) => a[0] === tag).length >= 60, '60 echo events');
    assert.deepEqual(
      c.received('echo').filter((a) => a[0] === tag).map((a) => a[1]),
      Array.from({ length: 60 }, (_, n) => n),
    );
    assert.equal(c.transport, 'websocket');
  });
});
