"""A root field's Strawberry resolver called directly, its arguments converted by a plan.

Strawberry's resolver wrapper converts graphql-core's argument values into the resolver's
Python values (input classes, lists, optional fields) by inspecting every argument's type on
every call. On the send path (`createMessage` over HTTP) that inspection costs more than the
resolver's own work. `plan_call` does the inspection once per field: it turns the types into
small converter functions and returns a `ResolverCall` that builds the same `Info` and calls the
same resolver with the same values. What it cannot reproduce exactly (field extensions, which
include permission classes; exception handlers; `Maybe`; `GlobalID`; input classes that build
themselves with `from_input`; resolvers asking for `self`, `root` or `parent`) it refuses, and
the field keeps Strawberry's wrapper. A test compares both conversions value by value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

from graphql import GraphQLResolveInfo
from strawberry.relay.types import GlobalID
from strawberry.types.arguments import _is_leaf_type
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _converter(strawberry_schema: Any, type_: Any, depth: int = 0) -> Convert | None:
    """A function doing what `strawberry.types.arguments.convert_argument` does for `type_`
    (None and UNSET pass through at every level, as there), or None if not plain."""
    registry = strawberry_schema.schema_converter.scalar_registry
    if depth > 8 or isinstance(type_, StrawberryMaybe) or type_ is GlobalID:
        return None
    if isinstance(type_, LazyType):
        return _converter(strawberry_schema, type_.resolve_type(), depth + 1)
    if isinstance(type_, StrawberryOptional):
        return _converter(strawberry_schema, type_.of_type, depth + 1)
    if isinstance(type_, StrawberryList):
        item = type_.of_type
        leaf = item.of_type if isinstance(item, StrawberryOptional) else item
        if leaf is not GlobalID and _is_leaf_type(leaf, registry):
            # copied: graphql-core hands every request the same default list
            return lambda value: value if value is None or value is UNSET else list(value)
        each = _converter(strawberry_schema, item, depth + 1)
        if each is None:
            return None
        return lambda value: value if value is None or value is UNSET else [each(v) for v in value]
    if isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return _same  # graphql-core's enum type already gave the Python member
    if _is_leaf_type(type_, registry):
        return _same
    if has_object_definition(type_):
        return _input_converter(strawberry_schema, type_, depth)
    return None


def _input_converter(strawberry_schema: Any, cls: Any, depth: int) -> Convert | None:
    definition = cls.__strawberry_definition__
    if not definition.is_input or definition.from_input is not None:
        return None
    name_converter = strawberry_schema.config.name_converter
    defaults = {
        field.python_name: None
        for field in definition.fields
        if field.default_value is MISSING and field.default_factory is MISSING
    }
    fields: list[tuple[str, str, Convert]] = []
    for field in definition.fields:
        convert = _converter(
            strawberry_schema, field.resolve_type(type_definition=definition), depth + 1
        )
        if convert is None:
            return None
        fields.append((name_converter.from_field(field), field.python_name, convert))
    plan = tuple(fields)

    def build(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        kwargs = dict(defaults)
        for graphql_name, python_name, convert in plan:
            if graphql_name in value:
                kwargs[python_name] = convert(value[graphql_name])
        return cls(**kwargs)

    return build


class ResolverCall:
    """Calls `field`'s resolver as Strawberry's wrapper would, without its per-call work."""

    __slots__ = ("_arguments", "_field", "_info_class", "_info_name")

    def __init__(
        self,
        field: StrawberryField,
        arguments: tuple[tuple[str, str, Convert], ...],
        info_class: type,
        info_name: str | None,
    ) -> None:
        self._field = field
        self._arguments = arguments
        self._info_class = info_class
        self._info_name = info_name

    def arguments(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The resolver's keyword arguments for graphql-core's coerced argument values."""
        kwargs: dict[str, Any] = {}
        for graphql_name, python_name, convert in self._arguments:
            if graphql_name in raw:
                kwargs[python_name] = convert(raw[graphql_name])
        return kwargs

    def __call__(self, raw_info: GraphQLResolveInfo[Any], raw: Mapping[str, Any]) -> Any:
        """The resolver's result (an awaitable for async resolvers)."""
        kwargs = self.arguments(raw)
        if self._info_name is not None:
            kwargs[self._info_name] = self._info_class(_raw_info=raw_info, _field=self._field)
        resolver = self._field.base_resolver
        assert resolver is not None
        return resolver(**kwargs)


def plan_call(strawberry_schema: Any, type_name: str, field_name: str) -> ResolverCall | None:
    """The direct call of `type_name.field_name`'s resolver, or None when only Strawberry's
    wrapper reproduces what the field does."""
    field = strawberry_schema.get_field_for_type(field_name, type_name)
    converter = strawberry_schema.schema_converter
    if field is None or field.base_resolver is None or field.extensions:
        return None
    if converter._get_field_exception_handlers(field):
        return None
    resolver = field.base_resolver
    if resolver.self_parameter or resolver.parent_parameter or resolver.root_parameter:
        return None
    name_converter = strawberry_schema.config.name_converter
    arguments: list[tuple[str, str, Convert]] = []
    for argument in field.arguments:
        convert = _converter(strawberry_schema, argument.type)
        if convert is None or argument.python_name is None:
            return None
        arguments.append((name_converter.from_argument(argument), argument.python_name, convert))
    info = resolver.info_parameter
    return ResolverCall(
        field, tuple(arguments), strawberry_schema.config.info_class, info.name if info else None
    )
