"""What Strawberry and graphql-core execute with, made to cost less per operation.

Both are per-operation costs that only show at chat volume: a name conversion Strawberry
repeats for every argument of every call, and a reference cycle graphql-core builds into every
executor, which hands each operation's whole object graph (context, request, variables,
results: about 85 objects per sent message) to the garbage collector instead of freeing it
when the operation ends. Under load that made the young-generation collections of the event
loop's thread take tens of milliseconds each, several times a second.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from inspect import isawaitable
from typing import Any, cast

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.execution.values import VariableValues
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import (
    StrawberryGraphQLCoreExecutionContext,
    _OperationContextAwareGraphQLResolveInfo,
)


class RememberingNameConverter(NameConverter):
    """Strawberry converts every argument's and input field's Python name to its GraphQL name
    on every call (to_camel_case); the names never change, so each is converted once."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


def _weakly(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`method` called through a weak reference to its object."""
    ref = weakref.WeakMethod(method)

    def call(values: Any) -> Any:
        bound = ref()
        if bound is None:  # the operation has ended: nothing is left to gather or track
            raise RuntimeError("the operation this work belonged to has ended")
        return bound(values)

    return call


class AcyclicExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor keeps its own bound methods (`async_helpers`, what resolvers
    reach as `info.async_helpers`): executor -> helpers -> executor. Here the helpers reach
    it weakly, so an operation is freed by reference counting the moment it ends.
    (`build_per_event_executor` copies the executor it is called on, helpers included: a
    subscription's per-event copies point at the subscription's executor, which lives as long
    as the subscription does.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=_weakly(self.gather_async_work), track=_weakly(self.track_async_work)
        )


# ------------------------------------------------------------- one field without an executor
_settling: set[asyncio.Future[Any]] = set()


def _gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
    return gather_with_cancel(*values)


def _track(values: Sequence[Any]) -> None:
    """As the executor's `track_async_work`: awaitables settle in the background, their
    errors observed, instead of being abandoned."""
    awaitables = [value for value in values if isawaitable(value)]
    if awaitables:
        future = asyncio.gather(*awaitables, return_exceptions=True)
        _settling.add(future)
        future.add_done_callback(_settling.discard)


OPERATION_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_track)


def field_info(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    variables: VariableValues,
    root_value: Any,
    context: Any,
    extensions: dict[str, Any] | None,
    field: GraphQLField,
    node: FieldNode,
    parent: GraphQLObjectType,
    path: Path,
) -> GraphQLResolveInfo[Any]:
    """The resolve info Strawberry's execution context would build for `field`, for an
    operation of that one field (no fragments) run without building an executor: building
    one costs more than a chat mutation's own work."""
    return _OperationContextAwareGraphQLResolveInfo(  # type: ignore[return-value]
        node.name.value,
        [node],
        field.type,
        parent,
        path,
        schema,
        {},
        root_value,
        operation,
        variables.coerced,
        context,
        optimized_is_awaitable,
        None,
        OPERATION_HELPERS,
        cast(dict[str, Any], extensions),  # None when the request had none, as in Strawberry
    )
