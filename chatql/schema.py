"""The GraphQL schema, assembled from the types and the thin resolvers.

`schema.graphql` at the repository root is this schema printed; a test keeps them equal.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from chatql.errors import ChatError
from chatql.security.errors import ErrorCodes
from chatql.types.scalars import DateTime
from resolvers import mutations, queries, subscriptions


@strawberry.type
class Query:
    me = strawberry.field(resolver=queries.me, description="The signed-in user")
    get_user = strawberry.field(resolver=queries.get_user)
    search_users = strawberry.field(
        resolver=queries.search_users,
        description="Users whose username or display name contains `term`",
    )
    get_chat_room = strawberry.field(
        resolver=queries.get_chat_room,
        description="A room the viewer may see: public, or private with the viewer a member",
    )
    list_chat_rooms = strawberry.field(
        resolver=queries.list_chat_rooms,
        description="Rooms the viewer belongs to, most recent activity first",
    )
    list_public_rooms = strawberry.field(resolver=queries.list_public_rooms)
    messages_by_room = strawberry.field(
        resolver=queries.messages_by_room,
        description="Message history, newest first by default; members only",
    )
    get_message = strawberry.field(resolver=queries.get_message)


@strawberry.type
class Mutation:
    register = strawberry.mutation(resolver=mutations.register)
    login = strawberry.mutation(resolver=mutations.login)
    refresh_token = strawberry.mutation(
        resolver=mutations.refresh_token,
        description="Exchange a refresh token for new tokens; the old one stops working",
    )
    logout = strawberry.mutation(
        resolver=mutations.logout,
        description="Revoke this session, or every session of the user with allDevices",
    )
    update_profile = strawberry.mutation(resolver=mutations.update_profile)
    create_chat_room = strawberry.mutation(resolver=mutations.create_chat_room)
    start_direct_chat = strawberry.mutation(
        resolver=mutations.start_direct_chat,
        description="The direct chat with a user, created the first time",
    )
    join_room = strawberry.mutation(resolver=mutations.join_room)
    leave_room = strawberry.mutation(resolver=mutations.leave_room)
    add_room_member = strawberry.mutation(resolver=mutations.add_room_member)
    create_message = strawberry.mutation(resolver=mutations.create_message)


@strawberry.type
class Subscription:
    on_message_created = strawberry.subscription(
        resolver=subscriptions.on_message_created,
        description="New messages of a room; with `after`, first those after that cursor",
    )


class ChatSchema(strawberry.Schema):
    """Logs only unexpected errors; expected ones (ChatError, bad queries) are not news."""

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            if error.original_error is not None and not isinstance(
                error.original_error, (ChatError, GraphQLError)
            ):
                super().process_errors([error], execution_context)


def build_schema(
    extensions: list[type[SchemaExtension]] | None = None,
) -> ChatSchema:
    return ChatSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*(extensions or []), ErrorCodes],
        config=StrawberryConfig(scalar_map={datetime: DateTime}),
    )


schema = build_schema()
