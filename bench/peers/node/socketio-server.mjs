// Benchmark peer: socket.io 4.8 server (Engine.IO v4), Socket.IO protocol.
//
// Events:
//   join(room[, ack])            -> socket joins room; ack({ room })
//   to(room, event, ...args[, ack]) -> socket.to(room).emit(event, ...args)
//                                   (every member of room except the sender);
//                                   ack({ delivered: <other members> })
//
// Start: PORT=9001 node socketio-server.mjs
import http from 'node:http';
import { Server } from 'socket.io';

const PORT = Number(process.env.PORT || 9001);
const HOST = '127.0.0.1';

// Node's http.Server sets TCP_NODELAY on accepted sockets by default
// (`noDelay: true`); we pass it explicitly. Engine.IO's websocket transport
// reuses the same socket after the upgrade.
const httpServer = http.createServer({ noDelay: true });

const io = new Server(httpServer, {
  path: '/socket.io/',
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  // Largest accepted packet: room for a 1 MiB payload plus the Socket.IO envelope
  // (the socketioxide peer uses the same limit).
  maxHttpBufferSize: 2 * 1024 * 1024,
  // transports: default ['polling', 'websocket']; pingInterval/pingTimeout: defaults
});

// The default in-memory adapter keeps rooms as Map<room, Set<socketId>>,
// so counting the other members is a map lookup + Set.size.
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
      // e.g. a reserved event name ("connect", "disconnect", ...): do not crash the peer
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
  console.log(`socket.io peer listening on http://${HOST}:${PORT}/socket.io/`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
