"""Liveness per track: is the face in front of the camera a live person, or a photo or a screen?

Pure (numpy only). The pipeline feeds one :class:`LivenessObservation` per frame in which the
track's face is seen; :meth:`TrackLiveness.result` gives the verdict so far. Landmarks are in the
68-point iBUG layout; on the edge they come from MediaPipe Face Mesh (``models.face_mesh``,
Apache-2.0: each of the 68 is the mesh vertex at the same place), not from dlib's predictor, whose
iBUG 300-W training data excludes commercial use. On t1.jpg the mesh's eye points sit within
4-6 % of the eye distance of dlib's, and the eye openness reads alike on open eyes.

- ``unchecked`` until ``min_frames`` frames with landmarks have been seen and no cue has decided;
- ``live`` on a cue a printed photo cannot give:
  - an **eye blink**: the eyes close for 1 to ``max_blink_frames`` frames between open ones.
    Openness is the eye aspect ratio (EAR, Soukupová & Čech 2016: eye height over eye width, from
    the 68 landmarks) *divided by the nose-bridge length over the interocular distance*: a photo
    tilted back and forth shortens eye height and nose alike, so it never "blinks"; a real blink
    shortens the eyes only. Closed is below ``closed_ratio`` of the open level (the 90th
    percentile of the track's own openness); the synthetic closed eyes of the tests measure ~0.3.
  - **parallax**: a flat picture moved in any way (shifted, turned, tilted towards the camera)
    maps its landmarks by one homography; a head turning in 3-D does not (the nose moves against
    the cheeks). The RMS residual of the best homography from the track's first landmarks to the
    current ones, over the interocular distance, must exceed ``parallax_live`` in at least
    ``parallax_frames`` frames (one glitch of the landmarker is not a head turn).
  - a passive single-frame model's mean score (MiniFASNet, when fetched) of ``passive_live`` or
    more.
- ``spoof`` on evidence of a presentation attack, final for the track: a passive model's mean
  score of ``passive_spoof`` or less, a screen's moiré pattern or a glossy surface's glare in most
  frames; or, not final, no live cue within ``window_frames`` frames with landmarks (a later blink
  or head turn still makes it ``live``: people do not blink on command).

Small faces are not judged: below ``min_iod_px`` between the eye centres (a face box of about
75 px with dlib) a pixel of landmark jitter is several percent of the face, and on the demo clip's
52-62 px faces (a static photo, zoomed and re-lit) it faked both a blink and parallax. Such frames
are counted but give no cue, and a track made only of them stays ``unchecked``: the camera must
see the face closer (a door or a kiosk camera) for liveness to be decided.

What this cannot see (and what the tests therefore do not claim): a *video* replay of the person
blinking and turning passes the blink and parallax cues; only the moiré/glare cues and the passive
model address it, and the moiré/glare thresholds are set on synthetic patterns, not on recorded
replays. A bent or curved print is not planar and can show parallax. A 3-D mask passes.

The score (``liveness_score`` on the wire) is in [0, 1]: ~0.95 for a blink, 0.6-0.9 for parallax
(more for more), the passive model's own score, below 0.5 for spoof (how close the track came to
showing parallax), and None while unchecked.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from contracts.messages import LivenessVerdict

FloatArray = npt.NDArray[np.float64]

_RIGHT_EYE = slice(36, 42)
_LEFT_EYE = slice(42, 48)
# Points for the homography: jaw, brows, nose, mouth (the eyes blink: they are left out).
_RIGID = np.r_[0:36, 48:68]


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    min_frames: int = 5
    window_frames: int = 45
    min_iod_px: float = 32.0
    closed_ratio: float = 0.6
    max_blink_frames: int = 8
    parallax_live: float = 0.04
    parallax_frames: int = 3
    moire_spoof: float = 1.8
    glare_spoof: float = 0.25
    texture_fraction: float = 0.5
    passive_live: float = 0.8
    passive_spoof: float = 0.2
    passive_min_frames: int = 3
    history: int = 300

    def __post_init__(self) -> None:
        if not 1 <= self.min_frames <= self.window_frames:
            raise ValueError("need 1 <= min_frames <= window_frames")
        if not 0.0 < self.closed_ratio < 1.0:
            raise ValueError(f"closed_ratio must be in (0, 1), got {self.closed_ratio}")
        if self.max_blink_frames < 1 or self.parallax_frames < 1 or self.passive_min_frames < 1:
            raise ValueError("max_blink_frames, parallax_frames, passive_min_frames must be >= 1")
        if self.parallax_live <= 0:
            raise ValueError(f"parallax_live must be > 0, got {self.parallax_live}")
        if not 0.0 <= self.passive_spoof < self.passive_live <= 1.0:
            raise ValueError("need 0 <= passive_spoof < passive_live <= 1")
        if not 0.0 < self.texture_fraction <= 1.0:
            raise ValueError("texture_fraction must be in (0, 1]")
        if self.min_iod_px < 0:
            raise ValueError(f"min_iod_px must be >= 0, got {self.min_iod_px}")
        if self.history < self.window_frames:
            raise ValueError("history must hold at least window_frames frames")


@dataclass(frozen=True, slots=True)
class LivenessObservation:
    """What one frame tells about one face. Every part is optional.

    ``landmarks68``: 68 x 2 points. ``face_gray``: the grey face crop at camera resolution (for
    the moiré cue). ``glare``: fraction of near-white pixels in the colour crop. ``passive``: a
    single-frame model's probability of a live face.
    """

    landmarks68: npt.NDArray[np.floating] | None = None
    face_gray: npt.NDArray[np.uint8] | None = field(default=None, compare=False)
    glare: float | None = None
    passive: float | None = None


@dataclass(frozen=True, slots=True)
class LivenessResult:
    verdict: LivenessVerdict
    score: float | None
    reason: str
    frames: int = 0
    blinks: int = 0
    parallax: float = 0.0

    @property
    def failed(self) -> bool:
        return self.verdict is LivenessVerdict.SPOOF


UNCHECKED = LivenessResult(LivenessVerdict.UNCHECKED, None, "no frames with landmarks yet")


# -- cues (pure functions) --------------------------------------------------------------------


def eye_aspect_ratio(eye: npt.NDArray[np.floating]) -> float:
    """EAR of one eye's six points (corner, two upper, corner, two lower)."""
    e = np.asarray(eye, dtype=np.float64).reshape(6, 2)
    width = float(np.linalg.norm(e[0] - e[3]))
    if width == 0.0:
        return 0.0
    height = float(np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / 2.0
    return height / width


def interocular(landmarks68: npt.NDArray[np.floating]) -> float:
    """Distance between the eye centres, in pixels."""
    p = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    return float(np.linalg.norm(p[_LEFT_EYE].mean(axis=0) - p[_RIGHT_EYE].mean(axis=0)))


def eye_openness(landmarks68: npt.NDArray[np.floating]) -> float:
    """Mean EAR of both eyes over (nose-bridge length / interocular distance): tilt-invariant
    for a flat picture, so only eyes that really close make it drop."""
    p = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    ear = (eye_aspect_ratio(p[_RIGHT_EYE]) + eye_aspect_ratio(p[_LEFT_EYE])) / 2.0
    iod = float(np.linalg.norm(p[_LEFT_EYE].mean(axis=0) - p[_RIGHT_EYE].mean(axis=0)))
    nose = float(np.linalg.norm(p[33] - p[27]))
    if iod == 0.0 or nose == 0.0:
        return 0.0
    return ear / (nose / iod)


def count_blinks(openness: npt.NDArray[np.floating], closed_ratio: float, max_frames: int) -> int:
    """Runs of 1..``max_frames`` closed frames with open frames on both sides."""
    series = np.asarray(openness, dtype=np.float64)
    if len(series) < 3:
        return 0
    level = float(np.percentile(series, 90))
    if level <= 0.0:
        return 0
    closed = series < closed_ratio * level
    blinks = 0
    run = 0
    seen_open = False
    for is_closed in closed:
        if is_closed:
            run += 1
            continue
        if seen_open and 1 <= run <= max_frames:
            blinks += 1
        run = 0
        seen_open = True
    return blinks


def _normalising(points: FloatArray) -> FloatArray:
    centre = points.mean(axis=0)
    spread = float(np.sqrt(((points - centre) ** 2).sum(axis=1)).mean())
    s = np.sqrt(2.0) / spread if spread > 0 else 1.0
    return np.array([[s, 0.0, -s * centre[0]], [0.0, s, -s * centre[1]], [0.0, 0.0, 1.0]])


def fit_homography(src: npt.NDArray[np.floating], dst: npt.NDArray[np.floating]) -> FloatArray:
    """Least-squares homography ``dst ~ H src`` (normalised DLT, Hartley & Zisserman 4.4)."""
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if len(s) < 4 or s.shape != d.shape:
        raise ValueError("need at least 4 point pairs of equal count")
    ts, td = _normalising(s), _normalising(d)
    sh = np.c_[s, np.ones(len(s))] @ ts.T
    dh = np.c_[d, np.ones(len(d))] @ td.T
    rows = []
    for (x, y, _), (u, v, _) in zip(sh, dh, strict=True):
        rows.append([-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u])
        rows.append([0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v])
    a = np.asarray(rows)
    # The null vector of A from the 9 x 9 normal matrix: the same answer as the SVD of A here
    # (normalised coordinates), without LAPACK's threaded SVD, which stalls for tens of
    # milliseconds on a busy multi-core CPU.
    _, vectors = np.linalg.eigh(a.T @ a)
    h = vectors[:, 0].reshape(3, 3)
    h = np.linalg.inv(td) @ h @ ts
    return np.asarray(h / h[2, 2], dtype=np.float64)


def parallax(reference68: npt.NDArray[np.floating], current68: npt.NDArray[np.floating]) -> float:
    """RMS residual of the best homography reference -> current (rigid points), over the
    reference's interocular distance: ~0 for any view of a flat picture."""
    ref = np.asarray(reference68, dtype=np.float64).reshape(68, 2)
    cur = np.asarray(current68, dtype=np.float64).reshape(68, 2)
    iod = float(np.linalg.norm(ref[_LEFT_EYE].mean(axis=0) - ref[_RIGHT_EYE].mean(axis=0)))
    if iod == 0.0:
        return 0.0
    src, dst = ref[_RIGID], cur[_RIGID]
    h = fit_homography(src, dst)
    mapped = np.c_[src, np.ones(len(src))] @ h.T
    with np.errstate(divide="ignore", invalid="ignore"):
        mapped = mapped[:, :2] / mapped[:, 2:3]
    if not np.isfinite(mapped).all():
        return 0.0
    return float(np.sqrt(((mapped - dst) ** 2).sum(axis=1).mean())) / iod


def moire_score(face_gray: npt.NDArray[np.uint8]) -> float:
    """How much a narrow periodic pattern stands out in the face crop's spectrum.

    log10 of (strongest peak / median) of the spectrum's magnitude in the upper band (0.3-0.95 of
    Nyquist), leaving out the axes (edges of the crop) and the multiples of 1/8 cycle per pixel
    (JPEG's 8-px blocks). A screen's pixel grid, filmed, leaves such a peak; skin does not.
    """
    g = np.asarray(face_gray, dtype=np.float64)
    if g.ndim != 2 or min(g.shape) < 16:
        return 0.0
    n = min(g.shape)
    g = g[:n, :n] - g[:n, :n].mean()
    window = np.hanning(n)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(g * np.outer(window, window))))
    freqs = np.fft.fftshift(np.fft.fftfreq(n))  # cycles per pixel, -0.5..0.5
    fy, fx = np.meshgrid(freqs, freqs, indexing="ij")
    radius = np.hypot(fx, fy) / 0.5
    step = 1.0 / n
    near_axis = (np.abs(fx) <= 1.5 * step) | (np.abs(fy) <= 1.5 * step)

    def near_grid(f: FloatArray) -> npt.NDArray[np.bool_]:
        return np.asarray(np.abs(f * 8 - np.round(f * 8)) * (n / 8) <= 1.0)

    band = (radius >= 0.3) & (radius <= 0.95) & ~near_axis & ~(near_grid(fx) & near_grid(fy))
    values = spectrum[band]
    if values.size < 16:
        return 0.0
    median = float(np.median(values))
    if median <= 0.0:
        return 0.0
    return float(np.log10(float(values.max()) / median))


# -- the per-track decision ---------------------------------------------------------------------


class TrackLiveness:
    """Accumulates one track's observations and decides (see the module docstring)."""

    def __init__(self, policy: LivenessPolicy | None = None) -> None:
        self.policy = policy or LivenessPolicy()
        self._openness: deque[float] = deque(maxlen=self.policy.history)
        self._reference: FloatArray | None = None
        self._landmark_frames = 0
        self._small_frames = 0
        self._parallax_hits = 0
        self._parallax_max = 0.0
        self._texture_frames = 0
        self._moire_hits = 0
        self._glare_hits = 0
        self._passive: list[float] = []
        self._final: LivenessResult | None = None
        self._live: LivenessResult | None = None

    def observe(self, obs: LivenessObservation) -> None:
        p = self.policy
        points = None
        if obs.landmarks68 is not None:
            points = np.asarray(obs.landmarks68, dtype=np.float64).reshape(68, 2)
            if interocular(points) < p.min_iod_px:
                self._small_frames += 1
                points = None
        if points is not None:
            self._landmark_frames += 1
            self._openness.append(eye_openness(points))
            if self._reference is None:
                self._reference = points
            else:
                shift = parallax(self._reference, points)
                self._parallax_max = max(self._parallax_max, shift)
                if shift >= p.parallax_live:
                    self._parallax_hits += 1
        if obs.face_gray is not None or obs.glare is not None:
            self._texture_frames += 1
            if obs.face_gray is not None and moire_score(obs.face_gray) >= p.moire_spoof:
                self._moire_hits += 1
            if obs.glare is not None and obs.glare >= p.glare_spoof:
                self._glare_hits += 1
        if obs.passive is not None:
            self._passive.append(float(obs.passive))

    @property
    def frames(self) -> int:
        return self._landmark_frames

    def result(self) -> LivenessResult:
        if self._final is None:
            self._final = self._spoof_evidence()
        if self._final is not None:
            return self._final
        if self._live is None:
            self._live = self._live_evidence()
        if self._live is not None:
            return self._live
        p = self.policy
        n = self._landmark_frames
        if n == 0 and self._small_frames:
            return self._result(
                LivenessVerdict.UNCHECKED,
                None,
                f"face too small to judge in {self._small_frames} frames "
                f"(eyes < {p.min_iod_px:.0f} px apart)",
            )
        if n >= p.window_frames:
            return self._result(
                LivenessVerdict.SPOOF,
                min(0.45, 0.45 * self._parallax_max / p.parallax_live),
                f"no blink or head movement in {n} frames",
            )
        return self._result(
            LivenessVerdict.UNCHECKED, None, f"{n} of {p.window_frames} frames, no cue yet"
        )

    def _result(self, verdict: LivenessVerdict, score: float | None, reason: str) -> LivenessResult:
        p = self.policy
        blinks = count_blinks(np.asarray(self._openness), p.closed_ratio, p.max_blink_frames)
        return LivenessResult(
            verdict, score, reason, self._landmark_frames, blinks, self._parallax_max
        )

    def _spoof_evidence(self) -> LivenessResult | None:
        p = self.policy
        if len(self._passive) >= p.passive_min_frames:
            mean = float(np.mean(self._passive))
            if mean <= p.passive_spoof:
                return self._result(LivenessVerdict.SPOOF, mean, f"passive model: {mean:.2f}")
        t = self._texture_frames
        if t >= p.min_frames:
            if self._moire_hits / t >= p.texture_fraction:
                return self._result(
                    LivenessVerdict.SPOOF, 0.05, f"screen pattern in {self._moire_hits}/{t} frames"
                )
            if self._glare_hits / t >= p.texture_fraction:
                return self._result(
                    LivenessVerdict.SPOOF, 0.1, f"glare in {self._glare_hits}/{t} frames"
                )
        return None

    def _live_evidence(self) -> LivenessResult | None:
        p = self.policy
        if self._landmark_frames >= p.min_frames:
            blinks = count_blinks(np.asarray(self._openness), p.closed_ratio, p.max_blink_frames)
            if blinks:
                return self._result(LivenessVerdict.LIVE, 0.95, f"{blinks} blink(s)")
            if self._parallax_hits >= p.parallax_frames:
                strength = min(1.0, self._parallax_max / (2 * p.parallax_live))
                return self._result(
                    LivenessVerdict.LIVE,
                    0.6 + 0.3 * strength,
                    f"3-D head movement in {self._parallax_hits} frames",
                )
        if len(self._passive) >= p.passive_min_frames:
            mean = float(np.mean(self._passive))
            if mean >= p.passive_live:
                return self._result(LivenessVerdict.LIVE, mean, f"passive model: {mean:.2f}")
        return None
