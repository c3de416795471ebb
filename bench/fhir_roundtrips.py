"""Non-model cost per case against the sandbox FHIR server (sekmet-fhir): cases/s and HTTP round trips per case.

The goal (issue 4, section 11) is <= 3 round trips per case: a share of a search page, one context fetch (one batch),
one write-back transaction. To isolate the FHIR side, the letter comes from a ZERO-COST GENERATOR: a trivial function
that writes a fixed-format text from the case (no model, no prompt). Its time is included and negligible.

    .venv/bin/python bench/fhir_roundtrips.py --n 50 --seed 7

Starts its own sekmet-fhir (``.sandbox``) in a temporary folder, loads the synthetic cohort's FHIR bundles, then runs
poll -> fetch_context -> post_draft for every finished course, as the worker would, and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rtletter.agent.channels.base import Draft
from rtletter.agent.channels.fhir import FhirChannel
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.poller import CoursePoller
from rtletter.agent.fhir.state import MemoryState
from rtletter.agent.fhir.writeback import FhirWriteBack
from rtletter.demo.sandbox import FhirSandbox
from rtletter.demo.synth import generate_cohort
from rtletter.mappers.case import Case


def zero_cost_letter(case: Case) -> str:
    """ZERO-COST GENERATOR (benchmark only): a fixed-format text from the case, no model."""
    volumes = ", ".join(f"{v.name} {v.total_dose_gy} Gy" for v in case.course.volumes)
    return f"Benchmark draft for course {case.course.id}: {case.course.status.value}; {volumes or 'no volumes'}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="synthetic patients")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    cohort = generate_cohort(args.n, args.seed)
    with tempfile.TemporaryDirectory() as tmp, FhirSandbox(Path(tmp)) as sandbox:
        # An explicit poll start before the courses arrive (a first start would take only later changes).
        start = datetime.now(UTC) - timedelta(seconds=1)
        for patient in cohort:
            sandbox.load(patient.bundle)
        client = FhirClient(sandbox.base_url)
        writeback = FhirWriteBack(client, adapter_version="bench-zero-cost")
        state = MemoryState()
        channel = FhirChannel(client, state, writeback=writeback, poller=CoursePoller(client, state, since=start))

        started = time.perf_counter()
        inbounds = channel.poll()
        poll_trips = client.round_trips
        cases = failed = 0
        context_trips = post_trips = 0
        for inbound in inbounds:
            before = client.round_trips
            try:
                found = channel.fetch_context(inbound)
            except Exception as exc:  # a mapping gap in the cohort: counted, not fatal for the benchmark
                failed += 1
                print(f"context/mapping failed for one course: {type(exc).__name__}")
                continue
            context_trips += client.round_trips - before
            for case in found:
                text = zero_cost_letter(case)
                draft = Draft(
                    case_id=case.case_id,
                    text=text,
                    language=case.language,
                    model="zero-cost-generator",
                    prompt_tokens=0,
                    completion_tokens=0,
                    generated_at=datetime.now(UTC),
                )
                before = client.round_trips
                channel.post_draft(case, draft)
                post_trips += client.round_trips - before
                cases += 1
        elapsed = time.perf_counter() - started
        second_poll = len(channel.poll())
        client.close()

    figures = {
        "server": "sekmet-fhir 0.1.1 (sandbox, SQLite, simulator off), loopback",
        "generator": "zero-cost (fixed-format text, no model)",
        "patients": args.n,
        "finished_courses_polled": len(inbounds),
        "cases_posted": cases,
        "context_failures": failed,
        "seconds": round(elapsed, 3),
        "cases_per_s": round(cases / elapsed, 2) if elapsed else None,
        "round_trips_total": poll_trips + context_trips + post_trips,
        "round_trips_per_case": round((poll_trips + context_trips + post_trips) / cases, 2) if cases else None,
        "poll_round_trips": poll_trips,
        "context_round_trips_per_case": round(context_trips / cases, 2) if cases else None,
        "post_round_trips_per_case": round(post_trips / cases, 2) if cases else None,
        "second_poll_events": second_poll,
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
