"""Which `onMessageCreated` subscriptions may share a fan-out group, decided once per distinct
(document, operation, variables).

A subscription shares when its one root field is `onMessageCreated` on a room, its selection
reads only viewer-independent fields (`chatql.fast_path.shapes`), it passes the same validation
and limits as the ordinary path, its variables fit their types and it resumes from no cursor.
Anything else gets no plan and takes Strawberry's per-subscriber path, which also answers its
errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLSchema, OperationType, specified_rules, validate
from graphql.execution import Executor
from graphql.validation import MaxIntrospectionDepthRule

from chatql.fast_path.shapes import PlanCache, argument_value, shareable, single_root_field
from chatql.security.limits import Limits, limits_rule


@dataclass(frozen=True)
class Plan:
    """A validated, shareable onMessageCreated operation."""

    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any]
    room_id: str
    key: str


class Planner:
    """Decides, once per distinct (query, operation, variables), whether sharing applies."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, size: int = 1000) -> None:
        self._schema = schema
        self._limits = limits
        self._plans: PlanCache[Plan] = PlanCache(size)

    def plan(self, query: Any, operation_name: Any, variables: Any) -> Plan | None:
        return self._plans.get(query, operation_name, variables, self._make)

    def _make(
        self, query: str, operation_name: str | None, variables: dict[str, Any], key: str
    ) -> Plan | None:
        found = single_root_field(
            query, operation_name, OperationType.SUBSCRIPTION, self._limits.max_tokens or None
        )
        if found is None:
            return None
        document, node = found
        if node.name.value != "onMessageCreated" or node.selection_set is None:
            return None
        if not shareable(node.selection_set, "Message"):
            return None
        rules = (
            *specified_rules,
            MaxIntrospectionDepthRule,
            limits_rule(self._limits, variables, operation_name),
        )
        if validate(self._schema, document, rules):
            return None
        trial = Executor.build(
            self._schema, document, raw_variable_values=variables, operation_name=operation_name
        )
        if isinstance(trial, list):  # variables do not fit their types: the ordinary path says so
            return None
        arguments = {a.name.value: a.value for a in node.arguments or ()}
        if set(arguments) - {"chatRoomId", "after"}:
            return None
        if argument_value(arguments.get("after"), variables) is not None:
            return None  # resuming replays per subscriber: the ordinary path
        room_id = argument_value(arguments.get("chatRoomId"), variables)
        if not isinstance(room_id, str):
            return None
        return Plan(document, operation_name, variables, room_id, key)
