"""RapidOCR in two passes (models/ocr.py): lines found on a copy scaled down to det_max_side,
read off the page itself. A page twice the size must give the same lines, in boxes twice the
size, in the page's own coordinates, read the same."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from models.ocr import RapidOcrEngine, TextBox, _box_of
from testkit.documents import ENGLISH_INVOICE, render_invoice


@pytest.fixture(scope="module")
def engine() -> RapidOcrEngine:
    return RapidOcrEngine(threads=1)


def _bgr(page: PILImage.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(page.convert("RGB"), dtype=np.uint8)[:, :, ::-1])


def _iou(a: TextBox, b: TextBox) -> float:
    w = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    h = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


def test_a_page_twice_the_size_gives_the_same_lines_in_page_coordinates(
    engine: RapidOcrEngine,
) -> None:
    page = render_invoice(ENGLISH_INVOICE)
    native, double = _bgr(page), _bgr(page.resize((page.width * 2, page.height * 2)))
    assert max(native.shape) > engine.det_max_side  # both are found on a scaled-down copy
    small_quads, large_quads = engine.detect(native), engine.detect(double)
    assert len(large_quads) == len(small_quads) > 20
    small = [_box_of(q, native.shape[1], native.shape[0]) for q in small_quads]
    for quad in large_quads:
        box = _box_of(quad / 2, native.shape[1], native.shape[0])
        assert max(_iou(box, other) for other in small) > 0.8
    widest = max(range(len(small_quads)), key=lambda i: small[i].width)
    match = max(
        range(len(large_quads)),
        key=lambda i: _iou(_box_of(large_quads[i] / 2, *native.shape[1::-1]), small[widest]),
    )
    [(text_small, _)] = engine.recognise(native, [small_quads[widest]])
    [(text_large, score)] = engine.recognise(double, [large_quads[match]])
    assert text_large == text_small
    assert text_small.strip()
    assert score > 0.9


def test_lines_read_two_at_a_time_read_as_one_at_a_time(
    engine: RapidOcrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two threads the recogniser reads the lines in two shares at once, each line by one
    thread: every line keeps its own reading, in the page's order."""
    two = RapidOcrEngine(threads=2)
    page = _bgr(render_invoice(ENGLISH_INVOICE))
    quads = engine.detect(page)
    assert len(quads) > 20
    shares: list[int] = []
    read = two._rec.__class__.__call__

    def counting(self: object, args: object) -> object:
        shares.append(len(args.img))  # type: ignore[attr-defined]
        return read(self, args)

    monkeypatch.setattr(two._rec.__class__, "__call__", counting)
    assert two.recognise(page, quads) == engine.recognise(page, quads)
    # two shares on the engine of two threads, then all the lines in one on the other
    halves = sorted([len(quads) // 2, len(quads) - len(quads) // 2])
    assert [*sorted(shares[:2]), *shares[2:]] == [*halves, len(quads)]
    assert two.recognise(page, quads[:1]) == engine.recognise(page, quads[:1])
