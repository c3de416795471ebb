"""Redrafting: a draft the fact check faults is drafted again by sampling, and the candidate with the fewest faults
is the one posted.

The first draft is greedy. Only a faulted one is redrafted: ``candidates`` sampled drafts of the same prompt
(``Samples.sample``), each filled and checked as the worker checks a draft (``faults``). Faults rank in this order:
prompt text in the draft (never posted), contradicted statements, a draft cut off at the token cap, then the count
of everything else a reviewer would mark (unsupported statements and slot gaps, key facts left out, no diagnosis code
of the case, sections started over: ``rtletter.mappers.letter.sections_over``), and last the wording: the body's
words that neither the site's letters nor the case contain (``rtletter.model.vocabulary``, when the adapter ships
its word list). Facts rank before wording: a reader sees a garbled word, not a missing dose. On a tie the earlier
candidate wins, the greedy draft first: a redraft must be better, not only different. Reranking candidates by their
semantic errors is how data-to-text systems have long used a checker (TGen, Dušek & Jurčíček 2016; most E2E NLG
Challenge systems).

A draft still faulted after redrafting can give way to the site's template letter (``fall_back``, the agent's
``model.fallback``): the template backend writes every fact of the case in the site's own sentences, so it is the
better draft to correct whenever the model's best is faulted.

The check is the one the worker stores with the draft, so a redrafted draft's findings are still shown. Beyond
non-words, redrafting cannot see wording: grammar and order only a reader sees (``bench/external_drafts.py
--show`` prints the letters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rtletter.mappers.case import Case
from rtletter.mappers.draft_gate import leaked_prompt
from rtletter.mappers.letter import sections_over
from rtletter.model.backends.base import Backend, Generation, Message, Samples
from rtletter.model.evaluate.facts import check_draft, code_stated
from rtletter.model.vocabulary import non_words


@dataclass(frozen=True, order=True)
class Faults:
    """What is wrong with one draft, ordered worst first: compare two with ``<``."""

    leaked: bool  # prompt instructions, chat-template tokens or the facts block: the job fails, nothing is posted
    contradicted: int
    truncated: bool
    other: int  # unsupported statements and slot gaps, key facts and diagnosis codes left out, sections over
    wording: int = 0  # non-words: body words in neither the site's letters nor the case (0 without a word list)

    @property
    def clean(self) -> bool:
        return self == Faults(False, 0, False, 0, 0)

    def describe(self) -> str:
        """PHI-free: counts only."""
        return (f"leaked {str(self.leaked).lower()}, contradicted {self.contradicted}, truncated "
                f"{str(self.truncated).lower()}, other {self.other}, non-words {self.wording}")  # fmt: skip


@dataclass(frozen=True)
class Redrafted:
    """The draft to post, and how it was chosen."""

    generation: Generation
    faults: Faults
    first: Faults  # the greedy draft's
    candidates: int  # sampled drafts drawn; 0 when the first draft had no fault or the backend cannot sample
    picked: int  # 0: the first draft; k: the k-th sampled draft
    model_faults: Faults | None = None  # the template letter posted (``fall_back``): the model's best draft's faults

    @property
    def fell_back(self) -> bool:
        return self.model_faults is not None


def faults(case: Case, letter: str, generation: Generation, known: frozenset[str] | None = None) -> Faults:
    """The faults of one draft: ``generation`` as the backend returned it, ``letter`` as it would be posted (slots
    filled, the site's head and tail around the body); ``known``: the site's words (None: wording is not counted)."""
    report = check_draft(case, letter)
    return Faults(
        leaked=leaked_prompt(generation.text) is not None,
        contradicted=report.contradicted,
        truncated=generation.truncated,
        other=report.unsupported
        + len(report.omitted)
        + (not code_stated(case, letter))
        + len(generation.unknown_slots)
        + sections_over(letter),
        wording=len(non_words(case, letter, known)) if known is not None else 0,
    )


def redraft(
    backend: Backend,
    conversations: list[list[Message]],
    cases: list[Case],
    generations: list[Generation],
    *,
    finish: Callable[[Case, str], str],
    candidates: int,
    max_new_tokens: int = 1024,
    seed: int = 0,
    known: frozenset[str] | None = None,
) -> list[Redrafted]:
    """Redraft every faulted first draft; one ``Redrafted`` per conversation, in order.

    Args:
        backend: the backend that wrote ``generations``; without ``sample`` nothing is redrafted.
        conversations: the prompts, as given to ``generate``.
        cases: the case of each conversation.
        generations: the first (greedy) drafts.
        finish: the posted letter for a case and a generated text (the worker's: slots filled, the site's letter).
        candidates: sampled drafts per faulted draft; 0 switches redrafting off.
        max_new_tokens: the longest draft.
        seed: the sampling seed (the same seed and batch give the same redrafts).
        known: the site's words (``rtletter.model.vocabulary.site_words``); None: non-words are not counted.
    """
    firsts = [faults(case, finish(case, g.text), g, known) for case, g in zip(cases, generations, strict=True)]
    out = [Redrafted(g, f, f, 0, 0) for g, f in zip(generations, firsts, strict=True)]
    todo = [i for i, f in enumerate(firsts) if not f.clean]
    if not todo or candidates < 1 or not isinstance(backend, Samples):
        return out
    drawn = backend.sample([conversations[i] for i in todo], n=candidates, max_new_tokens=max_new_tokens, seed=seed)
    for i, samples in zip(todo, drawn, strict=True):
        out[i] = Redrafted(generations[i], firsts[i], firsts[i], len(samples), 0)
        if samples:
            picked, fewest, generation = best(cases[i], samples, finish=finish, known=known)
            if fewest < firsts[i]:  # a tie keeps the first draft
                out[i] = Redrafted(generation, fewest, firsts[i], len(samples), picked)
    return out


def fall_back(
    fallback: Backend,
    conversations: list[list[Message]],
    cases: list[Case],
    chosen: list[Redrafted],
    *,
    finish: Callable[[Case, str], str],
    known: frozenset[str] | None = None,
) -> list[Redrafted]:
    """The site's template letter (``fallback``: the template backend) in place of each model draft that redrafting
    left faulted, where the template letter has fewer faults; ``Redrafted.model_faults`` keeps the model draft's
    faults for the audit. A template letter states every fact of the case in the site's own sentences: a physician
    is better served by it than by a draft with a wrong value, a missing dose or words no letter of the site has."""
    out = list(chosen)
    stuck = [i for i, r in enumerate(chosen) if not r.faults.clean]
    if not stuck:
        return out
    written = fallback.generate([conversations[i] for i in stuck])
    for i, generation in zip(stuck, written, strict=True):
        plain = faults(cases[i], finish(cases[i], generation.text), generation, known)
        if plain < chosen[i].faults:
            out[i] = replace(chosen[i], generation=generation, faults=plain, model_faults=chosen[i].faults)
    return out


def best(
    case: Case, drafts: list[Generation], *, finish: Callable[[Case, str], str], known: frozenset[str] | None = None
) -> tuple[int, Faults, Generation]:
    """(k, faults, draft) of the draft with the fewest faults, the earliest on a tie; k counts from 1."""
    scored = [(faults(case, finish(case, d.text), d, known), k, d) for k, d in enumerate(drafts, start=1)]
    fewest, k, draft = min(scored, key=lambda item: (item[0], item[1]))
    return k, fewest, draft
