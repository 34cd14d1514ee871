"""Subscription resolvers: authorise, then stream what the live service yields."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry

from chatql.types.message import Message
from resolvers import Info


async def on_message_created(
    info: Info, chat_room_id: strawberry.ID, after: str | None = None
) -> AsyncGenerator[Message]:
    viewer = await info.context.viewer()
    stream = info.context.services.live.message_created(viewer, str(chat_room_id), after)
    async with aclosing(stream):
        async for message in stream:
            yield Message.from_record(message)
