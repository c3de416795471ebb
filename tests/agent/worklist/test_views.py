"""What the pages show, computed from jobs and cases: fact-check findings marked where the letter states them,
source facts with links to their FHIR resource or stored message, list rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rtletter.agent.worklist.views import age_text, fact_report, highlight, owner_key, source_facts, source_link
from rtletter.mappers.case import Physician
from tests.factories import make_case

LETTER = (
    "Sehr geehrte Frau Kollegin,\n"
    "wir bestrahlten vom 06.01.2026 bis 28.01.2026 mit 40,5 Gy in 15 Fraktionen à 2,67 Gy (C50.1).\n"
    "Begleitend erhielt die Patientin Cisplatin.\n"
    "Mit freundlichen Grüßen\n"
)


def marked(text: str) -> dict[str, str]:
    case = make_case(1)  # course 06.01.2026 - 27.01.2026, 40.05 Gy / 15 x 2.67 Gy, C50.4, no drugs
    report = fact_report(case, text)
    out = highlight(case, text, report.findings)
    assert "".join(s.text for s in out.segments) == text  # nothing lost or added
    assert out.unplaced == []
    return {s.text: s.kind for s in out.segments if s.note}


def test_findings_are_marked_where_the_letter_states_them() -> None:
    assert marked(LETTER) == {
        "28.01.2026": "contradicted",  # a day after the course's end
        "40,5": "contradicted",  # 40.05 Gy in the case
        "C50.1": "contradicted",  # C50.4 in the case
        "Cisplatin": "unsupported",  # no drug in the case
    }


def test_a_consistent_letter_has_nothing_marked() -> None:
    good = LETTER.replace("28.01.2026", "27.01.2026").replace("40,5", "40,05").replace("C50.1", "C50.4")
    assert marked(good.replace("Begleitend erhielt die Patientin Cisplatin.\n", "")) == {}


def test_other_written_forms_are_found() -> None:
    text = "Bestrahlung bis zum 28. Januar 2026 mit 40.50 Gy.\n"
    assert marked(text) == {"28. Januar 2026": "contradicted", "40.50": "contradicted"}


def test_source_facts_link_fhir_resources_and_hl7_segments() -> None:
    case = make_case(2)
    facts = source_facts(case, fhir_base="http://fhir.test/fhir/")
    course = [f for f in facts if f.label == "end"]
    assert course[0].link == "http://fhir.test/fhir/Procedure/course-0002/_history/1"
    assert any(f.value == "40.05 Gy, 2.67 Gy/fx, 15 fx" for f in facts)
    assert source_link("OBX volume 1", fhir_base=None, message_url="/worklist/drafts/3/message") == (
        "/worklist/drafts/3/message#seg-OBX"
    )
    assert source_link("Procedure/x", fhir_base=None, message_url=None) is None
    assert source_link(None, fhir_base="http://f", message_url=None) is None


def test_row_helpers() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert age_text(now - timedelta(minutes=5), now) == "5 min"
    assert age_text(now - timedelta(hours=30), now) == "30 h"
    assert age_text(now - timedelta(days=3), now) == "3 d"
    key = owner_key(Physician(prefix="Dr.", family="Quast").name)
    assert len(key) == 12 and "Quast" not in key


def test_each_finding_has_an_anchor_for_the_findings_list() -> None:
    case = make_case(1)
    report = fact_report(case, LETTER)
    out = highlight(case, LETTER, report.findings)
    assert sorted(s.anchor for s in out.segments if s.anchor) == [f"finding-{n}" for n in range(len(report.findings))]


def test_flagged_drafts_come_first_then_the_oldest() -> None:
    from rtletter.agent.worklist.views import Row, list_order

    now = datetime(2026, 3, 1, tzinfo=UTC)

    def row(job_id: int, hours_old: int, flags: tuple[str, ...] = ()) -> Row:
        drafted = now - timedelta(hours=hours_old)
        return Row(job_id, "posted", "", "", "", "", "", drafted, "", "", "", "", flags, len(flags))

    rows = [
        row(1, 30),
        row(2, 2, ("1 fact-check finding",)),
        row(3, 50),
        row(4, 1, ("draft cut off at the token limit",)),
    ]
    assert [r.job_id for r in sorted(rows, key=list_order)] == [2, 4, 3, 1]


def test_a_row_flags_what_the_draft_time_check_found_and_what_it_left_out() -> None:
    """The worker stores its check with the draft; the list flags both findings and key facts not stated from it,
    and checks drafts stored without it itself."""
    from rtletter.agent.jobs.job import Job, Status
    from rtletter.agent.jobs.worker import fact_check_meta
    from rtletter.agent.worklist.views import row_of

    case = make_case(1)
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    # 40,5 Gy contradicts 40.05 Gy; the total, the dose per fraction and the fractions are then not stated
    text = "Wir bestrahlten vom 06.01.2026 bis 27.01.2026 mit 40,5 Gy (C50.4).\n"

    def job(meta: dict[str, str]) -> Job:
        return Job(1, "file:c", "file", None, Status.posted, 1, now, None, case.model_dump_json(), None, None, None,
                   text, meta, None, None, frozenset(), now, now)  # fmt: skip

    stored = row_of(job(fact_check_meta(case, text)), now)
    assert stored.flags == ("1 fact-check finding", "3 key facts not stated")
    assert row_of(job({}), now).flags == stored.flags
    old = row_of(job({"findings": "1"}), now)  # stored before omissions were kept
    assert old.flags == ("1 fact-check finding",)


def test_the_draft_page_says_how_a_redrafted_draft_was_chosen() -> None:
    import json

    from rtletter.agent.worklist.views import draft_model

    first = "leaked false, contradicted 1, truncated false, other 2"
    posted = "leaked false, contradicted 0, truncated false, other 0"
    meta = {"model": "base+letters@abc", "redraft": json.dumps({"candidates": 8, "picked": 3, "first": first,
                                                                "posted": posted})}  # fmt: skip
    shown = dict(draft_model(meta))
    assert shown["redrafted"] == f"sampled draft 3 of 8 posted; first draft: {first}; posted: {posted}"
    assert "redraft" not in shown and shown["model"] == "base+letters@abc"
    kept = dict(draft_model({"redraft": json.dumps({"candidates": 8, "picked": 0, "first": first, "posted": first})}))
    assert kept["redrafted"].startswith("first draft kept, no better one of 8 sampled")
    assert "redrafted" not in dict(draft_model({"model": "m"}))
    template = {"candidates": 8, "picked": 0, "first": first, "posted": posted, "template": first}
    shown = dict(draft_model({"model": "template", "redraft": json.dumps(template)}))["redrafted"]
    assert shown.startswith("the site's template letter posted: the model's best of 9 drafts was faulted")
    assert shown.endswith(f"model's best: {first}")


def test_the_draft_page_lists_the_words_the_site_never_wrote() -> None:
    from rtletter.agent.worklist.views import draft_model

    shown = dict(draft_model({"model": "m", "non_words": '["Bildgebjährlich", "zumulativ"]'}))
    assert shown["words not in the site's letters"] == "Bildgebjährlich, zumulativ" and "non_words" not in shown
    assert dict(draft_model({"non_words": "[]"}))["words not in the site's letters"] == "none"
    assert "words not in the site's letters" not in dict(draft_model({"model": "m"}))  # no word list: not counted
