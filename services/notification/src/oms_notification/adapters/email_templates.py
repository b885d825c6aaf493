"""Messages rendered from Jinja2 templates, one per (message kind, locale), with Babel's
dates and money.

Each template (``templates/<locale>/<kind>.j2``) has three blocks: ``subject``, ``text`` and
``html``. The HTML is rendered by an environment that escapes every value (autoescape on);
the subject and the plain text by one that does not (they are not markup), from the same
file, so a kind's words live in one place per language. ``macros.j2`` (``m``: lines,
addresses) and ``layout.j2`` (the HTML frame) are shared by every locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, get_currency_precision
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

__all__ = ["RenderError", "Rendered", "TemplateRenderer"]

TEMPLATES = Path(__file__).parent / "templates"
_MACROS = "macros.j2"


class RenderError(Exception):
    """No template for the kind and locale, or the facts do not fit it."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _money(value: Mapping[str, Any] | None, locale: str) -> str:
    if not value:
        return ""
    currency = str(value["currency"])
    amount = Decimal(int(value["amount_minor"])).scaleb(-get_currency_precision(currency))
    return str(format_currency(amount, currency, locale=locale))


def _when(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _date(value: str | datetime | date | None, locale: str) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return str(format_date(value, format="long", locale=locale))
    when = _when(value)
    return str(format_date(when, format="long", locale=locale)) if when else ""


def _datetime(value: str | datetime | None, locale: str) -> str:
    when = _when(value)
    return str(format_datetime(when, format="medium", locale=locale)) if when else ""


class TemplateRenderer:
    """Renders a message kind in a locale; the environments are built once."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        loader = FileSystemLoader(directory)
        common: dict[str, Any] = {"loader": loader, "undefined": StrictUndefined}
        self._html = Environment(autoescape=True, **common)
        self._text = Environment(autoescape=False, keep_trailing_newline=True, **common)

    def render(self, kind: str, locale: str, context: Mapping[str, Any]) -> Rendered:
        name = f"{locale}/{kind}.j2"
        values = {
            **context,
            "locale": locale,
            "money": lambda v: _money(v, locale),
            "day": lambda v: _date(v, locale),
            "moment": lambda v: _datetime(v, locale),
        }
        try:
            text_template = self._text.get_template(name)
            text_values = {**values, "m": self._text.get_template(_MACROS).make_module(values)}
            text_context = text_template.new_context(text_values)
            subject = "".join(text_template.blocks["subject"](text_context))
            text = "".join(text_template.blocks["text"](text_context))
            html_macros = self._html.get_template(_MACROS).make_module(values)
            html = self._html.get_template(name).render({**values, "m": html_macros})
        except TemplateNotFound as exc:
            raise RenderError(f"no template {name}") from exc
        except Exception as exc:  # an undefined value, a bad date: the facts do not fit
            raise RenderError(f"{name}: {type(exc).__name__}") from exc
        # A subject is one header line, whatever the data held.
        return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)
