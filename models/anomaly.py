"""Typed results and the interface of the hazard detectors (fire, smoke, person, fall, water),
shared by the edge pipeline and the hub's ``/api/v1/cv/anomaly/detect``.

Implementations live beside this module (one per model family) and run on ONNX Runtime through
:func:`models.session.create_session`; this module holds only the types, so that
``edge_agent.domain`` and the hub's routes can depend on it without importing a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from models.faces import FaceBox, Image

HazardKind = Literal["fire", "smoke", "person", "fall", "water"]
"""What one detector output names. ``person`` feeds intrusion (a person inside a zone during its
restricted hours); ``intrusion`` itself is decided by the zone logic, not by a model."""


@dataclass(frozen=True, slots=True)
class HazardDetection:
    """One box from one frame: ``score`` in [0, 1], ``box`` in the frame's pixels."""

    kind: HazardKind
    score: float
    box: FaceBox
    model_id: str


class HazardDetector(Protocol):
    """A detector over whole frames. ``kinds`` lists what it can report."""

    @property
    def model_id(self) -> str: ...

    @property
    def kinds(self) -> frozenset[HazardKind]: ...

    def detect(self, image: Image) -> list[HazardDetection]: ...
