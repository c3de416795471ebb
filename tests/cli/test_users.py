"""``rtletter users add|passwd|list``: accounts in the job database, passwords from stdin (never the command line),
argon2id hashes, one-line errors with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from rtletter.agent.config import load_settings
from rtletter.agent.jobs import JobStore
from rtletter.agent.worklist.users import UserStore, users_table
from rtletter.cli import app

runner = CliRunner()


def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp_path / 'jobs.db'}"}}), encoding="utf-8")
    return path


def test_add_a_physician_with_the_password_from_stdin(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    result = runner.invoke(
        app,
        ["users", "add", "anna", "--role", "physician", "--practitioner", "Practitioner/77", "-c", str(cfg)],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "user anna added (physician)" in result.output
    store = JobStore(load_settings(cfg).database.url)
    users = UserStore(store)
    with store.engine.connect() as conn:
        stored = conn.execute(select(users_table.c.password_hash).where(users_table.c.name == "anna")).scalar_one()
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored
    user = users.authenticate("anna", "a long enough password")
    assert user is not None and user.role == "physician" and user.practitioner == "Practitioner/77"
    assert users.authenticate("anna", "a wrong password!") is None
    listed = runner.invoke(app, ["users", "list", "-c", str(cfg)])
    assert listed.output.strip() == "anna\tphysician\tPractitioner/77"
    assert ("cli", "account created (physician)") in [(r["actor"], r["what"]) for r in store.audit_rows()]


def test_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    ok = runner.invoke(app, ["users", "add", "anna", "-c", str(cfg)], input="a long enough password\n")
    assert ok.exit_code == 0
    cases = [
        (["users", "add", "anna", "-c", str(cfg)], "a long enough password\n", "error: user anna exists already"),
        (["users", "add", "bob", "--role", "admin", "-c", str(cfg)], "", "error: unknown role 'admin'"),
        (["users", "add", "bob", "-c", str(cfg)], "short\n", "error: password must have at least 10 characters"),
        (["users", "add", "bob", "-c", str(cfg)], "", "error: no password on stdin"),
        (["users", "add", "b b", "-c", str(cfg)], "a long enough password\n", "error: user name must be"),
        (["users", "passwd", "nobody", "-c", str(cfg)], "a long enough password\n", "error: no user nobody"),
    ]
    for args, stdin, message in cases:
        result = runner.invoke(app, args, input=stdin)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.strip().startswith(message), result.output
        assert "Traceback" not in result.output


def test_the_installed_command_reads_the_password_from_a_pipe(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    command = [sys.executable, "-m", "rtletter.cli", "users", "add", "victor", "--role", "viewer", "-c", str(cfg)]
    done = subprocess.run(command, input="viewer password 1\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "viewer password 1" not in done.stdout + done.stderr
    assert UserStore(JobStore(load_settings(cfg).database.url)).authenticate("victor", "viewer password 1")
