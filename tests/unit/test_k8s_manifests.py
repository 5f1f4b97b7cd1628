"""deploy/k8s stays valid and complete (no cluster here: schemas, references and settings).

- every YAML file under deploy/k8s is a kustomization, a resource it lists, a patch
  it lists, or the example Secrets; kustomizations reference only files that exist;
- the core Kubernetes kinds validate against the Kubernetes JSON schemas
  (``kubernetes-validate``, strict: unknown fields fail) for the oldest and newest
  Kubernetes versions we support; the custom resources (RabbitMQ Cluster Operator,
  CloudNativePG, KEDA) are checked structurally;
- base and each overlay are rendered with kustomize (``kubectl kustomize``; skipped
  when kubectl is missing) and the rendered output is checked the same way;
- every Deployment is given every setting its service reads (``Settings`` and any
  subclass in ``services/<name>/settings.py``), minus the commented allow-list
  ``DEFAULTS_FINE_IN_PRODUCTION``; and nothing it is given is a name no setting reads;
- names that must agree across files agree: Service URLs and ports, the public host,
  database names, queue names, the RabbitMQ definitions, the alert rules' metrics.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from shared import metrics
from shared.bus.export_definitions import render as render_definitions
from shared.bus.topology import SUBSCRIPTIONS, service_queue
from shared.settings import DEFAULT_PORTS, SERVICE_NAMES, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SECRETS_EXAMPLE = K8S / "secrets.example.yaml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SERVICES = ("gateway", *SERVICE_NAMES)
BUILDS = ("base", "overlays/production", "overlays/staging")

# The oldest Kubernetes we support and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.29", "1.37")

# Custom resources: no schema in kubernetes-validate; checked structurally below.
CUSTOM_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "Database"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
}

# Settings whose defaults are right in production, so no manifest has to set them.
# Everything else a service reads must come from its ConfigMaps/Secrets.
DEFAULTS_FINE_IN_PRODUCTION: dict[str, str] = {
    # Must stay the default: the CloudNativePG Database names are built from it.
    "db_prefix": "appointment_invites_<service>",
    "db_pool_min": "one warm connection per process is enough",
    # Must stay the default: the definitions file and the KEDA queue names use it.
    "bus_namespace": "appointment_invites.*",
    "bus_prefetch": "32 in flight per copy; scale with copies instead",
    "bus_queue_type": "quorum, the production queue type (classic only for test runs)",
    "bus_publish_timeout_seconds": "bounded publish, any sane value",
    # Must stay the default: the retry queues of the definitions file are named by it.
    "bus_retry_delays_ms": "1s, 10s, 60s",
    "outbox_poll_seconds": "fallback only: the relay wakes on LISTEN/NOTIFY",
    "outbox_batch_size": "rows per publish batch",
    "mail_sink_port": "only used without SMTP_HOST (the dev sink)",
    "identity_ttl_seconds": "lifetime of the gateway-signed identity",
    "service_port": "set by --port in each container's command",
    # notify_service tunables (services/notify_service/settings.py): sane defaults.
    "notify_poll_seconds": "fallback only: the scheduler is woken on new work",
    "notify_smtp_timeout_seconds": "30s bound per SMTP exchange",
    "notify_sending_lease_seconds": "must exceed the SMTP timeout; default does",
    "notify_retry_base_seconds": "back-off of temporary SMTP failures",
    "notify_retry_max_seconds": "back-off cap",
    "notify_max_attempts": "temporary failures before an email is failed for good",
    "notify_message_id_domain": "defaults to MAIL_FROM's domain",
}

# Metrics the alert rules use that no process exports yet (the rule is ready for them).
NOT_YET_EXPORTED: dict[str, str] = {}
# RabbitMQ's own metrics (rabbitmq_prometheus plugin, per-object mode).
RABBITMQ_METRICS = {
    "rabbitmq_queue_messages",
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_consumers",
    "rabbitmq_alarms_memory_used_watermark",
    "rabbitmq_alarms_free_disk_space_watermark",
}

Doc = dict[str, Any]

# kubernetes-validate re-reads its schema files (1.8 MB of definitions) on every call;
# reading each once makes the ~300 validations below take a fraction of a second.
kubernetes_validate.utils.schema_contents = functools.cache(
    kubernetes_validate.utils.schema_contents
)


# ---------------------------------------------------------------- loading


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def yaml_files() -> list[Path]:
    return sorted([*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")])


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def referenced(kustomization: Path) -> dict[str, list[Path]]:
    """What a kustomization names, by role, as paths (not checked for existence)."""
    spec = yaml.safe_load(kustomization.read_text())
    here = kustomization.parent
    refs: dict[str, list[Path]] = {"resources": [], "patches": [], "generator_files": []}
    for entry in [*spec.get("resources", []), *spec.get("components", [])]:
        refs["resources"].append(here / entry)
    for patch in spec.get("patches", []):
        if "path" in patch:
            refs["patches"].append(here / patch["path"])
    for entry in spec.get("patchesStrategicMerge", []):
        refs["patches"].append(here / entry)
    for generator in [*spec.get("configMapGenerator", []), *spec.get("secretGenerator", [])]:
        for entry in [*generator.get("files", []), *generator.get("envs", [])]:
            refs["generator_files"].append(here / entry.split("=", 1)[-1])
    return refs


def example_secrets() -> list[Doc]:
    return load_docs(SECRETS_EXAMPLE)


@functools.cache
def rendered(build: str) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / build)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"kustomize build {build} failed:\n{out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def base_resources() -> list[Doc]:
    """The complete resources of base/, read from the files (no rendering)."""
    docs: list[Doc] = []
    pending = [K8S / "base" / "kustomization.yaml"]
    while pending:
        refs = referenced(pending.pop())
        for path in refs["resources"]:
            if path.is_dir():
                pending.append(path / "kustomization.yaml")
            else:
                docs.extend(load_docs(path))
    return docs


# ---------------------------------------------------------------- helpers


def by_kind(docs: Iterable[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def service_of(workload: Doc) -> str:
    """Which service a Deployment runs or a Job migrates, from its command."""
    command = workload["spec"]["template"]["spec"]["containers"][0]["command"]
    if command[:2] == ["python", "-m"]:
        return command[2].removeprefix("services.")
    assert command[:2] == ["python", "deploy/migrate.py"], command
    return command[2]


def env_name(cls: type[Settings], field: str) -> str:
    info = cls.model_fields[field]
    alias = info.validation_alias or info.alias
    if isinstance(alias, str):
        return alias.upper()
    return (str(cls.model_config.get("env_prefix", "")) + field).upper()


def settings_classes(service: str) -> list[type[Settings]]:
    """``Settings`` plus the subclasses a service defines in its own settings.py."""
    classes: list[type[Settings]] = [Settings]
    if (ROOT / "services" / service / "settings.py").exists():
        module = importlib.import_module(f"services.{service}.settings")
        classes += [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Settings)
            and obj is not Settings
            and obj.__module__ == module.__name__
        ]
    return classes


def settings_read_by(service: str) -> dict[str, str]:
    """Env name -> field name of every setting the service reads."""
    names: dict[str, str] = {}
    for cls in settings_classes(service):
        for field in cls.model_fields:
            names[env_name(cls, field)] = field
    return names


def env_provided(container: Doc, docs: Iterable[Doc], secrets: Iterable[Doc]) -> set[str]:
    """Names a container gets from env and from the ConfigMaps/Secrets it refers to."""
    config_maps = by_kind(docs, "ConfigMap")
    all_secrets = {**by_kind(secrets, "Secret"), **by_kind(docs, "Secret")}
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]["name"]
            assert ref in config_maps, f"envFrom names ConfigMap {ref}, which no manifest creates"
            names |= set(config_maps[ref].get("data", {}))
        if "secretRef" in source:
            ref = source["secretRef"]["name"]
            assert ref in all_secrets, (
                f"envFrom names Secret {ref}, which is not in {SECRETS_EXAMPLE.name}"
            )
            secret = all_secrets[ref]
            names |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    return names


def settings_gaps(docs: Iterable[Doc], secrets: Iterable[Doc]) -> list[str]:
    """Every way a Deployment is missing a setting its service reads, or sets an unknown one."""
    docs = list(docs)
    problems = []
    for name, deployment in by_kind(docs, "Deployment").items():
        service = service_of(deployment)
        reads = settings_read_by(service)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        provided = env_provided(container, docs, secrets)
        required = {env for env, field in reads.items() if field not in DEFAULTS_FINE_IN_PRODUCTION}
        missing = sorted(required - provided)
        unknown = sorted(provided - set(reads))
        if missing:
            problems.append(f"{name} ({service}) reads settings no manifest provides: {missing}")
        if unknown:
            problems.append(f"{name} ({service}) is given names no setting reads: {unknown}")
    return problems


def validate_core(doc: Doc) -> None:
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']} is not valid Kubernetes {version}: "
                f"{where}: {exc.message}"
            )


def check_custom(doc: Doc) -> None:
    """The custom resources' required fields (their CRDs are not available here)."""
    name = f"{doc['kind']}/{doc.get('metadata', {}).get('name')}"
    assert doc["metadata"].get("name"), name
    spec = doc.get("spec")
    assert isinstance(spec, dict), f"{name} has no spec"
    kind = doc["kind"]
    if kind == "RabbitmqCluster":
        assert spec["replicas"] == 3, f"{name}: quorum queues need three nodes"
        assert "load_definitions" in spec["rabbitmq"]["additionalConfig"]
        assert spec["secretBackend"]["externalSecret"]["name"]
    elif kind == "Cluster":
        assert spec["instances"] == 3, f"{name}: a primary and two replicas"
        assert spec["storage"]["size"]
        assert spec["bootstrap"]["initdb"]["owner"]
    elif kind == "Database":
        assert spec["name"] and spec["owner"] and spec["cluster"]["name"], name
    elif kind == "ScaledObject":
        assert spec["scaleTargetRef"]["name"], name
        assert spec["minReplicaCount"] >= 1, f"{name}: the relay/scheduler must keep running"
        assert spec["maxReplicaCount"] >= spec["minReplicaCount"], name
        assert spec["triggers"], name
        for trigger in spec["triggers"]:
            assert trigger["type"] == "rabbitmq", name
            meta = trigger["metadata"]
            assert meta["mode"] == "QueueLength" and meta["queueName"], name
            assert float(meta["value"]) > 0, name
            assert trigger["authenticationRef"]["name"], name
    elif kind == "TriggerAuthentication":
        for ref in spec["secretTargetRef"]:
            assert ref["parameter"] and ref["name"] and ref["key"], name


def check_document(doc: Doc) -> None:
    assert isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str), doc
    key = (doc["apiVersion"], doc["kind"])
    group = doc["apiVersion"].rpartition("/")[0]
    if key in CUSTOM_KINDS:
        check_custom(doc)
    elif "." in group and not group.endswith(".k8s.io"):
        pytest.fail(f"{key}: a custom resource this test does not know; add it to CUSTOM_KINDS")
    else:
        validate_core(doc)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------- files and references


def test_kustomizations_reference_only_existing_files():
    assert kustomizations(), "no kustomization under deploy/k8s"
    for kustomization in kustomizations():
        refs = referenced(kustomization)
        for role, paths in refs.items():
            for path in paths:
                where = f"{kustomization.relative_to(ROOT)} {role}: {path.relative_to(K8S)}"
                assert path.exists(), f"{where} does not exist"
                if path.is_dir():
                    assert (path / "kustomization.yaml").exists(), f"{where}: no kustomization"


def test_every_yaml_file_is_used_and_every_document_is_valid():
    resources: set[Path] = set()
    patches: set[Path] = set()
    for kustomization in kustomizations():
        refs = referenced(kustomization)
        resources |= {p.resolve() for p in refs["resources"] if p.is_file()}
        patches |= {p.resolve() for p in refs["patches"]}
    for path in yaml_files():
        rel = path.relative_to(ROOT)
        if path.name == "kustomization.yaml":
            spec = yaml.safe_load(path.read_text())
            assert spec["kind"] in ("Kustomization", "Component"), rel
        elif path.resolve() in resources or path == SECRETS_EXAMPLE:
            docs = load_docs(path)
            assert docs, f"{rel} is empty"
            for doc in docs:
                check_document(doc)
        elif path.resolve() in patches:
            # Partial documents: validated in the rendered overlays below.
            for doc in load_docs(path):
                assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], rel
        else:
            pytest.fail(f"{rel} is in no kustomization (a leftover, or forgotten in one)")


def test_rabbitmq_definitions_copy_is_the_topology_in_code(monkeypatch):
    monkeypatch.delenv("BUS_NAMESPACE", raising=False)
    monkeypatch.delenv("BUS_RETRY_DELAYS_MS", raising=False)
    copy_in_k8s = (K8S / "base" / "rabbitmq" / "definitions.json").read_text()
    assert copy_in_k8s == (ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text()
    assert copy_in_k8s == render_definitions(), (
        "deploy/k8s/base/rabbitmq/definitions.json is stale: "
        "python -m shared.bus.export_definitions > deploy/k8s/base/rabbitmq/definitions.json"
    )


def test_example_secrets_are_placeholders_only():
    for secret in example_secrets():
        assert secret["kind"] == "Secret"
        assert "data" not in secret, "the example carries no encoded values"
        values = json.dumps(secret["stringData"])
        assert "CHANGE-ME" in values, f"{secret['metadata']['name']}: mark what to fill in"
    access = by_kind(example_secrets(), "Secret")["appointment-invites-mq-access"]
    definitions = json.loads(access["stringData"]["access.json"])
    assert {"name": "/"} in definitions["vhosts"]
    users = {u["name"] for u in definitions["users"]}
    assert {p["user"] for p in definitions["permissions"]} == users


# ---------------------------------------------------------------- rendered builds


@pytest.mark.parametrize("build", BUILDS)
def test_rendered_build_validates(build):
    docs = rendered(build)
    for doc in docs:
        check_document(doc)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "Job", "Ingress"} <= kinds
    assert {"RabbitmqCluster", "Cluster", "ScaledObject", "TriggerAuthentication"} <= kinds


@pytest.mark.parametrize("build", BUILDS)
def test_every_setting_a_service_reads_is_provided(build):
    assert settings_gaps(rendered(build), example_secrets()) == []


def test_every_setting_is_provided_in_the_base_files_as_written():
    # The same check without kustomize, so it also runs where kubectl is missing.
    assert settings_gaps(base_resources(), example_secrets()) == []


def test_the_settings_check_fails_when_a_variable_is_missing():
    docs = copy.deepcopy(base_resources())
    notify = by_kind(docs, "ConfigMap")["notify-service-config"]
    del notify["data"]["NOTIFY_SEND_HOUR"]
    config = by_kind(docs, "ConfigMap")["appointment-invites-config"]
    config["data"]["SMTP_HOSTNAME"] = "typo.example.edu"
    problems = "\n".join(settings_gaps(docs, example_secrets()))
    assert "notify-service (notify_service) reads settings no manifest provides" in problems
    assert "NOTIFY_SEND_HOUR" in problems
    assert "SMTP_HOSTNAME" in problems  # a misspelt name is caught too


@pytest.mark.parametrize("build", BUILDS)
def test_every_service_runs_as_the_contract_says(build):
    docs = rendered(build)
    deployments = {service_of(d): d for d in by_kind(docs, "Deployment").values()}
    assert set(deployments) == set(SERVICES)
    jobs = {service_of(j): j for j in by_kind(docs, "Job").values()}
    assert set(jobs) == set(SERVICES), "one migration Job per service"
    services = by_kind(docs, "Service")
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        port = DEFAULT_PORTS[name]
        pod = deployment["spec"]["template"]
        spec = pod["spec"]
        (container,) = spec["containers"]
        assert container["command"] == [
            "python",
            "-m",
            f"services.{name}",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the image's user
        assert matches(deployment["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])

        exposing = [
            s
            for s in services.values()
            if matches(s["spec"]["selector"], pod["metadata"]["labels"])
        ]
        assert len(exposing) == 1, f"{name}: one Service selects its pods"
        assert exposing[0]["spec"]["ports"][0]["port"] == port
        assert any(
            matches(p["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
            for p in pdbs.values()
        ), f"{name}: no PodDisruptionBudget"

        job = jobs[name]
        job_pod = job["spec"]["template"]
        job_container = job_pod["spec"]["containers"][0]
        assert job_container["command"] == ["python", "deploy/migrate.py", name]
        assert job_container["image"] == container["image"], "the Job migrates the same version"
        assert job_container["envFrom"] == container["envFrom"]
        assert job_container["env"] == container["env"]
        assert job_pod["spec"]["securityContext"]["runAsNonRoot"] is True
        for service in services.values():
            assert not matches(service["spec"]["selector"], job_pod["metadata"]["labels"]), (
                f"Service {service['metadata']['name']} would route to the {name} migration pod"
            )
    assert (ROOT / "deploy" / "migrate.py").exists()


@pytest.mark.parametrize("build", BUILDS)
def test_configuration_values_agree_with_the_manifests(build):
    docs = rendered(build)
    config = by_kind(docs, "ConfigMap")["appointment-invites-config"]["data"]
    services = by_kind(docs, "Service")
    assert config["APP_ENV"] == "prod"
    assert config["GATEWAY_PORT"] == str(DEFAULT_PORTS["gateway"])
    assert config["SMTP_HOST"], "without SMTP_HOST no email leaves the cluster"
    for name in SERVICE_NAMES:
        url = urlsplit(config[f"{name.upper()}_URL"])
        assert url.hostname in services, f"{name.upper()}_URL points at no Service"
        assert url.port == services[url.hostname]["spec"]["ports"][0]["port"]
        selector = services[url.hostname]["spec"]["selector"]
        target = [
            d
            for d in by_kind(docs, "Deployment").values()
            if matches(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert [service_of(d) for d in target] == [name]

    public = urlsplit(config["PUBLIC_BASE_URL"])
    assert public.scheme == "https"
    (ingress,) = by_kind(docs, "Ingress").values()
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts == {public.hostname}, "the links in emails must reach the Ingress"
    assert {h for t in ingress["spec"]["tls"] for h in t["hosts"]} == hosts
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "gateway"


@pytest.mark.parametrize("build", BUILDS)
def test_postgres_cluster_databases_and_dsn(build):
    docs = rendered(build)
    (cluster,) = by_kind(docs, "Cluster").values()
    cluster_name = cluster["metadata"]["name"]
    databases = by_kind(docs, "Database").values()
    prefix = Settings.model_fields["db_prefix"].default
    expected = {f"{prefix}_{s}".lower() for s in SERVICES}
    assert {d["spec"]["name"] for d in databases} == expected
    owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
    for database in databases:
        assert database["spec"]["cluster"]["name"] == cluster_name
        assert database["spec"]["owner"] == owner
    for workload in [*by_kind(docs, "Deployment").values(), *by_kind(docs, "Job").values()]:
        env = {e["name"]: e for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}
        ref = env["POSTGRES_DSN"]["valueFrom"]["secretKeyRef"]
        # CloudNativePG's generated application Secret: <cluster>-app, key "uri".
        assert ref == {"name": f"{cluster_name}-app", "key": "uri"}


@pytest.mark.parametrize("build", BUILDS)
def test_rabbitmq_cluster_loads_access_then_topology(build):
    docs = rendered(build)
    (mq,) = by_kind(docs, "RabbitmqCluster").values()
    config = mq["spec"]["rabbitmq"]["additionalConfig"]
    folder = re.search(r"^load_definitions\s*=\s*(\S+)\s*$", config, re.M)
    assert folder, "load_definitions = <folder> in additionalConfig"
    pod = mq["spec"]["override"]["statefulSet"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = [c for c in pod["containers"] if c["name"] == "rabbitmq"]
    files: dict[str, Any] = {}
    for mount in container["volumeMounts"]:
        assert mount["mountPath"].startswith(folder.group(1).rstrip("/") + "/")
        files[Path(mount["mountPath"]).name] = (volumes[mount["name"]], mount["subPath"])
    # Access (vhost, users) sorts first: the topology needs the vhost.
    first, second = sorted(files)
    access_volume, access_key = files[first]
    secret = by_kind(example_secrets(), "Secret")[access_volume["secret"]["secretName"]]
    assert access_key in secret["stringData"]
    topology_volume, topology_key = files[second]
    config_map = by_kind(docs, "ConfigMap")[topology_volume["configMap"]["name"]]
    assert json.loads(config_map["data"][topology_key]) == json.loads(render_definitions())
    admin = mq["spec"]["secretBackend"]["externalSecret"]["name"]
    assert {"username", "password", "default_user.conf"} <= set(
        by_kind(example_secrets(), "Secret")[admin]["stringData"]
    )


@pytest.mark.parametrize("build", BUILDS)
def test_consumers_autoscale_on_their_own_queue(build):
    docs = rendered(build)
    namespace = Settings.model_fields["bus_namespace"].default
    deployments = by_kind(docs, "Deployment")
    auths = by_kind(docs, "TriggerAuthentication")
    scaled = {}
    for obj in by_kind(docs, "ScaledObject").values():
        target = deployments[obj["spec"]["scaleTargetRef"]["name"]]
        scaled[service_of(target)] = obj
    assert set(scaled) == set(SUBSCRIPTIONS), "every consuming service has a ScaledObject"
    secrets = by_kind(example_secrets(), "Secret")
    for service, obj in scaled.items():
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["metadata"]["queueName"] == service_queue(namespace, service)
        auth = auths[trigger["authenticationRef"]["name"]]
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["key"] in secrets[ref["name"]]["stringData"]
    for deployment in deployments.values():
        assert "replicas" not in deployment["spec"], "the autoscalers own the replica count"
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {"gateway"}
    if build == "overlays/production":
        for obj in scaled.values():
            assert obj["spec"]["minReplicaCount"] >= 2, "production keeps two copies"


# ---------------------------------------------------------------- alert rules


def metric_modules() -> list[Any]:
    """shared/metrics.py and every service's own ``metrics`` module."""
    modules = [metrics]
    for service in SERVICE_NAMES:
        if (ROOT / "services" / service / "metrics.py").exists():
            modules.append(importlib.import_module(f"services.{service}.metrics"))
    return modules


def exported_metrics() -> set[str]:
    names: set[str] = set()
    values = [v for module in metric_modules() for v in vars(module).values()]
    for value in values:
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
            else:
                names.add(family.name)
    return names


PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring", "and", "or",
    "unless", "rate", "increase", "histogram_quantile", "clamp_min", "clamp_max", "abs",
    "le", "bool",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # range selectors
    bare = re.sub(r"\b[a-z_]+\s*(=~|!~|!=|=)", "", bare)  # label names
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)  # grouping labels
    return {t for t in re.findall(r"\b[a-z_][a-z0-9_:]*\b", bare) if t not in PROMQL_WORDS}


def test_alert_rules_use_metrics_that_exist():
    rules = yaml.safe_load(ALERTS.read_text())
    exported = exported_metrics()
    assert not set(NOT_YET_EXPORTED) & exported, (
        f"now exported: remove from NOT_YET_EXPORTED {set(NOT_YET_EXPORTED) & exported}"
    )
    seen: set[str] = set()
    alerts = []
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            alerts.append(rule["alert"])
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            names = metric_names(rule["expr"])
            assert names, f"{rule['alert']}: no metric found in its expression"
            unknown = names - exported - RABBITMQ_METRICS - set(NOT_YET_EXPORTED)
            assert not unknown, f"{rule['alert']} uses metrics nobody exports: {unknown}"
            seen |= names
    assert len(alerts) == len(set(alerts)), "alert names are unique"
    # What deploy/README.md promises to watch.
    for needed in (
        "rabbitmq_queue_messages_ready",
        "outbox_oldest_pending_seconds",
        "outbox_pending",
        "events_consumed_total",
        "http_requests_total",
        "scheduler_oldest_due_seconds",
    ):
        assert needed in seen, f"no alert on {needed}"
    assert "rabbitmq_queue_messages" in seen  # the parking queues
