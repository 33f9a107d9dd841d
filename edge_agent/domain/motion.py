"""The motion gate: is anything moving in this camera's view?

Cheap background subtraction on a downscaled grey frame: every ``step``-th pixel of the green
channel (the channel closest to luminance; 160 x 120 samples of a 640 x 480 frame, about 0.1 ms)
is compared with a running average of the previous frames. A sample that differs by more than
``threshold`` grey levels has changed; the scene moves when at least ``min_area`` of the samples
have. The average learns at ``learn_rate`` a frame, so a person who stops moving fades into the
background within a few dozen frames (the schedule's forced detection keeps them tracked) and a
light switched on is forgotten as quickly.

Pure numpy, no clock: the pipeline feeds it every frame it processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.faces import Image


@dataclass(frozen=True, slots=True)
class MotionPolicy:
    step: int = 4
    threshold: float = 20.0
    min_area: float = 0.002
    learn_rate: float = 0.1

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError(f"step must be >= 1, got {self.step}")
        if not 0 < self.threshold < 255:
            raise ValueError(f"threshold must be in (0, 255), got {self.threshold}")
        if not 0 < self.min_area <= 1:
            raise ValueError(f"min_area must be in (0, 1], got {self.min_area}")
        if not 0 < self.learn_rate <= 1:
            raise ValueError(f"learn_rate must be in (0, 1], got {self.learn_rate}")


def downscaled_grey(image: Image, step: int) -> npt.NDArray[np.float32]:
    """Every ``step``-th pixel of the green channel of a BGR frame (or of a grey frame)."""
    plane = image[::step, ::step, 1] if image.ndim == 3 else image[::step, ::step]
    return np.asarray(plane, dtype=np.float32)


def changed_fraction(
    background: npt.NDArray[np.float32], current: npt.NDArray[np.float32], threshold: float
) -> float:
    """The share of samples that differ from the background by more than ``threshold``."""
    if background.shape != current.shape:
        return 1.0
    return float(np.count_nonzero(np.abs(current - background) > threshold)) / current.size


class MotionDetector:
    """One camera's background model; :meth:`update` says whether this frame moves."""

    def __init__(self, policy: MotionPolicy | None = None) -> None:
        self.policy = policy or MotionPolicy()
        self._background: npt.NDArray[np.float32] | None = None
        self.last_fraction = 1.0

    def update(self, image: Image) -> bool:
        """Compare ``image`` with the background, then learn it. The first frame moves."""
        p = self.policy
        small = downscaled_grey(image, p.step)
        if self._background is None or self._background.shape != small.shape:
            self._background = small
            self.last_fraction = 1.0
            return True
        self.last_fraction = changed_fraction(self._background, small, p.threshold)
        self._background += p.learn_rate * (small - self._background)
        return self.last_fraction >= p.min_area
