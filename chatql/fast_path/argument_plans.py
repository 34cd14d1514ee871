"""A compiled root field's arguments, read from the coerced variables by a plan made once.

graphql-core walks a field's argument literals on every request: `createMessage(input:
{chatRoomId: $r, content: $t})` is an object literal of two variables, looked up, checked and
rebuilt each time. For the shapes clients send (variables, object literals of variables and
constants, constant scalars) the walk's answer depends only on the variables' coerced values,
so the plan does the walk's work once. Whenever the answer would need more than that (a
variable missing, so a default applies; null where null is not allowed, so an error), the plan
answers None and graphql-core's own `get_argument_values` runs, with its defaults and errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from graphql import (
    FieldNode,
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputType,
    ObjectValueNode,
    ValueNode,
    VariableNode,
    is_input_object_type,
    is_leaf_type,
    is_non_null_type,
    is_required_argument,
    is_required_input_field,
)
from graphql.execution.values import VariableValues
from graphql.pyutils import Undefined
from graphql.utilities import coerce_input_literal
from graphql.utilities.coerce_input_value import coerce_default_value

# coerced variables -> the value, or Undefined: take graphql-core's path
Reader = Callable[[dict[str, Any]], Any]
ArgumentPlan = Callable[[VariableValues], dict[str, Any] | None]

# constants shared by every request must not be something a resolver could change
_IMMUTABLE = (str, int, float, bool, bytes, type(None), Enum)


def plan_arguments(field: GraphQLField, node: FieldNode) -> ArgumentPlan | None:
    """The field's arguments as `get_argument_values` would coerce them, or None when the
    literals hold a shape the plan does not cover (lists, oneOf inputs, mutable defaults)."""
    given = {argument.name.value: argument.value for argument in node.arguments or ()}
    plan = _plan_values(field.args, given)
    if plan is None:
        return None

    def arguments(variables: VariableValues) -> dict[str, Any] | None:
        values = _read_values(plan, variables.coerced)
        return None if values is Undefined else values

    return arguments


# (out name, its reader) for each argument or input field that gets a value
ValuesPlan = tuple[tuple[str, Reader], ...]


def _plan_values(
    definitions: Mapping[str, GraphQLArgument] | Mapping[str, GraphQLInputField],
    given: Mapping[str, ValueNode],
) -> ValuesPlan | None:
    """How to read the values of a field's arguments, or of an input object's fields, from
    the literals `given` for them (absent ones: their defaults)."""
    if any(name not in definitions for name in given):
        return None
    readers: list[tuple[str, Reader]] = []
    for name, definition in definitions.items():
        out_name = definition.out_name or name
        value_node = given.get(name)
        if value_node is None:
            required = (
                is_required_argument(definition)
                if isinstance(definition, GraphQLArgument)
                else is_required_input_field(definition)
            )
            if required:
                return None  # graphql-core's error
            default = _default(definition)
            if default is None:
                return None
            if default is not Undefined:
                readers.append((out_name, _constant(default)))
            continue
        reader = _reader(value_node, definition.type)
        if reader is None:
            return None
        readers.append((out_name, reader))
    return tuple(readers)


def _read_values(plan: ValuesPlan, coerced: dict[str, Any]) -> Any:
    """The values by out name, or Undefined when one needs graphql-core's path."""
    values: dict[str, Any] = {}
    for out_name, read in plan:
        value = read(coerced)
        if value is Undefined:
            return Undefined
        values[out_name] = value
    return values


def _reader(value_node: ValueNode, type_: GraphQLInputType) -> Reader | None:
    if isinstance(value_node, VariableNode):
        return _variable(value_node.name.value, is_non_null_type(type_))
    named: Any = type_.of_type if is_non_null_type(type_) else type_
    if isinstance(value_node, ObjectValueNode):
        if not is_input_object_type(named) or named.is_one_of:
            return None
        return _object(value_node, named)
    if not is_leaf_type(named) or value_node.kind in {"list_value", "null_value"}:
        return None
    value = coerce_input_literal(value_node, type_)
    if value is Undefined or not isinstance(value, _IMMUTABLE):
        return None
    return _constant(value)


def _variable(name: str, non_null: bool) -> Reader:
    def read(coerced: dict[str, Any]) -> Any:
        value = coerced.get(name, Undefined)  # missing: a default applies
        if value is None and non_null:
            return Undefined  # graphql-core's error
        return value

    return read


def _object(value_node: ObjectValueNode, type_: Any) -> Reader | None:
    plan = _plan_values(type_.fields, {f.name.value: f.value for f in value_node.fields})
    if plan is None:
        return None
    out_type = type_.out_type

    def read(coerced: dict[str, Any]) -> Any:
        values = _read_values(plan, coerced)
        return Undefined if values is Undefined else out_type(values)

    return read


def _default(input_value: GraphQLArgument | GraphQLInputField) -> Any:
    """Its coerced default (Undefined: none), or None when the plan should not hold it: a
    null or mutable default, or an invalid one (graphql-core reports it)."""
    try:
        default = coerce_default_value(input_value)
    except TypeError:
        return None
    if default is Undefined or (default is not None and isinstance(default, _IMMUTABLE)):
        return default
    return None


def _constant(value: Any) -> Reader:
    def read(coerced: dict[str, Any]) -> Any:
        return value

    return read
