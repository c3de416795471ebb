"""bench/course_end.py: it drafts every stopped course of a fresh cohort with as many completed ones, and its judge
tells a letter that states the course's end (the template's) from one that turns a stop into a completion. The model
rows need a trained base (``make demo``); these checks need none."""

from __future__ import annotations

from types import ModuleType

import pytest

from rtletter.mappers.case import CourseStatus
from tests.bench import BENCH_DIR, load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench(BENCH_DIR / "course_end.py")


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
