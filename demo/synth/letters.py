"""The reference end-of-treatment letter of a synthetic case, in the style of a German university radiation oncology
department (see ../shared/docs/letter-domain.md for the structure).

The letter is written from the case only: every dose, fraction count, date, code, drug and appointment it states is a
field of the case (checked by the tests with ``rtletter.mappers.letter.extract_facts``). Wording varies: four physician
styles (narrative prose, terse, bullet lists, classic numbered) and several phrasings per section, chosen by the
seeded ``rng``; each attending writes in one style.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime

from rtletter.demo.synth.entities import T
from rtletter.demo.synth.generate import Plan
from rtletter.mappers.case import Case, CourseStatus, Diagnosis, Phase, Sex, SystemicTherapy, TargetVolume, format_gy
from rtletter.mappers.toxicity import TOXICITY_DE

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")  # fmt: skip
INTENT: dict[str, T] = {
    "curative": T("kurativ", "curative"),
    "palliative": T("palliativ", "palliative"),
    "adjuvant": T("adjuvant", "adjuvant"),
    "neoadjuvant": T("neoadjuvant", "neoadjuvant"),
    "definitive": T("definitiv", "definitive"),
    "supportive": T("supportiv", "supportive"),
}  # an unknown intent has no word: the letter makes no claim either way
SIDE: dict[str, T] = {
    "left": T("links", "left"),
    "right": T("rechts", "right"),
    "bilateral": T("beidseits", "bilateral"),
}
IGRT: dict[str, T] = {
    "daily CBCT": T("tägliche Bildführung mittels Cone-Beam-CT (CBCT)", "daily cone-beam CT (CBCT)"),
    "daily CBCT, 4D-CT": T("4D-CT-basierte Planung und tägliche CBCT", "4D-CT planning and daily CBCT"),
    "CBCT, mask fixation": T("Maskenfixierung und CBCT vor Bestrahlung", "mask fixation and CBCT before treatment"),
    "CBCT": T("CBCT vor Bestrahlung", "CBCT before treatment"),
    "weekly kV imaging": T("wöchentliche kV-Bildgebung", "weekly kV imaging"),
    "kV imaging": T("kV-Bildgebung vor Bestrahlung", "kV imaging before treatment"),
    "clinical set-up": T("klinische Einstellung am Patienten", "clinical set-up"),
}
MODALITY: dict[str, T] = {"photons": T("Photonen", "photons"), "electrons": T("Elektronen", "electrons")}
BULLETS: dict[str, str] = {"narrative": "", "terse": "- ", "bullets": "• ", "classic": ""}

# Section headings, several per language; a letter picks one per section.
HEADINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "diagnoses": {"de": ("Diagnose(n):", "Diagnosen:", "Diagnose:", "Onkologische Diagnose:"),
                  "en": ("Diagnosis:", "Diagnoses:", "Oncological diagnosis:")},
    "history": {"de": ("Vortherapien:", "Bisherige Therapie:", "Therapeutische Vorgeschichte:"),
                "en": ("Treatment history:", "Previous treatment:", "Oncological history:")},
    "course": {"de": ("Durchgeführte Therapie:", "Durchgeführte Strahlentherapie:", "Strahlentherapie:"),
               "en": ("Radiotherapy:", "Treatment delivered:", "Radiotherapy delivered:")},
    "tolerance": {"de": ("Verlauf:", "Therapieverlauf und Verträglichkeit:", "Verlauf unter Therapie:"),
                  "en": ("Course:", "Course and tolerance:", "Tolerance:")},
    "recommendations": {"de": ("Procedere/Empfehlung:", "Procedere:", "Empfehlung:", "Weiteres Procedere:"),
                        "en": ("Recommendations:", "Plan:", "Further management:")},
    "follow_up": {"de": ("Nachsorge:", "Nachsorgetermine:", "Weitere Nachsorge:"),
                  "en": ("Follow-up:", "Follow-up appointments:")},
}  # fmt: skip


class _Writer:
    """Formatting helpers bound to one letter's language, style and random stream."""

    def __init__(self, case: Case, plan: Plan, rng: random.Random) -> None:
        self.case = case
        self.plan = plan
        self.rng = rng
        self.lang = case.language
        self.style = plan.style
        self.female = case.patient.sex is Sex.female

    def t(self, de: str, en: str) -> str:
        return de if self.lang == "de" else en

    def pick(self, *options: str) -> str:
        return options[self.rng.randrange(len(options))]

    def gy(self, value: float | None) -> str:
        text = str(format_gy(value or 0.0))
        return text.replace(".", ",") if self.lang == "de" else text

    def day(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if self.lang == "de":
            return f"{value.day:02d}.{value.month:02d}.{value.year}"
        return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"

    def day_short(self, value: date) -> str:
        """The date without its year, only used right before a full date of the same year."""
        return (
            f"{value.day:02d}.{value.month:02d}." if self.lang == "de" else f"{value.day} {MONTHS_EN[value.month - 1]}"
        )

    def span(self, start: date | None, end: date | None) -> str:
        if start is None or end is None:
            return ""
        if start == end:
            return self.t("am ", "on ") + self.day(start)
        short = start.year == end.year and self.rng.random() < 0.6
        first = self.day_short(start) if short else self.day(start)
        if self.lang == "de":
            return f"vom {first} bis {self.day(end)}" if self.rng.random() < 0.8 else f"{first} - {self.day(end)}"
        return f"from {first} to {self.day(end)}" if self.rng.random() < 0.8 else f"between {first} and {self.day(end)}"

    @property
    def sparse(self) -> bool:
        """The record came from another system and holds little beyond the course (``generate._sparse_record``)."""
        return "sparse_record" in self.plan.features

    def heading(self, key: str) -> str:
        return self.pick(*HEADINGS[key][self.lang])

    def bullet(self) -> str:
        return BULLETS[self.style]

    # people
    def title_name(self, with_title: bool = True) -> str:
        p = self.case.patient
        if self.lang == "de":
            return f"{'Frau' if self.female else 'Herr'} {p.name}"
        return f"{'Mrs' if self.female else 'Mr'} {p.name}" if with_title else p.name

    def patient_acc(self) -> str:
        """ "Ihre Patientin Frau X" / "Ihren Patienten Herrn X" (accusative)."""
        p = self.case.patient
        if self.lang == "de":
            return f"Ihre Patientin Frau {p.name}" if self.female else f"Ihren Patienten Herrn {p.name}"
        return self.title_name()

    def patient_gen(self) -> str:
        p = self.case.patient
        if self.lang == "de":
            return f"Ihrer Patientin Frau {p.name}" if self.female else f"Ihres Patienten Herrn {p.name}"
        return self.title_name()

    def pron(self) -> str:
        return self.t("sie" if self.female else "er", "she" if self.female else "he")

    def Pron(self) -> str:  # noqa: N802 - capitalised pronoun
        return self.t("Sie" if self.female else "Er", "She" if self.female else "He")

    def the_patient(self) -> str:
        return self.t("die Patientin" if self.female else "der Patient", "the patient")

    def The_patient(self) -> str:  # noqa: N802
        return self.t("Die Patientin" if self.female else "Der Patient", "The patient")


# --- sections -----------------------------------------------------------------------------------------------------


def _header(w: _Writer) -> list[str]:
    case, dept = w.case, w.plan.department
    lines = [dept.name, dept.clinic, w.t(f"Direktor: {dept.head}", f"Head of department: {dept.head}"), ""]
    ref = case.referring_physician
    if ref is not None:
        if w.lang == "de":
            lines.append("Frau" if ref.sex is Sex.female else "Herrn")
        lines.append(ref.name)
        if ref.organization:
            lines.append(ref.organization)
        if ref.address:
            lines.extend(part.strip() for part in ref.address.split(","))
    else:
        lines.append(w.t("An die weiterbehandelnden Kolleginnen und Kollegen", "To the colleagues continuing care"))
    lines.append("")
    lines.append(w.t(f"{dept.town}, den {w.day(w.plan.letter_date)}", f"{dept.town}, {w.day(w.plan.letter_date)}"))
    lines.append("")
    p = case.patient
    born = w.day(p.birth_date)
    if w.lang == "de":
        subject = w.pick("Betr.:", "Betreff:")
        addr = f", wh. {p.address}" if p.address else ""
        lines.append(f"{subject} {w.title_name()}, geb. {born}{addr}")
    else:
        addr = f", {p.address}" if p.address else ""
        lines.append(f"{w.pick('Re:', 'RE:')} {w.title_name()}, born {born}{addr}")
    return lines


def _salutation(w: _Writer) -> str:
    ref = w.case.referring_physician
    if ref is None or ref.family is None:
        return w.t("Liebe Kolleginnen und Kollegen,", "Dear colleagues,")
    title = " ".join(t for t in (ref.prefix or "").split() if t in ("Dr.", "Prof.", "PD", "Dr", "Mr", "Ms"))
    if w.lang == "de":
        title = title.replace("PD ", "").replace("PD", "")
        if ref.sex is Sex.female:
            return w.pick(f"Sehr geehrte Frau Kollegin {title} {ref.family},".replace("  ", " "),
                          f"Sehr geehrte Frau {title} {ref.family},".replace("  ", " "),
                          f"Liebe Frau Kollegin {ref.family},")  # fmt: skip
        return w.pick(f"Sehr geehrter Herr Kollege {title} {ref.family},".replace("  ", " "),
                      f"Sehr geehrter Herr {title} {ref.family},".replace("  ", " "),
                      f"Lieber Herr Kollege {ref.family},")  # fmt: skip
    return f"Dear {title or 'Dr'} {ref.family},"


def _opening(w: _Writer) -> str:
    case = w.case
    c = case.course
    stopped = c.status is CourseStatus.stopped
    span = w.span(c.start, c.end)
    if w.lang == "de":
        rt = "vorzeitig beendete Strahlentherapie" if stopped else "abgeschlossene Strahlentherapie"
        who = "die" if w.female else "der"
        return w.pick(
            f"wir berichten über {w.patient_acc()}, {who} sich {span} in unserer ambulanten strahlentherapeutischen "
            "Behandlung befand.",
            f"vielen Dank für die Zuweisung {w.patient_gen()}. Wir berichten über die {span} durchgeführte "
            "Strahlentherapie.",
            f"wir danken für die freundliche Überweisung {w.patient_gen()} und berichten Ihnen über die {rt}.",
            f"{w.title_name()} befand sich {span} in unserer strahlentherapeutischen Behandlung; hiermit erhalten Sie "
            "unseren Abschlussbericht.",
            f"nachfolgend berichten wir über {w.patient_acc()}, {'die' if w.female else 'den'} wir {span} "
            "strahlentherapeutisch behandelt haben.",
            f"hiermit erhalten Sie den Abschlussbericht über die {rt} {w.patient_gen()}.",
        )
    course_word = "radiotherapy, which was stopped early," if stopped else "completed radiotherapy"
    return w.pick(
        f"We are writing to update you on {w.title_name()}, who received radiotherapy in our department {span}.",
        f"Thank you for referring {w.title_name()} to our department. We report on the radiotherapy delivered {span}.",
        f"Please find below our end-of-treatment summary for {w.title_name()} and the {course_word} in our department.",
        f"{w.title_name()} was treated in our department {span}; we summarise the treatment below.",
        f"Many thanks for asking us to see {w.title_name()}. This letter summarises the {course_word}.",
    )


def _diagnosis_line(w: _Writer, dx: Diagnosis, with_details: bool) -> str:
    parts: list[str] = []
    text = dx.text or (dx.code.display if dx.code else "") or ""
    if dx.laterality in SIDE:
        text = f"{text} {SIDE[dx.laterality].get(w.lang)}"
    parts.append(text)
    if with_details:
        if dx.tnm:
            parts.append(f"{dx.tnm}" + (f", UICC {dx.stage}" if dx.stage and w.rng.random() < 0.7 else ""))
        if dx.histology and dx.histology.display:
            parts.append(dx.histology.display)
        elif dx.role == "primary" and not w.sparse and w.rng.random() < 0.5:
            parts.append(w.t("keine histologische Sicherung", "no histological confirmation"))
        if dx.grade:
            parts.append(dx.grade)
        if dx.receptor_status:
            parts.append(dx.receptor_status)
    if dx.diagnosis_date:
        ed = dx.diagnosis_date
        short = f"{ed.month:02d}/{ed.year}"
        parts.append(w.t(f"ED {short}" if w.rng.random() < 0.6 else f"ED {w.day(ed)}",
                         f"diagnosed {short}" if w.rng.random() < 0.6 else f"diagnosed {w.day(ed)}"))  # fmt: skip
    line = ", ".join(p for p in parts if p)
    if dx.code:
        line += w.pick(f" (ICD-10-GM: {dx.code.code})", f" ({dx.code.code})", f", ICD-10 {dx.code.code}")
    return line


def _diagnoses(w: _Writer) -> list[str]:
    case = w.case
    main = [d for d in case.diagnoses if d.role in ("primary", "secondary")]
    comorbid = [d for d in case.diagnoses if d.role == "comorbidity"]
    lines = [w.heading("diagnoses")]
    metastatic = len(main) > 1
    ordered = list(reversed(main)) if metastatic else main  # the treated metastases first
    for k, dx in enumerate(ordered):
        prefix = f"{k + 1}. " if w.style == "classic" else w.bullet()
        line = _diagnosis_line(w, dx, with_details=True)
        if metastatic and k == 1:
            line = w.t("bei ", "secondary to ") + line if w.style != "classic" else line
        lines.append(prefix + line)
    if comorbid:
        label = w.pick(w.t("Nebendiagnosen:", "Comorbidities:"), w.t("Weitere Diagnosen:", "Other diagnoses:"))
        items = [_diagnosis_line(w, d, with_details=False) for d in comorbid]
        if w.style in ("bullets", "terse"):
            lines.append(label)
            lines.extend(w.bullet() + item for item in items)
        else:
            lines.append(f"{label} " + "; ".join(items))
    return lines


def _therapy_text(w: _Writer, therapy: SystemicTherapy) -> str:
    label = therapy.text or "/".join(therapy.agents)
    dose = f" ({therapy.dose})" if therapy.dose else ""
    if therapy.start and therapy.end:
        return f"{label}{dose} {w.span(therapy.start, therapy.end)}"
    if therapy.start:
        return f"{label}{dose} " + w.t(f"seit {w.day(therapy.start)}", f"since {w.day(therapy.start)}")
    return f"{label}{dose}"


def _history(w: _Writer) -> list[str]:
    case = w.case
    items: list[str] = []
    for s in case.surgeries:
        code = f" (OPS {s.code.code})" if s.code and w.rng.random() < 0.6 else ""
        when = w.day(s.performed)
        items.append(w.pick(f"{when}: {s.text}{code}", w.t(f"Z. n. {s.text}{code} am {when}",
                                                            f"{s.text}{code} on {when}")))  # fmt: skip
    for therapy in case.systemic_therapies:
        if therapy in w.plan.planned:
            continue
        kind = w.t("Systemtherapie", "Systemic therapy")
        items.append(f"{kind}: {_therapy_text(w, therapy)}")
    for prior in case.prior_radiotherapy:
        year = prior.end.year if prior.end else None
        when = f" ({prior.end.month:02d}/{year})" if prior.end and year else ""
        items.append(w.t(f"Z. n. Radiatio {prior.region} mit {w.gy(prior.total_dose_gy)} Gy in {prior.fractions} "
                         f"Fraktion{'en' if prior.fractions != 1 else ''}{when}",
                         f"Previous radiotherapy to the {prior.region}, {w.gy(prior.total_dose_gy)} Gy in "
                         f"{prior.fractions} fraction{'s' if prior.fractions != 1 else ''}{when}"))  # fmt: skip
    lines = [w.heading("history")]
    if not items and w.sparse:  # the record does not say: no claim either way
        lines.append(w.pick(
            w.t("Keine Angaben.", "Not recorded."),
            w.t("Angaben zu Vortherapien liegen uns nicht vor.", "Previous treatment is not recorded."),
        ))  # fmt: skip
        return lines
    if not items:
        lines.append(w.pick(w.t("Keine onkologischen Vortherapien.", "No previous oncological treatment."),
                            w.t("keine", "none")))  # fmt: skip
        return lines
    if w.style == "narrative":
        lines.append(". ".join(items) + ".")
    else:
        lines.extend(w.bullet() + item for item in items)
    return lines


def _dose_text(w: _Writer, v: TargetVolume) -> str:
    n, d, total = v.fractions_delivered or 0, w.gy(v.dose_per_fraction_gy), w.gy(v.total_dose_gy)
    if v.fractions_planned and v.planned_total_dose_gy is not None and v.fractions_planned != n:
        planned = w.gy(v.planned_total_dose_gy)
        return w.t(
            f"{n} × {d} Gy bis {total} Gy (geplant: {v.fractions_planned} × {d} Gy bis {planned} Gy)",
            f"{n} × {d} Gy to {total} Gy (planned: {v.fractions_planned} × {d} Gy to {planned} Gy)",
        )
    if v.planned_total_dose_gy is not None and not v.fractions_planned and v.planned_total_dose_gy != v.total_dose_gy:
        planned = w.gy(v.planned_total_dose_gy)  # a phase stopped for a new plan: its prescription, not a count
        return w.t(f"{n} × {d} Gy bis {total} Gy (geplant: {planned} Gy)",
                   f"{n} × {d} Gy to {total} Gy (planned: {planned} Gy)")  # fmt: skip
    if n == 1:
        return w.t(f"1 × {d} Gy", f"1 × {d} Gy")
    if w.lang == "de":
        return w.pick(
            f"{n} × {d} Gy bis {total} Gy",
            f"{n} Fraktionen à {d} Gy bis zu einer Gesamtdosis von {total} Gy",
            f"ED {d} Gy, GD {total} Gy in {n} Fraktionen",
        )
    return w.pick(
        f"{n} × {d} Gy to {total} Gy",
        f"{total} Gy in {n} fractions of {d} Gy",
        f"a total dose of {total} Gy in {n} fractions ({d} Gy per fraction)",
    )


def _technique(w: _Writer, phase: Phase | None) -> str:
    c = w.case.course
    technique = (phase.technique if phase and phase.technique else None) or (c.techniques[0] if c.techniques else "")
    modality = (phase.modality if phase and phase.modality else None) or (c.modalities[0] if c.modalities else "")
    if technique == "HDR brachytherapy":
        return ""
    beam = MODALITY.get(modality, T(modality, modality)).get(w.lang)
    beam = f"{c.energy or ''} {beam}".strip()
    igrt = IGRT.get(c.image_guidance or "", T(c.image_guidance or "", c.image_guidance or "")).get(w.lang)
    if w.style in ("terse", "bullets"):
        return ", ".join(p for p in (technique, beam, igrt) if p)
    return w.t(
        f"in {technique}-Technik mit {beam}" + (f", {igrt}" if igrt else ""),
        f"using {technique} with {beam}" + (f", {igrt}" if igrt else ""),
    )


def _volumes_text(w: _Writer, volumes: list[TargetVolume]) -> str:
    parts = [f"{v.name}: {_dose_text(w, v)}" for v in volumes]
    if len(volumes) > 1 and any(v.boost for v in volumes):
        sib = w.t(" (simultan integrierter Boost)", " (simultaneous integrated boost)")
        return "; ".join(parts) + sib
    return "; ".join(parts)


def _cumulative(w: _Writer, v: TargetVolume) -> str:
    """A re-planned volume's course total: the phases gave it two doses per fraction, so there is no "n × d"."""
    n, total = v.fractions_delivered, w.gy(v.total_dose_gy)
    if w.lang == "de":
        return w.pick(f"{v.name}: kumulativ {total} Gy in {n} Fraktionen, nach Planänderung in zwei Serien:",
                      f"{v.name}: Gesamtdosis {total} Gy in {n} Fraktionen (Planänderung, unterschiedliche "
                      f"Einzeldosen).",
                      f"{v.name}: GD {total} Gy in {n} Fraktionen bei Planänderung.")  # fmt: skip
    return w.pick(
        f"{v.name}: cumulative {total} Gy in {n} fractions, in two phases after a plan change:",
        f"{v.name}: total dose {total} Gy in {n} fractions (plan change, different doses per fraction).",
    )


def _plan_change(w: _Writer, phase: Phase) -> str:
    """Why and when the first phase of a re-planned course stopped."""
    k, n = phase.fractions_delivered, phase.fractions_planned
    reason = phase.status_reason.display if phase.status_reason else ""
    return w.pick(
        w.t(f"Die Serie wurde nach {k} von {n} geplanten Fraktionen {reason} beendet und neu geplant.",
            f"The phase was stopped after {k} of {n} planned fractions {reason} and re-planned."),
        w.t(f"Planänderung nach {k} von {n} geplanten Fraktionen {reason}.",
            f"Plan change after {k} of {n} planned fractions {reason}."),
    )  # fmt: skip


def _course(w: _Writer) -> list[str]:
    case, plan = w.case, w.plan
    c = case.course
    lines = [w.heading("course")]
    word = INTENT.get(c.intent.value)
    intent = word.get(w.lang) if word else None
    label = c.name or ""
    named = label[:1].upper() + label[1:]
    if intent is None:  # not recorded: the course's name alone
        if named and not w.sparse:
            lines.append(f"{named}.")
    elif w.sparse:  # the course's name is another system's identifier ("C1_Prostate"), not prose
        lines.append(w.pick(w.t(f"Strahlentherapie in {intent}er Intention.", f"Radiotherapy with {intent} intent."),
                            w.t(f"Therapieintention: {intent}.", f"Intent: {intent}.")))  # fmt: skip
    elif w.lang == "de":
        lines.append(w.pick(f"{named} in {intent}er Intention.", f"Therapieintention: {intent}. {named}.",
                            f"{named} ({intent})."))  # fmt: skip
    else:
        lines.append(w.pick(f"{named} with {intent} intent.", f"Intent: {intent}. {named}."))  # fmt: skip
    if c.reirradiation and case.prior_radiotherapy:
        prior = case.prior_radiotherapy[0]
        lines.append(
            w.t(
                f"Es handelt sich um eine Re-Bestrahlung nach Vorbestrahlung ({prior.region}).",
                f"This was a re-irradiation after previous radiotherapy ({prior.region}).",
            )
        )
    replanned = "plan_change" in plan.features
    if replanned:  # the course total first: a volume's name is aligned to the slots in the case's order
        lines.append(_cumulative(w, c.volumes[0]))
    if len(c.phases) > 1 or (c.phases and not w.sparse):
        for k, phase in enumerate(c.phases, start=1):
            name = w.t(f"Serie {k}", f"Phase {k}") if w.sparse else phase.name  # another system's phase labels
            head = f"{w.bullet()}{name}: " if name else w.bullet()
            if phase.technique == "HDR brachytherapy" and c.brachytherapy:
                b = c.brachytherapy
                iso = b.source_isotope or ""
                text = w.t(
                    f"HDR-Brachytherapie ({iso}, {b.applicator}) {_volumes_text(w, phase.volumes)}",
                    f"HDR brachytherapy ({iso}, {b.applicator}) {_volumes_text(w, phase.volumes)}",
                )
            else:
                text = f"{_volumes_text(w, phase.volumes)}, {_technique(w, phase)}"
            when = w.span(phase.start, phase.end)
            lines.append(f"{head}{text}, {when}." if when else f"{head}{text}.")
            if replanned and phase.status is CourseStatus.stopped:
                lines.append(_plan_change(w, phase))
    else:
        when = w.span(c.start, c.end)
        lines.append(f"{w.bullet()}{_volumes_text(w, c.volumes)}, {_technique(w, None)}, {when}.")
    for therapy in c.concurrent_therapy:
        label = therapy.text or "/".join(therapy.agents)
        if therapy.dose and label.split("/")[0].lower() in therapy.dose.lower():
            label, therapy = therapy.dose, therapy.model_copy(update={"dose": ""})  # the dose text names the drugs
        dates = f" {w.span(therapy.start, therapy.end)}" if w.rng.random() < 0.4 else ""
        lines.append(w.bullet() + w.pick(
            w.t(f"Simultane Chemotherapie mit {label} {therapy.dose}".rstrip() + f"{dates}.",
                f"Concurrent chemotherapy with {label} {therapy.dose}".rstrip() + f"{dates}."),
            w.t(f"Unter simultaner Chemotherapie mit {label}{f' ({therapy.dose})' if therapy.dose else ''}{dates}.",
                f"Given with concurrent {label}{f' ({therapy.dose})' if therapy.dose else ''}{dates}."),
        ))  # fmt: skip
    return lines


def _course_end(w: _Writer) -> str | None:
    """How the course ended, first in the "Verlauf" section, completed courses too. Where only a stop was stated, and
    at the end of the radiotherapy section, a model learned the stop sentence as what follows the last volume and
    wrote it into completed courses (the held-out drafts: 6 of 21)."""
    c, plan = w.case.course, w.plan
    if c.end and c.completed_as_planned:
        return w.t(f"Die Bestrahlung wurde am {w.day(c.end)} wie geplant abgeschlossen.",
                   f"Radiotherapy was completed as planned on {w.day(c.end)}.")  # fmt: skip
    vol = next((v for v in c.volumes if v.fractions_planned), None)
    if c.end and c.status is CourseStatus.stopped and vol is not None:
        reason = plan.stop_reason.get(w.lang) if plan.stop_reason else ""
        return w.t(
            f"Die Bestrahlung wurde am {w.day(c.end)} nach {vol.fractions_delivered} von {vol.fractions_planned} "
            f"geplanten Fraktionen {reason} vorzeitig beendet.",
            f"Radiotherapy was stopped early on {w.day(c.end)} after {vol.fractions_delivered} of "
            f"{vol.fractions_planned} planned fractions {reason}.",
        )  # fmt: skip
    return None  # a re-planned course: its phase lines tell the plan change


def _tolerance(w: _Writer) -> list[str]:
    case, plan = w.case, w.plan
    lines = [w.heading("tolerance")]
    end = _course_end(w)
    if end:
        lines.append(end)
    if w.sparse:  # nothing recorded on tolerance: say so rather than "well tolerated"
        lines.append(w.pick(
            w.t("Angaben zu Verlauf und Verträglichkeit liegen uns nicht vor.", "Tolerance is not recorded."),
            w.t("Zur Verträglichkeit liegen keine Angaben vor.", "Side effects and tolerance are not recorded."),
        ))  # fmt: skip
        return lines
    tox = case.toxicities
    worst = case.worst_grade
    if w.lang == "de":
        general = {0: ("Die Behandlung wurde sehr gut vertragen.", "Die Therapie wurde insgesamt gut vertragen."),
                   1: ("Die Behandlung wurde gut vertragen.", "Die Therapie wurde insgesamt gut toleriert."),
                   2: ("Die Therapie wurde insgesamt ordentlich vertragen.", "Die Behandlung wurde mit "
                       "tolerablen Nebenwirkungen vertragen."),
                   3: ("Die Therapie war durch höhergradige Nebenwirkungen belastet.", "Die Verträglichkeit war "
                       "durch akute Nebenwirkungen Grad 3 eingeschränkt.")}[worst]  # fmt: skip
    else:
        general = {0: ("Treatment was tolerated very well.", "Overall, treatment was well tolerated."),
                   1: ("Treatment was well tolerated.", "Overall, treatment was well tolerated."),
                   2: ("Treatment was reasonably well tolerated.", "Side effects were manageable."),
                   3: ("Treatment was complicated by grade 3 side effects.", "Tolerance was limited by grade 3 "
                       "acute toxicity.")}[worst]  # fmt: skip
    lines.append(w.pick(*general))
    terms = []
    for t in tox:
        name = (
            TOXICITY_DE.get(t.term, t.term) if w.lang == "de" else t.term.lower() if t.term != "Fatigue" else "fatigue"
        )
        terms.append(w.t(f"{name} CTCAE Grad {t.grade}", f"{name} (CTCAE grade {t.grade})"))
    if terms:
        if w.style in ("bullets", "terse"):
            lines.append(w.t("Akute Nebenwirkungen:", "Acute side effects:"))
            lines.extend(w.bullet() + term for term in terms)
        else:
            joined = ", ".join(terms[:-1]) + (w.t(" und ", " and ") if len(terms) > 1 else "") + terms[-1]
            first = w.t(f"An Akutnebenwirkungen traten {joined} auf.", f"Acute side effects were {joined}.")
            second = w.t(f"Im Verlauf entwickelte sich {joined}.", f"During treatment {w.pron()} developed {joined}.")
            lines.append(w.pick(first, second))
    else:
        lines.append(w.pick(w.t("Relevante Akutnebenwirkungen traten nicht auf.", "There were no relevant acute side "
                                "effects."), w.t("Nebenwirkungen über CTCAE Grad 1 wurden nicht beobachtet.",
                                                 "No side effects above CTCAE grade 1 were seen.")))  # fmt: skip
    for gap in case.interruptions:
        reason = plan.interruption_reason.get(w.lang) if plan.interruption_reason else (gap.reason or "")
        days = gap.days or 0
        when = w.span(gap.start, gap.end)
        lines.append(w.t(
            f"Wegen {reason} wurde die Bestrahlung {when} für {days} Behandlungstag{'e' if days != 1 else ''} "
            "unterbrochen; das Behandlungsende verschob sich entsprechend.",
            f"Treatment was interrupted {when} for {days} treatment day{'s' if days != 1 else ''} because of {reason}; "
            "the end of treatment moved accordingly.",
        ))  # fmt: skip
    ecog = [p for p in case.performance_status if p.scale == "ECOG"]
    if ecog:
        at_start, at_end = ecog[0].value, ecog[-1].value
        if at_start == at_end:
            lines.append(
                w.t(
                    f"Der Allgemeinzustand war über die gesamte Behandlung stabil (ECOG {at_end}).",
                    f"General condition was stable throughout (ECOG {at_end}).",
                )
            )
        else:
            lines.append(
                w.t(
                    f"ECOG-Performance-Status zu Beginn {at_start}, bei Abschluss {at_end}.",
                    f"ECOG performance status {at_start} at the start and {at_end} at the end of treatment.",
                )
            )
    return lines


def _recommendations(w: _Writer) -> list[str]:
    case, plan = w.case, w.plan
    items = list(case.follow_up.recommendations)
    for therapy in plan.planned:
        label = " und ".join(a.capitalize() for a in therapy.agents) if w.lang == "de" else "/".join(therapy.agents)
        items.append(
            w.t(
                f"Konsolidierende Therapie mit {label} ({therapy.dose}) durch die Onkologie ist geplant.",
                f"Consolidation with {label} ({therapy.dose}) is planned with the oncologists.",
            )
        )
    lines = [w.heading("recommendations")]
    if not items:
        lines.append(w.pick(
            w.t("Regelmäßige Nachsorge wie unten beschrieben.", "Regular follow-up as below."),
            w.t("Weitere Empfehlungen im Rahmen der Nachsorge.", "Further advice at follow-up."),
        ))  # fmt: skip
        return lines
    if w.style == "narrative":
        lines.append(w.t("Wir empfehlen: ", "We recommend: ") + " ".join(items))
    else:
        lines.extend(w.bullet() + item for item in items)
    return lines


def _when(w: _Writer, value: date | datetime) -> str:
    text = w.day(value)
    if isinstance(value, datetime):
        text += w.t(f" um {value.hour:02d}:{value.minute:02d} Uhr", f" at {value.hour:02d}:{value.minute:02d}")
    return text


def _follow_up(w: _Writer) -> list[str]:
    case = w.case
    lines = [w.heading("follow_up")]
    lines.append(w.pick(
        w.t("Gemäß Strahlenschutzgesetz sind regelmäßige Nachsorgeuntersuchungen vorgesehen: in den ersten zwei Jahren "
            "vierteljährlich, bis zum fünften Jahr halbjährlich, danach jährlich.",
            "Regular follow-up is required by German radiation protection law: every three months for two years, "
            "every six months up to year five, then yearly."),
        w.t("Die erste Nachsorge erfolgt 6-8 Wochen nach Abschluss der Radiatio, danach in dreimonatigen Abständen.",
            "The first follow-up visit is 6-8 weeks after radiotherapy, then every three months."),
    ))  # fmt: skip
    appointments = case.follow_up.appointments
    if not appointments and w.sparse:  # no appointment in the record: no claim about one
        return lines
    if not appointments:
        lines.append(
            w.t(
                f"Den Termin zur ersten Nachsorge erhält {w.the_patient()} schriftlich.",
                "The first follow-up appointment will be sent to the patient by post.",
            )
        )
        return lines
    for a in appointments:
        kind = a.kind[:1].upper() + a.kind[1:]
        lines.append(w.bullet() + w.pick(
            w.t(f"{kind}: {_when(w, a.when)}", f"{kind}: {_when(w, a.when)}"),
            w.t(f"Termin {kind} am {_when(w, a.when)}", f"{kind} booked for {_when(w, a.when)}"),
        ))  # fmt: skip
    return lines


def _closing(w: _Writer) -> list[str]:
    case, dept = w.case, w.plan.department
    doc = case.treating_physician
    lines = [w.pick(
        w.t("Für Rückfragen stehen wir Ihnen jederzeit gerne zur Verfügung.", "Please do not hesitate to contact us "
            "with any questions."),
        w.t("Bei Rückfragen stehen wir gerne zur Verfügung.", "We are happy to answer any questions."),
    ), ""]  # fmt: skip
    lines.append(w.pick(w.t("Mit freundlichen kollegialen Grüßen", "Kind regards"),
                        w.t("Mit freundlichen Grüßen", "Yours sincerely"),
                        w.t("Mit kollegialen Grüßen", "Best regards")))  # fmt: skip
    lines.append("")
    lines.append(dept.head)
    lines.append(w.t("Klinikdirektor", "Head of department"))
    if doc is not None:
        lines.append("")
        lines.append(doc.name)
        lines.append(w.t("Oberärztin" if doc.sex is Sex.female else "Oberarzt", "Consultant"))
    if case.copies_to:
        lines.append("")
        copies = "; ".join(", ".join(p for p in (c.name, c.organization, c.address) if p) for c in case.copies_to)
        lines.append(w.t(f"Kopie an: {copies}", f"Copy to: {copies}"))
    return lines


_BODY: tuple[Callable[[_Writer], list[str]], ...] = (_diagnoses, _history, _course, _tolerance, _recommendations,
                                                     _follow_up)  # fmt: skip


def render_letter(case: Case, plan: Plan, rng: random.Random) -> str:
    """The reference letter for ``case`` in ``case.language``; wording drawn from ``rng``."""
    w = _Writer(case, plan, rng)
    blocks: list[list[str]] = [_header(w), [_salutation(w), "", _opening(w)]]
    blocks.extend(section(w) for section in _BODY)
    blocks.append(_closing(w))
    return "\n\n".join("\n".join(block) for block in blocks).strip() + "\n"
