"""Host load for the heartbeat, read from /proc (Linux, Jetson included); None elsewhere."""

from __future__ import annotations

import functools
import os
import resource
from importlib import metadata
from pathlib import Path


def cpu_load() -> float | None:
    """1-minute load average per core (1.0: every core busy on average)."""
    try:
        return round(os.getloadavg()[0] / (os.cpu_count() or 1), 3)
    except OSError:
        return None


def rss_mb(status: Path = Path("/proc/self/status")) -> float | None:
    """Current resident set size of this process, MiB (VmRSS); peak RSS where /proc is absent."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak_kib / 1024, 1) if peak_kib else None


@functools.lru_cache(maxsize=1)
def agent_version() -> str | None:
    """The installed innsight release (package metadata); None when run from a bare tree."""
    try:
        return metadata.version("innsight")
    except metadata.PackageNotFoundError:
        return None
