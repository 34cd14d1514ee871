"""Validation results remembered per (document, operation, variables).

Validating a document (with our limit rules) costs more than running a typical chat query, and
clients send the same few documents over and over. The cost rule depends on variables (a list's
`limit` may be a variable), so the key holds them too: the same document with other values is
validated afresh. Must come after every extension that adds validation rules.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

_MEMO: OrderedDict[str, list[GraphQLError]] = OrderedDict()
MAX_ENTRIES = 2000


class ValidationMemo(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        key = None
        if context.query is not None and document is not None:
            try:
                key = json.dumps(
                    [context.query, context.operation_name, context.variables],
                    sort_keys=True,
                    default=str,
                )
            except (TypeError, ValueError):
                key = None
        if key is not None and document is not None and context.validation_rules:
            errors = _MEMO.get(key)
            if errors is None:
                errors = validate_document(
                    context.schema._schema, document, context.validation_rules
                )
                _MEMO[key] = errors
                if len(_MEMO) > MAX_ENTRIES:
                    _MEMO.popitem(last=False)
            else:
                _MEMO.move_to_end(key)
            context.pre_execution_errors = list(errors)
        yield
