"""The GPU run kit: one folder that an offline GPU host runs with one command, using the host's own torch stack.

    python bench/gpu/kit.py --out /media/usb/rtletter-gpu-kit                  # prepare (needs the wheels: below)
    python3 /media/usb/rtletter-gpu-kit/run.py                                 # on the GPU host: < 10 min, JSON
    python3 /media/usb/rtletter-gpu-kit/run.py --tiny                          # the same on CPU (make test runs it)

What ``--out`` gets:
- ``src/rtletter/{model,mappers}``: the package's code without its dependency set; the bench imports only what the
  fine-tune's step and generation need (torch, transformers, peft, accelerate, bitsandbytes, pyyaml, rich);
- ``wheels/``: pinned wheels (requirements.lock's versions) of what a typical GPU host lacks: bitsandbytes, pydantic
  (and its three small dependencies), rich (and its three); at most 64 MiB in all. ``--wheels-from DIR`` copies
  them from a folder (``pip download`` output), ``--download`` runs ``pip download`` for the host's platform;
- ``run.py``: unpacks only the wheels whose package the host does not have (into ``deps/``, never into the host's
  environment), records the host's versions, and runs ``bench_8b.py`` with a 10-minute limit, writing
  ``results/bench-<date>.jsonl`` (one JSON object per figure);
- ``MANIFEST.json``: the files, the wheels and their sizes, the commit.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHEEL_LIMIT_BYTES = 64 * 1024 * 1024
# distribution -> import name; run.py unpacks a wheel only when its import name is missing on the host.
KIT_PACKAGES = {
    "bitsandbytes": "bitsandbytes",
    "pydantic": "pydantic",
    "pydantic-core": "pydantic_core",
    "annotated-types": "annotated_types",
    "typing-inspection": "typing_inspection",
    "rich": "rich",
    "markdown-it-py": "markdown_it",
    "mdurl": "mdurl",
    "pygments": "pygments",
}
SOURCES = ("model", "mappers")

RUN_PY = '''"""Run the rtletter GPU bench on this host: python3 run.py [--tiny] [bench_8b.py options]."""
import importlib.util, json, os, subprocess, sys, time, zipfile
from pathlib import Path

KIT = Path(__file__).resolve().parent
PACKAGES = @PACKAGES@


def main() -> int:
    deps = KIT / "deps"
    deps.mkdir(exist_ok=True)
    used = {}
    for wheel in sorted((KIT / "wheels").glob("*.whl")):
        dist = wheel.name.split("-")[0].replace("_", "-").lower()
        name = PACKAGES.get(dist)
        if name and importlib.util.find_spec(name) is None and not (deps / name).exists():
            with zipfile.ZipFile(wheel) as archive:  # a wheel is a zip: unpacked beside the kit, never installed
                archive.extractall(deps)
            used[dist] = wheel.name
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(KIT / "src"), str(deps), os.environ.get("PYTHONPATH", "")]),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    results = KIT / "results"
    results.mkdir(exist_ok=True)
    out = results / time.strftime("bench-%Y%m%d-%H%M%S.jsonl")
    (results / "kit-wheels-used.json").write_text(json.dumps(used, indent=2))
    command = [sys.executable, str(KIT / "bench_8b.py"), "--json", str(out), *sys.argv[1:]]
    try:
        code = subprocess.run(command, env=env, timeout=600, check=False).returncode
    except subprocess.TimeoutExpired:
        print("error: the bench ran past 10 minutes", file=sys.stderr)
        return 124
    if code == 0:
        print(f"figures in {out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
'''


def _lock_versions() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, re.M)}


def _commit() -> str:
    result = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def collect_wheels(target: Path, *, wheels_from: Path | None, download: bool, python_version: str,
                   platform: str) -> list[Path]:  # fmt: skip
    """The kit's wheels at the lock's versions, from a folder or ``pip download``; none when neither is given."""
    target.mkdir(parents=True, exist_ok=True)
    versions = _lock_versions()
    pins = [f"{name}=={versions[name]}" for name in KIT_PACKAGES]
    if download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest",
                        str(target), "--python-version", python_version, "--platform", platform, *pins],
                       check=True)  # fmt: skip
    elif wheels_from is not None:
        for name in KIT_PACKAGES:
            stem = f"{name.replace('-', '_')}-{versions[name]}-"
            found = sorted(p for p in Path(wheels_from).glob("*.whl") if p.name.lower().startswith(stem.lower()))
            if not found:
                raise SystemExit(f"error: no wheel {stem}*.whl in {wheels_from}")
            shutil.copy2(found[0], target / found[0].name)
    wheels = sorted(target.glob("*.whl"))
    total = sum(p.stat().st_size for p in wheels)
    if total > WHEEL_LIMIT_BYTES:
        raise SystemExit(f"error: the wheels take {total / 2**20:.1f} MiB, over the kit's 64 MiB")
    return wheels


def prepare(out: Path, *, wheels_from: Path | None = None, download: bool = False, python_version: str = "3.12",
            platform: str = "manylinux_2_28_x86_64") -> dict[str, object]:  # fmt: skip
    """Write the kit to ``out`` (replaced if present) and return its manifest."""
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    package = out / "src" / "rtletter"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""rtletter, the parts the GPU bench needs."""\n', encoding="utf-8")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        shutil.copytree(ROOT / name, package / name, ignore=ignore)
    shutil.copy2(ROOT / "bench" / "gpu" / "bench_8b.py", out / "bench_8b.py")
    # bench_8b.py finds the shipped config two folders above itself: in the kit it lives in src/rtletter/model.
    text = (out / "bench_8b.py").read_text(encoding="utf-8")
    text = text.replace(
        "ROOT = Path(__file__).resolve().parents[2]", 'ROOT = Path(__file__).resolve().parent / "src" / "rtletter"'
    )
    (out / "bench_8b.py").write_text(text, encoding="utf-8")
    (out / "run.py").write_text(RUN_PY.replace("@PACKAGES@", repr(KIT_PACKAGES)), encoding="utf-8")
    wheels = collect_wheels(out / "wheels", wheels_from=wheels_from, download=download,
                            python_version=python_version, platform=platform)  # fmt: skip
    manifest: dict[str, object] = {
        "commit": _commit(),
        "wheels": {p.name: p.stat().st_size for p in wheels},
        "wheels_mib": round(sum(p.stat().st_size for p in wheels) / 2**20, 1),
        "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
        "run": "python3 run.py   (add --tiny for the CPU shape)",
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="kit folder (replaced)")
    parser.add_argument("--wheels-from", type=Path, default=None, help="folder with the pinned wheels")
    parser.add_argument("--download", action="store_true", help="pip download the wheels for the GPU host")
    parser.add_argument("--python-version", default="3.12", help="the GPU host's Python (for --download)")
    parser.add_argument("--platform", default="manylinux_2_28_x86_64", help="the GPU host's platform tag")
    args = parser.parse_args(argv)
    manifest = prepare(args.out, wheels_from=args.wheels_from, download=args.download,
                       python_version=args.python_version, platform=args.platform)  # fmt: skip
    print(f"kit in {args.out}: {len(manifest['files'])} files, wheels {manifest['wheels_mib']} MiB; "  # type: ignore[arg-type]
          f"on the GPU host: python3 {args.out}/run.py")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
