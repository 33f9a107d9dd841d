"""A small in-process token bucket per key (pure; the clock is injected).

Each key gets ``burst`` requests at once and ``per_minute`` over time. ``hit`` answers 0 when
the request may go, else the seconds until it could (the ``Retry-After``). The API counts in
the database once it has one (:mod:`hub.cluster.ratelimit_store`, the same limits shared by
every replica); this in-process limiter counts until then, and in tools without a database.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    rate_per_s: float
    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
        self.updated = max(self.updated, now)

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when taken, else the seconds until there are enough."""
        self.refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate_per_s


class RateLimiter:
    """Buckets by key; at most ``max_keys`` are kept (full, idle buckets go first)."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._lock = threading.Lock()

    def hit(self, key: Hashable) -> float:
        """0.0 when ``key`` may make a request now (one token is taken), else seconds to wait."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                self._make_room(now)
                bucket = TokenBucket(self._rate, self._burst, self._burst, now)
                self._buckets[key] = bucket
            return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self._max_keys:
            return
        for key, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[key]
        while len(self._buckets) >= self._max_keys:
            oldest = min(self._buckets, key=lambda k: self._buckets[k].updated)
            del self._buckets[oldest]


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` takes whole seconds: round up, at least 1."""
    return str(max(1, math.ceil(seconds)))
