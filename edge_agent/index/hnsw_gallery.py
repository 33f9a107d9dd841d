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
- Protected templates (issue 17 item 4): a snapshot's embeddings are rotated under the site's
  template key (:mod:`edge_agent.index.template_transform`); the snapshot carries that transform
  key and :meth:`HnswFaceIndex.search` rotates every probe the same way before the search, so the
  pipeline keeps passing plain embeddings.
- :meth:`HnswFaceIndex.save` writes ONE file, ``gallery.sealed``: the hnswlib state, the label map,
  the people and the transform key (npz, no pickle), sealed with AES-GCM under the site's gallery
  key (:mod:`edge_agent.index.sealed`), written to a temp file and ``os.replace``-d (the commit
  point). A crash leaves the old gallery or the new one; a damaged file or one sealed under
  another key (another site's) loads as an empty gallery with a warning, and matches nobody.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
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
from edge_agent.index.sealed import open_sealed, seal
from edge_agent.index.template_transform import transform
from edge_agent.ports import GalleryMatch
from models.faces import Embedding

logger = logging.getLogger(__name__)

SEALED_FILE = "gallery.sealed"
LEGACY_SIDECAR = "gallery.json"  # format 1: templates in clear, removed on sight
FORMAT = 2
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
    transform_key: bytes | None = None  # the site's template transform (None: clear gallery)


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
        key: bytes | None = None,
    ) -> None:
        """``key``: the site's gallery key that seals :meth:`save` (None: never saved)."""
        if ef < 1 or m < 2 or ef_construction < 1:
            raise ValueError("ef, m and ef_construction must be positive (m >= 2)")
        self._ef = ef
        self._m = m
        self._ef_construction = ef_construction
        self._lock = threading.Lock()
        self._gallery = _EMPTY
        self._key = key

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
        if gallery.transform_key is not None:
            query = transform(gallery.transform_key, query)
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
        protection = snapshot.protection
        transform_key = None if protection is None else protection.transform_key
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
                transform_key,
            )
        vectors = np.concatenate(blocks)
        label_person = np.concatenate(owners)
        index = hnswlib.Index(space="cosine", dim=snapshot.dim)
        index.init_index(
            max_elements=len(vectors), ef_construction=self._ef_construction, M=self._m
        )
        index.add_items(vectors, np.arange(len(vectors)))
        return self._publishable(
            index,
            tuple(people),
            label_person,
            snapshot.model_id,
            snapshot.version,
            snapshot.dim,
            transform_key,
        )

    def _publishable(
        self,
        index: Any,
        people: tuple[str, ...],
        label_person: npt.NDArray[np.int64],
        model_id: str | None,
        version: int | None,
        dim: int | None,
        transform_key: bytes | None,
    ) -> _Gallery:
        """Finish an index for searching: ef is set here, after every build and every load."""
        max_per_person = int(np.bincount(label_person).max()) if len(label_person) else 0
        index.set_ef(max(self._ef, max_per_person))
        return _Gallery(
            index, people, label_person, max_per_person, model_id, version, dim, transform_key
        )

    # -- persistence -------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the gallery to ``directory``, sealed under the site's gallery key, so that a
        crash never leaves half of one (temp file + ``os.replace``). Without a key nothing is
        written: a template never reaches the disk in clear."""
        if self._key is None:
            logger.warning("no gallery key: the gallery is kept in memory only")
            return
        directory.mkdir(parents=True, exist_ok=True)
        sealed = seal(self._key, _serialise(self._gallery))
        tmp = directory / f".{SEALED_FILE}.{uuid.uuid4().hex[:12]}.tmp"
        tmp.write_bytes(sealed)
        _fsync(tmp)
        os.replace(tmp, directory / SEALED_FILE)  # the commit point
        _fsync_dir(directory)
        _remove_clear_files(directory)

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        key: bytes | None = None,
        ef: int = DEFAULT_EF,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ) -> HnswFaceIndex:
        """The gallery sealed in ``directory`` (opened with ``key``, the site's gallery key);
        empty (with a warning) if missing, corrupt or sealed under another key."""
        self = cls(ef=ef, m=m, ef_construction=ef_construction, key=key)
        _remove_clear_files(directory)
        path = directory / SEALED_FILE
        if not path.exists():
            # first start: not a fault, the hub's gallery arrives over MQTT
            logger.info("no gallery saved in %s yet: starting empty", directory)
            return self
        if key is None:
            logger.warning("no gallery key: the saved gallery in %s cannot be opened", directory)
            return self
        try:
            self._gallery = self._read(open_sealed(key, path.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            logger.warning(
                "no usable gallery in %s (%s): starting with an empty one", directory, err
            )
            return self
        logger.info(
            "gallery version %s loaded from %s: %d people, model %s",
            self.version,
            directory,
            len(self),
            self.model_id,
        )
        return self

    def _read(self, payload: bytes) -> _Gallery:
        with np.load(io.BytesIO(payload), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        meta = json.loads(bytes(arrays.pop(_META).astype(np.uint8)).decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise GalleryFormatError("unsupported gallery format")
        people = tuple(str(p) for p in meta["people"])
        label_person = np.asarray(arrays.pop(_LABELS), dtype=np.int64).reshape(-1)
        model_id, version, dim = meta["model_id"], meta["version"], meta["dim"]
        transform_b64 = meta.get("transform_key_b64")
        if not (
            (model_id is None or isinstance(model_id, str))
            and (version is None or isinstance(version, int))
            and (dim is None or (isinstance(dim, int) and dim > 0))
            and (transform_b64 is None or isinstance(transform_b64, str))
        ):
            raise GalleryFormatError("model_id, version, dim or transform key has the wrong type")
        transform_key = None if transform_b64 is None else base64.b64decode(transform_b64)
        hnsw_state = meta["hnsw"]
        if hnsw_state is None:
            if people or len(label_person):
                raise GalleryFormatError("gallery lists people but has no index")
            return _Gallery(None, (), label_person, 0, model_id, version, dim, transform_key)
        if dim is None:
            raise GalleryFormatError("gallery has an index but no dim")
        if len(label_person) and (label_person.min() < 0 or label_person.max() >= len(people)):
            raise GalleryFormatError("label map points outside the people list")
        state = {**hnsw_state, **{k.removeprefix("hnsw_"): v for k, v in arrays.items()}}
        index = hnswlib.Index.__new__(hnswlib.Index)
        index.__setstate__((state,))
        if index.get_current_count() != len(label_person):
            raise GalleryFormatError("index and label map disagree on the number of embeddings")
        return self._publishable(index, people, label_person, model_id, version, dim, transform_key)


_META = "meta"
_LABELS = "label_person"


def _serialise(gallery: _Gallery) -> bytes:
    """One gallery generation as npz bytes (no pickle): the hnswlib state's arrays, the label
    map and a JSON ``meta`` (people, model, version, dim, transform key, hnswlib scalars)."""
    arrays: dict[str, npt.NDArray[Any]] = {_LABELS: gallery.label_person}
    hnsw_scalars: dict[str, Any] | None = None
    if gallery.index is not None:
        hnsw_scalars = {}
        for name, value in gallery.index.__getstate__()[0].items():
            if isinstance(value, np.ndarray):
                arrays[f"hnsw_{name}"] = value
            else:
                hnsw_scalars[name] = value
    meta = {
        "format": FORMAT,
        "version": gallery.version,
        "model_id": gallery.model_id,
        "dim": gallery.dim,
        "people": list(gallery.people),
        "transform_key_b64": (
            None
            if gallery.transform_key is None
            else base64.b64encode(gallery.transform_key).decode("ascii")
        ),
        "hnsw": hnsw_scalars,
    }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _remove_clear_files(directory: Path) -> None:
    """Galleries saved before issue 17 (a JSON sidecar + a raw hnswlib file: templates in
    clear) are deleted; the hub's current gallery replaces them at the next sync."""
    legacy = [directory / LEGACY_SIDECAR, *directory.glob("gallery-*.hnsw")]
    for path in legacy:
        if path.exists():
            path.unlink(missing_ok=True)
            logger.warning("removed %s: a gallery saved in clear before issue 17", path.name)


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
