"""``make new-service NAME=<name>``: a new OMS service in the shared layout, wired in.

Creates services/<name>/ from deploy/service-template/ (domain, service_layer, adapters with
its first migration, entrypoints, bootstrap, settings, a passing test) and registers the
service where every service is listed: the workspace's dev group, the import-linter contracts
(independent services, layers, pure domain, the runtime's public surface), the database and
role of the local stack and of compose, and a compose block. The next free HTTP port is its
default. Run `uv sync --all-packages` afterwards (the Makefile target does).
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from collections.abc import Callable
from pathlib import Path

import tomlkit
from tomlkit.items import Array

TEMPLATE = Path(__file__).parent / "service-template"
_NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")
# Service lists in shell scripts: SERVICES=(order inventory ...)
_SHELL_LIST = re.compile(r"^SERVICES=\(([^)]*)\)$", re.MULTILINE)
_SHELL_FILES = ("deploy/local/stack", "deploy/compose/init-databases.sh")


class Refused(Exception):
    pass


def create(root: Path, name: str) -> list[Path]:
    """Create and register service ``name`` in the repository at ``root``; the files made."""
    if not _NAME.match(name):
        raise Refused(f"{name!r}: a service name is 2-31 lowercase letters or digits")
    if (root / "services" / name).exists():
        raise Refused(f"services/{name} exists already")
    port = _next_port(root)
    values = {"name": name, "Name": name.capitalize(), "port": str(port)}
    made = [_render(path, root, values) for path in sorted(TEMPLATE.rglob("*.tmpl"))]
    _register_in_pyproject(root / "pyproject.toml", name)
    for relative in _SHELL_FILES:
        _append_to_shell_list(root / relative, name)
    _add_compose_block(root / "docker-compose.yml", name, port)
    return made


def _next_port(root: Path) -> int:
    ports = [
        int(match)
        for config in root.glob("services/*/src/*/config.py")
        for match in re.findall(r"http_port: int = (\d+)", config.read_text())
    ]
    return max(ports, default=8000) + 1


def _render(template: Path, root: Path, values: dict[str, str]) -> Path:
    relative = string.Template(str(template.relative_to(TEMPLATE))).substitute(values)
    target = root / relative.removesuffix(".tmpl")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(string.Template(template.read_text()).substitute(values))
    return target


def _register_in_pyproject(path: Path, name: str) -> None:
    """Wherever the services are listed (a list naming oms_order), the new one joins them."""
    document = tomlkit.parse(path.read_text())
    dev = document["dependency-groups"]["dev"]
    _insert_after_last(dev, lambda item: item.startswith("oms-"), f"oms-{name}")
    source = tomlkit.inline_table()
    source["workspace"] = True
    document["tool"]["uv"]["sources"][f"oms-{name}"] = source
    linter = document["tool"]["importlinter"]
    linter["root_packages"].append(f"oms_{name}")
    for contract in linter["contracts"]:
        for key in ("modules", "source_modules", "forbidden_modules", "containers"):
            listed = contract.get(key)
            if not isinstance(listed, Array):
                continue
            if "oms_order" in listed:
                listed.append(f"oms_{name}")
            if "oms_order.domain" in listed:
                listed.append(f"oms_{name}.domain")
    path.write_text(tomlkit.dumps(document))


def _insert_after_last(items: Array, matches: Callable[[str], bool], value: str) -> None:
    positions = [n for n, item in enumerate(items) if matches(str(item))]
    items.insert(positions[-1] + 1 if positions else len(items), value)


def _append_to_shell_list(path: Path, name: str) -> None:
    text = path.read_text()
    if not _SHELL_LIST.search(text):
        raise Refused(f"{path}: no SERVICES=(...) line to add {name} to")
    path.write_text(_SHELL_LIST.sub(lambda m: f"SERVICES=({m.group(1)} {name})", text, count=1))


def _add_compose_block(path: Path, name: str, port: int) -> None:
    """A worker block like the others', before the top-level ``volumes:``."""
    text = path.read_text()
    upper = name.upper()
    block = f"""  {name}:
    <<: *oms-service
    build:
      context: .
      args:
        SERVICE: {name}
    command: ["python", "-m", "oms_{name}", "worker"]
    ports:
      - "{port}:{port}"
    environment:
      KAFKA_BOOTSTRAP_SERVERS: kafka:9092
      OMS_DATABASE_URL: postgresql://oms_{name}:${{OMS_{upper}_DB_PASSWORD:-oms_{name}}}@postgres:5432/oms_{name}
      OMS_HTTP_HOST: 0.0.0.0
      OMS_HTTP_PORT: "{port}"
      OMS_TOPIC_PREFIX: ${{OMS_TOPIC_PREFIX:-}}
    healthcheck:
      test:
        - CMD
        - python
        - -c
        - import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=3)
      interval: 5s
      timeout: 5s
      retries: 12
      start_period: 20s

"""
    marker = "\nvolumes:\n"
    if marker not in text:
        raise Refused(f"{path}: no top-level volumes: to add the {name} block before")
    password = (
        f"      OMS_{upper}_DB_PASSWORD: ${{OMS_{upper}_DB_PASSWORD:-oms_{name}}}\n    volumes:\n"
    )
    text = re.sub(
        r"(      OMS_[A-Z]+_DB_PASSWORD: [^\n]*\n)(    volumes:\n)",
        lambda m: m.group(1) + password,
        text,
        count=1,
    )
    path.write_text(text.replace(marker, "\n" + block.rstrip("\n") + "\n" + marker, 1))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the service's name, e.g. returns")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    try:
        made = create(args.root, args.name)
    except Refused as refused:
        print(f"new-service: {refused}", file=sys.stderr)
        return 2
    print(f"new-service: services/{args.name} with {len(made)} files, registered")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
