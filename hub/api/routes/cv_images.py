"""/api/v1/cv/image: index images and search them by similarity (issue 5).

Access: indexing and deletion need ``cv:write``; search, reading an indexed image and the
status need ``cv:read``. Index and search run a model and are rate limited per caller.
Images are base64 JPEG or PNG (a ``data:`` URL prefix is accepted), decoded by
:mod:`hub.vision.decode`; every refusal is a 4xx naming the field and the reason.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response, Security
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hub.api.auth import Authorize, CvReader, CvWriter, Principal
from hub.api.deps import HubRuntime, Runtime
from hub.api.errors import field_error
from hub.api.params import StorableText, UtcDateTime, storable_text
from hub.api.routes.metrics import CvMetrics, cv_metrics_of
from hub.api.uploads import decode_upload, decode_upload_keeping_bytes
from hub.auth.scopes import Scope
from hub.storage import StorageError
from hub.vision.image_search import (
    CATEGORY_DESCRIPTIONS,
    ImageCategory,
    ImageNotFoundError,
    ImageSearchService,
    ImageSearchUnavailableError,
    IndexedImage,
    SearchHit,
    check_metadata,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cv", tags=["cv"])

ImageIndexer = Annotated[
    Principal, Security(Authorize(rate_limit="image index"), scopes=[Scope.CV_WRITE])
]
ImageSearcher = Annotated[
    Principal, Security(Authorize(rate_limit="image search"), scopes=[Scope.CV_READ])
]
Metrics = Annotated[CvMetrics, Depends(cv_metrics_of)]
ImageId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # an INTEGER primary key

_CATEGORY_HELP = "; ".join(f"{c.value}: {d}" for c, d in CATEGORY_DESCRIPTIONS.items())
MetaKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]
MAX_META_TEXT = 1000
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64), StorableText]


class ImageIndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="Base64 JPEG or PNG (a data: URL prefix is accepted).")
    category: ImageCategory = Field(description=_CATEGORY_HELP)
    metadata: dict[MetaKey, Any] = Field(
        default_factory=dict,
        description="Free metadata returned with search results (item, location, finder...); "
        "at most 32 keys, 8 KB as JSON; stored encrypted.",
    )
    tags: Annotated[list[Tag], Field(max_length=32)] = Field(default_factory=list)
    captured_at: UtcDateTime | None = Field(
        default=None, description="When the photo was taken (the date-range filter); default now."
    )

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if isinstance(item, str):
                storable_text(item)
                if len(item) > MAX_META_TEXT:
                    raise ValueError(f"{key!r}: at most {MAX_META_TEXT} characters")
            elif item is not None and not isinstance(item, int | float | bool):
                raise ValueError(f"{key!r}: values are text, numbers, true/false or null")
        check_metadata(value)
        return value


class ImageIndexResponse(BaseModel):
    success: bool
    image_id: int
    category: ImageCategory
    url: str
    thumbnail_url: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    model_id: str
    captured_at: datetime
    indexed_at: datetime
    metadata: dict[str, Any]
    tags: list[str]
    category_size: int = Field(description="Images now in this category's index.")
    processing_time_ms: float


class ImageSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="Base64 JPEG or PNG (a data: URL prefix is accepted).")
    category: ImageCategory | None = Field(
        default=None, description=f"Search one category (default: all). {_CATEGORY_HELP}"
    )
    top_k: Annotated[int, Field(ge=1, le=100)] = 10
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None,
        description="Minimum cosine similarity (default: the hub's image_search_threshold).",
    )
    date_from: UtcDateTime | None = Field(default=None, description="captured_at >= date_from")
    date_to: UtcDateTime | None = Field(default=None, description="captured_at <= date_to")

    @field_validator("date_to")
    @classmethod
    def _ordered(cls, value: datetime | None, info: Any) -> datetime | None:
        start = info.data.get("date_from")
        if value is not None and start is not None and value < start:
            raise ValueError("must not be before date_from")
        return value


class ImageSearchResult(BaseModel):
    image_id: int
    similarity: float = Field(description="Cosine similarity of the embeddings, -1..1.")
    category: str
    url: str
    thumbnail_url: str | None
    width: int | None
    height: int | None
    captured_at: datetime | None
    indexed_at: datetime
    metadata: dict[str, Any]
    tags: list[str]


class ImageSearchResponse(BaseModel):
    success: bool
    results: list[ImageSearchResult]
    total_results: int
    searched: int = Field(description="Images in the searched categories' indexes.")
    model_id: str
    threshold: float
    search_time_ms: float


class ImageDeleteResponse(BaseModel):
    success: bool
    image_id: int
    category: str


class ImageSearchStatus(BaseModel):
    model_loaded: bool
    model_id: str | None
    reason: str | None
    categories: dict[str, int]
    storage: str


def _service(runtime: HubRuntime) -> ImageSearchService:
    service = runtime.image_search
    if service is None:
        raise HTTPException(status_code=503, detail="image search is not configured")
    return service


def _urls(runtime: HubRuntime, image_id: int, key: str, thumb: str | None) -> tuple[str, str]:
    """The store's own URLs (presigned on S3) when configured, else the hub's routes."""
    if runtime.settings.image_search_urls == "store":
        store = runtime.store
        try:
            return store.url_for(key), store.url_for(thumb) if thumb else ""
        except StorageError as err:
            logger.warning("store URLs unavailable, giving hub URLs: %s", err)
    base = f"{runtime.settings.public_base_url}/api/v1/cv/image/{image_id}"
    return f"{base}/file", f"{base}/thumbnail"


def _count(metrics: CvMetrics, operation: str, status: int) -> None:
    """``innsight_cv_image_search_requests{operation, outcome}``."""
    outcome = "success" if status < 400 else "unavailable" if status == 503 else "refused"
    metrics.image_search_requests.labels(operation=operation, outcome=outcome).inc()


def _unavailable(err: ImageSearchUnavailableError) -> HTTPException:
    logger.warning("image search unavailable: %s", err)
    return HTTPException(status_code=503, detail=str(err))


@router.post("/image/index", response_model=ImageIndexResponse)
async def index_image(
    runtime: Runtime, _caller: ImageIndexer, metrics: Metrics, request: ImageIndexRequest
) -> ImageIndexResponse:
    """Store an image (original + thumbnail) and add it to its category's similarity index."""
    try:
        response = await _index_image(runtime, request)
    except HTTPException as err:
        _count(metrics, "index", err.status_code)
        raise
    _count(metrics, "index", 200)
    return response


async def _index_image(runtime: HubRuntime, request: ImageIndexRequest) -> ImageIndexResponse:
    started = time.perf_counter()
    service = _service(runtime)
    image, raw, content_type = await decode_upload_keeping_bytes(
        request.image, max_bytes=runtime.settings.max_upload_bytes
    )
    try:
        done: IndexedImage = await service.index_image(
            image,
            raw,
            content_type,
            category=request.category,
            metadata=request.metadata,
            tags=request.tags,
            captured_at=request.captured_at,
        )
    except ImageSearchUnavailableError as err:
        raise _unavailable(err) from err
    url, thumbnail_url = _urls(runtime, done.image_id, done.object_key, done.thumbnail_key)
    return ImageIndexResponse(
        success=True,
        image_id=done.image_id,
        category=request.category,
        url=url,
        thumbnail_url=thumbnail_url,
        width=done.width,
        height=done.height,
        size_bytes=done.size_bytes,
        sha256=done.sha256,
        model_id=done.model_id,
        captured_at=done.captured_at,
        indexed_at=done.created_at,
        metadata=done.metadata,
        tags=done.tags,
        category_size=done.category_size,
        processing_time_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def _result(runtime: HubRuntime, hit: SearchHit) -> ImageSearchResult:
    url, thumbnail_url = _urls(runtime, hit.image_id, hit.object_key, hit.thumbnail_key)
    return ImageSearchResult(
        image_id=hit.image_id,
        similarity=hit.similarity,
        category=hit.category,
        url=url,
        thumbnail_url=thumbnail_url or None,
        width=hit.width,
        height=hit.height,
        captured_at=hit.captured_at,
        indexed_at=hit.created_at,
        metadata=hit.metadata,
        tags=hit.tags,
    )


@router.post("/image/search", response_model=ImageSearchResponse)
async def search_images(
    runtime: Runtime, _caller: ImageSearcher, metrics: Metrics, request: ImageSearchRequest
) -> ImageSearchResponse:
    """The indexed images most similar to the query image, best first."""
    try:
        response = await _search_images(runtime, request)
    except HTTPException as err:
        _count(metrics, "search", err.status_code)
        raise
    _count(metrics, "search", 200)
    return response


async def _search_images(runtime: HubRuntime, request: ImageSearchRequest) -> ImageSearchResponse:
    started = time.perf_counter()
    service = _service(runtime)
    image = await decode_upload(request.image, max_bytes=runtime.settings.max_upload_bytes)
    threshold = (
        request.threshold
        if request.threshold is not None
        else runtime.settings.image_search_threshold
    )
    try:
        outcome = await service.search(
            image,
            category=request.category,
            top_k=request.top_k,
            threshold=threshold,
            date_from=request.date_from,
            date_to=request.date_to,
        )
    except ImageSearchUnavailableError as err:
        raise _unavailable(err) from err
    results = [_result(runtime, hit) for hit in outcome.hits]
    return ImageSearchResponse(
        success=True,
        results=results,
        total_results=len(results),
        searched=outcome.searched,
        model_id=outcome.model_id,
        threshold=threshold,
        search_time_ms=round((time.perf_counter() - started) * 1000, 2),
    )


@router.get("/image/status", response_model=ImageSearchStatus)
async def image_search_status(runtime: Runtime, _caller: CvReader) -> ImageSearchStatus:
    """Whether the image model loads, and how many images each category holds."""
    service = _service(runtime)
    model = await service.model_status()
    storage = await runtime.check_storage()
    return ImageSearchStatus(
        model_loaded=model.loaded,
        model_id=model.model_id,
        reason=model.reason,
        categories=await service.counts(),
        storage="ok" if storage is None else storage,
    )


@router.get("/image/{image_id}", response_model=ImageSearchResult)
async def get_image(runtime: Runtime, _caller: CvReader, image_id: ImageId) -> ImageSearchResult:
    """One indexed image's record."""
    try:
        hit = await _service(runtime).get(image_id)
    except ImageNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error("image_id", str(err))) from err
    return _result(runtime, hit)


async def _file(runtime: HubRuntime, image_id: int, *, thumbnail: bool) -> Response:
    try:
        stored = await _service(runtime).read(image_id, thumbnail=thumbnail)
    except ImageNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error("image_id", str(err))) from err
    except ImageSearchUnavailableError as err:
        raise _unavailable(err) from err
    return Response(
        content=stored.data,
        media_type=stored.content_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get("/image/{image_id}/file", response_class=Response)
async def image_file(runtime: Runtime, _caller: CvReader, image_id: ImageId) -> Response:
    """The original image as uploaded."""
    return await _file(runtime, image_id, thumbnail=False)


@router.get("/image/{image_id}/thumbnail", response_class=Response)
async def image_thumbnail(runtime: Runtime, _caller: CvReader, image_id: ImageId) -> Response:
    """A JPEG thumbnail (longer side 256 px)."""
    return await _file(runtime, image_id, thumbnail=True)


@router.delete("/image/{image_id}", response_model=ImageDeleteResponse)
async def delete_image(
    runtime: Runtime, _caller: CvWriter, image_id: ImageId
) -> ImageDeleteResponse:
    """Remove an indexed image: its record, its files and its index entry."""
    try:
        hit = await _service(runtime).delete(image_id)
    except ImageNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error("image_id", str(err))) from err
    return ImageDeleteResponse(success=True, image_id=hit.image_id, category=hit.category)
