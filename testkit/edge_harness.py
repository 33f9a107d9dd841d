"""A real edge minus the cameras: the delivery path of ``edge_agent`` driven by synthetic events.

    python -m testkit.edge_harness --db PATH --device D --site S --host H --port P \\
        --events N --cameras K --rate R [--resend-after-s 3] [--batch 200] [--max-unacked 1000]

It builds :class:`~edge_agent.outbox.sqlite_outbox.SqliteOutbox`,
:class:`~edge_agent.transport.paho_transport.PahoTransport` and
:class:`~edge_agent.services.drain.OutboxDrainer` exactly as ``edge_agent/app.py`` wires them (own
process, own MQTT session, end-to-end acks from the hub) and, instead of cameras, enqueues ``N``
event messages round-robin over ``K`` cameras at ``R`` events/s (0: as fast as the outbox takes
them), then waits until the hub has acked every one and stops cleanly.

The events are synthetic by design: the fault tests and the outbox benchmark are about delivery
(outbox, MQTT, ingest, acks), not perception, so no frame is decoded and no model is run. They
are nonetheless valid contract messages, each with its own uuid7 ``event_id``:

- event number ``i`` (0-based) goes to camera ``cam-{i % K + 1}`` and carries that camera's
  counter ``i // K`` in its payload (a face's ``track_id``; an anomaly's ``zone`` ``n{counter}``;
  every fifth message of a camera is an anomaly, so two event topics are in play). Ordering a
  camera's rows by ``seq`` must therefore give the counters 0, 1, 2, ... (:func:`expected_of`).
- The outbox is fresh at the first start, so event ``i`` gets ``seq = i + 1``: the number of
  events already enqueued is the outbox's last seq. A harness restarted after a SIGKILL resumes
  from there and enqueues exactly the rest (no more, no fewer); rows it held unacked are re-sent
  by the drainer.

Progress goes to stdout as JSON lines (``type``: ``start``, ``progress``, ``enqueued``,
``drained``, ``timeout``, ``stopped``); each carries ``mono`` (``time.monotonic()``, system-wide
on Linux, so a test can compare it with its own clock), the outbox's counts (``enqueued``,
``depth``, ``in_flight``), the drainer's and the transport's counters, and the process's CPU time
(``cpu_s``). Exit status: 0 drained, 1 timed out,
3 stopped by SIGTERM/SIGINT before draining.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from contracts.ids import uuid7
from contracts.messages import AnomalyPayload, AnomalyType, BBox, EventKind, FacePayload, Phase
from edge_agent.domain.events import PendingEvent
from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from edge_agent.services.drain import OutboxDrainer
from edge_agent.transport.paho_transport import PahoTransport

REPO_ROOT = Path(__file__).resolve().parents[1]
EXIT_DRAINED = 0
EXIT_TIMEOUT = 1
EXIT_STOPPED = 3
ANOMALY_EVERY = 5  # every fifth message of a camera is an anomaly
MODEL_ID = "synthetic-v1"

logger = logging.getLogger("testkit.edge_harness")


# ---------------------------------------------------------------------------------------------
# The synthetic events (pure; the tests use the same functions to check what the hub stored)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """What event number ``index`` (``seq - 1``) carries."""

    camera_id: str
    counter: int
    kind: EventKind


def camera_id(camera: int) -> str:
    return f"cam-{camera + 1}"


def expected_of(index: int, cameras: int) -> Expected:
    counter = index // cameras
    kind = EventKind.ANOMALY if counter % ANOMALY_EVERY == ANOMALY_EVERY - 1 else EventKind.FACE
    return Expected(camera_id(index % cameras), counter, kind)


def synthetic_event(index: int, cameras: int, now: datetime | None = None) -> PendingEvent:
    """Event number ``index``: a one-message appearance (``new``) with its own uuid7."""
    expected = expected_of(index, cameras)
    started = now or datetime.now(UTC)
    payload: FacePayload | AnomalyPayload
    if expected.kind is EventKind.ANOMALY:
        payload = AnomalyPayload(
            type=AnomalyType.INTRUSION,
            score=0.9,
            bbox=BBox(x=10, y=10, w=32, h=48),
            zone=f"n{expected.counter}",
        )
    else:
        payload = FacePayload(
            score=0.8,
            bbox=BBox(x=10, y=20, w=64, h=64),
            track_id=expected.counter,
            model_id=MODEL_ID,
        )
    return PendingEvent(
        event_id=uuid7(),
        phase=Phase.NEW,
        camera_id=expected.camera_id,
        started_at=started,
        payload=payload,
    )


def counter_of(payload: dict[str, Any]) -> int:
    """The per-camera counter carried by a stored payload (see :func:`synthetic_event`)."""
    if payload.get("kind") == EventKind.ANOMALY.value:
        return int(str(payload["zone"]).removeprefix("n"))
    return int(payload["track_id"])


# ---------------------------------------------------------------------------------------------
# The process
# ---------------------------------------------------------------------------------------------


def _emit(kind: str, **fields: Any) -> None:
    # stdout is the protocol with the test (JSON lines), not logging.
    sys.stdout.write(json.dumps({"type": kind, "mono": time.monotonic(), **fields}) + "\n")
    sys.stdout.flush()


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stop_event = threading.Event()
        self.outbox = SqliteOutbox(Path(args.db), args.device, args.site)
        self.transport = PahoTransport(
            args.site,
            args.device,
            args.host,
            args.port,
            keepalive=args.keepalive,
            min_backoff_s=args.min_backoff_s,
            max_backoff_s=args.max_backoff_s,
        )
        self.drainer = OutboxDrainer(
            self.outbox,
            self.transport,
            args.site,
            args.device,
            resend_after_s=args.resend_after_s,
            batch=args.batch,
            max_unacked=args.max_unacked,
            poll_s=args.poll_s,
        )
        self._drain_thread = threading.Thread(
            target=self.drainer.run, args=(self.stop_event,), name="drain", daemon=True
        )
        self._next_progress = 0.0

    def progress(self, kind: str = "progress", **extra: Any) -> None:
        stats = self.drainer.stats()
        transport = self.transport.stats()
        _emit(
            kind,
            enqueued=self.outbox.last_seq(),
            depth=self.outbox.depth(),
            in_flight=self.outbox.in_flight(),
            connected=transport.connected,
            reconnects=transport.reconnects,
            published=stats.published,
            resent=stats.resent,
            released=stats.released,
            acks=stats.acks,
            cpu_s=round(time.process_time(), 3),
            **extra,
        )

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_progress:
            self._next_progress = now + self.args.progress_s
            self.progress()

    def run(self) -> int:
        args = self.args
        start_index = self.outbox.last_seq()
        if start_index > args.events:
            raise SystemExit(f"outbox {args.db} already holds {start_index} > {args.events} events")
        self.progress("start", resumed_from=start_index)
        self.drainer.attach()
        self.transport.start()
        self._drain_thread.start()

        began = time.monotonic()
        for index in range(start_index, args.events):
            if args.rate > 0:
                due = began + (index - start_index) / args.rate
                delay = due - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    break
            if self.stop_event.is_set():
                break
            self.outbox.enqueue(synthetic_event(index, args.cameras))
            self.drainer.wake()
            self._tick()
        if self.stop_event.is_set():
            return self._stop(EXIT_STOPPED)
        enqueued_at = time.monotonic()
        self.progress("enqueued", elapsed_s=round(enqueued_at - began, 3))

        deadline = enqueued_at + args.drain_timeout_s
        while self.outbox.depth() > 0:
            if self.stop_event.is_set():
                return self._stop(EXIT_STOPPED)
            if time.monotonic() > deadline:
                self.progress("timeout", waited_s=args.drain_timeout_s)
                return self._stop(EXIT_TIMEOUT)
            self._tick()
            self.stop_event.wait(0.01)
        done = time.monotonic()
        self.progress(
            "drained",
            elapsed_s=round(done - began, 3),
            after_enqueue_s=round(done - enqueued_at, 3),
            events_this_run=args.events - start_index,
        )
        return self._stop(EXIT_DRAINED)

    def _stop(self, code: int) -> int:
        self.stop_event.set()
        self._drain_thread.join(5.0)
        self.transport.stop()
        if code == EXIT_STOPPED:
            self.progress("stopped")
        self.outbox.close()
        return code


# ---------------------------------------------------------------------------------------------
# Driving the harness from a test or a benchmark
# ---------------------------------------------------------------------------------------------


class HarnessError(AssertionError):
    """The harness did not do what was waited for; the message carries its stderr tail."""


class HarnessProcess:
    """One harness subprocess: stdout (JSON lines) and stderr go to files next to the outbox.

    Use as a context manager: the process is always SIGKILLed and reaped on exit, so a failing
    test leaves nothing running.
    """

    def __init__(self, workdir: Path, argv: Sequence[str], *, name: str = "edge") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = workdir / f"{name}.out.jsonl"
        self.stderr_path = workdir / f"{name}.err.log"
        self.argv = [sys.executable, "-m", "testkit.edge_harness", *argv]
        self._offset = 0
        self._partial = b""
        self.records: list[dict[str, Any]] = []
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(self.argv, cwd=REPO_ROOT, stdout=out, stderr=err)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        db: Path,
        device: str,
        site: str,
        host: str,
        port: int,
        events: int,
        cameras: int,
        rate: float,
        name: str = "edge",
        **options: float | int | str,
    ) -> HarnessProcess:
        argv = [
            f"--db={db}",
            f"--device={device}",
            f"--site={site}",
            f"--host={host}",
            f"--port={port}",
            f"--events={events}",
            f"--cameras={cameras}",
            f"--rate={rate}",
        ]
        argv += [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
        return cls(workdir, argv, name=name)

    def poll_records(self) -> list[dict[str, Any]]:
        """Read the JSON lines written since the last call; returns every record so far."""
        with self.stdout_path.open("rb") as out:
            out.seek(self._offset)
            chunk = out.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        self.records.extend(json.loads(line) for line in complete if line.strip())
        return self.records

    def last(self, kind: str | None = None) -> dict[str, Any] | None:
        records = [r for r in self.poll_records() if kind is None or r["type"] == kind]
        return records[-1] if records else None

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout_s: float, what: str
    ) -> dict[str, Any]:
        """The first record (old or new) that satisfies ``predicate``; bounded by ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            records = self.poll_records()
            for record in records[seen:]:
                if predicate(record):
                    return record
            seen = len(records)
            if self.process.poll() is not None and len(self.poll_records()) == seen:
                raise HarnessError(
                    f"harness exited ({self.process.returncode}) before {what}; "
                    f"last {records[-1:]}; stderr: {self.stderr_tail()}"
                )
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"timed out after {timeout_s} s waiting for {what}; "
                    f"last {records[-1:]}; stderr: {self.stderr_tail()}"
                )
            time.sleep(0.02)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise HarnessError(
                f"harness still running after {timeout_s} s; last {self.last()}; "
                f"stderr: {self.stderr_tail()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL (no clean stop, no DISCONNECT) and reap."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stderr_tail(self, chars: int = 3000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> HarnessProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.kill()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.edge_harness", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--db", required=True, help="the outbox SQLite file (kept across runs)")
    parser.add_argument("--device", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, required=True, help="total over every run")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s; 0: unthrottled")
    parser.add_argument("--resend-after-s", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--max-unacked", type=int, default=1000)
    parser.add_argument("--poll-s", type=float, default=0.05)
    parser.add_argument("--keepalive", type=int, default=10)
    parser.add_argument("--min-backoff-s", type=float, default=0.1)
    parser.add_argument("--max-backoff-s", type=float, default=1.0)
    parser.add_argument("--drain-timeout-s", type=float, default=120.0)
    parser.add_argument("--progress-s", type=float, default=0.2)
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.events < 0 or args.cameras < 1:
        raise SystemExit("need --events >= 0 and --cameras >= 1")
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    harness = Harness(args)

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        harness.stop_event.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return harness.run()


if __name__ == "__main__":
    sys.exit(main())
