/*
 * chorus.js — a small browser client for the chorus native protocol, version 1
 * (docs/protocol.md). No dependencies, no build step.
 *
 *   <script src="/chorus.js"></script>            // defines the global `Chorus`
 *   const c = Chorus.connect({ name: "alice" });  // or Chorus.connect("wss://host/ws", {...})
 *   c.on("connect", ({ id, name }) => console.log("hello", name));
 *   c.on("chat", (data, { room, from }) => console.log(from.name, data.text));
 *   const { members } = await c.join("lobby");
 *   await c.emit("chat", { text: "hi" }, { room: "lobby" });  // resolves with the reply's result
 *
 * Options: name (sent as ?name=), protocols (default ["chorus.v1"]), timeout (reply timeout
 * in ms, default 10000), queueLimit (commands kept while disconnected, default 100),
 * token (a JWT, sent as ?token=; see docs/auth.md).
 *
 * Tokens: `token` is a string, or a function returning one (or a Promise of one). A function
 * is asked for a token before every (re)connect, and again before the current token
 * expires (its `exp`, read from the token): the new one is sent in-band with `refresh`, so
 * the connection never drops for an expired token. A string token is used as it is; when
 * the server closes the connection because it expired (close code 3000) the client stops
 * reconnecting, since the same token would be refused again. A server with tokens gives
 * the connection the token's name: setName() is then refused (`forbidden`).
 *
 * Lifecycle events (reserved; server events with these names are not delivered):
 *   connect    ({id, name})           after every `hello`, the first and each reconnect
 *   reconnect  ({id, name, rooms})    after a reconnect, once the rooms have been re-joined;
 *                                     rooms is [{room, members}] of the rooms re-joined
 *   disconnect ({code, reason})       an established connection closed
 *   presence   ({room, action, member})
 *   error      ({code, message})     `error` pushes (and rooms that could not be re-joined)
 *
 * The client reconnects by itself (full-jitter backoff, 250 ms doubling to 10 s), re-sends
 * the nickname set with setName() and re-joins every joined room. Commands issued while
 * disconnected are queued and sent on reconnect. Promises reject with an Error carrying
 * .code: a server error code, "timeout", or "disconnected".
 * Binary data (ArrayBuffer or a typed array/DataView) is sent as a binary frame; binary
 * events arrive as an ArrayBuffer.
 * History: rooms that keep it number their messages; the client remembers the last offset
 * seen per room, and after a reconnect re-joins with it, so the server replays exactly what
 * was missed (as ordinary events, before the `reconnect` event). Each entry of
 * `reconnect`'s rooms says `recovered` (true: nothing was lost) and `replayed`; when
 * `recovered` is false, history was lost or is out of retention — reload with history().
 * When the server asks for an acknowledgement (Socket::emit_with_ack), the first handler's
 * return value — or what its promise resolves to — is sent back as the answer.
 */
(function (root) {
  "use strict";

  const LIFECYCLE = new Set(["connect", "reconnect", "disconnect", "presence", "error"]);
  const BACKOFF_BASE = 250;
  const BACKOFF_MAX = 10000;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  function chorusError(code, message) {
    const err = new Error(message || code);
    err.code = code;
    return err;
  }

  function defaultUrl() {
    const secure = root.location && root.location.protocol === "https:";
    return (secure ? "wss://" : "ws://") + root.location.host + "/ws";
  }

  function isBinary(data) {
    return data instanceof ArrayBuffer || ArrayBuffer.isView(data);
  }

  // Binary frame: u32 big-endian header length, JSON header, payload.
  function encodeBinary(header, data) {
    const head = encoder.encode(JSON.stringify(header));
    const body = data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const frame = new Uint8Array(4 + head.length + body.length);
    new DataView(frame.buffer).setUint32(0, head.length, false);
    frame.set(head, 4);
    frame.set(body, 4 + head.length);
    return frame.buffer;
  }

  function decodeBinary(buffer) {
    if (buffer.byteLength < 4) throw new Error("binary frame too short");
    const len = new DataView(buffer).getUint32(0, false);
    if (4 + len > buffer.byteLength) throw new Error("binary frame header truncated");
    const msg = JSON.parse(decoder.decode(new Uint8Array(buffer, 4, len)));
    msg.data = buffer.slice(4 + len);
    return msg;
  }

  class Client {
    constructor(url, opts) {
      this.url = url || defaultUrl();
      this.opts = opts;
      this.id = null;
      this.name = null;
      this.readyState = 0;           // 0 connecting, 1 open, 2 closing, 3 closed
      this._handlers = new Map();    // event -> Set of handlers
      this._pending = new Map();     // rid -> {resolve, reject, timer}
      this._queue = [];              // [{frame, rid}] waiting for a connection
      this._restoring = false;       // re-joining after a reconnect: sends wait in _queue
      this._rooms = new Set();       // rooms to re-join after a reconnect
      this._positions = new Map();   // room -> {epoch, offset} of the last message seen
      this._set = null;              // {name, data} from setName(), re-sent on reconnect
      this._rid = 0;
      this._attempt = 0;
      this._everConnected = false;
      this._live = false;            // the current socket has said hello
      this._closed = false;
      this._ws = null;
      this._retry = null;
      this._token = null;            // the token of the current connection, if any
      this._refreshTimer = null;
      this._open();
    }

    on(event, handler) {
      if (!this._handlers.has(event)) this._handlers.set(event, new Set());
      this._handlers.get(event).add(handler);
      return this;
    }

    off(event, handler) {
      const set = this._handlers.get(event);
      if (set) set.delete(handler);
      return this;
    }

    emit(event, data, to) {
      const cmd = { type: "emit", event };
      if (to) cmd.to = to;
      let sent;
      if (isBinary(data)) {
        sent = this._request(cmd, data);
      } else {
        cmd.data = data === undefined ? null : data;
        sent = this._request(cmd);
      }
      // A message to a room with history is acknowledged once stored, with its offset:
      // our own place in the room's stream, even if we do not receive it back.
      return sent.then((result) => {
        if (to && to.room && typeof result.offset === "number") {
          this._seen(to.room, result.epoch, result.offset);
        }
        return result;
      });
    }

    join(room) {
      return this._join(room).then((result) => {
        this._rooms.add(room);
        return result;
      });
    }

    // Joins `room`; after a lost connection, asks for what was missed since the last
    // message seen there. The missed messages arrive as events before the reply.
    _join(room) {
      const cmd = { type: "join", room };
      const since = this._positions.get(room);
      if (since) cmd.since = since;
      return this._request(cmd).then((result) => {
        if (result.position) {
          const known = this._positions.get(room);
          if (!known || known.epoch !== result.position.epoch || known.offset < result.position.offset) {
            this._positions.set(room, { epoch: result.position.epoch, offset: result.position.offset });
          }
        }
        return result;
      });
    }

    /**
     * A room's history: the last `limit` messages, or `limit` after `after` ({epoch, offset}).
     * Resolves with {room, position, events: [{event, data, from, offset, time}], truncated}.
     */
    history(room, { limit, after } = {}) {
      const cmd = { type: "history", room };
      if (limit) cmd.limit = limit;
      if (after) cmd.after = after;
      return this._request(cmd);
    }

    /** The position {epoch, offset} of the last message seen in `room`, if any. */
    position(room) {
      const pos = this._positions.get(room);
      return pos ? { ...pos } : null;
    }

    _seen(room, epoch, offset) {
      const known = this._positions.get(room);
      if (!known || known.epoch !== epoch || offset > known.offset) {
        this._positions.set(room, { epoch, offset });
      }
    }

    leave(room) {
      this._rooms.delete(room); // even if the reply is lost, do not re-join it
      this._positions.delete(room);
      return this._request({ type: "leave", room });
    }

    presence(room) {
      return this._request({ type: "presence", room });
    }

    setName(name, data) {
      const cmd = { type: "set" };
      if (name != null) cmd.name = name;
      if (data !== undefined) cmd.data = data;
      return this._request(cmd).then((result) => {
        const set = this._set || { type: "set" };
        if (cmd.name) set.name = result.name || cmd.name.trim();
        if (data !== undefined) set.data = data;
        this._set = set;
        if (result.name) this.name = result.name;
        return result;
      });
    }

    ping() {
      return this._request({ type: "ping" });
    }

    /**
     * Replaces the connection's token (the same user's, with a later `exp` or other
     * permissions). Resolves with {expires_at, name, left}: `left` lists the rooms the new
     * token no longer allows, which the server has taken the connection out of.
     */
    refresh(token) {
      return this._request({ type: "refresh", token }).then((result) => {
        this._token = token;
        for (const room of result.left || []) {
          this._rooms.delete(room);
          this._positions.delete(room);
        }
        this._scheduleRefresh();
        return result;
      });
    }

    close() {
      this._closed = true;
      clearTimeout(this._retry);
      clearTimeout(this._refreshTimer);
      const ws = this._ws;
      if (ws && ws.readyState < 2) {
        this.readyState = 2;
        ws.close(1000, "client closed");
      } else {
        this._finish();
      }
    }

    // --- internals ---------------------------------------------------------------------

    _fire(event, ...args) {
      const set = this._handlers.get(event);
      if (!set) return;
      for (const handler of [...set]) {
        try {
          handler.apply(this, args);
        } catch (err) {
          setTimeout(() => { throw err; }); // report it without breaking dispatch
        }
      }
    }

    // An event the server wants acknowledged: the first handler's return value (or what its
    // promise resolves to) is the answer. Without a handler, or if it throws, no answer
    // goes back and the server's own timeout decides.
    _answer(msg) {
      const set = this._handlers.get(msg.event);
      const handler = set && [...set][0];
      if (!handler) return;
      Promise.resolve()
        .then(() => handler.call(this, msg.data, { room: msg.room, from: msg.from }))
        .then((value) => {
          if (!this._ws || this._ws.readyState !== 1) return;
          const header = { type: "ack", ack: msg.ack };
          if (isBinary(value)) {
            this._ws.send(encodeBinary(header, value));
          } else {
            header.data = value === undefined ? null : value;
            this._ws.send(JSON.stringify(header));
          }
        })
        .catch((err) => setTimeout(() => { throw err; }));
    }

    // The token for the next connection: the option as it is, or what its function gives.
    _nextToken() {
      const token = this.opts.token;
      if (typeof token === "function") return Promise.resolve().then(() => token());
      return Promise.resolve(token || null);
    }

    _open() {
      if (!this.opts.token) return this._connect(null);
      this._nextToken().then(
        (token) => { if (!this._closed) this._connect(token || null); },
        (err) => {
          // No token to connect with: report it and try again later, like a failed connect.
          this._fire("error", { code: "token", message: String((err && err.message) || err) });
          if (!this._closed) this._dropped(1006, "no token");
        });
    }

    _connect(token) {
      const url = new URL(this.url, root.location && root.location.href);
      if (url.protocol === "http:") url.protocol = "ws:";
      if (url.protocol === "https:") url.protocol = "wss:";
      const name = (this._set && this._set.name) || this.opts.name;
      if (name) url.searchParams.set("name", name);
      if (token) url.searchParams.set("token", token);
      this._token = token;
      const ws = new WebSocket(url.href, this.opts.protocols || ["chorus.v1"]);
      ws.binaryType = "arraybuffer";
      this._ws = ws;
      this.readyState = 0;
      ws.onmessage = (ev) => {
        if (ws === this._ws) this._receive(ev.data);
      };
      ws.onclose = (ev) => {
        if (ws === this._ws) this._dropped(ev.code, ev.reason);
      };
    }

    _receive(raw) {
      let msg;
      try {
        msg = typeof raw === "string" ? JSON.parse(raw) : decodeBinary(raw);
      } catch (err) {
        return; // not something we can read: ignore it, as for unknown types
      }
      if (!msg || typeof msg !== "object") return;
      switch (msg.type) {
        case "hello": return this._hello(msg);
        case "reply": return this._reply(msg);
        case "event":
          if (LIFECYCLE.has(msg.event)) return;
          if (msg.room && typeof msg.offset === "number") this._seen(msg.room, msg.epoch, msg.offset);
          if (typeof msg.ack === "number") return this._answer(msg);
          this._fire(msg.event, msg.data, { room: msg.room, from: msg.from, offset: msg.offset });
          return;
        case "presence": return this._fire("presence", msg);
        case "error": return this._fire("error", { code: msg.code, message: msg.message });
        default: return; // unknown push types are ignored
      }
    }

    // With a token function: asks it for a new token before the current one expires and
    // sends it with `refresh`. Refreshes at half the token's remaining life, and at most
    // 30 s before its `exp`.
    _scheduleRefresh() {
      clearTimeout(this._refreshTimer);
      this._refreshTimer = null;
      if (typeof this.opts.token !== "function") return;
      const exp = tokenExpiry(this._token);
      if (exp === null) return;
      const life = exp * 1000 - Date.now();
      const delay = Math.max(0, life - Math.min(30000, life / 2));
      this._refreshTimer = setTimeout(() => {
        this._refreshTimer = null;
        if (!this._live) return;
        this._nextToken()
          .then((token) => this.refresh(token))
          .catch((err) => this._fire("error", { code: err.code || "token", message: err.message }));
      }, delay);
    }

    _hello(msg) {
      const again = this._everConnected;
      this._scheduleRefresh();
      this.id = msg.id;
      this.name = msg.name;
      this.readyState = 1;
      this._live = true;
      this._attempt = 0;
      this._everConnected = true;
      // Restore first (nickname, then rooms), then whatever was queued, all in order.
      this._restoring = false;
      const restore = [];
      if (this._set) {
        restore.push(this._request(this._set).then((r) => { if (r.name) this.name = r.name; }));
      }
      const rooms = [...this._rooms].map((room) =>
        this._join(room).catch((err) => {
          this._rooms.delete(room);
          this._fire("error", { code: err.code, message: err.message, room });
          return null;
        }));
      // What was queued goes once the client is back in its rooms (a room's join with
      // `since` finishes on the server after its replay): a message sent while away then
      // reaches the room as the client left it, itself included.
      // Until then, what the application sends queues behind it.
      this._restoring = true;
      const socket = this._ws;
      this._fire("connect", { id: this.id, name: this.name });
      Promise.all(restore.concat(rooms).map((p) => p.catch(() => null))).then((results) => {
        if (this._ws !== socket || this.readyState !== 1) return;
        this._restoring = false;
        const queued = this._queue;
        this._queue = [];
        for (const item of queued) this._send(item.frame, item.rid);
        if (again) {
          this._fire("reconnect", {
            id: this.id,
            name: this.name,
            rooms: results.slice(restore.length).filter(Boolean),
          });
        }
      });
    }

    _reply(msg) {
      const pending = this._pending.get(msg.rid);
      if (!pending) return;
      this._pending.delete(msg.rid);
      clearTimeout(pending.timer);
      if (msg.ok) {
        pending.resolve(msg.result || {});
      } else {
        const error = msg.error || {};
        pending.reject(chorusError(error.code || "internal", error.message));
      }
    }

    _request(cmd, binary) {
      if (this._closed) return Promise.reject(chorusError("disconnected", "the client is closed"));
      const rid = ++this._rid;
      const header = Object.assign({}, cmd, { rid });
      const frame = binary ? encodeBinary(header, binary) : JSON.stringify(header);
      return new Promise((resolve, reject) => {
        this._pending.set(rid, { resolve, reject, timer: null });
        if (this.readyState === 1 && this._ws.readyState === 1 && !this._restoring) {
          this._send(frame, rid);
        } else if (this._queue.length < (this.opts.queueLimit || 100)) {
          this._queue.push({ frame, rid });
        } else {
          this._pending.delete(rid);
          reject(chorusError("disconnected", "not connected and the send queue is full"));
        }
      });
    }

    _send(frame, rid) {
      const pending = this._pending.get(rid);
      if (!pending) return;
      const timeout = this.opts.timeout || 10000;
      pending.timer = setTimeout(() => {
        this._pending.delete(rid);
        pending.reject(chorusError("timeout", "no reply within " + timeout + " ms"));
      }, timeout);
      this._ws.send(frame);
    }

    _dropped(code, reason) {
      const wasOpen = this._live;
      this._live = false;
      this._ws = null;
      clearTimeout(this._refreshTimer);
      // The server closed the connection because its token expired: a fixed token would be
      // refused again, so stop; a token function gives a fresh one on the reconnect.
      if (code === 3000 && typeof this.opts.token === "string") this._closed = true;
      // Replies to commands already sent will never come.
      for (const [rid, pending] of this._pending) {
        if (pending.timer !== null) {
          clearTimeout(pending.timer);
          this._pending.delete(rid);
          pending.reject(chorusError("disconnected", "the connection closed before the reply"));
        }
      }
      if (this._closed) return this._finish(wasOpen ? { code, reason } : null);
      this.readyState = 0;
      if (wasOpen) this._fire("disconnect", { code, reason });
      const ceiling = Math.min(BACKOFF_MAX, BACKOFF_BASE * 2 ** this._attempt);
      this._attempt = Math.min(this._attempt + 1, 16);
      this._retry = setTimeout(() => this._open(), Math.random() * ceiling);
    }

    _finish(closeInfo) {
      this.readyState = 3;
      this._ws = null;
      for (const pending of this._pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(chorusError("disconnected", "the client is closed"));
      }
      this._pending.clear();
      this._queue = [];
      if (closeInfo) this._fire("disconnect", closeInfo);
    }
  }

  // The `exp` claim of a JWT (seconds since the epoch), or null.
  function tokenExpiry(token) {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(decoder.decode(Uint8Array.from(atob(payload), (ch) => ch.charCodeAt(0))));
      return typeof claims.exp === "number" ? claims.exp : null;
    } catch (err) {
      return null;
    }
  }

  function connect(url, opts) {
    if (url && typeof url === "object") { opts = url; url = undefined; }
    return new Client(url, opts || {});
  }

  root.Chorus = { connect, Client, encodeBinary, decodeBinary };
})(typeof globalThis !== "undefined" ? globalThis : window);
