"""Keep the local face gallery in step with the hub's (DESIGN §2: the gallery is a versioned
artefact).

The hub retains ``{version, sha256, url, model_id, people}`` on
``innsight/{site}/{device}/gallery/version``. When the announced version is newer than the
index's, a worker thread (never the MQTT thread) downloads ``url``, checks the sha256 of the
bytes *before* parsing them, parses a :class:`contracts.messages.GallerySnapshot`, checks that
its version and model id agree with the announcement, swaps it into the index and persists it
(``index.save(index_dir)`` where the index can save: sealed under the site's gallery key,
edge_agent/index/sealed.py). The snapshot's embeddings are protected templates and it carries
the site's transform key (issue 17 item 4), which is why the download is authenticated HTTPS and
never MQTT: the index rotates every probe with that key before it searches.

Any failure (hub unreachable, HTTP error, bad hash, bad JSON, wrong version/model) is logged as
a warning and the last good gallery stays in use; the download is retried on the next
announcement, or after an exponential backoff.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx
from pydantic import ValidationError

from contracts.messages import GallerySnapshot, GalleryVersion
from contracts.topics import Channel, device_topic
from edge_agent.ports import FaceIndex, Publisher

logger = logging.getLogger(__name__)

DEFAULT_MAX_GALLERY_BYTES = 512 * 1024**2


class GalleryRejectedError(ValueError):
    """The downloaded gallery does not match its announcement (hash, version, model, size)."""


@runtime_checkable
class PersistentIndex(Protocol):
    """An index that can write itself to a folder (``HnswFaceIndex`` does)."""

    def save(self, directory: Path) -> None: ...


def _redact(url: str) -> str:
    """The URL without its query string (presigned URLs carry tokens there)."""
    return url.split("?", 1)[0]


class GallerySync:
    def __init__(
        self,
        publisher: Publisher,
        index: FaceIndex,
        site: str,
        device_id: str,
        *,
        http: httpx.Client,
        index_dir: Path | None,
        model_id: str | None = None,
        min_backoff_s: float = 5.0,
        max_backoff_s: float = 300.0,
        max_bytes: int = DEFAULT_MAX_GALLERY_BYTES,
        poll_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``model_id``: when set, galleries built by another embedding model are refused
        without being downloaded. ``http`` may carry a ``base_url`` for relative gallery URLs."""
        self._publisher = publisher
        self._index = index
        self.topic = device_topic(site, device_id, Channel.GALLERY_VERSION)
        self._http = http
        self._index_dir = index_dir
        self._model_id = model_id
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._backoff_s = min_backoff_s
        self._max_bytes = max_bytes
        self._poll_s = poll_s
        self._clock = clock

        self._lock = threading.Lock()
        self._installed = threading.Condition(self._lock)
        self._signal = threading.Event()
        self._announced: GalleryVersion | None = None
        self._force = False
        self._retry_at = 0.0
        self.installs = 0
        self.failures = 0
        self.last_error: str | None = None

    # -- wiring ---------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to the retained gallery announcement."""
        self._publisher.subscribe(self.topic, self._on_announcement)

    def run(self, stop_event: threading.Event) -> None:
        """Sync whenever a newer gallery is announced, until ``stop_event`` (own thread)."""
        while not stop_event.is_set():
            self._signal.clear()
            self.sync_once()
            self._signal.wait(self._poll_s)

    def request_resync(self) -> None:
        """Download the announced gallery again, even if its version is installed."""
        with self._lock:
            self._force = True
            self._retry_at = 0.0
        self._signal.set()

    @property
    def announced(self) -> GalleryVersion | None:
        with self._lock:
            return self._announced

    def wait_for_version(self, min_version: int, timeout_s: float) -> bool:
        """Block until the index holds ``min_version`` or newer; False on timeout."""
        with self._installed:
            return self._installed.wait_for(
                lambda: (self._index.version or 0) >= min_version, timeout_s
            )

    # -- work -----------------------------------------------------------------------------

    def sync_once(self) -> bool:
        """Install the announced gallery when it is newer (or a resync was asked) and no
        backoff is pending; True when a new gallery went in."""
        with self._lock:
            announced, force = self._announced, self._force
            if announced is None or self._clock() < self._retry_at:
                return False
            if announced.version <= (self._index.version or 0) and not force:
                return False
            self._force = False
        try:
            snapshot = self._fetch(announced)
            self._index.replace(snapshot)
        except (httpx.HTTPError, GalleryRejectedError, ValidationError) as err:
            self._failed(announced, f"{type(err).__name__}: {err}")
            return False
        except Exception as err:  # the index refused it; keep the old one, keep the thread
            logger.exception("gallery v%d could not be installed", announced.version)
            self._failed(announced, f"{type(err).__name__}: {err}")
            return False
        self._persist(announced)
        with self._installed:
            self.installs += 1
            self.last_error = None
            self._backoff_s = self._min_backoff_s
            self._installed.notify_all()
        logger.info(
            "gallery v%d installed (%d people, model %s)",
            snapshot.version,
            len(snapshot.people),
            snapshot.model_id,
        )
        return True

    def _fetch(self, announced: GalleryVersion) -> GallerySnapshot:
        if self._model_id is not None and announced.model_id != self._model_id:
            raise GalleryRejectedError(
                f"gallery v{announced.version} was built by model {announced.model_id!r};"
                f" this edge embeds with {self._model_id!r}"
            )
        digest = hashlib.sha256()
        data = bytearray()
        with self._http.stream("GET", announced.url) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > self._max_bytes:
                    raise GalleryRejectedError(f"gallery larger than {self._max_bytes} bytes")
                digest.update(chunk)
        if digest.hexdigest() != announced.sha256:
            raise GalleryRejectedError(
                f"sha256 mismatch: downloaded {digest.hexdigest()}, announced {announced.sha256}"
            )
        snapshot = GallerySnapshot.model_validate_json(bytes(data))
        if snapshot.version != announced.version or snapshot.model_id != announced.model_id:
            raise GalleryRejectedError(
                f"snapshot is v{snapshot.version} of {snapshot.model_id!r}, announced"
                f" v{announced.version} of {announced.model_id!r}"
            )
        if len(snapshot.people) != announced.people:
            logger.warning(
                "gallery v%d holds %d people, its announcement says %d",
                snapshot.version,
                len(snapshot.people),
                announced.people,
            )
        return snapshot

    def _persist(self, announced: GalleryVersion) -> None:
        if self._index_dir is None or not isinstance(self._index, PersistentIndex):
            return
        try:
            self._index.save(self._index_dir)
        except OSError as err:
            logger.warning(
                "gallery v%d is in use but could not be saved to %s: %s",
                announced.version,
                self._index_dir,
                err,
            )

    def _failed(self, announced: GalleryVersion, reason: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = reason
            delay = self._backoff_s
            self._retry_at = self._clock() + delay
            self._backoff_s = min(self._backoff_s * 2, self._max_backoff_s)
        logger.warning(
            "gallery v%d from %s refused, keeping v%s: %s; retrying in %.0f s or on the next"
            " announcement",
            announced.version,
            _redact(announced.url),
            self._index.version,
            reason,
            delay,
        )

    def _on_announcement(self, topic: str, payload: bytes) -> None:
        """Runs on the MQTT thread: parse, remember, wake the worker; no I/O here."""
        if not payload:
            return  # a cleared retained message
        try:
            announced = GalleryVersion.model_validate_json(payload)
        except ValidationError as err:
            logger.warning(
                "ignoring malformed gallery announcement on %s: %s",
                topic,
                err.errors(include_url=False, include_input=False)[:3],
            )
            return
        with self._lock:
            self._announced = announced
            self._retry_at = 0.0  # a new announcement is worth a try at once
        logger.info("gallery v%d announced", announced.version)
        self._signal.set()
