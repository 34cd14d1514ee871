"""`GET /metrics`: Prometheus text for scrapers, and a JSON view for the benchmarks.

Protected three ways (`CHATQL_METRICS*`): off by default in production (404), a bearer token
when `CHATQL_METRICS_TOKEN` is set (401 without it), and a listener of its own when
`CHATQL_METRICS_PORT` is set (then the main port answers 404). `?format=json` answers this
process's event-loop lag percentiles over the last minute, the recent deliveries' latency
(commit -> last frame of each write pass), its memory and uptime; with `reset=1` it then
starts new windows for both, so that a benchmark can measure one phase.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Awaitable, Callable

from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatql.config import Settings
from chatql.observability.live_stats import LiveStats
from chatql.observability.loop_lag import LoopLagMonitor
from chatql.observability.metrics import Metrics

NOT_FOUND = {"errors": [{"message": "Not Found"}]}
UNAUTHORIZED = {"errors": [{"message": "Unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}]}


def rss_bytes() -> int | None:
    """Resident set size now, from /proc (Linux); None where there is no /proc."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def metrics_endpoint(
    settings: Settings,
    metrics: Metrics | None,
    monitor: LoopLagMonitor,
    live: LiveStats,
    *,
    listener: bool,
) -> Callable[[Request], Awaitable[Response]]:
    """The route's handler on the main port (`listener=False`) or on CHATQL_METRICS_PORT's."""
    started = time.monotonic()
    served_here = metrics is not None and (bool(settings.metrics_port) == listener)
    expected = f"Bearer {settings.metrics_token}".encode() if settings.metrics_token else None

    async def endpoint(request: Request) -> Response:
        if not served_here or metrics is None:
            return JSONResponse(NOT_FOUND, status_code=404)
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, expected):
                return JSONResponse(
                    UNAUTHORIZED,
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        if request.query_params.get("format") == "json":
            reset = request.query_params.get("reset") == "1"
            lag = monitor.snapshot()
            if reset:
                monitor.reset()
            return JSONResponse(
                {
                    "loopLagMs": lag,
                    "deliveryLatencyMs": live.recent_delivery(reset=reset),
                    "rssBytes": rss_bytes(),
                    "uptimeSeconds": round(time.monotonic() - started, 1),
                }
            )
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics.registry), media_type=content_type)

    return endpoint
