"""nginx-rtmp's HTTP hooks: an internal endpoint only the local nginx may call.

A call must come from this machine *and* carry the per-process secret written into
nginx.conf; anything else gets 404, as if the endpoint did not exist. nginx-rtmp posts a
form (`app`, `name`, `addr`, `clientid`, `call`, ...) and reads only the status: 2xx lets the
publisher in, 3xx with `Location` lets it in under that name, anything else cuts it off.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from chatql.media_plane.nginx import HOOK_PREFIX
from chatql.media_plane.plane import MediaPlane

MAX_FORM_BYTES = 16 * 1024  # nginx sends a few hundred bytes; the publisher's URL args add some


def _plane(request: Request) -> MediaPlane | None:
    services = getattr(request.app.state, "services", None)
    plane = getattr(services, "media", None)
    return plane if isinstance(plane, MediaPlane) and plane.tools is not None else None


def _from_this_machine(request: Request) -> bool:
    client = request.client.host if request.client else ""
    server = request.scope.get("server")
    if server and client == server[0]:  # ChatQL listens on one address, nginx calls it there
        return True
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


async def _form(request: Request) -> dict[str, str] | None:
    """The first value of each field: nginx writes its own fields before the publisher's URL
    arguments, so a publisher cannot override `name` or `clientid` with `?name=`."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    form: dict[str, str] = {}
    for name, value in parse_qsl(body.decode(errors="replace"), keep_blank_values=True):
        form.setdefault(name, value)
    return form


async def _checked(request: Request) -> tuple[MediaPlane, dict[str, str]] | Response:
    plane = _plane(request)
    secret = request.query_params.get("secret", "")
    if (
        plane is None
        or not _from_this_machine(request)
        or not secrets.compare_digest(secret.encode(), plane.hook_secret.encode())
    ):
        return PlainTextResponse("Not Found", status_code=404)
    form = await _form(request)
    if form is None:
        return PlainTextResponse("Too large", status_code=413)
    return plane, form


async def on_publish(request: Request) -> Response:
    checked = await _checked(request)
    if isinstance(checked, Response):
        return checked
    plane, form = checked
    stream_id = await plane.publish_started(form)
    if stream_id is None:
        return PlainTextResponse("Refused", status_code=403)
    # nginx-rtmp renames the published stream to a relative Location (one not rtmp://)
    return Response(status_code=302, headers={"Location": stream_id})


async def on_publish_done(request: Request) -> Response:
    checked = await _checked(request)
    if isinstance(checked, Response):
        return checked
    plane, form = checked
    plane.publish_done(form)
    return PlainTextResponse("OK")


def media_hook_routes() -> list[Route]:
    """The hooks nginx.conf names; they find the media plane in `app.state.services`."""
    return [
        Route(f"{HOOK_PREFIX}/on_publish", on_publish, methods=["POST"]),
        Route(f"{HOOK_PREFIX}/on_publish_done", on_publish_done, methods=["POST"]),
    ]
