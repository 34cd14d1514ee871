"""Follows: who follows whom, and telling a creator's followers that a stream went live.

Following is one-way and asks nobody's consent, as on streaming sites; only a registered,
present account can be followed (a guest's goes within the day). The go-live notices are
written in the background, in batches: the media plane that reports the stream live waits
only a few seconds for its answer, and a creator may have many followers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from chatql.background import BackgroundTasks
from chatql.errors import BadUserInput, NotFound
from chatql.services import validation
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import FollowRecord, NotificationRecord, StreamRecord, UserRecord, now_utc

log = logging.getLogger("chatql.follows")

NOTIFY_BATCH = 500


class Follows:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._notifying = BackgroundTasks()

    async def follow(self, viewer: UserRecord, user_id: str) -> bool:
        target = validation.entity_id(user_id, "userId")
        if target == viewer.id:
            raise BadUserInput("You cannot follow yourself", field="userId")
        user = await self._store.get_user(target)
        if user is None or user.deleted_at is not None or user.is_guest:
            raise NotFound("No such user", field="userId")
        await self._store.follow(FollowRecord(viewer.id, target, now_utc()))
        return True

    async def unfollow(self, viewer: UserRecord, user_id: str) -> bool:
        await self._store.unfollow(viewer.id, validation.entity_id(user_id, "userId"))
        return True

    async def follower_counts(self, user_ids: Sequence[str]) -> dict[str, int]:
        return await self._store.count_followers(user_ids)

    async def followed_by(self, viewer: UserRecord, user_ids: Sequence[str]) -> frozenset[str]:
        return await self._store.following(viewer.id, user_ids)

    def stream_went_live(self, stream: StreamRecord) -> None:
        """Tell the creator's followers, in the background (STREAM_LIVE notifications)."""
        self._notifying.spawn(self._notify(stream), name=f"chatql-golive-{stream.id}")

    async def stop(self) -> None:
        """Let go-live notifications being written finish (shutdown)."""
        await self._notifying.finish(timeout=10)

    async def _notify(self, stream: StreamRecord) -> None:
        try:
            await self._notify_in_batches(stream)
        except Exception:  # the stream is live either way; the log says who was not told
            log.exception("could not notify every follower of stream %s", stream.id)

    async def _notify_in_batches(self, stream: StreamRecord) -> None:
        after: str | None = None
        now = now_utc()
        while True:
            followers = await self._store.follower_ids(stream.creator_id, NOTIFY_BATCH, after)
            if not followers:
                return
            await self._store.insert_notifications(
                [
                    NotificationRecord(
                        id=new_id(),
                        user_id=follower,
                        type="STREAM_LIVE",
                        created_at=now,
                        room_id=stream.room_id,
                        actor_id=stream.creator_id,
                        stream_id=stream.id,
                    )
                    for follower in followers
                ]
            )
            after = followers[-1]
