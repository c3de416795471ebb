"""bench/course_end.py: it drafts every stopped course of a fresh cohort with as many completed ones, and its judge
tells a letter that states the course's end (the template's) from one that turns a stop into a completion. The model
rows need a trained base (``make demo``); these checks need none."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from rtletter.mappers.case import CourseStatus

BENCH = Path(__file__).resolve().parents[2] / "bench" / "course_end.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("course_end", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_stopped_and_as_many_completed_courses(bench: ModuleType) -> None:
    stopped, completed = bench.courses(120, 31)
    assert stopped and len(stopped) == len(completed)
    assert all(c.course.status is CourseStatus.stopped for c in stopped)
    assert all(c.course.status is CourseStatus.completed and c.course.end for c in completed)


def test_the_judge_reads_the_end_each_letter_states(bench: ModuleType) -> None:
    from rtletter.mappers.template_letter import render_letter

    stopped, completed = bench.courses(120, 31)
    for case in stopped:
        letter = render_letter(case)
        assert bench.judge(case, letter) == ([], True), case.case_id
        turned = letter.replace("vorzeitig beendet", "wie geplant abgeschlossen")
        assert turned != letter
        assert bench.judge(case, turned) == (["wie geplant abgeschlossen"], False)
    for case in completed:
        assert bench.judge(case, render_letter(case)) == ([], False), case.case_id
