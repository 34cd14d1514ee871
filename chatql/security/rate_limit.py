"""Token-bucket rate limits, kept per process.

A bucket holds `burst` tokens and refills at `burst / per_seconds` tokens a second; each action
takes one. When it is empty the caller gets RATE_LIMITED with `retryAfter` seconds, and
nothing is written. Limits are per process: with N processes a client can reach N times the
rate at most, which the load balancer's stickiness usually prevents.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from chatql.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Rate:
    burst: int
    per_seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """`10/10` = a burst of 10, refilled over 10 s; `0` or `off` = unlimited."""
        value = text.strip().lower()
        if value in ("0", "off", "none"):
            return None
        count, sep, seconds = value.partition("/")
        try:
            burst, per = int(count), float(seconds) if sep else 1.0
        except ValueError:
            raise ValueError(f"expected COUNT/SECONDS like 10/10 or 'off', got {text!r}") from None
        if burst < 1 or not 0 < per <= 86400:
            raise ValueError(f"expected COUNT >= 1 and 0 < SECONDS <= 86400, got {text!r}")
        return cls(burst, per)


class RateLimiter:
    def __init__(self, rate: Rate | None, max_keys: int = 100_000) -> None:
        self._rate = rate
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def hit(self, key: str, what: str, cost: float = 1.0) -> None:
        """Take `cost` tokens (one by default) for `key`, or raise RateLimited saying when
        to retry. A fraction lets one key allow a multiple of the configured rate."""
        if self._rate is None:
            return
        now = time.monotonic()
        refill = self._rate.burst / self._rate.per_seconds
        tokens, stamp = self._buckets.get(key, (float(self._rate.burst), now))
        tokens = min(float(self._rate.burst), tokens + (now - stamp) * refill)
        if tokens < cost:
            retry_after = math.ceil((cost - tokens) / refill)
            self._buckets[key] = (tokens, now)
            raise RateLimited(f"Too many {what}; retry in {retry_after} s", retryAfter=retry_after)
        self._buckets[key] = (tokens - cost, now)
        if len(self._buckets) > self._max_keys:
            self._forget_full(now, refill)

    def _forget_full(self, now: float, refill: float) -> None:
        """Drop buckets that have refilled completely; they carry no information."""
        assert self._rate is not None
        burst = float(self._rate.burst)
        for key, (tokens, stamp) in list(self._buckets.items()):
            if tokens + (now - stamp) * refill >= burst:
                del self._buckets[key]
