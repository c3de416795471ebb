"""``rtletter demo``: the main job on embedded defaults, end to end, on synthetic patients.

Stages (``--stage all|mapping|model|agent``; each reuses what an earlier run left in the work folder):
1. mapping: synthesize a cohort, map every patient from FHIR and from HL7 v2, check both give the same facts, print a
   table and one prompt;
2. model: build the demo base, the dataset, a QLoRA adapter, and compare base and fine-tuned on the held-out cases
   (``model_stage``) and print the draft goals it still misses; fails when the fine-tuned model does not beat its
   base, and then the agent stage does not run;
3. agent (behind stage 2's gate, which ``--stage agent`` runs too): the sandbox FHIR server with the finished
   courses, the agent drafting with base + adapter until each course has a draft in the server (``agent_stage``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rtletter.demo.kernels import pin_cpu_kernels
from rtletter.demo.timings import Timings
from rtletter.mappers.case import Case, format_gy

DEMO_DIR = Path("var/demo")
DEMO_PATIENTS = 220  # 21 of them held out (the split is by a hash of the id): the draft goals need >= 20
DEMO_SEED = 7
DEMO_COURSES = 8  # held-out patients first: one batch, about 25 s on 2 idle cores (--courses 0: all 220)
STAGES = ("all", "mapping", "model", "agent")
# What --fresh removes: only the demo's own folders, whatever --work points at.
DEMO_FOLDERS = ("cohort", "base", "base.partial", "dataset", "adapter", "eval", "agent")


@dataclass(frozen=True)
class MappedPatient:
    patient_id: str
    entity: str
    fhir: Case
    v2: Case

    @property
    def same_facts(self) -> bool:
        return set(self.fhir.facts()) == set(self.v2.facts())


def map_cohort(cohort: Path) -> list[MappedPatient]:
    """Map every patient of a cohort folder from both its FHIR bundle and its HL7 v2 message."""
    import json

    from rtletter.mappers.load import load_cases

    manifest = json.loads((cohort / "manifest.json").read_text(encoding="utf-8"))
    mapped = []
    for entry in manifest["patients"]:
        folder = cohort / entry["patient_id"]
        fhir_cases = load_cases((folder / "bundle.json").read_bytes())
        v2_cases = load_cases((folder / "course.hl7").read_bytes())
        mapped.append(MappedPatient(entry["patient_id"], entry["entity"], fhir_cases[-1], v2_cases[-1]))
    return mapped


def _dose_summary(case: Case) -> str:
    parts = []
    for volume in case.course.volumes:
        if volume.total_dose_gy is None:
            continue
        fractions = f"/{volume.fractions_delivered}" if volume.fractions_delivered else ""
        parts.append(f"{format_gy(volume.total_dose_gy)} Gy{fractions}")
    return ", ".join(parts) or "-"


def print_mapping_table(console: Console, mapped: list[MappedPatient]) -> None:
    table = Table(title="Synthetic cohort mapped from FHIR and HL7 v2")
    for column in ("patient", "entity", "status", "dose / fractions", "facts", "FHIR = HL7 v2"):
        table.add_column(column)
    for item in mapped:
        case = item.fhir
        table.add_row(
            item.patient_id,
            item.entity,
            case.course.status.value,
            _dose_summary(case),
            str(len(case.facts())),
            "yes" if item.same_facts else "[red]NO[/red]",
        )
    console.print(table)


def mapping_stage(console: Console, cohort: Path) -> int:
    from rtletter.mappers.prompt import build_messages, render_chat

    mapped = map_cohort(cohort)
    print_mapping_table(console, mapped)
    mismatches = [m.patient_id for m in mapped if not m.same_facts]
    console.print(f"{len(mapped)} patients mapped; FHIR and HL7 v2 facts differ for {len(mismatches)}.")
    console.rule("One prompt (Llama-3 chat format)")
    from rtletter.demo.model_stage import FACT_SLOTS

    console.print(render_chat(build_messages(mapped[0].fhir, slots=FACT_SLOTS)), markup=False, highlight=False)
    return 1 if mismatches else 0


def _agent(
    console: Console, work: Path, cohort: Path, artifacts: Any, *, courses: int | None, keep: bool, timings: Timings
) -> list[str]:
    from rtletter.demo.agent_stage import agent_stage, select_patients

    console.rule("3. The agent: sandbox FHIR server, drafts for the finished courses")
    chosen = select_patients(cohort, courses)
    every = select_patients(cohort, None)
    if len(chosen) < len(every):
        console.print(
            f"drafting {len(chosen)} of the {len(every)} finished courses (held-out patients first) to keep "
            "the demo short on CPU; --courses 0 drafts them all"
        )
    from rtletter.demo.model_stage import DEMO_REDRAFT, demo_site

    site = demo_site()
    model = {
        "backend": "local",
        "base_dir": str(artifacts.base.resolve()),
        "adapter_dir": str(artifacts.adapter.resolve()),
        "max_new_tokens": artifacts.max_new_tokens,
        # fewer sampled candidates for a faulted draft than the agent's 8: on 2 CPU cores each costs seconds
        "redraft": DEMO_REDRAFT,
        # the department's letter template writes around the body the model drafts, as in the evaluation
        "letterhead": {
            "institution": site.institution,
            "department": site.department,
            "head": site.head,
            "town": site.town,
        },  # fmt: skip
    }
    result = agent_stage(console, work, cohort, model=model, patients=chosen, keep=keep, timings=timings)
    return [] if result.ok else ["agent: not every course has a draft, or the log holds patient data"]


def run_demo(
    work: Path = DEMO_DIR,
    *,
    stage: str = "all",
    patients: int = DEMO_PATIENTS,
    seed: int = DEMO_SEED,
    courses: int | None = DEMO_COURSES,
    fresh: bool = False,
    keep: bool = False,
    console: Console | None = None,
) -> int:
    """Run the demo stages; returns a process exit code (1 when a stage's check fails).

    Args:
        work: work folder, reused between runs.
        stage: ``all``, ``mapping``, ``model`` or ``agent``.
        patients: synthetic patients in the cohort.
        seed: the cohort's seed.
        courses: finished courses the agent drafts (held-out patients first); None: all of them.
        fresh: remove the demo's folders under ``work`` first (base model and adapter included).
        keep: leave the FHIR server running after the agent stage until Ctrl-C.
    """
    from rtletter.demo.cohort import write_cohort

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}")
    pin_cpu_kernels()  # before torch's first operation: the same weights and scores on every x86 machine
    if console is None:
        console = Console()
        if not console.is_terminal:  # a log file or CI: rich's 80 columns would fold every id in the tables
            console = Console(width=160)
    if fresh:
        for name in DEMO_FOLDERS:
            shutil.rmtree(work / name, ignore_errors=True)
    timings = Timings()
    failed: list[str] = []

    cohort = work / "cohort"
    console.rule("1. Synthetic cohort and mapping")
    with timings.measure("cohort + mapping"):
        console.print(write_cohort(cohort, n=patients, seed=seed, lang="de"))
        if stage in ("all", "mapping") and mapping_stage(console, cohort):
            failed.append("mapping: FHIR and HL7 v2 facts differ")

    if stage in ("all", "model", "agent"):
        from rtletter.demo.model_stage import model_stage

        # The agent stage only runs behind this gate: a model that does not beat its base posts nothing.
        console.rule("2. Demo base model, QLoRA fine-tuning, base vs fine-tuned")
        artifacts = model_stage(console, work, cohort, timings)
        if artifacts.shortfalls:
            failed.append("model: the fine-tuned model does not beat its base; the agent stage did not run")
        elif stage in ("all", "agent"):
            failed.extend(_agent(console, work, cohort, artifacts, courses=courses, keep=keep, timings=timings))

    console.rule("Summary")
    console.print(timings.table())
    for line in failed:
        console.print(f"[red]FAILED[/red] {line}")
    if not failed:
        console.print("[green]demo passed[/green]")
    return 1 if failed else 0
