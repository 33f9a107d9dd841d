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
from typing import Annotated, Any

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

    ingest_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    ingest_max_batch_delay_s: Annotated[float, Field(ge=0.0, le=10.0)] = 0.05

    max_upload_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024

    # The assistant's LLM (hub/assistant): an Ollama server; the hub starts without it and the
    # LLM endpoints answer 503 with the reason while it is unreachable (DESIGN §1).
    llm_model: str = Field(default="qwen2.5:7b-instruct", min_length=1, max_length=200)
    llm_base_url: str = Field(default="http://127.0.0.1:11434", pattern=r"^https?://[^\s/]+/?$")
    llm_timeout_s: Annotated[float, Field(gt=0, le=600)] = 120.0

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
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed by CORS (comma-separated in the environment); "
        "none by default.",
    )
    metrics_open_on_loopback: bool = Field(
        default=True,
        description="GET /metrics without a token from 127.0.0.1/::1; else metrics:read.",
    )
    rate_limit_heavy_per_minute: Annotated[float, Field(gt=0, le=60_000)] = 30.0
    rate_limit_heavy_burst: Annotated[int, Field(ge=1, le=10_000)] = 10
    rate_limit_login_per_minute: Annotated[float, Field(gt=0, le=60_000)] = 10.0
    rate_limit_login_burst: Annotated[int, Field(ge=1, le=10_000)] = 5

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
