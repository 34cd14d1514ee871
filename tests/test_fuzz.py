"""Property-based fuzzing (Hypothesis) of every mutation's arguments, and of subscribe frames.

Each test starts one real server, seeds a small world (an owner, the fuzzing "stranger", a spare
account; public, private, own and direct rooms with messages, reactions and notifications), then
draws its examples up front with Hypothesis (derandomized, so every run sends the same inputs)
and replays them over real sockets. Every answer must be a clean 200/4xx JSON body without a
traceback, every error must carry a non-internal `extensions.code`, and afterwards the server must
still serve and the invariants must hold: `seq` strictly increasing, authors are (former) members,
the owner's private room never admits the stranger, registered usernames follow the spec.

Ids are drawn as symbolic `Ref`s ("the private room", "the owner's message") and resolved at
replay time, so the drawn examples do not depend on the ids one particular run happens to create.
An example is benign (every argument plausible, so state changes and invariants get exercised),
focused (one argument hostile) or chaos (all of them, wrong declared types, odd auth headers).
Every bug it found (six) is fixed and kept fixed by a regression test at the end of this file.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    build_schema,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.pyutils import Undefined
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chatql.config import Settings
from chatql.services import validation as rules
from tests.helpers import (
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    Account,
    Client,
    Server,
    running_server,
)

SCHEMA = build_schema((Path(__file__).resolve().parent.parent / "schema.graphql").read_text())
MUTATION_TYPE = SCHEMA.mutation_type
assert MUTATION_TYPE is not None
MUTATIONS = sorted(MUTATION_TYPE.fields)
EXAMPLES_PER_MUTATION = 60
WS_EXAMPLES = 150
USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
MARKERS = ("Traceback", 'File "', "Exception")
SELECTION_DEPTH = 3  # object levels below the mutation field


# --------------------------------------------------------------------------- symbolic values
@dataclass(frozen=True)
class Ref:
    """An id (or token) of the seeded world, resolved when the example is replayed."""

    name: str


@dataclass(frozen=True)
class Cursor:
    """A message cursor built at replay time: base64 of ["m", room id, seq] (or a forgery)."""

    kind: Any
    room: Ref | str
    seq: Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # the variable is not sent at all

USER_REFS = ("user.self", "user.owner", "user.spare")
ROOM_REFS = ("room.public", "room.private", "room.own", "room.direct")
MESSAGE_REFS = ("msg.public_owner", "msg.public_self", "msg.private", "msg.own")
NOTE_REFS = ("note.self", "note.owner")
ID_REFS = USER_REFS + ROOM_REFS + MESSAGE_REFS + NOTE_REFS
CURSOR_REFS = ("cursor.public", "cursor.private", "cursor.own")


def _clean(text: str) -> str:
    """Fuzzed text never contains the markers we look for in answers (which may echo input)."""
    for marker in MARKERS:
        text = text.replace(marker, marker[:-1])
    return text


# --------------------------------------------------------------------------- strategies
def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    pool = [strategy for weight, strategy in options for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda s: s)


# fmt: off
NASTY = [
    "", " ", "   ", "\t", "\n", "\r\n", "\x00", "a\x00b", "\x7f", "\x1b[31mred", "\u200b",
    "\u202egnp.exe", "\ufeff", "\ud800", "a\udfffb", "😀", "👍🏽",
    "\U0001f3f3\ufe0f\u200d\U0001f308", "e\u0301", "İ", "\u212a", "ﷺ", "\U0010ffff",
    "null", "None", "true", "0", "-1", "NaN",
    "'; DROP TABLE users; --", "' OR '1'='1", '{"$gt": ""}', '{"$where": "sleep(1000)"}',
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "{{7*7}}",
    "${jndi:ldap://x/a}", "../../etc/passwd", "%00%s%s%n", "\\", '"', "`",
    "javascript:alert(1)", "@everyone @owner", "__typename", "query { me { id } }",
]
# fmt: on
LENGTHS = sorted(
    {
        3,
        32,
        rules.MAX_NAME,
        rules.MAX_DISPLAY_NAME,
        rules.MAX_CLIENT_ID,
        rules.MAX_SEARCH_TERM,
        rules.MAX_DESCRIPTION,
        rules.MAX_URL,
        rules.MAX_CONTENT,
        256,
        512,
    }
)
boundary_text = st.builds(
    lambda n, delta, ch: ch * (n + delta),
    st.sampled_from(LENGTHS),
    st.sampled_from([-1, 0, 1]),
    st.sampled_from(["a", " ", "é", "😀", "\x00"]),
)
huge_text = st.builds(
    lambda unit, n: (unit * n)[:10_000],
    st.text(min_size=1, max_size=4),
    st.integers(1000, 10_000),
)
short_text = st.text(max_size=40)
printable_text = st.text(st.characters(codec="ascii", min_codepoint=32), max_size=40)
generic_text = weighted(
    (4, st.sampled_from(NASTY)),
    (4, short_text),
    (2, printable_text),
    (1, boundary_text),
    (1, huge_text),
    (1, st.builds(lambda a, b: a + b, st.sampled_from(NASTY), short_text)),
).map(_clean)

usernames = weighted(
    (3, st.from_regex(r"[a-z0-9_.-]{3,32}", fullmatch=True)),
    (1, st.from_regex(r"[A-Za-z0-9_.\- ]{1,40}", fullmatch=True)),
    (
        1,
        st.sampled_from(
            ["ab", "a" * 33, " spaced ", "ÀBC", "\u212aelvin", "\uff41\uff42\uff43", "i̇ii", "."]
        ),
    ),
    (2, generic_text),
)
passwords = weighted(
    (2, st.sampled_from(["", "short", "a" * 7, "a" * 8, "a" * 128, "a" * 129, "😀" * 8])),
    (2, generic_text),
)
emojis = weighted(
    (3, st.sampled_from(["👍", "😀", "👍🏽", "🏳️‍🌈", ":thumbsup:", ":x:", "::", ":" * 40, "a"])),
    (1, st.sampled_from([":" + "a" * 31 + ":", ":" + "a" * 40 + ":", "👍👍", "👍 ", "\u200d"])),
    (2, generic_text),
)
urls = weighted(
    (3, st.sampled_from(["", "https://example.com/a.png", "http://x", "http://", "ftp://x/y"])),
    (1, st.sampled_from(["javascript:alert(1)", "https://a b", "https://" + "a" * 2100])),
    (1, st.builds(lambda s: "https://" + s, short_text)),
    (2, generic_text),
)
unknown_ids = st.binary(min_size=16, max_size=16).map(bytes.hex)
malformed_ids = weighted(
    (2, unknown_ids.map(str.upper)),
    (1, unknown_ids.map(lambda h: h[:31])),
    (1, unknown_ids.map(lambda h: h + "0")),
    (1, unknown_ids.map(lambda h: " " + h)),
    (1, st.sampled_from(["g" * 32, "0" * 32, "", "null", '{"$ne": null}', "../" + "0" * 29])),
    (1, generic_text),
)
ids = weighted(
    (6, st.sampled_from(ID_REFS).map(Ref)),
    (2, unknown_ids),
    (2, malformed_ids),
    (1, st.integers(-(2**70), 2**70)),
)
seq_values = st.one_of(
    st.sampled_from([0, 1, 2, 3, -1, 2**62, 2**63, 10**30, 1.5, "1", True, None, [], {}]),
    st.integers(),
)
cursors = weighted(
    (3, st.sampled_from(CURSOR_REFS).map(Ref)),
    (
        3,
        st.builds(
            Cursor,
            st.sampled_from(["m", "u", "r", 1, None]),
            st.one_of(st.sampled_from(ROOM_REFS).map(Ref), malformed_ids),
            seq_values,
        ),
    ),
    (1, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")),
    (2, generic_text),
)
refresh_tokens = weighted(
    (2, st.just(Ref("refresh.spare"))),
    (1, st.sampled_from(["x" * 256, "x" * 257])),
    (3, generic_text),
)
offsets = st.sampled_from(
    ["", "Z", "+00:00", "+14:00", "-14:00", "+05:30", "-23:59", "+23:59:59.999999"]
)
datetimes = weighted(
    (3, st.builds(lambda d, o: d.isoformat() + o, st.datetimes(), offsets)),
    (
        1,
        st.sampled_from(
            [
                "9999-12-31T23:59:59-14:00",
                "0001-01-01T00:00:00+14:00",
                "2099-01-01T00:00:00Z",
                "2000-01-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "+275760-09-13T00:00:00Z",
                "now",
                "",
                "1" * 41,
            ]
        ),
    ),
    (1, st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))),
    (1, generic_text),
)

STRINGS_BY_ARG: dict[str, st.SearchStrategy[Any]] = {
    "username": usernames,
    "password": passwords,
    "oldPassword": passwords,
    "newPassword": passwords,
    "emoji": emojis,
    "avatarUrl": urls,
    "cursor": cursors,
    "after": cursors,
    "nextToken": cursors,
    "refreshToken": refresh_tokens,
}

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    generic_text,
)
wrong_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(printable_text.map(_clean), inner, max_size=4)
    ),
    max_leaves=8,
)
WRONG_DECLARATIONS = ["String", "String!", "Int", "Boolean!", "ID", "[ID!]", "DateTime", "Nope"]


def scalar_values(named: GraphQLScalarType, arg: str) -> st.SearchStrategy[Any]:
    if named.name == "ID":
        return ids
    if named.name == "String":
        return STRINGS_BY_ARG.get(arg, generic_text)
    if named.name == "Int":
        return weighted(
            (3, st.sampled_from([0, 1, -1, 100, 101, 2**31 - 1, 2**31, -(2**31) - 1, 2**53])),
            (2, st.integers()),
            (1, st.sampled_from([1.5, "5", True, 10**400])),
        )
    if named.name == "Boolean":
        return weighted((4, st.booleans()), (1, st.sampled_from(["true", 1, 0, "false"])))
    if named.name == "DateTime":
        return datetimes
    return wrong_values


def enum_values(named: GraphQLEnumType) -> st.SearchStrategy[Any]:
    names = sorted(named.values)
    return weighted(
        (4, st.sampled_from(names)),
        (1, st.sampled_from([n.lower() for n in names] + ["", "NOPE", "SYSTEM", "OWNER"])),
        (1, st.sampled_from([0, 1, True, [names[0]], {"value": names[0]}])),
    )


def values_for(type_: Any, arg: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly values of the right shape (with hostile contents), sometimes of the wrong one."""
    nullable = not is_non_null_type(type_)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        item = values_for(inner.of_type, arg, depth + 1)
        right = weighted((3, st.lists(item, max_size=5)), (1, item))
    elif isinstance(inner, GraphQLInputObjectType):
        right = input_objects(inner, depth, "")
    elif isinstance(inner, GraphQLEnumType):
        right = enum_values(inner)
    else:
        assert isinstance(inner, GraphQLScalarType)
        right = scalar_values(inner, arg)
    return weighted(
        (12, right),
        (2 if nullable else 1, st.none()),
        (1, wrong_values if depth < 2 else json_scalars),
    )


def id_kind(mutation: str, arg: str) -> tuple[str, ...]:
    """Which seeded ids make sense for an ID argument (or input field) of a mutation."""
    lowered = arg.lower()
    if "room" in lowered:
        return ROOM_REFS
    if "user" in lowered or "member" in lowered:
        return USER_REFS
    if "message" in lowered or "reply" in lowered:
        return MESSAGE_REFS
    for word, refs in (("Notification", NOTE_REFS), ("Message", MESSAGE_REFS)):
        if word in mutation:
            return refs
    return ROOM_REFS


BENIGN_STRINGS: dict[str, st.SearchStrategy[Any]] = {
    "username": st.from_regex(r"[a-z0-9_.-]{3,32}", fullmatch=True),
    "password": st.just("correct horse battery"),
    "oldPassword": st.just("wrong horse battery"),
    "newPassword": st.just("another horse battery"),
    "emoji": st.sampled_from(["👍", "😀", ":thumbsup:", ":tada:"]),
    "avatarUrl": st.sampled_from(["https://example.com/a.png", ""]),
    "cursor": st.sampled_from(CURSOR_REFS).map(Ref),
    "after": st.sampled_from(CURSOR_REFS).map(Ref),
    "refreshToken": st.just(Ref("refresh.spare")),
    "clientId": unknown_ids,
}
plain_text = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz ABC0123456789.,!?'@#-😀é\n"),
    min_size=1,
    max_size=30,
)


def benign_values(type_: Any, arg: str, mutation: str) -> st.SearchStrategy[Any]:
    """Plausible values, so an example reaches the services and often succeeds."""
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        return st.lists(benign_values(inner.of_type, arg, mutation), max_size=2)
    if isinstance(inner, GraphQLInputObjectType):
        return input_objects(inner, 1, mutation, hostile=False)
    if isinstance(inner, GraphQLEnumType):
        return st.sampled_from(sorted(inner.values))
    if inner.name == "ID":
        return st.sampled_from(id_kind(mutation, arg)).map(Ref)
    if inner.name == "String":
        return BENIGN_STRINGS.get(arg, plain_text)
    if inner.name == "Int":
        return st.integers(1, 50)
    if inner.name == "Boolean":
        return st.booleans()
    if inner.name == "DateTime":
        return st.sampled_from(["2099-01-01T00:00:00Z", "2099-06-30T12:00:00.000+02:00"])
    return st.none()


def input_objects(
    named: GraphQLInputObjectType, depth: int, mutation: str, hostile: bool = True
) -> st.SearchStrategy[Any]:
    """A hostile input object fuzzes one field (or, at times, all); a benign one none."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        names = list(named.fields)
        focus = draw(st.sampled_from([*names, "*"])) if hostile else None
        out: dict[str, Any] = {}
        for name, fld in named.fields.items():
            if focus in (name, "*"):
                if draw(st.integers(0, 11)) == 0:
                    continue  # leave the field out
                out[name] = draw(values_for(fld.type, name, depth + 1))
            elif is_non_null_type(fld.type) or draw(st.booleans()):
                out[name] = draw(benign_values(fld.type, name, mutation))
        if hostile and draw(st.integers(0, 9)) == 0:
            out[_clean(draw(printable_text)) or "extra"] = draw(json_scalars)
        return out

    return build()


def type_string(type_: Any) -> str:
    return str(type_)


@dataclass
class Example:
    mutation: str
    auth: str
    query: str
    variables: dict[str, Any]
    operation_name: Any = None

    def short(self) -> str:
        return (
            f"auth={self.auth} query={self.query!r} variables={_preview(self.variables)} "
            f"operationName={self.operation_name!r}"
        )


def _preview(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"...(+{len(text) - limit} chars)"


operation_names = weighted(
    (12, st.none()), (2, st.just("Fuzz")), (1, st.sampled_from(["Nope", "", 5]))
)
auths = st.sampled_from(["stranger"] * 8 + ["none", "garbage", "bad-signature", "refresh"])


def selection(type_: Any, depth: int = 1) -> str:
    """Every field without required arguments, objects down to SELECTION_DEPTH levels."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    assert isinstance(named, GraphQLObjectType)
    parts = ["__typename"]
    for name, fld in named.fields.items():
        if any(_required(a) for a in fld.args.values()):
            continue
        child = get_named_type(fld.type)
        if is_leaf_type(child):
            parts.append(name)
        elif depth < SELECTION_DEPTH:
            parts.append(name + " " + selection(fld.type, depth + 1))
    return "{ " + " ".join(parts) + " }"


def _required(arg: GraphQLArgument) -> bool:
    return is_non_null_type(arg.type) and arg.default_value is Undefined


def mutation_examples(name: str) -> st.SearchStrategy[Example]:
    fld = MUTATION_TYPE.fields[name]
    tail = selection(fld.type)

    @st.composite
    def build(draw: st.DrawFn) -> Example:
        # benign: every argument plausible; focused: one argument hostile; chaos: all of them.
        mode = draw(st.sampled_from(["benign"] * 3 + ["focused"] * 10 + ["chaos"] * 5))
        names = list(fld.args)
        focus = draw(st.sampled_from(names)) if names and mode == "focused" else None
        declarations: list[str] = []
        arguments: list[str] = []
        variables: dict[str, Any] = {}
        for arg_name, arg in fld.args.items():
            hostile = mode == "chaos" or arg_name == focus
            how = draw(st.sampled_from(["real"] * 10 + ["omit", "wrong", "flip"]))
            if not hostile:
                how = "real" if is_non_null_type(arg.type) or draw(st.booleans()) else "omit"
            if how == "omit":
                continue
            declared = type_string(arg.type)
            if how == "wrong":
                declared = draw(st.sampled_from(WRONG_DECLARATIONS))
            elif how == "flip":
                declared = declared[:-1] if declared.endswith("!") else declared + "!"
            declarations.append(f"${arg_name}: {declared}")
            arguments.append(f"{arg_name}: ${arg_name}")
            if not hostile:
                variables[arg_name] = draw(benign_values(arg.type, arg_name, name))
                continue
            inner = arg.type.of_type if isinstance(arg.type, GraphQLNonNull) else arg.type
            if isinstance(inner, GraphQLInputObjectType) and draw(st.integers(0, 3)):
                strategy = input_objects(inner, 0, name, hostile=True)  # mostly: one bad field
            else:
                strategy = values_for(arg.type, arg_name)
            value = draw(weighted((15, strategy), (1, st.just(MISSING))))
            if value is not MISSING:
                variables[arg_name] = value
        if mode == "chaos" and draw(st.integers(0, 3)) == 0:
            variables[_clean(draw(printable_text)) or "junk"] = draw(wrong_values)
        head = f"mutation Fuzz({', '.join(declarations)})" if declarations else "mutation Fuzz"
        call = f"{name}({', '.join(arguments)})" if arguments else name
        query = f"{head} {{ {call} {tail} }}"
        auth = draw(auths) if mode == "chaos" else "stranger"
        operation = draw(operation_names) if mode == "chaos" else None
        return Example(name, auth, query, variables, operation)

    return build()


def draw_examples[T](strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """`count` deterministic draws of `strategy` (Hypothesis, derandomized, no database)."""
    drawn: list[T] = []

    @hsettings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def record(value: T) -> None:
        drawn.append(value)

    record()
    return drawn


# --------------------------------------------------------------------------- the seeded world
@dataclass
class World:
    server: Server
    client: Client
    owner: Account
    stranger: Account
    spare: Account
    refs: dict[str, str]
    seeds: dict[str, str]  # the owner's message ids -> content, which the stranger cannot touch
    members: dict[str, set[str]]  # room id -> everyone who was ever a member
    registered: list[str] = field(default_factory=list)
    message_rooms: set[str] = field(default_factory=set)

    def token(self, auth: str) -> str | None:
        return {
            "stranger": self.stranger.token,
            "none": None,
            "garbage": "not-a-jwt",
            "bad-signature": self.stranger.token[:-4] + "AAAA",
            "refresh": self.spare.refresh_token,
        }[auth]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return self.refs.get(value.name, "f" * 32)
        if isinstance(value, Cursor):
            room = self.resolve(value.room)
            raw = json.dumps([value.kind, room, value.seq], separators=(",", ":"))
            return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value


async def seed(server: Server, client: Client) -> World:
    owner = await client.register()
    stranger = await client.register()
    spare = await client.register()
    public = await client.create_room(owner, "public")
    private = await client.create_room(owner, "private", private=True, members=[spare.id])
    await client.join(stranger, public)
    m_public = await client.send(owner, public, f"hello @{stranger.username}")
    await client.send(owner, public, "second")
    m_self = await client.send(stranger, public, f"mine @{owner.username}")
    m_private = await client.send(owner, private, "secret")
    own = await client.create_room(stranger, "own", private=True, members=[spare.id])
    m_own = await client.send(stranger, own, "own message")
    direct = await client.data(
        "mutation($u: ID!) { startDirectChat(userId: $u) { id } }", {"u": owner.id}, stranger.token
    )
    await client.data(
        "mutation($i: CreateReactionInput!) { createReaction(input: $i) { id } }",
        {"i": {"messageId": m_self["id"], "emoji": "👍"}},
        owner.token,
    )
    refs = {
        "user.self": stranger.id,
        "user.owner": owner.id,
        "user.spare": spare.id,
        "room.public": public,
        "room.private": private,
        "room.own": own,
        "room.direct": direct["startDirectChat"]["id"],
        "msg.public_owner": m_public["id"],
        "msg.public_self": m_self["id"],
        "msg.private": m_private["id"],
        "msg.own": m_own["id"],
        "cursor.public": m_public["cursor"],
        "cursor.private": m_private["cursor"],
        "cursor.own": m_own["cursor"],
        "refresh.spare": spare.refresh_token,
    }
    notes = "{ listNotifications(limit: 5) { items { id } } }"
    for key, account in (("note.self", stranger), ("note.owner", owner)):
        items = (await client.data(notes, None, account.token))["listNotifications"]["items"]
        if items:
            refs[key] = items[0]["id"]
    seeds = {m_public["id"]: f"hello @{stranger.username}", m_private["id"]: "secret"}
    members = {
        public: {owner.id, stranger.id},
        private: {owner.id, spare.id},
        own: {stranger.id, spare.id},
        refs["room.direct"]: {owner.id, stranger.id},
    }
    return World(server, client, owner, stranger, spare, refs, seeds, members)


# --------------------------------------------------------------------------- checking answers
def problems_in_answer(status: int, text: str) -> tuple[list[str], Any]:
    """What is wrong with one HTTP answer (nothing, ideally), and its parsed body."""
    found = []
    if not (status == 200 or 400 <= status < 500):
        found.append(f"HTTP {status}")
    for marker in MARKERS:
        if marker in text:
            found.append(f"{marker!r} in the answer")
    try:
        body = json.loads(text)
    except ValueError:
        return [*found, f"not JSON: {text[:300]!r}"], None
    found.extend(problems_in_errors(body.get("errors") if isinstance(body, dict) else None))
    return found, body


def problems_in_errors(errors: Any) -> list[str]:
    if errors is None:
        return []
    if isinstance(errors, dict):
        errors = [errors]
    if not isinstance(errors, list):
        return [f"errors is not a list: {errors!r}"]
    found = []
    for error in errors:
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        if not code:
            found.append(f"error without extensions.code: {error!r}")
        elif code == "INTERNAL_SERVER_ERROR":
            found.append(f"INTERNAL_SERVER_ERROR: {error!r}")
    return found


async def post_raw(
    world: World, query: str, variables: Any, token: str | None, operation_name: Any = None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    request: dict[str, Any] = {"query": query, "variables": variables}
    if operation_name is not None:
        request["operationName"] = operation_name
    body = json.dumps(request).encode()
    return await world.client.http.post(world.server.url, content=body, headers=headers)


async def replay(world: World, example: Example) -> list[str]:
    variables = world.resolve(example.variables)
    token = world.token(example.auth)
    response = await post_raw(world, example.query, variables, token, example.operation_name)
    found, body = problems_in_answer(response.status_code, response.text)
    data = body.get("data") if isinstance(body, dict) else None
    result = data.get(example.mutation) if isinstance(data, dict) else None
    if isinstance(result, dict):
        found.extend(track_success(world, example.mutation, result, variables))
    return found


def track_success(world: World, mutation: str, result: dict[str, Any], variables: Any) -> list[str]:
    """Record what a successful mutation did; report what it must never have done."""
    found = []
    private = world.refs["room.private"]
    if mutation == "register":
        name = result["user"]["username"]
        world.registered.append(name)
        if not USERNAME_RE.match(name):
            found.append(f"registered an invalid username {name!r}")
    elif mutation == "createMessage":
        world.message_rooms.add(result["chatRoomId"])
        if result["chatRoomId"] == private:
            found.append("the stranger wrote to the owner's private room")
        if result["author"]["id"] != world.stranger.id:
            found.append(f"a message sent by the stranger is authored by {result['author']}")
    elif mutation in ("joinRoom", "addRoomMember"):
        if result.get("id") == private:
            found.append(f"{mutation} let the stranger add someone to the private room")
        added = variables.get("userId") if mutation == "addRoomMember" else world.stranger.id
        world.members.setdefault(result["id"], set()).add(str(added))
    return found


# --------------------------------------------------------------------------- invariants
HISTORY = (
    "query($r: ID!, $t: String) { messagesByRoom(chatRoomId: $r, limit: 100, nextToken: $t, "
    "sortDirection: ASC) { items { id seq content isDeleted author { id } } nextToken } }"
)
MEMBERS = (
    "query($r: ID!, $t: String) { getChatRoom(id: $r) { id owner { id } "
    "members(limit: 100, nextToken: $t) { items { id } nextToken } } }"
)


async def graphql(world: World, query: str, variables: Any, token: str | None) -> dict[str, Any]:
    response = await post_raw(world, query, variables, token)
    found, body = problems_in_answer(response.status_code, response.text)
    assert not found, found
    return body  # type: ignore[no-any-return]


async def history(world: World, room: str, token: str) -> list[dict[str, Any]] | None:
    items: list[dict[str, Any]] = []
    next_token = None
    while True:
        body = await graphql(world, HISTORY, {"r": room, "t": next_token}, token)
        if body.get("errors"):
            return None
        page = body["data"]["messagesByRoom"]
        items.extend(page["items"])
        next_token = page["nextToken"]
        if next_token is None:
            return items


async def member_ids(world: World, room: str, token: str) -> list[str] | None:
    out: list[str] = []
    next_token = None
    while True:
        body = await graphql(world, MEMBERS, {"r": room, "t": next_token}, token)
        room_data = (body.get("data") or {}).get("getChatRoom")
        if room_data is None:
            return None
        out.extend(m["id"] for m in room_data["members"]["items"])
        next_token = room_data["members"]["nextToken"]
        if next_token is None:
            return out


async def broken_invariants(world: World) -> list[str]:
    found = []
    me = "{ me { id role } }"
    for account in (world.owner, world.stranger):
        body = await graphql(world, me, None, account.token)
        if (body.get("data") or {}).get("me", {}).get("id") != account.id:
            found.append(f"`me` no longer works for {account.username}: {body}")
    stranger_me = (await graphql(world, me, None, world.stranger.token)).get("data") or {}
    if (stranger_me.get("me") or {}).get("role") not in (None, "USER"):
        found.append(f"the stranger's global role changed: {stranger_me}")

    public, private = world.refs["room.public"], world.refs["room.private"]
    for room in sorted({public, private} | world.message_rooms):
        items = await history(world, room, world.owner.token)
        if items is None and room not in (public, private):
            items = await history(world, room, world.stranger.token)
        if items is None:
            if room in (public, private):
                found.append(f"the owner can no longer read room {room}")
            continue
        seqs = [m["seq"] for m in items]
        if any(b <= a for a, b in itertools.pairwise(seqs)):
            found.append(f"seq not strictly increasing in {room}: {seqs}")
        allowed = world.members.get(room, {world.owner.id, world.stranger.id})
        for message in items:
            if message["author"]["id"] not in allowed:
                found.append(f"message {message['id']} in {room} by a non-member")
            if message["id"] in world.seeds and (
                message["isDeleted"] or message["content"] != world.seeds[message["id"]]
            ):
                found.append(f"the stranger changed the owner's message {message}")

    members = await member_ids(world, private, world.owner.token)
    if members is None:
        found.append("the owner no longer sees the private room")
    elif world.stranger.id in members:
        found.append("the stranger is listed among the private room's members")
    body = await graphql(world, MEMBERS, {"r": private, "t": None}, world.stranger.token)
    if (body.get("data") or {}).get("getChatRoom") is not None:
        found.append("the stranger can see the private room")
    owner_of = (await graphql(world, MEMBERS, {"r": public, "t": None}, world.owner.token)).get(
        "data"
    ) or {}
    if ((owner_of.get("getChatRoom") or {}).get("owner") or {}).get("id") != world.owner.id:
        found.append(f"the public room changed owner: {owner_of}")
    roles = "query($r: ID!) { getChatRoom(id: $r) { myRole } }"
    for account, room, expected in (
        (world.stranger, public, (None, "MEMBER")),
        (world.owner, public, ("OWNER",)),
        (world.owner, private, ("OWNER",)),
    ):
        body = await graphql(world, roles, {"r": room}, account.token)
        role = ((body.get("data") or {}).get("getChatRoom") or {}).get("myRole")
        if role not in expected:
            found.append(f"{account.username} has role {role} in {room}, not {expected}")

    for name in world.registered:
        if not USERNAME_RE.match(name):
            found.append(f"invalid registered username {name!r}")
    return found


# --------------------------------------------------------------------------- found bugs
# Each bug the fuzzer found has a regression test of its own below. A new one: give it a
# predicate here (so the broad tests skip it) and a strict-xfail test, then fix it.


def overflows_utc(value: Any) -> bool:
    """A DateTime string that parses but cannot be converted to UTC (year 0 or 10000)."""
    if isinstance(value, list):
        return any(overflows_utc(v) for v in value)
    if isinstance(value, dict):
        return any(overflows_utc(v) for v in value.values())
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        return parsed.tzinfo is not None
    return False


def has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(v) for v in value.values())
    return isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value)


def http_known_bug(example: Example) -> str | None:
    """Every bug the fuzzer found is fixed; the regression tests below keep them fixed."""
    return None


def ws_known_bug(protocol: str, payload: Any) -> str | None:
    return None


BUG_DATETIME_OVERFLOW = (
    "BUG: a DateTime that overflows on conversion to UTC (e.g. 9999-12-31T23:59:59-14:00) "
    "raises OverflowError in chatql/types/scalars.py parse_datetime (astimezone), which "
    "chatql/security/errors.py classify() masks as INTERNAL_SERVER_ERROR"
)
BUG_LONE_SURROGATE = (
    'BUG: a lone UTF-16 surrogate (JSON "\\ud800") in free text reaches str.encode() '
    "(chatql/auth.py digest_refresh_token and password hashing, SQLite writes of content, "
    "names, descriptions, display names): UnicodeEncodeError with a path, so "
    "chatql/security/errors.py classify() masks it as INTERNAL_SERVER_ERROR; "
    "chatql/services/validation.py text() does not refuse surrogates"
)
BUG_WS_PRE_EXECUTION = (
    "BUG: over WebSockets Strawberry's MissingQueryError / CannotGetOperationTypeError / "
    "InvalidOperationTypeError reach chatql/security/errors.py classify() as original_error "
    "and leave as INTERNAL_SERVER_ERROR (HTTP answers 400 BAD_REQUEST for the same input)"
)
BUG_LEGACY_NO_QUERY = (
    "BUG: graphql-ws `start` without payload.query raises KeyError('query') in Strawberry's "
    "handle_start (via chatql/security/connections.py LegacyWSLimits.handle_start); the socket "
    "drops without a close code (1006) and uvicorn logs 'Exception in ASGI application'"
)
BUG_WS_VARIABLES_NOT_OBJECT = (
    "BUG: chatql/security/validation_memo.py:34 calls `(context.variables or {}).items()`; "
    "WebSocket variables that are a non-empty list/string/number raise AttributeError (only "
    "TypeError/ValueError are caught): graphql-ws never answers the operation ('Task "
    "exception was never retrieved'), graphql-transport-ws sends a bare `complete`"
)
BUG_FANOUT_UNCOERCED = (
    "BUG: chatql/realtime/fanout.py Planner._make validates but never coerces variables, so "
    "`$a: String!` left null/absent yields a Plan; Group.__init__ then raises RuntimeError "
    "(Executor.build) after starting its task: no frame ever reaches the client and the "
    "group's hub subscription leaks ('Group' object has no attribute '_executor')"
)


# --------------------------------------------------------------------------- HTTP mutations
@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_fuzz_mutation(mutation: str, settings: Settings) -> None:
    examples = draw_examples(mutation_examples(mutation), EXAMPLES_PER_MUTATION)
    assert len(examples) >= EXAMPLES_PER_MUTATION // 2
    async with running_server(settings) as server:
        client = Client(server)
        try:
            world = await seed(server, client)
            failures = []
            for example in examples:
                if http_known_bug(example):
                    continue
                for problem in await replay(world, example):
                    failures.append(f"{problem}\n    input: {example.short()}")
            failures.extend(await broken_invariants(world))
        finally:
            await client.close()
    assert not failures, f"{len(failures)} problem(s); first ones:\n" + "\n".join(failures[:5])


def test_every_mutation_is_fuzzed() -> None:
    """The parametrisation comes from schema.graphql itself: no mutation or argument is left out."""
    assert len(MUTATIONS) >= 30
    for name in MUTATIONS:
        examples = draw_examples(mutation_examples(name), 10)
        assert all(f"{{ {name}" in e.query for e in examples)
        for arg in MUTATION_TYPE.fields[name].args:
            assert any(f"{arg}: ${arg}" in e.query for e in examples), (name, arg)


@pytest.mark.parametrize("mutation", ["banFromRoom", "muteInRoom"])
@pytest.mark.parametrize("until", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_regression_datetime_overflow_is_bad_input(
    mutation: str, until: str, settings: Settings
) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        try:
            world = await seed(server, client)
            query = (
                f"mutation($r: ID!, $u: ID!, $t: DateTime) "
                f"{{ {mutation}(roomId: $r, userId: $u, until: $t) }}"
            )
            variables = {"r": Ref("room.own"), "u": Ref("user.spare"), "t": until}
            example = Example(mutation, "stranger", query, variables)
            problems = await replay(world, example)
        finally:
            await client.close()
    assert not problems, problems


SURROGATE_CASES = [
    (
        "refreshToken",
        "none",
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
        {"t": "\ud800"},
    ),
    (
        "login",
        "none",
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }",
        {"u": "nobody", "p": "correct horse \udfff"},
    ),
    (
        "register",
        "none",
        "mutation($u: String!, $p: String!, $d: String) "
        "{ register(username: $u, password: $p, displayName: $d) { accessToken } }",
        {"u": "surrogate", "p": "correct horse battery", "d": "a\ud800b"},
    ),
    (
        "createMessage",
        "stranger",
        "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id } }",
        {"i": {"chatRoomId": Ref("room.public"), "content": "a\udfffb"}},
    ),
]


@pytest.mark.parametrize(
    ("mutation", "auth", "query", "variables"), SURROGATE_CASES, ids=[c[0] for c in SURROGATE_CASES]
)
async def test_regression_lone_surrogates_are_bad_input(
    mutation: str, auth: str, query: str, variables: dict[str, Any], settings: Settings
) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        try:
            world = await seed(server, client)
            example = Example(mutation, auth, query, variables)
            problems = await replay(world, example)
        finally:
            await client.close()
    assert not problems, problems


# --------------------------------------------------------------------------- WebSocket subscribe
SUB_FIELDS = [
    "id",
    "chatRoomId",
    "content",
    "seq",
    "cursor",
    "author { id username }",
    "reactions { emoji count reactedByMe }",
    "chatRoom { id myRole }",
    "replyTo { id }",
    "__typename",
    "nope",
]


@dataclass
class WSExample:
    auth: str
    payload: Any  # the `payload` of subscribe/start: query, variables, maybe operationName

    def short(self) -> str:
        return f"auth={self.auth} payload={_preview(self.payload, 600)}"


@st.composite
def structured_subscriptions(draw: st.DrawFn) -> str:
    room_decl = draw(st.sampled_from(["ID!"] * 4 + ["ID", "String!", "Int", "[ID!]"]))
    after_decl = draw(st.sampled_from(["String"] * 3 + ["String!", "ID", "Int", None]))
    decls = [f"$r: {room_decl}"] + ([f"$a: {after_decl}"] if after_decl else [])
    args = ["chatRoomId: $r"] + (["after: $a"] if after_decl else [])
    fields = draw(st.lists(st.sampled_from(SUB_FIELDS), min_size=1, max_size=4, unique=True))
    kind = draw(st.sampled_from(["subscription"] * 5 + ["subscription S", "query", "mutation"]))
    return (
        f"{kind}({', '.join(decls)}) {{ onMessageCreated({', '.join(args)}) "
        f"{{ {' '.join(fields)} }} }}"
    )


def _mangle(query: str, position: int, junk: str) -> str:
    cut = position % (len(query) + 1)
    return query[:cut] + junk + query[cut:]


def _repeated_roots(count: int) -> str:
    return "subscription { " + "onMessageCreated(chatRoomId: 1) { id } " * count + "}"


sub_queries = weighted(
    (8, structured_subscriptions()),
    (2, st.builds(_mangle, structured_subscriptions(), st.integers(0, 400), generic_text)),
    (1, generic_text),
    (1, st.builds(_repeated_roots, st.integers(1, 3000))),
    (1, st.sampled_from(["{", "subscription", "subscription { onMessageCreated }"])),
)
sub_room = weighted(
    (6, st.sampled_from(["room.public", "room.private", "room.own"]).map(Ref)),
    (1, unknown_ids),
    (1, malformed_ids),
    (1, wrong_values),
)
sub_after = weighted((3, st.just(MISSING)), (2, st.none()), (3, cursors), (1, wrong_values))


@st.composite
def sub_variables(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 11)) == 0:
        return draw(wrong_values)
    out = {"r": draw(sub_room)}
    after = draw(sub_after)
    if after is not MISSING:
        out["a"] = after
    return out


@st.composite
def sub_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload = {"query": _clean(draw(sub_queries)), "variables": draw(sub_variables())}
    name = draw(weighted((8, st.just(MISSING)), (1, st.none()), (1, st.just("S"))))
    if name is not MISSING:
        payload["operationName"] = name
    return payload


ws_examples = st.builds(
    WSExample, st.sampled_from(["stranger"] * 6 + ["none", "garbage"]), sub_payloads()
)

TRANSPORT_FRAMES = {"next", "error", "complete"}
LEGACY_FRAMES = {"data", "error", "complete", "connection_error"}


async def _first_frame(ws: Any, timeout: float) -> str | None:
    """The first frame other than keep-alives, or None when nothing came within `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return None
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            return None
        if not isinstance(raw, str):
            return repr(raw)  # reported as an unexpected frame
        frame = json.loads(raw)
        if isinstance(frame, dict) and frame.get("type") in ("ka", "ping", "pong"):
            continue
        return raw


async def replay_ws(world: World, protocol: str, example: WSExample) -> list[str]:
    """Subscribe once; a frame must answer (at the latest once an event is sent) or a 44xx/1009
    close must end the socket."""
    payload = world.resolve(example.payload)
    token = world.token(example.auth)
    found: list[str] = []
    ws = await websockets.connect(world.server.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
    try:
        init = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        raw = await _first_frame(ws, 5)
        if raw is None or json.loads(raw).get("type") != "connection_ack":
            found.extend(["no connection_ack"] if raw is None else problems_in_frame(protocol, raw))
            return found
        kind = "subscribe" if protocol == TRANSPORT_WS else "start"
        await ws.send(json.dumps({"id": "1", "type": kind, "payload": payload}))
        raw = await _first_frame(ws, 0.25)
        variables = payload.get("variables") if isinstance(payload, dict) else None
        room = variables.get("r") if isinstance(variables, dict) else None
        for wait in (1.5, 2.0):  # perhaps a live subscription: give it an event (twice)
            if raw is not None:
                break
            await poke(world, room)
            raw = await _first_frame(ws, wait)
        if raw is None:
            found.append("no frame: neither an error nor the event that was sent")
        else:
            found.extend(problems_in_frame(protocol, raw))
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else None
        if code is None or not (4400 <= code < 4500 or code == 1009):
            found.append(f"closed with {code}")
        reason = closed.rcvd.reason if closed.rcvd else ""
        found.extend(f"{m!r} in the close reason" for m in MARKERS if m in reason)
    finally:
        await ws.close()
    return found


def problems_in_frame(protocol: str, raw: str) -> list[str]:
    found = [f"{m!r} in a frame" for m in MARKERS if m in raw]
    try:
        frame = json.loads(raw)
    except ValueError:
        return [*found, f"a frame that is not JSON: {raw[:300]}"]
    allowed = TRANSPORT_FRAMES if protocol == TRANSPORT_WS else LEGACY_FRAMES
    if not isinstance(frame, dict) or frame.get("type") not in allowed:
        return [*found, f"unexpected frame {raw[:300]}"]
    if frame.get("id", "1") != "1":
        found.append(f"frame for another operation: {raw[:300]}")
    if frame["type"] in ("next", "data"):
        payload = frame.get("payload")
        if not isinstance(payload, dict) or not ("data" in payload or "errors" in payload):
            found.append(f"malformed result payload: {raw[:300]}")
        else:
            found.extend(problems_in_errors(payload.get("errors")))
    elif frame["type"] == "error":
        found.extend(problems_in_errors(frame.get("payload")))
    return found


async def poke(world: World, room: Any) -> None:
    """Send a message to the room of a subscription that answered nothing yet (it may be live)."""
    by_room = {
        world.refs["room.public"]: world.owner,
        world.refs["room.private"]: world.owner,
        world.refs["room.own"]: world.stranger,
    }
    account = by_room.get(room) if isinstance(room, str) else None
    if account is not None:
        await world.client.send(account, room, "poke")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_fuzz_subscribe_frames(protocol: str, settings: Settings) -> None:
    examples = draw_examples(ws_examples, WS_EXAMPLES)
    async with running_server(settings) as server:
        client = Client(server)
        try:
            world = await seed(server, client)
            failures = []
            for example in examples:
                if ws_known_bug(protocol, world.resolve(example.payload)):
                    continue
                for problem in await replay_ws(world, protocol, example):
                    failures.append(f"{problem}\n    input: {example.short()}")
            body = await graphql(world, "{ me { id } }", None, world.stranger.token)
            if (body.get("data") or {}).get("me", {}).get("id") != world.stranger.id:
                failures.append(f"`me` stopped working: {body}")
            failures.extend(await still_delivers(world, protocol))
        finally:
            await client.close()
    assert not failures, f"{len(failures)} problem(s); first ones:\n" + "\n".join(failures[:5])


async def still_delivers(world: World, protocol: str) -> list[str]:
    """After the fuzzing, an ordinary subscription still receives a new message."""
    ws = await websockets.connect(world.server.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
    try:
        init = {"authorization": f"Bearer {world.stranger.token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        raw = await _first_frame(ws, 5)
        if raw is None or json.loads(raw)["type"] != "connection_ack":
            return [f"after fuzzing: no connection_ack ({raw})"]
        query = "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) { content } }"
        payload = {"query": query, "variables": {"r": world.refs["room.public"]}}
        kind = "subscribe" if protocol == TRANSPORT_WS else "start"
        await ws.send(json.dumps({"id": "1", "type": kind, "payload": payload}))
        raw = None
        for _ in range(3):  # the subscription may take a moment to start listening
            await world.client.send(world.owner, world.refs["room.public"], "still here")
            raw = await _first_frame(ws, 2)
            if raw is not None:
                break
    finally:
        await ws.close()
    frame = json.loads(raw) if raw else {}
    content = ((frame.get("payload") or {}).get("data") or {}).get("onMessageCreated") or {}
    if content.get("content") != "still here":
        return [f"after fuzzing: a subscription no longer delivers ({raw})"]
    return []


KNOWN_WS_BUGS = (
    [
        pytest.param(
            protocol,
            {"query": "subscription { onMyRoomsChanged { type } }", "operationName": "Nope"},
            id=f"{protocol}-unknown-operationName",
        )
        for protocol in PROTOCOLS
    ]
    + [
        pytest.param(
            protocol,
            {"query": "", "variables": {}},
            id=f"{protocol}-empty-query",
        )
        for protocol in PROTOCOLS
    ]
    + [
        pytest.param(
            LEGACY_WS,
            {"query": "{ me { id } }"},
            id="graphql-ws-query-operation",
        ),
        pytest.param(
            LEGACY_WS,
            {"variables": {}},
            id="graphql-ws-start-without-query",
        ),
        pytest.param(
            LEGACY_WS,
            {
                "query": "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) { id } }",
                "variables": [{"r": Ref("room.public")}],
            },
            id="graphql-ws-variables-list",
        ),
        pytest.param(
            TRANSPORT_WS,
            {
                "query": "subscription($r: ID!, $a: String!) "
                "{ onMessageCreated(chatRoomId: $r, after: $a) { id } }",
                "variables": {"r": Ref("room.public")},
            },
            id="graphql-transport-ws-non-null-after-missing",
        ),
    ]
)


@pytest.mark.parametrize(("protocol", "payload"), KNOWN_WS_BUGS)
async def test_regression_malformed_ws_operations(
    protocol: str, payload: dict[str, Any], settings: Settings
) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        try:
            world = await seed(server, client)
            problems = await replay_ws(world, protocol, WSExample("stranger", payload))
        finally:
            await client.close()
    assert not problems, problems
