"""Image search benchmark on CPU: index and search latency through the hub's HTTP API, the
embedding alone, top-1 accuracy on transformed queries, and the hnswlib index at scale (query
time and recall@10 against exact search, rebuild time).

Images: scikit-image's data images and crops of them (59 indexed), queried with rotated,
cropped, brighter or darker copies (testkit/image_sets.py). Model: EfficientNet-Lite0
(ImageNet) on ONNX Runtime, ``innsight models fetch efficientnet-lite0``.

    .venv/bin/python -m benchmarks.image_search [--rounds 2] [--scale 10000]

Seed target: image search < 500 ms. ``search_latencies()`` is what benchmarks.hub_cv imports.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import onnxruntime

from hub.api.app import create_app
from hub.auth.keys import with_secrets
from hub.auth.local import issue_admin_token
from hub.serve import HubServerThread
from hub.settings import HubSettings
from hub.vision.image_index import CategoryIndex, IndexParams
from innsight.broker import free_port
from models.image_embed import load_image_embedder
from testkit.image_sets import image_model_file, indexed_items, png_b64, queries
from testkit.machine import describe_machine

TARGET_SEARCH_MS = 500.0


def _stats(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    arr = np.asarray(values) * 1000.0
    return f"median {np.median(arr):7.1f} ms  p95 {np.percentile(arr, 95):7.1f} ms  (n={len(arr)})"


def _model() -> Path:
    path = image_model_file()
    if path is None:
        raise SystemExit(
            "image model not installed: run `innsight models fetch efficientnet-lite0`"
        )
    return path


def http_latencies(rounds: int = 1) -> tuple[dict[str, list[float]], float]:
    """Start a hub (SQLite, local folder store), index the 59 images, search with the 59
    transformed queries ``rounds`` times. Returns ``({name: [seconds]}, top-1 accuracy)``."""
    model = _model()
    items = indexed_items()
    probes = queries()
    bodies = [png_b64(item.image) for item in items]
    probe_bodies = [png_b64(probe.image) for probe in probes]
    with tempfile.TemporaryDirectory(prefix="image-search-bench-") as tmp:
        port = free_port()
        settings = with_secrets(
            HubSettings.model_validate(
                {
                    "data_dir": Path(tmp) / "hub",
                    "api_port": port,
                    "public_base_url": f"http://127.0.0.1:{port}",
                    "mqtt_enabled": False,
                    "image_search_model_path": model,
                    "rate_limit_heavy_burst": 10_000,
                }
            )
        )
        app = create_app(settings, start_ingest=False)
        headers = {"Authorization": f"Bearer {issue_admin_token(settings)}"}
        index_s: list[float] = []
        search_s: list[float] = []
        hits = 0
        with (
            HubServerThread(app, port=port) as server,
            httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http,
        ):
            # the model loads on first use: one warm-up search, not timed
            http.post("/api/v1/cv/image/search", json={"query_image": probe_bodies[0]})
            ids: dict[str, str] = {}
            for item, body in zip(items, bodies, strict=True):
                started = time.perf_counter()
                response = http.post(
                    "/api/v1/cv/image/index",
                    json={"image": body, "metadata": {"category": "lost_found", "n": item.name}},
                )
                index_s.append(time.perf_counter() - started)
                response.raise_for_status()
                ids[item.name] = response.json()["image_id"]
            for _ in range(rounds):
                for probe, body in zip(probes, probe_bodies, strict=True):
                    started = time.perf_counter()
                    response = http.post(
                        "/api/v1/cv/image/search",
                        json={"query_image": body, "category": "lost_found", "top_k": 5},
                    )
                    search_s.append(time.perf_counter() - started)
                    response.raise_for_status()
                    results = response.json()["results"]
                    hits += bool(results) and results[0]["image_id"] == ids[probe.name]
    accuracy = hits / (len(probes) * rounds)
    return {
        "image/index (PNG, 59 photos)": index_s,
        "image/search (top 5 of 59)": search_s,
    }, accuracy


def search_latencies() -> dict[str, list[float]]:
    """For benchmarks.hub_cv: index and search latencies through HTTP, in seconds."""
    latencies, _accuracy = http_latencies(rounds=1)
    return latencies


def embed_latencies(rounds: int = 3) -> list[float]:
    embedder = load_image_embedder(model_path=_model())
    images = [item.image for item in indexed_items()]
    embedder.embed(images[0])
    out = []
    for _ in range(rounds):
        for image in images:
            started = time.perf_counter()
            embedder.embed(image)
            out.append(time.perf_counter() - started)
    return out


def index_at_scale(n: int, queries_n: int = 200) -> dict[str, float]:
    """hnswlib at ``n`` images: vectors are the real embeddings of the 59 photos, each spread
    into a cluster by noise (so neighbours are close, as near-duplicate photos are)."""
    embedder = load_image_embedder(model_path=_model())
    base = embedder.embed_batch([item.image for item in indexed_items()])
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(base), n)
    vectors = base[picks] + rng.normal(0, 0.02, (n, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory(prefix="image-index-bench-") as tmp:
        index = CategoryIndex(Path(tmp) / "scale.hnsw", embedder.dim, "bench", IndexParams())
        started = time.perf_counter()
        index.rebuild(list(range(n)), vectors)
        rebuild_s = time.perf_counter() - started
        probes = vectors[rng.integers(0, n, queries_n)] + rng.normal(
            0, 0.02, (queries_n, base.shape[1])
        ).astype(np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        times = []
        found = 0
        for probe in probes:
            started = time.perf_counter()
            hits = index.query(probe, 10)
            times.append(time.perf_counter() - started)
            truth = set(np.argsort(-(vectors @ probe))[:10].tolist())
            found += len(truth & {h[0] for h in hits})
        size_mb = index.path.stat().st_size / 1e6
    return {
        "rebuild_s": rebuild_s,
        "query_p50_ms": float(np.median(times) * 1000),
        "query_p95_ms": float(np.percentile(times, 95) * 1000),
        "recall_at_10": found / (10 * queries_n),
        "file_mb": size_mb,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 59 queries")
    parser.add_argument("--scale", type=int, default=10_000, help="images for the index test")
    args = parser.parse_args(argv)
    print(f"image search benchmark — {time.strftime('%Y-%m-%d')}")
    print(f"machine : {describe_machine()}, onnxruntime {onnxruntime.__version__} (CPU)")
    print(f"command : python -m benchmarks.image_search {' '.join(argv or sys.argv[1:])}")
    latencies, accuracy = http_latencies(args.rounds)
    for name, values in latencies.items():
        print(f"{name:32s} {_stats(values)}")
    print(f"{'embedding alone (224x224)':32s} {_stats(embed_latencies())}")
    print(f"top-1 accuracy on transformed queries: {accuracy:.3f}")
    scale = index_at_scale(args.scale)
    print(
        f"hnswlib at {args.scale} images (M=16, ef=128): query median "
        f"{scale['query_p50_ms']:.2f} ms, p95 {scale['query_p95_ms']:.2f} ms, recall@10 "
        f"{scale['recall_at_10']:.3f} vs exact; rebuild {scale['rebuild_s']:.1f} s; "
        f"file {scale['file_mb']:.0f} MB"
    )
    search = latencies["image/search (top 5 of 59)"]
    p95 = float(np.percentile(np.asarray(search) * 1000, 95))
    verdict = "meets" if p95 < TARGET_SEARCH_MS else "MISSES"
    print(f"seed target: search < {TARGET_SEARCH_MS:.0f} ms — p95 {p95:.0f} ms {verdict} it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
