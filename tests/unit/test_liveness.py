"""Liveness cues and the per-track decision on synthetic landmarks (pure, no model).

A "head" is a 3-D set of 68 points (iBUG order, depth in z); a "photo" is the same set flattened
onto a plane. Turning the head changes its projection in a way no homography explains; any view
of the photo is one homography away from another.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from contracts.messages import LivenessVerdict
from edge_agent.domain.liveness import (
    LivenessObservation,
    LivenessPolicy,
    TrackLiveness,
    count_blinks,
    eye_aspect_ratio,
    eye_openness,
    fit_homography,
    moire_score,
    parallax,
)

Points = npt.NDArray[np.float64]


def head(eyes_open: float = 1.0) -> Points:
    """68 points in 3-D (unit: interocular distance ~ 1), eyes ``eyes_open`` of their height."""
    p = np.zeros((68, 3))
    for i, a in enumerate(np.linspace(math.pi * 0.05, math.pi * 0.95, 17)):  # jaw
        p[i] = [-1.1 * math.cos(a), 0.2 + 1.3 * math.sin(a), -0.8 * abs(math.cos(a))]
    for i, x in enumerate(np.linspace(-0.9, -0.2, 5)):  # brows
        p[17 + i] = [x, -0.45, 0.1]
        p[22 + i] = [-x, -0.45, 0.1]
    p[22:27] = p[22:27][::-1]
    for i in range(4):  # nose bridge 27..30, sticking out
        p[27 + i] = [0.0, -0.2 + 0.17 * i, 0.15 + 0.12 * i]
    for i, x in enumerate(np.linspace(-0.2, 0.2, 5)):  # nostrils 31..35
        p[31 + i] = [x, 0.45, 0.3 - abs(x)]
    for centre, start in ((-0.5, 36), (0.5, 42)):  # eyes: corner, 2 upper, corner, 2 lower
        w, h = 0.4, 0.13 * eyes_open
        pts = [(-w / 2, 0), (-w / 6, -h), (w / 6, -h), (w / 2, 0), (w / 6, h), (-w / 6, h)]
        for j, (dx, dy) in enumerate(pts):
            p[start + j] = [centre + dx, -0.2 + dy, 0.1]
    for i, a in enumerate(np.linspace(0, 2 * math.pi, 20, endpoint=False)):  # mouth 48..67
        r = 0.45 if i < 12 else 0.3
        p[48 + i] = [r * math.cos(a), 0.85 + 0.15 * math.sin(a), 0.15]
    return p


def view(points3d: Points, yaw_deg: float = 0.0, shift: float = 0.0, scale: float = 60.0) -> Points:
    """Perspective projection of the points turned by ``yaw_deg``, camera 8 units away."""
    a = math.radians(yaw_deg)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    q = points3d @ rot.T
    depth = 8.0 - q[:, 2]
    projected = np.c_[q[:, 0] / depth * 8, q[:, 1] / depth * 8] * scale + [320 + shift, 240]
    return np.asarray(projected, dtype=np.float64)


def photo_view(points2d: Points, tilt: float, angle_deg: float, shift: float) -> Points:
    """The printed photo of ``points2d`` held tilted (perspective), turned in plane, moved."""
    a = math.radians(angle_deg)
    h = np.array(
        [
            [math.cos(a), -math.sin(a), shift],
            [math.sin(a), math.cos(a), 0.5 * shift],
            [tilt, 0.0, 1.0],
        ]
    )
    c = points2d - [320, 240]
    mapped = np.c_[c, np.ones(len(c))] @ h.T
    return np.asarray(mapped[:, :2] / mapped[:, 2:3] + [320, 240], dtype=np.float64)


def jitter(points: Points, seed: int, sigma: float = 0.4) -> Points:
    return points + np.random.default_rng(seed).normal(0.0, sigma, points.shape)


POLICY = LivenessPolicy(min_frames=5, window_frames=30)


def run(frames: list[Points], policy: LivenessPolicy = POLICY) -> TrackLiveness:
    live = TrackLiveness(policy)
    for points in frames:
        live.observe(LivenessObservation(landmarks68=points))
    return live


PHOTO = view(head())


def test_eye_aspect_ratio_of_an_open_and_a_closed_eye() -> None:
    eye = np.array([[0, 0], [10, -4], [20, -4], [30, 0], [20, 4], [10, 4]], dtype=np.float64)
    assert eye_aspect_ratio(eye) == pytest.approx(8 / 30)
    shut = eye * [1, 0.1]
    assert eye_aspect_ratio(shut) == pytest.approx(0.8 / 30)


def test_eye_openness_ignores_a_photo_tilted_back() -> None:
    squashed = PHOTO * [1.0, 0.6]  # the whole picture foreshortened vertically
    assert eye_openness(squashed) == pytest.approx(eye_openness(PHOTO), rel=1e-6)
    closed = view(head(eyes_open=0.25))
    assert eye_openness(closed) < 0.4 * eye_openness(PHOTO)


def test_blinks_are_closed_runs_between_open_frames() -> None:
    open_, shut = 0.45, 0.1
    assert count_blinks(np.array([open_] * 5 + [shut] * 2 + [open_] * 3), 0.6, 8) == 1
    assert count_blinks(np.array([open_] * 5 + [shut] * 2), 0.6, 8) == 0  # not reopened yet
    assert count_blinks(np.array([shut] * 2 + [open_] * 5), 0.6, 8) == 0  # started closed
    assert count_blinks(np.array([open_] * 3 + [shut] * 12 + [open_] * 3), 0.6, 8) == 0  # too long
    assert count_blinks(np.array([open_, 0.43, 0.46, 0.44] * 5), 0.6, 8) == 0  # jitter
    pattern = [open_] * 3 + [shut] + [open_] * 3 + [shut, shut] + [open_] * 2
    assert count_blinks(np.array(pattern), 0.6, 8) == 2


def test_fit_homography_recovers_a_known_one() -> None:
    h = np.array([[1.1, 0.05, 12.0], [-0.03, 0.95, -7.0], [2e-4, -1e-4, 1.0]])
    src = np.random.default_rng(3).uniform(0, 400, (30, 2))
    dst_h = np.c_[src, np.ones(30)] @ h.T
    dst = dst_h[:, :2] / dst_h[:, 2:]
    assert np.allclose(fit_homography(src, dst), h, atol=1e-6)
    with pytest.raises(ValueError, match="4 point pairs"):
        fit_homography(src[:3], dst[:3])


def test_a_photo_moved_any_way_shows_no_parallax_and_a_turning_head_does() -> None:
    for tilt, angle, shift in ((4e-4, 10.0, 25.0), (-5e-4, -15.0, -40.0), (0.0, 0.0, 0.0)):
        assert parallax(PHOTO, photo_view(PHOTO, tilt, angle, shift)) < 1e-6
    assert parallax(view(head()), view(head(), yaw_deg=20)) > 0.05
    assert parallax(view(head()), view(head(), yaw_deg=3)) < 0.02  # small turns are not enough


def test_a_static_photo_replayed_is_unchecked_then_spoof() -> None:
    frames = [jitter(PHOTO, seed=i) for i in range(40)]
    early = run(frames[:10]).result()
    assert early.verdict is LivenessVerdict.UNCHECKED
    assert early.score is None
    late = run(frames).result()
    assert late.verdict is LivenessVerdict.SPOOF
    assert late.failed
    assert late.score is not None
    assert late.score < 0.5
    assert late.blinks == 0


def test_a_photo_waved_and_tilted_in_front_of_the_camera_is_spoof() -> None:
    frames = [
        jitter(
            photo_view(PHOTO, 5e-4 * math.sin(i / 3), 12 * math.sin(i / 4), 30 * math.sin(i / 5)), i
        )
        for i in range(40)
    ]
    result = run(frames).result()
    assert result.verdict is LivenessVerdict.SPOOF
    assert result.parallax < POLICY.parallax_live


def test_a_blink_makes_the_track_live() -> None:
    frames = [jitter(PHOTO, i) for i in range(8)]
    frames += [jitter(view(head(eyes_open=0.15)), 100 + i) for i in range(2)]
    frames += [jitter(PHOTO, 200 + i) for i in range(3)]
    result = run(frames).result()
    assert result.verdict is LivenessVerdict.LIVE
    assert result.blinks == 1
    assert result.score is not None
    assert result.score > 0.9


def test_a_head_turning_in_3d_makes_the_track_live() -> None:
    frames = [jitter(view(head(), yaw_deg=25 * math.sin(i / 3)), i) for i in range(12)]
    result = run(frames).result()
    assert result.verdict is LivenessVerdict.LIVE
    assert result.score is not None
    assert 0.6 <= result.score <= 0.9
    assert result.parallax > POLICY.parallax_live


def test_no_cue_is_spoof_but_a_later_blink_still_counts() -> None:
    live = run([jitter(PHOTO, i) for i in range(30)])
    assert live.result().verdict is LivenessVerdict.SPOOF
    for points in [view(head(eyes_open=0.1))] * 2 + [PHOTO] * 2:
        live.observe(LivenessObservation(landmarks68=points))
    assert live.result().verdict is LivenessVerdict.LIVE


def grating(size: int = 96, period: float = 3.0, seed: int = 0) -> npt.NDArray[np.uint8]:
    """A smooth, noisy 'skin' patch, with a fine oblique stripe pattern when ``period`` > 0."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    skin = 140 + 30 * np.sin(xx / 17) * np.cos(yy / 23) + rng.normal(0, 2, (size, size))
    if period:
        skin += 12 * np.sin(2 * np.pi * (xx * math.cos(0.5) + yy * math.sin(0.5)) / period)
    return np.asarray(np.clip(skin, 0, 255), dtype=np.uint8)


def test_moire_score_separates_a_screen_pattern_from_skin() -> None:
    assert moire_score(grating(period=0)) < 1.5
    for period in (2.2, 3.0, 4.0):
        assert moire_score(grating(period=period)) > POLICY.moire_spoof
    assert moire_score(np.zeros((8, 8), dtype=np.uint8)) == 0.0


def test_a_screen_is_spoof_even_when_the_face_on_it_blinks() -> None:
    live = TrackLiveness(POLICY)
    blinking = [PHOTO] * 6 + [view(head(eyes_open=0.1))] * 2 + [PHOTO] * 3
    for i, points in enumerate(blinking):
        live.observe(LivenessObservation(landmarks68=points, face_gray=grating(seed=i)))
    result = live.result()
    assert result.verdict is LivenessVerdict.SPOOF
    assert "screen" in result.reason


def test_glare_in_most_frames_is_spoof() -> None:
    live = TrackLiveness(POLICY)
    for i in range(6):
        live.observe(LivenessObservation(landmarks68=jitter(PHOTO, i), glare=0.4))
    assert live.result().verdict is LivenessVerdict.SPOOF


def test_a_passive_model_decides_when_it_is_confident() -> None:
    confident_live = TrackLiveness(POLICY)
    confident_spoof = TrackLiveness(POLICY)
    for _ in range(3):
        confident_live.observe(LivenessObservation(passive=0.93))
        confident_spoof.observe(LivenessObservation(passive=0.04))
    assert confident_live.result().verdict is LivenessVerdict.LIVE
    assert confident_live.result().score == pytest.approx(0.93)
    assert confident_spoof.result().verdict is LivenessVerdict.SPOOF
    unsure = TrackLiveness(POLICY)
    for _ in range(3):
        unsure.observe(LivenessObservation(passive=0.5))
    assert unsure.result().verdict is LivenessVerdict.UNCHECKED


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_frames": 0},
        {"min_frames": 50, "window_frames": 40},
        {"closed_ratio": 1.0},
        {"parallax_live": 0.0},
        {"passive_spoof": 0.9, "passive_live": 0.8},
        {"history": 10},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        LivenessPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_face_too_small_to_judge_stays_unchecked_whatever_its_landmarks_do() -> None:
    def small(points: Points) -> Points:
        return np.asarray((points - [320, 240]) * 0.4 + [320, 240], dtype=np.float64)

    frames = [small(jitter(PHOTO, i)) for i in range(10)]
    frames += [small(view(head(eyes_open=0.1)))] * 2 + [small(PHOTO)] * 40
    result = run(frames).result()
    assert result.verdict is LivenessVerdict.UNCHECKED
    assert "too small" in result.reason
    assert result.blinks == 0
