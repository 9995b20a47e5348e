#!/usr/bin/env python3
"""Turns bench/compare's results (one JSON line per run) into BENCHMARKS.md's comparison.

    bench/report.py RESULTS.jsonl BENCHMARKS.md   # rewrites the part between the markers
    bench/report.py --one 'JSON LINE'             # a one-line summary of a run (progress)

Every figure in the tables comes from the results file; the ratios are computed here, so
the file and the tables cannot disagree. Of the runs of one server × protocol × scenario,
the table shows the one with the best primary figure (messages/s, deliveries/s, or the
smallest RSS per connection) and says how far the other runs were from it.
"""

import json
import os
import platform
import subprocess
import sys
from datetime import date

BEGIN = "<!-- compare:begin (written by bench/report.py; edit outside these markers) -->"
END = "<!-- compare:end -->"

SERVER_NAMES = {
    "chorus": "chorus",
    "chorus-durable": "chorus (SQLite history)",
    "chorus-redis": "chorus on a Redis broker (1 node)",
    "uws": "uWebSockets.js",
    "ws": "Node ws",
    "tokio-tungstenite": "tokio-tungstenite",
    "socketio": "Node socket.io",
    "socketioxide": "socketioxide",
    "chorus-cluster": "chorus, 2 nodes + Redis",
    "socketio-cluster": "Node socket.io, 2 nodes + @socket.io/redis-adapter",
    "socketioxide-cluster": "socketioxide, 2 nodes + socketioxide-redis",
}

SCENARIOS = [
    ("echo", "Echo: 100 connections, 64-byte messages, 16 in flight each",
     "round trips/s", "messages_per_s"),
    ("fanout-1k-max", "Fan-out: 1 publisher, 1,000 subscribers in one room, maximum rate",
     "deliveries/s", "deliveries_per_s"),
    ("fanout-1k-rate", "Fan-out: 1,000 subscribers, 200 messages/s (latency at a steady load)",
     "deliveries/s", "deliveries_per_s"),
    ("fanout-10k", "Fan-out: 10,000 subscribers, 20 messages/s",
     "deliveries/s", "deliveries_per_s"),
    ("rooms", "Rooms: 100 rooms × 10 members, 50 messages/s per room",
     "deliveries/s", "deliveries_per_s"),
    ("fanout-durable", "Durable fan-out: acknowledged publishes stored in SQLite, 1,000 subscribers",
     "deliveries/s", "deliveries_per_s"),
    ("cluster-fanout-1k-max",
     "Cluster fan-out: 2 nodes on one Redis, 1,000 subscribers of one room spread over both, "
     "1 publisher, maximum rate", "deliveries/s", "deliveries_per_s"),
    ("cluster-fanout-1k-rate",
     "Cluster fan-out: 2 nodes on one Redis, 1,000 subscribers spread over both, 200 messages/s",
     "deliveries/s", "deliveries_per_s"),
    ("conns-10k", "Idle connections: 10,000", "KiB per connection", "rss_per_conn_kib"),
    ("conns-max", "Idle connections: 19,000 (the machine's open-files limit is 20,000)",
     "KiB per connection", "rss_per_conn_kib"),
]
LOWER_IS_BETTER = {"rss_per_conn_kib"}


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def fmt_num(x, digits=0):
    if x is None:
        return "–"
    if isinstance(x, float) and digits:
        return f"{x:,.{digits}f}"
    return f"{x:,.0f}"


def lat(r, key="latency_us"):
    p = r.get(key) or {}
    if not p.get("count"):
        return "–", "–", "–"
    return fmt_num(p["p50"]), fmt_num(p["p99"]), fmt_num(p["max"])


def best(runs, metric):
    ok = [r for r in runs if "result" in r and r["result"].get(metric) is not None]
    if not ok:
        return None, []
    pick = min if metric in LOWER_IS_BETTER else max
    chosen = pick(ok, key=lambda r: r["result"][metric])
    return chosen, ok


def spread(chosen, ok, metric):
    if len(ok) < 2:
        return ""
    values = [r["result"][metric] for r in ok]
    lo, hi = min(values), max(values)
    if hi == 0:
        return ""
    return f"±{(hi - lo) / hi * 100:.0f}%"


def ratio(value, base, lower_better=False):
    if value is None or not base:
        return "–"
    r = (base / value) if lower_better else (value / base)
    return f"{r:.2f}×"


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} × {cpu}, {mem}, Linux {platform.release()}; "
            f"{rustc}; Node {node}")


def cluster_table(runs_by_key, scenario, metric, unit):
    """A cluster scenario: two nodes of each server on one Redis, against the Node socket.io
    and socketioxide clusters; Redis commands per published message instead of server CPU
    (two processes are not one figure)."""
    keys = sorted({(s, p) for (s, p, sc) in runs_by_key if sc == scenario},
                  key=lambda k: (list(SERVER_NAMES).index(k[0]) if k[0] in SERVER_NAMES else 99,
                                 ["socketio", "raw"].index(k[1]) if k[1] in ("socketio", "raw")
                                 else 99))
    if not keys:
        return None

    def base_value(server):
        chosen, _ = best(runs_by_key.get((server, "socketio", scenario), []), metric)
        return chosen["result"][metric] if chosen else None
    sio = base_value("socketio-cluster")
    sioxide = base_value("socketioxide-cluster")
    rows = [f"| server | protocol | {unit} | latency p50 / p99 / max (µs) | lost | "
            "Redis commands per published message | vs socket.io cluster | "
            "vs socketioxide cluster |",
            "|---|---|---:|---|---:|---:|---:|---:|"]
    notes = []
    for server, proto in keys:
        runs = runs_by_key[(server, proto, scenario)]
        chosen, ok = best(runs, metric)
        name = SERVER_NAMES.get(server, server)
        if chosen is None:
            errs = [r.get("error", "") for r in runs if "error" in r]
            rows.append(f"| {name} | {proto} | failed | – | – | – | – | – |")
            if errs:
                notes.append(f"{name} ({proto}) failed: {errs[0].strip()[:200]}")
            continue
        r = chosen["result"]
        value = r[metric]
        p50, p99, mx = lat(r)
        lost = r.get("lost")
        lost_cell = fmt_num(lost) if lost is not None else "–"
        commands = chosen.get("redis_commands")
        published = r.get("published_total")
        per = fmt_num(commands / published, 2) if commands is not None and published else "–"
        flag = " ⚑" if r.get("client_limited") else ""
        vs = [ratio(value, sio) if proto == "socketio" else "–",
              ratio(value, sioxide) if proto == "socketio" else "–"]
        rows.append(f"| {name} | {proto} | {fmt_num(value)} {spread(chosen, ok, metric)}{flag} | "
                    f"{p50} / {p99} / {mx} | {lost_cell} | {per} | " + " | ".join(vs) + " |")
    return rows, notes


def table(runs_by_key, scenario, metric, unit):
    if scenario.startswith("cluster-"):
        return cluster_table(runs_by_key, scenario, metric, unit)
    rows = []
    # Servers in SERVER_NAMES order, then protocols in a fixed order (a set's order is
    # not stable from one run of this script to the next).
    proto_order = ["native", "socketio", "raw"]
    keys = sorted({(s, p) for (s, p, sc) in runs_by_key if sc == scenario},
                  key=lambda k: (list(SERVER_NAMES).index(k[0]) if k[0] in SERVER_NAMES else 99,
                                 proto_order.index(k[1]) if k[1] in proto_order else 99))
    if not keys:
        return None
    # baselines: uWS and Node ws for the raw protocol, Node socket.io and socketioxide for
    # Socket.IO
    def base_value(server, proto):
        chosen, _ = best(runs_by_key.get((server, proto, scenario), []), metric)
        return chosen["result"][metric] if chosen else None
    uws = base_value("uws", "raw")
    ws = base_value("ws", "raw")
    sio = base_value("socketio", "socketio")
    sioxide = base_value("socketioxide", "socketio")
    lower = metric in LOWER_IS_BETTER
    is_conns = scenario.startswith("conns")
    if is_conns:
        header = ("| server | protocol | connected | connects/s | server RSS per connection | "
                  "vs uWS.js | vs Node ws | vs socket.io | vs socketioxide |")
        rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    else:
        header = (f"| server | protocol | {unit} | latency p50 / p99 / max (µs) | lost | "
                  "server CPU s per M | vs uWS.js | vs Node ws | vs socket.io | vs socketioxide |")
        rule = "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"
    rows.append(header)
    rows.append(rule)
    notes = []
    for server, proto in keys:
        runs = runs_by_key[(server, proto, scenario)]
        chosen, ok = best(runs, metric)
        name = SERVER_NAMES.get(server, server)
        if chosen is None:
            errs = [r.get("error", "") for r in runs if "error" in r]
            cells = "| ".join(["failed"] + ["–"] * (7 if is_conns else 8))
            rows.append(f"| {name} | {proto} | {cells} |")
            if errs:
                notes.append(f"{name} ({proto}) failed: {errs[0].strip()[:200]}")
            continue
        r = chosen["result"]
        value = r[metric]
        sp = spread(chosen, ok, metric)
        vs = [ratio(value, uws, lower) if proto == "raw" else "–",
              ratio(value, ws, lower) if proto == "raw" else "–",
              ratio(value, sio, lower) if proto == "socketio" else "–",
              ratio(value, sioxide, lower) if proto == "socketio" else "–"]
        if proto == "native":
            # The native protocol has no peer speaking it; compare with the raw leaders.
            vs[0] = ratio(value, uws, lower)
            vs[1] = ratio(value, ws, lower)
        flag = " ⚑" if r.get("client_limited") else ""
        if is_conns:
            rows.append(
                f"| {name} | {proto} | {fmt_num(r.get('connected'))} | "
                f"{fmt_num(r.get('connects_per_s'))} | "
                f"{fmt_num(value, 2)} KiB {sp}{flag} | " + " | ".join(vs) + " |")
        else:
            p50, p99, mx = lat(r)
            lost = r.get("lost")
            lost_cell = fmt_num(lost) if lost is not None else "–"
            if r.get("disconnected"):
                lost_cell += f" ({r['disconnected']} disconnected)"
            rows.append(
                f"| {name} | {proto} | {fmt_num(value)} {sp}{flag} | {p50} / {p99} / {mx} | "
                f"{lost_cell} | {fmt_num(r.get('server_cpu_s_per_million'), 2)} | "
                + " | ".join(vs) + " |")
            if r.get("ack_latency_us"):
                a = r["ack_latency_us"]
                notes.append(f"{name} ({proto}): publish → stored-ack latency p50 {a['p50']} µs, "
                             f"p99 {a['p99']} µs, {fmt_num(r.get('published_per_s'))} "
                             f"acknowledged publishes/s")
    return rows, notes


def render(runs):
    by_key = {}
    for r in runs:
        by_key.setdefault((r["server"], r["proto"], r["scenario"]), []).append(r)
    out = [BEGIN, ""]
    kept = os.environ.get("RESULTS_NAME")
    if kept:
        out.append(f"* Raw results: `{kept}`.")
    out.append(f"* Run: {date.today().isoformat()}, `bench/compare` "
               f"({max((r.get('run', 1) for r in runs), default=1)} run(s) per scenario; "
               "the best shown, ± the spread between runs).")
    out.append(f"* Machine: {machine()}.")
    out.append("* The server under test is pinned to CPU 0, the load generator "
               "(`chorus-bench`, one thread) to CPU 1; every run starts a fresh server process.")
    out.append("* ⚑: the load generator used ≥ 90% of its core — the figure may be the "
               "generator's limit, not the server's.")
    out.append("* \"server CPU s per M\": the server's CPU seconds (user + system) per million "
               "messages handled (round trips, or deliveries).")
    out.append("* Ratios: above 1× is better for chorus (throughput divided, or memory "
               "inverted).")
    out.append("")
    for scenario, title, unit, metric in SCENARIOS:
        t = table(by_key, scenario, metric, unit)
        if not t:
            continue
        rows, notes = t
        out.append(f"### {title}")
        out.append("")
        out.extend(rows)
        out.append("")
        for n in notes:
            out.append(f"* {n}")
        if notes:
            out.append("")
    out.append(END)
    return "\n".join(out)


def one(line):
    r = json.loads(line)
    parts = [f"{r.get('scenario')}/{r.get('proto')}"]
    for key, label in [("messages_per_s", "msg/s"), ("deliveries_per_s", "deliveries/s"),
                       ("rss_per_conn_kib", "KiB/conn"), ("connects_per_s", "conn/s")]:
        if r.get(key) is not None:
            parts.append(f"{r[key]:,.0f} {label}" if key != "rss_per_conn_kib"
                         else f"{r[key]:.2f} {label}")
    if r.get("latency_us", {}).get("count"):
        parts.append(f"p99 {r['latency_us']['p99']} µs")
    if r.get("lost") is not None:
        parts.append(f"lost {r['lost']}")
    if r.get("server_cpu_s_per_million") is not None:
        parts.append(f"{r['server_cpu_s_per_million']:.2f} CPU-s/M")
    if r.get("client_limited"):
        parts.append("(generator-limited)")
    print("   " + ", ".join(parts))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        one(sys.argv[2])
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = load(sys.argv[1])
    section = render(runs)
    path = sys.argv[2]
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n## Side by side: chorus and its peers\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
