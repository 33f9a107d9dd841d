"""Real photos for the image-search tests and benchmark: scikit-image's data images (shipped in
its wheel) and crops of them, plus transformed queries (rotated, cropped, brighter or darker).

Scenes with distinct content get three indexed items each (the whole picture, its top-left and
its bottom-right part); homogeneous textures (brick, grass, gravel, a checkerboard, a star
field) get one, since any crop of a texture shows the same thing.
"""

from __future__ import annotations

import base64
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.faces import Image

SCENES = (
    "astronaut",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "horse",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "shepp_logan_phantom",
    "text",
)
REPO_ROOT = Path(__file__).resolve().parents[1]
TEXTURES = ("brick", "grass", "gravel", "checkerboard", "hubble_deep_field")


@dataclass(frozen=True, slots=True)
class Item:
    name: str  # "<image>/<part>"
    image: Image  # BGR uint8


def load_bgr(name: str) -> Image:
    """A scikit-image data image as 3-channel BGR uint8."""
    import skimage.data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = np.asarray(getattr(skimage.data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    if image.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    if image.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGBA2BGR))
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def crop(image: Image, x0: float, y0: float, x1: float, y1: float) -> Image:
    """The part of ``image`` between fractions of its width and height."""
    height, width = image.shape[:2]
    part = image[int(y0 * height) : int(y1 * height), int(x0 * width) : int(x1 * width)]
    return np.ascontiguousarray(part)


def rotate(image: Image, degrees: float) -> Image:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    rotated = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(rotated)


def brighten(image: Image, gain: float, offset: float) -> Image:
    return np.ascontiguousarray(cv2.convertScaleAbs(image, alpha=gain, beta=offset))


def at_least(image: Image, side: int = 64) -> Image:
    """Upscaled so that the shorter side is at least ``side`` px (the API's minimum)."""
    height, width = image.shape[:2]
    if min(height, width) >= side:
        return image
    factor = side / min(height, width)
    size = (round(width * factor) + 1, round(height * factor) + 1)
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC))


def indexed_items() -> list[Item]:
    """59 images: 18 scenes x (whole, top-left, bottom-right) and 5 textures."""
    items: list[Item] = []
    for name in SCENES:
        image = load_bgr(name)
        items.append(Item(f"{name}/full", image))
        items.append(Item(f"{name}/tl", at_least(crop(image, 0.0, 0.0, 0.6, 0.6))))
        items.append(Item(f"{name}/br", at_least(crop(image, 0.4, 0.4, 1.0, 1.0))))
    for name in TEXTURES:
        items.append(Item(f"{name}/full", load_bgr(name)))
    return items


def queries() -> list[Item]:
    """One transformed copy per indexed item, named after the item it should find."""
    out: list[Item] = []
    for name in SCENES:
        image = load_bgr(name)
        whole = brighten(rotate(crop(image, 0.05, 0.05, 0.95, 0.95), 8), 1.2, 15)
        top_left = rotate(crop(image, 0.03, 0.03, 0.58, 0.6), -5)
        bottom_right = brighten(crop(image, 0.45, 0.42, 0.98, 1.0), 0.8, 0)
        out.append(Item(f"{name}/full", at_least(whole)))
        out.append(Item(f"{name}/tl", at_least(top_left)))
        out.append(Item(f"{name}/br", at_least(bottom_right)))
    for name in TEXTURES:
        image = load_bgr(name)
        out.append(Item(f"{name}/full", brighten(rotate(crop(image, 0.1, 0, 1, 0.9), 12), 0.9, 10)))
    return out


def png_b64(image: Image) -> str:
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return base64.b64encode(buffer.tobytes()).decode("ascii")


def jpeg_b64(image: Image, quality: int = 90) -> str:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return base64.b64encode(buffer.tobytes()).decode("ascii")


def image_model_file() -> Path | None:
    """The exported EfficientNet-Lite0 ONNX (``innsight models fetch efficientnet-lite0``
    builds it), or ``None`` when it is not installed."""
    from models.faces import ModelUnavailableError
    from models.image_embed import DEFAULT_MODEL_ID, default_model_file

    repo_default = REPO_ROOT / "var" / "models" / DEFAULT_MODEL_ID / f"{DEFAULT_MODEL_ID}.onnx"
    try:
        return default_model_file(DEFAULT_MODEL_ID).resolve()
    except ModelUnavailableError:
        return repo_default if repo_default.is_file() else None


def require_image_model() -> Path:
    """The model file, or skip the test naming the command that installs it."""
    import pytest

    path = image_model_file()
    if path is None:
        pytest.skip("image model not installed: run `innsight models fetch efficientnet-lite0`")
    return path
