"""How the drafts end the course: stopped and completed courses of patients the model never saw, drafted by a base +
adapter, and whether each letter states the end the case records.

    .venv/bin/python bench/course_end.py                 # the demo's base and adapter (make demo first)
    .venv/bin/python bench/course_end.py --patients 300 --seed 31 --show SYN03100012

The demo's held-out patients are all completed courses (13 of its 220 courses stopped, all in training), so its
report cannot show the error the letter domain forbids most: a stopped course told as completed. Here every stopped
course of a fresh synthetic cohort (its own seed, mapped from its FHIR bundle as the agent maps it) is drafted, with
as many completed ones beside it. Per status: drafts with the fact check's status finding (an early stop of a completed
course, a stopped course "wie geplant abgeschlossen"), and stopped courses whose draft states the stop at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "var" / "demo"
MAX_NEW_TOKENS = 1024


def courses(patients: int, seed: int) -> tuple[list[Any], list[Any]]:
    """(stopped, completed) cases of a fresh cohort, mapped from FHIR; as many completed as stopped."""
    from rtletter.demo.synth.generate import generate_cohort
    from rtletter.mappers.case import CourseStatus
    from rtletter.mappers.load import load_cases

    cases = [load_cases(json.dumps(p.bundle).encode())[-1] for p in generate_cohort(patients, seed)]
    stopped = [c for c in cases if c.course.status is CourseStatus.stopped]
    completed = [c for c in cases if c.course.completed_as_planned][: len(stopped)]
    return stopped, completed


def judge(case: Any, letter: str) -> tuple[list[str], bool]:
    """(the fact check's status findings, whether the letter states a stop at all, in the words the check reads as
    one)."""
    from rtletter.model.evaluate.context import EARLY_STOP
    from rtletter.model.evaluate.facts import check_draft

    wrong = [f.value for f in check_draft(case, letter).findings if f.kind == "status"]
    return wrong, bool(EARLY_STOP.search(letter))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, default=DEMO / "base")
    parser.add_argument("--adapter", type=Path, default=DEMO / "adapter")
    parser.add_argument("--patients", type=int, default=300, help="synthetic patients drawn (about 6 %% stop)")
    parser.add_argument("--seed", type=int, default=31, help="not the demo cohort's seed (7)")
    parser.add_argument("--show", default="", help="print the letters of the case ids that contain this text")
    args = parser.parse_args(argv)
    if not (args.base / "config.json").is_file():
        print(f"error: no base model in {args.base}: run `make demo` first, or pass --base", file=sys.stderr)
        return 2

    from rtletter.demo.model_stage import demo_site
    from rtletter.mappers.draft import finish_draft
    from rtletter.mappers.prompt import build_messages
    from rtletter.model.backends.local import load_local_backend
    from rtletter.model.components.loading import set_offline

    set_offline()
    stopped, completed = courses(args.patients, args.seed)
    drafted = stopped + completed
    adapter = args.adapter if (args.adapter / "adapter_config.json").is_file() else None
    backend = load_local_backend(args.base, adapter, batch_size=len(drafted))
    generations = backend.generate([build_messages(c, scaffold=True, slots=True) for c in drafted],
                                   max_new_tokens=MAX_NEW_TOKENS)  # fmt: skip
    site = demo_site()
    rows = []
    for case, generation in zip(drafted, generations, strict=True):
        letter = finish_draft(case, generation.text, site, slots=True).letter
        wrong, said = judge(case, letter)
        rows.append((case, letter, wrong, said, not generation.truncated))
        if args.show and args.show in case.case_id:
            print(f"\n===== {case.case_id} ({case.course.status.value}) =====\n{letter}")
    print(f"{len(stopped)} stopped and {len(completed)} completed courses of {args.patients} patients (seed "
          f"{args.seed}), drafted by {'base + adapter' if adapter else 'the base alone'}")  # fmt: skip
    print("\n| course | status | stop stated | status finding | ended |\n|---|---|---|---|---|")
    for case, _, wrong, said, ended in rows:
        print(f"| {case.case_id} | {case.course.status.value} | {'yes' if said else 'no'} | "
              f"{'; '.join(wrong) or '-'} | {'yes' if ended else 'no'} |")  # fmt: skip
    for label, group in (("stopped", rows[: len(stopped)]), ("completed", rows[len(stopped) :])):
        print(
            f"{label}: stop stated {sum(r[3] for r in group)}/{len(group)}, status findings "
            f"{sum(bool(r[2]) for r in group)}/{len(group)}, ended {sum(r[4] for r in group)}/{len(group)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
