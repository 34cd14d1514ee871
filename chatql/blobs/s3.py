"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2…) through aiobotocore.

Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID… env vars, profiles, instance
roles), never from ChatQL's settings. One client lives as long as the store, so its connection
pool is shared by every request. Bytes stream both ways: uploads go up in multipart parts of
a few MiB and downloads come down in chunks, so memory stays flat whatever the size.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from chatql.blobs.base import CHUNK, BlobInfo, BlobNotFound, BlobTooLarge, DirectUpload, valid_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger("chatql.blobs")

PART = 8 * 1024 * 1024
"""Bytes per multipart part: above S3's 5 MiB minimum, small enough to buffer per upload."""

MAX_PARTS = 10_000
"""S3's limit of parts per upload; parts grow past PART only for objects above ~78 GiB."""

MAX_PUT = 5 * 1024**3
"""S3's limit for one PUT: a presigned URL cannot carry a larger object."""

MAX_EXPIRY = 7 * 86400
"""SigV4 presigned URLs live at most a week."""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """Keys live under `prefix` (joined with `/`) in `bucket`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name cannot be empty")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            valid_key(self.prefix)
        self.endpoint_url = endpoint_url
        self.region = region
        self._stack: contextlib.AsyncExitStack | None = None
        self._s3: S3Client | None = None

    def __repr__(self) -> str:
        return (
            f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"endpoint_url={self.endpoint_url!r}, region={self.region!r})"
        )

    def _name(self, key: str) -> str:
        valid_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def _client(self) -> S3Client:
        if self._s3 is None:
            raise RuntimeError("the S3 blob store is not open")
        return self._s3

    async def open(self) -> None:
        if self._s3 is not None:
            return
        config = AioConfig(
            signature_version="s3v4",
            # a custom endpoint (MinIO, moto…) rarely has per-bucket DNS names
            s3={"addressing_style": "path"} if self.endpoint_url else None,
            retries={"mode": "standard", "max_attempts": 3},
            # every streamed download holds a connection while it runs
            max_pool_connections=64,
            connect_timeout=10,
            read_timeout=60,
            # S3-compatible services differ in their support of the flexible checksums
            # botocore adds by default since 1.36; the classic ETag flow works with all
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
            )
        )
        self._stack, self._s3 = stack, client

    async def close(self) -> None:
        stack, self._stack, self._s3 = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def presigned_put(
        self, key: str, *, size: int, content_type: str, expires_in: int
    ) -> DirectUpload | None:
        """A SigV4 URL that signs Content-Length and Content-Type with the key, so S3 refuses
        any other size or type. None above S3's 5 GiB single-PUT limit: such a file comes
        through ChatQL's upload endpoint, which sends it on in multipart parts."""
        name = self._name(key)
        if size < 0:
            raise ValueError("size cannot be negative")
        if not 1 <= expires_in <= MAX_EXPIRY:
            raise ValueError(f"expires_in must be 1..{MAX_EXPIRY} seconds")
        if size > MAX_PUT:
            return None
        url = await self._client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": name,
                "ContentLength": size,
                "ContentType": content_type,
            },
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )
        return DirectUpload(url=url, method="PUT", headers=(("Content-Type", content_type),))

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        """One put_object for an object smaller than a part; otherwise a multipart upload,
        aborted on any failure so S3 neither keeps nor bills the parts already sent."""
        name = self._name(key)
        if max_bytes < 0:
            raise ValueError("max_bytes cannot be negative")
        part_size = max(PART, -(-max_bytes // MAX_PARTS))
        client = self._client
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        done = False

        async def send(body: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                created = await client.create_multipart_upload(Bucket=self.bucket, Key=name)
                upload_id = created["UploadId"]
            number = len(parts) + 1
            sent = await client.upload_part(
                Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
            )
            parts.append({"ETag": sent["ETag"], "PartNumber": number})

        try:
            size = 0
            buffer = bytearray()
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge(f"more than {max_bytes} bytes for {key!r}")
                buffer += chunk
                while len(buffer) >= part_size:
                    with memoryview(buffer) as view:
                        body = bytes(view[:part_size])
                    del buffer[:part_size]
                    await send(body)
            if upload_id is None:
                await client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer))
            else:
                if buffer:
                    await send(bytes(buffer))
                await client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            done = True
            return size
        finally:
            if upload_id is not None and not done:
                # shielded: a cancelled request must not leave its parts behind
                with anyio.CancelScope(shield=True):
                    try:
                        await client.abort_multipart_upload(
                            Bucket=self.bucket, Key=name, UploadId=upload_id
                        )
                    except Exception:  # the write's own error is the one to raise
                        log.warning("could not abort multipart upload of %s", name, exc_info=True)

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        name = self._name(key)
        if start < 0 or (end is not None and end < 0):
            raise ValueError(f"a byte range cannot be negative: {start}..{end}")
        return self._read(key, name, start, end)

    async def _read(self, key: str, name: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        client = self._client
        if end is not None and end <= start:
            # no Range header can ask for nothing: only say whether the object exists
            if await self._head(name) is None:
                raise BlobNotFound(key)
            return
        extra: dict[str, Any] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = await client.get_object(Bucket=self.bucket, Key=name, **extra)
        except ClientError as exc:
            code = _code(exc)
            if code in ("NoSuchKey", "404"):
                raise BlobNotFound(key) from None
            if code == "InvalidRange":
                return  # start at or past the end of an existing object
            raise
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(CHUNK):
                yield chunk

    async def _head(self, name: str) -> BlobInfo | None:
        try:
            found = await self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return BlobInfo(size=found["ContentLength"])

    async def stat(self, key: str) -> BlobInfo | None:
        return await self._head(self._name(key))

    async def delete(self, key: str) -> None:
        """S3 answers a delete of a missing key with success, as the protocol wants."""
        await self._client.delete_object(Bucket=self.bucket, Key=self._name(key))
