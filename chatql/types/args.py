"""Optional arguments without a printed default.

An optional argument declared `= None` is printed as `String = null`; the AppSync-style
contract spells it `String`. Such arguments default to UNSET instead, and `given` turns an
omitted argument into None before it reaches a service.
"""

from __future__ import annotations

from typing import Any

from strawberry.types.unset import UnsetType


def given[T](value: T | UnsetType | None) -> T | None:
    return None if isinstance(value, UnsetType) else value


def given_list(value: list[Any] | UnsetType | None) -> list[str] | None:
    return None if isinstance(value, UnsetType) or value is None else [str(v) for v in value]
