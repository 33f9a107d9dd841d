"""A throwaway PostgreSQL server: initdb into a temp dir, trust auth, loopback, free port."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from innsight.broker import free_port


def postgres_bin_dir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").is_file():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    def __init__(self) -> None:
        bindir = postgres_bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bindir = bindir
        # Our own folder under /tmp: pytest's tmp dirs are root-only, unreachable for 'postgres'.
        self.workdir = Path(tempfile.mkdtemp(prefix="innsight-pg-"))
        self.datadir = self.workdir / "data"
        self.port = free_port()
        self.user = "postgres"
        # initdb refuses to run as root: run the server as the 'postgres' OS user then.
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # KeyError if the package did not create the user
            self._run_as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._run_as, *argv], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        if self._run_as:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-A",
            "trust",
            "-U",
            self.user,
            "--no-sync",
            "-E",
            "UTF8",
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.workdir / "pg.log"),
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            f"-p {self.port} -k {self.workdir} -h 127.0.0.1 -F",
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            done = subprocess.run(
                [
                    *self._run_as,
                    str(self.bindir / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    "-c",
                    "CREATE DATABASE innsight",
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not accept connections")

    @property
    def async_url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/innsight"

    def stop(self) -> None:
        subprocess.run(
            [
                *self._run_as,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.workdir, ignore_errors=True)


async def _admin(server: PostgresServer, statement: str) -> None:
    dsn = make_url(server.async_url).set(drivername="postgresql")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def scratch_database(server: PostgresServer, prefix: str) -> Iterator[str]:
    """A fresh database on ``server`` (its async URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server.async_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
