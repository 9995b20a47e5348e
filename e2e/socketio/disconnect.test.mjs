// Disconnects, reconnection and the heartbeat with the official socket.io-client, in every
// transport mode. These clients have reconnection on (small delays), so "does not reconnect" is a
// real check.
import assert from 'node:assert/strict';
import { it } from 'node:test';

import { WAIT_MS, connect, forEachMode, waitForUpgrade } from './helpers.mjs';

const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 };

/** Long enough for a few reconnection attempts at RECONNECT's delays (the first within 150 ms). */
const NO_RECONNECT_WINDOW_MS = 600;

/**
 * After a connection went down, check the client reconnects by itself: a new
 * "connect", a new welcome with a new id, the upgrade again in that mode, and a working socket.
 */
async function expectReconnect(mode, c, oldId) {
  await c.waitForEntry('connect', 2);
  const [welcome] = await c.waitFor((log) => log.filter((e) => e.kind === 'event' && e.event === 'welcome')[1]?.args, 'second welcome');
  assert.equal(welcome.id, c.socket.id);
  assert.notEqual(c.socket.id, oldId, 'a reconnection is a new session with a new id');
  assert.ok(!c.socket.recovered, 'no connection state recovery is configured');
  if (mode.upgrade) await waitForUpgrade(c, 2);
  assert.equal(c.transport, mode.transport);
  assert.equal(await c.call('echo', 'back again'), 'back again');
}

forEachMode('disconnect', (mode) => {
  it('kick: disconnect reason "io server disconnect", and the client does not reconnect', async () => {
    const c = await connect(mode, RECONNECT);
    c.socket.emit('kick');
    const { reason } = await c.waitForEntry('disconnect');
    assert.equal(reason, 'io server disconnect');
    assert.equal(c.socket.connected, false);
    assert.equal(c.socket.active, false, 'after a server-side disconnect the client stays down');
    // Nothing to await for an absence: give the reconnection logic time to (wrongly) act.
    await new Promise((r) => setTimeout(r, NO_RECONNECT_WINDOW_MS));
    assert.deepEqual(c.entries('reconnect_attempt'), []);
    assert.equal(c.entries('connect').length, 1);
  });

  it('transport closed (engine.transport.close()): reason "transport close", the client reconnects by itself', async () => {
    const c = await connect(mode, RECONNECT);
    const oldId = c.socket.id;
    c.socket.io.engine.transport.close();
    const { reason } = await c.waitForEntry('disconnect');
    assert.equal(reason, 'transport close');
    await expectReconnect(mode, c, oldId);
  });

  it('engine closed (engine.close()): reason "forced close", the client reconnects by itself', async () => {
    const c = await connect(mode, RECONNECT);
    const oldId = c.socket.id;
    c.socket.io.engine.close();
    const { reason } = await c.waitForEntry('disconnect');
    assert.equal(reason, 'forced close');
    await expectReconnect(mode, c, oldId);
  });

  it('client disconnect: reason "io client disconnect", no reconnection; connecting again gets a new id', async () => {
    const c = await connect(mode, RECONNECT);
    const oldId = c.socket.id;
    c.socket.disconnect();
    const { reason } = await c.waitForEntry('disconnect');
    assert.equal(reason, 'io client disconnect');
    assert.equal(c.socket.active, false);
    c.socket.connect();
    await expectReconnect(mode, c, oldId);
  });

  it('heartbeat: pings keep an idle connection up (needs a server with pingInterval <= 2000 ms)', async (t) => {
    const c = await connect(mode);
    const interval = c.socket.io.engine._pingInterval; // from the handshake (engine.io-client 6.6 field)
    assert.equal(typeof interval, 'number', 'pingInterval from the handshake');
    if (interval > 2000) {
      t.skip(`server pingInterval is ${interval} ms; run it with PING_INTERVAL=1000 PING_TIMEOUT=1000 for this test`);
      return;
    }
    await c.waitForEntry('ping', 3, 3 * interval + WAIT_MS);
    assert.deepEqual(c.entries('disconnect'), []);
    assert.ok(c.socket.connected);
    assert.equal(c.transport, mode.transport);
    assert.equal(await c.call('echo', 'still alive'), 'still alive');
  });
});
