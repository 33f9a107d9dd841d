"""Embeddings of several camera threads batched into one inference (edge_agent/vision/
embed_batching.py), through the edge's default face backend (BlazeFace + dlib's ResNet on ONNX
Runtime) on real photos that ship in installed packages."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from edge_agent.app import embed_batching_for
from edge_agent.config import EmbedBatchConfig
from edge_agent.vision.embed_batching import (
    BatchingFaceAnalyzer,
    EmbedBatcher,
    batching_wanted,
    can_batch,
)
from models.face_blazeface import BlazeFaceDetector, BlazeFaceDlibAnalyzer
from models.face_dlib import DlibFaceAnalyzer
from models.faces import AlignedFace, DetectedFace, Embedding, Image
from testkit.face_photos import packaged_photo


@pytest.fixture(scope="module")
def analyzer() -> BlazeFaceDlibAnalyzer:
    dlib = DlibFaceAnalyzer(upsample=0, landmarks68=False)
    return BlazeFaceDlibAnalyzer(BlazeFaceDetector(), dlib)


@pytest.fixture(scope="module")
def faces(analyzer: BlazeFaceDlibAnalyzer) -> list[tuple[Image, DetectedFace]]:
    photo = packaged_photo("t1.jpg")
    found = [(photo, face) for face in analyzer.detect(photo)]
    assert len(found) >= 4
    return found


def test_threads_get_their_own_vectors_from_shared_batches(
    analyzer: BlazeFaceDlibAnalyzer, faces: list[tuple[Image, DetectedFace]]
) -> None:
    expected = [analyzer.embed(photo, face) for photo, face in faces]
    # a long window closed early by max_batch: a batch forms however slowly the threads arrive
    batcher = EmbedBatcher(analyzer.embed_aligned_batch, window_s=5.0, max_batch=len(faces))
    batching = BatchingFaceAnalyzer(analyzer, batcher)
    got: dict[int, Embedding] = {}
    start = threading.Barrier(len(faces))

    def camera(i: int) -> None:
        photo, face = faces[i]
        start.wait()
        got[i] = batching.embed(photo, face)

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(len(faces))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    batcher.close()
    for i, vector in enumerate(expected):  # each caller got its own face's vector back
        assert float(got[i] @ vector) > 0.9999, i
    assert float(got[0] @ got[1]) < 0.95  # different people stay different
    stats = batcher.stats()
    assert stats.chips == len(faces)
    assert stats.batches == 1  # all faces shared one inference
    assert batching.model_id == analyzer.model_id


def test_an_embedder_failure_reaches_every_waiting_caller(
    analyzer: BlazeFaceDlibAnalyzer, faces: list[tuple[Image, DetectedFace]]
) -> None:
    def broken(chips: Sequence[AlignedFace]) -> list[Embedding]:
        return analyzer.embed_aligned_batch(chips)[:-1]  # one vector short

    batcher = EmbedBatcher(broken, window_s=0.0)
    photo, face = faces[0]
    with pytest.raises(RuntimeError, match="returned 0 of 1"):
        batcher.embed(analyzer.align(photo, face))
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.embed(analyzer.align(photo, face))


def test_auto_batches_only_on_a_gpu_and_only_what_can_batch(
    analyzer: BlazeFaceDlibAnalyzer,
) -> None:
    assert can_batch(analyzer)
    assert analyzer.embed_provider == "CPUExecutionProvider"
    assert not batching_wanted("auto", analyzer)  # CPU: no batching by default
    assert batching_wanted("on", analyzer)
    assert not batching_wanted("off", analyzer)
    batcher, used = embed_batching_for(EmbedBatchConfig(), analyzer)
    assert batcher is None
    assert used is analyzer
    batcher, used = embed_batching_for(EmbedBatchConfig(mode="on", window_ms=1), analyzer)
    assert batcher is not None
    assert isinstance(used, BatchingFaceAnalyzer)
    batcher.close()

    # a backend without a visible align step and a batch embed cannot batch
    assert not can_batch(object())
    assert not batching_wanted("on", object())
