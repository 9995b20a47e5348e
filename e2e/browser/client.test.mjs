// End-to-end test of chorus.js, the browser client, in headless Chromium against a live
// server: replies, events, binary frames, errors, presence, reconnect and close.
//
//   CHORUS_URL=http://127.0.0.1:4100 node --test browser/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium } from "./chromium.mjs";

const BASE = (process.env.CHORUS_URL || "http://127.0.0.1:4100").replace(/\/+$/, "");
const WAIT = { timeout: 10_000 };

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

// A page on the server's origin with only /chorus.js loaded; `window.log` collects what
// the client's handlers see. (A page made up with page.route would not do: Chromium's local
// network access checks block its WebSockets to 127.0.0.1.)
async function blankPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  await page.goto(`${BASE}/chorus.js`);
  await page.addScriptTag({ url: "/chorus.js" });
  await page.evaluate(() => { window.log = []; });
  await page.waitForFunction(() => typeof window.Chorus === "object", null, WAIT);
  return { context, page, errors };
}

// Connects `window.c` as `name`, logging lifecycle events and `ev` events; resolves with hello.
function connect(page, name) {
  return page.evaluate((name) => new Promise((resolve, reject) => {
    const c = (window.c = Chorus.connect({ name, timeout: 5000 }));
    for (const ev of ["connect", "reconnect", "disconnect", "presence", "error"]) {
      c.on(ev, (info) => window.log.push({ ev, info }));
    }
    c.on("ev", (data, meta) => window.log.push({
      ev: "ev",
      data: data instanceof ArrayBuffer ? { bytes: [...new Uint8Array(data)] } : data,
      meta,
    }));
    c.on("connect", resolve);
    setTimeout(() => reject(new Error("no hello")), 5000);
  }), name);
}

function waitLog(page, predicate, arg) {
  return page.waitForFunction(
    ([src, arg]) => window.log.find((e) => new Function("e", "arg", `return (${src})(e, arg)`)(e, arg)),
    [predicate.toString(), arg],
    WAIT,
  ).then((h) => h.jsonValue());
}

test("chorus.js: commands, events, binary, errors, reconnect, close", async () => {
  const a = await blankPage();
  const b = await blankPage();
  const room = "js-" + Math.random().toString(36).slice(2, 8);
  try {
    const helloA = await connect(a.page, "ann");
    const helloB = await connect(b.page, "ben");
    assert.equal(helloA.name, "ann");
    assert.equal(typeof helloA.id, "string");
    assert.notEqual(helloA.id, helloB.id);
    assert.equal(await a.page.evaluate(() => [c.readyState, c.id, c.name].join()), `1,${helloA.id},ann`);

    // ping, join, presence.
    assert.deepEqual(await a.page.evaluate(() => c.ping()), {});
    const joined = await a.page.evaluate((room) => c.join(room), room);
    assert.equal(joined.room, room);
    assert.deepEqual(joined.members.map((m) => m.name), ["ann"]);
    const joinedB = await b.page.evaluate((room) => c.join(room), room);
    assert.deepEqual(joinedB.members.map((m) => m.name).sort(), ["ann", "ben"]);
    const join = await waitLog(a.page, (e) => e.ev === "presence" && e.info.action === "join");
    assert.equal(join.info.room, room);
    assert.equal(join.info.member.name, "ben");
    assert.equal(join.info.member.id, helloB.id);
    const pres = await a.page.evaluate((room) => c.presence(room), room);
    assert.deepEqual(pres.members.map((m) => m.name).sort(), ["ann", "ben"]);

    // A JSON event to the room reaches both, with room, sender and its offset in the
    // room's history (acknowledged once stored).
    const sent = await a.page.evaluate((room) => c.emit("ev", { n: 1 }, { room }), room);
    assert.equal(sent.delivered, 2);
    assert.equal(sent.offset, 1);
    const got = await waitLog(b.page, (e) => e.ev === "ev" && e.data && e.data.n === 1);
    assert.deepEqual(got.meta, { room, from: { id: helloA.id, name: "ann" }, offset: 1 });
    await waitLog(a.page, (e) => e.ev === "ev" && e.data && e.data.n === 1);

    // except_self and conn targets.
    const others = await a.page.evaluate((room) => c.emit("ev", { n: 2 }, { room, except_self: true }), room);
    assert.equal(others.delivered, 1);
    await waitLog(b.page, (e) => e.ev === "ev" && e.data && e.data.n === 2);
    const direct = await a.page.evaluate((id) => c.emit("ev", { n: 3 }, { conn: id }), helloB.id);
    assert.equal(direct.delivered, 1);
    const gotDirect = await waitLog(b.page, (e) => e.ev === "ev" && e.data && e.data.n === 3);
    assert.equal(gotDirect.meta.room, undefined);

    // Binary payloads go out as binary frames and arrive as ArrayBuffers.
    const bin = await a.page.evaluate((room) =>
      c.emit("ev", new Uint8Array([0, 1, 2, 254, 255]), { room, except_self: true }), room);
    assert.equal(bin.delivered, 1);
    const gotBin = await waitLog(b.page, (e) => e.ev === "ev" && e.data && e.data.bytes);
    assert.deepEqual(gotBin.data.bytes, [0, 1, 2, 254, 255]);
    assert.equal(gotBin.meta.from.name, "ann");
    // A view into a larger buffer sends only its own bytes.
    await a.page.evaluate((room) => c.emit("ev",
      new Uint8Array([9, 9, 7, 8, 9, 9]).subarray(2, 4), { room, except_self: true }), room);
    await waitLog(b.page, (e) => e.ev === "ev" && e.data && e.data.bytes && e.data.bytes.join() === "7,8");

    // Failed replies reject with the server's error code; the connection stays usable.
    const fail = (expr) => a.page.evaluate((expr) => new Function(`return ${expr}`)()
      .then(() => "resolved", (e) => e.code), expr);
    assert.equal(await fail('c.emit("ev", 1, { room: "not-joined-here" })'), "not_in_room");
    assert.equal(await fail('c.emit("ev", 1, { conn: "no-such-connection" })'), "no_such_conn");
    assert.equal(await fail('c.leave("not-joined-here")'), "not_in_room");
    assert.equal(await fail('c.join("")'), "bad_room");
    assert.equal(await fail('c.setName("   ")'), "bad_request");
    assert.deepEqual(await a.page.evaluate(() => c.ping()), {});

    // setName: others see an update.
    assert.deepEqual(await a.page.evaluate(() => c.setName("annie", { color: "teal" })), { name: "annie" });
    assert.equal(await a.page.evaluate(() => c.name), "annie");
    const upd = await waitLog(b.page, (e) => e.ev === "presence" && e.info.action === "update");
    assert.equal(upd.info.member.name, "annie");
    assert.deepEqual(upd.info.member.data, { color: "teal" });

    // Drop ann's socket under the client: it reconnects with a new id, keeps its name and
    // rooms, and sends what was queued meanwhile.
    const dropped = a.page.evaluate((room) => {
      window.c._ws.close(4000, "test drop");
      return c.emit("ev", { n: "queued" }, { room });
    }, room);
    const disc = await waitLog(a.page, (e) => e.ev === "disconnect");
    assert.equal(typeof disc.info.code, "number");
    const rec = await waitLog(a.page, (e) => e.ev === "reconnect");
    assert.notEqual(rec.info.id, helloA.id);
    assert.equal(rec.info.name, "annie");
    assert.deepEqual(rec.info.rooms.map((r) => r.room), [room]);
    assert.equal((await dropped).delivered, 2);
    await waitLog(b.page, (e) => e.ev === "ev" && e.data && e.data.n === "queued");
    await waitLog(b.page, (e, id) => e.ev === "presence" && e.info.action === "leave" && e.info.member.id === id, helloA.id);
    await waitLog(b.page, (e, id) => e.ev === "presence" && e.info.action === "join" && e.info.member.id === id, rec.info.id);
    const after = await b.page.evaluate((room) => c.presence(room), room);
    assert.deepEqual(after.members.map((m) => m.name).sort(), ["annie", "ben"]);

    // close(): no more reconnects, and commands reject with "disconnected".
    await b.page.evaluate(() => { c.close(); });
    await b.page.waitForFunction(() => c.readyState === 3, null, WAIT);
    assert.equal(await b.page.evaluate(() => c.ping().then(() => "resolved", (e) => e.code)), "disconnected");
    await waitLog(a.page, (e) => e.ev === "presence" && e.info.action === "leave" && e.info.member.name === "ben");

    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test("chorus.js: after a dropped connection, the messages sent meanwhile are replayed once, in order", async () => {
  const room = "recover-" + Math.random().toString(36).slice(2, 8);
  const a = await blankPage();
  const b = await blankPage();
  try {
    await connect(a.page, "ann");
    await connect(b.page, "ben");
    await a.page.evaluate((room) => c.join(room), room);
    await b.page.evaluate((room) => c.join(room), room);
    await b.page.evaluate((room) => c.emit("ev", { n: 0 }, { room }), room);
    await waitLog(a.page, (e) => e.ev === "ev" && e.data.n === 0);
    const before = await a.page.evaluate((room) => c.position(room), room);
    assert.equal(before.offset, 1);

    // Drop ann's socket and hold its reconnect (the test stands in for a slow network),
    // and have ben talk while ann is away (each emit is acknowledged once stored, with
    // its offset).
    await a.page.evaluate(() => {
      c._open = () => { window.wantsOpen = true; };
      window.c._ws.close(4000, "test drop");
    });
    await waitLog(a.page, (e) => e.ev === "disconnect");
    const acks = await b.page.evaluate(async (room) => {
      const acks = [];
      for (let n = 1; n <= 5; n++) acks.push(await c.emit("ev", { n }, { room }));
      return acks;
    }, room);
    assert.deepEqual(acks.map((r) => r.offset), [2, 3, 4, 5, 6]);
    await a.page.waitForFunction(() => window.wantsOpen === true, null, WAIT);
    await a.page.evaluate(() => { delete c._open; c._open(); });

    // ann reconnects by itself and re-joins with its position: the five missed messages
    // arrive as ordinary events, before the reconnect event, each once.
    const rec = await waitLog(a.page, (e) => e.ev === "reconnect");
    const entry = rec.info.rooms.find((r) => r.room === room);
    assert.equal(entry.recovered, true);
    assert.equal(entry.replayed, 5);
    const ns = await a.page.evaluate(() => window.log.filter((e) => e.ev === "ev").map((e) => e.data.n));
    assert.deepEqual(ns, [0, 1, 2, 3, 4, 5]);
    const offsets = await a.page.evaluate(() => window.log.filter((e) => e.ev === "ev").map((e) => e.meta.offset));
    assert.deepEqual(offsets, [1, 2, 3, 4, 5, 6]);
    assert.equal((await a.page.evaluate((room) => c.position(room), room)).offset, 6);

    // history() reads the room's past.
    const page = await a.page.evaluate((room) => c.history(room, { limit: 3 }), room);
    assert.deepEqual(page.events.map((e) => e.data.n), [3, 4, 5]);
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
