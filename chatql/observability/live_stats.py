"""Counters the delivery hot path bumps: plain integers and bucket lists, read when scraped.

A fan-out writes one event to thousands of sockets; a prometheus-client metric takes a lock per
update. These live on the event loop's thread only, so a `+= 1` is enough, and a histogram
observation is a bisect. `chatql.observability.metrics` turns them into Prometheus families
when `/metrics` is read, so the hot path never imports prometheus-client.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable
from contextvars import ContextVar

# Seconds: delivery latency and feed lag are milliseconds when healthy, seconds when backed up.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# Write passes whose latency `GET /metrics?format=json` summarises: a benchmark's measured
# phase (it resets the window when a phase starts), not the process's life.
RECENT_PASSES = 20_000

# The commit time of the change event the current per-subscriber task is delivering: set when
# the event leaves its subscriber queue (`pubsub.Subscription.get`), read when the frame is
# written (the WebSocket handlers), in the same operation task.
delivering_commit: ContextVar[float | None] = ContextVar("delivering_commit", default=None)


class LatencyHistogram:
    """A Prometheus-style histogram without locks: per-bucket counts (not cumulative), a sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """Record `value` `times` times (one event written to `times` sockets at once)."""
        value = max(value, 0.0)  # clocks of two machines (MongoDB's wallTime) may disagree
        self.counts[bisect_left(self.bounds, value)] += times
        self.total += value * times

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, count of observations <= le) for every bound and +Inf, as Prometheus wants."""
        buckets = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return buckets

    @property
    def count(self) -> int:
        return sum(self.counts)


def summary_ms(seconds: Iterable[float]) -> dict[str, float | int | None]:
    """p50 / p99 / max of `seconds` in milliseconds (None without samples), and their count."""
    ordered = sorted(seconds)
    n = len(ordered)

    def ms(q: float) -> float | None:
        return round(ordered[max(0, math.ceil(q * n) - 1)] * 1000, 3) if n else None

    return {"p50": ms(0.50), "p99": ms(0.99), "max": ms(1.0), "samples": n}


class LiveStats:
    """What the live path did since the process started: deliveries, drops, latencies, and the
    open subscriptions per root field. One per application (tests run many in one process)."""

    def __init__(self) -> None:
        self.deliveries_shared = 0  # frames written by fan-out groups
        self.deliveries_single = 0  # frames written by per-subscriber operations
        self.drops: Counter[str] = Counter()  # subscribers dropped, by reason
        self.subscriptions: Counter[str] = Counter()  # open subscriptions by root field
        self.delivery_latency = LatencyHistogram()  # commit -> frame written
        self.feed_lag = LatencyHistogram()  # commit -> event read from the store's feed
        # commit -> last frame of a write pass (a group's pass over its members, or one
        # subscriber's frame), for the last RECENT_PASSES passes: what the server itself adds
        # to the latency a client measures, without the client's own share. A frame that
        # waited in a slow member's backlog is a pass of its own when it is written.
        self.recent_passes: deque[float] = deque(maxlen=RECENT_PASSES)

    def delivered(self, committed_at: float | None, frames: int = 1, *, shared: bool) -> None:
        """`frames` written in one pass; called after the pass's last write."""
        if shared:
            self.deliveries_shared += frames
        else:
            self.deliveries_single += frames
        if committed_at is not None:
            latency = time.time() - committed_at
            self.delivery_latency.observe(latency, frames)
            self.recent_passes.append(latency)

    def recent_delivery(self, *, reset: bool = False) -> dict[str, float | int | None]:
        """`summary_ms` of the recent passes' latency; `reset` starts a new window."""
        summary = summary_ms(self.recent_passes)
        if reset:
            self.recent_passes.clear()
        return summary

    def subscription_started(self, field: str) -> None:
        self.subscriptions[field] += 1

    def subscription_ended(self, field: str) -> None:
        self.subscriptions[field] -= 1
