"""Where file bytes live, chosen by one setting: CHATQL_FILES_URL.

`file:./files` (the default), `file:/abs/path` or `file:///abs/path` keep them on local disk;
`s3://bucket/optional/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1` in an
S3-compatible bucket, with credentials from the standard AWS chain (never from the URL).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from chatql.blobs.base import (
    CHUNK,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    DirectUpload,
    valid_key,
)
from chatql.blobs.local import LocalBlobStore

__all__ = [
    "CHUNK",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobTooLarge",
    "DirectUpload",
    "LocalBlobStore",
    "open_blob_store",
    "upload_origins",
    "valid_key",
]

SETTING = "CHATQL_FILES_URL"
S3_PARAMETERS = ("endpoint_url", "region")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_USERINFO = re.compile(r"//[^/?#@]*@")


def _shown(url: str) -> str:
    """The URL for an error message, without any user:password in it."""
    return _USERINFO.sub("//***@", url)


def _fail(url: str, why: str) -> ValueError:
    return ValueError(f"{SETTING}={_shown(url)!r}: {why}")


def open_blob_store(url: str) -> BlobStore:
    """The store the URL names, not opened yet (settings call this only to validate)."""
    if url.startswith("file:"):
        return LocalBlobStore(_local_root(url))
    if url[:5].lower() == "s3://":
        from chatql.blobs.s3 import S3BlobStore  # aiobotocore only when S3 is used

        bucket, prefix, endpoint_url, region = _s3_parts(url)
        return S3BlobStore(bucket, prefix, endpoint_url, region)
    raise _fail(url, "expected file:<folder> or s3://bucket/prefix?endpoint_url=…&region=…")


def upload_origins(url: str) -> tuple[str, ...]:
    """Where browsers send upload bytes themselves: the S3 endpoint (its presigned PUTs);
    nothing for the local store, whose uploads come to ChatQL. For a web page's CSP."""
    if url[:5].lower() != "s3://":
        return ()
    bucket, _prefix, endpoint_url, _region = _s3_parts(url)
    if endpoint_url is None:
        return ("https://*.amazonaws.com",)
    endpoint = urlsplit(endpoint_url)
    return (
        f"{endpoint.scheme}://{endpoint.netloc}",
        f"{endpoint.scheme}://{bucket}.{endpoint.netloc}",
    )


def _local_root(url: str) -> Path:
    """`file:` then a path; relative paths are taken from the current directory, now."""
    path = url.removeprefix("file:")
    if path.startswith("//"):  # URL form: file:///abs or file://localhost/abs
        host, slash, rest = path[2:].partition("/")
        if host not in ("", "localhost") or not slash:
            raise _fail(url, "a file: URL names a folder on this machine, not a host")
        path = "/" + rest
    if "?" in path or "#" in path:
        raise _fail(url, "a file: URL takes no query or fragment")
    if not path:
        raise _fail(url, "the folder is missing (e.g. file:./files)")
    return Path(path).absolute()


def _s3_parts(url: str) -> tuple[str, str, str | None, str | None]:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise _fail(url, "credentials come from the AWS chain (AWS_ACCESS_KEY_ID…), not the URL")
    if ":" in parts.netloc:
        raise _fail(url, "give the server with ?endpoint_url=…, not as a port on the bucket")
    bucket = parts.netloc
    if not bucket:
        raise _fail(url, "the bucket name is missing (s3://bucket/prefix)")
    if not _BUCKET.fullmatch(bucket):
        raise _fail(url, f"{bucket!r} is not a bucket name")
    if parts.fragment:
        raise _fail(url, "an s3:// URL takes no fragment")
    prefix = parts.path.strip("/")
    if prefix:
        try:
            valid_key(prefix)
        except ValueError:
            raise _fail(url, f"{prefix!r} is not a key prefix ([A-Za-z0-9/_.-])") from None
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _fail(url, "the query is not name=value&…") from None
    options: dict[str, str] = {}
    for name, value in pairs:
        if name not in S3_PARAMETERS:
            raise _fail(url, f"unknown parameter {name!r} (known: {', '.join(S3_PARAMETERS)})")
        if name in options:
            raise _fail(url, f"{name!r} is given twice")
        options[name] = value
    endpoint_url = options.get("endpoint_url")
    if endpoint_url is not None:
        endpoint = urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise _fail(url, "endpoint_url must be http(s)://host[:port]")
    region = options.get("region")
    if region is not None and not _REGION.fullmatch(region):
        raise _fail(url, f"{region!r} is not a region name (e.g. us-east-1)")
    return bucket, prefix, endpoint_url, region
