"""The GraphQL schema, assembled from the types and the thin resolvers.

`schema.graphql` at the repository root is this schema printed; a test keeps them equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql import execute as graphql_execute
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe

from chatql.context import ChatContext
from chatql.fast_path.execution import AcyclicExecutionContext, RememberingNameConverter
from chatql.fast_path.projection import CompiledRoot, compile_root
from chatql.security.errors import ErrorCodes, ProductionErrorCodes, is_unexpected
from chatql.security.validation_memo import Prepared, prepared_documents
from chatql.types.message import cached_author
from chatql.types.scalars import DateTime
from chatql.value_class import value_class
from resolvers import mutations, queries, subscriptions
from resolvers import streams as stream_resolvers


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
    list_notifications = strawberry.field(
        resolver=queries.list_notifications, description="The viewer's notifications, newest first"
    )
    sign_in_options = strawberry.field(
        resolver=queries.sign_in_options,
        description="Providers, email, guest access and terms: what sign-in pages offer",
    )
    get_user_presence = strawberry.field(
        resolver=queries.get_user_presence,
        description="A user's presence; null unless the viewer shares a room with them",
    )
    get_stream = strawberry.field(resolver=stream_resolvers.get_stream)
    streams = strawberry.field(
        resolver=stream_resolvers.streams,
        description="Streams newest first; `search` matches title and description. Cancelled "
        "ones only with status: CANCELLED or creatorId",
    )
    stream_categories = strawberry.field(
        resolver=stream_resolvers.stream_categories, description="Categories by number of streams"
    )
    stream_analytics = strawberry.field(
        resolver=stream_resolvers.stream_analytics, description="The stream's creator only"
    )


@strawberry.type
class Mutation:
    register = strawberry.mutation(
        resolver=mutations.register,
        description="With CHATQL_TERMS_VERSION set, acceptTerms must be true; an email gets a "
        "verification mail",
    )
    request_email_verification = strawberry.mutation(
        resolver=mutations.request_email_verification,
        description="Mail a new verification link to your address",
    )
    verify_email = strawberry.mutation(
        resolver=mutations.verify_email,
        description="The token from a verification mail's link; works once",
    )
    request_password_reset = strawberry.mutation(
        resolver=mutations.request_password_reset,
        description="Always true, whether or not the address has an account",
    )
    reset_password = strawberry.mutation(
        resolver=mutations.reset_password,
        description="The token from a reset mail's link; ends every other session",
    )
    start_guest_session = strawberry.mutation(
        resolver=mutations.start_guest_session,
        description="A read-only guest (role GUEST) for public rooms; expires",
    )
    exchange_login_code = strawberry.mutation(
        resolver=mutations.exchange_login_code,
        description="Finish a social sign-in with the code the callback gave the app",
    )
    delete_account = strawberry.mutation(
        resolver=mutations.delete_account,
        description="Re-authenticates, ends every session and removes personal data",
    )
    accept_terms = strawberry.mutation(
        resolver=mutations.accept_terms,
        description="Accept the current terms of service (signInOptions.termsVersion)",
    )
    login = strawberry.mutation(resolver=mutations.login)
    refresh_token = strawberry.mutation(
        resolver=mutations.refresh_token,
        description="Exchange a refresh token for new tokens; the old one stops working",
    )
    logout = strawberry.mutation(
        resolver=mutations.logout,
        description="Revoke this session, or every session of the user with allDevices",
    )
    change_password = strawberry.mutation(
        resolver=mutations.change_password,
        description="Ends every other session (tokens and open sockets); returns new tokens",
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
    stop_assistant_reply = strawberry.mutation(
        resolver=mutations.stop_assistant_reply,
        description="End an assistant's reply now (isStreaming becomes false): the person who "
        "asked, or a room admin",
    )
    create_upload = strawberry.mutation(
        resolver=mutations.create_upload,
        description="Start an upload: send the bytes as the ticket says, then completeUpload",
    )
    complete_upload = strawberry.mutation(
        resolver=mutations.complete_upload,
        description="Check an upload's bytes (size, type, images) and make it attachable",
    )
    update_message = strawberry.mutation(
        resolver=mutations.update_message, description="Edit your own message"
    )
    delete_message = strawberry.mutation(
        resolver=mutations.delete_message,
        description="Soft-delete: the author, room owner/admins or a moderator; a tombstone stays",
    )
    create_reaction = strawberry.mutation(
        resolver=mutations.create_reaction, description="Idempotent per (user, message, emoji)"
    )
    delete_reaction = strawberry.mutation(resolver=mutations.delete_reaction)
    start_typing = strawberry.mutation(
        resolver=mutations.start_typing, description="Refresh at least every 8 s while typing"
    )
    stop_typing = strawberry.mutation(resolver=mutations.stop_typing)
    update_presence = strawberry.mutation(resolver=mutations.update_presence)
    mark_notification_as_read = strawberry.mutation(resolver=mutations.mark_notification_as_read)
    mark_all_notifications_as_read = strawberry.mutation(
        resolver=mutations.mark_all_notifications_as_read,
        description="Returns how many were marked",
    )
    delete_notification = strawberry.mutation(resolver=mutations.delete_notification)
    set_room_muted = strawberry.mutation(
        resolver=mutations.set_room_muted,
        description="Mute MESSAGE notifications of a room for yourself (mentions still notify)",
    )
    mark_room_read = strawberry.mutation(
        resolver=mutations.mark_room_read,
        description="Move your read marker to the message of `cursor` (never backwards)",
    )
    set_user_role = strawberry.mutation(resolver=mutations.set_user_role, description="Admins only")
    update_chat_room = strawberry.mutation(
        resolver=mutations.update_chat_room, description="The room owner or an admin"
    )
    delete_chat_room = strawberry.mutation(
        resolver=mutations.delete_chat_room, description="The room owner or an admin"
    )
    set_room_member_role = strawberry.mutation(
        resolver=mutations.set_room_member_role, description="The owner appoints room admins"
    )
    remove_room_member = strawberry.mutation(
        resolver=mutations.remove_room_member,
        description="Room owner/admins or a moderator, over members of lower rank",
    )
    ban_from_room = strawberry.mutation(
        resolver=mutations.ban_from_room,
        description="Remove and keep out until `until` (forever without it)",
    )
    unban_from_room = strawberry.mutation(resolver=mutations.unban_from_room)
    mute_in_room = strawberry.mutation(
        resolver=mutations.mute_in_room,
        description="Stop a member sending until `until` (forever without it)",
    )
    unmute_in_room = strawberry.mutation(resolver=mutations.unmute_in_room)
    create_stream = strawberry.mutation(
        resolver=stream_resolvers.create_stream,
        description="A SCHEDULED stream with its chat room; it goes LIVE when you publish",
    )
    update_stream = strawberry.mutation(resolver=stream_resolvers.update_stream)
    cancel_stream = strawberry.mutation(
        resolver=stream_resolvers.cancel_stream, description="A scheduled stream only"
    )
    end_stream = strawberry.mutation(
        resolver=stream_resolvers.end_stream,
        description="Cut the publisher off and end a live stream",
    )
    stream_key = strawberry.mutation(
        resolver=stream_resolvers.stream_key,
        description="The creator only: reveal the key to publish with",
    )
    regenerate_stream_key = strawberry.mutation(
        resolver=stream_resolvers.regenerate_stream_key,
        description="Old keys stop working at once (a live publisher using one is cut off)",
    )
    delete_stream_recording = strawberry.mutation(
        resolver=stream_resolvers.delete_stream_recording,
        description="Remove an ended stream's replay for good",
    )
    follow_user = strawberry.mutation(
        resolver=stream_resolvers.follow_user, description="Hear (STREAM_LIVE) when they go live"
    )
    unfollow_user = strawberry.mutation(resolver=stream_resolvers.unfollow_user)
    rate_stream = strawberry.mutation(
        resolver=stream_resolvers.rate_stream,
        description="1-5 once the stream has ended; rating again replaces your rating",
    )


@strawberry.type
class Subscription:
    on_message_created = strawberry.subscription(
        resolver=subscriptions.on_message_created,
        description="New messages of a room; with `after`, first those after that cursor",
    )
    on_message_updated = strawberry.subscription(resolver=subscriptions.on_message_updated)
    on_message_deleted = strawberry.subscription(resolver=subscriptions.on_message_deleted)
    on_reaction_added = strawberry.subscription(resolver=subscriptions.on_reaction_added)
    on_reaction_removed = strawberry.subscription(resolver=subscriptions.on_reaction_removed)
    on_typing_started = strawberry.subscription(resolver=subscriptions.on_typing_started)
    on_typing_ended = strawberry.subscription(
        resolver=subscriptions.on_typing_ended,
        description="On stopTyping, on sending a message, or 8 s after the last startTyping",
    )
    on_user_presence_changed = strawberry.subscription(
        resolver=subscriptions.on_user_presence_changed,
        description="Presence of users who share a room with you",
    )
    on_notification_received = strawberry.subscription(
        resolver=subscriptions.on_notification_received, description="Your own notifications"
    )
    on_room_joined = strawberry.subscription(resolver=subscriptions.on_room_joined)
    on_room_left = strawberry.subscription(resolver=subscriptions.on_room_left)
    on_my_rooms_changed = strawberry.subscription(
        resolver=subscriptions.on_my_rooms_changed,
        description="Rooms you were added to, removed from, or that were deleted",
    )
    watch_stream = strawberry.subscription(
        resolver=stream_resolvers.watch_stream,
        description="Status, details and viewer-count changes; while open you count as a viewer",
    )


@value_class
class _Call:
    """One execution's inputs, as `ChatSchema.execute` received them."""

    variables: dict[str, Any] | None
    context: Any
    root: Any
    operation_name: str | None
    extensions: dict[str, Any] | None


class ChatSchema(strawberry.Schema):
    """Logs only unexpected errors; expected ones (ChatError, bad queries) are not news.

    `execute` (single results, i.e. plain HTTP) never runs a subscription: those need a
    WebSocket, and an HTTP client asking for one gets a 400 that says so.

    A document that already validated cleanly (see `validation_memo`) runs directly on
    graphql-core: the same executor, context and error classification as Strawberry's pipeline,
    without parsing, validating and running every extension hook again. That pipeline costs more
    than the chat operation itself. Extensions with per-operation behaviour beyond validation
    and error codes would need it, so the shortcut is off when one wraps resolvers. An
    operation of one root field returning a Message (sending, editing, deleting, reading one)
    goes further: its resolver runs and the answer is projected (`projection.CompiledRoot`).
    """

    compile_roots = True  # tests turn it off to compare with the executor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        extensions = self.get_extensions()
        self._error_codes = next(
            (type(e) for e in extensions if isinstance(e, ErrorCodes)), ErrorCodes
        )
        self._direct = not any(e._implements_resolve() for e in extensions)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        allowed = set(allowed_operation_types or (OperationType.QUERY, OperationType.MUTATION))
        allowed.discard(OperationType.SUBSCRIPTION)
        if self._direct:
            memo = prepared_documents(self)
            found = memo.lookup(
                query, operation_name, variable_values, getattr(context_value, "document", None)
            )
            prepared = found.prepared if found is not None else None
            if found is not None and isinstance(context_value, ChatContext):
                context_value.found_document(found)
            if prepared is not None and not prepared.errors and prepared.operation_type in allowed:
                call = _Call(
                    variable_values, context_value, root_value, operation_name, operation_extensions
                )
                return await self._execute_prepared(prepared, call)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    async def _execute_prepared(self, prepared: Prepared, call: _Call) -> ExecutionResult:
        if prepared.compiled is None:
            found = compile_root(self, prepared.document, call.operation_name)
            prepared.compiled = found or False
        if self.compile_roots and isinstance(prepared.compiled, CompiledRoot):
            return await self._execute_compiled(prepared, prepared.compiled, call)
        try:
            result = await await_maybe(
                graphql_execute(
                    self._schema,
                    prepared.document,
                    root_value=call.root,
                    context_value=call.context,
                    variable_values=call.variables,
                    operation_name=call.operation_name,
                    is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                    executor_class=self.execution_context_class,
                    **self._get_custom_context_kwargs(call.extensions),
                )
            )
        except Exception as exc:  # as Strawberry's pipeline: the error, not a crash
            error = (
                exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            )
            return self._result(None, [error])
        return self._result(result.data, result.errors)

    async def _execute_compiled(
        self, prepared: Prepared, root: CompiledRoot, call: _Call
    ) -> ExecutionResult:
        variables = root.variables(self._schema, call.variables)
        if isinstance(variables, list):  # variables that do not fit: reported as the executor does
            return self._result(None, variables)
        data, errors = await root.run(
            self._schema,
            variables,
            call.root,
            call.context,
            call.extensions,
            partial(cached_author, call.context.services),
        )
        return self._result(data, errors)

    def _result(self, data: Any, errors: list[GraphQLError] | None) -> ExecutionResult:
        """Errors logged (unexpected ones) and classified, as Strawberry's pipeline does."""
        if errors:
            self.process_errors(errors)
            errors = self._error_codes.present(errors)
        return ExecutionResult(data=data, errors=errors or None)

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            if is_unexpected(error):
                super().process_errors([error], execution_context)


def build_schema(
    extensions: list[type[SchemaExtension]] | None = None,
    *,
    production: bool = False,
    federation: bool = False,
) -> ChatSchema:
    """`production` hides field suggestions from error messages; `federation` serves the schema
    as an Apollo Federation subgraph (see `chatql.federation`)."""
    schema_class: type[ChatSchema] = ChatSchema
    query: type = Query
    if federation:
        from chatql.federation import SubgraphQuery, SubgraphSchema  # it builds on this module

        schema_class, query = SubgraphSchema, SubgraphQuery
    return schema_class(
        query=query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*(extensions or []), ProductionErrorCodes if production else ErrorCodes],
        config=StrawberryConfig(
            scalar_map={datetime: DateTime}, name_converter=RememberingNameConverter()
        ),
        execution_context_class=AcyclicExecutionContext,
    )


schema = build_schema()
