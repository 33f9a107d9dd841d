"""What the model registry costs: sha256 verification at first use, preparing the packaged models
from a warm cache (the CI step), exporting in the build venv, and (``--cold``) creating the build
venv from nothing.

    /tmp/venv/bin/python -m benchmarks.model_registry [--runs 5] [--export-runs 1] [--cold]

``--cold`` builds a second build venv in a temporary cache with pip's cache disabled (minutes;
the figure CI pays on a fresh machine). The machine line and the load average are printed: on a
shared machine other work shows up in these figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from models import build_venv, registry
from models.faces import ModelUnavailableError
from models.fetch import fetch, packaged_ids, run_exporter
from models.registry import PypiSource, load_manifest, model_path, package_file
from testkit.machine import describe_machine


def _timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def _line(label: str, seconds: list[float], unit: str = "ms") -> None:
    scale = 1000.0 if unit == "ms" else 1.0
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"{label:<58} median {statistics.median(seconds) * scale:9.1f} {unit}   "
        f"p95 {p95 * scale:9.1f} {unit}   (n={len(seconds)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--export-runs", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="also time a fresh build venv")
    args = parser.parse_args()
    print(f"machine: {describe_machine()}; load {os.getloadavg()[0]:.2f}")
    manifest = load_manifest()

    print("\nfirst-use verification (sha256 of the file, no cache):")
    for entry in manifest.models:
        try:
            path = model_path(entry.id)
        except ModelUnavailableError:
            continue
        size = path.stat().st_size if path.is_file() else 0

        def cold(model_id: str = entry.id) -> None:
            os.environ[registry.DIGEST_CACHE_ENV] = "off"  # hash it: no digest cache file
            registry.clear_digest_cache()
            model_path(model_id)

        def new_process(model_id: str = entry.id) -> None:
            os.environ.pop(registry.DIGEST_CACHE_ENV, None)  # as a fresh process: file only
            registry.clear_digest_cache()
            model_path(model_id)

        _line(f"  {entry.id} ({size / 1e6:.1f} MB)", _timed(cold, args.runs))
        new_process()  # records it in the digest cache file
        _line("    verified by an earlier process (digest cache file)", _timed(new_process, 5))
    _line(
        "  any model, verified earlier in the process",
        _timed(lambda: model_path("fall-yolov8n"), 50),
    )

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10_000))

        def prepare() -> None:
            target = Path(tmp) / f"models-{next(counter)}"
            for model_id in packaged_ids():
                fetch(model_id, models_dir=target, copy_packaged=False)

        _line(
            "fetch --packaged, warm export cache, fresh models dir", _timed(prepare, args.runs), "s"
        )

        python = build_venv.ensure_build_venv()
        for model_id in ("fire-yolov8-flame", "efficientnet-lite0"):
            entry = manifest.get(model_id)
            assert isinstance(entry.source, PypiSource)
            source = package_file(entry.source)
            assert source is not None
            out = Path(tmp) / f"{model_id}.onnx"
            times = _timed(lambda: run_exporter(entry, source, out, python), args.export_runs)  # noqa: B023
            _line(f"export {model_id} in the warm build venv", times, "s")
            print(f"  -> {out.stat().st_size / 1e6:.1f} MB")

        if args.cold:
            env_before = os.environ.get("PIP_NO_CACHE_DIR")
            os.environ["PIP_NO_CACHE_DIR"] = "1"
            try:
                started = time.perf_counter()
                build_venv.ensure_build_venv(Path(tmp) / "cold-cache")
                _line(
                    "build venv from nothing (pip cache off)", [time.perf_counter() - started], "s"
                )
            finally:
                if env_before is None:
                    os.environ.pop("PIP_NO_CACHE_DIR", None)
                else:
                    os.environ["PIP_NO_CACHE_DIR"] = env_before


if __name__ == "__main__":
    main()
