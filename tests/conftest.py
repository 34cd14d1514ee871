"""Shared fixtures: fast settings, stores of every kind, running servers, clients."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chatql.config import Settings
from chatql.store.base import Store
from chatql.store.sqlite import SQLiteStore
from tests.helpers import Client, Server, running_server
from tests.oidc_server import oidc_provider
from tests.openai_server import openai_process, openai_server
from tests.s3_server import aws_env, moto_endpoint, s3_files_url
from tests.smtp_server import smtp_server

# fixtures, for every test module
__all__ = [
    "aws_env",
    "moto_endpoint",
    "oidc_provider",
    "openai_process",
    "openai_server",
    "s3_files_url",
    "smtp_server",
]

REAL_MONGO = os.environ.get("CHATQL_TEST_MONGO_URL")
FILES_ROOT = Path(tempfile.gettempdir()) / f"chatql-test-files-{os.getpid()}"
STORE_KINDS = ["sqlite", "mongoeco"] + (["mongodb"] if REAL_MONGO else [])


def fast_settings(**overrides: Any) -> Settings:
    """Development settings with cheap password hashing, so tests can register many users."""
    base = Settings(
        jwt_secret="test-secret-that-is-long-enough-for-hs256",
        argon2_time_cost=1,
        argon2_memory_cost=1024,
        ws_keepalive_interval=0,
        rate_limit_messages="off",
        rate_limit_auth="off",
        presence_grace=0.2,
        # every app gets a folder of its own for files, made only if it starts
        files_url=f"file:{FILES_ROOT}/{uuid.uuid4().hex}",
    )
    return replace(base, **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return fast_settings(database_url=f"sqlite:///{tmp_path}/chat.db")


def mongoeco_client() -> Any:
    from mongoeco import AsyncMongoClient  # type: ignore[import-not-found]

    return AsyncMongoClient()


def make_store(kind: str, tmp_path: Path, shared: Any = None) -> Store:
    if kind == "sqlite":
        return SQLiteStore(f"sqlite:///{tmp_path}/store.db")
    from chatql.store.mongo import MongoStore

    if kind == "mongoeco":
        return MongoStore("mongodb://localhost/chatql_test", client=shared or mongoeco_client())
    assert REAL_MONGO

    return MongoStore(REAL_MONGO, database=f"chatql_test_{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(store_kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    instance = make_store(store_kind, tmp_path)
    await instance.open()
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Client]:
    c = Client(server)
    yield c
    await c.close()


ClientFactory = Callable[[Server], Client]


@pytest.fixture(scope="session", autouse=True)
def _remove_test_files() -> Iterator[None]:
    """The folders the apps of this run kept files in go with the run."""
    yield
    shutil.rmtree(FILES_ROOT, ignore_errors=True)
