"""Which document a request runs: its own text, a persisted query's, or a trusted document's.

Clients may send a hash instead of the document (Apollo's automatic persisted queries:
`extensions.persistedQuery.sha256Hash`; the GraphQL-over-HTTP draft's `documentId`). Every
transport (POST, the direct POST path, GET, both WebSocket protocols) asks `DocumentResolver`
for the text before anything else looks at the request, so limits, masking, authorisation and
the shared fast paths (validation memo, history cache, fan-out) see an ordinary document.

Two modes:

* automatic persisted queries (`CHATQL_APQ`, on by default): a hash alone runs the document
  registered under it in this process, or answers `PERSISTED_QUERY_NOT_FOUND` so the client
  sends the text with its hash; the hash is verified, and only a document that parses and
  validates is remembered, in a cache bounded by entries and bytes;
* trusted documents (`CHATQL_TRUSTED_DOCUMENTS`): only the documents of a manifest run, by
  hash or by their exact text; anything else is `PERSISTED_QUERY_NOT_IN_LIST`.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSchema, parse, specified_rules, validate

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
BAD_REQUEST = "BAD_REQUEST"
WEB_APP_MANIFEST = "web-app"  # CHATQL_TRUSTED_DOCUMENTS value: the built web app's manifest
MANIFEST_NAME = "persisted-documents.json"  # where the web app's build puts it

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_APOLLO_FORMAT = "apollo-persisted-query-manifest"


class DocumentRefused(Exception):
    """The request names a document that cannot run; no operation starts.

    `status` is the HTTP status for `application/json` clients: Apollo's links read a 200
    "not found" as "send the text"; the rest are request errors (400).
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def as_error(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code}}


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class TrustedDocuments:
    """A manifest's documents by the sha256 of their text (nothing else runs)."""

    def __init__(self, documents: Mapping[str, str], source: str = "") -> None:
        self._documents = dict(documents)
        self.source = source

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, sha256: str) -> str | None:
        return self._documents.get(sha256)

    @classmethod
    def load(cls, path: str | Path) -> TrustedDocuments:
        """Read a manifest; ValueError (saying what is wrong, and where) if it is not one.

        Accepted: Apollo's persisted query manifest (`{"format":
        "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "name", "type",
        "body"}]}`) and GraphQL Code Generator's `persisted-documents.json` (`{"<sha256>":
        "<document>"}`). Every id must be the sha256 of its body and every body must parse.
        """
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from None
        entries = _manifest_entries(data, str(path))
        documents: dict[str, str] = {}
        for where, key, body in entries:
            if not isinstance(body, str) or not body.strip():
                raise ValueError(f"{path}: {where} has no document text")
            digest = sha256_hex(body)
            if not isinstance(key, str) or key.lower() != digest:
                raise ValueError(
                    f"{path}: {where}: the id must be the sha256 of its document ({digest}); "
                    "generate the manifest with sha256 hashes"
                )
            try:
                parse(body)
            except GraphQLError as exc:
                raise ValueError(f"{path}: {where} does not parse: {exc.message}") from None
            documents[digest] = body
        if not documents:
            raise ValueError(f"{path} lists no documents")
        return cls(documents, str(path))


def _manifest_entries(data: object, path: str) -> list[tuple[str, object, object]]:
    """(where, id, body) of every entry, in either format."""
    if isinstance(data, dict) and "operations" in data:
        if data.get("format") != _APOLLO_FORMAT or data.get("version") != 1:
            raise ValueError(
                f'{path}: expected "format": "{_APOLLO_FORMAT}" and "version": 1 '
                "with the operations list"
            )
        operations = data["operations"]
        if not isinstance(operations, list):
            raise ValueError(f"{path}: operations must be a list")
        entries: list[tuple[str, object, object]] = []
        for index, operation in enumerate(operations):
            if not isinstance(operation, dict):
                raise ValueError(f"{path}: operations[{index}] must be an object")
            where = f"operations[{index}] ({operation.get('name', '?')})"
            entries.append((where, operation.get("id"), operation.get("body")))
        return entries
    if isinstance(data, dict) and all(isinstance(k, str) for k in data):
        return [(f"entry {key[:16]}…", key, body) for key, body in data.items()]
    raise ValueError(
        f"{path} is neither an Apollo persisted query manifest nor a "
        '{"<sha256>": "<document>"} map'
    )


class PersistedQueryCache:
    """Automatic persisted queries of this process: least recently used go first, past
    `max_entries` documents or `max_bytes` of text."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, sha256: str) -> str | None:
        text = self._entries.get(sha256)
        if text is not None:
            self._entries.move_to_end(sha256)
        return text

    def put(self, sha256: str, text: str) -> None:
        size = len(text.encode())
        if size > self.max_bytes or sha256 in self._entries:
            return
        self._entries[sha256] = text
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped.encode())


class DocumentResolver:
    """Turns a request's (query, extensions, documentId) into the text to run, or refuses."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        apq: bool = True,
        cache: PersistedQueryCache | None = None,
        trusted: TrustedDocuments | None = None,
        max_tokens: int = 0,
    ) -> None:
        self._schema = schema
        self.apq = apq
        self.cache = cache if cache is not None else PersistedQueryCache(1000, 4 << 20)
        self.trusted = trusted
        self._max_tokens = max_tokens or None

    def resolve(self, query: object, extensions: object, document_id: object = None) -> Any:
        """The text to run (the request's own `query` when it names no document, whatever
        that is: the ordinary checks refuse what is not a string), or DocumentRefused."""
        sha256 = _requested_hash(extensions, document_id)
        if sha256 is None and self.trusted is None:
            return query
        if query is not None and not isinstance(query, str):
            raise DocumentRefused(BAD_REQUEST, "`query` must be a string")
        if sha256 is not None and query is not None and sha256_hex(query) != sha256:
            raise DocumentRefused(BAD_REQUEST, "provided sha does not match query")
        if self.trusted is not None:
            return self._trusted(self.trusted, query, sha256)
        assert sha256 is not None
        if not self.apq:
            raise DocumentRefused(NOT_SUPPORTED, "PersistedQueryNotSupported")
        if query is None:
            text = self.cache.get(sha256)
            if text is None:
                raise DocumentRefused(NOT_FOUND, "PersistedQueryNotFound", status=200)
            return text
        if self.cache.get(sha256) is None and self._valid(query):
            self.cache.put(sha256, query)
        return query

    @staticmethod
    def _trusted(trusted: TrustedDocuments, query: str | None, sha256: str | None) -> Any:
        if sha256 is None:
            if query is None:
                return None  # no document at all: the ordinary "no query" error
            sha256 = sha256_hex(query)
        text = trusted.get(sha256)
        if text is None:
            raise DocumentRefused(
                NOT_IN_LIST, "This server runs only its trusted documents, and not this one"
            )
        return text

    def _valid(self, query: str) -> bool:
        """Worth remembering: parses within the token limit and validates against the schema
        (so the cache cannot be filled with junk; limits are still checked at every run)."""
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            return False
        return not validate(self._schema, document, specified_rules)


def _requested_hash(extensions: object, document_id: object) -> str | None:
    """The sha256 a request names, lower case; DocumentRefused for a malformed one."""
    sha256 = None
    if extensions is not None and not isinstance(extensions, dict):
        raise DocumentRefused(BAD_REQUEST, "`extensions` must be an object")
    persisted = extensions.get("persistedQuery") if extensions else None
    if persisted is not None:
        if not isinstance(persisted, dict):
            raise DocumentRefused(
                BAD_REQUEST, "extensions.persistedQuery must be {version: 1, sha256Hash: …}"
            )
        if persisted.get("version") != 1:
            raise DocumentRefused(BAD_REQUEST, "Unsupported persisted query version")
        value = persisted.get("sha256Hash")
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            raise DocumentRefused(
                BAD_REQUEST, "extensions.persistedQuery.sha256Hash must be 64 hex digits"
            )
        sha256 = value.lower()
    if document_id is not None:
        if not isinstance(document_id, str):
            raise DocumentRefused(BAD_REQUEST, "`documentId` must be a string")
        value = document_id.removeprefix("sha256:")
        if not _SHA256.fullmatch(value):
            raise DocumentRefused(
                BAD_REQUEST, "`documentId` must be sha256:<64 hex digits> (or the 64 digits)"
            )
        if sha256 is not None and sha256 != value.lower():
            raise DocumentRefused(BAD_REQUEST, "`documentId` and persistedQuery name two documents")
        sha256 = value.lower()
    return sha256


def manifest_path(value: str, web_dir: str, default_web_dir: Path) -> Path:
    """CHATQL_TRUSTED_DOCUMENTS: a path, or `web-app` for the built web app's own manifest."""
    if value == WEB_APP_MANIFEST:
        return (Path(web_dir) if web_dir else default_web_dir) / MANIFEST_NAME
    return Path(value)


__all__ = [
    "MANIFEST_NAME",
    "NOT_FOUND",
    "NOT_IN_LIST",
    "NOT_SUPPORTED",
    "WEB_APP_MANIFEST",
    "DocumentRefused",
    "DocumentResolver",
    "PersistedQueryCache",
    "TrustedDocuments",
    "manifest_path",
    "sha256_hex",
]
