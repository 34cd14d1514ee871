"""The HTTP transport `chatql serve` gives uvicorn: its httptools protocol, writing a response's
header block and body in one write, and answering plain GraphQL POSTs without ASGI.

uvicorn writes the status line and headers when the app sends `http.response.start`, then the
body when it sends `http.response.body`: two writes, so two TCP segments and two wake-ups of
the client for every GraphQL answer. Here each request's cycle writes through a `HeldHeaders`,
which keeps the header block back until the body's first write when the response announces a
Content-Length (the body is then certain to follow, and the headers alone are of no use to the
client) and writes both together. Streamed responses (chunked: GraphQL over SSE), HEAD
requests, empty bodies and `100 Continue` are written at once, as before; closing the
connection writes anything held first.

Nearly every request a chat client sends is a plain GraphQL POST with a document the server
already knows (`chatql.fast_path.direct_http`). For those, the ASGI request cycle (its scope,
receive and send messages, an `asyncio.Event`, the wrappers' frames) costs more than the
routing it serves.
`DirectCycle` takes such a request from the parser's callbacks: once the body is in, the same
`DirectPost` checks and answers it, and the status line, headers and body go out in one write.
What the ASGI path adds is done here too: the request id header, the HTTP metrics and access
log line, the client's address from trusted proxy headers, keep-alive, pipelining (a request
that arrives while one is in flight waits its turn), the graceful shutdown's wait, and a 500
for a failure. A body that turns out not to qualify (not JSON, an unknown document) is handed
to an ordinary cycle with the body already read. Requests with a tracer configured, an
`Expect: 100-continue`, a query string or a concurrency limit keep the ASGI path.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any, cast

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from chatql.observability.logs import current_request
from chatql.observability.middleware import request_done, request_info
from chatql.realtime.transport import app_attribute, trusted_forwarding

if TYPE_CHECKING:
    from chatql.fast_path.direct_http import DirectPost, DirectRequest, PostHead
    from chatql.observability.metrics import Metrics

log = logging.getLogger(__name__)
INTERNAL_ERROR = b"Internal Server Error"


class HeldHeaders:
    """What a request's cycle sees as its transport: write, close and is_closing."""

    __slots__ = ("_cycle", "_held", "_responding", "transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self.transport = transport
        self._cycle = weakref.ref(cycle)  # no reference cycle: the cycle holds this object
        self._held: bytes | None = None
        self._responding = False  # the header block has been seen

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self.transport.write(held + data)  # one write (a writev costs more than the copy)
            return
        if not self._responding:
            cycle = self._cycle()
            if cycle is not None and cycle.response_started:
                self._responding = True  # this is the header block
                if (
                    cycle.chunked_encoding is False
                    and cycle.expected_content_length > 0
                    and cycle.scope["method"] != "HEAD"
                ):
                    self._held = data
                    return
        self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self.transport.write(held)

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class DirectCycle:
    """A plain GraphQL POST in flight, kept where uvicorn's protocol keeps its request cycle
    (`self.cycle`): the parser's callbacks fill `body` and call `message_event.set()`, a lost
    connection sets `disconnected`, and a shutdown clears `keep_alive`, as for a cycle."""

    __slots__ = (
        "body",
        "disconnected",
        "head",
        "keep_alive",
        "more_body",
        "post",
        "protocol",
        "response_complete",
        "scope",
        "started",
        "waiter",
    )

    def __init__(
        self,
        protocol: CoalescingHttpProtocol,
        post: DirectPost,
        scope: Any,
        head: PostHead,
        keep_alive: bool,
    ) -> None:
        self.protocol = protocol
        self.post = post
        self.scope = scope
        self.head = head
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.more_body = True
        self.response_complete = False
        self.disconnected = False
        self.started = False
        self.waiter: asyncio.Future[None] | None = None

    @property
    def message_event(self) -> DirectCycle:
        """What uvicorn calls `.set()` on when the body grows or ends (a property: an
        attribute would make each request a reference cycle, left for the collector)."""
        return self

    def set(self) -> None:
        if self.disconnected or self.response_complete:
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if self.started:
            return
        if self.more_body:  # uvicorn pauses reading past 64 KiB, for its receive to resume
            self.protocol.flow.resume_reading()
            return
        self.started = True
        self.protocol.body_complete(self)

    async def receive(self) -> dict[str, Any]:
        """The request's ASGI `receive` once its body is read: the disconnect, when the client
        goes or the answer is written, as uvicorn's."""
        if not (self.disconnected or self.response_complete):
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return {"type": "http.disconnect"}


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with each request's cycle writing through `HeldHeaders`,
    and plain GraphQL POSTs answered by a `DirectCycle`."""

    def on_headers_complete(self) -> None:
        direct = _served(self.app)[0]
        if (
            direct is not None
            and self.url == direct.path.encode()  # no query string
            and not self.root_path
            and (self.cycle is None or self.cycle.response_complete)  # nothing in flight
            and self.limit_concurrency is None
            and not self.expect_100_continue
            and self.parser.get_method() == b"POST"
            and not self.parser.should_upgrade()
        ):
            head = direct.head(self.headers)
            if head is not None:
                self._take_directly(direct, head)
                return
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous and cycle is not None:  # a new request (not an upgrade)
            self._hold_headers(cycle)

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The connection is the WebSocket protocol's now. The parser and this object refer
        # to each other: without this they would wait for a garbage collection, for every
        # socket that ever connected.
        self.parser = None  # type: ignore[assignment]

    def _hold_headers(self, cycle: RequestResponseCycle) -> None:
        held: Any = HeldHeaders(self.transport, cycle)
        cycle.transport = held  # before its task first runs: nothing written yet

    def _take_directly(self, post: DirectPost, head: PostHead) -> None:
        """The scope as uvicorn and its proxy headers middleware would make it; a cycle
        that waits for the body."""
        scope = self.scope
        http_version = self.parser.get_http_version()
        if http_version != "1.1":
            scope["http_version"] = http_version
        scope["method"] = "POST"
        scope["path"] = self.url.decode("ascii")
        scope["raw_path"] = self.url
        scope["query_string"] = b""
        trusted_forwarding(self.app, scope)
        keep_alive = http_version != "1.0" and self.parser.should_keep_alive()
        self.cycle = DirectCycle(self, post, scope, head, keep_alive)  # type: ignore[assignment]

    def body_complete(self, cycle: DirectCycle) -> None:
        """Answer in a task of the server's (its shutdown waits for them), or hand the
        request to an ordinary cycle when its body does not qualify."""
        body = bytes(cycle.body)
        request = cycle.post.parse(body) if len(body) == cycle.head.length else None
        if request is None:
            self._ordinary(cycle, body)
            return
        task = self.loop.create_task(self._answer(cycle, request))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _ordinary(self, direct: DirectCycle, body: bytes) -> None:
        event = asyncio.Event()
        event.set()
        cycle = RequestResponseCycle(
            scope=direct.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=event,
            expect_100_continue=False,
            keep_alive=direct.keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.body = bytearray(body)
        cycle.more_body = False
        if self.cycle is cast(Any, direct):  # not replaced by a pipelined request yet
            self.cycle = cycle
        self._hold_headers(cycle)
        self._start_asgi_task(cycle, self.app)

    async def _answer(self, cycle: DirectCycle, request: DirectRequest) -> None:
        started = time.perf_counter()
        scope = cycle.scope
        info = request_info(scope)
        current_request.set(info)  # this task's own context
        try:
            status, body, media_type = await cycle.post.answer(
                scope, cycle.receive, cycle.head, request
            )
        except Exception:
            log.exception("could not answer a GraphQL request")
            status, body, media_type = 500, INTERNAL_ERROR, "text/plain; charset=utf-8"
            cycle.keep_alive = False
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (
            b"content-length: ",
            str(len(body)).encode(),
            b"\r\ncontent-type: ",
            media_type.encode(),
            b"\r\nx-request-id: ",
            info.request_id.encode(),
            b"\r\n",
        )
        if not cycle.keep_alive:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", body)
        if self.flow.write_paused and not cycle.disconnected:
            await self.flow.drain()
        sent = 0
        if not cycle.disconnected and not self.transport.is_closing():
            self.transport.write(b"".join(head))
            sent = len(body)
        cycle.response_complete = True
        cycle.set()
        cycle.protocol = None  # type: ignore[assignment]  # no cycle with the protocol's `cycle`
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()
        seconds = time.perf_counter() - started
        request_done(_served(self.app)[1], "POST", scope["path"], status, seconds, sent)


# Per application, not per connection: another attribute on uvicorn's protocol objects takes
# them past the instance dicts' shared keys (a 1.3 KB dict each, for every WebSocket's upgrade).
_SERVED: weakref.WeakKeyDictionary[Any, tuple[DirectPost | None, Metrics | None]] = (
    weakref.WeakKeyDictionary()
)


def _served(app: Any) -> tuple[DirectPost | None, Metrics | None]:
    """The application's `DirectPost` (None: POSTs keep ASGI) and metrics."""
    found = _SERVED.get(app)
    if found is None:
        found = _SERVED[app] = (app_attribute(app, "direct_posts"), app_attribute(app, "metrics"))
    return found


__all__ = ["CoalescingHttpProtocol", "DirectCycle", "HeldHeaders"]
