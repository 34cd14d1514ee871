"""A real S3 API for the tests: moto's server, started once per session on 127.0.0.1.

Both the blob-store contract and the files end-to-end tests use it (through conftest), with
credentials set per test so that no developer's own ~/.aws is ever read.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

REGION = "us-east-1"
SECRET = "moto-test-secret"


def _start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server on a free loopback port, once it answers (a port taken meanwhile by
    someone else makes it exit: then another port is tried)."""
    for _ in range(3):
        url = f"http://127.0.0.1:{free_port()}"
        port = url.rsplit(":", 1)[1]
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                return process, url
            except httpx.TransportError:
                time.sleep(0.05)
        process.kill()
        process.wait()
    raise RuntimeError(f"moto server did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 API (moto's server) for the whole session, ended with it. Without moto the
    S3 tests skip locally and fail under CI, which must run them."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        reason = "moto[server] is not installed, so the S3 file store cannot be tested"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    process, url = _start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials for this test only, and none of the developer's own ~/.aws."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_files_url(moto_endpoint: str, aws_env: None) -> str:
    """CHATQL_FILES_URL for a fresh bucket on the moto server."""
    import botocore.session

    bucket = f"chatql-{uuid.uuid4().hex[:16]}"
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=moto_endpoint, region_name=REGION
    )
    client.create_bucket(Bucket=bucket)
    client.close()
    return f"s3://{bucket}/files?endpoint_url={moto_endpoint}&region={REGION}"
