"""Protected face templates (issue 17 item 4; ISO/IEC 24745 ideas: revocable, unlinkable).

Three protections, one module:

1. **Encrypted at rest.** ``employee_faces.embedding`` is an :class:`hub.crypto.EncryptedBytes`
   column (Fernet with the hub's ``pii_key``, like every personal field); enrolment crops and
   gallery artefacts are sealed with the same cipher before they reach the object store
   (:meth:`TemplateProtector.seal` / :meth:`~TemplateProtector.open`). The edge seals its saved
   gallery with its own per-site key (``gallery.key`` in the device bundle,
   :mod:`edge_agent.index.sealed`).
2. **Site-keyed transform.** Every unit-norm embedding is rotated by a secret orthogonal matrix
   (:mod:`edge_agent.index.template_transform`) before it is stored, and every probe before it
   is matched, on the hub and on the edge. The matrix comes from a 32-byte transform key derived
   with HKDF-SHA256 from the site's *template key*, the site id, the embedding model and its
   dimension: distances within a site are unchanged (same match decisions), while the templates
   of two sites are unrelated rotations (unlinkable). The transform key reaches the edges inside
   the gallery snapshot (:class:`contracts.messages.TemplateProtection`): sealed in the object
   store, over the authenticated HTTPS download, sealed again on the edge's disk; never on MQTT.
3. **Re-keying** (:func:`rekey_templates`, ``innsight hub gallery rekey``): a new template key,
   every template re-derived from its kept crop (re-embedded, transformed under the new key),
   templates without a usable crop deleted, a new gallery version published: the edges fetch it,
   and the old templates no longer match probes transformed under the new key.

Where the keys live: the template key is ``template_key`` in the settings
(``INNSIGHT_TEMPLATE_KEY``) or, unset, ``{data_dir}/template.key`` (mode 0600, made once, like
``pii.key``); the file lists keys comma-separated, newest first, and holds two only while a
re-keying runs (the old one is dropped at its end). ``pii_key`` rotation (``cipher.rotate``)
re-encrypts the ciphertexts without changing the templates.

Templates from before migration 0006 (``template_key_id`` NULL: in clear, not transformed) and
rows left under an older key by an interrupted re-keying are converted when the hub starts
(:func:`protect_stored_templates`); their crops and the old gallery artefacts are sealed then.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from sqlalchemy import LargeBinary, String, column, select, table, update
from sqlmodel import col

from contracts.messages import TemplateProtection
from edge_agent.index.template_transform import TRANSFORM_KEY_BYTES, transform
from hub.auth.keys import load_or_create_secret
from hub.crypto import PiiCipher
from hub.db import SessionFactory
from hub.settings import HubSettings
from hub.storage import ObjectStore, StorageError
from hub.tables import EmployeeFace, GalleryVersionRecord

logger = logging.getLogger(__name__)

TEMPLATE_KEY_FILE = "template.key"
ARTEFACTS_SEALED_MARKER = "galleries/sealed-v1.marker"  # every artefact in the store is sealed
_KEY_ID_LABEL = b"innsight template key id v1"
_TRANSFORM_SALT = b"innsight template transform v1"
_FERNET_PREFIX = b"gAAAAA"  # every Fernet token starts so (version 0x80, 64-bit timestamp)


class TemplateKeyError(RuntimeError):
    """No usable template key, or a key operation the configuration does not allow."""


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def new_template_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True, slots=True)
class TemplateKey:
    """One generation of the site's template key (32 secret bytes)."""

    secret: bytes

    def __repr__(self) -> str:
        return f"TemplateKey(id={self.key_id})"

    @classmethod
    def parse(cls, text: str) -> TemplateKey:
        try:
            raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError, binascii.Error):
            raw = b""
        if len(raw) != 32:
            raise TemplateKeyError("a template key is 32 url-safe base64 bytes")
        return cls(raw)

    @property
    def key_id(self) -> str:
        """A public name of the key (16 hex digits of a keyed digest; reveals nothing)."""
        return hmac.new(self.secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def transform_key(self, site: str, model_id: str, dim: int) -> bytes:
        """The transform key of one site, embedding model and dimension (HKDF-SHA256)."""
        return HKDF(
            algorithm=hashes.SHA256(),
            length=TRANSFORM_KEY_BYTES,
            salt=_TRANSFORM_SALT,
            info=f"{site}\n{model_id}\n{dim}".encode(),
        ).derive(self.secret)


class TemplateKeyring:
    """The site's template keys, newest first. From the settings (fixed) or from
    ``{data_dir}/template.key``, re-read when the file changes (a re-keying by the CLI reaches a
    running hub at its next probe)."""

    def __init__(self, *, path: Path | None = None, fixed: SecretStr | None = None) -> None:
        if (path is None) == (fixed is None):
            raise TemplateKeyError("give either a key file or a fixed key")
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: tuple[TemplateKey, ...] = ()
        if fixed is not None:
            self._keys = _parse_keys(fixed.get_secret_value())
        else:
            self._reload()

    def __repr__(self) -> str:
        return f"TemplateKeyring(path={self._path}, keys=<hidden>)"

    @classmethod
    def for_settings(cls, template_key: SecretStr | None, data_dir: Path) -> TemplateKeyring:
        if template_key is not None:
            return cls(fixed=template_key)
        return cls(path=data_dir / TEMPLATE_KEY_FILE)

    @property
    def rotatable(self) -> bool:
        return self._path is not None

    @property
    def keys(self) -> tuple[TemplateKey, ...]:
        self._reload()
        return self._keys

    @property
    def current(self) -> TemplateKey:
        return self.keys[0]

    def _reload(self) -> None:
        if self._path is None:
            return
        text = load_or_create_secret(self._path, new_template_key, min_chars=43)
        stat = self._path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._keys = _parse_keys(text)
            self._stamp = stamp

    def write(self, keys: Sequence[TemplateKey]) -> None:
        """Replace the key file (atomically, mode 0600) with ``keys``, newest first."""
        if self._path is None:
            raise TemplateKeyError(
                "template_key is given in the settings (INNSIGHT_TEMPLATE_KEY): unset it to let "
                f"the hub keep its keys in {TEMPLATE_KEY_FILE}, or re-key by hand"
            )
        text = ",".join(base64.urlsafe_b64encode(k.secret).decode("ascii") for k in keys)
        temp = self._path.with_name(f".{self._path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self._path)
        self._stamp = None
        self._reload()


def _parse_keys(text: str) -> tuple[TemplateKey, ...]:
    keys = tuple(TemplateKey.parse(part) for part in text.split(",") if part.strip())
    if not keys:
        raise TemplateKeyError("no template key given")
    return keys


# ---------------------------------------------------------------------------------------------
# The protector: what enrolment, the gallery and recognition call
# ---------------------------------------------------------------------------------------------


def _as_vector(embedding: bytes | npt.ArrayLike) -> npt.NDArray[np.float32]:
    if isinstance(embedding, bytes | bytearray | memoryview):
        return np.frombuffer(bytes(embedding), dtype="<f4").astype(np.float32)
    return np.asarray(embedding, dtype=np.float32).reshape(-1)


class TemplateProtector:
    """Transforms templates and probes under the site's current key and seals stored bytes."""

    def __init__(self, cipher: PiiCipher, keyring: TemplateKeyring, *, site: str) -> None:
        self._cipher = cipher
        self.keyring = keyring
        self.site = site

    @property
    def key_id(self) -> str:
        return self.keyring.current.key_id

    def transform_key(self, model_id: str, dim: int, key: TemplateKey | None = None) -> bytes:
        return (key or self.keyring.current).transform_key(self.site, model_id, dim)

    def protect(
        self, model_id: str, embedding: bytes | npt.ArrayLike, key: TemplateKey | None = None
    ) -> bytes:
        """The stored form of one unit-norm embedding: rotated under the site key, float32
        little-endian (the column encrypts it)."""
        vector = _as_vector(embedding)
        rotated = transform(self.transform_key(model_id, vector.size, key), vector)
        return np.asarray(rotated, dtype="<f4").tobytes()

    def probe(self, model_id: str, embedding: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """A probe embedding rotated like the stored templates, ready to match."""
        vector = _as_vector(embedding)
        return transform(self.transform_key(model_id, vector.size), vector)

    def protection(self, model_id: str, dim: int) -> TemplateProtection:
        """The snapshot metadata that lets an edge transform its probes."""
        key = self.keyring.current
        return TemplateProtection(
            key_id=key.key_id,
            transform_key_b64=base64.b64encode(self.transform_key(model_id, dim, key)).decode(),
        )

    def open_template(self, ciphertext: bytes) -> bytes:
        """A template column value read raw (without its column type)."""
        return self._cipher.decrypt_bytes(ciphertext)

    def seal(self, data: bytes) -> bytes:
        """Bytes for the object store: crops and gallery artefacts."""
        return self._cipher.encrypt_bytes(data)

    def open(self, data: bytes) -> bytes:
        """What :meth:`seal` sealed; bytes stored in clear before issue 17 (a JPEG crop, a JSON
        artefact: never a Fernet token) come back unchanged."""
        return self._cipher.decrypt_bytes(data) if is_sealed(data) else data


def is_sealed(data: bytes) -> bool:
    return bytes(data[: len(_FERNET_PREFIX)]) == _FERNET_PREFIX


# ---------------------------------------------------------------------------------------------
# Converting what was stored before (start-up)
# ---------------------------------------------------------------------------------------------

# The raw column, read without the EncryptedBytes type (rows from before migration 0006).
_RAW_FACES = table(
    "employee_faces",
    column("id"),
    column("employee_id", String),
    column("embedding", LargeBinary),
    column("model_id", String),
    column("template_key_id", String),
)


@dataclass(slots=True)
class ConversionReport:
    clear_templates: int = 0
    rekeyed_templates: int = 0
    unknown_key_templates: int = 0
    crops_sealed: int = 0
    artefacts_sealed: int = 0


async def protect_stored_templates(
    session_factory: SessionFactory, store: ObjectStore, protector: TemplateProtector
) -> ConversionReport:
    """Encrypt and transform the templates stored in clear before migration 0006 and re-rotate
    rows left under an older key of the keyring (an interrupted re-keying); seal their crops and
    every gallery artefact still in clear. Idempotent; cheap when there is nothing to do."""
    report = ConversionReport()
    current = protector.keyring.current
    older = {key.key_id: key for key in protector.keyring.keys[1:]}
    async with session_factory() as session:
        connection = await session.connection()  # Core reads: the raw column, not the ORM's
        rows = (
            await connection.execute(
                select(
                    _RAW_FACES.c.id,
                    _RAW_FACES.c.employee_id,
                    _RAW_FACES.c.embedding,
                    _RAW_FACES.c.model_id,
                    _RAW_FACES.c.template_key_id,
                ).where(
                    (_RAW_FACES.c.template_key_id.is_(None))
                    | (_RAW_FACES.c.template_key_id != current.key_id)
                )
            )
        ).all()
        found = await connection.execute(select(col(GalleryVersionRecord.object_key)))
        versions = [str(row[0]) for row in found.all()]
        crops: list[tuple[str, int]] = []
        for face_id, employee_id, blob, model_id, key_id in rows:
            clear: bytes | npt.NDArray[np.float32]
            if key_id is None:
                clear = bytes(blob)
                report.clear_templates += 1
                crops.append((employee_id, face_id))
            elif key_id in older:
                stored = protector.open_template(bytes(blob))
                vector = _as_vector(stored)
                old_key = protector.transform_key(model_id, vector.size, older[key_id])
                # undo the old rotation (Q^T), then rotate under the current key
                clear = np.asarray(transform(old_key, np.eye(vector.size)) @ vector, dtype="<f4")
                report.rekeyed_templates += 1
            else:
                report.unknown_key_templates += 1
                continue
            await session.exec(
                update(EmployeeFace)
                .where(col(EmployeeFace.id) == face_id)
                .values(
                    embedding=protector.protect(model_id, clear, current),
                    template_key_id=current.key_id,
                )
                # no ORM evaluation: it would compare the (uncomparable) encrypted column
                .execution_options(synchronize_session=False)
            )
        await session.commit()
    from hub.gallery import face_crop_key

    for employee_id, face_id in crops:
        report.crops_sealed += (
            await _seal_object(store, protector, face_crop_key(employee_id, face_id)) or 0
        )
    if await _artefacts_need_a_scan(store, report):
        failed = 0
        for object_key in versions:
            sealed = await _seal_object(store, protector, object_key)
            report.artefacts_sealed += sealed or 0
            failed += sealed is None
        if not failed:
            with contextlib.suppress(StorageError):
                await asyncio.to_thread(store.put, ARTEFACTS_SEALED_MARKER, b"1", "text/plain")
    if report.unknown_key_templates:
        logger.warning(
            "%d face template(s) are under a template key the hub no longer has: they match "
            "nobody; re-enrol those people or run `innsight hub gallery rekey`",
            report.unknown_key_templates,
        )
    if report.clear_templates or report.rekeyed_templates or report.artefacts_sealed:
        logger.info(
            "face templates protected: %d from clear, %d re-rotated; %d crops and %d gallery "
            "artefacts sealed",
            report.clear_templates,
            report.rekeyed_templates,
            report.crops_sealed,
            report.artefacts_sealed,
        )
    return report


async def _artefacts_need_a_scan(store: ObjectStore, report: ConversionReport) -> bool:
    """Gallery artefacts are read back only on the first start after the upgrade (or after a
    restore from before it): the marker says every artefact was sealed, and new ones always are."""
    if report.clear_templates:
        return True
    try:
        return not await asyncio.to_thread(store.exists, ARTEFACTS_SEALED_MARKER)
    except StorageError as err:
        logger.warning("gallery artefacts not checked: %s", type(err).__name__)
        return False


async def _seal_object(store: ObjectStore, protector: TemplateProtector, key: str) -> int | None:
    """1 when the object was sealed now, 0 when it already was, None when it could not be."""
    try:
        if not await asyncio.to_thread(store.exists, key):
            return 0  # purged, or never kept
        data = await asyncio.to_thread(store.get, key)
        if is_sealed(data):
            return 0
        await asyncio.to_thread(store.put, key, protector.seal(data), "application/octet-stream")
    except StorageError as err:
        logger.warning("object %s not sealed: %s", key, type(err).__name__)
        return None
    return 1


def template_protector(settings: HubSettings, cipher: PiiCipher) -> TemplateProtector:
    """The site's protector (``template_key`` from the settings, else the data dir's file)."""
    keyring = TemplateKeyring.for_settings(settings.template_key, settings.data_dir)
    return TemplateProtector(cipher, keyring, site=settings.site)
