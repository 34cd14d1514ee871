"""What Strawberry and graphql-core execute with, made to cost less per operation.

Both are per-operation costs that only show at chat volume: a name conversion Strawberry
repeats for every argument of every call, and a reference cycle graphql-core builds into every
executor, which hands each operation's whole object graph (context, request, variables,
results: about 85 objects per sent message) to the garbage collector instead of freeing it
when the operation ends. Under load that made the young-generation collections of the event
loop's thread take tens of milliseconds each, several times a second.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


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
