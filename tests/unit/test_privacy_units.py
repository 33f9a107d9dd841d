"""Pure parts of hub/privacy: retention settings validation, the blur of other people's faces,
the data classes and the processing record's Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hub.privacy.blur import redact
from hub.privacy.report import cameras_section, to_markdown
from hub.privacy.retention import PURGERS, data_classes
from hub.settings import HubSettings, HubSettingsError
from hub.tables import Device
from models.faces import FaceBox


def _settings(**values: object) -> HubSettings:
    return HubSettings.model_validate({"data_dir": Path("/tmp/x"), **values})


def test_retention_defaults_are_valid_and_every_class_is_purged_or_reported() -> None:
    settings = _settings()
    classes = {c.name: c.days for c in data_classes(settings)}
    assert classes["unknown_face_events"] == 7
    assert classes["audit"] >= max(d for n, d in classes.items() if n != "audit")
    purged_elsewhere = {"face_snapshots", "face_snapshots_unknown"}  # hub.flows.maintenance
    assert set(classes) == set(PURGERS) | purged_elsewhere


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"INNSIGHT_RETENTION_OCR_DAYS": "0"}, "INNSIGHT_RETENTION_OCR_DAYS"),
        ({"INNSIGHT_RETENTION_LOG_DAYS": "many"}, "INNSIGHT_RETENTION_LOG_DAYS"),
        ({"INNSIGHT_RETENTION_AUDIT_DAYS": "400"}, "retention_audit_days (400)"),
        (
            {
                "INNSIGHT_RETENTION_BIOMETRIC_DAYS": "200",
                "INNSIGHT_RETENTION_FACE_EVENT_DAYS": "90",
            },
            "retention_biometric_days must not exceed",
        ),
    ],
)
def test_nonsense_retention_is_refused_naming_the_setting(env: dict[str, str], needle: str) -> None:
    with pytest.raises(HubSettingsError, match=r"retention|RETENTION") as caught:
        HubSettings.from_env({"INNSIGHT_DATA_DIR": "/tmp/x", **env})
    assert needle in str(caught.value)


def _scene() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, size=(120, 240, 3), dtype=np.uint8)


def test_redact_blurs_other_faces_and_keeps_the_subject() -> None:
    image = _scene()
    subject, other = FaceBox(10, 20, 60, 60), FaceBox(150, 30, 50, 50)
    out, blurred = redact(image, stored=subject, found=[FaceBox(12, 22, 58, 58), other])
    assert blurred == 1
    assert np.array_equal(out[20:80, 10:70], image[20:80, 10:70])
    assert np.abs(out[30:80, 150:200].astype(int) - image[30:80, 150:200]).mean() > 20
    assert np.array_equal(image, _scene()), "the input is not changed"


def test_redact_without_a_detector_blurs_everything_but_the_subject() -> None:
    image = _scene()
    subject = FaceBox(10, 20, 60, 60)
    out, blurred = redact(image, stored=subject, found=None)
    assert blurred == -1
    assert np.array_equal(out[20:80, 10:70], image[20:80, 10:70])
    assert np.abs(out[:, 120:].astype(int) - image[:, 120:]).mean() > 20


def test_a_crop_snapshot_keeps_its_largest_face() -> None:
    image = _scene()
    # the stored box is in the camera frame's pixels, outside this crop: the largest face wins
    out, blurred = redact(
        image,
        stored=FaceBox(900, 500, 80, 80),
        found=[FaceBox(0, 0, 100, 100), FaceBox(180, 10, 30, 30)],
    )
    assert blurred == 1
    assert np.array_equal(out[0:100, 0:100], image[0:100, 0:100])


def test_cameras_section_and_markdown() -> None:
    settings = _settings(attendance_cameras=["entrance-1", "back-door"])
    device = Device(device_id="edge-1", site="demo", cameras=["entrance-1", "lobby-1"])
    cameras = cameras_section(settings, [device], [])
    by_id = {c["camera_id"]: c for c in cameras}
    assert by_id["entrance-1"]["purposes"] == ["attendance (live faces only; opt-in per camera)"]
    assert by_id["lobby-1"]["purposes"] == []
    assert by_id["back-door"]["device_id"] is None
    record = {
        "site": "demo",
        "generated_at": "now",
        "controller_note": "fill in",
        "cameras": cameras,
        "biometrics": {
            "enrolled_people": 0,
            "templates": 0,
            "active_consents": {},
            "protection": "sealed",
            "face_match_threshold": 0.93,
        },
        "retention": [
            {"class": c.name, "days": c.days, "setting": c.setting, "holds": c.holds}
            for c in data_classes(settings)
        ],
        "models": [],
        "access": {"roles": {"dpo": ["privacy:admin"]}, "users": [], "api_keys": []},
        "storage": {
            "database": "sqlite+aiosqlite:///x",
            "objects": {"kind": "local folder"},
            "data_dir": "/tmp/x",
            "personal_fields": "encrypted",
        },
    }
    text = to_markdown(record)
    assert "| edge-1 | entrance-1 | attendance (live faces only; opt-in per camera) |" in text
    assert "retention_attendance_days" in text
