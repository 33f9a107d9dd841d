"""``innsight hub ingest`` worker processes for the fault test and the outbox benchmark.

Each worker is a real process (``python -m innsight hub ingest --worker NAME``) configured by
``INNSIGHT_*`` variables; its log goes to ``{workdir}/ingest-{name}.log``. CPU time of every
process ever started (killed ones included, up to their last sample) is summed by
:meth:`IngestWorkers.cpu_s`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from contracts.messages import EventKind
from testkit.edge_harness import HarnessProcess, counter_of, expected_of

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNNING_MARK = "running (group"


def worker_env(
    data_dir: Path,
    *,
    site: str,
    mqtt_host: str,
    mqtt_port: int,
    database_url: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNSIGHT_")}
    env.update(
        {
            "INNSIGHT_DATA_DIR": str(data_dir),
            "INNSIGHT_SITE": site,
            "INNSIGHT_MQTT_HOST": mqtt_host,
            "INNSIGHT_MQTT_PORT": str(mqtt_port),
            "INNSIGHT_DATABASE_URL": database_url,
            "INNSIGHT_MQTT_RECONNECT_MIN_S": "0.2",
            "INNSIGHT_MQTT_RECONNECT_MAX_S": "1.0",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    env.update(extra or {})
    return env


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class IngestWorkers:
    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = dict(env)
        workdir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._cpu: dict[int, float] = {}  # pid -> last CPU seconds seen

    def log(self, name: str) -> Path:
        return self.workdir / f"ingest-{name}.log"

    def start(self, *names: str, wait_s: float = 90.0) -> None:
        """Start workers (in parallel) and wait until each is subscribed."""
        offsets = {}
        for name in names:
            log = self.log(name)
            offsets[name] = log.stat().st_size if log.exists() else 0
            with log.open("ab") as out:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "innsight", "hub", "ingest", "--worker", name],
                    cwd=REPO_ROOT,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        deadline = time.monotonic() + wait_s
        for name in names:
            log, proc = self.log(name), self.procs[name]
            while RUNNING_MARK not in log.read_text(errors="replace")[offsets[name] :]:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"ingest worker {name} did not start:\n{tail}")
                time.sleep(0.05)

    def sample_cpu(self) -> None:
        for proc in self.procs.values():
            cpu = process_cpu_s(proc.pid)
            if cpu is not None:
                self._cpu[proc.pid] = cpu

    def cpu_s(self) -> float:
        self.sample_cpu()
        return sum(self._cpu.values())

    def kill(self, name: str) -> None:
        self.sample_cpu()
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self, timeout_s: float = 15.0) -> None:
        self.sample_cpu()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __enter__(self) -> IngestWorkers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_all()


# ---------------------------------------------------------------------------------------------
# What PostgreSQL holds after a run: every seq once, every event once, order by seq per camera
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredCheck:
    expected: int
    received_rows: int  # received_messages rows of the device
    missing_seqs: int  # seqs 1..expected without a row (lost)
    event_rows: int
    merged_twice: int  # event rows with messages != 1 (each synthetic event has one message)
    misordered: int  # camera rows whose counter does not follow seq order
    wrong_kind: int
    flow_work_rows: int  # event_flow_work rows (one per anomaly, none twice)
    anomalies: int
    last_seq: int

    @property
    def exactly_once(self) -> bool:
        return (
            self.received_rows == self.expected
            and self.missing_seqs == 0
            and self.event_rows == self.expected
            and self.merged_twice == 0
            and self.misordered == 0
            and self.wrong_kind == 0
            and self.flow_work_rows == self.anomalies
            and self.last_seq == self.expected
        )


def check_stored(database_url: str, device: str, total: int, cameras: int) -> StoredCheck:
    return asyncio.run(_check_stored(database_url, device, total, cameras))


async def _check_stored(database_url: str, device: str, total: int, cameras: int) -> StoredCheck:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        seqs = [
            r["seq"]
            for r in await conn.fetch(
                "SELECT seq FROM received_messages WHERE device_id = $1", device
            )
        ]
        events = await conn.fetch(
            "SELECT seq, camera_id, kind, payload, messages FROM events WHERE device_id = $1"
            " ORDER BY camera_id, seq",
            device,
        )
        work = await conn.fetchval("SELECT count(*) FROM event_flow_work")
        last_seq = await conn.fetchval("SELECT last_seq FROM devices WHERE device_id = $1", device)
    finally:
        await conn.close()
    misordered = wrong_kind = 0
    previous: dict[str, int] = {}
    for row in events:
        payload = row["payload"]
        payload = json.loads(payload) if isinstance(payload, str) else payload
        expected = expected_of(int(row["seq"]) - 1, cameras)
        counter = counter_of(payload)
        if counter != previous.get(row["camera_id"], -1) + 1 or counter != expected.counter:
            misordered += 1
        previous[row["camera_id"]] = counter
        if row["kind"] != expected.kind.value or row["camera_id"] != expected.camera_id:
            wrong_kind += 1
    anomalies = sum(1 for i in range(total) if expected_of(i, cameras).kind is EventKind.ANOMALY)
    return StoredCheck(
        expected=total,
        received_rows=len(seqs),
        missing_seqs=len(set(range(1, total + 1)) - set(seqs)),
        event_rows=len(events),
        merged_twice=sum(1 for row in events if row["messages"] != 1),
        misordered=misordered,
        wrong_kind=wrong_kind,
        flow_work_rows=int(work or 0),
        anomalies=anomalies,
        last_seq=int(last_seq or 0),
    )


# ---------------------------------------------------------------------------------------------
# The fault scenario: 3 workers, one SIGKILLed twice while an edge drains its backlog
# ---------------------------------------------------------------------------------------------

FAULT_SITE = "faults"
FAULT_DEVICE = "edge-fault"
FAULT_CAMERAS = 4


@dataclass(frozen=True, slots=True)
class FaultRun:
    check: StoredCheck
    seconds: float  # edge start to drained
    kills: int
    resent: int  # messages the edge sent again (unacked past its timeout)
    worker_cpu_s: float


def run_worker_fault(
    workdir: Path,
    *,
    mqtt_host: str,
    mqtt_port: int,
    database_url: str,
    events: int,
    workers: int = 3,
    kills: int = 2,
    resend_after_s: float = 3.0,
) -> FaultRun:
    """Drain ``events`` through ``workers`` ingest workers; the second worker is SIGKILLed
    ``kills`` times (at evenly spaced shares of the acked count) and restarted each time."""
    env = worker_env(
        workdir / "hub",
        site=FAULT_SITE,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        database_url=database_url,
    )
    patience_s = 120.0 + events / 20  # a loaded machine drains slowly; a stall still fails
    names = [str(i + 1) for i in range(workers)]
    victim = names[1 % workers]
    with IngestWorkers(workdir / "workers", env) as pool:
        pool.start(*names)
        cpu_before = pool.cpu_s()
        with HarnessProcess.start(
            workdir / "edge",
            db=workdir / "edge" / "outbox.db",
            device=FAULT_DEVICE,
            site=FAULT_SITE,
            host=mqtt_host,
            port=mqtt_port,
            events=events,
            cameras=FAULT_CAMERAS,
            rate=0,
            resend_after_s=resend_after_s,
            drain_timeout_s=patience_s,
        ) as edge:
            start = edge.wait_for(lambda r: r["type"] == "start", timeout_s=60, what="start")
            for kill in range(1, kills + 1):
                share = events * kill // (kills + 1)

                def acked(record: dict[str, Any], share: int = share) -> bool:
                    return int(record.get("released", 0)) >= share

                edge.wait_for(acked, timeout_s=patience_s, what=f"{share} acked")
                pool.kill(victim)
                pool.start(victim)
            done = edge.wait_for(
                lambda r: r["type"] in {"drained", "timeout"}, timeout_s=patience_s, what="drained"
            )
            if done["type"] != "drained":
                raise RuntimeError(f"the edge did not drain: {done}")
            edge.wait(30)
        cpu = pool.cpu_s() - cpu_before
    check = check_stored(database_url, FAULT_DEVICE, events, FAULT_CAMERAS)
    return FaultRun(
        check=check,
        seconds=float(done["mono"]) - float(start["mono"]),
        kills=kills,
        resent=int(done.get("resent", 0)),
        worker_cpu_s=cpu,
    )
