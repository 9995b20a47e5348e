"""The server API against its own OpenAPI document, with schemathesis.

A `chorus serve` of its own (an API key, its own port and data directory, so the random
calls touch no other test's rooms) is started here; the schemathesis CLI reads
/api/openapi.json and sends each operation generated requests, valid and not, within a time
budget (SCHEMATHESIS_SECONDS, default 150): no answer may be a server error, every answer
must match the document (status, content type, body schema), a valid request must not be
refused and an invalid one must not be accepted.

Needs CHORUS_BIN (default: target/debug/chorus beside this repository's e2e/).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import urllib.request

import pytest

from chorus_serve import chorus_serve


KEY = "schemathesis-key-0123456789"


@pytest.fixture(scope="module")
def api_url():
    with chorus_serve({"CHORUS_API_KEYS": KEY}) as url:
        yield url


def test_every_operation_keeps_to_the_document(api_url):
    """schemathesis's every check, its coverage and fuzzing phases, bounded in time."""
    st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    # Its cache (.schemathesis/) goes to a directory of its own, not the checkout.
    with tempfile.TemporaryDirectory(prefix="chorus-schemathesis-") as scratch:
        run = subprocess.run(
            [
                st, "run", f"{api_url}/api/openapi.json",
                "--header", f"X-API-Key: {KEY}",
                "--checks", "all",
                "--max-examples", "30",
                "--request-timeout", "10",
                "--max-time", os.environ.get("SCHEMATHESIS_SECONDS", "150"),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=scratch,
        )
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    print(summary)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", summary)
    tested = re.search(r"Tested: (\d+)", summary)
    assert selected and tested, summary
    assert selected.group(1) == selected.group(2) == tested.group(1), "every operation tested"


def test_a_call_without_the_key_is_refused_as_the_document_says(api_url):
    request = urllib.request.Request(f"{api_url}/api/info", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("apikey")
