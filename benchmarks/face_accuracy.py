"""Face recognition accuracy from what the installed packages ship: genuine pairs that are other
images of a person than their enrolment crop, impostor pairs among every identity we have.

The identities: the eight people of the packaged photos (scikit-image's astronaut, insightface's
Tom Hanks, the six people of insightface's ``t1.jpg``). Each is enrolled from a head crop of the
full-size photo. The genuine probes (``PROBES``) are, for each person:

- ``group-frame`` (t1 people only): the face as the detector finds it in the whole group photo
  scaled to 640 px wide (faces of 45-55 px): the frame the demo clip shows;
- ``lobby-64`` / ``lobby-96``: the head-and-shoulders cut-out scaled to a 64 / 96 px face,
  pasted onto scikit-image's brick wall lit from one side, sensor noise (sigma 3), JPEG 70: the
  frame of the edge benchmark's clips;
- ``side-light``: the enrolment crop lit from the left (x1.3) to the right (x0.45), gamma 1.3;
- ``low-light``: 35 % brightness, sensor noise sigma 6, JPEG 60 (a dim corridor at night);
- ``walking-blur``: a 9 px horizontal motion blur at a 96 px face;
- ``turned-left`` / ``turned-right``: a perspective warp that shrinks one side of the face by
  30 % (a planar stand-in for a ~25 degree head turn: a photo cannot show the hidden cheek).

All of them are derived from the one photo of each person; none is a second capture. Impostor
comparisons: every genuine probe against every *other* enrolled identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from benchmarks.edge_clips import iou_xywh, scene
from innsight.demo import photos
from models.faces import DetectedFace, FaceAnalyzer, Image

Vector = npt.NDArray[np.float32]
GROUP_WIDTH = 640


@dataclass(frozen=True)
class Person:
    person_id: str
    enrolment: Image  # a head crop of the full-size photo
    cutout: Image  # head and shoulders, for the scene probes
    face_w: int  # face width in ``cutout``
    group_box: tuple[int, int, int, int] | None  # the face in the 640-px group frame (t1 only)


def _crop(image: Image, face: DetectedFace, side: float, top: float, bottom: float) -> Image:
    b = face.box
    mx, mt, mb = int(b.w * side), int(b.h * top), int(b.h * bottom)
    return np.ascontiguousarray(
        image[max(0, b.y - mt) : b.y + b.h + mb, max(0, b.x - mx) : b.x + b.w + mx]
    )


def identities(analyzer: FaceAnalyzer) -> list[Person]:
    out = []
    for person_id, photo in (
        ("astronaut", photos.astronaut_portrait()),
        ("hanks", photos.tom_hanks()),
    ):
        (face,) = analyzer.detect(photo)
        out.append(Person(person_id, photo, photo, face.box.w, None))
    group = photos.group_photo()
    k = GROUP_WIDTH / group.shape[1]
    for i, face in enumerate(sorted(analyzer.detect(group), key=lambda f: f.box.x)):
        b = face.box
        small = (round(b.x * k), round(b.y * k), round(b.w * k), round(b.h * k))
        out.append(
            Person(
                f"t1-{i}",
                _crop(group, face, 0.6, 0.6, 0.6),
                _crop(group, face, 0.7, 0.6, 1.0),
                b.w,
                small,
            )
        )
    return out


# -- probes -------------------------------------------------------------------------------------


def _jpeg(image: Image, quality: int) -> Image:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)


def _noise(image: Image, sigma: float, seed: int) -> Image:
    grain = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.asarray(np.clip(image + grain, 0, 255), dtype=np.uint8)


def _scaled(p: Person, face_px: int) -> Image:
    k = face_px / p.face_w
    return np.asarray(cv2.resize(p.cutout, None, fx=k, fy=k, interpolation=cv2.INTER_AREA))


def lobby(p: Person, face_px: int) -> Image:
    frame = scene()
    cut = _scaled(p, face_px)
    h, w = min(cut.shape[0], 400), min(cut.shape[1], 560)
    frame[60 : 60 + h, 200 : 200 + w] = cut[:h, :w]
    return _jpeg(_noise(frame, 3.0, face_px), 70)


def side_light(p: Person) -> Image:
    img = p.enrolment.astype(np.float32) / 255.0
    ramp = np.linspace(1.3, 0.45, img.shape[1], dtype=np.float32)[None, :, None]
    return np.asarray(np.clip((img**1.3) * ramp * 255.0, 0, 255), dtype=np.uint8)


def low_light(p: Person) -> Image:
    dark = np.asarray(cv2.convertScaleAbs(p.enrolment, alpha=0.35), dtype=np.uint8)
    return _jpeg(_noise(dark, 6.0, 7), 60)


def walking_blur(p: Person) -> Image:
    kernel = np.zeros((9, 9), dtype=np.float32)
    kernel[4, :] = 1.0 / 9.0
    return np.asarray(cv2.filter2D(_scaled(p, 96), -1, kernel), dtype=np.uint8)


def turned(p: Person, left: bool) -> Image:
    h, w = p.enrolment.shape[:2]
    squeeze = 0.15 * h
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    if left:
        dst = np.array([[0, squeeze], [w, 0], [w, h], [0, h - squeeze]], dtype=np.float32)
    else:
        dst = np.array([[0, 0], [w, squeeze], [w, h - squeeze], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(p.enrolment, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(cv2.resize(warped, (round(w * 0.8), h)), dtype=np.uint8)


PROBES: dict[str, Callable[[Person], Image]] = {
    "lobby-64": lambda p: lobby(p, 64),
    "lobby-96": lambda p: lobby(p, 96),
    "side-light": side_light,
    "low-light": low_light,
    "walking-blur": walking_blur,
    "turned-left": lambda p: turned(p, True),
    "turned-right": lambda p: turned(p, False),
}


# -- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    person_id: str
    kind: str
    similarities: dict[str, float] | None  # to every enrolled identity; None: no face found


def _embed_largest(analyzer: FaceAnalyzer, image: Image) -> Vector | None:
    faces = analyzer.detect(image)
    if not faces:
        return None
    return analyzer.embed(image, max(faces, key=lambda f: f.box.area))


def probe_all(analyzer: FaceAnalyzer) -> tuple[list[Person], list[Probe]]:
    people = identities(analyzer)
    enrolled: dict[str, Vector] = {}
    for p in people:
        vector = _embed_largest(analyzer, p.enrolment)
        if vector is None:
            raise ValueError(f"{p.person_id}: no face in the enrolment crop")
        enrolled[p.person_id] = vector

    def sims(vector: Vector | None) -> dict[str, float] | None:
        if vector is None:
            return None
        return {pid: float(e @ vector) for pid, e in enrolled.items()}

    probes = []
    group = photos.group_photo()
    k = GROUP_WIDTH / group.shape[1]
    frame = np.asarray(
        cv2.resize(group, None, fx=k, fy=k, interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    in_frame = analyzer.detect(frame)
    for p in people:
        if p.group_box is not None:
            box = p.group_box
            near = [
                f for f in in_frame if iou_xywh((f.box.x, f.box.y, f.box.w, f.box.h), box) > 0.3
            ]
            vector = analyzer.embed(frame, near[0]) if near else None
            probes.append(Probe(p.person_id, "group-frame", sims(vector)))
        for kind, make in PROBES.items():
            probes.append(Probe(p.person_id, kind, sims(_embed_largest(analyzer, make(p)))))
    return people, probes


@dataclass(frozen=True)
class Accuracy:
    threshold: float
    identities: int
    genuine: list[tuple[str, str, float]]  # (person, probe kind, similarity to own enrolment)
    missed: list[Probe]
    impostor: list[tuple[str, str, float]]  # (probe person, other identity, similarity)

    @property
    def probes(self) -> int:
        return len(self.genuine) + len(self.missed)

    @property
    def tar(self) -> float:
        """Genuine probes accepted / all genuine probes (no face found counts as a reject)."""
        return self.accepted / self.probes

    @property
    def accepted(self) -> int:
        return sum(s >= self.threshold for *_, s in self.genuine)

    @property
    def tar_found(self) -> float:
        return self.accepted / max(len(self.genuine), 1)

    @property
    def false_accepts(self) -> int:
        return sum(s >= self.threshold for *_, s in self.impostor)

    @property
    def far(self) -> float:
        return self.false_accepts / max(len(self.impostor), 1)

    def margin(self) -> float:
        """Threshold minus the highest impostor similarity (positive: no false accept)."""
        return self.threshold - max(s for *_, s in self.impostor)

    def margin_interval(self, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
        """95 % bootstrap interval of :meth:`margin`, resampling identities (a person's
        comparisons move together, so they are the unit), both as probe and as gallery."""
        ids = sorted({p for p, *_ in self.impostor})
        rng = np.random.default_rng(seed)
        values = []
        for _ in range(reps):
            pick = set(rng.choice(ids, size=len(ids), replace=True).tolist())
            top = [s for a, b, s in self.impostor if a in pick and b in pick]
            if top:
                values.append(self.threshold - max(top))
        lo, hi = np.percentile(values, [2.5, 97.5])
        return float(lo), float(hi)

    def impostor_tail(self) -> tuple[float, float, float]:
        """Mean and SD of the impostor similarities and the normal-tail FAR they imply at the
        threshold (an extrapolation: real impostor tails are heavier than normal)."""
        values = np.asarray([s for *_, s in self.impostor])
        mean, sd = float(values.mean()), float(values.std(ddof=1))
        z = (self.threshold - mean) / sd
        return mean, sd, 0.5 * math.erfc(z / math.sqrt(2))


def accuracy(probes: list[Probe], threshold: float) -> Accuracy:
    genuine = []
    impostor = []
    missed = []
    for p in probes:
        if p.similarities is None:
            missed.append(p)
            continue
        genuine.append((p.person_id, p.kind, p.similarities[p.person_id]))
        impostor += [(p.person_id, o, s) for o, s in p.similarities.items() if o != p.person_id]
    return Accuracy(
        threshold,
        len({p.person_id for p in probes}),
        genuine,
        missed,
        impostor,
    )


def report(analyzer: FaceAnalyzer, threshold: float) -> None:
    _, probes = probe_all(analyzer)
    acc = accuracy(probes, threshold)
    n = acc.identities
    print(
        f"\n-- recognition: other images of the person vs the enrolment crop "
        f"(cosine {threshold}, {analyzer.model_id}) --"
    )
    print(
        f"{n} identities; {acc.probes} genuine probes ({', '.join(['group-frame', *PROBES])}); "
        f"{len(acc.impostor)} impostor comparisons ({n * (n - 1) // 2} identity pairs)"
    )
    found = len(acc.genuine)
    print(
        f"TAR at {threshold}: {acc.tar:.3f} ({acc.accepted}/{acc.probes}; no face found in "
        f"{len(acc.missed)}); among faces found "
        f"{acc.tar_found:.3f} (of {found})"
    )
    print(f"FAR at {threshold}: {acc.far:.4f} ({acc.false_accepts}/{len(acc.impostor)})")
    lo, hi = acc.margin_interval()
    top = max(acc.impostor, key=lambda t: t[2])
    print(
        f"impostor margin (threshold - highest impostor): {acc.margin():+.3f} "
        f"(95 % bootstrap over identities {lo:+.3f} .. {hi:+.3f}); highest impostor "
        f"{top[2]:.3f} ({top[0]} probe vs {top[1]}); a resampled maximum never exceeds the "
        f"observed one, so the interval's lower end is the observed margin, and new people "
        f"would likely find a smaller one"
    )
    mean, sd, tail = acc.impostor_tail()
    print(
        f"impostor similarities: mean {mean:.3f}, SD {sd:.3f}; a normal tail would put FAR at "
        f"{tail:.1e} (an extrapolation, not a measurement)"
    )
    low = sorted(acc.genuine, key=lambda t: t[2])[:3]
    print("lowest genuine: " + ", ".join(f"{pid} {kind} {sim:.3f}" for pid, kind, sim in low))
    for kind in ["group-frame", *PROBES]:
        rows = [p for p in probes if p.kind == kind]
        ok = sum(1 for p in rows if p.similarities and p.similarities[p.person_id] >= threshold)
        miss = sum(1 for p in rows if p.similarities is None)
        print(f"  {kind:13s}: {ok}/{len(rows)} accepted, {miss} with no face found")
    rule_of_three = 3 / (n * (n - 1) / 2)
    print(
        f"what {n} identities cannot show: with 0 false accepts among {n * (n - 1) // 2} "
        f"identity pairs, a 95 % upper bound on the rate at which two different people match "
        f"is only 3/{n * (n - 1) // 2} = {rule_of_three:.2f} (rule of three); FAR at 1e-3 or "
        f"below, demographic differentials and performance on real second photos of a person "
        f"need a labelled set of thousands of identities (e.g. LFW/IJB), which no installed "
        f"package ships."
    )
