"""Raw-room message scheme shared with e2e/raw-helpers.mjs (Node) and the browser test.

text   i from TAG:  "TAG|t|i|héllo ✓"
binary i from TAG:  ff 00 <utf8 "TAG|b|i"> 80 fe      (not valid UTF-8 on purpose)
sync:               text "sync|TAG|NONCE"; once a client receives its own sync it is in the room.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets

TEXT_SUFFIX = "héllo ✓"
_TEXT_RE = re.compile(r"^([^|]+)\|([tb])\|(\d+)\|(.*)$", re.S)
_BIN_RE = re.compile(r"^([^|]+)\|b\|(\d+)$")


def ws_base() -> str:
    url = os.environ.get("CHORUS_URL")
    if not url:
        raise RuntimeError("CHORUS_URL is not set (e.g. CHORUS_URL=http://127.0.0.1:8080); scripts/test.sh sets it")
    url = url.rstrip("/")
    return "ws" + url[len("http"):] if url.startswith("http") else url


def room_url(prefix: str = "/room/e2e-py-") -> str:
    return f"{ws_base()}{prefix}{secrets.token_hex(6)}"


def text_msg(tag: str, i: int) -> str:
    return f"{tag}|t|{i}|{TEXT_SUFFIX}"


def binary_msg(tag: str, i: int) -> bytes:
    return b"\xff\x00" + f"{tag}|b|{i}".encode() + b"\x80\xfe"


def sync_msg(tag: str) -> str:
    return f"sync|{tag}|{secrets.token_hex(4)}"


def is_sync(msg: str | bytes) -> bool:
    return isinstance(msg, str) and msg.startswith("sync|")


def decode(msg: str | bytes) -> tuple[str, str, int] | None:
    """(tag, 't'|'b', i) for a data message, None for a sync message; raises AssertionError otherwise."""
    if isinstance(msg, str):
        if msg.startswith("sync|"):
            return None
        m = _TEXT_RE.match(msg)
        assert m, f"unexpected text message {msg[:80]!r}"
        assert m.group(2) == "t", f"binary payload arrived as text: {msg[:80]!r}"
        assert m.group(4) == TEXT_SUFFIX, f"text payload corrupted: {msg[:80]!r}"
        return m.group(1), "t", int(m.group(3))
    assert isinstance(msg, (bytes, bytearray)), f"unexpected message type {type(msg)}"
    msg = bytes(msg)
    if not (len(msg) >= 4 and msg[:2] == b"\xff\x00" and msg[-2:] == b"\x80\xfe"):
        text = msg.decode("utf-8", "replace")
        assert not (text.startswith("sync|") or re.match(r"^[^|]+\|t\|\d+\|", text)), (
            f"text message arrived as binary: {text[:80]!r}"
        )
        raise AssertionError(f"unexpected binary message {msg[:40].hex()}")
    m = _BIN_RE.match(msg[2:-2].decode("utf-8", "replace"))
    assert m, f"binary payload corrupted: {msg[:40].hex()}"
    return m.group(1), "b", int(m.group(2))


def expected_from(tag: str, count: int) -> list[str]:
    out = []
    for i in range(count):
        out += [f"{tag}:t{i}", f"{tag}:b{i}"]
    return out


def count_data(received: list) -> int:
    return sum(1 for m in received if not is_sync(m))


def verify_received(who: str, received: list, senders: dict[str, int]) -> int:
    """Check per-sender order and kinds; returns the number of data messages."""
    per = {tag: [] for tag in senders}
    n = 0
    for msg in received:
        d = decode(msg)
        if d is None:
            continue
        tag, kind, i = d
        assert tag in per, f"{who}: message from unknown sender {tag}"
        per[tag].append(f"{tag}:{kind}{i}")
        n += 1
    for tag, count in senders.items():
        want = expected_from(tag, count)
        got = per[tag]
        assert got == want, f"{who}: from {tag}: expected {len(want)} messages in order, got {len(got)}: " + next(
            (f"first difference at #{k}: want {w!r}, got {g!r}" for k, (w, g) in enumerate(zip(want, got)) if w != g),
            "one list is a prefix of the other",
        )
    return n


class Receiver:
    """Reads every message of a websockets connection into a list in the background."""

    def __init__(self, ws, tag: str):
        self.ws = ws
        self.tag = tag
        self.received: list[str | bytes] = []
        self.changed = asyncio.Event()
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self):
        try:
            async for msg in self.ws:
                self.received.append(msg)
                self.changed.set()
        except BaseException as e:  # connection closed with error, cancelled
            self.error = e
        finally:
            self.changed.set()

    async def wait_for(self, pred, what: str, timeout: float = 10.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not pred(self):
            if self.task.done():
                raise AssertionError(f"{self.tag}: connection ended ({self.error!r}) while waiting for {what}")
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"{self.tag}: timed out after {timeout}s waiting for {what} (have {len(self.received)} messages)"
                )
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def sync(self, timeout: float = 5.0):
        msg = sync_msg(self.tag)
        await self.ws.send(msg)
        await self.wait_for(lambda r: msg in r.received, "own sync echo", timeout)

    async def send_burst(self, count: int):
        for i in range(count):
            await self.ws.send(text_msg(self.tag, i))
            await self.ws.send(binary_msg(self.tag, i))

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except BaseException:
            pass
