// Chromium, a Node `ws` client and a Python `websockets` client share one raw room; each
// receives the others' text and binary messages (binary in the browser as ArrayBuffer), in order.
// Needs CHORUS_URL (scripts/test.sh sets it) and Chromium at $CHROMIUM or /usr/bin/chromium.
// Skipped when CHORUS_TEST_SKIP_BROWSER=1.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { openClient, withTimeout, roomUrl, TEXT_SUFFIX, verifyReceived } from '../raw-helpers.mjs';
import { launchChromium } from './chromium.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const E2E = join(HERE, '..');
const SKIP = process.env.CHORUS_TEST_SKIP_BROWSER === '1' ? 'CHORUS_TEST_SKIP_BROWSER=1' : false;

function pythonBin() {
  const venv = join(E2E, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/** Start e2e/python/peer.py; resolves its "ready" line, exposes its JSON lines and exit. */
function startPythonPeer(url, tag, count, expect) {
  const py = spawn(pythonBin(), [join(E2E, 'python', 'peer.py'), url, '--tag', tag, '--count', String(count), '--expect', String(expect), '--timeout', '30'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const peer = { proc: py, lines: [], stderr: '' };
  let buf = '';
  let readyResolve;
  let readyReject;
  peer.ready = new Promise((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  py.stdout.setEncoding('utf8');
  py.stdout.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      const obj = JSON.parse(line);
      peer.lines.push(obj);
      if (obj.event === 'ready') readyResolve();
    }
  });
  py.stderr.setEncoding('utf8');
  py.stderr.on('data', (d) => (peer.stderr += d));
  peer.exited = new Promise((r) =>
    py.on('exit', (code, signal) => {
      readyReject(new Error(`peer.py exited (${code ?? signal}) before it was ready: ${peer.stderr}`));
      r({ code, signal });
    }),
  );
  peer.received = () =>
    peer.lines
      .filter((o) => o.kind)
      .map((o) => (o.kind === 'text' ? { isBinary: false, data: o.data } : { isBinary: true, data: Buffer.from(o.hex, 'hex') }));
  return peer;
}

// Runs in the page: open a WebSocket to the raw room, record everything, sync like the other clients.
async function pageOpen({ url, tag }) {
  const st = (window.__raw = { received: [], opened: false, closed: null, error: null, synced: false });
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  window.__ws = ws;
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      st.received.push({ kind: 'text', data: ev.data });
    } else if (ev.data instanceof ArrayBuffer) {
      const hex = Array.from(new Uint8Array(ev.data), (b) => b.toString(16).padStart(2, '0')).join('');
      st.received.push({ kind: 'binary', hex });
    } else {
      st.received.push({ kind: 'other', data: String(ev.data) });
    }
  };
  ws.onclose = (ev) => (st.closed = { code: ev.code, reason: ev.reason });
  ws.onerror = () => (st.error = 'error event');
  await new Promise((res, rej) => {
    ws.onopen = res;
    setTimeout(() => rej(new Error('page WebSocket did not open within 10 s')), 10000);
    ws.addEventListener('close', () => rej(new Error('page WebSocket closed before opening')));
  });
  st.opened = true;
  const sync = `sync|${tag}|${Math.random().toString(16).slice(2)}`;
  ws.send(sync);
  const t0 = Date.now();
  while (!st.received.some((m) => m.kind === 'text' && m.data === sync)) {
    if (Date.now() - t0 > 5000) throw new Error('page never received its own sync message');
    await new Promise((r) => setTimeout(r, 20));
  }
  st.synced = true;
  return true;
}

// Runs in the page: N text + N binary messages, interleaved, in the shared scheme.
function pageSend({ tag, count, suffix }) {
  const ws = window.__ws;
  const enc = new TextEncoder();
  for (let i = 0; i < count; i++) {
    ws.send(`${tag}|t|${i}|${suffix}`);
    const body = enc.encode(`${tag}|b|${i}`);
    const bytes = new Uint8Array(body.length + 4);
    bytes.set([0xff, 0x00], 0);
    bytes.set(body, 2);
    bytes.set([0x80, 0xfe], body.length + 2);
    ws.send(bytes.buffer);
  }
}

test('Chromium, Node ws and Python websockets share one raw room, text and binary, in order', { skip: SKIP, timeout: 90000 }, async () => {
  const url = roomUrl('/room/e2e-browser-');
  const N = 25;
  const total = 3 * 2 * N; // every client receives everything, its own messages included
  const browser = await launchChromium();
  let node;
  let peer;
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    // A real http origin (the server itself), not about:blank.
    const resp = await page.goto(`${process.env.CHORUS_URL.replace(/\/+$/, '')}/healthz`);
    assert.equal(resp.status(), 200, '/healthz should answer 200');

    node = await openClient(url, 'node');
    await node.sync();
    await page.evaluate(pageOpen, { url, tag: 'chromium' });
    peer = startPythonPeer(url, 'py', N, total);
    await withTimeout(peer.ready, 20000, 'peer.py ready');

    // Everyone is in the room: all three send at once.
    peer.proc.stdin.write('go\n');
    await page.evaluate(pageSend, { tag: 'chromium', count: N, suffix: TEXT_SUFFIX });
    node.sendBurst(N);

    const senders = { node: N, chromium: N, py: N };
    await node.waitForAll(total, senders, 30000);
    await page.waitForFunction(
      ({ total }) => window.__raw.received.filter((m) => !(m.kind === 'text' && m.data.startsWith('sync|'))).length >= total || window.__raw.closed,
      { total },
      { timeout: 30000, polling: 50 },
    );
    const { code } = await withTimeout(peer.exited, 20000, 'peer.py exit');
    assert.equal(code, 0, `peer.py failed (exit ${code}): ${peer.stderr} ${JSON.stringify(peer.lines.filter((o) => o.event))}`);

    const st = await page.evaluate(() => window.__raw);
    assert.equal(st.closed, null, `page WebSocket closed: ${JSON.stringify(st.closed)}`);
    assert.ok(!st.received.some((m) => m.kind === 'other'), 'page got a message that is neither string nor ArrayBuffer');
    const pageReceived = st.received.map((m) =>
      m.kind === 'text' ? { isBinary: false, data: m.data } : { isBinary: true, data: Buffer.from(m.hex, 'hex') },
    );
    assert.equal(verifyReceived('chromium', pageReceived, senders), total);
    assert.equal(verifyReceived('node', node.received, senders), total);
    assert.equal(verifyReceived('py', peer.received(), senders), total);
  } finally {
    node?.close();
    peer?.proc.kill();
    await browser.close();
  }
});
