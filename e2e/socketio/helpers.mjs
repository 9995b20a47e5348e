// Helpers for the Socket.IO client tests (official `socket.io-client`, node:test).
//
// The server under test is at SOCKETIO_URL (http://host:port) and implements the test app
// specified in the header of e2e/socketio/reference-server.mjs.
//
// Every test runs in each of MODES (forEachMode). Every wait has a timeout, so a broken server
// fails a test instead of hanging it, and every client a test opened is closed after it
// (closeAll), so a failed test leaves no socket behind that keeps the process alive.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { after, afterEach, before, describe } from 'node:test';
import { Manager } from 'socket.io-client';

/** The three ways a client reaches the server. */
export const MODES = [
  { name: 'websocket', opts: { transports: ['websocket'] }, transport: 'websocket', upgrade: false },
  { name: 'polling', opts: { transports: ['polling'], upgrade: false }, transport: 'polling', upgrade: false },
  // default transports: HTTP long-polling first, then the upgrade to WebSocket
  { name: 'polling+upgrade', opts: {}, transport: 'websocket', upgrade: true },
];

/** Timeout for one expected event, ack or connection, in ms. */
export const WAIT_MS = 5000;

/** Client options every test starts from: fail fast, never reconnect unless a test asks to. */
const BASE_OPTS = {
  timeout: WAIT_MS, // connection timeout
  reconnection: false,
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
};

/** http://host:port of the server under test, from SOCKETIO_URL. */
export function baseUrl() {
  const url = process.env.SOCKETIO_URL;
  if (!url) {
    throw new Error(
      'SOCKETIO_URL is not set (e.g. SOCKETIO_URL=http://127.0.0.1:3100 with ' +
        '`PORT=3100 node e2e/socketio/reference-server.mjs` running)',
    );
  }
  return url.replace(/\/+$/, '');
}

/** A name no other test (or test file running at the same time) uses. */
export function unique(prefix) {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

const openManagers = new Set();
const agents = new Map();

/**
 * One socket.io-client Socket plus a log of everything that happened to it, in order:
 *   {kind:'event', event, args}       an event from the server (acks are not events)
 *   {kind:'connect', id}              {kind:'disconnect', reason}
 *   {kind:'connect_error', message, data}
 *   {kind:'upgrade', transport}       the engine switched transport (any engine of the manager)
 *   {kind:'reconnect_attempt', n}     {kind:'ping'}
 */
export class Client {
  constructor(socket, label) {
    this.socket = socket;
    this.label = label;
    this.log = [];
    this.waiters = new Set();
    socket.onAny((event, ...args) => this.push({ kind: 'event', event, args }));
    socket.on('connect', () => this.push({ kind: 'connect', id: socket.id }));
    socket.on('disconnect', (reason) => this.push({ kind: 'disconnect', reason }));
    socket.on('connect_error', (err) => this.push({ kind: 'connect_error', message: err.message, data: err.data }));
    const manager = socket.io;
    manager.on('reconnect_attempt', (n) => this.push({ kind: 'reconnect_attempt', n }));
    manager.on('ping', () => this.push({ kind: 'ping' }));
    // Upgrades are the manager's: a socket opened on it later still sees the earlier ones.
    for (const transport of watchUpgrades(manager)) this.push({ kind: 'upgrade', transport });
    manager.on('e2e:upgrade', (transport) => this.push({ kind: 'upgrade', transport }));
  }

  push(entry) {
    this.log.push(entry);
    for (const w of [...this.waiters]) w();
  }

  /** Log entries of one kind (and, for kind 'event', one event name). */
  entries(kind, event) {
    return this.log.filter((e) => e.kind === kind && (event === undefined || e.event === event));
  }

  /** Arguments of every received `event`, in order. */
  received(event) {
    return this.entries('event', event).map((e) => e.args);
  }

  /** Close this client's manager (its Engine.IO connection and every socket on it). */
  close() {
    closeManager(this.socket.io);
  }

  /** Name of the transport the engine uses right now. */
  get transport() {
    return this.socket.io.engine?.transport?.name;
  }

  /**
   * Wait until find(log) returns something other than undefined/false and resolve to it;
   * reject after ms naming `what` and showing the log's tail.
   */
  waitFor(find, what, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let found;
        try {
          found = find(this.log);
        } catch (e) {
          cleanup();
          reject(e);
          return;
        }
        if (found !== undefined && found !== false) {
          cleanup();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const tail = this.log.slice(-8).map((e) => JSON.stringify(e, bufferReplacer).slice(0, 160));
        reject(new Error(`${this.label}: timed out after ${ms} ms waiting for ${what}; last log entries:\n  ${tail.join('\n  ')}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Wait for the n-th (1-based) entry of `kind` and resolve to it. */
  waitForEntry(kind, n = 1, ms = WAIT_MS) {
    return this.waitFor((log) => log.filter((e) => e.kind === kind)[n - 1], `${kind} #${n}`, ms);
  }

  /** Wait for an event named `event` whose args satisfy `pred`; resolves to its args. */
  waitForEvent(event, pred = () => true, ms = WAIT_MS) {
    return this.waitFor(
      (log) => log.find((e) => e.kind === 'event' && e.event === event && pred(e.args))?.args,
      `event ${JSON.stringify(event)}`,
      ms,
    );
  }

  /** emitWithAck with a timeout: resolves to the first argument of the server's ack. */
  call(event, ...args) {
    return this.socket.timeout(WAIT_MS).emitWithAck(event, ...args);
  }

  /** Emit with an ack callback and a timeout: resolves to *all* the arguments of the ack. */
  callAll(event, ...args) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(WAIT_MS).emit(event, ...args, (err, ...ackArgs) => {
        if (err) reject(new Error(`${this.label}: no ack for ${JSON.stringify(event)} within ${WAIT_MS} ms (${err.message})`));
        else resolve(ackArgs);
      });
    });
  }
}

const upgradeHistory = new WeakMap();

/**
 * Record every transport upgrade of `manager` (re-emitted as its "e2e:upgrade" event) and return
 * the list of those so far. A manager has a new engine per (re)connection, whose probe for the
 * upgrade starts after the engine's "open", so a listener added on the manager's "open" cannot
 * miss the engine's "upgrade".
 */
function watchUpgrades(manager) {
  let history = upgradeHistory.get(manager);
  if (!history) {
    history = [];
    upgradeHistory.set(manager, history);
    manager.on('open', () => {
      manager.engine.on('upgrade', (transport) => {
        history.push(transport.name);
        manager.emit('e2e:upgrade', transport.name);
      });
    });
  }
  return [...history];
}

function bufferReplacer(key, value) {
  if (value && value.type === 'Buffer' && Array.isArray(value.data)) return `<Buffer ${value.data.length} bytes>`;
  return value;
}

/** A manager (one Engine.IO connection, shared by the namespaces opened on it) for `mode`. */
export function newManager(mode, extraOpts = {}) {
  // An HTTP agent of its own, destroyed with the manager: engine.io-client does not abort a
  // long-polling request that a hung server never answers, and that socket would otherwise keep
  // the test process alive.
  const agent = new Agent();
  const manager = new Manager(baseUrl(), { ...BASE_OPTS, ...mode.opts, ...extraOpts, agent, autoConnect: true });
  agents.set(manager, agent);
  openManagers.add(manager);
  return manager;
}

/**
 * Open a socket on namespace `nsp` without waiting for anything.
 * Options: manager (reuse one; default a new one), auth, label, and any client options
 * (reconnection: true, ...) for a new manager.
 */
export function open(mode, { nsp = '/', manager, auth, label, ...clientOpts } = {}) {
  const mgr = manager ?? newManager(mode, clientOpts);
  const socket = mgr.socket(nsp, auth === undefined ? {} : { auth });
  return new Client(socket, `${label ?? 'client'}[${mode.name}${nsp === '/' ? '' : ' ' + nsp}]`);
}

/**
 * Open a socket, wait for "connect" and (for a namespace that sends one) its "welcome", and in
 * the upgrade mode for the upgrade to WebSocket. Checks the transport is the mode's.
 * Resolves to the Client; client.welcome is the welcome payload.
 */
export async function connect(mode, options = {}) {
  const client = open(mode, options);
  await client.waitFor(
    (log) => {
      const err = log.find((e) => e.kind === 'connect_error');
      if (err) throw new Error(`${client.label}: connect_error ${JSON.stringify(err.message)}`);
      return log.some((e) => e.kind === 'connect');
    },
    'connect',
  );
  [client.welcome] = await client.waitForEvent('welcome');
  if (mode.upgrade) await waitForUpgrade(client);
  assert.equal(client.transport, mode.transport, `${client.label}: transport`);
  return client;
}

/** Wait for the engine's "upgrade" event and check it went to WebSocket. */
export async function waitForUpgrade(client, n = 1) {
  const entry = await client.waitForEntry('upgrade', n);
  assert.equal(entry.transport, 'websocket', `${client.label}: upgraded to`);
  assert.equal(client.transport, 'websocket', `${client.label}: transport after the upgrade`);
}

/** Connect `n` clients on "/" (labels a, b, c, ...). */
export function connectMany(mode, n) {
  return Promise.all(Array.from({ length: n }, (_, i) => connect(mode, { label: String.fromCharCode(97 + i) })));
}

/**
 * Everything `sender` caused before this call has now reached every client: sender emits
 * "broadcast" (reaches all of "/" but the sender) and then an acked "echo" (reaches the sender).
 * The server handles one connection's packets in order and writes to each connection in order,
 * so whatever an earlier emit of `sender` produced for a client arrived before these markers.
 */
export async function barrier(sender, others) {
  const event = unique('barrier');
  sender.socket.emit('broadcast', event, 'x');
  const [back] = await sender.callAll('echo', event);
  assert.equal(back, event);
  await Promise.all(others.map((c) => c.waitForEvent(event)));
}

function closeManager(manager) {
  for (const socket of Object.values(manager.nsps)) socket.disconnect();
  manager._close(); // idempotent; also stops a reconnection in progress
  agents.get(manager)?.destroy();
  agents.delete(manager);
  openManagers.delete(manager);
}

/**
 * Close every socket and manager opened since the last call: afterEach(closeAll) for tests that
 * run one at a time. Tests that run concurrently close their own: t.after(() => client.close()).
 */
export function closeAll() {
  for (const manager of [...openManagers]) closeManager(manager);
}

/**
 * A describe() block per mode, whose tests run one after the other and close their clients when
 * done: forEachMode('acks', (mode) => { it(...) }).
 */
export function forEachMode(title, body, modes = MODES) {
  for (const mode of modes) {
    describe(`${title} [${mode.name}]`, () => {
      afterEach(closeAll);
      body(mode);
    });
  }
}

// Whatever a failed test left open is closed once the file's tests are done, so that a broken
// server cannot keep the test process alive.
after(() => closeAll());
// One connection first: when nothing answers at SOCKETIO_URL, every test of the file fails at once
// with this error instead of each waiting for its own connection timeout.
before(async () => {
  const url = baseUrl();
  try {
    await connect(MODES[0]);
  } catch (e) {
    throw new Error(`no working Socket.IO server at ${url}: ${e.message}`);
  } finally {
    closeAll();
  }
});
