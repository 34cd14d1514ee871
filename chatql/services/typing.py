"""Typing indicators: ephemeral, never stored for good, and they end on their own.

`start`/`stop` publish raw events through the store's ephemeral path, so with MongoDB every
process sees them. Each process's `TypingTracker` turns the raw events into started/ended
events for its own subscribers: a refresh only extends the deadline, and an indicator ends
on `stop`, when the user sends a message in the room, or after the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime

from broadcaster import Event

from chatql.realtime.pubsub import Hub
from chatql.services.rooms import Rooms
from chatql.store.base import Store
from chatql.store.records import ChangeEvent, UserRecord, now_utc

RAW_PREFIX = "typing-raw:"


def typing_channel(room_id: str) -> str:
    return f"typing:{room_id}"


@dataclass(frozen=True, slots=True)
class TypingEvent:
    kind: str  # "started" | "ended"
    room_id: str
    user_id: str
    user_name: str
    at: datetime


class Typing:
    def __init__(self, store: Store, rooms: Rooms) -> None:
        self._store = store
        self._rooms = rooms

    async def _publish(self, viewer: UserRecord, room_id: str, kind: str) -> bool:
        room = await self._rooms.member_room(viewer, room_id)
        payload = {"kind": kind, "userId": viewer.id, "userName": viewer.display_name}
        await self._store.publish_ephemeral(RAW_PREFIX + room.id, payload)
        return True

    async def start(self, viewer: UserRecord, room_id: str) -> bool:
        return await self._publish(viewer, room_id, "start")

    async def stop(self, viewer: UserRecord, room_id: str) -> bool:
        return await self._publish(viewer, room_id, "stop")


class TypingTracker:
    """Per process: who is typing where, until when."""

    def __init__(self, hub: Hub, timeout: float) -> None:
        self._hub = hub
        self._timeout = timeout
        self._active: dict[tuple[str, str], tuple[float, str]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._expire(), name="chatql-typing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def observe(self, event: Event) -> None:
        message = event.message
        if event.channel.startswith(RAW_PREFIX) and isinstance(message, ChangeEvent):
            payload = (message.document or {}).get("payload") or {}
            room_id = event.channel[len(RAW_PREFIX) :]
            user_id, name = str(payload.get("userId", "")), str(payload.get("userName", ""))
            if payload.get("kind") == "start":
                if (room_id, user_id) not in self._active:
                    self._emit("started", room_id, user_id, name)
                self._active[(room_id, user_id)] = (time.monotonic() + self._timeout, name)
            else:
                self._end(room_id, user_id)
        elif (
            isinstance(message, ChangeEvent)
            and message.collection == "messages"
            and message.operation == "insert"
            and message.document is not None
        ):
            self._end(str(message.document["room_id"]), str(message.document["author_id"]))

    def _end(self, room_id: str, user_id: str) -> None:
        entry = self._active.pop((room_id, user_id), None)
        if entry is not None:
            self._emit("ended", room_id, user_id, entry[1])

    def _emit(self, kind: str, room_id: str, user_id: str, name: str) -> None:
        self._hub.deliver(
            typing_channel(room_id), TypingEvent(kind, room_id, user_id, name, now_utc())
        )

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self._timeout / 4))
            now = time.monotonic()
            for (room_id, user_id), (deadline, _name) in list(self._active.items()):
                if deadline <= now:
                    self._end(room_id, user_id)
