"""Live-stream resolvers: the catalogue, the creator's controls, follows, ratings, watching."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry import UNSET

from chatql.types.args import given
from chatql.types.stream import (
    CreateStreamInput,
    Stream,
    StreamAnalytics,
    StreamCategory,
    StreamConnection,
    StreamKey,
    StreamStatus,
    UpdateStreamInput,
)
from resolvers import Info
from resolvers.subscriptions import live_viewer

UPDATE_FIELDS = {
    "title": "title",
    "description": "description",
    "category": "category",
    "tags": "tags",
    "scheduled_start": "scheduledStart",
}


# ---------------------------------------------------------------- queries
async def get_stream(info: Info, id: strawberry.ID) -> Stream | None:
    await info.context.viewer()
    stream = await info.context.services.streams.get(str(id))
    return Stream.from_record(stream) if stream else None


async def streams(
    info: Info,
    search: str | None = UNSET,
    category: str | None = UNSET,
    tag: str | None = UNSET,
    status: StreamStatus | None = UNSET,
    creator_id: strawberry.ID | None = UNSET,
    limit: int | None = 20,
    next_token: str | None = UNSET,
) -> StreamConnection:
    await info.context.viewer()
    wanted = given(status)
    creator = given(creator_id)
    page = await info.context.services.streams.search(
        search=given(search),
        category=given(category),
        tag=given(tag),
        status=wanted.value if wanted else None,
        creator_id=str(creator) if creator else None,
        limit=limit,
        next_token=given(next_token),
    )
    return StreamConnection(
        items=[Stream.from_record(s) for s in page.items], next_token=page.next_token
    )


async def stream_categories(info: Info, limit: int | None = 50) -> list[StreamCategory]:
    await info.context.viewer()
    found = await info.context.services.streams.categories(limit)
    return [StreamCategory(name=n, live_count=live, stream_count=total) for n, live, total in found]


async def stream_analytics(info: Info, stream_id: strawberry.ID) -> StreamAnalytics:
    viewer = await info.context.viewer()
    found = await info.context.services.streams.analytics(viewer, str(stream_id))
    return StreamAnalytics.from_analytics(found)


# ---------------------------------------------------------------- mutations
async def create_stream(info: Info, input: CreateStreamInput) -> Stream:
    viewer = await info.context.writer()
    stream = await info.context.services.streams.create(
        viewer,
        title=input.title,
        description=given(input.description),
        category=given(input.category),
        tags=given(input.tags),
        scheduled_start=given(input.scheduled_start),
    )
    return Stream.from_record(stream)


async def update_stream(info: Info, input: UpdateStreamInput) -> Stream:
    viewer = await info.context.writer()
    present = frozenset(
        api for name, api in UPDATE_FIELDS.items() if getattr(input, name) is not UNSET
    )
    stream = await info.context.services.streams.update(
        viewer,
        str(input.id),
        title=given(input.title),
        description=given(input.description),
        category=given(input.category),
        tags=given(input.tags),
        scheduled_start=given(input.scheduled_start),
        given=present,
    )
    return Stream.from_record(stream)


async def cancel_stream(info: Info, id: strawberry.ID) -> Stream:
    viewer = await info.context.writer()
    return Stream.from_record(await info.context.services.streams.cancel(viewer, str(id)))


async def end_stream(info: Info, id: strawberry.ID) -> Stream:
    viewer = await info.context.writer()
    return Stream.from_record(await info.context.services.streams.end(viewer, str(id)))


async def stream_key(info: Info, stream_id: strawberry.ID) -> StreamKey:
    viewer = await info.context.writer()
    key = await info.context.services.streams.stream_key(viewer, str(stream_id))
    return StreamKey.from_key(key)


async def regenerate_stream_key(info: Info, stream_id: strawberry.ID) -> StreamKey:
    viewer = await info.context.writer()
    key = await info.context.services.streams.regenerate_key(viewer, str(stream_id))
    return StreamKey.from_key(key)


async def delete_stream_recording(info: Info, stream_id: strawberry.ID) -> Stream:
    viewer = await info.context.writer()
    stream = await info.context.services.streams.delete_recording(viewer, str(stream_id))
    return Stream.from_record(stream)


async def follow_user(info: Info, user_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.follows.follow(viewer, str(user_id))


async def unfollow_user(info: Info, user_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.follows.unfollow(viewer, str(user_id))


async def rate_stream(
    info: Info, stream_id: strawberry.ID, rating: int, comment: str | None = UNSET
) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.streams.rate(viewer, str(stream_id), rating, given(comment))


# ---------------------------------------------------------------- subscription
async def watch_stream(info: Info, stream_id: strawberry.ID) -> AsyncGenerator[Stream]:
    viewer = await live_viewer(info)
    async for view in info.context.services.streams.watch(viewer, str(stream_id)):
        yield Stream.from_view(view)
