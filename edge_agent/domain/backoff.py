"""Exponential backoff with full jitter, for anything that reconnects (cameras, brokers).

Why full jitter: after a site-wide power cut every camera (and every edge) comes back at once;
a fixed or merely doubled delay makes them all retry in lockstep and hammer the same switch or
NVR. Drawing each delay uniformly from ``[0, ceiling]``, with the ceiling doubling from
``min_s`` up to ``max_s``, spreads the retries out and keeps the mean wait at half the ceiling
(AWS Architecture Blog, "Exponential Backoff And Jitter", 2015).

Pure: the random draw is injected, so tests pin it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# 2**64 * any sane min_s is far above any max_s; the exponent is capped so it never overflows.
_MAX_EXPONENT = 64


def backoff_ceiling(attempt: int, min_s: float, max_s: float) -> float:
    """The upper bound of the delay before retry ``attempt`` (0-based): ``min_s * 2**attempt``,
    capped at ``max_s``."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return min(max_s, min_s * 2.0 ** min(attempt, _MAX_EXPONENT))


def full_jitter(attempt: int, min_s: float, max_s: float, rand: Callable[[], float]) -> float:
    """A delay drawn uniformly from ``[0, backoff_ceiling(attempt, min_s, max_s)]``.

    ``rand`` returns a float in ``[0, 1)`` (``random.random``).
    """
    return rand() * backoff_ceiling(attempt, min_s, max_s)


class Backoff:
    """The delay sequence of one retrying thing: :meth:`next_delay` after each failure,
    :meth:`reset` once it works again. Not thread-safe: one owner."""

    def __init__(
        self,
        min_s: float,
        max_s: float,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {min_s} and {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self._rand = rand
        self.attempt = 0
        """Failures since the last reset: the exponent of the next ceiling."""

    def next_delay(self) -> float:
        delay = full_jitter(self.attempt, self.min_s, self.max_s, self._rand)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
