"""CSV import benchmark: a generated "Hotel booking demand" bookings file (semicolons, BOM,
M/D/YYYY dates) imported into an empty hub database, then imported again (a no-op), on SQLite
and PostgreSQL.

    .venv/bin/python -m benchmarks.hotel_import [--rows 100000] [--postgres-url URL]

The import is the hub's own (hub/hotel/importer.py, as ``innsight hub import bookings FILE``):
parse, validate every row, one transaction. Without ``--postgres-url`` a throwaway PostgreSQL is
started from the server binaries (initdb, trust auth, loopback); ``--no-postgres`` skips it.
Prints rows/s and the total time per backend beside the budget (100k rows < 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import create_engine, create_session_factory, init_db
from hub.hotel.importer import ImportResult, import_csv
from hub.ml.schema import HOTEL_BOOKING_COLUMNS, MONTHS
from testkit.machine import describe_machine

BUDGET_S = 60.0
SEGMENTS = (("Online TA", "TA/TO"), ("Offline TA/TO", "TA/TO"), ("Direct", "Direct"))


def generate(rows: int) -> bytes:
    """A bookings file in the dataset's schema; every row distinct."""
    lines = [";".join(HOTEL_BOOKING_COLUMNS)]
    for i in range(rows):
        canceled = i % 3 == 0
        segment, channel = SEGMENTS[i % len(SEGMENTS)]
        values = {
            "hotel": "Resort Hotel" if i % 2 else "City Hotel",
            "is_canceled": "1" if canceled else "0",
            "lead_time": str(i % 400),
            "arrival_date_year": str(2015 + i % 3),
            "arrival_date_month": MONTHS[i % 12],
            "arrival_date_week_number": str(1 + i % 52),
            "arrival_date_day_of_month": str(1 + i % 28),
            "stays_in_weekend_nights": str(i % 3),
            "stays_in_week_nights": str(1 + i % 5),
            "adults": str(1 + i % 3),
            "children": "NA" if i % 97 == 0 else str(i % 2),
            "babies": "0",
            "meal": "BB",
            "country": "PRT",
            "market_segment": segment,
            "distribution_channel": channel,
            "is_repeated_guest": "0",
            "previous_cancellations": "0",
            "previous_bookings_not_canceled": "0",
            "reserved_room_type": "ABCDE"[i % 5],
            "assigned_room_type": "ABCDE"[i % 5],
            "booking_changes": str(i % 2),
            "deposit_type": "No Deposit",
            "agent": "NULL" if i % 4 == 0 else str(i % 300),
            "company": "NULL",
            "days_in_waiting_list": "0",
            "customer_type": "Transient",
            "adr": f"{60 + (i * 7) % 140}.{i % 100:02d}",
            "required_car_parking_spaces": "0",
            "total_of_special_requests": str(i % 4),
            "reservation_status": "Canceled" if canceled else "Check-Out",
            "reservation_status_date": f"{1 + i % 12}/{13 + i % 15}/{2015 + i % 3}",
        }
        lines.append(";".join(values[c] for c in HOTEL_BOOKING_COLUMNS))
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of our own (trust auth, loopback) for the run; its URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    initdb = found[0] if found else shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL server binaries not found: pass --postgres-url")
    bindir = Path(initdb).parent
    workdir = Path(tempfile.mkdtemp(prefix="innsight-bench-pg-"))
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(workdir, "postgres", "postgres")
    port = _free_port()
    data = workdir / "data"

    def run(*argv: str) -> None:
        subprocess.run(  # noqa: S603 - the server's own binaries, fixed arguments
            [*run_as, *argv], check=True, capture_output=True, timeout=120
        )

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(workdir / "pg.log"),
        "-w",
        "start",
        "-o",
        f"-p {port} -k {workdir} -h 127.0.0.1 -F",
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(  # noqa: S603 - the server's own binaries, fixed arguments
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)


async def _import_twice(url: str, data: bytes) -> tuple[ImportResult, float, ImportResult, float]:
    engine = create_engine(url)
    cipher = PiiCipher([Fernet.generate_key().decode()])
    bind_pii_cipher(engine, cipher)
    try:
        await init_db(engine, backup=False)
        sessions = create_session_factory(engine)
        runs = []
        for _ in range(2):
            started = time.perf_counter()
            result = await import_csv(sessions, "bookings", data, actor="bench", cipher=cipher)
            runs.append((result, time.perf_counter() - started))
    finally:
        await engine.dispose()
    return runs[0][0], runs[0][1], runs[1][0], runs[1][1]


def _report(
    backend: str,
    rows: int,
    first: ImportResult,
    first_s: float,
    again: ImportResult,
    again_s: float,
) -> None:
    verdict = "within" if first_s < BUDGET_S else "OVER"
    print(
        f"{backend:10s} import {rows} rows: {first_s:6.1f} s, {rows / first_s:8.0f} rows/s "
        f"({first.created} created; {verdict} the {BUDGET_S:.0f} s budget)"
    )
    print(
        f"{backend:10s} re-import:      {again_s:6.1f} s, {rows / again_s:8.0f} rows/s "
        f"({again.created} created, {again.updated} updated, {again.unchanged} unchanged)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    print(describe_machine())
    print("command:", shlex.join([sys.executable, "-m", "benchmarks.hotel_import", *sys.argv[1:]]))
    started = time.perf_counter()
    data = generate(args.rows)
    print(
        f"generated {args.rows} rows ({len(data) / 1e6:.1f} MB) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="innsight-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'hub.db'}"
        _report("sqlite", args.rows, *asyncio.run(_import_twice(url, data)))
    if args.no_postgres:
        return 0
    if args.postgres_url:
        _report("postgresql", args.rows, *asyncio.run(_import_twice(args.postgres_url, data)))
    else:
        with throwaway_postgres() as pg_url:
            _report("postgresql", args.rows, *asyncio.run(_import_twice(pg_url, data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
