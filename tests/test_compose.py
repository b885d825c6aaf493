"""docker-compose.yml agrees with the local stack (deploy/local) and with services/.

Nothing here runs Docker or touches the network: the files are parsed and compared.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from oms_ops.config import DEFAULT_PORTS

REPO = Path(__file__).resolve().parents[1]

# Compose services built from the root Dockerfile that are jobs, not OMS services.
ONE_SHOT_JOBS = {"topics"}


def compose() -> dict[str, Any]:
    with (REPO / "docker-compose.yml").open() as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = compose()["services"]
    return services


def oms_services() -> dict[str, Any]:
    """Compose services built from the repository's Dockerfile, minus one-shot jobs."""
    return {
        name: spec
        for name, spec in compose_services().items()
        if "build" in spec and name not in ONE_SHOT_JOBS
    }


def service_dirs() -> list[str]:
    return sorted(p.name for p in (REPO / "services").iterdir() if p.is_dir())


def build_args(spec: dict[str, Any]) -> dict[str, str]:
    build = spec.get("build")
    if not isinstance(build, dict):
        return {}
    args = build.get("args", {})
    if isinstance(args, list):  # the ["KEY=value"] form
        args = dict(item.split("=", 1) for item in args)
    return {str(k): str(v) for k, v in args.items()}


def environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command(spec: dict[str, Any]) -> list[str]:
    cmd = spec.get("command", [])
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def pom_kafka_version() -> str:
    root = ET.parse(REPO / "deploy" / "local" / "kafka" / "pom.xml").getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = root.findtext("m:properties/m:kafka.version", namespaces=ns)
    assert version, "deploy/local/kafka/pom.xml has no <kafka.version> property"
    for dep in root.iterfind("m:dependencies/m:dependency", ns):
        if dep.findtext("m:artifactId", namespaces=ns) == "kafka_2.13":
            assert dep.findtext("m:version", namespaces=ns) == "${kafka.version}"
            return version
    raise AssertionError("deploy/local/kafka/pom.xml does not depend on kafka_2.13")


def shell_array(path: Path, name: str) -> list[str]:
    """The words of a bash array assignment ``NAME=(a b c)`` in a script."""
    match = re.search(rf"^{name}=\(([^)]*)\)", path.read_text(), re.MULTILINE)
    assert match, f"{path.relative_to(REPO)} has no {name}=(...) assignment"
    return match.group(1).split()


def shell_assignment(path: Path, variable: str) -> str:
    """The value of a plain ``VARIABLE=value`` assignment in a script."""
    match = re.search(rf"^{variable}=(\S+)$", path.read_text(), re.MULTILINE)
    assert match, f"{path.relative_to(REPO)} has no {variable}=... assignment"
    return match.group(1)


def published_ports(spec: dict[str, Any]) -> dict[int, int]:
    """container port -> host port, from the short "host:container" form."""
    ports: dict[int, int] = {}
    for entry in spec.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        ports[int(container)] = int(host.rpartition(":")[2])
    return ports


STACK = REPO / "deploy" / "local" / "stack"
INIT_SCRIPT = REPO / "deploy" / "compose" / "init-databases.sh"


def test_kafka_image_is_the_version_the_local_stack_pins() -> None:
    image = compose_services()["kafka"]["image"]
    name, _, tag = image.partition(":")
    assert name == "apache/kafka"
    assert tag == pom_kafka_version(), (
        f"docker-compose.yml runs {image}, deploy/local/kafka/pom.xml pins {pom_kafka_version()}"
    )


def test_kafka_runs_single_node_kraft_like_the_local_stack() -> None:
    kafka = compose_services()["kafka"]
    env = environment(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", key
    # From the host, Kafka answers on the local stack's default port.
    host_port = int(shell_assignment(STACK, "DEFAULT_KAFKA_PORT"))
    assert host_port in published_ports(kafka).values()
    assert f"localhost:{host_port}" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_postgres_is_published_where_the_local_stack_listens() -> None:
    postgres = compose_services()["postgres"]
    assert published_ports(postgres).get(5432) == int(shell_assignment(STACK, "DEFAULT_PG_PORT"))
    mounts = [str(v) for v in postgres.get("volumes", [])]
    assert any(
        m.startswith("./deploy/compose/init-databases.sh:/docker-entrypoint-initdb.d/")
        for m in mounts
    ), "postgres does not run deploy/compose/init-databases.sh"


@pytest.mark.parametrize("name", service_dirs())
def test_every_service_directory_has_a_compose_service(name: str) -> None:
    services = compose_services()
    assert name in services, f"services/{name} has no service in docker-compose.yml"
    spec = services[name]
    assert build_args(spec).get("SERVICE") == name
    assert command(spec) == ["python", "-m", f"oms_{name}", "worker"]


def test_every_compose_oms_service_has_a_service_directory() -> None:
    assert sorted(oms_services()) == service_dirs()


@pytest.mark.parametrize("name", sorted(oms_services()))
def test_compose_service_reaches_kafka_and_its_own_database(name: str) -> None:
    spec = oms_services()[name]
    env = environment(spec)
    assert env.get("KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092"
    url = urlsplit(env.get("OMS_DATABASE_URL", ""))
    assert url.scheme in ("postgresql", "postgres"), f"{name}: OMS_DATABASE_URL is not a URL"
    assert url.path == f"/oms_{name}", f"{name} uses database {url.path.lstrip('/')}"
    assert url.username == f"oms_{name}", f"{name} connects as {url.username}"
    assert url.hostname == "postgres"
    depends = spec.get("depends_on", {})
    for dependency in ("kafka", "postgres"):
        assert depends.get(dependency, {}).get("condition") == "service_healthy", dependency


def test_compose_services_listen_on_distinct_published_http_ports() -> None:
    ports: dict[str, int] = {}
    for name, spec in oms_services().items():
        port = int(environment(spec)["OMS_HTTP_PORT"])
        assert published_ports(spec).get(port) == port, f"{name}: port {port} not published"
        assert str(port) in " ".join(command(spec) + spec["healthcheck"]["test"]), name
        ports[name] = port
    assert len(set(ports.values())) == len(ports), ports


def test_compose_init_script_creates_the_databases_of_the_local_stack() -> None:
    compose_dbs = {f"oms_{svc}" for svc in shell_array(INIT_SCRIPT, "SERVICES")}
    stack_dbs = {f"oms_{svc}" for svc in shell_array(STACK, "SERVICES")}
    assert compose_dbs == stack_dbs
    # Both name the database and its role oms_<service>.
    assert 'name="oms_$svc"' in INIT_SCRIPT.read_text()
    assert "CREATE DATABASE oms_$svc OWNER oms_$svc" in STACK.read_text()
    # Every service directory and compose service has its database in both.
    for name in set(service_dirs()) | set(oms_services()):
        assert f"oms_{name}" in compose_dbs, f"no database oms_{name} in the init script"


def test_dockerfile_builds_one_service_chosen_by_the_service_arg() -> None:
    dockerfile = REPO / "Dockerfile"
    assert dockerfile.is_file()
    text = dockerfile.read_text()
    assert re.search(r"^ARG SERVICE\s*$", text, re.MULTILINE), "Dockerfile lacks ARG SERVICE"
    assert re.search(r"uv sync --frozen\b.*--package \"?oms-\$\{SERVICE\}", text)
    assert re.search(r"^USER (?!root\b)\S+", text, re.MULTILINE), "the image runs as root"
    for name, spec in compose_services().items():
        if "build" in spec:
            context = spec["build"].get("context", ".")
            assert context == ".", f"{name} builds from {context}, not the root Dockerfile"
            assert "SERVICE" in build_args(spec), f"{name} builds without the SERVICE arg"


def test_the_operator_command_knows_every_service_on_its_compose_port() -> None:
    assert {
        name: int(environment(spec)["OMS_HTTP_PORT"]) for name, spec in oms_services().items()
    } == DEFAULT_PORTS
