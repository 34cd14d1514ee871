"""Files: upload tickets, checking what arrived, attachments, avatars, downloads, clean-up.

The flow: `create_upload` hands out a ticket (ChatQL's own upload endpoint for the local
store, a presigned PUT for S3: bytes never pass through GraphQL), `complete` checks the bytes
that arrived (the size declared, the type found in the bytes and allowed, images decoded within
a pixel limit, re-encoded without metadata and given a thumbnail), and then a message or a
profile takes the upload, once. Downloads go through signed, expiring URLs; a deleted message's
files are unreachable at once and their bytes are removed after a grace period, as are uploads
never completed or never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from chatql.blobs import BlobNotFound, BlobStore, BlobTooLarge, DirectUpload
from chatql.blobs.base import CHUNK
from chatql.config import Settings
from chatql.errors import BadUserInput, Conflict, NotFound
from chatql.security.rate_limit import Rate, RateLimiter
from chatql.services import file_types, images, validation
from chatql.services.file_urls import FileUrls
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import (
    UPLOAD_ATTACHED,
    UPLOAD_CHECKING,
    UPLOAD_COMPLETE,
    UPLOAD_PENDING,
    UPLOAD_PURGING,
    UploadRecord,
    UserRecord,
    now_utc,
)

log = logging.getLogger("chatql.files")

MAX_ATTACHMENTS = 10
MAX_FILENAME = 255
SNIFF_BYTES = file_types.HEAD_BYTES
# Types whose first bytes are not the whole story: what is inside a zip or an OLE file, or text
# whose root element comes after a long prolog.
NEEDS_WHOLE_FILE = frozenset({"application/zip", file_types.OLE_STORAGE, file_types.OCTET_STREAM})
AVATAR_PATH = re.compile(r"^/files/([0-9a-f]{32})/avatar$")
_MIME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)


@dataclass(frozen=True, slots=True)
class Ticket:
    upload: UploadRecord
    url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    expires_at: float
    max_bytes: int


@dataclass(frozen=True, slots=True)
class Download:
    """What the file endpoint sends: the bytes of one object, whole or a range of it."""

    key: str
    size: int
    mime_type: str
    filename: str
    inline: bool
    cache_seconds: int


def incoming_key(upload: UploadRecord) -> str:
    """Where a ticket's bytes land. completeUpload moves them to `object_key` before checking
    them, so no ticket (a presigned PUT stays valid for its whole life) can ever write over a
    file that was checked."""
    return f"incoming/{upload.id}"


def clean_filename(value: str) -> str:
    """A name to show and to offer when saving: no directories, no control characters."""
    name = unicodedata.normalize("NFC", value).replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    if not name or name in (".", ".."):
        raise BadUserInput("filename must name a file", field="filename")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else name
        name = name[:MAX_FILENAME]
    return name


class Files:
    def __init__(self, store: Store, blobs: BlobStore, settings: Settings, urls: FileUrls) -> None:
        self._store = store
        self._blobs = blobs
        self._settings = settings
        self.urls = urls
        self._allowed = file_types.parse_allowed_types(
            settings.upload_types or file_types.DEFAULT_UPLOAD_TYPES
        )
        self._limit = RateLimiter(Rate.parse(settings.rate_limit_uploads))
        self._collector: asyncio.Task[None] | None = None
        # Decoding an image takes memory in proportion to its pixels: a few at a time.
        self._decoding = asyncio.Semaphore(2)

    @property
    def max_bytes(self) -> int:
        return self._settings.max_upload_bytes

    # ------------------------------------------------------------ upload
    async def create_upload(
        self, viewer: UserRecord, filename: str, mime_type: str, size: int
    ) -> Ticket:
        name = clean_filename(filename)
        claimed = mime_type.strip().lower()
        if not _MIME.match(claimed):
            raise BadUserInput("mimeType is not a MIME type", field="mimeType")
        if size < 1:
            raise BadUserInput("size must be at least 1 byte", field="size")
        if size > self.max_bytes:
            raise BadUserInput(
                f"The file is larger than the limit of {self.max_bytes} bytes",
                field="size",
                maxBytes=self.max_bytes,
            )
        self._limit.hit(viewer.id, "uploads")
        now = now_utc()
        upload_id = new_id()
        expires = now + timedelta(seconds=self._settings.upload_ttl)
        upload = UploadRecord(
            id=upload_id,
            owner_id=viewer.id,
            filename=name,
            declared_type=claimed,
            declared_size=size,
            object_key=f"files/{upload_id}",
            created_at=now,
            expires_at=expires,
        )
        await self._store.insert_upload(upload)
        ticket_ttl = min(self._settings.upload_ttl, self._settings.file_url_ttl)
        direct = await self._blobs.presigned_put(
            incoming_key(upload),
            size=size,
            content_type="application/octet-stream",
            expires_in=ticket_ttl,
        )
        if direct is None:
            exp = self.urls.expiry(ttl=ticket_ttl)
            direct = DirectUpload(
                url=f"/files/uploads/{upload_id}?{self.urls.query(upload_id, 'upload', exp)}",
                method="PUT",
                headers=(("Content-Type", "application/octet-stream"),),
            )
        return Ticket(
            upload=upload,
            url=direct.url,
            method=direct.method,
            headers=direct.headers,
            expires_at=now.timestamp() + ticket_ttl,
            max_bytes=size,
        )

    async def receive(
        self,
        upload_id: str,
        expires: str,
        signature: str,
        declared_length: int | None,
        chunks: AsyncIterator[bytes],
    ) -> UploadRecord:
        """The bytes of an upload, sent to ChatQL's own endpoint (the local store)."""
        if not self.urls.valid(upload_id, "upload", expires, signature):
            raise PermissionError("the upload URL is invalid or has expired")
        upload = await self._store.get_upload(upload_id)
        if upload is None:
            raise NotFound("Upload not found")
        if upload.status != UPLOAD_PENDING:
            raise Conflict("The upload is complete already")
        if declared_length is not None and declared_length > upload.declared_size:
            raise BlobTooLarge()
        staged = incoming_key(upload)
        await self._blobs.write(staged, chunks, max_bytes=upload.declared_size)
        after = await self._store.get_upload(upload_id)
        if after is None or after.status != UPLOAD_PENDING:  # completed meanwhile: too late
            await self._blobs.delete(staged)
            raise Conflict("The upload is complete already")
        return upload

    async def complete(self, viewer: UserRecord, upload_id: str) -> UploadRecord:
        upload = await self._own_upload(viewer, upload_id)
        if upload.status == UPLOAD_CHECKING:
            raise Conflict("The upload is being checked; ask again in a moment")
        if upload.status != UPLOAD_PENDING:
            return upload  # completing twice answers the same
        staged = incoming_key(upload)
        info = await self._blobs.stat(staged)
        if info is None:
            raise BadUserInput("No bytes have arrived for this upload", field="uploadId")
        if info.size != upload.declared_size:
            await self._blobs.delete(staged)
            raise BadUserInput(
                f"{info.size} bytes arrived, but {upload.declared_size} were declared; "
                "send the file again",
                field="uploadId",
            )
        # One check at a time: the first call takes it, a concurrent one is told to wait.
        checking = await self._store.update_upload(
            upload.id, {"status": UPLOAD_CHECKING}, status=UPLOAD_PENDING
        )
        if checking is None:
            raise Conflict("The upload is being checked; ask again in a moment")
        try:
            moved = await self._copy(staged, upload.object_key, upload.declared_size)
            await self._blobs.delete(staged)
            if moved != upload.declared_size:  # replaced by another PUT since the stat
                raise BadUserInput(
                    "The upload's bytes changed while it was completed; send the file again",
                    field="uploadId",
                )
            changes = await self._inspect(upload)
        except BadUserInput:
            await self._discard(upload)
            raise
        except BaseException:
            await self._blobs.delete(upload.object_key)
            await self._store.update_upload(
                upload.id, {"status": UPLOAD_PENDING}, status=UPLOAD_CHECKING
            )
            raise
        changes.update(
            status=UPLOAD_COMPLETE,
            completed_at=now_utc(),
            expires_at=now_utc() + timedelta(seconds=self._settings.upload_ttl),
        )
        done = await self._store.update_upload(upload.id, changes, status=UPLOAD_CHECKING)
        if done is None:  # purged meanwhile (it expired while being checked)
            raise NotFound("Upload not found")
        return done

    async def _copy(self, source: str, target: str, max_bytes: int) -> int:
        """Stream one object into another (through this process: any store can do it)."""
        return await self._blobs.write(target, self._blobs.read(source), max_bytes=max_bytes)

    async def _inspect(self, upload: UploadRecord) -> dict[str, object]:
        """Type from the bytes; images decoded, stripped of metadata and given a thumbnail.

        The first bytes tell most types; the whole file is fetched (from S3: downloaded) only
        when they cannot (archives, Office files) or when it is an image to process."""
        head = b"".join(
            [chunk async for chunk in self._blobs.read(upload.object_key, 0, SNIFF_BYTES)]
        )
        mime = file_types.sniff(head)
        with tempfile.TemporaryDirectory(prefix="chatql-upload-") as work:
            source = Path(work) / "source"
            if mime in images.RASTER_IMAGES or mime in NEEDS_WHOLE_FILE:
                await self._fetch(upload.object_key, source)
                mime = await asyncio.to_thread(file_types.sniff, head, source)
            if not file_types.is_allowed(mime, self._allowed):
                raise BadUserInput(
                    f"Files of type {mime} are not allowed here", field="uploadId", mimeType=mime
                )
            changes: dict[str, object] = {"mime_type": mime, "size": upload.declared_size}
            if mime in images.RASTER_IMAGES:
                clean, thumb = Path(work) / "clean", Path(work) / "thumb"
                async with self._decoding:
                    image = await asyncio.to_thread(
                        images.process_image,
                        source,
                        clean,
                        thumb,
                        max_pixels=self._settings.max_image_pixels,
                    )
                thumb_key = f"{upload.object_key}.thumb"
                size = await self._put(upload.object_key, clean)
                await self._put(thumb_key, thumb)
                changes.update(
                    mime_type=image.mime,
                    size=size,
                    width=image.width,
                    height=image.height,
                    thumb_key=thumb_key,
                )
            return changes

    async def _fetch(self, key: str, path: Path) -> None:
        with path.open("wb") as out:
            async for chunk in self._blobs.read(key):
                await asyncio.to_thread(out.write, chunk)

    async def _put(self, key: str, path: Path) -> int:
        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as source:
                while chunk := await asyncio.to_thread(source.read, CHUNK):
                    yield chunk

        size = (await asyncio.to_thread(path.stat)).st_size
        return await self._blobs.write(key, chunks(), max_bytes=max(1, size))

    async def _discard(self, upload: UploadRecord) -> None:
        for key in (upload.object_key, f"{upload.object_key}.thumb", incoming_key(upload)):
            await self._blobs.delete(key)
        await self._store.delete_upload(upload.id)

    async def _own_upload(self, viewer: UserRecord, upload_id: str) -> UploadRecord:
        upload = await self._store.get_upload(validation.entity_id(upload_id, "uploadId"))
        if upload is None or upload.owner_id != viewer.id:
            raise NotFound("Upload not found")
        return upload

    # ------------------------------------------------------------ use
    async def attachable(
        self, viewer: UserRecord, upload_ids: Sequence[str] | None
    ) -> list[UploadRecord]:
        """The uploads a new message may take: completed, the sender's, not used yet."""
        if not upload_ids:
            return []
        if len(upload_ids) > MAX_ATTACHMENTS:
            raise BadUserInput(
                f"A message may carry at most {MAX_ATTACHMENTS} files", field="attachmentIds"
            )
        ids = [validation.entity_id(i, "attachmentIds") for i in upload_ids]
        if len(set(ids)) != len(ids):
            raise BadUserInput("An upload is listed twice", field="attachmentIds")
        found = []
        for upload_id in ids:
            upload = await self._store.get_upload(upload_id)
            if upload is None or upload.owner_id != viewer.id:
                raise BadUserInput("An attachment is not an upload of yours", field="attachmentIds")
            if upload.status == UPLOAD_PENDING:
                raise BadUserInput(
                    "An attachment's upload is not complete: call completeUpload first",
                    field="attachmentIds",
                )
            if upload.status != UPLOAD_COMPLETE and upload.used_for != "MESSAGE":
                raise BadUserInput("An attachment is used already", field="attachmentIds")
            if upload.status == UPLOAD_COMPLETE and upload.expires_at <= now_utc():
                raise BadUserInput(
                    "An attachment's upload has expired: upload it again", field="attachmentIds"
                )
            # One attached to a message already passes here: a retry with the same clientId
            # gets the original message back; anything else is refused when the store claims.
            found.append(upload)
        return found

    async def attachments(self, message_ids: Sequence[str]) -> dict[str, list[UploadRecord]]:
        return await self._store.message_attachments(message_ids)

    async def head(self, upload: UploadRecord, max_bytes: int) -> bytes | None:
        """The first `max_bytes` of an attached file (for reading its text); None when its
        bytes are gone. Callers check that the reader may see the message first."""
        try:
            return b"".join(
                [
                    chunk
                    async for chunk in self._blobs.read(
                        upload.object_key, 0, min(max_bytes, upload.size or max_bytes)
                    )
                ]
            )
        except BlobNotFound:
            return None

    async def message_deleted(self, message_id: str) -> None:
        await self._store.remove_message_uploads(message_id, now_utc())

    async def avatar(self, viewer: UserRecord, upload_id: str) -> str:
        """Make a completed image the viewer's avatar; returns its (stable) URL path."""
        upload = await self._own_upload(viewer, upload_id)
        if upload.status != UPLOAD_COMPLETE:
            raise BadUserInput(
                "The avatar upload is not complete, or is used already", field="avatarUploadId"
            )
        if upload.mime_type not in images.RASTER_IMAGES or upload.thumb_key is None:
            raise BadUserInput("An avatar must be an image", field="avatarUploadId")
        taken = await self._store.update_upload(
            upload.id, {"status": UPLOAD_ATTACHED, "used_for": "AVATAR"}, status=UPLOAD_COMPLETE
        )
        if taken is None:
            raise BadUserInput("The avatar upload is used already", field="avatarUploadId")
        await self.avatar_replaced(viewer)
        return f"/files/{upload.id}/avatar"

    async def avatar_replaced(self, viewer: UserRecord) -> None:
        """The old avatar (if it was an upload) becomes unreachable; its bytes go later."""
        match = AVATAR_PATH.match(viewer.avatar_url or "")
        if match:
            await self._store.update_upload(
                match.group(1), {"removed_at": now_utc()}, status=UPLOAD_ATTACHED
            )

    def url(self, upload: UploadRecord) -> str:
        return self.urls.download(upload.id, "file", upload.filename)

    def thumbnail_url(self, upload: UploadRecord) -> str | None:
        if upload.thumb_key is None:
            return None
        return self.urls.download(upload.id, "thumb", upload.filename)

    # ------------------------------------------------------------ download
    async def download(
        self, upload_id: str, variant: str, expires: str | None, signature: str | None
    ) -> Download:
        """What a file URL serves; PermissionError for a bad or expired signature, NotFound
        for a file that is gone (its message deleted, its avatar replaced)."""
        if not validation.ID_RE.match(upload_id):
            raise NotFound("File not found")
        if variant == "avatar":
            upload = await self._store.get_upload(upload_id)
            if upload is None or upload.used_for != "AVATAR" or upload.removed_at is not None:
                raise NotFound("File not found")
            key = upload.thumb_key or upload.object_key
            mime = upload.mime_type if upload.thumb_key is None else images.THUMBNAIL_MIME
            cache = 86400
        else:
            if variant not in ("file", "thumb") or not self.urls.valid(
                upload_id, variant, expires or "", signature or ""
            ):
                raise PermissionError("the file URL is invalid or has expired")
            upload = await self._store.get_upload(upload_id)
            if upload is None or upload.status != UPLOAD_ATTACHED or upload.removed_at is not None:
                raise NotFound("File not found")
            if upload.message_id is not None:  # gone with its message or room, whatever raced
                message = await self._store.get_message(upload.message_id)
                if message is None or message.deleted_at is not None:
                    raise NotFound("File not found")
            if variant == "thumb":
                if upload.thumb_key is None:
                    raise NotFound("File not found")
                key, mime = upload.thumb_key, images.THUMBNAIL_MIME
            else:
                key, mime = upload.object_key, upload.mime_type or "application/octet-stream"
            cache = max(0, int(expires or 0) - int(now_utc().timestamp()))
        info = await self._blobs.stat(key)
        if info is None:
            raise NotFound("File not found")
        return Download(
            key=key,
            size=info.size,
            mime_type=mime or "application/octet-stream",
            filename=upload.filename,
            inline=file_types.served_inline(mime or ""),
            cache_seconds=cache,
        )

    def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        return self._blobs.read(key, start, end)

    # ------------------------------------------------------------ clean-up
    async def purge(self) -> int:
        """Remove expired uploads and the files of deleted messages past their grace. Each
        is taken first (a conditional write), so one being attached right now is left alone."""
        now = now_utc()
        removed_before = now - timedelta(seconds=self._settings.file_delete_grace)
        done = 0
        while True:
            batch = await self._store.uploads_to_purge(now, removed_before, 200)
            for upload in batch:
                if upload.status != UPLOAD_PURGING:
                    taken = await self._store.update_upload(
                        upload.id, {"status": UPLOAD_PURGING}, status=upload.status
                    )
                    if taken is None:
                        continue  # attached, completed or taken meanwhile
                for key in (upload.object_key, upload.thumb_key, incoming_key(upload)):
                    if key is not None:
                        with contextlib.suppress(BlobNotFound):
                            await self._blobs.delete(key)
                if await self._store.delete_upload(upload.id):
                    done += 1
            if len(batch) < 200:
                return done

    async def start(self) -> None:
        await self._blobs.open()
        self._collector = asyncio.create_task(self._collect(), name="chatql-files-gc")

    async def stop(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
        await self._blobs.close()

    async def _collect(self) -> None:
        interval = max(1.0, min(60.0, self._settings.upload_ttl / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.purge()
            except Exception:  # the next round tries again; a store hiccup must not stop GC
                log.exception("removing expired files failed")
            else:
                if removed:
                    log.info("removed %d expired or deleted files", removed)
