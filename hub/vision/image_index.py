"""One hnswlib similarity index per image category, persisted beside a sidecar that says what
it holds, and rebuilt from the database whenever the two disagree.

Vectors are unit-length, the space is inner product, so ``similarity = 1 - distance`` is the
cosine similarity. Labels are ``image_metadata.id``. The database is the source of truth: the
sidecar records a fingerprint (count, max id, sum of ids) of the rows the file was built from;
a file whose fingerprint differs from the database's (a crash before a save, a deletion, a
different model) is thrown away and rebuilt.

hnswlib does not save ``ef`` with the index: it is set after every load (DESIGN §5).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import hnswlib
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Date-filtered searches over at most this many candidates are exact (numpy); above it they use
# hnswlib's filtered search.
EXACT_FILTER_MAX = 4096


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What set of rows an index holds: equal fingerprints, same rows (for our append-mostly
    tables: ids only grow, so count + max + sum changes with any insert or delete)."""

    count: int
    max_id: int
    id_sum: int

    @classmethod
    def of(cls, ids: Collection[int]) -> Fingerprint:
        return cls(len(ids), max(ids, default=0), sum(ids))


@dataclass(frozen=True, slots=True)
class IndexParams:
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 128
    initial_capacity: int = 1024


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CategoryIndex:
    """The index of one (model, category); every method is thread-safe."""

    def __init__(self, path: Path, dim: int, model_id: str, params: IndexParams) -> None:
        self.path = path
        self.dim = dim
        self.model_id = model_id
        self.params = params
        self._lock = threading.Lock()
        self._index = self._new_index(params.initial_capacity)
        self._ids: set[int] = set()
        self._dirty = False

    @property
    def sidecar(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def fingerprint(self) -> Fingerprint:
        with self._lock:
            return Fingerprint.of(self._ids)

    def _new_index(self, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(
            max_elements=max(capacity, 16),
            ef_construction=self.params.ef_construction,
            M=self.params.m,
        )
        index.set_ef(self.params.ef_search)
        return index

    # ---- persistence --------------------------------------------------------------------

    def load(self, expected: Fingerprint) -> bool:
        """Load the saved file when its sidecar matches ``expected``, this model and this
        dimension; ``False`` (and nothing loaded) otherwise."""
        try:
            meta = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            return False
        if (
            not isinstance(meta, dict)
            or meta.get("version") != FORMAT_VERSION
            or meta.get("model_id") != self.model_id
            or meta.get("dim") != self.dim
            or meta.get("fingerprint") != asdict(expected)
            or not isinstance(meta.get("ids"), list)
        ):
            return False
        ids = {int(i) for i in meta["ids"]}
        if Fingerprint.of(ids) != expected or not self.path.is_file():
            return False
        if _file_sha256(self.path) != meta.get("sha256"):  # torn or corrupt: never parse it
            logger.warning("image index %s does not match its sidecar: rebuilding", self.path)
            return False
        index = hnswlib.Index(space="ip", dim=self.dim)
        try:
            index.load_index(str(self.path), max_elements=max(len(ids) * 2, 16))
        except (RuntimeError, OSError) as err:
            logger.warning("image index %s unreadable (%s): rebuilding", self.path.name, err)
            return False
        if index.get_current_count() < len(ids):
            return False
        index.set_ef(self.params.ef_search)
        with self._lock:
            self._index = index
            self._ids = ids
            self._dirty = False
        return True

    def rebuild(self, ids: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        """Replace the contents with ``vectors`` labelled ``ids`` (and save)."""
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        index = self._new_index(max(self.params.initial_capacity, len(ids) * 2))
        if len(ids):
            index.add_items(np.asarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        with self._lock:
            self._index = index
            self._ids = set(ids)
            self._dirty = True
        self.save()

    def save(self) -> None:
        """Write the index, then its sidecar, each atomically (temp file + rename)."""
        with self._lock:
            if not self._dirty and self.path.is_file() and self.sidecar.is_file():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # per process: replicas sharing a data dir (hub serve --workers N) never collide
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            self._index.save_index(str(tmp))
            digest = _file_sha256(tmp)
            os.replace(tmp, self.path)
            ids = sorted(self._ids)
            meta = {
                "version": FORMAT_VERSION,
                "model_id": self.model_id,
                "dim": self.dim,
                "fingerprint": asdict(Fingerprint.of(ids)),
                "sha256": digest,
                "ids": ids,
            }
            tmp_meta = self.sidecar.with_name(f".{self.sidecar.name}.{os.getpid()}.tmp")
            tmp_meta.write_text(json.dumps(meta))
            os.replace(tmp_meta, self.sidecar)
            self._dirty = False

    # ---- changes ------------------------------------------------------------------------

    def add(self, image_id: int, vector: npt.NDArray[np.float32]) -> None:
        with self._lock:
            if image_id in self._ids:
                return
            needed = self._index.get_current_count() + 1
            if needed > self._index.get_max_elements():
                self._index.resize_index(max(needed * 2, 16))
            self._index.add_items(
                np.asarray(vector, dtype=np.float32).reshape(1, -1),
                np.asarray([image_id], dtype=np.int64),
            )
            self._ids.add(image_id)
            self._dirty = True

    def remove(self, image_id: int) -> bool:
        with self._lock:
            if image_id not in self._ids:
                return False
            self._index.mark_deleted(image_id)
            self._ids.discard(image_id)
            self._dirty = True
            return True

    # ---- queries ------------------------------------------------------------------------

    def query(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        *,
        allowed: Collection[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``k`` ``(image id, cosine similarity)`` pairs, most similar first;
        ``allowed`` restricts the candidates (a date range)."""
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        with self._lock:
            if allowed is not None:
                candidates = [i for i in allowed if i in self._ids]
                if not candidates:
                    return []
                if len(candidates) <= EXACT_FILTER_MAX:
                    return self._exact(query, candidates, k)
                wanted = set(candidates)
                return self._knn(query, min(k, len(wanted)), wanted)
            if not self._ids:
                return []
            return self._knn(query, min(k, len(self._ids)), None)

    def _exact(
        self, query: npt.NDArray[np.float32], candidates: list[int], k: int
    ) -> list[tuple[int, float]]:
        matrix = np.asarray(self._index.get_items(candidates), dtype=np.float32)
        scores = matrix @ query[0]
        order = np.argsort(-scores)[:k]
        return [(candidates[i], float(scores[i])) for i in order]

    def _knn(
        self, query: npt.NDArray[np.float32], k: int, allowed: set[int] | None
    ) -> list[tuple[int, float]]:
        self._index.set_ef(max(self.params.ef_search, k))
        try:
            if allowed is None:
                labels, distances = self._index.knn_query(query, k=k)
            else:
                labels, distances = self._index.knn_query(
                    query, k=k, num_threads=1, filter=lambda label: label in allowed
                )
        except RuntimeError:  # fewer reachable neighbours than k: search exhaustively
            pool = sorted(allowed if allowed is not None else self._ids)
            return self._exact(query, pool, k)
        return [
            (int(label), 1.0 - float(dist))
            for label, dist in zip(labels[0], distances[0], strict=True)
        ]
