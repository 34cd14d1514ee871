"""The shared paths (one execution for many viewers) answer exactly like the ordinary ones and
never skip authorisation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import (
    ON_MESSAGE,
    TRANSPORT_WS,
    Client,
    Server,
    Socket,
    room_subscribed,
    until,
)

HISTORY = (
    "query($r: ID!) { messagesByRoom(chatRoomId: $r, limit: 5) "
    "{ items { id content seq author { id username } } nextToken } }"
)
PERSONAL = (
    "query($r: ID!) { messagesByRoom(chatRoomId: $r, limit: 5) "
    "{ items { id reactions { emoji users { id } } } } }"
)
# as the web app sends it (its RoomHistory document, with Apollo's __typename)
APP_HISTORY = (
    "query RoomHistory($r: ID!, $nextToken: String) { messagesByRoom(chatRoomId: $r, "
    "limit: 25, nextToken: $nextToken) { items { id chatRoomId content seq cursor createdAt "
    "replyCount author { id username displayName avatarUrl isBot __typename } "
    "reactions { emoji count reactedByMe __typename } "
    "attachments { id name url thumbnailUrl __typename } __typename } nextToken __typename } }"
)


async def test_cached_history_follows_every_change(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "r", members=[bob.id])
    await client.send(alice, room, "one")
    first = await client.data(HISTORY, {"r": room}, alice.token)
    assert await client.data(HISTORY, {"r": room}, bob.token) == first  # shared answer
    sent = await client.send(bob, room, "two")
    after_send = await client.data(HISTORY, {"r": room}, alice.token)
    assert [m["content"] for m in after_send["messagesByRoom"]["items"]] == ["two", "one"]
    await client.data(
        "mutation($i: UpdateMessageInput!) { updateMessage(input: $i) { id } }",
        {"i": {"id": sent["id"], "content": "two, edited"}},
        bob.token,
    )
    edited = await client.data(HISTORY, {"r": room}, alice.token)
    assert edited["messagesByRoom"]["items"][0]["content"] == "two, edited"


async def test_cached_history_is_still_authorised(client: Client) -> None:
    alice, eve = await client.register("alice"), await client.register("eve")
    room = await client.create_room(alice, "secret", private=True)
    await client.send(alice, room, "hush")
    await client.data(HISTORY, {"r": room}, alice.token)  # now cached
    error = await client.error(HISTORY, {"r": room}, eve.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    anonymous = await client.error(HISTORY, {"r": room})
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"


async def test_viewer_dependent_selections_are_not_shared(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "r", members=[bob.id])
    message = await client.send(alice, room, "react")
    await client.data(
        "mutation($i: CreateReactionInput!) { createReaction(input: $i) { id } }",
        {"i": {"messageId": message["id"], "emoji": "👍"}},
        alice.token,
    )
    mine = await client.data(APP_HISTORY, {"r": room}, alice.token)
    theirs = await client.data(APP_HISTORY, {"r": room}, bob.token)
    assert mine["messagesByRoom"]["items"][0]["reactions"][0]["reactedByMe"] is True
    assert theirs["messagesByRoom"]["items"][0]["reactions"][0]["reactedByMe"] is False


async def test_viewer_dependent_history_is_kept_per_viewer_and_follows_reactions(
    server: Server, client: Client
) -> None:
    """The web app's history selection (reactedByMe, attachments) is answered from the cache,
    each viewer from their own answer, and a reaction changes it at once."""
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "r", members=[bob.id])
    message = await client.send(alice, room, "react")
    react = "mutation($i: CreateReactionInput!) { createReaction(input: $i) { id } }"
    await client.data(react, {"i": {"messageId": message["id"], "emoji": "👍"}}, alice.token)
    calls = server.app.view.history
    plan = calls.plan(APP_HISTORY, None, {"r": room})
    assert plan is not None and plan.per_viewer and plan.signed_urls

    def reacted(answer: dict) -> list[bool]:
        return [g["reactedByMe"] for g in answer["messagesByRoom"]["items"][0]["reactions"]]

    for _ in range(2):  # the second round is answered from the cache: the same answers
        assert reacted(await client.data(APP_HISTORY, {"r": room}, alice.token)) == [True]
        assert reacted(await client.data(APP_HISTORY, {"r": room}, bob.token)) == [False]
    assert calls.get(plan, calls.version(plan), alice.id) is not None  # it was kept
    await client.data(react, {"i": {"messageId": message["id"], "emoji": "👍"}}, bob.token)
    assert reacted(await client.data(APP_HISTORY, {"r": room}, bob.token)) == [True]
    groups = (await client.data(APP_HISTORY, {"r": room}, alice.token))["messagesByRoom"]
    assert groups["items"][0]["reactions"][0]["count"] == 2


def test_answers_with_file_urls_are_kept_for_a_quarter_of_their_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import chatql.fast_path.history_cache as history_cache
    from chatql.fast_path.history_cache import HistoryCache

    clock = [1000.0]
    monkeypatch.setattr(history_cache.time, "monotonic", lambda: clock[0])
    cache = HistoryCache(url_lifetime=400)
    room = "a" * 32
    with_urls = cache.plan(APP_HISTORY, None, {"r": room})
    without = cache.plan(HISTORY, None, {"r": room})
    assert with_urls is not None and without is not None and not without.signed_urls
    for plan in (with_urls, without):
        cache.put(plan, cache.version(plan), {"kept": True}, "viewer")
    clock[0] += 99
    assert cache.get(with_urls, cache.version(with_urls), "viewer") == {"kept": True}
    assert cache.get(with_urls, cache.version(with_urls), "someone else") is None  # theirs
    clock[0] += 2
    assert cache.get(with_urls, cache.version(with_urls), "viewer") is None  # 101 s > 400/4
    assert cache.get(without, cache.version(without), "anyone") == {"kept": True}


async def test_shared_and_ordinary_subscribers_get_the_same_payload(
    server: Server, client: Client
) -> None:
    """The shared group answers from a compiled projection; a resuming subscriber (`after`)
    takes the executor. Every field either can read must come out the same."""
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "r", members=[bob.id])
    first = await client.send(alice, room, "before")
    cursor = first["cursor"]
    selection = (
        "subscription($r: ID!, $a: String) { onMessageCreated(chatRoomId: $r, after: $a) { "
        "__typename id chatRoomId content messageType seq clientId createdAt updatedAt "
        "editedAt deletedAt isEdited isDeleted replyToId cursor "
        "author { __typename id username displayName avatarUrl createdAt role } } }"
    )
    shared, ordinary = [await Socket.connect(server, TRANSPORT_WS, bob.token) for _ in "ab"]
    for sock in (shared, ordinary):
        await sock.ack()
    await shared.subscribe(selection, {"r": room})
    await ordinary.subscribe(selection, {"r": room, "a": cursor})
    await asyncio.sleep(0.2)
    await client.send(alice, room, "after", client_id="c-1")
    live = (await shared.next_payload())["data"]["onMessageCreated"]
    resumed = (await ordinary.next_payload())["data"]["onMessageCreated"]
    assert live == resumed and live["content"] == "after" and live["id"] != first["id"]
    for sock in (shared, ordinary):
        await sock.close()


async def test_shared_subscribers_get_identical_frames(server: Server, client: Client) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room = await client.create_room(alice, "r", members=[bob.id, carol.id])
    sockets = [await Socket.connect(server, TRANSPORT_WS, u.token) for u in (bob, carol)]
    raw: list[str] = []
    for sock in sockets:
        await sock.ack()
        await sock.subscribe(ON_MESSAGE, {"r": room})
    await asyncio.sleep(0.2)
    await client.send(alice, room, "same bytes")
    for sock in sockets:
        raw.append(await asyncio.wait_for(sock.ws.recv(), 5))
        await sock.close()
    assert raw[0] == raw[1]  # same operation id ("1") on both sockets, same payload
    assert '"content":"same bytes"' in raw[0]


async def test_a_group_takes_events_as_they_come_or_through_its_task_in_commit_order(
    server: Server, client: Client
) -> None:
    """With the room's members and the author cached, a shared group answers an event as the
    feed hands it over; otherwise its task does, and what comes meanwhile waits behind it
    (even when the caches are warm again by then). Every subscriber gets every message once,
    in commit order."""
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "r", members=[bob.id])
    sock = await Socket.subscriber(server, bob.token, room)
    await room_subscribed(server, room)
    (group,) = [g for g in server.app.view.fanout._groups.values() if g.plan.room_id == room]
    services = server.app.state.services
    by_task: list[str] = []
    held: list[str] = []
    gate = asyncio.Event()
    gate.set()
    handle = group._handle

    async def counted(change: Any) -> None:
        by_task.append(change.key)
        if not gate.is_set():
            await services.members.members(room)  # warm again while this event is held
            held.append(change.key)
            await gate.wait()
        await handle(change)

    group._handle = counted  # type: ignore[method-assign]
    await client.send(alice, room, "warm")  # loads what the caches lack
    assert [m["content"] for m in await sock.messages(1)] == ["warm"]
    by_task.clear()

    await client.send(alice, room, "cached")
    assert [m["content"] for m in await sock.messages(1)] == ["cached"]
    assert by_task == []  # taken as the feed handed it over

    gate.clear()
    services.members.reset()  # the next event goes to the task, which is then held
    await client.send(alice, room, "held")
    await until(lambda: held)
    for i in range(3):  # the caches are warm: only the held event stands in their way
        await client.send(alice, room, f"after-{i}")
    await sock.nothing_within(0.2)
    gate.set()
    got = await sock.messages(4)
    assert [m["content"] for m in got] == ["held", "after-0", "after-1", "after-2"]

    for burst in range(3):
        services.members.reset()  # the first event of the burst has to load them
        sent = await asyncio.gather(*(client.send(alice, room, f"b{burst}-{i}") for i in range(20)))
        got = await sock.messages(len(sent))
        assert [m["seq"] for m in got] == sorted(m["seq"] for m in sent)
        assert sorted(m["content"] for m in got) == sorted(m["content"] for m in sent)
    await sock.nothing_within(0.2)  # and nothing twice
    await sock.close()


def test_the_planners_share_what_they_should_and_nothing_else() -> None:
    from chatql.fast_path.history_cache import HistoryCache
    from chatql.realtime.group_plans import Planner
    from chatql.schema import schema
    from chatql.security.limits import Limits

    room = "a" * 32
    planner = Planner(schema._schema, Limits())  # type: ignore[attr-defined]
    assert planner.plan(ON_MESSAGE, None, {"r": room}) is not None
    assert planner.plan(ON_MESSAGE, None, {"r": room, "a": "cursor"}) is None  # resumes
    personal = "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) { reactions { emoji } } }"
    assert planner.plan(personal, None, {"r": room}) is None
    history = HistoryCache()
    assert history.plan(HISTORY, None, {"r": room}) is not None
    assert history.plan(PERSONAL, None, {"r": room}) is None  # users(limit) takes arguments
    kept_per_viewer = history.plan(APP_HISTORY, None, {"r": room})
    assert kept_per_viewer is not None and kept_per_viewer.per_viewer
    assert not history.plan(HISTORY, None, {"r": room}).per_viewer  # type: ignore[union-attr]
    assert history.plan(HISTORY, "Other", {"r": room}) is None
