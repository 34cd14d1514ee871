"""The store contract for the assistant: bot users, streaming messages (conditional updates that
a stop or a delete ends), room search, and turns claimed once, on every store (see
test_store_contract)."""

from __future__ import annotations

import asyncio

from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import AssistantTurnRecord, UserRecord, now_utc
from tests.test_store_contract import collect, make_room, make_users, send, user


def turn(message_id: str, room_id: str, asker_id: str, process: str) -> AssistantTurnRecord:
    return AssistantTurnRecord(
        id=message_id, room_id=room_id, asker_id=asker_id, claimed_by=process, created_at=now_utc()
    )


async def test_a_bot_user_says_so_and_others_do_not(store: Store) -> None:
    bot = UserRecord(**{**user("assistant").to_doc(), "password_hash": "", "is_bot": True})
    await store.create_user(bot)
    (ann,) = await make_users(store, "ann")
    found = await store.get_user_by_username("assistant")
    assert found is not None and found.is_bot and not found.has_password
    assert (await store.get_users([ann.id]))[ann.id].is_bot is False
    assert [u.username for u in await store.search_users("assist", 10, None)] == ["assistant"]


async def test_a_streaming_message_takes_updates_until_it_ends(store: Store) -> None:
    ann, bot = await make_users(store, "ann", "bot")
    r = await make_room(store, ann, bot)
    reply, created = await store.insert_message(
        room_id=r.id,
        author_id=bot.id,
        content="",
        message_type="TEXT",
        client_id=None,
        is_streaming=True,
    )
    assert created and reply.is_streaming and reply.content == ""
    assert (await store.get_message(reply.id)) == reply

    grown = await store.update_message(reply.id, {"content": "Hel"}, if_streaming=True)
    assert grown is not None and grown.content == "Hel" and grown.is_streaming
    done = await store.update_message(
        reply.id, {"content": "Hello", "is_streaming": False}, if_streaming=True
    )
    assert done is not None and done.content == "Hello" and not done.is_streaming
    assert done.edited_at is None
    # Once ended (by itself or by a stop), a late update changes nothing.
    assert await store.update_message(reply.id, {"content": "late"}, if_streaming=True) is None
    assert (await store.get_message(reply.id)).content == "Hello"  # type: ignore[union-attr]

    plain, _ = await send(store, r, ann, "not streaming")
    assert not plain.is_streaming
    assert await store.update_message(plain.id, {"content": "x"}, if_streaming=True) is None
    assert await store.update_message(new_id(), {"content": "x"}, if_streaming=True) is None


async def test_a_deleted_streaming_message_takes_no_more_updates(store: Store) -> None:
    ann, bot = await make_users(store, "ann", "bot")
    r = await make_room(store, ann, bot)
    reply, _ = await store.insert_message(
        room_id=r.id,
        author_id=bot.id,
        content="",
        message_type="TEXT",
        client_id=None,
        is_streaming=True,
    )
    await store.update_message(reply.id, {"content": "", "deleted_at": now_utc()})
    assert await store.update_message(reply.id, {"content": "more"}, if_streaming=True) is None
    assert (await store.get_message(reply.id)).content == ""  # type: ignore[union-attr]


async def test_streaming_updates_reach_the_feed_in_order(store: Store) -> None:
    ann, bot = await make_users(store, "ann", "bot")
    r = await make_room(store, ann, bot)
    stream = store.watch()
    reply, _ = await store.insert_message(
        room_id=r.id,
        author_id=bot.id,
        content="",
        message_type="TEXT",
        client_id=None,
        is_streaming=True,
    )
    for text in ("a", "ab", "abc"):
        await store.update_message(reply.id, {"content": text}, if_streaming=True)
    await store.update_message(reply.id, {"is_streaming": False}, if_streaming=True)
    events = await collect(stream, 5)
    docs = [e.document for e in events]
    assert [e.operation for e in events] == ["insert", "update", "update", "update", "update"]
    assert [d["content"] for d in docs if d] == ["", "a", "ab", "abc", "abc"]
    assert [d["is_streaming"] for d in docs if d] == [True, True, True, True, False]


async def test_search_room_messages_finds_one_rooms_text_newest_first(store: Store) -> None:
    ann, bob = await make_users(store, "ann", "bob")
    mine = await make_room(store, ann, bob)
    other = await make_room(store, bob)
    await send(store, mine, ann, "The Budget is due")
    await send(store, mine, bob, "no match here")
    second, _ = await send(store, mine, bob, "budget: 100% approved")
    gone, _ = await send(store, mine, ann, "budget secret")
    await store.update_message(gone.id, {"content": "", "deleted_at": now_utc()})
    await send(store, other, bob, "budget of another room")

    found = await store.search_room_messages(mine.id, "BUDGET", 10)
    assert [m.content for m in found] == ["budget: 100% approved", "The Budget is due"]
    assert [m.id for m in await store.search_room_messages(mine.id, "budget", 1)] == [second.id]
    # LIKE's and regular expressions' special characters are only themselves
    assert [m.content for m in await store.search_room_messages(mine.id, "0%", 10)] == [
        "budget: 100% approved"
    ]
    assert await store.search_room_messages(mine.id, "t%", 10) == []
    assert await store.search_room_messages(mine.id, ".*", 10) == []
    assert await store.search_room_messages(mine.id, "_", 10) == []


async def test_a_turn_is_claimed_once_even_in_a_race(store: Store) -> None:
    ann, bot = await make_users(store, "ann", "bot")
    r = await make_room(store, ann, bot)
    asking, _ = await send(store, r, ann, "@bot hello")
    claims = await asyncio.gather(
        *(store.claim_assistant_turn(turn(asking.id, r.id, ann.id, f"p{i}")) for i in range(5))
    )
    assert sorted(claims) == [False, False, False, False, True]
    assert not await store.claim_assistant_turn(turn(asking.id, r.id, ann.id, "late"))

    reply, _ = await send(store, r, bot, "hi")
    assert await store.get_assistant_turn_by_reply(reply.id) is None
    await store.set_assistant_reply(asking.id, reply.id)
    found = await store.get_assistant_turn_by_reply(reply.id)
    assert found is not None
    assert (found.id, found.room_id, found.asker_id, found.reply_id) == (
        asking.id,
        r.id,
        ann.id,
        reply.id,
    )
    assert found.claimed_by in {f"p{i}" for i in range(5)}
