"""The GraphQL-over-HTTP conformance audit (the `graphql-http` npm package's serverAudits)
against a running ChatQL: every MUST passes, in development and in production mode."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from chatql.config import Settings
from tests.helpers import running_server

AUDIT = Path(__file__).parent / "audit"


async def run_audit(url: str) -> list[dict[str, str]]:
    node = shutil.which("node")
    if node is None or not (AUDIT / "node_modules" / "graphql-http").exists():
        pytest.fail("the audit needs Node.js and `make install` (npm ci in tests/audit)")
    process = await asyncio.create_subprocess_exec(
        node,
        str(AUDIT / "run_audit.mjs"),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("env", ["development", "production"])
async def test_every_must_of_the_graphql_over_http_spec_passes(
    settings: Settings, env: str
) -> None:
    mode = replace(settings, env=env, jwt_secret="a" * 40, introspection=True)
    async with running_server(mode) as server:
        results = await run_audit(server.url)
    assert len(results) > 40
    failed = [r for r in results if r["name"].startswith("MUST") and r["status"] != "ok"]
    assert failed == []
    should = [r for r in results if r["name"].startswith("SHOULD") and r["status"] != "ok"]
    assert should == [], "SHOULD audits regressed"
