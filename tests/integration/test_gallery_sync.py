"""GallerySync: a retained announcement over Mosquitto, the gallery over a local HTTP server."""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from contracts.messages import GalleryPerson, GallerySnapshot, GalleryVersion
from edge_agent.config import HubConfig
from edge_agent.ports import GalleryMatch
from edge_agent.services.gallery_sync import GallerySync
from edge_agent.transport.paho_transport import PahoTransport
from innsight.broker import MosquittoBroker, free_port
from models.faces import Embedding

pytestmark = pytest.mark.integration

SITE = "hotel-a"
DEVICE = "edge-01"
TOPIC = f"innsight/{SITE}/{DEVICE}/gallery/version"
MODEL = "dlib-resnet-v1"
TOKEN = "device-token-edge-01"
DIM = 4


class FakeFaceIndex:
    """In-memory FaceIndex: keeps the snapshot it was given; ``save`` writes a marker file."""

    def __init__(self) -> None:
        self._snapshot: GallerySnapshot | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str | None:
        return None if self._snapshot is None else self._snapshot.model_id

    @property
    def version(self) -> int | None:
        return None if self._snapshot is None else self._snapshot.version

    @property
    def person_ids(self) -> list[str]:
        return [] if self._snapshot is None else [p.person_id for p in self._snapshot.people]

    def __len__(self) -> int:
        return len(self.person_ids)

    def search(self, embedding: Embedding, k: int = 1) -> list[GalleryMatch]:  # noqa: ARG002
        return [GalleryMatch(pid, 1.0) for pid in self.person_ids[:k]]

    def replace(self, snapshot: GallerySnapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "gallery.version").write_text(str(self.version))


def snapshot_bytes(version: int, people: list[str]) -> bytes:
    rng = np.random.default_rng(version)
    return GallerySnapshot(
        version=version,
        model_id=MODEL,
        dim=DIM,
        created_at=datetime(2026, 11, 22, tzinfo=UTC),
        people=[
            GalleryPerson(
                person_id=pid,
                embeddings_b64=base64.b64encode(
                    rng.standard_normal((2, DIM)).astype("<f4").tobytes()
                ).decode(),
            )
            for pid in people
        ],
    ).to_json_bytes()


@dataclass
class GalleryServer:
    """The hub's gallery endpoint: serves ``files`` on 127.0.0.1, counts requests."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def gallery_server() -> Iterator[GalleryServer]:
    state = GalleryServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            state.authorizations.append(self.headers.get("Authorization"))
            body = state.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def announce(broker: MosquittoBroker, announcement: GalleryVersion) -> None:
    """The hub's side: publish the announcement retained, as the hub does."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-hub")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = client.publish(TOPIC, announcement.to_json_bytes(), qos=1, retain=True)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def announcement(version: int, body: bytes, url: str, people: int) -> GalleryVersion:
    return GalleryVersion(
        version=version,
        sha256=hashlib.sha256(body).hexdigest(),
        url=url,
        model_id=MODEL,
        people=people,
    )


@dataclass
class Edge:
    index: FakeFaceIndex
    sync: GallerySync
    index_dir: Path


@pytest.fixture
def edge(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[Edge]:
    index = FakeFaceIndex()
    transport = PahoTransport(SITE, DEVICE, mosquitto.host, mosquitto.port)
    # the device's credentials, as the agent builds its client from the config bundle
    http = httpx.Client(timeout=2.0, headers=HubConfig(token=SecretStr(TOKEN)).headers())
    sync = GallerySync(
        transport,
        index,
        SITE,
        DEVICE,
        http=http,
        index_dir=tmp_path / "gallery",
        model_id=MODEL,
        min_backoff_s=30.0,  # retries in these tests come from new announcements
        poll_s=0.05,
    )
    sync.attach()
    stop = threading.Event()
    worker = threading.Thread(target=sync.run, args=(stop,), daemon=True)
    worker.start()
    transport.start()
    yield Edge(index, sync, tmp_path / "gallery")
    stop.set()
    worker.join(5)
    transport.stop()
    http.close()


def wait_for_failures(sync: GallerySync, count: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sync.failures < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sync.failures >= count, f"expected {count} failures, saw {sync.failures}"


@pytest.mark.timeout(60)
def test_a_retained_announcement_installs_and_saves_the_gallery(
    mosquitto: MosquittoBroker, gallery_server: GalleryServer, edge: Edge
) -> None:
    body = snapshot_bytes(1, ["p-1", "p-2", "p-3"])
    gallery_server.files["g/1.json"] = body
    announce(mosquitto, announcement(1, body, gallery_server.url("g/1.json"), 3))

    assert edge.sync.wait_for_version(1, timeout_s=10)
    assert edge.index.version == 1
    assert edge.index.model_id == MODEL
    assert edge.index.person_ids == ["p-1", "p-2", "p-3"]
    assert (edge.index_dir / "gallery.version").read_text() == "1"
    assert edge.sync.failures == 0

    body2 = snapshot_bytes(2, ["p-1", "p-3"])
    gallery_server.files["g/2.json"] = body2
    announce(mosquitto, announcement(2, body2, gallery_server.url("g/2.json"), 2))
    assert edge.sync.wait_for_version(2, timeout_s=10)
    assert edge.index.person_ids == ["p-1", "p-3"]
    assert gallery_server.requests == ["/g/1.json", "/g/2.json"]
    assert gallery_server.authorizations == [f"Bearer {TOKEN}"] * 2


@pytest.mark.timeout(60)
def test_a_wrong_sha256_is_refused_and_the_old_gallery_kept(
    mosquitto: MosquittoBroker, gallery_server: GalleryServer, edge: Edge
) -> None:
    good = snapshot_bytes(1, ["p-1", "p-2"])
    gallery_server.files["g/1.json"] = good
    announce(mosquitto, announcement(1, good, gallery_server.url("g/1.json"), 2))
    assert edge.sync.wait_for_version(1, timeout_s=10)

    tampered = snapshot_bytes(2, ["intruder"])
    gallery_server.files["g/2.json"] = tampered
    honest = snapshot_bytes(2, ["p-1", "p-2", "p-4"])
    announce(mosquitto, announcement(2, honest, gallery_server.url("g/2.json"), 3))
    wait_for_failures(edge.sync, 1)
    assert edge.index.version == 1
    assert edge.index.person_ids == ["p-1", "p-2"]
    assert "sha256" in (edge.sync.last_error or "")
    assert (edge.index_dir / "gallery.version").read_text() == "1"
    assert not edge.sync.wait_for_version(2, timeout_s=0.2)

    # The hub fixes the file and announces again: the retry succeeds at once.
    gallery_server.files["g/2.json"] = honest
    announce(mosquitto, announcement(2, honest, gallery_server.url("g/2.json"), 3))
    assert edge.sync.wait_for_version(2, timeout_s=10)
    assert edge.index.person_ids == ["p-1", "p-2", "p-4"]


@pytest.mark.timeout(60)
def test_an_unreachable_hub_keeps_the_old_gallery(
    mosquitto: MosquittoBroker, gallery_server: GalleryServer, edge: Edge
) -> None:
    good = snapshot_bytes(1, ["p-1"])
    gallery_server.files["g/1.json"] = good
    announce(mosquitto, announcement(1, good, gallery_server.url("g/1.json"), 1))
    assert edge.sync.wait_for_version(1, timeout_s=10)

    body2 = snapshot_bytes(2, ["p-1", "p-2"])
    dead = f"http://127.0.0.1:{free_port()}/g/2.json"  # nothing listens there
    announce(mosquitto, announcement(2, body2, dead, 2))
    wait_for_failures(edge.sync, 1)
    assert edge.index.version == 1
    assert edge.index.person_ids == ["p-1"]
    assert "ConnectError" in (edge.sync.last_error or "")

    # A 404 from a live hub is a failure too.
    announce(mosquitto, announcement(2, body2, gallery_server.url("missing.json"), 2))
    wait_for_failures(edge.sync, 2)
    assert edge.index.version == 1


@pytest.mark.timeout(60)
def test_a_gallery_of_another_model_or_version_is_refused(
    mosquitto: MosquittoBroker, gallery_server: GalleryServer, edge: Edge
) -> None:
    body = snapshot_bytes(3, ["p-1"])
    gallery_server.files["g/3.json"] = body
    # The file says version 3; the announcement says 4.
    announce(mosquitto, announcement(4, body, gallery_server.url("g/3.json"), 1))
    wait_for_failures(edge.sync, 1)
    assert edge.index.version is None
    assert "announced v4" in (edge.sync.last_error or "")

    other = announcement(3, body, gallery_server.url("g/3.json"), 1).model_copy(
        update={"model_id": "arcface-r100"}
    )
    announce(mosquitto, other)
    wait_for_failures(edge.sync, 2)
    assert edge.index.version is None
    assert gallery_server.requests == ["/g/3.json"]  # the other model's gallery was not fetched
