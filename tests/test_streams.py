"""The live-stream control plane over real HTTP and WebSockets: creating, editing and
cancelling streams, keys, the catalogue, follows and STREAM_LIVE, watchStream's viewer counts
(across two processes on MongoDB too), ratings and analytics.

The media plane's hooks call `Streams.begin_broadcast` / `end_broadcast`; here the test calls
them in process, as the hooks would (test_stream_media.py goes through real nginx + ffmpeg).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chatql.config import Settings
from chatql.services.streams import Streams
from tests.conftest import make_store, mongoeco_client
from tests.helpers import TRANSPORT_WS, Account, Client, Server, Socket, running_server

STREAM_FIELDS = (
    "id title description category tags status scheduledStart startedAt endedAt viewerCount "
    "peakViewers playbackUrl thumbnailUrl averageRating ratingCount myRating hasRecording "
    "creator { id username followerCount isFollowedByMe } chatRoom { id name isPrivate }"
)
CREATE = f"mutation($i: CreateStreamInput!) {{ createStream(input: $i) {{ {STREAM_FIELDS} }} }}"
UPDATE = f"mutation($i: UpdateStreamInput!) {{ updateStream(input: $i) {{ {STREAM_FIELDS} }} }}"
GET = f"query($id: ID!) {{ getStream(id: $id) {{ {STREAM_FIELDS} }} }}"
KEY = "mutation($s: ID!) { streamKey(streamId: $s) { key ingestUrl } }"
ROTATE = "mutation($s: ID!) { regenerateStreamKey(streamId: $s) { key ingestUrl } }"
WATCH = "subscription($s: ID!) { watchStream(streamId: $s) { id status viewerCount peakViewers } }"
NOTES = "subscription { onNotificationReceived { type actor { id } stream { id status title } } }"
FOLLOW = "mutation($u: ID!) { followUser(userId: $u) }"
RATE = (
    "mutation($s: ID!, $r: Int!, $c: String) { rateStream(streamId: $s, rating: $r, comment: $c) }"
)
ANALYTICS = (
    "query($s: ID!) { streamAnalytics(streamId: $s) { peakViewers averageViewers uniqueViewers "
    "totalWatchSeconds chatMessages chatters ratingAverage ratingCount newFollowers "
    "viewerSeries { at viewers } } }"
)
GUEST = "mutation { startGuestSession { accessToken user { id role } } }"


@pytest.fixture
def stream_settings(settings: Settings) -> Settings:
    return replace(
        settings,
        guest_access=True,
        rate_limit_guests="off",
        stream_viewer_interval=0.05,
        stream_sample_interval=0.2,
    )


@pytest.fixture
async def live_server(stream_settings: Settings) -> AsyncIterator[Server]:
    async with running_server(stream_settings) as server:
        yield server


def streams_of(server: Server) -> Streams:
    return server.app.state.services.streams  # type: ignore[no-any-return]


async def create(client: Client, creator: Account, **fields: Any) -> dict[str, Any]:
    data = await client.data(CREATE, {"i": {"title": "Friday show", **fields}}, creator.token)
    return data["createStream"]  # type: ignore[no-any-return]


async def key_of(client: Client, creator: Account, stream_id: str) -> str:
    return str((await client.data(KEY, {"s": stream_id}, creator.token))["streamKey"]["key"])


async def guest(client: Client) -> str:
    return str((await client.data(GUEST))["startGuestSession"]["accessToken"])


async def watcher(server: Server, token: str, stream_id: str) -> Socket:
    sock = await Socket.connect(server, TRANSPORT_WS, token)
    await sock.ack()
    await sock.subscribe(WATCH, {"s": stream_id})
    return sock


async def until_viewers(sock: Socket, viewers: int, peak: int | None = None) -> dict[str, Any]:
    """Read watchStream events until the count (and peak) say so; counts are throttled, so
    intermediate values may be skipped but the last one always arrives."""
    while True:
        event = (await sock.next_payload(5))["data"]["watchStream"]
        if event["viewerCount"] == viewers and (peak is None or event["peakViewers"] == peak):
            return event  # type: ignore[no-any-return]


async def until_status(sock: Socket, status: str) -> dict[str, Any]:
    while True:
        event = (await sock.next_payload(5))["data"]["watchStream"]
        if event["status"] == status:
            return event  # type: ignore[no-any-return]


# ---------------------------------------------------------------- creating and editing
async def test_a_creator_schedules_edits_and_cancels_with_a_chat_room(live_server: Server) -> None:
    client = Client(live_server)
    ann = await client.register("ann")
    start = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    made = await create(
        client,
        ann,
        description="Jazz standards",
        category=" Music ",
        tags=["#Jazz", "piano", "jazz"],
        scheduledStart=start,
    )
    assert made["status"] == "SCHEDULED" and made["category"] == "Music"
    assert made["tags"] == ["jazz", "piano"]
    assert made["chatRoom"]["name"] == "Friday show" and made["chatRoom"]["isPrivate"] is False
    assert made["creator"]["id"] == ann.id and made["viewerCount"] == 0
    assert made["playbackUrl"] is None and made["averageRating"] is None

    edited = (
        await client.data(
            UPDATE,
            {"i": {"id": made["id"], "title": "Saturday show", "description": None, "tags": []}},
            ann.token,
        )
    )["updateStream"]
    assert (edited["title"], edited["description"], edited["tags"]) == ("Saturday show", None, [])
    assert edited["category"] == "Music"  # not given, not changed
    assert edited["chatRoom"]["name"] == "Saturday show"  # the room follows the title

    bob = await client.register("bob")
    error = await client.error(UPDATE, {"i": {"id": made["id"], "title": "mine"}}, bob.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await client.error(KEY, {"s": made["id"]}, bob.token)
    assert error["extensions"]["code"] == "FORBIDDEN"

    cancel = "mutation($id: ID!) { cancelStream(id: $id) { status } }"
    assert (await client.data(cancel, {"id": made["id"]}, ann.token))["cancelStream"] == {
        "status": "CANCELLED"
    }
    error = await client.error(UPDATE, {"i": {"id": made["id"], "title": "x"}}, ann.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    await client.close()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"tags": ["no spaces"]}, "tags"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"category": "c" * 41}, "category"),
        ({"scheduledStart": "2001-01-01T00:00:00Z"}, "scheduledStart"),
        ({"scheduledStart": "2999-01-01T00:00:00Z"}, "scheduledStart"),
    ],
)
async def test_bad_stream_input_is_refused_and_nothing_is_made(
    live_server: Server, fields: dict[str, Any], field: str
) -> None:
    client = Client(live_server)
    ann = await client.register("ann")
    body = await client.post(CREATE, {"i": {"title": "ok", **fields}}, ann.token)
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error
    mine = await client.data(
        "query($c: ID) { streams(creatorId: $c) { items { id } } }", {"c": ann.id}, ann.token
    )
    assert mine["streams"]["items"] == []
    await client.close()


async def test_guests_watch_but_never_create_follow_or_rate(live_server: Server) -> None:
    client = Client(live_server)
    token = await guest(client)
    error = await client.error(CREATE, {"i": {"title": "x"}}, token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    ann = await client.register("ann")
    error = await client.error(FOLLOW, {"u": ann.id}, token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await client.error(GET, {"id": "0" * 32})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    await client.close()


async def test_the_catalogue_searches_filters_and_pages(live_server: Server) -> None:
    client = Client(live_server)
    ann = await client.register("ann")
    jazz = await create(client, ann, title="Late jazz", category="Music", tags=["jazz"])
    await create(client, ann, title="Chess blitz", category="Games", tags=["chess"])
    lesson = await create(client, ann, title="Piano lesson", category="music", tags=["piano"])
    await streams_of(live_server).begin_broadcast(await key_of(client, ann, jazz["id"]))
    query = (
        "query($s: String, $c: String, $t: String, $st: StreamStatus, $n: String) "
        "{ streams(search: $s, category: $c, tag: $t, status: $st, limit: 2, nextToken: $n) "
        "{ items { title status } nextToken } }"
    )

    async def titles(**filters: Any) -> list[str]:
        page = (await client.data(query, filters, ann.token))["streams"]
        return [s["title"] for s in page["items"]]

    assert await titles(c="MUSIC") == ["Piano lesson", "Late jazz"]
    assert await titles(t="#Chess") == ["Chess blitz"]
    assert await titles(s="PIANO") == ["Piano lesson"]
    assert await titles(st="LIVE") == ["Late jazz"]
    first = (await client.data(query, {}, ann.token))["streams"]
    second = (await client.data(query, {"n": first["nextToken"]}, ann.token))["streams"]
    assert [s["title"] for s in first["items"] + second["items"]] == [
        "Piano lesson",
        "Chess blitz",
        "Late jazz",
    ]
    assert second["nextToken"] is None
    categories = await client.data(
        "{ streamCategories { name liveCount streamCount } }", token=ann.token
    )
    assert categories["streamCategories"] == [
        {"name": "Music", "liveCount": 1, "streamCount": 2},
        {"name": "Games", "liveCount": 0, "streamCount": 1},
    ]
    error = await client.error(query, {"n": "garbage"}, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "nextToken"}
    assert lesson["status"] == "SCHEDULED"
    await client.close()


# ---------------------------------------------------------------- keys and going live
async def test_keys_are_creator_only_rotate_and_refuse_what_they_should(
    live_server: Server,
) -> None:
    client = Client(live_server)
    ann = await client.register("ann")
    streams = streams_of(live_server)
    show = await create(client, ann)
    first = await key_of(client, ann, show["id"])
    assert first == await key_of(client, ann, show["id"])  # revealing again: the same key
    rotated = (await client.data(ROTATE, {"s": show["id"]}, ann.token))["regenerateStreamKey"]
    assert rotated["key"] != first
    for bad in (first, "", "sk_" + "0" * 32 + "_" + "A" * 32, rotated["key"] + "x"):
        with pytest.raises(Exception) as refused:
            await streams.begin_broadcast(bad)
        assert getattr(refused.value, "code", None) == "FORBIDDEN"
    assert (await client.data(GET, {"id": show["id"]}, ann.token))["getStream"][
        "status"
    ] == "SCHEDULED"
    live = await streams.begin_broadcast(rotated["key"])
    assert live.status == "LIVE" and live.started_at is not None
    with pytest.raises(Exception) as twice:  # one publisher per stream
        await streams.begin_broadcast(rotated["key"])
    assert getattr(twice.value, "code", None) == "FORBIDDEN"

    cancelled = await create(client, ann, title="never")
    cancelled_key = await key_of(client, ann, cancelled["id"])
    await client.data(
        "mutation($id: ID!) { cancelStream(id: $id) { id } }", {"id": cancelled["id"]}, ann.token
    )
    with pytest.raises(Exception) as refused_cancelled:
        await streams.begin_broadcast(cancelled_key)
    assert getattr(refused_cancelled.value, "code", None) == "FORBIDDEN"
    await client.close()


async def test_followers_hear_stream_live_and_watchers_see_status(live_server: Server) -> None:
    client = Client(live_server)
    ann = await client.register("ann")
    bob = await client.register("bob")
    cid = await client.register("cid")
    assert (await client.data(FOLLOW, {"u": ann.id}, bob.token))["followUser"] is True
    assert (await client.data(FOLLOW, {"u": ann.id}, bob.token))["followUser"] is True  # again
    error = await client.error(FOLLOW, {"u": bob.id}, bob.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}
    error = await client.error(FOLLOW, {"u": "0" * 32}, bob.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    profile = "query($u: ID!) { getUser(id: $u) { followerCount isFollowedByMe } }"
    assert (await client.data(profile, {"u": ann.id}, bob.token))["getUser"] == {
        "followerCount": 1,
        "isFollowedByMe": True,
    }
    assert (await client.data(profile, {"u": ann.id}, cid.token))["getUser"] == {
        "followerCount": 1,
        "isFollowedByMe": False,
    }

    show = await create(client, ann)
    notes = {}
    for who in (bob, cid):
        sock = await Socket.connect(live_server, TRANSPORT_WS, who.token)
        await sock.ack()
        await sock.subscribe(NOTES, {})
        notes[who.username] = sock
    watch = await watcher(live_server, cid.token, show["id"])
    await asyncio.sleep(0.2)
    await streams_of(live_server).begin_broadcast(await key_of(client, ann, show["id"]))

    note = (await notes["bob"].next_payload())["data"]["onNotificationReceived"]
    assert note == {
        "type": "STREAM_LIVE",
        "actor": {"id": ann.id},
        "stream": {"id": show["id"], "status": "LIVE", "title": "Friday show"},
    }
    await notes["cid"].nothing_within(0.3)  # cid does not follow ann
    assert (await until_status(watch, "LIVE"))["id"] == show["id"]
    live = (await client.data(GET, {"id": show["id"]}, cid.token))["getStream"]
    assert live["playbackUrl"].endswith(f"/hls/{show['id']}/master.m3u8")

    end = "mutation($id: ID!) { endStream(id: $id) { status endedAt } }"
    error = await client.error(end, {"id": show["id"]}, cid.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    ended = (await client.data(end, {"id": show["id"]}, ann.token))["endStream"]
    assert ended["status"] == "ENDED" and ended["endedAt"]
    assert (await until_status(watch, "ENDED"))["id"] == show["id"]
    listed = await client.data(
        "{ listNotifications { items { type stream { id } } } }", token=bob.token
    )
    assert listed["listNotifications"]["items"][0] == {
        "type": "STREAM_LIVE",
        "stream": {"id": show["id"]},
    }
    for sock in (*notes.values(), watch):
        await sock.close()
    await client.close()


# ---------------------------------------------------------------- viewers, ratings, analytics
async def test_watchers_move_the_count_and_the_peak_and_analytics_add_up(
    live_server: Server,
) -> None:
    client = Client(live_server)
    ann = await client.register("ann")
    bob = await client.register("bob")
    show = await create(client, ann)
    streams = streams_of(live_server)
    await streams.begin_broadcast(await key_of(client, ann, show["id"]))
    await client.data(FOLLOW, {"u": ann.id}, bob.token)  # while live: a new follower

    first = await watcher(live_server, bob.token, show["id"])
    assert (await until_viewers(first, 1, peak=1))["id"] == show["id"]
    visitor = await watcher(live_server, await guest(client), show["id"])  # guests count too
    await until_viewers(first, 2, peak=2)
    await until_viewers(visitor, 2, peak=2)
    assert (await client.data(GET, {"id": show["id"]}, ann.token))["getStream"]["viewerCount"] == 2
    await visitor.close()
    assert (await until_viewers(first, 1))["peakViewers"] == 2  # the peak stays

    room = show["chatRoom"]["id"]
    await client.join(bob, room)
    await client.send(bob, room, "hello from the chat")
    await client.send(ann, room, "welcome")
    await asyncio.sleep(0.5)  # watch time accrues
    error = await client.error(RATE, {"s": show["id"], "r": 5}, bob.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "streamId"}  # still live
    await client.data(
        "mutation($id: ID!) { endStream(id: $id) { id } }", {"id": show["id"]}, ann.token
    )
    await first.close()
    await asyncio.sleep(0.3)

    assert (await client.data(RATE, {"s": show["id"], "r": 2}, bob.token))["rateStream"]
    assert (await client.data(RATE, {"s": show["id"], "r": 4, "c": "fun"}, bob.token))["rateStream"]
    for bad in ({"r": 0}, {"r": 6}, {"r": 3, "c": "x" * 501}):
        error = await client.error(RATE, {"s": show["id"], **bad}, bob.token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = await client.error(RATE, {"s": show["id"], "r": 5}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"  # not your own
    rated = (await client.data(GET, {"id": show["id"]}, bob.token))["getStream"]
    assert (rated["averageRating"], rated["ratingCount"], rated["myRating"]) == (4.0, 1, 4)

    error = await client.error(ANALYTICS, {"s": show["id"]}, bob.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    stats = (await client.data(ANALYTICS, {"s": show["id"]}, ann.token))["streamAnalytics"]
    assert stats["peakViewers"] == 2
    assert stats["uniqueViewers"] == 2
    assert stats["totalWatchSeconds"] > 0.5  # bob watched for longer than the sleep
    assert 0 < stats["averageViewers"] <= 2
    assert (stats["chatMessages"], stats["chatters"]) == (2, 2)
    assert (stats["ratingAverage"], stats["ratingCount"], stats["newFollowers"]) == (4.0, 1, 1)
    series = [s["viewers"] for s in stats["viewerSeries"]]
    assert series and max(series) == 2
    await client.close()


async def test_viewer_counts_add_up_across_two_processes_on_mongodb(
    stream_settings: Settings, tmp_path: Path
) -> None:
    shared = mongoeco_client()
    mongo = replace(stream_settings, database_url="mongodb://localhost/chatql_test")
    async with (
        running_server(
            replace(mongo, instance_name="a"), make_store("mongoeco", tmp_path, shared=shared)
        ) as a,
        running_server(
            replace(mongo, instance_name="b"), make_store("mongoeco", tmp_path, shared=shared)
        ) as b,
    ):
        via_a, via_b = Client(a), Client(b)
        ann = await via_a.register("ann")
        bob = await via_b.register("bob")
        show = await create(via_a, ann)
        on_a = await watcher(a, bob.token, show["id"])
        await until_viewers(on_a, 1)
        on_b = await watcher(b, ann.token, show["id"])
        await until_viewers(on_a, 2, peak=2)  # a hears b's watcher through the feed
        await until_viewers(on_b, 2, peak=2)
        await on_b.close()
        await until_viewers(on_a, 1)
        await on_a.close()
        await via_a.close()
        await via_b.close()


async def test_deleting_a_creator_cancels_and_ends_their_streams(live_server: Server) -> None:
    client = Client(live_server)
    ann = await client.register("ann")
    bob = await client.register("bob")
    await client.data(FOLLOW, {"u": ann.id}, bob.token)
    later = await create(client, ann, title="later")
    now = await create(client, ann, title="now")
    await streams_of(live_server).begin_broadcast(await key_of(client, ann, now["id"]))
    watch = await watcher(live_server, bob.token, now["id"])
    await until_viewers(watch, 1)
    deleted = "mutation($p: String!) { deleteAccount(password: $p) }"
    assert (await client.data(deleted, {"p": "correct horse"}, ann.token))["deleteAccount"]
    assert (await until_status(watch, "ENDED"))["id"] == now["id"]
    statuses = [
        (await client.data(GET, {"id": s["id"]}, bob.token))["getStream"]["status"]
        for s in (later, now)
    ]
    assert statuses == ["CANCELLED", "ENDED"]
    profile = "query($u: ID!) { getUser(id: $u) { followerCount isDeleted } }"
    assert (await client.data(profile, {"u": ann.id}, bob.token))["getUser"] == {
        "followerCount": 0,
        "isDeleted": True,
    }
    await watch.close()
    await client.close()


async def test_a_process_that_stops_reporting_drops_out_of_the_sums(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each process republishes its counts; one that died (no news for EXPIRY intervals) no
    longer counts, while this process's own watchers always do."""
    from broadcaster import Event

    from chatql.services import stream_viewers
    from chatql.services.stream_viewers import RAW_CHANNEL, ViewerTracker
    from chatql.store.records import ChangeEvent

    clock = [1000.0]
    monkeypatch.setattr(stream_viewers.time, "monotonic", lambda: clock[0])
    store = make_store("sqlite", tmp_path)
    tracker = ViewerTracker(store, None, "here", interval=1.0, sample_interval=10)  # type: ignore[arg-type]

    def heard(process: str, count: object) -> None:
        doc = {"channel": RAW_CHANNEL, "payload": {"process": process, "counts": {"s1": count}}}
        tracker.observe(Event(RAW_CHANNEL, ChangeEvent("insert", "events", "k", doc)))

    heard("other", 3)
    heard("broken", -1)  # malformed counts are ignored
    heard("broken", True)
    heard("broken", "7")
    assert tracker.total("s1") == 3
    clock[0] += stream_viewers.EXPIRY - 1
    heard("another", 2)
    assert tracker.total("s1") == 5
    clock[0] += 2  # "other" has been silent for longer than EXPIRY intervals
    assert tracker.total("s1") == 2
    heard("another", 0)
    assert tracker.total("s1") == 0


async def test_a_restarting_node_ends_only_its_own_orphaned_broadcasts(
    stream_settings: Settings, tmp_path: Path
) -> None:
    shared = mongoeco_client()
    mongo = replace(stream_settings, database_url="mongodb://localhost/chatql_test")
    store_a = make_store("mongoeco", tmp_path, shared=shared)
    store_b = make_store("mongoeco", tmp_path, shared=shared)
    async with (
        running_server(replace(mongo, instance_name="a"), store_a) as a,
        running_server(replace(mongo, instance_name="b"), store_b) as b,
    ):
        client = Client(a)
        ann = await client.register("ann")
        show = await create(client, ann)
        await streams_of(a).begin_broadcast(await key_of(client, ann, show["id"]))
        assert await streams_of(b).end_orphaned_broadcasts() == 0  # live on a's media plane
        assert (await client.data(GET, {"id": show["id"]}, ann.token))["getStream"][
            "status"
        ] == "LIVE"
        assert await streams_of(a).end_orphaned_broadcasts() == 1  # a restarted: it was a's
        assert (await client.data(GET, {"id": show["id"]}, ann.token))["getStream"][
            "status"
        ] == "ENDED"
        await client.close()
