"""Five-point alignment to the ArcFace template (112 x 112), shared by the ONNX face backends.

InsightFace's ``norm_crop`` and OpenCV's ``FaceRecognizerSF.alignCrop`` do the same thing: the
similarity transform that puts the eye centres, nose tip and mouth corners on
:data:`models.faces.ARCFACE_TEMPLATE_112`, then a bilinear warp.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from models.faces import ARCFACE_TEMPLATE_112, Image, similarity_transform

ARCFACE_SIZE = 112


def arcface_matrix(
    points5: npt.NDArray[np.floating], size: int = ARCFACE_SIZE
) -> npt.NDArray[np.float64]:
    """The 2 x 3 warp from image pixels to an aligned ``size`` px crop."""
    template = ARCFACE_TEMPLATE_112 * (size / ARCFACE_SIZE)
    return similarity_transform(np.asarray(points5, dtype=np.float64).reshape(5, 2), template)


def arcface_crop(
    image: Image, points5: npt.NDArray[np.floating], size: int = ARCFACE_SIZE
) -> Image:
    """The aligned face crop (BGR, ``size`` x ``size``)."""
    matrix = arcface_matrix(points5, size)
    return np.asarray(cv2.warpAffine(image, matrix, (size, size), borderValue=0.0), dtype=np.uint8)
