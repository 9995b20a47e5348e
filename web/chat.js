// The chorus chat page. Everything a user sent is put on the page with textContent,
// never as HTML.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"), roomTitle: $("room-title"), me: $("me"),
    nameForm: $("name-form"), name: $("name"),
    roomForm: $("room-form"), room: $("room"), rooms: $("rooms"),
    members: $("members"), memberCount: $("member-count"),
    messages: $("messages"), composer: $("composer"), message: $("message"),
  };

  const store = {
    get(key) { try { return localStorage.getItem(key); } catch { return null; } },
    set(key, value) { try { localStorage.setItem(key, value); } catch { /* private mode */ } },
  };

  // ?name= and #room (or ?room=) pick the start; otherwise the stored nickname and `lobby`.
  const params = new URLSearchParams(location.search);
  const startName = (params.get("name") ?? store.get("chorus.name") ?? "").trim();
  const startRoom = decodeURIComponent(location.hash.slice(1)) || params.get("room") || "lobby";

  let current = null;             // the room we are in
  const members = new Map();      // id -> {id, name, data} of the current room
  let recent = [];
  try { recent = JSON.parse(store.get("chorus.rooms") || "[]").filter((r) => typeof r === "string"); } catch { /* ignore */ }

  ui.name.value = startName;
  ui.room.value = startRoom;

  // ?token= (a JWT, for servers that check them: docs/auth.md) is passed on as it is.
  const client = Chorus.connect({ name: startName || undefined, token: params.get("token") || undefined });

  // --- rendering ---------------------------------------------------------------------------

  function setStatus(state) {
    ui.status.dataset.state = state;
    ui.status.textContent = state;
  }

  function atBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  }

  function append(li) {
    const stick = atBottom();
    ui.messages.appendChild(li);
    if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function span(cls, text) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function timeNow() {
    return timeAt(Date.now());
  }

  function timeAt(ms) {
    const el = document.createElement("time");
    const at = new Date(ms);
    el.dateTime = at.toISOString();
    el.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return el;
  }

  function notice(text, kind) {
    const li = document.createElement("li");
    li.className = "notice " + kind;
    li.append(span("text", text), " ", timeNow());
    append(li);
  }

  function message(from, text, offset, time) {
    if (typeof offset === "number") {
      if (shown.has(offset)) return; // history and live overlap: each message once
      shown.add(offset);
    }
    const li = document.createElement("li");
    li.className = "msg";
    if (from && from.id === client.id) li.classList.add("mine");
    if (from) li.dataset.from = from.id;
    if (typeof offset === "number") li.dataset.offset = String(offset);
    li.append(span("who", from ? from.name : "server"), " ", span("text", text), " ",
      time ? timeAt(time) : timeNow());
    append(li);
  }

  // --- history -----------------------------------------------------------------------------
  // Offsets of the messages shown for the current room; while its history loads, live
  // messages wait in `held` so the page shows them after the older ones.
  const shown = new Set();
  let held = null;

  function chatText(data) {
    return data && typeof data.text === "string" ? data.text : "";
  }

  async function loadHistory(room) {
    held = [];
    try {
      const page = await client.history(room, { limit: 50 });
      if (room !== current) return;
      if (page.events.length) notice(`Earlier in #${room}`, "info");
      for (const e of page.events) {
        if (e.event === "chat" && chatText(e.data)) message(e.from, chatText(e.data), e.offset, e.time);
      }
    } catch (err) {
      notice(`Could not load history: ${err.message}`, "error");
    } finally {
      const waiting = held || [];
      held = null;
      for (const m of waiting) message(m.from, m.text, m.offset);
    }
  }

  function renderMembers() {
    const list = [...members.values()].sort((a, b) =>
      a.name.localeCompare(b.name, undefined, { sensitivity: "base" }) || a.id.localeCompare(b.id));
    ui.members.replaceChildren(...list.map((m) => {
      const li = document.createElement("li");
      li.textContent = m.name;
      li.dataset.id = m.id;
      if (m.id === client.id) li.className = "me";
      return li;
    }));
    ui.memberCount.textContent = String(list.length);
  }

  function renderRooms() {
    ui.rooms.replaceChildren(...recent.map((r) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = r;
      button.dataset.room = r;
      if (r === current) button.setAttribute("aria-current", "true");
      li.append(button);
      return li;
    }));
  }

  function renderMe() {
    ui.me.textContent = client.name ? "You are " + client.name : "";
  }

  function setMembers(list) {
    members.clear();
    for (const m of list || []) members.set(m.id, m);
    renderMembers();
  }

  // --- rooms -------------------------------------------------------------------------------

  let switching = null;

  async function enter(next) {
    next = next.trim();
    if (!next || next === current || next === switching) return;
    switching = next;
    let result;
    try {
      result = await client.join(next);
    } catch (err) {
      notice(`Could not join ${next}: ${err.message}`, "error");
      return;
    } finally {
      switching = null;
    }
    const previous = current;
    current = next;
    if (previous) client.leave(previous).catch(() => {});
    ui.messages.replaceChildren();
    shown.clear();
    setMembers(result.members);
    await loadHistory(next);
    notice(`You are in ${next}`, "info");
    ui.room.value = next;
    ui.roomTitle.textContent = "#" + next;
    document.title = `#${next} · chorus`;
    history.replaceState(null, "", next === "lobby" ? location.pathname + location.search
      : "#" + encodeURIComponent(next));
    recent = [next, ...recent.filter((r) => r !== next)].slice(0, 8);
    store.set("chorus.rooms", JSON.stringify(recent));
    renderRooms();
    document.body.dataset.ready = "1";
  }

  // --- server events -----------------------------------------------------------------------

  client.on("connect", () => {
    setStatus("online");
    renderMe();
    if (!current && !switching) {
      enter(startRoom).then(() => { if (!current) enter("lobby"); });
    }
  });

  client.on("disconnect", () => {
    setStatus(client.readyState === 3 ? "offline" : "reconnecting");
    notice("Connection lost, reconnecting…", "info");
  });

  client.on("reconnect", ({ rooms }) => {
    renderMe();
    const here = rooms.find((r) => r.room === current);
    if (here) {
      setMembers(here.members);
      if (here.recovered === false) {
        notice("Reconnected; some messages may be missing (history was reset)", "error");
        loadHistory(current);
      } else {
        notice(here.replayed ? `Reconnected (${here.replayed} missed)` : "Reconnected", "info");
      }
    } else if (current) {
      notice(`Reconnected, but could not re-join ${current}`, "error");
    }
  });

  client.on("presence", ({ room, action, member }) => {
    if (room !== current || !member) return;
    const old = members.get(member.id);
    if (action === "join") {
      members.set(member.id, member);
      notice(`${member.name} comes in`, "join");
    } else if (action === "leave") {
      members.delete(member.id);
      notice(`${(old || member).name} leaves`, "leave");
    } else if (action === "update") {
      members.set(member.id, member);
      if (old && old.name !== member.name && member.id !== client.id) {
        notice(`${old.name} is now known as ${member.name}`, "update");
      }
    }
    renderMembers();
  });

  client.on("chat", (data, { room, from, offset }) => {
    if (room !== current) return;
    const text = chatText(data);
    if (!text) return;
    if (held) held.push({ from, text, offset });
    else message(from, text, offset);
  });

  client.on("error", ({ code, message: text }) => notice(`Server error (${code}): ${text}`, "error"));

  // --- user actions ------------------------------------------------------------------------

  ui.composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = ui.message.value;
    if (!text.trim() || !current) return;
    ui.message.value = "";
    client.emit("chat", { text }, { room: current }).catch((err) => {
      notice(`Not sent (${err.message}): ${text}`, "error");
    });
  });

  ui.nameForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = ui.name.value.trim();
    if (!name || name === client.name) return;
    client.setName(name).then(({ name: now }) => {
      store.set("chorus.name", now);
      ui.name.value = now;
      const self = members.get(client.id);
      if (self) { self.name = now; renderMembers(); }
      renderMe();
      notice(`You are now known as ${now}`, "update");
    }, (err) => notice(`Could not change nickname: ${err.message}`, "error"));
  });

  ui.roomForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    enter(ui.room.value);
  });

  ui.rooms.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-room]");
    if (button) enter(button.dataset.room);
  });

  window.addEventListener("hashchange", () => {
    const room = decodeURIComponent(location.hash.slice(1));
    if (room) enter(room);
  });

  renderRooms();
})();
