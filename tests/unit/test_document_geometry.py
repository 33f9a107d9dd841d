"""Page preparation before OCR (hub/vision/document_geometry.py) on honest synthetic inputs: a
rendered invoice page photographed by testkit/phone_photos.py (3-D tilt, in-plane turn, a real
CC0 texture behind it, shadow, noise, JPEG), with the true corners known."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from hub.vision.document_geometry import (
    DEFAULT_OPTIONS,
    Gray,
    best_skew,
    corner_angles,
    ink_mask,
    line_direction,
    normalise_lighting,
    order_corners,
    page_size,
    prepare_page,
    shrunk,
    text_line_crops,
)
from models.faces import Image
from models.text_direction import TextDirectionClassifier
from testkit.documents import ENGLISH_INVOICE, photograph, render_invoice
from testkit.phone_photos import PhotoSpec, photograph_page

SIZE = (720, 960)  # width, height of the test photos (a small phone photo: fast)
SPEC = PhotoSpec(
    pitch=12.0,
    yaw=-10.0,
    roll=6.0,
    quarter=0,
    fill=0.75,
    shift=(0.4, 0.6),
    background="brick",
    shadow_angle=30.0,
    shadow_depth=0.35,
    gradient=0.15,
    noise=3.0,
    quality=85,
    size=SIZE,
)


def _bgr(pil: object) -> Image:
    return np.ascontiguousarray(cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR), dtype=np.uint8)


def _gray(image: Image) -> Gray:
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def _decode(data: bytes) -> Image:
    return np.ascontiguousarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


@pytest.fixture(scope="module")
def invoice() -> Image:
    return _bgr(render_invoice(ENGLISH_INVOICE).convert("RGB"))


@pytest.fixture(scope="module")
def classifier() -> TextDirectionClassifier:
    return TextDirectionClassifier()  # RapidOCR's PP-OCR cls model, verified by the manifest


def _photo(page: Image, spec: PhotoSpec) -> tuple[Image, np.ndarray]:
    data, corners = photograph_page(page, spec, np.random.default_rng(7))
    return _decode(data), corners


def test_corner_order_is_clockwise_from_top_left() -> None:
    square = [[10, 10], [90, 12], [88, 95], [8, 90]]
    shuffled = [square[2], square[0], square[3], square[1]]
    assert order_corners(shuffled).tolist() == square
    assert page_size(order_corners(square)) == (80, 83)  # the longer of opposite sides
    assert all(85 < angle < 95 for angle in corner_angles(order_corners(square)))


@pytest.mark.parametrize("background", ["brick", "gravel"])
def test_tilted_page_on_texture_is_found_and_flattened(invoice: Image, background: str) -> None:
    photo, truth = _photo(invoice, dataclasses.replace(SPEC, background=background))
    prepared = prepare_page(photo)
    assert prepared.steps[0] == "page"
    assert prepared.corners is not None
    found = order_corners(np.array(prepared.corners))
    assert np.abs(found - order_corners(truth)).max() < 8  # px, on a 720 x 960 photo
    height, width = prepared.image.shape[:2]  # (perspective leaves the ratio approximate)
    assert width / height == pytest.approx(invoice.shape[1] / invoice.shape[0], rel=0.06)


def test_sideways_photo_is_turned_upright(invoice: Image) -> None:
    photo, _ = _photo(invoice, dataclasses.replace(SPEC, quarter=1, background="grass"))
    prepared = prepare_page(photo)
    assert prepared.steps[:2] == ("page", "orient:90")
    height, width = prepared.image.shape[:2]  # (perspective leaves the ratio approximate)
    assert width / height == pytest.approx(invoice.shape[1] / invoice.shape[0], rel=0.06)
    assert line_direction(ink_mask(_gray(prepared.image))) > 1.0


def test_direction_classifier_tells_upside_down_lines(
    invoice: Image, classifier: TextDirectionClassifier
) -> None:
    crops = text_line_crops(_gray(invoice))
    assert len(crops) >= 3
    assert classifier(crops) < 0.3
    assert classifier([np.ascontiguousarray(crop[::-1, ::-1]) for crop in crops]) > 0.7


def test_photo_turned_over_is_turned_upright(
    invoice: Image, classifier: TextDirectionClassifier
) -> None:
    photo, _ = _photo(invoice, dataclasses.replace(SPEC, quarter=2))
    assert "orient:180" not in prepare_page(photo).steps  # no classifier: no half turn
    prepared = prepare_page(photo, upside_down=classifier)
    assert prepared.steps[:2] == ("page", "orient:180")
    crops = text_line_crops(_gray(prepared.image))
    assert classifier(crops) < 0.3


def test_text_direction_tells_rows_from_columns(invoice: Image) -> None:
    ink = ink_mask(_gray(invoice))
    assert line_direction(ink) > 1.0  # a log ratio: rows win by e
    assert line_direction(np.ascontiguousarray(ink.T)) < -1.0


def test_askew_scan_is_levelled(invoice: Image) -> None:
    scan = _decode(photograph(render_invoice(ENGLISH_INVOICE), angle=5.0, scale=1.0, quality=90))
    ink = shrunk(ink_mask(_gray(scan)), 300_000)
    assert best_skew(ink, max_angle=15.0) == pytest.approx(-5.0, abs=0.3)
    prepared = prepare_page(scan)
    assert "page" not in prepared.steps  # white on white: no page edge to find
    assert prepared.steps == ("deskew:-5",) or prepared.steps[0].startswith("deskew:-5")


def test_level_flat_scan_comes_back_unchanged(invoice: Image) -> None:
    prepared = prepare_page(invoice)
    assert prepared.steps == ()
    assert prepared.image is invoice


def test_page_cut_by_the_frame_is_not_flattened(invoice: Image) -> None:
    photo, _ = _photo(invoice, dataclasses.replace(SPEC, fill=1.15, shift=(0.5, 0.5)))
    assert "page" not in prepare_page(photo).steps


def test_texture_without_a_page_is_left_alone() -> None:
    from testkit.phone_photos import background

    scene = background("gravel", 900, 1200)
    prepared = prepare_page(scene, dataclasses.replace(DEFAULT_OPTIONS, deskew=False))
    assert prepared.steps == ()
    assert prepared.image is scene


def test_lighting_normalisation_removes_a_shadow(invoice: Image) -> None:
    light = np.linspace(1.0, 0.5, invoice.shape[1], dtype=np.float32)[None, :, None]
    shaded = np.clip(invoice.astype(np.float32) * light, 0, 255).astype(np.uint8)
    paper = _gray(invoice) > 200
    before = _gray(shaded)[paper]
    after = cv2.cvtColor(normalise_lighting(shaded), cv2.COLOR_BGR2GRAY)[paper]
    assert before.std() > 20
    assert after.std() < 8
    assert np.median(after) > 240


@pytest.mark.parametrize("shape", [(1, 1, 3), (20, 3000, 3), (300, 400, 3)])
@pytest.mark.parametrize("value", [0, 255])
def test_blank_or_tiny_images_come_back_unchanged(shape: tuple[int, int, int], value: int) -> None:
    image = np.full(shape, value, np.uint8)
    prepared = prepare_page(image)
    assert prepared.steps == ()
    assert prepared.image is image
