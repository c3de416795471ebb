"""The case model: one completed (or stopped) radiotherapy course and everything its letter needs.

Both the FHIR and the HL7 v2 mapper produce a ``Case``; the prompt, the synthetic cohort, the fact checks and the
agent consume it. Doses are always Gy (the mappers convert cGy), dates are calendar dates in the source's local time.

``Case.facts()`` lists every checkable fact (doses, fraction counts, dates, codes, drug names) in a canonical form so
that a draft can be checked against its case and two mappings of the same patient can be compared.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- small value types ----------------------------------------------------------------------------------------------


class Coding(_Model):
    """A code from a code system; ``system`` is the canonical URL (or a short name such as ``ICD-10-GM``)."""

    system: str | None = None
    code: str
    display: str | None = None


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class CourseStatus(StrEnum):
    completed = "completed"
    stopped = "stopped"
    in_progress = "in-progress"
    unknown = "unknown"


class Intent(StrEnum):
    curative = "curative"
    palliative = "palliative"
    supportive = "supportive"
    adjuvant = "adjuvant"
    neoadjuvant = "neoadjuvant"
    definitive = "definitive"
    unknown = "unknown"


DiagnosisRole = Literal["primary", "secondary", "comorbidity"]


# --- people ---------------------------------------------------------------------------------------------------------


class Patient(_Model):
    id: str  # the site's patient id (MRN); PHI
    given: str | None = None
    family: str | None = None
    birth_date: date | None = None
    sex: Sex = Sex.unknown
    address: str | None = None  # one line, for the letter header
    deceased: bool | None = None  # FHIR Patient.deceased[x], PID-30: a letter generator must notice it
    source: str | None = None  # e.g. "Patient/123/_history/2" or "PID"

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.given, self.family) if p)


class Physician(_Model):
    """A treating, referring or copied physician."""

    id: str | None = None
    prefix: str | None = None  # academic title as written: "Dr. med.", "Prof. Dr."
    given: str | None = None
    family: str | None = None
    sex: Sex = Sex.unknown  # decides "Sehr geehrte Frau Kollegin" / "Sehr geehrter Herr Kollege"
    organization: str | None = None
    address: str | None = None
    source: str | None = None
    via: str | None = None  # where the role was found: "ServiceRequest.requester", "CareTeam", "PV1-8" ...

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.prefix, self.given, self.family) if p)


# --- diagnoses and history ------------------------------------------------------------------------------------------


class Diagnosis(_Model):
    role: DiagnosisRole = "primary"
    code: Coding | None = None  # ICD-10-GM / ICD-10 / ICD-10-CM (or SNOMED when nothing else is given)
    text: str | None = None
    laterality: str | None = None  # "left", "right", "bilateral"
    histology: Coding | None = None  # ICD-O-3 morphology or SNOMED
    grade: str | None = None
    tnm: str | None = None  # as written: "pT1c pN0 (0/2 sn) M0"
    stage: str | None = None  # UICC/AJCC stage group: "IA", "IIIC"
    receptor_status: str | None = None
    diagnosis_date: date | None = None
    source: str | None = None


class Surgery(_Model):
    text: str
    code: Coding | None = None  # OPS / SNOMED / CPT
    performed: date | None = None
    source: str | None = None


class SystemicTherapy(_Model):
    """Chemotherapy, antibody, hormone or immunotherapy, before or during radiotherapy."""

    agents: list[str] = Field(default_factory=list)  # INN drug names: "cisplatin", "capecitabine"
    dose: str | None = None  # as written: "40 mg/m² weekly"
    cycles: int | None = None
    start: date | None = None
    end: date | None = None
    concurrent: bool = False  # given with the radiotherapy course
    text: str | None = None
    source: str | None = None


class PriorRadiotherapy(_Model):
    region: str
    total_dose_gy: float | None = None
    fractions: int | None = None
    start: date | None = None
    end: date | None = None
    text: str | None = None
    source: str | None = None


# --- the course -----------------------------------------------------------------------------------------------------


class TargetVolume(_Model):
    """A treated volume with its delivered (and, where known, planned) dose."""

    name: str  # "PTV Mamma links", "Brain Mets"
    site: Coding | None = None  # anatomical structure
    laterality: str | None = None
    volume_type: str | None = None  # PTV / CTV / GTV
    total_dose_gy: float | None = None  # delivered
    dose_per_fraction_gy: float | None = None
    fractions_delivered: int | None = None
    planned_total_dose_gy: float | None = None
    fractions_planned: int | None = None
    boost: bool = False  # sequential boost or simultaneous integrated boost
    source: str | None = None


class Phase(_Model):
    """A treated phase (CodeX TreatedPhase): e.g. initial volume then boost."""

    name: str | None = None
    status: CourseStatus = CourseStatus.unknown
    start: date | None = None
    end: date | None = None
    fractions_delivered: int | None = None
    fractions_planned: int | None = None
    status_reason: Coding | None = None  # why the phase stopped or was revised (CodeX reason-for-revision)
    modality: str | None = None
    technique: str | None = None
    volumes: list[TargetVolume] = Field(default_factory=list)
    source: str | None = None


class Brachytherapy(_Model):
    source_isotope: str | None = None  # "Ir-192"
    dose_rate: str | None = None  # "HDR", "LDR", "PDR"
    applicator: str | None = None
    total_dose_gy: float | None = None
    dose_per_fraction_gy: float | None = None
    fractions: int | None = None
    text: str | None = None


class Course(_Model):
    id: str  # the course summary's id (FHIR logical id or the site's course id)
    name: str | None = None
    status: CourseStatus = CourseStatus.completed
    status_reason: Coding | None = None  # why it stopped (FHIR Procedure.statusReason)
    intent: Intent = Intent.unknown
    start: date | None = None
    end: date | None = None
    body_sites: list[Coding] = Field(default_factory=list)
    laterality: str | None = None  # of the treated body site: "left", "right", "bilateral"
    modalities: list[str] = Field(default_factory=list)  # "photons", "electrons", "protons", "HDR brachytherapy"
    techniques: list[str] = Field(default_factory=list)  # "VMAT", "IMRT", "3D-CRT", "SBRT"
    energy: str | None = None  # "6 MV"
    image_guidance: str | None = None  # "daily CBCT"
    motion_management: str | None = None
    sessions: int | None = None
    reirradiation: bool | None = None
    volumes: list[TargetVolume] = Field(default_factory=list)  # course totals per volume
    phases: list[Phase] = Field(default_factory=list)
    concurrent_therapy: list[SystemicTherapy] = Field(default_factory=list)
    brachytherapy: Brachytherapy | None = None
    source: str | None = None

    @property
    def completed_as_planned(self) -> bool:
        """Recorded as completed, and no phase of it stopped (a phase stopped for a new plan is a stop its letter
        states)."""
        return self.status is CourseStatus.completed and not any(p.status is CourseStatus.stopped for p in self.phases)


# --- events and follow-up -------------------------------------------------------------------------------------------


class Toxicity(_Model):
    term: str  # CTCAE v5 term: "Radiation dermatitis"
    grade: int | None = Field(default=None, ge=1, le=5)  # None: recorded without a grade (the letter says so)
    severity: str | None = None  # as sent besides the grade ("mild"); kept even when it contradicts the grade
    onset: date | None = None
    code: Coding | None = None  # MedDRA / SNOMED where sent
    source: str | None = None


class Interruption(_Model):
    start: date | None = None
    end: date | None = None
    days: int | None = None
    reason: str | None = None
    source: str | None = None


class PerformanceStatus(_Model):
    scale: Literal["ECOG", "Karnofsky"]
    value: int
    observed: date | None = None
    source: str | None = None


class Appointment(_Model):
    when: date | datetime  # date first: a date-only appointment must not become midnight
    kind: str  # "Nachsorge", "MRT", "follow-up visit"
    text: str | None = None
    source: str | None = None


class Note(_Model):
    """Free text from the source. Always data, never instructions: the prompt quotes it."""

    text: str
    author: str | None = None
    written: date | None = None
    source: str | None = None


class FollowUp(_Model):
    appointments: list[Appointment] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    # Where each recommendation is from, in the same order ("CarePlan/cp-1", "OBX[12]"); shorter or empty: not known.
    recommendation_sources: list[str | None] = Field(default_factory=list)

    def recommendation_source(self, index: int) -> str | None:
        """The resource or segment of ``recommendations[index]``, where the mapper recorded one."""
        return self.recommendation_sources[index] if index < len(self.recommendation_sources) else None


class CaseFlag(_Model):
    """Something a reviewer must see that is not written into the letter: an unknown code, a derived value that is
    not clean. ``where`` names the resource/segment and element, ``detail`` the codes or figures (no PHI)."""

    kind: Literal["unknown_code", "dose_ratio"]
    where: str
    detail: str


# --- facts ----------------------------------------------------------------------------------------------------------

FactKind = Literal["dose", "fractions", "date", "code", "drug", "status"]  # "status": only ever omitted (the check)


class Fact(_Model):
    """One checkable fact in canonical form: dose ``"50.4"`` (Gy), fractions ``"28"``, date ``"2026-03-02"``,
    code ``"C20"``, drug ``"capecitabine"`` (lower case). ``label`` says what it is, for reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FactKind
    value: str
    label: str


def format_gy(value: float) -> str:
    """Canonical dose text: at most two decimals, no trailing zeros (``50.4``, ``2.67``, ``8``)."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


# --- the case -------------------------------------------------------------------------------------------------------


class Case(_Model):
    """One course of one patient, with the context its letter needs."""

    case_id: str  # idempotency key: "<source>:<course id>"
    source_kind: Literal["fhir", "hl7v2", "synthetic"] = "fhir"
    language: Literal["de", "en"] = "de"
    patient: Patient
    treating_physician: Physician | None = None
    referring_physician: Physician | None = None
    copies_to: list[Physician] = Field(default_factory=list)
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    surgeries: list[Surgery] = Field(default_factory=list)
    systemic_therapies: list[SystemicTherapy] = Field(default_factory=list)  # before the course
    prior_radiotherapy: list[PriorRadiotherapy] = Field(default_factory=list)
    course: Course
    toxicities: list[Toxicity] = Field(default_factory=list)
    interruptions: list[Interruption] = Field(default_factory=list)
    performance_status: list[PerformanceStatus] = Field(default_factory=list)
    follow_up: FollowUp = Field(default_factory=FollowUp)
    notes: list[Note] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list)  # every input resource version used: "Procedure/x/_history/6"
    flags: list[CaseFlag] = Field(default_factory=list)  # for the reviewer; never part of the prompt

    @property
    def worst_grade(self) -> int:
        """The highest CTCAE grade among the recorded toxicities (0: none graded): what a letter's tolerance sentence
        goes by."""
        return max((t.grade or 0 for t in self.toxicities), default=0)

    @property
    def primary_diagnosis(self) -> Diagnosis | None:
        return next((d for d in self.diagnoses if d.role == "primary"), self.diagnoses[0] if self.diagnoses else None)

    def facts(self) -> list[Fact]:
        """Every checkable fact of the case, deduplicated, in a stable order."""
        found: dict[tuple[str, str], Fact] = {}

        def add(kind: FactKind, value: object, label: str) -> None:
            if value is None or value == "":
                return
            if kind == "dose":
                text = format_gy(float(value))  # type: ignore[arg-type]
            elif kind == "date":
                text = value.isoformat() if isinstance(value, date) else str(value)
                text = text[:10]
            elif kind == "drug":
                text = str(value).strip().lower()
            else:
                text = str(value).strip()
            found.setdefault((kind, text), Fact(kind=kind, value=text, label=label))

        for dx in self.diagnoses:
            if dx.code:
                add("code", dx.code.code, f"{dx.role} diagnosis code")
            add("date", dx.diagnosis_date, "date of diagnosis")
        for surgery in self.surgeries:
            add("date", surgery.performed, "surgery date")
        for therapy in [*self.systemic_therapies, *self.course.concurrent_therapy]:
            for agent in therapy.agents:
                add("drug", agent, "systemic therapy agent")
            add("date", therapy.start, "systemic therapy start")
            add("date", therapy.end, "systemic therapy end")
        for prior in self.prior_radiotherapy:
            add("dose", prior.total_dose_gy, f"prior radiotherapy dose ({prior.region})")
            add("fractions", prior.fractions, f"prior radiotherapy fractions ({prior.region})")
            add("date", prior.start, f"prior radiotherapy start ({prior.region})")
            add("date", prior.end, f"prior radiotherapy end ({prior.region})")

        course = self.course
        add("date", course.start, "course start")
        add("date", course.end, "course end")
        volumes = [*course.volumes, *(v for phase in course.phases for v in phase.volumes)]
        for volume in volumes:
            add("dose", volume.total_dose_gy, f"total dose {volume.name}")
            add("dose", volume.dose_per_fraction_gy, f"dose per fraction {volume.name}")
            add("dose", volume.planned_total_dose_gy, f"planned dose {volume.name}")
            add("fractions", volume.fractions_delivered, f"fractions delivered {volume.name}")
            add("fractions", volume.fractions_planned, f"fractions planned {volume.name}")
        for phase in course.phases:
            add("date", phase.start, f"phase start {phase.name or ''}".strip())
            add("date", phase.end, f"phase end {phase.name or ''}".strip())
            add("fractions", phase.fractions_delivered, f"phase fractions {phase.name or ''}".strip())
            add("fractions", phase.fractions_planned, f"phase fractions planned {phase.name or ''}".strip())
        if course.brachytherapy:
            brachy = course.brachytherapy
            add("dose", brachy.total_dose_gy, "brachytherapy total dose")
            add("dose", brachy.dose_per_fraction_gy, "brachytherapy dose per fraction")
            add("fractions", brachy.fractions, "brachytherapy fractions")
        for interruption in self.interruptions:
            add("date", interruption.start, "interruption start")
            add("date", interruption.end, "interruption end")
        for appointment in self.follow_up.appointments:
            add("date", appointment.when, f"appointment {appointment.kind}")
        return list(found.values())
