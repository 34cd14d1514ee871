"""The compiled projection of shared subscription events answers exactly as graphql-core's
executor does, field by field, and refuses what it cannot answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import FieldNode, OperationDefinitionNode, parse
from graphql.execution import Executor, execute_subscription_event

from chatql.app import create_app
from chatql.config import Settings
from chatql.context import ChatContext
from chatql.fast_path.projection import CompiledMessage, NotCompiled, compile_message
from chatql.services.registry import Services
from chatql.store.records import MessageRecord
from chatql.types.message import Message
from chatql.types.user import User

EVERY_FIELD = (
    "__typename id chatRoomId content messageType seq clientId createdAt updatedAt editedAt "
    "deletedAt isEdited isDeleted replyToId cursor "
    "author { __typename id username displayName avatarUrl status lastSeen createdAt role }"
)


class Socket:
    scope = {"type": "websocket"}  # a subscription's context, as on a WebSocket


class Harness:
    def __init__(self, http: httpx.AsyncClient, services: Services) -> None:
        self.http = http
        self.services = services
        self.schema: Any = None

    async def gql(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        body = {"query": query, "variables": variables}
        answer = (await self.http.post("/graphql", json=body, headers=headers)).json()
        assert "errors" not in answer, answer
        return answer["data"]

    def root(self, selection: str) -> tuple[Any, FieldNode]:
        document = parse(f'subscription {{ onMessageCreated(chatRoomId: "r") {{ {selection} }} }}')
        operation = document.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        node = operation.selection_set.selections[0]
        assert isinstance(node, FieldNode)
        return document, node

    async def executed(self, document: Any, record: MessageRecord) -> Any:
        context = ChatContext(services=self.services, request=Socket(), response=None)  # type: ignore[arg-type]
        executor = Executor.build(self.schema._schema, document, context_value=context)
        assert not isinstance(executor, list)
        result = execute_subscription_event(
            executor.build_per_event_executor(Message.from_record(record))
        )
        result = await result if not hasattr(result, "data") else result
        assert not result.errors, result.errors
        return result.data

    async def compiled(self, compiled: CompiledMessage, record: MessageRecord) -> Any:
        author = await self.services.users.get(record.author_id)
        assert author is not None
        return compiled.data(Message.from_record(record), User.from_record(author))


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        found = Harness(http, app.state.services)
        from chatql.schema import build_schema

        found.schema = build_schema()
        yield found


async def messages_of_every_kind(h: Harness) -> list[MessageRecord]:
    register = (
        'mutation($u: String!) { register(username: $u, password: "correct horse") '
        "{ accessToken } }"
    )
    token = (await h.gql(register, {"u": "alice"}))["register"]["accessToken"]
    room = await h.gql('mutation { createChatRoom(input: {name: "r"}) { id } }', {}, token)
    room_id = room["createChatRoom"]["id"]
    send = "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id } }"
    ids = []
    for extra in ({}, {"clientId": "c-1"}, {"messageType": "IMAGE"}):
        made = await h.gql(send, {"i": {"chatRoomId": room_id, "content": "hé 👋", **extra}}, token)
        ids.append(made["createMessage"]["id"])
    reply = await h.gql(
        send, {"i": {"chatRoomId": room_id, "content": "re", "replyToId": ids[0]}}, token
    )
    ids.append(reply["createMessage"]["id"])
    await h.gql(
        "mutation($i: UpdateMessageInput!) { updateMessage(input: $i) { id } }",
        {"i": {"id": ids[1], "content": "edited"}},
        token,
    )
    await h.gql("mutation($id: ID!) { deleteMessage(id: $id) { id } }", {"id": ids[2]}, token)
    found = await h.services.store.get_messages(ids)
    return [found[i] for i in ids]


async def test_the_projection_answers_like_the_executor(harness: Harness) -> None:
    records = await messages_of_every_kind(harness)
    selections = [
        EVERY_FIELD,
        "id chatRoomId content createdAt author { id username }",  # the load generator's
        "author { username } seq",
        "__typename",
    ]
    for selection in selections:
        document, node = harness.root(selection)
        compiled = compile_message(harness.schema, node)
        assert compiled is not None, selection
        for record in records:
            assert await harness.compiled(compiled, record) == await harness.executed(
                document, record
            ), (selection, record)


async def test_what_needs_more_than_the_records_is_refused(harness: Harness) -> None:
    for selection in (
        "replyTo { id }",
        "replyCount",
        "reactions { emoji }",
        "chatRoom { id }",
        "id id",  # repeated: merged by the executor
        "renamed: id",
        "id @include(if: true)",
        "author { ... on User { id } }",
    ):
        _document, node = harness.root(selection)
        assert compile_message(harness.schema, node) is None, selection


async def test_a_missing_author_is_not_answered(harness: Harness) -> None:
    records = await messages_of_every_kind(harness)
    _document, node = harness.root("id author { id }")
    compiled = compile_message(harness.schema, node)
    assert compiled is not None and compiled.needs_author
    with pytest.raises(NotCompiled):
        compiled.data(Message.from_record(records[0]), None)


async def test_compiled_roots_answer_like_the_executor(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatql.fast_path.projection import CompiledRoot
    from chatql.schema import ChatSchema

    runs: list[str] = []
    original = CompiledRoot.run

    async def counted(self: CompiledRoot, *args: Any) -> Any:
        runs.append(self.node.name.value)
        return await original(self, *args)

    monkeypatch.setattr(CompiledRoot, "run", counted)
    records = await messages_of_every_kind(harness)
    room = records[0].room_id
    bob = (
        await harness.gql(
            'mutation { register(username: "bob", password: "correct horse") { accessToken } }',
            {},
        )
    )["register"]["accessToken"]
    alice = (
        await harness.gql(
            'mutation { login(username: "alice", password: "correct horse") { accessToken } }',
            {},
        )
    )["login"]["accessToken"]
    send = (
        "mutation($i: CreateMessageInput!) { createMessage(input: $i) "
        "{ __typename id content messageType seq cursor isEdited author { username } } }"
    )
    get = f"query($id: ID!) {{ getMessage(id: $id) {{ {EVERY_FIELD} }} }}"
    edit = "mutation($i: UpdateMessageInput!) { updateMessage(input: $i) { id content } }"
    literal = (  # the arguments read by a plan (chatql/fast_path/argument_plans.py)
        "mutation($r: ID!, $t: String) { createMessage(input: {chatRoomId: $r, content: $t}) "
        "{ id content } }"
    )
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        (get, {"id": records[0].id}, alice),
        (get, {"id": records[2].id}, alice),  # deleted: a tombstone
        (get, {"id": "0" * 32}, alice),  # unknown: null
        (get, {"id": "nope"}, alice),  # BAD_USER_INPUT
        (get, {"id": records[0].id}, bob),  # not a member
        (get, {"id": records[0].id}, None),  # UNAUTHENTICATED
        (get, {}, alice),  # a missing variable
        (send, {"i": {"chatRoomId": "0" * 32, "content": "x"}}, alice),  # NOT_FOUND
        (send, {"i": {"chatRoomId": room, "content": ""}}, alice),  # BAD_USER_INPUT
        (send, {"i": {"chatRoomId": room, "content": "x"}}, bob),  # FORBIDDEN
        (send, {"i": {"chatRoomId": room, "content": "x", "messageType": "NOPE"}}, alice),
        (edit, {"i": {"id": records[0].id, "content": "y"}}, bob),
        (literal, {"r": "0" * 32, "t": "x"}, alice),  # NOT_FOUND
        (literal, {"r": room, "t": ""}, alice),  # BAD_USER_INPUT
        (literal, {"r": room, "t": "x"}, bob),  # FORBIDDEN
        (literal, {"r": room, "t": None}, alice),  # null for String!: graphql-core's error
        (literal, {"r": room}, alice),  # not given: the same error
    ]

    async def answer(query: str, variables: dict[str, Any], token: str | None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        body = {"query": query, "variables": variables}
        response = await harness.http.post("/graphql", json=body, headers=headers)
        return response.status_code, response.json()

    for query, variables, token in cases:
        await answer(query, variables, token)  # prepares the document
        compiled = await answer(query, variables, token)
        monkeypatch.setattr(ChatSchema, "compile_roots", False)
        executed = await answer(query, variables, token)
        monkeypatch.setattr(ChatSchema, "compile_roots", True)
        assert compiled == executed, (query, variables)

    # a successful send: the same answer but for what makes each message new
    fresh = ("id", "seq", "cursor")
    variables = {"i": {"chatRoomId": room, "content": "hé", "clientId": None}}
    await answer(send, variables, alice)
    compiled = (await answer(send, variables, alice))[1]["data"]["createMessage"]
    monkeypatch.setattr(ChatSchema, "compile_roots", False)
    executed = (await answer(send, variables, alice))[1]["data"]["createMessage"]
    assert {k: v for k, v in compiled.items() if k not in fresh} == {
        k: v for k, v in executed.items() if k not in fresh
    }
    assert executed["seq"] == compiled["seq"] + 1
    assert compiled["author"] == {"username": "alice"}
    assert {"getMessage", "createMessage", "updateMessage"} <= set(runs)


def test_compiled_roots_coerce_variables_as_graphql_core_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given and valid, the variables are coerced with the signatures read once; missing,
    invalid or too deep, graphql-core's own path answers: the same values or errors."""
    from graphql.execution.values import get_variable_values

    from chatql.fast_path import projection
    from chatql.fast_path.projection import compile_root

    fallbacks: list[Any] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        fallbacks.append(args[2])
        return get_variable_values(*args, **kwargs)

    monkeypatch.setattr(projection, "get_variable_values", counted)
    from chatql.schema import build_schema

    schema = build_schema()
    document = parse(
        "mutation($i: CreateMessageInput!, $n: String, $d: Int = 3) "
        "{ createMessage(input: $i) { id } }"
    )
    compiled = compile_root(schema, document, None)
    assert compiled is not None and compiled.signatures is not None
    given = {"chatRoomId": "r" * 32, "content": "hi", "clientId": None}
    deep: Any = "x"
    for _ in range(600):
        deep = [deep]
    cases: list[dict[str, Any] | None] = [
        {"i": given, "n": "a", "d": 4},
        {"i": given, "n": None, "d": None},
        {"i": {**given, "attachmentIds": ["a", "b"]}, "n": "a", "d": 4, "extra": 1},
        {"i": given, "n": "a"},  # $d's default
        {"i": given},
        {"i": {"content": "no room"}, "n": "a", "d": 4},
        {"i": given, "n": 5, "d": 4},
        {"i": given, "n": "a", "d": "four"},
        {"i": None, "n": "a", "d": 4},
        {"i": {**given, "attachmentIds": deep}, "n": "a", "d": 1},  # a list in a list: invalid
        {},
        None,
    ]
    variable_definitions = compiled.operation.variable_definitions
    for raw in cases:
        ours = compiled.variables(schema._schema, raw)
        theirs = get_variable_values(schema._schema, variable_definitions, raw or {}, max_errors=50)
        if isinstance(theirs, list):
            assert isinstance(ours, list), raw
            assert [e.formatted for e in ours] == [e.formatted for e in theirs], raw
        else:
            assert not isinstance(ours, list), raw
            assert ours.coerced == theirs.coerced, raw
            assert _sources(ours.sources) == _sources(theirs.sources), raw
    assert len(fallbacks) == len(cases) - 3  # the first three never needed graphql-core's path


def _sources(sources: dict[str, Any]) -> dict[str, Any]:
    """Variable sources compared by value (each signature has wrappers of its own)."""
    return {
        name: (s.signature.name, str(s.signature.type), s.signature.default, s.value)
        for name, s in sources.items()
    }
