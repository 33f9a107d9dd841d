"""Composition root of the edge agent: the only place that builds real adapters (DESIGN §3).

Threads: one capture loop per camera (decode → pipeline → outbox), the MQTT transport's own loop,
the outbox drainer, gallery sync and the heartbeat. A clean stop ends the cameras, gallery sync
and heartbeat first, waits (bounded) until the hub has acknowledged every event (the drainer keeps
publishing and re-sending meanwhile: it has a stop event of its own), then publishes ``stopped``
and disconnects; anything not acked by then stays in the outbox for the next start.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import cast

import httpx

from contracts.messages import CameraPayload, CameraState, CameraStats
from edge_agent import face_setup
from edge_agent.capture.errors import CaptureError
from edge_agent.capture.latest import LatestFrameGrabber
from edge_agent.capture.opencv_source import OpenCvFrameSource
from edge_agent.capture.resilient import ReconnectingFrameSource
from edge_agent.capture.snapshots import JpegSnapshotEncoder
from edge_agent.config import CameraConfig, EdgeConfig, EmbedBatchConfig, ScheduleConfig
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.motion import MotionPolicy
from edge_agent.domain.pipeline import BoxFlowFactory, FacePipeline, PipelineStats
from edge_agent.domain.schedule import EmbedPolicy, WorkPolicy
from edge_agent.index.hnsw_gallery import HnswFaceIndex
from edge_agent.index.sealed import gallery_key
from edge_agent.outbox.sqlite_outbox import SqliteOutbox
from edge_agent.ports import FrameSource
from edge_agent.sd_notify import SystemdNotifier
from edge_agent.services import host_stats
from edge_agent.services.drain import OutboxDrainer
from edge_agent.services.gallery_sync import GallerySync
from edge_agent.services.hazard_watch import HazardWatch, hazard_watch_from_config, load_detectors
from edge_agent.services.heartbeat import HeartbeatService, HeartbeatStats
from edge_agent.transport.paho_transport import PahoTransport
from edge_agent.vision.box_flow import LucasKanadeBoxFlow
from edge_agent.vision.embed_batching import (
    BatchableAnalyzer,
    BatchingFaceAnalyzer,
    EmbedBatcher,
    batching_wanted,
)
from models.anomaly import HazardDetector
from models.faces import FaceAnalyzer

logger = logging.getLogger(__name__)


@dataclass
class CameraCounters:
    frames: int = 0
    dropped_frames: int = 0
    started: float = field(default_factory=time.monotonic)
    connected: bool = False
    pipeline: PipelineStats = field(default_factory=PipelineStats)

    def snapshot(self) -> CameraStats:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return CameraStats(
            fps=self.frames / elapsed,
            frames=self.frames,
            dropped_frames=self.dropped_frames,
            connected=self.connected,
        )


def mqtt_ca_file(config: EdgeConfig) -> Path | None:
    """The broker CA file: ``mqtt.tls_ca``, or ``mqtt.tls_ca_pem`` (a bundle's inline PEM)
    written to ``{data_dir}/mqtt-ca.pem`` (a certificate, not a secret)."""
    mqtt = config.mqtt
    if mqtt.tls_ca_pem is None:
        return mqtt.tls_ca
    path = config.data_dir / "mqtt-ca.pem"
    if not path.is_file() or path.read_text(encoding="ascii") != mqtt.tls_ca_pem:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(mqtt.tls_ca_pem, encoding="ascii")
    return path


def build_analyzer(config: EdgeConfig) -> FaceAnalyzer:
    return face_setup.build_analyzer(config.recognition)


def embed_batching_for(
    batch: EmbedBatchConfig, analyzer: FaceAnalyzer
) -> tuple[EmbedBatcher | None, FaceAnalyzer]:
    """The batcher the config and the backend call for (None: each camera embeds itself), and
    the analyzer the pipelines use."""
    if not batching_wanted(batch.mode, analyzer):
        if batch.mode == "on":
            logger.warning("recognition.batch.mode is on, but %s cannot batch", analyzer.model_id)
        return None, analyzer
    batchable = cast(BatchableAnalyzer, analyzer)
    batcher = EmbedBatcher(
        batchable.embed_aligned_batch, window_s=batch.window_ms / 1000, max_batch=batch.max_batch
    )
    logger.info(
        "embeddings of all cameras are batched (window %.1f ms, up to %d faces)",
        batch.window_ms,
        batch.max_batch,
    )
    return batcher, BatchingFaceAnalyzer(batchable, batcher)


EventObserver = Callable[[str, list[PendingEvent]], None]
"""Told (camera id, events) right after a camera loop enqueued them: benchmarks time events."""


@dataclass(frozen=True)
class FrameSchedule:
    """The pipeline arguments of one camera's :class:`ScheduleConfig` (None: the older path)."""

    work: WorkPolicy | None
    motion: MotionPolicy | None
    box_flow: BoxFlowFactory | None
    embed: EmbedPolicy | None


def frame_schedule(schedule: ScheduleConfig, min_votes: int) -> FrameSchedule:
    """The pipeline arguments of ``schedule`` for one camera."""
    if not schedule.enabled:
        return FrameSchedule(None, None, None, None)
    return FrameSchedule(
        work=WorkPolicy(
            motion_gate=schedule.motion_gate,
            detect_every=schedule.detect_every,
            still_detect_every_s=schedule.still_detect_every_s,
            search_every=schedule.search_every,
            region_search=schedule.region_search,
        ),
        motion=MotionPolicy(threshold=schedule.motion_threshold, min_area=schedule.motion_min_area),
        box_flow=LucasKanadeBoxFlow if schedule.optical_flow else None,
        embed=EmbedPolicy(
            initial=min_votes,
            every_hits=None,
            refresh_s=schedule.embed_refresh_s,
            quality_gain=schedule.embed_quality_gain,
        ),
    )


class EdgeAgent:
    def __init__(
        self,
        config: EdgeConfig,
        *,
        analyzer: FaceAnalyzer | None = None,
        on_events: EventObserver | None = None,
    ) -> None:
        self.config = config
        self._on_events = on_events
        data_dir = config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.analyzer = analyzer or build_analyzer(config)
        self.face_checks = face_setup.build_face_checks(
            config.recognition,
            self.analyzer,
            [c.liveness for c in config.cameras if c.liveness is not None],
        )
        self.embed_batcher, self._pipeline_analyzer = embed_batching_for(
            config.recognition.batch, self.analyzer
        )
        self.gallery_dir = data_dir / "gallery"
        self.index = HnswFaceIndex.load(  # sealed at rest under the site's gallery key
            self.gallery_dir, key=gallery_key(config.gallery.key, data_dir)
        )
        self.outbox = SqliteOutbox(
            data_dir / "outbox.db", config.device_id, config.site, max_bytes=config.outbox.max_bytes
        )
        mqtt = config.mqtt
        self.transport = PahoTransport(
            config.site,
            config.device_id,
            mqtt.host,
            mqtt.port,
            client_id=mqtt.client_id,
            username=mqtt.username,
            password=mqtt.password,
            tls_ca=mqtt_ca_file(config),
            keepalive=mqtt.keepalive,
        )
        self.drainer = OutboxDrainer(
            self.outbox,
            self.transport,
            config.site,
            config.device_id,
            resend_after_s=config.outbox.resend_after_s,
        )
        self.http = httpx.Client(
            base_url=config.hub.url, timeout=config.hub.timeout_s, headers=config.hub.headers()
        )
        self.gallery_sync = GallerySync(
            self.transport,
            self.index,
            config.site,
            config.device_id,
            http=self.http,
            index_dir=self.gallery_dir,
            model_id=self.analyzer.model_id,
        )
        self.heartbeat = HeartbeatService(
            self.transport,
            config.site,
            config.device_id,
            self._heartbeat_stats,
            config.heartbeat_interval_s,
        )
        self.cameras: dict[str, CameraCounters] = {c.id: CameraCounters() for c in config.cameras}
        self.hazard_detectors: list[HazardDetector] = (
            load_detectors(config.hazards) if config.hazards.enabled else []
        )
        self.stop_event = threading.Event()
        # Set after the drain wait of stop(): the drainer outlives the cameras so that rows
        # enqueued last are published and unacked ones re-sent while stop() waits for acks.
        self._drain_stop = threading.Event()
        self._services: list[threading.Thread] = []
        self._camera_threads: list[threading.Thread] = []
        self.unacked_at_stop: int | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.drainer.attach()
        self.gallery_sync.attach()
        self.transport.start()
        for name, target, stop in (
            ("drain", self.drainer.run, self._drain_stop),
            ("gallery-sync", self.gallery_sync.run, self.stop_event),
            ("heartbeat", self.heartbeat.run, self.stop_event),
        ):
            thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
            thread.start()
            self._services.append(thread)
        logger.info(
            "edge %s (site %s) started: %d camera(s), gallery v%s, outbox depth %d",
            self.config.device_id,
            self.config.site,
            len(self.config.cameras),
            self.index.version,
            self.outbox.depth(),
        )

    def wait_for_gallery(self) -> bool:
        """Honour ``gallery.wait_on_start_s``: True when a gallery is loaded (or no wait asked)."""
        wait_s = self.config.gallery.wait_on_start_s
        if wait_s <= 0 or self.index.version is not None:
            return True
        got = self.gallery_sync.wait_for_version(1, wait_s)
        if not got:
            logger.warning(
                "no gallery after %.0f s: every face is unknown until one arrives", wait_s
            )
        return got

    def start_cameras(self) -> None:
        for camera in self.config.cameras:
            thread = threading.Thread(
                target=self._run_camera, args=(camera,), name=f"camera-{camera.id}", daemon=True
            )
            thread.start()
            self._camera_threads.append(thread)

    def wait_cameras(self, timeout_s: float | None = None) -> bool:
        """Block until every camera loop has ended (file sources end; streams end on stop)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._camera_threads:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            thread.join(remaining)
        return not any(t.is_alive() for t in self._camera_threads)

    def services_alive(self) -> bool:
        """Whether the drain, gallery-sync and heartbeat threads all still run."""
        return bool(self._services) and all(t.is_alive() for t in self._services)

    def stop(self, drain_timeout_s: float = 10.0) -> bool:
        """Stop everything; True when the outbox was fully acked before disconnecting."""
        self.stop_event.set()
        self.wait_cameras(timeout_s=10.0)
        drained = self.drainer.wait_until_drained(drain_timeout_s)
        self._drain_stop.set()
        if not drained:
            logger.warning(
                "stopping with %d event(s) not yet acked: they stay in the outbox for next start",
                self.outbox.depth(),
            )
        for thread in self._services:
            thread.join(timeout=5.0)
        self.unacked_at_stop = self.outbox.depth()
        if self.embed_batcher is not None:
            self.embed_batcher.close()
        self.transport.stop()
        self.outbox.close()
        self.http.close()
        return drained

    # -- camera loop -----------------------------------------------------------------------
    def _pipeline(self, camera: CameraConfig) -> FacePipeline:
        rec = self.config.recognition
        checks = self.face_checks
        encoder = JpegSnapshotEncoder() if rec.snapshots else None
        schedule = frame_schedule(camera.schedule or rec.schedule, rec.min_votes)
        return FacePipeline(
            self._pipeline_analyzer,
            self.index,
            face_setup.tracker_for_camera(checks, rec, camera.liveness),
            embed_every=rec.embed_every,
            snapshot_encoder=encoder,
            quality_gate=checks.quality_gate,
            landmarker=checks.landmarker,
            passive_liveness=checks.passive_liveness,
            work=schedule.work,
            motion=schedule.motion,
            box_flow=schedule.box_flow,
            embed_policy=schedule.embed,
        )

    def _hazard_watch(self) -> HazardWatch | None:
        """The camera loop's hazard stage (None when hazards are off)."""
        if not self.config.hazards.enabled:
            return None
        return hazard_watch_from_config(self.config.hazards, self.hazard_detectors)

    def _enqueue(self, events: list[PendingEvent], camera_id: str = "") -> None:
        for event in events:
            self.outbox.enqueue(event)
        if events:
            self.drainer.wake()
            if self._on_events is not None:
                self._on_events(camera_id, events)

    def _run_camera(self, camera: CameraConfig) -> None:
        """One camera's loop: frames -> pipeline -> outbox, until the stop or a file's end.

        A stream never ends on a failure: ReconnectingFrameSource reopens it and reports one
        ``lost``/``restored`` pair per outage, enqueued from the thread that reads it; live
        frames go through LatestFrameGrabber, so the pipeline always takes the newest one. Faces
        open when a stream is lost end at the last frame seen before it, not after the outage.
        """
        counters = self.cameras[camera.id]
        pipeline = self._pipeline(camera)
        hazards = self._hazard_watch()
        outage = threading.Event()

        def on_camera_event(event: PendingEvent) -> None:
            payload = event.payload
            lost = isinstance(payload, CameraPayload) and payload.state is CameraState.LOST
            counters.connected = not lost
            if lost:
                outage.set()
            self._enqueue([event])

        capture = OpenCvFrameSource(
            camera.id, camera.url, camera.width, camera.height, camera.stride, camera.realtime
        )
        resilient = ReconnectingFrameSource(capture, on_event=on_camera_event, stop=self.stop_event)
        live = capture.is_stream or camera.live
        grabber = LatestFrameGrabber(resilient) if live else None
        source: FrameSource = grabber if grabber is not None else resilient
        last_seen: datetime | None = None
        try:
            for frame in source.frames():
                if self.stop_event.is_set():
                    break
                if outage.is_set():
                    outage.clear()
                    self._enqueue(pipeline.flush(last_seen or frame.timestamp))
                    if hazards is not None:
                        self._enqueue(hazards.flush(last_seen or frame.timestamp))
                counters.connected = resilient.connected
                self._enqueue(pipeline.process(frame), camera.id)
                if hazards is not None:
                    self._enqueue(hazards.process(frame))
                counters.frames += 1
                counters.dropped_frames = grabber.dropped if grabber is not None else 0
                counters.pipeline = pipeline.stats
                last_seen = frame.timestamp
        except CaptureError as err:  # a file that cannot be read; its 'lost' is out already
            # no traceback: the chained cause may hold the unredacted URL
            logger.error("camera %s: %s", camera.id, err)  # noqa: TRY400
        finally:
            counters.connected = False
            source.close()
            self._enqueue(pipeline.flush(last_seen or datetime.now(UTC)))
            if hazards is not None:
                self._enqueue(hazards.flush(last_seen or datetime.now(UTC)))
            counters.pipeline = pipeline.stats
            logger.info("camera %s: capture ended after %d frames", camera.id, counters.frames)

    def _heartbeat_stats(self) -> HeartbeatStats:
        return HeartbeatStats(
            cameras={cid: c.snapshot() for cid, c in self.cameras.items()},
            outbox_depth=self.outbox.depth(),
            outbox_oldest_age_s=self.outbox.oldest_age_s(time.time()),
            dropped_events=self.outbox.dropped(),
            refused_events=self.outbox.refused(),
            gallery_version=self.index.version,
            models={
                "face": self.analyzer.model_id,
                **{f"hazard.{d.model_id}": d.model_id for d in self.hazard_detectors},
            },
            providers=["cpu"],
            cpu_load=host_stats.cpu_load(),
            rss_mb=host_stats.rss_mb(),
            version=host_stats.agent_version(),
        )


def run_agent(config: EdgeConfig, *, until_sources_end: bool = False) -> int:
    """``innsight edge run``: run until SIGTERM/SIGINT (or, with file sources, until they end)."""
    agent = EdgeAgent(config)
    stop = threading.Event()
    # under systemd (Type=notify, WatchdogSec): READY once running, pets while healthy
    systemd = SystemdNotifier.from_env()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    agent.start()
    agent.wait_for_gallery()
    agent.start_cameras()
    systemd.ready(f"{len(config.cameras)} camera(s)")
    while not stop.is_set():
        if until_sources_end and agent.wait_cameras(timeout_s=0.5):
            break
        if agent.services_alive():  # a dead service thread stops the pets: systemd restarts us
            systemd.pet()
        stop.wait(0.5)
    systemd.stopping()
    drained = agent.stop(drain_timeout_s=30.0 if until_sources_end else 10.0)
    return 0 if drained else 1
