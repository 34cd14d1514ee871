"""Event-loop lag: how late the loop runs a timer, the wait any ready callback had.

Every socket, subscription and request of a process shares one event loop, so when a callback
hogs it (a big fan-out, a slow serialisation, a full garbage collection) everything else waits.
Latency measured by a client mixes that wait with the network and the database; the lag of a
timer that asks to run every `interval` seconds is the wait alone. `GET /metrics` reports it:
as a histogram of every sample, and (`?format=json`) as percentiles of the last minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from chatql.observability.live_stats import LatencyHistogram, summary_ms


class LoopLagMonitor:
    """Samples the loop's lag every `interval` seconds and keeps the last `window` seconds.

    Each tick appends one float (seconds late, never negative) and schedules the next tick
    `interval` after it ran, so a 2 s stall is one 2 s sample, not a burst of catch-up ticks.
    Tick i therefore covers `interval + lag_i` seconds of wall time, which bounds the window by
    time without storing timestamps. Times come from `clock`, not `loop.time()`: uvloop's loop
    time has millisecond steps and is read once per loop iteration.
    """

    def __init__(
        self,
        interval: float = 0.05,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.window = window
        self._clock = clock
        self._lags: deque[float] = deque()  # at most window / interval samples
        self._covered = 0.0  # seconds the samples in `_lags` span
        self._due = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self.histogram = LatencyHistogram()  # every sample since the start, for Prometheus

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start sampling `loop` (default: the running one)."""
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._schedule(self._clock())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def reset(self) -> None:
        """Forget every sample, e.g. when a benchmark's measured phase starts."""
        self._lags.clear()
        self._covered = 0.0

    def _schedule(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + self.interval
        self._handle = self._loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        now = self._clock()
        lag = max(0.0, now - self._due)  # a loop may run a timer a little early
        self._lags.append(lag)
        self.histogram.observe(lag)
        self._covered += self.interval + lag
        while self._covered > self.window and len(self._lags) > 1:
            self._covered -= self.interval + self._lags.popleft()
        self._schedule(now)

    def snapshot(self) -> dict[str, float | int | None]:
        """p50 / p99 / max lag in milliseconds (None before the first sample), the sample
        count, and the seconds the samples cover (at most `window`)."""
        summary = summary_ms(self._lags)
        summary["windowSeconds"] = round(self._covered, 1) if self._lags else 0.0
        return summary
