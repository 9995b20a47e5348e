// chorus's own admin page at /admin, in Chromium: signing in with an API key (a wrong one
// refused), live charts drawn by uPlot from the server API's `stats`, the fullest rooms,
// who is in a room, a disconnect that reaches the client, and a test message that
// reaches it — with no console error. Saves e2e/screenshots/admin-page.png.
//
//   CHORUS_URL=http://127.0.0.1:4100 CHORUS_API_KEY=… node --test browser/admin-page.test.mjs
//
// Needs a chorus server at $CHORUS_URL started with that key (CHORUS_API_KEYS), and a
// Chromium at $CHROMIUM.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { launchChromium } from "./chromium.mjs";

const BASE = (process.env.CHORUS_URL || "http://127.0.0.1:4100").replace(/\/+$/, "");
const KEY = process.env.CHORUS_API_KEY;
const SHOTS = fileURLToPath(new URL("../screenshots/", import.meta.url));
const WAIT = { timeout: 15_000 };

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/// A native client in `room`: its id, what it receives, and how it closed.
async function member(room, name) {
  const ws = new WebSocket(`${BASE.replace(/^http/, "ws")}/ws?name=${encodeURIComponent(name)}`);
  const got = [];
  const closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  ws.on("message", (data) => got.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  const until = async (what) => {
    for (let i = 0; i < 200; i++) {
      const found = got.find(what);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`never got it: ${JSON.stringify(got)}`);
  };
  const hello = await until((m) => m.type === "hello");
  ws.send(JSON.stringify({ type: "join", rid: 1, room }));
  await until((m) => m.type === "reply" && m.rid === 1);
  return { ws, id: hello.id, until, closed };
}

test("the admin page charts the server, finds a room's members, disconnects one and publishes", { skip: !KEY && "CHORUS_API_KEY is not set" }, async () => {
  const room = `admin-${Math.random().toString(36).slice(2, 8)}`;
  const alice = await member(room, "alice");
  const bob = await member(room, "bob");
  const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  page.on("console", (msg) => {
    // The refused key's 401 is the browser's own network log line, not the page's error.
    if (msg.type() === "error" && !/401/.test(msg.text())) errors.push(new Error(msg.text()));
  });
  try {
    await page.goto(`${BASE}/admin`);
    await page.fill("#key", "not-the-key-0123456789");
    await page.click("#login button[type=submit]");
    await page.locator("#login-error", { hasText: "not one of the server's" }).waitFor(WAIT);

    await page.fill("#key", KEY);
    await page.click("#login button[type=submit]");
    await page.waitForSelector('body[data-ready="1"]', WAIT);
    assert.equal(await page.locator("#login").isVisible(), false, "the sign-in form is gone");
    // Charts drawn by uPlot, from a few samples.
    await page.waitForFunction(() => Number(document.body.dataset.samples || 0) >= 3, null, WAIT);
    assert.equal(await page.locator(".chart .uplot canvas").count(), 4);
    const natives = await page.locator("#nodes tbody tr td").nth(4).textContent();
    assert.ok(Number(natives) >= 2, `native connections: ${natives}`);

    // The room is among the fullest; "Who?" lists its members.
    const row = page.locator("#rooms tbody tr", { hasText: room });
    await row.waitFor(WAIT);
    await row.locator("button").click();
    await page.locator("#found tbody tr", { hasText: "alice" }).waitFor(WAIT);
    assert.equal(await page.locator("#found tbody tr").count(), 2);

    // A test message reaches the room's members.
    await page.fill("#publish-data", '{"text":"from the admin page"}');
    await page.click("#publish button[type=submit]");
    await page.locator("#publish-status", { hasText: "delivered to 2" }).waitFor(WAIT);
    const event = await alice.until((m) => m.type === "event" && m.room === room);
    assert.deepEqual(event.data, { text: "from the admin page" });

    // Disconnect bob from the page: his connection closes.
    await page.locator("#found tbody tr", { hasText: "bob" }).locator("button").click();
    await page.locator("#search-status", { hasText: `disconnected ${bob.id}` }).waitFor(WAIT);
    assert.equal(await bob.closed, 1000);

    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}admin-page.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    alice.ws.close();
    bob.ws.close();
    await context.close();
  }
});
