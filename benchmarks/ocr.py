"""OCR on CPU, in two labelled parts.

RENDERED documents (testkit/documents.py: a Vietnamese and an English invoice, a CCCD card, a
passport page, as PNG posted as base64 JSON like a client would): latency through the hub API,
p50/p95 per endpoint and document (seed target: OCR under 2 s), plus the engines' share
(RapidOCR alone, RapidOCR + Tesseract re-read) in process.

REAL receipts (SROIE scans, benchmarks/ocr_real.py, per part dev / held-out / fresh / fresh2):
exact match per field (vendor, date, total, tax, invoice number), calibration (of the fields
given confidence >= 0.9, how many are right; how many were flagged for a human) and p50/p95
latency through the hub's reading path. The set lives in the git-ignored var/ocr-real/; where
it is absent one line says how to prepare it.

REAL ID documents (40 published specimen passports and ID cards, benchmarks/ocr_id_real.py, dev
and held-out): number, name, birth, expiry, nationality, MRZ exact and verdict, whole
documents, p50/p95 latency; from the git-ignored var/ocr-id-real/.

    .venv/bin/python -m benchmarks.ocr [--repeats 10] [--robustness] [--reuse-ocr]

``benchmarks/hub_cv.py`` imports :func:`ocr_latencies` and runs it against its own hub.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image as PILImage

from benchmarks import ocr_real
from hub.api.app import create_app
from hub.auth.local import issue_admin_token
from hub.serve import HubServerThread
from hub.settings import HubSettings
from hub.vision.ocr_id import parse_id
from hub.vision.ocr_invoice import parse_invoice
from hub.vision.ocr_service import OcrConfig, load_engines, read_page
from hub.vision.ocr_text import Row
from innsight.broker import free_port
from testkit.documents import (
    ENGLISH_INVOICE,
    VIETNAMESE_ID,
    VIETNAMESE_INVOICE,
    b64,
    passport,
    photograph,
    png_bytes,
    render_id_card,
    render_invoice,
    render_passport,
)
from testkit.machine import describe_machine

TARGET_S = 2.0

# (label, endpoint path under /api/v1/cv, page, the seed's other request fields)
DocumentCase = tuple[str, str, Callable[[], PILImage.Image], dict[str, str]]
CASES: tuple[DocumentCase, ...] = (
    ("invoice vi", "/ocr/invoice", lambda: render_invoice(VIETNAMESE_INVOICE), {"language": "vi"}),
    ("invoice en", "/ocr/invoice", lambda: render_invoice(ENGLISH_INVOICE), {}),
    (
        "id cccd",
        "/ocr/id",
        lambda: render_id_card(VIETNAMESE_ID),
        {"document_type": "id_card", "country": "VN"},
    ),
    ("id passport", "/ocr/id", lambda: render_passport(passport()), {"document_type": "passport"}),
)


def ocr_latencies(
    http: httpx.Client, *, repeats: int = 5, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per request, keyed ``"POST /ocr/invoice (invoice vi)"`` etc.

    ``http``: a client for a running hub (``base_url`` the hub's root) whose headers carry a
    token with ``cv:write``. The first ``warmup`` requests (engine loading) are not counted."""
    payloads = [
        (label, path, {"image": b64(png_bytes(render())), **fields})
        for label, path, render, fields in CASES
    ]
    for _ in range(warmup):
        for _label, path, payload in payloads:
            _post(http, path, payload)
    timings: dict[str, list[float]] = {}
    for _ in range(repeats):
        for label, path, payload in payloads:
            start = time.perf_counter()
            _post(http, path, payload)
            timings.setdefault(f"POST {path} ({label})", []).append(time.perf_counter() - start)
    return timings


def _post(http: httpx.Client, path: str, payload: dict[str, str]) -> None:
    response = http.post(f"/api/v1/cv{path}", json=payload, timeout=120.0)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.text[:300]}")


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the tesseract runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def engine_latencies(
    *, repeats: int = 5, cpu: dict[str, list[float]] | None = None
) -> dict[str, list[float]]:
    """In process, without HTTP: RapidOCR alone and the auto pipeline, per document (wall
    seconds; CPU seconds into ``cpu`` when given: on a shared machine they vary less)."""
    engines = load_engines(OcrConfig(engine="auto"))
    timings: dict[str, list[float]] = {}
    cpu = cpu if cpu is not None else {}
    for label, _path, render, _fields in CASES:
        rgb = np.asarray(render().convert("RGB"), dtype=np.uint8)
        image = np.ascontiguousarray(rgb[:, :, ::-1])
        assert engines.rapid is not None
        engines.rapid.read(image)  # warm
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), _cpu_s()
            engines.rapid.read(image)
            key = f"rapidocr alone ({label})"
            timings.setdefault(key, []).append(time.perf_counter() - start)
            cpu.setdefault(key, []).append(_cpu_s() - cpu_start)
            start, cpu_start = time.perf_counter(), _cpu_s()
            page = read_page(engines, image, language="auto", max_side=2400)
            key = f"auto: {page.engine} ({label})"
            timings.setdefault(key, []).append(time.perf_counter() - start)
            cpu.setdefault(key, []).append(_cpu_s() - cpu_start)
    return timings


ROBUSTNESS_ANGLES = (0.0, 1.5, -2.5)
ROBUSTNESS_SCALES = (0.6, 0.8, 0.9, 1.0)
ROBUSTNESS_QUALITIES = (70, 90)


def robustness() -> dict[str, tuple[int, int, list[str]]]:
    """Exact-field reads of "photographed" pages (turned, resized, JPEG), through the auto
    pipeline: ``{document: (exact, total, [variants read wrong])}``. Exact = CCCD number, name,
    birth date and address; invoice vendor, item descriptions and total."""
    engines = load_engines(OcrConfig(engine="auto"))
    card, invoice = render_id_card(VIETNAMESE_ID), render_invoice(VIETNAMESE_INVOICE)
    outcome: dict[str, tuple[int, int, list[str]]] = {}
    for name, page in (("CCCD card", card), ("Vietnamese invoice", invoice)):
        exact, total, wrong = 0, 0, []
        for angle, scale, quality in itertools.product(
            ROBUSTNESS_ANGLES, ROBUSTNESS_SCALES, ROBUSTNESS_QUALITIES
        ):
            data = photograph(page, angle=angle, scale=scale, quality=quality)
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            image = np.ascontiguousarray(decoded, dtype=np.uint8)
            read = read_page(engines, image, language="auto", max_side=2400)
            total += 1
            if _exact(name, read.rows):
                exact += 1
            else:
                wrong.append(f"{angle:+.1f} deg x{scale} q{quality}")
        outcome[name] = (exact, total, wrong)
    return outcome


def _exact(name: str, rows: Sequence[Row]) -> bool:
    if name == "CCCD card":
        card = parse_id(rows)
        want = VIETNAMESE_ID
        return (card.id_number, card.full_name, card.date_of_birth, card.address) == (
            want.id_number,
            want.full_name,
            want.date_of_birth,
            want.address,
        )
    bill = parse_invoice(rows)
    return (
        bill.vendor == VIETNAMESE_INVOICE.vendor
        and [item.description for item in bill.items]
        == [item.description for item in VIETNAMESE_INVOICE.items]
        and bill.total == VIETNAMESE_INVOICE.total
    )


def _summary(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return (
        f"median {statistics.median(ms):7.0f} ms  p95 {np.percentile(ms, 95):7.0f} ms  "
        f"(n={len(ms)})"
    )


def _print(title: str, timings: dict[str, list[float]], *, target: bool) -> None:
    print(title)
    width = max(len(key) for key in timings)
    for key, values in timings.items():
        verdict = ""
        if target:
            verdict = "  within 2 s" if np.percentile(values, 95) < TARGET_S else "  OVER 2 s (p95)"
        print(f"  {key:<{width}}  {_summary(values)}{verdict}")


def rendered(repeats: int, *, with_robustness: bool) -> None:
    """The rendered documents' rows (see the module doc)."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = HubSettings.model_validate(
            {
                "data_dir": Path(tmp),
                "api_port": port,
                "mqtt_enabled": False,
                "rate_limit_heavy_burst": 10_000,
            }
        )
        app = create_app(settings, start_ingest=False)
        with (
            HubServerThread(app, port=port) as server,
            httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Bearer {issue_admin_token(settings)}"},
            ) as http,
        ):
            api = ocr_latencies(http, repeats=repeats)
    _print("HTTP API (base64 PNG in, JSON out; decode + OCR + parse + store):", api, target=True)
    cpu: dict[str, list[float]] = {}
    wall = engine_latencies(repeats=repeats, cpu=cpu)
    _print("engines in process, wall time:", wall, target=False)
    _print("engines in process, CPU time (process + tesseract children):", cpu, target=False)
    if with_robustness:
        print("photographed pages (turned, resized, JPEG) read exactly:")
        for name, (exact, total, wrong) in robustness().items():
            print(f"  {name}: {exact}/{total}; wrong: {', '.join(wrong) or 'none'}")


def real_receipts(*, reuse_ocr: bool) -> None:
    """The real receipts' table (benchmarks/ocr_real.py's), or one line saying how to get it."""
    reason = ocr_real.missing_reason(reuse_ocr=reuse_ocr)
    if reason:
        print(f"REAL receipts: not measured, {reason}")
        return
    how = (
        "the cached OCR rows re-parsed; latency = the cached read's time + this parse"
        if reuse_ocr
        else "each scan read now; latency = decode + read + parse"
    )
    print(f"REAL receipts (SROIE scans; {how}); held-out, fresh and fresh2 are not tuned on:")
    evaluation = ocr_real.evaluate(reuse_ocr=reuse_ocr)
    ocr_real.report(evaluation.outcomes, verbose=False)
    ocr_real.print_cpu(evaluation)


def real_id_documents(*, reuse_ocr: bool) -> None:
    """The specimen passports' and ID cards' table (benchmarks/ocr_id_real.py's), or one line
    saying how to get it."""
    from benchmarks import ocr_id_real  # it imports this module's rendered cases

    print("REAL ID documents (published specimen passports and ID cards; dev 20, held-out 20):")
    try:
        ocr_id_real.run(reuse_ocr=reuse_ocr, split=None, verbose=False, rendered=False)
    except SystemExit as missing:
        print(f"REAL ID documents: not measured, {missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--robustness",
        action="store_true",
        help="also read 24 photographed variants of the CCCD card and the Vietnamese invoice",
    )
    parser.add_argument(
        "--reuse-ocr",
        action="store_true",
        help="real receipts: re-parse the cached OCR rows instead of reading the scans",
    )
    parser.add_argument(
        "--no-rendered", action="store_true", help="skip the rendered documents' rows"
    )
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    flags = "".join(
        flag
        for flag, on in (
            (" --robustness", args.robustness),
            (" --reuse-ocr", args.reuse_ocr),
            (" --no-rendered", args.no_rendered),
        )
        if on
    )
    print(f"command: python -m benchmarks.ocr --repeats {args.repeats}{flags}")
    if not args.no_rendered:
        print("RENDERED documents (testkit/documents.py, made here; not real paper):")
        rendered(args.repeats, with_robustness=args.robustness)
    real_receipts(reuse_ocr=args.reuse_ocr)
    real_id_documents(reuse_ocr=args.reuse_ocr)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
