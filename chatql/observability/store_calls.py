"""Store calls timed and traced: a proxy in front of any `Store`, installed only when metrics or
tracing are on, so a server with both off pays nothing.

Every coroutine method is wrapped once, on first use, and cached on the proxy; everything else
(`watch`, attributes) passes through untouched.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from chatql.observability.metrics import Metrics


class InstrumentedStore:
    def __init__(self, store: Any, metrics: Metrics | None, tracer: trace.Tracer | None) -> None:
        self._store = store
        self._metrics = metrics
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute
        wrapped = self._wrap(name, attribute)
        self.__dict__[name] = wrapped  # found directly from now on
        return wrapped

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        metrics = self._metrics
        timer = metrics.store_calls.labels(name) if metrics is not None else None
        failures = metrics.store_errors.labels(name) if metrics is not None else None
        tracer = self._tracer
        span_name = f"store.{name}"

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                if tracer is None:
                    return await method(*args, **kwargs)
                with tracer.start_as_current_span(
                    span_name,
                    kind=trace.SpanKind.CLIENT,
                    attributes={"db.operation.name": name},
                    record_exception=False,  # an exception's text may quote stored values
                ):
                    return await method(*args, **kwargs)
            except Exception:
                if failures is not None:
                    failures.inc()
                raise
            finally:
                if timer is not None:
                    timer.observe(time.perf_counter() - started)

        timed.__name__ = name
        return timed
