"""deploy/k8s: every manifest valid against the Kubernetes v1.37 strict schemas (vendored from kubernetes-validate;
unknown fields refused), and wired together: selectors match, referenced Secrets/ConfigMaps/PVCs exist, probes on
/healthz and /readyz, a GPU for vLLM, egress only to the EHR, the model server, PostgreSQL and DNS; the ConfigMap's
agent YAML passes `rtletter config check`."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from tests.deploy.deploy_helpers import DEPLOY, SCHEMAS, run_cli_each

K8S = DEPLOY / "k8s"
K8S_SCHEMAS = SCHEMAS / "kubernetes"


def _schema_name(doc: dict[str, Any]) -> str:
    group, _, version = doc["apiVersion"].rpartition("/")
    group = group.split(".")[0]
    return f"{doc['kind'].lower()}-{group}-{version}.json" if group else f"{doc['kind'].lower()}-{version}.json"


@cache
def _registry() -> Registry:
    resources = []
    for path in K8S_SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validate(doc: dict[str, Any]) -> list[str]:
    path = K8S_SCHEMAS / _schema_name(doc)
    if not path.is_file():
        return [f"no vendored schema {path.name} (add the kind to tests/deploy/schemas/vendor_schemas.py)"]
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{path.name}: {key} defined twice"
            found[key] = doc
    return found


def test_every_manifest_matches_its_kubernetes_schema(manifests) -> None:
    problems = {f"{kind}/{name}": errors for (kind, name), doc in manifests.items() if (errors := _validate(doc))}
    assert problems == {}


def test_the_strict_schema_refuses_a_misspelt_field(manifests) -> None:
    deployment = copy.deepcopy(manifests[("Deployment", "rtletter-agent")])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    deployment["spec"]["replicas"] = "three"
    errors = _validate(deployment)
    assert any("livenesProbe" in e for e in errors), errors
    assert any(e.startswith("spec/replicas") for e in errors), errors


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def test_agent_deployment_replicas_probes_and_hardening(manifests) -> None:
    agent = manifests[("Deployment", "rtletter-agent")]
    assert agent["spec"]["replicas"] >= 2
    pod = _pod(agent)
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e for e in container["env"]}
    # Several replicas need PostgreSQL: the URL comes from a Secret, never from the ConfigMap.
    assert env["RTLETTER_DATABASE__URL"]["valueFrom"]["secretKeyRef"]["name"] == "rtletter-db"
    assert env["HF_HUB_OFFLINE"]["value"] == "1"


def test_vllm_requests_a_gpu_and_serves_the_adapter(manifests) -> None:
    vllm = manifests[("Deployment", "rtletter-vllm")]
    (container,) = _pod(vllm)["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1
    args = container["args"]
    assert "--enable-lora" in args
    name = args[args.index("--lora-modules") + 1].split("=", 1)[0]
    config = yaml.safe_load(manifests[("ConfigMap", "rtletter-agent-config")]["data"]["agent.yaml"])
    assert config["model"]["model_name"] == name
    assert config["model"]["base_url"].startswith("http://rtletter-vllm:8000/")
    models = [v for v in _pod(vllm)["volumes"] if v["name"] == "models"]
    assert models[0]["persistentVolumeClaim"]["readOnly"] is True


def test_references_resolve(manifests) -> None:
    names = {(kind, name) for kind, name in manifests}
    for (kind, name), doc in manifests.items():
        if kind != "Deployment":
            continue
        pod = _pod(doc)
        assert ("ServiceAccount", pod["serviceAccountName"]) in names
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in names
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names
        for container in pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = manifests[("Secret", ref["name"])]
                    assert ref["key"] in secret["stringData"], (name, ref)
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in manifests[("ConfigMap", ref["name"])]["data"], (name, ref)


def test_the_lora_rank_comes_from_one_configmap_key_for_vllm_and_the_agent(manifests) -> None:
    serving = manifests[("ConfigMap", "rtletter-serving")]["data"]
    assert int(serving["max_lora_rank"]) >= 16  # the shipped recipes train rank 16
    (vllm,) = _pod(manifests[("Deployment", "rtletter-vllm")])["containers"]
    (agent,) = _pod(manifests[("Deployment", "rtletter-agent")])["containers"]
    assert "--max-lora-rank=$(RTLETTER_MAX_LORA_RANK)" in vllm["args"]  # Kubernetes expands $(VAR) from env
    assert not any(str(a).startswith("--max-lora-rank=") and "$(" not in str(a) for a in vllm["args"])
    refs = {
        (c["name"], e["name"]): e["valueFrom"]["configMapKeyRef"]
        for c in (vllm, agent)
        for e in c["env"]
        if "configMapKeyRef" in e.get("valueFrom", {})
    }
    assert refs[("vllm", "RTLETTER_MAX_LORA_RANK")] == refs[("agent", "RTLETTER_MODEL__MAX_LORA_RANK")]
    assert refs[("vllm", "RTLETTER_MAX_LORA_RANK")] == {"name": "rtletter-serving", "key": "max_lora_rank"}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_services_pdb_and_policies_select_the_pods(manifests) -> None:
    pods = {
        name: doc["spec"]["template"]["metadata"]["labels"]
        for (kind, name), doc in manifests.items()
        if kind == "Deployment"
    }
    for service in ("rtletter-agent", "rtletter-vllm"):
        selector = manifests[("Service", service)]["spec"]["selector"]
        assert [p for p, labels in pods.items() if _selects({"matchLabels": selector}, labels)] == [service]
    pdb = manifests[("PodDisruptionBudget", "rtletter-agent")]["spec"]["selector"]
    assert [p for p, labels in pods.items() if _selects(pdb, labels)] == ["rtletter-agent"]
    for policy in ("rtletter-agent", "rtletter-vllm"):
        selector = manifests[("NetworkPolicy", policy)]["spec"]["podSelector"]
        assert [p for p, labels in pods.items() if _selects(selector, labels)] == [policy]


def test_network_policy_allows_only_ehr_model_server_database_and_dns(manifests) -> None:
    default = manifests[("NetworkPolicy", "default-deny")]["spec"]
    assert default["podSelector"] == {} and set(default["policyTypes"]) == {"Ingress", "Egress"}
    agent = manifests[("NetworkPolicy", "rtletter-agent")]["spec"]
    ports = sorted((rule["ports"][0]["port"]) for rule in agent["egress"])
    assert ports == [53, 443, 5432, 8000]
    model_rule = next(r for r in agent["egress"] if r["ports"][0]["port"] == 8000)
    vllm_labels = manifests[("Deployment", "rtletter-vllm")]["spec"]["template"]["metadata"]["labels"]
    assert _selects(model_rule["to"][0]["podSelector"], vllm_labels)
    vllm = manifests[("NetworkPolicy", "rtletter-vllm")]["spec"]
    assert vllm["egress"] == []  # the model server reaches nothing: no hub, no telemetry


def test_configmap_agent_yaml_passes_config_check(manifests, tmp_path: Path) -> None:
    text = manifests[("ConfigMap", "rtletter-agent-config")]["data"]["agent.yaml"]
    config = tmp_path / "agent.yaml"
    config.write_text(text, encoding="utf-8")
    key = tmp_path / "private-key.pem"  # the Secret volume's file, mounted at /etc/rtletter/smart in the pod
    key.write_text("placeholder", encoding="utf-8")
    site_env = {
        "RTLETTER_CHANNELS__FHIR__AUTH__PRIVATE_KEY_FILE": str(key),
        "RTLETTER_DATABASE__URL": "postgresql+psycopg://rtletter:secret@db.example.invalid:5432/rtletter",
        "RTLETTER_CHANNELS__FHIR__SUBSCRIPTION_SECRET": "s3cret-value",
    }
    # With the Secrets' values in place, and without the key file (exit 2, the key named).
    result, missing = run_cli_each(
        [(["config", "check", str(config)], site_env), (["config", "check", str(config)], {})]
    )
    assert result.returncode == 0, result.stderr
    assert "auth smart-backend" in result.stdout
    assert "secret" not in result.stdout.replace("rtletter:***", "")  # summary hides the password
    assert missing.returncode == 2
    assert "channels.fhir.auth.private_key_file" in missing.stderr


def test_agent_port_matches_the_configmap_and_the_image(manifests) -> None:
    config = yaml.safe_load(manifests[("ConfigMap", "rtletter-agent-config")]["data"]["agent.yaml"])
    (container,) = _pod(manifests[("Deployment", "rtletter-agent")])["containers"]
    (port,) = container["ports"]
    assert config["web"]["port"] == port["containerPort"] == 8080  # the Dockerfile's HEALTHCHECK port
    assert config["web"]["host"] == "0.0.0.0"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    key_dir = str(Path(config["channels"]["fhir"]["auth"]["private_key_file"]).parent)
    assert mounts[key_dir]["name"] == "smart-key" and mounts[key_dir]["readOnly"] is True


def test_vendored_schemas_match_their_recorded_hashes() -> None:
    import hashlib
    import re

    recorded = dict(
        re.findall(r"^\| `([^`]+\.json)` \| `([0-9a-f]{64})` \|$", (SCHEMAS / "README.md").read_text(), re.M)
    )
    actual = {
        str(p.relative_to(SCHEMAS)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(SCHEMAS.rglob("*.json"))
    }
    assert recorded == actual
