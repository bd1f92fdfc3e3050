"""The access report as a PDF (fpdf2, pure Python): the same document as the HTML.

The PDF's built-in Helvetica covers Latin-1, which holds all of Dutch; a character outside it
(a typographic dash or quote in a configured contact line) is written as its nearest Latin-1
form rather than failing the report.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.enums import TableCellFillMode

from services.audit.report.document import COLUMNS, Document

FONT = "Helvetica"
WIDTHS = (14, 16, 26, 18, 16, 10)
"""Relative column widths of the disclosure table."""
_PLAIN = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."})


def render_pdf(doc: Document) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(_latin1(doc.title))
    pdf.set_lang("nl")
    pdf.set_creator("KMT signal exchange")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font(FONT, style="B", size=16)
    pdf.multi_cell(0, 9, _latin1(doc.title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(FONT, size=10)
    for label, value in doc.facts:
        pdf.multi_cell(0, 6, _latin1(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    for section in doc.sections:
        pdf.ln(3)
        pdf.set_font(FONT, style="B", size=12)
        pdf.multi_cell(0, 7, _latin1(section.heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=10)
        for paragraph in section.paragraphs:
            pdf.multi_cell(0, 5.5, _latin1(paragraph), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        if section.table:
            _table(pdf, section.table)
    return bytes(pdf.output())


def _table(pdf: FPDF, rows: tuple[tuple[str, ...], ...]) -> None:
    pdf.set_font(FONT, size=9)
    with pdf.table(
        col_widths=WIDTHS,
        text_align="LEFT",
        cell_fill_color=(238, 238, 238),
        cell_fill_mode=TableCellFillMode.NONE,
        line_height=5,
    ) as table:
        heading = table.row()
        for column in COLUMNS:
            heading.cell(_latin1(column))
        for values in rows:
            row = table.row()
            for value in values:
                row.cell(_latin1(value))


def _latin1(text: str) -> str:
    plain = unicodedata.normalize("NFKC", text.translate(_PLAIN))
    return plain.encode("latin-1", "replace").decode("latin-1")
