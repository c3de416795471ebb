"""Drafts of the cases nobody on this project wrote: every radiotherapy course in ``tests/fixtures/external/`` (the
HL7 CodeX and mCODE examples, FHIR written by other systems), drafted by a base + adapter and by the template backend
side by side, each checked as the agent's worker checks a draft before posting it.

    .venv/bin/python bench/external_drafts.py                      # the demo's base and adapter (make demo first)
    .venv/bin/python bench/external_drafts.py --base DIR --adapter DIR --show xrts-04

Per course: the key facts the letter states (each volume's total dose, dose per fraction and fractions, the course's
start and end: ``key_facts``), whether a diagnosis code and the patient's family name are in the letter, the fact
check's findings (contradicted, unsupported, slot gaps), the draft gate (prompt text in the letter) and whether the
draft ended by itself, and whether its body keeps to one run of sections (``rtletter.mappers.letter.sections_over``:
at most 8 headings, none more than twice, the bounds of the site's letters; a draft that starts its sections over and
strews values through the repeats states its key facts without being a letter).

The fine-tuned model's drafts are shown three times: as first drafted (greedy), after redrafting (``--redraft``
sampled candidates for a faulted draft, ``rtletter.model.redraft``, the agent's ``model.redraft``), and as the agent
posts them, where a draft redrafting left faulted gives way to the site's template letter (``model.fallback``).
Redrafting ranks candidates by the same fact check this bench reads, and by the same non-words
(``rtletter.model.vocabulary``: body words of three letters or more that neither the site's training letters, its
letter templates nor the case's own prompt contain, "Bildgebjährlich", "entwickur"; the adapter's ``site_words.txt``,
or ``--words`` for an adapter trained before it was written). So its "correct" and its non-words say that one of the
candidates passed those checks.

Non-words are not part of "correct", and the wording beyond them (grammar, order) is not measured: ``--show`` prints
the letters. (The base model's mean negative log-likelihood per body token was tried as that measure and dropped: the
demo base, trained on other departments' letters, reads the site's own sentences as surprising, 19 nats for
"vorgesehen" in its follow-up sentence, so a clean five-line letter scored worse than 95 % of the site's letters.)

The external HL7 v2 samples (ADT, ORU, MDM, SIU ...) hold no radiotherapy course; their cases are counted and not
drafted, as the agent does not draft them either.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT / "tests" / "fixtures" / "external"
DEMO = ROOT / "var" / "demo"
MAX_NEW_TOKENS = 1024


@dataclass(frozen=True)
class Checked:
    """One draft of one course, as the worker's safety gate sees it."""

    system: str
    case_id: str
    key_facts: int
    stated: int
    code: bool  # a diagnosis code of the case is in the letter (True when the case has none)
    name: bool  # the patient's family name is in the letter
    contradicted: int
    unsupported: int  # statements the case does not back, slot gaps included
    gaps: int
    leak: str | None  # why the draft gate would refuse it, or None
    ended: bool
    headings: int  # section headings in the letter
    repeats: int  # the most times one heading is written
    over: int  # how far the headings go past a letter's bounds (``sections_over``)
    non_words: int = 0  # body words in neither the site's training letters nor the case's prompt

    @property
    def well_formed(self) -> bool:
        """The sections run once, as in the site's letters."""
        return not self.over

    @property
    def correct(self) -> bool:
        """Every key fact stated, code and name present, nothing contradicted or unsupported, no prompt text, the
        sections written once."""
        return (self.stated == self.key_facts and self.code and self.name and not self.contradicted
                and not self.unsupported and self.leak is None and self.well_formed)  # fmt: skip


def external_courses(folder: Path = EXTERNAL) -> tuple[list[tuple[str, Any]], list[str]]:
    """(file stem, case) of every external case with a radiotherapy course; and the files whose cases have none."""
    from rtletter.mappers.load import load_cases

    courses: list[tuple[str, Any]] = []
    without: list[str] = []
    for path in sorted((folder / "fhir").glob("*.json")) + sorted((folder / "hl7v2").iterdir()):
        for case in load_cases(path.read_bytes()):
            if case.course.volumes or case.course.phases:
                courses.append((path.stem, case))
            else:
                without.append(path.name)
    return courses, without


def train_words(train: Path) -> frozenset[str]:
    """The site's words from a training split, for an adapter that ships no word list (trained before it was
    written): the words of its letters (the completions) and of the letter templates."""
    from rtletter.model.vocabulary import letter_words, template_words

    lines = [line for line in train.read_text(encoding="utf-8").splitlines() if line.strip()]
    letters = (m["content"] for line in lines for m in json.loads(line)["completion"])
    return frozenset(letter_words(letters) | template_words())


def check(system: str, case: Any, letter: str, *, ended: bool, known: frozenset[str] = frozenset()) -> Checked:
    """Score one posted letter (slots filled, head and tail around the body) against its case; ``known``: the site's
    words (without them non-words are not counted)."""
    from rtletter.mappers.draft_gate import leaked_prompt
    from rtletter.mappers.letter import body_headings, sections_over
    from rtletter.model.evaluate.facts import check_draft, code_stated, key_facts
    from rtletter.model.vocabulary import non_words

    report = check_draft(case, letter)
    omitted = {(f.kind, f.value) for f in report.omitted}
    facts = key_facts(case)
    family = case.patient.family or ""
    headings = body_headings(letter)
    return Checked(
        system=system,
        case_id=case.case_id,
        key_facts=len(facts),
        stated=sum((f.kind, f.value) not in omitted for f in facts),
        code=code_stated(case, letter),
        name=bool(family) and family in letter,
        contradicted=sum(f.finding == "contradicted" for f in report.findings),
        unsupported=sum(f.finding == "unsupported" for f in report.findings),
        gaps=sum(f.kind == "slot" for f in report.findings),
        leak=leaked_prompt(letter),
        ended=ended,
        headings=len(headings),
        repeats=max(Counter(headings).values(), default=0),
        over=sections_over(letter),
        non_words=len(non_words(case, letter, known)) if known else 0,
    )


Drafted = list[tuple[str, str, bool]]  # (case id, posted letter, ended by itself) per course


def draft_all(
    backend: Any,
    courses: list[tuple[str, Any]],
    *,
    scaffold_body: bool,
    redraft: int = 0,
    known: frozenset[str] | None = None,
) -> tuple[Drafted, Drafted, Drafted, list[Any]]:
    """Each course drafted as the agent's worker drafts it: the prompt with slots, the body from the backend, slots
    filled and the demo site's head and tail around it. Returns the first drafts; the drafts after redrafting with
    ``redraft`` candidates (``rtletter.model.redraft``); the drafts as the agent posts them, where a draft redrafting
    left faulted gives way to the template letter (``fall_back``, the agent's ``model.fallback``); and the choices.
    ``known``: the site's words, for the wording fault."""
    from rtletter.demo.model_stage import demo_site
    from rtletter.mappers.draft import finish_draft
    from rtletter.mappers.prompt import build_messages
    from rtletter.model.backends.template import TemplateBackend
    from rtletter.model.redraft import fall_back
    from rtletter.model.redraft import redraft as redraft_all

    site = demo_site()
    cases = [case for _, case in courses]
    conversations = [build_messages(case, scaffold=scaffold_body, slots=True) for case in cases]
    generations = backend.generate(conversations, max_new_tokens=MAX_NEW_TOKENS)

    def finish(case: Any, text: str) -> str:
        return finish_draft(case, text, site, slots=True).letter

    def drafted(texts: list[Any]) -> Drafted:
        return [(c.case_id, finish(c, g.text), not g.truncated) for c, g in zip(cases, texts, strict=True)]

    redrafted = redraft_all(backend, conversations, cases, generations, finish=finish, candidates=redraft,
                            max_new_tokens=MAX_NEW_TOKENS, known=known)  # fmt: skip
    posted = redrafted
    if not isinstance(backend, TemplateBackend):
        plain = TemplateBackend(scaffold=scaffold_body)
        posted = fall_back(plain, conversations, cases, redrafted, finish=finish, known=known)
    return (drafted(generations), drafted([r.generation for r in redrafted]), drafted([r.generation for r in posted]),
            posted)  # fmt: skip


def _row(item: Checked) -> str:
    flags = [] if item.ended else ["cut off"]
    if not item.well_formed:
        flags.append(f"{item.headings} headings, one {item.repeats} times")
    if item.leak:
        flags.append(f"gate: {item.leak}")
    return (f"| {item.case_id} | {item.system} | {item.stated}/{item.key_facts} | {'yes' if item.code else 'no'} | "
            f"{'yes' if item.name else 'no'} | {item.contradicted} | {item.unsupported} ({item.gaps} gaps) | "
            f"{item.non_words} | {'yes' if item.correct else 'no'} {'; '.join(flags)} |")  # fmt: skip


def summary(system: str, rows: list[Checked]) -> str:
    n = len(rows)
    return (f"{system}: correct {sum(r.correct for r in rows)}/{n}, key facts {sum(r.stated for r in rows)}/"
            f"{sum(r.key_facts for r in rows)}, contradicted {sum(r.contradicted for r in rows)}, unsupported "
            f"{sum(r.unsupported for r in rows)}, ended {sum(r.ended for r in rows)}/{n}, sections once "
            f"{sum(r.well_formed for r in rows)}/{n}, refused by the gate "
            f"{sum(bool(r.leak) for r in rows)}; non-words {sum(r.non_words for r in rows)} "
            f"(drafts with none {sum(not r.non_words for r in rows)}/{n})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, default=DEMO / "base")
    parser.add_argument("--adapter", type=Path, default=DEMO / "adapter")
    parser.add_argument("--show", default="", help="print the letters of the case ids that contain this text")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--words",
        type=Path,
        default=DEMO / "dataset" / "train.jsonl",
        help="for an adapter without site_words.txt: the training split whose letters give the site's words",
    )
    parser.add_argument(
        "--redraft",
        type=int,
        default=8,
        help="sampled candidates per faulted draft, as model.redraft (0: first drafts only)",
    )
    args = parser.parse_args(argv)
    if not (args.base / "config.json").is_file():
        print(f"error: no base model in {args.base}: run `make demo` first, or pass --base", file=sys.stderr)
        return 2

    from rtletter.model.backends.local import load_local_backend
    from rtletter.model.backends.template import TemplateBackend
    from rtletter.model.components.loading import set_offline
    from rtletter.model.vocabulary import non_words, site_words

    set_offline()
    courses, without = external_courses()
    adapter = args.adapter if (args.adapter / "adapter_config.json").is_file() else None
    known = site_words(adapter) or (train_words(args.words) if args.words.is_file() else frozenset())
    model = "fine-tuned" if adapter else "base"
    backends = {model: load_local_backend(args.base, adapter, batch_size=len(courses)),
                "template": TemplateBackend(scaffold=True)}  # fmt: skip
    rows: list[Checked] = []
    letters: dict[tuple[str, str], str] = {}
    systems: list[str] = []
    for name, backend in backends.items():
        first, redrafted, posted, chosen = draft_all(backend, courses, scaffold_body=True, redraft=args.redraft,
                                                     known=known or None)  # fmt: skip
        runs = {name: first}
        if name == model:
            if args.redraft:
                runs[f"{name}, redrafted"] = redrafted
            runs[f"{name}, as posted"] = posted
            faulted = [r for r in chosen if not r.first.clean]
            print(f"{name}: {len(faulted)} of {len(chosen)} first drafts faulted, {args.redraft} candidates each; "
                  f"a sampled draft better for {sum(r.picked > 0 for r in chosen)}; the template letter posted "
                  f"for {sum(r.fell_back for r in chosen)}")  # fmt: skip
        for system, drafts in runs.items():
            systems.append(system)
            for (case_id, letter, ended), (_, case) in zip(drafts, courses, strict=True):
                rows.append(check(system, case, letter, ended=ended, known=known))
                letters[(case_id, system)] = letter

    print(f"{len(courses)} radiotherapy courses in {len(set(stem for stem, _ in courses))} external files; "
          f"{len(without)} external files hold no course and are not drafted ({', '.join(without)})")  # fmt: skip
    if not known:
        print(f"non-words not counted: no site_words.txt in the adapter, no training split at {args.words}")
    print("\n| course | system | key facts stated | code | name | contradicted | unsupported | non-words | correct |")
    print("|---|---|---|---|---|---|---|---|---|")
    for item in sorted(rows, key=lambda r: (r.case_id, r.system)):
        print(_row(item))
    print()
    for system in systems:
        print(summary(system, [r for r in rows if r.system == system]))
    if args.show:
        for (case_id, system), letter in letters.items():
            if args.show in case_id:
                case = next(c for _, c in courses if c.case_id == case_id)
                unknown = ", ".join(non_words(case, letter, known)) if known else "not counted"
                print(f"\n===== {case_id} ({system}) =====\n{letter}\nnon-words: {unknown or 'none'}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ | {"correct": r.correct} for r in rows], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
