"""The photos of lost reports and found items, through the hub's image search
(hub/vision/image_search.py): each is stored in the object store and indexed in the
``lost_found`` category (metadata ``kind``: ``lost`` or ``found``), and two sides are compared
by the cosine similarity of their stored embeddings, through that category's index restricted
to the candidates (no second index)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Literal

from sqlmodel import col, select

from hub.db import SessionFactory
from hub.tables import ImageMetadata
from hub.vision.image_search import (
    ImageCategory,
    ImageNotFoundError,
    ImageSearchService,
    ImageSearchUnavailableError,
    IndexedImage,
    vector_from_bytes,
)
from models.faces import Image, ModelUnavailableError

PhotoKind = Literal["lost", "found"]


class PhotoIndex:
    """Lost-and-found photos in the image search; one per hub (wraps its service)."""

    def __init__(self, service: ImageSearchService, session_factory: SessionFactory) -> None:
        self._service = service
        self._session_factory = session_factory

    async def add(
        self,
        image_bgr: Image,
        raw: bytes,
        content_type: str,
        *,
        kind: PhotoKind,
        metadata: Mapping[str, Any],
        captured_at: datetime | None,
    ) -> IndexedImage:
        """Store and index one photo (raises ImageSearchUnavailableError: 503)."""
        return await self._service.index_image(
            image_bgr,
            raw,
            content_type,
            category=ImageCategory.LOST_FOUND,
            metadata={"kind": kind, **metadata},
            tags=[kind],
            captured_at=captured_at,
        )

    async def remove(self, image_id: int) -> None:
        """Take a photo out of the store and the index (a report that was not saved)."""
        try:
            await self._service.delete(image_id)
        except ImageNotFoundError:
            return

    async def similarities(self, image_id: int, candidates: Collection[int]) -> dict[int, float]:
        """Cosine similarity of photo ``image_id`` to each candidate photo (image ids) that is
        indexed by the current model; a photo embedded by another model compares to nothing."""
        if not candidates:
            return {}
        try:
            embedder = await self._service.embedders.get()
        except ModelUnavailableError as err:
            raise ImageSearchUnavailableError(f"image model unavailable: {err}") from err
        async with self._session_factory() as session:
            row = (
                await session.exec(
                    select(ImageMetadata.embedding, ImageMetadata.embedding_model).where(
                        col(ImageMetadata.id) == image_id
                    )
                )
            ).first()
        if row is None or row[0] is None or row[1] != embedder.model_id:
            return {}
        vector = vector_from_bytes(row[0])
        index = await self._service.category_index(embedder, ImageCategory.LOST_FOUND.value)
        hits = await asyncio.to_thread(
            index.query, vector, len(candidates), allowed=set(candidates)
        )
        return dict(hits)
