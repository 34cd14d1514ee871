"""Builds every service once per process and starts/stops what runs in the background."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from broadcaster import Event

from chatql.auth import AccessTokens, PasswordHashing
from chatql.blobs import open_blob_store
from chatql.config import Settings
from chatql.pubsub import RESYNC_CHANNEL, ChangeFeedBackend, Hub
from chatql.security.rate_limit import Rate, RateLimiter
from chatql.services.accounts import Accounts
from chatql.services.file_urls import FileUrls
from chatql.services.files import Files
from chatql.services.live import LiveStreams
from chatql.services.membership_cache import MembershipCache
from chatql.services.messages import Messages
from chatql.services.moderation import Moderation
from chatql.services.notifications import Notifications
from chatql.services.presence import Presence
from chatql.services.reactions import Reactions
from chatql.services.record_cache import RecordCache
from chatql.services.rooms import Rooms
from chatql.services.typing import Typing, TypingTracker
from chatql.store.base import ChangeEvent, RoomRecord, Store, UserRecord


@dataclass
class Services:
    settings: Settings
    store: Store
    hub: Hub
    feed: ChangeFeedBackend
    passwords: PasswordHashing
    accounts: Accounts
    rooms: Rooms
    messages: Messages
    reactions: Reactions
    notifications: Notifications
    moderation: Moderation
    presence: Presence
    typing: Typing
    typing_tracker: TypingTracker
    members: MembershipCache
    users: RecordCache[UserRecord]
    room_records: RecordCache[RoomRecord]
    live: LiveStreams
    files: Files

    @classmethod
    def build(cls, settings: Settings, store: Store) -> Services:
        name = settings.instance_name or f"{socket.gethostname()}:{settings.port}"
        feed = ChangeFeedBackend(store, name=name)
        hub = Hub(feed)
        members = MembershipCache(store)
        users = RecordCache("users", UserRecord, store.get_users)
        rooms_cache = RecordCache("rooms", RoomRecord, store.get_rooms)
        typing_tracker = TypingTracker(hub, settings.typing_timeout)

        def observe(event: Event) -> None:
            if isinstance(event.message, ChangeEvent):
                members.observe(event.message)
                users.observe(event.message)
                rooms_cache.observe(event.message)
            elif event.channel == RESYNC_CHANNEL:
                members.reset()
                users.reset()
                rooms_cache.reset()
            typing_tracker.observe(event)

        hub.add_observer(observe)
        passwords = PasswordHashing(settings)
        notifications = Notifications(store)
        rooms = Rooms(store, notifications, rooms_cache, members)
        files = Files(
            store,
            open_blob_store(settings.files_url),
            settings,
            FileUrls(settings.jwt_secret, settings.file_url_ttl),
        )
        messages = Messages(
            store,
            rooms,
            notifications,
            RateLimiter(Rate.parse(settings.rate_limit_messages)),
            files,
        )
        accounts = Accounts(
            store,
            settings,
            passwords,
            AccessTokens(settings),
            RateLimiter(Rate.parse(settings.rate_limit_auth)),
            users,
            files,
        )
        return cls(
            settings=settings,
            store=store,
            hub=hub,
            feed=feed,
            passwords=passwords,
            accounts=accounts,
            rooms=rooms,
            messages=messages,
            reactions=Reactions(store, messages),
            notifications=notifications,
            moderation=Moderation(store, rooms),
            presence=Presence(store, rooms, settings),
            typing=Typing(store, rooms),
            typing_tracker=typing_tracker,
            members=members,
            users=users,
            room_records=rooms_cache,
            live=LiveStreams(store, hub, rooms, members, settings.subscription_queue_size),
            files=files,
        )

    async def start(self) -> None:
        await self.files.start()
        await self.hub.start()
        await self.typing_tracker.start()
        await self.presence.start()
        if self.settings.bootstrap_admin:
            await self.moderation.promote_admin(self.settings.bootstrap_admin)

    async def stop(self) -> None:
        await self.presence.stop()
        await self.typing_tracker.stop()
        await self.hub.stop()
        await self.files.stop()
        self.passwords.close()
