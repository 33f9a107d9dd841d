"""What routes depend on: the hub runtime built by ``create_app``'s lifespan, DB sessions, and
the lazily loaded face analyzer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from sqlalchemy import literal
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import SessionFactory
from hub.flows.hooks import FlowHooks
from hub.gallery import GalleryService
from hub.ingest import MqttIngest
from hub.notify.dispatch import Notifier
from hub.settings import HubSettings
from hub.storage import ObjectStore
from hub.vision.image_search import ImageSearchService
from hub.vision.services import CvServices
from models.faces import FaceAnalyzer, ModelUnavailableError

if TYPE_CHECKING:
    from hub.flows.runner import FlowRunner

logger = logging.getLogger(__name__)

HEALTH_PROBE_KEY = "health/probe"


class FaceAnalyzerProvider:
    """Creates the face analyzer on first use (in a thread) and remembers why it could not.

    The hub starts without it; callers get :class:`ModelUnavailableError` with the reason.
    """

    def __init__(
        self,
        factory: Callable[[], FaceAnalyzer] | None,
        analyzer: FaceAnalyzer | None = None,
    ) -> None:
        self._factory = factory
        self._analyzer = analyzer
        self._error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> FaceAnalyzer | None:
        return self._analyzer

    @property
    def error(self) -> str | None:
        return self._error

    async def get(self) -> FaceAnalyzer:
        if self._analyzer is not None:
            return self._analyzer
        async with self._lock:
            if self._analyzer is None and self._error is None:
                await self._load()
        if self._analyzer is None:
            raise ModelUnavailableError(self._error or "face model unavailable")
        return self._analyzer

    async def _load(self) -> None:
        if self._factory is None:
            self._error = "no face backend is configured"
            return
        try:
            self._analyzer = await asyncio.to_thread(self._factory)
        except ModelUnavailableError as err:
            self._error = str(err)
            logger.warning("face model unavailable: %s", err)
        except Exception as err:
            self._error = f"face backend failed to load: {type(err).__name__}: {err}"
            logger.exception("face backend failed to load")


@dataclass
class HubRuntime:
    """The real objects of one running hub (built in ``create_app``'s lifespan)."""

    settings: HubSettings
    engine: AsyncEngine
    session_factory: SessionFactory
    store: ObjectStore
    gallery: GalleryService
    ingest: MqttIngest | None
    faces: FaceAnalyzerProvider
    registries: tuple[CollectorRegistry, ...]
    # hub/flows: what the ingest and the room analysis call, and the Prefect side
    flow_hooks: FlowHooks | None = None
    flow_runner: FlowRunner | None = None
    # notification channels (hub/notify): e-mail, webhook, MQTT staff topics
    notifier: Notifier | None = None
    # image index/search (hub/vision/image_search.py); None: the endpoints answer 503
    image_search: ImageSearchService | None = None

    async def check_database(self) -> str | None:
        """``None`` when the database answers, else why not."""
        try:
            async with self.session_factory() as session:
                await session.exec(select(literal(1)))
        except Exception as err:  # noqa: BLE001 - health reports any failure
            logger.warning("database health check failed: %s", type(err).__name__)
            return f"{type(err).__name__}: {str(err)[:200]}"
        return None

    async def check_storage(self) -> str | None:
        """``None`` when the object store takes a write and reads it back, else why not."""
        probe = b"ok"
        try:
            await asyncio.to_thread(self.store.put, HEALTH_PROBE_KEY, probe, "text/plain")
            back = await asyncio.to_thread(self.store.get, HEALTH_PROBE_KEY)
        except Exception as err:  # noqa: BLE001 - health reports any failure
            logger.warning("storage health check failed: %s", type(err).__name__)
            return f"{type(err).__name__}: {str(err)[:200]}"
        return None if back == probe else "read back different bytes"


def get_runtime(request: Request) -> HubRuntime:
    runtime: HubRuntime = request.app.state.hub
    return runtime


Runtime = Annotated[HubRuntime, Depends(get_runtime)]


async def get_session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with runtime.session_factory() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


def build_cv_services(runtime: HubRuntime) -> CvServices:
    """The face recognition, room inspection and hazard services of one hub (issue 5)."""
    from hub.vision.anomaly_service import AnomalyService, default_loader
    from hub.vision.faces import FaceRecognitionService, LivenessProvider, minifasnet_liveness
    from hub.vision.room_service import RoomService

    settings = runtime.settings
    return CvServices(
        faces=FaceRecognitionService(
            runtime.session_factory,
            threshold=settings.face_match_threshold,
            liveness=LivenessProvider(minifasnet_liveness),
            templates=runtime.gallery.templates,
        ),
        rooms=RoomService(runtime.session_factory, runtime.store),
        anomaly=AnomalyService(runtime.session_factory, runtime.store, default_loader()),
    )


def get_cv(request: Request) -> CvServices:
    services: CvServices = request.app.state.cv
    return services


Cv = Annotated[CvServices, Depends(get_cv)]
