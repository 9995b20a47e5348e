// The official Socket.IO admin UI's protocol (`@socket.io/admin-ui`) against
// `chorus serve --admin-ui-password …`: a client speaking as the UI does logs in on
// `/admin`, gets its session, the config, every socket and the stats, hears sockets
// connect, join rooms, send and receive events and disconnect, and its actions (emit,
// join, leave, disconnect) reach the sockets.
//
// Starts its own `chorus serve` from target/debug/chorus; skipped if there is none.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { freePort, haveChorus, startChorus, withTimeout as within } from './chorus-process.mjs';

const WAIT_MS = 8000;
const withTimeout = (promise, what) => within(promise, what, WAIT_MS);

let port = null;
let server = null;
const cleanups = [];

before(async () => {
  if (!haveChorus()) return;
  port = await freePort();
  server = await startChorus(port, ['--store', 'none', '--chat-page', 'false',
    '--admin-ui-username', 'ops', '--admin-ui-password', 'correct horse']);
});

after(() => {
  for (const f of cleanups.reverse()) f();
  server?.kill('SIGKILL');
});

function connect(path, options = {}) {
  const socket = io(`http://127.0.0.1:${port}${path}`, { transports: ['websocket'], timeout: WAIT_MS, ...options });
  socket.got = [];
  socket.onAny((event, ...args) => socket.got.push([event, ...args]));
  cleanups.push(() => socket.close());
  return socket;
}

async function until(what, done) {
  await withTimeout((async () => {
    while (!done()) await new Promise((r) => setTimeout(r, 20));
  })(), what);
}

const got = (socket, event, check = () => true) => socket.got.find(([e, ...args]) => e === event && check(args));

test('wrong credentials are refused', async (t) => {
  if (!haveChorus()) return t.skip('no chorus binary');
  const ui = connect('/admin', { auth: { username: 'ops', password: 'wrong' }, reconnection: false });
  const err = await withTimeout(new Promise((resolve) => ui.once('connect_error', resolve)), 'refused');
  assert.equal(err.message, 'invalid credentials');
});

test('the admin UI sees the sockets and acts on them', async (t) => {
  if (!haveChorus()) return t.skip('no chorus binary');
  const app = connect('/');
  await withTimeout(new Promise((resolve) => app.once('connect', resolve)), 'app connect');

  const ui = connect('/admin', { auth: { username: 'ops', password: 'correct horse' } });
  await withTimeout(new Promise((resolve) => ui.once('connect', resolve)), 'ui connect');
  await until('a session, the config, every socket and the stats', () =>
    got(ui, 'session') && got(ui, 'config') && got(ui, 'all_sockets') && got(ui, 'server_stats'));
  const [, config] = got(ui, 'config');
  assert.ok(config.supportedFeatures.includes('MJOIN'), JSON.stringify(config));
  const [, sockets] = got(ui, 'all_sockets');
  assert.ok(sockets.some((s) => s.id === app.id && s.nsp === '/'), JSON.stringify(sockets));
  const [, stats] = got(ui, 'server_stats');
  assert.equal(stats.clientsCount, 2, `each connection once: ${JSON.stringify(stats)}`);
  assert.ok(stats.namespaces.some((n) => n.name === '/' && n.socketsCount >= 1), JSON.stringify(stats));

  // What sockets do, as it happens.
  const late = connect('/');
  await withTimeout(new Promise((resolve) => late.once('connect', resolve)), 'late connect');
  await until('socket_connected', () => got(ui, 'socket_connected', ([s]) => s.id === late.id));
  await until('the connection in the stats\' chart', () => got(ui, 'server_stats', ([s]) =>
    s.aggregatedEvents.some((e) => e.type === 'rawConnection' && e.count >= 1 && e.timestamp % 1000 === 0)));
  await late.timeout(WAIT_MS).emitWithAck('join', 'lobby');
  await until('the packets and bytes in the stats\' chart', () => got(ui, 'server_stats', ([s]) =>
    s.aggregatedEvents.some((e) => e.type === 'packetsIn' && e.count >= 1)
    && s.aggregatedEvents.some((e) => e.type === 'bytesIn' && e.count >= 'join'.length)));
  await until('event_received and room_joined', () =>
    got(ui, 'event_received', ([nsp, id, args]) => nsp === '/' && id === late.id && args[0] === 'join')
    && got(ui, 'room_joined', ([nsp, room, id]) => nsp === '/' && room === 'lobby' && id === late.id));

  // The UI's actions: make one socket join a room, emit to that room, make it leave,
  // disconnect it.
  ui.emit('join', '/', 'vip', app.id);
  await until('room_joined for a join the UI made', () =>
    got(ui, 'room_joined', ([nsp, room, id]) => nsp === '/' && room === 'vip' && id === app.id));
  ui.emit('emit', '/', 'vip', 'notice', 'for vips', 2);
  await until('the socket made to join hears the room', () => got(app, 'notice', ([text, n]) => text === 'for vips' && n === 2));
  assert.ok(!got(late, 'notice'), 'only the room');
  ui.emit('leave', '/', 'vip', app.id);
  await until('room_left for a leave the UI made', () =>
    got(ui, 'room_left', ([nsp, room, id]) => nsp === '/' && room === 'vip' && id === app.id));
  ui.emit('emit', '/', 'vip', 'notice', 'again');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!got(app, 'notice', ([text]) => text === 'again'), 'made to leave');
  const lateId = late.id; // socket.io-client forgets it once disconnected
  const gone = new Promise((resolve) => late.once('disconnect', resolve));
  late.io.reconnection(false);
  ui.emit('_disconnect', '/', true, late.id);
  await withTimeout(gone, 'disconnected by the UI');
  await until('socket_disconnected', () => got(ui, 'socket_disconnected', ([nsp, id]) => nsp === '/' && id === lateId));

  // A second UI connection with the session it was given, no password.
  const [, sessionId] = got(ui, 'session');
  const again = connect('/admin', { auth: { sessionId }, reconnection: false });
  await withTimeout(new Promise((resolve, reject) => { again.once('connect', resolve); again.once('connect_error', reject); }), 'session login');
});
