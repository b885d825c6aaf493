"""Domains speak their own language: no event payload or envelope of the contract in them.

Value objects of the contract (money, addresses, lines, enums) are the shared kernel and may
be used; events are translated at the edge (service layer or entrypoints). import-linter keeps
the domains free of the database and the broker; this keeps them free of the wire format.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from oms_events._model import EventPayload
from oms_events.envelope import Envelope

SERVICES = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "services").iterdir())


def _domain_modules(service: str) -> list[str]:
    package = importlib.import_module(f"oms_{service}.domain")
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


@pytest.mark.parametrize("service", SERVICES)
def test_domain_modules_use_no_event_payloads(service: str) -> None:
    modules = _domain_modules(service)
    assert modules, f"oms_{service}.domain has no modules"
    wire = [
        f"{name}.{attr}"
        for name in modules
        for attr, value in vars(importlib.import_module(name)).items()
        if inspect.isclass(value) and issubclass(value, EventPayload | Envelope)
    ]
    assert wire == [], "translate these at the edge (service layer): " + ", ".join(wire)
