"""Embeddings of several cameras in one inference: a micro-batcher between the camera threads and
the face embedder.

Each camera thread aligns its face itself (crop and warp are cheap and parallel) and hands the
chip to :class:`EmbedBatcher`; one worker thread takes the first chip waiting, gathers whatever
else arrives within ``window_s`` (up to ``max_batch`` chips), runs the embedder once on all of
them and gives each caller its own vector. On a GPU a run of several chips costs about what one
does (the usual case for small CNNs; not measured here, no GPU was lent), so four cameras that
see faces at the same moment wait for one inference instead of four.
On a CPU the batch saves little (benchmarks/perception.py ``--only embedders``: 8.3 ms a face
alone, 6.8 ms a face in fours) while the window adds latency, so ``auto`` turns batching on only
when the embedder runs on CUDA or TensorRT (:func:`batching_wanted`).

:class:`BatchingFaceAnalyzer` puts the batcher behind the ordinary
:class:`models.faces.FaceAnalyzer` interface, so the pipeline does not know it is there.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal, Protocol

from models.faces import (
    AlignedFace,
    DetectedFace,
    Embedding,
    FaceAnalyzer,
    FaceBox,
    Image,
    detect_within,
)

logger = logging.getLogger(__name__)

BatchMode = Literal["auto", "on", "off"]
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")

BatchEmbed = Callable[[Sequence[AlignedFace]], list[Embedding]]


class BatchableAnalyzer(FaceAnalyzer, Protocol):
    """A face backend whose align step is visible and whose embedder takes several chips."""

    def align(self, image: Image, face: DetectedFace) -> AlignedFace: ...

    def embed_aligned_batch(self, aligned: Sequence[AlignedFace]) -> list[Embedding]: ...

    @property
    def embed_provider(self) -> str: ...


def can_batch(analyzer: object) -> bool:
    """Whether ``analyzer`` offers what batching needs (align + a batch embed)."""
    return all(hasattr(analyzer, name) for name in ("align", "embed_aligned_batch"))


def batching_wanted(mode: BatchMode, analyzer: object) -> bool:
    """``on``/``off`` as said; ``auto``: on when the analyzer can batch and embeds on a GPU."""
    if mode == "off" or not can_batch(analyzer):
        return False
    if mode == "on":
        return True
    provider = str(getattr(analyzer, "embed_provider", ""))
    return provider in GPU_PROVIDERS


@dataclass(frozen=True)
class BatchStats:
    batches: int
    chips: int

    @property
    def mean_batch(self) -> float:
        return self.chips / self.batches if self.batches else 0.0


@dataclass
class _Request:
    aligned: AlignedFace
    result: Future[Embedding]


class EmbedBatcher:
    """Gathers chips from any number of threads into batches for ``embed`` (see the module)."""

    def __init__(self, embed: BatchEmbed, *, window_s: float = 0.004, max_batch: int = 16) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._embed = embed
        self._window_s = window_s
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._batches = 0
        self._chips = 0
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
        self._worker.start()

    def embed(self, aligned: AlignedFace) -> Embedding:
        """The embedding of one chip, computed in a batch with whatever else is waiting."""
        request = _Request(aligned, Future())
        with self._lock:
            if self._closed:
                raise RuntimeError("the embed batcher is closed")
            self._queue.put(request)
        return request.result.result()

    def stats(self) -> BatchStats:
        with self._lock:
            return BatchStats(self._batches, self._chips)

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._worker.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            self._serve(batch)
            if stop:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` and what arrives within the window (or until ``max_batch``)."""
        batch = [first]
        deadline = time.monotonic() + self._window_s
        while len(batch) < self._max_batch:
            try:
                wait = deadline - time.monotonic()
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _embed_all(self, chips: list[AlignedFace]) -> list[Embedding]:
        vectors = self._embed(chips)
        if len(vectors) != len(chips):
            raise RuntimeError(f"the embedder returned {len(vectors)} of {len(chips)} vectors")
        return vectors

    def _serve(self, batch: list[_Request]) -> None:
        try:
            vectors = self._embed_all([r.aligned for r in batch])
        except BaseException as exc:  # every waiting camera gets the error, none hangs
            logger.exception("batched embedding of %d faces failed", len(batch))
            for request in batch:
                request.result.set_exception(exc)
            return
        with self._lock:
            self._batches += 1
            self._chips += len(batch)
        for request, vector in zip(batch, vectors, strict=True):
            request.result.set_result(vector)


class BatchingFaceAnalyzer:
    """A :class:`models.faces.FaceAnalyzer` whose ``embed`` goes through an :class:`EmbedBatcher`
    (the caller's thread aligns; the batcher's worker embeds)."""

    def __init__(self, analyzer: BatchableAnalyzer, batcher: EmbedBatcher) -> None:
        self._analyzer = analyzer
        self._batcher = batcher

    @property
    def model_id(self) -> str:
        return self._analyzer.model_id

    @property
    def dim(self) -> int:
        return self._analyzer.dim

    @property
    def batcher(self) -> EmbedBatcher:
        return self._batcher

    def detect(self, image: Image) -> list[DetectedFace]:
        return self._analyzer.detect(image)

    def detect_within(self, image: Image, regions: Sequence[FaceBox]) -> list[DetectedFace]:
        return detect_within(self._analyzer, image, regions)

    def embed(self, image: Image, face: DetectedFace) -> Embedding:
        return self._batcher.embed(self._analyzer.align(image, face))
