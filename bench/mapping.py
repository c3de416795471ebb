"""Mapping throughput against a bare parse of the same inputs, FHIR and HL7 v2, side by side in one run.

    .venv/bin/python bench/mapping.py              # 1,000 synthetic patients (FHIR bundle + HL7 v2 message each)
    .venv/bin/python bench/mapping.py --quick      # 20 patients, for the test that keeps this script alive
    .venv/bin/python bench/mapping.py --profile    # also print where mapping + prompt spends its time (cProfile)

Per input kind, three stages on the same bytes:
  (a) bare parse: ``fhir.resources.R4B`` Bundle validation of the JSON / hl7apy ``parse_message`` of the message;
  (b) mapping: ``load_cases`` (detection, parse, case model);
  (c) mapping + prompt: (b) plus ``build_messages`` and ``render_chat`` for every case.
Within a repeat the three stages take turns input by input, so that load from other processes hits all three
alike; the figure is the median over repeats after warm-up rounds. Goal (issue 2): (c) takes at most 1.5 times (a).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

GOAL_RATIO = 1.5  # mapping + prompt may add at most 50 % to the bare parse
EXTERNAL = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "external"


@dataclass
class Inputs:
    label: str
    items: list[bytes]
    bare: Callable[[bytes], object]


def _bare_fhir(data: bytes) -> object:
    from fhir.resources.R4B.bundle import Bundle

    return Bundle.model_validate_json(data)


def _bare_v2(data: bytes) -> object:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    # what any hl7apy user does: decode per MSH-18 (latin-1 here covers every byte), CR segment ends, tolerant parse
    text = data.decode("latin-1").replace("\r\n", "\r").replace("\n", "\r").strip()
    return parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)


def _parses(data: bytes) -> bool:
    try:
        _bare_v2(data)
    except Exception:  # hl7apy rejects e.g. PRT in a v2.5.1 message; such a sample cannot be compared
        return False
    return True


def synthetic_inputs(n: int, seed: int) -> tuple[Inputs, Inputs]:
    """``n`` synthetic patients: each one's FHIR bundle as JSON bytes and its HL7 v2 message."""
    from rtletter.demo.synth import generate_cohort

    cohort = generate_cohort(n, seed=seed, lang="de")
    bundles = [json.dumps(p.bundle, ensure_ascii=False).encode("utf-8") for p in cohort]
    return Inputs("FHIR R4 bundle", bundles, _bare_fhir), Inputs("HL7 v2 message", [p.v2 for p in cohort], _bare_v2)


def external_inputs(n: int) -> tuple[Inputs, Inputs]:
    """The external conformance fixtures, repeated to ``n`` (when the synthetic cohort is not available)."""
    fhir = [p.read_bytes() for p in sorted((EXTERNAL / "fhir").glob("*.json"))]
    v2 = [p.read_bytes() for p in sorted((EXTERNAL / "hl7v2").iterdir()) if p.suffix in (".hl7", ".txt")]
    v2 = [m for m in v2 if m.lstrip().startswith(b"MSH") and _parses(m)]  # single messages bare hl7apy accepts
    return (
        Inputs("FHIR R4 bundle (external)", [fhir[i % len(fhir)] for i in range(n)], _bare_fhir),
        Inputs("HL7 v2 message (external)", [v2[i % len(v2)] for i in range(n)], _bare_v2),
    )


def _map(data: bytes) -> object:
    from rtletter.mappers.load import load_cases

    return load_cases(data)


def _map_and_prompt(data: bytes) -> object:
    from rtletter.mappers.load import load_cases
    from rtletter.mappers.prompt import build_messages, render_chat

    return [render_chat(build_messages(case)) for case in load_cases(data)]


STAGES: dict[str, Callable[[bytes], object]] = {"mapping": _map, "mapping + prompt": _map_and_prompt}


def _time(function: Callable[[bytes], object], items: Sequence[bytes]) -> float:
    start = time.perf_counter()
    for item in items:
        function(item)
    return time.perf_counter() - start


def measure(inputs: Inputs, repeats: int, warmup: int, warmup_items: int = 50) -> dict[str, float]:
    """Median over repeats of the seconds each stage needs for all of ``inputs.items``.

    Within a repeat the stages take turns input by input (in rotating order), so that a burst of load from other
    processes falls on all of them alike instead of on whichever stage happened to run then.
    """
    stages = list({"bare parse": inputs.bare, **STAGES}.items())
    warm = inputs.items[: max(1, min(len(inputs.items), warmup_items))]
    for _ in range(warmup):
        for _name, function in stages:
            _time(function, warm)
    runs: dict[str, list[float]] = {name: [] for name, _ in stages}
    for _ in range(repeats):
        spent = dict.fromkeys(runs, 0.0)
        for index, item in enumerate(inputs.items):
            shift = index % len(stages)
            for name, function in stages[shift:] + stages[:shift]:
                start = time.perf_counter()
                function(item)
                spent[name] += time.perf_counter() - start
        for name, seconds in spent.items():
            runs[name].append(seconds)
    return {name: statistics.median(values) for name, values in runs.items()}


def report(inputs: Inputs, seconds: dict[str, float]) -> bool:
    n = len(inputs.items)
    bare = seconds["bare parse"]
    print(f"\n{inputs.label}: {n} inputs")
    print(f"  {'stage':<18} {'cases/s':>10} {'ms/case':>9} {'x bare':>8}")
    for name, value in seconds.items():
        print(f"  {name:<18} {n / value:>10.1f} {1000 * value / n:>9.3f} {value / bare:>8.2f}")
    ratio = seconds["mapping + prompt"] / bare
    met = round(ratio, 2) <= GOAL_RATIO  # decided on the figure printed, so the line never contradicts itself
    verdict = "met" if met else "MISSED"
    print(f"  goal (mapping + prompt <= {GOAL_RATIO:.2f} x bare parse): {ratio:.2f} x -> {verdict}")
    return met


def profile(inputs: Inputs, top: int = 25) -> None:
    """Where mapping + prompt spends its time, by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    _time(_map_and_prompt, inputs.items)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"\nprofile of mapping + prompt, {inputs.label}:")
    print(out.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of synthetic patients (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds; the median is reported")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds over the first 50 inputs")
    parser.add_argument("--quick", action="store_true", help="n=20, 1 repeat, a short warm-up: a smoke run for tests")
    parser.add_argument("--external", action="store_true", help="use the external fixtures, not the cohort")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of mapping + prompt")
    parser.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args(argv)
    warmup_items = 50
    if args.quick:
        args.n, args.repeats, args.warmup, warmup_items = 20, 1, 1, 3

    start = time.perf_counter()
    if args.external:
        fhir, v2 = external_inputs(args.n)
    else:
        fhir, v2 = synthetic_inputs(args.n, args.seed)
    print(
        f"inputs prepared in {time.perf_counter() - start:.1f} s; median of {args.repeats} repeats after "
        f"{args.warmup} warm-up round(s) over {warmup_items} inputs"
    )
    met = True
    for inputs in (fhir, v2):
        met &= report(inputs, measure(inputs, args.repeats, args.warmup, warmup_items))
        if args.profile:
            profile(inputs)
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
