"""Parsed and validated documents remembered per (document, operation, variables).

Parsing and validating a document (with our limit rules) costs more than running a typical chat
operation, and clients send the same few documents over and over. GraphQL validation does not
look at variables, except our cost rule, which reads integer variables (a list's `limit`) and
the length of list variables (`_entities`' representations); so the key holds the document, the
operation, the integer variables and the lists' lengths: a message's text does not make its
mutation a new document, a different `limit` or one more representation does.

The first request with a key takes Strawberry's whole pipeline; `ValidationMemo` (the last
extension to add rules) records its document and verdict. Later requests with that key skip
parsing and validation: `ChatSchema.execute` runs a document that validated cleanly directly.
Each schema keeps its own memo, since its limits decide the verdicts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from chatql.value_class import value_class

MAX_ENTRIES = 2000
Key = tuple[str, str | None, tuple[tuple[str, int], ...]]


@dataclass(slots=True)
class Prepared:
    """A parsed document, its validation errors and the type of the operation that runs;
    `compiled` is for the executor to keep what it works out once per document."""

    document: DocumentNode
    errors: list[GraphQLError]
    operation_type: OperationType | None
    compiled: Any = None


@value_class
class Lookup:
    """A document found for these request objects. A request keeps its lookup (its context
    carries it): asking again with the same objects (the direct path's check, the execution,
    the operation's metrics) needs no new key, which costs more than the lookup itself."""

    query: object
    operation_name: object
    variables: object
    prepared: Prepared

    def answers(self, query: object, operation_name: object, variables: object) -> bool:
        return (
            self.query is query
            and self.operation_name is operation_name
            and self.variables is variables
        )


class PreparedDocuments:
    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._size = size
        self._entries: OrderedDict[Key, Prepared] = OrderedDict()

    def lookup(
        self,
        query: object,
        operation_name: object,
        variables: object,
        earlier: Lookup | None = None,
    ) -> Lookup | None:
        """The document known for these objects: `earlier` (the request's own lookup) when
        it was for the same objects, else `get(key(...))`."""
        if earlier is not None and earlier.answers(query, operation_name, variables):
            return earlier
        key = self.key(query, operation_name, variables)
        found = self.get(key) if key is not None else None
        return Lookup(query, operation_name, variables, found) if found is not None else None

    @staticmethod
    def key(query: object, operation_name: object, variables: object) -> Key | None:
        if not isinstance(query, str) or not isinstance(operation_name, (str, type(None))):
            return None
        values: Mapping[str, Any] = variables if isinstance(variables, dict) else {}
        numbers: list[tuple[str, int]] = []
        for name, value in values.items():
            if type(value) is int:  # not bool: a list's `limit`
                numbers.append((name, value))
            elif isinstance(value, list):  # under a name no variable can have: `$r` -> "r[]"
                numbers.append((f"{name}[]", len(value)))
            elif value is not None:  # a lone value given for a list is coerced to a list of one
                numbers.append((f"{name}[]", 1))
        return (query, operation_name, tuple(sorted(numbers)))

    def get(self, key: Key) -> Prepared | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Key, prepared: Prepared) -> None:
        self._entries[key] = prepared
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


def prepared_documents(schema: object) -> PreparedDocuments:
    """The memo of `schema` (created on first use)."""
    memo = getattr(schema, "chatql_prepared", None)
    if not isinstance(memo, PreparedDocuments):
        memo = PreparedDocuments()
        schema.chatql_prepared = memo  # type: ignore[attr-defined]
    return memo


class ValidationMemo(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        memo = prepared_documents(context.schema)
        # keyed by the name the client gave, as `ChatSchema.execute` looks it up
        provided_name = getattr(context, "_provided_operation_name", context.operation_name)
        key = memo.key(context.query, provided_name, context.variables)
        if key is not None and document is not None and context.validation_rules:
            prepared = memo.get(key)
            if prepared is None:
                errors = validate_document(
                    context.schema._schema, document, context.validation_rules
                )
                operation = get_operation_ast(document, context.operation_name)
                kind = OperationType(operation.operation.value) if operation is not None else None
                prepared = Prepared(document, errors, kind)
                memo.put(key, prepared)
            context.pre_execution_errors = list(prepared.errors)
        yield
