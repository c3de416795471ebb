"""``rtletter model generate``: the choice of model is checked before anything loads (no base, no adapter, no
server; a server without a model name); one line on stderr, exit 2. Drafting itself: tests/model/test_drafts.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtletter.cli import app

CASE = Path(__file__).parents[1] / "model" / "data" / "case_rectum.json"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "give --base, --adapter or --server"),
        (["--server", "http://127.0.0.1:9"], "--server needs --model (the served model or adapter name)"),
    ],
)
def test_generate_without_a_model_exits_2_with_one_line(options: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["model", "generate", str(CASE), *options])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""


def test_generate_with_an_adapter_folder_that_is_not_one_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["model", "generate", str(CASE), "--adapter", str(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
