"""`make new-service NAME=...`: the template makes a service in the shared layout, wired in
where every service is listed, whose own test passes and whose layers the contracts check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from deploy.new_service import Refused, create

REPO = Path(__file__).resolve().parents[1]
TOOLS = Path(sys.executable).parent


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The files the generator reads and edits, copied: the real tree is never touched."""
    for relative in ("pyproject.toml", "docker-compose.yml", "deploy/local", "deploy/compose"):
        source, target = REPO / relative, tmp_path / relative
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("kafka"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    for config in REPO.glob("services/*/src/*/config.py"):
        target = tmp_path / config.relative_to(REPO)
        target.parent.mkdir(parents=True)
        shutil.copy(config, target)
    return tmp_path


def _run(repo: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(repo / "services/returns/src")}
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=120)


def test_a_new_service_has_the_layout_is_wired_in_and_passes_its_checks(repo: Path) -> None:
    create(repo, "returns")

    package = repo / "services/returns/src/oms_returns"
    for part in ("domain", "service_layer", "adapters", "entrypoints"):
        assert (package / part / "__init__.py").is_file(), part
    assert (package / "bootstrap.py").is_file()
    assert (package / "adapters/migrations/0001_returns.sql").is_file()

    project = tomllib.loads((repo / "pyproject.toml").read_text())
    assert "oms-returns" in project["dependency-groups"]["dev"]
    assert project["tool"]["uv"]["sources"]["oms-returns"] == {"workspace": True}
    contracts = {c["name"]: c for c in project["tool"]["importlinter"]["contracts"]}
    assert "oms_returns" in contracts["Services are independent of each other"]["modules"]
    layered = next(c for name, c in contracts.items() if name.startswith("Every service"))
    assert "oms_returns" in layered["containers"]
    pure = contracts["Domains are pure: no database, broker or runtime"]
    assert "oms_returns.domain" in pure["source_modules"]
    for script in ("deploy/local/stack", "deploy/compose/init-databases.sh"):
        assert "analytics returns)" in (repo / script).read_text(), script
    compose = yaml.safe_load((repo / "docker-compose.yml").read_text())
    block = compose["services"]["returns"]
    assert block["build"]["args"]["SERVICE"] == "returns"
    port = block["environment"]["OMS_HTTP_PORT"]
    assert port not in {
        s.get("environment", {}).get("OMS_HTTP_PORT")
        for n, s in compose["services"].items()
        if n != "returns"
    }

    tested = _run(
        repo,
        str(TOOLS / "pytest"),
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        os.devnull,
        "services/returns/tests",
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout
    linted = _run(
        repo,
        str(TOOLS / "ruff"),
        "check",
        "--config",
        str(REPO / "pyproject.toml"),
        "services/returns",
    )
    assert linted.returncode == 0, linted.stdout
    contracts_checked = _run(repo, str(TOOLS / "lint-imports"))
    assert contracts_checked.returncode == 0, contracts_checked.stdout
    assert "0 broken" in contracts_checked.stdout


def test_a_taken_or_malformed_name_is_refused_and_changes_nothing(repo: Path) -> None:
    before = (repo / "pyproject.toml").read_text()
    create(repo, "returns")
    with pytest.raises(Refused, match="exists already"):
        create(repo, "returns")
    with pytest.raises(Refused, match="lowercase letters or digits"):
        create(repo, "Returns-2")
    assert (repo / "pyproject.toml").read_text().count("oms-returns") == 2, "dev group, source"
    assert "oms-returns" not in before
