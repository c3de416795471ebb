"""A model's text -> the posted letter: slots filled from the case, gaps visible and reported, the slot list."""

from __future__ import annotations

import re
from datetime import date

from rtletter.demo.synth import synthesize
from rtletter.mappers.draft import finish_draft
from rtletter.mappers.draft_gate import leaked_prompt
from rtletter.mappers.prompt import build_messages, prompt_intent, prompt_slot_ids, prompt_slot_values
from rtletter.mappers.scaffold import Site, compose_letter
from rtletter.mappers.slots import case_slots
from rtletter.model.evaluate.facts import check_draft

SITE = Site(institution="Klinikum", department="Strahlentherapie", head="Prof. Dr. A. Beispiel", town="Rheinstadt")


def _case():  # type: ignore[no-untyped-def]
    return synthesize(1, 7, "de")[0].case


def test_slots_are_filled_from_the_case_in_the_letters_locale_inside_the_sites_letter() -> None:
    case = _case()
    table = case_slots(case)
    body = "Diagnose:\nGD [dose_total.1] in [fx.1] Fraktionen vom [date_start] bis [date_end:dm]."
    finished = finish_draft(case, body, SITE, slots=True, letter_date=date(2026, 4, 14))
    volume = case.course.volumes[0]
    assert f"GD {volume.total_dose_gy:g} Gy".replace(".", ",") in finished.body
    assert f"in {table['fx.1'].value} Fraktionen" in finished.body
    assert case.course.start is not None and case.course.start.strftime("%d.%m.%Y") in finished.body
    assert "[" not in finished.body and finished.gaps == ()
    assert finished.letter == compose_letter(case, finished.body, SITE, letter_date=date(2026, 4, 14))


def test_an_id_the_case_does_not_hold_is_a_visible_gap_and_a_fact_check_finding() -> None:
    case = _case()
    finished = finish_draft(case, "Boost [dose_total.7] mit [fx.1] Fraktionen.", None, slots=True)
    assert "[[? dose_total.7]]" in finished.letter and finished.gaps == ("dose_total.7",)
    findings = check_draft(case, finished.letter).findings
    assert [(f.kind, f.value) for f in findings if f.kind == "slot"] == [("slot", "dose_total.7")]


def test_without_slots_the_text_is_posted_as_written() -> None:
    case = _case()
    assert finish_draft(case, " GD [dose_total.1] ", None, slots=False).letter == "GD [dose_total.1]"


def test_the_prompt_lists_each_fact_with_its_slot_id_and_the_backends_read_the_ids_back() -> None:
    case = _case()
    plain, slotted = build_messages(case), build_messages(case, slots=True)
    assert prompt_slot_ids(plain) is None
    ids = prompt_slot_ids(slotted)
    table = case_slots(case)
    assert ids is not None and "dose_total.1" in ids and "date_start" in ids
    assert ids <= {s.id for s in table if not s.missing}
    assert "name_family" not in ids  # the scaffold writes the names: the body needs no slot for them
    assert "name_family" in (prompt_slot_ids(build_messages(case, slots=True, scaffold=False)) or set())
    assert "[dose_total.1] " in slotted[1]["content"]


def test_the_prompt_names_each_volume_slot_for_the_decoders_coverage_rule() -> None:
    """XRTS-05 lists "Brain Mets" twice (the course's volume and the phase's, which has no fraction count): two slots,
    one target, which the local backend reads back by name."""
    from pathlib import Path

    from rtletter.mappers.load import load_cases

    fixture = Path(__file__).parents[1] / "fixtures" / "external" / "fhir" / "xrts-05-brainmets-1p-1v-2c.json"
    case = load_cases(fixture.read_bytes())[0]
    values = prompt_slot_values(build_messages(case, slots=True))
    names = {i: v for i, v in values.items() if i.startswith("volume.")}
    table = {s.id: str(s.value) for s in case_slots(case) if s.role == "volume" and not s.missing}
    assert names == table and len(names) == 2 and set(names.values()) == {"Brain Mets"}
    assert set(values) == prompt_slot_ids(build_messages(case, slots=True))  # every slot, with its shown value
    assert prompt_slot_values(build_messages(case)) == {}


def test_the_prompt_states_the_intent_the_decoder_holds_a_draft_to() -> None:
    from rtletter.mappers.case import Intent

    for lang in ("de", "en"):
        for synthetic in synthesize(15, 7, lang):
            case = synthetic.case
            for slots in (True, False):
                assert prompt_intent(build_messages(case, slots=slots)) is case.course.intent
    case = _case().model_copy(deep=True)
    case.course.intent = Intent.unknown
    assert prompt_intent(build_messages(case)) is Intent.unknown  # "Intention: nicht angegeben"
    assert prompt_intent([{"role": "user", "content": "> - Intention: kurativ"}]) is None  # a quoted note's line


def test_a_draft_that_echoes_the_slot_list_is_prompt_text() -> None:
    case = _case()
    user = build_messages(case, slots=True)[1]["content"]
    section = user[user.index("## Platzhalter") :]
    assert leaked_prompt(section) is not None


def test_each_filled_value_names_the_fhir_resource_or_v2_segment_it_came_from(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rtletter.demo.cohort import write_cohort
    from rtletter.mappers.load import load_cases

    write_cohort(tmp_path, n=1, seed=7, lang="de")
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    body = "GD [dose_total.1], [fx.1] Fraktionen, vom [date_start] bis [date_end]; [dx_code.1]."
    origin = {"bundle.json": r"(BodyStructure|Procedure|Condition)/SYN[\w-]+", "course.hl7": r"OBX( \w+ \d)?"}
    for name, pattern in origin.items():
        case = load_cases((folder / name).read_bytes())[-1]
        sources = finish_draft(case, body, None, slots=True).sources()
        assert [s["slot"] for s in sources] == ["dose_total.1", "fx.1", "date_start", "date_end", "dx_code.1"]
        assert all(re.fullmatch(pattern, str(s["source"])) for s in sources), sources


def test_a_slot_that_lost_its_bracket_becomes_a_gap_never_left_as_text() -> None:
    case = _case()
    finished = finish_draft(case, "Verlauf untermodality.1] mit [fx.1] Fraktionen, [[? dose_fx.9]].", None, slots=True)
    assert "modality.1]" not in finished.letter.replace("[[? modality.1]]", "")
    assert finished.letter.startswith("Verlauf unter[[? modality.1]] mit ")
    assert finished.gaps == ("modality.1",)  # the gap mark the text already had stays as it was
    assert "[[? dose_fx.9]]" in finished.letter


def test_what_is_left_of_a_slot_never_stays_in_the_letter() -> None:
    case = _case()
    cut = finish_draft(case, "GD [dose_total.1], Grund: ause_reason.1], Ende [date_e", None, slots=True)
    assert cut.letter.endswith("Grund: [[? ause_reason.1]], Ende [[? date_e]]")
    assert "[[? ause_reason.1]]" in cut.letter and cut.gaps == ("ause_reason.1", "date_e")
    kept = finish_draft(case, "siehe [1] und [NOTIZ]", None, slots=True)  # brackets that are no slots stay
    assert kept.letter == "siehe [1] und [NOTIZ]"
