"""docs/configuration.md is generated from the Settings model and must match it; every RTLETTER_* variable that
deploy/ and docs/ mention is a real setting (or a Compose variable from deploy/env.example)."""

from __future__ import annotations

import re

from rtletter.agent.config import Settings
from rtletter.agent.config_reference import render
from tests.deploy.deploy_helpers import DEPLOY, DOCS, ROOT, invoke

REFERENCE = DOCS / "configuration.md"


def test_configuration_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md differs from the settings model: run "
        "`rtletter config reference --out docs/configuration.md` and commit the result"
    )


def test_reference_covers_every_setting() -> None:
    text = render()

    def keys(model: type, prefix: str) -> list[str]:
        found = []
        for name, info in model.model_fields.items():
            key = f"{prefix}{info.alias or name}"
            members = getattr(info.annotation, "__args__", (info.annotation,))
            nested = [m for m in members if isinstance(m, type) and hasattr(m, "model_fields")]
            if nested:
                for sub in nested:
                    found += keys(sub, key + ".")
            else:
                found.append(key)
        return found

    all_keys = keys(Settings, "")
    assert "channels.fhir.base_url" in all_keys and "logging.json" in all_keys
    missing = [key for key in all_keys if f"| `{key}` |" not in text]
    assert missing == []


def test_cli_prints_and_writes_the_reference(tmp_path) -> None:
    printed = invoke(["config", "reference"])
    assert printed.returncode == 0
    assert printed.stdout == render()
    out = tmp_path / "configuration.md"
    written = invoke(["config", "reference", "--out", str(out)])
    assert written.returncode == 0 and out.read_text(encoding="utf-8") == render()


def _setting_paths() -> set[str]:
    paths: set[str] = set()
    for line in render().splitlines():
        match = re.match(r"\| `[^`]+` \| .* \| `(RTLETTER_\w+)` \|", line)
        if match:
            paths.add(match.group(1))
    return paths


def test_documented_environment_variables_exist() -> None:
    compose_vars = set(re.findall(r"^(\w+)=", (DEPLOY / "env.example").read_text(encoding="utf-8"), re.MULTILINE))
    test_vars = {  # the test suite's own variables, where the tests and .ci read them
        name
        for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / ".ci").glob("*")]
        if path.is_file()
        for name in re.findall(r"\bRTLETTER_TEST_\w+", path.read_text(encoding="utf-8"))
    }
    known = _setting_paths() | compose_vars | test_vars
    files = [*DEPLOY.rglob("*"), *DOCS.glob("*.md"), ROOT / "README.md"]
    unknown = {}
    for path in files:
        if not path.is_file() or path == REFERENCE or path.suffix == ".json":
            continue
        for name in set(re.findall(r"\bRTLETTER_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8"))):
            if name not in known:
                unknown.setdefault(str(path.relative_to(ROOT)), []).append(name)
    assert unknown == {}
