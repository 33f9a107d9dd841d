"""For the provisioning tests: a Mosquitto run from a site's generated config, an MQTT client
that reports CONNACK/PUBACK/SUBACK reason codes, and ``innsight provision`` called in-process."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from hub.db import SessionFactory, create_engine, create_session_factory, init_db
from innsight.broker import BrokerStartError, mosquitto_binary, wait_for_port
from innsight.cli import main
from provisioning.site import SiteInfo, SitePaths

WAIT_S = 10.0
T = TypeVar("T")


def provision(*args: str | Path) -> int:
    """``innsight provision ARGS`` in this process; returns the exit code."""
    return main(["--log-level", "warning", "provision", *(str(a) for a in args)])


def run_with_hub_db(db: Path, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            await init_db(engine)
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


class SiteBroker:
    """Mosquitto started from ``DIR/mosquitto.conf`` as init-site wrote it. Two test-only
    changes: the log goes to a file, and when the tests run as root the broker stays root
    (otherwise it drops to the 'mosquitto' user, which cannot read the root-owned temp folder)."""

    def __init__(self, paths: SitePaths, info: SiteInfo) -> None:
        self.paths = paths
        self.info = info
        self.log_path = paths.root / "mosquitto.log"
        self.run_config = paths.root / "mosquitto.run.conf"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerStartError("mosquitto is not installed")
        text = self.paths.mosquitto_conf.read_text()
        assert "log_dest stdout" in text
        text = text.replace("log_dest stdout", f"log_dest file {self.log_path}")
        if os.geteuid() == 0:
            text = "user root\n" + text
        self.run_config.write_text(text)
        self._process = subprocess.Popen(
            [binary, "-c", str(self.run_config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in (self.info.tls_port, self.info.local_port):
            if not wait_for_port("127.0.0.1", port, WAIT_S):
                self.stop()
                raise BrokerStartError(f"mosquitto did not listen on {port}: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


class MqttSession:
    """One paho client that records what the broker answered (reason codes), for asserting
    on the broker's decisions rather than on our transport's retries."""

    def __init__(
        self,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        ca: Path | None = None,
        v5: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connacks: queue.Queue[ReasonCode] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._pubacks: dict[int, ReasonCode] = {}
        self._puback = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connacks.put(reason)

    def _on_subscribe(self, _c: Any, _u: Any, _m: int, reasons: list[ReasonCode], _p: Any) -> None:
        self.subacks.put(reasons)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._puback:
            self._pubacks[mid] = reason
            self._puback.notify_all()

    def connack(self) -> ReasonCode:
        return self.connacks.get(timeout=WAIT_S)

    def subscribe(self, topic: str) -> list[ReasonCode]:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT_S)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code (always Success on 3.1.1)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._puback:
            assert self._puback.wait_for(lambda: info.mid in self._pubacks, WAIT_S), "no PUBACK"
            return self._pubacks.pop(info.mid)

    def next_message(self, timeout_s: float = WAIT_S) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connack_of(port: int, **options: Any) -> ReasonCode:
    """Connect once and return the broker's CONNACK reason."""
    with MqttSession(port, **options) as session:
        return session.connack()


def refused(reason: ReasonCode) -> bool:
    """CONNACK 5 (3.1.1) / 135 (v5) "Not authorized", or 4/134 bad user name or password."""
    return reason.is_failure and reason.getName() in {
        "Not authorized",
        "Bad user name or password",
    }
