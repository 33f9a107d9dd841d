"""Matching accuracy with and without the site-keyed template transform (issue 17 item 4).

Real faces: the six people of insightface's t1.jpg, Tom Hanks (insightface) and Eileen Collins
(scikit-image's astronaut), embedded by the hub's dlib model. Each face is enrolled once; the
probes are the same faces altered (mirrored, darker, brighter, scaled down, rotated 5 degrees),
re-detected and re-embedded. Every probe is matched against the gallery in clear and under a
site's transform (hub/face_templates.py -> edge_agent/index/template_transform.py): the figures
are the largest difference of any similarity, whether every match decision and every top-1
answer is the same, and how a template of one site scores against the same face at another
site (unlinkability). Also: the cost of deriving the matrix and of rotating one probe.

Run: .venv/bin/python benchmarks/template_protection.py [--threshold 0.93]
"""

from __future__ import annotations

import argparse
import base64
import importlib.metadata
import platform
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
from cryptography.fernet import Fernet
from pydantic import SecretStr
from skimage import data as skimage_data

from edge_agent.index.template_transform import orthogonal_matrix
from hub.crypto import PiiCipher
from hub.face_templates import TemplateKey, TemplateKeyring, TemplateProtector
from models.face_dlib import DlibFaceAnalyzer
from models.faces import Image

MODEL = "dlib-resnet-v1"
Variant = Callable[[Image], Image]


def _insightface_image(name: str) -> Image:
    dist = importlib.metadata.distribution("insightface")
    image = cv2.imread(str(dist.locate_file(f"insightface/data/images/{name}")))
    if image is None:
        raise SystemExit(f"insightface's {name} is missing")
    return np.asarray(image, dtype=np.uint8)


def _rotate(image: Image, degrees: float) -> Image:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT))


VARIANTS: dict[str, Variant] = {
    "mirrored": lambda im: np.ascontiguousarray(im[:, ::-1]),
    "darker": lambda im: np.asarray(cv2.convertScaleAbs(im, alpha=0.7, beta=0)),
    "brighter": lambda im: np.asarray(cv2.convertScaleAbs(im, alpha=1.0, beta=40)),
    "scaled 0.7": lambda im: np.asarray(cv2.resize(im, None, fx=0.7, fy=0.7)),
    "rotated 5 deg": lambda im: _rotate(im, 5.0),
}


def face_photos(analyzer: DlibFaceAnalyzer) -> dict[str, Image]:
    """One photo per person, the face with a margin around it."""
    photos: dict[str, Image] = {}
    t1 = _insightface_image("t1.jpg")
    for i, face in enumerate(sorted(analyzer.detect(t1), key=lambda f: f.box.x)):
        b = face.box
        mx, my = b.w // 2, b.h // 2
        y0, x0 = max(b.y - my, 0), max(b.x - mx, 0)
        photos[f"t1-person-{i}"] = np.ascontiguousarray(
            t1[y0 : b.y + b.h + my, x0 : b.x + b.w + mx]
        )
    photos["tom-hanks"] = _insightface_image("Tom_Hanks_54745.png")
    astronaut = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)  # type: ignore[no-untyped-call]
    photos["eileen-collins"] = np.ascontiguousarray(astronaut[0:260, 120:380])
    return photos


def embed(analyzer: DlibFaceAnalyzer, image: Image) -> npt.NDArray[np.float32] | None:
    faces = analyzer.detect(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.box.area)
    return np.asarray(analyzer.embed(image, face), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=0.93, help="hub match threshold")
    args = parser.parse_args()

    analyzer = DlibFaceAnalyzer(upsample=1)
    gallery_ids: list[str] = []
    gallery: list[npt.NDArray[np.float32]] = []
    probe_ids: list[str] = []
    probes: list[npt.NDArray[np.float32]] = []
    for person, photo in face_photos(analyzer).items():
        vector = embed(analyzer, photo)
        if vector is None:
            continue
        gallery_ids.append(person)
        gallery.append(vector)
        for variant in VARIANTS.values():
            probe = embed(analyzer, variant(photo))
            if probe is not None:
                probe_ids.append(person)
                probes.append(probe)
    templates, queries = np.stack(gallery), np.stack(probes)

    cipher = PiiCipher([Fernet.generate_key().decode()])
    site_a = TemplateProtector(cipher, _fixed(TemplateKey(b"A" * 32)), site="hotel-a")
    site_b = TemplateProtector(cipher, _fixed(TemplateKey(b"B" * 32)), site="hotel-b")

    started = time.perf_counter()
    orthogonal_matrix(site_a.transform_key(MODEL, templates.shape[1]), templates.shape[1])
    derive_ms = (time.perf_counter() - started) * 1000
    stored_a = np.stack([np.frombuffer(site_a.protect(MODEL, t), "<f4") for t in templates])
    stored_b = np.stack([np.frombuffer(site_b.protect(MODEL, t), "<f4") for t in templates])
    started = time.perf_counter()
    rotated = np.stack([site_a.probe(MODEL, q) for q in queries])
    probe_us = (time.perf_counter() - started) / len(queries) * 1e6

    clear_scores = queries @ templates.T
    protected_scores = rotated @ stored_a.T
    delta = float(np.abs(clear_scores - protected_scores).max())
    same_decisions = int(
        np.sum((clear_scores >= args.threshold) == (protected_scores >= args.threshold))
    )
    same_top1 = int(np.sum(clear_scores.argmax(1) == protected_scores.argmax(1)))
    truth = np.array([[p == g for g in gallery_ids] for p in probe_ids])
    genuine, impostor = clear_scores[truth], clear_scores[~truth]
    correct_clear = int(
        np.sum(
            [
                gallery_ids[int(np.argmax(row))] == who and row.max() >= args.threshold
                for row, who in zip(clear_scores, probe_ids, strict=True)
            ]
        )
    )
    correct_protected = int(
        np.sum(
            [
                gallery_ids[int(np.argmax(row))] == who and row.max() >= args.threshold
                for row, who in zip(protected_scores, probe_ids, strict=True)
            ]
        )
    )
    cross_site = np.sum(stored_a * stored_b, axis=1)  # one face, two hotels
    stolen = rotated @ stored_b.T  # site A's probes against site B's stolen templates
    stolen_genuine = stolen[truth]

    print(f"template protection benchmark ({platform.machine()}, {platform.processor() or '?'})")
    print(f"model {MODEL}, threshold {args.threshold}")
    print(f"gallery: {len(gallery_ids)} people; probes: {len(probe_ids)} altered photos")
    print(f"pairs compared: {clear_scores.size} ({int(truth.sum())} genuine)")
    print(f"genuine similarity: mean {genuine.mean():.3f}, min {genuine.min():.3f}")
    print(f"impostor similarity: mean {impostor.mean():.3f}, max {impostor.max():.3f}")
    print(f"max |similarity(clear) - similarity(transformed)|: {delta:.2e}")
    print(f"same match decision: {same_decisions}/{clear_scores.size}")
    print(f"same top-1 answer: {same_top1}/{len(probe_ids)}")
    print(
        f"probes recognised correctly: clear {correct_clear}/{len(probe_ids)}, "
        f"transformed {correct_protected}/{len(probe_ids)}"
    )
    print(
        f"same face, two sites' templates: mean cos {cross_site.mean():+.3f}, "
        f"max |cos| {np.abs(cross_site).max():.3f}"
    )
    print(
        f"site A probes vs site B's stolen templates, same person: max {stolen_genuine.max():.3f}"
        f" ({int(np.sum(stolen >= args.threshold))} of {stolen.size} pairs over the threshold)"
    )
    print(f"matrix derivation (first use, {templates.shape[1]}-d): {derive_ms:.1f} ms")
    print(f"probe rotation: {probe_us:.1f} us per probe")


def _fixed(key: TemplateKey) -> TemplateKeyring:
    return TemplateKeyring(fixed=SecretStr(base64.urlsafe_b64encode(key.secret).decode()))


if __name__ == "__main__":
    main()
