"""Model files: one pickle per version under the hub's ML folder, named by its sha256.

Only files this hub wrote are loaded, and only after their sha256 matches the one recorded in
``ml_models`` when they were written (DESIGN §3 rule 4): a replaced or damaged file is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path
from typing import Any

from hub.ml.errors import ModelNotTrainedError

logger = logging.getLogger(__name__)


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dump(self, artefact: Any) -> tuple[bytes, str]:
        """(the pickled artefact, its sha256)."""
        data = pickle.dumps(artefact, protocol=pickle.HIGHEST_PROTOCOL)
        return data, hashlib.sha256(data).hexdigest()

    def save(self, name: str, version: str, data: bytes) -> str:
        """Write ``data`` atomically; returns the path relative to the store's root."""
        relative = Path(name) / f"{version}.pkl"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        logger.info("saved model %s version %s (%d bytes)", name, version, len(data))
        return relative.as_posix()

    def load(self, relative: str, sha256: str) -> Any:
        path = self.root / relative
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ModelNotTrainedError(
                f"the model file {relative} cannot be read ({type(err).__name__}): retrain it"
            ) from err
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ModelNotTrainedError(
                f"the model file {relative} does not match its recorded sha256: retrain it"
            )
        # Our own file, verified against the digest recorded when we wrote it.
        return pickle.loads(data)  # noqa: S301
