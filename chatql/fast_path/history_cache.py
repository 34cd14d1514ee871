"""Answers to history queries, kept until the room changes.

`messagesByRoom` with a viewer-independent selection gives every member of a room the same
answer for the same arguments. The answer is cached under the room's version, which the change
feed bumps on every message written, edited or deleted there and every reaction given or taken
back (and, when the selection reads mutable user fields, on any user change). Every request is
still authenticated and authorised (membership is checked against the store) before a cached
answer is used.

A selection that also reads what depends on the viewer (`reactions { reactedByMe }`, as the web
app's does) is kept per viewer, never shared. File URLs expire, so an answer holding them is
kept for a quarter of their lifetime at most: whoever gets it still has three quarters left.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    OperationType,
)

from chatql.fast_path.shapes import (
    PER_VIEWER_ANSWER,
    PlanCache,
    argument_value,
    reads_mutable_user_fields,
    reads_signed_urls,
    sharing,
    single_root_field,
)
from chatql.store.records import ChangeEvent


@dataclass(frozen=True)
class HistoryPlan:
    key: str
    room_id: str
    user_dependent: bool
    per_viewer: bool = False  # the answer is the viewer's own
    signed_urls: bool = False  # the answer holds file URLs, which expire


class HistoryCache:
    def __init__(self, size: int = 2000, plans: int = 1000, url_lifetime: float = 3600) -> None:
        self._size = size
        self._plans: PlanCache[HistoryPlan] = PlanCache(plans)
        # key -> (room and users versions, data, monotonic time it may be used until)
        self._answers: OrderedDict[str, tuple[tuple[int, int], Any, float]] = OrderedDict()
        self._url_keep = url_lifetime / 4
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

    @staticmethod
    def _key(plan: HistoryPlan, viewer_id: str) -> str:
        return f"{viewer_id}\n{plan.key}" if plan.per_viewer else plan.key

    def get(self, plan: HistoryPlan, version: tuple[int, int], viewer_id: str) -> Any | None:
        key = self._key(plan, viewer_id)
        entry = self._answers.get(key)
        if entry is None or entry[0] != version or entry[2] < time.monotonic():
            return None
        self._answers.move_to_end(key)
        return entry[1]

    def put(self, plan: HistoryPlan, version: tuple[int, int], data: Any, viewer_id: str) -> None:
        """Keep `data`, computed from the store as of `version` (taken before executing) for
        `viewer_id` (the answer is theirs alone when the plan says so)."""
        key = self._key(plan, viewer_id)
        until = time.monotonic() + self._url_keep if plan.signed_urls else float("inf")
        self._answers[key] = (version, data, until)
        self._answers.move_to_end(key)
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
        elif event.collection == "reactions":  # keyed "<room id>:<message id>:<user id>:<emoji>"
            room_id = event.key[:32]
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
    shared = sharing(field.selection_set, "MessageConnection")
    if shared is None:
        return None
    arguments = {a.name.value: a.value for a in field.arguments or ()}
    room_id = argument_value(arguments.get("chatRoomId"), variables)
    if not isinstance(room_id, str):
        return None
    user_dependent = reads_mutable_user_fields(field.selection_set, "MessageConnection")
    signed_urls = reads_signed_urls(field.selection_set, "MessageConnection")
    return HistoryPlan(key, room_id, user_dependent, shared == PER_VIEWER_ANSWER, signed_urls)
