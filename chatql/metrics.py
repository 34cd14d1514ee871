"""`GET /metrics`: this process's event-loop lag, memory and uptime, as JSON.

For benchmarks and development (`CHATQL_METRICS`, off in production): it has no authentication,
so keep it off where the port is public. `?reset=1` answers the figures so far, then starts a new
lag window, so that a benchmark can measure one phase.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatql.loop_lag import LoopLagMonitor


def rss_bytes() -> int | None:
    """Resident set size now, from /proc (Linux); None where there is no /proc."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def metrics_endpoint(
    enabled: bool, monitor: LoopLagMonitor
) -> Callable[[Request], Awaitable[Response]]:
    """The route's handler: 404 (the JSON of every ChatQL not-found) when it is turned off."""
    started = time.monotonic()

    async def metrics(request: Request) -> Response:
        if not enabled:
            return JSONResponse({"errors": [{"message": "Not Found"}]}, status_code=404)
        lag = monitor.snapshot()
        if request.query_params.get("reset") == "1":
            monitor.reset()
        return JSONResponse(
            {
                "loopLagMs": lag,
                "rssBytes": rss_bytes(),
                "uptimeSeconds": round(time.monotonic() - started, 1),
            }
        )

    return metrics
