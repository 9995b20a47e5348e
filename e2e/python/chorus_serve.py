"""A `chorus serve` of a test's own: its own free loopback port and data directory, the
environment it is given, ready once /healthz answers, stopped by PID afterwards.

Needs CHORUS_BIN (default: target/debug/chorus beside this repository's e2e/).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHORUS_BIN = os.environ.get("CHORUS_BIN", os.path.join(ROOT, "target", "debug", "chorus"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def chorus_serve(env: dict[str, str]) -> Iterator[str]:
    """Runs `chorus serve` with `env` added to this process's environment; yields its URL."""
    if not os.path.exists(CHORUS_BIN):
        raise RuntimeError(f"{CHORUS_BIN} is not built (cargo build)")
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [CHORUS_BIN, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", data_dir],
            env={**os.environ, "CHORUS_LOG": "warn", **env},
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
                    break
                except OSError:
                    assert server.poll() is None, "chorus serve exited"
                    assert time.monotonic() < deadline, "chorus serve did not answer /healthz"
                    time.sleep(0.1)
            yield url
            assert server.poll() is None, "chorus serve died during the run"
        finally:
            server.terminate()
            server.wait(timeout=15)
