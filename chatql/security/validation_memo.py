"""Validation results remembered per (document, operation, variables).

Validating a document (with our limit rules) costs more than running a typical chat query, and
clients send the same few documents over and over. GraphQL validation does not look at
variables, except our cost rule, which reads integer variables (a list's `limit`); so the key
holds the document, the operation and the integer variables: a message's text does not make
its mutation a new document, a different `limit` does. Must come after every extension that
adds validation rules.
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
                variables = context.variables if isinstance(context.variables, dict) else {}
                numbers = {
                    name: value for name, value in variables.items() if isinstance(value, int)
                }
                key = json.dumps([context.query, context.operation_name, numbers], sort_keys=True)
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
