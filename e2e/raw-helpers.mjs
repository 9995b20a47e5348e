// Helpers for the raw-room tests (Node `ws` client side).
//
// A plain WebSocket upgrade on any path other than /ws joins the "raw room" named by that path.
// Every message a client sends goes to every client in the room, the sender included, with
// its text/binary flag kept and in per-sender order.
//
// Message scheme shared with e2e/python/peer.py, e2e/python/test_raw_room.py and the browser test:
//   text   i from TAG:  "TAG|t|i|héllo ✓"                     (non-ASCII on purpose)
//   binary i from TAG:  ff 00 <utf8 "TAG|b|i"> 80 fe            (not valid UTF-8 on purpose)
//   sync:               text "sync|TAG|NONCE" — sent after connecting; once a client gets its own
//                       sync back it is certainly in the room. Receivers ignore sync messages.
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

export const TEXT_SUFFIX = 'héllo ✓';

/** ws://host:port of the server under test, from CHORUS_URL (http://host:port). */
export function wsBase() {
  const url = process.env.CHORUS_URL;
  if (!url) {
    throw new Error('CHORUS_URL is not set (e.g. CHORUS_URL=http://127.0.0.1:8080); scripts/test.sh sets it');
  }
  return url.replace(/\/+$/, '').replace(/^http/, 'ws');
}

/** A fresh raw-room URL that no other test uses. */
export function roomUrl(prefix = '/room/e2e-') {
  return `${wsBase()}${prefix}${randomBytes(6).toString('hex')}`;
}

export function textMsg(tag, i) {
  return `${tag}|t|${i}|${TEXT_SUFFIX}`;
}

export function binaryMsg(tag, i) {
  return Buffer.concat([Buffer.from([0xff, 0x00]), Buffer.from(`${tag}|b|${i}`, 'utf8'), Buffer.from([0x80, 0xfe])]);
}

/**
 * Decode one received message ({isBinary, data}) where data is a string (text) or a Buffer (binary).
 * Returns {sync:true, tag} | {tag, kind:'t'|'b', i} | {bad: 'reason'}.
 */
export function decode({ isBinary, data }) {
  if (!isBinary) {
    if (typeof data !== 'string') return { bad: 'text message whose payload is not a string' };
    if (data.startsWith('sync|')) return { sync: true, tag: data.split('|')[1] };
    const m = /^([^|]+)\|([tb])\|(\d+)\|(.*)$/s.exec(data);
    if (!m) return { bad: `unexpected text message ${JSON.stringify(data.slice(0, 80))}` };
    if (m[2] !== 't') return { bad: `binary payload arrived as text: ${JSON.stringify(data.slice(0, 80))}` };
    if (m[4] !== TEXT_SUFFIX) return { bad: `text payload corrupted: ${JSON.stringify(data.slice(0, 80))}` };
    return { tag: m[1], kind: 't', i: Number(m[3]) };
  }
  const buf = Buffer.from(data);
  const n = buf.length;
  if (n < 4 || buf[0] !== 0xff || buf[1] !== 0x00 || buf[n - 2] !== 0x80 || buf[n - 1] !== 0xfe) {
    const asText = buf.toString('utf8');
    if (/^[^|]+\|t\|\d+\|/.test(asText) || asText.startsWith('sync|')) {
      return { bad: `text message arrived as binary: ${JSON.stringify(asText.slice(0, 80))}` };
    }
    return { bad: `unexpected binary message ${buf.subarray(0, 40).toString('hex')}` };
  }
  const m = /^([^|]+)\|b\|(\d+)$/.exec(buf.subarray(2, n - 2).toString('utf8'));
  if (!m) return { bad: `binary payload corrupted: ${buf.subarray(0, 40).toString('hex')}` };
  return { tag: m[1], kind: 'b', i: Number(m[2]) };
}

/** The sequence one sender produces when it sends `count` text and `count` binary messages interleaved. */
export function expectedFrom(tag, count) {
  const out = [];
  for (let i = 0; i < count; i++) out.push(`${tag}:t${i}`, `${tag}:b${i}`);
  return out;
}

/**
 * Check a list of received messages against what each sender sent.
 * senders: {tag: count}. Throws an Error describing the first discrepancy.
 * Returns the number of non-sync messages checked.
 */
export function verifyReceived(who, received, senders) {
  const perSender = {};
  for (const tag of Object.keys(senders)) perSender[tag] = [];
  let n = 0;
  for (const msg of received) {
    const d = decode(msg);
    if (d.bad) throw new Error(`${who}: ${d.bad}`);
    if (d.sync) continue;
    if (!(d.tag in perSender)) throw new Error(`${who}: message from unknown sender ${d.tag}`);
    perSender[d.tag].push(`${d.tag}:${d.kind}${d.i}`);
    n++;
  }
  for (const [tag, count] of Object.entries(senders)) {
    const want = expectedFrom(tag, count);
    const got = perSender[tag];
    for (let k = 0; k < Math.max(want.length, got.length); k++) {
      if (want[k] !== got[k]) {
        throw new Error(
          `${who}: from ${tag}, message #${k}: expected ${want[k] ?? '(nothing)'}, got ${got[k] ?? '(nothing)'}` +
            ` (received ${got.length} of ${want.length} from ${tag})`,
        );
      }
    }
  }
  return n;
}

/** Resolve/reject like `promise`, or reject with `what` after ms; never keeps the process alive. */
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** Count the non-sync messages in a received list. */
export function countData(received) {
  return received.filter((m) => !decode(m).sync).length;
}

/**
 * Open a ws client. Resolves to a small wrapper that records every message as
 * {isBinary, data: string|Buffer} and can wait for conditions.
 */
export function openClient(url, tag, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    const client = {
      tag,
      ws,
      received: [],
      closed: false,
      closeInfo: null,
      waiters: new Set(),
      notify() {
        for (const w of [...this.waiters]) w();
      },
      /** Wait until pred(client) is true; rejects after timeoutMs with a message naming `what`. */
      waitFor(pred, what, ms = 10000) {
        return new Promise((res, rej) => {
          const check = () => {
            let ok;
            try {
              ok = pred(this);
            } catch (e) {
              cleanup();
              rej(e);
              return;
            }
            if (ok) {
              cleanup();
              res();
            } else if (this.closed) {
              cleanup();
              rej(new Error(`${tag}: connection closed (${JSON.stringify(this.closeInfo)}) while waiting for ${what}`));
            }
          };
          const timer = setTimeout(() => {
            cleanup();
            rej(new Error(`${tag}: timed out after ${ms} ms waiting for ${what} (have ${this.received.length} messages)`));
          }, ms);
          const cleanup = () => {
            clearTimeout(timer);
            this.waiters.delete(check);
          };
          this.waiters.add(check);
          check();
        });
      },
      /** Send a sync message and wait for its echo: afterwards this client is in the room. */
      async sync(ms = 5000) {
        const nonce = randomBytes(4).toString('hex');
        const text = `sync|${tag}|${nonce}`;
        ws.send(text);
        try {
          await this.waitFor((c) => c.received.some((m) => !m.isBinary && m.data === text), `own sync echo`, ms);
        } catch (e) {
          if (this.received.some((m) => m.isBinary && m.data.toString('utf8') === text)) {
            throw new Error(`${tag}: own text message came back as binary (binary flag not kept)`);
          }
          throw e;
        }
      },
      /**
       * Wait until `total` data messages arrived; on timeout, explain what is missing or out of
       * order (verifyReceived against `senders`) instead of just counting.
       */
      async waitForAll(total, senders, ms = 20000) {
        try {
          await this.waitFor((c) => countData(c.received) >= total, `${total} messages`, ms);
        } catch (e) {
          verifyReceived(tag, this.received, senders);
          throw e;
        }
      },
      /** Send `count` text and `count` binary messages, interleaved. */
      sendBurst(count) {
        for (let i = 0; i < count; i++) {
          ws.send(textMsg(tag, i));
          ws.send(binaryMsg(tag, i), { binary: true });
        }
      },
      close() {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
      },
    };
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${tag}: could not connect to ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.on('message', (data, isBinary) => {
      client.received.push({ isBinary, data: isBinary ? Buffer.from(data) : data.toString('utf8') });
      client.notify();
    });
    ws.on('close', (code, reason) => {
      client.closed = true;
      client.closeInfo = { code, reason: reason.toString() };
      client.notify();
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      client.closed = true;
      client.closeInfo = { error: err.message };
      client.notify();
      reject(new Error(`${tag}: WebSocket error on ${url}: ${err.message}`));
    });
    ws.on('open', () => {
      clearTimeout(timer);
      resolve(client);
    });
  });
}
