"""The memo of validated documents: keyed by what validation reads, and one request's
repeated lookups answered without building the key again."""

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


def test_a_repeated_lookup_is_answered_without_a_new_key(
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
    for _ in range(3):  # the direct path's check, the execution, the operation's metrics
        assert memo.lookup(query, "Q", variables) is entry
    assert len(built) == 1
    # other objects, even equal ones, are looked up again
    assert memo.lookup(query, "Q", {"n": 5}) is entry
    assert memo.lookup(query, "Q", {"n": 6}) is None
    assert memo.lookup(query, "Q", {"n": 6}) is None  # same values, another dict object
    assert len(built) == 4
    # a put forgets the last answer: a document not known before is found once stored
    missing = {"n": 7}
    assert memo.lookup(query, "Q", missing) is None
    other = prepared(query)
    memo.put(PreparedDocuments.key(query, "Q", missing), other)
    assert memo.lookup(query, "Q", missing) is other


def test_the_memo_keeps_its_newest_entries() -> None:
    memo = PreparedDocuments(size=2)
    entries = {n: prepared("{ me { id } }") for n in range(3)}
    for n, entry in entries.items():
        key = PreparedDocuments.key("q", None, {"n": n})
        assert key is not None
        memo.put(key, entry)
    assert memo.lookup("q", None, {"n": 0}) is None
    assert memo.lookup("q", None, {"n": 2}) is entries[2]
