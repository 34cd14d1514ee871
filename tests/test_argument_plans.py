"""A compiled root field's argument plan answers exactly what graphql-core's
`get_argument_values` answers, and leaves to it every case it does not cover."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from graphql.execution.values import get_argument_values, get_variable_values

from chatql.fast_path.argument_plans import plan_arguments
from chatql.schema import build_schema

ROOM = "r" * 32
SCHEMA = build_schema()._schema

# (document, variables, planned): planned says whether the plan answers by itself
CASES: list[tuple[str, dict[str, Any], bool]] = [
    # as the Node load generator and most clients send it: an object literal of variables
    (
        "mutation($r: ID!, $t: String!) { createMessage(input: {chatRoomId: $r, content: $t}) "
        "{ id } }",
        {"r": ROOM, "t": "hello"},
        True,
    ),
    (  # null for a non-null field: graphql-core's error
        "mutation($r: ID!, $t: String) { createMessage(input: {chatRoomId: $r, content: $t}) "
        "{ id } }",
        {"r": ROOM, "t": None},
        False,
    ),
    (  # a nullable field given null, a constant and an enum literal
        "mutation($r: ID!, $c: String) { createMessage(input: {chatRoomId: $r, content: "
        '"hi", clientId: $c, messageType: SYSTEM}) { id } }',
        {"r": ROOM, "c": None},
        True,
    ),
    (  # a variable not given: a default (or nothing) applies, graphql-core decides
        "mutation($r: ID!, $t: String!, $c: String) { createMessage(input: {chatRoomId: $r, "
        "content: $t, clientId: $c}) { id } }",
        {"r": ROOM, "t": "x"},
        False,
    ),
    (  # the whole input as one variable, as the web app sends it
        "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id } }",
        {"i": {"chatRoomId": ROOM, "content": "hi", "clientId": "c1"}},
        True,
    ),
    (  # a list literal: not planned
        'mutation($r: ID!) { createMessage(input: {chatRoomId: $r, content: "", '
        'attachmentIds: ["a", "b"]}) { id } }',
        {"r": ROOM},
        False,
    ),
    (  # arguments absent with defaults, one given by a variable, one as a constant
        "query($r: ID!) { messagesByRoom(chatRoomId: $r) { nextToken } }",
        {"r": ROOM},
        True,
    ),
    (
        "query($r: ID!, $n: Int) { messagesByRoom(chatRoomId: $r, limit: $n, "
        "sortDirection: ASC) { nextToken } }",
        {"r": ROOM, "n": 7},
        True,
    ),
    (  # limit given as null: null, not the default
        "query($r: ID!, $n: Int) { messagesByRoom(chatRoomId: $r, limit: $n) { nextToken } }",
        {"r": ROOM, "n": None},
        True,
    ),
    (  # limit's variable not given: the argument's default, by graphql-core
        "query($r: ID!, $n: Int) { messagesByRoom(chatRoomId: $r, limit: $n) { nextToken } }",
        {"r": ROOM},
        False,
    ),
    (  # a custom scalar literal (a datetime): left to graphql-core
        'query($r: ID!) { messagesByRoom(chatRoomId: $r, before: "2026-01-01T00:00:00Z") '
        "{ nextToken } }",
        {"r": ROOM},
        False,
    ),
    ("query($m: ID!) { getMessage(id: $m) { id } }", {"m": ROOM}, True),
    ('query { getMessage(id: "abc") { id } }', {}, True),
]


def _field(document: str) -> tuple[OperationDefinitionNode, FieldNode, Any]:
    operation = parse(document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    node = operation.selection_set.selections[0]
    assert isinstance(node, FieldNode)
    root = SCHEMA.get_root_type(operation.operation)
    assert root is not None
    return operation, node, root.fields[node.name.value]


@pytest.mark.parametrize(("document", "raw", "planned"), CASES)
def test_the_plan_answers_as_graphql_core(
    document: str, raw: dict[str, Any], planned: bool
) -> None:
    operation, node, field = _field(document)
    variables = get_variable_values(SCHEMA, operation.variable_definitions or (), raw)
    assert not isinstance(variables, list), variables
    try:
        theirs: Any = get_argument_values(field, node, variables)
    except GraphQLError as exc:
        theirs = exc
    plan = plan_arguments(field, node)
    ours = plan(variables) if plan is not None else None
    assert (ours is not None) is planned
    if ours is not None:
        assert not isinstance(theirs, GraphQLError)
        assert ours == theirs
        assert [type(v) for v in ours.values()] == [type(v) for v in theirs.values()]


def test_unknown_arguments_and_fields_are_not_planned() -> None:
    _, node, field = _field('query { getMessage(id: "a", nope: 1) { id } }')
    assert plan_arguments(field, node) is None
    _, node, field = _field(
        'mutation { createMessage(input: {chatRoomId: "a", content: "b", nope: 1}) { id } }'
    )
    assert plan_arguments(field, node) is None


def test_a_compiled_root_carries_its_plan() -> None:
    from chatql.fast_path.projection import compile_root

    document = parse(
        "mutation($r: ID!, $t: String!) { createMessage(input: {chatRoomId: $r, content: $t}) "
        "{ id } }"
    )
    compiled = compile_root(build_schema(), document, None)
    assert compiled is not None and compiled.arguments is not None
    variables = compiled.variables(SCHEMA, {"r": ROOM, "t": "hi"})
    assert not isinstance(variables, list)
    planned = compiled.arguments(variables)
    assert planned is not None
    assert planned == get_argument_values(compiled.field, compiled.node, variables)
