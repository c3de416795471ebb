"""Exit codes and the one way a command fails: one line on stderr, no traceback.

Only this package turns errors into exit codes; the product packages raise their own error trees
(``AgentError``, ``ModelError``, ``MappingError``, ``DemoError``) and the commands translate them here.
"""

from __future__ import annotations

from typing import NoReturn

import typer

EXIT_FAILURE = 1  # a bug, or the command ran and its outcome is a failure (a subscription left inactive)
EXIT_USAGE = 2  # bad input, bad configuration, a refused action: the message says what to fix


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, no traceback, non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
