"""deploy/compose.yaml and compose.cpu.yaml: valid against the compose-spec schema (vendored, no docker engine), and
the properties the deployment relies on: vLLM with the adapter on one reserved GPU, models mounted read-only,
ports on loopback, offline flags; the CPU override drops vLLM and PostgreSQL."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest

from tests.deploy.deploy_helpers import DEPLOY, SCHEMAS, Tagged, load_compose, untag

COMPOSE = DEPLOY / "compose.yaml"
CPU = DEPLOY / "compose.cpu.yaml"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: jsonschema.protocols.Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _merge(base: Any, override: Any) -> Any:
    """Compose's merge, as far as these files use it: mappings merge, `!override` replaces, `!reset` clears,
    volumes merge by target path, other sequences are appended."""
    if isinstance(override, Tagged):
        return untag(override)
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            if key == "volumes" and isinstance(value, list) and isinstance(out.get(key), list):
                by_target = {str(v).split(":")[1]: v for v in out[key]}
                by_target.update({str(v).split(":")[1]: v for v in value})
                out[key] = list(by_target.values())
            else:
                out[key] = _merge(out[key], value) if key in out else untag(value)
        return out
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return untag(override)


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return load_compose(COMPOSE)


@pytest.fixture(scope="module")
def cpu(base: dict[str, Any]) -> dict[str, Any]:
    return _merge(copy.deepcopy(base), load_compose(CPU))


def test_compose_files_match_the_compose_spec(validator, base, cpu) -> None:
    assert _errors(validator, untag(base)) == []
    assert _errors(validator, untag(load_compose(CPU))) == []
    assert _errors(validator, cpu) == []


def test_the_schema_refuses_a_broken_compose_file(validator, base) -> None:
    broken = copy.deepcopy(untag(base))
    broken["services"]["agent"]["restart_policy"] = "always"  # not a service key
    broken["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] = "gpu"
    errors = _errors(validator, broken)
    assert any("restart_policy" in e for e in errors), errors
    assert any("capabilities" in e for e in errors), errors


def test_vllm_serves_the_base_with_the_adapter_on_one_reserved_gpu(base) -> None:
    vllm = base["services"]["vllm"]
    args = vllm["command"]
    assert "--enable-lora" in args
    lora = args[args.index("--lora-modules") + 1]
    name, path = lora.split("=", 1)
    assert path.startswith("/models/")
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert all(v.endswith(":ro") for v in vllm["volumes"] if "/models" in v)
    # The LoRA rank comes from one variable, for vLLM and for the agent's check of the mounted adapter.
    assert "--max-lora-rank=${RTLETTER_MAX_LORA_RANK:-16}" in args
    agent = base["services"]["agent"]
    assert agent["environment"]["RTLETTER_MODEL__MAX_LORA_RANK"] == "${RTLETTER_MAX_LORA_RANK:-16}"
    assert any(str(v).endswith(":/models:ro") for v in agent["volumes"])
    # The agent asks vLLM for the adapter by its --lora-modules name.
    agent_config = (DEPLOY / "config" / "compose-agent.yaml").read_text(encoding="utf-8")
    assert f"model_name: {name}" in agent_config
    assert "base_url: http://vllm:8000/v1" in agent_config


def test_agent_is_built_from_the_dockerfile_and_kept_offline_and_local(base) -> None:
    services = base["services"]
    agent = services["agent"]
    assert (COMPOSE.parent / agent["build"]["context"] / agent["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    ).resolve()
    for name in ("agent", "vllm"):
        env = services[name]["environment"]
        assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1", name
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert {"postgres", "hapi", "vllm"} <= set(agent["depends_on"])
    assert agent["environment"]["RTLETTER_DATABASE__URL"].startswith("postgresql+psycopg://")


def test_mounted_agent_configs_exist(base, cpu) -> None:
    for doc in (base, cpu):
        for volume in doc["services"]["agent"]["volumes"]:
            source, target = str(volume).split(":")[:2]
            if target == "/etc/rtletter/agent.yaml":
                assert (DEPLOY / source).is_file(), source


def test_cpu_override_runs_without_gpu_vllm_or_postgres(cpu) -> None:
    services = cpu["services"]
    assert services["vllm"]["profiles"] == ["gpu"]
    assert services["postgres"]["profiles"] == ["postgres"]
    agent = services["agent"]
    assert "profiles" not in agent and "deploy" not in agent
    assert set(agent["depends_on"]) == {"hapi"}
    assert agent["environment"]["RTLETTER_DATABASE__URL"].startswith("sqlite:")
    configs = [v for v in agent["volumes"] if str(v).split(":")[1] == "/etc/rtletter/agent.yaml"]
    assert configs == ["./config/cpu-trial.yaml:/etc/rtletter/agent.yaml:ro"]


def test_interpolated_variables_are_documented_in_env_example(base) -> None:
    text = COMPOSE.read_text(encoding="utf-8") + CPU.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(\w+)", text))
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert used <= documented, used - documented
