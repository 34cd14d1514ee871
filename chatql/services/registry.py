"""Builds every service once per process and starts/stops what runs in the background."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from broadcaster import Event

from chatql.auth import AccessTokens, PasswordHashing
from chatql.blobs import open_blob_store
from chatql.config import Settings
from chatql.llm import OpenAIChat
from chatql.mail import Outbox, open_mailer
from chatql.media_plane import MediaPlane
from chatql.oidc.providers import Provider, parse_providers
from chatql.realtime.pubsub import RESYNC_CHANNEL, ChangeFeedBackend, Hub
from chatql.security.rate_limit import Rate, RateLimiter
from chatql.services.account_deletion import AccountDeletion
from chatql.services.account_mail import AccountMail
from chatql.services.account_tokens import AccountTokens
from chatql.services.accounts import Accounts
from chatql.services.api_keys import ApiKeys
from chatql.services.assistant import Assistant
from chatql.services.assistant_context import AssistantContext
from chatql.services.assistant_tools import AssistantTools
from chatql.services.file_urls import FileUrls
from chatql.services.files import Files
from chatql.services.follows import Follows
from chatql.services.guests import Guests
from chatql.services.live import LiveStreams
from chatql.services.membership_cache import MembershipCache
from chatql.services.messages import Messages
from chatql.services.moderation import Moderation
from chatql.services.notifications import Notifications
from chatql.services.presence import Presence
from chatql.services.reactions import Reactions
from chatql.services.record_cache import RecordCache
from chatql.services.rooms import Rooms
from chatql.services.social_accounts import SocialAccounts
from chatql.services.stream_viewers import ViewerTracker
from chatql.services.streams import Streams
from chatql.services.typing import Typing, TypingTracker
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import ChangeEvent, RoomRecord, UserRecord


@dataclass
class Services:
    settings: Settings
    store: Store
    hub: Hub
    feed: ChangeFeedBackend
    passwords: PasswordHashing
    accounts: Accounts
    api_keys: ApiKeys
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
    outbox: Outbox
    account_mail: AccountMail
    guests: Guests
    social: SocialAccounts
    account_deletion: AccountDeletion
    providers: dict[str, Provider]
    viewers: ViewerTracker
    follows: Follows
    streams: Streams
    media: MediaPlane
    assistant: Assistant | None

    @classmethod
    def build(cls, settings: Settings, store: Store) -> Services:
        name = settings.instance_name or f"{socket.gethostname()}:{settings.port}"
        feed = ChangeFeedBackend(store, name=name)
        hub = Hub(feed)
        members = MembershipCache(store)
        users = RecordCache("users", UserRecord, store.get_users)
        rooms_cache = RecordCache("rooms", RoomRecord, store.get_rooms)
        typing_tracker = TypingTracker(hub, settings.typing_timeout)
        viewers = ViewerTracker(  # counts are ephemeral: a name unique to this run will do
            store,
            hub,
            f"{name}/{new_id()[:8]}",
            settings.stream_viewer_interval,
            settings.stream_sample_interval,
        )

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
            viewers.observe(event)

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
        assistant = None
        if settings.assistant_enabled:
            assistant = Assistant(
                settings,
                store,
                rooms,
                messages,
                members,
                rooms_cache,
                AssistantContext(store, rooms, files, settings),
                AssistantTools(store, rooms),
                OpenAIChat(
                    base_url=settings.assistant_base_url,
                    api_key=settings.assistant_api_key,
                    model=settings.assistant_model,
                    timeout=settings.assistant_timeout,
                    max_tokens=settings.assistant_max_tokens,
                ),
                name,
            )
            hub.add_observer(assistant.observe)
        auth_limit = RateLimiter(Rate.parse(settings.rate_limit_auth))
        account_tokens = AccountTokens(store)
        outbox = Outbox(open_mailer(settings.smtp_url, settings.mail_from))
        account_mail = AccountMail(
            store,
            settings,
            account_tokens,
            outbox,
            RateLimiter(Rate.parse(settings.rate_limit_mail)),
            users,
        )
        accounts = Accounts(
            store,
            settings,
            passwords,
            AccessTokens(settings),
            auth_limit,
            users,
            files,
            account_mail,
        )
        follows = Follows(store)
        streams = Streams(
            store,
            hub,
            rooms,
            follows,
            viewers,
            settings.jwt_secret,
            RateLimiter(Rate.parse(settings.rate_limit_streams)),
            settings.subscription_queue_size,
            node=name,
        )
        media = MediaPlane(settings)
        streams.attach_media(media)
        return cls(
            settings=settings,
            store=store,
            hub=hub,
            feed=feed,
            passwords=passwords,
            accounts=accounts,
            api_keys=ApiKeys(settings.api_keys, store),
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
            outbox=outbox,
            account_mail=account_mail,
            guests=Guests(
                store,
                settings,
                accounts,
                RateLimiter(Rate.parse(settings.rate_limit_guests)),
                account_tokens,
            ),
            social=SocialAccounts(store, accounts, account_tokens, auth_limit, users),
            account_deletion=AccountDeletion(
                store, settings, accounts, rooms, messages, files, users, auth_limit, streams
            ),
            providers=parse_providers(settings.oidc_providers),
            viewers=viewers,
            follows=follows,
            streams=streams,
            media=media,
            assistant=assistant,
        )

    async def start(self) -> None:
        await self.files.start()
        await self.guests.start()
        if self.assistant is not None:  # its bot exists before the first event it sees
            bot = await self.assistant.start()
            self.notifications.silence(bot.id)
        await self.hub.start()
        await self.typing_tracker.start()
        await self.viewers.start()
        await self.media.start(self.streams)
        await self.presence.start()
        if self.settings.bootstrap_admin:
            await self.moderation.promote_admin(self.settings.bootstrap_admin)

    async def stop(self) -> None:
        await self.media.stop()
        await self.follows.stop()
        if self.assistant is not None:  # replies under way say they were interrupted
            await self.assistant.stop()
        await self.guests.stop()
        await self.outbox.close()
        await self.presence.stop()
        await self.typing_tracker.stop()
        await self.viewers.stop()
        await self.hub.stop()
        await self.files.stop()
        self.passwords.close()
