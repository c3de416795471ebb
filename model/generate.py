"""Recipe: draft letters for case files with a local model (base + LoRA adapter) or an OpenAI-compatible server.

Features, and the argument that drives each:
- the base in full precision or 4-bit NF4 (``quantization``), the adapter applied on top or merged into the weights
  (``merge``), on CPU or GPU (``device``);
- greedy decoding, stopping at ``<|eot_id|>``, batched with left padding (``batch_size``);
- case files in FHIR R4 or HL7 v2 mapped with ``rtletter.mappers.load.load_cases``, prompted with
  ``build_messages`` under the base's token budget; drafts to stdout or one ``.txt`` per case plus ``drafts.jsonl``;
- the model writes the body and the site's letter template the rest (``site``, ``rtletter.mappers.scaffold``), as
  in the agent; without a site the model is asked for the whole letter.

    rtletter model generate var/demo/cohort/P0001/bundle.json --adapter var/demo/adapter
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtletter.model.errors import ModelLoadError
from rtletter.model.generator import Generation, Generator

if TYPE_CHECKING:
    from rtletter.mappers.scaffold import Site

PROMPT_TOKEN_BUDGET = 3072  # of the 4096 training length, leaving 1024 tokens for the letter


def adapter_base(adapter: Path) -> Path:
    """The base folder an adapter was trained on (``base_model_name_or_path`` in ``adapter_config.json``).

    Raises:
        ModelLoadError: no readable adapter config.
    """
    config = Path(adapter) / "adapter_config.json"
    try:
        base = json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"adapter folder {adapter} has no readable adapter_config.json") from exc
    return Path(base)


def adapter_rank(adapter: Path) -> int:
    """The LoRA rank a server must allow for ``adapter`` (vLLM's ``--max-lora-rank``): ``r`` in its
    ``adapter_config.json``, or the highest per-module rank of its ``rank_pattern``.

    Raises:
        ModelLoadError: no readable adapter config, or no integer ``r`` in it.
    """
    config = Path(adapter) / "adapter_config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        ranks = [int(data["r"]), *(int(v) for v in (data.get("rank_pattern") or {}).values())]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"adapter folder {adapter} has no readable LoRA rank (r in adapter_config.json)") from exc
    return max(ranks)


def adapter_version(adapter: Path) -> str:
    """The adapter's folder name and the first 8 hex digits of its weights' SHA-256, e.g. ``adapter@1a2b3c4d``."""
    weights = Path(adapter) / "adapter_model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:8] if weights.is_file() else "unknown"
    return f"{Path(adapter).name}@{digest}"


def load_generator(
    base: Path,
    adapter: Path | None = None,
    *,
    quantization: str | None = None,
    merge: bool = False,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = 8,
    repetition_penalty: float | None = None,
) -> Generator:
    """A local ``Generator``: the base model folder, optionally with a LoRA adapter.

    Args:
        base: local base folder (demo base or Meta-Llama-3-8B-Instruct).
        adapter: PEFT adapter folder; None drafts with the base alone.
        quantization: None for full weights, ``"nf4"`` for 4-bit.
        merge: fold the adapter into the base weights (faster per token; with 4-bit weights the merge is lossy).
        device: ``cpu`` / ``cuda`` (default: CUDA when available).
        dtype: ``float32`` / ``bfloat16`` (default: bf16 on GPU, float32 on CPU).
        batch_size: conversations per forward pass.
        repetition_penalty: > 1 discourages repeating tokens (default: the base folder's ``generation_config.json``,
            1.0 when it sets none; the demo base sets 1.2 because a 3M-parameter model loops under plain greedy).

    Returns:
        A ``LocalGenerator``; its ``model_name`` is ``<base>`` or ``<base>+<adapter>@<hash>``.

    Raises:
        ModelLoadError: a folder is missing or unusable.
    """
    from rtletter.model.backends.local import LocalGenerator
    from rtletter.model.components.loading import load_causal_lm, load_tokenizer

    base = Path(base)
    tokenizer = load_tokenizer(base)
    model = load_causal_lm(base, quantization=quantization, dtype=dtype, device=device)
    name = base.name
    if adapter is not None:
        model = apply_adapter(model, Path(adapter), merge=merge)
        name = f"{base.name}+{adapter_version(Path(adapter))}"
    if repetition_penalty is None:  # the folder's decoding default applies to base and adapter alike: a fair comparison
        repetition_penalty = float(getattr(model.generation_config, "repetition_penalty", None) or 1.0)
    return LocalGenerator(model, tokenizer, model_name=name, batch_size=batch_size,
                          repetition_penalty=repetition_penalty)  # fmt: skip


def apply_adapter(model: Any, adapter: Path, *, merge: bool = False, name: str = "default") -> Any:
    """Put a PEFT adapter on ``model``; with ``merge`` fold it into the weights and return the plain model.

    Raises:
        ModelLoadError: the adapter folder is missing or does not fit the base.
    """
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise ModelLoadError(f"adapter folder {adapter} has no adapter_config.json")
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter), adapter_name=name, is_trainable=False)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(f"cannot apply adapter {adapter}: {exc.__class__.__name__}") from exc
    peft_model.eval()
    return peft_model.merge_and_unload() if merge else peft_model


def load_openai_generator(
    base_url: str,
    model: str,
    *,
    api_key: str | None = None,
    timeout_s: float = 120.0,
    retries: int = 3,
    concurrency: int = 8,
) -> Generator:
    """An ``OpenAIGenerator`` (vLLM, llama.cpp server, Ollama, ``rtletter model serve``); the adapter is the model.
    ``concurrency`` requests stay in flight for a batch, so that vLLM batches a backfill."""
    from rtletter.model.backends.openai_http import OpenAIGenerator

    return OpenAIGenerator(
        base_url, model, api_key=api_key, timeout_s=timeout_s, retries=retries, concurrency=concurrency
    )


def _safe_name(case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", case_id).strip("_") or "case"


def draft_file(
    source: Path,
    generator: Generator,
    *,
    count_tokens: Any = None,
    max_new_tokens: int = 1024,
    prompt_tokens: int = PROMPT_TOKEN_BUDGET,
    site: Site | None = None,
    letter_date: date | None = None,
) -> list[tuple[str, Generation]]:
    """Map a FHIR/HL7 v2 case file, build each case's prompt and draft its letter.

    Args:
        source: the case file.
        generator: any ``Generator``.
        count_tokens: counts prompt tokens exactly (the local tokenizer); default the prompt module's estimate.
        max_new_tokens: the longest letter.
        prompt_tokens: the prompt's token budget.
        site: the model writes the body and ``compose_letter`` the letter around it (the agent's ``model.scaffold``);
            None: the model writes the whole letter.
        letter_date: the date line of the composed letter.

    Returns:
        (case id, generation) per case in the file; with a site the generation's text is the composed letter.

    Raises:
        MappingError: the file cannot be mapped.
    """
    from rtletter.mappers.load import load_cases
    from rtletter.mappers.prompt import build_messages
    from rtletter.mappers.scaffold import compose_letter

    cases = load_cases(Path(source).read_bytes())
    conversations = [
        list(build_messages(case, max_tokens=prompt_tokens, count_tokens=count_tokens, scaffold=site is not None))
        for case in cases
    ]
    generations = generator.generate(conversations, max_new_tokens=max_new_tokens)
    drafts = []
    for case, generation in zip(cases, generations, strict=True):
        if site is not None:
            generation = replace(generation, text=compose_letter(case, generation.text, site, letter_date=letter_date))
        drafts.append((case.case_id, generation))
    return drafts


def write_drafts(drafts: list[tuple[str, Generation]], out: Path) -> list[Path]:
    """One ``<case id>.txt`` per draft and a ``drafts.jsonl`` with token counts and timing, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with (out / "drafts.jsonl").open("a", encoding="utf-8") as log:
        for case_id, generation in drafts:
            path = out / f"{_safe_name(case_id)}.txt"
            path.write_text(generation.text + "\n", encoding="utf-8")
            written.append(path)
            log.write(json.dumps({"case_id": case_id, **asdict(generation)}, ensure_ascii=False) + "\n")
    return written
