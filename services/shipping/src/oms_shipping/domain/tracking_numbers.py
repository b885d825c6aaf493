"""Tracking numbers the OMS issues: the carrier's prefix, an 11-digit serial from the
carrier's counter (never reused) and a Luhn check digit, so a mistyped or misread number is
caught at the counter before a scan goes astray: ``DHL000000000422``.
"""

from __future__ import annotations

import re

__all__ = ["SERIAL_DIGITS", "check_digit", "is_valid", "serial_of", "tracking_number"]

SERIAL_DIGITS = 11
_SHAPE = re.compile(rf"^([A-Z]{{2,4}})([0-9]{{{SERIAL_DIGITS}}})([0-9])$")


def check_digit(digits: str) -> int:
    """Luhn: catches every single-digit error and most swaps of neighbours."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


def tracking_number(prefix: str, serial: int) -> str:
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise ValueError(f"serial {serial} is outside 1..{10**SERIAL_DIGITS - 1}")
    digits = f"{serial:0{SERIAL_DIGITS}d}"
    return f"{prefix}{digits}{check_digit(digits)}"


def is_valid(number: str) -> bool:
    shape = _SHAPE.match(number)
    return shape is not None and check_digit(shape.group(2)) == int(shape.group(3))


def serial_of(number: str) -> int | None:
    """The serial a valid number was issued under (None for any other number: one a carrier
    or the staff gave)."""
    shape = _SHAPE.match(number)
    if shape is None or check_digit(shape.group(2)) != int(shape.group(3)):
        return None
    return int(shape.group(2))
