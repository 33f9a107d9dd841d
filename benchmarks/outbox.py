"""Outbox and delivery benchmark: enqueue, raw broker ceiling, drain to the hub until acked
(SQLite; PostgreSQL with 1..N ingest workers), PUBACK round trip, and the worker fault run.

    .venv/bin/python -m benchmarks.outbox [--runs 3] [--enqueue-events 5000]
        [--drain-events 10000] [--workers 1,2,3] [--roundtrips 2000] [--fault-events 20000]

- enqueue: :class:`SqliteOutbox` (WAL, ``synchronous=FULL``: one fsync per event) on the local
  disk, events/s and per-event latency;
- raw ceiling: the same ``--drain-events`` event envelopes published at QoS 1 by Mosquitto's
  own ``mosquitto_pub -l`` and drained by ``mosquitto_sub -C N`` through the same kind of broker:
  what the broker and its C clients move on this machine, the ceiling of any drain;
- drain: a backlog of ``--drain-events`` already in the outbox, drained by a real edge process
  (``testkit/edge_harness.py``: SqliteOutbox + PahoTransport + OutboxDrainer) through a
  real Mosquitto on loopback into the hub until the hub has acked every row (end-to-end acks,
  DESIGN §2: edge outbox -> broker -> hub -> database commit -> ack -> outbox row released),
  events/s and its ratio to the raw ceiling. SQLite: ``create_app`` (API + ingest in one
  process). PostgreSQL: ``innsight hub ingest`` worker processes (1, 2, 3, ...) sharing the
  subscription (MQTT 5 ``$share``) on one PostgreSQL server;
- PUBACK: one QoS 1 event message at a time, publish -> PUBACK, paho client to Mosquitto on
  loopback (the broker's answer only, not the hub's ack);
- fault (``--fault-events N``, once): 3 workers, one SIGKILLed twice during a drain of N events;
  every event stored once, none lost, order by seq (the CI test runs fewer).

Each figure is the median over ``--runs`` runs (fresh broker, database and workers each run);
the 1-minute load average is printed beside each run (the machine is shared). The events are
synthetic (delivery is measured, not perception).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from hub.api.app import create_app
from hub.serve import HubServerThread
from hub.settings import HubSettings
from innsight.broker import MosquittoBroker, free_port, mosquitto_binary
from testkit.edge_harness import HarnessProcess, synthetic_event
from testkit.ingest_workers import IngestWorkers, run_worker_fault, worker_env
from testkit.machine import describe_machine
from testkit.postgres import PostgresServer, postgres_bin_dir, scratch_database

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


def make_backlog(path: Path, events: int) -> Path:
    """An outbox holding ``events`` unsent events (built once, copied for each drain)."""
    outbox = SqliteOutbox(path, DEVICE, SITE)
    try:
        outbox._db.execute("PRAGMA synchronous=OFF")  # setup speed only
        for index in range(events):
            outbox.enqueue(synthetic_event(index, CAMERAS))
    finally:
        outbox.close()
    return path


def _edge_drain(
    workdir: Path,
    broker: MosquittoBroker,
    backlog: Path,
    events: int,
    hub_cpu: Callable[[], float],
) -> Drain:
    """The edge process drains its copy of ``backlog`` until the hub acked every row;
    ``hub_cpu()`` gives the hub's CPU seconds so far (read at start and at drained)."""
    edge_dir = workdir / "edge"
    edge_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(backlog, edge_dir / "outbox.db")
    with HarnessProcess.start(
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
        drain_timeout_s=600,
    ) as edge:
        start = edge.wait_for(lambda r: r["type"] == "start", timeout_s=60, what="start")
        assert start["depth"] == events, start
        cpu_before = hub_cpu()
        done = edge.wait_for(
            lambda r: r["type"] in {"drained", "timeout"}, timeout_s=600, what="drained"
        )
        cpu = hub_cpu() - cpu_before
        assert done["type"] == "drained", done
        assert edge.wait(30) == 0, edge.stderr_tail()
    wall = float(done["elapsed_s"])
    return Drain(events / wall, wall, cpu, float(done["cpu_s"]) - float(start["cpu_s"]))


def bench_drain(workdir: Path, backlog: Path, events: int) -> Drain:
    """SQLite, API + ingest in one process (this one): ``events`` drained until acked."""
    with _broker(workdir) as broker, _hub(workdir, broker):
        return _edge_drain(workdir, broker, backlog, events, time.process_time)


def bench_drain_workers(
    workdir: Path, backlog: Path, events: int, workers: int, database_url: str
) -> Drain:
    """PostgreSQL, ``workers`` ingest worker processes sharing the subscription."""
    with _broker(workdir) as broker:
        env = worker_env(
            workdir / "hub",
            site=SITE,
            mqtt_host=broker.host,
            mqtt_port=broker.port,
            database_url=database_url,
        )
        with IngestWorkers(workdir / "workers", env) as pool:
            pool.start(*(str(i + 1) for i in range(workers)))
            return _edge_drain(workdir, broker, backlog, events, pool.cpu_s)


# ---------------------------------------------------------------------------------------------
# raw ceiling: mosquitto_pub -l -> Mosquitto -> mosquitto_sub, QoS 1
# ---------------------------------------------------------------------------------------------


def bench_raw(workdir: Path, backlog: Path, events: int) -> float:
    """events/s of Mosquitto's own clients moving the same envelopes (one per line)."""
    lines = workdir / "envelopes.txt"
    workdir.mkdir(parents=True, exist_ok=True)
    import sqlite3

    with sqlite3.connect(backlog) as conn, lines.open("wb") as out:
        for (payload,) in conn.execute("SELECT payload FROM outbox ORDER BY seq"):
            out.write(bytes(payload) + b"\n")
    pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
    if pub is None or sub is None:
        raise SystemExit("mosquitto_pub/mosquitto_sub are not installed (mosquitto-clients)")
    topic = f"innsight/{SITE}/{DEVICE}/events/face"
    with _broker(workdir) as broker:
        addr = ["-h", broker.host, "-p", str(broker.port), "-q", "1", "-t", topic]
        receiver = subprocess.Popen(  # noqa: S603 - fixed argv
            [sub, *addr, "-C", str(events), "-i", "raw-sub"], stdout=subprocess.DEVNULL
        )
        time.sleep(1.0)  # subscribed
        began = time.perf_counter()
        with lines.open("rb") as source:
            subprocess.run(  # noqa: S603 - fixed argv
                [pub, *addr, "-l", "-i", "raw-pub"], stdin=source, check=True, timeout=300
            )
        receiver.wait(300)
        elapsed = time.perf_counter() - began
    return events / elapsed


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


def _drain_line(name: str, drains: list[Drain], events: int, raw: float) -> str:
    rates = [d.rate for d in drains]
    rate = statistics.median(rates)
    hub = statistics.median(d.hub_cpu_s for d in drains) / events * 1000
    edge = statistics.median(d.edge_cpu_s for d in drains) / events * 1000
    return (
        f"{name}: median {rate:.0f} events/s ({rate / raw:.0%} of raw)"
        f" runs {', '.join(f'{r:.0f}' for r in rates)}; CPU s per 1000 events: hub {hub:.2f},"
        f" edge {edge:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--enqueue-events", type=int, default=5000)
    parser.add_argument("--drain-events", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,3", help="PostgreSQL ingest worker counts")
    parser.add_argument("--roundtrips", type=int, default=2000)
    parser.add_argument(
        "--fault-events", type=int, default=0, help="run the worker fault scenario (0: skip)"
    )
    args = parser.parse_args()
    if mosquitto_binary() is None:
        raise SystemExit("mosquitto is not installed")
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    wants_postgres = bool(worker_counts and args.runs) or args.fault_events > 0
    postgres = PostgresServer() if postgres_bin_dir() is not None and wants_postgres else None
    if postgres is None:
        if wants_postgres:
            print("PostgreSQL server binaries not found: the worker runs are skipped", flush=True)
        worker_counts = []
    else:
        postgres.start()

    enqueue_rates: list[float] = []
    enqueue_lat: list[float] = []
    raws: list[float] = []
    drains: list[Drain] = []
    pg_drains: dict[int, list[Drain]] = {n: [] for n in worker_counts}
    puback_medians: list[float] = []
    puback_p95s: list[float] = []
    loads: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="innsight-outbox-backlog-") as tmp:
            backlog = make_backlog(Path(tmp) / "backlog.db", args.drain_events)
            for run in range(args.runs):
                with tempfile.TemporaryDirectory(prefix=f"innsight-outbox-bench-{run}-") as tmp2:
                    workdir = Path(tmp2)
                    rate, latencies = bench_enqueue(workdir, args.enqueue_events)
                    enqueue_rates.append(rate)
                    enqueue_lat.extend(latencies)
                    raws.append(bench_raw(workdir / "raw", backlog, args.drain_events))
                    drains.append(bench_drain(workdir / "drain", backlog, args.drain_events))
                    line = (
                        f"run {run + 1}: enqueue {rate:.0f} ev/s, raw {raws[-1]:.0f} ev/s,"
                        f" drain SQLite {drains[-1].rate:.0f} ev/s"
                    )
                    for n in worker_counts:
                        assert postgres is not None
                        with scratch_database(postgres, "outbox_bench") as url:
                            drain = bench_drain_workers(
                                workdir / f"pg{n}", backlog, args.drain_events, n, url
                            )
                        pg_drains[n].append(drain)
                        line += f", PostgreSQL x{n} {drain.rate:.0f} ev/s"
                    rtts = bench_puback(workdir / "puback", args.roundtrips)
                    puback_medians.append(statistics.median(rtts))
                    puback_p95s.append(_pct(rtts, 95))
                    loads.append(os.getloadavg()[0])
                print(f"{line} (load average {loads[-1]:.2f})", flush=True)
        fault = None
        if args.fault_events and postgres is not None:
            with (
                tempfile.TemporaryDirectory(prefix="innsight-outbox-fault-") as tmp,
                _broker(Path(tmp)) as broker,
                scratch_database(postgres, "outbox_fault") as url,
            ):
                fault = run_worker_fault(
                    Path(tmp),
                    mqtt_host=broker.host,
                    mqtt_port=broker.port,
                    database_url=url,
                    events=args.fault_events,
                )
    finally:
        if postgres is not None:
            postgres.stop()

    command = shlex.join([Path(sys.executable).name, "-m", "benchmarks.outbox", *sys.argv[1:]])
    print()
    print(f"outbox benchmark — {time.strftime('%Y-%m-%d')}")
    print(f"machine : {describe_machine()}")
    print(f"software: {_versions()}")
    print(f"command : {command}")
    if args.runs:
        _print_runs(args, worker_counts, loads, enqueue_rates, enqueue_lat, raws, drains, pg_drains)
        print(
            f"PUBACK  : median {statistics.median(puback_medians) * 1000:.3f} ms,"
            f" p95 {statistics.median(puback_p95s) * 1000:.3f} ms (QoS 1, one message at a time,"
            f" {args.roundtrips} per run, medians of the per-run figures)"
        )
    if fault is not None:
        check = fault.check
        print(
            f"fault   : {args.fault_events} events, 3 PostgreSQL ingest workers, one SIGKILLed"
            f" {fault.kills} times: stored {check.received_rows} messages /"
            f" {check.event_rows} events, lost {check.missing_seqs}, applied twice"
            f" {check.merged_twice}, out of seq order {check.misordered}, flow work rows"
            f" {check.flow_work_rows} for {check.anomalies} anomalies; {fault.seconds:.1f} s,"
            f" edge re-sent {fault.resent}, load average {os.getloadavg()[0]:.2f};"
            f" exactly once: {check.exactly_once}"
        )


def _print_runs(
    args: argparse.Namespace,
    worker_counts: list[int],
    loads: list[float],
    enqueue_rates: list[float],
    enqueue_lat: list[float],
    raws: list[float],
    drains: list[Drain],
    pg_drains: dict[int, list[Drain]],
) -> None:
    raw = statistics.median(raws)
    print(f"load    : 1-minute load average after each run {', '.join(f'{x:.2f}' for x in loads)}")
    print(
        f"enqueue : median {statistics.median(enqueue_rates):.0f} events/s over {args.runs} runs"
        f" of {args.enqueue_events} (SqliteOutbox, WAL, synchronous=FULL); per event median"
        f" {statistics.median(enqueue_lat) * 1000:.3f} ms, p95 {_pct(enqueue_lat, 95) * 1000:.3f}"
        f" ms"
    )
    print(
        f"raw     : median {raw:.0f} events/s (mosquitto_pub -l -> Mosquitto -> mosquitto_sub,"
        f" QoS 1, the same {args.drain_events} envelopes; runs"
        f" {', '.join(f'{r:.0f}' for r in raws)})"
    )
    print(
        f"drain   : backlog of {args.drain_events} drained by an edge process through Mosquitto"
        f" on loopback into the hub until every row was acked by the hub, {args.runs} runs"
    )
    print("  " + _drain_line("SQLite, hub serve (API + ingest)", drains, args.drain_events, raw))
    for n in worker_counts:
        name = f"PostgreSQL, {n} ingest worker{'s' if n > 1 else ''}"
        print("  " + _drain_line(name, pg_drains[n], args.drain_events, raw))


if __name__ == "__main__":
    main()
