// Benchmark peer: Node `ws`, raw protocol.
//
// A client connecting to ws://127.0.0.1:PORT/<path> joins the room <path>.
// Every text/binary message is sent to every member of the room, the sender
// included, with the same opcode. On close the client leaves the room.
//
// Start: PORT=9001 node ws-server.mjs
import http from 'node:http';
import { WebSocketServer } from 'ws';

const PORT = Number(process.env.PORT || 9001);
const HOST = '127.0.0.1';
const MAX_PAYLOAD = 1024 * 1024; // 1 MiB

/** @type {Map<string, Set<import('ws').WebSocket>>} */
const rooms = new Map();

// Node's http.Server sets TCP_NODELAY on accepted sockets by default
// (`noDelay: true`); we pass it explicitly. ws keeps the same socket after the upgrade.
const server = http.createServer({ noDelay: true }, (req, res) => {
  res.writeHead(426, { 'content-type': 'text/plain' });
  res.end('websocket only\n');
});

const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  maxPayload: MAX_PAYLOAD,
  clientTracking: false,
});

wss.on('connection', (ws, req) => {
  const path = new URL(req.url, 'http://x').pathname;
  let room = rooms.get(path);
  if (room === undefined) {
    room = new Set();
    rooms.set(path, room);
  }
  room.add(ws);

  ws.on('message', (data, isBinary) => {
    for (const member of room) {
      if (member.readyState === 1 /* OPEN */) member.send(data, { binary: isBinary });
    }
  });

  ws.on('close', () => {
    room.delete(ws);
    if (room.size === 0 && rooms.get(path) === room) rooms.delete(path);
  });

  ws.on('error', () => {});
});

server.listen(PORT, HOST, () => {
  console.log(`ws peer listening on ws://${HOST}:${PORT}/<room>`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
