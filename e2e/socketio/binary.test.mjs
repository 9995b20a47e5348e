// Binary data (Socket.IO BINARY_EVENT / BINARY_ACK packets with attachments) with the official
// socket.io-client, in every transport mode. Over WebSocket the attachments travel as binary
// frames; over HTTP long-polling as base64 ("b" packets) in the payload.
import assert from 'node:assert/strict';
import { it } from 'node:test';

import { connect, forEachMode } from './helpers.mjs';

/** `n` bytes that are not valid UTF-8 and differ per `seed`, all 256 byte values included. */
function bytes(n, seed = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

function assertBuffer(got, want, what) {
  assert.ok(Buffer.isBuffer(got), `${what}: expected a Buffer, got ${Object.prototype.toString.call(got)}`);
  assert.ok(got.equals(want), `${what}: ${got.length} bytes differ from the ${want.length} sent`);
}

forEachMode('binary', (mode) => {
  it('a Buffer as an argument: echoed in an ack and as an event', async () => {
    const c = await connect(mode);
    const buf = bytes(1000, 1);
    assertBuffer(await c.call('echo', buf), buf, 'ack');
    c.socket.emit('echo', 'bin', buf);
    const [label, got] = await c.waitForEvent('echo', (a) => a[0] === 'bin');
    assert.equal(label, 'bin');
    assertBuffer(got, buf, 'event');
  });

  it('Buffers nested in objects and arrays keep their place', async () => {
    const c = await connect(mode);
    const [b1, b2, b3] = [bytes(10, 2), bytes(300, 3), bytes(1, 4)];
    const payload = { name: 'files', first: b1, list: [1, b2, { deep: b3, text: 'ü' }], none: null };
    const got = await c.call('echo', payload);
    assert.deepEqual(got, payload);
    assertBuffer(got.first, b1, 'first');
    assertBuffer(got.list[1], b2, 'list[1]');
    assertBuffer(got.list[2].deep, b3, 'list[2].deep');
  });

  it('several Buffers among other arguments, in an ack and in an event', async () => {
    const c = await connect(mode);
    const args = [bytes(5, 5), 'between', bytes(0), [bytes(64, 6), bytes(64, 6)], { n: 1, b: bytes(256, 7) }, 3];
    assert.deepEqual(await c.callAll('echo', ...args), args);
    c.socket.emit('echo', 'many', ...args);
    const got = await c.waitForEvent('echo', (a) => a[0] === 'many');
    assert.deepEqual(got, ['many', ...args]);
  });

  it('a Uint8Array is sent as binary and comes back as a Buffer', async () => {
    const c = await connect(mode);
    const u8 = new Uint8Array([0, 1, 2, 253, 254, 255]);
    assertBuffer(await c.call('echo', u8), Buffer.from(u8), 'ack');
  });

  it('the server counts the bytes of binary data (empty, 100 KB)', async () => {
    const c = await connect(mode);
    assert.equal(await c.call('size', Buffer.alloc(0)), 0);
    assert.equal(await c.call('size', bytes(100_000, 8)), 100_000);
    assert.equal(await c.call('size', 'not binary: a string of 32 chars'), 32);
    assert.equal(await c.call('size', { not: 'a string or binary' }), -1);
  });

  it('binary in the client\'s answer to a server question travels back in the ack', async () => {
    const c = await connect(mode);
    const q = bytes(50, 9);
    const a = bytes(70, 10);
    let question;
    c.socket.on('question', (data, answer) => {
      question = data;
      answer({ file: a, note: 'here' });
    });
    const res = await c.call('ask', { file: q });
    assertBuffer(question.file, q, 'question');
    assertBuffer(res.answer.file, a, 'answer');
    assert.deepEqual(res, { answer: { file: a, note: 'here' } });
  });

  it('a 200 KB Buffer round trip', async () => {
    const c = await connect(mode);
    const big = bytes(200_000, 11);
    assertBuffer(await c.call('echo', big), big, '200 KB ack');
  });
});
