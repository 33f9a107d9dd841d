"""The motion gate: is anything moving in this camera's view?

Cheap background subtraction on a downscaled grey frame: every ``step``-th pixel of the green
channel (the channel closest to luminance; 160 x 120 samples of a 640 x 480 frame, about 0.1 ms)
is compared with a running average of the previous frames. A sample that differs by more than
``threshold`` grey levels has changed; the scene moves when at least ``min_area`` of the samples
have. The average learns at ``learn_rate`` a frame, so a person who stops moving fades into the
background within a few dozen frames (the schedule's forced detection keeps them tracked) and a
light switched on is forgotten as quickly.

:meth:`MotionDetector.changed_regions` says where the last frame moved, as boxes of
``region_cell`` x ``region_cell`` samples (32 x 32 px at the default step) in which at least
``region_min_samples`` changed: the pipeline searches for new faces there only
(:func:`models.blazeface_decode.touching`).

Pure numpy, no clock: the pipeline feeds it every frame it processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.faces import FaceBox, Image


@dataclass(frozen=True, slots=True)
class MotionPolicy:
    step: int = 4
    threshold: float = 20.0
    min_area: float = 0.002
    learn_rate: float = 0.1
    region_cell: int = 8
    region_min_samples: int = 2
    """A cell of :meth:`MotionDetector.changed_regions` moves when this many of its samples
    changed (one is often sensor noise)."""

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError(f"step must be >= 1, got {self.step}")
        if not 0 < self.threshold < 255:
            raise ValueError(f"threshold must be in (0, 255), got {self.threshold}")
        if not 0 < self.min_area <= 1:
            raise ValueError(f"min_area must be in (0, 1], got {self.min_area}")
        if not 0 < self.learn_rate <= 1:
            raise ValueError(f"learn_rate must be in (0, 1], got {self.learn_rate}")
        if self.region_cell < 1 or self.region_min_samples < 1:
            raise ValueError("region_cell and region_min_samples must be >= 1")


def downscaled_grey(image: Image, step: int) -> npt.NDArray[np.float32]:
    """Every ``step``-th pixel of the green channel of a BGR frame (or of a grey frame)."""
    plane = image[::step, ::step, 1] if image.ndim == 3 else image[::step, ::step]
    return np.asarray(plane, dtype=np.float32)


def changed_cells(
    changed: npt.NDArray[np.bool_], cell: int, min_samples: int
) -> list[tuple[int, int, int, int]]:
    """The ``cell`` x ``cell`` blocks of a changed-sample mask with at least ``min_samples``
    changed, as (x, y, w, h) in samples (edge blocks may be smaller)."""
    h, w = changed.shape
    rows, cols = -(-h // cell), -(-w // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.int32)
    padded[:h, :w] = changed
    counts = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    out = []
    for r, c in zip(*np.nonzero(counts >= min_samples), strict=True):
        x, y = int(c) * cell, int(r) * cell
        out.append((x, y, min(cell, w - x), min(cell, h - y)))
    return out


class MotionDetector:
    """One camera's background model; :meth:`update` says whether this frame moves."""

    def __init__(self, policy: MotionPolicy | None = None) -> None:
        self.policy = policy or MotionPolicy()
        self._background: npt.NDArray[np.float32] | None = None
        self._changed: npt.NDArray[np.bool_] | None = None
        self.last_fraction = 1.0

    def update(self, image: Image) -> bool:
        """Compare ``image`` with the background, then learn it. The first frame moves."""
        p = self.policy
        small = downscaled_grey(image, p.step)
        if self._background is None or self._background.shape != small.shape:
            self._background = small
            self._changed = None
            self.last_fraction = 1.0
            return True
        self._changed = np.abs(small - self._background) > p.threshold
        self.last_fraction = float(np.count_nonzero(self._changed)) / small.size
        self._background += p.learn_rate * (small - self._background)
        return self.last_fraction >= p.min_area

    def changed_regions(self) -> list[FaceBox] | None:
        """Where the last :meth:`update` saw change, as boxes in frame pixels (see the module
        docstring); None when it compared nothing (the first frame: all of it is new)."""
        if self._changed is None:
            return None
        p = self.policy
        return [
            FaceBox(x * p.step, y * p.step, w * p.step, h * p.step)
            for x, y, w, h in changed_cells(self._changed, p.region_cell, p.region_min_samples)
        ]
