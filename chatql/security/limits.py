"""Static per-operation limits, checked while parsing and validating so a rejected operation
never runs: tokens, depth, aliases, directives and cost (see `cost.py`).

Each refusal is a GraphQL error whose `extensions` hold `code`, `limit` and `measured`. Depth
counts field levels (`{ me { id } }` is 2) and leaves introspection (`__schema`, `__type`) to
graphql-core's MaxIntrospectionDepthRule, so GraphiQL's schema query fits. Aliases and
directives are counted as executed: a fragment counts at every use, yet is walked only once.
Strawberry's QueryDepthLimiter and MaxAliasesLimiter are not used: they re-walk a fragment at each
use (exponential on a fragment chain), raise KeyError on an unknown fragment and set no code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    ValidationRule,
    get_operation_ast,
)
from graphql.language.visitor import BREAK, VisitorAction
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import SchemaExtension

from chatql.security.cost import SATURATED, query_cost

if TYPE_CHECKING:
    from chatql.config import Settings

_TOKEN_ERROR = "Document contains more than"
_TOKEN_COUNT_CAP = 4  # on refusal, count tokens up to this many times the limit, no further


@dataclass(frozen=True)
class Limits:
    """The limits of one server; 0 turns a limit off."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_directives: int = 50
    max_cost: int = 5000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_directives=settings.max_directives,
            max_cost=settings.max_query_cost,
        )


@dataclass(frozen=True)
class Shape:
    """What an operation looks like once its fragments are expanded."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0

    def __add__(self, other: Shape) -> Shape:
        return Shape(
            max(self.depth, other.depth),
            min(self.aliases + other.aliases, SATURATED),
            min(self.directives + other.directives, SATURATED),
        )


def operation_shape(document: DocumentNode, operation: OperationDefinitionNode) -> Shape:
    """Depth, aliases and directives of one operation, in time linear in the document."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[int, Shape] = {}
    active: set[int] = set()

    def walk(selection_set: SelectionSetNode) -> Shape:
        key = id(selection_set)
        if key in memo:
            return memo[key]
        if key in active:  # a fragment cycle: validation rejects it, we just must not loop
            return Shape()
        active.add(key)
        shape = Shape()
        for node in selection_set.selections:
            part = Shape(directives=len(node.directives or ()))
            if isinstance(node, FieldNode):
                child = walk(node.selection_set) if node.selection_set else Shape()
                introspection = node.name.value in ("__schema", "__type")
                depth = 0 if introspection else 1 + child.depth
                part += Shape(depth, child.aliases + (node.alias is not None), child.directives)
            elif isinstance(node, InlineFragmentNode):
                part += walk(node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
                fragment = fragments[node.name.value]
                part += Shape(directives=len(fragment.directives or ()))
                part += walk(fragment.selection_set)
            shape += part
        active.discard(key)
        memo[key] = shape
        return shape

    own = len(operation.directives or ()) + sum(
        len(v.directives or ()) for v in operation.variable_definitions or ()
    )
    try:
        return Shape(directives=own) + walk(operation.selection_set)
    except RecursionError:  # fragments chained deeper than Python's stack
        return Shape(SATURATED, SATURATED, SATURATED)


def limit_error(code: str, what: str, limit: int, measured: int, node: Any = None) -> GraphQLError:
    return GraphQLError(
        f"{what} {measured} exceeds the limit of {limit}",
        node,
        extensions={"code": code, "limit": limit, "measured": measured},
    )


def limits_rule(
    limits: Limits, variables: Mapping[str, Any] | None, operation_name: str | None
) -> type[ASTValidationRule]:
    """A validation rule for one request; cost needs that request's variables."""

    class OperationLimits(ValidationRule):
        def enter_document(self, document: DocumentNode, *_args: Any) -> VisitorAction:
            operation = get_operation_ast(document, operation_name)
            if operation is None:  # graphql-core reports why; nothing will run
                return BREAK
            shape = operation_shape(document, operation)
            checks = [
                ("QUERY_TOO_DEEP", "Query depth", limits.max_depth, shape.depth),
                ("TOO_MANY_ALIASES", "Alias count", limits.max_aliases, shape.aliases),
                ("TOO_MANY_DIRECTIVES", "Directive count", limits.max_directives, shape.directives),
            ]
            if limits.max_cost:
                schema = self.context.schema
                cost = query_cost(schema, document, variables, operation_name)
                checks.append(("QUERY_TOO_COMPLEX", "Query cost", limits.max_cost, cost))
            for code, what, limit, measured in checks:
                if limit and measured > limit:
                    self.report_error(limit_error(code, what, limit, measured, operation))
            return BREAK

    return OperationLimits


def count_tokens(source: Source, cap: int) -> int:
    """Tokens and comments (as graphql-core's `max_tokens` counts them), stopping at `cap`."""
    lexer = Lexer(source)
    start = lexer.token
    try:
        for _ in range(cap):
            if lexer.advance().kind is TokenKind.EOF:
                break
    except GraphQLSyntaxError:
        pass
    count, token = 0, start.next
    while token is not None and token.kind is not TokenKind.EOF and count < cap:
        count, token = count + 1, token.next
    return count


def limits_extension(limits: Limits) -> type[SchemaExtension]:
    """A schema extension class (built per request by Strawberry) applying `limits`."""

    class RequestLimits(SchemaExtension):
        config: ClassVar[Limits] = limits

        def on_operation(self) -> Iterator[None]:
            if self.config.max_tokens:
                self.execution_context.parse_options["max_tokens"] = self.config.max_tokens
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context  # parsed now: operation_name is the one that runs
            rule = limits_rule(self.config, context.variables, context.operation_name)
            context.validation_rules = (*context.validation_rules, MaxIntrospectionDepthRule, rule)
            yield

        def on_parse(self) -> Iterator[None]:
            yield
            limit = self.config.max_tokens
            for error in self.execution_context.pre_execution_errors or ():
                if isinstance(error, GraphQLSyntaxError) and _TOKEN_ERROR in error.message:
                    measured = limit + 1
                    if error.source is not None:
                        measured = count_tokens(error.source, limit * _TOKEN_COUNT_CAP)
                    refused = limit_error("TOO_MANY_TOKENS", "Token count", limit, measured)
                    error.message, error.extensions = refused.message, refused.extensions

    return RequestLimits
