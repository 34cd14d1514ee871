"""The HTTP transport `chatql serve` gives uvicorn: its httptools protocol, writing a response's
header block and body in one write.

uvicorn writes the status line and headers when the app sends `http.response.start`, then the
body when it sends `http.response.body`: two writes, so two TCP segments and two wake-ups of
the client for every GraphQL answer. Here each request's cycle writes through a `HeldHeaders`,
which keeps the header block back until the body's first write when the response announces a
Content-Length (the body is then certain to follow, and the headers alone are of no use to the
client) and writes both together. Streamed responses (chunked: GraphQL over SSE), HEAD
requests, empty bodies and `100 Continue` are written at once, as before; closing the
connection writes anything held first.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


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


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with each request's cycle writing through `HeldHeaders`."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous and cycle is not None:  # a new request (not an upgrade)
            held: Any = HeldHeaders(self.transport, cycle)
            cycle.transport = held  # before its task first runs: nothing written yet


__all__ = ["CoalescingHttpProtocol", "HeldHeaders"]
