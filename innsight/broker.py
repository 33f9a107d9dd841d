"""Start a local MQTT broker for the demo and the tests: Mosquitto when installed, else amqtt.

Production brokers are configured from ``mosquitto/``; this module only runs throwaway ones on
loopback, each with its own generated config, persistence folder and free port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


class BrokerStartError(RuntimeError):
    """The broker did not come up; the message carries its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    candidate = Path("/usr/sbin/mosquitto")
    return str(candidate) if candidate.is_file() else None


@dataclass(frozen=True)
class BrokerTls:
    """PEM files for a TLS listener: the CA that signed the server certificate, and the pair."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


@dataclass
class MosquittoBroker:
    """A Mosquitto process on loopback. ``stop``/``kill``/``start`` let fault tests restart it
    on the same port with the same persistence file."""

    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    binary: str | None = None
    tls: BrokerTls | None = None
    password_file: Path | None = None
    # Lines appended after the generated ones (global options, more listeners, a bridge's
    # ``connection`` section; Mosquitto applies listener and bridge options to the latest one).
    extra_config: list[str] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def _security_lines(self) -> list[str]:
        lines = []
        if os.geteuid() == 0:
            # Started as root, Mosquitto switches to the 'mosquitto' user, which cannot read our
            # root-owned temp folders: no log, no persistence, no TLS key. This broker is a
            # throwaway on loopback (demo, tests); production uses mosquitto/ with its own user.
            lines.append("user root")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                "tls_version tlsv1.2",
            ]
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        return lines

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    *self._security_lines(),
                    "persistence true",
                    f"persistence_location {self.workdir}/",
                    "autosave_interval 1",
                    "max_inflight_messages 100",
                    "max_queued_messages 100000",
                    "message_size_limit 1048576",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    *self.extra_config,
                    "",
                ]
            )
        )

    def start(self, timeout_s: float = 10.0) -> None:
        binary = self.binary or mosquitto_binary()
        if binary is None:
            raise BrokerStartError("mosquitto is not installed (apt-get install mosquitto)")
        self.write_config()
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, our own config
            [binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if not wait_for_port(self.host, self.port, timeout_s):
            stderr = b""
            if self._process.poll() is not None and self._process.stderr is not None:
                stderr = self._process.stderr.read()
            self.kill()
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise BrokerStartError(
                f"mosquitto did not listen on {self.port}: "
                f"{stderr.decode(errors='replace')[-2000:]}{log[-2000:]}"
            )
        logger.info("mosquitto listening on %s:%d", self.host, self.port)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Clean stop (SIGTERM): Mosquitto writes its persistence file."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._release()

    def kill(self) -> None:
        """SIGKILL: whatever was not yet autosaved is gone, as after a power cut."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._release()

    def _release(self) -> None:
        # Close the stderr pipe, or a ResourceWarning (an error under the test settings)
        # follows every stop/kill.
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None


class EmbeddedBroker:
    """amqtt in a background thread, for machines without Mosquitto (demo only)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._thread: object | None = None
        self._loop: object | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        import asyncio
        import threading

        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def _run() -> None:
            broker = Broker(config, loop=loop)
            await broker.start()
            ready.set()
            await asyncio.Event().wait()

        def _target() -> None:
            asyncio.set_event_loop(loop)
            with contextlib.suppress(RuntimeError):  # raised when stop() ends the loop
                loop.run_until_complete(_run())

        thread = threading.Thread(target=_target, name="amqtt-broker", daemon=True)
        thread.start()
        self._thread, self._loop = thread, loop
        if not ready.wait(timeout_s):  # set once amqtt is listening
            raise BrokerStartError(f"embedded broker did not start on {self.port}")
        logger.info("embedded amqtt broker listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        import asyncio

        loop = self._loop
        if isinstance(loop, asyncio.AbstractEventLoop):
            loop.call_soon_threadsafe(loop.stop)
