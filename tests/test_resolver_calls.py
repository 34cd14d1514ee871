"""The direct resolver call converts arguments exactly as Strawberry's wrapper does, and is
refused where it could not."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from strawberry.permission import BasePermission
from strawberry.relay import GlobalID
from strawberry.types.arguments import convert_arguments
from strawberry.types.unset import UNSET

from chatql.fast_path.resolver_calls import plan_call
from chatql.schema import build_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.input
class Inner:
    name: str
    colour: Colour = Colour.RED
    tags: list[str] | None = strawberry.UNSET


@strawberry.input
class Outer:
    id: strawberry.ID
    inner: Inner | None = None
    inners: list[Inner] | None = strawberry.UNSET
    maybe_ids: list[strawberry.ID | None] | None = None
    count: int = 3
    note: str | None = strawberry.UNSET


class Nobody(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


def resolve_echo(info: strawberry.Info, input: Outer, extra: list[Colour] | None = None) -> str:
    return repr((input, extra))


def resolve_plain(number: int, text: str | None = None) -> str:
    return f"{number} {text}"


def resolve_relay(id: GlobalID) -> str:
    return str(id)


def resolve_maybe(value: strawberry.Maybe[int]) -> str:
    return str(value)


@strawberry.type
class Query:
    echo: str = strawberry.field(resolver=resolve_echo)
    plain: str = strawberry.field(resolver=resolve_plain)
    guarded: str = strawberry.field(resolver=resolve_plain, permission_classes=[Nobody])
    relay: str = strawberry.field(resolver=resolve_relay)
    maybe: str = strawberry.field(resolver=resolve_maybe)

    @strawberry.field
    def method(self, number: int) -> str:
        return str(number)


SCHEMA = strawberry.Schema(query=Query)


def strawberry_conversion(schema: Any, type_name: str, field_name: str, raw: Any) -> Any:
    field = schema.get_field_for_type(field_name, type_name)
    return convert_arguments(
        raw, field.arguments, schema.schema_converter.scalar_registry, schema.config
    )


def planned_conversion(schema: Any, type_name: str, field_name: str, raw: Any) -> Any:
    call = plan_call(schema, type_name, field_name)
    assert call is not None
    return call.arguments(raw)


ECHO_CASES: list[dict[str, Any]] = [
    {"input": {"id": "1"}},
    {"input": {"id": "1", "inner": None, "inners": None, "maybeIds": None, "note": None}},
    {
        "input": {
            "id": "2",
            "inner": {"name": "a", "colour": Colour.BLUE, "tags": ["x", "y"]},
            "inners": [{"name": "b"}, {"name": "c", "tags": None}],
            "maybeIds": ["1", None],
            "count": 7,
            "note": "n",
        },
        "extra": [Colour.RED, Colour.BLUE],
    },
    {"input": {"id": "3", "inners": []}, "extra": None},
]


@pytest.mark.parametrize("raw", ECHO_CASES)
def test_inputs_lists_enums_and_defaults_convert_as_strawberry_converts(raw: Any) -> None:
    assert planned_conversion(SCHEMA, "Query", "echo", raw) == strawberry_conversion(
        SCHEMA, "Query", "echo", raw
    )
    assert planned_conversion(SCHEMA, "Query", "plain", {"number": 1}) == {"number": 1}


def test_lists_are_copied_not_shared() -> None:
    raw = {"input": {"id": "1", "maybeIds": ["1"]}}
    converted = planned_conversion(SCHEMA, "Query", "echo", raw)
    assert converted["input"].maybe_ids == ["1"]
    assert converted["input"].maybe_ids is not raw["input"]["maybeIds"]


def test_what_only_strawberry_reproduces_is_refused() -> None:
    assert plan_call(SCHEMA, "Query", "guarded") is None  # permission classes: an extension
    assert plan_call(SCHEMA, "Query", "relay") is None  # GlobalID decodes itself
    assert plan_call(SCHEMA, "Query", "maybe") is None  # Maybe wraps values in Some
    assert plan_call(SCHEMA, "Query", "method") is None  # asks for its parent as `self`


CHAT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("createMessage", {"input": {"chatRoomId": "r", "content": "hi"}}),
    (
        "createMessage",
        {
            "input": {
                "chatRoomId": "r",
                "content": "",
                "clientId": None,
                "replyToId": "m",
                "attachmentIds": ["a", "b"],
            }
        },
    ),
    ("createMessage", {"input": {"chatRoomId": "r", "content": "x", "attachmentIds": None}}),
    ("updateMessage", {"input": {"id": "m", "content": "y"}}),
    ("deleteMessage", {"id": "m"}),
]


@pytest.mark.parametrize(("field", "raw"), CHAT_CASES)
def test_chat_mutations_convert_as_strawberry_converts(field: str, raw: Any) -> None:
    schema = build_schema()
    assert planned_conversion(schema, "Mutation", field, raw) == strawberry_conversion(
        schema, "Mutation", field, raw
    )


def test_unset_stays_unset() -> None:
    converted = planned_conversion(SCHEMA, "Query", "echo", {"input": {"id": "1"}})
    assert converted["input"].note is UNSET and converted["input"].inners is UNSET


def test_the_send_path_calls_the_resolver_directly() -> None:
    from graphql import parse

    from chatql.fast_path.projection import compile_root

    document = parse(
        "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id content } }"
    )
    compiled = compile_root(build_schema(), document, None)
    assert compiled is not None and compiled.call is not None


def test_the_info_without_an_executor_is_the_executors() -> None:
    from graphql import parse
    from graphql.pyutils import Path

    from chatql.fast_path.execution import field_info
    from chatql.fast_path.projection import compile_root

    schema = build_schema()
    document = parse(
        "mutation Send($i: CreateMessageInput!) { createMessage(input: $i) { id content } }"
    )
    compiled = compile_root(schema, document, "Send")
    assert compiled is not None
    raw = {"i": {"chatRoomId": "r", "content": "hi"}}
    context, root = object(), object()
    executor = schema.execution_context_class.build(
        schema._schema,
        document,
        root_value=root,
        context_value=context,
        raw_variable_values=raw,
        operation_name="Send",
        operation_extensions={"x": 1},
    )
    path = Path(None, "createMessage", "Mutation")
    expected = executor.build_resolve_info(compiled.field, [compiled.node], compiled.parent, path)
    variables = compiled.variables(schema._schema, raw)
    assert not isinstance(variables, list)
    info = field_info(
        schema._schema,
        compiled.operation,
        variables,
        root,
        context,
        {"x": 1},
        compiled.field,
        compiled.node,
        compiled.parent,
        path,
    )
    assert type(info) is type(expected)
    names = [n for n in info._fields if n not in ("async_helpers", "is_awaitable")]
    assert {n: getattr(info, n) for n in names} == {n: getattr(expected, n) for n in names}
    bad = {"i": {"content": 1}}
    errors = compiled.variables(schema._schema, bad)
    expected_errors = schema.execution_context_class.build(
        schema._schema, document, raw_variable_values=bad, operation_name="Send"
    )
    assert isinstance(errors, list) and isinstance(expected_errors, list)
    assert [e.formatted for e in errors] == [e.formatted for e in expected_errors]
    assert len(errors) == 2  # the id is missing, the content is not a string


async def test_tracked_work_settles_and_gathered_work_is_gathered() -> None:
    import asyncio

    from chatql.fast_path.execution import OPERATION_HELPERS

    done: list[int] = []

    async def work(n: int) -> int:
        await asyncio.sleep(0)
        done.append(n)
        return n

    async def fails() -> None:
        raise ValueError("observed, not raised")

    OPERATION_HELPERS.track([work(1), fails(), 3])
    assert await OPERATION_HELPERS.gather([work(2), work(4)]) == [2, 4]
    for _ in range(5):
        await asyncio.sleep(0)
    assert sorted(done) == [1, 2, 4]
