"""Files: upload tickets and the attachments messages carry."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from chatql.context import ChatContext
from chatql.services.files import Ticket
from chatql.store.records import UploadRecord

Info = strawberry.Info[ChatContext, None]


@strawberry.type(description="A file on a message. URLs are signed and expire; ask again later")
class Attachment:
    id: strawberry.ID
    name: str
    mime_type: str = strawberry.field(description="Found in the file's bytes, not claimed")
    size: int
    width: int | None
    height: int | None
    created_at: datetime
    record: strawberry.Private[UploadRecord]

    @strawberry.field(description="Download URL, relative to the server, valid for a while")
    def url(self, info: Info) -> str:
        return info.context.services.files.url(self.record)

    @strawberry.field(description="A small preview (images only), signed like url")
    def thumbnail_url(self, info: Info) -> str | None:
        return info.context.services.files.thumbnail_url(self.record)

    @classmethod
    def from_record(cls, upload: UploadRecord) -> Attachment:
        return cls(
            id=strawberry.ID(upload.id),
            name=upload.filename,
            mime_type=upload.mime_type or upload.declared_type,
            size=upload.size if upload.size is not None else upload.declared_size,
            width=upload.width,
            height=upload.height,
            created_at=upload.completed_at or upload.created_at,
            record=upload,
        )


@strawberry.type
class HttpHeader:
    name: str
    value: str


@strawberry.type(description="Where and how to send an upload's bytes, then call completeUpload")
class UploadTicket:
    upload_id: strawberry.ID
    url: str = strawberry.field(description="Relative to the server for the local store")
    method: str
    headers: list[HttpHeader]
    expires_at: datetime
    max_bytes: int

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> UploadTicket:
        return cls(
            upload_id=strawberry.ID(ticket.upload.id),
            url=ticket.url,
            method=ticket.method,
            headers=[HttpHeader(name=n, value=v) for n, v in ticket.headers],
            expires_at=datetime.fromtimestamp(ticket.expires_at, UTC),
            max_bytes=ticket.max_bytes,
        )


@strawberry.input
class CreateUploadInput:
    filename: str
    mime_type: str = strawberry.field(description="What the client believes; the bytes decide")
    size: int = strawberry.field(description="Exact size in bytes; other sizes are refused")
