"""Raw rooms seen from Python `websockets` clients.

Needs CHORUS_URL=http://host:port of a running `chorus serve` (scripts/test.sh sets it).
Each test is synchronous and drives asyncio itself (no pytest-asyncio needed).
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from rawroom import Receiver, count_data, room_url, verify_received


def run(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _open(url: str, tag: str) -> Receiver:
    ws = await connect(url, open_timeout=10, max_size=None)
    return Receiver(ws, tag)


async def _close(*rxs: Receiver) -> None:
    for rx in rxs:
        await rx.ws.close()
        await rx.stop()


def test_two_python_clients_text_and_binary_both_ways_in_order():
    async def main():
        url = room_url()
        n = 30
        a = await _open(url, "pa")
        b = await _open(url, "pb")
        try:
            await a.sync()
            await b.sync()
            await asyncio.gather(a.send_burst(n), b.send_burst(n))
            for rx in (a, b):
                await rx.wait_for(lambda r: count_data(r.received) >= 4 * n, f"{4 * n} messages", 15)
            await asyncio.sleep(0.2)  # anything extra (duplicates) would show up now
            for rx in (a, b):
                assert verify_received(rx.tag, rx.received, {"pa": n, "pb": n}) == 4 * n
                data = [m for m in rx.received if not (isinstance(m, str) and m.startswith("sync|"))]
                assert sum(isinstance(m, bytes) for m in data) == 2 * n, "binary flag not kept"
                assert sum(isinstance(m, str) for m in data) == 2 * n, "text flag not kept"
        finally:
            await _close(a, b)

    run(main())


def test_sender_receives_its_own_messages():
    async def main():
        url = room_url()
        a = await _open(url, "solo")
        try:
            await a.sync()
            await a.send_burst(5)
            await a.wait_for(lambda r: count_data(r.received) >= 10, "own 10 messages", 10)
            verify_received("solo", a.received, {"solo": 5})
        finally:
            await _close(a)

    run(main())


def test_rooms_are_isolated():
    async def main():
        url_a = room_url()
        url_b = url_a + "-other"
        a1 = await _open(url_a, "ia1")
        a2 = await _open(url_a, "ia2")
        b1 = await _open(url_b, "ib1")
        try:
            for rx in (a1, a2, b1):
                await rx.sync()
            await a1.send_burst(4)
            await b1.send_burst(4)
            await a2.wait_for(lambda r: count_data(r.received) >= 8, "a1's 8 messages", 10)
            await b1.wait_for(lambda r: count_data(r.received) >= 8, "own 8 messages", 10)
            await asyncio.sleep(0.3)
            verify_received("ia2", a2.received, {"ia1": 4})
            verify_received("ib1", b1.received, {"ib1": 4})
            assert not any(isinstance(m, str) and m.startswith("sync|ib1|") for m in a2.received), "room B leaked into A"
        finally:
            await _close(a1, a2, b1)

    run(main())


def test_large_binary_and_text_messages():
    async def main():
        url = room_url()
        a = await _open(url, "la")
        b = await _open(url, "lb")
        try:
            await a.sync()
            await b.sync()
            blob = bytes((i * 13 + 5) & 0xFF for i in range(200_000))
            text = "ünïcødé ✓ " * 8000
            await a.ws.send(blob)
            await a.ws.send(text)
            await b.wait_for(lambda r: count_data(r.received) >= 2, "two large messages", 15)
            got = [m for m in b.received if not (isinstance(m, str) and m.startswith("sync|"))]
            assert isinstance(got[0], bytes) and got[0] == blob, "binary payload differs"
            assert isinstance(got[1], str) and got[1] == text, "text payload differs"
        finally:
            await _close(a, b)

    run(main())
