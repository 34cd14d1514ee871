"""Thin GraphQL resolvers: parse, authorise, call a service, map the result. No storage here."""

from __future__ import annotations

import strawberry

from chatql.context import ChatContext

Info = strawberry.Info[ChatContext, None]
