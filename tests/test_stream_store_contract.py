"""The store contract for live streams: streams in the feed, conditional status changes, the
catalogue's filters and order, follows, ratings, watches, samples and analytics sums, on
every store (see test_store_contract)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import (
    ChangeEvent,
    FollowRecord,
    RatingRecord,
    StreamRecord,
    WatchRecord,
    now_utc,
)
from tests.test_store_contract import make_room, make_users, send


def stream(creator: str, room: str, title: str = "Show", **extra: object) -> StreamRecord:
    now = now_utc()
    fields: dict[str, object] = {"status": "SCHEDULED", "created_at": now, "updated_at": now}
    fields.update(extra)
    return StreamRecord(
        id=new_id(),
        creator_id=creator,
        room_id=room,
        title=title,
        **fields,  # type: ignore[arg-type]
    )


async def next_stream_event(feed: asyncio.Queue[ChangeEvent]) -> ChangeEvent:
    while True:
        event = await asyncio.wait_for(feed.get(), 5)
        if event.collection == "streams":
            return event


async def test_streams_round_trip_with_tags_and_reach_the_feed(store: Store) -> None:
    (ann,) = await make_users(store, "ann")
    room = await make_room(store, ann)
    feed: asyncio.Queue[ChangeEvent] = asyncio.Queue()
    watcher = store.watch()

    async def pump() -> None:
        async for event in watcher:
            await feed.put(event)

    task = asyncio.create_task(pump())
    await asyncio.sleep(0.2)
    try:
        created = stream(ann.id, room.id, tags=("music", "live-coding"), category="Art")
        await store.insert_stream(created)
        assert await store.get_stream(created.id) == created
        assert (await store.get_streams([created.id, new_id()])) == {created.id: created}
        inserted = await next_stream_event(feed)
        assert inserted.operation == "insert" and inserted.key == created.id
        assert StreamRecord.from_doc(inserted.document or {}).tags == ("music", "live-coding")

        now = now_utc()
        live = await store.update_stream(
            created.id, {"status": "LIVE", "started_at": now}, statuses=("SCHEDULED",)
        )
        assert live is not None and live.status == "LIVE" and live.started_at == now
        updated = await next_stream_event(feed)
        assert StreamRecord.from_doc(updated.document or {}).status == "LIVE"
        # a transition that lost its race changes nothing
        assert (
            await store.update_stream(created.id, {"status": "CANCELLED"}, statuses=("SCHEDULED",))
            is None
        )
        assert (await store.get_stream(created.id)).status == "LIVE"  # type: ignore[union-attr]
        assert await store.update_stream(new_id(), {"title": "x"}) is None

        # the peak only rises, and only a rise is an event
        assert (await store.raise_peak_viewers(created.id, 5)).peak_viewers == 5  # type: ignore[union-attr]
        assert await store.raise_peak_viewers(created.id, 3) is None
        peak = await next_stream_event(feed)
        assert (peak.document or {})["peak_viewers"] == 5
    finally:
        task.cancel()


async def test_the_catalogue_filters_and_pages_newest_first(store: Store) -> None:
    ann, bob = await make_users(store, "ann", "bob")
    room = await make_room(store, ann)
    base = now_utc()
    made = []
    specs = [
        (ann, "Morning jazz", "Music", ("jazz", "piano"), "LIVE"),
        (ann, "Speedrun", "Games", ("speedrun",), "SCHEDULED"),
        (bob, "Piano lesson", "music", ("piano",), "ENDED"),
        (bob, "Cancelled jazz", "Music", ("jazz",), "CANCELLED"),
    ]
    for i, (who, title, category, tags, status) in enumerate(specs):
        record = stream(
            who.id,
            room.id,
            title,
            category=category,
            category_key=category.lower(),
            tags=tags,
            status=status,
            created_at=base + timedelta(seconds=i),
            description="weekly" if i == 1 else None,
        )
        await store.insert_stream(record)
        made.append(record)
    jazz, speedrun, lesson, cancelled = made

    async def ids(**filters: object) -> list[str]:
        found = await store.list_streams(limit=10, after=None, **filters)  # type: ignore[arg-type]
        return [s.id for s in found]

    assert await ids() == [lesson.id, speedrun.id, jazz.id]  # newest first, no cancelled
    assert await ids(status="CANCELLED") == [cancelled.id]
    assert await ids(creator_id=bob.id) == [cancelled.id, lesson.id]  # a creator sees all
    assert await ids(category_key="music") == [lesson.id, jazz.id]
    assert await ids(tag="piano") == [lesson.id, jazz.id]
    assert await ids(term="JAZZ") == [jazz.id]
    assert await ids(term="week") == [speedrun.id]  # description too
    assert await ids(term="100%_") == []
    assert await ids(status="LIVE", tag="jazz") == [jazz.id]
    first = await store.list_streams(limit=2, after=None)
    rest = await store.list_streams(limit=2, after=(first[-1].created_at, first[-1].id))
    assert [s.id for s in first + rest] == [lesson.id, speedrun.id, jazz.id]
    assert await store.stream_categories(10) == [("Music", 1, 2), ("Games", 0, 1)]


async def test_follows_are_idempotent_counted_and_listed_in_batches(store: Store) -> None:
    ann, bob, cid, dan = await make_users(store, "ann", "bob", "cid", "dan")
    now = now_utc()
    assert await store.follow(FollowRecord(bob.id, ann.id, now))
    assert not await store.follow(FollowRecord(bob.id, ann.id, now))
    assert await store.follow(FollowRecord(cid.id, ann.id, now))
    assert await store.follow(FollowRecord(dan.id, ann.id, now))
    assert await store.follow(FollowRecord(ann.id, bob.id, now))
    assert await store.count_followers([ann.id, bob.id, cid.id]) == {ann.id: 3, bob.id: 1}
    assert await store.following(bob.id, [ann.id, cid.id]) == frozenset({ann.id})
    everyone = sorted([bob.id, cid.id, dan.id])
    first = await store.follower_ids(ann.id, 2, None)
    assert first == everyone[:2]
    assert await store.follower_ids(ann.id, 2, first[-1]) == everyone[2:]
    assert await store.unfollow(bob.id, ann.id)
    assert not await store.unfollow(bob.id, ann.id)
    assert await store.count_followers([ann.id]) == {ann.id: 2}
    await store.erase_user_data(cid.id)
    assert await store.count_followers([ann.id]) == {ann.id: 1}


async def test_ratings_replace_and_analytics_add_up(store: Store) -> None:
    ann, bob, cid = await make_users(store, "ann", "bob", "cid")
    room = await make_room(store, ann, bob, cid)
    started = now_utc() - timedelta(minutes=10)
    show = stream(ann.id, room.id, status="ENDED", started_at=started, ended_at=now_utc())
    await store.insert_stream(show)
    earlier = now_utc() - timedelta(minutes=1)
    await store.rate_stream(RatingRecord(show.id, bob.id, 2, earlier, earlier))
    await store.rate_stream(RatingRecord(show.id, bob.id, 4, now_utc(), now_utc(), "great"))
    await store.rate_stream(RatingRecord(show.id, cid.id, 5, now_utc(), now_utc()))
    assert await store.rating_summaries([show.id, new_id()]) == {show.id: (9, 2)}
    assert await store.user_ratings(bob.id, [show.id]) == {show.id: 4}

    for viewer, seconds in ((bob.id, 60.0), (bob.id, 30.0), (cid.id, 15.5), (ann.id, 0.0)):
        await store.insert_watch(
            WatchRecord(new_id(), show.id, viewer, started, now_utc(), seconds)
        )
    await send(store, room, bob, "hi")
    await send(store, room, bob, "again")
    await send(store, room, cid, "hello")
    await store.follow(FollowRecord(cid.id, ann.id, started + timedelta(minutes=1)))
    await store.follow(FollowRecord(bob.id, ann.id, started - timedelta(minutes=1)))
    slot = started.replace(microsecond=0)
    await store.record_viewer_sample(show.id, slot, 2)
    await store.record_viewer_sample(show.id, slot, 1)  # the highest per slot stays
    await store.record_viewer_sample(show.id, slot + timedelta(seconds=10), 1)

    stats = await store.stream_stats(show, started, now_utc())
    assert stats.watch_seconds == 105.5
    assert stats.unique_viewers == frozenset({bob.id, cid.id})
    assert (stats.chat_messages, stats.chatters) == (3, 2)
    assert (stats.rating_sum, stats.rating_count) == (9, 2)
    assert stats.new_followers == 1
    assert stats.samples == ((slot, 2), (slot + timedelta(seconds=10), 1))
    await store.erase_user_data(bob.id)
    assert await store.rating_summaries([show.id]) == {show.id: (5, 1)}
