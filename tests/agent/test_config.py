from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtletter.agent.config import POLL_INTERVAL_S, Settings, load_settings
from rtletter.agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "config"


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_settings_defaults_when_sections_are_absent(tmp_path: Path) -> None:
    settings = load_settings(_yaml(tmp_path, "channels: {file: {}}\n"))
    assert settings.database.url == "sqlite:///var/rtletter.db"
    assert settings.scheduler.poll_interval_s == POLL_INTERVAL_S
    assert settings.model.backend == "template"
    assert settings.channels.file is not None and settings.channels.fhir is None


def test_environment_overrides_yaml_with_nested_delimiter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _yaml(
        tmp_path,
        "web: {port: 8000}\n"
        "channels: {fhir: {base_url: 'http://a.invalid/fhir', auth: {kind: bearer, token: fromfile}}}\n",
    )
    monkeypatch.setenv("RTLETTER_WEB__PORT", "9001")
    monkeypatch.setenv("RTLETTER_CHANNELS__FHIR__AUTH__TOKEN", "fromenv")
    settings = load_settings(path)
    assert settings.web.port == 9001
    assert settings.channels.fhir is not None
    assert settings.channels.fhir.auth.token.get_secret_value() == "fromenv"  # type: ignore[union-attr]
    assert settings.channels.fhir.base_url.host == "a.invalid"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("channels: {file: {inbx: a}}", "unknown key channels.file.inbx"),
        ("scheduler: {poll_interval: 3}", "unknown key scheduler.poll_interval"),
        (
            "channels: {fhir: {base_url: 'http://x.invalid', poll_interval_s: 1}}",
            "unknown key channels.fhir.poll_interval_s (it has no effect; use scheduler.poll_interval_s)",
        ),
        ("channels: {fhir: {base_url: 'http://x.invalid', poll_start: yesterday}}", "channels.fhir.poll_start"),
        ("scheduler: {follow_interval_s: 0}", "scheduler.follow_interval_s: Input should be greater than 0"),
        ("nonsense: 1", "unknown key nonsense"),
        ("channels: {fhir: {base_url: 'fhir.example.org/R4'}}", "channels.fhir.base_url: Input should be a valid URL"),
        (
            "channels: {fhir: {base_url: 'http://x.invalid', auth: {kind: basic, username: u}}}",
            "channels.fhir.auth.password: required",
        ),
        ("channels: {fhir: {base_url: 'http://x.invalid', auth: {kind: kerberos}}}", "channels.fhir.auth"),
        (
            "model: {backend: local, base_dir: /nonexistent/llama}",
            "model: model folder /nonexistent/llama does not exist",
        ),
        ("model: {backend: local}", "model: base_dir is required for the local backend"),
        ("model: {backend: openai}", "model: base_url and model_name are required"),
        ("database: {url: 'mysql://db/x'}", "database.url: database 'mysql' is not supported"),
        ("scheduler: {backfill_cron: '61 * * * *'}", "scheduler.backfill_cron: not a crontab expression"),
        ("channels: {mllp: {port: 70000}}", "channels.mllp.port: Input should be less than or equal to 65535"),
        ("channels: {mllp: {encoding: klingon}}", "channels.mllp.encoding: unknown text encoding"),
        ("channels: {mllp: {encoding: utf-16}}", "channels.mllp.encoding: 'utf-16': UTF-16 and UTF-32 cannot be"),
        ("model: {letterhead: {template_dir: /nonexistent/tpl}}", "model.letterhead.template_dir: template folder"),
        ("- just\n- a list", "the top level must be a mapping"),
        ("a: [unclosed", "is not valid YAML at line"),
    ],
)
def test_load_settings_refuses_with_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_yaml(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_secret_values_never_appear_in_errors_or_summary(tmp_path: Path) -> None:
    bad = "channels: {fhir: {base_url: 'http://x.invalid', auth: {kind: bearer, token: s3cr3t-t0ken}, timeout_s: -1}}"
    with pytest.raises(ConfigError) as info:
        load_settings(_yaml(tmp_path, bad))
    assert "s3cr3t" not in str(info.value)
    good = load_settings(_yaml(tmp_path, bad.replace(", timeout_s: -1", "")))
    assert "s3cr3t" not in "\n".join(good.summary()) and "s3cr3t" not in repr(good)


def test_the_scaffold_is_on_by_default_and_gives_the_site_letterhead(tmp_path: Path) -> None:
    from rtletter.agent.service import build_backend
    from rtletter.mappers.scaffold import Site
    from rtletter.model import TemplateBackend

    settings = load_settings(_yaml(tmp_path, "model: {letterhead: {institution: Uniklinik X, town: X}}\n"))
    assert settings.model.scaffold and settings.model.site() == Site(institution="Uniklinik X", town="X")
    backend = build_backend(settings.model)
    assert isinstance(backend, TemplateBackend) and backend.scaffold  # the template backend writes the body
    off = load_settings(_yaml(tmp_path, "model: {scaffold: false}\n"))
    assert off.model.site() is None
    backend = build_backend(off.model)
    assert isinstance(backend, TemplateBackend) and not backend.scaffold


def test_local_backend_accepts_an_existing_model_folder(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    settings = load_settings(_yaml(tmp_path, f"model: {{backend: local, base_dir: {tmp_path / 'base'}}}"))
    assert settings.model.base_dir == tmp_path / "base"


def test_every_deploy_example_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "key.pem"
    key.write_text("placeholder")
    (tmp_path / "model").mkdir()
    examples = sorted(DEPLOY.glob("*.yaml"))
    assert {p.name for p in examples} >= {"file-drop.yaml", "fhir-smart.yaml", "hl7v2-site.yaml"}
    for path in examples:
        with monkeypatch.context() as env:
            # the site's own paths (model folder, SMART key) do not exist here; the environment overrides stand in
            env.setenv("RTLETTER_MODEL__BASE_DIR", str(tmp_path / "model"))
            if "private_key_file" in path.read_text(encoding="utf-8"):
                env.setenv("RTLETTER_CHANNELS__FHIR__AUTH__PRIVATE_KEY_FILE", str(key))
            assert isinstance(load_settings(path), Settings)


def test_deploy_example_with_a_missing_model_folder_is_refused() -> None:
    with pytest.raises(ConfigError, match="model folder /opt/rtletter/models/llama3-8b does not exist"):
        load_settings(DEPLOY / "hl7v2-site.yaml")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtletter.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_cli_config_check_ok_prints_summary_without_secrets(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "channels: {fhir: {base_url: 'http://x.invalid/fhir', auth: {kind: basic, username: u, password: hunter2}}}",
    )
    result = _cli("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK {path}")
    assert "channel fhir: http://x.invalid/fhir (auth basic)" in result.stdout
    assert "hunter2" not in result.stdout


def test_cli_config_check_refuses_the_channel_poll_interval_that_did_nothing(tmp_path: Path) -> None:
    text = "channels: {fhir: {base_url: 'http://x.invalid/fhir', poll_interval_s: 1}}\nscheduler: {poll_interval_s: 5}"
    result = _cli("config", "check", str(_yaml(tmp_path, text)))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: unknown key channels.fhir.poll_interval_s (it has no effect; use scheduler.poll_interval_s)"
    ]
    fixed = _cli("config", "check", str(_yaml(tmp_path, text.replace(", poll_interval_s: 1", ""))))
    assert fixed.returncode == 0, fixed.stderr
    assert "scheduler: poll every 5 s, EHR follow every 60 s" in fixed.stdout
    assert "polls courses changed since first start" in fixed.stdout


def test_poll_start_is_the_first_start_unless_set(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    fhir = "channels: {fhir: {base_url: 'http://x.invalid/fhir'%s}}"
    assert load_settings(_yaml(tmp_path, fhir % "")).channels.fhir.poll_start == "first-start"  # type: ignore[union-attr]
    explicit = load_settings(_yaml(tmp_path, fhir % ", poll_start: '2026-10-01T00:00:00Z'"))
    assert explicit.channels.fhir.poll_start == datetime(2026, 10, 1, tzinfo=UTC)  # type: ignore[union-attr]


def test_cli_config_check_unknown_key_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _cli("config", "check", str(_yaml(tmp_path, "channels: {file: {outbx: x}}")))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: unknown key channels.file.outbx"]
    assert "Traceback" not in result.stderr
