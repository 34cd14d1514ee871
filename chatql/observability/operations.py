"""GraphQL operations observed: counted by type, name and outcome, errors by code, a span each.

Plain HTTP operations are observed around `ChatGraphQL.execute_single`, because ChatQL's fast
paths (a memoised document run straight on graphql-core, a cached history answer) skip
Strawberry's extension hooks. WebSocket operations go through Strawberry's pipeline, so a
schema extension (`observing_extension`) observes them, and counts open subscriptions by field.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, get_operation_ast
from opentelemetry import context as otel_context
from opentelemetry import trace
from strawberry.extensions import SchemaExtension

from chatql.observability.live_stats import LiveStats
from chatql.observability.logs import RequestInfo, current_request, request_id_from
from chatql.observability.metrics import Metrics
from chatql.security.errors import classify
from chatql.security.validation_memo import Lookup, prepared_documents


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    code = (classify(error).extensions or {}).get("code")
    return code if isinstance(code, str) else "INTERNAL_SERVER_ERROR"


class ObservedOperation:
    """One operation being observed; `finish` records it."""

    __slots__ = ("_detach", "_observer", "_request_span", "_span", "_started")

    def __init__(self, observer: OperationObserver, *, websocket: bool) -> None:
        self._observer = observer
        self._started = time.perf_counter()
        self._request_span: trace.Span | None = None
        self._span: trace.Span | None = None
        self._detach: object = None
        tracer = observer.tracer
        if tracer is not None:
            parent = otel_context.get_current()
            if websocket:  # no HTTP request span above it: this operation is the request
                self._request_span = tracer.start_span(
                    "WS operation", context=parent, kind=trace.SpanKind.SERVER
                )
                parent = trace.set_span_in_context(self._request_span, parent)
            self._span = tracer.start_span("graphql.operation", context=parent)
            self._detach = otel_context.attach(trace.set_span_in_context(self._span, parent))

    def finish(
        self,
        kind: str,
        name: str | None,
        errors: Sequence[GraphQLError] | None,
        user_id: str | None,
    ) -> None:
        codes = [error_code(e) for e in errors or ()]
        seconds = time.perf_counter() - self._started
        metrics = self._observer.metrics
        if metrics is not None:
            metrics.operation(kind, name, codes, None if kind == "subscription" else seconds)
        info = current_request.get()
        if info is not None:
            info.operation = name or "anonymous"
            info.error_code = codes[0] if codes else None
            info.user_id = user_id or info.user_id
        for span in (self._span, self._request_span):
            if span is None:
                continue
            span.update_name(f"{kind} {name or 'anonymous'}")
            span.set_attribute("graphql.operation.type", kind)
            span.set_attribute("graphql.operation.name", name or "anonymous")
            if codes:
                span.set_attribute("graphql.error.codes", codes)
                span.set_status(trace.StatusCode.ERROR, codes[0])
            span.end()
        if self._detach is not None:
            otel_context.detach(self._detach)  # type: ignore[arg-type]
            self._detach = None


class OperationObserver:
    def __init__(self, metrics: Metrics | None, tracer: trace.Tracer | None, stats: LiveStats):
        self.metrics = metrics
        self.tracer = tracer
        self.stats = stats

    def start(self, *, websocket: bool = False) -> ObservedOperation:
        return ObservedOperation(self, websocket=websocket)

    @staticmethod
    def kind_and_name(
        schema: Any, query: Any, operation_name: Any, variables: Any, earlier: Lookup | None = None
    ) -> tuple[str, str | None]:
        """The type and name of a plain HTTP operation, from the validated-document memo (it is
        there once the operation ran, unless the document did not parse); `earlier`: the
        request's own lookup."""
        memo = prepared_documents(schema)
        found = memo.lookup(query, operation_name, variables, earlier)
        prepared = found.prepared if found is not None else None
        if prepared is None:
            return "unknown", operation_name if isinstance(operation_name, str) else None
        kind = prepared.operation_type.value if prepared.operation_type else "unknown"
        if isinstance(operation_name, str):
            return kind, operation_name
        operation = get_operation_ast(prepared.document, None)
        return kind, operation.name.value if operation and operation.name else None


def _root_field(operation: OperationDefinitionNode | None) -> str:
    if operation is not None:
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode):
                return selection.name.value
    return "unknown"


def observing_extension(observer: OperationObserver) -> type[SchemaExtension]:
    """A schema extension observing the operations of WebSockets (see the module's doc)."""

    class ObservedOperations(SchemaExtension):
        _field: str | None = None

        def on_operation(self) -> Iterator[None]:
            context = self.execution_context.context
            request = getattr(context, "request", None)
            if request is None or request.scope.get("type") != "websocket":
                yield  # plain HTTP: observed around execute_single
                return
            user = getattr(context, "user", None)
            user_id = getattr(user, "id", None)
            connection = current_request.get()
            request_id = connection.request_id if connection else request_id_from(None)
            current_request.set(RequestInfo(request_id, user_id))  # this operation's task
            observed = observer.start(websocket=True)
            try:
                yield
            finally:
                if self._field is not None:
                    observer.stats.subscription_ended(self._field)
                ec = self.execution_context
                operation = (
                    get_operation_ast(ec.graphql_document, ec.operation_name)
                    if ec.graphql_document is not None
                    else None
                )
                kind = operation.operation.value if operation is not None else "unknown"
                name = ec.operation_name
                errors = ec.result.errors if ec.result is not None else ec.pre_execution_errors
                observed.finish(kind, name, errors, user_id)

        def on_execute(self) -> Iterator[None]:
            ec = self.execution_context
            request = getattr(ec.context, "request", None)
            if (
                request is not None
                and request.scope.get("type") == "websocket"
                and ec.graphql_document is not None
            ):
                operation = get_operation_ast(ec.graphql_document, ec.operation_name)
                if operation is not None and operation.operation.value == "subscription":
                    self._field = _root_field(operation)
                    observer.stats.subscription_started(self._field)
            yield

    return ObservedOperations
