// End-to-end test of the chat page in headless Chromium.
//
//   CHORUS_URL=http://127.0.0.1:4100 node --test browser/
//
// Needs a running chorus server at $CHORUS_URL and a Chromium at $CHROMIUM (default
// /usr/bin/chromium). Saves a screenshot of alice's page to e2e/screenshots/chat.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";

const BASE = (process.env.CHORUS_URL || "http://127.0.0.1:4100").replace(/\/+$/, "");
const SHOTS = fileURLToPath(new URL("../screenshots/", import.meta.url));
const WAIT = { timeout: 10_000 };

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

// A fresh browser context (own storage) with the chat page open as `name` in `room`.
async function openChat(name, room = "lobby") {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  const query = new URLSearchParams({ name });
  const hash = room === "lobby" ? "" : "#" + encodeURIComponent(room);
  await page.goto(`${BASE}/?${query}${hash}`);
  await page.waitForSelector('body[data-ready="1"]', WAIT);
  return { context, page, errors };
}

// Waits until `selector` has an element whose whole text is `text`.
function exact(page, selector, text) {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return page.locator(selector, { hasText: new RegExp(`^\\s*${escaped}\\s*$`) });
}

async function send(page, text) {
  await page.fill("#message", text);
  await page.press("#message", "Enter");
}

test("two people chat in the lobby", async () => {
  // The lobby keeps history across runs against one server: this run's messages are tagged.
  const tag = Math.random().toString(36).slice(2, 8);
  const alice = await openChat("alice");
  const bob = await openChat("bob");
  try {
    assert.equal(await alice.page.textContent("#status"), "online");
    assert.equal(await bob.page.textContent("#status"), "online");

    // Each sees the other (and themselves) in the member list.
    await exact(alice.page, "#members li", "bob").waitFor(WAIT);
    await exact(alice.page, "#members li", "alice").waitFor(WAIT);
    await exact(bob.page, "#members li", "alice").waitFor(WAIT);
    await exact(bob.page, "#members li", "bob").waitFor(WAIT);

    // Alice saw bob come in.
    await exact(alice.page, "#messages li.notice.join .text", "bob comes in").waitFor(WAIT);

    // Messages go both ways, with the sender's name.
    await send(alice.page, `hello from alice ${tag}`);
    const onBob = bob.page.locator("#messages li.msg", { hasText: `hello from alice ${tag}` });
    await onBob.waitFor(WAIT);
    assert.equal((await onBob.locator(".who").textContent()).trim(), "alice");

    await send(bob.page, `hi alice, bob here ${tag}`);
    const onAlice = alice.page.locator("#messages li.msg", { hasText: `bob here ${tag}` });
    await onAlice.waitFor(WAIT);
    assert.equal((await onAlice.locator(".who").textContent()).trim(), "bob");
    // Alice sees her own message too (the server echoes room messages to the sender).
    await alice.page.locator("#messages li.msg.mine", { hasText: `hello from alice ${tag}` }).waitFor(WAIT);

    // Markup in a message is shown as text and never run.
    const evil = `<img src=x onerror=window.__xss=1> ${tag}`;
    await send(bob.page, evil);
    const shown = alice.page.locator("#messages li.msg .text", { hasText: evil });
    await shown.waitFor(WAIT);
    assert.equal(await shown.textContent(), evil);
    assert.equal(await alice.page.locator("#messages img").count(), 0);
    await alice.page.waitForTimeout(200); // give a broken image's onerror a chance to fire
    assert.equal(await alice.page.evaluate(() => window.__xss), undefined);
    assert.equal(await bob.page.evaluate(() => window.__xss), undefined);

    // Bob closes his tab: alice sees him leave.
    await bob.context.close();
    await exact(alice.page, "#messages li.notice.leave .text", "bob leaves").waitFor(WAIT);
    await exact(alice.page, "#members li", "bob").waitFor({ state: "detached", ...WAIT });
    assert.equal(await alice.page.locator("#members li").count(), 1);

    await mkdir(SHOTS, { recursive: true });
    await alice.page.screenshot({ path: SHOTS + "chat.png" });

    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  } finally {
    await alice.context.close();
    await bob.context.close().catch(() => {});
  }
});

test("switching rooms leaves the old one, and a new nickname shows everywhere", async () => {
  const room = "e2e-" + Math.random().toString(36).slice(2, 8);
  const carol = await openChat("carol", room);
  const dave = await openChat("dave", room);
  try {
    await exact(carol.page, "#members li", "dave").waitFor(WAIT);

    // dave renames himself; carol's list and notices follow.
    await dave.page.fill("#name", "dave2");
    await dave.page.click("#connect");
    await exact(dave.page, "#members li", "dave2").waitFor(WAIT);
    await exact(carol.page, "#members li", "dave2").waitFor(WAIT);
    await exact(carol.page, "#messages li.notice .text", "dave is now known as dave2").waitFor(WAIT);

    // dave moves to another room: carol sees him leave, dave lands in an empty room.
    await dave.page.fill("#room", room + "-b");
    await dave.page.click("#join");
    await exact(carol.page, "#messages li.notice.leave .text", "dave2 leaves").waitFor(WAIT);
    await exact(carol.page, "#members li", "dave2").waitFor({ state: "detached", ...WAIT });
    await exact(dave.page, "#room-title", "#" + room + "-b").waitFor(WAIT);
    await dave.page.waitForFunction(() => document.querySelectorAll("#members li").length === 1, null, WAIT);

    // Messages stay in their room.
    await send(carol.page, "only for the first room");
    await carol.page.locator("#messages li.msg", { hasText: "only for the first room" }).waitFor(WAIT);
    await dave.page.waitForTimeout(300);
    assert.equal(await dave.page.locator("#messages li.msg").count(), 0);

    assert.deepEqual(carol.errors, []);
    assert.deepEqual(dave.errors, []);
  } finally {
    await carol.context.close();
    await dave.context.close();
  }
});

test("the chat page shows a room's recent history, after a reload too", async () => {
  const room = "hist-" + Math.random().toString(36).slice(2, 8);
  const erin = await openChat("erin", room);
  try {
    for (const text of ["first words", "second words", "third words"]) {
      await send(erin.page, text);
      await erin.page.locator("#messages li.msg", { hasText: text }).waitFor(WAIT);
    }
    // Someone arriving later sees what was said, in order, with the speakers' names.
    const fred = await openChat("fred", room);
    try {
      const earlier = fred.page.locator("#messages li.msg");
      await earlier.nth(2).waitFor(WAIT);
      assert.deepEqual(
        (await earlier.locator(".text").allTextContents()).map((t) => t.trim()),
        ["first words", "second words", "third words"],
      );
      assert.equal((await earlier.first().locator(".who").textContent()).trim(), "erin");
      assert.deepEqual(fred.errors, []);
    } finally {
      await fred.context.close();
    }
    // A reload shows the history again, each message once, and new messages after it.
    await erin.page.reload();
    await erin.page.waitForSelector('body[data-ready="1"]', WAIT);
    await erin.page.locator("#messages li.msg").nth(2).waitFor(WAIT);
    await send(erin.page, "after the reload");
    await erin.page.locator("#messages li.msg", { hasText: "after the reload" }).waitFor(WAIT);
    assert.deepEqual(
      (await erin.page.locator("#messages li.msg .text").allTextContents()).map((t) => t.trim()),
      ["first words", "second words", "third words", "after the reload"],
    );
    await mkdir(SHOTS, { recursive: true });
    await erin.page.screenshot({ path: SHOTS + "chat-history.png" });
    assert.deepEqual(erin.errors, []);
  } finally {
    await erin.context.close();
  }
});
