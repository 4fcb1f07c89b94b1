"""deploy/ checked statically: no Docker engine or cluster runs these files on our machines.

The Kubernetes manifests validate against the Kubernetes API schemas (offline, bundled with
kubernetes-validate), every command given to the caseweave image parses with our own CLI,
probes and ports agree with the settings, and the compose file only uses real settings.
"""

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.cli.main import _parser
from services.runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30"
CASEWEAVE_IMAGE = "caseweave:latest"
HTTP_SERVICES = ("housing", "mental_health", "voluntary", "projection")

SETTING_NAMES = {f"CASEWEAVE_{name.upper()}" for name in Settings.model_fields} | {
    "KAFKA_BOOTSTRAP_SERVERS"
}


def default_port(service: str) -> int:
    """The port a service listens on when no CASEWEAVE_*_PORT is set."""
    port: int = Settings.model_fields[f"{service}_port"].default
    return port


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest (not the kustomization, which is kustomize's own format)."""
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object in deploy/kubernetes/."""
    return [
        doc
        for path in manifest_files()
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


def of_kind(kind: str) -> list[dict[str, Any]]:
    """The Kubernetes objects of one kind."""
    return [doc for doc in manifests() if doc["kind"] == kind]


def caseweave_containers() -> list[dict[str, Any]]:
    """Every container of a Deployment or Job that runs the caseweave image."""
    return [
        container
        for doc in of_kind("Deployment") + of_kind("Job")
        for container in doc["spec"]["template"]["spec"]["containers"]
        if container["image"] == CASEWEAVE_IMAGE
    ]


def compose() -> dict[str, Any]:
    """deploy/compose.yaml, parsed (YAML anchors and merge keys resolved)."""
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def compose_caseweave_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the caseweave image."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image") == CASEWEAVE_IMAGE
    }


def parses_with_our_cli(argv: list[str]) -> None:
    """Fail the test unless `caseweave ARGV` is accepted by the CLI's own parser."""
    try:
        _parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`caseweave {' '.join(argv)}` is not a valid caseweave command")


# Kubernetes


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_kubernetes_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    """Each object is valid for Kubernetes 1.30 in strict mode (unknown fields are errors)."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, f"{path.name} holds no object"
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_except_the_example_secret() -> None:
    """`kubectl apply -k` applies everything but never the placeholder Secret."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in manifest_files()} - {"secret.example.yaml"}


def test_the_example_secret_holds_only_marked_placeholders_for_real_settings() -> None:
    """The Secret names the database URL, id secret and master key, each an obvious REPLACE-ME."""
    (secret,) = of_kind("Secret")
    assert set(secret["stringData"]) == {
        "CASEWEAVE_DATABASE_URL", "CASEWEAVE_ID_SECRET", "CASEWEAVE_MASTER_KEY",
    }  # fmt: skip
    for value in secret["stringData"].values():
        assert "REPLACE-ME" in value


def test_the_configmap_holds_only_real_non_secret_settings() -> None:
    """Every ConfigMap key is a setting; the secret ones are left to the Secret."""
    (configmap,) = of_kind("ConfigMap")
    keys = set(configmap["data"])
    assert keys <= SETTING_NAMES, keys - SETTING_NAMES
    assert not keys & {"CASEWEAVE_DATABASE_URL", "CASEWEAVE_ID_SECRET", "CASEWEAVE_MASTER_KEY"}
    assert configmap["data"]["CASEWEAVE_HOST"] == "0.0.0.0"  # noqa: S104 - in a pod


def test_every_service_has_a_deployment_and_a_service() -> None:
    """The four HTTP services each run as a Deployment behind a Service of the same name."""
    run = {c["args"][1] for c in caseweave_containers() if c["args"][0] == "run"}
    assert run == set(HTTP_SERVICES)
    deployments = {d["metadata"]["name"] for d in of_kind("Deployment")}
    assert deployments == {s["metadata"]["name"] for s in of_kind("Service")}


def test_every_command_given_to_the_caseweave_image_parses_with_our_cli() -> None:
    """Deployment and Job args (and compose commands) are commands `caseweave` accepts."""
    given = [container["args"] for container in caseweave_containers()]
    given += [service["command"] for service in compose_caseweave_services().values()]
    assert given
    for argv in given:
        parses_with_our_cli(argv)


def test_a_job_creates_the_kafka_topics() -> None:
    """Topics come from `caseweave kafka topics create`, run once as a Job."""
    (job,) = of_kind("Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["kafka", "topics", "create"]


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_each_deployment_probes_its_health_endpoints_on_the_settings_default_port(
    service: str,
) -> None:
    """Readiness is GET /health/ready and liveness GET /health/live, on CASEWEAVE_*_PORT."""
    (deployment,) = [
        d
        for d in of_kind("Deployment")
        if d["spec"]["template"]["spec"]["containers"][0]["args"] == ["run", service]
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {port.get("name"): port["containerPort"] for port in container["ports"]}
    assert list(ports.values()) == [default_port(service)]

    def probed_port(probe: dict[str, Any]) -> int:
        port = probe["httpGet"]["port"]
        return ports[port] if isinstance(port, str) else int(port)

    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert probed_port(container["readinessProbe"]) == default_port(service)
    assert probed_port(container["livenessProbe"]) == default_port(service)
    name = deployment["metadata"]["name"]
    (svc,) = [s for s in of_kind("Service") if s["metadata"]["name"] == name]
    assert svc["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert [p["port"] for p in svc["spec"]["ports"]] == [default_port(service)]


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_each_deployment_asks_to_be_scraped_on_its_port(service: str) -> None:
    """The prometheus.io annotations name /metrics on the service's own port."""
    (deployment,) = [
        d
        for d in of_kind("Deployment")
        if d["spec"]["template"]["spec"]["containers"][0]["args"] == ["run", service]
    ]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(default_port(service)),
        "prometheus.io/path": "/metrics",
    }


def test_every_caseweave_workload_runs_as_non_root_with_resources_and_settings() -> None:
    """Pods run as non-root, set requests and limits, and read the ConfigMap (and Secret)."""
    for workload in of_kind("Deployment") + of_kind("Job"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            sources = {next(iter(source)) for source in container["envFrom"]}
            assert "configMapRef" in sources
            if workload["kind"] == "Deployment":
                assert "secretRef" in sources


def test_the_projection_keeps_one_replica_and_says_why() -> None:
    """One projection worker today (it reads the PostgreSQL logs); partitions bound it later."""
    (projection,) = [
        d for d in of_kind("Deployment") if d["metadata"]["name"].endswith("projection")
    ]
    assert projection["spec"]["replicas"] == 1
    text = (KUBERNETES / "projection.yaml").read_text()
    assert "partition" in text
    assert "PostgreSQL" in text


# compose


def test_compose_runs_every_http_service_with_a_readiness_healthcheck_on_its_port() -> None:
    """Each caseweave service is healthy when /health/ready answers on its default port."""
    services = compose_caseweave_services()
    assert {name for name, s in services.items() if s["command"][0] == "run"} == set(HTTP_SERVICES)
    for name, service in services.items():
        if service["command"][0] != "run":
            continue
        test = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{default_port(name)}/health/ready" in test
        assert "urllib" in test  # python:3.11-slim has no curl
        assert service["ports"] == [f"{default_port(name)}:{default_port(name)}"]


def test_compose_services_wait_for_postgres_and_the_topics() -> None:
    """Services start once PostgreSQL is healthy and the topics job has succeeded."""
    services = compose_caseweave_services()
    assert services["topics"]["command"] == ["kafka", "topics", "create"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, service in services.items():
        if name == "topics":
            continue
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_compose_uses_only_real_settings_and_demands_the_id_secret() -> None:
    """Env names are Settings fields; the id secret has no default: compose refuses without it."""
    for name, service in compose_caseweave_services().items():
        env = service["environment"]
        assert set(env) <= SETTING_NAMES, (name, set(env) - SETTING_NAMES)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        if name == "topics":
            continue
        assert env["CASEWEAVE_TRANSPORT"] == "kafka"
        assert env["CASEWEAVE_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in env["CASEWEAVE_DATABASE_URL"]
        for secret in ("CASEWEAVE_ID_SECRET", "CASEWEAVE_MASTER_KEY"):
            assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]*\}}", env[secret])


def test_compose_topics_fit_a_single_broker() -> None:
    """One broker holds one copy: replication factor and min. in-sync replicas are 1."""
    env = compose_caseweave_services()["topics"]["environment"]
    assert env["CASEWEAVE_KAFKA_REPLICATION_FACTOR"] == "1"
    assert env["CASEWEAVE_KAFKA_MIN_INSYNC_REPLICAS"] == "1"


def test_compose_kafka_is_kraft_without_auto_created_topics() -> None:
    """Kafka runs in KRaft mode and never creates a topic because a client named it."""
    kafka = compose()["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka-topics.sh --bootstrap-server localhost:9092 --list" in " ".join(
        kafka["healthcheck"]["test"]
    )
    assert "pg_isready" in " ".join(compose()["services"]["postgres"]["healthcheck"]["test"])


def test_compose_builds_the_image_from_the_deploy_dockerfile() -> None:
    """Every caseweave service builds deploy/Dockerfile with the repository as context."""
    for service in compose_caseweave_services().values():
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


# image


def test_the_dockerfile_runs_caseweave_as_non_root_listening_on_every_interface() -> None:
    """python:3.11-slim, a numeric non-root user, `caseweave` entrypoint, CASEWEAVE_HOST=0.0.0.0."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    user = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user
    assert user[-1].split(":")[0] not in {"0", "root"}
    assert 'ENTRYPOINT ["caseweave"]' in dockerfile
    assert 'CMD ["--help"]' in dockerfile
    assert "CASEWEAVE_HOST=0.0.0.0" in dockerfile
    assert "pip install --no-cache-dir ." in dockerfile
    env_names = set(re.findall(r"\b(CASEWEAVE_[A-Z_]+)=", dockerfile))
    assert env_names <= SETTING_NAMES, env_names - SETTING_NAMES


def test_the_dockerignore_keeps_local_environments_and_data_out_of_the_image() -> None:
    """.venv, .caseweave (embedded database, dev secrets) and .git never reach the build."""
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".caseweave", ".git"} <= ignored
