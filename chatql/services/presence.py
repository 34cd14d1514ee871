"""Presence: ONLINE while a user has an authenticated socket anywhere, OFFLINE after the last.

Connections live in the store so that every process agrees. Closing the last socket marks the
user OFFLINE only after a grace period, so a quick reconnect does not flap. Each process
heart-beats its connections; connections of a process that stopped heart-beating (it crashed)
are swept away by any other process, and their users go OFFLINE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from chatql.config import Settings
from chatql.errors import BadUserInput
from chatql.services.rooms import Rooms
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import ConnectionRecord, UserRecord, now_utc

log = logging.getLogger("chatql.presence")
SETTABLE = ("ONLINE", "AWAY", "BUSY")


class Presence:
    def __init__(self, store: Store, rooms: Rooms, settings: Settings) -> None:
        self._store = store
        self._rooms = rooms
        self._grace = settings.presence_grace
        self._heartbeat = settings.presence_heartbeat
        self._stale_after = timedelta(seconds=settings.presence_stale_after)
        self.process_id = new_id()
        self._pending_offline: dict[str, asyncio.Task[None]] = {}
        self._local: dict[str, str] = {}  # connection id -> user id
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._maintain(), name="chatql-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        users = set(self._local.values()) | set(self._pending_offline)
        for task in self._pending_offline.values():
            task.cancel()
        self._pending_offline.clear()
        for connection_id in list(self._local):
            await self._store.remove_connection(connection_id)
        self._local.clear()
        for user_id in users:
            await self._offline_if_gone(user_id)

    async def connected(self, user: UserRecord) -> str:
        now = now_utc()
        connection_id = new_id()
        await self._store.add_connection(
            ConnectionRecord(connection_id, user.id, self.process_id, now, now)
        )
        self._local[connection_id] = user.id
        pending = self._pending_offline.pop(user.id, None)
        if pending is not None:
            pending.cancel()
        current = await self._store.get_user(user.id)
        if current is not None and current.status == "OFFLINE":
            await self._store.update_user(user.id, {"status": "ONLINE"})
        return connection_id

    async def disconnected(self, connection_id: str) -> None:
        user_id = self._local.pop(connection_id, None)
        await self._store.remove_connection(connection_id)
        if user_id is None or user_id in self._local.values():
            return
        if self._grace <= 0:
            await self._offline_if_gone(user_id)
            return
        previous = self._pending_offline.pop(user_id, None)
        if previous is not None:
            previous.cancel()
        self._pending_offline[user_id] = asyncio.create_task(self._offline_later(user_id))

    async def _offline_later(self, user_id: str) -> None:
        await asyncio.sleep(self._grace)
        self._pending_offline.pop(user_id, None)
        await self._offline_if_gone(user_id)

    async def _offline_if_gone(self, user_id: str) -> None:
        if await self._store.count_connections(user_id) == 0:
            await self._store.update_user(
                user_id, {"status": "OFFLINE", "last_seen": now_utc(), "current_room": None}
            )

    async def update(self, viewer: UserRecord, status: str, current_room: str | None) -> UserRecord:
        if status not in SETTABLE:
            raise BadUserInput("status must be ONLINE, AWAY or BUSY", field="status")
        room_id = None
        if current_room is not None:
            room_id = (await self._rooms.member_room(viewer, current_room)).id
        updated = await self._store.update_user(
            viewer.id, {"status": status, "current_room": room_id}
        )
        assert updated is not None
        return updated

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                now = now_utc()
                await self._store.heartbeat(self.process_id, now)
                for user_id in await self._store.remove_stale_connections(now - self._stale_after):
                    await self._offline_if_gone(user_id)
            except Exception:
                log.exception("presence maintenance failed; retrying")
