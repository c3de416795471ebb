"""``rtletter model ...``: build-base, finetune, generate, export, serve, eval.

Errors become exit code 2 and one line on stderr, no traceback. Torch and transformers are imported inside the
commands so that ``rtletter --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from rtletter.model.components.loading import set_offline
from rtletter.model.errors import ModelError
from rtletter.model.eval_cli import eval_command

set_offline()  # no hub access from any entry point: every model is a local folder

EXIT_USAGE = 2

model_app = typer.Typer(help="Base model, fine-tuning, drafting and serving.", no_args_is_help=True)


@model_app.callback()
def _model() -> None:
    """Base model, fine-tuning, drafting and serving."""


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


@model_app.command("build-base")
def build_base_command(
    out: Annotated[Path, typer.Option(help="folder for the base model (reused when complete)")],
    config: Annotated[Path | None, typer.Option(help="YAML config, e.g. model/configs/tiny/base.yaml")] = None,
    seed: Annotated[int | None, typer.Option(help="training seed (overrides the config)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="config override key=value")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even when the folder is complete")] = False,
) -> None:
    """Train the demo base (tokenizer + small Llama) offline, or reuse the folder if it is complete."""
    from rtletter.demo.base_model import build_base, is_complete

    reused = is_complete(out) and not force
    try:
        build_base(out, config, set_, seed=seed, force=force)
    except ModelError as exc:
        _fail(str(exc))
    typer.echo(f"{'reused' if reused else 'built'} base model in {out}")


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
    from rtletter.model.finetune import finetune

    try:
        card = finetune(base, data, out, method=method, config_path=config, overrides=set_, resume=resume)
    except ModelError as exc:
        _fail(str(exc))
    metrics = card["metrics"]
    typer.echo(
        f"{card['method']} adapter in {out}: {metrics['steps']} steps, train loss {metrics['first_train_loss']:.3f}"
        f" -> {metrics['final_train_loss']:.3f}, {card['train_seconds']} s"
    )


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
) -> None:
    """Map a case file, build the prompt and draft the letter."""
    from datetime import date

    from rtletter.mappers.errors import MappingError
    from rtletter.mappers.scaffold import Site
    from rtletter.model.generate import adapter_base, draft_file, load_generator, load_openai_generator, write_drafts

    if not file.is_file():
        _fail(f"cannot read {file}: no such file")
    try:
        count_tokens = None
        if server is not None:
            if not model:
                _fail("--server needs --model (the served model or adapter name)")
            generator = load_openai_generator(server, model)
        else:
            if base is None and adapter is None:
                _fail("give --base, --adapter or --server")
            base_dir = base or adapter_base(adapter)  # type: ignore[arg-type]
            generator = load_generator(base_dir, adapter, quantization=quantization, merge=merge)
            tokenizer = generator.tokenizer  # type: ignore[attr-defined]
            count_tokens = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
        site = Site() if scaffold else None
        drafts = draft_file(file, generator, count_tokens=count_tokens, max_new_tokens=max_new_tokens, site=site,
                            letter_date=date.today())  # fmt: skip
    except (ModelError, MappingError) as exc:
        _fail(str(exc))
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
        _fail("only --merged exports exist: for vLLM (--lora-modules) the adapter folder is the artefact as it is")
    try:
        card = export_merged(adapter, out, base=base, dtype=dtype)
    except ModelError as exc:
        _fail(str(exc))
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
        _fail(str(exc))


model_app.command("eval")(eval_command)
