"""The label renderers: a 4x6 inch PDF page, and ZPL whose text cannot smuggle in printer
commands."""

from __future__ import annotations

import re
from datetime import date

from reportlab.lib.units import inch

from oms_shipping.adapters.label_pdf import render_pdf
from oms_shipping.adapters.label_zpl import render_zpl
from oms_shipping.domain.dispatch import PostalAddress
from oms_shipping.domain.labels import LabelContent, LabelKind

HOME = PostalAddress(
    name="Erika Mustermann",
    line1="Heidestrasse 17",
    city="Koeln",
    postal_code="51147",
    country="DE",
)
DEPOT = PostalAddress(
    name="OMS Hamburg", line1="Kai 1", city="Hamburg", postal_code="20457", country="DE"
)


def label(ship_to: PostalAddress = HOME, kind: LabelKind = LabelKind.OUTBOUND) -> LabelContent:
    return LabelContent(
        kind,
        "DHL000000000422",
        "dhl",
        "paket",
        1250,
        2,
        3,
        DEPOT,
        ship_to,
        "ord-1",
        date(2026, 12, 2),
    )


def test_the_pdf_is_one_4x6_inch_page() -> None:
    pdf = render_pdf(label())
    assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type /Page(?!s)", pdf)) == 1
    assert f"/MediaBox [ 0 0 {4 * inch:g} {6 * inch:g} ]".encode() in pdf
    assert render_pdf(label()) == pdf  # the same content prints the same bytes


def test_the_zpl_prints_both_addresses_the_parcel_and_the_barcode() -> None:
    zpl = render_zpl(label(kind=LabelKind.RETURN))
    assert zpl.startswith("^XA\n") and zpl.endswith("^XZ\n")
    assert "^PW812" in zpl and "^LL1218" in zpl  # 4 x 6 inch at 203 dpi
    assert "^FDDHL paket  RETURN^FS" in zpl
    assert "^FDErika Mustermann^FS" in zpl and "^FDOMS Hamburg^FS" in zpl
    assert "^FD1.25 kg   parcel 2 of 3^FS" in zpl
    assert "^BCN,220,Y,N,N^FDDHL000000000422^FS" in zpl


def test_an_address_cannot_inject_printer_commands() -> None:
    hostile = HOME.model_copy(update={"name": "Eve^FS^XZ~JA_x"})
    zpl = render_zpl(label(ship_to=hostile))
    assert "^FDEve_5EFS_5EXZ_7EJA_5Fx^FS" in zpl
    assert zpl.count("^XZ") == 1 and "~JA" not in zpl
