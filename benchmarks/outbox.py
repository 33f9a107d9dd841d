"""Outbox and delivery benchmark: enqueue, drain to the hub until acked, PUBACK round trip.

    .venv/bin/python -m benchmarks.outbox [--runs 3] [--enqueue-events 5000]
        [--drain-events 10000] [--roundtrips 2000]

- enqueue: :class:`SqliteOutbox` (WAL, ``synchronous=FULL``: one fsync per event) on the local
  disk, events/s and per-event latency;
- drain: a backlog of ``--drain-events`` already in the outbox, drained by a real edge process
  (``tests/support/edge_harness.py``: SqliteOutbox + PahoTransport + OutboxDrainer) through a
  real Mosquitto on loopback into the real hub ingest (``create_app``, SQLite) until the hub has
  acked every row (end-to-end acks, DESIGN §2), events/s;
- PUBACK: one QoS 1 event message at a time, publish -> PUBACK, paho client to Mosquitto on
  loopback (the broker's answer only, not the hub's ack).

Each figure is the median over ``--runs`` runs (fresh outbox, broker and hub each run). The
events are synthetic (delivery is measured, not perception).
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.machine import describe_machine
from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from hub.api.app import create_app
from hub.serve import HubServerThread
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker, free_port, mosquitto_binary
from tests.support.edge_harness import HarnessProcess, synthetic_event

SITE = "bench"
DEVICE = "edge-bench"
CAMERAS = 4


def _versions() -> str:
    import sqlite3

    mosquitto = "n/a"
    binary = mosquitto_binary()
    if binary:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [binary, "-h"], capture_output=True, text=True, timeout=10, check=False
        )
        mosquitto = (done.stdout or done.stderr).splitlines()[0].removeprefix("mosquitto version ")
    return (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"Mosquitto {mosquitto}, paho-mqtt {metadata.version('paho-mqtt')}, "
        f"aiomqtt {metadata.version('aiomqtt')}"
    )


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


# ---------------------------------------------------------------------------------------------
# enqueue
# ---------------------------------------------------------------------------------------------


def bench_enqueue(workdir: Path, events: int) -> tuple[float, list[float]]:
    """(events/s, per-event seconds) for ``events`` enqueues into a fresh outbox."""
    pending = [synthetic_event(i, CAMERAS) for i in range(events)]
    outbox = SqliteOutbox(workdir / "enqueue.db", DEVICE, SITE)
    latencies: list[float] = []
    try:
        began = time.perf_counter()
        for event in pending:
            t0 = time.perf_counter()
            outbox.enqueue(event)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - began
    finally:
        outbox.close()
    return events / elapsed, latencies


# ---------------------------------------------------------------------------------------------
# drain (edge process -> Mosquitto -> hub ingest -> acks)
# ---------------------------------------------------------------------------------------------


@contextmanager
def _broker(workdir: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(workdir=workdir / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def _hub(workdir: Path, broker: MosquittoBroker) -> Iterator[HubSettings]:
    port = free_port()
    settings = HubSettings(
        data_dir=workdir / "hub",
        site=SITE,
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        api_port=port,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    app = create_app(settings)
    with HubServerThread(app, port=port):
        runtime = app.state.hub
        deadline = time.monotonic() + 30
        while runtime.ingest is None or not runtime.ingest.connected:
            if time.monotonic() > deadline:
                raise RuntimeError("the hub ingest did not connect within 30 s")
            time.sleep(0.02)
        yield settings


@dataclass(frozen=True, slots=True)
class Drain:
    rate: float  # events/s
    wall_s: float
    hub_cpu_s: float  # this process: uvicorn + the ingest (and the idle API)
    edge_cpu_s: float  # the harness process, start to drained


def bench_drain(workdir: Path, events: int) -> Drain:
    """A backlog of ``events`` drained until the hub acked them all."""
    edge_dir = workdir / "edge"
    outbox = SqliteOutbox(edge_dir / "outbox.db", DEVICE, SITE)
    try:
        for index in range(events):
            outbox.enqueue(synthetic_event(index, CAMERAS))
    finally:
        outbox.close()
    with (
        _broker(workdir) as broker,
        _hub(workdir, broker),
        HarnessProcess.start(
            edge_dir,
            db=edge_dir / "outbox.db",
            device=DEVICE,
            site=SITE,
            host=broker.host,
            port=broker.port,
            events=events,  # all already enqueued: the harness only drains
            cameras=CAMERAS,
            rate=0,
            resend_after_s=10,
        ) as edge,
    ):
        start = edge.wait_for(lambda r: r["type"] == "start", timeout_s=30, what="start")
        assert start["depth"] == events, start
        cpu_before = time.process_time()
        done = edge.wait_for(
            lambda r: r["type"] in {"drained", "timeout"}, timeout_s=300, what="drained"
        )
        hub_cpu = time.process_time() - cpu_before
        assert done["type"] == "drained", done
        assert edge.wait(30) == 0, edge.stderr_tail()
    wall = float(done["elapsed_s"])
    return Drain(events / wall, wall, hub_cpu, float(done["cpu_s"]) - float(start["cpu_s"]))


# ---------------------------------------------------------------------------------------------
# PUBACK round trip
# ---------------------------------------------------------------------------------------------


def bench_puback(workdir: Path, count: int) -> list[float]:
    payload = synthetic_event(0, CAMERAS).to_envelope(DEVICE, 1).to_json_bytes()
    topic = f"innsight/{SITE}/{DEVICE}/events/face"
    acked = threading.Event()
    connected = threading.Event()
    latencies: list[float] = []
    with _broker(workdir) as broker:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-puback", clean_session=False
        )
        client.on_connect = lambda *_a: connected.set()
        client.on_publish = lambda *_a: acked.set()
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            if not connected.wait(10):
                raise RuntimeError("no CONNACK from Mosquitto")
            for i in range(count + 50):
                acked.clear()
                t0 = time.perf_counter()
                client.publish(topic, payload, qos=1)
                if not acked.wait(5):
                    raise RuntimeError("no PUBACK within 5 s")
                if i >= 50:  # warm-up
                    latencies.append(time.perf_counter() - t0)
        finally:
            client.disconnect()
            client.loop_stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--enqueue-events", type=int, default=5000)
    parser.add_argument("--drain-events", type=int, default=10_000)
    parser.add_argument("--roundtrips", type=int, default=2000)
    args = parser.parse_args()
    if mosquitto_binary() is None:
        raise SystemExit("mosquitto is not installed")

    enqueue_rates: list[float] = []
    enqueue_lat: list[float] = []
    drains: list[Drain] = []
    puback_medians: list[float] = []
    puback_p95s: list[float] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix=f"innsight-outbox-bench-{run}-") as tmp:
            workdir = Path(tmp)
            rate, latencies = bench_enqueue(workdir, args.enqueue_events)
            enqueue_rates.append(rate)
            enqueue_lat.extend(latencies)
            drains.append(bench_drain(workdir / "drain", args.drain_events))
            rtts = bench_puback(workdir / "puback", args.roundtrips)
            puback_medians.append(statistics.median(rtts))
            puback_p95s.append(_pct(rtts, 95))
        print(
            f"run {run + 1}: enqueue {enqueue_rates[-1]:.0f} ev/s, drain {drains[-1].rate:.0f}"
            f" ev/s (CPU s: hub {drains[-1].hub_cpu_s:.1f}, edge {drains[-1].edge_cpu_s:.1f},"
            f" wall {drains[-1].wall_s:.1f}), PUBACK median {puback_medians[-1] * 1000:.3f} ms"
            f" p95 {puback_p95s[-1] * 1000:.3f} ms",
            flush=True,
        )

    command = shlex.join([Path(sys.executable).name, "-m", "benchmarks.outbox", *sys.argv[1:]])
    print()
    print(f"outbox benchmark — {time.strftime('%Y-%m-%d')}")
    print(f"machine : {describe_machine()}")
    print(f"software: {_versions()}")
    print(f"command : {command}")
    print(
        f"enqueue : median {statistics.median(enqueue_rates):.0f} events/s over {args.runs} runs"
        f" of {args.enqueue_events} (SqliteOutbox, WAL, synchronous=FULL); per event median"
        f" {statistics.median(enqueue_lat) * 1000:.3f} ms, p95 {_pct(enqueue_lat, 95) * 1000:.3f}"
        f" ms"
    )
    rates = [d.rate for d in drains]
    print(
        f"drain   : median {statistics.median(rates):.0f} events/s over {args.runs} runs"
        f" (backlog of {args.drain_events} drained by an edge process through Mosquitto on"
        f" loopback into the hub ingest, SQLite, until every row was acked by the hub;"
        f" runs: {', '.join(f'{r:.0f}' for r in rates)}); CPU per 1000 events: hub"
        f" {statistics.median(d.hub_cpu_s for d in drains) / args.drain_events * 1000:.2f} s,"
        f" edge {statistics.median(d.edge_cpu_s for d in drains) / args.drain_events * 1000:.2f} s"
    )
    print(
        f"PUBACK  : median {statistics.median(puback_medians) * 1000:.3f} ms,"
        f" p95 {statistics.median(puback_p95s) * 1000:.3f} ms (QoS 1, one message at a time,"
        f" {args.roundtrips} per run, medians of the per-run figures)"
    )


if __name__ == "__main__":
    main()
