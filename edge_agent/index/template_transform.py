"""The site-keyed template transform (issue 17 item 4; ISO/IEC 24745: revocable, unlinkable).

Every unit-norm face embedding is multiplied by a secret random orthogonal matrix ``Q`` before it
is stored or matched. ``Q`` is derived from a 32-byte *transform key* (the hub derives one per
site, embedding model and key generation with HKDF, :mod:`hub.face_templates`):

- within one site distances are preserved exactly (``|Qa - Qb| = |a - b|``, ``Qa . Qb = a . b``),
  so match decisions are the same as without the transform (``benchmarks/template_protection.py``
  measures it);
- two sites (two keys) store unrelated rotations of the same face: a template stolen from one
  gallery compared with another site's templates or probes scores like a stranger's face;
- re-keying (a new key: ``innsight hub gallery rekey``) re-derives every template and leaves
  the old ones useless against the new probes (revocation).

Pure numpy, so the hub and the edge compute the same matrix; both sides hold the key (the edge
gets it inside the gallery snapshot, over the authenticated HTTPS download, and keeps it only
sealed on disk).
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

TRANSFORM_KEY_BYTES = 32
SCHEME = "orthogonal-v1"

_CACHE: dict[tuple[bytes, int], npt.NDArray[np.float32]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 8


def orthogonal_matrix(key: bytes, dim: int) -> npt.NDArray[np.float32]:
    """The ``dim`` x ``dim`` orthogonal matrix of ``key``: QR of a Gaussian matrix drawn from a
    PCG64 seeded with the key, signs fixed so that the factorisation is unique (Haar-uniform)."""
    if len(key) != TRANSFORM_KEY_BYTES:
        raise ValueError(f"a transform key has {TRANSFORM_KEY_BYTES} bytes, not {len(key)}")
    if dim < 1:
        raise ValueError(f"dim must be positive, got {dim}")
    with _CACHE_LOCK:
        cached = _CACHE.get((key, dim))
    if cached is not None:
        return cached
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(key, "big")))
    gaussian = rng.standard_normal((dim, dim))
    q, r = np.linalg.qr(gaussian)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    matrix = np.ascontiguousarray(q.astype(np.float32))
    matrix.setflags(write=False)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[(key, dim)] = matrix
    return matrix


def transform(key: bytes, vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """``vectors`` (one embedding or rows of them) rotated by the key's matrix, as float32;
    unit vectors stay unit vectors (to float32 rounding)."""
    rows = np.asarray(vectors, dtype=np.float32)
    single = rows.ndim == 1
    rows = rows.reshape(1, -1) if single else rows
    if rows.ndim != 2:
        raise ValueError(f"expected one embedding or a matrix of them, got shape {rows.shape}")
    matrix = orthogonal_matrix(key, rows.shape[1])
    out = np.asarray(rows @ matrix.T, dtype=np.float32)
    return out.reshape(-1) if single else out
