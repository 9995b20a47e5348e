"""Hooks to the application's backend, with the backend written in Python as docs/hooks.md
shows: the standard library's HTTP server, each request's signature checked with `hmac`,
decisions in JSON. A `chorus serve` of its own is started pointing at it, and the official
Python Socket.IO client (python-socketio) connects through it.

Needs CHORUS_BIN (see chorus_serve.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import socketio

from chorus_serve import chorus_serve

SECRET = "python-hooks-secret-0123456789"
WAIT = 5.0


def verified(headers, body: bytes) -> bool:
    """The check docs/hooks.md gives a backend: HMAC-SHA256 of `<timestamp>.<body>`,
    compared in constant time, and a timestamp within five minutes."""
    timestamp = headers.get("X-Chorus-Timestamp", "")
    signature = headers.get("X-Chorus-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "v1=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Backend(BaseHTTPRequestHandler):
    """Decides: `auth.session` "banned" may not connect, "ada" is user ada; rooms named
    `staff*` are closed; messages with "spam" are refused. Records every request."""

    seen: list[dict] = []
    unsigned = 0
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not verified(self.headers, body):
            with Backend.lock:
                Backend.unsigned += 1
            self.send_response(401)
            self.end_headers()
            return
        request = json.loads(body)
        hook = self.path.rsplit("/", 1)[-1]
        with Backend.lock:
            Backend.seen.append({"hook": hook, **request})
        decision = {"allow": True}
        if hook == "connect":
            session = (request.get("auth") or {}).get("session")
            if session == "banned":
                decision = {"allow": False, "reason": "banned"}
            elif session == "ada":
                decision = {"allow": True, "user": "ada", "name": "Ada"}
        elif hook == "join" and request["room"].startswith("staff"):
            decision = {"allow": False, "reason": "staff only"}
        elif hook == "publish" and "spam" in json.dumps(request["data"]):
            decision = {"allow": False, "reason": "no spam"}
        payload = json.dumps(decision).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def chorus_url():
    backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    env = {
        "CHORUS_HOOKS_URL": f"http://127.0.0.1:{backend.server_address[1]}/chorus",
        "CHORUS_HOOKS_SECRET": SECRET,
    }
    try:
        with chorus_serve(env) as url:
            yield url
    finally:
        backend.shutdown()


def client() -> socketio.Client:
    return socketio.Client(reconnection=False, request_timeout=WAIT)


def test_the_backend_refuses_a_connect_with_its_reason(chorus_url):
    sio = client()
    reasons = []

    @sio.event
    def connect_error(data):
        reasons.append(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(chorus_url, auth={"session": "banned"}, transports=["websocket"], wait_timeout=WAIT)
    assert reasons == [{"message": "banned"}]
    assert Backend.unsigned == 0


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_the_backend_names_the_user_and_decides_joins_and_messages(chorus_url, transport):
    ada, bob = client(), client()
    heard = []
    got = threading.Event()

    @bob.on("chat")
    def chat(text, *offset):
        # With recovery on, a stored event's last argument is its offset.
        heard.append(text)
        got.set()

    ada.connect(chorus_url, auth={"session": "ada"}, transports=[transport], wait_timeout=WAIT)
    bob.connect(chorus_url, auth={"session": "bob"}, transports=[transport], wait_timeout=WAIT)
    try:
        room = f"lobby-{transport}"
        joined = ada.call("join", room, timeout=WAIT)
        assert joined["members"][0]["name"] == "Ada"
        assert bob.call("join", room, timeout=WAIT)["room"] == room
        staff = ada.call("join", "staff-room", timeout=WAIT)
        assert staff["error"] == {"code": "forbidden", "message": "staff only"}
        spam = ada.call("to", (room, "chat", "buy spam"), timeout=WAIT)
        assert spam["error"]["message"] == "no spam"
        sent = ada.call("to", (room, "chat", "hello bob"), timeout=WAIT)
        assert sent["delivered"] == 1, sent
        assert got.wait(WAIT)
        assert heard == ["hello bob"]
    finally:
        ada.disconnect()
        bob.disconnect()
    # The backend heard of the room: occupied, two members, then vacated.
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with Backend.lock:
            events = [
                (e["type"], e.get("user"))
                for batch in Backend.seen
                if batch["hook"] == "events"
                for e in batch["events"]
                if e["room"] == room
            ]
        if len(events) == 6:
            break
        time.sleep(0.05)
    assert events[0] == ("room_occupied", None)
    assert ("member_joined", "ada") in events
    assert events[-1] == ("room_vacated", None)
    assert Backend.unsigned == 0
