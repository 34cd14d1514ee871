"""value_class: plain slots at run time, frozen for mypy; records from rows and from documents."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

from mypy import api as mypy_api

from chatql.store.records import RoomRecord, now_utc
from chatql.value_class import value_class


@value_class
class Point:
    x: int
    y: int = 0


def test_a_value_class_is_a_slotted_dataclass_equal_and_hashed_by_value() -> None:
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y"]
    assert Point.__slots__ == ("x", "y")
    assert not hasattr(Point(1), "__dict__")
    assert Point(1) == Point(1, 0) != Point(1, 2)
    assert len({Point(1), Point(1, 0), Point(2)}) == 2
    assert dataclasses.replace(Point(1), y=5) == Point(1, 5)


def test_mypy_refuses_assigning_a_field(tmp_path: Path) -> None:
    source = tmp_path / "uses_point.py"
    source.write_text(
        textwrap.dedent(
            """
            from chatql.value_class import value_class

            @value_class
            class Point:
                x: int

            point = Point(1)
            point.x = 2
            Point("one")
            """
        )
    )
    out, _err, status = mypy_api.run(
        [str(source), "--no-incremental", "--follow-imports=silent", "--no-error-summary"]
    )
    assert status == 1
    assert 'Property "x" defined in "Point" is read-only' in out
    assert 'Argument 1 to "Point" has incompatible type "str"' in out


def test_records_from_documents_with_and_without_other_keys() -> None:
    now = now_utc()
    room = RoomRecord("r1", "Lobby", "u1", "u1", now, now, now, last_seq=3)
    assert RoomRecord.from_doc(room.to_doc()) == room
    assert RoomRecord.from_doc({**room.to_doc(), "watchers": 4, "_rev": "x"}) == room
    partial = {"id": "r2", "name": "Two", "created_by": "u", "owner_id": "u"}
    made = RoomRecord.from_doc(
        {**partial, "created_at": now, "updated_at": now, "last_activity": now}
    )
    assert made.last_seq == 0 and made.description is None
