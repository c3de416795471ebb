"""Every example config in deploy/config passes the real `rtletter config check`, with only the files a site must
provide (the SMART private key, the model folder) put in place through the documented environment overrides."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.deploy.deploy_helpers import DEPLOY, invoke, run_cli_each

CONFIGS = sorted((DEPLOY / "config").glob("*.yaml"))


def _site_files(config: Path, tmp_path: Path) -> dict[str, str]:
    """The environment a site sets for CONFIG: where its key file and model folder really are."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    env: dict[str, str] = {}
    fhir = (data.get("channels") or {}).get("fhir") or {}
    if (fhir.get("auth") or {}).get("kind") == "smart-backend":
        key = tmp_path / f"{config.stem}-key.pem"
        key.write_text("placeholder", encoding="utf-8")
        env["RTLETTER_CHANNELS__FHIR__AUTH__PRIVATE_KEY_FILE"] = str(key)
    if (data.get("model") or {}).get("backend") == "local":
        model = tmp_path / f"{config.stem}-model"
        model.mkdir()
        env["RTLETTER_MODEL__BASE_DIR"] = str(model)
    if (data.get("model") or {}).get("adapter_dir"):
        env["RTLETTER_MODEL__ADAPTER_DIR"] = str(_adapter(tmp_path / f"{config.stem}-adapter", 16))
        env["RTLETTER_MODEL__MAX_LORA_RANK"] = "16"  # deploy/env.example's RTLETTER_MAX_LORA_RANK
    return env


def _adapter(folder: Path, rank: int) -> Path:
    """An adapter folder as far as the rank check reads it: PEFT's adapter_config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "base_model_name_or_path": "/models/base"}
    (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_an_adapter_above_the_servers_lora_rank_fails_the_check_clearly(tmp_path: Path) -> None:
    config = DEPLOY / "config" / "compose-agent.yaml"
    adapter = _adapter(tmp_path / "rank64", 64)
    env = {"RTLETTER_MODEL__ADAPTER_DIR": str(adapter), "RTLETTER_MODEL__MAX_LORA_RANK": "16"}
    check = ["config", "check", str(config)]
    refused, fits = run_cli_each([(check, env), (check, {**env, "RTLETTER_MODEL__MAX_LORA_RANK": "64"})])
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "LoRA rank 64" in refused.stderr and "max_lora_rank 16" in refused.stderr
    assert "RTLETTER_MAX_LORA_RANK" in refused.stderr
    assert fits.returncode == 0 and "adapter LoRA rank 64 <= server max_lora_rank 64" in fits.stdout


def test_there_is_an_example_per_site_kind() -> None:
    kinds = set()
    for config in CONFIGS:
        channels = yaml.safe_load(config.read_text(encoding="utf-8")).get("channels") or {}
        auth = ((channels.get("fhir") or {}).get("auth") or {}).get("kind")
        kinds |= {f"fhir-{auth}"} if auth else set()
        kinds |= {"mllp"} if "mllp" in channels else set()
        kinds |= {"mdm-out"} if "outbound" in (channels.get("mllp") or {}) else set()
        kinds |= {"file-only"} if set(channels) == {"file"} else set()
    assert {"fhir-smart-backend", "fhir-none", "mllp", "mdm-out", "file-only"} <= kinds


def test_every_example_config_passes_config_check(tmp_path: Path) -> None:
    results = [invoke(["config", "check", str(config)], _site_files(config, tmp_path)) for config in CONFIGS]
    failures = {r.args[-1]: r.stderr.strip() for r in results if r.returncode != 0}
    assert failures == {}
    for result in results:
        assert result.stdout.startswith("OK "), result.stdout
        assert result.stderr == ""


def test_without_the_site_files_the_console_script_names_what_is_missing() -> None:
    names = ["fhir-smart.yaml", "hl7v2-site.yaml"]
    results = run_cli_each([(["config", "check", str(DEPLOY / "config" / name)], {}) for name in names])
    for result in results:
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
        assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def _grants(scope: str, resource: str, access: str) -> bool:
    """Whether SMART SCOPE (v1 .read/.write or v2 .cruds) lets a system client ACCESS ('r' or 'c') RESOURCE."""
    for item in scope.split():
        kind, _, rest = item.partition("/")
        target, _, perms = rest.partition(".")
        if kind != "system" or target not in (resource, "*"):
            continue
        if perms in ("*", "write" if access == "c" else "read") or (perms[:1] in "cruds" and access in perms):
            return True
    return False


def test_explicit_smart_scopes_cover_what_the_agent_writes() -> None:
    from rtletter.agent.config import SmartBackendAuth

    default = SmartBackendAuth.model_fields["scope"].default
    written = sorted({item.split("/")[1].split(".")[0] for item in default.split() if ".c" in item})
    assert {"DocumentReference", "Provenance", "Task"} <= set(written)
    assert not _grants("system/*.read system/Task.write", "Provenance", "c")  # the check can fail
    for config in CONFIGS:
        auth = ((yaml.safe_load(config.read_text(encoding="utf-8")).get("channels") or {}).get("fhir") or {}).get(
            "auth"
        ) or {}
        if "scope" in auth:
            missing = [name for name in written if not _grants(auth["scope"], name, "c")]
            assert missing == [], f"{config.name}: scope lacks write access to {missing}"
            assert _grants(auth["scope"], "Patient", "r"), config.name
