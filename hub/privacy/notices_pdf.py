"""A privacy notice as an A4 PDF for signature (issue 17 item 3).

Drawn with matplotlib's PDF backend (a hub dependency already) in DejaVu Sans, the TrueType font
that ships with matplotlib, embedded as Type 42 so Vietnamese diacritics render and the text
stays selectable. Markdown is reduced to what a notice uses: ``#``/``##`` headings (bold),
``- `` bullets and paragraphs, wrapped to the page; a signature block ends the last page.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from hub.privacy.notices_library import Notice

A4_INCHES = (8.27, 11.69)
MARGIN = 0.08  # of the page, each side
LINE = 0.0165  # line height, of the page height, at the body size
BODY_PT = 9.5
WRAP = 94  # characters per body line at BODY_PT on A4 (DejaVu Sans averages ~0.55 em)
_FONTS = Path(mpl.get_data_path()) / "fonts" / "ttf"
REGULAR = FontProperties(fname=_FONTS / "DejaVuSans.ttf")
BOLD = FontProperties(fname=_FONTS / "DejaVuSans-Bold.ttf")

SIGNATURE_LABELS = {
    "en": ("Employee ID", "Full name", "Signature", "Date", "Recorded by (HR)"),
    "vi": ("Mã nhân viên", "Họ và tên", "Chữ ký", "Ngày", "Người ghi nhận (Nhân sự)"),
}


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    bold: bool = False
    size: float = BODY_PT
    gap: float = 1.0  # line heights this line takes


def _blocks(text: str) -> list[str]:
    """Markdown lines joined into blocks: a heading, a bullet item, a paragraph, or "" (gap)."""
    blocks: list[str] = []
    joinable = False
    for raw in text.splitlines():
        stripped = raw.strip().replace("**", "")
        if not stripped:
            blocks.append("")
            joinable = False
        elif stripped.startswith(("#", "- ")) or not joinable:
            blocks.append(stripped)
            joinable = not stripped.startswith("#")
        else:
            blocks[-1] += " " + stripped
    return blocks


def _layout(notice: Notice, employee_id: str | None) -> list[_Line]:
    lines: list[_Line] = []
    for block in _blocks(notice.text):
        if not block:
            lines.append(_Line("", gap=0.5))
        elif block.startswith("# "):
            for part in textwrap.wrap(block[2:], WRAP * 3 // 4):
                lines.append(_Line(part, bold=True, size=BODY_PT * 1.35, gap=1.5))
        elif block.startswith("## "):
            lines.append(_Line(block[3:], bold=True, size=BODY_PT * 1.1, gap=1.3))
        elif block.startswith("- "):
            for n, part in enumerate(textwrap.wrap(block[2:], WRAP - 4)):
                lines.append(_Line(("•  " if n == 0 else "    ") + part))
        else:
            lines.extend(_Line(part) for part in textwrap.wrap(block, WRAP))
    labels = SIGNATURE_LABELS.get(notice.language, SIGNATURE_LABELS["en"])
    lines.append(_Line("", gap=1.5))
    for label in labels:
        value = employee_id if label == labels[0] and employee_id else "_" * 40
        lines.append(_Line(f"{label}:  {value}", gap=2.0))
    lines.append(_Line(f"{notice.version} · {notice.language} · sha256 {notice.sha256[:16]}"))
    return lines


def _pages(lines: list[_Line]) -> list[list[_Line]]:
    capacity = (1.0 - 2 * MARGIN) / LINE
    pages: list[list[_Line]] = [[]]
    used = 0.0
    for line in lines:
        if used + line.gap > capacity and pages[-1]:
            pages.append([])
            used = 0.0
        pages[-1].append(line)
        used += line.gap
    return pages


def notice_pdf(notice: Notice, *, employee_id: str | None = None) -> bytes:
    """The notice as PDF bytes, with a signature block (``employee_id`` pre-filled if given)."""
    buffer = io.BytesIO()
    metadata = {"Title": notice.title, "Subject": f"{notice.version} ({notice.language})"}
    with mpl.rc_context({"pdf.fonttype": 42}), PdfPages(buffer, metadata=metadata) as pdf:
        pages = _pages(_layout(notice, employee_id))
        for number, page in enumerate(pages, start=1):
            figure = Figure(figsize=A4_INCHES)
            y = 1.0 - MARGIN
            for line in page:
                y -= LINE * line.gap
                if line.text:
                    figure.text(
                        MARGIN,
                        y,
                        line.text,
                        fontproperties=BOLD if line.bold else REGULAR,
                        fontsize=line.size,
                        va="baseline",
                    )
            figure.text(
                1.0 - MARGIN,
                MARGIN / 2,
                f"{number}/{len(pages)}",
                fontproperties=REGULAR,
                fontsize=BODY_PT * 0.8,
                ha="right",
            )
            pdf.savefig(figure)
    return buffer.getvalue()
