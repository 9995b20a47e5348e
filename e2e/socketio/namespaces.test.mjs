// Namespaces with the official socket.io-client, in every transport mode: "/admin" (auth checked
// by a connect middleware) multiplexed with "/" over one Engine.IO connection, and an unknown
// namespace.
//
// The sockets are opened with manager.socket(nsp, { auth }) on one Manager: that is what
// io(url + "/admin", { auth }) does when io()'s cache hands it the Manager that "/" uses, without
// depending on that process-wide cache (which other tests in this file would also fill).
import assert from 'node:assert/strict';
import { it } from 'node:test';

import { connect, forEachMode, newManager, open, unique } from './helpers.mjs';

/** Wait for the connect_error of a client that must not connect, and check it stays down. */
async function expectConnectError(client, message) {
  const err = await client.waitFor((log) => {
    if (log.some((e) => e.kind === 'connect')) throw new Error(`${client.label}: connected, expected connect_error "${message}"`);
    return log.find((e) => e.kind === 'connect_error');
  }, `connect_error "${message}"`);
  assert.equal(err.message, message);
  assert.equal(client.socket.connected, false);
  assert.equal(client.socket.active, false, 'the client must not retry after a connect_error from the server');
  return err;
}

forEachMode('namespaces', (mode) => {
  it('"/admin" with the right token and "/" work at once over one connection', async () => {
    const manager = newManager(mode);
    const auth = { token: unique('root-token') };
    const root = await connect(mode, { manager, auth, label: 'root' });
    const admin = await connect(mode, { manager, nsp: '/admin', auth: { token: 'secret' }, label: 'admin' });
    assert.deepEqual(admin.welcome, { nsp: '/admin' });
    assert.deepEqual(root.welcome, { id: root.socket.id, auth });
    assert.equal(admin.socket.io, root.socket.io, 'both namespaces share one manager');
    assert.notEqual(admin.socket.id, root.socket.id, 'each namespace socket has its own id');
    assert.ok(root.socket.connected && admin.socket.connected);
    assert.equal(admin.transport, mode.transport);
    // "/" keeps working while "/admin" is connected, and after "/admin" disconnects: leaving a
    // namespace must not close the shared connection.
    assert.equal(await root.call('echo', 'with admin'), 'with admin');
    const engineId = root.socket.io.engine.id;
    admin.socket.disconnect();
    assert.equal(await root.call('echo', 'after admin left'), 'after admin left');
    assert.equal(root.socket.io.engine.id, engineId, 'same Engine.IO session');
    assert.ok(root.socket.connected);
    assert.deepEqual(root.entries('disconnect'), []);
  });

  it('"/admin" can be the only namespace of a connection', async () => {
    const admin = await connect(mode, { nsp: '/admin', auth: { token: 'secret' } });
    assert.deepEqual(admin.welcome, { nsp: '/admin' });
  });

  it('"/admin" with a wrong token: connect_error "not authorized"; "/" on the same connection is unaffected', async () => {
    const manager = newManager(mode);
    const root = await connect(mode, { manager, label: 'root' });
    const admin = open(mode, { manager, nsp: '/admin', auth: { token: 'wrong' }, label: 'admin' });
    await expectConnectError(admin, 'not authorized');
    assert.equal(await root.call('echo', 'still here'), 'still here');
    assert.ok(root.socket.connected);
    assert.deepEqual(admin.received('welcome'), []);
  });

  it('"/admin" without auth: connect_error "not authorized"', async () => {
    const admin = open(mode, { nsp: '/admin' });
    await expectConnectError(admin, 'not authorized');
  });

  it('an unknown namespace: connect_error "Invalid namespace"', async () => {
    const manager = newManager(mode);
    const root = await connect(mode, { manager, label: 'root' });
    const other = open(mode, { manager, nsp: `/${unique('nope')}`, label: 'unknown' });
    await expectConnectError(other, 'Invalid namespace');
    assert.equal(await root.call('echo', 'still here'), 'still here');
  });

  it('an unknown namespace as the only one: connect_error "Invalid namespace"', async () => {
    await expectConnectError(open(mode, { nsp: '/no-such-namespace' }), 'Invalid namespace');
  });
});
