"""One contract, every blob store: local disk and S3 (a real moto server on 127.0.0.1).

The same tests run against both, so the files service can rely on identical behaviour:
streamed round trips (multipart on S3), ranges, stat, delete, atomic writes that leave
nothing behind on failure, key validation, presigned uploads, and the CHATQL_FILES_URL forms.

moto checks neither the signature nor the expiry of a presigned URL, and so neither the
Content-Length nor the Content-Type it binds. Those are checked here by verifying the URL
with SigV4 as S3 does it (an implementation written from AWS's spec, not botocore's), and the
URL is then really PUT to moto to prove it stores the object.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest

from chatql.blobs import (
    CHUNK,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    LocalBlobStore,
    open_blob_store,
    valid_key,
)
from chatql.blobs.s3 import PART, S3BlobStore
from tests.s3_server import REGION, SECRET

PREFIX = "tenant/files"
MIB = 1024 * 1024

# The moto server (`moto_endpoint`) and AWS credentials (`aws_env`) come from tests/s3_server.py
# through conftest.


@functools.cache
def _session() -> Any:
    """One botocore session for the helper clients: it loads S3's API model only once."""
    from aiobotocore.session import get_session

    return get_session()


@asynccontextmanager
async def raw_s3(endpoint_url: str | None) -> AsyncIterator[Any]:
    """A plain client beside the store, to look at the bucket the way S3 sees it."""
    async with _session().create_client(
        "s3", endpoint_url=endpoint_url, region_name=REGION
    ) as client:
        yield client


@asynccontextmanager
async def opened(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LocalBlobStore | S3BlobStore]:
    """An open store of that kind; an S3 one in a fresh bucket, under a prefix."""
    store: LocalBlobStore | S3BlobStore
    if kind == "local":
        store = LocalBlobStore(tmp_path / "blobs")
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        request.getfixturevalue("aws_env")
        bucket = f"chatql-{uuid.uuid4().hex[:16]}"
        async with raw_s3(endpoint) as s3:
            await s3.create_bucket(Bucket=bucket)
        store = S3BlobStore(bucket, PREFIX, endpoint, REGION)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["local", "s3"])
async def blob_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BlobStore]:
    """The contract's subject: every test taking it runs once per kind of store."""
    async with opened(request.param, request, tmp_path, monkeypatch) as store:
        yield store


@pytest.fixture
async def s3_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[S3BlobStore]:
    """For what only S3 has: presigned URLs and the prefix."""
    async with opened("s3", request, tmp_path, monkeypatch) as store:
        assert isinstance(store, S3BlobStore)
        yield store


# ------------------------------------------------------------------ helpers


async def pieces(data: bytes, size: int = 100_003) -> AsyncIterator[bytes]:
    """The bytes in odd-sized pieces, so no chunk or part boundary lines up by chance."""
    for at in range(0, len(data), size):
        yield data[at : at + size]
        await asyncio.sleep(0)


async def read_all(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


async def leftovers(store: BlobStore) -> list[str]:
    """What a failed write could leave: temporary files, or multipart uploads not aborted."""
    if isinstance(store, LocalBlobStore):
        tmp = store.root / ".tmp"
        return sorted(os.listdir(tmp)) if tmp.exists() else []
    assert isinstance(store, S3BlobStore)
    async with raw_s3(store.endpoint_url) as s3:
        found = await s3.list_multipart_uploads(Bucket=store.bucket)
    return [upload["Key"] for upload in found.get("Uploads", [])]


def kind(store: BlobStore) -> str:
    return "s3" if isinstance(store, S3BlobStore) else "local"


# ------------------------------------------------------------------ round trips


async def test_round_trip_streams_in_chunks(blob_store: BlobStore) -> None:
    data = os.urandom(3 * MIB + 7)
    assert await blob_store.write("files/three", pieces(data), max_bytes=len(data)) == len(data)
    chunks = [chunk async for chunk in blob_store.read("files/three")]
    assert b"".join(chunks) == data
    assert len(chunks) > 1 and max(map(len, chunks)) <= CHUNK
    info = await blob_store.stat("files/three")
    assert info is not None and info.size == len(data)


async def test_large_object_goes_up_in_parts(blob_store: BlobStore) -> None:
    """20 MiB: on S3 a multipart upload of 8 + 8 + 4 MiB, never held whole."""
    data = os.urandom(2 * PART + 4 * MIB)
    assert await blob_store.write("files/big", pieces(data, 1 * MIB), max_bytes=len(data)) == len(
        data
    )
    assert hashlib.sha256(await read_all(blob_store, "files/big")).digest() == (
        hashlib.sha256(data).digest()
    )
    if isinstance(blob_store, S3BlobStore):
        async with raw_s3(blob_store.endpoint_url) as s3:
            head = await s3.head_object(Bucket=blob_store.bucket, Key=f"{PREFIX}/files/big")
        assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a 3-part upload


async def test_small_and_empty_objects(blob_store: BlobStore) -> None:
    assert await blob_store.write("a", pieces(b"x"), max_bytes=1) == 1
    assert await read_all(blob_store, "a") == b"x"
    assert await blob_store.write("empty", pieces(b""), max_bytes=0) == 0
    assert await blob_store.stat("empty") is not None
    assert await read_all(blob_store, "empty") == b""
    assert await read_all(blob_store, "empty", 0, 10) == b""


async def test_overwrite_replaces(blob_store: BlobStore) -> None:
    await blob_store.write("files/k", pieces(os.urandom(MIB)), max_bytes=MIB)
    await blob_store.write("files/k", pieces(b"short"), max_bytes=MIB)
    assert await read_all(blob_store, "files/k") == b"short"
    info = await blob_store.stat("files/k")
    assert info is not None and info.size == 5


async def test_concurrent_writes_leave_one_whole_object(blob_store: BlobStore) -> None:
    one, two = b"1" * (MIB + 1), b"2" * (MIB + 2)
    await asyncio.gather(
        blob_store.write("files/race", pieces(one), max_bytes=2 * MIB),
        blob_store.write("files/race", pieces(two), max_bytes=2 * MIB),
    )
    assert await read_all(blob_store, "files/race") in (one, two)


# ------------------------------------------------------------------ ranges


RANGES = [
    (0, 10),  # first bytes
    (0, 1),
    (1000, 2000),  # middle
    (CHUNK - 5, CHUNK + 5),  # across a chunk boundary
    (10, None),  # to the end
    (-1, None),  # the last byte (size - 1)
    (-1, 0),  # the last byte, end exactly the size
    (0, 10**9),  # end past the size: clamped
]


@pytest.mark.parametrize(("start", "end"), RANGES)
async def test_ranges(blob_store: BlobStore, start: int, end: int | None) -> None:
    data = os.urandom(2 * CHUNK + 333)
    size = len(data)
    await blob_store.write("files/r", pieces(data), max_bytes=size)
    if start < 0:  # written relative to the size
        start, end = size + start, (size if end == 0 else end)
    assert await read_all(blob_store, "files/r", start, end) == data[start:end]


async def test_empty_ranges_yield_nothing(blob_store: BlobStore) -> None:
    """A start at or past the size, or end <= start, yields b"" (documented in base.py)."""
    await blob_store.write("files/r", pieces(b"0123456789"), max_bytes=10)
    for start, end in [(10, None), (11, None), (50, 60), (5, 5), (7, 3), (10, 10)]:
        assert await read_all(blob_store, "files/r", start, end) == b"", (start, end)


async def test_negative_range_is_refused_at_call(blob_store: BlobStore) -> None:
    with pytest.raises(ValueError):
        blob_store.read("files/r", -1)
    with pytest.raises(ValueError):
        blob_store.read("files/r", 0, -5)


async def test_abandoned_reads_release_what_they_hold(blob_store: BlobStore) -> None:
    """A download the client gives up on must free its file or connection: more abandoned
    reads than the S3 pool has connections (64), then the store must still answer."""
    data = os.urandom(2 * CHUNK + 1)
    await blob_store.write("files/a", pieces(data), max_bytes=len(data))
    async with asyncio.timeout(20):
        for _ in range(80):
            stream = blob_store.read("files/a")
            assert isinstance(stream, AsyncGenerator)
            assert await anext(stream)
            await stream.aclose()
        assert await read_all(blob_store, "files/a", 5, 9) == data[5:9]


# ------------------------------------------------------------------ stat, delete, missing


async def test_stat_and_delete(blob_store: BlobStore) -> None:
    assert await blob_store.stat("files/d") is None
    await blob_store.write("files/d", pieces(b"hello"), max_bytes=5)
    info = await blob_store.stat("files/d")
    assert info is not None and info.size == 5
    await blob_store.delete("files/d")
    assert await blob_store.stat("files/d") is None
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, "files/d")
    await blob_store.delete("files/d")  # twice: fine
    await blob_store.delete("never/was")


async def test_folder_of_longer_keys_is_no_object(blob_store: BlobStore) -> None:
    """`files` holds `files/x` on disk as a folder; for the contract it is no object."""
    await blob_store.write("files/x", pieces(b"x"), max_bytes=1)
    assert await blob_store.stat("files") is None
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, "files")
    await blob_store.delete("files")
    assert await read_all(blob_store, "files/x") == b"x"


@pytest.mark.parametrize(("start", "end"), [(0, None), (5, None), (0, 10), (3, 3)])
async def test_read_missing_raises_on_first_iteration(
    blob_store: BlobStore, start: int, end: int | None
) -> None:
    stream = blob_store.read("files/missing", start, end)  # no error yet: the call is lazy
    with pytest.raises(BlobNotFound):
        await anext(aiter(stream))


# ------------------------------------------------------------------ failed writes


@pytest.mark.parametrize("size", [11, PART + MIB])
async def test_too_large_leaves_nothing(blob_store: BlobStore, size: int) -> None:
    """Small, and past one part (so S3 has a multipart upload to abort)."""
    with pytest.raises(BlobTooLarge):
        await blob_store.write("files/t", pieces(os.urandom(size), MIB), max_bytes=size - 1)
    assert await blob_store.stat("files/t") is None
    assert await leftovers(blob_store) == []
    # exactly max_bytes is allowed
    assert await blob_store.write("files/t", pieces(b"x" * 11), max_bytes=11) == 11


async def test_too_large_keeps_the_previous_object(blob_store: BlobStore) -> None:
    await blob_store.write("files/p", pieces(b"before"), max_bytes=6)
    with pytest.raises(BlobTooLarge):
        await blob_store.write("files/p", pieces(b"x" * (PART + 1), MIB), max_bytes=PART)
    assert await read_all(blob_store, "files/p") == b"before"
    assert await leftovers(blob_store) == []


async def test_failing_source_leaves_nothing(blob_store: BlobStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(PART + MIB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await blob_store.write("files/f", broken(), max_bytes=10 * PART)
    assert await blob_store.stat("files/f") is None
    assert await leftovers(blob_store) == []


async def test_cancelled_write_leaves_nothing(blob_store: BlobStore) -> None:
    reached = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(PART + MIB)  # a part goes up before the next chunk is asked for
        reached.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(blob_store.write("files/c", stalls(), max_bytes=10 * PART))
    await asyncio.wait_for(reached.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await blob_store.stat("files/c") is None
    assert await leftovers(blob_store) == []


# ------------------------------------------------------------------ keys


BAD_KEYS = ["../x", "/abs", "a//b", "", "a/../b", "a/", ".tmp/x", "a/./b", "a/.", "a\n", "a b"]


async def test_invalid_keys_are_refused(blob_store: BlobStore) -> None:
    for key in BAD_KEYS:
        with pytest.raises(ValueError):
            await blob_store.write(key, pieces(b"x"), max_bytes=1)
        with pytest.raises(ValueError):
            blob_store.read(key)
        with pytest.raises(ValueError):
            await blob_store.stat(key)
        with pytest.raises(ValueError):
            await blob_store.delete(key)
        with pytest.raises(ValueError):
            await blob_store.presigned_put(
                key, size=1, content_type="application/octet-stream", expires_in=60
            )
    assert await leftovers(blob_store) == []


def test_valid_keys() -> None:
    for key in ["files/0a1b", "a", "_x/y.z-1", "thumbs/a.b/c"]:
        assert valid_key(key) == key


async def test_local_keys_stay_below_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    await store.open()
    await store.write("files/abc", pieces(b"x"), max_bytes=1)
    assert (tmp_path / "root" / "files" / "abc").read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path)) == ["root"]
    await store.close()


async def test_local_open_sweeps_stale_temporary_files(tmp_path: Path) -> None:
    """A crash mid-write leaves a temporary file; the next start removes it once stale,
    never one a live write (of another process sharing the folder) is still adding to."""
    tmp = tmp_path / "root" / ".tmp"
    tmp.mkdir(parents=True)
    (tmp / "stale.part").write_bytes(b"x")
    (tmp / "live.part").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(tmp / "stale.part", (two_days_ago, two_days_ago))
    store = LocalBlobStore(tmp_path / "root")
    await store.open()
    assert os.listdir(tmp) == ["live.part"]
    await store.close()


async def test_s3_keys_live_under_the_prefix(s3_store: S3BlobStore) -> None:
    await s3_store.write("files/abc", pieces(b"x"), max_bytes=1)
    async with raw_s3(s3_store.endpoint_url) as s3:
        listed = await s3.list_objects_v2(Bucket=s3_store.bucket)
    assert [item["Key"] for item in listed["Contents"]] == [f"{PREFIX}/files/abc"]


# ------------------------------------------------------------------ presigned uploads


def sigv4_query_valid(url: str, method: str, headers: dict[str, str], now: datetime) -> bool:
    """Would S3 accept this request to a presigned URL? SigV4 query auth, from the spec:
    https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html"""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    issued = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if now > issued + timedelta(seconds=int(params["X-Amz-Expires"])):
        return False
    sent = {name.lower(): value.strip() for name, value in headers.items()}
    sent["host"] = parts.netloc
    signed = params["X-Amz-SignedHeaders"].split(";")
    if any(name not in sent for name in signed):
        return False

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    canonical = "\n".join(
        [
            method,
            parts.path,
            "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query) if k != "X-Amz-Signature"),
            "".join(f"{name}:{sent[name]}\n" for name in signed),
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = params["X-Amz-Credential"].split("/", 1)[1]  # date/region/s3/aws4_request
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{SECRET}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, params.get("X-Amz-Signature", ""))


async def test_presigned_put(blob_store: BlobStore) -> None:
    body = os.urandom(1000)
    direct = await blob_store.presigned_put(
        "files/up", size=len(body), content_type="application/octet-stream", expires_in=60
    )
    if kind(blob_store) == "local":
        assert direct is None  # uploads come through ChatQL's own endpoint
        return
    assert direct is not None and direct.method == "PUT"
    assert direct.headers == (("Content-Type", "application/octet-stream"),)
    async with httpx.AsyncClient() as http:
        answer = await http.put(direct.url, content=body, headers=dict(direct.headers))
    assert answer.status_code == 200, answer.text
    assert await read_all(blob_store, "files/up") == body


async def test_presigned_put_binds_size_type_and_expiry(s3_store: S3BlobStore) -> None:
    """What S3 checks and moto does not (see the module docstring)."""
    before = datetime.now(UTC).replace(microsecond=0)
    direct = await s3_store.presigned_put(
        "files/up", size=5, content_type="image/png", expires_in=1
    )
    assert direct is not None
    url, good = direct.url, {"Content-Type": "image/png", "Content-Length": "5"}
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["X-Amz-SignedHeaders"].split(";") == ["content-length", "content-type", "host"]
    assert params["X-Amz-Expires"] == "1"
    assert urlsplit(url).path == f"/{s3_store.bucket}/{PREFIX}/files/up"

    assert sigv4_query_valid(url, "PUT", good, before)
    assert not sigv4_query_valid(url, "PUT", {**good, "Content-Length": "6"}, before)
    assert not sigv4_query_valid(url, "PUT", {**good, "Content-Type": "text/html"}, before)
    assert not sigv4_query_valid(url, "GET", good, before)
    assert not sigv4_query_valid(url.replace("files/up", "files/other"), "PUT", good, before)
    flipped = "0" if url[-1] != "0" else "1"
    assert not sigv4_query_valid(url[:-1] + flipped, "PUT", good, before)  # tampered
    # expired: a second past its last valid moment, counted from its own signing time (the
    # clock may have turned a second since `before`)
    issued = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert not sigv4_query_valid(url, "PUT", good, issued + timedelta(seconds=2))


async def test_presigned_put_limits(s3_store: S3BlobStore) -> None:
    octet = "application/octet-stream"
    # above S3's 5 GiB single PUT: the upload comes through ChatQL (multipart) instead
    assert (
        await s3_store.presigned_put("k", size=6 * 1024**3, content_type=octet, expires_in=60)
        is None
    )
    for expires_in in (0, 8 * 86400):
        with pytest.raises(ValueError):
            await s3_store.presigned_put("k", size=1, content_type=octet, expires_in=expires_in)


# ------------------------------------------------------------------ CHATQL_FILES_URL


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("file:./files", Path.cwd() / "files"),
        ("file:relative/dir", Path.cwd() / "relative" / "dir"),
        ("file:/abs/path", Path("/abs/path")),
        ("file:///abs/path", Path("/abs/path")),
        ("file://localhost/abs/path", Path("/abs/path")),
    ],
)
def test_file_urls(url: str, root: Path) -> None:
    store = open_blob_store(url)
    assert isinstance(store, LocalBlobStore) and store.root == root


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", ("bucket", "", None, None)),
        ("s3://bucket/", ("bucket", "", None, None)),
        ("s3://my.bucket-1/some/prefix/", ("my.bucket-1", "some/prefix", None, None)),
        ("s3://bucket?region=eu-west-3", ("bucket", "", None, "eu-west-3")),
        (
            "s3://bucket/p?endpoint_url=http://127.0.0.1:9000&region=us-east-1",
            ("bucket", "p", "http://127.0.0.1:9000", "us-east-1"),
        ),
        (
            "s3://bucket?endpoint_url=https%3A%2F%2Fminio.example%3A9000",
            ("bucket", "", "https://minio.example:9000", None),
        ),
    ],
)
def test_s3_urls(url: str, expected: tuple[str, str, str | None, str | None]) -> None:
    store = open_blob_store(url)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.endpoint_url, store.region) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "files",
        "./files",
        "http://example.com/files",
        "file:",
        "file://otherhost/x",
        "file:./files?x=1",
        "s3://",
        "s3:///prefix",
        "s3://b",
        "s3://bucket?unknown=1",
        "s3://bucket?region=us-east-1&region=eu-west-1",
        "s3://bucket?region=",
        "s3://bucket?endpoint_url=ftp://host",
        "s3://bucket?endpoint_url=",
        "s3://bucket/a//b",
        "s3://bucket/../up",
        "s3://bucket:9000",
        "s3://bucket#frag",
    ],
)
def test_bad_urls_name_the_setting(url: str) -> None:
    with pytest.raises(ValueError, match="CHATQL_FILES_URL"):
        open_blob_store(url)


def test_credentials_in_the_url_are_refused_and_not_echoed() -> None:
    with pytest.raises(ValueError, match="CHATQL_FILES_URL") as error:
        open_blob_store("s3://AKIAKEY:topsecret@bucket/p")
    assert "topsecret" not in str(error.value)
