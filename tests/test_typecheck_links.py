"""mypy reads the code under its import names through .typecheck/rtletter/: one link per top-level folder of setup.py.

A folder without its link is not found by ``mypy -p rtletter.<folder>``, and every import of it silently becomes
``Any`` under the global settings; a stale link points nowhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINKS = ROOT / ".typecheck" / "rtletter"


def setup_tops() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TOPS" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no TOPS")


def test_every_top_level_package_has_its_link() -> None:
    links = {p.name: p for p in LINKS.iterdir()}
    assert set(links) == setup_tops()
    for name, link in links.items():
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve(), name
