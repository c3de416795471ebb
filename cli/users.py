"""``rtletter users add|list|passwd``: worklist accounts in the job database.

The password is asked for twice at a terminal, or read as the first line of stdin when stdin is not a terminal
(scripts: ``printf '%s\\n' "$PW" | rtletter users add anna --role physician``); it never goes on the command line.
Heavy imports happen inside the commands so that ``rtletter --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rtletter.cli.common import ConfigOption
from rtletter.cli.errors import fail

users_app = typer.Typer(help="Worklist accounts (local login).", no_args_is_help=True)


def _users(config: Path | None):  # type: ignore[no-untyped-def]
    from rtletter.agent import ConfigError, JobStoreError, load_settings, open_store
    from rtletter.agent.worklist.users import UserStore

    try:
        users = UserStore(open_store(load_settings(config)))
        users.create_tables()
    except (ConfigError, JobStoreError) as exc:
        fail(str(exc))
    return users


def _password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            fail("no password on stdin")
        return line.rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Repeat password", hide_input=True) != first:
        fail("the passwords differ")
    return str(first)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="physician (signs) or viewer (reads)")] = "viewer",
    display_name: Annotated[str | None, typer.Option(help="name shown in the worklist")] = None,
    practitioner: Annotated[
        str | None, typer.Option(help="FHIR reference of the signer, e.g. Practitioner/123 (authenticator)")
    ] = None,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="no local login (reverse-proxy mode: the account gives the role)")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create a worklist account."""
    from rtletter.agent.worklist.users import Role, UserError

    if role not in Role.__members__:
        fail(f"unknown role {role!r} (one of {', '.join(Role.__members__)})")
    if practitioner is not None and not practitioner.startswith("Practitioner"):
        fail("--practitioner must be a reference such as Practitioner/123")
    users = _users(config)
    password = None if no_password else _password()
    try:
        user = users.add_user(name, role, password, display_name=display_name, practitioner=practitioner)
    except UserError as exc:
        fail(str(exc))
    typer.echo(f"user {user.name} added ({user.role})")


@users_app.command("passwd")
def passwd(name: Annotated[str, typer.Argument(help="login name")], config: ConfigOption = None) -> None:
    """Set a new password (open sessions of the user end)."""
    from rtletter.agent.worklist.users import UserError

    users = _users(config)
    try:
        users.set_password(name, _password())
    except UserError as exc:
        fail(str(exc))
    typer.echo(f"password of {name} set")


@users_app.command("list")
def list_users(config: ConfigOption = None) -> None:
    """One line per account: name, role, practitioner."""
    for user in _users(config).list_users():
        typer.echo(f"{user.name}\t{user.role}\t{user.practitioner or '-'}\t{user.display_name or ''}")
