"""deploy/Dockerfile: multi-stage (wheel built, then installed), CUDA runtime base, non-root, HEALTHCHECK on
/healthz, offline flags, and no model weights copied in (they are mounted)."""

from __future__ import annotations

import re

from tests.deploy.deploy_helpers import DEPLOY

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def test_build_stage_makes_a_wheel_and_runtime_installs_it() -> None:
    build, runtime = stages(DOCKERFILE.read_text(encoding="utf-8"))
    assert build[0][1].endswith("AS build")
    assert any(word == "RUN" and "--wheel" in args for word, args in build)
    assert re.match(r"nvidia/cuda:[\w.-]+-runtime-", runtime[0][1]), runtime[0]
    assert ("COPY", "--from=build /wheels /tmp/wheels") in runtime
    assert any(word == "RUN" and "pip install" in args and ".whl" in args for word, args in runtime)


def runtime_problems(text: str) -> list[str]:
    runtime = stages(text)[-1]
    problems = []
    users = [args for word, args in runtime if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("runs as root")
    if not any(word == "HEALTHCHECK" and "/healthz" in args for word, args in runtime):
        problems.append("no HEALTHCHECK on /healthz")
    env = " ".join(args for word, args in runtime if word == "ENV")
    if "HF_HUB_OFFLINE=1" not in env or "TRANSFORMERS_OFFLINE=1" not in env:
        problems.append("not offline")
    if "/models" not in " ".join(args for word, args in runtime if word == "VOLUME"):
        problems.append("no /models volume")
    return problems


def test_runtime_runs_as_non_root_with_healthcheck_and_offline() -> None:
    assert runtime_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_the_checks_catch_a_root_image_without_healthcheck() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("USER rtletter:rtletter", "USER root")
    text = text.replace("/healthz", "/")
    assert runtime_problems(text) == ["runs as root", "no HEALTHCHECK on /healthz"]


def test_no_model_or_data_is_copied_in() -> None:
    copies = [
        args for stage in stages(DOCKERFILE.read_text(encoding="utf-8")) for w, args in stage if w in ("COPY", "ADD")
    ]
    assert copies
    for args in copies:
        sources = [a for a in args.split()[:-1] if not a.startswith("--")]
        for source in sources:
            assert source in (
                "pyproject.toml",
                "setup.py",
                "README.md",
                "requirements.lock",
                "agent",
                "cli",
                "demo",
                "mappers",
                "model",
                "/wheels",
            ), source
    assert not any(w == "ADD" for stage in stages(DOCKERFILE.read_text(encoding="utf-8")) for w, _ in stage)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore.index("*") < ignore.index("!agent")  # everything excluded first, then the package re-included
    assert "!requirements.lock" in ignore  # the runtime installs the dependencies from the lock
    assert "**/*.safetensors" in ignore and "**/*.db" in ignore


def test_every_package_folder_of_setup_py_is_copied_into_the_build_stage() -> None:
    import ast

    from tests.deploy.deploy_helpers import ROOT

    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    tops = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TOPS"
    )
    build = stages(DOCKERFILE.read_text(encoding="utf-8"))[0]
    copied = {args.split()[0] for word, args in build if word == "COPY"}
    assert set(tops) <= copied, set(tops) - copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert all(f"!{top}" in ignore for top in tops)
