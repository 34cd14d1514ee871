"""Answers to history queries, kept until the room changes.

`messagesByRoom` with a viewer-independent selection gives every member of a room the same
answer for the same arguments. The answer is cached under the room's version, which the change
feed bumps on every message written, edited or deleted there (and, when the selection reads
mutable user fields, on any user change). Every request is still authenticated and authorised
(membership is checked against the store) before a cached answer is used.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    OperationType,
)

from chatql.shapes import (
    PlanCache,
    argument_value,
    reads_mutable_user_fields,
    reads_signed_urls,
    shareable,
    single_root_field,
)
from chatql.store.base import ChangeEvent


@dataclass(frozen=True)
class HistoryPlan:
    key: str
    room_id: str
    user_dependent: bool


class HistoryCache:
    def __init__(self, size: int = 2000, plans: int = 1000) -> None:
        self._size = size
        self._plans: PlanCache[HistoryPlan] = PlanCache(plans)
        self._answers: OrderedDict[str, tuple[tuple[int, int], Any]] = OrderedDict()
        self._room_versions: dict[str, int] = {}
        self._users_version = 0

    # ------------------------------------------------------------ planning
    def plan(self, query: Any, operation_name: Any, variables: Any) -> HistoryPlan | None:
        if not isinstance(query, str) or "messagesByRoom" not in query:
            return None  # cheap: most requests are something else
        return self._plans.get(query, operation_name, variables, _make_plan)

    # ------------------------------------------------------------ answers
    def version(self, plan: HistoryPlan) -> tuple[int, int]:
        users = self._users_version if plan.user_dependent else 0
        return self._room_versions.get(plan.room_id, 0), users

    def get(self, plan: HistoryPlan, version: tuple[int, int]) -> Any | None:
        entry = self._answers.get(plan.key)
        if entry is None or entry[0] != version:
            return None
        self._answers.move_to_end(plan.key)
        return entry[1]

    def put(self, plan: HistoryPlan, version: tuple[int, int], data: Any) -> None:
        """Keep `data`, computed from the store as of `version` (taken before executing)."""
        self._answers[plan.key] = (version, data)
        self._answers.move_to_end(plan.key)
        if len(self._answers) > self._size:
            self._answers.popitem(last=False)

    def observe(self, event: ChangeEvent) -> None:
        if event.collection == "messages":
            room_id = (event.document or {}).get("room_id")
            if room_id is None:  # a delete event carries no document: forget every room
                self._room_versions = {k: v + 1 for k, v in self._room_versions.items()}
                self._answers.clear()
                return
            self._room_versions[room_id] = self._room_versions.get(room_id, 0) + 1
        elif event.collection == "rooms" and event.operation == "delete":
            self._room_versions[event.key] = self._room_versions.get(event.key, 0) + 1
        elif event.collection == "users":
            self._users_version += 1

    def reset(self) -> None:
        self._answers.clear()
        self._room_versions = {k: v + 1 for k, v in self._room_versions.items()}
        self._users_version += 1


def _make_plan(
    query: str, operation_name: str | None, variables: dict[str, Any], key: str
) -> HistoryPlan | None:
    found = single_root_field(query, operation_name, OperationType.QUERY, 2000)
    if found is None:
        return None
    _document, field = found
    if field.name.value != "messagesByRoom" or field.selection_set is None:
        return None
    if not shareable(field.selection_set, "MessageConnection"):
        return None
    if reads_signed_urls(field.selection_set, "MessageConnection"):
        return None
    arguments = {a.name.value: a.value for a in field.arguments or ()}
    room_id = argument_value(arguments.get("chatRoomId"), variables)
    if not isinstance(room_id, str):
        return None
    user_dependent = reads_mutable_user_fields(field.selection_set, "MessageConnection")
    return HistoryPlan(key, room_id, user_dependent)
