"""One loop timer per tick for many long timers: the keep-alive pings, pong deadlines and
connection_init timeouts of idle sockets.

Every idle WebSocket holds a keep-alive timer and, after each ping, a pong deadline that is
almost always cancelled. An asyncio TimerHandle each is an object and a heap entry per socket;
on the wheel a timer is a small object in the list of its tick, and one loop timer per tick
runs the list. Used by the transport (`transport.LeanWebSocketProtocol`) and the GraphQL
protocol handlers (`security.connections`, `appsync.realtime`).
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable

WHEEL_RESOLUTION = 1.0  # seconds: timers longer than a few ticks may fire up to this much late


class WheelTimer:
    """A timer on a `TimerWheel`; like asyncio's TimerHandle, it can be cancelled."""

    __slots__ = ("callback", "handle")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback: Callable[[], object] | None = callback
        self.handle: asyncio.TimerHandle | None = None  # a short timer's own loop timer

    def cancel(self) -> None:
        self.callback = None  # a wheel timer is skipped at its tick; it holds nothing until then
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def cancelled(self) -> bool:
        return self.callback is None


class TimerWheel:
    """Many long timers of one event loop share one loop timer per tick of `resolution`.

    Timers up to a few ticks long take an ordinary loop timer (exact, and short-lived anyway);
    longer ones fire at the end of their tick, at most `resolution` seconds late. A tick's
    timers run in the order they were set.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float | None = None) -> None:
        self._loop = loop
        self._resolution = WHEEL_RESOLUTION if resolution is None else resolution
        self._buckets: dict[int, list[WheelTimer]] = {}

    def call_later(self, delay: float, callback: Callable[[], object]) -> WheelTimer:
        timer = WheelTimer(callback)
        if delay < 4 * self._resolution:
            timer.handle = self._loop.call_later(delay, self._run, timer)
            return timer
        tick = math.ceil((self._loop.time() + delay) / self._resolution)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = []
            self._loop.call_at(tick * self._resolution, self._fire, tick)
        bucket.append(timer)
        return timer

    def pending(self) -> int:
        """Wheel timers set and neither fired nor cancelled (for tests and diagnostics)."""
        return sum(not t.cancelled() for b in self._buckets.values() for t in b)

    def _fire(self, tick: int) -> None:
        for timer in self._buckets.pop(tick, ()):
            self._run(timer)

    def _run(self, timer: WheelTimer) -> None:
        callback, timer.callback, timer.handle = timer.callback, None, None
        if callback is None:
            return
        try:
            callback()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # as the loop reports a failing callback, then carry on
            self._loop.call_exception_handler(
                {"message": "Exception in a timer-wheel callback", "exception": exc}
            )


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TimerWheel] = (
    weakref.WeakKeyDictionary()
)


def timer_wheel(loop: asyncio.AbstractEventLoop | None = None) -> TimerWheel:
    """The wheel of `loop` (default: the running loop), made on first use."""
    loop = loop if loop is not None else asyncio.get_running_loop()
    wheel = _wheels.get(loop)
    if wheel is None:
        wheel = _wheels[loop] = TimerWheel(loop)
    return wheel
