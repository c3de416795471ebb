"""deploy/systemd: every key known for its section (a typo would be ignored by systemd, silently dropping a
hardening option), the hardening the agent relies on, and `systemd-analyze verify` where it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.deploy_helpers import DEPLOY

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))

# The keys these units may use (systemd.unit(5), systemd.service(5), systemd.exec(5), systemd.kill(5),
# systemd.resource-control(5), systemd.install(5)); extend it when a unit needs another one.
KNOWN = {
    "Unit": {
        "Description",
        "Documentation",
        "After",
        "Before",
        "Wants",
        "Requires",
        "BindsTo",
        "PartOf",
        "Conflicts",
        "StartLimitIntervalSec",
        "StartLimitBurst",
        "ConditionPathExists",
        "AssertPathExists",
    },
    "Service": {
        "Type",
        "User",
        "Group",
        "WorkingDirectory",
        "Environment",
        "EnvironmentFile",
        "ExecStartPre",
        "ExecStart",
        "ExecStartPost",
        "ExecReload",
        "ExecStop",
        "KillSignal",
        "KillMode",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "Restart",
        "RestartSec",
        "StateDirectory",
        "StateDirectoryMode",
        "ConfigurationDirectory",
        "ConfigurationDirectoryMode",
        "LogsDirectory",
        "CacheDirectory",
        "RuntimeDirectory",
        "UMask",
        "NoNewPrivileges",
        "ProtectSystem",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "ProtectProc",
        "ProcSubset",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "RemoveIPC",
        "CapabilityBoundingSet",
        "AmbientCapabilities",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "RestrictAddressFamilies",
        "DevicePolicy",
        "DeviceAllow",
        "IPAddressDeny",
        "IPAddressAllow",
        "MemoryMax",
        "CPUQuota",
        "TasksMax",
        "LimitNOFILE",
    },
    "Install": {"WantedBy", "RequiredBy", "Alias"},
}
BOOLEAN = {"yes", "no", "true", "false", "on", "off", "1", "0"}


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) in order; keys may repeat (Environment=, DeviceAllow=), continuation lines join."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: str | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        if current is None or "=" not in line:
            raise ValueError(f"line {number}: not a key=value inside a section")
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def unknown_keys(sections: dict[str, list[tuple[str, str]]]) -> list[str]:
    problems = [f"[{name}] unknown section" for name in sections if name not in KNOWN]
    for name, pairs in sections.items():
        problems += [f"[{name}] {key}" for key, _ in pairs if key not in KNOWN.get(name, set())]
    return problems


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_keys_are_known(unit: Path) -> None:
    assert unknown_keys(parse_unit(unit.read_text(encoding="utf-8"))) == []


def test_a_misspelt_key_is_caught() -> None:
    text = (DEPLOY / "systemd" / "rtletter.service").read_text(encoding="utf-8")
    assert unknown_keys(parse_unit(text.replace("ProtectHome=", "ProtectHom="))) == ["[Service] ProtectHom"]


def test_agent_unit_runs_as_service_user_with_hardening() -> None:
    sections = parse_unit((DEPLOY / "systemd" / "rtletter.service").read_text(encoding="utf-8"))
    service = dict(sections["Service"])  # last value wins, as in systemd
    assert service["User"] == "rtletter" and service["Group"] == "rtletter"
    assert service["Restart"] == "on-failure"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/rtletter"
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "ProtectKernelTunables", "ProtectControlGroups"):
        assert service[key] in BOOLEAN - {"no", "false", "off", "0"}, key
    assert service["CapabilityBoundingSet"] == ""
    assert service["ExecStart"].endswith("rtletter run --config /etc/rtletter/agent.yaml")
    assert "rtletter config check" in service["ExecStartPre"]
    env = " ".join(value for key, value in sections["Service"] if key == "Environment")
    assert "HF_HUB_OFFLINE=1" in env and "TRANSFORMERS_OFFLINE=1" in env
    assert dict(sections["Install"])["WantedBy"] == "multi-user.target"


def test_model_unit_serves_on_loopback_only() -> None:
    service = dict(parse_unit((DEPLOY / "systemd" / "rtletter-model.service").read_text(encoding="utf-8"))["Service"])
    assert "--host 127.0.0.1" in service["ExecStart"]
    assert service["IPAddressDeny"] == "any" and service["IPAddressAllow"] == "localhost"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    def verify(*paths: Path) -> list[str]:
        result = subprocess.run(
            ["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        # The units name binaries of the installed system (/opt/rtletter/venv); their absence here is expected.
        return [line for line in result.stderr.splitlines() if line.strip() and "is not executable" not in line]

    assert verify(*UNITS) == []
    broken = tmp_path / "broken.service"
    broken.write_text(UNITS[0].read_text(encoding="utf-8").replace("Restart=on-failure", "Restart=on-fail"))
    assert any("restart specifier" in line for line in verify(broken))
