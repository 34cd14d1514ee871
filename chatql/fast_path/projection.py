"""Compiled answers for shared subscription events: the selection read straight off the records.

A shared `onMessageCreated` group executes each event once for all its members (see `fanout`).
For the plain selections chat clients send (a message's own fields and its author's),
graphql-core's executor costs more than everything else done per event. `compile_message`
turns such a selection, once per group, into a function from the event's message and author to
the response `data`: the values the Strawberry types themselves hold or compute, serialised by
the schema's own scalars and enums, keyed in selection order. What it does not take (a field
that loads more, such as `replyTo` or `replyCount`, or a repeated field) it refuses, and the
group executes as before; a test compares both answers field by field.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
    is_leaf_type,
    located_error,
)
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    get_variable_values,
    input_is_nested_too_deeply,
)
from graphql.pyutils import Path, Undefined
from graphql.utilities import coerce_input_value

from chatql.errors import NotFound
from chatql.fast_path.argument_plans import ArgumentPlan, plan_arguments
from chatql.fast_path.execution import field_info
from chatql.fast_path.resolver_calls import ResolverCall, plan_call

# Fields computed by a method that reads only the object itself (no info, no arguments).
PURE_METHODS: dict[str, frozenset[str]] = {
    "Message": frozenset({"cursor", "isEdited", "isDeleted"}),
    "User": frozenset({"isDeleted"}),
}
AUTHOR = ("Message", "author")
MAX_COERCION_ERRORS = 50  # graphql-core's executor's default


class NotCompiled(Exception):
    """This event cannot be answered by the projection (e.g. a required value is missing)."""


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    read: Callable[[Any], Any]  # the Strawberry object -> the raw value
    serialize: Callable[[Any], Any] | None  # leaf fields; None for the author object
    required: bool
    author: tuple[Step, ...] | None = None


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _obj: value


def _steps(
    strawberry_schema: Any, type_name: str, selection: SelectionSetNode, depth: int
) -> tuple[Step, ...] | None:
    graphql_type = strawberry_schema._schema.get_type(type_name)
    if not isinstance(graphql_type, GraphQLObjectType) or depth > 1:
        return None
    steps: list[Step] = []
    seen: set[str] = set()
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.alias or node.directives or node.arguments:
            return None
        name = node.name.value
        if name in seen:
            return None
        seen.add(name)
        if name == "__typename":
            steps.append(Step(name, _constant(type_name), None, True))
            continue
        definition = graphql_type.fields.get(name)
        field = strawberry_schema.get_field_for_type(name, type_name)
        if definition is None or field is None:
            return None
        required = isinstance(definition.type, GraphQLNonNull)
        leaf = definition.type.of_type if required else definition.type
        if (type_name, name) == AUTHOR:
            if node.selection_set is None:
                return None
            nested = _steps(strawberry_schema, "User", node.selection_set, depth + 1)
            if nested is None:
                return None
            steps.append(Step(name, _constant(None), None, required, nested))
            continue
        if not is_leaf_type(leaf) or node.selection_set is not None:
            return None
        resolver = field.base_resolver
        if resolver is None:
            read: Callable[[Any], Any] = operator.attrgetter(field.python_name)
        elif name in PURE_METHODS.get(type_name, ()) and not resolver.is_async:
            read = resolver.wrapped_func
        else:
            return None
        steps.append(Step(name, read, leaf.serialize, required))
    return tuple(steps)


def _project(steps: tuple[Step, ...], obj: Any, author: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for step in steps:
        if step.author is not None:
            if author is None:
                raise NotCompiled("author not found")
            data[step.key] = _project(step.author, author, None)
            continue
        value = step.read(obj)
        if value is None:
            if step.required:
                raise NotCompiled(f"{step.key} is null")
            data[step.key] = None
        else:
            data[step.key] = step.serialize(value) if step.serialize else value
    return data


AuthorOf = Callable[[Any], Awaitable[Any]]  # a Strawberry Message -> its author's User, or None


@dataclass(frozen=True, slots=True)
class CompiledMessage:
    """`data` of an `onMessageCreated` event for one selection of `Message`."""

    root_key: str
    steps: tuple[Step, ...]

    @property
    def needs_author(self) -> bool:
        return any(step.author is not None for step in self.steps)

    def data(self, message: Any, author: Any) -> dict[str, Any]:
        """`message`/`author`: the Strawberry `Message` and `User`; raises NotCompiled."""
        return {self.root_key: _project(self.steps, message, author)}

    async def answer(self, message: Any, author_of: AuthorOf) -> dict[str, Any]:
        """`data`, with the author looked up only when the selection reads it."""
        author = await author_of(message) if self.needs_author else None
        return self.data(message, author)


def compile_message(strawberry_schema: Any, root: FieldNode) -> CompiledMessage | None:
    """The projection of `root` (a root field returning a Message), or None if not plain."""
    if root.selection_set is None or root.alias:
        return None
    steps = _steps(strawberry_schema, "Message", root.selection_set, 0)
    return CompiledMessage(root.name.value, steps) if steps is not None else None


@dataclass(frozen=True, slots=True)
class CompiledRoot:
    """A query or mutation of one root field that returns a Message (`createMessage`,
    `getMessage`, ...), answered by calling the field's own resolver (variables and arguments
    coerced as graphql-core coerces them, by signatures and an argument plan made once where
    they cover the request, converted by `resolver_calls` when it can, errors located as the
    executor locates them) and projecting the Message. No executor is built: for one field,
    building it (contexts, incremental machinery) cost more than the mutation's own work."""

    operation: OperationDefinitionNode
    node: FieldNode
    field: GraphQLField
    parent: GraphQLObjectType
    required: bool
    message: CompiledMessage
    call: ResolverCall | None = None  # None: through Strawberry's resolver wrapper
    signatures: tuple[GraphQLVariableSignature, ...] | None = None  # the variables' types
    arguments: ArgumentPlan | None = None  # the field's arguments read from the variables

    def variables(
        self, schema: GraphQLSchema, raw: dict[str, Any] | None
    ) -> VariableValues | list[GraphQLError]:
        """The operation's variables coerced as the executor coerces them, or its errors.

        When every variable is given and valid, they are coerced here with the signatures
        read once from the document (graphql-core reads them again on every request); a
        missing variable (defaults), an invalid one (its errors) or one nested too deeply
        takes graphql-core's own path."""
        if self.signatures is not None and raw is not None:
            sources: dict[str, VariableValueSource] = {}
            coerced: dict[str, Any] = {}
            for signature in self.signatures:
                value = raw.get(signature.name, Undefined)
                if value is Undefined or input_is_nested_too_deeply(value, signature.type):
                    break
                converted = coerce_input_value(value, signature.type)
                if converted is Undefined:
                    break
                sources[signature.name] = VariableValueSource(signature, value)
                coerced[signature.name] = converted
            else:
                return VariableValues(sources, coerced)
        return get_variable_values(
            schema,
            self.operation.variable_definitions or (),
            raw or {},
            max_errors=MAX_COERCION_ERRORS,
        )

    async def run(
        self,
        schema: GraphQLSchema,
        variables: VariableValues,
        root_value: Any,
        context: Any,
        extensions: dict[str, Any] | None,
        author_of: AuthorOf,
    ) -> tuple[Any, list[GraphQLError]]:
        """(data, errors) for coerced `variables`."""
        key = self.message.root_key
        path = Path(None, key, self.parent.name)
        try:
            info = field_info(
                schema,
                self.operation,
                variables,
                root_value,
                context,
                extensions,
                self.field,
                self.node,
                self.parent,
                path,
            )
            arguments = self.arguments(variables) if self.arguments is not None else None
            if arguments is None:  # not planned, or a default or an error: graphql-core's path
                arguments = get_argument_values(self.field, self.node, variables)
            if self.call is not None:
                value = self.call(info, arguments)
            else:
                assert self.field.resolve is not None
                value = self.field.resolve(root_value, info, **arguments)
            if isawaitable(value):
                value = await value
        except Exception as exc:
            return self._failed(located_error(exc, [self.node], path.as_list()))
        if value is None:
            if not self.required:
                return {key: None}, []
            return self._failed(
                located_error(
                    GraphQLError(
                        f"Cannot return null for non-nullable field"
                        f" {self.parent.name}.{self.node.name.value}."
                    ),
                    [self.node],
                    path.as_list(),
                )
            )
        try:
            return await self.message.answer(value, author_of), []
        except NotCompiled:  # as the executor reports a missing author (never deleted, though)
            return self._failed(
                located_error(NotFound("User not found"), [self.node], [key, "author"])
            )

    def _failed(self, error: GraphQLError) -> tuple[Any, list[GraphQLError]]:
        return (None if self.required else {self.message.root_key: None}), [error]


def compile_root(
    strawberry_schema: Any, document: DocumentNode, operation_name: str | None
) -> CompiledRoot | None:
    """The compiled form of the operation, when it is one plain root field returning Message."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation == OperationType.SUBSCRIPTION:
        return None
    if any(isinstance(d, FragmentDefinitionNode) for d in document.definitions):
        return None  # run without an executor: its info carries no fragments
    if operation.directives or len(operation.selection_set.selections) != 1:
        return None
    node = operation.selection_set.selections[0]
    if not isinstance(node, FieldNode) or node.directives or node.name.value.startswith("__"):
        return None
    schema = strawberry_schema._schema
    parent = schema.get_root_type(operation.operation)
    field = parent.fields.get(node.name.value) if parent is not None else None
    if parent is None or field is None or field.resolve is None:
        return None
    required = isinstance(field.type, GraphQLNonNull)
    named = field.type.of_type if required else field.type
    if not isinstance(named, GraphQLObjectType) or named.name != "Message":
        return None
    if node.selection_set is None:
        return None
    steps = _steps(strawberry_schema, "Message", node.selection_set, 0)
    if steps is None:
        return None
    key = node.alias.value if node.alias else node.name.value
    call = plan_call(strawberry_schema, parent.name, node.name.value)
    definitions = operation.variable_definitions or ()
    signatures = tuple(
        signature
        for definition in definitions
        if isinstance(
            signature := get_variable_signature(schema, definition), GraphQLVariableSignature
        )
    )
    return CompiledRoot(
        operation,
        node,
        field,
        parent,
        required,
        CompiledMessage(key, steps),
        call,
        signatures if len(signatures) == len(definitions) else None,
        plan_arguments(field, node),
    )
