"""Versioned, frozen envelopes and payloads that cross the wire (DESIGN §2).

Everything here is pure pydantic: the edge builds these, the hub parses them with
:func:`parse_event`, which turns every way a message can be wrong into a :class:`ContractError`
whose code the hub's dead-letter table records.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.errors import ContractError, ContractErrorCode
from contracts.ids import ID_PATTERN

SCHEMA_VERSION: Literal[1] = 1
# Ceiling for one event message on the wire; the broker's message_size_limit sits above it.
MAX_EVENT_BYTES = 256 * 1024
# Inline snapshots are small face/hazard crops; anything larger goes by reference.
MAX_INLINE_SNAPSHOT_BYTES = 96 * 1024

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


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

    x: Annotated[int, Field(ge=0)]
    y: Annotated[int, Field(ge=0)]
    w: Annotated[int, Field(gt=0)]
    h: Annotated[int, Field(gt=0)]


class FacePayload(_Frozen):
    kind: Literal[EventKind.FACE] = EventKind.FACE
    person_id: Identifier | None = Field(
        default=None, description="Matched person, or null for an unknown face."
    )
    score: Score = Field(description="Best match similarity over the appearance (cosine, 0..1).")
    liveness_score: Score | None = None
    liveness: LivenessVerdict = LivenessVerdict.UNCHECKED
    bbox: BBox
    track_id: Annotated[int, Field(ge=0)]
    model_id: str = Field(min_length=1, max_length=128)
    gallery_version: Annotated[int, Field(ge=0)] | None = None
    frames: Annotated[int, Field(ge=1)] = Field(
        default=1, description="Frames in which the face was seen so far."
    )


class AnomalyPayload(_Frozen):
    kind: Literal[EventKind.ANOMALY] = EventKind.ANOMALY
    type: AnomalyType
    score: Score
    bbox: BBox | None = None
    zone: str | None = Field(default=None, max_length=64)


class CameraPayload(_Frozen):
    kind: Literal[EventKind.CAMERA] = EventKind.CAMERA
    state: CameraState
    reason: str | None = Field(default=None, max_length=512)


Payload = Annotated[FacePayload | AnomalyPayload | CameraPayload, Field(discriminator="kind")]


class Snapshot(_Frozen):
    """A JPEG crop travelling inline (base64, capped) or as a reference into the object store."""

    content_type: Literal["image/jpeg"] = "image/jpeg"
    jpeg_b64: str | None = None
    ref: str | None = Field(default=None, max_length=512)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.jpeg_b64 is None) == (self.ref is None):
            raise ValueError("a snapshot carries exactly one of jpeg_b64 or ref")
        if self.jpeg_b64 is not None:
            # base64 length -> decoded bytes; cheap check before any decode
            if len(self.jpeg_b64) * 3 // 4 > MAX_INLINE_SNAPSHOT_BYTES:
                raise ValueError(
                    f"inline snapshot over {MAX_INLINE_SNAPSHOT_BYTES} bytes: send it by ref"
                )
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
    seq: Annotated[int, Field(ge=1)]
    event_id: UUID
    phase: Phase
    camera_id: Identifier
    kind: EventKind
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
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


def parse_event(raw: bytes) -> EventEnvelope:
    """Validate raw bytes as an :class:`EventEnvelope`, naming what is wrong when they are not."""
    if len(raw) > MAX_EVENT_BYTES:
        raise ContractError(
            ContractErrorCode.OVERSIZE, f"{len(raw)} bytes > limit {MAX_EVENT_BYTES}"
        )
    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ContractError(ContractErrorCode.BAD_JSON, str(err)) from None
    if not isinstance(data, dict):
        raise ContractError(ContractErrorCode.INVALID, "an event must be a JSON object")
    if data.get("schema") != SCHEMA_VERSION:
        raise ContractError(
            ContractErrorCode.UNSUPPORTED_SCHEMA,
            f"schema {data.get('schema')!r} is not supported (expected {SCHEMA_VERSION})",
        )
    kind = data.get("kind")
    if kind not in {k.value for k in EventKind}:
        raise ContractError(ContractErrorCode.UNKNOWN_KIND, f"unknown event kind {kind!r}")
    try:
        return EventEnvelope.model_validate(data)
    except ValidationError as err:
        raise ContractError(ContractErrorCode.INVALID, _summarise(err)) from None


def _summarise(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


class AckMessage(_Frozen):
    """Seqs the hub has committed, as inclusive ranges, sent on ``.../acks`` after the commit."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    device_id: Identifier
    ranges: list[tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]] = Field(
        min_length=1
    )

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
        return self.model_dump_json(by_alias=True).encode()


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
    fps: Annotated[float, Field(ge=0)]
    frames: Annotated[int, Field(ge=0)] = 0
    dropped_frames: Annotated[int, Field(ge=0)] = 0
    connected: bool = True


class Heartbeat(_Frozen):
    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    device_id: Identifier
    sent_at: AwareDatetime
    cameras: dict[str, CameraStats] = Field(default_factory=dict)
    outbox_depth: Annotated[int, Field(ge=0)] = 0
    outbox_oldest_age_s: Annotated[float, Field(ge=0)] | None = None
    dropped_events: Annotated[int, Field(ge=0)] = 0
    gallery_version: Annotated[int, Field(ge=0)] | None = None
    models: dict[str, str] = Field(default_factory=dict)
    providers: list[str] = Field(default_factory=list)
    gpu: str | None = None
    cpu_load: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="1-minute load average divided by the number of cores."
    )
    rss_mb: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="Resident memory of the agent process, MiB."
    )

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class GalleryVersion(_Frozen):
    """Retained on ``.../gallery/version``: where the newest gallery is and how to verify it."""

    version: Annotated[int, Field(ge=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    url: str = Field(min_length=1, max_length=2048)
    model_id: str = Field(min_length=1, max_length=128)
    people: Annotated[int, Field(ge=0)]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class GalleryPerson(_Frozen):
    person_id: Identifier
    # float32 little-endian, row after row, base64: compact and pydantic-only.
    embeddings_b64: str


class GallerySnapshot(_Frozen):
    """The gallery artefact itself (person ids + embeddings + the model that made them)."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    version: Annotated[int, Field(ge=1)]
    model_id: str = Field(min_length=1, max_length=128)
    dim: Annotated[int, Field(gt=0)]
    created_at: datetime
    people: list[GalleryPerson]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class Command(_Frozen):
    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    command: Literal["reload_config", "resync_gallery", "snapshot"]
    args: dict[str, str] = Field(default_factory=dict)
