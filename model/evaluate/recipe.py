"""Evaluation recipe: draft every test case with the fine-tuned and the base model, score the drafts, write a report.

Features and the argument that turns each on:
- fine-tuned drafts: base + LoRA adapter (``adapter``), through ``rtletter.model.backends.load_local_backend``;
- base-model drafts for comparison (``baseline=True``), same loading code without the adapter;
- template-backend drafts (``template=True``): the site's letter written from the case without a model, the honest
  baseline a model has to beat (``rtletter.model.backends.template``);
- redrafted drafts (``redraft=N``): each faulted fine-tuned draft drafted again with N sampled candidates and the
  one with the fewest faults kept, as the agent's worker drafts (``rtletter.model.redraft``), as the system
  ``redrafted``; the template letter the agent may post in place of a draft still faulted is not counted there;
- scoring drafts that already exist (``drafts=FILE``): no model is loaded;
- a quick run on the first N cases (``limit``);
- physician ratings aggregated by ``rtletter eval import`` (``physician=FILE``) go into the report;
- the letter template around the model's body (``site``, ``rtletter.mappers.scaffold``) for data built for it (records
  with a ``letter``): the draft is the letter as the agent would post it, dated the course's last day, and the body
  is kept beside it for the body scores.

Outputs in ``out``: ``drafts.jsonl`` (when generated), ``scores.json``, ``report.md`` with its PNGs, ``report.html``.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rtletter.mappers.case import Case
from rtletter.mappers.draft import finish_draft
from rtletter.mappers.scaffold import Site
from rtletter.model.backends.base import Backend, Generation
from rtletter.model.backends.local import load_local_backend
from rtletter.model.dataset import Record, case_from_record
from rtletter.model.evaluate.report import write_report
from rtletter.model.evaluate.scores import (
    FREE_TEXT,
    REDRAFTED,
    Draft,
    Evaluation,
    EvaluationError,
    evaluate_drafts,
    read_data,
    read_drafts,
    write_drafts,
)

# The default is the local transformers backend: greedy, stopping at the end-of-turn token.
BackendFactory = Callable[[Path, Path | None], Backend]
MAX_NEW_TOKENS = 1024
BATCH_SIZE = 4


def base_of_adapter(adapter: Path) -> Path:
    """The base model folder a PEFT adapter was trained on (``adapter_config.json: base_model_name_or_path``).

    Raises:
        EvaluationError: no adapter config, or it names no base model.
    """
    config_path = adapter / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluationError(f"{config_path}: not found (is {adapter} a PEFT adapter folder?)") from None
    except json.JSONDecodeError:
        raise EvaluationError(f"{config_path}: not valid JSON") from None
    base = config.get("base_model_name_or_path")
    if not base:
        raise EvaluationError(f"{config_path}: no base_model_name_or_path; pass --base")
    return Path(base)


class EvaluationRecipe:
    """Reads top to bottom: ``setup()`` loads the data (and existing drafts), ``generate()`` drafts with each model,
    ``score()`` applies the metrics, ``save()`` writes drafts, scores and the report."""

    def __init__(
        self,
        data: Path,
        *,
        base: Path | None,
        adapter: Path | None,
        baseline: bool,
        out: Path,
        limit: int | None = None,
        drafts: Path | None = None,
        physician: Path | None = None,
        backend_factory: BackendFactory = load_local_backend,
        max_new_tokens: int = MAX_NEW_TOKENS,
        batch_size: int = BATCH_SIZE,
        site: Site | None = None,
        template: bool = False,
        free_text: Path | None = None,
        redraft: int = 0,
    ) -> None:
        self.data, self.base, self.adapter, self.baseline = data, base, adapter, baseline
        self.template, self.redraft = template, redraft
        self.free_text_path = free_text  # drafts.jsonl of an adapter trained without fact slots, same test cases
        self.out, self.limit, self.drafts_path, self.physician_path = out, limit, drafts, physician
        self.backend_factory, self.max_new_tokens, self.batch_size = backend_factory, max_new_tokens, batch_size
        self.site = site or Site()
        self.records: list[Record] = []
        self.drafts: list[Draft] = []
        self.physician: dict[str, Any] | None = None
        self.evaluation: Evaluation | None = None

    def setup(self) -> None:
        # Data first: every later step checks against its case ids.
        self.records = read_data(self.data, self.limit)
        if self.physician_path is not None:
            try:
                self.physician = json.loads(self.physician_path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise EvaluationError(f"{self.physician_path}: not found") from None
            except json.JSONDecodeError:
                raise EvaluationError(f"{self.physician_path}: not valid JSON") from None
        if self.drafts_path is not None:
            drafts = read_drafts(self.drafts_path)
            if self.limit:  # a limited run scores only the drafts of the cases it kept
                keep = {r["id"] for r in self.records}
                drafts = [d for d in drafts if d.id in keep]
            self.drafts = drafts
            return
        if self.adapter is None and not self.baseline:
            if self.template:
                return
            raise EvaluationError("nothing to evaluate: give --adapter, --baseline or --drafts")
        if self.base is None:
            if self.adapter is None:
                raise EvaluationError("--baseline without --adapter needs --base")
            self.base = base_of_adapter(self.adapter)

    def _generate_with(self, system: str, adapter: Path | None) -> list[Draft]:
        assert self.base is not None
        generator = self.backend_factory(self.base, adapter)
        drafts: list[Draft] = []
        firsts: list[Generation] = []
        for start in range(0, len(self.records), self.batch_size):
            batch = self.records[start : start + self.batch_size]
            generations = generator.generate([r["prompt"] for r in batch], max_new_tokens=self.max_new_tokens)
            if len(generations) != len(batch):
                raise EvaluationError(f"the {system} generator returned {len(generations)} drafts for {len(batch)}")
            drafts += [
                self._draft(record, system, generation) for record, generation in zip(batch, generations, strict=True)
            ]
            firsts += generations
        if adapter is not None and self.redraft:
            drafts += self._redrafted(generator, adapter, firsts)
        del generator  # one model in memory at a time
        gc.collect()
        return drafts

    def _redrafted(self, generator: Backend, adapter: Path, firsts: list[Generation]) -> list[Draft]:
        """The fine-tuned first drafts after redrafting, ranked by the site's words the adapter ships, as the agent
        ranks them; a draft without a fault is its first draft."""
        from rtletter.model.redraft import redraft
        from rtletter.model.vocabulary import site_words

        cases = [case_from_record(r) for r in self.records]
        record_of = {id(case): record for case, record in zip(cases, self.records, strict=True)}

        def letter(case: Case, text: str) -> str:  # as ``_draft`` scores it
            return self._finish(record_of[id(case)], text)[0]

        chosen = redraft(generator, [r["prompt"] for r in self.records], cases, firsts, finish=letter,
                         candidates=self.redraft, max_new_tokens=self.max_new_tokens,
                         known=site_words(adapter))  # fmt: skip
        return [self._draft(r, REDRAFTED, c.generation) for r, c in zip(self.records, chosen, strict=True)]

    def _generate_template(self) -> list[Draft]:
        """The template backend's drafts: it reads the case, so each record's case is prompted again (same messages)."""
        from rtletter.mappers.prompt import build_messages
        from rtletter.model.backends.template import TemplateBackend

        drafts = []
        for record in self.records:
            scaffold = "letter" in record
            messages = build_messages(case_from_record(record), scaffold=scaffold)
            generation = TemplateBackend(scaffold=scaffold).generate([messages])[0]
            drafts.append(replace(self._draft(record, "template", generation), truncated=None))  # no end-of-turn
        return drafts

    def _draft(self, record: Record, system: str, generation: Generation) -> Draft:
        """A generation as the draft to score: for data built for the scaffold, the letter the agent would post (the
        site's head and tail around the body that was written) with the body kept beside it."""
        text, body = self._finish(record, generation.text)
        return Draft(
            id=record["id"],
            system=system,
            text=text,
            model=generation.model,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            seconds=round(generation.seconds, 3),
            body=body,
            truncated=generation.truncated,
        )

    def _finish(self, record: Record, text: str) -> tuple[str, str | None]:
        """(the letter, the body) of a generated text: for data built for the scaffold the site's head and tail
        around the body, with slots filled where the adapter was trained with them; else the text as it is."""
        slots = bool(record.get("slots"))  # the mode of the data the adapter was trained on
        if "letter" not in record and not slots:
            return text, None
        case = case_from_record(record)
        site = self.site if "letter" in record else None
        finished = finish_draft(case, text, site, slots=slots, letter_date=case.course.end)
        return finished.letter, finished.body if "letter" in record else None

    def generate(self) -> None:
        if self.drafts_path is not None:
            return
        if self.adapter is not None:
            self.drafts += self._generate_with("finetuned", self.adapter)
        if self.baseline:
            self.drafts += self._generate_with("base", None)
        if self.template:
            self.drafts += self._generate_template()

    def score(self) -> Evaluation:
        if self.free_text_path is not None:  # its fine-tuned drafts as a system of their own, paired with ours
            keep = {r["id"] for r in self.records}
            theirs = [d for d in read_drafts(self.free_text_path) if d.system == "finetuned" and d.id in keep]
            if not theirs:
                raise EvaluationError(f"{self.free_text_path}: no fine-tuned drafts of these test cases")
            self.drafts = [d for d in self.drafts if d.system != FREE_TEXT] + [
                replace(d, system=FREE_TEXT) for d in theirs
            ]
        self.evaluation = evaluate_drafts(self.records, self.drafts, physician=self.physician)
        return self.evaluation

    def save(self) -> tuple[Path, Path]:
        assert self.evaluation is not None
        self.out.mkdir(parents=True, exist_ok=True)
        if self.drafts_path is None:
            write_drafts(self.out / "drafts.jsonl", self.drafts)
        scores = json.dumps(self.evaluation.to_json(), indent=2, ensure_ascii=False)
        (self.out / "scores.json").write_text(scores + "\n", encoding="utf-8")
        return write_report(self.evaluation, self.out)


def evaluate(
    data: Path,
    *,
    base: Path | None,
    adapter: Path | None,
    baseline: bool,
    out: Path,
    limit: int | None = None,
    drafts: Path | None = None,
    physician: Path | None = None,
    backend_factory: BackendFactory = load_local_backend,
    max_new_tokens: int = MAX_NEW_TOKENS,
    site: Site | None = None,
    template: bool = False,
    free_text: Path | None = None,
    batch_size: int = BATCH_SIZE,
    redraft: int = 0,
) -> Evaluation:
    """Generate (or read) drafts for ``data``, score them and write the report into ``out``; ``site`` is the
    letterhead of the letters composed around the bodies (none: no letterhead lines); ``template`` adds the template
    backend as a third system; ``free_text`` (the drafts.jsonl of an evaluation of an adapter trained without fact
    slots, on the same test cases) adds its fine-tuned drafts as the system ``free-text``, paired with this one;
    ``redraft`` (sampled candidates per faulted fine-tuned draft) adds the system ``redrafted``."""
    recipe = EvaluationRecipe(
        data,
        base=base,
        adapter=adapter,
        baseline=baseline,
        out=out,
        limit=limit,
        drafts=drafts,
        physician=physician,
        backend_factory=backend_factory,
        max_new_tokens=max_new_tokens,
        site=site,
        template=template,
        free_text=free_text,
        batch_size=batch_size,
        redraft=redraft,
    )
    recipe.setup()
    recipe.generate()
    evaluation = recipe.score()
    recipe.save()
    return evaluation


__all__: Sequence[str] = ["EvaluationRecipe", "evaluate", "base_of_adapter"]
