"""A seeded synthetic cohort: per patient a ``Case``, its reference letter, the FHIR bundle and the HL7 v2 message.

Byte-for-byte deterministic: every patient draws from its own ``random.Random(f"{seed}:{index}")`` (string seeds are
hashed with SHA-512 by ``random``, independent of PYTHONHASHSEED), no clock, no uuid, no set or dict-hash order. A
cohort of n patients is the prefix of a larger cohort with the same seed.

Dates: fractions fall on working days (Monday to Friday; holidays are ignored), 5 a week, stereotactic schedules every
other working day, HDR brachytherapy once a week after the external beam phase; an interruption skips working days
and pushes the end date. Every volume's total dose is its fractions times its dose per fraction, except the course total
of a re-planned course (``plan_change``: two phases of one volume with different doses per fraction), which is the sum
of its phases, which lie 2 to 4 working days apart (the new plan is made in between).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from rtletter.demo.synth.entities import (
    COMORBIDITIES,
    ENTITIES,
    PLAN_CHANGE_REASONS,
    REIRRADIATION_DX,
    STOP_REASONS,
    DiagnosisSpec,
    DrugSpec,
    Entity,
    Regimen,
    T,
    VolumeSpec,
)
from rtletter.demo.synth.people import DEPARTMENTS, REFERRERS, Department, address, person_name, physician
from rtletter.mappers.case import (
    Appointment,
    Brachytherapy,
    Case,
    Coding,
    Course,
    CourseStatus,
    Diagnosis,
    FollowUp,
    Interruption,
    Patient,
    PerformanceStatus,
    Phase,
    Physician,
    PriorRadiotherapy,
    Surgery,
    SystemicTherapy,
    TargetVolume,
    Toxicity,
)
from rtletter.mappers.codes import ICD10_GM, ICD_O_3, OPS

STOP_REASON_SYSTEM = "urn:rtletter:synthetic:stop-reason"
PLAN_CHANGE_SYSTEM = "urn:rtletter:synthetic:plan-change-reason"

FIRST_START = date(2025, 1, 6)  # earliest first fraction; a Monday
START_WINDOW_DAYS = 630
LATIN1_SHARE = 0.3  # share of HL7 v2 messages sent as ISO 8859-1 (MSH-18 "8859/1"), the rest UTF-8

# Probabilities of the cohort's special cases (per patient).
P_STOPPED = 0.08
P_INTERRUPTED = 0.15
P_GRADE3 = 0.10
P_NO_REFERRER = 0.08
P_NO_HISTOLOGY = 0.08
P_NO_TNM = 0.08
P_NO_APPOINTMENT = 0.08
# Share of patients whose record comes from another system, as sparse as the CodeX examples (``_sparse_record``);
# drawn from its own generator, so that every other patient stays as it was.
P_SPARSE_RECORD = 0.15
# Share of the courses that can be re-planned (one volume, one phase, >= 10 daily fractions) that are: phase 1 stops,
# phase 2 treats the same volume with another dose per fraction (XRTS-02's shape). Own generator, as above.
P_PLAN_CHANGE = 0.2

INTERRUPTION_REASONS: tuple[T, ...] = (
    T("technischer Defekt des Linearbeschleunigers", "a technical fault of the linear accelerator"),
    T("fieberhafter Infekt", "a febrile infection"),
    T("Wunsch der Patientin/des Patienten (familiäre Gründe)", "the patient's request (family reasons)"),
)
GRADE3_REASON = T("akute Toxizität Grad 3", "grade 3 acute toxicity")


@dataclass(frozen=True)
class SyntheticCase:
    """A case and its reference letter, with what the cohort writer and the tests need to know about it."""

    patient_id: str
    entity: str
    regimen: str
    case: Case
    letter: str
    letter_date: date
    style: str
    v2_encoding: str  # "utf-8" or "latin-1"
    features: tuple[str, ...]  # "stopped", "interrupted", "grade3", "no_referrer", "no_histology", "no_tnm", ...


@dataclass(frozen=True)
class SyntheticPatient:
    patient_id: str
    entity: str
    case: Case
    letter: str
    bundle: dict[str, Any]
    v2: bytes
    regimen: str = ""
    letter_date: date | None = None
    style: str = ""
    v2_encoding: str = "utf-8"
    features: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        return str(self.case.course.status.value)


@dataclass
class Plan:
    """What the letter writer needs beyond the case: the entity and regimen texts, the style, planned therapy."""

    entity: Entity
    regimen: Regimen
    style: str
    department: Department
    letter_date: date
    stop_reason: T | None = None
    interruption_reason: T | None = None
    planned: list[SystemicTherapy] = field(default_factory=list)  # systemic therapy planned after the course
    primary_spec: DiagnosisSpec | None = None
    features: list[str] = field(default_factory=list)


# --- calendar ---------------------------------------------------------------------------------------------------------


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def next_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def add_working_days(day: date, n: int) -> date:
    """The n-th working day after ``day`` (n >= 0; 0 gives ``day`` itself moved to a working day)."""
    day = next_working_day(day)
    for _ in range(n):
        day = next_working_day(day + timedelta(days=1))
    return day


def fraction_dates(start: date, n: int, step: int = 1, skip_after: int | None = None, skip: int = 0) -> list[date]:
    """Dates of n fractions from ``start``, one every ``step`` working days; ``skip`` working days are left out after
    fraction number ``skip_after`` (an interruption)."""
    dates = [next_working_day(start)]
    while len(dates) < n:
        gap = step + (skip if skip_after is not None and len(dates) == skip_after else 0)
        dates.append(add_working_days(dates[-1], gap))
    return dates


# --- building one case ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    """A course re-planned mid-way, as in XRTS-02: phase 1 (3D-CRT) stops after ``before`` of its planned fractions,
    phase 2 (IMRT or VMAT) gives the same volume ``after`` fractions of ``dose_per_fraction``, so the course total has
    no single dose per fraction."""

    before: int
    after: int
    dose_per_fraction: float
    gap: int  # working days without treatment while the new plan is made
    technique: str
    reason: T


def _plan_change(seed: int, index: int, lang: str, regimen: Regimen) -> PlanChange | None:
    """Whether (and how) this patient's course is re-planned; drawn from its own generator."""
    rng = random.Random(f"{seed}:{index}:{lang}:plan-change")
    if rng.random() >= P_PLAN_CHANGE:
        return None
    if regimen.phases != 1 or len(regimen.volumes) != 1 or regimen.brachy or regimen.every_other_day:
        return None
    spec = regimen.volumes[0]
    if spec.fractions < 10:
        return None
    before = rng.randint(3, min(8, spec.fractions - 5))
    d1 = spec.dose_per_fraction
    dose = 2.0 if d1 < 2.0 else 1.8 if d1 == 2.0 else 2.5 if d1 > 2.5 else 2.0  # another, near the first
    after = max(2, round((spec.fractions - before) * d1 / dose))  # about the dose the first plan had left
    return PlanChange(before=before, after=after, dose_per_fraction=dose, gap=rng.randint(2, 4),
                      technique=_pick(rng, ("IMRT", "VMAT")), reason=_pick(rng, PLAN_CHANGE_REASONS))  # fmt: skip


def _replanned(spec: VolumeSpec, change: PlanChange, dates: list[date], modality: str, laterality: str | None,
               lang: str) -> tuple[list[TargetVolume], list[Phase]]:  # fmt: skip
    """The course volume (total and fractions only) and the two phases of a re-planned course."""
    same = {"name": spec.name.get(lang), "laterality": laterality, "volume_type": spec.volume_type,
            "boost": spec.boost, "source": "synthetic"}  # fmt: skip
    d1, d2 = spec.dose_per_fraction, change.dose_per_fraction
    first = TargetVolume(**same, total_dose_gy=round(d1 * change.before, 2), dose_per_fraction_gy=d1,
                         fractions_delivered=change.before, planned_total_dose_gy=spec.total)  # fmt: skip
    second = TargetVolume(**same, total_dose_gy=round(d2 * change.after, 2), dose_per_fraction_gy=d2,
                          fractions_delivered=change.after)  # fmt: skip
    total = TargetVolume(**same, total_dose_gy=round(d1 * change.before + d2 * change.after, 2),
                         fractions_delivered=change.before + change.after)  # fmt: skip
    reason = Coding(system=PLAN_CHANGE_SYSTEM, code=f"change-{PLAN_CHANGE_REASONS.index(change.reason) + 1}",
                    display=change.reason.get(lang))  # fmt: skip
    phases = [
        Phase(name=T("Serie 1", "Phase 1").get(lang), status=CourseStatus.stopped, start=dates[0],
              end=dates[change.before - 1], fractions_delivered=change.before, fractions_planned=spec.fractions,
              status_reason=reason, modality=modality, technique="3D-CRT", volumes=[first], source="synthetic"),
        Phase(name=T("Serie 2", "Phase 2").get(lang), status=CourseStatus.completed, start=dates[change.before],
              end=dates[-1], fractions_delivered=change.after, fractions_planned=change.after, modality=modality,
              technique=change.technique, volumes=[second], source="synthetic"),
    ]  # fmt: skip
    return [total], phases


def _pick(rng: random.Random, items: tuple[Any, ...] | list[Any]) -> Any:
    return items[rng.randrange(len(items))]


def _weighted(rng: random.Random, regimens: tuple[Regimen, ...]) -> Regimen:
    total = sum(r.weight for r in regimens)
    roll = rng.randrange(total)
    for regimen in regimens:
        roll -= regimen.weight
        if roll < 0:
            return regimen
    return regimens[-1]


def _birth_date(rng: random.Random, start: date, ages: tuple[int, int]) -> date:
    age = rng.randint(*ages)
    return date(start.year - age, rng.randint(1, 12), rng.randint(1, 28))


def _side(rng: random.Random) -> str:
    return "left" if rng.random() < 0.5 else "right"


def _systemic(spec: DrugSpec, lang: str, start: date | None, end: date | None, concurrent: bool,
              text: str | None = None) -> SystemicTherapy:  # fmt: skip
    return SystemicTherapy(agents=list(spec.agents), dose=spec.dose.get(lang), cycles=spec.cycles, start=start,
                           end=end, concurrent=concurrent, text=text or spec.label.get(lang))  # fmt: skip


def _entity_order(seed: int) -> list[str]:
    keys = sorted(ENTITIES)
    random.Random(f"entities:{seed}").shuffle(keys)
    return keys


def build_case(seed: int, index: int, lang: str = "de") -> tuple[Case, Plan]:
    """The index-th synthetic patient of the cohort ``seed``, and the plan its letter follows."""
    if lang not in ("de", "en"):
        raise ValueError(f"unsupported letter language: {lang!r}")
    rng = random.Random(f"{seed}:{index}:{lang}")
    order = _entity_order(seed)
    entity = ENTITIES[order[index % len(order)]]
    regimen = _weighted(rng, entity.regimens)
    department = DEPARTMENTS[lang]
    features: list[str] = []
    patient_id = f"SYN{seed % 1000:03d}{index + 1:05d}"

    # Metastases: the primary tumour first, since a prostate or breast primary decides the patient's sex.
    primary_spec: DiagnosisSpec | None = None
    p_index = 0
    if entity.primaries:
        p_index = rng.randrange(len(entity.primaries))
        primary_spec = entity.primaries[p_index]

    # The patient.
    start = add_working_days(FIRST_START, rng.randrange(START_WINDOW_DAYS) * 5 // 7)
    sex = _pick(rng, primary_spec.sexes if primary_spec is not None and primary_spec.sexes else entity.sexes)
    given, family = person_name(rng, sex, lang)
    patient = Patient(id=patient_id, given=given, family=family, birth_date=_birth_date(rng, start, entity.ages),
                      sex=sex, address=address(rng, lang), source="synthetic")  # fmt: skip

    # Diagnoses.
    dx_index = regimen.diagnosis if regimen.diagnosis is not None else rng.randrange(len(entity.diagnoses))
    dx_spec = entity.diagnoses[dx_index]
    side = _side(rng) if dx_spec.lateral else None
    diagnosis_date = start - timedelta(days=rng.randint(25, 70))
    diagnoses: list[Diagnosis] = []
    histology_ref = p_index if primary_spec is not None else dx_index  # metastases: the primary's histology
    histology = None
    if entity.histologies and rng.random() >= P_NO_HISTOLOGY and not regimen.key.startswith("nsclc-sbrt-central"):
        h = entity.histologies[histology_ref] if len(entity.histologies) > histology_ref else entity.histologies[0]
        histology = Coding(system=ICD_O_3, code=h.code, display=h.text.get(lang))
    elif entity.histologies:
        features.append("no_histology")
    stage = _pick(rng, entity.stages) if entity.stages else None
    if stage is not None and rng.random() < P_NO_TNM:
        stage = None
        features.append("no_tnm")
    grade = _pick(rng, entity.grades) if entity.grades and histology else None
    receptor = _pick(rng, entity.receptors) if entity.receptors else None
    if primary_spec is not None:
        primary_side = _side(rng) if primary_spec.lateral else None
        diagnoses.append(Diagnosis(role="primary", code=Coding(system=ICD10_GM, code=primary_spec.code,
                                   display=primary_spec.text.get(lang)), text=primary_spec.text.get(lang),
                                   laterality=primary_side, histology=histology,
                                   diagnosis_date=diagnosis_date - timedelta(days=rng.randint(120, 900)),
                                   source="synthetic"))  # fmt: skip
        diagnoses.append(Diagnosis(role="secondary", code=Coding(system=ICD10_GM, code=dx_spec.code,
                                   display=dx_spec.text.get(lang)), text=dx_spec.text.get(lang),
                                   tnm=stage.tnm if stage else None, stage=stage.stage if stage else None,
                                   diagnosis_date=diagnosis_date, source="synthetic"))  # fmt: skip
    else:
        diagnoses.append(Diagnosis(role="primary", code=Coding(system=ICD10_GM, code=dx_spec.code,
                                   display=dx_spec.text.get(lang)), text=dx_spec.text.get(lang), laterality=side,
                                   histology=histology, grade=grade, tnm=stage.tnm if stage else None,
                                   stage=stage.stage if stage else None, receptor_status=receptor,
                                   diagnosis_date=diagnosis_date, source="synthetic"))  # fmt: skip
    for spec in rng.sample(COMORBIDITIES, rng.choice((0, 1, 1, 2))):
        diagnoses.append(Diagnosis(role="comorbidity", code=Coding(system=ICD10_GM, code=spec.code,
                                   display=spec.text.get(lang)), text=spec.text.get(lang)))  # fmt: skip

    # Treatment history: surgery, systemic therapy, earlier radiotherapy.
    surgeries: list[Surgery] = []
    wants_surgery = regimen.surgery if regimen.surgery is not None else bool(entity.surgeries)
    if wants_surgery and entity.surgeries:
        s = _pick(rng, entity.surgeries)
        performed = start - timedelta(weeks=rng.randint(*s.weeks_before), days=rng.randint(0, 4))
        performed = next_working_day(performed)
        surgeries.append(Surgery(text=s.text.get(lang), code=Coding(system=OPS, code=s.code), performed=performed,
                                 source="synthetic"))  # fmt: skip
    systemic: list[SystemicTherapy] = []
    prior_options = regimen.prior if regimen.prior is not None else entity.prior_systemic
    if prior_options and rng.random() < 0.7:
        spec = _pick(rng, prior_options)
        begin = next_working_day(start - timedelta(weeks=rng.randint(*spec.weeks_before)))
        end = next_working_day(begin + timedelta(weeks=spec.weeks_long)) if spec.weeks_long else None
        systemic.append(_systemic(spec, lang, begin, end, concurrent=False))
    prior_rt: list[PriorRadiotherapy] = []
    if regimen.reirradiation:
        features.append("reirradiation")
        if entity.key == "brain_mets":
            region, total, fx, months = T("Ganzhirn", "whole brain"), 30.0, 10, rng.randint(6, 18)
        else:
            region, total, fx, months = T("LWK 3", "lumbar vertebra 3"), 8.0, 1, rng.randint(4, 12)
        prior_end = next_working_day(start - timedelta(days=30 * months))
        prior_start = prior_end - timedelta(days=(fx - 1) * 7 // 5)
        prior_rt.append(PriorRadiotherapy(region=region.get(lang), total_dose_gy=total, fractions=fx,
                                          start=next_working_day(prior_start), end=prior_end,
                                          text=region.get(lang), source="synthetic"))  # fmt: skip
        diagnoses.append(
            Diagnosis(
                role="comorbidity",
                code=Coding(system=ICD10_GM, code=REIRRADIATION_DX.code, display=REIRRADIATION_DX.text.get(lang)),
                text=REIRRADIATION_DX.text.get(lang),
            )
        )

    # The course: schedule, interruption, stop.
    phase_count = regimen.phases
    step = 2 if regimen.every_other_day else 1
    phase_fx = [max(v.fractions for v in regimen.volumes if v.phase == p) for p in range(phase_count)]
    total_fx = sum(phase_fx)
    change = _plan_change(seed, index, lang, regimen)
    stopped_at: int | None = None  # fractions delivered in all, when stopped
    if total_fx >= 5 and rng.random() < P_STOPPED:
        last_phase_first = sum(phase_fx[:-1])
        stopped_at = last_phase_first + max(1, int(phase_fx[-1] * rng.uniform(0.3, 0.85)))
        stopped_at = min(stopped_at, total_fx - 1)
        features.append("stopped")
    skip_after: int | None = None
    skip = 0
    interruption_reason: T | None = None
    grade3 = rng.random() < P_GRADE3
    if total_fx >= 10 and rng.random() < P_INTERRUPTED:
        limit = stopped_at if stopped_at is not None else total_fx
        skip_after = rng.randint(3, max(3, limit - 2))
        skip = rng.randint(1, 5)
        interruption_reason = GRADE3_REASON if grade3 else _pick(rng, INTERRUPTION_REASONS)
        features.append("interrupted")
    if change is not None:  # a re-planned course is neither stopped nor interrupted as well
        stopped_at, skip_after, skip, interruption_reason = None, None, 0, None
        features[:] = [f for f in features if f not in ("stopped", "interrupted")] + ["plan_change"]
    brachy_spec = regimen.brachy
    # External beam fractions (phase 0 and sequential boost) back to back; brachytherapy weekly afterwards.
    ebrt_fx = total_fx - (brachy_spec.fractions if brachy_spec else 0)
    dates = fraction_dates(start, ebrt_fx, step=step, skip_after=skip_after, skip=skip)
    if change is not None:
        ebrt_fx = change.before + change.after
        dates = dates[: change.before] + fraction_dates(add_working_days(dates[change.before - 1], change.gap + 1),
                                                        change.after)  # fmt: skip
    if brachy_spec:
        first_brachy = add_working_days(dates[-1], 3)
        dates += [add_working_days(first_brachy, 5 * k) for k in range(brachy_spec.fractions)]
    delivered_dates = dates[:stopped_at] if stopped_at is not None else dates
    course_end = delivered_dates[-1]

    interruptions: list[Interruption] = []
    if skip_after is not None and skip_after < len(delivered_dates):
        first_missed = add_working_days(dates[skip_after - 1], 1)
        last_missed = add_working_days(first_missed, skip - 1)
        interruptions.append(Interruption(start=first_missed, end=last_missed, days=skip,
                                          reason=interruption_reason.get(lang) if interruption_reason else None,
                                          source="synthetic"))  # fmt: skip
    elif "interrupted" in features:
        features.remove("interrupted")
        interruption_reason = None

    technique = _pick(rng, regimen.techniques)
    energy = _pick(rng, regimen.energies)
    if technique in ("SBRT", "SRS"):
        energy = "6 MV FFF"
    volumes: list[TargetVolume] = []
    phases: list[Phase] = []
    offset = 0
    for p in range(phase_count):
        n_planned = phase_fx[p]
        phase_dates = dates[offset : offset + n_planned]
        delivered_here = max(0, min(n_planned, (stopped_at if stopped_at is not None else total_fx) - offset))
        phase_volumes: list[TargetVolume] = []
        for volume_spec in (v for v in regimen.volumes if v.phase == p):
            n_delivered = delivered_here
            partial = n_delivered < volume_spec.fractions
            volume = TargetVolume(
                name=volume_spec.name.get(lang),
                laterality=side if dx_spec.lateral and entity.key in ("breast",) else None,
                volume_type=volume_spec.volume_type,
                total_dose_gy=round(volume_spec.dose_per_fraction * n_delivered, 2),
                dose_per_fraction_gy=volume_spec.dose_per_fraction,
                fractions_delivered=n_delivered,
                planned_total_dose_gy=volume_spec.total if partial else None,
                fractions_planned=volume_spec.fractions if partial else None,
                boost=volume_spec.boost,
                source="synthetic",
            )
            phase_volumes.append(volume)
        is_brachy = bool(brachy_spec) and p == phase_count - 1
        if phase_count > 1:
            phases.append(Phase(
                name=(T("Brachytherapie", "Brachytherapy") if is_brachy else
                      T("Serie 1", "Phase 1") if p == 0 else T("Boost", "Boost")).get(lang),
                status=CourseStatus.stopped if delivered_here < n_planned else CourseStatus.completed,
                start=phase_dates[0],
                end=phase_dates[delivered_here - 1] if delivered_here else None,
                fractions_delivered=delivered_here,
                fractions_planned=n_planned,
                modality="HDR brachytherapy" if is_brachy else regimen.modality,
                technique="HDR brachytherapy" if is_brachy else technique,
                volumes=phase_volumes,
                source="synthetic",
            ))  # fmt: skip
        volumes.extend(phase_volumes)
        offset += n_planned
    if change is not None:  # one phase and one volume above, now split in two
        laterality = side if dx_spec.lateral and entity.key in ("breast",) else None
        volumes, phases = _replanned(regimen.volumes[0], change, dates, regimen.modality, laterality, lang)
    if len(regimen.volumes) > 1:
        features.append("several_volumes")
    if any(v.boost for v in regimen.volumes):
        features.append("boost")

    concurrent: list[SystemicTherapy] = []
    if regimen.concurrent:
        chemo_end = delivered_dates[min(len(delivered_dates), ebrt_fx) - 1]
        concurrent.append(_systemic(regimen.concurrent, lang, start, chemo_end, concurrent=True))
    planned: list[SystemicTherapy] = []
    if regimen.followed_by and stopped_at is None:
        when = T("geplant nach Abschluss der Radiatio: ", "planned after radiotherapy: ").get(lang)
        text = when + regimen.followed_by.label.get(lang)
        planned.append(_systemic(regimen.followed_by, lang, None, None, concurrent=False, text=text))
        systemic.extend(planned)

    brachy = None
    modalities = [regimen.modality]
    techniques = [technique] if change is None else [p.technique or "" for p in phases]
    if brachy_spec:
        delivered_brachy = max(0, len(delivered_dates) - ebrt_fx)
        brachy = Brachytherapy(
            source_isotope=brachy_spec.isotope,
            dose_rate=brachy_spec.dose_rate,
            applicator=brachy_spec.applicator.get(lang),
            total_dose_gy=round(brachy_spec.dose_per_fraction * delivered_brachy, 2),
            dose_per_fraction_gy=brachy_spec.dose_per_fraction,
            fractions=delivered_brachy,
        )
        modalities.append("HDR brachytherapy")
        techniques.append("HDR brachytherapy")

    stop_reason = _pick(rng, STOP_REASONS) if stopped_at is not None else None
    course = Course(
        id=f"{patient_id}-RT1",
        name=regimen.label.get(lang),
        status=CourseStatus.stopped if stopped_at is not None else CourseStatus.completed,
        status_reason=Coding(system=STOP_REASON_SYSTEM, code=f"stop-{STOP_REASONS.index(stop_reason) + 1}",
                             display=stop_reason.get(lang)) if stop_reason else None,
        intent=regimen.intent,
        start=dates[0],
        end=course_end,
        modalities=modalities,
        techniques=techniques,
        energy=energy,
        image_guidance=_pick(rng, regimen.image_guidance),
        sessions=len(delivered_dates),
        reirradiation=regimen.reirradiation,
        volumes=volumes,
        phases=phases,
        concurrent_therapy=concurrent,
        brachytherapy=brachy,
        source="synthetic",
    )  # fmt: skip

    # Events: toxicities, performance status.
    n_tox = rng.choice((0, 1, 1, 2, 2, 3))
    terms = list(entity.toxicities[: max(n_tox + 1, 3)])
    rng.shuffle(terms)
    toxicities: list[Toxicity] = []
    for k, term in enumerate(terms[:n_tox] if not grade3 else terms[: max(1, n_tox)]):
        graded = 3 if grade3 and k == 0 else rng.choice((1, 1, 2))
        onset = delivered_dates[min(len(delivered_dates) - 1, rng.randrange(len(delivered_dates)))]
        toxicities.append(Toxicity(term=term, grade=graded, onset=onset, source="synthetic"))
    if grade3:
        features.append("grade3")
    ecog_start = rng.choice((0, 0, 1, 1, 2)) if regimen.intent.value != "palliative" else rng.choice((1, 2, 2, 3))
    ecog_end = min(4, ecog_start + (1 if grade3 or stopped_at is not None else rng.choice((0, 0, 1))))
    performance = [
        PerformanceStatus(scale="ECOG", value=ecog_start, observed=dates[0], source="synthetic"),
        PerformanceStatus(scale="ECOG", value=ecog_end, observed=course_end, source="synthetic"),
    ]

    # People: referring physician, copies, the treating attending.
    referrer_options = REFERRERS[entity.key]
    org = _pick(rng, referrer_options)
    referring: Physician | None = physician(rng, lang, org[0] if lang == "de" else org[1], f"REF-{patient_id}")
    if rng.random() < P_NO_REFERRER:
        referring = None
        features.append("no_referrer")
    gp_org = "Hausarztpraxis" if lang == "de" else "General practice"
    copies: list[Physician] = [physician(rng, lang, gp_org, f"GP-{patient_id}")]
    attending, style = _pick(rng, department.attendings)

    # Follow-up.
    appointments: list[Appointment] = []
    if rng.random() >= P_NO_APPOINTMENT:
        first = add_working_days(course_end + timedelta(weeks=rng.randint(6, 8)), 0)
        appointments.append(
            Appointment(
                when=datetime.combine(first, time(rng.randint(8, 15), rng.choice((0, 15, 30, 45)))),
                kind=T("Nachsorge", "follow-up visit").get(lang),
                source="synthetic",
            )
        )
        if entity.follow_up and rng.random() < 0.6:
            kind = _pick(rng, entity.follow_up)
            visit_day = add_working_days(first - timedelta(days=rng.randint(3, 10)), 0)
            appointments.append(Appointment(when=visit_day, kind=kind.get(lang), source="synthetic"))
        appointments.sort(key=lambda a: a.when if isinstance(a.when, datetime) else datetime.combine(a.when, time()))
    else:
        features.append("no_appointment")
    recommendations = [r.get(lang) for r in rng.sample(entity.recommendations, min(2, len(entity.recommendations)))]
    letter_date = add_working_days(course_end, rng.randint(1, 5))

    case = Case(
        case_id=f"synthetic:{course.id}",
        source_kind="synthetic",
        language=lang,
        patient=patient,
        treating_physician=attending,
        referring_physician=referring,
        copies_to=copies,
        diagnoses=diagnoses,
        surgeries=surgeries,
        systemic_therapies=systemic,
        prior_radiotherapy=prior_rt,
        course=course,
        toxicities=toxicities,
        interruptions=interruptions,
        performance_status=performance,
        follow_up=FollowUp(appointments=appointments, recommendations=recommendations),
        inputs=[f"synthetic/{seed}/{index}"],
    )
    plan = Plan(entity=entity, regimen=regimen, style=style, department=department, letter_date=letter_date,
                stop_reason=stop_reason, interruption_reason=interruption_reason, planned=planned,
                primary_spec=primary_spec, features=features)  # fmt: skip
    if random.Random(f"{seed}:{index}:{lang}:record").random() < P_SPARSE_RECORD:
        return _sparse_record(case, plan)
    return case, plan


def _sparse_record(case: Case, plan: Plan) -> tuple[Case, Plan]:
    """The same course as another system records it, in the shape of the CodeX / IHE-RO XRTS examples: the diagnosis
    as code and English text only, the volumes by English names, every phase (a single one too) as a treated phase,
    no energy or image guidance, and nothing on history, toxicity, performance status, referrer or follow-up. Its
    letter says what is not known instead of claiming it (``letters.py``)."""
    dx_texts = {spec.code: spec.text.en for spec in (*plan.entity.diagnoses, *plan.entity.primaries)}
    volume_names = {spec.name.de: spec.name.en for spec in plan.regimen.volumes}
    diagnoses = [
        Diagnosis(
            role=dx.role,
            code=dx.code,
            text=dx_texts.get(dx.code.code, dx.text) if dx.code else dx.text,
            source=dx.source,
        )  # fmt: skip
        for dx in case.diagnoses
        if dx.role in ("primary", "secondary")
    ]

    def renamed(volume: TargetVolume) -> TargetVolume:
        return volume.model_copy(update={"name": volume_names.get(volume.name or "", volume.name)})

    course = case.course
    volumes = [renamed(v) for v in course.volumes]
    phases = [p.model_copy(update={"volumes": [renamed(v) for v in p.volumes]}) for p in course.phases]
    if not phases:
        phases = [Phase(name="Primary", status=course.status, start=course.start, end=course.end,
                        fractions_delivered=max((v.fractions_delivered or 0 for v in volumes), default=None),
                        fractions_planned=max((v.fractions_planned or v.fractions_delivered or 0 for v in volumes),
                                              default=None),
                        modality=course.modalities[0] if course.modalities else None,
                        technique=course.techniques[0] if course.techniques else None, volumes=volumes,
                        source=course.source)]  # fmt: skip
    first = (volumes[0].name or "Target").replace(" ", "_") if volumes else "Target"
    course = course.model_copy(update={
        "name": f"C1_{first}", "volumes": volumes, "phases": phases, "energy": None, "image_guidance": None,
        "concurrent_therapy": [], "reirradiation": False,
    })  # fmt: skip
    case = case.model_copy(update={
        "referring_physician": None, "copies_to": [], "diagnoses": diagnoses, "surgeries": [],
        "systemic_therapies": [], "prior_radiotherapy": [], "course": course, "toxicities": [], "interruptions": [],
        "performance_status": [], "follow_up": FollowUp(),
    })  # fmt: skip
    kept = [f for f in plan.features if f in ("stopped", "several_volumes", "boost", "plan_change")]
    plan = replace(plan, interruption_reason=None, planned=[], features=["sparse_record", *kept])
    return case, plan


def _latin1_safe(case: Case) -> bool:
    try:
        case.model_dump_json().encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def synthesize(n: int, seed: int, lang: str = "de") -> list[SyntheticCase]:
    """n cases with their reference letters (no FHIR or HL7 v2 yet)."""
    from rtletter.demo.synth.letters import render_letter

    out: list[SyntheticCase] = []
    for index in range(n):
        case, plan = build_case(seed, index, lang)
        letter = render_letter(case, plan, random.Random(f"letter:{seed}:{index}:{lang}"))
        encoding_roll = random.Random(f"v2:{seed}:{index}").random()
        encoding = "latin-1" if encoding_roll < LATIN1_SHARE and _latin1_safe(case) else "utf-8"
        out.append(SyntheticCase(patient_id=case.patient.id, entity=plan.entity.key, regimen=plan.regimen.key,
                                 case=case, letter=letter, letter_date=plan.letter_date, style=plan.style,
                                 v2_encoding=encoding, features=tuple(plan.features)))  # fmt: skip
    return out


def _writers() -> tuple[Any, Any]:
    try:
        from rtletter.demo.synth.fhir_writer import bundle_from_case
        from rtletter.demo.synth.v2_writer import v2_from_case
    except ImportError as exc:  # the writers are built alongside; say which one is missing
        raise NotImplementedError(f"synthetic cohort needs the FHIR and HL7 v2 writers: {exc.name} missing") from exc
    return bundle_from_case, v2_from_case


def generate_cohort(n: int, seed: int, lang: str = "de") -> list[SyntheticPatient]:
    """n synthetic patients with case, reference letter, FHIR bundle and HL7 v2 message; deterministic in seed."""
    bundle_from_case, v2_from_case = _writers()
    patients: list[SyntheticPatient] = []
    for item in synthesize(n, seed, lang):
        end = item.case.course.end or item.letter_date
        bundle = bundle_from_case(item.case)
        v2 = v2_from_case(item.case, control_id=f"{item.patient_id}-1", timestamp=datetime.combine(end, time(17, 30)),
                          encoding=item.v2_encoding)  # fmt: skip
        patients.append(SyntheticPatient(patient_id=item.patient_id, entity=item.entity, case=item.case,
                                         letter=item.letter, bundle=bundle, v2=v2, regimen=item.regimen,
                                         letter_date=item.letter_date, style=item.style,
                                         v2_encoding=item.v2_encoding, features=item.features))  # fmt: skip
    return patients
