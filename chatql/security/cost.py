"""Static query cost: an upper bound on the work a document asks for, known before it runs.

Rules: a scalar or enum field costs 1, an object field 2 plus its selection. A list multiplies
its selection by its `limit` argument (literal, variable or schema default); the `items` list of
a connection field (one with `limit` but not itself a list) uses that field's `limit`; a list the
schema bounds counts its bound (`BOUNDED_LISTS`); a list as long as a list argument counts that
argument's length (`SIZED_BY_ARGUMENT`: Federation's `_entities` answers one entity per
representation, each costing its type's inline fragment, or the sum of all when several apply);
any other list counts as `DEFAULT_LIST_SIZE`.
Fragments cost what they contain at every use, but each is walked once (memoised), so the
analysis is linear in the document even when a chain of fragments would expand exponentially;
a fragment cycle costs nothing instead of looping.
Introspection fields count like any other field, but their lists (sized by the fixed schema, not
by the client) count once: GraphiQL's schema query must fit; graphql-core's
MaxIntrospectionDepthRule, added with the other limits, stops nested introspection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_composite_type,
    value_from_ast_untyped,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

LEAF_COST = 1
OBJECT_COST = 2
DEFAULT_LIST_SIZE = 20
# Lists whose length the schema's own rules bound (a message carries at most 10 files).
BOUNDED_LISTS = {("Message", "attachments"): 10}
# Lists with one item per element of an argument (CHATQL_FEDERATION's subgraph).
SIZED_BY_ARGUMENT = {("Query", "_entities"): "representations"}
SATURATED = 2**53 - 1  # JSON-safe; sums and products stop growing here
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # GraphQL Int
_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The cost of the operation that would run (0 if none can be chosen)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    try:
        return CostAnalyser(schema, document, operation, variables or {}).total()
    except RecursionError:  # a fragment chain deeper than Python's stack: too costly anyway
        return SATURATED


class CostAnalyser:
    """One operation's cost, memoised per (selection set, parent type, inherited limit)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables) if isinstance(variables, Mapping) else {}
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)
        self.memo: dict[tuple[int, str, int | None], int] = {}
        self.active: set[tuple[int, str, int | None]] = set()

    def total(self) -> int:
        root = self.schema.get_root_type(self.operation.operation)
        if root is None:
            return 0
        return self.selection_cost(self.operation.selection_set, root, None)

    def selection_cost(
        self, selection_set: SelectionSetNode, parent: Any, inherited: int | None
    ) -> int:
        """`inherited` is the `limit` of the connection field this selection set belongs to."""
        key = (id(selection_set), parent.name, inherited)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:  # a fragment cycle: graphql validation rejects it anyway
            return 0
        self.active.add(key)
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                part = self.field_cost(selection, parent, inherited)
            elif isinstance(selection, InlineFragmentNode):
                condition = self._type(selection.type_condition, parent)
                part = self.selection_cost(selection.selection_set, condition, inherited)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                condition = self._type(fragment.type_condition, parent)
                part = self.selection_cost(fragment.selection_set, condition, inherited)
            else:
                continue
            cost = min(cost + part, SATURATED)
        self.active.discard(key)
        self.memo[key] = cost
        return cost

    def field_cost(self, node: FieldNode, parent: Any, inherited: int | None) -> int:
        name = node.name.value
        definition = _META_FIELDS.get(name) or getattr(parent, "fields", {}).get(name)
        if definition is None or node.selection_set is None:
            return LEAF_COST  # a leaf, __typename, or an unknown field that validation rejects
        child = get_named_type(definition.type)
        if not is_composite_type(child):
            return LEAF_COST
        own = self._limit(node, definition)
        if isinstance(get_nullable_type(definition.type), GraphQLList):
            sized_by = SIZED_BY_ARGUMENT.get((parent.name, name))
            if parent.name.startswith("__"):
                size = 1  # introspection: sized by the schema, not the client
            elif sized_by is not None:
                size = self._length(node, sized_by)
            elif own is not None or inherited is not None:
                size = own if own is not None else inherited or 0
            else:
                size = BOUNDED_LISTS.get((parent.name, node.name.value), DEFAULT_LIST_SIZE)
            each = self.selection_cost(node.selection_set, child, None)
            return min(OBJECT_COST + size * each, SATURATED)
        return min(OBJECT_COST + self.selection_cost(node.selection_set, child, own), SATURATED)

    def _limit(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """The field's `limit` (None if it has no such argument)."""
        argument = definition.args.get("limit")
        if argument is None:
            return None
        value: Any = argument.default_value
        for given in node.arguments or ():
            if given.name.value == "limit":
                if isinstance(given.value, VariableNode):
                    variable = self.variables.get(given.value.name.value)
                    value = value if variable is None else variable  # null: the field's default
                elif isinstance(given.value, IntValueNode):
                    value = int(given.value.value)
        if isinstance(value, int) and not isinstance(value, bool) and _INT_MIN <= value <= _INT_MAX:
            return max(0, value)
        return DEFAULT_LIST_SIZE  # not a GraphQL Int: coercion refuses it, nothing runs

    def _length(self, node: FieldNode, argument: str) -> int:
        """How many elements the list argument will have once coerced (a lone value is a list
        of one; a missing one is refused by validation, so nothing runs)."""
        for given in node.arguments or ():
            if given.name.value != argument:
                continue
            value: Any = given.value
            if isinstance(value, VariableNode):
                value = self.variables.get(value.name.value)
                return len(value) if isinstance(value, list) else int(value is not None)
            if isinstance(value, ListValueNode):
                return len(value.values)
            return 1
        return 0

    def _type(self, condition: NamedTypeNode | None, default: Any) -> Any:
        named = self.schema.get_type(condition.name.value) if condition is not None else None
        return named if named is not None and is_composite_type(named) else default
