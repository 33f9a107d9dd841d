"""edge_agent/sd_notify.py against a real unix datagram socket, as systemd listens on one."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.sd_notify import SystemdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    try:
        yield path, sock
    finally:
        sock.close()


def _received(sock: socket.socket) -> list[str]:
    messages = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)
    return messages


def test_ready_pets_and_stopping_reach_the_socket(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    now = [100.0]
    notifier = SystemdNotifier(path, watchdog_usec=8_000_000, clock=lambda: now[0])
    assert notifier.enabled
    assert notifier.watchdog_s == 8.0
    assert notifier.ready("2 camera(s)")
    assert sock.recv(4096).decode() == "READY=1\nSTATUS=2 camera(s)"
    assert notifier.pet()
    assert sock.recv(4096).decode() == "WATCHDOG=1"
    # called from a 0.5 s loop: at most one pet per quarter of WatchdogSec
    now[0] += 1.0
    assert not notifier.pet()
    now[0] += 1.5
    assert notifier.pet()
    assert notifier.stopping()
    assert _received(sock) == ["WATCHDOG=1", "STOPPING=1"]


def test_from_env_reads_the_socket_and_watchdog(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = SystemdNotifier.from_env(env)
    assert notifier.watchdog_s == 30.0
    assert notifier.pet()
    assert sock.recv(4096) == b"WATCHDOG=1"
    # a watchdog meant for another process (WATCHDOG_PID) is not ours to pet
    other = SystemdNotifier.from_env({**env, "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None
    assert not other.pet()


def test_abstract_socket_names_work() -> None:
    name = f"innsight-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    try:
        assert SystemdNotifier(f"@{name}").ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_without_systemd_everything_is_a_quiet_no_op() -> None:
    notifier = SystemdNotifier.from_env({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.pet()
    assert not notifier.stopping()


def test_a_dead_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"), watchdog_usec=1_000_000)
    assert not notifier.ready()
    assert not notifier.pet()
