"""The memo of validated documents: keyed by what validation reads; a request keeps its
lookup, so asking again with the same objects builds no new key."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse

from chatql.security import validation_memo
from chatql.security.validation_memo import Prepared, PreparedDocuments


def prepared(text: str) -> Prepared:
    return Prepared(parse(text), [], None)


def test_keys_hold_the_document_the_name_and_what_validation_reads() -> None:
    key = PreparedDocuments.key
    assert key("q", None, {"t": "a"}) == key("q", None, {"t": "b"})  # text does not count
    assert key("q", None, {"n": 5}) != key("q", None, {"n": 6})  # a limit does
    assert key("q", None, {"r": [1, 2]}) != key("q", None, {"r": [1]})  # a list's length too
    assert key("q", "A", None) != key("q", "B", None)
    assert key(None, None, None) is None and key("q", 5, None) is None


def test_a_request_asking_again_with_its_lookup_builds_no_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    memo = PreparedDocuments()
    query, variables = "query Q { me { id } }", {"n": 5}
    entry = prepared(query)
    memo.put(PreparedDocuments.key(query, "Q", variables), entry)
    built: list[Any] = []
    original = PreparedDocuments.key

    def counted(*args: Any) -> Any:
        built.append(args)
        return original(*args)

    monkeypatch.setattr(validation_memo.PreparedDocuments, "key", staticmethod(counted))
    found = memo.lookup(query, "Q", variables)
    assert found is not None and found.prepared is entry
    for _ in range(2):  # the execution and the operation's metrics
        assert memo.lookup(query, "Q", variables, found) is found
    assert len(built) == 1
    # the lookup answers only for its own objects, even against equal ones
    again = memo.lookup(query, "Q", {"n": 5}, found)
    assert again is not None and again.prepared is entry and again is not found
    assert memo.lookup(query, "Q", {"n": 6}, found) is None
    assert memo.lookup(query, "Other", variables, found) is None
    assert len(built) == 4


def test_the_memo_keeps_its_newest_entries() -> None:
    memo = PreparedDocuments(size=2)
    entries = {n: prepared("{ me { id } }") for n in range(3)}
    for n, entry in entries.items():
        key = PreparedDocuments.key("q", None, {"n": n})
        assert key is not None
        memo.put(key, entry)
    assert memo.lookup("q", None, {"n": 0}) is None
    found = memo.lookup("q", None, {"n": 2})
    assert found is not None and found.prepared is entries[2]
