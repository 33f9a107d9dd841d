"""The edge agent raises hazard alarms end to end: clip -> models -> alarms -> outbox ->
Mosquitto -> hub -> REST, with the real fall and fire models on ONNX Runtime (CPU).

The clip (MJPG, 640x480, 5 frames/s) is made of real photos:

==========  =================================================  ==================================
frames      what                                               expected
==========  =================================================  ==================================
0-3         the astronaut standing in the "vault" zone          intrusion (restricted all day)
4-6         coffee (nothing)                                   the intrusion ends
7           the rocket photo, ONE frame                        nothing (a one-frame "flame")
8-10        coffee
11-14       the rocket photo                                   fire
15-17       coffee                                             the fire ends
18-21       t1.jpg turned 90 degrees (people lying), outside    fall (not an intrusion)
            the zone
22-24       coffee                                             the fall ends
==========  =================================================  ==================================

Alarms need 2 frames with a signal in a window of 3 (the edge's default is 3 of 5: shortened
here to keep the test short) and end after 2 frames without one.

The "fire" is what the fire model sees in the rocket photo: the launch pad's floodlight flares
(no package ships a photo of a real fire; see tests/integration/test_hazard_models.py). Its
scores sit around 0.5, so this edge's fire threshold is 0.45. The point here is the alarm path:
one frame of "fire" raises nothing, a steady one raises one alarm, with one event id.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data

from edge_agent.app import EdgeAgent
from edge_agent.config import EdgeConfig, parse_config
from innsight.broker import MosquittoBroker
from innsight.demo import photos
from models.anomaly_yolo import FIRE_MODEL_ID, POSE_FALL_MODEL_ID, hazard_model_path
from models.faces import Image, ModelUnavailableError
from testkit.hub import (
    DEVICE,
    SITE,
    hub_settings,
    running_hub,
    wait_for_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

W, H = 640, 480
FPS = 5.0


def _fit(image: Image, align: str = "centre") -> Image:
    """``image`` scaled into a 640x480 grey frame, left/centre/right aligned."""
    h, w = image.shape[:2]
    scale = min(W / w, H / h)
    nw, nh = int(w * scale), int(h * scale)
    frame = np.full((H, W, 3), 110, dtype=np.uint8)
    x0 = {"left": 0, "centre": (W - nw) // 2, "right": W - nw}[align]
    y0 = (H - nh) // 2
    frame[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return frame


def _skimage(name: str) -> Image:
    return np.ascontiguousarray(np.asarray(getattr(data, name)(), dtype=np.uint8)[:, :, ::-1])


def build_clip(path: Path) -> int:
    astronaut = _fit(photos.astronaut(), "left")
    coffee = _fit(_skimage("coffee"))
    rocket = _fit(_skimage("rocket"))
    turned = np.asarray(cv2.rotate(photos.group_photo(), cv2.ROTATE_90_COUNTERCLOCKWISE))
    lying = _fit(turned.astype(np.uint8), "right")
    script = (
        [astronaut] * 4
        + [coffee] * 3
        + [rocket]
        + [coffee] * 3
        + [rocket] * 4
        + [coffee] * 3
        + [lying] * 4
        + [coffee] * 3
    )
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (W, H))
    assert writer.isOpened()
    for frame in script:
        writer.write(frame)
    writer.release()
    return len(script)


def edge_config(tmp_path: Path, mosquitto: MosquittoBroker, hub_url: str, clip: Path) -> EdgeConfig:
    return parse_config(
        f"""\
device_id: {DEVICE}
site: {SITE}
data_dir: {tmp_path / "edge"}
mqtt: {{host: {mosquitto.host}, port: {mosquitto.port}}}
hub: {{url: {hub_url}}}
cameras:
  - id: back-door
    url: {clip}
recognition:
  model: {{backend: dlib, upsample: 0}}
hazards:
  enabled: true
  stride: 1
  window: 3
  min_hits: 2
  clear_after: 2
  thresholds: {{fire: 0.45}}
  zones:
    - id: vault
      camera: back-door
      polygon: [[0, 0.5], [0.45, 0.5], [0.45, 1], [0, 1]]
      restricted_hours: [{{start: "00:00", end: "00:00"}}]
"""
    )


def anomalies(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if item["kind"] == "anomaly":
            out.setdefault(item["payload"]["type"], []).append(item)
    return out


def test_the_edge_agent_raises_hazard_alarms_through_the_outbox_to_the_hub(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    for model_id in (FIRE_MODEL_ID, POSE_FALL_MODEL_ID):
        try:
            hazard_model_path(model_id)
        except ModelUnavailableError as err:
            pytest.skip(str(err))
    clip = tmp_path / "back-door.avi"
    frames = build_clip(clip)
    settings = hub_settings(tmp_path / "hub", mosquitto)
    with running_hub(settings) as hub:
        agent = EdgeAgent(edge_config(tmp_path, mosquitto, settings.public_base_url, clip))
        # the edge's default hazard models: fire (YOLO) and falls from BlazePose's keypoints
        assert sorted(d.model_id for d in agent.hazard_detectors) == [
            FIRE_MODEL_ID,
            POSE_FALL_MODEL_ID,
        ]
        agent.start()
        try:
            agent.start_cameras()
            assert agent.wait_cameras(timeout_s=150), "the clip was not processed in time"
            assert agent.cameras["back-door"].frames == frames
        finally:
            drained = agent.stop(drain_timeout_s=30.0)
        assert drained, "the hub did not acknowledge every event"

        def complete(items: list[dict[str, Any]]) -> bool:
            found = anomalies(items)
            return all(
                len(found.get(kind, [])) >= 1 and found[kind][0]["phase"] == "end"
                for kind in ("intrusion", "fire", "fall")
            )

        items = wait_for_events(hub.http, complete, kind="anomaly", limit=100)

    found = anomalies(items)
    assert sorted(found) == ["fall", "fire", "intrusion"]  # no smoke, no water
    assert all(len(rows) == 1 for rows in found.values()), found  # one alarm each
    intrusion, fire, fall = found["intrusion"][0], found["fire"][0], found["fall"][0]
    for row in (intrusion, fire, fall):
        assert row["camera_id"] == "back-door"
        assert row["phase"] == "end"
        assert row["messages"] >= 2  # new ... end, one event id
        assert row["ended_at"] is not None
        assert row["payload"]["bbox"]["w"] > 0
    assert intrusion["payload"]["zone"] == "vault"
    assert intrusion["score"] >= 0.5
    assert fall["score"] >= 0.6
    assert fall["payload"]["zone"] is None  # the people lie outside the vault
    # the fire alarm began with the steady segment (frame 11), not the lone frame 7
    t0 = datetime.fromisoformat(intrusion["started_at"])
    fire_at = (datetime.fromisoformat(fire["started_at"]) - t0).total_seconds()
    assert fire_at == pytest.approx(11 / FPS, abs=0.05)
    fall_at = (datetime.fromisoformat(fall["started_at"]) - t0).total_seconds()
    assert fall_at == pytest.approx(18 / FPS, abs=0.05)
    # snapshots of the hazards travelled with the events and were stored by the hub
    assert all(row["snapshot_key"] for row in (intrusion, fire, fall))
