"""The hub's tables (SQLModel families ``XBase / XCreate / XPublic / X(table=True)``).

Datetimes are timezone-aware and stored as UTC (:class:`UTCDateTime`: ``timestamptz`` on
PostgreSQL, naive UTC text on SQLite, always returned aware). Embeddings are float32
little-endian bytes. Personal fields are plain columns for now; encryption at rest (DESIGN §7)
comes with the key-management issue.
"""

# No ``from __future__ import annotations``: SQLModel reads the annotations at class creation.

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, Text, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from contracts.ids import ID_PATTERN
from hub.audit_chain import chain_on_insert
from hub.crypto import EncryptedBytes, EncryptedString

ID_MAX = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column: attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------


class EmployeeBase(SQLModel):
    employee_id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] = Field(max_length=ID_MAX)
    name: str = Field(min_length=1, max_length=200)
    department: str | None = Field(default=None, max_length=100)
    position: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    shift_start: str | None = Field(default=None, max_length=5, description="HH:MM local")
    shift_end: str | None = Field(default=None, max_length=5, description="HH:MM local")
    is_active: bool = True


class EmployeeCreate(EmployeeBase):
    pass


class EmployeePublic(EmployeeBase):
    id: int
    face_consent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Employee(EmployeeBase, table=True):
    __tablename__ = "employees"

    id: int | None = Field(default=None, primary_key=True)
    email: str | None = Field(default=None, sa_type=EncryptedString)  # PII, encrypted at rest
    phone: str | None = Field(default=None, sa_type=EncryptedString)
    employee_id: str = Field(max_length=ID_MAX, unique=True, index=True)
    face_consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # hub/hotel: the employee opted in to attendance by camera (else PIN / badge)
    attendance_camera: bool = Field(default=False)
    # hub/privacy/consent: face consent withdrawn -> PIN / badge only; face sightings ignored
    non_biometric_checkin: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ConsentRecord(SQLModel, table=True):
    """A person's consent to face processing (hub/privacy/consent.py): which notice (version,
    language) was shown, for what purpose, how and when it was given, who recorded it, and its
    withdrawal. Never edited otherwise; a new consent is a new row."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_employee", "employee_id", "withdrawn_at"),)

    id: int | None = Field(default=None, primary_key=True)
    employee_id: str = Field(max_length=ID_MAX)
    purpose: str = Field(max_length=16, description="attendance | access | safety")
    notice_version: str = Field(max_length=32)
    notice_language: str = Field(max_length=8, description="vi | en")
    method: str = Field(max_length=24, description="signed_paper | electronic | verbal_recorded")
    given_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    recorded_by: str = Field(max_length=128)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    withdrawn_by: str | None = Field(default=None, max_length=128)


class AttendanceLog(SQLModel, table=True):
    __tablename__ = "attendance_logs"
    __table_args__ = (Index("ix_attendance_employee_date", "employee_id", "work_date"),)

    id: int | None = Field(default=None, primary_key=True)
    employee_id: str = Field(max_length=ID_MAX, foreign_key="employees.employee_id")
    work_date: date
    check_in_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    check_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    method: str = Field(default="face", max_length=16, description="face | pin | badge | manual")
    status: str = Field(default="present", max_length=16, description="present | late | absent")
    device_id: str | None = Field(default=None, max_length=ID_MAX)
    camera_id: str | None = Field(default=None, max_length=ID_MAX)
    event_id: uuid.UUID | None = Field(default=None, foreign_key="events.event_id")
    confidence: float | None = Field(default=None, description="of the check-in's recognition")
    # an explicit check-out (/api/v1/prefect/events/attendance): where, and how sure
    check_out_camera_id: str | None = Field(default=None, max_length=ID_MAX)
    check_out_confidence: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class GuestBase(SQLModel):
    guest_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="the hotel's own guest id (GUEST001): what the API takes and answers",
    )
    full_name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    nationality: str | None = Field(default=None, max_length=2, description="ISO 3166 alpha-2")
    date_of_birth: date | None = None
    id_document_type: str | None = Field(default=None, max_length=32)
    id_document_number: str | None = Field(default=None, max_length=64)
    vip: bool = False
    loyalty_tier: str | None = Field(default=None, max_length=32)
    notes: str | None = Field(default=None, sa_type=Text)


class GuestCreate(GuestBase):
    pass


class GuestPublic(GuestBase):
    id: int
    created_at: datetime


class Guest(GuestBase, table=True):
    """Contact and identity fields are encrypted at rest (DESIGN §7, hub/crypto.py): they cannot
    be compared in SQL; a lookup by email needs a blind-index column (add it with that query)."""

    __tablename__ = "guests"
    # a named unique index (not a column constraint): migrations can add it to a table
    __table_args__ = (
        Index("ux_guests_guest_ref", "guest_ref", unique=True),
        Index("ix_guests_email_bidx", "email_bidx"),
    )

    id: int | None = Field(default=None, primary_key=True)
    guest_ref: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, sa_type=EncryptedString)
    # hub/hotel: blind index of the e-mail (PiiCipher.blind_index), for lookups by e-mail
    email_bidx: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, sa_type=EncryptedString)
    id_document_number: str | None = Field(default=None, sa_type=EncryptedString)
    notes: str | None = Field(default=None, sa_type=EncryptedString)
    face_consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# ---------------------------------------------------------------------------------------------
# Rooms and bookings
# ---------------------------------------------------------------------------------------------


class RoomType(SQLModel, table=True):
    """A room type (hub/hotel): capacity, rack rate and the pricing floor/ceiling;
    ``rooms.room_type`` and ``bookings.room_type`` hold its ``code``."""

    __tablename__ = "room_types"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=100)
    capacity: int = Field(default=2, ge=1)
    rack_rate: Decimal = Field(max_digits=10, decimal_places=2, ge=0)
    price_floor: Decimal | None = Field(default=None, max_digits=10, decimal_places=2, ge=0)
    price_ceiling: Decimal | None = Field(default=None, max_digits=10, decimal_places=2, ge=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RoomBase(SQLModel):
    room_number: str = Field(min_length=1, max_length=16)
    room_type: str = Field(max_length=32, description="single | double | twin | suite | ...")
    floor: int
    status: str = Field(
        default="available",
        max_length=16,
        description="available | occupied | cleaning | maintenance | out_of_order",
    )
    capacity: int = Field(default=2, ge=1)
    base_rate: Decimal = Field(default=Decimal("0"), max_digits=10, decimal_places=2, ge=0)
    amenities: list[str] = Field(default_factory=list, sa_type=JSONType)


class RoomCreate(RoomBase):
    pass


class RoomPublic(RoomBase):
    id: int
    updated_at: datetime


class Room(RoomBase, table=True):
    __tablename__ = "rooms"

    id: int | None = Field(default=None, primary_key=True)
    room_number: str = Field(max_length=16, unique=True, index=True)
    status: str = Field(default="available", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class BookingBase(SQLModel):
    booking_ref: str = Field(min_length=1, max_length=32)
    guest_id: int = Field(foreign_key="guests.id")
    room_id: int | None = Field(default=None, foreign_key="rooms.id")
    check_in_date: date
    check_out_date: date
    status: str = Field(
        default="reserved",
        max_length=16,
        description="reserved | checked_in | checked_out | cancelled | no_show",
    )
    adults: int = Field(default=1, ge=1)
    children: int = Field(default=0, ge=0)
    rate_per_night: Decimal = Field(default=Decimal("0"), max_digits=10, decimal_places=2, ge=0)
    total_amount: Decimal = Field(default=Decimal("0"), max_digits=12, decimal_places=2, ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    channel: str = Field(default="direct", max_length=32, description="direct | ota | ...")


class BookingCreate(BookingBase):
    pass


class BookingPublic(BookingBase):
    id: int
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    created_at: datetime


class Booking(BookingBase, table=True):
    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_dates", "check_in_date", "check_out_date"),)

    id: int | None = Field(default=None, primary_key=True)
    booking_ref: str = Field(max_length=32, unique=True, index=True)
    guest_id: int = Field(foreign_key="guests.id", index=True)
    room_id: int | None = Field(default=None, foreign_key="rooms.id", index=True)
    status: str = Field(default="reserved", max_length=16, index=True)
    # hub/hotel: the booked room type (a room may be assigned later), segment, deposit paid
    room_type: str | None = Field(default=None, max_length=32)
    segment: str | None = Field(default=None, max_length=32)
    deposit: Decimal | None = Field(default=None, max_digits=12, decimal_places=2, ge=0)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    checked_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PmsRecord(SQLModel, table=True):
    """A record the PMS synced (hub/hotel/pms.py): its kind and the PMS's own id, the hotel's
    key of it (booking_ref, guest_ref, room_number), the PMS's modification time of the stored
    version (older updates are refused) and the digest of the body applied (the same body twice
    changes nothing)."""

    __tablename__ = "pms_records"
    __table_args__ = (Index("ux_pms_records_kind_pms_id", "kind", "pms_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    pms_id: str = Field(max_length=64)
    local_ref: str = Field(max_length=32)
    pms_modified_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    digest: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PmsDelivery(SQLModel, table=True):
    """A PMS webhook delivery received (its id and signature): a replay is refused until
    ``expires_at`` (past the timestamp window), across restarts and replicas."""

    __tablename__ = "pms_deliveries"
    __table_args__ = (Index("ux_pms_deliveries_signature", "signature", unique=True),)

    delivery_id: str = Field(max_length=128, primary_key=True)
    signature: str = Field(max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


# ---------------------------------------------------------------------------------------------
# Vision and ML records
# ---------------------------------------------------------------------------------------------


class ImageMetadata(SQLModel, table=True):
    __tablename__ = "image_metadata"

    id: int | None = Field(default=None, primary_key=True)
    object_key: str = Field(max_length=512, unique=True)
    content_type: str = Field(max_length=64)
    width: int | None = None
    height: int | None = None
    size_bytes: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64, index=True)
    source: str = Field(max_length=16, description="upload | edge | camera")
    device_id: str | None = Field(default=None, max_length=ID_MAX)
    camera_id: str | None = Field(default=None, max_length=ID_MAX, index=True)
    room_id: int | None = Field(default=None, foreign_key="rooms.id", index=True)
    tags: list[str] = Field(default_factory=list, sa_type=JSONType)
    captured_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, nullable=True, index=True
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Image search (hub/vision/image_search.py): a row with a category and an embedding is in
    # that category's similarity index; other rows (OCR scans, room photos) are not.
    category: str | None = Field(default=None, max_length=32, index=True)
    thumbnail_key: str | None = Field(default=None, max_length=512)
    embedding: bytes | None = Field(default=None, description="float32 little-endian, unit norm")
    embedding_model: str | None = Field(default=None, max_length=128, index=True)
    item_metadata: str | None = Field(
        default=None,
        sa_type=EncryptedString,
        description="the caller's metadata as JSON (may name guests); encrypted at rest",
    )


class MLPrediction(SQLModel, table=True):
    __tablename__ = "ml_predictions"
    __table_args__ = (Index("ix_ml_predictions_subject", "subject_type", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=64, index=True)
    model_version: str = Field(max_length=64)
    target: str = Field(max_length=64, description="occupancy | price | churn | clv | ...")
    subject_type: str | None = Field(default=None, max_length=32)
    subject_id: str | None = Field(default=None, max_length=64)
    horizon_date: date | None = None
    prediction: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    score: float | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class WorkflowLog(SQLModel, table=True):
    __tablename__ = "workflow_logs"

    id: int | None = Field(default=None, primary_key=True)
    flow_name: str = Field(max_length=128, index=True)
    run_id: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(max_length=16, description="scheduled | running | completed | failed")
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    error: str | None = Field(default=None, sa_type=Text)
    started_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class EmployeeFace(SQLModel, table=True):
    """One enrolled face template: never logged, deleted on revocation (DESIGN §7)."""

    __tablename__ = "employee_faces"
    __table_args__ = (Index("ix_employee_faces_model_employee", "model_id", "employee_id"),)

    id: int | None = Field(default=None, primary_key=True)
    employee_id: str = Field(max_length=ID_MAX, foreign_key="employees.employee_id", index=True)
    embedding: bytes = Field(
        sa_type=EncryptedBytes,
        description="float32 little-endian, unit norm, rotated under the site's template key "
        "(hub/face_templates.py); encrypted at rest",
    )
    dim: int
    model_id: str = Field(max_length=128)
    quality: float
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    template_key_id: str | None = Field(
        default=None,
        max_length=16,
        description="the template key the embedding is rotated under; NULL: stored in clear "
        "before migration 0006 (converted when the hub starts)",
    )
    crop_id: int | None = Field(
        default=None,
        description="the template whose kept enrolment crop (faces/{employee_id}/{crop_id}.jpg) "
        "this one was embedded from: one crop, a template per face model (migration 0009)",
    )


class GalleryModel(SQLModel, table=True):
    """A face model the fleet runs (reported in an edge's heartbeat or configured in
    ``gallery_face_models``): the hub keeps a template per enrolment crop for each, and the
    back-fill's progress (hub/gallery_models.py, migration 0009)."""

    __tablename__ = "gallery_models"

    model_id: str = Field(max_length=128, primary_key=True)
    origin: str = Field(max_length=16, description="hub | config | heartbeat")
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    backfill_status: str = Field(
        default="pending", max_length=16, description="pending | running | done | failed"
    )
    backfill_total: int = 0
    backfill_done: int = 0
    backfill_failed: int = 0
    backfill_error: str | None = Field(default=None, max_length=1024)
    backfill_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class FaceRecognitionLog(SQLModel, table=True):
    """One ``POST /api/v1/cv/face/recognize``: which camera, when (the caller's capture time),
    the outcome and who was recognised. Whereabouts of people: admin-only to read; never an
    embedding, never the nearest similarity of a face that matched nobody."""

    __tablename__ = "face_recognitions"

    id: int | None = Field(default=None, primary_key=True)
    camera_id: str | None = Field(default=None, max_length=ID_MAX, index=True)
    captured_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    status: str = Field(max_length=32, description="success | face_not_found | ...")
    employee_id: str | None = Field(default=None, max_length=ID_MAX, index=True)
    confidence: float | None = Field(default=None, description="only for a recognised face")
    liveness_checked: bool = False
    liveness_score: float | None = None
    recognition_time_ms: float
    model_id: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RoomAnalysisLog(SQLModel, table=True):
    __tablename__ = "room_analysis_logs"

    id: int | None = Field(default=None, primary_key=True)
    room_id: int | None = Field(default=None, foreign_key="rooms.id", index=True)
    image_id: int | None = Field(default=None, foreign_key="image_metadata.id")
    analysis_type: str = Field(max_length=32, description="cleanliness | damage | inventory")
    score: float | None = None
    findings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    model_id: str | None = Field(default=None, max_length=128)
    room_number: str | None = Field(default=None, max_length=16, index=True)
    ready_for_guest: bool | None = None
    tags: list[str] = Field(default_factory=list, sa_type=JSONType)
    photo_key: str | None = Field(default=None, max_length=512)
    analysed_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    analyzed_by: str | None = Field(
        default=None, max_length=128, description="who sent the photo (the caller's name)"
    )


class OcrResult(SQLModel, table=True):
    """One OCR reading (hub/vision/ocr_service.py). ``fields`` holds what is not personal
    (invoice fields, check-digit verdicts, per-field confidences); identity-document fields
    (name, ID number, birth date, address, MRZ lines ...) live in ``personal_fields``, a JSON
    object encrypted at rest like ``text`` (DESIGN §7)."""

    __tablename__ = "ocr_results"

    id: int | None = Field(default=None, primary_key=True)
    image_id: int | None = Field(default=None, foreign_key="image_metadata.id", index=True)
    guest_id: int | None = Field(default=None, foreign_key="guests.id", index=True)
    document_type: str = Field(
        max_length=32, description="invoice | cccd | cmnd | passport | id_card | unknown"
    )
    text: str = Field(sa_type=EncryptedString, description="OCR text; encrypted at rest")
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    personal_fields: str | None = Field(
        default=None, sa_type=EncryptedString, description="JSON object; encrypted at rest"
    )
    language: str | None = Field(default=None, max_length=16)
    confidence: float | None = None
    engine: str = Field(max_length=64)
    processing_time_ms: float | None = None
    created_by: str | None = Field(default=None, max_length=128, description="actor, no PII")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AnomalyDetection(SQLModel, table=True):
    __tablename__ = "anomaly_detections"

    id: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID | None = Field(default=None, foreign_key="events.event_id", index=True)
    anomaly_type: str = Field(max_length=16, index=True)
    score: float
    device_id: str | None = Field(default=None, max_length=ID_MAX)
    camera_id: str | None = Field(default=None, max_length=ID_MAX, index=True)
    zone: str | None = Field(default=None, max_length=64)
    snapshot_key: str | None = Field(default=None, max_length=512)
    detected_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=ID_MAX)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    notes: str | None = Field(default=None, sa_type=Text)
    severity: str | None = Field(
        default=None, max_length=16, description="low | medium | high | critical"
    )
    alert: bool = False
    model_id: str | None = Field(default=None, max_length=128)
    box: dict[str, int] | None = Field(default=None, sa_type=JSONType)
    source: str | None = Field(default=None, max_length=16, description="edge | api")


class AnomalyReference(SQLModel, table=True):
    """What ``/api/v1/cv/anomaly/detect`` needs to know about one camera's view: the photo of
    its floor when dry (flood) and its restricted zones (intrusion); polygons are [x, y]
    fractions of the frame (hub/vision/anomaly_references.py)."""

    __tablename__ = "anomaly_references"

    id: int | None = Field(default=None, primary_key=True)
    camera_id: str = Field(max_length=ID_MAX, unique=True)
    object_key: str | None = Field(default=None, max_length=512)
    width: int | None = None
    height: int | None = None
    floor_zone: list[list[float]] = Field(default_factory=list, sa_type=JSONType)
    restricted_zones: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    version: int = 1
    updated_by: str | None = Field(default=None, max_length=128)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# ---------------------------------------------------------------------------------------------
# Edge devices and the wire protocol (DESIGN §2)
# ---------------------------------------------------------------------------------------------


class DeviceBase(SQLModel):
    device_id: str = Field(max_length=ID_MAX)
    site: str = Field(max_length=ID_MAX)
    status: str = Field(default="unknown", max_length=16, description="online|offline|stopped")
    status_at: datetime | None = None
    last_seen: datetime | None = None
    last_seq: int = 0
    gallery_version: int | None = Field(default=None, description="As reported by heartbeat.")
    last_heartbeat: dict[str, Any] | None = None


class DevicePublic(DeviceBase):
    gaps: list[tuple[int, int]] = Field(default_factory=list)
    missing: int = 0


class Device(DeviceBase, table=True):
    __tablename__ = "devices"

    device_id: str = Field(max_length=ID_MAX, primary_key=True)
    site: str = Field(max_length=ID_MAX, index=True)
    status_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_seq: int = Field(default=0, sa_type=BigInteger, nullable=False)
    last_heartbeat: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Enrolment (hub/device_registry.py). All nullable: the ingest also creates rows for devices
    # it hears from, and its upsert leaves these columns alone. Only the SHA-256 of the device's
    # bearer token is kept; never in DevicePublic.
    token_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    enrolled_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    cameras: list[str] | None = Field(default=None, sa_type=JSONType, description="camera ids")


class EventBase(SQLModel):
    event_id: uuid.UUID
    device_id: str = Field(max_length=ID_MAX)
    seq: int = Field(description="seq of the first message applied for this event")
    last_seq: int = Field(description="highest seq applied for this event")
    camera_id: str = Field(max_length=ID_MAX)
    kind: str = Field(max_length=16)
    phase: str = Field(max_length=8, description="latest phase: new | update | end")
    started_at: datetime
    ended_at: datetime | None = None
    person_id: str | None = Field(default=None, max_length=ID_MAX)
    score: float | None = Field(default=None, description="best score over the appearance")
    liveness: str | None = Field(default=None, max_length=16)
    liveness_score: float | None = None
    payload: dict[str, Any] = Field(default_factory=dict, description="payload of the best message")
    snapshot_key: str | None = Field(default=None, max_length=512)
    messages: int = Field(default=1, description="distinct messages applied")
    received_at: datetime
    updated_at: datetime


class EventPublic(EventBase):
    pass


class Event(EventBase, table=True):
    __tablename__ = "events"

    event_id: uuid.UUID = Field(primary_key=True)
    device_id: str = Field(max_length=ID_MAX, index=True)
    seq: int = Field(sa_type=BigInteger, nullable=False)
    last_seq: int = Field(sa_type=BigInteger, nullable=False)
    camera_id: str = Field(max_length=ID_MAX, index=True)
    kind: str = Field(max_length=16, index=True)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    person_id: str | None = Field(default=None, max_length=ID_MAX, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ReceivedMessage(SQLModel, table=True):
    """One row per applied message ``(device_id, seq)``: apply-once and gap reporting."""

    __tablename__ = "received_messages"

    device_id: str = Field(max_length=ID_MAX, primary_key=True)
    seq: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    event_id: uuid.UUID | None = None
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class EventFlowWork(SQLModel, table=True):
    """An event the flows still have to look at (attendance, hazard alert): written in the
    ingest's transaction, deleted by the flows once done, so a crash between the two loses
    nothing (hub/flows/event_work.py)."""

    __tablename__ = "event_flow_work"

    id: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
    )
    event_id: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class StateVersion(SQLModel, table=True):
    """A named version (``gallery``, ``image_index:room``...) that every API replica follows:
    bumped by the replica that changed the state, reloaded by the others (hub/cluster/)."""

    __tablename__ = "state_versions"

    name: str = Field(primary_key=True, max_length=64)
    version: int = Field(default=0, sa_type=BigInteger, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RateLimitBucket(SQLModel, table=True):
    """One rate-limit key shared by every replica (GCRA: ``tat`` is the theoretical arrival
    time, epoch seconds; hub/cluster/ratelimit_store.py)."""

    __tablename__ = "rate_limit_buckets"

    key: str = Field(primary_key=True, max_length=255)
    tat: float = Field(nullable=False)


class LeaseRow(SQLModel, table=True):
    """Who runs a once-per-deployment job until ``expires_at`` (epoch seconds; hub/cluster/
    lease.py)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=255, nullable=False)
    expires_at: float = Field(nullable=False)
    acquired_at: float = Field(nullable=False)


class DeadLetterPublic(SQLModel):
    id: int
    topic: str
    reason: str
    detail: str
    payload_size: int
    truncated: bool
    device_id: str | None
    seq: int | None
    received_at: datetime = Field(description="first seen")
    last_seen_at: datetime | None = Field(default=None, description="last seen (repeats)")
    times_seen: int = Field(default=1, description="deliveries of these exact bytes")
    sha256: str | None = Field(default=None, description="SHA-256 of the whole payload")


class DeadLetter(SQLModel, table=True):
    """A message the ingest refused (DESIGN §8): topic, bytes (first 64 KiB), reason.

    One row per distinct (reason, topic, bytes): ``fingerprint`` is their SHA-256, and a
    repeat (an edge re-sending) bumps ``times_seen`` and ``last_seen_at`` instead of adding a
    row. ``received_at`` is when it was first seen."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ux_dead_letters_fingerprint", "fingerprint", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(sa_type=Text)
    payload: bytes
    payload_size: int = Field(description="size of the original payload in bytes")
    truncated: bool = False
    reason: str = Field(max_length=32, index=True)
    detail: str = Field(sa_type=Text)
    device_id: str | None = Field(default=None, max_length=ID_MAX, index=True)
    seq: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    received_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    times_seen: int = Field(default=1, sa_type=BigInteger, nullable=False)
    sha256: str | None = Field(default=None, max_length=64)
    fingerprint: str | None = Field(default=None, max_length=64)


class GalleryVersionRecord(SQLModel, table=True):
    """A published face gallery artefact (``galleries/{version}.json`` in the object store)."""

    __tablename__ = "gallery_versions"

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sha256: str = Field(max_length=64)
    object_key: str = Field(max_length=512)
    model_id: str = Field(max_length=128, index=True)
    dim: int
    people: int
    embeddings: int
    size_bytes: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# ---------------------------------------------------------------------------------------------
# API access (hub/api/auth.py) and the audit trail (DESIGN §7)
# ---------------------------------------------------------------------------------------------


class UserBase(SQLModel):
    username: str = Field(min_length=1, max_length=64)
    role: str = Field(max_length=16, description="admin | manager | staff | viewer")
    disabled: bool = False


class UserPublic(UserBase):
    id: int
    created_at: datetime


class User(UserBase, table=True):
    """A person who signs in for a token (OAuth2 password flow); the password is Argon2id."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=256, repr=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ApiKeyPublic(SQLModel):
    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    scopes: list[str]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    service: str | None = Field(
        default=None, description="recognition | detection | verification: a CompreFace key"
    )


class ApiKey(SQLModel, table=True):
    """An integration's key: only its SHA-256 is stored (the key is shown once)."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True, index=True, repr=False)
    scopes: list[str] = Field(default_factory=list, sa_type=JSONType)
    created_by: str = Field(max_length=128)
    # hub/compat/compreface: a key of one CompreFace-compatible service, refused elsewhere
    service: str | None = Field(default=None, max_length=16, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class AuditLogPublic(SQLModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    seq: int | None = None
    hash: str | None = None


class AuditLog(SQLModel, table=True):
    """Who did what to which record, and when: biometric enrolment/deletion and access
    administration. Identifiers and counts only; never personal data."""

    __tablename__ = "audit_log"
    # hash-chained (hub/audit_chain.py): seq, prev_hash and hash are set on insert
    __table_args__ = (Index("ux_audit_log_seq", "seq", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor: str = Field(max_length=128, index=True, description="user:NAME | api_key:PREFIX | ...")
    action: str = Field(max_length=64, index=True, description="face.enroll | face.delete | ...")
    target: str = Field(max_length=128, index=True, description="employee:ID | api_key:ID | ...")
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    seq: int | None = Field(default=None, description="place in the hash chain (1, 2, ...)")
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64, description="sha256 of fields+prev")


class AuditChain(SQLModel, table=True):
    """The audit hash chain's head (one row, id 1): the lock appends serialise on, and the
    last seq and hash (so rows deleted from the end are seen too)."""

    __tablename__ = "audit_chain"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = 0
    hash: str = Field(max_length=64)


event.listen(AuditLog, "before_insert", chain_on_insert)


# ---------------------------------------------------------------------------------------------
# Revenue management and guest models (hub/ml/)
# ---------------------------------------------------------------------------------------------


class BookingAttributes(SQLModel, table=True):
    """The booking attributes of the "Hotel booking demand" schema that ``bookings`` lacks, one
    row per booking (hub/ml/repository.py). ``cancelled_at`` is the day of the cancellation:
    on-the-books positions and cancellation labels need it, and ``bookings`` keeps only the
    current status."""

    __tablename__ = "booking_attributes"

    booking_id: int = Field(
        foreign_key="bookings.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    hotel: str | None = Field(default=None, max_length=64)
    market_segment: str = Field(max_length=32, description="Online TA | Direct | Corporate | ...")
    distribution_channel: str = Field(max_length=16, description="TA/TO | Direct | Corporate | GDS")
    deposit_type: str = Field(default="No Deposit", max_length=16)
    customer_type: str = Field(default="Transient", max_length=16)
    meal: str = Field(default="BB", max_length=16)
    country: str | None = Field(default=None, max_length=3, description="ISO 3166 alpha-3")
    agent: str | None = Field(default=None, max_length=16)
    company: str | None = Field(default=None, max_length=16)
    babies: int = 0
    is_repeated_guest: bool = False
    previous_cancellations: int = 0
    previous_bookings_not_canceled: int = 0
    booking_changes: int = 0
    days_in_waiting_list: int = 0
    required_car_parking_spaces: int = 0
    total_of_special_requests: int = 0
    reserved_room_type: str | None = Field(default=None, max_length=32)
    assigned_room_type: str | None = Field(default=None, max_length=32)
    cancelled_at: date | None = Field(default=None, index=True)


class ServiceOrder(SQLModel, table=True):
    """A service a guest ordered during a stay (spa, breakfast, transfer, ...)."""

    __tablename__ = "service_orders"

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="bookings.id", index=True)
    guest_id: int = Field(foreign_key="guests.id", index=True)
    service: str = Field(max_length=32, index=True)
    quantity: int = Field(default=1, ge=1)
    amount: Decimal = Field(default=Decimal("0"), max_digits=12, decimal_places=2, ge=0)
    ordered_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class MLModelRecord(SQLModel, table=True):
    """A trained model version: its file (relative to the hub's ML folder, verified by sha256
    before loading), evaluation metrics, data window, and whether it serves predictions."""

    __tablename__ = "ml_models"
    __table_args__ = (Index("ix_ml_models_name_version", "name", "version", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    version: str = Field(max_length=64)
    path: str = Field(max_length=512)
    sha256: str = Field(max_length=64)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    train_start: date
    train_end: date
    eval_start: date
    eval_end: date
    promoted: bool = Field(default=False, index=True)
    promoted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    decision: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ServiceLog(SQLModel, table=True):
    """One log record shipped to the hub (``/api/v1/prefect/logs/ingest``, the flows, the
    ingest); the assistant's ``/monitoring/analyze`` looks for error spikes in it. Messages must
    not carry personal data (DESIGN §7): producers log ids, never names or embeddings."""

    __tablename__ = "service_logs"
    __table_args__ = (Index("ix_service_logs_service_ts", "service", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    service: str = Field(max_length=64)
    level: str = Field(
        max_length=16, index=True, description="DEBUG | INFO | WARNING | ERROR | CRITICAL"
    )
    message: str = Field(sa_type=Text)
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


# ---------------------------------------------------------------------------------------------
# Flows (hub/flows): shifts, attendance marks, housekeeping, lost & found, alerts, notifications
# ---------------------------------------------------------------------------------------------


class ShiftSchedule(SQLModel, table=True):
    """An employee's shift: on one weekday (0 = Monday) or, with ``weekday`` null, every day.
    Times are ``HH:MM`` in the hotel's time zone; an end before the start crosses midnight."""

    __tablename__ = "shift_schedules"
    __table_args__ = (
        Index("ix_shift_schedules_employee_weekday", "employee_id", "weekday"),
        Index("ix_shift_schedules_shift_date", "shift_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    employee_id: str = Field(max_length=ID_MAX, foreign_key="employees.employee_id")
    weekday: int | None = Field(default=None, ge=0, le=6)
    start_time: str = Field(max_length=5, description="HH:MM local")
    end_time: str = Field(max_length=5, description="HH:MM local")
    grace_minutes: int | None = Field(default=None, ge=0, le=240)
    supervisor_employee_id: str | None = Field(default=None, max_length=ID_MAX)
    # hub/hotel: a one-off shift on this date (``weekday`` is then the date's weekday)
    shift_date: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # added after the first release: rows that existed then take the migration's time
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"server_default": text("CURRENT_TIMESTAMP")},
    )


class AttendanceMark(SQLModel, table=True):
    """One face event applied to attendance (at most one row per event: redeliveries and later
    messages of the same appearance update it instead of counting again)."""

    __tablename__ = "attendance_marks"

    event_id: uuid.UUID = Field(primary_key=True)
    attendance_log_id: int = Field(foreign_key="attendance_logs.id", index=True)
    employee_id: str = Field(max_length=ID_MAX, index=True)
    first_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    minutes_late: int = Field(default=0, description="of the log's check-in, when this set it")
    entered_by: str | None = Field(
        default=None, max_length=128, description="who entered a pin/badge/manual sighting"
    )
    notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class HousekeepingTask(SQLModel, table=True):
    __tablename__ = "housekeeping_tasks"

    id: int | None = Field(default=None, primary_key=True)
    room_number: str | None = Field(default=None, max_length=16, index=True)
    category: str = Field(max_length=32)
    priority: str = Field(max_length=16)
    description: str = Field(sa_type=EncryptedString, description="guest text; encrypted")
    items: list[str] = Field(default_factory=list, sa_type=JSONType)
    quantity: int | None = None
    assignee_role: str = Field(max_length=32)
    assigned_to: str | None = Field(default=None, max_length=ID_MAX, index=True)
    status: str = Field(default="open", max_length=16, index=True, description="open|assigned|done")
    guest_id: int | None = Field(default=None, foreign_key="guests.id")
    booking_id: int | None = Field(default=None, foreign_key="bookings.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class LostItem(SQLModel, table=True):
    """A guest's lost-item report (hub/lost_found): the guest by id, or a name and contact
    encrypted like guests' PII; its optional photo is indexed in the lost_found image search."""

    __tablename__ = "lost_items"

    id: int | None = Field(default=None, primary_key=True)
    description: str = Field(max_length=500)
    guest_id: int | None = Field(default=None, foreign_key="guests.id", index=True)
    reported_image_key: str | None = Field(default=None, max_length=512)
    status: str = Field(
        default="open",
        max_length=16,
        index=True,
        description="open | matched | found | returned | closed (hub/lost_found/states.py)",
    )
    found_image_key: str | None = Field(default=None, max_length=512)
    match_similarity: float | None = None
    found_location: str | None = Field(default=None, max_length=128)
    reported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    found_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # issue 16 item 5: who lost it (when not a known guest), where and when, the photo's
    # image_metadata id, the found item a confirmed match names, who reported it
    reporter_name: str | None = Field(default=None, sa_type=EncryptedString)
    reporter_contact: str | None = Field(default=None, sa_type=EncryptedString)
    lost_location: str | None = Field(default=None, max_length=128)
    lost_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    reported_image_id: int | None = None
    found_item_id: int | None = Field(default=None, index=True)
    reported_by: str | None = Field(default=None, max_length=128)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class FoundItem(SQLModel, table=True):
    """An item staff found on the premises; its photo (required) is in the object store and
    the lost_found image search (``image_id`` is its image_metadata row)."""

    __tablename__ = "found_items"

    id: int | None = Field(default=None, primary_key=True)
    description: str = Field(max_length=500)
    location: str = Field(max_length=128)
    found_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    found_by: str = Field(max_length=64, description="the employee id of who found it")
    image_id: int = Field(index=True)
    image_key: str = Field(max_length=512)
    status: str = Field(
        default="open",
        max_length=16,
        index=True,
        description="open | claimed | returned | disposed",
    )
    lost_item_id: int | None = Field(default=None, index=True, description="the confirmed owner")
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class LostFoundMatch(SQLModel, table=True):
    """A proposed pairing of a lost report with a found item, scored by the hub (image and
    text similarity); staff confirm or reject it before the guest is told."""

    __tablename__ = "lost_found_matches"
    __table_args__ = (
        Index("ux_lost_found_matches_pair", "lost_item_id", "found_item_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    lost_item_id: int = Field(foreign_key="lost_items.id", index=True)
    found_item_id: int = Field(foreign_key="found_items.id", index=True)
    score: float
    image_similarity: float | None = None
    text_similarity: float | None = None
    status: str = Field(
        default="proposed", max_length=16, index=True, description="proposed | confirmed | rejected"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    decided_by: str | None = Field(default=None, max_length=128)


class HazardAlert(SQLModel, table=True):
    """One escalation of an anomaly to the alert channels; re-sent until acknowledged."""

    __tablename__ = "hazard_alerts"

    id: int | None = Field(default=None, primary_key=True)
    anomaly_id: int | None = Field(default=None, foreign_key="anomaly_detections.id", index=True)
    event_id: uuid.UUID | None = Field(default=None, index=True)
    hazard: str = Field(max_length=16)
    location: str = Field(max_length=128)
    detected_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    sends: int = 0
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class NotificationLog(SQLModel, table=True):
    """A notification handed to a channel: kind, channel, outcome; no message text (it may carry
    personal data) and the recipient only as a role or id."""

    __tablename__ = "notification_logs"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=128, description="role or id, never an address")
    ok: bool
    error: str | None = Field(default=None, max_length=500)
    template: str = Field(max_length=16, description="generated | fallback")
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# ---------------------------------------------------------------------------------------------
# Assistant (hub/assistant): proposed actions awaiting confirmation, and staff messages
# ---------------------------------------------------------------------------------------------


class AssistantAction(SQLModel, table=True):
    """A tool call that changes something, proposed by the assistant and run only when the same
    caller confirms it before ``expires_at``. ``args`` may carry guest text: encrypted."""

    __tablename__ = "assistant_actions"

    id: str = Field(primary_key=True, max_length=32)
    tool: str = Field(max_length=64)
    args: str = Field(sa_type=EncryptedString, description="JSON of the tool arguments")
    summary: str = Field(sa_type=EncryptedString)
    requested_by: str = Field(max_length=128, index=True)
    status: str = Field(
        default="pending", max_length=16, index=True, description="pending|executed|rejected|failed"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class StaffMessage(SQLModel, table=True):
    """A message to staff (a role or an employee id) queued by a confirmed assistant action for
    the notification channels to deliver; subject and body are encrypted."""

    __tablename__ = "staff_messages"

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=128, index=True, description="role or employee id")
    subject: str = Field(sa_type=EncryptedString)
    body: str = Field(sa_type=EncryptedString)
    created_by: str = Field(max_length=128)
    status: str = Field(default="queued", max_length=16, index=True, description="queued|sent")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RoomReference(SQLModel, table=True):
    """The reference photo of a room type in its ready state and its named regions, against
    which housekeeping inspections are compared (hub/vision/room_service.py)."""

    __tablename__ = "room_references"

    id: int | None = Field(default=None, primary_key=True)
    room_type: str = Field(max_length=32, unique=True, index=True)
    object_key: str = Field(max_length=512, description="the reference photo in the object store")
    width: int
    height: int
    regions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    version: int = 1
    created_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# -- staff console (issue 18; migration 0011) ----------------------------------------------------


class ConsolePreference(SQLModel, table=True):
    """A console user's preferences, keyed by the principal's actor (``user:alice``)."""

    __tablename__ = "console_preferences"

    actor: str = Field(max_length=160, primary_key=True)
    language: str = Field(default="en", max_length=8)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AlertHandling(SQLModel, table=True):
    """How staff handled a hazard alert: status (open | acknowledged | resolved | false_alarm),
    assignee and note. A false alarm is kept, not deleted (detector tuning reads them)."""

    __tablename__ = "alert_handling"

    alert_id: int = Field(primary_key=True, foreign_key="hazard_alerts.id")
    status: str = Field(default="open", max_length=16, index=True)
    assigned_to: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, max_length=500)
    updated_by: str = Field(max_length=160)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class AttendanceCorrection(SQLModel, table=True):
    """A correction of one employee's attendance on one day, with its reason and author; the
    attendance log it changed (or created) keeps the corrected values."""

    __tablename__ = "attendance_corrections"

    id: int | None = Field(default=None, primary_key=True)
    attendance_log_id: int = Field(foreign_key="attendance_logs.id", index=True)
    employee_id: str = Field(max_length=ID_MAX, index=True)
    work_date: date
    status: str = Field(max_length=16, description="present | late | absent")
    previous_status: str | None = Field(default=None, max_length=16)
    check_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    check_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    reason: str = Field(max_length=500)
    corrected_by: str = Field(max_length=160)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
