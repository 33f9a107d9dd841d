"""systemd's notify protocol with the standard library: READY, STOPPING, WATCHDOG pets.

systemd passes ``$NOTIFY_SOCKET`` (a unix datagram socket; ``@`` starts an abstract name) and,
with ``WatchdogSec=``, ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``. Without them (not run by
systemd, or no watchdog) every call is a no-op that answers ``False``. Nothing here raises: a
notification that cannot be sent is logged and the agent goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes:
    if raw.startswith("@"):  # abstract namespace
        return b"\0" + raw[1:].encode()
    return raw


class SystemdNotifier:
    """Sends ``READY=1``, ``STOPPING=1``, ``STATUS=...`` and watchdog pets to systemd."""

    def __init__(
        self,
        socket_path: str | None,
        watchdog_usec: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address = _address(socket_path) if socket_path else None
        self.watchdog_s = watchdog_usec / 1_000_000 if watchdog_usec else None
        self._clock = clock
        self._last_pet: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier:
        """From ``$NOTIFY_SOCKET`` / ``$WATCHDOG_USEC`` (ignored unless ``$WATCHDOG_PID`` is
        unset or this process)."""
        socket_path = environ.get("NOTIFY_SOCKET") or None
        watchdog_usec: int | None = None
        pid = environ.get("WATCHDOG_PID")
        if pid in (None, "", str(os.getpid())):
            try:
                watchdog_usec = int(environ.get("WATCHDOG_USEC", "")) or None
            except ValueError:
                watchdog_usec = None
        return cls(socket_path, watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, state: str) -> bool:
        """Send one state line (``READY=1``...); ``False`` when not under systemd or it failed."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(state.encode())
        except OSError as err:
            logger.warning("systemd notification %r not sent: %s", state.split("=", 1)[0], err)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def pet(self) -> bool:
        """A watchdog pet, at most every quarter of ``WatchdogSec`` (call it as often as you
        like from a loop that only runs while the agent is healthy)."""
        if self.watchdog_s is None:
            return False
        now = self._clock()
        if self._last_pet is not None and now - self._last_pet < self.watchdog_s / 4:
            return False
        self._last_pet = now
        return self.notify("WATCHDOG=1")
