"""Which operations may be answered once for many viewers.

An operation is shareable when it reads only fields whose values are the same for every viewer
who may see them (no `reactedByMe`, no `myRole`, no unread counts): then one execution can serve
every authorised viewer. Only plain fields qualify: no fragments, aliases or directives, and
no arguments below the root field.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_operation_ast,
    parse,
    value_from_ast_untyped,
)

USER_FIELDS = frozenset(
    {
        "id",
        "username",
        "displayName",
        "avatarUrl",
        "status",
        "lastSeen",
        "createdAt",
        "role",
        "isBot",
    }
)
IMMUTABLE_USER_FIELDS = frozenset({"id", "username", "createdAt", "isBot"})
MESSAGE_FIELDS = frozenset(
    {
        "id",
        "chatRoomId",
        "content",
        "messageType",
        "seq",
        "cursor",
        "clientId",
        "createdAt",
        "updatedAt",
        "editedAt",
        "deletedAt",
        "isEdited",
        "isDeleted",
        "isStreaming",
        "replyToId",
        "replyCount",
        "author",
        "replyTo",
        "attachments",
    }
)
ATTACHMENT_FIELDS = frozenset(
    {"id", "name", "mimeType", "size", "width", "height", "url", "thumbnailUrl", "createdAt"}
)
VIEWER_INDEPENDENT: Mapping[str, frozenset[str]] = {
    "Message": MESSAGE_FIELDS,
    "MessageConnection": frozenset({"items", "nextToken"}),
    "User": USER_FIELDS,
    "Attachment": ATTACHMENT_FIELDS,
}
CHILD_TYPES: Mapping[tuple[str, str], str] = {
    ("Message", "author"): "User",
    ("Message", "attachments"): "Attachment",
    ("Message", "replyTo"): "Message",
    ("MessageConnection", "items"): "Message",
}


# Fields whose value depends on who asks, but on nothing else: an answer that reads them can be
# kept for that viewer (history pages), never handed to another one.
PER_VIEWER: Mapping[str, frozenset[str]] = {
    "Message": frozenset({"reactions"}),
    "ReactionGroup": frozenset({"emoji", "count", "reactedByMe"}),
}
PER_VIEWER_CHILDREN: Mapping[tuple[str, str], str] = {("Message", "reactions"): "ReactionGroup"}
SAME_FOR_ALL, PER_VIEWER_ANSWER = "same for all", "per viewer"


def sharing(selection: SelectionSetNode, type_name: str, depth: int = 0) -> str | None:
    """SAME_FOR_ALL when every field read is `VIEWER_INDEPENDENT`; PER_VIEWER_ANSWER when it
    also reads fields of `PER_VIEWER` (the answer is the viewer's own); None otherwise."""
    if depth > 4:
        return None
    answer = SAME_FOR_ALL
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.alias or node.directives or node.arguments:
            return None
        name = node.name.value
        if name == "__typename":
            continue
        if name in VIEWER_INDEPENDENT.get(type_name, ()):
            child = CHILD_TYPES.get((type_name, name))
        elif name in PER_VIEWER.get(type_name, ()):
            child = PER_VIEWER_CHILDREN.get((type_name, name))
            answer = PER_VIEWER_ANSWER
        else:
            return None
        if child is None:
            if node.selection_set is not None:
                return None
            continue
        inner = sharing(node.selection_set, child, depth + 1) if node.selection_set else None
        if inner is None:
            return None
        if inner == PER_VIEWER_ANSWER:
            answer = PER_VIEWER_ANSWER
    return answer


def shareable(selection: SelectionSetNode, type_name: str, depth: int = 0) -> bool:
    """One answer serves every viewer who may see it."""
    return sharing(selection, type_name, depth) == SAME_FOR_ALL


def reads_signed_urls(selection: SelectionSetNode, type_name: str) -> bool:
    """Whether the answer holds file URLs, which expire: fine to share at once (the fan-out),
    not to keep (a cached history page would outlive its URLs)."""
    for node in selection.selections:
        if not isinstance(node, FieldNode):
            return True
        child = CHILD_TYPES.get((type_name, node.name.value))
        if child == "Attachment":
            return True
        if child and node.selection_set and reads_signed_urls(node.selection_set, child):
            return True
    return False


def reads_mutable_user_fields(selection: SelectionSetNode, type_name: str) -> bool:
    """Whether the answer can change when a user's profile or presence changes."""
    for node in selection.selections:
        if not isinstance(node, FieldNode):
            return True
        name = node.name.value
        if type_name == "User" and name not in IMMUTABLE_USER_FIELDS and name != "__typename":
            return True
        child = CHILD_TYPES.get((type_name, name))
        if child and node.selection_set and reads_mutable_user_fields(node.selection_set, child):
            return True
    return False


def argument_value(node: ValueNode | None, variables: Mapping[str, Any]) -> Any:
    """The value of an argument given as a literal or as a variable (None when absent)."""
    if node is None:
        return None
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    return value_from_ast_untyped(node, dict(variables))


def single_root_field(
    query: str, operation_name: str | None, kind: OperationType, max_tokens: int | None
) -> tuple[DocumentNode, FieldNode] | None:
    """The document and its one root field, when `query` is exactly one operation of `kind`
    (named `operation_name` if given) selecting one plain root field; else None."""
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode):
        return None
    if operation.operation != kind or operation.directives:
        return None
    if operation_name is not None and (
        operation.name is None or operation.name.value != operation_name
    ):
        return None
    root = operation.selection_set.selections
    if len(root) != 1 or not isinstance(root[0], FieldNode):
        return None
    field = root[0]
    if field.alias or field.directives or field.selection_set is None:
        return None
    return document, field


class PlanCache[P]:
    """Plans remembered per (query, operation name, variables), least recently used first out."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._plans: OrderedDict[str, P | None] = OrderedDict()

    def get(
        self,
        query: Any,
        operation_name: Any,
        variables: Any,
        make: Callable[[str, str | None, dict[str, Any], str], P | None],
    ) -> P | None:
        """The plan for these inputs, made by `make(query, name, variables, key)` once."""
        if not isinstance(query, str) or not isinstance(variables, (dict, type(None))):
            return None
        if operation_name is not None and not isinstance(operation_name, str):
            return None
        variables = variables or {}
        try:
            key = json.dumps([query, operation_name, variables], sort_keys=True)
        except (TypeError, ValueError):
            return None
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        found = make(query, operation_name, variables, key)
        self._plans[key] = found
        if len(self._plans) > self._size:
            self._plans.popitem(last=False)
        return found


def operation_type(query: str, operation_name: str | None, max_tokens: int) -> OperationType | None:
    """What a request would run, for transports that choose their path by it; None when the
    document does not parse or does not name one operation (the execution then says why)."""
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens or None)
    except (GraphQLError, RecursionError):
        return None
    operation = get_operation_ast(document, operation_name)
    return None if operation is None else operation.operation
