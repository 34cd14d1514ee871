"""GraphQL over HTTP straight from the ASGI scope, for the requests that need no framework.

Nearly every request a chat client sends is a POST of a small JSON object whose document the
server has already parsed and validated (see `validation_memo`). For those, Starlette's routing
and middleware and Strawberry's request handling cost more than the operation itself.
`DirectPost` answers them itself: the same context, the same execution
(`ChatGraphQL.execute_single`, shared history answers included), the same body and headers.

Everything else goes the ordinary way, with the body replayed: another path or method, a
browser `Origin` (CORS), a request for an event stream (GraphQL over SSE), a body over the
size limit or without a length, anything but a plain JSON object, a document not yet
validated, and a document that may not run (an unknown hash, one not among the trusted
documents): the ordinary path refuses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http import GraphQLRequestData, process_result
from strawberry.types.graphql import OperationType

from chatql.auth import bearer_token
from chatql.context import ChatContext
from chatql.json_response import JSON, send_body
from chatql.persisted_documents import DocumentRefused
from chatql.security.validation_memo import Lookup, prepared_documents
from chatql.value_class import value_class

if TYPE_CHECKING:
    from chatql.graphql_view import ChatGraphQL

DIRECT_TYPES = frozenset({OperationType.QUERY, OperationType.MUTATION})
GRAPHQL_RESPONSE = "application/graphql-response+json"
EVENT_STREAM = b"text/event-stream"


def graphql_response_status(data: Any) -> int:
    """For clients that accept application/graphql-response+json: a request error (the
    operation never ran: no `data`, no error with a `path`) is a 400, and `data` is dropped."""
    errors = data.get("errors")
    if data.get("data") is None and errors and all("path" not in e for e in errors):
        data.pop("data", None)
        return 400
    return 200


@value_class
class DirectRequest:
    """A POST's operation and the validated document found for it."""

    data: GraphQLRequestData
    document: Lookup


class _PostAdapter:
    """What `execute_single` reads of the request adapter."""

    method = "POST"


@value_class
class PostHead:
    """What a POST that may be answered directly says in its headers."""

    length: int
    authorization: bytes | None
    api_key: bytes | None
    media_type: str


class DirectPost:
    """Wraps the application; takes the plain, known POSTs to `path` and passes on the rest.

    The server's HTTP protocol (`chatql.fast_path.http_protocol`) uses the same checks and answers
    (`head`, `parse`, `answer`) for such POSTs without the ASGI request cycle."""

    def __init__(self, app: ASGIApp, view: ChatGraphQL, path: str = "/graphql") -> None:
        self._app = app
        self._view = view
        self.path = path
        settings = view.services.settings
        self._max_body = settings.max_body_bytes
        self._check_origin = bool(settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self._app(scope, receive, send)
            return
        head = self.head(scope["headers"])
        if head is None:
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # gone before the body arrived
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > head.length or not message.get("more_body", False):
                break
        body = b"".join(chunks)
        request = self.parse(body) if size == head.length else None
        if request is None:
            await self._app(scope, _replay(body, receive), send)
            return
        status, answer, media_type = await self.answer(scope, receive, head, request)
        await send_body(send, status, answer, media_type)

    def head(self, headers: Iterable[tuple[bytes, bytes]]) -> PostHead | None:
        """What the headers of a POST to `path` say, or None when the ordinary path answers:
        a browser `Origin` (CORS), a request for an event stream (GraphQL over SSE), a body
        that is not JSON, has no length or is over the size limit."""
        length = -1
        authorization = None
        api_key = None
        plain_json = False
        media_type = JSON
        for name, value in headers:
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"content-type":
                plain_json = value.split(b";", 1)[0].strip().lower() == b"application/json"
            elif name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"x-api-key" and api_key is None:
                api_key = value
            elif name == b"accept":
                if EVENT_STREAM in value.lower():
                    return None  # GraphQL over SSE answers it (chatql.protocols.sse)
                if media_type is JSON and GRAPHQL_RESPONSE.encode() in value:
                    media_type = GRAPHQL_RESPONSE
            elif name == b"origin" and self._check_origin:
                return None  # CORS answers it
        if not plain_json or length < 0 or (self._max_body and length > self._max_body):
            return None
        return PostHead(length, authorization, api_key, media_type)

    def parse(self, body: bytes) -> DirectRequest | None:
        """The request when it is a plain JSON object with a known, valid document."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        query = data.get("query")
        variables = data.get("variables")
        operation_name = data.get("operationName")
        extensions = data.get("extensions")
        if not isinstance(variables, (dict, type(None))) or not isinstance(
            extensions, (dict, type(None))
        ):
            return None
        try:  # a document named by hash, and trusted documents: as on the ordinary path
            query = self._view.documents.resolve(query, extensions, data.get("documentId"))
        except DocumentRefused:
            return None  # the ordinary path answers the refusal
        memo = prepared_documents(self._view.schema)
        found = memo.lookup(query, operation_name, variables)
        if found is None:
            return None
        prepared = found.prepared
        if prepared.errors or prepared.operation_type not in DIRECT_TYPES:
            return None
        return DirectRequest(
            GraphQLRequestData(query, variables, operation_name, extensions), found
        )

    async def answer(
        self, scope: Scope, receive: Receive, head: PostHead, request: DirectRequest
    ) -> tuple[int, bytes, str]:
        """(status, body, media type) of the operation, run as `ChatGraphQL` runs it."""
        view = self._view
        starlette_request = Request(scope, receive)
        authorization = head.authorization
        context = ChatContext(
            services=view.services,
            request=starlette_request,
            response=None,
            access_token=bearer_token(authorization.decode("latin-1")) if authorization else None,
            api_key=head.api_key.decode("latin-1") if head.api_key is not None else None,
            document=request.document,
        )
        try:
            result = await view.execute_single(
                starlette_request, _PostAdapter(), None, context, None, request.data
            )
        except HTTPException as exc:  # as ChatGraphQL answers them
            return exc.status_code, orjson.dumps(view.http_error(exc)), JSON
        data = process_result(result)
        media_type = head.media_type
        status = graphql_response_status(data) if media_type is GRAPHQL_RESPONSE else 200
        return status, orjson.dumps(data), media_type


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """`receive` that first hands out the body already read."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
