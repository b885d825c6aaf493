"""A label as a 4x6 inch PDF page (reportlab), the Code 128 barcode wide enough for a
hand scanner."""

from __future__ import annotations

from io import BytesIO

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas

from oms_shipping.domain.labels import LabelContent, LabelKind, address_lines

__all__ = ["render_pdf"]

_WIDTH, _HEIGHT = 4 * inch, 6 * inch
_MARGIN = 0.2 * inch


def _block(canvas: Canvas, title: str, lines: list[str], top: float, size: int) -> float:
    """A titled block of text from ``top`` down; where the next block starts."""
    canvas.setFont("Helvetica-Bold", 7)
    canvas.drawString(_MARGIN, top, title)
    y = top - size - 2
    canvas.setFont("Helvetica", size)
    for line in lines:
        canvas.drawString(_MARGIN, y, line)
        y -= size + 2
    return y - 6


def render_pdf(label: LabelContent) -> bytes:
    out = BytesIO()
    canvas = Canvas(out, pagesize=(_WIDTH, _HEIGHT), invariant=True)
    canvas.setTitle(f"{label.carrier} {label.tracking_number}")
    top = _HEIGHT - _MARGIN - 10
    canvas.setFont("Helvetica-Bold", 16)
    heading = f"{label.carrier.upper()} {label.service}"
    if label.kind is LabelKind.RETURN:
        heading += "  RETURN"
    canvas.drawString(_MARGIN, top, heading)
    y = _block(canvas, "FROM", address_lines(label.ship_from), top - 22, 8)
    y = _block(canvas, "TO", address_lines(label.ship_to), y, 12)
    y = _block(
        canvas,
        "PARCEL",
        [
            f"{label.weight_grams / 1000:.2f} kg   parcel {label.parcel_number} of"
            f" {label.parcel_count}",
            f"ref {label.reference}   {label.printed_on.isoformat()}",
        ],
        y,
        9,
    )
    barcode = Code128(label.tracking_number, barWidth=0.018 * inch, barHeight=1.1 * inch)
    barcode.drawOn(canvas, (_WIDTH - barcode.width) / 2, _MARGIN + 22)
    canvas.setFont("Helvetica", 11)
    canvas.drawCentredString(_WIDTH / 2, _MARGIN + 6, label.tracking_number)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
