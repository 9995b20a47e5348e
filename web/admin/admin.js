// The admin page: every 2 s the server API's `stats` (every node's figures since it
// started), turned into rates between two samples and charted with uPlot; the fullest
// rooms; who is connected in a room or as a user, with a disconnect button; a test
// message published to a room. Everything goes through /api with the key the operator
// gave, kept in this tab's sessionStorage. Text from the server is only ever set as
// textContent: a room or user name is data, never markup.
"use strict";

(() => {
  const EVERY_MS = 2000;
  const KEEP = 150; // samples: five minutes at one every 2 s
  const PROTOCOLS = ["raw", "native", "socketio"];
  const $ = (id) => document.getElementById(id);
  let key = sessionStorage.getItem("chorus-admin-key") || "";
  let timer = null;
  let charts = null;
  // By node id ("" for a server alone): its last figures, for rates.
  const last = new Map();
  // The series, oldest first: time, then each chart's columns.
  const series = { t: [], conn: PROTOCOLS.map(() => []), msgIn: [], msgOut: [], bytesIn: [], bytesOut: [], deliveries: [], drops: [] };

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.error && body.error.code;
    }
  }

  async function api(method, body) {
    const response = await fetch(`/api/${method}`, {
      method: "POST",
      headers: { Authorization: `apikey ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const answer = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, answer);
    return answer;
  }

  function cell(row, text, code) {
    const td = row.insertCell();
    if (code) {
      const c = document.createElement("code");
      c.textContent = text;
      td.append(c);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function rate(now, before, field) {
    if (!before) return 0;
    const secs = (now.at_ms - before.at_ms) / 1000;
    return secs > 0 ? Math.max(0, (field(now) - field(before)) / secs) : 0;
  }

  const sum = (node, field) => PROTOCOLS.reduce((n, p) => n + (node.protocols[p] ? node.protocols[p][field] : 0), 0);

  function uptime(secs) {
    if (secs < 120) return `${secs}s`;
    if (secs < 7200) return `${Math.floor(secs / 60)}m`;
    if (secs < 172800) return `${Math.floor(secs / 3600)}h`;
    return `${Math.floor(secs / 86400)}d`;
  }

  function makeCharts() {
    const css = getComputedStyle(document.documentElement);
    const text = css.getPropertyValue("--muted").trim() || "#6a717b";
    const grid = css.getPropertyValue("--border").trim() || "#e2e5e9";
    const colors = ["#3d6fa8", "#d08a1e", "#2e9c6a", "#b3261e", "#7a4fb8"];
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const make = (id, names, data) => {
      const el = $(id);
      const opts = {
        width: Math.max(300, el.clientWidth),
        height: 200,
        series: [{}, ...names.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2, points: { show: false } }))],
        axes: [axis, { ...axis, size: 60 }],
        scales: { x: { time: true } },
        legend: { live: false },
      };
      return new uPlot(opts, data, el);
    };
    charts = {
      connections: make("chart-connections", ["raw", "native", "socket.io"], [series.t, ...series.conn]),
      messages: make("chart-messages", ["in", "out"], [series.t, series.msgIn, series.msgOut]),
      bytes: make("chart-bytes", ["in", "out"], [series.t, series.bytesIn, series.bytesOut]),
      deliveries: make("chart-deliveries", ["deliveries", "slow consumers dropped"], [series.t, series.deliveries, series.drops]),
    };
    window.addEventListener("resize", () => {
      for (const [name, chart] of Object.entries(charts)) {
        chart.setSize({ width: Math.max(300, $(`chart-${name}`).clientWidth), height: 200 });
      }
    });
  }

  function push(column, value) {
    column.push(value);
    if (column.length > KEEP) column.shift();
  }

  function record(nodes) {
    const chosen = $("node").value;
    const shown = nodes.filter((n) => !chosen || (n.node || "") === chosen);
    const rates = { msgIn: 0, msgOut: 0, bytesIn: 0, bytesOut: 0, deliveries: 0, drops: 0 };
    const conns = PROTOCOLS.map(() => 0);
    for (const node of shown) {
      const before = last.get(node.node || "");
      PROTOCOLS.forEach((p, i) => { conns[i] += node.protocols[p] ? node.protocols[p].connections : 0; });
      rates.msgIn += rate(node, before, (n) => sum(n, "messages_in"));
      rates.msgOut += rate(node, before, (n) => sum(n, "messages_out"));
      rates.bytesIn += rate(node, before, (n) => sum(n, "bytes_in"));
      rates.bytesOut += rate(node, before, (n) => sum(n, "bytes_out"));
      rates.deliveries += rate(node, before, (n) => n.deliveries);
      rates.drops += rate(node, before, (n) => n.slow_consumers);
    }
    push(series.t, Date.now() / 1000);
    conns.forEach((n, i) => push(series.conn[i], n));
    for (const name of Object.keys(rates)) push(series[name], Math.round(rates[name] * 10) / 10);
    charts.connections.setData([series.t, ...series.conn]);
    charts.messages.setData([series.t, series.msgIn, series.msgOut]);
    charts.bytes.setData([series.t, series.bytesIn, series.bytesOut]);
    charts.deliveries.setData([series.t, series.deliveries, series.drops]);
  }

  function showNodes(nodes, unanswered) {
    const select = $("node");
    const ids = nodes.map((n) => n.node || "");
    for (const id of ids) {
      if (id && ![...select.options].some((o) => o.value === id)) {
        const option = document.createElement("option");
        option.value = id;
        option.textContent = id;
        select.append(option);
      }
    }
    const body = $("nodes").tBodies[0];
    body.replaceChildren();
    for (const node of nodes) {
      const before = last.get(node.node || "");
      const row = body.insertRow();
      cell(row, node.node || "(alone)", true);
      cell(row, node.server);
      cell(row, uptime(node.uptime_secs));
      for (const p of PROTOCOLS) cell(row, String(node.protocols[p] ? node.protocols[p].connections : 0));
      cell(row, rate(node, before, (n) => sum(n, "messages_in")).toFixed(1));
      cell(row, rate(node, before, (n) => sum(n, "messages_out")).toFixed(1));
      cell(row, String(node.rooms));
      cell(row, node.store_ok === false ? `${node.store}: FAILING (${node.store_failures})` : node.store);
      cell(row, node.broker_up === null || node.broker_up === undefined ? "—" : node.broker_up ? "up" : "DOWN");
    }
    const health = $("health");
    health.replaceChildren();
    const down = nodes.filter((n) => n.broker_up === false).length;
    const failing = nodes.filter((n) => n.store_ok === false).length;
    const parts = [
      [failing ? `store failing on ${failing}` : "", "bad"],
      [`${nodes.length} node${nodes.length === 1 ? "" : "s"}`, "ok"],
      [down ? `broker down on ${down}` : nodes.some((n) => n.broker_up) ? "broker up" : "", down ? "bad" : "ok"],
      [unanswered ? `${unanswered} not answering` : "", "bad"],
    ];
    for (const [text, kind] of parts) {
      if (!text) continue;
      const span = document.createElement("span");
      span.className = kind;
      span.textContent = text;
      if (health.childNodes.length) health.append(" · ");
      health.append(span);
    }
  }

  function showRooms(nodes) {
    const merged = new Map();
    for (const node of nodes) {
      for (const room of node.top_rooms) {
        const k = `${room.namespace}\u0000${room.room}`;
        const seen = merged.get(k) || { ...room, members: 0 };
        seen.members += room.members;
        merged.set(k, seen);
      }
    }
    const rooms = [...merged.values()].sort((a, b) => b.members - a.members).slice(0, 10);
    const body = $("rooms").tBodies[0];
    body.replaceChildren();
    for (const room of rooms) {
      const row = body.insertRow();
      cell(row, room.namespace, true);
      cell(row, room.room, true);
      cell(row, String(room.members));
      // Raw rooms (and raw endpoints) are not in a namespace the API reaches.
      if (!room.namespace.startsWith("/")) {
        cell(row, "plain WebSocket: not reachable through the API").className = "muted";
        continue;
      }
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Who?";
      button.addEventListener("click", () => {
        $("search-kind").value = "room";
        $("search-text").value = room.room;
        $("search-ns").value = room.namespace;
        $("publish-ns").value = room.namespace;
        $("publish-room").value = room.room;
        search();
      });
      row.insertCell().append(button);
    }
  }

  let ticking = false;

  async function tick() {
    // A slow cluster must not pile calls up (nor answers arrive out of order).
    if (ticking) return;
    ticking = true;
    try {
      const { nodes, unanswered } = await api("stats");
      record(nodes);
      showNodes(nodes, unanswered);
      showRooms(nodes);
      for (const node of nodes) last.set(node.node || "", node);
      document.body.dataset.samples = String(series.t.length);
    } catch (err) {
      if (err.status === 401) return signOut("the key was refused");
      $("health").textContent = `stats failed: ${err.message}`;
    } finally {
      ticking = false;
    }
  }

  async function search(event) {
    if (event) event.preventDefault();
    const kind = $("search-kind").value;
    const text = $("search-text").value.trim();
    const namespace = $("search-ns").value.trim() || "/";
    const status = $("search-status");
    const body = $("found").tBodies[0];
    body.replaceChildren();
    if (!text) return;
    status.textContent = "searching…";
    try {
      const { connections } = await api("connections", { [kind]: text, namespace });
      status.textContent = `${connections.length} connection${connections.length === 1 ? "" : "s"}`;
      for (const conn of connections) {
        const row = body.insertRow();
        cell(row, conn.id, true);
        cell(row, conn.name);
        cell(row, conn.user || "—");
        cell(row, conn.rooms.join(", "));
        cell(row, conn.node || "this one");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "danger";
        button.textContent = "Disconnect";
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            const { changed } = await api("disconnect", { conn: conn.id, namespace });
            status.textContent = changed ? `disconnected ${conn.id}` : `${conn.id} was already gone`;
            row.remove();
          } catch (err) {
            status.textContent = `disconnect failed: ${err.message}`;
            button.disabled = false;
          }
        });
        row.insertCell().append(button);
      }
    } catch (err) {
      status.textContent = `search failed: ${err.message}`;
    }
  }

  async function publish(event) {
    event.preventDefault();
    const status = $("publish-status");
    const raw = $("publish-data").value.trim();
    let data;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch {
      data = raw;
    }
    try {
      const namespace = $("publish-ns").value.trim() || "/";
      const result = await api("publish", { namespace, room: $("publish-room").value.trim(), event: $("publish-event").value.trim(), data });
      status.textContent = `delivered to ${result.delivered}` + (result.offset !== undefined ? `, stored at offset ${result.offset}` : "");
    } catch (err) {
      status.textContent = `publish failed: ${err.message}`;
    }
  }

  function signOut(why) {
    clearInterval(timer);
    timer = null;
    key = "";
    sessionStorage.removeItem("chorus-admin-key");
    $("dashboard").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = why || "";
  }

  async function signIn(event) {
    if (event) event.preventDefault();
    key = key || $("key").value.trim();
    try {
      await api("info");
    } catch (err) {
      return signOut(err.status === 401 ? "that key is not one of the server's" : `the server did not answer: ${err.message}`);
    }
    sessionStorage.setItem("chorus-admin-key", key);
    $("login-error").textContent = "";
    $("key").value = "";
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("logout").hidden = false;
    if (!charts) makeCharts();
    await tick();
    timer = setInterval(tick, EVERY_MS);
    document.body.dataset.ready = "1";
  }

  $("login").addEventListener("submit", (event) => { key = ""; signIn(event); });
  $("logout").addEventListener("click", () => signOut());
  $("search").addEventListener("submit", search);
  $("publish").addEventListener("submit", publish);
  $("node").addEventListener("change", () => { for (const column of [series.t, ...series.conn, series.msgIn, series.msgOut, series.bytesIn, series.bytesOut, series.deliveries, series.drops]) column.length = 0; });
  if (key) signIn(); else signOut();
})();
