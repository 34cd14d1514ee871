"""The ecosystem's own client libraries (tests/clients: Amplify, Apollo, graphql-sse, the
Federation gateway), run as real Node processes against a real ChatQL.

A script under tests/clients prints one JSON object as its last line of output; `run_client`
returns it. Without Node or tests/clients/node_modules (`npm ci` there, which `make install`
does) the tests skip locally and fail under CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CLIENTS_DIR = Path(__file__).parent / "clients"


def require_clients(package: str) -> str:
    """The `node` executable, once `package` is installed in tests/clients."""
    node = shutil.which("node")
    if node is None or not (CLIENTS_DIR / "node_modules" / package).is_dir():
        reason = f"this test needs Node.js and `npm ci` in tests/clients ({package})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return node


async def run_client(
    script: str, package: str, env: dict[str, str], *, timeout: float = 60
) -> dict[str, Any]:
    """Run tests/clients/`script` with `env` added; its last output line, parsed as JSON.

    A script that fails (non-zero exit, no JSON) fails the test with everything it printed.
    """
    node = require_clients(package)
    process = await asyncio.create_subprocess_exec(
        node,
        str(CLIENTS_DIR / script),
        cwd=CLIENTS_DIR,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        raise AssertionError(f"{script} timed out:\n{output.decode(errors='replace')}") from None
    text = output.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if process.returncode != 0 or not lines:
        raise AssertionError(f"{script} exited with {process.returncode}:\n{text}")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise AssertionError(f"{script} printed no JSON result:\n{text}") from None
    if not isinstance(result, dict):
        raise AssertionError(f"{script} printed {result!r}, not an object")
    return result
