"""A stable slot number for each process of ``innsight hub serve --workers N``.

The N uvicorn workers of one host share a data dir. Each takes the first free of N lock files
(``{data_dir}/run/api-worker-{i}.lock``, an exclusive ``flock`` held for the process's life):
slot ``i`` names its MQTT client (``{mqtt_client_id}-api-{i}``), so a restarted worker gets
the same persistent session back instead of leaving one behind at the broker.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class NoFreeSlotError(RuntimeError):
    """All N slots are taken (more workers than ``--workers`` said)."""


_held: list[IO[bytes]] = []  # the lock files stay open (and locked) for the process's life


def claim_slot(run_dir: Path, count: int) -> int:
    """Lock the first free slot of ``count`` under ``run_dir``; its number."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = (run_dir / f"api-worker-{index}.lock").open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        _held.append(handle)
        return index
    raise NoFreeSlotError(f"all {count} API worker slots under {run_dir} are taken")


def release_slots() -> None:
    """Unlock and close every slot this process holds (its exit does the same)."""
    while _held:
        _held.pop().close()
