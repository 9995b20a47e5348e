// Benchmark peer: socket.io 4.8 server as one node of a cluster, with the official Redis
// adapter (@socket.io/redis-adapter 8, node-redis 4): `socket.to(room).emit(...)` reaches
// the room's members on every node through Redis pub/sub.
//
// Events: as socketio-server.mjs —
//   join(room[, ack])               -> socket joins room; ack({ room })
//   to(room, event, ...args[, ack]) -> socket.to(room).emit(event, ...args); ack({ delivered })
//                                      (delivered counts this node's other members only)
//
// Start: PORT=9001 REDIS_URL=redis://127.0.0.1:6379 node socketio-cluster-server.mjs
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

const PORT = Number(process.env.PORT || 9001);
const HOST = '127.0.0.1';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

const pubClient = createClient({ url: REDIS_URL });
const subClient = pubClient.duplicate();
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = http.createServer({ noDelay: true });
const io = new Server(httpServer, {
  path: '/socket.io/',
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 2 * 1024 * 1024,
  adapter: createAdapter(pubClient, subClient),
});

const rooms = io.of('/').adapter.rooms;

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack({ room });
  });

  socket.on('to', (room, event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    try {
      socket.to(room).emit(event, ...args);
    } catch (err) {
      if (ack) ack({ error: String(err && err.message) });
      return;
    }
    if (ack) {
      const members = rooms.get(room);
      const n = members ? members.size - (members.has(socket.id) ? 1 : 0) : 0;
      ack({ delivered: n });
    }
  });
});

httpServer.listen(PORT, HOST, () => {
  console.log(`socket.io cluster peer listening on http://${HOST}:${PORT}/socket.io/ (redis ${REDIS_URL})`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
