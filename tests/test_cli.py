"""The operator's command line as operators run it: `python -m chatql COMMAND` in a process of
its own, against databases a real server writes; exit statuses and messages included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatql.store.sqlite.migrations import LATEST_VERSION
from tests.helpers import Account, Client, Server, free_port
from tests.test_process import SECRET, start, wait_ready

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (
    "serve",
    "export-schema",
    "print-schema",
    "create-admin",
    "check",
    "migrate",
    "backup",
    "restore",
    "stats",
)
HISTORY = (
    "query($r: ID!, $t: String) { messagesByRoom(chatRoomId: $r, limit: 100, "
    "sortDirection: ASC, nextToken: $t) { items { id seq content } nextToken } }"
)


def environment(db: Path | str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATQL_")}
    env["CHATQL_JWT_SECRET"] = SECRET
    if db is not None:
        env["CHATQL_DATABASE_URL"] = db if isinstance(db, str) else f"sqlite:///{db}"
    env.update(extra)
    return env


def chatql(
    *args: str, db: Path | str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatql", *args],
        env=environment(db, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


async def chatql_async(*args: str, db: Path) -> tuple[int, str, str]:
    """The same, without blocking the loop that keeps writing meanwhile."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatql",
        *args,
        env=environment(db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


class RunningChatQL:
    """`python -m chatql` on a free port, with the client the tests talk to it through."""

    def __init__(self, db: Path) -> None:
        self.port = free_port()
        self.process = start(db, self.port)
        self.server = Server(url=f"http://127.0.0.1:{self.port}/graphql", settings=None)  # type: ignore[arg-type]
        self.client = Client(self.server)

    async def __aenter__(self) -> RunningChatQL:
        await asyncio.to_thread(wait_ready, self.port, self.process)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.client.close()
        self.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(self.process.wait, 15)

    async def every_message(self, account: Account, room: str) -> list[dict[str, Any]]:
        stored: list[dict[str, Any]] = []
        token = None
        while True:
            page = (await self.client.data(HISTORY, {"r": room, "t": token}, account.token))[
                "messagesByRoom"
            ]
            stored += page["items"]
            token = page["nextToken"]
            if token is None:
                return stored


# ---------------------------------------------------------------- help and bad input


def test_every_command_has_help() -> None:
    top = chatql("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        result = chatql(command, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: chatql {command}")
    assert "mongodump" in chatql("backup", "--help").stdout
    assert "Refused while any ChatQL process has the database open" in " ".join(
        chatql("restore", "--help").stdout.split()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("backup",), "the following arguments are required: PATH"),
        (("check", "--timeout", "soon"), "not a number of seconds: 'soon'"),
        (("stats", "--timeout", "0"), "must be between 0 and 3600 seconds"),
        (("migrate", "--dry"), "unrecognized arguments: --dry"),
        (("restore", "a", "b"), "unrecognized arguments: b"),
    ],
)
def test_bad_flags_get_one_line_and_exit_status_2(args: tuple[str, ...], message: str) -> None:
    result = chatql(*args)
    assert result.returncode == 2
    line = one_line_error(result)
    assert message in line and line.startswith("chatql") and "--help" in line


def test_bad_settings_are_one_line_with_exit_status_2(tmp_path: Path) -> None:
    for command in ("check", "migrate", "stats", "backup", "restore"):
        args = (command, str(tmp_path / "b.db")) if command in ("backup", "restore") else (command,)
        result = chatql(*args, db=tmp_path / "chat.db", CHATQL_PORT="eighty")
        assert result.returncode == 2, (command, result.stderr)
        assert one_line_error(result) == (
            "chatql: configuration error: CHATQL_PORT must be an integer, got 'eighty'"
        )
    production = chatql(
        "check", db=tmp_path / "chat.db", CHATQL_ENV="production", CHATQL_JWT_SECRET="short"
    )
    assert production.returncode == 2
    assert "CHATQL_JWT_SECRET must be set to at least 32 bytes" in one_line_error(production)


def test_export_schema_writes_the_schema_the_repository_keeps(tmp_path: Path) -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert chatql("export-schema").stdout == committed
    assert chatql("print-schema").stdout == committed  # the old name still works
    target = tmp_path / "schema.graphql"
    assert chatql("export-schema", str(target)).returncode == 0
    assert target.read_text() == committed
    unwritable = chatql("export-schema", str(tmp_path / "no" / "such" / "dir.graphql"))
    assert unwritable.returncode == 2
    assert "cannot write" in one_line_error(unwritable)


# ---------------------------------------------------------------- check and migrate


def test_check_reports_a_reachable_store_and_what_is_on(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    fresh = chatql("check", db=db)
    assert fresh.returncode == 0, fresh.stderr
    assert "does not exist yet" in fresh.stdout and not db.exists()  # a check creates nothing
    assert chatql("migrate", db=db).returncode == 0
    result = chatql(
        "check",
        db=db,
        CHATQL_ASSISTANT_BASE_URL="http://127.0.0.1:9/v1",
        CHATQL_ASSISTANT_MODEL="tiny",
        CHATQL_GUEST_ACCESS="on",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "settings: ok (development)"
    assert f"store: sqlite:///{db} reachable, schema up to date" in lines
    assert "assistant: on (tiny at http://127.0.0.1:9/v1)" in lines
    assert "guests: on" in lines and "media plane: off" in lines and "social sign-in: off" in lines


def test_check_fails_with_exit_status_1_when_the_store_cannot_be_reached(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"mongodb://admin:hunter2@127.0.0.1:{port}/chat?serverSelectionTimeoutMS=800"
    result = chatql("check", "--timeout", "5", db=url)
    assert result.returncode == 1
    line = one_line_error(result)
    assert line.startswith("chatql: store unreachable:") and str(port) in line
    assert "hunter2" not in result.stdout + result.stderr
    # an SQLite "file" that cannot be opened as a database
    (tmp_path / "folder.db").mkdir()
    result = chatql("check", db=tmp_path / "folder.db")
    assert result.returncode == 1
    assert one_line_error(result).startswith("chatql: store unreachable:")


def test_check_refuses_a_database_from_a_newer_chatql(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    assert chatql("migrate", db=db).returncode == 0
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    result = chatql("check", db=db)
    assert result.returncode == 1
    assert "newer than this ChatQL knows" in one_line_error(result)
    migrate = chatql("migrate", db=db)
    assert migrate.returncode == 1 and "newer than this ChatQL knows" in one_line_error(migrate)


async def test_migrate_lists_then_applies_then_finds_nothing_and_the_server_starts(
    tmp_path: Path,
) -> None:
    db = tmp_path / "chat.db"
    pending = chatql("migrate", "--check", db=db)
    assert pending.returncode == 3
    versions = [f"  version {v}" for v in range(1, LATEST_VERSION + 1)]
    assert pending.stdout.splitlines() == [f"{LATEST_VERSION} migrations pending:", *versions]
    assert not db.exists()  # --check changes nothing
    applied = chatql("migrate", db=db)
    assert applied.returncode == 0
    assert applied.stdout.splitlines() == [
        f"applied version {v}" for v in range(1, LATEST_VERSION + 1)
    ]
    for args in (("migrate",), ("migrate", "--check")):
        again = chatql(*args, db=db)
        assert again.returncode == 0 and again.stdout == "no migrations pending\n"
    async with RunningChatQL(db) as chat:  # a server on the migrated database just works
        alice = await chat.client.register("alice")
        await chat.client.send(alice, await chat.client.create_room(alice, "r"), "hi")


# ---------------------------------------------------------------- stats


async def test_stats_counts_what_real_operations_made(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    missing = chatql("stats", db=db)
    assert missing.returncode == 1 and "does not exist" in one_line_error(missing)
    async with RunningChatQL(db) as chat:
        alice, bob = await chat.client.register("alice"), await chat.client.register("bob")
        general = await chat.client.create_room(alice, "general")
        await chat.client.create_room(bob, "other")
        sent = [await chat.client.send(alice, general, f"m{i}") for i in range(5)]
        await chat.client.data(
            "mutation($m: ID!) { deleteMessage(id: $m) { id } }",
            {"m": sent[0]["id"]},
            alice.token,
        )
        # stats reads the database while the server has it open
        code, out, err = await chatql_async("stats", "--json", db=db)
    assert code == 0, err
    assert json.loads(out) == {"users": 2, "rooms": 2, "messages": 4, "streams": 0, "uploads": 0}
    lines = chatql("stats", db=db).stdout.splitlines()
    assert lines == ["users     2", "rooms     2", "messages  4", "streams   0", "uploads   0"]


# ---------------------------------------------------------------- backup and restore


async def test_a_backup_taken_while_the_server_writes_restores_every_committed_message(
    tmp_path: Path,
) -> None:
    db, backup_file = tmp_path / "live.db", tmp_path / "backup.db"
    acknowledged: list[dict[str, Any]] = []
    async with RunningChatQL(db) as chat:
        alice = await chat.client.register("alice")
        room = await chat.client.create_room(alice, "busy")
        stop, warmed_up = asyncio.Event(), asyncio.Event()

        async def sender(worker: int) -> None:
            i = 0
            while not stop.is_set():
                acknowledged.append(await chat.client.send(alice, room, f"w{worker}-{i}"))
                i += 1
                if len(acknowledged) >= 100:
                    warmed_up.set()

        senders = [asyncio.create_task(sender(w)) for w in range(4)]
        await asyncio.wait_for(warmed_up.wait(), 60)
        before = list(acknowledged)  # committed before the backup began
        code, out, err = await chatql_async("backup", str(backup_file), db=db)
        during = len(acknowledged) - len(before)
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*senders)
        assert code == 0, err
        assert during > 0, "the server kept writing while the backup ran"
        assert f"to {backup_file}" in out and "schema version" in out
    assert f"{backup_file.name}-wal" not in os.listdir(tmp_path)  # one self-contained file

    fresh = tmp_path / "restored" / "chat.db"
    restored = chatql("restore", str(backup_file), db=fresh)
    assert restored.returncode == 0, restored.stderr
    async with RunningChatQL(fresh) as chat:
        stored = await chat.every_message(alice, room)
    ids = [m["id"] for m in stored]
    assert {m["id"] for m in before} <= set(ids)  # every message committed before it
    # one consistent moment: seqs 1..N without a gap, each an acknowledged message
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))
    assert set(ids) <= {m["id"] for m in acknowledged}
    assert len(before) <= len(stored) <= len(acknowledged)


async def test_restore_is_refused_while_a_server_has_the_database_open(tmp_path: Path) -> None:
    db, backup_file = tmp_path / "chat.db", tmp_path / "backup.db"
    async with RunningChatQL(db) as chat:
        alice = await chat.client.register("alice")
        room = await chat.client.create_room(alice, "kept")
        await chat.client.send(alice, room, "before the backup")
        code, _out, err = await chatql_async("backup", str(backup_file), db=db)
        assert code == 0, err
        await chat.client.send(alice, room, "after the backup")
        code, _out, err = await chatql_async("restore", str(backup_file), db=db)
        assert code == 1
        assert err.strip() == (
            f"chatql: refusing to restore: a ChatQL process has {db} open "
            "(stop every server using it first)"
        )
        # the server never noticed: both messages are still there
        assert [m["content"] for m in await chat.every_message(alice, room)] == [
            "before the backup",
            "after the backup",
        ]
    # stopped, the restore goes through and brings back the state of the backup
    result = chatql("restore", str(backup_file), db=db)
    assert result.returncode == 0, result.stderr
    kept = [tmp_path / name for name in os.listdir(tmp_path) if ".before-restore-" in name]
    assert len(kept) == 1 and f"kept as {kept[0]}" in result.stdout
    async with RunningChatQL(db) as chat:
        assert [m["content"] for m in await chat.every_message(alice, room)] == [
            "before the backup"
        ]
    # and the database it replaced still has what came after the backup
    conn = sqlite3.connect(kept[0])
    contents = [row[0] for row in conn.execute("SELECT content FROM messages ORDER BY seq")]
    conn.close()
    assert contents == ["before the backup", "after the backup"]


def test_restore_refuses_anything_but_a_sound_chatql_backup(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    assert chatql("migrate", db=db).returncode == 0
    original = db.read_bytes()
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    good = tmp_path / "good.db"
    assert chatql("backup", str(good), db=db).returncode == 0
    damaged = tmp_path / "damaged.db"
    data = bytearray(good.read_bytes())
    page = 4096
    data[3 * page : 3 * page + 512] = b"\xff" * 512  # scribble over a b-tree page
    damaged.write_bytes(bytes(data))
    newer = tmp_path / "newer.db"
    newer.write_bytes(good.read_bytes())
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    for backup_file, reason in (
        (tmp_path / "missing.db", "does not exist"),
        (not_sqlite, "is not an SQLite database"),
        (other, "not a ChatQL one"),
        (damaged, "damaged"),
        (newer, "newer than this ChatQL knows"),
    ):
        result = chatql("restore", str(backup_file), db=db)
        assert result.returncode == 2, (backup_file, result.stdout, result.stderr)
        line = one_line_error(result)
        assert line.startswith("chatql: refusing to restore:") and reason in line, line
        assert db.read_bytes() == original  # untouched
    assert not [p for p in tmp_path.iterdir() if ".before-restore-" in p.name]


def test_backup_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    db, target = tmp_path / "chat.db", tmp_path / "backup.db"
    assert chatql("migrate", db=db).returncode == 0
    target.write_text("precious")
    refused = chatql("backup", str(target), db=db)
    assert refused.returncode == 2 and "exists (use --force" in one_line_error(refused)
    assert target.read_text() == "precious"
    assert chatql("backup", "--force", str(target), db=db).returncode == 0
    assert target.read_bytes().startswith(b"SQLite format 3\x00")
    no_db = chatql("backup", str(tmp_path / "x.db"), db=tmp_path / "none.db")
    assert no_db.returncode == 2 and "nothing to back up" in one_line_error(no_db)


def test_mongodb_backups_are_mongodumps_job_and_the_command_says_how() -> None:
    url = "mongodb://ops:hunter2@m1:27017,m2:27017/chat?replicaSet=rs0"
    backup = chatql("backup", "/backups/chat.archive", db=url)
    assert backup.returncode == 2
    line = one_line_error(backup)
    assert "mongodump --uri='mongodb://ops:***@m1:27017,m2:27017/chat?replicaSet=rs0'" in line
    assert "--oplog" in line and "--archive='/backups/chat.archive'" in line
    restore = chatql("restore", "/backups/chat.archive", db=url)
    assert restore.returncode == 2
    assert "mongorestore" in one_line_error(restore) and "--oplogReplay" in restore.stderr
    assert "hunter2" not in backup.stderr + restore.stderr
