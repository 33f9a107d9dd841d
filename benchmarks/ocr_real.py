"""Invoice OCR on real scanned receipts (SROIE), dev and held-out parts: exact match of the total
and the date, confidence calibration and p50/p95 latency, through the hub's own reading path
(read_page + parse_invoice, as ``POST /api/v1/cv/ocr/invoice`` runs them, minus HTTP).

The set is described by benchmarks/ocr_real_sets.yaml (source repository and commit, licence,
sha256 and split of every file); the images are NOT in git (no licence for redistribution):

    # once: a snapshot of the source repository, e.g. via the `fetch` of a GitHub mirror, then
    .venv/bin/python -m benchmarks.ocr_real prepare --git-dir /path/to/ICDAR-2019-SROIE/.git
    .venv/bin/python -m benchmarks.ocr_real run            # OCR + parse, caches the OCR rows
    .venv/bin/python -m benchmarks.ocr_real run --reuse-ocr  # re-parse the cached rows only

``prepare`` picks the receipts by a hash of their names (never by results) and writes
var/ocr-real/sroie/{NNN.jpg,NNN.json} plus the yaml; ``run`` refuses files whose sha256 differs.
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
CACHE = ROOT / "var" / "ocr-real"
SOURCE_REPO = "zzzDavid/ICDAR-2019-SROIE"
COUNT = 60
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
    chosen = sorted(names, key=_rank)[:COUNT]
    out = CACHE / "sroie"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in sorted(chosen):
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
            }
        )
    order = sorted(files, key=lambda f: hashlib.sha256(f"split:{f['id']}".encode()).hexdigest())
    for index, entry in enumerate(order):
        entry["split"] = "dev" if index < COUNT // 2 else "heldout"
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
            "selection": "the 60 key files whose sha256('ocr-real:'+id) sort first",
            "split": "30 dev / 30 held-out by sha256('split:'+id); parsing rules tuned on dev only",
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


@dataclass
class Outcome:
    id: str
    split: str
    total_ok: bool
    date_ok: bool
    total_conf: float
    date_conf: float
    got_total: str | None
    want_total: str | None
    got_date: str | None
    want_date: str | None
    seconds: float


def score(entry: dict[str, Any], fields: InvoiceFields, seconds: float) -> Outcome:
    want_total = norm_amount(entry["total"])
    want_date = norm_label_date(entry["date"])
    got_total = norm_amount(fields.total)
    got_date = fields.invoice_date.isoformat() if isinstance(fields.invoice_date, date) else None
    return Outcome(
        entry["id"],
        entry["split"],
        got_total is not None and got_total == want_total,
        got_date is not None and got_date == want_date,
        fields.confidence.get("total", 0.0),
        fields.confidence.get("invoice_date", 0.0),
        got_total,
        want_total,
        got_date,
        want_date,
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
    print(
        f"{'part':8} {'n':>3} {'total':>7} {'date':>7} "
        f"{'total>=0.9 right':>17} {'date>=0.9 right':>16} {'flagged (right)':>16} "
        f"{'p50 s':>6} {'p95 s':>6}"
    )
    for part in ("dev", "heldout", "all"):
        chosen = [o for o in outcomes if part in ("all", o.split)]
        if not chosen:
            continue
        # a field the set leaves unlabelled (an empty "total") is not scored
        with_total = [o for o in chosen if o.want_total is not None]
        with_date = [o for o in chosen if o.want_date is not None]
        total = 100 * sum(o.total_ok for o in with_total) / max(1, len(with_total))
        dates = 100 * sum(o.date_ok for o in with_date) / max(1, len(with_date))
        ct = [o for o in with_total if o.total_conf >= CONFIDENT]
        cd = [o for o in with_date if o.date_conf >= CONFIDENT]
        flagged = [(o, o.total_ok) for o in with_total if o.total_conf < FLAG_BELOW] + [
            (o, o.date_ok) for o in with_date if o.date_conf < FLAG_BELOW
        ]
        secs = [o.seconds for o in chosen]
        print(
            f"{part:8} {len(chosen):>3} {total:>6.1f}% {dates:>6.1f}% "
            f"{sum(o.total_ok for o in ct):>8}/{len(ct):<8} "
            f"{sum(o.date_ok for o in cd):>7}/{len(cd):<8} "
            f"{len(flagged):>8} ({sum(ok for _, ok in flagged)})     "
            f"{_percentile(secs, 0.5):>6.2f} {_percentile(secs, 0.95):>6.2f}"
        )
    if verbose:
        for o in outcomes:
            if (o.want_total and not o.total_ok) or (o.want_date and not o.date_ok):
                print(
                    f"  {o.split:7} {o.id}: total {o.got_total} ({o.total_conf:.2f}) want "
                    f"{o.want_total}; date {o.got_date} ({o.date_conf:.2f}) want {o.want_date}"
                )


def run(*, reuse_ocr: bool, split: str | None, verbose: bool) -> None:
    entries = yaml.safe_load(SETS.read_text())["sroie"]["files"]
    if split:
        entries = [e for e in entries if e["split"] == split]
    rows_dir = CACHE / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    engines = None if reuse_ocr else load_engines(OcrConfig())
    outcomes = []
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
            start = time.perf_counter()
            decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            if decoded is None:
                raise SystemExit(f"{image_path}: not an image")
            image = np.ascontiguousarray(decoded, dtype=np.uint8)
            page = read_page(engines, image, language="auto", max_side=OcrConfig().max_side)
            ocr_s = time.perf_counter() - start
            fields = parse_invoice(page.rows, today=date.today())
            seconds = time.perf_counter() - start
            cached.write_text(json.dumps({"ocr_s": ocr_s, "rows": _rows_to_json(page.rows)}))
        outcomes.append(score(entry, fields, seconds))
    report(outcomes, verbose=verbose)
    if outcomes:
        print(f"median latency over all: {statistics.median(o.seconds for o in outcomes):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--git-dir", required=True)
    go = sub.add_parser("run")
    go.add_argument("--reuse-ocr", action="store_true", help="re-parse the cached OCR rows")
    go.add_argument("--split", choices=("dev", "heldout"))
    go.add_argument("--verbose", action="store_true", help="list the misses")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.git_dir)
    else:
        run(reuse_ocr=args.reuse_ocr, split=args.split, verbose=args.verbose)


if __name__ == "__main__":
    main()
