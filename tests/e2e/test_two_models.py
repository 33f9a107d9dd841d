"""Issue 22 item 3: one hub, one enrolment, two edges on different face models, both recognise
her (real hub with its real face backend, real Mosquitto, two real edge agents, a clip built
from packaged photos).

Edge A runs the default backend (BlazeFace + dlib's ResNet, ``dlib-resnet-v1``), edge B the
LBPH backend (``lbph-u2-4x4``: incompatible 944-d templates). The person is enrolled once, while
only edge A's model is in the fleet; edge B's first heartbeat adds its model, the hub back-fills
its template from the kept (sealed) enrolment crop, publishes the LBPH gallery and announces it
to edge B only. Each edge then plays the clip (her portrait, then Tom Hanks): each names her
and leaves Tom Hanks unknown.

The hub and both edges share one set of loaded weights (the hub's BlazeFace, Face Mesh and dlib
objects, as ``build_analyzer`` composes them for each config): real models, loaded once.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
import pytest

from edge_agent.app import EdgeAgent
from edge_agent.config import (
    CameraConfig,
    EdgeConfig,
    GalleryConfig,
    HubConfig,
    LbphFaceConfig,
    MqttConfig,
    RecognitionConfig,
)
from hub.auth.local import issue_local_token
from innsight.broker import MosquittoBroker
from innsight.demo import photos
from innsight.demo.clip import ClipManifest, Segment, build_clip
from models.face_blazeface import BlazeFaceDlibAnalyzer, hub_face_analyzer
from models.face_lbph import LbphFaceAnalyzer
from models.faces import FaceAnalyzer
from testkit.consent import record_consent
from testkit.hub import SITE, RunningHub, hub_settings, running_hub, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PERSON = "emp-astronaut"
LBPH = "lbph-u2-4x4"
DLIB = "dlib-resnet-v1"


def _segments(person_id: str) -> list[Segment]:
    # LBPH is not mirror-invariant (a mirrored face is another texture): her portrait is shown
    # as it was enrolled, larger and darker than the enrolment photo
    return [
        Segment("astronaut", photos.astronaut_portrait(), 1, person_id, 0.8, brightness=0.85),
        Segment("tom-hanks", photos.tom_hanks(), 1, None, 0.55),
    ]


@pytest.fixture(scope="module")
def analyzer() -> BlazeFaceDlibAnalyzer:
    return hub_face_analyzer()


def _edge(
    tmp_path: Path,
    hub: RunningHub,
    broker: MosquittoBroker,
    device: str,
    clip: Path,
    analyzer: FaceAnalyzer,
    **model: Any,
) -> EdgeAgent:
    token = issue_local_token(hub.settings, ["cv:read"], subject=device)
    config = EdgeConfig(
        device_id=device,
        site=SITE,
        data_dir=tmp_path / device,
        mqtt=MqttConfig(host=broker.host, port=broker.port),
        hub=HubConfig(url=hub.settings.public_base_url, token=token),
        gallery=GalleryConfig(),
        cameras=[CameraConfig(id=f"{device}-cam", url=str(clip))],
        recognition=RecognitionConfig(**model),
    )
    return EdgeAgent(config, analyzer=analyzer)


@pytest.fixture
def clip(tmp_path: Path) -> ClipManifest:
    return build_clip(tmp_path / "clip.avi", PERSON, frames_per_segment=8, segments=_segments)


@pytest.fixture
def hub(
    tmp_path: Path, mosquitto: MosquittoBroker, analyzer: BlazeFaceDlibAnalyzer
) -> Iterator[RunningHub]:
    settings = hub_settings(tmp_path / "hub", mosquitto)
    with running_hub(settings, face_analyzer=analyzer) as running:
        yield running


def _faces_of(hub: RunningHub, device: str, at_least: int) -> list[dict[str, Any]] | None:
    items = hub.http.get("/api/v1/events", params={"limit": 200}).json()["items"]
    faces = [e for e in items if e["kind"] == "face" and e["device_id"] == device]
    return faces if len(faces) >= at_least else None


def _installed(agent: EdgeAgent, model_id: str) -> bool | None:
    """True once the agent's index holds the announced gallery and it is of ``model_id``."""
    announced = agent.gallery_sync.announced
    version = agent.index.version
    if announced is None or version is None or announced.model_id != model_id:
        return None
    return version >= announced.version or None


def test_one_enrolment_two_edges_on_two_models_both_recognise_her(
    tmp_path: Path,
    hub: RunningHub,
    mosquitto: MosquittoBroker,
    clip: ClipManifest,
    analyzer: BlazeFaceDlibAnalyzer,
) -> None:
    record_consent(hub.http, PERSON)
    ok, jpeg = cv2.imencode(".jpg", photos.astronaut_portrait())
    assert ok
    enrolled = hub.http.post(
        "/api/v1/cv/face/enroll",
        json={
            "employee_id": PERSON,
            "metadata": {"name": "E. Collins"},
            "images": [base64.b64encode(jpeg.tobytes()).decode()],
        },
    )
    assert enrolled.status_code == 200, enrolled.text

    with ExitStack() as stack:
        agents = {
            "edge-a": _edge(tmp_path, hub, mosquitto, "edge-a", clip.path, analyzer),
            "edge-b": _edge(
                tmp_path,
                hub,
                mosquitto,
                "edge-b",
                clip.path,
                LbphFaceAnalyzer(analyzer, analyzer.embedder),
                model=LbphFaceConfig(),
            ),
        }
        for agent in agents.values():
            agent.start()
            stack.callback(agent.stop, 10.0)
        # each edge gets the gallery of its own model: B's was back-filled from the kept crop
        for device, model_id in (("edge-a", DLIB), ("edge-b", LBPH)):
            wait_until(
                functools.partial(_installed, agents[device], model_id),
                what=f"{device} to install a {model_id} gallery",
                timeout_s=60,
            )
        galleries = {g["model_id"]: g for g in hub.http.get("/api/v1/cv/galleries").json()}
        assert set(galleries) == {DLIB, LBPH}
        assert galleries[LBPH]["origin"] == "heartbeat"
        assert galleries[LBPH]["backfill_status"] == "done"
        assert (galleries[LBPH]["backfill_done"], galleries[LBPH]["backfill_total"]) == (1, 1)
        assert galleries[LBPH]["templates"] == galleries[DLIB]["templates"] == 1
        for agent in agents.values():
            agent.start_cameras()
        for agent in agents.values():
            assert agent.wait_cameras(timeout_s=60)

    for device in agents:
        faces = wait_until(
            functools.partial(_faces_of, hub, device, clip.appearances),
            what=f"the face events of {device}",
        )
        assert sorted(e["person_id"] or "" for e in faces) == ["", PERSON], device
