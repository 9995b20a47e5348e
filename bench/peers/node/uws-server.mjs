// Benchmark peer: uWebSockets.js (native binding), raw protocol via its pub/sub.
//
// A client connecting to ws://127.0.0.1:PORT/<path> is subscribed to topic
// <path>. Every text/binary message is published to that topic with
// app.publish, which delivers to every subscriber *including the sender*, with
// the same opcode. uWS unsubscribes a socket from all topics when it closes.
//
// Binding: uWebSockets.js is not on npm under its own name; we load the
// prebuilt native addon shipped in @trufflesuite/uws-js-unofficial (see
// ../README.md for why that package/version). We require the .node file
// directly, NOT the package's main entry: that entry silently falls back to a
// pure-JS `ws` emulation when the native addon fails to load, which would
// invalidate the benchmark. Override the binding with UWS_BINDING=/path/to/uws_*.node.
//
// TCP_NODELAY: uSockets sets it on every accepted socket itself (not configurable).
//
// Start: PORT=9001 node uws-server.mjs
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const PORT = Number(process.env.PORT || 9001);
const HOST = '127.0.0.1';

let bindingPath = process.env.UWS_BINDING;
let uWS;
try {
  bindingPath ||= require.resolve(
    `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
  );
  uWS = require(bindingPath);
} catch (e) {
  console.error(
    `uws peer: cannot load the uWebSockets.js native binding${bindingPath ? ` ${bindingPath}` : ''} ` +
      `(Node ${process.version}, ABI ${process.versions.modules}). Run bench/peers/install.sh; see bench/peers/README.md.\n${e.message}`,
  );
  process.exit(1);
}

const app = uWS.App();

app.ws('/*', {
  compression: uWS.DISABLED, // no permessage-deflate
  maxPayloadLength: 1024 * 1024, // 1 MiB
  // The other peers never drop a message for a slow reader (they buffer without
  // bound), so neither does this one: 0 disables uWS's per-socket backpressure
  // limit (default 64 KiB), above which publish() would silently skip the socket.
  maxBackpressure: 0,
  // The other peers have no idle timeout either (default here is 120 s).
  idleTimeout: 0,

  upgrade: (res, req, context) => {
    res.upgrade(
      { path: req.getUrl() },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },

  open: (ws) => {
    ws.subscribe(ws.getUserData().path);
  },

  message: (ws, message, isBinary) => {
    app.publish(ws.getUserData().path, message, isBinary);
  },
});

app.any('/*', (res) => {
  res.writeStatus('426 Upgrade Required').end('websocket only\n');
});

app.listen(HOST, PORT, (token) => {
  if (!token) {
    console.error(`uws peer: failed to listen on ${HOST}:${PORT}`);
    process.exit(1);
  }
  console.log(`uws peer listening on ws://${HOST}:${PORT}/<room> (binding ${bindingPath})`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
