"""A real RTSP server for capture tests: start, kill (a camera losing power), restart, stall.

    server = RtspTestServer(tmp_path, user="admin", password="s3cret")
    server.start()          # serving rtsp://admin:s3cret@127.0.0.1:{port}/cam
    server.kill()           # SIGKILL: sockets close, like a camera rebooting
    server.start()          # the same port again
    server.pause()          # SIGSTOP: sockets stay open, nothing is sent (a hung camera)
    server.resume()

The server is ``rtsp_server_main.py`` (gst-rtsp-server) run by the system Python, which has
Debian's ``python3-gi``; the venv has no ``gi``. :func:`rtsp_server_unavailable` says why it
cannot run here (packages missing), for a clear ``pytest.skip``. Every wait is bounded.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from innsight.broker import free_port

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server_main.py")
APT_PACKAGES = (
    "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
)
_ELEMENTS = ("videotestsrc", "jpegenc", "rtpjpegpay")
_PROBE = f"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in {_ELEMENTS!r} if Gst.ElementFactory.find(e) is None]
if missing:
    raise SystemExit("missing GStreamer elements: " + ", ".join(missing))
"""
_READY = "READY"
_POLL_S = 0.02


@functools.cache
def rtsp_server_unavailable() -> str | None:
    """Why the RTSP test server cannot run on this machine, or None when it can."""
    if not SYSTEM_PYTHON.is_file():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server needs the system python3-gi)"
    try:
        probe = subprocess.run(
            [str(SYSTEM_PYTHON), "-c", _PROBE], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "probing GStreamer timed out"
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit {probe.returncode}"
        return f"gst-rtsp-server is not usable ({detail}); apt-get install {APT_PACKAGES}"
    return None


class RtspStartError(RuntimeError):
    """The RTSP server did not come up; the message carries its log."""


class RtspTestServer:
    """One RTSP mount serving a live MJPEG test pattern on 127.0.0.1, at a fixed free port."""

    def __init__(
        self,
        workdir: Path,
        *,
        user: str = "",
        password: str = "",
        path: str = "/cam",
        width: int = 320,
        height: int = 240,
        fps: int = 25,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.user = user
        self.password = password
        self.path = path
        self.size = (width, height)
        self.fps = fps
        self.port = port or free_port()
        self.log_path = workdir / f"rtsp-{self.port}.log"
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL a camera config would hold: with the credentials when there are any."""
        userinfo = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 15.0) -> RtspTestServer:
        """Start serving (on the same port as before, after a kill) and wait until it listens."""
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(SYSTEM_PYTHON),
            str(SERVER_SCRIPT),
            f"--port={self.port}",
            f"--path={self.path}",
            f"--width={self.size[0]}",
            f"--height={self.size[1]}",
            f"--fps={self.fps}",
        ]
        if self.user:
            argv += [f"--user={self.user}", f"--password={self.password}"]
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _READY in self._log():
                return self
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RtspStartError(f"RTSP server exited with {code}:\n{self._log()}")
            time.sleep(_POLL_S)
        self.kill()
        raise RtspStartError(f"RTSP server not ready after {timeout_s} s:\n{self._log()}")

    def kill(self) -> None:
        """SIGKILL, as a camera losing power: connections drop, the port stops listening."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()  # SIGKILL ends a paused (SIGSTOP) process too
        proc.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: sockets stay open and nothing is sent or answered (a hung camera)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("the RTSP server is not running")
        os.kill(self._proc.pid, signum)

    def _log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> RtspTestServer:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.kill()
