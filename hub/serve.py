"""Run the hub API with uvicorn: ``serve(settings)`` in the foreground (the CLI), or
:class:`HubServerThread` in a background thread (tests, demo).

``serve(settings, workers=N)`` runs N uvicorn worker processes on one port: each builds its
app with :func:`replica_app` (settings from the environment), claims a slot (its MQTT client
``{mqtt_client_id}-api-{slot}``) and joins the ingest workers' shared subscription; what they
share goes through the database (hub/cluster/, docs/scale-out.md)."""

from __future__ import annotations

import logging
import os
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from hub.api.app import create_app
from hub.cluster.slots import claim_slot
from hub.ingest.worker import DEFAULT_GROUP
from hub.observability.logs import uvicorn_log_config
from hub.settings import HubSettings

logger = logging.getLogger(__name__)

# Seconds an idle HTTP/1.1 connection is kept open (see _config).
KEEP_ALIVE_S = 75


# How many worker processes ``serve`` started (read by each worker's :func:`replica_app`).
WORKERS_ENV = "INNSIGHT_SERVE_WORKERS"
REPLICA_APP = "hub.serve:replica_app"
# The parent's log level, for the workers' logging (they start as fresh interpreters).
LOG_LEVEL_ENV = "INNSIGHT_SERVE_LOG_LEVEL"


def _config(
    app: FastAPI | str, host: str, port: int, log_level: str, *, workers: int = 1
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=isinstance(app, str),
        # The stdlib loop, not uvloop (uvicorn's "auto" picks uvloop when it is installed):
        # aiomqtt registers its socket writer late (call_soon_threadsafe with the fd number), so
        # after a broker crash that registration can land on a closed or reused descriptor;
        # uvloop then keeps a closed poll for that fd, and the ingest's next connection on it
        # could neither read nor write until its keepalive ran out (about 1 broker crash in 8
        # under load in tests/integration/test_faults.py; no wedge in 34 on the stdlib loop).
        loop="asyncio",
        lifespan="on",
        log_level=log_level,
        log_config=uvicorn_log_config(),  # text, or JSON lines (docs/observability.md)
        ws="none",
        server_header=False,
        access_log=False,
        # Longer than any client's idle pool expiry (httpx: 5 s, browsers: about 60 s, a
        # reverse proxy's upstream pool: 60 s), so the client always closes an idle connection
        # first. Equal timeouts race: a request sent on a connection the server is closing at
        # that instant is reset ("Connection reset by peer"), seen in CI with uvicorn's 5 s.
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def serve(settings: HubSettings, *, log_level: str = "info", workers: int = 1) -> None:
    """Serve the hub API on ``settings.api_host:api_port`` until interrupted: in this process,
    or (``workers`` > 1) in that many worker processes; their settings come from the
    environment (``INNSIGHT_*``), as ``settings`` did."""
    if workers <= 1:
        app = create_app(settings)
        logger.info("hub API on http://%s:%d", settings.api_host, settings.api_port)
        uvicorn.Server(_config(app, settings.api_host, settings.api_port, log_level)).run()
        return
    os.environ[WORKERS_ENV] = str(workers)
    os.environ[LOG_LEVEL_ENV] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    config = _config(REPLICA_APP, settings.api_host, settings.api_port, log_level, workers=workers)
    logger.info(
        "hub API on http://%s:%d (%d workers)", settings.api_host, settings.api_port, workers
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def replica_settings(settings: HubSettings, slot: int) -> HubSettings:
    """One worker's settings: its own MQTT client id, the ingest workers' shared group."""
    return settings.model_copy(
        update={
            "mqtt_client_id": f"{settings.mqtt_client_id}-api-{slot}",
            "ingest_shared_group": settings.ingest_shared_group or DEFAULT_GROUP,
        }
    )


def replica_app() -> FastAPI:
    """The app of one ``serve(..., workers=N)`` process (uvicorn's factory, in each worker)."""
    logging.basicConfig(
        level=os.environ.get(LOG_LEVEL_ENV, "INFO"),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    settings = HubSettings.from_env(os.environ)
    slot = claim_slot(settings.data_dir / "run", int(os.environ.get(WORKERS_ENV, "1")))
    logger.info("API worker %d of a hub serve --workers group (pid %d)", slot, os.getpid())
    return create_app(replica_settings(settings, slot))


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
