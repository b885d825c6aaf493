"""A label in ZPL II for 4x6 inch thermal printers at 203 dpi: the same content as the PDF,
the tracking number as a Code 128 barcode (``^BC``).

Text fields are hex-escaped (``^FH``) so an address holding ``^`` or ``~`` cannot inject a
printer command."""

from __future__ import annotations

from oms_shipping.domain.labels import LabelContent, LabelKind, address_lines

__all__ = ["render_zpl"]

_DOTS_WIDE, _DOTS_LONG = 812, 1218  # 4 x 6 inch at 203 dpi


def _escaped(text: str) -> str:
    return "".join(f"_{ord(c):02X}" if c in "_^~" else c for c in text)


def _text(x: int, y: int, size: int, text: str) -> str:
    return f"^FO{x},{y}^A0N,{size},{size}^FH_^FD{_escaped(text)}^FS"


def render_zpl(label: LabelContent) -> str:
    heading = f"{label.carrier.upper()} {label.service}"
    if label.kind is LabelKind.RETURN:
        heading += "  RETURN"
    fields = ["^XA", "^CI28", f"^PW{_DOTS_WIDE}", f"^LL{_DOTS_LONG}", _text(40, 40, 50, heading)]
    y = 120
    fields.append(_text(40, y, 22, "FROM"))
    for line in address_lines(label.ship_from):
        y += 28
        fields.append(_text(40, y, 24, line))
    y += 50
    fields.append(_text(40, y, 22, "TO"))
    for line in address_lines(label.ship_to):
        y += 42
        fields.append(_text(40, y, 38, line))
    y += 60
    fields.append(
        _text(
            40,
            y,
            28,
            f"{label.weight_grams / 1000:.2f} kg   parcel {label.parcel_number} of"
            f" {label.parcel_count}",
        )
    )
    fields.append(_text(40, y + 36, 24, f"ref {label.reference}   {label.printed_on}"))
    # Tracking numbers are letters and digits only: no escaping needed in the barcode.
    fields.append(f"^FO60,{_DOTS_LONG - 330}^BY3^BCN,220,Y,N,N^FD{label.tracking_number}^FS")
    fields.append("^XZ")
    return "\n".join(fields) + "\n"
