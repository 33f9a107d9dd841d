"""GPU memory for ``/api/v1/cv/health`` and the ``cv_gpu_memory_usage_bytes`` gauge.

Read with ``nvidia-smi`` (the driver's own tool; no Python binding needed). Without an NVIDIA
driver or GPU the status is ``unavailable`` and the numbers are 0: never a guess.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_QUERY = ["--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"]
_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class GpuMemory:
    """``status``: ok (read) | unavailable (no NVIDIA GPU or driver) | error (could not read).
    Megabytes (MiB, as nvidia-smi reports), summed over the GPUs."""

    status: str
    used_mb: int
    total_mb: int
    devices: int
    detail: str | None = None

    @property
    def used_bytes(self) -> int:
        return self.used_mb * 1024 * 1024


def parse_nvidia_smi(text: str) -> tuple[int, int, int]:
    """``"4096, 8192\\n..."`` -> (used MiB, total MiB, GPUs); raises ValueError."""
    used = total = count = 0
    for line in text.strip().splitlines():
        first, _, second = line.partition(",")
        used += int(first.strip())
        total += int(second.strip())
        count += 1
    if count == 0:
        raise ValueError("nvidia-smi listed no GPU")
    return used, total, count


def gpu_memory() -> GpuMemory:
    """The GPUs' memory now (blocking: call it from a worker thread)."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return GpuMemory("unavailable", 0, 0, 0, "no NVIDIA driver (nvidia-smi not found)")
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [tool, *_QUERY], capture_output=True, text=True, timeout=_TIMEOUT_S, check=True
        )
        used, total, count = parse_nvidia_smi(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        logger.warning("GPU memory not readable: %s", type(err).__name__)
        return GpuMemory("error", 0, 0, 0, f"nvidia-smi failed: {type(err).__name__}")
    return GpuMemory("ok", used, total, count)
