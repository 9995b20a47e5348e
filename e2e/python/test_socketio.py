"""The Socket.IO test app seen from the Python client (python-socketio, sync `socketio.Client`).

Needs SOCKETIO_URL=http://host:port of a server implementing the test app specified in the header
of e2e/socketio/reference-server.mjs; the module is skipped when it is unset. Every test runs in
three transport modes: websocket only, polling only, and the default (polling, then the upgrade
to websocket, which python-engineio completes inside connect()). Every wait has a timeout.
"""

from __future__ import annotations

import os
import secrets
import threading

import pytest

SOCKETIO_URL = os.environ.get("SOCKETIO_URL", "").rstrip("/")
if not SOCKETIO_URL:
    pytest.skip("SOCKETIO_URL is not set (e.g. SOCKETIO_URL=http://127.0.0.1:3100)", allow_module_level=True)

import socketio  # noqa: E402  (only needed when the module runs)

WAIT = 5.0  # seconds for one expected event, ack or connection

# name -> (transports passed to connect(), transport expected once connected)
MODES = {
    "websocket": (["websocket"], "websocket"),
    "polling": (["polling"], "polling"),
    "polling+upgrade": (None, "websocket"),  # default: ['polling', 'websocket']
}


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


class Recorder:
    """A socketio.Client plus a log of the events it received (name, args), with waits."""

    def __init__(self, label: str, **client_opts):
        self.label = label
        self.sio = socketio.Client(**{"reconnection": False, "request_timeout": WAIT, **client_opts})
        self.events: list[tuple[str, tuple]] = []
        self.connects = 0
        self.disconnects: list[str] = []
        self.cond = threading.Condition()

        @self.sio.on("*")
        def any_event(event, *args):
            self._add(lambda: self.events.append((event, args)))

        @self.sio.event
        def connect():
            def count():
                self.connects += 1

            self._add(count)

        @self.sio.event
        def disconnect(reason=None):
            self._add(lambda: self.disconnects.append(reason))

    def _add(self, append):
        with self.cond:
            append()
            self.cond.notify_all()

    def received(self, event: str) -> list[tuple]:
        with self.cond:
            return [args for name, args in self.events if name == event]

    def wait_for(self, pred, what: str, timeout: float = WAIT):
        with self.cond:
            if not self.cond.wait_for(lambda: pred(self), timeout):
                raise AssertionError(f"{self.label}: timed out after {timeout}s waiting for {what}; events: {self.events[-5:]!r}")

    def wait_event(self, event: str, pred=lambda args: True) -> tuple:
        self.wait_for(lambda r: any(pred(a) for a in r.received(event)), f"event {event!r}")
        return next(a for a in self.received(event) if pred(a))

    def call(self, event: str, data=None):
        return self.sio.call(event, data, timeout=WAIT)


@pytest.fixture(scope="module", autouse=True)
def server_answers():
    """One connection first: when nothing answers at SOCKETIO_URL, every test errors at once with
    this message instead of each waiting for its own connection timeout."""
    sio = socketio.Client(reconnection=False, request_timeout=WAIT)
    try:
        sio.connect(SOCKETIO_URL, transports=["websocket"], wait_timeout=WAIT)
    except Exception as e:
        raise RuntimeError(f"no working Socket.IO server at {SOCKETIO_URL}: {e!r}") from e
    sio.disconnect()


@pytest.fixture(params=list(MODES))
def mode(request):
    return request.param


@pytest.fixture
def clients():
    """Factory connect(mode, auth=None, label=..., **client_opts) -> Recorder; disconnects every
    client afterwards."""
    made: list[Recorder] = []

    def connect(mode: str, auth=None, label: str = "client", **client_opts) -> Recorder:
        transports, expected = MODES[mode]
        rec = Recorder(f"{label}[{mode}]", **client_opts)
        made.append(rec)
        rec.sio.connect(SOCKETIO_URL, auth=auth, transports=transports, wait_timeout=WAIT)
        assert rec.sio.transport() == expected, f"{rec.label}: transport"
        rec.welcome = rec.wait_event("welcome")[0]
        return rec

    yield connect
    for rec in made:
        if rec.sio.connected:
            rec.sio.disconnect()


def test_connect_with_auth_gets_welcome(clients, mode):
    auth = {"token": unique("tok"), "user": {"name": "Zoë", "n": 3}}
    c = clients(mode, auth=auth)
    assert c.welcome == {"id": c.sio.get_sid("/"), "auth": auth}


def test_echo_event_with_several_args(clients, mode):
    c = clients(mode)
    args = ("héllo ✓", 42, 2.5, True, None, {"nested": [1, "two", {"three": 3}]}, [1, 2])
    c.sio.emit("echo", args)  # a tuple is sent as several arguments
    assert c.wait_event("echo") == args


def test_call_returns_the_ack(clients, mode):
    c = clients(mode)
    assert c.call("echo", {"a": [1, 2], "s": "ünï"}) == {"a": [1, 2], "s": "ünï"}
    assert c.call("echo", ("one", 2, None)) == ("one", 2, None)  # several ack args come back as a tuple


def test_server_asks_and_the_handler_return_value_answers(clients, mode):
    c = clients(mode)
    questions = []

    @c.sio.on("question")
    def question(data):
        questions.append(data)
        return {"reply": f"re: {data['q']}"}

    assert c.call("ask", {"q": "why?"}) == {"answer": {"reply": "re: why?"}}
    assert questions == [{"q": "why?"}]


def test_binary_round_trip(clients, mode):
    c = clients(mode)
    blob = bytes((i * 31 + 7) & 0xFF for i in range(5000))  # not valid UTF-8
    got = c.call("echo", blob)
    assert isinstance(got, bytes) and got == blob
    assert c.call("echo", {"file": blob, "list": [b"\x00\xff", "x"]}) == {"file": blob, "list": [b"\x00\xff", "x"]}
    assert c.call("size", blob) == 5000
    c.sio.emit("echo", ("bin", blob))
    assert c.wait_event("echo", lambda a: a[0] == "bin") == ("bin", blob)


def test_join_and_to_room_all_between_two_clients(clients, mode):
    a = clients(mode, label="a")
    b = clients(mode, label="b")
    room, ev = unique("room"), unique("ev")
    assert a.call("join", room) == room
    assert b.call("join", room) == room
    a.sio.emit("to-room-all", (room, ev, {"from": "a"}))
    assert a.wait_event(ev) == ({"from": "a"},)
    assert b.wait_event(ev) == ({"from": "a"},)
    b.sio.emit("to-room", (room, ev, "from b"))
    assert a.wait_event(ev, lambda args: args == ("from b",)) == ("from b",)
    # (That b does not get its own to-room is checked by the Node tests: python-socketio runs each
    # handler on a thread of its own, so arrival order cannot serve as a barrier here.)


def test_kick_disconnects_with_server_reason_and_no_reconnect(clients, mode):
    c = clients(mode, reconnection=True, reconnection_delay=0.1, reconnection_delay_max=0.2)
    c.sio.emit("kick")
    c.wait_for(lambda r: r.disconnects, "disconnect")
    # python-socketio's name for it is "server disconnect" (socket.io-client says "io server disconnect")
    assert c.disconnects == [socketio.Client.reason.SERVER_DISCONNECT]
    c.wait_for(lambda r: not r.sio.connected, "connected == False")
    # Nothing to await for an absence: give the reconnection logic time to (wrongly) act.
    threading.Event().wait(0.6)
    assert c.connects == 1, "the client reconnected after a server-side disconnect"
    assert not c.sio.connected
