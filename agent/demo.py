"""``rtletter demo``: the main job on embedded defaults, end to end, on synthetic patients.

Stages (each reuses what an earlier run left in the work folder):
1. synthesize a cohort, map every patient from FHIR and from HL7 v2, check both give the same facts, print a table
   and one prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rtletter.mappers.case import Case
from rtletter.mappers.case import format_gy as _gy

DEMO_DIR = Path("var/demo")
DEMO_PATIENTS = 60
DEMO_SEED = 7


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
        parts.append(f"{_gy(volume.total_dose_gy)} Gy{fractions}")
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


def run_demo(work: Path = DEMO_DIR, *, patients: int = DEMO_PATIENTS, seed: int = DEMO_SEED) -> int:
    """Run every demo stage; returns a process exit code."""
    from rtletter.agent.cohort import write_cohort
    from rtletter.mappers.prompt import build_messages, render_chat

    console = Console()
    cohort = work / "cohort"
    console.rule("1. Synthetic cohort and mapping")
    console.print(write_cohort(cohort, n=patients, seed=seed, lang="de"))
    mapped = map_cohort(cohort)
    print_mapping_table(console, mapped)
    mismatches = [m.patient_id for m in mapped if not m.same_facts]
    console.print(f"{len(mapped)} patients mapped; FHIR and HL7 v2 facts differ for {len(mismatches)}.")
    console.rule("One prompt (Llama-3 chat format)")
    console.print(render_chat(build_messages(mapped[0].fhir)), markup=False, highlight=False)
    return 1 if mismatches else 0
