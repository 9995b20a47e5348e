// A Node socket.io 4.8 server with the official Redis adapter, for the Rust test of a mixed
// cluster (crates/chorus/tests/mixed_cluster.rs): the events `chorus serve` has built in
// (`join`, `to`), and a server-side event handler answering `ping` with who it is.
//
// Start: PORT=… REDIS_URL=redis://… node e2e/cluster-node-server.mjs (prints "listening").
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

const pub = createClient({ url: process.env.REDIS_URL });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);
const httpServer = http.createServer();
const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });
io.on('connection', (socket) => {
  socket.on('join', (room, ack) => { socket.join(room); ack?.({ room }); });
  socket.on('to', (room, event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    socket.to(room).emit(event, ...args);
    ack?.({ ok: true });
  });
});
io.on('ping', (n, callback) => callback({ node: 'node', n }));
// Another namespace, whose sockets join "staff".
io.of('/admin').on('connection', (socket) => socket.join('staff'));
httpServer.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
