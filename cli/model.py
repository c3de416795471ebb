"""``rtletter model ...``: build-base, finetune, generate, export, serve, eval.

Errors become exit code 2 and one line on stderr, no traceback. Torch and transformers are imported inside the
commands so that ``rtletter --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtletter.cli.demo import build_base_command
from rtletter.cli.errors import fail
from rtletter.cli.evaluate import eval_command
from rtletter.model.components.loading import set_offline
from rtletter.model.errors import ModelError

set_offline()  # no hub access from any entry point: every model is a local folder

model_app = typer.Typer(help="Base model, fine-tuning, drafting and serving.", no_args_is_help=True)


@model_app.callback()
def _model() -> None:
    """Base model, fine-tuning, drafting and serving."""


# The demo base is built by the demo's code (rtletter.cli.demo, the one module that imports rtletter.demo).
model_app.command("build-base")(build_base_command)


@model_app.command("finetune")
def finetune_command(
    base: Annotated[Path, typer.Option(help="base model folder (demo base or Meta-Llama-3-8B-Instruct)")],
    data: Annotated[Path, typer.Option(help="dataset folder with train.jsonl and validation.jsonl")],
    out: Annotated[Path, typer.Option(help="adapter folder")],
    method: Annotated[str | None, typer.Option(help="qlora or lora (overrides the config)")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config, e.g. model/configs/tiny/qlora_cpu.yaml")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="config override key=value")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the newest checkpoint in OUT/checkpoints")] = False,
) -> None:
    """Fine-tune with LoRA or QLoRA; writes the adapter, loss.png and the run card."""
    from rtletter.model.finetune import finetune, length_note

    try:
        card = finetune(base, data, out, method=method, config_path=config, overrides=set_, resume=resume)
    except ModelError as exc:
        fail(str(exc))
    metrics = card["metrics"]
    typer.echo(
        f"{card['method']} adapter in {out}: {metrics['steps']} steps, train loss {metrics['first_train_loss']:.3f}"
        f" -> {metrics['final_train_loss']:.3f}, {card['train_seconds']} s"
    )
    if (note := length_note(card)) is not None:
        typer.echo(f"warning: {note}", err=True)


@model_app.command("generate")
def generate_command(
    file: Annotated[Path, typer.Argument(help="FHIR JSON bundle or HL7 v2 message")],
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter folder")] = None,
    base: Annotated[Path | None, typer.Option(help="base model folder (default: the adapter's base)")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for <case>.txt and drafts.jsonl (default: stdout)")] = None,
    quantization: Annotated[str | None, typer.Option(help="nf4 for a 4-bit base")] = None,
    merge: Annotated[bool, typer.Option(help="merge the adapter into the weights")] = False,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="longest draft in tokens")] = 1024,
    server: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL instead of a local model")] = None,
    model: Annotated[str | None, typer.Option(help="model/adapter name on --server")] = None,
    scaffold: Annotated[
        bool, typer.Option(help="the model writes the body, the letter template the rest (as the agent's default)")
    ] = True,
    fact_slots: Annotated[
        bool, typer.Option(help="prompt with fact slot ids and fill the draft from the case (as the adapter's data)")
    ] = True,
) -> None:
    """Map a case file, build the prompt and draft the letter."""
    from datetime import date

    from rtletter.mappers.errors import MappingError
    from rtletter.mappers.scaffold import Site
    from rtletter.model.backends import Backend, OpenAIBackend, load_local_backend
    from rtletter.model.backends.adapters import adapter_base
    from rtletter.model.drafts import draft_file, write_drafts

    if not file.is_file():
        fail(f"cannot read {file}: no such file")
    try:
        count_tokens = None
        backend: Backend
        if server is not None:
            if not model:
                fail("--server needs --model (the served model or adapter name)")
            backend = OpenAIBackend(server, model)
        else:
            if base is not None:
                base_dir = base
            elif adapter is not None:
                base_dir = adapter_base(adapter)
            else:
                fail("give --base, --adapter or --server")
            local = load_local_backend(base_dir, adapter, quantization=quantization, merge=merge)
            tokenizer = local.tokenizer
            count_tokens = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
            backend = local
        site = Site() if scaffold else None
        drafts = draft_file(file, backend, count_tokens=count_tokens, max_new_tokens=max_new_tokens, site=site,
                            letter_date=date.today(), slots=fact_slots)  # fmt: skip
    except (ModelError, MappingError) as exc:
        fail(str(exc))
    if out is not None:
        for path in write_drafts(drafts, out):
            typer.echo(f"wrote {path}")
        return
    for case_id, generation in drafts:
        typer.echo(
            f"# {case_id} ({generation.model}, {generation.completion_tokens} tokens, "
            f"{generation.tokens_per_second:.1f} tokens/s)"
        )
        typer.echo(generation.text)


@model_app.command("export")
def export_command(
    adapter: Annotated[Path, typer.Option(help="LoRA adapter folder")],
    out: Annotated[Path, typer.Option(help="folder for the merged model")],
    merged: Annotated[bool, typer.Option(help="fold the adapter into the unquantised base (bf16)")] = False,
    base: Annotated[Path | None, typer.Option(help="base model folder (default: the adapter's base)")] = None,
    dtype: Annotated[str, typer.Option(help="bfloat16 (default) or float32")] = "bfloat16",
) -> None:
    """Export a merged bf16 model for servers without LoRA; vLLM serves the adapter folder as it is."""
    from rtletter.model.export import export_merged

    if not merged:
        fail("only --merged exports exist: for vLLM (--lora-modules) the adapter folder is the artefact as it is")
    try:
        card = export_merged(adapter, out, base=base, dtype=dtype)
    except ModelError as exc:
        fail(str(exc))
    typer.echo(f"merged {card['adapter']} (rank {card['lora_rank']}) into {card['base']}: {out} ({dtype})")


@model_app.command("serve")
def serve_command(
    base: Annotated[Path, typer.Option(help="base model folder")],
    adapter: Annotated[list[str] | None, typer.Option(help="name=DIR; requests choose it by model name")] = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    name: Annotated[str | None, typer.Option(help="model name of the base (default: its folder name)")] = None,
    quantization: Annotated[str | None, typer.Option(help="nf4 for a 4-bit base")] = None,
    max_lora_rank: Annotated[
        int | None, typer.Option(min=1, help="refuse adapters of a higher LoRA rank (as vLLM's --max-lora-rank)")
    ] = None,
) -> None:
    """Serve the base and its adapters with an OpenAI-compatible API (/v1/models, /v1/chat/completions)."""
    from rtletter.model.serve import check_ranks, parse_adapters, serve

    try:
        adapters = parse_adapters(adapter or [])
        check_ranks(adapters, max_lora_rank)
        serve(base, adapters, host=host, port=port, name=name, quantization=quantization)
    except ModelError as exc:
        fail(str(exc))


model_app.command("eval")(eval_command)
