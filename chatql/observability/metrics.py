"""The Prometheus metrics of one application: what `GET /metrics` exports.

Each application has its own `CollectorRegistry` (tests build many in one process). Request
and operation metrics are prometheus-client metrics with their label children cached here; the
delivery hot path's counters are plain numbers in `LiveStats`, turned into metric families only
when scraped (`LiveCollector`). Every label whose values come from clients (operation names,
error codes, close codes) is bounded, so no client can grow the number of series.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from chatql.observability.live_stats import LatencyHistogram, LiveStats

OTHER = "other"  # the label value past a label's bound
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")  # a GraphQL name a series may carry
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class BoundedLabel:
    """The first `limit` distinct well-formed values pass; later ones, and malformed ones,
    become `other`."""

    def __init__(self, limit: int, pattern: re.Pattern[str] = NAME) -> None:
        self._limit = limit
        self._pattern = pattern
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit or not self._pattern.fullmatch(value):
            return OTHER
        self._seen.add(value)
        return value


def route_of(path: str) -> str:
    """The route template of a path: a bounded label, and no ids or names in it."""
    if path in ("/graphql", "/graphql/stream", "/graphql/realtime", "/healthz", "/readyz"):
        return path
    if path == "/metrics":
        return path
    if path.startswith("/files/uploads/"):
        return "/files/uploads/{id}"
    if path.startswith("/files/"):
        return "/files/{id}/{variant}"
    if path.startswith("/auth/oidc/"):
        return "/auth/oidc/{provider}"
    if path.startswith("/graphiql/"):
        return "/graphiql/static"
    if path.startswith("/internal/media/"):
        return "/internal/media"
    return "/*"  # the web app's pages and files, and what is not found


class Metrics:
    """Every metric of one application, registered in its own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.http_requests = PlainCounter(
            "chatql_http_requests",
            "HTTP requests answered, by method, route and status",
            ("method", "route", "status"),
        )
        self.http_duration = PlainHistogram(
            "chatql_http_request_duration_seconds",
            "Time from a request's arrival to its last response byte, by route",
            ("route",),
            REQUEST_BUCKETS,
        )
        self.operations = PlainCounter(
            "chatql_graphql_operations",
            "GraphQL operations run, by type, operation name and outcome (ok or error)",
            ("type", "name", "outcome"),
        )
        self.operation_duration = PlainHistogram(
            "chatql_graphql_operation_duration_seconds",
            "Time to run a query or mutation (parse, validate, execute), by type",
            ("type",),
            REQUEST_BUCKETS,
        )
        self.errors = PlainCounter(
            "chatql_graphql_errors",
            "GraphQL errors returned to clients, by extensions.code",
            ("code",),
        )
        self.websockets = PlainGauge(
            "chatql_websocket_connections",
            "Open WebSocket connections, by subprotocol",
            ("protocol",),
        )
        self.websocket_closes = PlainCounter(
            "chatql_websocket_closes", "WebSocket connections ended, by close code", ("code",)
        )
        self.store_calls = PlainHistogram(
            "chatql_store_call_duration_seconds",
            "Time of each store call, by store method",
            ("method",),
            STORE_BUCKETS,
        )
        self.store_errors = PlainCounter(
            "chatql_store_call_errors", "Store calls that raised, by store method", ("method",)
        )
        self.upload_bytes = PlainCounter(
            "chatql_upload_bytes", "File bytes received by uploads (PUT /files/uploads/{id})"
        )
        registry.register(
            PlainCollector(
                self.http_requests,
                self.http_duration,
                self.operations,
                self.operation_duration,
                self.errors,
                self.websockets,
                self.websocket_closes,
                self.store_calls,
                self.store_errors,
                self.upload_bytes,
            )
        )
        self._names = BoundedLabel(200)
        self._codes = BoundedLabel(100, re.compile(r"[A-Z][A-Z0-9_]{0,63}"))
        self._close_codes = BoundedLabel(50, re.compile(r"\d{1,4}"))
        self._http: dict[tuple[str, str, int], Any] = {}  # label children, cached
        self._http_time: dict[str, Any] = {}
        self._ops: dict[tuple[str, str, str], Any] = {}

    def observe_live(
        self, stats: LiveStats, loop_lag: LatencyHistogram, resyncs: Callable[[], int]
    ) -> None:
        """Export the live path's counters (`LiveStats`, made with the hub) and the loop lag."""
        self.registry.register(LiveCollector(stats, loop_lag, resyncs))

    def observe_streams(
        self, viewers: Callable[[], tuple[int, int]], media: Callable[[], tuple[int, int, int]]
    ) -> None:
        """Export live streams as this process sees them (`StreamsCollector`)."""
        self.registry.register(StreamsCollector(viewers, media))

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._http.get(key)
        if child is None:
            if method not in ("GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH"):
                method = OTHER
            child = self._http[key] = self.http_requests.labels(method, route, str(status))
        child.inc()
        timer = self._http_time.get(route)
        if timer is None:
            timer = self._http_time[route] = self.http_duration.labels(route)
        timer.observe(seconds)

    def operation(
        self, kind: str, name: str | None, codes: Iterable[str], seconds: float | None
    ) -> None:
        """One finished operation; `codes` of its errors (none: ok); `seconds` unless it was a
        subscription (whose time is its lifetime)."""
        errors = list(codes)
        label = self._names(name) if name else "anonymous"
        key = (kind, label, "error" if errors else "ok")
        child = self._ops.get(key)
        if child is None:
            child = self._ops[key] = self.operations.labels(*key)
        child.inc()
        for code in errors:
            self.errors.labels(self._codes(code)).inc()
        if seconds is not None:
            self.operation_duration.labels(kind).observe(seconds)

    def websocket_closed(self, code: int | None) -> None:
        self.websocket_closes.labels(self._close_codes(str(code)) if code else "none").inc()


class LiveCollector(Collector):
    """The live path's plain counters (`LiveStats`) and the loop lag, as metric families."""

    def __init__(
        self, stats: LiveStats, loop_lag: LatencyHistogram, resyncs: Callable[[], int]
    ) -> None:
        self._stats = stats
        self._loop_lag = loop_lag
        self._resyncs = resyncs

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        subscriptions = GaugeMetricFamily(
            "chatql_subscriptions", "Open subscriptions, by root field", labels=["field"]
        )
        for field, count in sorted(stats.subscriptions.items()):
            subscriptions.add_metric([field], count)
        yield subscriptions
        deliveries = CounterMetricFamily(
            "chatql_subscription_deliveries",
            "Live events written to subscribers' sockets, by path (shared fan-out or single)",
            labels=["path"],
        )
        deliveries.add_metric(["shared"], stats.deliveries_shared)
        deliveries.add_metric(["single"], stats.deliveries_single)
        yield deliveries
        drops = CounterMetricFamily(
            "chatql_subscription_drops",
            "Subscribers dropped to resume from their cursor, by reason (queue_overflow, "
            "slow_socket, resync)",
            labels=["reason"],
        )
        for reason in ("queue_overflow", "slow_socket", "resync"):
            drops.add_metric([reason], stats.drops[reason])
        yield drops
        yield _histogram(
            "chatql_delivery_latency_seconds",
            "Time from a change's commit to its frame written to a subscriber's socket",
            stats.delivery_latency,
        )
        yield _histogram(
            "chatql_change_feed_lag_seconds",
            "Time from a change's commit to this process reading it from the change feed",
            stats.feed_lag,
        )
        yield CounterMetricFamily(
            "chatql_change_feed_resyncs",
            "Times the change feed could not resume and subscribers were re-synced",
            value=self._resyncs(),
        )
        yield _histogram(
            "chatql_event_loop_lag_seconds",
            "How late the event loop ran a timer due every 50 ms: the wait every callback had",
            self._loop_lag,
        )


class StreamsCollector(Collector):
    """Live streams through this process: its watchers, and its node's media plane."""

    def __init__(
        self, viewers: Callable[[], tuple[int, int]], media: Callable[[], tuple[int, int, int]]
    ) -> None:
        self._viewers = viewers
        self._media = media

    def collect(self) -> Iterator[Metric]:
        watched, watchers = self._viewers()
        broadcasts, transcoder_restarts, nginx_restarts = self._media()
        yield GaugeMetricFamily(
            "chatql_stream_watchers",
            "Open watchStream subscriptions on this process (sum over processes: all viewers)",
            value=watchers,
        )
        yield GaugeMetricFamily(
            "chatql_streams_watched", "Live streams with a watcher on this process", value=watched
        )
        yield GaugeMetricFamily(
            "chatql_stream_broadcasts",
            "Broadcasts this node's media plane is ingesting and transcoding now",
            value=broadcasts,
        )
        yield GaugeMetricFamily(
            "chatql_stream_transcoder_restarts",
            "Restarts of the ffmpeg of broadcasts live now (it died and was started again)",
            value=transcoder_restarts,
        )
        yield CounterMetricFamily(
            "chatql_media_nginx_restarts",
            "Times the media plane's nginx died and was restarted",
            value=nginx_restarts,
        )


class PlainCounter:
    """A counter family kept as plain numbers: updated on the event loop's thread only (no lock
    per update, as prometheus-client takes), exported by `PlainCollector` when scraped."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.children: dict[tuple[str, ...], _Value] = {}
        if not labelnames:
            self.labels()  # a family without labels is exported from the start, at 0

    def labels(self, *values: str) -> _Value:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = _Value()
        return child

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in sorted(self.children.items()):
            family.add_metric(list(values), child.value)
        return family


class PlainGauge(PlainCounter):
    """A gauge family of plain numbers (see `PlainCounter`)."""

    def family(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in sorted(self.children.items()):
            family.add_metric(list(values), child.value)
        return family


class _Value:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class PlainHistogram:
    """A histogram family of lock-free `LatencyHistogram`s, one per label set."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        buckets: tuple[float, ...],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.buckets = buckets
        self.children: dict[tuple[str, ...], LatencyHistogram] = {}

    def labels(self, *values: str) -> LatencyHistogram:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = LatencyHistogram(self.buckets)
        return child

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in sorted(self.children.items()):
            family.add_metric(list(values), child.cumulative(), child.total)
        return family


class PlainCollector(Collector):
    """Exports the plain families when `/metrics` is read."""

    def __init__(self, *families: PlainCounter | PlainHistogram) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.family()


def _histogram(name: str, documentation: str, histogram: LatencyHistogram) -> Metric:
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], histogram.cumulative(), histogram.total)
    return family
