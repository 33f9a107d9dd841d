"""/api/v1/cv/image: index images and search them by similarity (issue 5; the seeds' request
and response shapes, issue 13: ``query_image``, ``filters.date_range``, ``metadata.category``,
string image ids ``IMG_<category>[_<room>]_<n>``, ``total_found``).

Access: indexing and deletion need ``cv:write``; search, reading an indexed image and the
status need ``cv:read``. Index and search run a model and are rate limited per caller.
Images are base64 JPEG or PNG (a ``data:`` URL prefix is accepted), decoded by
:mod:`hub.vision.decode`; every refusal is a 4xx naming the field and the reason.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response, Security
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

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
    TOTAL_FOUND_CAP,
    ImageCategory,
    ImageNotFoundError,
    ImageSearchService,
    ImageSearchUnavailableError,
    IndexedImage,
    SearchHit,
    check_metadata,
    public_image_id,
    row_id_of,
    vector_id_of,
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
ImageId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

_CATEGORY_HELP = "; ".join(f"{c.value}: {d}" for c, d in CATEGORY_DESCRIPTIONS.items())
MetaKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]
MAX_META_TEXT = 1000
_CATEGORIES = tuple(c.value for c in ImageCategory)
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64), StorableText]


SEED_INDEX_EXAMPLES: list[JsonValue] = [
    {  # 004_51257e8afc5aac28.txt, POST /api/v1/cv/image/index
        "image": "base64_encoded_image",
        "metadata": {
            "category": "room",
            "room_number": "201",
            "tags": ["clean", "ready", "deluxe"],
            "description": "Deluxe room ready for guest",
            "photographer": "EMP005",
        },
    },
    {  # 000_3e23a4a0d17304c3.txt
        "image": "base64_encoded_image",
        "metadata": {"category": "room", "room_number": "201", "tags": ["clean", "ready"]},
    },
]
SEED_SEARCH_EXAMPLES: list[JsonValue] = [
    {  # 004_51257e8afc5aac28.txt, POST /api/v1/cv/image/search
        "query_image": "base64_encoded_image",
        "category": "lost_found",
        "top_k": 10,
        "threshold": 0.7,
        "filters": {"date_range": {"start": "2025-01-01", "end": "2025-01-17"}},
    },
    {  # 000_3e23a4a0d17304c3.txt ("room|lost_found|amenity": one of them)
        "query_image": "base64_encoded_image",
        "category": "room|lost_found|amenity",
        "top_k": 10,
        "threshold": 0.7,
    },
]


class ImageIndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": SEED_INDEX_EXAMPLES})

    image: str = Field(description="Base64 JPEG or PNG (a data: URL prefix is accepted).")
    metadata: dict[MetaKey, Any] = Field(
        default_factory=dict,
        description="Returned with search results: category (required here or at the top "
        "level), room_number, tags (a list of text), description, photographer, location, "
        "item_type...; other values are text, numbers, true/false or null; at most 32 keys, "
        "8 KB as JSON; stored encrypted.",
    )
    category: ImageCategory | None = Field(
        default=None, description=f"Same as metadata.category. {_CATEGORY_HELP}"
    )
    tags: Annotated[list[Tag], Field(max_length=32)] = Field(
        default_factory=list, description="Added to metadata.tags."
    )
    captured_at: UtcDateTime | None = Field(
        default=None, description="When the photo was taken (the date-range filter); default now."
    )

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if key == "tags":
                if not isinstance(item, list) or not all(isinstance(t, str) for t in item):
                    raise ValueError("'tags': a list of text")
                if len(item) > 32:
                    raise ValueError("'tags': at most 32")
                for tag in item:
                    storable_text(tag)
                    if not 1 <= len(tag) <= 64:
                        raise ValueError("'tags': each 1 to 64 characters")
            elif key == "category":
                if item not in {c.value for c in ImageCategory}:
                    raise ValueError(
                        f"'category': one of {', '.join(c.value for c in ImageCategory)}"
                    )
            elif isinstance(item, str):
                storable_text(item)
                if len(item) > MAX_META_TEXT:
                    raise ValueError(f"{key!r}: at most {MAX_META_TEXT} characters")
            elif item is not None and not isinstance(item, int | float | bool):
                raise ValueError(f"{key!r}: values are text, numbers, true/false or null")
        check_metadata(value)
        return value

    def resolved(self) -> tuple[ImageCategory, dict[str, Any], list[str]]:
        """(category, metadata to store without category and tags, all tags); raises
        ``ValueError`` when the category is missing or given twice differently."""
        inner = self.metadata.get("category")
        if self.category is None and inner is None:
            raise ValueError(f"required: one of {', '.join(_CATEGORIES)}")
        if self.category is not None and inner is not None and inner != self.category.value:
            raise ValueError(f"{inner!r} differs from category {self.category.value!r}")
        category = self.category or ImageCategory(str(inner))
        stored = {k: v for k, v in self.metadata.items() if k not in ("category", "tags")}
        tags = list(dict.fromkeys([*self.metadata.get("tags", []), *self.tags]))
        return category, stored, tags


class ImageIndexResponse(BaseModel):
    success: bool
    image_id: str = Field(description="IMG_<category>[_<room>]_<n>: use it in /image/{image_id}.")
    vector_id: str = Field(description="The image's entry in its category's vector index.")
    storage_url: str = Field(description="The original (same as url).")
    indexed_at: datetime
    category: ImageCategory
    url: str
    thumbnail_url: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    model_id: str
    captured_at: datetime
    metadata: dict[str, Any]
    tags: list[str]
    category_size: int = Field(description="Images now in this category's index.")
    processing_time_ms: float


class DateRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date | None = Field(default=None, description="First day (UTC), inclusive.")
    end: date | None = Field(default=None, description="Last day (UTC), inclusive.")

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("date_range: end is before start")
        return self


class SearchFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_range: DateRange | None = Field(
        default=None, description="Keeps images whose captured_at falls on these days."
    )


class ImageSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": SEED_SEARCH_EXAMPLES})

    query_image: str = Field(
        validation_alias=AliasChoices("query_image", "image"),
        description="Base64 JPEG or PNG (a data: URL prefix is accepted); `image` also works.",
    )
    category: ImageCategory | None = Field(
        default=None, description=f"Search one category (default: all). {_CATEGORY_HELP}"
    )
    top_k: Annotated[int, Field(ge=1, le=100)] = 10
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None,
        description="Minimum cosine similarity (default: the hub's image_search_threshold).",
    )
    filters: SearchFilters | None = None
    date_from: UtcDateTime | None = Field(default=None, description="captured_at >= date_from")
    date_to: UtcDateTime | None = Field(default=None, description="captured_at <= date_to")

    @field_validator("date_to")
    @classmethod
    def _ordered(cls, value: datetime | None, info: Any) -> datetime | None:
        start = info.data.get("date_from")
        if value is not None and start is not None and value < start:
            raise ValueError("must not be before date_from")
        return value

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The captured_at window: date_from/date_to and filters.date_range, intersected."""
        lows = [self.date_from] if self.date_from else []
        highs = [self.date_to] if self.date_to else []
        span = self.filters.date_range if self.filters else None
        if span is not None and span.start is not None:
            lows.append(datetime.combine(span.start, dtime.min, tzinfo=UTC))
        if span is not None and span.end is not None:
            highs.append(datetime.combine(span.end, dtime.max, tzinfo=UTC))
        return (max(lows) if lows else None, min(highs) if highs else None)


class ImageSearchResult(BaseModel):
    image_id: str
    similarity: float = Field(description="Cosine similarity of the embeddings, -1..1.")
    metadata: dict[str, Any] = Field(
        description="What was indexed, with category, tags and upload_time added."
    )
    url: str
    thumbnail_url: str | None
    vector_id: str
    category: str
    width: int | None
    height: int | None
    captured_at: datetime | None
    indexed_at: datetime
    tags: list[str]


class ImageSearchResponse(BaseModel):
    results: list[ImageSearchResult]
    total_found: int = Field(
        description="Images passing the filters and the threshold (results: the best top_k); "
        f"counted among the {TOTAL_FOUND_CAP} nearest per category."
    )
    search_time_ms: float
    success: bool
    total_results: int
    searched: int = Field(description="Images in the searched categories' indexes.")
    model_id: str
    threshold: float


class ImageDeleteResponse(BaseModel):
    success: bool
    image_id: str
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


def _urls(runtime: HubRuntime, public_id: str, key: str, thumb: str | None) -> tuple[str, str]:
    """The store's own URLs (presigned on S3) when configured, else the hub's routes."""
    if runtime.settings.image_search_urls == "store":
        store = runtime.store
        try:
            return store.url_for(key), store.url_for(thumb) if thumb else ""
        except StorageError as err:
            logger.warning("store URLs unavailable, giving hub URLs: %s", err)
    base = f"{runtime.settings.public_base_url}/api/v1/cv/image/{public_id}"
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
    try:
        category, metadata, tags = request.resolved()
    except ValueError as err:
        raise HTTPException(
            status_code=422, detail=field_error("metadata.category", str(err))
        ) from None
    image, raw, content_type = await decode_upload_keeping_bytes(
        request.image, max_bytes=runtime.settings.max_upload_bytes
    )
    try:
        done: IndexedImage = await service.index_image(
            image,
            raw,
            content_type,
            category=category,
            metadata=metadata,
            tags=tags,
            captured_at=request.captured_at,
        )
    except ImageSearchUnavailableError as err:
        raise _unavailable(err) from err
    public_id = public_image_id(done.image_id, done.category, done.metadata.get("room_number"))
    url, thumbnail_url = _urls(runtime, public_id, done.object_key, done.thumbnail_key)
    return ImageIndexResponse(
        success=True,
        image_id=public_id,
        vector_id=vector_id_of(done.image_id),
        storage_url=url,
        indexed_at=done.created_at,
        category=category,
        url=url,
        thumbnail_url=thumbnail_url,
        width=done.width,
        height=done.height,
        size_bytes=done.size_bytes,
        sha256=done.sha256,
        model_id=done.model_id,
        captured_at=done.captured_at,
        metadata=_result_metadata(done.metadata, done.category, done.tags, done.created_at),
        tags=done.tags,
        category_size=done.category_size,
        processing_time_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def _result_metadata(
    stored: dict[str, Any], category: str, tags: list[str], uploaded: datetime
) -> dict[str, Any]:
    return {
        **stored,
        "category": category,
        "tags": list(tags),
        "upload_time": uploaded.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def _public_id(hit: SearchHit) -> str:
    return public_image_id(hit.image_id, hit.category, hit.metadata.get("room_number"))


def _result(runtime: HubRuntime, hit: SearchHit) -> ImageSearchResult:
    public_id = _public_id(hit)
    url, thumbnail_url = _urls(runtime, public_id, hit.object_key, hit.thumbnail_key)
    return ImageSearchResult(
        image_id=public_id,
        similarity=hit.similarity,
        metadata=_result_metadata(hit.metadata, hit.category, hit.tags, hit.created_at),
        url=url,
        thumbnail_url=thumbnail_url or None,
        vector_id=vector_id_of(hit.image_id),
        category=hit.category,
        width=hit.width,
        height=hit.height,
        captured_at=hit.captured_at,
        indexed_at=hit.created_at,
        tags=hit.tags,
    )


@router.post("/image/search", response_model=ImageSearchResponse)
async def search_images(
    runtime: Runtime, _caller: ImageSearcher, metrics: Metrics, request: ImageSearchRequest
) -> ImageSearchResponse:
    """The indexed images most similar to the query image, best first."""
    started = time.perf_counter()
    try:
        response = await _search_images(runtime, request)
    except HTTPException as err:
        _count(metrics, "search", err.status_code)
        raise
    _count(metrics, "search", 200)
    metrics.image_search_total.labels(request.category.value if request.category else "all").inc()
    metrics.image_search_duration.observe(time.perf_counter() - started)
    return response


async def _search_images(runtime: HubRuntime, request: ImageSearchRequest) -> ImageSearchResponse:
    started = time.perf_counter()
    service = _service(runtime)
    image = await decode_upload(
        request.query_image, max_bytes=runtime.settings.max_upload_bytes, field="query_image"
    )
    threshold = (
        request.threshold
        if request.threshold is not None
        else runtime.settings.image_search_threshold
    )
    date_from, date_to = request.window()
    if date_from is not None and date_to is not None and date_to < date_from:
        raise HTTPException(
            status_code=422,
            detail=field_error("filters.date_range", "does not overlap date_from..date_to"),
        )
    try:
        outcome = await service.search(
            image,
            category=request.category,
            top_k=request.top_k,
            threshold=threshold,
            date_from=date_from,
            date_to=date_to,
        )
    except ImageSearchUnavailableError as err:
        raise _unavailable(err) from err
    results = [_result(runtime, hit) for hit in outcome.hits]
    return ImageSearchResponse(
        results=results,
        total_found=outcome.total_found,
        search_time_ms=round((time.perf_counter() - started) * 1000, 2),
        success=True,
        total_results=len(results),
        searched=outcome.searched,
        model_id=outcome.model_id,
        threshold=threshold,
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


async def _hit(runtime: HubRuntime, image_id: str) -> SearchHit:
    """The image named by its public id (``IMG_ROOM_201_42``) or its bare number; 404 else."""
    row_id = row_id_of(image_id)
    not_found = HTTPException(
        status_code=404, detail=field_error("image_id", f"no indexed image {image_id}")
    )
    if row_id is None:
        raise not_found
    try:
        hit = await _service(runtime).get(row_id)
    except ImageNotFoundError as err:
        raise not_found from err
    if not image_id.isdigit() and _public_id(hit) != image_id:
        raise not_found
    return hit


@router.get("/image/{image_id}", response_model=ImageSearchResult)
async def get_image(runtime: Runtime, _caller: CvReader, image_id: ImageId) -> ImageSearchResult:
    """One indexed image's record."""
    return _result(runtime, await _hit(runtime, image_id))


async def _file(runtime: HubRuntime, image_id: str, *, thumbnail: bool) -> Response:
    hit = await _hit(runtime, image_id)
    try:
        stored = await _service(runtime).read(hit.image_id, thumbnail=thumbnail)
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
    hit = await _hit(runtime, image_id)
    try:
        await _service(runtime).delete(hit.image_id)
    except ImageNotFoundError as err:
        raise HTTPException(status_code=404, detail=field_error("image_id", str(err))) from err
    return ImageDeleteResponse(success=True, image_id=_public_id(hit), category=hit.category)
