"""Run the hub API with uvicorn: ``serve(settings)`` in the foreground (the CLI), or
:class:`HubServerThread` in a background thread (tests, demo)."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from hub.api.app import create_app
from hub.settings import HubSettings

logger = logging.getLogger(__name__)


def _config(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        # The stdlib loop, not uvloop (uvicorn's "auto" picks uvloop when it is installed):
        # aiomqtt registers its socket writer late (call_soon_threadsafe with the fd number), so
        # after a broker crash that registration can land on a closed or reused descriptor;
        # uvloop then keeps a closed poll for that fd, and the ingest's next connection on it
        # could neither read nor write until its keepalive ran out (about 1 broker crash in 8
        # under load in tests/integration/test_faults.py; no wedge in 34 on the stdlib loop).
        loop="asyncio",
        lifespan="on",
        log_level=log_level,
        ws="none",
        server_header=False,
        access_log=False,
    )


def serve(settings: HubSettings, *, log_level: str = "info") -> None:
    """Serve the hub API on ``settings.api_host:api_port`` (one worker) until interrupted."""
    app = create_app(settings)
    logger.info("hub API on http://%s:%d", settings.api_host, settings.api_port)
    uvicorn.Server(_config(app, settings.api_host, settings.api_port, log_level)).run()


class HubServerStartError(RuntimeError):
    """The server thread did not come up (its lifespan failed or the port is taken)."""


class HubServerThread:
    """A uvicorn server for ``app`` in a background thread; use as a context manager."""

    def __init__(
        self, app: FastAPI, *, host: str = "127.0.0.1", port: int, log_level: str = "warning"
    ) -> None:
        self._server = uvicorn.Server(_config(app, host, port, log_level))
        self._thread = threading.Thread(target=self._server.run, name="hub-api", daemon=True)
        self.base_url = f"http://{host}:{port}"

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise HubServerStartError("the hub server exited during startup (see its log)")
            if time.monotonic() > deadline:
                self.stop()
                raise HubServerStartError(f"the hub server did not start within {timeout_s} s")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> HubServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
