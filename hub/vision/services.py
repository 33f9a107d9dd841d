"""The CV services one hub runs (built once in ``create_app``'s lifespan)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hub.vision.anomaly_service import AnomalyService
from hub.vision.faces import FaceRecognitionService
from hub.vision.room_service import RoomService


@dataclass(frozen=True, slots=True)
class CvServices:
    faces: FaceRecognitionService
    rooms: RoomService
    anomaly: AnomalyService


def gpu_devices(proc_root: Path = Path("/proc/driver/nvidia/gpus")) -> list[str]:
    """Names of the NVIDIA GPUs the driver reports (empty without a GPU or driver)."""
    names: list[str] = []
    try:
        entries = sorted(proc_root.iterdir())
    except OSError:
        return names
    for entry in entries:
        try:
            text = (entry / "information").read_text(errors="replace")
        except OSError:
            continue
        model = next((line for line in text.splitlines() if line.startswith("Model:")), "")
        names.append(model.partition(":")[2].strip() or entry.name)
    return names
