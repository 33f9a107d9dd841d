"""The hub's configuration: one frozen pydantic model, read from the environment by the caller.

Nothing here reads ``os.environ`` at import time (DESIGN §3 rule 2): ``__main__``/the CLI call
:meth:`HubSettings.from_env` with the mapping they want, tests build :class:`HubSettings`
directly.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.ids import ID_PATTERN

ENV_PREFIX = "INNSIGHT_"
DEFAULT_DATA_DIR = Path("./var/hub")
DEFAULT_SITE = "demo"
MIN_JWT_SECRET_CHARS = 32
FERNET_KEY_BYTES = 32
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+/?")


class HubSettingsError(ValueError):
    """The configuration is invalid; the message names each bad setting (and its env var)."""


class HubSettings(BaseModel):
    """Everything the hub process needs to build its objects.

    Derived defaults (filled in when the field is not given):

    - ``database_url``: ``sqlite+aiosqlite:///{data_dir}/hub.db``
    - ``objects_dir``: ``{data_dir}/objects``
    - ``mqtt_client_id``: ``hub-{site}`` (stable, so the broker keeps the persistent session)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = DEFAULT_DATA_DIR
    # The defaults of database_url, objects_dir and mqtt_client_id are placeholders: they are
    # always derived by _derive_defaults when not given.
    database_url: SecretStr = Field(
        default=SecretStr(""),
        description="SQLAlchemy async URL: sqlite+aiosqlite:///... or postgresql+asyncpg://...",
    )
    site: Annotated[str, Field(pattern=ID_PATTERN)] = DEFAULT_SITE

    mqtt_enabled: bool = True
    mqtt_host: str = Field(default="127.0.0.1", min_length=1)
    mqtt_port: Annotated[int, Field(ge=1, le=65535)] = 1883
    mqtt_client_id: Annotated[str, Field(pattern=ID_PATTERN)] = ""
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    mqtt_reconnect_min_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    mqtt_reconnect_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0

    objects_dir: Path = Path()
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="Base URL edges use to reach this hub (gallery downloads).",
    )

    api_host: str = Field(default="127.0.0.1", min_length=1)
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8000

    face_upsample: Annotated[int, Field(ge=0, le=3)] = 1
    # Cosine similarity on L2-normalised dlib descriptors; the same operating point as the edge
    # (edge_agent/domain/matching.py): raw dlib descriptors are ~1.45 long, so their customary
    # 0.6 Euclidean cut sits near cosine 0.91; 0.93 keeps every stranger measured so far out.
    face_match_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.93
    gallery_face_models: list[str] = Field(
        default_factory=list,
        description="Face models the hub keeps templates and a gallery for besides those its "
        "edges report in their heartbeats (comma-separated in the environment; "
        "docs/galleries.md), e.g. lbph-u2-4x4 or sface-2021dec.",
    )

    ingest_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    ingest_max_batch_delay_s: Annotated[float, Field(ge=0.0, le=10.0)] = 0.05
    # MQTT 5 shared subscription group (``$share/{group}/...``) the hub's own ingest joins when
    # `innsight hub ingest` workers run beside it (hub/ingest/worker.py); None: it reads alone.
    ingest_shared_group: Annotated[str | None, Field(pattern=ID_PATTERN)] = None

    max_upload_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    # CompreFace-compatible REST (hub/compat/compreface, docs/compreface.md): /api/v1/recognition,
    # /api/v1/detection, /api/v1/verification with service-scoped x-api-key keys; off by default.
    compat_compreface: bool = False

    # Object storage (hub/storage.py): an S3 endpoint (MinIO) when s3_endpoint is set, else the
    # local objects_dir. The hub starts while the endpoint is down; /health shows it.
    s3_endpoint: str | None = Field(
        default=None,
        pattern=r"^(https?://)?[A-Za-z0-9.\-\[\]:]+/?$",
        description="host:port or http(s)://host:port of MinIO / any S3 endpoint.",
    )
    s3_access_key: str | None = Field(default=None, max_length=256)
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = Field(default="innsight", pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    s3_region: str = Field(default="us-east-1", min_length=1, max_length=64)
    s3_secure: bool = False
    s3_url_expiry_s: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    # Image search (hub/vision/image_search.py): the embedding model (models/registry.py id, or
    # an explicit ONNX file), the default similarity cut, and the URLs results carry: "hub"
    # (GET /api/v1/cv/image/{id}/file, authenticated) or "store" (the store's own URLs:
    # presigned on S3).
    image_search_model: str = Field(default="efficientnet-lite0", pattern=ID_PATTERN)
    image_search_model_path: Path | None = None
    image_search_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    image_search_urls: Literal["hub", "store"] = "hub"
    image_index_m: Annotated[int, Field(ge=4, le=128)] = 16
    image_index_ef_construction: Annotated[int, Field(ge=16, le=2000)] = 200
    image_index_ef_search: Annotated[int, Field(ge=8, le=2000)] = 128

    # The assistant's LLM (hub/assistant): an Ollama server; the hub starts without it and the
    # LLM endpoints answer 503 with the reason while it is unreachable (DESIGN §1).
    llm_model: str = Field(default="qwen2.5:7b-instruct", min_length=1, max_length=200)
    llm_base_url: str = Field(default="http://127.0.0.1:11434", pattern=r"^https?://[^\s/]+/?$")
    llm_timeout_s: Annotated[float, Field(gt=0, le=600)] = 120.0
    # The provider speaking to llm_model: "ollama" (llm_base_url, Ollama's API) or "openai" (any
    # OpenAI-compatible chat-completions server at llm_openai_base_url, Ollama's /v1 included).
    llm_provider: Literal["ollama", "openai"] = "ollama"
    llm_openai_base_url: str = Field(
        default="http://127.0.0.1:11434/v1", pattern=r"^https?://[^\s/]+(/[^\s]*)?$"
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="Bearer key for the OpenAI-compatible provider, if it needs one."
    )
    # How long a tool call the assistant proposed (create a task, trigger a workflow, send a
    # message) waits for its confirmation before it expires.
    llm_action_ttl_s: Annotated[int, Field(ge=10, le=7 * 24 * 3600)] = 900

    # API auth (hub/api/auth.py) and encryption at rest (hub/crypto.py). The two secrets are
    # never defaulted here: when unset, hub.auth.keys.with_secrets() generates them once and
    # keeps them in {data_dir}/jwt.secret and {data_dir}/pii.key (mode 0600).
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 signing secret for access tokens (32+ characters)."
    )
    access_token_expire_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60
    pii_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) for personal fields, comma-separated, newest first.",
    )
    template_key: SecretStr | None = Field(
        default=None,
        description="The site's face-template key(s) (32 url-safe base64 bytes, comma-separated, "
        "newest first; hub/face_templates.py). Unset: kept in {data_dir}/template.key, made "
        "once, replaced by `innsight hub gallery rekey`.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed by CORS (comma-separated in the environment); "
        "none by default.",
    )
    metrics_open_on_loopback: bool = Field(
        default=True,
        description="GET /metrics without a token from 127.0.0.1/::1; else metrics:read.",
    )
    # OpenTelemetry traces of HTTP requests (hub/observability/tracing.py): off by default;
    # "otlp" needs opentelemetry-exporter-otlp-proto-http and reads OTEL_EXPORTER_OTLP_* itself
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_service_name: str = Field(default="innsight-hub", min_length=1, max_length=128)
    rate_limit_heavy_per_minute: Annotated[float, Field(gt=0, le=60_000)] = 30.0
    rate_limit_heavy_burst: Annotated[int, Field(ge=1, le=10_000)] = 10
    rate_limit_login_per_minute: Annotated[float, Field(gt=0, le=60_000)] = 10.0
    rate_limit_login_burst: Annotated[int, Field(ge=1, le=10_000)] = 5
    # POST /api/v1/cv/face/recognize per caller (issue 17: no free oracle for attack images)
    rate_limit_recognize_per_minute: Annotated[float, Field(gt=0, le=60_000)] = 120.0
    rate_limit_recognize_burst: Annotated[int, Field(ge=1, le=10_000)] = 30

    # OCR (hub/vision/ocr_service.py): auto = RapidOCR, plus Tesseract on Vietnamese pages;
    # engines load on first use and a missing one makes the OCR endpoints answer 503.
    ocr_engine: str = Field(
        default="auto",
        pattern=r"^(auto|rapidocr|tesseract)$",
        description="auto | rapidocr | tesseract",
    )
    ocr_tesseract_cmd: str = Field(default="tesseract", min_length=1, max_length=500)
    ocr_tesseract_langs: str = Field(
        default="vie", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$", description="e.g. vie or vie+eng"
    )
    ocr_max_side: Annotated[int, Field(ge=256, le=10_000)] = 2400
    # Cores a RapidOCR reading uses: the detector's ONNX Runtime threads (a pool that sleeps
    # when idle) and lines read at once (models/ocr.py). 2 measured p95 1.5 s against 2.2 s for
    # 1 on the real receipts (2-core box, load ~1); 1 suits a box busy with other work
    # (docs/ocr-reading.md)
    ocr_threads: Annotated[int, Field(ge=1, le=64)] = 2

    # Flows (hub/flows) and notifications (hub/notify). Attendance check-in runs in the ingest
    # whatever these say; Prefect runs the multi-step flows only when flows_enabled (it needs a
    # Prefect API: PREFECT_API_URL, or Prefect's local mode).
    timezone: str = Field(
        default="UTC", min_length=1, max_length=64, description="The hotel's IANA time zone."
    )
    # PMS sync (hub/hotel/pms*.py): the webhook's shared HMAC secret (unset: the webhook answers
    # 503) and how far its timestamp may be from the hub's clock
    pms_webhook_secret: SecretStr | None = Field(
        default=None, min_length=16, description="HMAC-SHA256 secret of the PMS webhook."
    )
    pms_webhook_window_s: Annotated[int, Field(ge=10, le=3600)] = 300
    flows_enabled: bool = False
    flows_executor: str = Field(
        default="local",
        pattern=r"^(local|worker)$",
        description="local: the hub runs flow runs itself; worker: a Prefect worker does.",
    )
    flows_work_pool: str = Field(default="innsight", min_length=1, max_length=100)
    flows_poll_interval_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    # API replicas (hub/cluster/, docs/scale-out.md): how often the shared state versions are
    # read (PostgreSQL's LISTEN/NOTIFY wakes a replica sooner), and the leader lease's length.
    cluster_poll_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    leader_lease_s: Annotated[float, Field(ge=1, le=600)] = 15.0
    flows_default_schedules: bool = Field(
        default=True, description="Create the default schedules (pricing at 03:00, ...)."
    )
    attendance_cameras: list[str] = Field(
        default_factory=list,
        description="Entrance cameras whose live face events count for attendance "
        "(comma-separated in the environment); empty: no face attendance (opt-in). "
        "Provisioning sets liveness mode require on these cameras' edges.",
    )
    attendance_debounce_s: Annotated[int, Field(ge=0, le=24 * 3600)] = 300
    attendance_grace_minutes: Annotated[int, Field(ge=0, le=240)] = 5
    # the ingest's alarm: this many dead letters from one device within the window tell the
    # managers (hub/flows/notifications.py) besides the warning and innsight_ingest_* metrics
    dead_letter_alert_threshold: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    dead_letter_alert_window_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    attendance_notify_email: str | None = Field(
        default=None, max_length=254, description="Who hears of late arrivals without a supervisor."
    )
    notify_language: str = Field(default="en", pattern=r"^(vi|en)$")
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_sender: str = Field(default="innsight@localhost", min_length=3, max_length=254)
    smtp_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    notify_webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    notify_webhook_secret: SecretStr | None = None
    # Retention per data class (issue 17; hub/privacy/retention.py, run by the retention_purge
    # flow, each class's purge audited): days a record is kept after it was made.
    # snapshots of recognised faces (biometric crops); the event rows stay for face_event_days
    retention_biometric_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # face events of unknown people: the row and its snapshot
    retention_unknown_face_days: Annotated[int, Field(ge=1, le=3650)] = 7
    # face events of recognised people (whereabouts) and the /face/recognize log
    retention_face_event_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # snapshots of the other events (hazards) and of anomaly detections
    retention_snapshot_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # attendance records (working-time records: labour law keeps them for years)
    retention_attendance_days: Annotated[int, Field(ge=30, le=3650)] = 1095
    # OCR readings (identity documents, invoices)
    retention_ocr_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # room inspection photos (the analysis row stays, its photo goes)
    retention_inspection_days: Annotated[int, Field(ge=1, le=3650)] = 180
    # shipped service logs, notification logs, dead letters
    retention_log_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # the audit trail: never shorter than any class above (it records their deletion)
    retention_audit_days: Annotated[int, Field(ge=365, le=36500)] = 2190
    hazard_realert_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 5.0
    # Frigate-shaped MQTT and Home Assistant discovery (hub/compat; docs/integrations.md), off
    # by default. Names go out only for employees with an active consent for one of
    # compat_name_purposes (comma-separated; "none": never).
    frigate_enabled: bool = False
    frigate_topic_prefix: str = Field(default="frigate", pattern=r"^[A-Za-z0-9_.\-/]{1,64}$")
    ha_discovery_enabled: bool = False
    ha_discovery_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_.\-/]{1,64}$")
    ha_state_prefix: str = Field(default="innsight-ha", pattern=r"^[A-Za-z0-9_.\-/]{1,64}$")
    ha_last_employee: bool = False
    ha_rescan_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    compat_name_purposes: str = Field(
        default="access",
        pattern=r"^(none|(attendance|access|safety)(,(attendance|access|safety))*)$",
    )
    compat_sub_label: Literal["name", "employee_id"] = "name"
    compat_active_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 600.0

    @field_validator("attendance_cameras", "gallery_face_models", mode="before")
    @classmethod
    def _split_cameras(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: give an IANA name") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _derive_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        data_dir = Path(filled.get("data_dir") or DEFAULT_DATA_DIR)
        site = filled.get("site") or DEFAULT_SITE
        if not filled.get("database_url"):
            filled["database_url"] = f"sqlite+aiosqlite:///{data_dir}/hub.db"
        if not filled.get("objects_dir"):
            filled["objects_dir"] = data_dir / "objects"
        if not filled.get("mqtt_client_id"):
            filled["mqtt_client_id"] = f"hub-{site}"
        return filled

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
            raise ValueError(
                f"unsupported database URL scheme {scheme!r}: "
                "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_JWT_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_JWT_SECRET_CHARS} characters")
        return value

    @field_validator("pii_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for index, key in enumerate(value.get_secret_value().split(",")):
            try:
                raw = base64.urlsafe_b64decode(key.strip().encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                raw = b""
            if len(raw) != FERNET_KEY_BYTES:
                raise ValueError(
                    f"key {index + 1} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: give scheme://host[:port] "
                    "without a path, and no '*'"
                )
        return [origin.rstrip("/") for origin in value]

    @model_validator(mode="after")
    def _backoff_order(self) -> HubSettings:
        if self.mqtt_reconnect_min_s > self.mqtt_reconnect_max_s:
            raise ValueError("mqtt_reconnect_min_s must not exceed mqtt_reconnect_max_s")
        return self

    @model_validator(mode="after")
    def _retention_order(self) -> HubSettings:
        if self.retention_biometric_days > self.retention_face_event_days:
            raise ValueError(
                "retention_biometric_days must not exceed retention_face_event_days "
                "(a snapshot cannot outlive its event)"
            )
        longest = max(
            (getattr(self, name), name)
            for name in type(self).model_fields
            if name.startswith("retention_") and name != "retention_audit_days"
        )
        if self.retention_audit_days < longest[0]:
            raise ValueError(
                f"retention_audit_days ({self.retention_audit_days}) must be at least "
                f"{longest[1]} ({longest[0]}): the audit trail records those deletions"
            )
        return self

    @classmethod
    def env_var(cls, field_name: str) -> str:
        """The environment variable that sets ``field_name``: ``INNSIGHT_<FIELD>``."""
        return f"{ENV_PREFIX}{field_name.upper()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HubSettings:
        """Build settings from ``INNSIGHT_<FIELD>`` variables (and ``DATABASE_URL``).

        ``INNSIGHT_DATABASE_URL`` wins over ``DATABASE_URL``. Empty values count as unset.
        Variables with the prefix that name no field are ignored (other components share the
        prefix). Raises :class:`HubSettingsError` naming the variable that is wrong.
        """
        values: dict[str, str] = {}
        database_url = environ.get("DATABASE_URL")
        if database_url:
            values["database_url"] = database_url
        for name in cls.model_fields:
            raw = environ.get(cls.env_var(name))
            if raw is not None and raw.strip() != "":
                values[name] = raw.strip()
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            problems = []
            for e in err.errors():
                field = str(e["loc"][0]) if e["loc"] else ""
                source = cls.env_var(field) if field else "settings"
                if field == "database_url" and cls.env_var(field) not in environ:
                    source = "DATABASE_URL"
                problems.append(f"{source}: {e['msg']}")
            raise HubSettingsError("; ".join(problems)) from None
