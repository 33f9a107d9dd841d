"""The chain hub's composition root: ``create_chain_app(settings)`` (``innsight hub serve
--role chain``, docs/chain.md).

A small app beside :func:`hub.api.app.create_app`: the database, the read-only
:class:`~hub.chain.ingest.ChainIngest` over every site, authentication (tokens, users, API keys)
and the cross-site views. No gallery, no flows, no vision, no assistant: nothing that writes to a
hotel or publishes anything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import uvicorn
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.auth import AuthState
from hub.api.deps import get_session
from hub.api.errors import install_error_handlers
from hub.api.routes import admin, auth, chain
from hub.auth.keys import jwt_secret_of, with_secrets
from hub.chain.ingest import ChainIngest
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import SessionFactory, create_engine, create_session_factory, init_db
from hub.settings import HubSettings
from hub.storage import object_store_for

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ChainRuntime:
    session_factory: SessionFactory
    ingest: ChainIngest | None


class ChainHealth(BaseModel):
    status: Literal["healthy", "degraded"]
    role: Literal["chain"] = "chain"
    ingest_connected: bool


async def _chain_session(request: Request) -> AsyncIterator[AsyncSession]:
    runtime: ChainRuntime = request.app.state.chain
    async with runtime.session_factory() as session:
        yield session


def create_chain_app(settings: HubSettings, *, start_ingest: bool = True) -> FastAPI:
    """The chain hub API (see the module docstring)."""
    settings = with_secrets(settings)
    pii_cipher = PiiCipher.from_secret(settings.pii_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url.get_secret_value())
        bind_pii_cipher(engine, pii_cipher)
        ingest: ChainIngest | None = None
        try:
            await init_db(engine)
            session_factory = create_session_factory(engine)
            if start_ingest and settings.mqtt_enabled:
                ingest = ChainIngest(
                    settings,
                    session_factory,
                    object_store_for(settings),
                    registry=CollectorRegistry(),
                )
            app.state.chain = ChainRuntime(session_factory, ingest)
            if ingest is not None:
                await ingest.start()
            logger.info("chain hub ready (ingest %s)", ingest is not None)
            yield
        finally:
            if ingest is not None:
                await ingest.stop()
            await engine.dispose()

    app = FastAPI(title="innsight chain hub", version="0.1.0", lifespan=lifespan)
    app.state.auth = AuthState(settings, jwt_secret_of(settings))
    app.dependency_overrides[get_session] = _chain_session
    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(chain.router)

    @app.get("/health", response_model=ChainHealth, tags=["chain"])
    async def health(request: Request) -> ChainHealth:
        """Open: whether the chain hub reads the chain broker (no data in it)."""
        runtime: ChainRuntime | None = getattr(request.app.state, "chain", None)
        connected = bool(runtime and runtime.ingest and runtime.ingest.connected)
        status: Literal["healthy", "degraded"] = "healthy" if connected else "degraded"
        return ChainHealth(status=status, ingest_connected=connected)

    return app


def serve_chain(settings: HubSettings, *, log_level: str = "info") -> None:
    """Serve the chain hub on ``settings.api_host:api_port`` until interrupted."""
    app = create_chain_app(settings)
    logger.info("chain hub API on http://%s:%d", settings.api_host, settings.api_port)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        access_log=False,
    )
    uvicorn.Server(config).run()
