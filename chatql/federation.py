"""ChatQL as an Apollo Federation 2 subgraph (`CHATQL_FEDERATION`), on Strawberry's federation.

`User`, `ChatRoom` and `Message` are entities keyed by `id`; `Query` gains `_service { sdl }`
and `_entities` (see `resolvers.entities`). Everything else is the ordinary schema, behind the
same extensions: limits, masking and authorisation do not know which kind of client asked.

The `@key`s belong to the subgraph alone. The types are shared with the plain schema, whose SDL
(`schema.graphql`) must not change, so the keys are attached to them only while the subgraph
schema is built and its SDL printed, and `_service` answers that SDL, printed once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import strawberry
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.printer import print_schema
from strawberry.types.base import get_object_definition

from chatql.schema import ChatSchema, Query
from chatql.types.message import Message
from chatql.types.room import ChatRoom
from chatql.types.user import User
from resolvers import Info
from resolvers.entities import Entity, resolve_entities

ENTITIES = (User, ChatRoom, Message)
# The oldest version with everything the SDL uses (@link, @key): any Federation 2 gateway
# or router composes it.
FEDERATION_VERSION = "2.3"


@contextmanager
def keyed_entities() -> Iterator[None]:
    """`@key(fields: "id")` on the entity types for as long as the block runs."""
    definitions = [get_object_definition(t, strict=True) for t in ENTITIES]
    saved = [d.directives for d in definitions]
    for definition in definitions:
        definition.directives = [*(definition.directives or ()), Key(fields=FieldSet("id"))]
    try:
        yield
    finally:
        for definition, directives in zip(definitions, saved, strict=True):
            definition.directives = directives


@strawberry.type(name="_Service")
class SubgraphService:
    sdl: str = strawberry.field(
        description="This subgraph's schema with its Federation directives (@link, @key)"
    )


def subgraph_service(info: Info) -> SubgraphService:
    schema: SubgraphSchema = info.schema  # type: ignore[assignment]
    return SubgraphService(sdl=schema.subgraph_sdl)


@strawberry.type(name="Query")
class SubgraphQuery(Query):
    service = strawberry.field(
        name="_service",
        resolver=subgraph_service,
        description="For gateways and composition: public, even where introspection is off",
    )


class SubgraphSchema(ChatSchema, strawberry.federation.Schema):
    """The chat schema as a subgraph: `_entities` answers with the viewer's rights."""

    def __init__(self, **kwargs: Any) -> None:
        with keyed_entities():
            super().__init__(federation_version=FEDERATION_VERSION, **kwargs)
            self.subgraph_sdl = print_schema(self)

    async def entities_resolver(  # type: ignore[override]
        self, info: Info, representations: list[FederationAny]
    ) -> list[Entity | Exception]:
        """Each entity, or in its place the error that says why not (the entity is null)."""
        return list(await resolve_entities(info, representations))
