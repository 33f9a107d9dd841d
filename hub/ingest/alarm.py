"""The dead-letter alarm: one device producing many dead letters (a broken or hostile edge)."""

from __future__ import annotations

# Devices tracked by the alarm (topics name arbitrary device ids).
_ALARM_MAX_DEVICES = 10_000


class DeadLetterAlarm:
    """Counts dead letters per device in fixed windows; says when one goes over a threshold."""

    def __init__(self, threshold: int, window_s: float) -> None:
        if threshold < 1 or window_s <= 0:
            raise ValueError("threshold must be >= 1 and window_s > 0")
        self.threshold = threshold
        self.window_s = window_s
        # device -> [window start, count, alerted]
        self._windows: dict[str, list[float]] = {}

    def record(self, device_id: str, count: int, now: float) -> int | None:
        """Add ``count`` dead letters; returns the window's total when this crosses the
        threshold (once per device and window), else None."""
        window = self._windows.get(device_id)
        if window is None or now - window[0] >= self.window_s:
            if window is None and len(self._windows) >= _ALARM_MAX_DEVICES:
                self._forget_stale(now)
            window = [now, 0.0, 0.0]
            self._windows[device_id] = window
        window[1] += count
        if window[1] >= self.threshold and not window[2]:
            window[2] = 1.0
            return int(window[1])
        return None

    def noisy(self, now: float) -> int:
        """Devices over the threshold in their current window."""
        return sum(1 for w in self._windows.values() if w[2] and now - w[0] < self.window_s)

    def _forget_stale(self, now: float) -> None:
        stale = [d for d, w in self._windows.items() if now - w[0] >= self.window_s]
        for device_id in stale or list(self._windows)[: _ALARM_MAX_DEVICES // 10]:
            del self._windows[device_id]
