"""Edge agent configuration: frozen pydantic models loaded from YAML.

``load_config`` turns every validation error into ``file:line:col: field: reason`` using the YAML
node marks, so ``innsight edge check-config`` points at the line to fix.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
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

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttConfig(_Frozen):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    client_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None
    tls_ca_pem: str | None = Field(
        default=None,
        description="The CA certificate PEM inline (device bundles); the agent writes it to a "
        "file under data_dir. Exclusive with tls_ca.",
    )
    keepalive: Annotated[int, Field(ge=5, le=600)] = 30

    @field_validator("tls_ca_pem")
    @classmethod
    def _looks_like_pem(cls, value: str | None) -> str | None:
        if value is not None and "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError("not a PEM certificate (no BEGIN CERTIFICATE line)")
        return value

    @model_validator(mode="after")
    def _one_ca(self) -> MqttConfig:
        if self.tls_ca is not None and self.tls_ca_pem is not None:
            raise ValueError("give tls_ca (a file) or tls_ca_pem (inline), not both")
        return self


class HubConfig(_Frozen):
    url: str = Field(default="http://127.0.0.1:8000", description="Hub base URL (galleries).")
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    token: SecretStr | None = Field(
        default=None, description="The device's bearer token for the hub (from its bundle)."
    )

    def headers(self) -> dict[str, str]:
        if self.token is None:
            return {}
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}


LivenessMode = Literal["off", "flag", "require"]
"""``off``: events say ``unchecked``; ``flag``: events carry the verdict; ``require``: a track
is named only once it is ``live``."""


class ScheduleConfig(_Frozen):
    """How much work each frame gets (edge_agent/domain/schedule.py, motion.py); set under
    ``recognition.schedule`` for every camera, or under ``cameras[].schedule`` for one.

    ``enabled: false`` is the older path: the detector on every frame, an embedding every
    ``recognition.embed_every`` sightings of a face.
    """

    enabled: bool = True
    motion_gate: bool = Field(
        default=True,
        description="Skip the detector while nothing moves (background subtraction on a "
        "160x120 grey copy of the frame).",
    )
    motion_threshold: Annotated[float, Field(gt=0, lt=255)] = Field(
        default=20.0, description="Grey levels a sample must change by to count as moving."
    )
    motion_min_area: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.002, description="Share of the samples that must change for the scene to move."
    )
    still_detect_every_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=2.0,
        description="On a still scene, detect anyway this often (seconds of stream time), so a "
        "person standing still is not lost.",
    )
    detect_every: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3,
        description="While the scene moves and faces are tracked, run the detector every n-th "
        "frame; the frames between move the tracked boxes by optical flow. A new face is "
        "re-detected at once.",
    )
    search_every: Annotated[int, Field(ge=1, le=100)] = Field(
        default=1,
        description="While the scene moves and nobody is tracked, run the detector every n-th "
        "frame (a face may be coming in: each frame waited delays its first event by a frame).",
    )
    region_search: bool = Field(
        default=True,
        description="While the scene moves, search only where it moved and around the tracked "
        "faces (the whole frame at least every still_detect_every_s); false: the whole frame "
        "every time.",
    )
    optical_flow: bool = Field(
        default=True,
        description="Move boxes between detections by Lucas-Kanade optical flow (false: keep "
        "them where the detector last saw them).",
    )
    embed_refresh_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=2.0,
        description="After a face's first votes, embed it again this often (seconds).",
    )
    embed_quality_gain: Annotated[float, Field(ge=0, le=10)] = Field(
        default=0.25,
        description="Embed sooner when the face is this much better (size x detector score) "
        "than the best one embedded so far (0.25: 25 %).",
    )


class CameraConfig(_Frozen):
    id: Identifier
    url: str = Field(min_length=1, description="rtsp://... or a video file path.")
    width: Annotated[int, Field(ge=64, le=4096)] = 640
    height: Annotated[int, Field(ge=64, le=4096)] = 480
    stride: Annotated[int, Field(ge=1, le=100)] = 1
    realtime: bool = False
    liveness: LivenessMode | None = Field(
        default=None,
        description="This camera's liveness mode; unset: recognition.liveness.mode. "
        "Provisioning sets require on the hub's attendance cameras.",
    )
    schedule: ScheduleConfig | None = Field(
        default=None, description="This camera's frame schedule; unset: recognition.schedule."
    )
    live: bool = Field(
        default=False,
        description="With realtime: treat the file as a live camera, keeping only the newest "
        "frame (frames the pipeline cannot keep up with are dropped, as on a stream).",
    )

    @model_validator(mode="after")
    def _live_needs_realtime(self) -> CameraConfig:
        if self.live and not self.realtime:
            raise ValueError("live needs realtime: true (a file paced like a camera)")
        return self


FaceDetectorChoice = Literal["blazeface", "blazeface-full", "hog"]
BLAZEFACE_VARIANTS = {"blazeface": "blazeface-short", "blazeface-full": "blazeface-full"}
"""The manifest id of each BlazeFace ``detector`` choice."""


class DlibFaceConfig(_Frozen):
    """dlib's ResNet embedder (CC0); faces found by BlazeFace (Apache-2.0; short-range, the
    default, or ``blazeface-full`` for faces far from the camera: docs/blazeface-full-range.md)
    or by dlib's HOG detector (``detector: hog``, ``upsample`` applies to it only)."""

    backend: Literal["dlib"] = "dlib"
    detector: FaceDetectorChoice = "blazeface"
    min_face_px: Annotated[int, Field(ge=16, le=1000)] = 48  # blazeface: smallest face sought
    upsample: Annotated[int, Field(ge=0, le=2)] = 1


class LbphFaceConfig(_Frozen):
    """LBPH templates (``lbph-u2-4x4``, models/face_lbph.py: weightless, classical) on dlib's
    alignment; faces found by BlazeFace or HOG as with ``dlib``. A second CPU model with its own
    gallery: it matches a face against its own enrolment photo, not across photos."""

    backend: Literal["lbph"] = "lbph"
    detector: FaceDetectorChoice = "blazeface"
    min_face_px: Annotated[int, Field(ge=16, le=1000)] = 48
    upsample: Annotated[int, Field(ge=0, le=2)] = 1


class YuNetFaceConfig(_Frozen):
    """OpenCV YuNet + SFace (MIT / Apache-2.0); weights from ``innsight models fetch``."""

    backend: Literal["yunet-sface"] = "yunet-sface"
    models_dir: Path | None = None
    score_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.7


class InsightFaceConfig(_Frozen):
    """SCRFD + ArcFace from InsightFace's buffalo_l: NON-COMMERCIAL weights."""

    backend: Literal["insightface"] = "insightface"
    models_dir: Path | None = None
    det_size: Annotated[int, Field(ge=160, le=1280, multiple_of=32)] = 640
    accept_non_commercial_licence: bool = Field(
        default=False,
        description="buffalo_l is licensed for non-commercial research only: set true to "
        "confirm this deployment may use it.",
    )

    @model_validator(mode="after")
    def _licence_accepted(self) -> InsightFaceConfig:
        if not self.accept_non_commercial_licence:
            raise ValueError(
                "InsightFace's buffalo_l weights are non-commercial only: set "
                "accept_non_commercial_licence: true to use them, or pick dlib / yunet-sface"
            )
        return self


FaceBackendConfig = Annotated[
    DlibFaceConfig | LbphFaceConfig | YuNetFaceConfig | InsightFaceConfig,
    Field(discriminator="backend"),
]


FACE_BACKEND_TAGS = frozenset({"dlib", "lbph", "yunet-sface", "insightface"})
"""Discriminator tags pydantic puts in error locations; left out of the YAML path."""


class FaceQualityConfig(_Frozen):
    """The quality gate before matching (models/face_quality.py)."""

    enabled: bool = True
    min_face_px: Annotated[int, Field(ge=1, le=4096)] = 40
    min_sharpness: Annotated[float, Field(ge=0)] = 0.08
    max_yaw_deg: Annotated[float, Field(gt=0, le=90)] = 45.0
    max_roll_deg: Annotated[float, Field(gt=0, le=180)] = 45.0


class LivenessConfig(_Frozen):
    """Liveness per track (edge_agent/domain/liveness.py).

    ``off``: events say ``unchecked``; ``flag``: events carry the verdict, and a ``spoof`` track
    is never named; ``require``: a track is named only once it is ``live``.
    """

    mode: LivenessMode = "flag"
    window_frames: Annotated[int, Field(ge=2, le=1000)] = 45
    min_frames: Annotated[int, Field(ge=1, le=1000)] = 5
    passive_model: bool = Field(
        default=False, description="Also run MiniFASNet (minifasnet-v2, fetched) on every face."
    )
    models_dir: Path | None = None

    @model_validator(mode="after")
    def _window(self) -> LivenessConfig:
        if self.min_frames > self.window_frames:
            raise ValueError("min_frames must not exceed window_frames")
        return self


class EmbedBatchConfig(_Frozen):
    """Embeddings of all cameras gathered into one inference (edge_agent/vision/embed_batching.py).
    ``auto``: on when the embedder runs on CUDA or TensorRT, where a batch of several faces costs
    about one; off on a CPU, where it saves little and the window adds latency."""

    mode: Literal["auto", "on", "off"] = "auto"
    window_ms: Annotated[float, Field(ge=0, le=100)] = Field(
        default=4.0, description="How long the first face waits for others to join its batch."
    )
    max_batch: Annotated[int, Field(ge=1, le=64)] = 16


class RecognitionConfig(_Frozen):
    model: FaceBackendConfig = DlibFaceConfig()
    quality: FaceQualityConfig = FaceQualityConfig()
    liveness: LivenessConfig = LivenessConfig()
    match_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.93  # edge_agent/domain/matching.py
    embed_every: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3, description="Embed every n-th sighting (only with schedule.enabled: false)."
    )
    schedule: ScheduleConfig = ScheduleConfig()
    batch: EmbedBatchConfig = EmbedBatchConfig()
    min_votes: Annotated[int, Field(ge=1, le=50)] = 2
    min_hits: Annotated[int, Field(ge=1, le=50)] = 2
    max_missed: Annotated[int, Field(ge=0, le=100)] = 2
    snapshots: bool = True
    threads: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1,
        description="ONNX Runtime threads per face-model inference (detector, Face Mesh, "
        "embedder, passive liveness). The camera loops already run in parallel: one thread each "
        "kept four cameras at 58 frames/s on 2 cores where the default pool, one thread per core "
        "per session, gave 50 (benchmarks/RESULTS.md). Raise it for one camera on many cores.",
    )


class OutboxConfig(_Frozen):
    resend_after_s: Annotated[float, Field(gt=0)] = 10.0
    max_bytes: Annotated[int, Field(ge=1024 * 1024)] = 2 * 1024**3


class GalleryConfig(_Frozen):
    wait_on_start_s: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="Wait this long for a first gallery before processing frames (0: don't).",
    )
    key: SecretStr | None = Field(
        default=None,
        description="The site's gallery key (32 url-safe base64 bytes) sealing the saved "
        "gallery (edge_agent/index/sealed.py); unset: {data_dir}/gallery.key, made once.",
    )


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class RestrictedHoursConfig(_Frozen):
    """A person in the zone from ``start`` to ``end`` (local time, ``HH:MM``) is an intrusion;
    ``end`` <= ``start`` runs past midnight, ``start`` == ``end`` is the whole day."""

    start: time
    end: time
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)


class HazardZoneConfig(_Frozen):
    id: Identifier
    camera: Identifier
    polygon: list[tuple[Fraction, Fraction]] = Field(
        min_length=3,
        description="Corners as [x, y] fractions of the frame's width and height (0..1).",
    )
    restricted_hours: list[RestrictedHoursConfig] = Field(
        default_factory=list, description="When a person inside is an intrusion (none: never)."
    )
    water: bool = Field(default=False, description="A floor area watched for water/flooding.")


class HazardThresholdsConfig(_Frozen):
    fire: Fraction = 0.5
    smoke: Fraction = 0.5
    person: Fraction = 0.5
    fall: Fraction = 0.6  # the fall model says "fall" at ~0.53 on close-ups of objects
    water: Fraction = 0.5


class WaterConfig(_Frozen):
    learn_frames: Annotated[int, Field(ge=1, le=1000)] = 10
    min_area: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.02, description="Smallest wet patch, as a fraction of the zone's area."
    )


HazardModelId = Literal["fire-yolov8-flame", "fall-yolov8n", "pose-landmark-full"]
"""``pose-landmark-full``: falls from BlazePose keypoints (Apache-2.0), in place of the AGPL
``fall-yolov8n`` (docs/hazards.md)."""
HAZARD_MODELS: tuple[HazardModelId, ...] = ("fire-yolov8-flame", "pose-landmark-full")
"""Falls (and the people for intrusion) from BlazePose by default: it beat ``fall-yolov8n`` on
the fall clips (benchmarks/hazards.py --falls; docs/hazards.md)."""


class HazardsConfig(_Frozen):
    """Fire, smoke, fall, intrusion and water (docs/hazards.md says what each can see)."""

    enabled: bool = False
    models: list[HazardModelId] = Field(default_factory=lambda: list(HAZARD_MODELS))
    models_dir: Path | None = None
    stride: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=5, description="Run the hazard models on every n-th frame a camera processes."
    )
    threads: Annotated[int, Field(ge=1, le=64)] | None = None
    thresholds: HazardThresholdsConfig = HazardThresholdsConfig()
    window: Annotated[int, Field(ge=1, le=100)] = 5
    min_hits: Annotated[int, Field(ge=1, le=100)] = 3
    clear_after: Annotated[int, Field(ge=1, le=1000)] = 5
    update_every: Annotated[int, Field(ge=1, le=1000)] = 5
    timezone: str = Field(default="UTC", description="IANA zone of the restricted hours.")
    zones: list[HazardZoneConfig] = Field(default_factory=list)
    water: WaterConfig = WaterConfig()
    snapshots: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Asia/Ho_Chi_Minh)"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HazardsConfig:
        if self.min_hits > self.window:
            raise ValueError(f"min_hits ({self.min_hits}) cannot exceed window ({self.window})")
        ids = [z.id for z in self.zones]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"zone ids must be unique: {', '.join(duplicates)}")
        return self


class EdgeConfig(_Frozen):
    device_id: Identifier
    site: Identifier
    data_dir: Path = Path("var/edge")
    mqtt: MqttConfig = MqttConfig()
    hub: HubConfig = HubConfig()
    cameras: list[CameraConfig] = Field(min_length=1)
    recognition: RecognitionConfig = RecognitionConfig()
    outbox: OutboxConfig = OutboxConfig()
    gallery: GalleryConfig = GalleryConfig()
    heartbeat_interval_s: Annotated[float, Field(gt=0)] = 30.0
    hazards: HazardsConfig = HazardsConfig()

    @model_validator(mode="after")
    def _zones_on_cameras(self) -> EdgeConfig:
        cameras = {c.id for c in self.cameras}
        unknown = sorted({z.camera for z in self.hazards.zones} - cameras)
        if unknown:
            raise ValueError(f"hazards.zones name unknown camera(s): {', '.join(unknown)}")
        return self


class ConfigError(ValueError):
    """The config file is missing, not YAML, or invalid; ``str()`` lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _node_at(
    root: yaml.Node | None, loc: tuple[int | str, ...], *, want_key: bool = False
) -> yaml.Node | None:
    """The YAML node at ``loc`` (its key node when ``want_key``: an unknown key is the key's
    fault, not its value's); the deepest existing parent when the path is missing."""
    node = root
    for depth, key in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            match = [
                (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key
            ]
            if not match:
                return node
            key_node, node = match[0]
            if want_key and depth == len(loc) - 1:
                return key_node
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return node
    return node


def parse_config(text: str, source: str = "<config>") -> EdgeConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError([f"{where}: not valid YAML: {err}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}:1:1: the config must be a mapping of settings"])
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in FACE_BACKEND_TAGS))
            node = _node_at(root, loc, want_key=e["type"] == "extra_forbidden")
            line = f"{node.start_mark.line + 1}:{node.start_mark.column + 1}" if node else "1:1"
            field = ".".join(str(p) for p in loc) or "<root>"
            problems.append(f"{source}:{line}: {field}: {e['msg']}")
        raise ConfigError(problems) from None


def load_config(path: Path) -> EdgeConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}: cannot read the config: {err.strerror}"]) from None
    return parse_config(text, str(path))
