"""Ids: random ones, and the time-ordered ones messages get."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from chatql.services.validation import entity_id
from chatql.store.base import MessageRecord, new_id, now_utc, time_ordered_id

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_ids_are_32_hex_characters_and_valid_entity_ids() -> None:
    for make in (new_id, time_ordered_id):
        ids = {make() for _ in range(5000)}
        assert len(ids) == 5000
        assert all(HEX32.fullmatch(i) for i in ids)
        assert all(entity_id(i, "id") == i for i in list(ids)[:10])


def test_time_ordered_ids_start_with_their_millisecond_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = time_ordered_id()
    time.sleep(0.002)
    second = time_ordered_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(first[:12], 16) < int(second[:12], 16) <= after
    assert first < second
    # the rest is random: ids of one millisecond differ there
    same_ms = [time_ordered_id() for _ in range(200)]
    assert len({i[12:] for i in same_ms}) == 200


def test_a_new_message_gets_a_time_ordered_id() -> None:
    message = MessageRecord.new(
        room_id=new_id(),
        author_id=new_id(),
        content="hi",
        message_type="TEXT",
        seq=1,
        client_id=None,
        reply_to_id=None,
        now=now_utc(),
    )
    made = datetime.fromtimestamp(int(message.id[:12], 16) / 1000, UTC)
    assert abs((made - message.created_at).total_seconds()) < 5
