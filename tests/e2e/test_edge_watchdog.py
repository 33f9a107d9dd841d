"""``innsight edge run`` under a systemd-like supervisor: the process finds ``$NOTIFY_SOCKET``
and ``$WATCHDOG_USEC`` as systemd sets them for ``Type=notify`` + ``WatchdogSec=`` (the unit of
``innsight edge install-service``), says READY once running, pets the watchdog while it runs,
and says STOPPING on SIGTERM. The socket is a real unix datagram socket, as systemd's is."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from innsight.broker import MosquittoBroker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _clip(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5.0, (160, 120))
    for _ in range(5):
        writer.write(np.zeros((120, 160, 3), dtype=np.uint8))
    writer.release()
    return path


def test_edge_agent_notifies_ready_pets_the_watchdog_and_stops(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text(
        f"""\
device_id: edge-watchdog-01
site: hotel-wd
data_dir: {tmp_path / "edge"}
mqtt:
  host: {mosquitto.host}
  port: {mosquitto.port}
hub:
  url: http://127.0.0.1:9
cameras:
  - id: lobby
    url: {_clip(tmp_path / "clip.avi")}
"""
    )
    sock_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(1.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env.update(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="2000000")  # WatchdogSec=2
    log = tmp_path / "edge.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "innsight", "edge", "run", "--config", str(config)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    messages: list[tuple[float, str]] = []
    try:
        deadline = time.monotonic() + 120
        while sum(1 for _, m in messages if m == "WATCHDOG=1") < 4:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{messages}\n{log.read_text()[-3000:]}"
            try:
                messages.append((time.monotonic(), listener.recv(4096).decode()))
            except TimeoutError:
                continue
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, 1), log.read_text()[-3000:]
        listener.settimeout(0.2)
        try:
            while True:
                messages.append((time.monotonic(), listener.recv(4096).decode()))
        except TimeoutError:
            pass
    finally:
        listener.close()
        if process.poll() is None:
            process.kill()
    states = [m for _, m in messages]
    assert states[0] == "READY=1\nSTATUS=1 camera(s)", states
    assert states[-1] == "STOPPING=1", states
    pets = [t for t, m in messages if m == "WATCHDOG=1"]
    # every pet comes inside WatchdogSec=2 (the agent pets at most every quarter of it)
    gaps = [b - a for a, b in itertools.pairwise(pets)]
    assert max(gaps) < 2.0, gaps
