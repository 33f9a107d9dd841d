"""Image search: index an image (original and thumbnail into the object store, a metadata row
with its embedding into ``image_metadata``, the vector into its category's hnswlib index) and
find the indexed images most similar to a query image.

Pure helpers (categories, thumbnail sizing, metadata checks, result filtering) sit beside the
service; the I/O (store, database, ONNX Runtime, hnswlib) runs in threads off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from sqlalchemy import func
from sqlmodel import col, select

from hub.db import SessionFactory
from hub.storage import ObjectStore, StorageError
from hub.tables import ImageMetadata
from hub.vision.image_index import CategoryIndex, Fingerprint, IndexParams
from models.faces import Image, ModelUnavailableError
from models.image_embed import ImageEmbedder

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 85
MAX_METADATA_KEYS = 32
MAX_METADATA_JSON = 8 * 1024
TOTAL_FOUND_CAP = 1000
"""``total_found`` counts matches among at most this many nearest images per category."""
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class ImageCategory(StrEnum):
    """The fixed set of categories; each has its own similarity index."""

    LOST_FOUND = "lost_found"
    ROOM = "room"
    AMENITY = "amenity"
    INCIDENT = "incident"
    GENERAL = "general"


CATEGORY_DESCRIPTIONS: dict[ImageCategory, str] = {
    ImageCategory.LOST_FOUND: "items found on the premises, and photos of items guests lost",
    ImageCategory.ROOM: "guest rooms and their furnishing",
    ImageCategory.AMENITY: "minibar, toiletries, towels and other amenities",
    ImageCategory.INCIDENT: "damage, spills, hazards",
    ImageCategory.GENERAL: "anything else",
}


class ImageSearchError(Exception):
    """Base of the service's errors (routes map them to HTTP answers)."""


class ImageSearchUnavailableError(ImageSearchError):
    """A backend is missing or failing (the model, the object store): 503 with the reason."""


class ImageNotFoundError(ImageSearchError, LookupError):
    """No indexed image with that id."""


# ---- pure helpers -------------------------------------------------------------------------


def thumbnail_size(width: int, height: int, side: int = THUMBNAIL_SIDE) -> tuple[int, int]:
    """(width, height) with the longer side at most ``side``, aspect kept, never upscaled."""
    longest = max(width, height)
    if longest <= side:
        return width, height
    factor = side / longest
    return max(1, round(width * factor)), max(1, round(height * factor))


def make_thumbnail(image_bgr: Image, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG thumbnail of ``image_bgr`` (longer side ``side`` px)."""
    height, width = image_bgr.shape[:2]
    new_w, new_h = thumbnail_size(width, height, side)
    small = image_bgr
    if (new_w, new_h) != (width, height):
        small = np.asarray(
            cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        raise ValueError("could not encode the thumbnail")
    return bytes(buffer.tobytes())


def check_metadata(metadata: Mapping[str, Any]) -> str:
    """The caller's metadata as compact JSON; raises ``ValueError`` when it is too big."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
    text = json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if len(text.encode("utf-8")) > MAX_METADATA_JSON:
        raise ValueError(f"at most {MAX_METADATA_JSON} bytes once written as JSON")
    return text


CATEGORY_CODES: dict[str, str] = {
    ImageCategory.LOST_FOUND.value: "LF",
    ImageCategory.ROOM.value: "ROOM",
    ImageCategory.AMENITY.value: "AMENITY",
    ImageCategory.INCIDENT.value: "INCIDENT",
    ImageCategory.GENERAL.value: "GEN",
}
_ROOM_PART = re.compile(r"^[A-Za-z0-9-]{1,16}$")
_PUBLIC_ID = re.compile(r"^(?:IMG_[A-Za-z0-9_-]*_)?(\d{1,10})$")


def public_image_id(image_id: int, category: str, room_number: object = None) -> str:
    """The string id the API gives an image: ``IMG_<category code>[_<room>]_<row id>``
    (``IMG_ROOM_201_42``, ``IMG_LF_7``), made from the row id, so it needs no column."""
    parts = ["IMG", CATEGORY_CODES.get(category, "GEN")]
    if isinstance(room_number, str) and _ROOM_PART.match(room_number):
        parts.append(room_number.upper())
    parts.append(str(image_id))
    return "_".join(parts)


def row_id_of(public_id: str) -> int | None:
    """The row id inside a public id (or a bare number); ``None`` when it is neither."""
    match = _PUBLIC_ID.match(public_id)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 1 <= value <= 2**31 - 1 else None


def vector_id_of(image_id: int) -> str:
    """The id of the image's vector: its hnswlib label is the row id."""
    return f"vec_img_{image_id}"


def vector_to_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(data: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def merge_hits(
    hits: Sequence[tuple[int, float]], *, top_k: int, threshold: float
) -> list[tuple[int, float]]:
    """Candidates from one or more indexes -> at most ``top_k``, at or above ``threshold``,
    most similar first (ties by id, so answers are stable)."""
    kept = [(image_id, sim) for image_id, sim in hits if sim >= threshold]
    kept.sort(key=lambda pair: (-pair[1], pair[0]))
    return kept[:top_k]


# ---- results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexedImage:
    image_id: int
    category: str
    object_key: str
    thumbnail_key: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    model_id: str
    captured_at: datetime
    created_at: datetime
    metadata: dict[str, Any]
    tags: list[str]
    category_size: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    image_id: int
    similarity: float
    category: str
    object_key: str
    thumbnail_key: str | None
    content_type: str
    width: int | None
    height: int | None
    captured_at: datetime | None
    created_at: datetime
    metadata: dict[str, Any]
    tags: list[str]


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    hits: list[SearchHit]
    total_found: int
    """Images passing the filters and the threshold (``hits`` is the best ``top_k`` of them)."""
    searched: int
    model_id: str
    embed_ms: float
    search_ms: float


@dataclass(frozen=True, slots=True)
class ModelState:
    loaded: bool
    model_id: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class StoredImage:
    data: bytes
    content_type: str


# ---- the embedding model, loaded on first use ---------------------------------------------


class EmbedderProvider:
    """Creates the image embedder on first use (in a thread) and remembers why it could not;
    the hub starts without it and image endpoints answer 503 with the reason."""

    def __init__(
        self, factory: Callable[[], ImageEmbedder] | None, embedder: ImageEmbedder | None = None
    ) -> None:
        self._factory = factory
        self._embedder = embedder
        self._error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> ImageEmbedder | None:
        return self._embedder

    @property
    def error(self) -> str | None:
        return self._error

    async def get(self) -> ImageEmbedder:
        if self._embedder is not None:
            return self._embedder
        async with self._lock:
            if self._embedder is None and self._error is None:
                await self._load()
        if self._embedder is None:
            raise ModelUnavailableError(self._error or "image model unavailable")
        return self._embedder

    async def _load(self) -> None:
        if self._factory is None:
            self._error = "no image embedding model is configured"
            return
        try:
            self._embedder = await asyncio.to_thread(self._factory)
        except ModelUnavailableError as err:
            self._error = str(err)
            logger.warning("image model unavailable: %s", err)
        except Exception as err:
            self._error = f"image model failed to load: {type(err).__name__}: {err}"
            logger.exception("image model failed to load")


# ---- the service --------------------------------------------------------------------------


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    index: CategoryIndex | None = None


class ImageSearchService:
    """Indexes and searches images; one instance per hub."""

    def __init__(
        self,
        session_factory: SessionFactory,
        store: ObjectStore,
        embedders: EmbedderProvider,
        *,
        index_dir: Path,
        params: IndexParams | None = None,
        save_interval_s: float = 30.0,
    ) -> None:
        self._session_factory = session_factory
        self._store = store
        self.embedders = embedders
        self._index_dir = index_dir
        self._params = params or IndexParams()
        self._save_interval_s = save_interval_s
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._last_save: dict[tuple[str, str], float] = {}
        # told the category after each change here, so other API replicas reload (hub/cluster/)
        self._on_change: Callable[[str], Awaitable[None]] | None = None

    def set_on_change(self, callback: Callable[[str], Awaitable[None]] | None) -> None:
        self._on_change = callback

    async def _changed(self, category: str) -> None:
        if self._on_change is not None:
            try:
                await self._on_change(category)
            except Exception:  # the change is stored; other replicas catch up at their poll
                logger.exception("could not announce the change of image index %s", category)

    @property
    def store(self) -> ObjectStore:
        return self._store

    async def _embedder(self) -> ImageEmbedder:
        try:
            return await self.embedders.get()
        except ModelUnavailableError as err:
            raise ImageSearchUnavailableError(f"image model unavailable: {err}") from err

    def index_path(self, model_id: str, category: str) -> Path:
        return self._index_dir / model_id / f"{category}.hnsw"

    # ---- indexes ------------------------------------------------------------------------

    async def _db_rows(
        self, model_id: str, category: str
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        async with self._session_factory() as session:
            rows = (
                await session.exec(
                    select(ImageMetadata.id, ImageMetadata.embedding)
                    .where(ImageMetadata.category == category)
                    .where(ImageMetadata.embedding_model == model_id)
                    .where(col(ImageMetadata.embedding).is_not(None))
                    .order_by(col(ImageMetadata.id))
                )
            ).all()
        ids = [int(row[0]) for row in rows if row[0] is not None and row[1] is not None]
        vectors = [vector_from_bytes(row[1]) for row in rows if row[0] is not None and row[1]]
        matrix = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        return ids, matrix

    async def _db_fingerprint(self, model_id: str, category: str) -> Fingerprint:
        async with self._session_factory() as session:
            row = (
                await session.exec(
                    select(
                        func.count(col(ImageMetadata.id)),
                        func.max(col(ImageMetadata.id)),
                        func.sum(col(ImageMetadata.id)),
                    )
                    .where(ImageMetadata.category == category)
                    .where(ImageMetadata.embedding_model == model_id)
                    .where(col(ImageMetadata.embedding).is_not(None))
                )
            ).one()
        return Fingerprint(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))

    async def category_index(self, embedder: ImageEmbedder, category: str) -> CategoryIndex:
        """The loaded index of ``category`` for this model: from its file when it matches the
        database, else rebuilt from the embeddings stored in the database."""
        key = (embedder.model_id, category)
        slot = self._slots.setdefault(key, _Slot())
        if slot.index is not None:
            return slot.index
        async with slot.lock:
            if slot.index is not None:
                return slot.index
            index = CategoryIndex(
                self.index_path(embedder.model_id, category),
                embedder.dim,
                embedder.model_id,
                self._params,
            )
            expected = await self._db_fingerprint(embedder.model_id, category)
            if not await asyncio.to_thread(index.load, expected):
                ids, vectors = await self._db_rows(embedder.model_id, category)
                if vectors.size and vectors.shape[1] != embedder.dim:
                    raise ImageSearchUnavailableError(
                        f"stored embeddings of {embedder.model_id} are {vectors.shape[1]}-d, "
                        f"the model gives {embedder.dim}-d"
                    )
                started = time.perf_counter()
                await asyncio.to_thread(index.rebuild, ids, vectors)
                logger.info(
                    "image index %s/%s rebuilt from the database: %d images in %.0f ms",
                    embedder.model_id,
                    category,
                    len(ids),
                    (time.perf_counter() - started) * 1000,
                )
            slot.index = index
            self._last_save[key] = time.monotonic()
            return index

    async def _maybe_save(self, index: CategoryIndex) -> None:
        key = (index.model_id, index.path.stem)
        now = time.monotonic()
        if now - self._last_save.get(key, 0.0) >= self._save_interval_s:
            self._last_save[key] = now
            await asyncio.to_thread(index.save)

    async def save(self) -> None:
        """Write every loaded index that changed (called on shutdown)."""
        for slot in list(self._slots.values()):
            if slot.index is not None:
                try:
                    await asyncio.to_thread(slot.index.save)
                except OSError as err:
                    logger.warning("could not save image index %s: %s", slot.index.path, err)

    def forget_loaded(self) -> None:
        """Drop the in-memory indexes (the next use loads or rebuilds them)."""
        self._slots.clear()

    def forget_category(self, category: str) -> int:
        """Drop the loaded indexes of ``category`` (another replica changed it: the next use
        rebuilds them from the database); how many were dropped."""
        keys = [key for key in self._slots if key[1] == category]
        for key in keys:
            del self._slots[key]
        return len(keys)

    # ---- index ---------------------------------------------------------------------------

    async def index_image(
        self,
        image_bgr: Image,
        raw: bytes,
        content_type: str,
        *,
        category: ImageCategory,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        captured_at: datetime | None = None,
        source: str = "upload",
    ) -> IndexedImage:
        """Store and index one image. ``raw`` are the uploaded bytes (kept as the original),
        ``image_bgr`` their decoded pixels."""
        embedder = await self._embedder()
        meta_json = check_metadata(metadata or {})
        vector = await asyncio.to_thread(embedder.embed, image_bgr)
        thumbnail = await asyncio.to_thread(make_thumbnail, image_bgr)
        name = uuid.uuid4().hex
        ext = _EXTENSIONS.get(content_type, "bin")
        object_key = f"images/{category.value}/{name}.{ext}"
        thumbnail_key = f"thumbnails/{category.value}/{name}.jpg"
        try:
            await asyncio.to_thread(self._store.put, object_key, raw, content_type)
        except StorageError as err:
            raise ImageSearchUnavailableError(f"object storage unavailable: {err}") from err
        try:
            await asyncio.to_thread(self._store.put, thumbnail_key, thumbnail, "image/jpeg")
        except StorageError as err:
            await self._delete_objects(object_key)
            raise ImageSearchUnavailableError(f"object storage unavailable: {err}") from err
        height, width = image_bgr.shape[:2]
        now = datetime.now(UTC)
        row = ImageMetadata(
            object_key=object_key,
            content_type=content_type,
            width=width,
            height=height,
            size_bytes=len(raw),
            sha256=hashlib.sha256(raw).hexdigest(),
            source=source,
            tags=list(tags),
            captured_at=captured_at or now,
            created_at=now,
            category=category.value,
            thumbnail_key=thumbnail_key,
            embedding=vector_to_bytes(vector),
            embedding_model=embedder.model_id,
            item_metadata=meta_json,
        )
        try:
            async with self._session_factory() as session:
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except BaseException:
            await self._delete_objects(object_key, thumbnail_key)
            raise
        assert row.id is not None  # noqa: S101 - set by the insert
        index = await self.category_index(embedder, category.value)
        await asyncio.to_thread(index.add, row.id, vector)
        await self._maybe_save(index)
        await self._changed(category.value)
        logger.info("indexed image %d in %s", row.id, category.value)
        return IndexedImage(
            image_id=row.id,
            category=category.value,
            object_key=object_key,
            thumbnail_key=thumbnail_key,
            content_type=content_type,
            width=width,
            height=height,
            size_bytes=len(raw),
            sha256=row.sha256,
            model_id=embedder.model_id,
            captured_at=row.captured_at or now,
            created_at=row.created_at,
            metadata=json.loads(meta_json),
            tags=list(tags),
            category_size=len(index),
        )

    async def _delete_objects(self, *keys: str) -> None:
        for key in keys:
            try:
                await asyncio.to_thread(self._store.delete, key)
            except StorageError as err:
                logger.warning("could not delete object %s: %s", key, err)

    # ---- search --------------------------------------------------------------------------

    async def search(
        self,
        image_bgr: Image,
        *,
        category: ImageCategory | None,
        top_k: int,
        threshold: float,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> SearchOutcome:
        """The ``top_k`` indexed images most similar to ``image_bgr`` with similarity at least
        ``threshold``, in ``category`` (all when ``None``), captured within the date range."""
        embedder = await self._embedder()
        started = time.perf_counter()
        vector = await asyncio.to_thread(embedder.embed, image_bgr)
        embedded = time.perf_counter()
        categories = [category] if category is not None else list(ImageCategory)
        allowed: set[int] | None = None
        if date_from is not None or date_to is not None:
            allowed = await self._ids_in_range(embedder.model_id, categories, date_from, date_to)
        candidates: list[tuple[int, float]] = []
        searched = 0
        depth = max(top_k, TOTAL_FOUND_CAP)
        for cat in categories:
            index = await self.category_index(embedder, cat.value)
            searched += len(index)
            candidates.extend(await asyncio.to_thread(index.query, vector, depth, allowed=allowed))
        total_found = sum(1 for _, sim in candidates if sim >= threshold)
        ranked = merge_hits(candidates, top_k=top_k, threshold=threshold)
        rows = await self._rows([image_id for image_id, _ in ranked])
        hits = [
            _hit(rows[image_id], similarity) for image_id, similarity in ranked if image_id in rows
        ]
        done = time.perf_counter()
        return SearchOutcome(
            hits=hits,
            total_found=total_found,
            searched=searched,
            model_id=embedder.model_id,
            embed_ms=(embedded - started) * 1000,
            search_ms=(done - embedded) * 1000,
        )

    async def _ids_in_range(
        self,
        model_id: str,
        categories: Sequence[ImageCategory],
        date_from: datetime | None,
        date_to: datetime | None,
    ) -> set[int]:
        stmt = (
            select(ImageMetadata.id)
            .where(col(ImageMetadata.category).in_([c.value for c in categories]))
            .where(ImageMetadata.embedding_model == model_id)
        )
        if date_from is not None:
            stmt = stmt.where(col(ImageMetadata.captured_at) >= date_from)
        if date_to is not None:
            stmt = stmt.where(col(ImageMetadata.captured_at) <= date_to)
        async with self._session_factory() as session:
            return {int(i) for i in (await session.exec(stmt)).all() if i is not None}

    async def _rows(self, ids: Sequence[int]) -> dict[int, ImageMetadata]:
        if not ids:
            return {}
        async with self._session_factory() as session:
            rows = (
                await session.exec(select(ImageMetadata).where(col(ImageMetadata.id).in_(ids)))
            ).all()
        return {row.id: row for row in rows if row.id is not None}

    # ---- stored images -------------------------------------------------------------------

    async def get(self, image_id: int) -> SearchHit:
        """The indexed image ``image_id`` (similarity 1.0); raises :class:`ImageNotFoundError`."""
        rows = await self._rows([image_id])
        row = rows.get(image_id)
        if row is None or row.category is None:
            raise ImageNotFoundError(f"no indexed image {image_id}")
        return _hit(row, 1.0)

    async def read(self, image_id: int, *, thumbnail: bool) -> StoredImage:
        """The stored original (or thumbnail) bytes of an indexed image."""
        hit = await self.get(image_id)
        key = hit.thumbnail_key if thumbnail else hit.object_key
        if key is None:
            raise ImageNotFoundError(f"image {image_id} has no thumbnail")
        try:
            data = await asyncio.to_thread(self._store.get, key)
        except LookupError as err:
            raise ImageNotFoundError(f"the stored file of image {image_id} is missing") from err
        except StorageError as err:
            raise ImageSearchUnavailableError(f"object storage unavailable: {err}") from err
        return StoredImage(data, "image/jpeg" if thumbnail else hit.content_type)

    async def delete(self, image_id: int) -> SearchHit:
        """Remove an indexed image: its row, its objects and its index entry."""
        hit = await self.get(image_id)
        async with self._session_factory() as session:
            row = await session.get(ImageMetadata, image_id)
            if row is not None:
                await session.delete(row)
                await session.commit()
        for slot in self._slots.values():
            if slot.index is not None and slot.index.path.stem == hit.category:
                await asyncio.to_thread(slot.index.remove, image_id)
                await self._maybe_save(slot.index)
        await self._changed(hit.category)
        keys = [hit.object_key] + ([hit.thumbnail_key] if hit.thumbnail_key else [])
        await self._delete_objects(*keys)
        logger.info("deleted image %d from %s", image_id, hit.category)
        return hit

    async def model_status(self) -> ModelState:
        """Whether the embedding model loads (loading it now if it has not been tried), for
        /health and /image/status."""
        try:
            embedder = await self.embedders.get()
        except ModelUnavailableError as err:
            return ModelState(loaded=False, model_id=None, reason=str(err))
        return ModelState(loaded=True, model_id=embedder.model_id, reason=None)

    async def counts(self) -> dict[str, int]:
        """Indexed images per category (all models), from the database."""
        async with self._session_factory() as session:
            rows = (
                await session.exec(
                    select(ImageMetadata.category, func.count(col(ImageMetadata.id)))
                    .where(col(ImageMetadata.category).is_not(None))
                    .where(col(ImageMetadata.embedding).is_not(None))
                    .group_by(col(ImageMetadata.category))
                )
            ).all()
        return {str(cat): int(n) for cat, n in rows if cat is not None}


def _hit(row: ImageMetadata, similarity: float) -> SearchHit:
    assert row.id is not None  # noqa: S101 - rows from the database have ids
    try:
        metadata = json.loads(row.item_metadata) if row.item_metadata else {}
    except ValueError:
        metadata = {}
    return SearchHit(
        image_id=row.id,
        similarity=round(float(similarity), 6),
        category=row.category or "",
        object_key=row.object_key,
        thumbnail_key=row.thumbnail_key,
        content_type=row.content_type,
        width=row.width,
        height=row.height,
        captured_at=row.captured_at,
        created_at=row.created_at,
        metadata=metadata if isinstance(metadata, dict) else {},
        tags=list(row.tags or []),
    )
