"""Versioned, frozen envelopes and payloads that cross the wire (DESIGN §2).

Everything here is pure pydantic: the edge builds these, the hub parses them with
:func:`parse_event`, which turns every way a message can be wrong into a :class:`ContractError`
whose code the hub's dead-letter table records.

The contract refuses what storage cannot hold (:mod:`contracts.limits`): every integer is
bounded (``seq`` within signed 64 bits, counts and sizes too) and strict (no ``true`` for ``1``),
every float finite, every datetime inside 1970..2100 UTC, every free text free of NUL and lone
surrogates and within a length limit, every list and map bounded, and the JSON itself bounded in
size, depth and number length before it is parsed.
"""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import ID_PATTERN
from contracts.limits import (
    INT32_MAX,
    INT64_MAX,
    code_for_errors,
    load_json,
    storable_text,
    storable_time,
)

SCHEMA_VERSION: Literal[1] = 1
# Ceiling for one event message on the wire; the broker's message_size_limit sits above it.
MAX_EVENT_BYTES = 256 * 1024
# Inline snapshots are small face/hazard crops; anything larger goes by reference.
MAX_INLINE_SNAPSHOT_BYTES = 96 * 1024
# base64 characters of the largest inline snapshot (4 per 3 bytes, padded).
_MAX_INLINE_B64_CHARS = (MAX_INLINE_SNAPSHOT_BYTES + 2) // 3 * 4
# Ceiling for a heartbeat and an ack on the wire.
MAX_HEARTBEAT_BYTES = 64 * 1024
MAX_ACK_BYTES = 4 * 1024 * 1024
# Items in one ack (ranges, refusals): far above what one batch of the hub produces.
MAX_ACK_ITEMS = 100_000
# Pixel coordinates and sizes (the largest camera frames are ~16k wide).
MAX_PIXELS = 100_000
# A stored object key (as hub/storage.py takes them): segments that start with a letter or
# digit, so no leading '/', no '.' or '..' segment, no spaces or control characters.
_KEY_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_OBJECT_KEY_PATTERN = rf"^{_KEY_SEGMENT}(/{_KEY_SEGMENT})*$"

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
Score = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
# Seqs (BIGINT columns): strict, so ``true`` or ``1.0`` is not a seq.
Seq = Annotated[int, Strict(), Field(ge=1, le=INT64_MAX)]
Count = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
Count32 = Annotated[int, Strict(), Field(ge=0, le=INT32_MAX)]
Pixels = Annotated[int, Strict(), Field(ge=0, le=MAX_PIXELS)]
Time = Annotated[AwareDatetime, AfterValidator(storable_time)]
# Reason codes in acks: today's ContractErrorCode values and the hub's own (apply_failed, ...),
# and whatever a newer hub adds.
ReasonCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


# Free text a database can store: bounded, no NUL, no lone surrogates.
_Storable = AfterValidator(storable_text)
Text64 = Annotated[str, Field(max_length=64), _Storable]
Text256 = Annotated[str, Field(max_length=256), _Storable]
Text512 = Annotated[str, Field(max_length=512), _Storable]
Text1024 = Annotated[str, Field(max_length=1024), _Storable]
Url = Annotated[str, Field(min_length=1, max_length=2048), _Storable]
ModelId = Annotated[str, Field(min_length=1, max_length=128), _Storable]
Fps = Annotated[float, Field(ge=0, le=10_000.0)]
AgeSeconds = Annotated[float, Field(ge=0, le=1e10)]
Load = Annotated[float, Field(ge=0, le=1e6)]
Mebibytes = Annotated[float, Field(ge=0, le=1e9)]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )


class EventKind(StrEnum):
    FACE = "face"
    ANOMALY = "anomaly"
    CAMERA = "camera"


class Phase(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


class LivenessVerdict(StrEnum):
    LIVE = "live"
    SPOOF = "spoof"
    UNCHECKED = "unchecked"


class AnomalyType(StrEnum):
    FIRE = "fire"
    SMOKE = "smoke"
    WATER = "water"
    INTRUSION = "intrusion"
    FALL = "fall"


class CameraState(StrEnum):
    LOST = "lost"
    RESTORED = "restored"


class DeviceStatus(StrEnum):
    """Plain-text payload of the retained status topic."""

    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"


class BBox(_Frozen):
    """Pixel box in the camera frame: top-left corner, width, height."""

    x: Pixels
    y: Pixels
    w: Annotated[int, Strict(), Field(gt=0, le=MAX_PIXELS)]
    h: Annotated[int, Strict(), Field(gt=0, le=MAX_PIXELS)]


class FacePayload(_Frozen):
    kind: Literal[EventKind.FACE] = EventKind.FACE
    person_id: Identifier | None = Field(
        default=None, description="Matched person, or null for an unknown face."
    )
    score: Score = Field(description="Best match similarity over the appearance (cosine, 0..1).")
    liveness_score: Score | None = None
    liveness: LivenessVerdict = LivenessVerdict.UNCHECKED
    bbox: BBox
    track_id: Count
    model_id: ModelId
    gallery_version: Count32 | None = None
    frames: Annotated[int, Strict(), Field(ge=1, le=INT64_MAX)] = Field(
        default=1, description="Frames in which the face was seen so far."
    )


class AnomalyPayload(_Frozen):
    kind: Literal[EventKind.ANOMALY] = EventKind.ANOMALY
    type: AnomalyType
    score: Score
    bbox: BBox | None = None
    zone: Text64 | None = None


class CameraPayload(_Frozen):
    kind: Literal[EventKind.CAMERA] = EventKind.CAMERA
    state: CameraState
    reason: Text512 | None = None


Payload = Annotated[FacePayload | AnomalyPayload | CameraPayload, Field(discriminator="kind")]


class Snapshot(_Frozen):
    """A JPEG crop travelling inline (base64, capped) or as a reference into the object store."""

    content_type: Literal["image/jpeg"] = "image/jpeg"
    jpeg_b64: str | None = None
    ref: Annotated[str, Field(max_length=512, pattern=_OBJECT_KEY_PATTERN)] | None = None

    @field_validator("jpeg_b64")
    @classmethod
    def _small(cls, value: str | None) -> str | None:
        # base64 length -> decoded bytes; cheap check before any decode
        if value is not None and len(value) > _MAX_INLINE_B64_CHARS:
            raise PydanticCustomError(
                "too_long",
                "inline snapshot over {limit} bytes: send it by ref",
                {"limit": MAX_INLINE_SNAPSHOT_BYTES},
            )
        return value

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.jpeg_b64 is None) == (self.ref is None):
            raise ValueError("a snapshot carries exactly one of jpeg_b64 or ref")
        if self.jpeg_b64 is not None:
            try:
                base64.b64decode(self.jpeg_b64, validate=True)
            except ValueError as err:
                raise ValueError("snapshot jpeg_b64 is not valid base64") from err
        return self

    def jpeg_bytes(self) -> bytes | None:
        return base64.b64decode(self.jpeg_b64) if self.jpeg_b64 is not None else None


class EventEnvelope(_Frozen):
    """One message about one appearance (DESIGN §2).

    ``(device_id, seq)`` names the message; ``event_id`` names the appearance and is shared by
    its ``new``, ``update`` and ``end`` messages.
    """

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    device_id: Identifier
    seq: Seq
    event_id: UUID
    phase: Phase
    camera_id: Identifier
    kind: EventKind
    started_at: Time
    ended_at: Time | None = None
    payload: Payload
    snapshot: Snapshot | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.payload.kind != self.kind:
            raise ValueError(f"payload kind {self.payload.kind} does not match kind {self.kind}")
        if self.phase is Phase.END and self.ended_at is None:
            raise ValueError("an 'end' message needs ended_at")
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


_EVENT_KINDS = frozenset(k.value for k in EventKind)
_M = TypeVar("_M", bound=BaseModel)


def parse_event(raw: bytes) -> EventEnvelope:
    """Validate raw bytes as an :class:`EventEnvelope`, naming what is wrong when they are not.

    Raises :class:`ContractError` and nothing else, whatever the bytes."""
    data = load_json(raw, MAX_EVENT_BYTES)
    if not isinstance(data, dict):
        raise ContractError(ContractErrorCode.INVALID, "an event must be a JSON object")
    schema = data.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise ContractError(
            ContractErrorCode.UNSUPPORTED_SCHEMA,
            f"schema {_quote(schema)} is not supported (expected {SCHEMA_VERSION})",
        )
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _EVENT_KINDS:
        raise ContractError(ContractErrorCode.UNKNOWN_KIND, f"unknown event kind {_quote(kind)}")
    return _validate(EventEnvelope, data)


def parse_heartbeat(raw: bytes) -> Heartbeat:
    """Validate raw bytes as a :class:`Heartbeat`; raises :class:`ContractError` only."""
    data = load_json(raw, MAX_HEARTBEAT_BYTES)
    if not isinstance(data, dict):
        raise ContractError(ContractErrorCode.INVALID, "a heartbeat must be a JSON object")
    return _validate(Heartbeat, data)


def parse_ack(raw: bytes) -> AckMessage:
    """Validate raw bytes as an :class:`AckMessage`; raises :class:`ContractError` only."""
    data = load_json(raw, MAX_ACK_BYTES)
    if not isinstance(data, dict):
        raise ContractError(ContractErrorCode.INVALID, "an ack must be a JSON object")
    return _validate(AckMessage, data)


def peek_seq(raw: bytes) -> int | None:
    """The ``seq`` of a refused event message when it can be read safely (to ack it); an
    oversize message is read up to four times the limit."""
    try:
        data = load_json(raw, 4 * MAX_EVENT_BYTES)
    except ContractError:
        return None
    if isinstance(data, dict):
        seq = data.get("seq")
        if type(seq) is int and 1 <= seq <= INT64_MAX:
            return seq
    return None


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        code = code_for_errors([e["type"] for e in err.errors()])
        raise ContractError(code, _summarise(err)) from None


def _quote(value: object) -> str:
    """A value from a message, made safe to store and log (bounded, escaped)."""
    text = ascii(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _loc_part(part: object) -> str:
    text = str(part)
    if text.isascii() and text.isprintable() and len(text) <= 64:
        return text
    return _quote(part)


def _summarise(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(_loc_part(p) for p in e["loc"]) or "<root>"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


class Refusal(_Frozen):
    """A message the hub will never store: dead-lettered once, with the reason."""

    seq: Seq
    reason: ReasonCode


class AckMessage(_Frozen):
    """Seqs the hub has committed, as inclusive ranges, sent on ``.../acks`` after the commit.

    ``ranges`` covers every seq the edge may release: stored messages, redeliveries, and
    messages refused for good. ``refused`` names the refused ones with their reason (absent on
    the wire when empty, so an ack without refusals is byte-for-byte the older format)."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    device_id: Identifier
    ranges: list[tuple[Seq, Seq]] = Field(min_length=1, max_length=MAX_ACK_ITEMS)
    refused: list[Refusal] = Field(default_factory=list, max_length=MAX_ACK_ITEMS)

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, value: list[tuple[int, int]]) -> list[tuple[int, int]]:
        previous_end = 0
        for start, end in value:
            if start > end:
                raise ValueError(f"range {start}-{end} is reversed")
            if start <= previous_end:
                raise ValueError("ranges must be sorted and must not overlap")
            previous_end = end
        return value

    def seqs(self) -> list[int]:
        return [s for start, end in self.ranges for s in range(start, end + 1)]

    def to_json_bytes(self) -> bytes:
        exclude = None if self.refused else {"refused"}
        return self.model_dump_json(by_alias=True, exclude=exclude).encode()


def seqs_to_ranges(seqs: list[int] | set[int]) -> list[tuple[int, int]]:
    """Collapse seqs into sorted inclusive ranges: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], s)
        else:
            ranges.append((s, s))
    return ranges


class CameraStats(_Frozen):
    fps: Fps
    frames: Count = 0
    dropped_frames: Count = 0
    connected: bool = True


class Heartbeat(_Frozen):
    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    device_id: Identifier
    sent_at: Time
    cameras: dict[Identifier, CameraStats] = Field(default_factory=dict, max_length=256)
    outbox_depth: Count = 0
    outbox_oldest_age_s: AgeSeconds | None = None
    dropped_events: Count = 0
    refused_events: Count = Field(
        default=0,
        description="Outbox rows dropped because the hub refused them for good (acks' refused).",
    )
    gallery_version: Count32 | None = None
    models: dict[Text64, Text256] = Field(default_factory=dict, max_length=64)
    providers: list[Text64] = Field(default_factory=list, max_length=16)
    gpu: Text256 | None = None
    cpu_load: Load | None = Field(
        default=None, description="1-minute load average divided by the number of cores."
    )
    rss_mb: Mebibytes | None = Field(
        default=None, description="Resident memory of the agent process, MiB."
    )
    version: Text64 | None = Field(
        default=None, description="The edge's innsight release (its package version)."
    )

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class GalleryVersion(_Frozen):
    """Retained on ``.../gallery/version``: where the newest gallery is and how to verify it."""

    version: Annotated[int, Strict(), Field(ge=1, le=INT32_MAX)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    url: Url
    model_id: ModelId
    people: Count32

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class GalleryPerson(_Frozen):
    person_id: Identifier
    # float32 little-endian, row after row, base64: compact and pydantic-only.
    embeddings_b64: str


class TemplateProtection(_Frozen):
    """How a snapshot's templates are protected (issue 17 item 4): every embedding was rotated
    by the orthogonal matrix of ``transform_key`` (``edge_agent.index.template_transform``), and
    probes must be rotated by the same matrix before matching. The key travels only inside the
    snapshot (sealed in the hub's object store, over the edge's authenticated HTTPS download,
    sealed in the edge's gallery file); ``key_id`` names the key generation (re-keying)."""

    scheme: Literal["orthogonal-v1"] = "orthogonal-v1"
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    transform_key_b64: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]

    @property
    def transform_key(self) -> bytes:
        return base64.b64decode(self.transform_key_b64)


class GallerySnapshot(_Frozen):
    """The gallery artefact itself (person ids + embeddings + the model that made them);
    ``protection`` says which site-keyed transform the embeddings are under (None: in clear,
    a gallery from before issue 17)."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    version: Annotated[int, Field(ge=1)]
    model_id: str = Field(min_length=1, max_length=128)
    dim: Annotated[int, Field(gt=0)]
    created_at: datetime
    people: list[GalleryPerson]
    protection: TemplateProtection | None = None

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class Command(_Frozen):
    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    command: Literal["reload_config", "resync_gallery", "snapshot"]
    args: dict[Text64, Text1024] = Field(default_factory=dict, max_length=32)
