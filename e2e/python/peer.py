#!/usr/bin/env python3
"""A Python `websockets` peer for the cross-client raw-room tests.

usage: peer.py WS_URL [--tag py] [--count N] [--expect M] [--timeout S] [--no-wait]

Connects to WS_URL (a raw room), sends a sync message and waits for its echo, prints
{"event":"ready"}, then waits for a line "go" on stdin (unless --no-wait) and sends N text and
N binary messages interleaved (scheme in rawroom.py). Every message received (sync messages
included) is printed to stdout as one JSON line: {"kind":"text","data":...} or
{"kind":"binary","hex":...}. Exits 0 with {"event":"done"} once M non-sync messages have
arrived, or 1 with {"event":"timeout"} after S seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from websockets.asyncio.client import connect  # noqa: E402

from rawroom import Receiver, count_data  # noqa: E402


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def read_stdin_line() -> str:
    """readline() on a daemon thread, so a missing 'go' can never keep the process alive."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def reader():
        line = sys.stdin.readline()
        loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(line))

    threading.Thread(target=reader, daemon=True).start()
    return await fut


async def main(args) -> int:
    async with connect(args.url, open_timeout=10, max_size=None) as ws:
        rx = Receiver(ws, args.tag)
        printed = 0

        def flush_received():
            nonlocal printed
            for msg in rx.received[printed:]:
                if isinstance(msg, str):
                    emit({"kind": "text", "data": msg})
                else:
                    emit({"kind": "binary", "hex": bytes(msg).hex()})
            printed = len(rx.received)

        await rx.sync()
        emit({"event": "ready"})
        if not args.no_wait:
            line = await asyncio.wait_for(read_stdin_line(), args.timeout)
            if line.strip() != "go":
                emit({"event": "error", "message": f"expected 'go' on stdin, got {line!r}"})
                return 2
        await rx.send_burst(args.count)
        try:
            await rx.wait_for(lambda r: count_data(r.received) >= args.expect, f"{args.expect} messages", args.timeout)
        except AssertionError as e:
            flush_received()
            emit({"event": "timeout", "message": str(e)})
            return 1
        flush_received()
        emit({"event": "done", "received": count_data(rx.received)})
        await rx.stop()
        return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--tag", default="py")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--expect", type=int, default=40)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--no-wait", action="store_true", help="send right after the sync, without waiting for 'go'")
    a = p.parse_args()
    try:
        rc = asyncio.run(asyncio.wait_for(main(a), a.timeout + 15))
    except asyncio.TimeoutError:
        emit({"event": "timeout", "message": "overall timeout"})
        rc = 1
    sys.exit(rc)
