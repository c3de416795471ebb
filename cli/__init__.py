"""rtletter.cli: the ``rtletter`` command line. Only this package turns errors into exit codes and one-line messages
(``rtletter.cli.errors.fail``), and only this package composes the demo's commands.

One module per command group::

    mapping     case, prompt                    map a FHIR bundle / HL7 v2 message; print the case or the prompt
    demo        synth, demo, model build-base   the synthetic cohort and the demo (imports rtletter.demo)
    agent       run, backfill, subscribe        the agent
    config      config check|reference
    jobs        jobs list|show|retry|cancel     the durable job queue
    users       users add|passwd|list           worklist accounts
    model       model build-base|finetune|generate|export|serve|eval
    dataset     dataset build|export            fine-tuning datasets (cohort; signed letters)
    evaluate    eval form|import, model eval    evaluation and physician review sheets
    review      review follow|sign|reject|stats sign-off from the command line
    errors      fail(), EXIT_USAGE, EXIT_FAILURE
    common      --config, settings and job store opened with one-line failures, UTF-8 output

Heavy imports (torch, the agent's service) happen inside the commands so that ``rtletter --help`` and the mapping
commands start fast.
"""

from __future__ import annotations

import typer

from rtletter.cli import agent, demo, mapping
from rtletter.cli.config import config_app
from rtletter.cli.dataset import dataset_app
from rtletter.cli.evaluate import eval_app
from rtletter.cli.jobs import jobs_app
from rtletter.cli.model import model_app
from rtletter.cli.review import review_app
from rtletter.cli.users import users_app

app = typer.Typer(
    help="Draft radiotherapy end-of-treatment letters on premises.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# The order here is the order `rtletter --help` lists them in: commands first, then the groups.
for command in (mapping.case, mapping.prompt, demo.synth, demo.demo, agent.run, agent.backfill, agent.subscribe):
    app.command()(command)
app.add_typer(config_app, name="config")
app.add_typer(jobs_app, name="jobs")
app.add_typer(users_app, name="users")
app.add_typer(model_app, name="model")
app.add_typer(dataset_app, name="dataset")
app.add_typer(eval_app, name="eval")
app.add_typer(review_app, name="review")


def main() -> None:
    app()


__all__ = ["app", "main"]
