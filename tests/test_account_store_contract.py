"""The store contract for accounts of a public service: emails, username holds, account
tokens, external identities, guests and erasure, on every store (see test_store_contract)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from chatql.errors import StoreConflict
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import (
    AccountTokenRecord,
    IdentityRecord,
    NotificationRecord,
    RefreshTokenRecord,
    UserRecord,
    now_utc,
)
from tests.test_store_contract import make_room, make_users, user


def token(purpose: str, user_id: str | None, ttl: float = 60, **extra: str) -> AccountTokenRecord:
    now = now_utc()
    return AccountTokenRecord(
        id=new_id(),
        purpose=purpose,
        token_hash=new_id(),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        user_id=user_id,
        **extra,  # type: ignore[arg-type]
    )


async def test_email_is_unique_and_found_lower_cased(store: Store) -> None:
    (ann,) = await make_users(store, "ann")
    updated = await store.update_user(ann.id, {"email": "ann@example.com", "email_verified": True})
    assert updated is not None and updated.email == "ann@example.com" and updated.email_verified
    found = await store.get_user_by_email("ANN@example.com")
    assert found is not None and found.id == ann.id and found.email_verified is True
    assert await store.get_user_by_email("nobody@example.com") is None

    (bob,) = await make_users(store, "bob")
    with pytest.raises(StoreConflict) as conflict:
        await store.update_user(bob.id, {"email": "ann@example.com"})
    assert conflict.value.constraint == "email"
    clash = UserRecord(**{**user("cat").to_doc(), "email": "ann@example.com"})
    with pytest.raises(StoreConflict) as conflict:
        await store.create_user(clash)
    assert conflict.value.constraint == "email"
    assert await store.get_user_by_username("cat") is None
    # Many users may have no email at all.
    await make_users(store, "dan", "eve")


async def test_rename_holds_the_old_name_for_its_owner_only(store: Store) -> None:
    ann, bob = await make_users(store, "ann", "bob")
    now = now_utc()
    renamed = await store.rename_user(ann.id, "Annie", now + timedelta(days=1), now)
    assert renamed is not None and renamed.username == "annie" and renamed.id == ann.id
    assert (await store.get_user_by_username("annie")).id == ann.id  # type: ignore[union-attr]
    assert await store.get_user_by_username("ann") is None

    holds = await store.username_holds(["ANN", "bob"], now)
    assert set(holds) == {"ann"} and holds["ann"].user_id == ann.id

    # Nobody else may take the held name, by registering or by renaming.
    with pytest.raises(StoreConflict) as conflict:
        await store.create_user(user("ann"))
    assert conflict.value.constraint == "username"
    with pytest.raises(StoreConflict):
        await store.rename_user(bob.id, "ann", now + timedelta(days=1), now)
    assert (await store.get_user(bob.id)).username == "bob"  # type: ignore[union-attr]
    # A name in use is taken.
    with pytest.raises(StoreConflict):
        await store.rename_user(bob.id, "annie", now + timedelta(days=1), now)

    # Its owner may take it back, which lifts the hold on it and holds the other one.
    back = await store.rename_user(ann.id, "ann", now + timedelta(days=1), now)
    assert back is not None and back.username == "ann"
    holds = await store.username_holds(["ann", "annie"], now)
    assert set(holds) == {"annie"}

    # Once the hold ends, anyone may have the name.
    later = now + timedelta(days=2)
    assert await store.username_holds(["annie"], later) == {}
    taken = await store.rename_user(bob.id, "annie", later + timedelta(days=1), later)
    assert taken is not None and taken.username == "annie"
    assert await store.rename_user(new_id(), "zed", later, later) is None


async def test_rename_is_in_the_change_feed(store: Store) -> None:
    (ann,) = await make_users(store, "ann")
    feed = store.watch()
    first = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.05)
    now = now_utc()
    await store.rename_user(ann.id, "anna", now + timedelta(days=1), now)
    event = await asyncio.wait_for(first, 5)
    assert event.collection == "users" and event.key == ann.id
    assert event.document is not None and event.document["username"] == "anna"
    await feed.aclose()  # type: ignore[attr-defined]


async def test_account_tokens_are_single_use(store: Store) -> None:
    (ann,) = await make_users(store, "ann")
    record = token("VERIFY_EMAIL", ann.id, email="ann@example.com")
    await store.insert_account_token(record)
    found = await store.get_account_token(record.token_hash)
    assert found is not None and found.user_id == ann.id and found.email == "ann@example.com"
    assert found.used_at is None and found.purpose == "VERIFY_EMAIL"
    assert await store.get_account_token("nope") is None

    results = await asyncio.gather(
        *(store.use_account_token(record.id, now_utc()) for _ in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]
    used = await store.get_account_token(record.token_hash)
    assert used is not None and used.used_at is not None

    code = token("LOGIN_CODE", None, data='{"subject": "s"}')
    await store.insert_account_token(code)
    assert (await store.get_account_token(code.token_hash)).data == '{"subject": "s"}'  # type: ignore[union-attr]


async def test_account_tokens_are_deleted_by_purpose_and_expiry(store: Store) -> None:
    (ann,) = await make_users(store, "ann")
    reset1, reset2 = token("RESET_PASSWORD", ann.id), token("RESET_PASSWORD", ann.id)
    verify = token("VERIFY_EMAIL", ann.id)
    old = token("LOGIN_CODE", None, ttl=-10)
    for t in (reset1, reset2, verify, old):
        await store.insert_account_token(t)
    assert await store.delete_account_tokens(ann.id, "RESET_PASSWORD") == 2
    assert await store.get_account_token(reset1.token_hash) is None
    assert await store.get_account_token(verify.token_hash) is not None
    assert await store.purge_account_tokens(now_utc()) == 1
    assert await store.get_account_token(old.token_hash) is None
    assert await store.get_account_token(verify.token_hash) is not None


async def test_identities_link_one_subject_to_one_user(store: Store) -> None:
    ann, bob = await make_users(store, "ann", "bob")
    link = IdentityRecord("google", "sub-1", ann.id, now_utc(), email="ann@example.com")
    await store.insert_identity(link)
    found = await store.get_identity("google", "sub-1")
    assert found is not None and found.user_id == ann.id and found.email == "ann@example.com"
    assert await store.get_identity("other", "sub-1") is None
    with pytest.raises(StoreConflict) as conflict:
        await store.insert_identity(IdentityRecord("google", "sub-1", bob.id, now_utc()))
    assert conflict.value.constraint == "identity"
    assert (await store.get_identity("google", "sub-1")).user_id == ann.id  # type: ignore[union-attr]


async def test_guests_expire_and_are_deleted(store: Store) -> None:
    now = now_utc()
    guest = UserRecord(
        **{**user("guest-1").to_doc(), "role": "GUEST", "expires_at": now - timedelta(seconds=1)}
    )
    fresh = UserRecord(
        **{**user("guest-2").to_doc(), "role": "GUEST", "expires_at": now + timedelta(hours=1)}
    )
    (ann,) = await make_users(store, "ann")
    await store.create_user(guest)
    await store.create_user(fresh)
    await store.insert_refresh_token(
        RefreshTokenRecord(new_id(), guest.id, new_id(), "guest-token", now, now)
    )
    expired = await store.expired_guests(now, 10)
    assert [g.id for g in expired] == [guest.id]
    # Guests are not found by search, nor are deleted accounts.
    assert [u.username for u in await store.search_users("guest", 10, None)] == []
    assert await store.delete_user(guest.id) is True
    assert await store.delete_user(guest.id) is False
    assert await store.get_user(guest.id) is None
    assert await store.get_refresh_token("guest-token") is None
    assert await store.get_user(ann.id) is not None


async def test_erasing_a_user_keeps_the_tombstone(store: Store) -> None:
    ann, bob = await make_users(store, "ann", "bob")
    r = await make_room(store, ann, bob)
    now = now_utc()
    await store.insert_notifications(
        [NotificationRecord(new_id(), ann.id, "MESSAGE", now, room_id=r.id)]
    )
    await store.insert_identity(IdentityRecord("google", "sub-a", ann.id, now))
    await store.insert_account_token(token("VERIFY_EMAIL", ann.id))
    await store.insert_refresh_token(
        RefreshTokenRecord(new_id(), ann.id, new_id(), "ann-token", now, now + timedelta(days=1))
    )
    await store.insert_notifications(
        [NotificationRecord(new_id(), bob.id, "MESSAGE", now, room_id=r.id)]
    )
    await store.erase_user_data(ann.id)
    listed = await store.list_notifications(ann.id, unread_only=False, limit=10, after=None)
    assert listed == []
    assert await store.get_identity("google", "sub-a") is None
    assert await store.get_refresh_token("ann-token") is None
    assert await store.get_user(ann.id) is not None
    assert len(await store.list_notifications(bob.id, unread_only=False, limit=10, after=None)) == 1

    deleted = await store.update_user(ann.id, {"deleted_at": now, "display_name": "Deleted user"})
    assert deleted is not None and deleted.deleted_at is not None
    assert await store.search_users("deleted", 10, None) == []


async def test_messages_by_author_skips_deleted_ones(store: Store) -> None:
    ann, bob = await make_users(store, "ann", "bob")
    r = await make_room(store, ann, bob)
    mine = []
    for i in range(5):
        m, _ = await store.insert_message(
            room_id=r.id, author_id=ann.id, content=f"m{i}", message_type="TEXT", client_id=None
        )
        mine.append(m)
    await store.insert_message(
        room_id=r.id, author_id=bob.id, content="b", message_type="TEXT", client_id=None
    )
    await store.update_message(mine[2].id, {"deleted_at": now_utc()})
    first = await store.messages_by_author(ann.id, 2, None)
    rest = await store.messages_by_author(ann.id, 10, first[-1].id)
    ids = [m.id for m in first + rest]
    assert ids == sorted(m.id for m in mine if m.id != mine[2].id)
    assert await store.messages_by_author(new_id(), 10, None) == []
