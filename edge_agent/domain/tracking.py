"""IoU tracking of faces across frames, and the one-event-per-appearance life cycle.

A detector says where faces are in *one* frame; the hub wants one row per *appearance*
(DESIGN §2, Frigate's new/update/end). This module links detections frame to frame by box
overlap and turns each track into messages that share one ``event_id``:

- ``new`` when a track is confirmed: seen in ``min_hits`` consecutive frames, so a detector
  flicker of a single frame makes no event at all;
- ``update`` when the track's identity decision changes or its best score improves by at least
  ``min_score_gain``, at most once every ``update_every`` frames (a pending improvement goes out
  when the interval has passed, and the ``end`` message always carries the final state);
- ``end`` when a confirmed track has not been seen for more than ``max_missed`` frames, or when
  the stream is flushed. ``ended_at`` is when the face was last seen.

A tentative (unconfirmed) track has no history to bridge a gap with, so it is dropped silently
on its first missed frame; a confirmed one survives ``max_missed`` missed frames (a face turned
away, a detector miss) without splitting the appearance in two.

Association is greedy: pairs of (open track, detection) are taken in decreasing IoU (ties to the
nearer centre) while IoU ≥ ``min_iou``. Faces are few and move little between frames, where
greedy and Hungarian assignment agree; greedy needs no solver.

All times come from the frames (``at``), never from a clock, so the life cycle is replayable.

Liveness (``TrackerConfig.liveness``): each track keeps a :class:`TrackLiveness`; its messages
carry the verdict and score, and the identity they carry is gated by it. A ``spoof`` track never
carries a person (whatever the vote says); with ``require_live`` a track carries one only once it
is ``live``, so an ``unchecked`` face is reported as unknown until it proves itself. A change of
verdict is an improvement worth an ``update``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from contracts.ids import uuid7
from contracts.messages import BBox, FacePayload, LivenessVerdict, Phase
from edge_agent.domain.events import PendingEvent
from edge_agent.domain.geometry import centre_distance, iou_matrix
from edge_agent.domain.liveness import LivenessPolicy, LivenessResult, TrackLiveness
from edge_agent.domain.matching import Decision, MatchPolicy, vote


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tracking and event-rate knobs; ``match`` is the recognition policy used for the vote."""

    min_iou: float = 0.3
    max_missed: int = 2
    min_hits: int = 2
    update_every: int = 5
    min_score_gain: float = 0.01
    match: MatchPolicy = field(default_factory=MatchPolicy)
    liveness: LivenessPolicy | None = None
    """Check liveness per track (None: every message says ``unchecked``)."""
    require_live: bool = False
    """Name a person only once the track is ``live`` (needs ``liveness``)."""
    max_jump: float = 0.0
    """A detection that overlaps no track still continues one whose box centre is within this
    many face widths and whose size is within 1.5x (a face that moved fast between detections
    on a stride; the scheduled pipeline sets it); 0: IoU only."""

    def __post_init__(self) -> None:
        if not 0.0 < self.min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1], got {self.min_iou}")
        if self.max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {self.max_missed}")
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {self.min_hits}")
        if self.update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {self.update_every}")
        if self.min_score_gain < 0:
            raise ValueError(f"min_score_gain must be >= 0, got {self.min_score_gain}")
        if self.max_jump < 0:
            raise ValueError(f"max_jump must be >= 0, got {self.max_jump}")
        if self.require_live and self.liveness is None:
            raise ValueError("require_live needs a liveness policy")


def _event_id(at: datetime) -> UUID:
    """A UUIDv7 stamped with the frame's time, so ids sort like the appearances they name."""
    return uuid7(max(0, int(at.timestamp() * 1000)))


class Track:
    """One face followed across frames; the tracker owns it, the pipeline adds votes to it."""

    def __init__(
        self,
        track_id: int,
        box: BBox,
        at: datetime,
        policy: MatchPolicy,
        liveness: LivenessPolicy | None = None,
        *,
        require_live: bool = False,
    ) -> None:
        self.track_id = track_id
        self.event_id = _event_id(at)
        self.box = box
        self.first_seen = at
        self.last_seen = at
        self.hits = 1
        self.missed = 0
        self.confirmed = False
        self.hits_at_last_vote = 0
        self.frames_since_message = 0
        self.quality_rejects = 0
        self.last_vote_at: datetime | None = None
        self.best_quality: float | None = None
        self.score = 1.0
        """The detector's confidence at the last detection (carried frames keep it)."""
        self.liveness = None if liveness is None else TrackLiveness(liveness)
        self._require_live = require_live
        self._policy = policy
        self._votes: list[Decision] = []
        self._sent: Decision | None = None
        self._sent_verdict: LivenessVerdict | None = None

    @property
    def votes(self) -> tuple[Decision, ...]:
        return tuple(self._votes)

    @property
    def announced(self) -> bool:
        """True once the ``new`` message of this appearance has been emitted."""
        return self._sent is not None

    @property
    def last_sent(self) -> Decision | None:
        """The decision carried by this appearance's latest message, if any."""
        return self._sent

    def add_vote(
        self, decision: Decision, at: datetime | None = None, quality: float | None = None
    ) -> None:
        """Record the decision made for one embedding of this track's face (taken from the
        frame at ``at``, of a face whose likeness scored ``quality``; both for the schedule)."""
        self._votes.append(decision)
        self.hits_at_last_vote = self.hits
        if at is not None:
            self.last_vote_at = at
        if quality is not None:
            self.best_quality = max(quality, self.best_quality or 0.0)

    def decision(self) -> Decision:
        """The track's identity so far (see :func:`edge_agent.domain.matching.vote`), gated by
        liveness: a spoof (or, with ``require_live``, a face not yet live) is unknown."""
        decision = vote(self._votes, self._policy)
        if decision.person_id is None or self.liveness is None:
            return decision
        verdict = self.liveness.result().verdict
        if verdict is LivenessVerdict.SPOOF or (
            self._require_live and verdict is not LivenessVerdict.LIVE
        ):
            return Decision(person_id=None, similarity=decision.similarity)
        return decision

    def liveness_result(self) -> LivenessResult | None:
        return None if self.liveness is None else self.liveness.result()

    def seen(self, box: BBox, at: datetime, min_hits: int) -> None:
        """The tracker matched a detection to this track in the frame taken at ``at``."""
        self.box = box
        self.hits += 1
        self.missed = 0
        self.last_seen = max(self.last_seen, at)  # a camera clock stepping back never un-sees
        if self.hits >= min_hits:
            self.confirmed = True

    def carried(self, box: BBox, at: datetime) -> None:
        """A tracker (not the detector) moved this track's box into the frame taken at ``at``."""
        self.box = box
        self.hits += 1
        self.last_seen = max(self.last_seen, at)

    @property
    def last_sent_verdict(self) -> LivenessVerdict | None:
        return self._sent_verdict

    def mark_sent(self, decision: Decision, verdict: LivenessVerdict | None = None) -> None:
        """A message carrying ``decision`` (and ``verdict``) was emitted for this appearance."""
        self._sent = decision
        self._sent_verdict = verdict
        self.frames_since_message = 0


class FaceTracker:
    """Tracks the faces of one camera and emits the messages of their appearances.

    Per frame: :meth:`observe` the clipped detection boxes, add votes to the returned tracks,
    then :meth:`emit`. At the end of the stream: :meth:`flush`.
    """

    def __init__(self, camera_id: str, config: TrackerConfig | None = None) -> None:
        self.camera_id = camera_id
        self.config = config or TrackerConfig()
        self._tracks: list[Track] = []
        self._ended: list[Track] = []
        self._next_id = 0

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Open tracks, tentative and confirmed, oldest first."""
        return tuple(self._tracks)

    def observe(self, boxes: Sequence[BBox], at: datetime) -> list[Track]:
        """Associate this frame's boxes with open tracks; returns the track of each box, in order.

        Boxes that match no track open a new (tentative) one. Tracks that matched nothing count a
        missed frame and, past the limit, end; their ``end`` messages come out of :meth:`emit`.
        """
        cfg = self.config
        for track in self._tracks:
            track.frames_since_message += 1
        assigned: dict[int, Track] = {}
        matched: set[int] = set()
        if self._tracks and boxes:
            overlaps = iou_matrix([t.box for t in self._tracks], boxes)
            pairs = [
                (float(overlaps[ti, bi]), -centre_distance(self._tracks[ti].box, boxes[bi]), ti, bi)
                for ti in range(len(self._tracks))
                for bi in range(len(boxes))
                if overlaps[ti, bi] >= cfg.min_iou
            ]
            for _, _, ti, bi in sorted(pairs, reverse=True):
                if ti in matched or bi in assigned:
                    continue
                matched.add(ti)
                assigned[bi] = self._tracks[ti]
                self._tracks[ti].seen(boxes[bi], at, cfg.min_hits)
        if cfg.max_jump > 0:
            self._match_jumps(boxes, at, matched, assigned)
        still_open = self._retire(matched)
        for bi, box in enumerate(boxes):
            if bi not in assigned:
                track = Track(
                    self._next_id, box, at, cfg.match, cfg.liveness, require_live=cfg.require_live
                )
                self._next_id += 1
                track.confirmed = cfg.min_hits <= 1
                assigned[bi] = track
                still_open.append(track)
        self._tracks = still_open
        return [assigned[bi] for bi in range(len(boxes))]

    def _match_jumps(
        self, boxes: Sequence[BBox], at: datetime, matched: set[int], assigned: dict[int, Track]
    ) -> None:
        """Second pass for what IoU left: nearest centres first, within ``max_jump`` widths."""
        cfg = self.config
        pairs = []
        for ti, track in enumerate(self._tracks):
            if ti in matched:
                continue
            for bi, box in enumerate(boxes):
                if bi in assigned:
                    continue
                ratio = box.w / max(track.box.w, 1)
                distance = centre_distance(track.box, box)
                if 1 / 1.5 <= ratio <= 1.5 and distance <= cfg.max_jump * max(track.box.w, box.w):
                    pairs.append((distance, ti, bi))
        for _, ti, bi in sorted(pairs):
            if ti in matched or bi in assigned:
                continue
            matched.add(ti)
            assigned[bi] = self._tracks[ti]
            self._tracks[ti].seen(boxes[bi], at, cfg.min_hits)

    def carry(self, boxes: Sequence[BBox | None], at: datetime) -> list[Track]:
        """A frame without detection: ``boxes`` are the open tracks' boxes (in :attr:`tracks`
        order) moved into this frame by a tracker such as optical flow, None where it lost one.

        A carried box moves the track and feeds liveness, but it is not a detection: it does not
        clear the track's missed count (flow happily follows the wall a face has left, so only
        the detector may say a face is still there); a lost one counts as a missed frame.
        Returns the tracks that were carried, in order. No track is opened: only the detector
        finds new faces.
        """
        if len(boxes) != len(self._tracks):
            raise ValueError(f"{len(boxes)} boxes for {len(self._tracks)} open tracks")
        for track in self._tracks:
            track.frames_since_message += 1
        carried: list[Track] = []
        matched: set[int] = set()
        for ti, (track, box) in enumerate(zip(self._tracks, boxes, strict=True)):
            if box is not None:
                track.carried(box, at)
                matched.add(ti)
                carried.append(track)
        self._tracks = self._retire(matched)
        return carried

    def _retire(self, matched: set[int]) -> list[Track]:
        """Count a missed frame on every track not in ``matched`` (indices into the open
        tracks); tentative ones vanish, confirmed ones past ``max_missed`` end. Returns the rest."""
        still_open: list[Track] = []
        for ti, track in enumerate(self._tracks):
            if ti not in matched:
                track.missed += 1
                if not track.confirmed:
                    continue  # a flicker: dropped without a message
                if track.missed > self.config.max_missed:
                    self._ended.append(track)
                    continue
            still_open.append(track)
        return still_open

    def emit(self, model_id: str, gallery_version: int | None) -> list[PendingEvent]:
        """Messages due after the last :meth:`observe`: ends first, then news and updates."""
        events: list[PendingEvent] = []
        for track in self._ended:
            events += self._close(track, track.last_seen, model_id, gallery_version)
        self._ended.clear()
        for track in self._tracks:
            if not track.confirmed or track.missed:
                continue
            if not track.announced:
                events.append(self._message(track, Phase.NEW, model_id, gallery_version))
            elif track.frames_since_message >= self.config.update_every and self._improved(track):
                events.append(self._message(track, Phase.UPDATE, model_id, gallery_version))
        return events

    def flush(self, at: datetime, model_id: str, gallery_version: int | None) -> list[PendingEvent]:
        """End every open appearance (end of stream, shutdown); tentative tracks just vanish.

        A face still in view on the last frame ends at ``at`` (it was there when we stopped
        looking, if ``at`` is not earlier than its last sighting); one already missing ends when
        it was last seen.
        """
        events = self.emit(model_id, gallery_version)
        for track in self._tracks:
            if not track.confirmed:
                continue
            ended_at = max(track.last_seen, at) if track.missed == 0 else track.last_seen
            events += self._close(track, ended_at, model_id, gallery_version)
        self._tracks = []
        return events

    def _close(
        self, track: Track, ended_at: datetime, model_id: str, gallery_version: int | None
    ) -> list[PendingEvent]:
        """The ``end`` message, preceded by ``new`` if the appearance was never announced."""
        events = []
        if not track.announced:
            events.append(self._message(track, Phase.NEW, model_id, gallery_version))
        events.append(self._message(track, Phase.END, model_id, gallery_version, ended_at))
        return events

    def _improved(self, track: Track) -> bool:
        sent = track.last_sent
        now = track.decision()
        if sent is None:
            return True
        live = track.liveness_result()
        if live is not None and live.verdict is not track.last_sent_verdict:
            return True
        if now.person_id != sent.person_id:
            return True
        return now.similarity > sent.similarity + self.config.min_score_gain

    def _message(
        self,
        track: Track,
        phase: Phase,
        model_id: str,
        gallery_version: int | None,
        ended_at: datetime | None = None,
    ) -> PendingEvent:
        decision = track.decision()
        live = track.liveness_result()
        verdict = LivenessVerdict.UNCHECKED if live is None else live.verdict
        track.mark_sent(decision, verdict)
        payload = FacePayload(
            person_id=decision.person_id,
            score=min(1.0, max(0.0, decision.similarity)),
            liveness=verdict,
            liveness_score=None if live is None or live.score is None else live.score,
            bbox=track.box,
            track_id=track.track_id,
            model_id=model_id,
            gallery_version=gallery_version,
            frames=track.hits,
        )
        return PendingEvent(
            event_id=track.event_id,
            phase=phase,
            camera_id=self.camera_id,
            started_at=track.first_seen,
            payload=payload,
            ended_at=None if ended_at is None else max(ended_at, track.first_seen),
        )
