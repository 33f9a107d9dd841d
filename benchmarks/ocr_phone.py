"""Invoice OCR on SIMULATED phone photos of the real SROIE receipt scans, with the page
preparation (hub/vision/document_geometry.py: page detection and flattening, orientation,
deskew, lighting) on and off, through the hub's own reading path (read_page + parse_invoice, as
``POST /api/v1/cv/ocr/invoice`` runs them, minus HTTP). Scoring is benchmarks/ocr_real.py's.

No real phone photos of these receipts exist offline, so each scan of benchmarks/ocr_real.py's
set is "photographed" by testkit/phone_photos.py: tilted up to 15 degrees in 3-D, turned up to
10 degrees in the plane and (40 % of them) a quarter or half turn, laid on a real texture
(scikit-image's CC0 samples), under a soft shadow and a light gradient, with sensor noise and
JPEG compression, at 12 MP. Seeded by each receipt's id: the same files every time.

    .venv/bin/python -m benchmarks.ocr_real prepare --git-dir ...   # once: the scans
    .venv/bin/python -m benchmarks.ocr_phone make                    # the simulated photos
    .venv/bin/python -m benchmarks.ocr_phone geometry                # page found, corner error
    .venv/bin/python -m benchmarks.ocr_phone run --split dev --variants off,on
    .venv/bin/python -m benchmarks.ocr_phone run --split heldout --variants off,on
    .venv/bin/python -m benchmarks.ocr_phone run --flat --split dev --variants off,on  # scans

Variants: ``off`` (no preparation), ``on`` (the defaults, with the text direction classifier
of models/text_direction.py, RapidOCR's PP-OCR cls model, to tell upside-down pages),
``no-flip`` (without that classifier), ``no-page``, ``no-orient``, ``no-deskew``, ``normalise``
(the defaults plus lighting normalisation). ``--flat`` reads the original scans instead
(prepare_page must not hurt them); ``--reuse-ocr`` re-parses the OCR rows cached under
var/ocr-phone/rows/ (after a parser change).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import cv2
import numpy as np
import yaml

import hub.vision.ocr_service as ocr_service
from benchmarks.ocr_real import (
    CACHE,
    FIELD_LABELS,
    SETS,
    Outcome,
    _percentile,
    _rows_from_json,
    _rows_to_json,
    report,
    score,
)
from hub.vision.document_geometry import (
    DEFAULT_OPTIONS,
    GeometryOptions,
    PreparedPage,
    order_corners,
    prepare_page,
)
from hub.vision.ocr_invoice import parse_invoice
from hub.vision.ocr_service import OcrConfig, load_engines, read_page
from models.faces import Image
from models.text_direction import TextDirectionClassifier
from testkit.phone_photos import photograph_page, random_spec

PHOTOS = CACHE.parent / "ocr-phone"
LABEL = "SIMULATED phone photos of the SROIE scans"
# variant -> (options, with the text direction classifier); None: no preparation at all
VARIANTS: dict[str, tuple[GeometryOptions, bool] | None] = {
    "off": None,
    "on": (DEFAULT_OPTIONS, True),
    "no-flip": (DEFAULT_OPTIONS, False),
    "no-page": (dataclasses.replace(DEFAULT_OPTIONS, find_page=False), True),
    "no-orient": (dataclasses.replace(DEFAULT_OPTIONS, orient=False), False),
    "no-deskew": (dataclasses.replace(DEFAULT_OPTIONS, deskew=False), True),
    "normalise": (dataclasses.replace(DEFAULT_OPTIONS, normalise=True), True),
}


def _entries(split: str | None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(SETS.read_text())["sroie"]["files"]
    return [e for e in entries if split in (None, e["split"])]


def _scan(entry: dict[str, Any]) -> bytes:
    path = CACHE / "sroie" / f"{entry['id']}.jpg"
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != entry["image_sha256"]:
        raise SystemExit(f"{path}: sha256 differs from {SETS} (run benchmarks.ocr_real prepare)")
    return raw


def _decode(raw: bytes) -> Image:
    decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise SystemExit("not an image")
    return np.ascontiguousarray(decoded, dtype=np.uint8)


def make() -> None:
    PHOTOS.mkdir(parents=True, exist_ok=True)
    for entry in _entries(None):
        seed = int(hashlib.sha256(f"phone:{entry['id']}".encode()).hexdigest()[:16], 16)
        rng = np.random.default_rng(seed)
        spec = random_spec(rng)
        photo, corners = photograph_page(_decode(_scan(entry)), spec, rng)
        (PHOTOS / f"{entry['id']}.jpg").write_bytes(photo)
        truth = {
            "simulated": True,
            "spec": dataclasses.asdict(spec),
            "corners": corners.round(1).tolist(),
            "sha256": hashlib.sha256(photo).hexdigest(),
        }
        (PHOTOS / f"{entry['id']}.json").write_text(json.dumps(truth, indent=1))
        print(f"  {entry['id']}: {spec.background}, quarter turns {spec.quarter}")
    print(f"wrote {LABEL} to {PHOTOS}")


def corner_error(found: tuple[tuple[float, float], ...], truth: list[list[float]]) -> float:
    """The largest distance (px) between a found corner and the true one."""
    a, b = order_corners(np.array(found)), order_corners(np.array(truth))
    return float(np.linalg.norm(a - b, axis=1).max())


def geometry(split: str | None) -> None:
    """Page found, corner error and prepare_page's time on every photo, no OCR."""
    print(f"{LABEL}: page detection (no OCR)")
    classifier = TextDirectionClassifier()
    errors, times, missed, turned = [], [], [], 0
    for entry in _entries(split):
        truth = json.loads((PHOTOS / f"{entry['id']}.json").read_text())
        image = _decode((PHOTOS / f"{entry['id']}.jpg").read_bytes())
        start = time.perf_counter()
        page = prepare_page(image, upside_down=classifier)
        times.append(time.perf_counter() - start)
        quarter = truth["spec"]["quarter"]
        turns = [step for step in page.steps if step.startswith("orient:")]
        right = turns == ([f"orient:{90 * quarter}"] if quarter else [])
        turned += right
        if not right:
            print(f"  {entry['id']}: photo turned {quarter} quarters, steps {page.steps}")
        if page.corners is None:
            missed.append(entry["id"])
            continue
        errors.append(corner_error(page.corners, truth["corners"]))
        print(f"  {entry['id']}: {page.steps} corner error {errors[-1]:.1f} px")
    n = len(times)
    print(f"page found {n - len(missed)}/{n} (missed: {', '.join(missed) or '-'})")
    if errors:
        print(
            f"corner error (12 MP px): median {statistics.median(errors):.1f}, "
            f"p95 {_percentile(errors, 0.95):.1f}, max {max(errors):.1f}"
        )
    print(f"turned upright exactly (0/90/180/270): {turned}/{n}")
    print(
        f"prepare_page: p50 {1000 * _percentile(times, 0.5):.0f} ms, "
        f"p95 {1000 * _percentile(times, 0.95):.0f} ms"
    )


@contextmanager
def _service_preparation_off() -> Iterator[None]:
    """The OCR service may call prepare_page itself: keep that call a pass-through here, so
    each variant's preparation (done below, inside the timed path) is the only one."""
    original = getattr(ocr_service, "prepare_page", None)
    if original is not None:
        ocr_service.prepare_page = lambda image, *_, **__: PreparedPage(image, ())  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if original is not None:
            ocr_service.prepare_page = original  # type: ignore[attr-defined]


def _field_labels() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(FIELD_LABELS.read_text())
    return {str(item["id"]): item for item in document["sroie_fields"]["files"]}


def _prepared(
    raw: bytes, variant: str, classifier: TextDirectionClassifier | None
) -> tuple[Image, list[str], float]:
    """The image read_page gets under ``variant``, its steps, and the seconds to decode and
    prepare it."""
    start = time.perf_counter()
    image = _decode(raw)
    variant_options = VARIANTS[variant]
    if variant_options is None:
        return image, [], time.perf_counter() - start
    options, flip = variant_options
    prepared = prepare_page(image, options, upside_down=classifier if flip else None)
    return prepared.image, list(prepared.steps), time.perf_counter() - start


def run(
    *, split: str | None, variants: list[str], flat: bool, reuse_ocr: bool, verbose: bool
) -> None:
    """Each variant over the photos (or the scans): decode + prepare_page, then read_page and
    parse_invoice; the latency is their sum. OCR rows are cached by the sha256 of the image
    read_page got, so a variant whose preparation gives the same image as another's (a step
    that did not fire) reuses its reading and its OCR time; ``--reuse-ocr`` re-parses only."""
    engines = None if reuse_ocr else load_engines(OcrConfig())
    classifier = None if reuse_ocr else TextDirectionClassifier()
    entries, labels = _entries(split), _field_labels()
    mode = "flat" if flat else "phone"
    label = "the SROIE scans themselves (flat, not simulated)" if flat else LABEL
    cache = PHOTOS / "rows" / mode
    cache.mkdir(parents=True, exist_ok=True)
    with _service_preparation_off():
        for variant in variants:
            index_path = cache / f"{variant}.json"
            # per receipt: the image read_page got (its digest), the steps, the preparation time
            index: dict[str, Any] = (
                json.loads(index_path.read_text()) if index_path.exists() or reuse_ocr else {}
            )
            outcomes: list[Outcome] = []
            prep_s: list[float] = []
            for entry in entries:
                key = str(entry["id"])
                if engines is None:
                    digest, steps, prep = (index[key][k] for k in ("digest", "steps", "prep_s"))
                else:
                    raw = _scan(entry) if flat else (PHOTOS / f"{key}.jpg").read_bytes()
                    image, steps, prep = _prepared(raw, variant, classifier)
                    digest = hashlib.sha256(image.tobytes()).hexdigest()[:16]
                    index[key] = {"digest": digest, "steps": steps, "prep_s": prep}
                cached = cache / f"{key}-{digest}.json"
                if not cached.exists():
                    if engines is None:
                        raise SystemExit(f"{cached}: not read yet (run without --reuse-ocr)")
                    start = time.perf_counter()
                    page = read_page(engines, image, language="auto", max_side=OcrConfig().max_side)
                    ocr_s = time.perf_counter() - start
                    cached.write_text(json.dumps({"s": ocr_s, "rows": _rows_to_json(page.rows)}))
                data = json.loads(cached.read_text())
                start = time.perf_counter()
                fields = parse_invoice(_rows_from_json(data["rows"]), today=date.today())
                seconds = prep + data["s"] + time.perf_counter() - start
                outcomes.append(score(entry, labels.get(key, {}), fields, seconds))
                if VARIANTS[variant] is not None:
                    prep_s.append(prep)
                if verbose:
                    print(f"  {key}: {', '.join(steps) or '-'}")
            if engines is not None:
                index_path.write_text(json.dumps(index, indent=1))
            print(f"\n{label}, prepare_page {variant}:")
            report(outcomes, verbose=verbose)
            if prep_s:
                fired: dict[str, int] = {}
                for entry in entries:
                    for step in index[str(entry["id"])]["steps"]:
                        fired[step.split(":")[0]] = fired.get(step.split(":")[0], 0) + 1
                print(
                    f"decode + prepare_page: p50 {1000 * _percentile(prep_s, 0.5):.0f} ms, "
                    f"p95 {1000 * _percentile(prep_s, 0.95):.0f} ms; steps applied: {fired}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("make")
    geo = sub.add_parser("geometry")
    geo.add_argument("--split", choices=("dev", "heldout"))
    go = sub.add_parser("run")
    go.add_argument("--split", choices=("dev", "heldout"))
    go.add_argument("--variants", default="off,on", help=f"comma-separated: {', '.join(VARIANTS)}")
    go.add_argument("--flat", action="store_true", help="read the original scans instead")
    go.add_argument("--reuse-ocr", action="store_true", help="re-parse the cached OCR rows")
    go.add_argument("--verbose", action="store_true", help="list the misses")
    args = parser.parse_args()
    if args.command == "make":
        make()
    elif args.command == "geometry":
        geometry(args.split)
    else:
        variants = args.variants.split(",")
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            parser.error(f"unknown variants: {', '.join(unknown)}")
        run(
            split=args.split,
            variants=variants,
            flat=args.flat,
            reuse_ocr=args.reuse_ocr,
            verbose=args.verbose,
        )


if __name__ == "__main__":
    main()
