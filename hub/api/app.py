"""The hub's composition root: ``create_app(settings)`` builds the FastAPI app, and its lifespan
builds the real objects (engine, sessions, object store, gallery, MQTT ingest)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.auth import API_KEY_HEADER, AuthState
from hub.api.deps import FaceAnalyzerProvider, HubRuntime, build_cv_services
from hub.api.errors import error_body, field_error, install_error_handlers
from hub.api.routes import admin, auth, cv, cv_anomaly, cv_images, cv_ocr, cv_room, events, metrics
from hub.api.routes import cluster as cluster_routes
from hub.api.routes import compreface as compreface_routes
from hub.api.routes import compreface_infer as compreface_infer_routes
from hub.api.routes import hotel as hotel_routes
from hub.api.routes import hotel_pms as hotel_pms_routes
from hub.api.routes import llm as llm_routes
from hub.api.routes import lost_found as lost_found_routes
from hub.api.routes import ml as ml_routes
from hub.api.routes import prefect as prefect_routes
from hub.api.routes import privacy as privacy_routes
from hub.api.routes import privacy_consent as privacy_consent_routes
from hub.api.routes.console import mount_console
from hub.assistant.service import AssistantService
from hub.auth.keys import jwt_secret_of, with_secrets
from hub.cluster.runtime import Cluster, start_cluster, stop_cluster
from hub.compat.bridge import CompatBridge
from hub.compat.wiring import start_compat
from hub.crypto import PiiCipher, bind_pii_cipher
from hub.db import SessionFactory, create_engine, create_session_factory, init_db
from hub.face_templates import protect_stored_templates, template_protector
from hub.flows.wiring import Flows, catch_up_attendance, start_flows, stop_flows
from hub.gallery import MAX_ENROLL_IMAGES, GalleryService
from hub.ingest import MqttIngest
from hub.ml.api import MLProvider
from hub.observability.context import REQUEST_ID_HEADER
from hub.observability.setup import install_observability
from hub.settings import HubSettings
from hub.storage import ObjectStore, object_store_for
from hub.vision.image_index import IndexParams
from hub.vision.image_search import EmbedderProvider, ImageSearchService
from models.faces import FaceAnalyzer
from models.image_embed import ImageEmbedder, load_image_embedder

logger = logging.getLogger(__name__)

# JSON + base64 overhead around the images of one enrolment request.
_BODY_SLACK = 64 * 1024


class BodySizeLimit:
    """Answers 413 before reading a body whose declared Content-Length is over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", ()):
                if name == b"content-length" and value.isdigit() and int(value) > self._max_bytes:
                    response = JSONResponse(
                        status_code=413,
                        content=error_body(
                            f"request body over {self._max_bytes} bytes",
                            [field_error("body", f"larger than {self._max_bytes} bytes")],
                        ),
                    )
                    await response(scope, receive, send)
                    return
        await self._app(scope, receive, send)


def _dlib_factory(upsample: int) -> FaceAnalyzer:
    from models.face_blazeface import hub_face_analyzer  # BlazeFace detects, dlib embeds

    return hub_face_analyzer(hog_upsample=upsample)


def _object_store(settings: HubSettings) -> ObjectStore:
    return object_store_for(settings)


def _image_search(
    settings: HubSettings, session_factory: SessionFactory, store: ObjectStore
) -> ImageSearchService:
    """The image search service; its model loads on first use (503 with the reason if not)."""

    def load() -> ImageEmbedder:
        return load_image_embedder(
            settings.image_search_model, model_path=settings.image_search_model_path
        )

    return ImageSearchService(
        session_factory,
        store,
        EmbedderProvider(load),
        index_dir=settings.data_dir / "image_index",
        params=IndexParams(
            m=settings.image_index_m,
            ef_construction=settings.image_index_ef_construction,
            ef_search=settings.image_index_ef_search,
        ),
    )


def create_app(
    settings: HubSettings,
    *,
    face_analyzer: FaceAnalyzer | None = None,
    start_ingest: bool = True,
) -> FastAPI:
    """The hub API. ``face_analyzer`` replaces the lazily loaded dlib backend (tests);
    ``start_ingest=False`` (or ``settings.mqtt_enabled=False``) runs without MQTT.

    The JWT secret and PII key, when the settings do not give them, are read from (or made
    once in) the data dir here (:func:`hub.auth.keys.with_secrets`)."""
    settings = with_secrets(settings)
    pii_cipher = PiiCipher.from_secret(settings.pii_key)
    http_registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url.get_secret_value())
        bind_pii_cipher(engine, pii_cipher)
        ingest: MqttIngest | None = None
        flows: Flows | None = None
        cluster: Cluster | None = None
        compat: CompatBridge | None = None
        try:
            await init_db(engine)
            session_factory = create_session_factory(engine)
            async with session_factory() as session:  # first start: say how to make an admin
                await app.state.auth.setup.log_at_start(session)
            store = _object_store(settings)
            gallery = GalleryService(
                session_factory,
                store,
                site=settings.site,
                public_base_url=settings.public_base_url,
                max_image_bytes=settings.max_upload_bytes,
                match_threshold=settings.face_match_threshold,
                templates=template_protector(settings, pii_cipher),
                configured_models=settings.gallery_face_models,
            )
            # templates stored in clear before migration 0006 (or under a previous key)
            await protect_stored_templates(session_factory, store, gallery.templates)
            ingest_registry = CollectorRegistry()
            if start_ingest and settings.mqtt_enabled:
                ingest = MqttIngest(
                    settings,
                    session_factory,
                    store,
                    registry=ingest_registry,
                    on_device_online=gallery.announce_latest_to,
                    alert_threshold=settings.dead_letter_alert_threshold,
                    alert_window_s=settings.dead_letter_alert_window_s,
                )
                gallery.set_publisher(ingest)
            faces = FaceAnalyzerProvider(
                (lambda: _dlib_factory(settings.face_upsample)) if face_analyzer is None else None,
                face_analyzer,
            )
            gallery.set_analyzer_source(faces.get)  # back-fills embed with the hub's analyzer
            gallery.start_configured_backfills()
            app.state.ml = MLProvider(session_factory, settings.data_dir / "ml")
            flows = await start_flows(
                settings, session_factory, store, ingest=ingest, gallery=gallery, ml=app.state.ml
            )
            compat = await start_compat(
                settings, session_factory, ingest, chain=flows.hooks.events_stored
            )
            app.state.hub = HubRuntime(
                settings=settings,
                engine=engine,
                session_factory=session_factory,
                store=store,
                gallery=gallery,
                ingest=ingest,
                faces=faces,
                registries=(ingest_registry,),
                flow_hooks=flows.hooks,
                flow_runner=flows.runner,
                notifier=flows.deps.notifier,
                image_search=_image_search(settings, session_factory, store),
            )
            app.state.cv = build_cv_services(app.state.hub)
            flows.deps.images = app.state.hub.image_search  # lost & found photos
            app.state.auth.use_database(session_factory)  # rate limits shared by replicas
            started_flows = flows
            cluster = await start_cluster(  # API replicas: versions, leader lease (hub/cluster)
                settings,
                session_factory,
                faces=app.state.cv.faces,
                images=app.state.hub.image_search,
                runner=flows.runner,
                leader_jobs=[("attendance_catch_up", lambda: catch_up_attendance(started_flows))],
            )
            app.state.cluster = cluster
            if ingest is not None:
                await ingest.start()
            logger.info("hub ready (site %s, ingest %s)", settings.site, ingest is not None)
            yield
        finally:
            if ingest is not None:
                await ingest.stop()
            if cluster is not None:
                await stop_cluster(cluster)
            app.state.auth.use_database(None)
            if compat is not None:
                await compat.stop()
            if flows is not None:
                await stop_flows(flows)
            runtime = getattr(app.state, "hub", None)
            if runtime is not None:  # a back-fill resumes at the next start (idempotent)
                await runtime.gallery.cancel_backfills()
            if runtime is not None and runtime.image_search is not None:
                await runtime.image_search.save()
            await app.state.assistant.aclose()  # the conversation memory's connection
            await engine.dispose()
            if hasattr(app.state, "hub"):
                del app.state.hub

    app = FastAPI(
        title="innsight hub",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.http_registry = http_registry
    app.state.cv_metrics = metrics.CvMetrics(http_registry)
    app.state.auth = AuthState(settings, jwt_secret_of(settings))
    # the chat model itself is built on first use, never here (the hub starts without Ollama)
    app.state.assistant = AssistantService(settings)
    # OCR engines (RapidOCR, Tesseract) load on the first reading, never here
    app.state.ocr = cv_ocr.build_ocr_service(settings)
    install_error_handlers(app)
    max_body = settings.max_upload_bytes * MAX_ENROLL_IMAGES * 4 // 3 + _BODY_SLACK
    app.add_middleware(BodySizeLimit, max_bytes=max_body)
    app.add_middleware(metrics.PrometheusMiddleware, metrics=metrics.HttpMetrics(http_registry))
    if settings.cors_origins:  # closed unless origins are configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", API_KEY_HEADER],
            expose_headers=[
                "Retry-After",
                "X-Content-SHA256",
                "X-Gallery-Version",
                REQUEST_ID_HEADER,
            ],
            allow_credentials=False,
            max_age=600,
        )
    # request ids, JSON-log context, optional traces, every metric family registered up front
    install_observability(app, settings, http_registry)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(cluster_routes.router)
    app.include_router(events.router)
    app.include_router(cv.router)
    app.include_router(cv_images.router)
    app.include_router(cv_ocr.router)
    app.include_router(cv_room.router)
    app.include_router(cv_anomaly.router)
    app.include_router(metrics.router)
    app.include_router(ml_routes.router)
    app.include_router(llm_routes.router)
    app.include_router(prefect_routes.router)
    app.include_router(hotel_routes.router)
    app.include_router(privacy_routes.router)
    app.include_router(privacy_consent_routes.router)
    app.include_router(hotel_pms_routes.router)
    app.include_router(lost_found_routes.router)
    if settings.compat_compreface:  # CompreFace-compatible REST (docs/compreface.md)
        app.include_router(compreface_routes.router)
        app.include_router(compreface_infer_routes.router)
    mount_console(app)  # the staff console at /console (issue 18)
    return app
