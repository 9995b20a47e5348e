// Reference server for the Socket.IO end-to-end tests, built on the real Node `socket.io` 4.8.x.
//
//   PORT=3100 node e2e/socketio/reference-server.mjs
//   cd e2e && SOCKETIO_URL=http://127.0.0.1:3100 npm run test:socketio
//   SOCKETIO_URL=http://127.0.0.1:3100 e2e/.venv/bin/python -m pytest -q e2e/python/test_socketio.py
//
// The tests in e2e/socketio/*.test.mjs and e2e/python/test_socketio.py talk to a server that
// behaves as specified below. Running them against this file checks the *tests* against real
// socket.io; the chorus Socket.IO server (Socket.IO v5 / Engine.IO v4) must implement the same
// test app so that the same tests, unchanged, validate it.
//
// ── The test app ──────────────────────────────────────────────────────────────────────────────
// Listens on 127.0.0.1:$PORT (default 3100), path "/socket.io/", socket.io's default options
// otherwise (pingInterval 25000, pingTimeout 20000, maxHttpBufferSize 1e6, upgrades to
// websocket allowed, no connection state recovery, no CORS). PING_INTERVAL and PING_TIMEOUT
// (milliseconds, env) override the heartbeat for a run that wants a fast one; the heartbeat test
// in e2e/socketio/disconnect.test.mjs only runs when pingInterval <= 2000.
//
// Namespace "/":
//   on connection   socket.emit("welcome", { id: socket.id, auth: socket.handshake.auth })
//                   (auth is the client's CONNECT payload, {} when it sent none)
//   "echo" (...args[, ack])
//                   if the last arg is an ack callback: ack(...args) (all the other args, in order,
//                   binary included); else socket.emit("echo", ...args)
//   "join" (room, ack)             socket.join(room); ack(room)
//   "leave" (room, ack)            socket.leave(room); ack(room)
//   "to-room" (room, event, data)  socket.to(room).emit(event, data)   members but the sender
//   "to-room-all" (room, event, data)
//                                  io.to(room).emit(event, data)       the sender too if a member
//   "to-room-except" (room, exceptRoom, event, data)
//                                  io.to(room).except(exceptRoom).emit(event, data)
//   "broadcast" (event, data)      socket.broadcast.emit(event, data)  all of "/" but the sender
//   "ask" (data, ack)              socket.timeout(2000).emitWithAck("question", data), then
//                                  ack({ answer }) where answer is the first argument of the
//                                  client's ack, or ack({ error: "timeout" }) when the client has
//                                  not acknowledged within 2000 ms
//   "size" (data, ack)             ack(n): n = data.length for a string (UTF-16 code units, i.e.
//                                  characters for the BMP text the tests send), the byte length for
//                                  binary data, -1 for anything else
//   "kick" ()                      socket.disconnect(true): server-initiated disconnect that also
//                                  closes the underlying Engine.IO connection
//
// Namespace "/admin":
//   a connect middleware rejects unless socket.handshake.auth.token === "secret", with
//   new Error("not authorized") (the client gets connect_error, err.message "not authorized");
//   on connection   socket.emit("welcome", { nsp: "/admin" })
//
// Any other namespace is unknown: the client gets connect_error "Invalid namespace".
//
// Every event handler ignores calls whose ack argument is missing or not a function (no crash).
// The events emitted by the tests carry random room names, event names and tokens, so several
// test files can run against one server at the same time.
// ──────────────────────────────────────────────────────────────────────────────────────────────
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT || 3100);
const host = '127.0.0.1';

const options = { path: '/socket.io/' };
if (process.env.PING_INTERVAL) options.pingInterval = Number(process.env.PING_INTERVAL);
if (process.env.PING_TIMEOUT) options.pingTimeout = Number(process.env.PING_TIMEOUT);

const httpServer = createServer();
const io = new Server(httpServer, options);

/** Wrap a handler so that a call without a callback in `ackIndex` is ignored. */
function withAck(ackIndex, handler) {
  return (...args) => {
    const ack = args[ackIndex];
    if (typeof ack === 'function') handler(...args);
  };
}

function isBinary(data) {
  return Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

io.of('/').on('connection', (socket) => {
  socket.emit('welcome', { id: socket.id, auth: socket.handshake.auth });

  socket.on('echo', (...args) => {
    if (args.length > 0 && typeof args[args.length - 1] === 'function') {
      const ack = args.pop();
      ack(...args);
    } else {
      socket.emit('echo', ...args);
    }
  });

  socket.on(
    'join',
    withAck(1, (room, ack) => {
      socket.join(room);
      ack(room);
    }),
  );

  socket.on(
    'leave',
    withAck(1, (room, ack) => {
      socket.leave(room);
      ack(room);
    }),
  );

  socket.on('to-room', (room, event, data) => {
    socket.to(room).emit(event, data);
  });

  socket.on('to-room-all', (room, event, data) => {
    io.to(room).emit(event, data);
  });

  socket.on('to-room-except', (room, exceptRoom, event, data) => {
    io.to(room).except(exceptRoom).emit(event, data);
  });

  socket.on('broadcast', (event, data) => {
    socket.broadcast.emit(event, data);
  });

  socket.on(
    'ask',
    withAck(1, async (data, ack) => {
      try {
        const answer = await socket.timeout(2000).emitWithAck('question', data);
        ack({ answer });
      } catch {
        ack({ error: 'timeout' });
      }
    }),
  );

  socket.on(
    'size',
    withAck(1, (data, ack) => {
      if (typeof data === 'string') ack(data.length);
      else if (isBinary(data)) ack(data.byteLength);
      else ack(-1);
    }),
  );

  socket.on('kick', () => {
    socket.disconnect(true);
  });
});

const admin = io.of('/admin');
admin.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === 'secret') next();
  else next(new Error('not authorized'));
});
admin.on('connection', (socket) => {
  socket.emit('welcome', { nsp: '/admin' });
});

httpServer.listen(port, host, () => {
  console.log(
    `socket.io reference server on http://${host}:${port}/socket.io/ ` +
      `(pingInterval ${io.engine.opts.pingInterval}, pingTimeout ${io.engine.opts.pingTimeout})`,
  );
});

function shutdown() {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
