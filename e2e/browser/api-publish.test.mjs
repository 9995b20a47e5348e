// The README tour's server API step, in Chromium: the chat page open in a room, a message
// published to the room with the server API (as a backend would, with curl), shown on the
// page as the server's — and stored, so a page opened afterwards shows it from history.
//
//   CHORUS_URL=http://127.0.0.1:4100 CHORUS_API_KEY=… node --test browser/api-publish.test.mjs
//
// Needs a chorus server at $CHORUS_URL started with that key (CHORUS_API_KEYS), and a
// Chromium at $CHROMIUM. Saves e2e/screenshots/api-publish.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";

const BASE = (process.env.CHORUS_URL || "http://127.0.0.1:4100").replace(/\/+$/, "");
const KEY = process.env.CHORUS_API_KEY;
const SHOTS = fileURLToPath(new URL("../screenshots/", import.meta.url));
const WAIT = { timeout: 10_000 };

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

async function openChat(room) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  page.on("console", (msg) => msg.type() === "error" && errors.push(new Error(msg.text())));
  await page.goto(`${BASE}/?name=reader#${encodeURIComponent(room)}`);
  await page.waitForSelector('body[data-ready="1"]', WAIT);
  return { context, page, errors };
}

async function api(method, body) {
  const response = await fetch(`${BASE}/api/${method}`, {
    method: "POST",
    headers: { Authorization: `apikey ${KEY}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

test("a message published with the server API shows on the chat page, and stays in its history", { skip: !KEY && "CHORUS_API_KEY is not set" }, async () => {
  const room = `orders-${Math.random().toString(36).slice(2, 8)}`;
  const first = await openChat(room);
  try {
    const text = "order #7 shipped";
    const sent = await api("publish", { room, event: "chat", data: { text } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(sent.body.delivered, 1);
    assert.equal(sent.body.offset, 1);
    const line = first.page.locator("#messages li", { hasText: text });
    await line.waitFor(WAIT);
    assert.match(await line.textContent(), /server/);
    await mkdir(SHOTS, { recursive: true });
    await first.page.screenshot({ path: `${SHOTS}api-publish.png` });

    // A page opened afterwards shows it from the room's history.
    const later = await openChat(room);
    try {
      await later.page.locator("#messages li", { hasText: text }).waitFor(WAIT);
      assert.deepEqual(later.errors, []);
    } finally {
      await later.context.close();
    }
    assert.deepEqual(first.errors, []);
  } finally {
    await first.context.close();
  }
});
