"""Identity-document OCR on real specimen passports and ID cards, dev and held-out parts:
per-field exact match (document number, name, birth and expiry dates, nationality, the MRZ read
character for character, its check-digit verdict) and p50/p95 latency, through the hub's own
reading path (:meth:`OcrService.read_id`, what ``POST /api/v1/cv/ocr/id`` runs, minus HTTP).
The rendered documents of benchmarks/ocr.py are read too, as a separate labelled row.

The set is described by benchmarks/ocr_id_real_sets.yaml: source repository and commit,
licence, sha256, split and hand-made labels of every file (labels read off the printed visual
zone; MRZ lines transcribed by eye and checked against their check digits). The images are NOT
in git (most have no redistribution licence; see the yaml):

    # once: snapshots of the three source repositories (e.g. via `fetch` of GitHub mirrors)
    .venv/bin/python -m benchmarks.ocr_id_real prepare \\
        --git-dir passporteye=/path/PassportEye.git --git-dir arg0s-mrz=/path/mrz.git \\
        --git-dir fastmrz=/path/fastmrz.git
    .venv/bin/python -m benchmarks.ocr_id_real run             # OCR + parse, caches the rows
    .venv/bin/python -m benchmarks.ocr_id_real run --reuse-ocr # re-parse the cached rows only

The split (20 dev / 20 held-out by sha256('id-split:'+id), in two rounds) was fixed before
anything was read; parsing rules are tuned on dev only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from benchmarks.ocr import CASES, _cpu_s
from benchmarks.ocr_real import _git, _percentile, _rows_from_json, _rows_to_json
from hub.vision.ocr_id import IdFields, parse_id
from hub.vision.ocr_service import OcrConfig, OcrEngines, OcrService
from hub.vision.ocr_text import fold
from testkit.documents import VIETNAMESE_ID, passport, png_bytes

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "benchmarks" / "ocr_id_real_sets.yaml"
CACHE = ROOT / "var" / "ocr-id-real"
FIELDS = ("number", "name", "birth", "expiry", "nationality", "mrz_exact", "mrz_verdict")
TODAY = date(2026, 12, 7)  # fixed: the MRZ's two-digit years resolve against it


def _image_path(entry: dict[str, Any]) -> Path:
    return CACHE / f"{entry['id']}{Path(entry['path']).suffix}"


def prepare(git_dirs: dict[str, str]) -> None:
    """Copy every file of the set out of its source snapshot into var/, checking sha256."""
    sets = yaml.safe_load(SETS.read_text())
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, source in sets["sources"].items():
        if name not in git_dirs:
            raise SystemExit(f"--git-dir {name}=PATH missing ({source['repository']})")
        commit = _git(git_dirs[name], "rev-parse", "HEAD").decode().strip()
        if commit != source["commit"]:
            print(f"  note: {name} snapshot is at {commit}, the set was made at {source['commit']}")
    for entry in sets["documents"]:
        raw = _git(git_dirs[entry["source"]], "show", f"HEAD:{entry['path']}")
        if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise SystemExit(f"{entry['source']}:{entry['path']}: sha256 differs from {SETS}")
        _image_path(entry).write_bytes(raw)
    print(f"wrote {len(sets['documents'])} documents to {CACHE}")


# -------------------------------------------------------------------------------------------
# Labels and scoring (independent of the hub's parser on purpose)
# -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    id: str
    split: str
    number: str
    names: tuple[str, ...]  # accepted spellings of the full name (MRZ transliteration, VIZ)
    birth: date
    expiry: date
    nationality: str  # ICAO code, or the printed country for a card without an MRZ
    mrz: tuple[str, ...]  # () when the document has no MRZ
    mrz_valid: bool | None


def norm_name(text: str) -> str:
    """Upper case, accents folded, anything but letters a single space."""
    return " ".join(re.sub(r"[^A-Z]+", " ", fold(text).upper()).split())


def label_of(entry: dict[str, Any]) -> Label:
    names = [f"{entry['surname']} {entry['given_names']}"]
    if entry.get("full_name_viz"):
        names.append(entry["full_name_viz"])
    return Label(
        entry["id"],
        entry["split"],
        entry["document_number"],
        tuple(norm_name(n) for n in names),
        date.fromisoformat(entry["date_of_birth"]),
        date.fromisoformat(entry["expiry_date"]),
        entry["nationality"],
        tuple(entry["mrz"]),
        entry["mrz_valid"],
    )


def rendered_labels() -> list[tuple[Label, str]]:
    """The rendered ID documents of benchmarks/ocr.py with their known values."""
    doc = passport()
    card = VIETNAMESE_ID
    by_case = {
        "id passport": Label(
            "rendered passport",
            "rendered",
            doc.document_number,
            (norm_name(f"{doc.surname} {doc.given_names}"),),
            doc.date_of_birth,
            doc.expiry_date,
            doc.nationality,
            doc.mrz_lines,
            True,
        ),
        "id cccd": Label(
            "rendered cccd",
            "rendered",
            card.id_number,
            (norm_name(card.full_name),),
            card.date_of_birth,
            card.expiry_date,
            norm_name(card.nationality),
            (),
            None,
        ),
    }
    return [(by_case[label], label) for label, _path, _render, _fields in CASES if label in by_case]


@dataclass
class Outcome:
    label: Label
    right: dict[str, bool | None]  # None: the field does not apply (no MRZ on the document)
    got: dict[str, str]
    seconds: float
    cpu_seconds: float  # this process and its tesseract children: steadier than wall time


def _alnum(text: str | None) -> str:
    return re.sub(r"[^A-Z0-9]", "", (text or "").upper())


def score(label: Label, fields: IdFields, seconds: float, cpu_seconds: float) -> Outcome:
    mrz = fields.mrz
    nationality = mrz.nationality if mrz is not None else norm_name(fields.nationality or "")
    got = {
        "number": fields.id_number or "",
        "name": fields.full_name or "",
        "birth": str(fields.date_of_birth),
        "expiry": str(fields.expiry_date),
        "nationality": nationality,
        "mrz": " / ".join(mrz.lines) if mrz is not None else "",
        "valid": str(mrz.valid) if mrz is not None else "",
    }
    has_mrz = bool(label.mrz)
    right: dict[str, bool | None] = {
        "number": _alnum(fields.id_number) == _alnum(label.number),
        "name": norm_name(fields.full_name or "") in label.names,
        "birth": fields.date_of_birth == label.birth,
        "expiry": fields.expiry_date == label.expiry,
        "nationality": nationality == label.nationality,
        "mrz_exact": (mrz is not None and tuple(mrz.lines) == label.mrz) if has_mrz else None,
        "mrz_verdict": (mrz is not None and mrz.valid == label.mrz_valid) if has_mrz else None,
    }
    return Outcome(label, right, got, seconds, cpu_seconds)


def report(outcomes: Sequence[Outcome], *, verbose: bool) -> None:
    head = " ".join(f"{name:>11}" for name in FIELDS)
    print(
        f"{'part':9} {'n':>3} {head} {'all exact':>9} {'p50 s':>6} {'p95 s':>6} "
        f"{'cpu p50':>7} {'cpu p95':>7}"
    )
    for part in ("dev", "heldout", "real all", "rendered"):
        chosen = [
            o
            for o in outcomes
            if o.label.split == part or (part == "real all" and o.label.split != "rendered")
        ]
        if not chosen:
            continue
        cells = []
        for name in FIELDS:
            scored = [o.right[name] for o in chosen if o.right[name] is not None]
            cells.append(f"{sum(bool(s) for s in scored):>5}/{len(scored):<2} " if scored else "")
        exact = sum(all(v is not False for v in o.right.values()) for o in chosen)
        secs = [o.seconds for o in chosen]
        cpu = [o.cpu_seconds for o in chosen]
        print(
            f"{part:9} {len(chosen):>3} "
            + " ".join(f"{c:>11}" for c in cells)
            + f" {exact:>5}/{len(chosen):<3} {_percentile(secs, 0.5):>6.2f} "
            f"{_percentile(secs, 0.95):>6.2f} {_percentile(cpu, 0.5):>7.2f} "
            f"{_percentile(cpu, 0.95):>7.2f}"
        )
    if verbose:
        for o in outcomes:
            wrong = [name for name, ok in o.right.items() if ok is False]
            if wrong:
                print(f"  {o.label.split:8} {o.label.id}: wrong {', '.join(wrong)}")
                for key, value in o.got.items():
                    print(f"      {key:11} {value}")


# -------------------------------------------------------------------------------------------
# Running
# -------------------------------------------------------------------------------------------


def _decode(raw: bytes, where: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise SystemExit(f"{where}: not an image")
    return np.ascontiguousarray(decoded, dtype=np.uint8)


async def _read_all(jobs: Sequence[tuple[Label, bytes]], *, reuse_ocr: bool) -> list[Outcome]:
    service = None if reuse_ocr else OcrService(OcrEngines(OcrConfig()))
    rows_dir = CACHE / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for label, raw in jobs:
        cached = rows_dir / f"{label.id.replace(' ', '-')}.json"
        if service is None:
            if not cached.exists():
                print(f"  {label.id}: no cached OCR rows (run without --reuse-ocr first)")
                continue
            data = json.loads(cached.read_text())
            start = time.perf_counter()
            fields = parse_id(_rows_from_json(data["rows"]), today=TODAY)
            seconds = data["ocr_s"] + time.perf_counter() - start
            cpu_seconds = data.get("cpu_s", 0.0)
        else:
            await service.engines.get()  # engine loading is not a document's latency
            start, cpu_start = time.perf_counter(), _cpu_s()
            reading = await service.read_id(_decode(raw, label.id))
            seconds, cpu_seconds = time.perf_counter() - start, _cpu_s() - cpu_start
            # read_id parses against today's date; the score uses the fixed TODAY
            fields = parse_id(reading.page.rows, today=TODAY)
            rows = _rows_to_json(reading.page.rows)
            cached.write_text(json.dumps({"ocr_s": seconds, "cpu_s": cpu_seconds, "rows": rows}))
        outcomes.append(score(label, fields, seconds, cpu_seconds))
    return outcomes


def run(*, reuse_ocr: bool, split: str | None, verbose: bool, rendered: bool) -> None:
    entries = yaml.safe_load(SETS.read_text())["documents"]
    jobs: list[tuple[Label, bytes]] = []
    for entry in entries:
        if split and entry["split"] != split:
            continue
        path = _image_path(entry)
        raw = path.read_bytes() if path.exists() else b""
        if not reuse_ocr and hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise SystemExit(f"{path}: missing or sha256 differs from {SETS} (run prepare)")
        jobs.append((label_of(entry), raw))
    if rendered:
        renders = {case[0]: case[2] for case in CASES}
        jobs += [(label, png_bytes(renders[case]())) for label, case in rendered_labels()]
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    outcomes = asyncio.run(_read_all(jobs, reuse_ocr=reuse_ocr))
    report(outcomes, verbose=verbose)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument(
        "--git-dir", action="append", required=True, metavar="SOURCE=PATH", help="per source"
    )
    go = sub.add_parser("run")
    go.add_argument("--reuse-ocr", action="store_true", help="re-parse the cached OCR rows")
    go.add_argument("--split", choices=("dev", "heldout"))
    go.add_argument("--no-rendered", action="store_true", help="skip the rendered documents")
    go.add_argument("--verbose", action="store_true", help="list the misses")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(dict(item.split("=", 1) for item in args.git_dir))
    else:
        run(
            reuse_ocr=args.reuse_ocr,
            split=args.split,
            verbose=args.verbose,
            rendered=not args.no_rendered and args.split is None,
        )


if __name__ == "__main__":
    main()
