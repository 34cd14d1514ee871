"""`CHATQL_METRICS_PORT`: `/metrics` on a listener of its own, e.g. a port only the monitoring
network reaches while `CHATQL_PORT` is public.

A second uvicorn server on the same event loop, started and stopped by the application's
lifespan; the process's signals stay with the main server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class _QuietServer(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to the main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsListener:
    def __init__(
        self, host: str, port: int, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> None:
        async def not_found(_request: Request, _exc: Exception) -> Response:
            return JSONResponse({"errors": [{"message": "Not Found"}]}, status_code=404)

        app = Starlette(routes=[Route("/metrics", endpoint)], exception_handlers={404: not_found})
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, or raise when the port cannot be bound (the server then does not start)."""
        self._task = asyncio.create_task(self._server.serve(), name="chatql-metrics-listener")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise OSError(f"metrics listener on port {self._server.config.port} stopped")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        self._task = None
