"""Conformance: every external FHIR bundle maps and every KEY FACTS item of its .facts.txt is in the case.

The .facts.txt files (tests/fixtures/external/fhir, written from the HL7 IG sources) are parsed line by line; a
KEY FACTS line that no rule understands fails the test, so new facts cannot slip through unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from rtletter.mappers.case import Case, CourseStatus, Phase, TargetVolume
from rtletter.mappers.fhir.bundle import case_from_bundle

# What a .facts.txt display means in the case model: written here independently of the mapper's tables.
MODALITY = {
    "External beam radiation therapy using photons (procedure)": "photons",
    "External beam radiation therapy using electrons (procedure)": "electrons",
    "Teleradiotherapy using electrons": "electrons",
    "High dose brachytherapy (procedure)": "HDR brachytherapy",
    "Internal radiotherapy - permanent seeds (procedure)": "permanent seed brachytherapy",
}
TECHNIQUE = {
    "Intensity modulated radiation therapy (procedure)": "IMRT",
    "Volumetric Modulated Arc Therapy (procedure)": "VMAT",
    "Volumetric modulated arc therapy (procedure)": "VMAT",
    "Three dimensional external beam radiation therapy (procedure)": "3D-CRT",
    "Interstitial brachytherapy (procedure)": "interstitial brachytherapy",
}
ISOTOPE = {"Iridium-192 (substance)": "Ir-192", "Iodine-125 (substance)": "I-125"}
LATERALITY = {"Left": "left", "Right": "right", "Right and left": "bilateral"}
INTENT = {"373808002": "curative", "363676003": "palliative"}
SYSTEM = {"ICD-10-CM": "http://hl7.org/fhir/sid/icd-10-cm", "SNOMED CT": "http://snomed.info/sct"}
AE_GRADE = {"Mild Adverse Event": 1, "Moderate Adverse Event": 2, "Severe Adverse Event": 3}

_DOSE = re.compile(
    r'"(?P<name>[^"]+)" \((?P<quals>.*?)\)(?: \[referenced as "[^"]+"\])?: (?P<gy>[\d.]+) Gy \(\d+ cGy\)'
    r"(?: in (?P<fx>\d+) fractions?)?(?P<nonuniform> \(non-uniform fractionation\))?"
)


@dataclass
class CourseFacts:
    name: str
    lines: list[str] = field(default_factory=list)


@dataclass
class KeyFacts:
    patient: str = ""
    diagnosis: str = ""
    courses: list[CourseFacts] = field(default_factory=list)
    adverse_events: list[str] = field(default_factory=list)


def parse_key_facts(text: str) -> KeyFacts:
    """The KEY FACTS block: top-level '- ' items, indented lines belong to the course above them."""
    block = text.split("KEY FACTS", 1)[1].split("\n", 1)[1].split("=" * 20, 1)[0]
    facts = KeyFacts()
    for line in block.splitlines():
        if not line.strip():
            continue
        if line.startswith("- Patient: "):
            facts.patient = line[len("- Patient: ") :]
        elif line.startswith("- Diagnosis: "):
            facts.diagnosis = line[len("- Diagnosis: ") :]
        elif line.startswith("- Course "):
            facts.courses.append(CourseFacts(name=line.split('"')[1], lines=[line]))
        elif line.startswith("- Adverse event: "):
            facts.adverse_events.append(line[len("- Adverse event: ") :])
        elif line.startswith("    ") and facts.courses:
            facts.courses[-1].lines.append(line.strip())
        else:
            pytest.fail(f"KEY FACTS line not understood by the test: {line!r}")
    return facts


def _bundles(external: Path) -> list[Path]:
    return sorted((external / "fhir").glob("*.json"))


FIXTURE_NAMES = [
    "mcode-rt-course-summary-chest-wall-jenny-m",
    "mcode-rt-course-summary-other-with-text",
    "xrts-01-prostate-1p-1v",
    "xrts-02-prostate-2p-1v",
    "xrts-03-prostate-1p-3v",
    "xrts-04-breast-3p-3v",
    "xrts-05-brainmets-1p-1v-2c",
    "xrts-06-uterus-1p-1v",
    "xrts-07-uterus-1p-1v",
]


@pytest.fixture(scope="module")
def mapped(external_dir: Path) -> dict[str, tuple[list[Case], KeyFacts]]:
    result = {}
    for path in _bundles(external_dir):
        facts = parse_key_facts(path.with_suffix(".facts.txt").read_text(encoding="utf-8"))
        result[path.stem] = (case_from_bundle(path.read_bytes()), facts)
    return result


def test_every_external_bundle_is_covered(external_dir: Path) -> None:
    assert sorted(p.stem for p in _bundles(external_dir)) == sorted(FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_key_facts_appear_in_the_case(name: str, mapped: dict[str, tuple[list[Case], KeyFacts]]) -> None:
    cases, facts = mapped[name]
    assert len(cases) == len(facts.courses)
    for case in cases:
        _check_patient(case, facts.patient)
        _check_diagnosis(case, facts.diagnosis)
    for course_facts in facts.courses:
        matches = [c for c in cases if course_facts.name in (c.course.name, c.course.id)]
        assert len(matches) == 1, course_facts.name
        _check_course(matches[0], course_facts)
    for event in facts.adverse_events:
        _check_adverse_event(cases, event)


def _check_patient(case: Case, line: str) -> None:
    found = re.match(
        r"(?P<name>.+), born (?P<born>[\d-]+), gender (?P<sex>\w+) \(MRN (?P<mrn>[^)]+)\)(?P<rest>.*)", line
    )
    assert found, line
    assert case.patient.name == found["name"]
    assert case.patient.birth_date == date.fromisoformat(found["born"])
    assert case.patient.sex.value == found["sex"]
    assert case.patient.id == found["mrn"]
    assert case.patient.deceased is (True if "recorded as deceased" in found["rest"] else None)


def _check_diagnosis(case: Case, line: str) -> None:
    found = re.match(r'(?P<system>ICD-10-CM|SNOMED CT) (?P<code>\S+) "(?P<display>[^"]+)"$', line)
    assert found, line
    dx = case.primary_diagnosis
    assert dx is not None and dx.code is not None
    assert (dx.code.system, dx.code.code, dx.code.display) == (SYSTEM[found["system"]], found["code"], found["display"])


def _check_course(case: Case, facts: CourseFacts) -> None:
    course = case.course
    head = re.search(
        r"status (?P<status>[\w-]+); intent .*?\(SNOMED CT (?P<intent>\d+)\); "
        r"dates (?P<start>[\d-]+) to (?P<end>[\d-]+)",
        facts.lines[0],
    )
    assert head, facts.lines[0]
    assert course.status.value == head["status"]
    assert course.intent.value == INTENT[head["intent"]]
    assert (course.start, course.end) == (date.fromisoformat(head["start"]), date.fromisoformat(head["end"]))
    in_phases = False
    for line in facts.lines[1:]:
        if in_phases:
            _check_phase(course.phases, line)
        elif line.startswith("treated site(s): "):
            _check_sites(case, line[len("treated site(s): ") :])
        elif line.startswith("dose: "):
            _check_dose(course.volumes, line[len("dose: ") :])
        elif line.startswith("modality/technique: "):
            _check_modality(case, line[len("modality/technique: ") :])
        elif line.startswith("sessions: "):
            assert course.sessions == int(line.split(": ")[1])
        elif line.startswith("re-irradiation: "):
            assert course.reirradiation is (line.endswith("yes"))
        elif line.startswith("termination / revision: "):
            _check_termination(case, line[len("termination / revision: ") :])
        elif re.match(r"phases \((\d+)\):", line):
            assert len(course.phases) == int(re.findall(r"\d+", line)[0])
            in_phases = True
        else:
            pytest.fail(f"course fact not understood by the test: {line!r}")


def _check_sites(case: Case, text: str) -> None:
    codes = re.findall(r"\(SNOMED CT (\d+)\)", text)
    assert codes and codes == [site.code for site in case.course.body_sites]
    lateral = re.search(r"\), (?P<lat>[\w ]+) \(qualifier value\)$", text)
    assert case.course.laterality == (LATERALITY[lateral["lat"]] if lateral else None)


def _volume(volumes: list[TargetVolume], name: str) -> TargetVolume:
    found = [v for v in volumes if v.name == name]
    assert len(found) == 1, f"volume {name!r} not in {[v.name for v in volumes]}"
    return found[0]


def _check_volume_description(volume: TargetVolume, qualifiers: str) -> None:
    parts = [p.strip() for p in qualifiers.split(",")]
    assert volume.site is not None and volume.site.display is not None
    assert volume.site.display.lower() == parts[0].lower()
    laterality = [
        LATERALITY[p.removesuffix(" (qualifier value)")]
        for p in parts[1:]
        if p.removesuffix(" (qualifier value)") in LATERALITY
    ]
    assert volume.laterality == (laterality[0] if laterality else None)
    # "Entire"/"Partial" qualifiers have no field in the case model (documented in docs/fhir-mapping.md).


def _check_dose(volumes: list[TargetVolume], text: str) -> None:
    found = _DOSE.fullmatch(text)
    assert found, text
    volume = _volume(volumes, found["name"])
    _check_volume_description(volume, found["quals"])
    assert volume.total_dose_gy == pytest.approx(float(found["gy"]))
    assert volume.fractions_delivered == int(found["fx"])
    if found["nonuniform"]:
        assert volume.dose_per_fraction_gy is None  # never total / fractions for non-uniform fractionation
    else:
        assert volume.dose_per_fraction_gy in (None, pytest.approx(float(found["gy"]) / int(found["fx"]), abs=0.01))


def _modality_name(text: str, table: dict[str, str]) -> str:
    unencoded = re.fullmatch(r"un-encoded \[(.+)\]", text)
    return unencoded[1] if unencoded else table[text]


def _check_modality(case: Case, text: str) -> None:
    parts = text.split(" / ")
    assert _modality_name(parts[0], MODALITY) in case.course.modalities
    assert _modality_name(parts[1], TECHNIQUE) in case.course.techniques
    for extra in parts[2:]:
        assert extra.startswith("isotope "), extra
        assert case.course.brachytherapy is not None
        assert case.course.brachytherapy.source_isotope == ISOTOPE[extra[len("isotope ") :]]


def _check_termination(case: Case, text: str) -> None:
    if text == "none recorded":
        assert case.course.status_reason is None
        assert all(p.status_reason is None and p.status != CourseStatus.stopped for p in case.course.phases)
        return
    found = re.fullmatch(
        r'phase "(?P<phase>[^"]+)" stopped after (?P<done>\d+) fraction\(s\) of (?P<planned>\d+) planned; '
        r"reason for revision: (?P<display>.+) \(SNOMED CT (?P<code>\d+)\)",
        text,
    )
    assert found, text
    phase = next(p for p in case.course.phases if p.name == found["phase"])
    assert phase.status == CourseStatus.stopped
    assert (phase.fractions_delivered, phase.fractions_planned) == (int(found["done"]), int(found["planned"]))
    assert phase.status_reason is not None
    assert (phase.status_reason.code, phase.status_reason.display) == (found["code"], found["display"])
    assert case.course.status_reason is None  # the course itself completed: the revision reason stays on the phase


def _check_phase(phases: list[Phase], line: str) -> None:
    found = re.fullmatch(
        r'"(?P<name>[^"]+)" \((?P<status>[\w-]+), (?P<start>[\d-]+) to (?P<end>[\d-]+), (?P<fx>\d+) fractions?, '
        r"(?P<modality>.+?) / (?P<technique>.+?)\): (?P<doses>.+)",
        line,
    )
    assert found, line
    phase = next((p for p in phases if p.name == found["name"]), None)
    assert phase is not None, found["name"]
    assert phase.status.value == found["status"]
    assert (phase.start, phase.end) == (date.fromisoformat(found["start"]), date.fromisoformat(found["end"]))
    assert phase.fractions_delivered == int(found["fx"])
    assert phase.modality == _modality_name(found["modality"], MODALITY)
    assert phase.technique == _modality_name(found["technique"], TECHNIQUE)
    doses = re.split(r"(?<=cGy\)); ", found["doses"])
    assert len(doses) == len(phase.volumes)
    for dose in doses:
        item = _DOSE.fullmatch(dose)
        assert item, dose
        volume = _volume(phase.volumes, item["name"])
        _check_volume_description(volume, item["quals"])
        assert volume.total_dose_gy == pytest.approx(float(item["gy"]))


def _check_adverse_event(cases: list[Case], text: str) -> None:
    found = re.fullmatch(
        r"(?P<term>.+) \(NCI Thesaurus (?P<code>C\d+)\); ae-grade (?P<grade>.+); ae-severity (?P<severity>\w+)", text
    )
    assert found, text
    toxicities = [t for case in cases for t in case.toxicities if t.term == found["term"]]
    assert len(toxicities) == 1
    toxicity = toxicities[0]
    assert toxicity.code is not None and toxicity.code.code == found["code"]
    assert toxicity.grade == AE_GRADE[found["grade"]]
    assert toxicity.severity == found["severity"]


# --- inconsistencies the facts files say to keep, not fix ---------------------------------------------------------


def _case(mapped: dict[str, tuple[list[Case], KeyFacts]], name: str, index: int = 0) -> Case:
    return mapped[name][0][index]


def test_contradictory_ae_grade_and_severity_are_both_kept(mapped: dict[str, tuple[list[Case], KeyFacts]]) -> None:
    toxicity = _case(mapped, "xrts-07-uterus-1p-1v").toxicities[0]
    assert (toxicity.grade, toxicity.severity) == (2, "mild")


@pytest.mark.parametrize("name", ["xrts-06-uterus-1p-1v", "xrts-07-uterus-1p-1v"])
def test_administrative_gender_is_kept_against_birth_sex(
    name: str, mapped: dict[str, tuple[list[Case], KeyFacts]]
) -> None:
    assert _case(mapped, name).patient.sex.value == "male"


def test_reirradiation_doses_are_not_summed(mapped: dict[str, tuple[list[Case], KeyFacts]]) -> None:
    first, second = mapped["xrts-05-brainmets-1p-1v-2c"][0]
    assert [v.total_dose_gy for v in second.course.volumes] == [20.0]
    assert second.course.reirradiation is True
    assert [(p.region, p.total_dose_gy, p.fractions) for p in second.prior_radiotherapy] == [("Brain Mets", 25.0, 5)]
    assert second.prior_radiotherapy[0].source == first.course.source
    assert first.prior_radiotherapy == []
    assert first.course.sessions == 6 and first.course.volumes[0].fractions_delivered == 5  # as recorded


def test_sessions_and_fractions_differ_as_recorded(mapped: dict[str, tuple[list[Case], KeyFacts]]) -> None:
    case = _case(mapped, "xrts-02-prostate-2p-1v")
    assert case.course.sessions == 9
    assert case.course.volumes[0].fractions_delivered == 7
    assert case.course.volumes[0].planned_total_dose_gy == 13.4  # planned course says 1340 cGy though phase 1 said 1260
    primary = next(p for p in case.course.phases if p.name == "Primary")
    assert primary.volumes[0].planned_total_dose_gy == 12.6
    assert primary.volumes[0].dose_per_fraction_gy == 1.8


def test_diagnosis_is_the_reason_code_not_a_left_breast_condition(
    mapped: dict[str, tuple[list[Case], KeyFacts]],
) -> None:
    case = _case(mapped, "mcode-rt-course-summary-chest-wall-jenny-m")
    assert [d.code.code for d in case.diagnoses if d.code] == ["C50.811"]
    assert case.diagnoses[0].laterality is None
    assert case.course.start == date(2018, 8, 15)  # the resource, not the file's header comment


def test_volume_keeps_its_own_label_not_the_reference_display(mapped: dict[str, tuple[list[Case], KeyFacts]]) -> None:
    case = _case(mapped, "xrts-06-uterus-1p-1v")
    assert [v.name for v in case.course.volumes] == ["Cervix Uteri"]
    assert case.course.brachytherapy is not None
    assert (case.course.brachytherapy.dose_rate, case.course.brachytherapy.total_dose_gy) == ("HDR", 30.0)


def test_inputs_and_sources_name_resource_versions(mapped: dict[str, tuple[list[Case], KeyFacts]]) -> None:
    case = _case(mapped, "xrts-01-prostate-1p-1v")
    assert case.case_id == "fhir:RadiotherapyCourseSummary-XRTS-01-22B-01-Prostate-1P-1V"
    assert case.course.source == "Procedure/RadiotherapyCourseSummary-XRTS-01-22B-01-Prostate-1P-1V/_history/2"
    assert case.patient.source == "Patient/Patient-XRTS-01-22B/_history/123"
    assert set(case.inputs) == {
        "Procedure/RadiotherapyCourseSummary-XRTS-01-22B-01-Prostate-1P-1V/_history/2",
        "Procedure/RadiotherapyTreatedPhase-XRTS-01-22B-01-01-Primary/_history/2",
        "ServiceRequest/RadiotherapyPlannedCourse-XRTS-01-22B-01-Prostate-1P-1V/_history/123",
        "ServiceRequest/RadiotherapyPlannedPhase-XRTS-01-22B-01-01-Primary/_history/123",
        "BodyStructure/RadiotherapyVolume-XRTS-01-22B-01-Prostate/_history/123",
        "Patient/Patient-XRTS-01-22B/_history/123",
    }
    jenny = _case(mapped, "mcode-rt-course-summary-chest-wall-jenny-m")
    assert "Patient/cancer-patient-jenny-m" in jenny.inputs  # no versionId: Type/id
