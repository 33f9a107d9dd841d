"""Invoice OCR on real scanned receipts (SROIE), dev, held-out, fresh and fresh2 parts: exact
match per field (vendor, date, total, tax, invoice number), confidence calibration
and p50/p95 latency, through the hub's own reading path (read_page + parse_invoice, as
``POST /api/v1/cv/ocr/invoice`` runs them, minus HTTP). Vendor, date and total are the
dataset's labels; tax and invoice number are ours, labelled from the dataset's transcripts
(benchmarks/ocr_real_fields.yaml).

The set is described by benchmarks/ocr_real_sets.yaml (source repository and commit, licence,
sha256 and split of every file); the images are NOT in git (no licence for redistribution):

    # once: a snapshot of the source repository, e.g. via the `fetch` of a GitHub mirror, then
    .venv/bin/python -m benchmarks.ocr_real prepare --git-dir /path/to/ICDAR-2019-SROIE/.git
    .venv/bin/python -m benchmarks.ocr_real run            # OCR + parse, caches the OCR rows
    .venv/bin/python -m benchmarks.ocr_real run --reuse-ocr  # re-parse the cached rows only

Parts (ranked by sha256('ocr-real:'+id), never by results): dev and held-out (the first 60;
parsing rules tuned on dev), fresh (the next 30; scored blind once, then studied, so no longer
blind), fresh2 (the next 60; blind: labelled by the dataset only, scored once with the code
frozen). Tax and invoice number are scored only where benchmarks/ocr_real_fields.yaml labels
them (not on fresh2). ``--split PART`` runs one part.

``prepare`` picks the receipts by a hash of their names (never by results) and writes
var/ocr-real/sroie/{NNN.jpg,NNN.json} plus the yaml; ``run`` refuses files whose sha256 differs.
``python -m benchmarks.ocr`` prints the same table after the rendered documents' rows
(``evaluate`` + ``report``, imported from here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from hub.vision.ocr_invoice import InvoiceFields, parse_invoice
from hub.vision.ocr_service import OcrConfig, load_engines, read_page
from hub.vision.ocr_text import Row, group_rows
from hub.vision.receipt_total import FLAG_BELOW
from models.ocr import OcrLine, TextBox

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "benchmarks" / "ocr_real_sets.yaml"
FIELD_LABELS = ROOT / "benchmarks" / "ocr_real_fields.yaml"  # tax, invoice number: ours
CACHE = ROOT / "var" / "ocr-real"
SOURCE_REPO = "zzzDavid/ICDAR-2019-SROIE"
COUNT = 60
FRESH = 30  # a second held-out part, added after the first one had been reported and studied
FRESH2 = 60  # a third, blind part: drawn after 'fresh' had been scored and its misses studied
PARTS = ("dev", "heldout", "fresh", "fresh2")
CONFIDENT = 0.9


def _git(git_dir: str, *args: str) -> bytes:
    return subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", f"--git-dir={git_dir}", *args],  # noqa: S607 - git from PATH
        check=True,
        capture_output=True,
    ).stdout


def _rank(name: str) -> str:
    return hashlib.sha256(f"ocr-real:{name}".encode()).hexdigest()


def prepare(git_dir: str) -> None:
    commit = _git(git_dir, "rev-parse", "HEAD").decode().strip()
    names = [
        Path(p).stem
        for p in _git(git_dir, "ls-tree", "-r", "--name-only", "HEAD", "data/key").decode().split()
    ]
    ranked = sorted(names, key=_rank)
    chosen, fresh = ranked[:COUNT], set(ranked[COUNT : COUNT + FRESH])
    fresh2 = set(ranked[COUNT + FRESH : COUNT + FRESH + FRESH2])
    out = CACHE / "sroie"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in sorted([*chosen, *fresh, *fresh2]):
        image = _git(git_dir, "show", f"HEAD:data/img/{name}.jpg")
        key = _git(git_dir, "show", f"HEAD:data/key/{name}.json")
        (out / f"{name}.jpg").write_bytes(image)
        (out / f"{name}.json").write_bytes(key)
        label = json.loads(key)
        # the split: the parity of a second hash of the name, balanced to 30/30
        files.append(
            {
                "id": name,
                "image": f"data/img/{name}.jpg",
                "image_sha256": hashlib.sha256(image).hexdigest(),
                "key_sha256": hashlib.sha256(key).hexdigest(),
                "total": label.get("total"),
                "date": label.get("date"),
                "vendor": label.get("company"),
            }
        )
    order = sorted(
        (f for f in files if f["id"] not in fresh | fresh2),
        key=lambda f: hashlib.sha256(f"split:{f['id']}".encode()).hexdigest(),
    )
    for index, entry in enumerate(order):
        entry["split"] = "dev" if index < COUNT // 2 else "heldout"
    for entry in files:
        entry.setdefault("split", "fresh" if entry["id"] in fresh else "fresh2")
    document = {
        "sroie": {
            "source": f"https://github.com/{SOURCE_REPO}",
            "commit": commit,
            "licence": (
                "Images and keys: ICDAR 2019 SROIE competition data (Huang et al.), published "
                "for research use with no redistribution licence; repository code MIT. "
                "Images are NOT committed here: `prepare` rebuilds var/ocr-real/ from a "
                "snapshot of the source repository and the sha256 below."
            ),
            "selection": "the 150 key files whose sha256('ocr-real:'+id) sort first",
            "split": (
                "the first 60: 30 dev / 30 held-out by sha256('split:'+id), parsing rules tuned "
                "on dev only; the next 30: 'fresh', a second held-out part drawn after the "
                "first held-out part had been reported once and its misses studied (fresh is "
                "now studied too); the next 60: 'fresh2', blind, drawn after fresh had been "
                "studied, scored once with the code frozen, on the dataset's labels only "
                "(vendor, date, total; no tax or invoice-number labels of ours)"
            ),
            "files": files,
        }
    }
    SETS.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    print(f"wrote {len(files)} receipts to {out} and {SETS}")


# -------------------------------------------------------------------------------------------
# Normalisation and scoring
# -------------------------------------------------------------------------------------------


def norm_amount(value: str | Decimal | None) -> str | None:
    if value is None:
        return None
    text = str(value).replace(",", "").replace("RM", "").replace("$", "").strip()
    try:
        return f"{Decimal(text):.2f}"
    except InvalidOperation:
        return None


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def norm_label_date(text: str | None) -> str | None:
    """SROIE labels are D/M/Y (Malaysia) in various spellings (25/12/2018, 25-12-18,
    15 MAR 2018, 2018-03-15); ISO or None. Independent of the hub's parser on purpose."""
    if not text:
        return None
    t = text.strip().lower()
    if m := re.search(r"(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})", t):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := re.search(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})", t):
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
    elif m := re.search(r"(\d{1,2})\s*[/.-]?\s*([a-z]{3})[a-z]*\s*[/.-]?\s*(\d{2,4})", t):
        if m[2] not in _MONTHS:
            return None
        d, mo, y = int(m[1]), _MONTHS.index(m[2]) + 1, int(m[3])
    else:
        return None
    y = y + 2000 if y < 100 else y
    try:
        return date(y, mo, d).isoformat()
    except ValueError:
        return None


FIELDS = ("vendor", "date", "total", "tax", "invoice_number")
_CONFIDENCE_KEYS = {"date": "invoice_date"}  # the parser's names where they differ


def norm_code(text: str | None) -> str | None:
    """Vendor names and invoice numbers compare case- and space-insensitively."""
    return None if text is None else (re.sub(r"\s+", "", str(text)).upper() or None)


@dataclass
class Field:
    got: str | None
    want: str | None
    confidence: float  # 0 when nothing was read
    scored: bool  # False: the set leaves it unlabelled (an empty SROIE total)

    @property
    def ok(self) -> bool:
        return self.got == self.want


@dataclass
class Outcome:
    id: str
    split: str
    fields: dict[str, Field]
    seconds: float


def score(
    entry: dict[str, Any], labels: dict[str, Any], fields: InvoiceFields, seconds: float
) -> Outcome:
    """Each field normalised on both sides: amounts to 2 decimals, dates to ISO, names and
    numbers without case or spaces. Vendor, date and total come from the dataset's keys (an
    empty total is not scored); tax and invoice number from our labels, where null is a
    field the receipt does not have (reading none is right)."""
    got_date = fields.invoice_date.isoformat() if isinstance(fields.invoice_date, date) else None
    pairs = {
        "vendor": (norm_code(fields.vendor), norm_code(entry.get("vendor")), True),
        "date": (got_date, norm_label_date(entry["date"]), bool(entry["date"])),
        "total": (norm_amount(fields.total), norm_amount(entry["total"]), bool(entry["total"])),
        "tax": (norm_amount(fields.tax), norm_amount(labels.get("tax")), "tax" in labels),
        "invoice_number": (
            norm_code(fields.invoice_number),
            norm_code(labels.get("invoice_number")),
            "invoice_number" in labels,
        ),
    }
    return Outcome(
        entry["id"],
        entry["split"],
        {
            name: Field(
                got,
                want,
                fields.confidence.get(_CONFIDENCE_KEYS.get(name, name), 0.0) if got else 0.0,
                scored,
            )
            for name, (got, want, scored) in pairs.items()
        },
        seconds,
    )


def _rows_to_json(rows: tuple[Row, ...] | list[Row]) -> list[list[list[Any]]]:
    return [
        [
            [c.text, c.box.x0, c.box.y0, c.box.x1, c.box.y1, c.confidence, c.engine]
            for c in row.cells
        ]
        for row in rows
    ]


def _rows_from_json(data: list[list[list[Any]]]) -> list[Row]:
    lines = [
        OcrLine(str(c[0]), TextBox(int(c[1]), int(c[2]), int(c[3]), int(c[4])), float(c[5]), c[6])
        for row in data
        for c in row
    ]
    return group_rows(lines)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(outcomes: list[Outcome], *, verbose: bool) -> None:
    """Per part and field: exact match, calibration (of the fields given >= 0.9, how many
    are right) and the flagged ones (a value under FLAG_BELOW: a warning for a human, and
    how many of those were right after all); then latency."""
    print(
        f"{'part':8} {'field':15} {'n':>3} {'exact':>7} {'>=0.9 right':>12} "
        f"{'flagged (right)':>16} {'none read':>9}"
    )
    for part in (*PARTS, "all"):
        chosen = [o for o in outcomes if part in ("all", o.split)]
        if not chosen:
            continue
        for name in FIELDS:
            scored = [o.fields[name] for o in chosen if o.fields[name].scored]
            if not scored:
                continue
            exact = 100 * sum(f.ok for f in scored) / len(scored)
            sure = [f for f in scored if f.confidence >= CONFIDENT]
            flagged = [f for f in scored if f.got is not None and f.confidence < FLAG_BELOW]
            print(
                f"{part:8} {name:15} {len(scored):>3} {exact:>6.1f}% "
                f"{sum(f.ok for f in sure):>6}/{len(sure):<5} "
                f"{len(flagged):>9} ({sum(f.ok for f in flagged)})    "
                f"{sum(f.got is None for f in scored):>9}"
            )
        secs = [o.seconds for o in chosen]
        print(
            f"{part:8} {'latency':15} {len(chosen):>3} p50 {_percentile(secs, 0.5):.2f} s, "
            f"p95 {_percentile(secs, 0.95):.2f} s"
        )
    if verbose:
        for o in outcomes:
            for name, f in o.fields.items():
                if f.scored and not f.ok:
                    print(
                        f"  {o.split:7} {o.id} {name}: got {f.got} ({f.confidence:.2f}) "
                        f"want {f.want}"
                    )


def upscaled_jpeg(raw: bytes, megapixels: float) -> bytes:
    """The scan enlarged (bicubic, aspect kept) to about ``megapixels`` and saved as JPEG q90:
    a phone-camera-sized input (12 MP ~ 4000x3000) made from a real receipt."""
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit("not an image")
    factor = (megapixels * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
    large = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return bytes(cv2.imencode(".jpg", large, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())


PREPARE_HINT = (
    f"python -m benchmarks.ocr_real prepare --git-dir <snapshot of github.com/{SOURCE_REPO}>/.git"
)


def missing_reason(*, reuse_ocr: bool) -> str | None:
    """Why the real set cannot be scored here (None: it can): the images (or, for
    ``reuse_ocr``, the cached OCR rows) are not under var/ocr-real/."""
    entries = yaml.safe_load(SETS.read_text())["sroie"]["files"]
    folder, suffix, what = (
        (CACHE / "rows", ".json", "cached OCR rows")
        if reuse_ocr
        else (CACHE / "sroie", ".jpg", "images")
    )
    absent = [e["id"] for e in entries if not (folder / f"{e['id']}{suffix}").exists()]
    if not absent:
        return None
    fix = (
        "run `python -m benchmarks.ocr_real run` once"
        if reuse_ocr and not missing_reason(reuse_ocr=False)
        else f"prepare it: {PREPARE_HINT}"
    )
    return f"{len(absent)} of {len(entries)} receipts have no {what} in {folder}; {fix}"


@dataclass
class Evaluation:
    outcomes: list[Outcome]
    cpu_seconds: list[float]  # per page read (empty when the OCR rows were reused)
    threads: int | None  # ONNX Runtime intra-op threads (None: all cores)


def evaluate(
    *,
    reuse_ocr: bool,
    split: str | None = None,
    megapixels: float | None = None,
    threads: int | None = None,
) -> Evaluation:
    """Every receipt of ``split`` (all parts when None) read and scored. ``reuse_ocr``: parse
    the cached OCR rows (latency = the cached read's time + this parse); ``megapixels``: read
    each scan upscaled to that size (the OCR cache is left alone); ``threads``: ONNX Runtime
    intra-op threads (default: the hub's)."""
    entries = yaml.safe_load(SETS.read_text())["sroie"]["files"]
    field_labels = {
        str(item["id"]): item
        for item in yaml.safe_load(FIELD_LABELS.read_text())["sroie_fields"]["files"]
    }
    if split:
        entries = [e for e in entries if e["split"] == split]
    rows_dir = CACHE / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    config = OcrConfig() if threads is None else OcrConfig(threads=threads)
    engines = None if reuse_ocr else load_engines(config)
    outcomes = []
    cpu_seconds: list[float] = []
    for entry in entries:
        image_path = CACHE / "sroie" / f"{entry['id']}.jpg"
        cached = rows_dir / f"{entry['id']}.json"
        if engines is None:
            if not cached.exists():
                print(f"  {entry['id']}: no cached OCR rows (run without --reuse-ocr first)")
                continue
            data = json.loads(cached.read_text())
            rows = _rows_from_json(data["rows"])
            start = time.perf_counter()
            fields = parse_invoice(rows, today=date.today())
            seconds = data["ocr_s"] + time.perf_counter() - start
        else:
            raw = image_path.read_bytes()
            if hashlib.sha256(raw).hexdigest() != entry["image_sha256"]:
                raise SystemExit(f"{image_path}: sha256 differs from {SETS}")
            if megapixels:
                raw = upscaled_jpeg(raw, megapixels)
            start, cpu_start = time.perf_counter(), time.process_time()
            decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            if decoded is None:
                raise SystemExit(f"{image_path}: not an image")
            image = np.ascontiguousarray(decoded, dtype=np.uint8)
            page = read_page(engines, image, language="auto", max_side=config.max_side)
            ocr_s = time.perf_counter() - start
            fields = parse_invoice(page.rows, today=date.today())
            seconds = time.perf_counter() - start
            cpu_seconds.append(time.process_time() - cpu_start)
            if not megapixels:
                cached.write_text(json.dumps({"ocr_s": ocr_s, "rows": _rows_to_json(page.rows)}))
        outcomes.append(score(entry, field_labels.get(str(entry["id"]), {}), fields, seconds))
    return Evaluation(outcomes, cpu_seconds, config.threads)


def print_cpu(evaluation: Evaluation) -> None:
    """CPU seconds per page read, with the load average beside them."""
    cpu = evaluation.cpu_seconds
    if cpu:
        print(
            f"CPU per page (decode + read + parse, {evaluation.threads or 'all'} ORT thread(s)): "
            f"p50 {_percentile(cpu, 0.5):.2f} s, p95 {_percentile(cpu, 0.95):.2f} s"
            f"; load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
        )


def run(
    *,
    reuse_ocr: bool,
    split: str | None,
    verbose: bool,
    megapixels: float | None = None,
    threads: int | None = None,
) -> None:
    """``evaluate`` then ``report`` (see both)."""
    reason = missing_reason(reuse_ocr=reuse_ocr)
    if reason:
        raise SystemExit(f"real receipts not ready: {reason}")
    evaluation = evaluate(reuse_ocr=reuse_ocr, split=split, megapixels=megapixels, threads=threads)
    if megapixels:
        print(f"UPSCALED to ~{megapixels:g} MP (bicubic, JPEG q90; timed from the JPEG's decode)")
    report(evaluation.outcomes, verbose=verbose)
    if evaluation.outcomes:
        median = statistics.median(o.seconds for o in evaluation.outcomes)
        print(f"median latency over all: {median:.2f} s")
    print_cpu(evaluation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--git-dir", required=True)
    go = sub.add_parser("run")
    go.add_argument("--reuse-ocr", action="store_true", help="re-parse the cached OCR rows")
    go.add_argument("--split", choices=PARTS)
    go.add_argument("--verbose", action="store_true", help="list the misses")
    go.add_argument(
        "--megapixels", type=float, help="read the scans upscaled to this size (e.g. 12)"
    )
    go.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: 2)")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.git_dir)
    else:
        run(
            reuse_ocr=args.reuse_ocr,
            split=args.split,
            verbose=args.verbose,
            megapixels=args.megapixels,
            threads=args.threads,
        )


if __name__ == "__main__":
    main()
