"""One contract, every store: SQLite, MongoDB through mongoeco, and a real replica set when
CHATQL_TEST_MONGO_URL is set. Services rely on exactly what is asserted here."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from chatql.errors import StoreConflict
from chatql.store.base import HistoryLost, Store
from chatql.store.ids import membership_id, new_id, parse_reaction_id, reaction_id
from chatql.store.records import (
    UPLOAD_ATTACHED,
    UPLOAD_COMPLETE,
    UPLOAD_PENDING,
    BanRecord,
    ChangeEvent,
    ConnectionRecord,
    MembershipRecord,
    NotificationRecord,
    ReactionRecord,
    RefreshTokenRecord,
    RoomRecord,
    UploadRecord,
    UserRecord,
    now_utc,
)


def user(name: str, display: str | None = None) -> UserRecord:
    return UserRecord(
        id=new_id(),
        username=name,
        display_name=display or name.title(),
        password_hash="h",
        created_at=now_utc(),
    )


def room(
    owner: str, name: str = "Room", private: bool = False, direct_key: str | None = None
) -> RoomRecord:
    now = now_utc()
    return RoomRecord(
        id=new_id(),
        name=name,
        created_by=owner,
        owner_id=owner,
        created_at=now,
        updated_at=now,
        last_activity=now,
        is_private=private or direct_key is not None,
        is_direct=direct_key is not None,
        direct_key=direct_key,
    )


async def make_users(store: Store, *names: str) -> list[UserRecord]:
    users = [user(n) for n in names]
    for u in users:
        await store.create_user(u)
    return users


async def make_room(
    store: Store, owner: UserRecord, *others: UserRecord, **kwargs: object
) -> RoomRecord:
    r = room(owner.id, **kwargs)  # type: ignore[arg-type]
    now = now_utc()
    members = [MembershipRecord(r.id, owner.id, "OWNER", now)]
    members += [MembershipRecord(r.id, o.id, "MEMBER", now) for o in others]
    await store.create_room(r, members)
    return r


async def send(
    store: Store, r: RoomRecord, author: UserRecord, content: str, client_id: str | None = None
):  # type: ignore[no-untyped-def]
    return await store.insert_message(
        room_id=r.id, author_id=author.id, content=content, message_type="TEXT", client_id=client_id
    )


async def collect(
    stream, count: int, timeout: float = 5, ignore: str = "rooms"
) -> list[ChangeEvent]:  # type: ignore[no-untyped-def]
    """The next `count` events, leaving out the `ignore` collection (room counters change with
    every message, before or after it depending on the store)."""
    out: list[ChangeEvent] = []

    async def run() -> None:
        async for event in stream:
            if event.collection == ignore:
                continue
            out.append(event)
            if len(out) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return out


# ---------------------------------------------------------------- users


async def test_users_round_trip_and_unique_usernames(store: Store) -> None:
    alice = user("alice")
    await store.create_user(alice)
    assert await store.get_user(alice.id) == alice
    assert await store.get_user_by_username("ALICE") == alice
    assert await store.get_user(new_id()) is None
    with pytest.raises(StoreConflict) as conflict:
        await store.create_user(user("alice"))
    assert conflict.value.constraint == "username"


async def test_get_users_batches_and_skips_unknown(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    found = await store.get_users([a.id, b.id, new_id(), a.id])
    assert found == {a.id: a, b.id: b}
    assert await store.get_users([]) == {}


async def test_search_users_is_case_insensitive_ordered_and_paged(store: Store) -> None:
    await store.create_user(user("carol", "Carol Smith"))
    await store.create_user(user("dave", "Dave SMITHERS"))
    await store.create_user(user("smith_jr", "Junior"))
    await store.create_user(user("eve", "Eve"))
    first = await store.search_users("smith", 2, None)
    assert [u.username for u in first] == ["carol", "dave"]
    rest = await store.search_users("smith", 2, first[-1].username)
    assert [u.username for u in rest] == ["smith_jr"]
    assert await store.search_users("%", 10, None) == []
    assert [u.username for u in await store.search_users("_", 10, None)] == ["smith_jr"]


async def test_update_user_and_token_version(store: Store) -> None:
    (alice,) = await make_users(store, "alice")
    updated = await store.update_user(
        alice.id, {"display_name": "Alice A.", "avatar_url": "https://x/y.png"}
    )
    assert (
        updated is not None
        and updated.display_name == "Alice A."
        and updated.avatar_url == "https://x/y.png"
    )
    assert await store.update_user(new_id(), {"display_name": "x"}) is None
    assert await store.bump_token_version(alice.id) == 1
    assert await store.bump_token_version(alice.id) == 2
    again = await store.get_user(alice.id)
    assert again is not None and again.token_version == 2


# ---------------------------------------------------------------- refresh tokens


async def test_refresh_tokens_revoke_once_family_and_user(store: Store) -> None:
    (alice,) = await make_users(store, "alice")
    now = now_utc()
    family = new_id()
    tokens = [
        RefreshTokenRecord(new_id(), alice.id, family, f"hash{i}", now, now + timedelta(days=1))
        for i in range(3)
    ]
    other_family = RefreshTokenRecord(
        new_id(), alice.id, new_id(), "hashx", now, now + timedelta(days=1)
    )
    for t in [*tokens, other_family]:
        await store.insert_refresh_token(t)
    assert await store.get_refresh_token("hash0") == tokens[0]
    assert await store.get_refresh_token("nope") is None
    assert await store.revoke_refresh_token(tokens[0].id, now) is True
    assert await store.revoke_refresh_token(tokens[0].id, now) is False
    await store.revoke_token_family(family, now)
    for i in range(3):
        record = await store.get_refresh_token(f"hash{i}")
        assert record is not None and record.revoked_at is not None
    untouched = await store.get_refresh_token("hashx")
    assert untouched is not None and untouched.revoked_at is None
    await store.revoke_user_tokens(alice.id, now)
    revoked = await store.get_refresh_token("hashx")
    assert revoked is not None and revoked.revoked_at is not None


# ---------------------------------------------------------------- rooms and members


async def test_rooms_members_and_direct_key_uniqueness(store: Store) -> None:
    a, b, c = await make_users(store, "ann", "bob", "cat")
    r = await make_room(store, a, b, name="General")
    assert await store.get_room(r.id) == r
    assert await store.get_rooms([r.id, new_id()]) == {r.id: r}
    assert await store.member_ids(r.id) == frozenset({a.id, b.id})
    assert await store.count_members(r.id) == 2
    membership = await store.get_membership(r.id, a.id)
    assert membership is not None and membership.role == "OWNER"
    assert await store.get_membership(r.id, c.id) is None

    assert await store.add_member(MembershipRecord(r.id, c.id, "MEMBER", now_utc())) is True
    assert await store.add_member(MembershipRecord(r.id, c.id, "MEMBER", now_utc())) is False
    await store.update_membership(r.id, c.id, {"role": "ADMIN"})
    assert (await store.get_membership(r.id, c.id)).role == "ADMIN"  # type: ignore[union-attr]
    assert await store.remove_member(r.id, b.id) is True
    assert await store.remove_member(r.id, b.id) is False
    assert await store.member_ids(r.id) == frozenset({a.id, c.id})

    key = ":".join(sorted((a.id, b.id)))
    dm = await make_room(store, a, b, direct_key=key)
    assert await store.get_direct_room(key) == dm
    with pytest.raises(StoreConflict) as conflict:
        await make_room(store, b, a, direct_key=key)
    assert conflict.value.constraint == "direct_key"


async def test_list_members_pages_in_join_order(store: Store) -> None:
    users = await make_users(store, *(f"u{i}" for i in range(5)))
    r = await make_room(store, users[0])
    for u in users[1:]:
        await asyncio.sleep(0.002)
        await store.add_member(MembershipRecord(r.id, u.id, "MEMBER", now_utc()))
    first = await store.list_members(r.id, 3, None)
    assert [m.user_id for m in first] == [u.id for u in users[:3]]
    rest = await store.list_members(r.id, 3, (first[-1].joined_at, first[-1].user_id))
    assert [m.user_id for m in rest] == [u.id for u in users[3:]]


async def test_user_rooms_most_recent_activity_first(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    rooms = []
    for i in range(4):
        rooms.append(await make_room(store, a, name=f"r{i}"))
        await asyncio.sleep(0.002)
    await make_room(store, b, name="not mine")
    await asyncio.sleep(0.002)
    await send(store, rooms[1], a, "bump")
    listed = await store.list_user_rooms(a.id, 2, None)
    assert [r.name for r in listed] == ["r1", "r3"]
    rest = await store.list_user_rooms(a.id, 10, (listed[-1].last_activity, listed[-1].id))
    assert [r.name for r in rest] == ["r2", "r0"]


async def test_public_rooms_exclude_private_and_direct(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    await make_room(store, a, name="Beta chat")
    await make_room(store, a, name="alpha Chat")
    await make_room(store, a, name="Secret chat", private=True)
    await make_room(store, a, b, name="dm", direct_key=":".join(sorted((a.id, b.id))))
    everything = await store.list_public_rooms(None, 10, None)
    assert [r.name for r in everything] == ["alpha Chat", "Beta chat"]
    chat = await store.list_public_rooms("CHAT", 1, None)
    assert [r.name for r in chat] == ["alpha Chat"]
    after = (chat[0].name.lower(), chat[0].id)
    assert [r.name for r in await store.list_public_rooms("chat", 5, after)] == ["Beta chat"]


async def test_update_room(store: Store) -> None:
    (a,) = await make_users(store, "ann")
    r = await make_room(store, a, name="Old")
    updated = await store.update_room(r.id, {"name": "New", "description": "d"})
    assert updated is not None and updated.name == "New" and updated.description == "d"
    assert [x.name for x in await store.list_public_rooms("new", 5, None)] == ["New"]
    assert await store.update_room(new_id(), {"name": "x"}) is None


# ---------------------------------------------------------------- messages


async def test_messages_get_increasing_seq_and_update_the_room(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r = await make_room(store, a, b)
    first, created = await send(store, r, a, "one")
    second, _ = await send(store, r, b, "two")
    assert created and (first.seq, second.seq) == (1, 2)
    assert await store.get_message(first.id) == first
    after = await store.get_room(r.id)
    assert after is not None and after.message_count == 2 and after.last_seq == 2
    assert after.last_activity >= r.last_activity


async def test_client_id_makes_sends_idempotent(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r = await make_room(store, a, b)
    original, created = await send(store, r, a, "hello", client_id="c-1")
    again, created_again = await send(store, r, a, "hello (retry)", client_id="c-1")
    assert created and not created_again and again == original
    other, created_other = await send(store, r, b, "hello", client_id="c-1")
    assert created_other and other.id != original.id
    assert (await store.get_room(r.id)).message_count == 2  # type: ignore[union-attr]


async def test_message_to_unknown_room_is_a_conflict(store: Store) -> None:
    (a,) = await make_users(store, "ann")
    with pytest.raises(StoreConflict) as conflict:
        await store.insert_message(
            room_id=new_id(), author_id=a.id, content="x", message_type="TEXT", client_id=None
        )
    assert conflict.value.constraint == "room"


async def test_concurrent_sends_get_distinct_strictly_increasing_seqs(store: Store) -> None:
    (a,) = await make_users(store, "ann")
    r = await make_room(store, a)
    results = await asyncio.gather(*(send(store, r, a, f"m{i}") for i in range(40)))
    seqs = sorted(m.seq for m, _ in results)
    assert seqs == list(range(1, 41))


async def test_list_messages_directions_and_bounds(store: Store) -> None:
    (a,) = await make_users(store, "ann")
    r = await make_room(store, a)
    sent = [(await send(store, r, a, f"m{i}"))[0] for i in range(10)]
    desc = await store.list_messages(r.id, limit=3, direction="DESC")
    assert [m.seq for m in desc] == [10, 9, 8]
    older = await store.list_messages(r.id, limit=3, direction="DESC", before_seq=8)
    assert [m.seq for m in older] == [7, 6, 5]
    asc = await store.list_messages(r.id, limit=4, direction="ASC", after_seq=6)
    assert [m.seq for m in asc] == [7, 8, 9, 10]
    assert len(sent) == 10
    assert await store.list_messages(new_id(), limit=5, direction="ASC") == []


async def test_history_before_a_time_even_when_the_clock_goes_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """created_at never goes back along a room's seq (a send stamps the later of now and the
    room's last activity), and history before a time follows it, ties included."""
    import random

    from chatql.store.mongo import messages as mongo_messages
    from chatql.store.sqlite import messages as sqlite_messages

    (a,) = await make_users(store, "ann")
    r = await make_room(store, a)
    start = now_utc().replace(microsecond=0) + timedelta(seconds=10)
    rng = random.Random(17)
    offsets = [0]  # seconds after start, by seq - 1: steps of 0-2 s, then the clock goes back
    for _ in range(40):
        offsets.append(offsets[-1] + rng.choice((0, 1, 1, 2)))
    offsets += [offsets[-1] - 30, offsets[-1] - 1]
    clock = iter(start + timedelta(seconds=o) for o in offsets)
    for module in (sqlite_messages, mongo_messages):
        monkeypatch.setattr(module, "now_utc", lambda: next(clock))
    sent = [(await send(store, r, a, f"m{i}"))[0] for i in range(len(offsets))]
    stamped = [m.created_at for m in sent]
    assert stamped[:41] == [start + timedelta(seconds=o) for o in offsets[:41]]
    assert stamped[41] == stamped[42] == stamped[40]  # held at the newest, not gone back
    stored = await store.list_messages(r.id, limit=100, direction="ASC")
    assert [m.created_at for m in stored] == stamped

    for second in range(-1, offsets[40] + 2):
        for before in (start + timedelta(seconds=second), start + timedelta(seconds=second + 0.5)):
            older = [m.seq for m in sent if m.created_at < before]
            desc = await store.list_messages(r.id, limit=5, direction="DESC", before_time=before)
            assert [m.seq for m in desc] == older[::-1][:5], before
            asc = await store.list_messages(r.id, limit=5, direction="ASC", before_time=before)
            assert [m.seq for m in asc] == older[:5], before
    before = start + timedelta(seconds=offsets[20] + 0.5)
    older = [m.seq for m in sent if m.created_at < before]
    page = await store.list_messages(
        r.id, limit=4, direction="DESC", before_time=before, before_seq=older[-3]
    )
    assert [m.seq for m in page] == older[-4:-8:-1]
    page = await store.list_messages(
        r.id, limit=50, direction="ASC", before_time=before, after_seq=older[2]
    )
    assert [m.seq for m in page] == older[3:]


# ---------------------------------------------------------------- change feed


async def test_watch_sees_commits_in_order_with_shapes(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r = await make_room(store, a)
    stream = store.watch()
    message, _ = await send(store, r, a, "hi")
    await store.add_member(MembershipRecord(r.id, b.id, "MEMBER", now_utc()))
    await store.remove_member(r.id, b.id)
    await store.update_user(a.id, {"display_name": "Ann"})
    now = now_utc()
    await store.insert_refresh_token(RefreshTokenRecord(new_id(), a.id, new_id(), "h", now, now))
    await store.update_user(a.id, {"display_name": "Ann 2"})
    events = await collect(stream, 5)
    assert events[-1].document is not None and events[-1].document["display_name"] == "Ann 2"
    events = events[:-1]
    kinds = [(e.collection, e.operation) for e in events]
    assert kinds == [
        ("messages", "insert"),
        ("memberships", "insert"),
        ("memberships", "delete"),
        ("users", "update"),
    ]
    assert events[0].key == message.id and events[0].document is not None
    assert events[0].document["room_id"] == r.id and events[0].document["seq"] == 1
    assert events[2].key == membership_id(r.id, b.id) and events[2].document is None
    assert events[3].document is not None and events[3].document["display_name"] == "Ann"
    assert "password_hash" in events[3].document  # full documents: the hub decides what to expose


async def test_watch_resumes_after_a_token(store: Store) -> None:
    (a,) = await make_users(store, "ann")
    r = await make_room(store, a)
    stream = store.watch()
    await send(store, r, a, "one")
    first = await collect(stream, 1)
    assert len(first) == 1
    await send(store, r, a, "two")
    await send(store, r, a, "three")
    resumed = store.watch(first[0].token)
    events = await collect(resumed, 2)
    assert [e.document["content"] for e in events] == ["two", "three"]  # type: ignore[index]


async def test_watch_with_a_foreign_token_reports_history_lost(
    store: Store, store_kind: str
) -> None:
    if store_kind != "sqlite":
        pytest.skip("MongoDB rejects malformed tokens differently; covered by the feed tests")
    with pytest.raises(HistoryLost):
        stream = store.watch("someone-else:1")
        await stream.__anext__()


# ---------------------------------------------------------------- chat features


async def test_users_by_usernames(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    assert await store.get_users_by_usernames(["ANN", "bob", "nobody"]) == {"ann": a, "bob": b}


async def test_membership_updates_room_lists_and_read_state(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r1 = await make_room(store, a, b, name="one")
    r2 = await make_room(store, a, name="two")
    assert await store.user_room_ids(a.id) == frozenset({r1.id, r2.id})
    assert {m.user_id for m in await store.room_memberships(r1.id)} == {a.id, b.id}
    for i in range(3):
        await send(store, r1, a, f"a{i}")
    m, _ = await send(store, r1, b, "b0")
    await send(store, r2, a, "own message")
    states = await store.read_states(b.id, [r1.id, r2.id])
    assert states == {r1.id: (0, 3)}  # not a member of r2; own messages never count
    updated = await store.update_membership(
        r1.id, b.id, {"last_read_seq": 2, "notifications_muted": True}
    )
    assert updated is not None and updated.last_read_seq == 2 and updated.notifications_muted
    assert (await store.read_states(b.id, [r1.id]))[r1.id] == (2, 1)
    await store.update_message(m.id, {"deleted_at": now_utc()})
    assert (await store.read_states(a.id, [r1.id, r2.id])) == {r1.id: (0, 0), r2.id: (0, 0)}
    assert await store.update_membership(r2.id, b.id, {"last_read_seq": 1}) is None


async def test_edit_delete_and_threads(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r = await make_room(store, a, b)
    parent, _ = await send(store, r, a, "question")
    replies = [
        (
            await store.insert_message(
                room_id=r.id,
                author_id=b.id,
                content=f"answer {i}",
                message_type="TEXT",
                client_id=None,
                reply_to_id=parent.id,
            )
        )[0]
        for i in range(3)
    ]
    assert [m.reply_to_id for m in replies] == [parent.id] * 3
    first = await store.list_replies(parent.id, 2, None)
    assert [m.content for m in first] == ["answer 0", "answer 1"]
    assert [m.content for m in await store.list_replies(parent.id, 5, first[-1].seq)] == [
        "answer 2"
    ]
    assert await store.count_replies([parent.id, replies[0].id]) == {parent.id: 3, replies[0].id: 0}
    when = now_utc()
    edited = await store.update_message(
        parent.id, {"content": "better question", "edited_at": when}
    )
    assert edited is not None and edited.content == "better question" and edited.edited_at == when
    found = await store.get_messages([parent.id, replies[1].id, new_id()])
    assert set(found) == {parent.id, replies[1].id} and found[parent.id] == edited
    assert await store.update_message(new_id(), {"content": "x"}) is None


async def test_reactions_group_by_emoji_once_per_user(store: Store) -> None:
    a, b, c = await make_users(store, "ann", "bob", "cat")
    r = await make_room(store, a, b, c)
    m, _ = await send(store, r, a, "react to me")
    other, _ = await send(store, r, a, "no reactions")

    def reaction(u: UserRecord, emoji: str) -> ReactionRecord:
        return ReactionRecord(r.id, m.id, u.id, emoji, now_utc())

    assert await store.add_reaction(reaction(b, "👍")) is True
    await asyncio.sleep(0.002)
    assert await store.add_reaction(reaction(b, "👍")) is False
    assert await store.add_reaction(reaction(c, "👍")) is True
    await asyncio.sleep(0.002)
    assert await store.add_reaction(reaction(c, ":tada:")) is True
    groups = await store.reaction_groups([m.id, other.id], viewer_id=b.id)
    assert [(g.emoji, g.count, g.reacted_by_me) for g in groups[m.id]] == [
        ("👍", 2, True),
        (":tada:", 1, False),
    ]
    assert groups[other.id] == []
    assert await store.reaction_users(m.id, "👍", 10) == [b.id, c.id]
    assert await store.remove_reaction(r.id, m.id, b.id, "👍") is True
    assert await store.remove_reaction(r.id, m.id, b.id, "👍") is False
    assert [g.count for g in (await store.reaction_groups([m.id], b.id))[m.id]] == [1, 1]
    assert parse_reaction_id(reaction_id(r.id, m.id, c.id, ":a:b:")) == (r.id, m.id, c.id, ":a:b:")


async def test_bans(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r = await make_room(store, a, b)
    until = now_utc() + timedelta(hours=1)
    await store.set_ban(BanRecord(r.id, b.id, a.id, now_utc(), until))
    ban = await store.get_ban(r.id, b.id)
    assert ban is not None and ban.until == until and ban.banned_by == a.id
    await store.set_ban(BanRecord(r.id, b.id, a.id, now_utc(), None))  # replaces
    assert (await store.get_ban(r.id, b.id)).until is None  # type: ignore[union-attr]
    mute = BanRecord(r.id, b.id, a.id, now_utc(), until, kind="MUTE")
    await store.set_ban(mute)
    assert await store.get_ban(r.id, b.id, kind="MUTE") == mute
    assert await store.remove_ban(r.id, b.id) is True
    assert await store.get_ban(r.id, b.id) is None
    assert await store.remove_ban(r.id, b.id) is False
    assert await store.get_ban(r.id, b.id, kind="MUTE") == mute  # kinds are independent
    assert await store.remove_ban(r.id, b.id, kind="MUTE") is True


async def test_delete_room_removes_everything_and_tells_the_feed(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r = await make_room(store, a, b)
    keep = await make_room(store, a)
    m, _ = await send(store, r, a, "bye")
    await store.add_reaction(ReactionRecord(r.id, m.id, b.id, "👋", now_utc()))
    stream = store.watch()
    assert await store.delete_room(r.id) is True
    events = await collect(stream, 2, ignore="none")
    assert {(e.collection, e.operation) for e in events} == {("memberships", "delete")}
    assert {e.key for e in events} == {membership_id(r.id, a.id), membership_id(r.id, b.id)}
    assert await store.get_room(r.id) is None and await store.get_message(m.id) is None
    assert await store.user_room_ids(a.id) == frozenset({keep.id})
    assert await store.delete_room(r.id) is False


async def test_connections_and_room_watches(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    r = await make_room(store, a, b)
    old = now_utc() - timedelta(minutes=5)
    await store.add_connection(ConnectionRecord("c1", a.id, "p1", old, old))
    await store.add_connection(ConnectionRecord("c2", a.id, "p2", now_utc(), now_utc()))
    await store.add_connection(ConnectionRecord("c3", b.id, "p1", old, old))
    assert await store.count_connections(a.id) == 2
    await store.add_room_watch("c1", r.id, a.id)
    await store.add_room_watch("c1", r.id, a.id)
    await store.add_room_watch("c3", r.id, b.id)
    assert await store.room_watchers(r.id) == frozenset({a.id, b.id})
    await store.remove_room_watch("c3", r.id)
    assert await store.room_watchers(r.id) == frozenset({a.id})
    await store.update_membership(r.id, b.id, {"notifications_muted": True})
    assert sorted(await store.notification_targets(r.id)) == sorted(
        [(a.id, False, True), (b.id, True, False)]
    )
    await store.heartbeat("p2", now_utc())
    stale = await store.remove_stale_connections(now_utc() - timedelta(minutes=1))
    assert sorted(stale) == sorted({a.id, b.id})
    assert await store.count_connections(a.id) == 1 and await store.count_connections(b.id) == 0
    assert await store.room_watchers(r.id) == frozenset()  # c1's watch went with it
    removed = await store.remove_connection("c2")
    assert removed is not None and removed.user_id == a.id
    assert await store.remove_connection("c2") is None


async def test_notifications_newest_first_read_and_delete(store: Store) -> None:
    a, b = await make_users(store, "ann", "bob")
    base = now_utc()
    notes = [
        NotificationRecord(
            new_id(), a.id, "MESSAGE", base + timedelta(milliseconds=i), actor_id=b.id
        )
        for i in range(4)
    ]
    stream = store.watch()
    await store.insert_notifications(notes)
    await store.insert_notifications([NotificationRecord(new_id(), b.id, "MENTION", base)])
    events = await collect(stream, 5)
    assert [e.collection for e in events] == ["notifications"] * 5
    page = await store.list_notifications(a.id, unread_only=False, limit=3, after=None)
    assert [n.id for n in page] == [n.id for n in reversed(notes)][:3]
    rest = await store.list_notifications(
        a.id, unread_only=False, limit=3, after=(page[-1].created_at, page[-1].id)
    )
    assert [n.id for n in rest] == [notes[0].id]
    read = await store.mark_notification_read(a.id, notes[1].id, now_utc())
    assert read is not None and read.read_at is not None
    assert await store.mark_notification_read(b.id, notes[1].id, now_utc()) is None
    unread = await store.list_notifications(a.id, unread_only=True, limit=10, after=None)
    assert notes[1].id not in {n.id for n in unread} and len(unread) == 3
    assert await store.mark_all_notifications_read(a.id, now_utc()) == 3
    assert await store.list_notifications(a.id, unread_only=True, limit=10, after=None) == []
    assert await store.delete_notification(b.id, notes[0].id) is False
    assert await store.delete_notification(a.id, notes[0].id) is True
    assert len(await store.list_notifications(a.id, unread_only=False, limit=10, after=None)) == 3


async def test_ephemeral_events_reach_the_feed(store: Store) -> None:
    stream = store.watch()
    await store.publish_ephemeral("typing:abc", {"userId": "u", "kind": "start"})
    (event,) = await collect(stream, 1)
    assert event.collection == "events" and event.document is not None
    assert event.document["channel"] == "typing:abc"
    assert event.document["payload"] == {"userId": "u", "kind": "start"}


async def test_feed_positions_are_saved_per_process_name(store: Store) -> None:
    assert await store.load_feed_position("p1") is None
    (alice,) = await make_users(store, "ann")
    stream = store.watch()
    await store.update_user(alice.id, {"display_name": "Ann"})
    (event,) = await collect(stream, 1)
    await store.save_feed_position("p1", event.token)
    assert await store.load_feed_position("p2") is None
    assert await store.load_feed_position("p1") == event.token
    await store.save_feed_position("p1", event.token)  # overwrite, not duplicate
    assert await store.load_feed_position("p1") == event.token


def upload(owner: UserRecord, *, expires_in: float = 3600, name: str = "a.png") -> UploadRecord:
    now = now_utc()
    upload_id = new_id()
    return UploadRecord(
        id=upload_id,
        owner_id=owner.id,
        filename=name,
        declared_type="image/png",
        declared_size=10,
        object_key=f"files/{upload_id}",
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )


async def complete(store: Store, u: UploadRecord) -> UploadRecord:
    done = await store.update_upload(
        u.id,
        {
            "status": UPLOAD_COMPLETE,
            "mime_type": "image/png",
            "size": 10,
            "completed_at": now_utc(),
        },
        status=UPLOAD_PENDING,
    )
    assert done is not None
    return done


async def test_uploads_complete_once_and_attach_to_one_message(store: Store) -> None:
    ann, bob = await make_users(store, "ann", "bob")
    r = await make_room(store, ann, bob)
    first, second, bobs = upload(ann), upload(ann), upload(bob)
    for u in (first, second, bobs):
        await store.insert_upload(u)
    assert (await store.get_upload(first.id)) == first
    await complete(store, first)
    # Completing is a compare-and-set: a second completion finds it no longer PENDING.
    assert await store.update_upload(first.id, {"size": 11}, status=UPLOAD_PENDING) is None
    await complete(store, second)
    await complete(store, bobs)

    message, created = await store.insert_message(
        room_id=r.id,
        author_id=ann.id,
        content="",
        message_type="IMAGE",
        client_id=None,
        attachment_ids=[second.id, first.id],
    )
    assert created and message.attachment_count == 2
    found = await store.message_attachments([message.id, "missing"])
    assert [u.id for u in found[message.id]] == [second.id, first.id]
    assert found["missing"] == []
    assert all(u.status == UPLOAD_ATTACHED and u.used_for == "MESSAGE" for u in found[message.id])

    # Attached once: a second message cannot take it, nor can someone else's upload be used;
    # and a refused claim stores nothing (the room's seq and count are untouched).
    before = await store.get_room(r.id)
    for ids, author in (([first.id], ann), ([bobs.id], ann), ([new_id()], ann)):
        with pytest.raises(StoreConflict) as info:
            await store.insert_message(
                room_id=r.id,
                author_id=author.id,
                content="again",
                message_type="TEXT",
                client_id=None,
                attachment_ids=ids,
            )
        assert info.value.constraint == "attachments"
    after = await store.get_room(r.id)
    assert before is not None and after is not None
    assert after.message_count == before.message_count
    assert (await store.get_upload(bobs.id)).status == UPLOAD_COMPLETE  # type: ignore[union-attr]
    assert len(await store.list_messages(r.id, limit=10, direction="ASC")) == 1

    # Removing a room's files takes those of its messages with files, and only those.
    other = await make_room(store, ann)
    assert await store.remove_room_uploads(other.id, now_utc()) == 0

    # Deleting the message makes its files unreachable at once and purgeable after the grace.
    when = now_utc()
    assert await store.remove_message_uploads(message.id, when) == 2
    assert (await store.message_attachments([message.id]))[message.id] == []
    assert await store.uploads_to_purge(when, when - timedelta(seconds=1), 10) == []
    purge = await store.uploads_to_purge(when, when + timedelta(seconds=1), 10)
    assert {u.id for u in purge} == {first.id, second.id}
    assert await store.delete_upload(first.id)
    assert not await store.delete_upload(first.id)
    assert await store.get_upload(first.id) is None


async def test_uploads_never_completed_or_attached_expire(store: Store) -> None:
    (ann,) = await make_users(store, "ann")
    stale, fresh, done = upload(ann, expires_in=-5), upload(ann), upload(ann, expires_in=-5)
    for u in (stale, fresh, done):
        await store.insert_upload(u)
    await complete(store, done)  # completed but never attached: its expiry still applies
    now = now_utc()
    purge = await store.uploads_to_purge(now, now - timedelta(days=1), 10)
    assert {u.id for u in purge} == {stale.id, done.id}
    assert len(await store.uploads_to_purge(now, now - timedelta(days=1), 1)) == 1


async def test_a_rooms_files_are_removed_with_it(store: Store) -> None:
    (ann,) = await make_users(store, "ann")
    r = await make_room(store, ann)
    u = upload(ann)
    await store.insert_upload(u)
    await complete(store, u)
    message, _ = await store.insert_message(
        room_id=r.id,
        author_id=ann.id,
        content="",
        message_type="FILE",
        client_id=None,
        attachment_ids=[u.id],
    )
    await send(store, r, ann, "no files")
    assert await store.remove_room_uploads(r.id, now_utc()) == 1
    assert await store.remove_room_uploads(r.id, now_utc()) == 0  # once
    assert (await store.message_attachments([message.id]))[message.id] == []
