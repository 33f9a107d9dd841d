"""Pure parts of the OCR reading path: the request's date in the hotel's zone, and the coarse
to fine skew search agreeing with the full search."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from hub.vision.ocr_service import _profile_sharpness, estimate_skew, rotate_page, today_in


@pytest.mark.parametrize("zone", ["UTC", "Asia/Ho_Chi_Minh", "Pacific/Kiritimati"])
def test_today_is_the_date_in_the_hotels_zone(zone: str) -> None:
    before = datetime.now(ZoneInfo(zone)).date()
    got = today_in(zone)
    after = datetime.now(ZoneInfo(zone)).date()
    assert got in (before, after)


def test_an_unknown_zone_falls_back_to_utc() -> None:
    before = datetime.now(ZoneInfo("UTC")).date()
    got = today_in("Mars/Olympus_Mons")
    assert got in (before, datetime.now(ZoneInfo("UTC")).date())


def _page_of_lines() -> np.ndarray:
    page = np.full((700, 600, 3), 255, np.uint8)
    for row in range(14):
        y = 40 + row * 45
        words = f"ITEM {row:02d}  QTY {row % 3 + 1}  12.{row:02d}"
        cv2.putText(page, words, (30, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    return page


@pytest.mark.parametrize("angle", [-4.25, -1.5, 0.0, 2.0, 5.5])
def test_coarse_to_fine_skew_finds_what_the_full_search_finds(angle: float) -> None:
    page = rotate_page(_page_of_lines(), angle)
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    full = max(np.arange(-6.0, 6.125, 0.25), key=lambda a: _profile_sharpness(ink, float(a)))
    assert estimate_skew(page) == pytest.approx(float(full))
    assert estimate_skew(page) == pytest.approx(-angle, abs=0.3)
