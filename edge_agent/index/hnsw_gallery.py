"""The edge's face gallery: an hnswlib index over every enrolled embedding, swapped atomically.

Why it looks like this:
- Space ``cosine``: embeddings are unit vectors and the pipeline thinks in cosine similarity;
  hnswlib's cosine distance is ``1 - cos``, so ``similarity = 1 - distance``.
- ``M = 32``, ``ef_construction = 200``: faces want M = 32-64 (DESIGN §5). ``ef`` (the search
  breadth) is *not* saved by hnswlib, and a loaded index silently searches with ef = 10, so it is
  set after every build and every load.
- Several embeddings per person: search fetches enough neighbours to cover ``k`` people and keeps
  each person's best similarity.
- :meth:`HnswFaceIndex.replace` builds the new index off to the side and swaps one reference
  under a lock: a search sees the old gallery or the new one, never half of either. A published
  index is never modified again, so concurrent searches need no lock.
- :meth:`HnswFaceIndex.save` writes the index under a fresh name, then the JSON sidecar that
  names it (temp file + ``os.replace``, the commit point), then removes stale index files. A crash
  at any step leaves either the old gallery or the new one; the sidecar's sha256 catches a
  corrupted index file, and anything unreadable loads as an empty gallery with a warning.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np
import numpy.typing as npt

from contracts.messages import GallerySnapshot
from edge_agent.ports import GalleryMatch
from models.faces import Embedding

logger = logging.getLogger(__name__)

SIDECAR = "gallery.json"
FORMAT = 1
DEFAULT_EF = 64
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 200


class GalleryFormatError(ValueError):
    """A gallery snapshot or saved gallery whose contents are not what they claim."""


@dataclass(frozen=True, slots=True)
class _Gallery:
    """One immutable generation of the gallery; replaced whole, never edited."""

    index: Any  # hnswlib.Index, or None when there are no embeddings
    people: tuple[str, ...]
    label_person: npt.NDArray[np.int64]  # hnswlib label -> position in ``people``
    max_per_person: int
    model_id: str | None
    version: int | None
    dim: int | None


_EMPTY = _Gallery(None, (), np.zeros(0, dtype=np.int64), 0, None, None, None)


def decode_embeddings(embeddings_b64: str, dim: int) -> npt.NDArray[np.float32]:
    """Rows of float32 little-endian values, base64 (the ``GalleryPerson`` wire format)."""
    try:
        raw = base64.b64decode(embeddings_b64, validate=True)
    except (binascii.Error, ValueError) as err:
        raise GalleryFormatError("embeddings are not valid base64") from err
    row_bytes = 4 * dim
    if not raw or len(raw) % row_bytes:
        raise GalleryFormatError(f"{len(raw)} bytes is not a whole number of {dim}-d float32 rows")
    rows = np.frombuffer(raw, dtype="<f4").reshape(-1, dim).astype(np.float32)
    if not np.isfinite(rows).all():
        raise GalleryFormatError("embeddings contain NaN or infinity")
    if (np.linalg.norm(rows, axis=1) == 0).any():
        raise GalleryFormatError("an embedding is all zeros")
    return rows


def encode_embeddings(rows: npt.NDArray[np.floating]) -> str:
    """The inverse of :func:`decode_embeddings` (used by whoever builds a snapshot)."""
    return base64.b64encode(np.asarray(rows, dtype="<f4").tobytes()).decode("ascii")


class HnswFaceIndex:
    """Implements :class:`edge_agent.ports.FaceIndex` with hnswlib."""

    def __init__(
        self,
        *,
        ef: int = DEFAULT_EF,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ) -> None:
        if ef < 1 or m < 2 or ef_construction < 1:
            raise ValueError("ef, m and ef_construction must be positive (m >= 2)")
        self._ef = ef
        self._m = m
        self._ef_construction = ef_construction
        self._lock = threading.Lock()
        self._gallery = _EMPTY

    # -- FaceIndex -------------------------------------------------------------------------

    @property
    def model_id(self) -> str | None:
        return self._gallery.model_id

    @property
    def version(self) -> int | None:
        return self._gallery.version

    @property
    def dim(self) -> int | None:
        return self._gallery.dim

    def __len__(self) -> int:
        """Number of people in the gallery."""
        return len(self._gallery.people)

    @property
    def embedding_count(self) -> int:
        return len(self._gallery.label_person)

    @property
    def ef(self) -> int | None:
        """The search breadth the live hnswlib index actually uses (None when empty)."""
        index = self._gallery.index
        return None if index is None else int(index.ef)

    def search(self, embedding: Embedding, k: int = 1) -> list[GalleryMatch]:
        """The ``k`` most similar people, best first, each with their best similarity."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        gallery = self._gallery  # one read: the whole search uses one generation
        if gallery.index is None:
            return []
        query = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != gallery.dim:
            raise ValueError(f"embedding has {query.shape[1]} dims, the gallery {gallery.dim}")
        # k people are among the k * max_per_person nearest embeddings (each person has at most
        # max_per_person of them).
        neighbours = min(len(gallery.label_person), k * gallery.max_per_person)
        labels, distances = gallery.index.knn_query(query, k=neighbours)
        best: dict[int, float] = {}
        for label, distance in zip(labels[0], distances[0], strict=True):
            person = int(gallery.label_person[int(label)])
            if person not in best:  # results come nearest first
                best[person] = 1.0 - float(distance)
                if len(best) == k:
                    break
        return [GalleryMatch(gallery.people[p], s) for p, s in best.items()]

    def replace(self, snapshot: GallerySnapshot) -> None:
        """Build the snapshot's gallery, then swap it in; on a bad snapshot the old one stays."""
        gallery = self._build(snapshot)
        with self._lock:
            self._gallery = gallery
        logger.info(
            "gallery version %s in use: %d people, %d embeddings, model %s",
            gallery.version,
            len(gallery.people),
            len(gallery.label_person),
            gallery.model_id,
        )

    # -- building ----------------------------------------------------------------------------

    def _build(self, snapshot: GallerySnapshot) -> _Gallery:
        people: list[str] = []
        blocks: list[npt.NDArray[np.float32]] = []
        owners: list[npt.NDArray[np.int64]] = []
        for person in snapshot.people:
            if person.person_id in people:
                raise GalleryFormatError(f"person {person.person_id} appears twice")
            rows = decode_embeddings(person.embeddings_b64, snapshot.dim)
            owners.append(np.full(len(rows), len(people), dtype=np.int64))
            people.append(person.person_id)
            blocks.append(rows)
        if not blocks:
            return _Gallery(
                None,
                (),
                np.zeros(0, dtype=np.int64),
                0,
                snapshot.model_id,
                snapshot.version,
                snapshot.dim,
            )
        vectors = np.concatenate(blocks)
        label_person = np.concatenate(owners)
        index = hnswlib.Index(space="cosine", dim=snapshot.dim)
        index.init_index(
            max_elements=len(vectors), ef_construction=self._ef_construction, M=self._m
        )
        index.add_items(vectors, np.arange(len(vectors)))
        return self._publishable(
            index, tuple(people), label_person, snapshot.model_id, snapshot.version, snapshot.dim
        )

    def _publishable(
        self,
        index: Any,
        people: tuple[str, ...],
        label_person: npt.NDArray[np.int64],
        model_id: str | None,
        version: int | None,
        dim: int | None,
    ) -> _Gallery:
        """Finish an index for searching: ef is set here, after every build and every load."""
        max_per_person = int(np.bincount(label_person).max()) if len(label_person) else 0
        index.set_ef(max(self._ef, max_per_person))
        return _Gallery(index, people, label_person, max_per_person, model_id, version, dim)

    # -- persistence -------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the gallery to ``directory`` so that a crash never leaves half of one."""
        directory.mkdir(parents=True, exist_ok=True)
        gallery = self._gallery
        index_file: str | None = None
        digest: str | None = None
        if gallery.index is not None:
            index_file = f"gallery-{gallery.version}-{uuid.uuid4().hex[:12]}.hnsw"
            tmp = directory / f".{index_file}.tmp"
            gallery.index.save_index(str(tmp))
            _fsync(tmp)
            os.replace(tmp, directory / index_file)
            digest = _sha256(directory / index_file)
        sidecar = {
            "format": FORMAT,
            "version": gallery.version,
            "model_id": gallery.model_id,
            "dim": gallery.dim,
            "index_file": index_file,
            "index_sha256": digest,
            "people": list(gallery.people),
            "label_person": gallery.label_person.tolist(),
        }
        tmp = directory / f".{SIDECAR}.tmp"
        tmp.write_text(json.dumps(sidecar))
        _fsync(tmp)
        os.replace(tmp, directory / SIDECAR)  # the commit point
        _fsync_dir(directory)
        for stale in directory.glob("gallery-*.hnsw"):
            if stale.name != index_file:
                stale.unlink(missing_ok=True)

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        ef: int = DEFAULT_EF,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ) -> HnswFaceIndex:
        """The gallery saved in ``directory``; empty (with a warning) if missing or corrupt."""
        self = cls(ef=ef, m=m, ef_construction=ef_construction)
        if not (directory / SIDECAR).exists():
            # first start: not a fault, the hub's gallery arrives over MQTT
            logger.info("no gallery saved in %s yet: starting empty", directory)
            return self
        try:
            self._gallery = self._read(directory)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            logger.warning(
                "no usable gallery in %s (%s): starting with an empty one", directory, err
            )
        return self

    def _read(self, directory: Path) -> _Gallery:
        meta = json.loads((directory / SIDECAR).read_text())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise GalleryFormatError(f"unsupported gallery format in {directory / SIDECAR}")
        people = tuple(str(p) for p in meta["people"])
        label_person = np.asarray(meta["label_person"], dtype=np.int64).reshape(-1)
        model_id, version, dim = meta["model_id"], meta["version"], meta["dim"]
        if not (
            (model_id is None or isinstance(model_id, str))
            and (version is None or isinstance(version, int))
            and (dim is None or (isinstance(dim, int) and dim > 0))
        ):
            raise GalleryFormatError("model_id, version or dim has the wrong type")
        if meta["index_file"] is None:
            if people or len(label_person):
                raise GalleryFormatError("gallery lists people but has no index file")
            return _Gallery(None, (), label_person, 0, model_id, version, dim)
        if dim is None:
            raise GalleryFormatError("gallery has an index file but no dim")
        path = directory / Path(meta["index_file"]).name
        if _sha256(path) != meta["index_sha256"]:
            raise GalleryFormatError(f"{path.name} does not match its recorded sha256")
        if len(label_person) and (label_person.min() < 0 or label_person.max() >= len(people)):
            raise GalleryFormatError("label map points outside the people list")
        index = hnswlib.Index(space="cosine", dim=dim)
        index.load_index(str(path), max_elements=len(label_person))
        if index.get_current_count() != len(label_person):
            raise GalleryFormatError("index and label map disagree on the number of embeddings")
        gallery = self._publishable(index, people, label_person, model_id, version, dim)
        logger.info(
            "gallery version %s loaded from %s: %d people, model %s",
            version,
            directory,
            len(people),
            model_id,
        )
        return gallery


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); not possible everywhere, hence best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
