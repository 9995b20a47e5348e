// Raw rooms, seen from external clients: Node `ws` clients (and a Python `websockets` peer)
// in one room each receive every message, text and binary, in per-sender order, flag kept.
// Needs CHORUS_URL=http://host:port of a running `chorus serve` (scripts/test.sh sets it).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decode, openClient, roomUrl, verifyReceived, withTimeout } from './raw-helpers.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

function pythonBin() {
  const venv = join(HERE, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

async function withClients(url, tags, fn) {
  const clients = [];
  try {
    for (const tag of tags) clients.push(await openClient(url, tag));
    return await fn(clients);
  } finally {
    for (const c of clients) c.close();
  }
}

test('three Node ws clients share a raw room: 50 text + 50 binary each, all 300 in order everywhere', { timeout: 30000 }, async () => {
  const url = roomUrl();
  const N = 50;
  const senders = { n1: N, n2: N, n3: N };
  await withClients(url, ['n1', 'n2', 'n3'], async (clients) => {
    for (const c of clients) await c.sync();
    for (const c of clients) c.sendBurst(N);
    await Promise.all(
      clients.map((c) => c.waitForAll(6 * N, senders, 20000)),
    );
    // Give the server a moment to deliver anything extra (duplicates would be a bug too).
    await new Promise((r) => setTimeout(r, 200));
    for (const c of clients) {
      assert.equal(verifyReceived(c.tag, c.received, senders), 6 * N, `${c.tag}: message count`);
    }
    // The binary flag is kept: exactly half of the data messages are binary.
    for (const c of clients) {
      const data = c.received.filter((m) => !decode(m).sync);
      assert.equal(data.filter((m) => m.isBinary).length, 3 * N, `${c.tag}: binary messages`);
      assert.equal(data.filter((m) => !m.isBinary).length, 3 * N, `${c.tag}: text messages`);
    }
  });
});

test('any path other than /ws is a raw room, and rooms are isolated from each other', { timeout: 20000 }, async () => {
  const urlA = roomUrl('/e2e-any-path-');
  const urlB = `${urlA}/other`;
  await withClients(urlA, ['a1', 'a2'], async ([a1, a2]) => {
    await withClients(urlB, ['b1'], async ([b1]) => {
      await a1.sync();
      await a2.sync();
      await b1.sync();
      a1.sendBurst(5);
      b1.sendBurst(3);
      await a2.waitForAll(10, { a1: 5, a2: 0 }, 10000);
      await a1.waitForAll(10, { a1: 5, a2: 0 }, 10000);
      await b1.waitForAll(6, { b1: 3 }, 10000);
      await new Promise((r) => setTimeout(r, 300));
      verifyReceived('a1', a1.received, { a1: 5, a2: 0 });
      verifyReceived('a2', a2.received, { a1: 5, a2: 0 });
      verifyReceived('b1', b1.received, { b1: 3 });
      // a2 never hears b1's sync either: that would mean the rooms leak into each other.
      for (const m of a2.received) {
        const d = decode(m);
        assert.notEqual(d.tag, 'b1', 'a message from room B reached room A');
      }
    });
  });
});

test('large text and binary messages are relayed intact', { timeout: 20000 }, async () => {
  const url = roomUrl();
  await withClients(url, ['big1', 'big2'], async ([c1, c2]) => {
    await c1.sync();
    await c2.sync();
    const bin = Buffer.alloc(256 * 1024);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 7 + 3) & 0xff;
    const text = 'ünïcødé ✓ '.repeat(10000); // ~110 KB of UTF-8
    c1.ws.send(bin, { binary: true });
    c1.ws.send(text);
    const isSync = (m) => !m.isBinary && m.data.startsWith('sync|');
    await c2.waitFor((c) => c.received.filter((m) => !isSync(m)).length >= 2, 'the two large messages', 15000);
    await new Promise((r) => setTimeout(r, 100));
    const got = c2.received.filter((m) => !isSync(m));
    assert.equal(got.length, 2);
    assert.equal(got[0].isBinary, true, 'first message should be binary');
    assert.ok(Buffer.compare(got[0].data, bin) === 0, 'binary payload differs');
    assert.equal(got[1].isBinary, false, 'second message should be text');
    assert.equal(got[1].data, text, 'text payload differs');
  });
});

test('a client that leaves does not disturb the others', { timeout: 20000 }, async () => {
  const url = roomUrl();
  await withClients(url, ['s1', 's2', 's3'], async ([s1, s2, s3]) => {
    for (const c of [s1, s2, s3]) await c.sync();
    s3.ws.close(1000, 'bye');
    await s3.waitFor((c) => c.closed, 'close', 5000).catch(() => {});
    s1.sendBurst(10);
    s2.sendBurst(10);
    await s1.waitForAll(40, { s1: 10, s2: 10, s3: 0 }, 10000);
    await s2.waitForAll(40, { s1: 10, s2: 10, s3: 0 }, 10000);
    verifyReceived('s1', s1.received, { s1: 10, s2: 10, s3: 0 });
    verifyReceived('s2', s2.received, { s1: 10, s2: 10, s3: 0 });
  });
});

test('a Node ws client and a Python websockets client share a raw room, both ways', { timeout: 40000 }, async () => {
  const url = roomUrl();
  const N = 20;
  const py = spawn(pythonBin(), [join(HERE, 'python', 'peer.py'), url, '--tag', 'py', '--count', String(N), '--expect', String(4 * N), '--timeout', '25'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pyLines = [];
  let pyStderr = '';
  let buf = '';
  let readyResolve;
  const ready = new Promise((r) => (readyResolve = r));
  py.stdout.setEncoding('utf8');
  py.stdout.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      const obj = JSON.parse(line);
      pyLines.push(obj);
      if (obj.event === 'ready') readyResolve();
    }
  });
  py.stderr.setEncoding('utf8');
  py.stderr.on('data', (d) => (pyStderr += d));
  const exited = new Promise((r) => py.on('exit', (code, signal) => r({ code, signal })));
  try {
    await withClients(url, ['node'], async ([node]) => {
      await node.sync();
      await withTimeout(
        Promise.race([
          ready,
          exited.then(({ code }) => {
            throw new Error(`peer.py exited (${code}) before it was ready: ${pyStderr}`);
          }),
        ]),
        15000,
        'peer.py ready',
      );
      py.stdin.write('go\n');
      node.sendBurst(N);
      await node.waitForAll(4 * N, { node: N, py: N }, 20000);
      const { code } = await withTimeout(exited, 20000, 'peer.py exit');
      assert.equal(code, 0, `peer.py failed (exit ${code}): ${pyStderr}`);
      verifyReceived('node', node.received, { node: N, py: N });
      const pyReceived = pyLines
        .filter((o) => o.kind)
        .map((o) => (o.kind === 'text' ? { isBinary: false, data: o.data } : { isBinary: true, data: Buffer.from(o.hex, 'hex') }));
      assert.equal(verifyReceived('py', pyReceived, { node: N, py: N }), 4 * N);
    });
  } finally {
    py.kill();
  }
});

test('a text frame with invalid UTF-8 closes the sender with 1007 and is not relayed', { timeout: 20000 }, async () => {
  const url = roomUrl();
  await withClients(url, ['u1', 'u2'], async ([bad, good]) => {
    await bad.sync();
    await good.sync();
    const before = good.received.length;
    // ws sends a Buffer with binary:false as a text frame without checking it.
    bad.ws.send(Buffer.from([0x68, 0x69, 0xce, 0xff]), { binary: false });
    await bad.waitFor((c) => c.closed, 'the server to close the connection', 10000);
    assert.equal(bad.closeInfo.code, 1007, `close code ${JSON.stringify(bad.closeInfo)}`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(good.received.length, before, 'the invalid frame (or something) was relayed to the other client');
    assert.equal(good.closed, false, 'the other client was disconnected');
    // The room still works for the remaining client.
    good.sendBurst(2);
    await good.waitForAll(4, { u2: 2 }, 5000);
  });
});
