"""Builds every service once per process and starts/stops what runs in the background."""

from __future__ import annotations

from dataclasses import dataclass

from chatql.auth import AccessTokens, PasswordHashing
from chatql.config import Settings
from chatql.pubsub import ChangeFeedBackend, Hub
from chatql.services.accounts import Accounts
from chatql.services.live import LiveMessages
from chatql.services.membership_cache import MembershipCache
from chatql.services.messages import Messages
from chatql.services.rooms import Rooms
from chatql.store.base import ChangeEvent, Store


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
    members: MembershipCache
    live: LiveMessages

    @classmethod
    def build(cls, settings: Settings, store: Store) -> Services:
        feed = ChangeFeedBackend(store)
        hub = Hub(feed)
        members = MembershipCache(store)

        def observe(event: object) -> None:
            message = getattr(event, "message", None)
            if isinstance(message, ChangeEvent):
                members.observe(message)
            elif getattr(event, "channel", None) == "__resync__":
                members.reset()

        hub.add_observer(observe)
        passwords = PasswordHashing(settings)
        rooms = Rooms(store)
        return cls(
            settings=settings,
            store=store,
            hub=hub,
            feed=feed,
            passwords=passwords,
            accounts=Accounts(store, settings, passwords, AccessTokens(settings)),
            rooms=rooms,
            messages=Messages(store, rooms),
            members=members,
            live=LiveMessages(store, hub, rooms, members, settings.subscription_queue_size),
        )

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        self.passwords.close()
