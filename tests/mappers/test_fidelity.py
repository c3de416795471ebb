"""Course data written the way hospital systems write it (issue 13): inputs in tests/mappers/data, FHIR and HL7 v2."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rtletter.mappers.case import Case, CourseStatus
from rtletter.mappers.checks import ImplausibleCourse, split_drafted
from rtletter.mappers.errors import UnsupportedInput
from rtletter.mappers.fhir.bundle import case_from_bundle
from rtletter.mappers.hl7v2.case import case_from_v2
from rtletter.mappers.load import load_cases
from rtletter.mappers.prompt import build_messages

DATA = Path(__file__).parent / "data"
ICD10GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
OPS = "http://fhir.de/CodeSystem/bfarm/ops"
SNOMED = "http://snomed.info/sct"


def one(name: str) -> Case:
    cases = load_cases((DATA / name).read_bytes())
    assert len(cases) == 1
    return cases[0]


def prompt_text(case: Case) -> str:
    """The facts the model is given (the user message; the system message holds fixed examples)."""
    return "\n".join(m["content"] for m in build_messages(case) if m["role"] == "user")


# --- FHIR -----------------------------------------------------------------------------------------------------------


def test_stopped_course_reads_the_prescribed_dose_and_derives_dose_per_fraction() -> None:
    case = one("fhir-stopped-prescribed.json")
    assert case.course.status == CourseStatus.stopped
    (volume,) = case.course.volumes
    assert (volume.total_dose_gy, volume.fractions_delivered) == (30.0, 15)
    assert (volume.planned_total_dose_gy, volume.fractions_planned) == (50.0, 25)  # dose-prescribed-to-volume
    assert volume.dose_per_fraction_gy == 2.0  # 30 Gy / 15, not in the source
    assert "ServiceRequest/rx-1" in case.inputs
    assert case.flags == []


def test_planned_wins_over_prescribed_value_by_value() -> None:
    data = json.loads((DATA / "fhir-stopped-prescribed.json").read_text())
    rx = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == "rx-1")
    planned = json.loads(json.dumps(rx["extension"][0]))
    planned["url"] = planned["url"].replace("dose-prescribed-to-volume", "dose-planned-to-volume")
    planned["extension"] = [e for e in planned["extension"] if e["url"] != "fractions"]
    planned["extension"][1]["valueQuantity"]["value"] = 4800
    rx["extension"].append(planned)
    (volume,) = case_from_bundle(data)[0].course.volumes
    assert (volume.planned_total_dose_gy, volume.fractions_planned) == (48.0, 25)


def test_a_ratio_that_is_not_a_clean_dose_is_flagged_not_rounded() -> None:
    case = one("fhir-dose-per-fraction.json")
    clean, odd = case.course.volumes
    assert clean.dose_per_fraction_gy == 2.66  # 42.56 Gy / 16
    assert odd.dose_per_fraction_gy is None  # 40 Gy / 15 = 2.666...
    (flag,) = case.flags
    assert flag.kind == "dose_ratio" and "40 Gy / 15 fractions = 2.6667" in flag.detail
    assert "2,67" not in prompt_text(case) and "2.67" not in prompt_text(case)


def test_no_average_dose_per_fraction_when_the_source_says_fractionation_was_not_uniform() -> None:
    data = json.loads((DATA / "fhir-dose-per-fraction.json").read_text())
    course = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == "course-1")
    uniform = (
        "http://hl7.org/fhir/us/codex-radiation-therapy/StructureDefinition/codexrt-radiotherapy-uniform-fractionation"
    )
    course["extension"][1]["extension"].append({"url": uniform, "valueBoolean": False})
    clean, odd = case_from_bundle(data)[0].course.volumes
    assert clean.dose_per_fraction_gy is None and odd.dose_per_fraction_gy is None


def test_toxicities_from_text_and_codes_with_text_grades_and_ungraded() -> None:
    case = one("fhir-toxicity-text.json")
    found = {(t.term, t.grade) for t in case.toxicities}
    assert found == {
        ("Radiodermatitis", 2),  # no category, value "CTCAE Grad 2"
        ("Mukositis", 2),  # "Grade II" inside the term
        ("Fatigue", 1),  # SNOMED coded, value "G1"
        ("Diarrhoea", None),  # MedDRA coded, no grade: kept, ungraded
        ("Dysphagie", 3),  # "Grad III"
    }
    assert all(t.source and "hist-1" not in t.source and "lab-1" not in t.source for t in case.toxicities)
    text = prompt_text(case)
    assert "Diarrhoea, ohne Grad" in text and "Radiodermatitis, CTCAE Grad 2" in text


def _drop(data: dict[str, Any], *ids: str) -> dict[str, Any]:
    data = json.loads(json.dumps(data))
    data["entry"] = [e for e in data["entry"] if e["resource"]["id"] not in ids]
    return data


def test_the_letters_addressee_is_looked_up_in_order_and_named() -> None:
    data = json.loads((DATA / "fhir-recipient.json").read_text())
    expected = [
        ("Zuweiser", "ServiceRequest.requester", ()),
        ("Einweiser", "Encounter.participant", ("referral-1",)),
        ("Teamarzt", "CareTeam.participant", ("referral-1", "enc-1")),
        ("Hausarzt", "Patient.generalPractitioner", ("referral-1", "enc-1", "team-1")),
    ]
    for family, via, dropped in expected:
        case = case_from_bundle(_drop(data, *dropped))[0]
        assert case.referring_physician is not None
        assert (case.referring_physician.family, case.referring_physician.via) == (family, via)
        assert case.treating_physician is not None and case.treating_physician.family == "Strahl"
        assert family not in {p.family for p in case.copies_to}
    no_gp = _drop(data, "referral-1", "enc-1", "team-1")
    patient = next(e["resource"] for e in no_gp["entry"] if e["resource"]["id"] == "pat-1")
    del patient["generalPractitioner"]
    case = case_from_bundle(no_gp)[0]
    assert case.referring_physician is not None
    assert (case.referring_physician.family, case.referring_physician.via) == ("Chirurg", "Procedure.performer")
    nobody = _drop(no_gp, "surgery-1")
    case = case_from_bundle(nobody)[0]
    assert case.referring_physician is None
    assert "Sehr geehrte Kolleginnen und Kollegen," in prompt_text(case)


def test_unknown_modality_technique_and_energy_codes_are_flagged_never_printed() -> None:
    case = one("fhir-unknown-codes.json")
    assert case.course.modalities == [] and case.course.techniques == [] and case.course.energy is None
    assert [f.kind for f in case.flags] == ["unknown_code"] * 3
    assert all("000000-BOGUS" in f.detail for f in case.flags)
    assert "000000-BOGUS" not in prompt_text(case)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("fhir-implausible-end-before-start.json", "Procedure.performedPeriod: implausible course: it ends before"),
        ("fhir-implausible-dose.json", "volume 1 delivered total dose 250 Gy (more than 200 Gy)"),
        ("fhir-implausible-fractions.json", "volume 1 delivered 27 fractions of 25 planned, without a note"),
        ("fhir-implausible-phases.json", "Procedure.partOf: implausible course: 51 phases (more than 50)"),
        ("v2-oru-implausible-dose.hl7", "OBX: implausible course: volume 1 delivered total dose 250 Gy"),
    ],
)
def test_implausible_courses_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(ImplausibleCourse) as caught:
        load_cases((DATA / name).read_bytes())
    assert reason in str(caught.value)


def test_overrun_with_a_note_is_plausible() -> None:
    data = json.loads((DATA / "fhir-implausible-fractions.json").read_text())
    course = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == "course-1")
    course["note"] = [{"text": "Zwei Fraktionen nach Planänderung zusätzlich."}]
    (volume,) = case_from_bundle(data)[0].course.volumes
    assert (volume.fractions_delivered, volume.fractions_planned) == (27, 25)


def test_a_procedure_coded_as_something_else_is_not_a_course() -> None:
    with pytest.raises(UnsupportedInput, match="no radiotherapy course summary"):
        one("fhir-not-a-course.json")
    data = json.loads((DATA / "fhir-not-a-course.json").read_text())
    course = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == "course-1")
    course["code"] = {"coding": [{"system": "urn:bogus", "code": "1217123003"}]}  # the right code, the wrong system
    with pytest.raises(UnsupportedInput):
        case_from_bundle(data)
    del course["code"]  # no code at all: the course summary profile decides
    assert case_from_bundle(data)[0].course.id == "course-1"


# --- HL7 v2 ---------------------------------------------------------------------------------------------------------


def test_adt_a03_from_radiotherapy_is_a_finished_course() -> None:
    case = one("v2-adt-a03-radiotherapy.hl7")
    course = case.course
    assert course.status == CourseStatus.completed  # an A03 from the department
    assert (course.start, course.end) == (date(2026, 2, 2), date(2026, 2, 20))  # PR1-5, PV1-45
    assert course.name == "Hochvoltstrahlentherapie der Brust links"  # the OPS 8-52 PR1 is the course
    assert [s.text for s in case.surgeries] == ["Brusterhaltende Operation"]  # not the radiotherapy
    assert case.diagnoses[0].code is not None and case.diagnoses[0].code.system == ICD10GM  # I10-2026
    assert case.referring_physician is not None and case.referring_physician.via == "PV1-8"
    assert split_drafted([case]) == ([case], [])


def test_pv1_44_and_45_give_the_dates_without_a_procedure_date() -> None:
    message = (DATA / "v2-adt-a03-radiotherapy.hl7").read_text().replace("|20260202\r", "|\r")
    course = case_from_v2(message).course
    assert (course.start, course.end) == (date(2026, 2, 2), date(2026, 2, 20))  # PV1-44 08:00, PV1-45


def test_adt_a03_from_surgery_makes_no_job_with_a_reason() -> None:
    case = one("v2-adt-a03-surgery.hl7")
    assert case.course.status == CourseStatus.unknown and case.course.start is None
    assert [s.text for s in case.surgeries] == ["Brusterhaltende Operation"]
    assert split_drafted([case]) == ([], ["course status unknown: only a completed or stopped course is drafted"])


def test_v2_toxicities_codes_flags_and_dose_per_fraction() -> None:
    case = one("v2-oru-fidelity.hl7")
    assert {(t.term, t.grade) for t in case.toxicities} == {
        ("Radiodermatitis", 2),
        ("Mukositis", 2),
        ("Fatigue", None),
        ("Diarrhoea", 1),  # OBX-3 a MedDRA term no profile code claims, OBX-5 "G1"
    }
    assert case.course.modalities == [] and case.course.techniques == ["VMAT"]
    assert [v.dose_per_fraction_gy for v in case.course.volumes] == [2.66, None]
    assert sorted(f.kind for f in case.flags) == ["dose_ratio", "unknown_code", "unknown_code"]
    assert "000000-BOGUS" not in prompt_text(case)


def _replanned(first: float = 1.8, second: float = 2.0) -> Case:
    """XRTS-02's course as a mapper reads it from a source without a uniform-fractionation flag (HL7 v2)."""
    from rtletter.mappers.case import Course, Patient, Phase, TargetVolume

    def prostate(**values: Any) -> TargetVolume:
        return TargetVolume(name="Prostate", **values)

    phases = [
        Phase(name="Primary", status=CourseStatus.stopped, fractions_delivered=3, fractions_planned=8,
              volumes=[prostate(total_dose_gy=3 * first, dose_per_fraction_gy=first)]),
        Phase(name="PlanChange", status=CourseStatus.completed, fractions_delivered=4,
              volumes=[prostate(total_dose_gy=4 * second, dose_per_fraction_gy=second)]),
    ]  # fmt: skip
    total = prostate(total_dose_gy=round(3 * first + 4 * second, 2), fractions_delivered=7)
    course = Course(id="C1Prostate", status=CourseStatus.completed, start=date(2021, 9, 6), end=date(2021, 9, 17),
                    volumes=[total], phases=phases)  # fmt: skip
    return Case(case_id="v2:replanned", source_kind="hl7v2", patient=Patient(id="P1"), course=course)


def test_no_average_dose_per_fraction_for_a_volume_its_phases_give_two() -> None:
    from rtletter.mappers.checks import finish_case

    case = finish_case(_replanned())
    assert case.course.volumes[0].total_dose_gy == 13.4
    assert case.course.volumes[0].dose_per_fraction_gy is None  # not 13,4 Gy / 7 = 1,91 Gy
    assert case.flags == []
    uniform = finish_case(_replanned(2.0, 2.0))  # one dose per fraction in both phases: 14 Gy / 7 is derived
    assert uniform.course.volumes[0].dose_per_fraction_gy == 2.0
    assert ("fractions", "8") in {(f.kind, f.value) for f in case.facts()}  # "nach 3 von 8 geplanten Fraktionen"
