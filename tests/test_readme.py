"""The README's commands and topic table stay true."""

from __future__ import annotations

import re
import subprocess

from oms_events.topics import TOPICS
from tests.support.stack import REPO

README = (REPO / "README.md").read_text()


def test_every_registry_topic_is_in_the_readme_with_its_events() -> None:
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([a-z.-]+)` \|.*\| ([^|]+) \|$", README, re.M)
    }
    assert set(rows) == {t.name for t in TOPICS}
    for spec in TOPICS:
        assert [e.strip() for e in rows[spec.name].split(",")] == list(spec.event_types), spec.name


def test_every_make_command_in_the_readme_exists() -> None:
    targets = set(re.findall(r"^([a-z-]+):.*## ", (REPO / "Makefile").read_text(), re.M))
    named = set(re.findall(r"make ([a-z-]+)", README)) | set(re.findall(r"`([a-z-]+)`", README))
    assert {"demo", "test"} <= targets
    for command in re.findall(r"make ([a-z-]+)", README):
        assert command in targets, command
    listed = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, check=True)
    for target in targets:
        assert f"make {target}" in listed.stdout
    assert named


def test_ci_runs_the_readme_commands() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "make demo" in ci
