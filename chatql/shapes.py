"""Which operations may be answered once for many viewers.

An operation is shareable when it reads only fields whose values are the same for every viewer
who may see them (no `reactedByMe`, no `myRole`, no unread counts): then one execution can serve
every authorised viewer. Only plain fields qualify: no fragments, aliases or directives, and
no arguments below the root field.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import FieldNode, SelectionSetNode

USER_FIELDS = frozenset(
    {"id", "username", "displayName", "avatarUrl", "status", "lastSeen", "createdAt", "role"}
)
IMMUTABLE_USER_FIELDS = frozenset({"id", "username", "createdAt"})
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
        "replyToId",
        "replyCount",
        "author",
        "replyTo",
    }
)
VIEWER_INDEPENDENT: Mapping[str, frozenset[str]] = {
    "Message": MESSAGE_FIELDS,
    "MessageConnection": frozenset({"items", "nextToken"}),
    "User": USER_FIELDS,
}
CHILD_TYPES: Mapping[tuple[str, str], str] = {
    ("Message", "author"): "User",
    ("Message", "replyTo"): "Message",
    ("MessageConnection", "items"): "Message",
}


def shareable(selection: SelectionSetNode, type_name: str, depth: int = 0) -> bool:
    allowed = VIEWER_INDEPENDENT.get(type_name, frozenset())
    if depth > 4:
        return False
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.alias or node.directives or node.arguments:
            return False
        name = node.name.value
        if name == "__typename":
            continue
        if name not in allowed:
            return False
        child = CHILD_TYPES.get((type_name, name))
        if child is not None:
            if node.selection_set is None or not shareable(node.selection_set, child, depth + 1):
                return False
        elif node.selection_set is not None:
            return False
    return True


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
