"""What flows need (database, object store, notifier, ML, gallery), bound by the hub process.

In the hub (local executor) the lifespan binds the running hub's objects with :func:`bind`.
In a Prefect worker process nothing is bound: :func:`current` builds them once from the
environment (``INNSIGHT_*``, the same settings as ``innsight hub serve``).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.db import SessionFactory
from hub.notify.dispatch import Notifier
from hub.settings import HubSettings
from hub.storage import ObjectStore

if TYPE_CHECKING:
    from hub.gallery import GalleryService
    from hub.ml.api import MLProvider
    from hub.vision.image_search import ImageSearchService


@dataclass
class FlowDeps:
    settings: HubSettings
    session_factory: SessionFactory
    store: ObjectStore
    notifier: Notifier
    ml: MLProvider | None = None
    gallery: GalleryService | None = None
    # the hub's image search (lost & found photos); None in a Prefect worker process
    images: ImageSearchService | None = None


_bound: FlowDeps | None = None
_lock = asyncio.Lock()


def bind(deps: FlowDeps | None) -> None:
    global _bound
    _bound = deps


def bound() -> FlowDeps | None:
    return _bound


async def current() -> FlowDeps:
    """The bound dependencies, or (worker process) ones built from the environment."""
    if _bound is not None:
        return _bound
    async with _lock:
        if _bound is None:
            bind(await _from_environment())
    assert _bound is not None  # noqa: S101 - set just above
    return _bound


async def _from_environment() -> FlowDeps:
    from hub.auth.keys import with_secrets
    from hub.crypto import PiiCipher, bind_pii_cipher
    from hub.db import create_engine, create_session_factory, init_db
    from hub.face_templates import template_protector
    from hub.gallery import GalleryService
    from hub.ml.api import MLProvider
    from hub.notify.factory import build_notifier
    from hub.storage import LocalFolderStore, create_s3_store

    settings = with_secrets(HubSettings.from_env(os.environ))
    engine = create_engine(settings.database_url.get_secret_value())
    pii_cipher = PiiCipher.from_secret(settings.pii_key)
    bind_pii_cipher(engine, pii_cipher)
    await init_db(engine)
    sessions = create_session_factory(engine)
    store: ObjectStore = LocalFolderStore(settings.objects_dir)
    if settings.s3_endpoint:
        secret = settings.s3_secret_key
        store = create_s3_store(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=secret.get_secret_value() if secret is not None else None,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            secure=settings.s3_secure,
        )
    # no MQTT here: the gallery is stored and recorded, and edges get it when they next come
    # online (the hub announces the latest version then); staff-topic messages need the hub
    gallery = GalleryService(
        sessions,
        store,
        site=settings.site,
        public_base_url=settings.public_base_url,
        max_image_bytes=settings.max_upload_bytes,
        match_threshold=settings.face_match_threshold,
        templates=template_protector(settings, pii_cipher),
        configured_models=settings.gallery_face_models,
    )
    return FlowDeps(
        settings=settings,
        session_factory=sessions,
        store=store,
        notifier=build_notifier(settings, sessions),
        ml=MLProvider(sessions, settings.data_dir / "ml"),
        gallery=gallery,
    )
