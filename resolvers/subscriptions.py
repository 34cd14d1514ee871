"""Subscription resolvers: authorise, then stream what the live service yields."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry
from strawberry import UNSET

from chatql.types.args import given
from chatql.types.message import Message
from resolvers import Info


async def on_message_created(
    info: Info, chat_room_id: strawberry.ID, after: str | None = UNSET
) -> AsyncGenerator[Message]:
    viewer = await info.context.viewer()
    stream = info.context.services.live.message_created(viewer, str(chat_room_id), given(after))
    async with aclosing(stream):
        async for message in stream:
            yield Message.from_record(message)
