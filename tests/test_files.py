"""Files end to end over real HTTP, on both file stores (local disk and S3 through a real
moto server): tickets, uploads, type from the bytes, images cleaned, signed expiring URLs,
ranges, attachments on messages (live too), avatars, deletion, clean-up and limits."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from chatql.config import Settings
from chatql.services.files import Files, incoming_key
from chatql.store.records import now_utc
from tests.conftest import fast_settings
from tests.helpers import TRANSPORT_WS, Account, Client, Server, Socket, running_server

ATTACHMENT = "id name mimeType size width height url thumbnailUrl"
CREATE_UPLOAD = (
    "mutation($i: CreateUploadInput!) { createUpload(input: $i) "
    "{ uploadId url method headers { name value } expiresAt maxBytes } }"
)
COMPLETE = f"mutation($u: ID!) {{ completeUpload(uploadId: $u) {{ {ATTACHMENT} }} }}"
SEND = (
    "mutation($i: CreateMessageInput!) { createMessage(input: $i) "
    f"{{ id content messageType attachments {{ {ATTACHMENT} }} }} }}"
)


def jpeg_with_gps(size: tuple[int, int] = (800, 400)) -> bytes:
    """A photo as phones make them: EXIF with a GPS position and an orientation tag."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to show
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 11.0)
    gps[3] = "E"
    gps[4] = (4.0, 53.0, 30.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (0, 120, 200)).save(out, "PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(params=["local", "s3"])
async def files_settings(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[Settings]:
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_files_url")
        yield replace(settings, files_url=s3)
    else:
        yield settings


@pytest.fixture
async def server(files_settings: Settings) -> AsyncIterator[Server]:
    async with running_server(files_settings) as running:
        yield running


def absolute(server: Server, url: str) -> str:
    return url if url.startswith("http") else server.url.removesuffix("/graphql") + url


async def upload(
    client: Client,
    account: Account,
    body: bytes,
    *,
    filename: str = "file.bin",
    mime: str = "application/octet-stream",
    size: int | None = None,
    complete: bool = True,
) -> dict[str, Any]:
    """createUpload, send the bytes as the ticket says, completeUpload: the attachment."""
    ticket = (
        await client.data(
            CREATE_UPLOAD,
            {"i": {"filename": filename, "mimeType": mime, "size": size or len(body)}},
            account.token,
        )
    )["createUpload"]
    headers = {h["name"]: h["value"] for h in ticket["headers"]}
    response = await client.http.request(
        ticket["method"], absolute(client.server, ticket["url"]), content=body, headers=headers
    )
    assert response.status_code in (200, 204), response.text
    if not complete:
        return ticket
    result = await client.post(COMPLETE, {"u": ticket["uploadId"]}, account.token)
    if "errors" in result:
        return {"error": result["errors"][0], "uploadId": ticket["uploadId"]}
    return result["data"]["completeUpload"]  # type: ignore[no-any-return]


async def send_files(
    client: Client, account: Account, room: str, ids: list[str], content: str = ""
) -> dict[str, Any]:
    """createMessage with these uploads attached: the message, with its attachments."""
    message = {"chatRoomId": room, "content": content, "attachmentIds": ids}
    sent = await client.data(SEND, {"i": message}, account.token)
    return sent["createMessage"]  # type: ignore[no-any-return]


async def fetch(client: Client, url: str, **headers: str) -> httpx.Response:
    return await client.http.get(absolute(client.server, url), headers=headers)


async def test_an_image_message_is_cleaned_thumbnailed_and_readable_by_members(
    server: Server, client: Client
) -> None:
    ann, bob, eve = [await client.register(n) for n in ("ann", "bob", "eve")]
    room = await client.create_room(ann, "photos", members=[bob.id])
    photo = jpeg_with_gps()
    # The claimed type is wrong on purpose: the bytes decide.
    attachment = await upload(client, ann, photo, filename="../../trip.jpg", mime="text/plain")
    assert attachment["mimeType"] == "image/jpeg"
    assert attachment["name"] == "trip.jpg"  # no directories in names
    assert (attachment["width"], attachment["height"]) == (400, 800)  # EXIF orientation applied
    assert attachment["thumbnailUrl"]

    sent = await send_files(client, ann, room, [attachment["id"]])
    assert sent["messageType"] == "IMAGE" and sent["content"] == ""
    assert [a["id"] for a in sent["attachments"]] == [attachment["id"]]

    # Bob, a member, reads it in the history and downloads both sizes.
    history = await client.data(
        "query($r: ID!) { messagesByRoom(chatRoomId: $r) "
        f"{{ items {{ id attachments {{ {ATTACHMENT} }} }} }} }}",
        {"r": room},
        bob.token,
    )
    (shown,) = history["messagesByRoom"]["items"][0]["attachments"]
    original = await fetch(client, shown["url"])
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/jpeg"
    assert original.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in original.headers["content-security-policy"]
    assert original.headers["content-disposition"].startswith("inline")
    assert b"GPS" not in original.content and b"PhoneMaker" not in original.content
    cleaned = Image.open(io.BytesIO(original.content))
    assert cleaned.size == (400, 800)
    assert not cleaned.getexif()
    thumb = await fetch(client, shown["thumbnailUrl"])
    assert thumb.status_code == 200
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 320

    # Eve is no member: she cannot read the message, so she is never given a URL ...
    hidden = await client.data(
        "query($m: ID!) { getMessage(id: $m) { attachments { url } } }",
        {"m": sent["id"]},
        eve.token,
    )
    assert hidden["getMessage"] is None
    # ... and an altered or unsigned one gets 403.
    path, _, query = shown["url"].partition("?")
    other = (await upload(client, eve, png(), filename="eve.png"))["id"]
    forged = path.replace(attachment["id"], other) + "?" + query
    assert (await fetch(client, forged)).status_code == 403
    assert (await fetch(client, path)).status_code == 403
    tampered = shown["url"][:-2] + ("AA" if not shown["url"].endswith("AA") else "BB")
    assert (await fetch(client, tampered)).status_code == 403


async def test_signed_urls_expire(server: Server, client: Client) -> None:
    ann = await client.register("ann")
    room = await client.create_room(ann, "docs")
    attachment = await upload(client, ann, PDF, filename="a.pdf", mime="application/pdf")
    await send_files(client, ann, room, [attachment["id"]], content="doc")
    files: Files = server.app.state.services.files
    expired = int(time.time()) - 1
    signed = files.urls.query(attachment["id"], "file", expired)
    stale = f"/files/{attachment['id']}/file/a.pdf?{signed}"
    assert (await fetch(client, stale)).status_code == 403
    fresh = await fetch(client, attachment["url"])
    assert fresh.status_code == 200 and fresh.content == PDF


async def test_types_come_from_the_bytes_and_risky_ones_are_refused_or_downloaded(
    server: Server, client: Client
) -> None:
    ann = await client.register("ann")
    pdf = await upload(client, ann, PDF, filename="photo.png", mime="image/png")
    assert pdf["mimeType"] == "application/pdf" and pdf["thumbnailUrl"] is None
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    refused = await upload(client, ann, html, filename="page.txt", mime="text/plain")
    assert refused["error"]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "text/html" in refused["error"]["message"]
    # A refused upload is gone: completing it again finds nothing.
    again = await client.error(COMPLETE, {"u": refused["uploadId"]}, ann.token)
    assert again["extensions"]["code"] == "NOT_FOUND"
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>'
    assert (await upload(client, ann, svg, filename="logo.svg"))["error"]


async def test_sizes_are_declared_and_enforced(server: Server, client: Client) -> None:
    ann = await client.register("ann")
    limit = server.settings.max_upload_bytes
    error = await client.error(
        CREATE_UPLOAD,
        {"i": {"filename": "big.bin", "mimeType": "x/y", "size": limit + 1}},
        ann.token,
    )
    assert (
        error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["maxBytes"] == limit
    )
    for bad in ({"size": 0}, {"mimeType": "not a type"}, {"filename": "  "}):
        args = {"filename": "a.txt", "mimeType": "text/plain", "size": 5, **bad}
        error = await client.error(CREATE_UPLOAD, {"i": args}, ann.token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    # Fewer bytes than declared: completeUpload says so.
    short = await upload(client, ann, b"hello", mime="text/plain", size=10)
    assert short["error"]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "declared" in short["error"]["message"]


async def test_more_bytes_than_declared_are_cut_off_with_413(settings: Settings) -> None:
    """The local store's endpoint (S3 enforces its presigned length itself)."""
    async with running_server(settings) as server:
        client = Client(server)
        ann = await client.register("ann")
        ticket = (
            await client.data(
                CREATE_UPLOAD,
                {"i": {"filename": "a.txt", "mimeType": "text/plain", "size": 10}},
                ann.token,
            )
        )["createUpload"]
        url = absolute(server, ticket["url"])
        declared = await client.http.put(url, content=b"x" * 11)
        assert declared.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(20):
                yield b"x" * 5

        streamed = await client.http.put(url, content=chunks())
        assert streamed.status_code == 413

        # A client that waits for `100 Continue` is refused on its declared length at once,
        # without being asked for the body.
        target = httpx.URL(url)
        reader, writer = await asyncio.open_connection(target.host, target.port)
        writer.write(
            b"PUT " + target.raw_path + b" HTTP/1.1\r\nhost: chatql\r\n"
            b"expect: 100-continue\r\ncontent-length: 11\r\n\r\n"
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.startswith(b"HTTP/1.1 413 "), status
        assert (
            await client.http.put(url.replace("sig=", "sig=A"), content=b"x" * 10)
        ).status_code == 403
        ok = await client.http.put(url, content=b"0123456789")
        assert ok.status_code == 204
        done = (await client.data(COMPLETE, {"u": ticket["uploadId"]}, ann.token))["completeUpload"]
        assert done["mimeType"] == "text/plain" and done["size"] == 10
        assert (await client.http.put(url, content=b"0123456789")).status_code == 409
        await client.close()


async def test_ranges_for_seeking(server: Server, client: Client) -> None:
    ann = await client.register("ann")
    room = await client.create_room(ann, "audio")
    body = b"abcdefghij" * 1024
    attachment = await upload(client, ann, body, filename="x.txt")
    await send_files(client, ann, room, [attachment["id"]])
    url = attachment["url"]
    part = await fetch(client, url, range="bytes=100-199")
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"
    assert part.content == body[100:200]
    tail = await fetch(client, url, range="bytes=-10")
    assert tail.status_code == 206 and tail.content == body[-10:]
    rest = await fetch(client, url, range=f"bytes={len(body) - 5}-")
    assert rest.content == body[-5:]
    outside = await fetch(client, url, range=f"bytes={len(body)}-")
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(body)}"
    whole = await fetch(client, url)
    assert whole.status_code == 200 and whole.content == body
    assert whole.headers["accept-ranges"] == "bytes"


async def test_attachment_rules(server: Server, client: Client) -> None:
    ann, bob = [await client.register(n) for n in ("ann", "bob")]
    room = await client.create_room(ann, "rules", members=[bob.id])
    mine = await upload(client, ann, PDF, filename="a.pdf")
    bobs = await upload(client, bob, PDF, filename="b.pdf")
    pending = await upload(client, ann, PDF, filename="c.pdf", complete=False)

    async def refused(ids: list[str], content: str = "x") -> str:
        error = await client.error(
            SEND, {"i": {"chatRoomId": room, "content": content, "attachmentIds": ids}}, ann.token
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        return str(error["message"])

    assert "upload of yours" in await refused([bobs["id"]])
    assert "completeUpload" in await refused([pending["uploadId"]])
    assert "twice" in await refused([mine["id"], mine["id"]])
    assert "at most 10" in await refused([mine["id"]] * 11)
    assert "valid id" in await refused(["nope"])
    # Without files, text is still required.
    error = await client.error(SEND, {"i": {"chatRoomId": room, "content": " "}}, ann.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    first = {
        "chatRoomId": room,
        "content": "with a file",
        "attachmentIds": [mine["id"]],
        "clientId": "c1",
    }
    sent = (await client.data(SEND, {"i": first}, ann.token))["createMessage"]
    assert sent["messageType"] == "FILE"
    retry = (await client.data(SEND, {"i": first}, ann.token))["createMessage"]
    assert retry["id"] == sent["id"]  # a retry gets the original, files and all
    assert [a["id"] for a in retry["attachments"]] == [mine["id"]]
    assert "used already" in await refused([mine["id"]])


async def test_files_arrive_live_and_go_with_their_message(server: Server, client: Client) -> None:
    ann, bob = [await client.register(n) for n in ("ann", "bob")]
    room = await client.create_room(ann, "live", members=[bob.id])
    sock = await Socket.connect(server, TRANSPORT_WS, bob.token)
    await sock.ack()
    query = (
        "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) "
        f"{{ id attachments {{ {ATTACHMENT} }} }} }}"
    )
    await sock.subscribe(query, {"r": room})
    await asyncio.sleep(0.2)
    attachment = await upload(client, ann, png(), filename="p.png")
    sent = await send_files(client, ann, room, [attachment["id"]])
    (live,) = await sock.messages(1)
    (file,) = live["attachments"]
    assert file["id"] == attachment["id"] and file["thumbnailUrl"]
    assert (await fetch(client, file["url"])).status_code == 200
    await sock.close()

    await client.data(
        "mutation($m: ID!) { deleteMessage(id: $m) { id } }", {"m": sent["id"]}, ann.token
    )
    assert (await fetch(client, file["url"])).status_code == 404  # unreachable at once
    assert (await fetch(client, file["thumbnailUrl"])).status_code == 404
    files: Files = server.app.state.services.files
    store = server.app.state.services.store
    record = await store.get_upload(attachment["id"])
    assert record is not None and record.removed_at is not None
    # After the grace period the bytes and the record go.
    await store.update_upload(record.id, {"removed_at": now_utc() - timedelta(days=1)})
    assert await files.purge() >= 1
    assert await store.get_upload(record.id) is None
    assert await files._blobs.stat(record.object_key) is None
    assert await files._blobs.stat(f"{record.object_key}.thumb") is None


async def test_uploads_never_completed_or_attached_are_removed(
    server: Server, client: Client
) -> None:
    ann = await client.register("ann")
    never_done = await upload(client, ann, PDF, complete=False)
    never_used = await upload(client, ann, PDF)
    used = await upload(client, ann, PDF)
    room = await client.create_room(ann, "keep")
    await send_files(client, ann, room, [used["id"]])
    services = server.app.state.services
    past = now_utc() - timedelta(seconds=1)
    for upload_id in (never_done["uploadId"], never_used["id"], used["id"]):
        await services.store.update_upload(upload_id, {"expires_at": past})
    assert await services.files.purge() == 2
    assert await services.store.get_upload(never_done["uploadId"]) is None
    assert await services.store.get_upload(never_used["id"]) is None
    assert await services.store.get_upload(used["id"]) is not None  # attached: kept


async def test_avatars(server: Server, client: Client) -> None:
    ann, bob = [await client.register(n) for n in ("ann", "bob")]
    profile = "mutation($u: ID) { updateProfile(input: {avatarUploadId: $u}) { avatarUrl } }"
    not_image = await upload(client, ann, PDF)
    error = await client.error(profile, {"u": not_image["id"]}, ann.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    first = await upload(client, ann, png((600, 300)), filename="me.png")
    url = (await client.data(profile, {"u": first["id"]}, ann.token))["updateProfile"]["avatarUrl"]
    seen = await client.data(
        "query($u: ID!) { getUser(id: $u) { avatarUrl } }", {"u": ann.id}, bob.token
    )
    assert seen["getUser"]["avatarUrl"] == url
    image = await fetch(client, url)
    assert image.status_code == 200
    assert max(Image.open(io.BytesIO(image.content)).size) <= 320
    # Used once: Bob cannot take Ann's upload, and Ann cannot use it twice.
    assert (await client.error(profile, {"u": first["id"]}, bob.token))["extensions"][
        "code"
    ] == "NOT_FOUND"
    second = await upload(client, ann, png(), filename="new.png")
    newer = (await client.data(profile, {"u": second["id"]}, ann.token))["updateProfile"][
        "avatarUrl"
    ]
    assert newer != url
    assert (await fetch(client, url)).status_code == 404  # the old one is gone at once
    assert (await fetch(client, newer)).status_code == 200


async def test_decompression_bombs_are_refused(server: Server, client: Client) -> None:
    ann = await client.register("ann")
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")  # 144 Mpx in a few kB
    bomb = await upload(client, ann, out.getvalue(), filename="bomb.png")
    assert bomb["error"]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_uploads_are_rate_limited(tmp_path: Path) -> None:
    settings = fast_settings(
        database_url=f"sqlite:///{tmp_path}/chat.db", rate_limit_uploads="2/60"
    )
    async with running_server(settings) as server:
        client = Client(server)
        ann = await client.register("ann")
        args = {"i": {"filename": "a.txt", "mimeType": "text/plain", "size": 3}}
        for _ in range(2):
            await client.data(CREATE_UPLOAD, args, ann.token)
        error = await client.error(CREATE_UPLOAD, args, ann.token)
        assert error["extensions"]["code"] == "RATE_LIMITED"
        await client.close()


def test_upload_setting_errors_are_clear() -> None:
    from chatql.config_values import ConfigError

    with pytest.raises(ConfigError, match="CHATQL_FILES_URL"):
        Settings.from_env({"CHATQL_FILES_URL": "ftp://nowhere"})
    with pytest.raises(ConfigError, match="CHATQL_UPLOAD_TYPES"):
        Settings.from_env({"CHATQL_UPLOAD_TYPES": "image/png, nonsense"})


async def test_a_deleted_rooms_files_are_unreachable(server: Server, client: Client) -> None:
    ann = await client.register("ann")
    room = await client.create_room(ann, "gone soon")
    attachment = await upload(client, ann, PDF, filename="a.pdf")
    await send_files(client, ann, room, [attachment["id"]])
    assert (await fetch(client, attachment["url"])).status_code == 200
    await client.data("mutation($r: ID!) { deleteChatRoom(id: $r) }", {"r": room}, ann.token)
    assert (await fetch(client, attachment["url"])).status_code == 404


async def test_an_upload_cut_short_keeps_nothing_and_can_be_sent_again(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The client goes away in the middle of the PUT (a cancelled upload in the web app)."""
    uvicorn_errors = logging.getLogger("uvicorn.error")  # it does not propagate to the root
    async with running_server(settings) as server:
        uvicorn_errors.addHandler(caplog.handler)  # once uvicorn has set up its logging
        client = Client(server)
        ann = await client.register("ann")
        size = 3 * 1024 * 1024
        ticket = (
            await client.data(
                CREATE_UPLOAD,
                {"i": {"filename": "a.txt", "mimeType": "text/plain", "size": size}},
                ann.token,
            )
        )["createUpload"]
        target = urlsplit(absolute(server, ticket["url"]))
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        writer.write(
            f"PUT {target.path}?{target.query} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
            + b"x" * 100_000
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()  # gone, a megabyte short of the end and then some
        await asyncio.sleep(0.2)
        files: Files = server.app.state.services.files
        store = server.app.state.services.store
        record = await store.get_upload(ticket["uploadId"])
        assert record is not None
        assert await files._blobs.stat(incoming_key(record)) is None
        whole = await client.http.put(absolute(server, ticket["url"]), content=b"y" * size)
        assert whole.status_code == 204
        await client.close()
        del reader
    uvicorn_errors.removeHandler(caplog.handler)
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


async def test_svg_and_html_when_allowed_are_never_shown_inline(tmp_path: Path) -> None:
    settings = fast_settings(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        upload_types="image/svg+xml, text/html, text/plain",
    )
    async with running_server(settings) as server:
        client = Client(server)
        ann = await client.register("ann")
        room = await client.create_room(ann, "risky")
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        html = b"<!doctype html><title>x</title><script>alert(1)</script>"
        ids = []
        for body, name in ((svg, "logo.svg"), (html, "page.html"), (b"just text\n", "a.txt")):
            ids.append((await upload(client, ann, body, filename=name))["id"])
        sent = await send_files(client, ann, room, ids)
        kinds = {}
        for attachment in sent["attachments"]:
            response = await fetch(client, attachment["url"])
            assert response.status_code == 200
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in response.headers["content-security-policy"]
            kinds[attachment["mimeType"]] = response.headers["content-disposition"].split(";")[0]
        assert kinds == {
            "image/svg+xml": "attachment",
            "text/html": "attachment",
            "text/plain": "inline",
        }
        await client.close()


async def test_checked_bytes_cannot_be_replaced_through_the_ticket(
    server: Server, client: Client
) -> None:
    """A ticket (on S3 a presigned PUT valid for its whole life) used again after
    completeUpload never reaches the file that was checked."""
    ann = await client.register("ann")
    room = await client.create_room(ann, "swap")
    body = b"the checked text\n" * 64
    ticket = await upload(client, ann, body, filename="a.txt", complete=False)
    done = (await client.data(COMPLETE, {"u": ticket["uploadId"]}, ann.token))["completeUpload"]
    await send_files(client, ann, room, [done["id"]])
    swapped = b"<html><script>1</script>" + b" " * (len(body) - 24)
    headers = {h["name"]: h["value"] for h in ticket["headers"]}
    again = await client.http.request(
        ticket["method"], absolute(server, ticket["url"]), content=swapped, headers=headers
    )
    assert again.status_code in (200, 204, 409)
    served = await fetch(client, done["url"])
    assert served.status_code == 200 and served.content == body


async def test_completing_twice_at_once_checks_once(server: Server, client: Client) -> None:
    ann = await client.register("ann")
    ticket = await upload(client, ann, png((300, 300)), filename="p.png", complete=False)
    answers = await asyncio.gather(
        *(client.post(COMPLETE, {"u": ticket["uploadId"]}, ann.token) for _ in range(4))
    )
    done = [a["data"]["completeUpload"] for a in answers if a.get("data")]
    codes = {e["extensions"]["code"] for a in answers for e in a.get("errors", [])}
    assert done and codes <= {"CONFLICT"}
    record = await server.app.state.services.store.get_upload(ticket["uploadId"])
    assert record.status == "COMPLETE"
    files: Files = server.app.state.services.files
    assert await files._blobs.stat(record.object_key) is not None
    assert await files._blobs.stat(incoming_key(record)) is None


async def test_an_expired_upload_cannot_be_attached(server: Server, client: Client) -> None:
    ann = await client.register("ann")
    room = await client.create_room(ann, "late")
    done = await upload(client, ann, PDF)
    store = server.app.state.services.store
    await store.update_upload(done["id"], {"expires_at": now_utc() - timedelta(seconds=1)})
    error = await client.error(
        SEND, {"i": {"chatRoomId": room, "content": "", "attachmentIds": [done["id"]]}}, ann.token
    )
    assert "expired" in error["message"]


@pytest.mark.parametrize(
    "query, range_header",
    [
        ("?exp=%C2%B2&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA", None),
        ("?exp=1&sig=%C3%A9", None),
        ("?exp=99999999999999999999&sig=x", None),
        (None, "bytes=" + "9" * 5000 + "-"),
        (None, "bytes=-" + "9" * 5000),
        (None, "bytes=5-3"),
    ],
)
async def test_malformed_urls_and_ranges_are_refused_cleanly(
    server: Server, client: Client, query: str | None, range_header: str | None
) -> None:
    ann = await client.register("ann")
    room = await client.create_room(ann, "odd")
    done = await upload(client, ann, PDF)
    await send_files(client, ann, room, [done["id"]])
    url = done["url"] if query is None else done["url"].split("?")[0] + query
    headers = {"range": range_header} if range_header else {}
    response = await fetch(client, url, **headers)
    assert response.status_code == (403 if query else 200)
    if query:
        upload_url = f"/files/uploads/{done['id']}{query}"
        assert (
            await client.http.put(absolute(server, upload_url), content=b"x")
        ).status_code == 403
