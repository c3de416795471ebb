"""Case -> a complete end-of-treatment letter without a model: the ``template`` backend's draft.

The letter is written from the ``Case`` alone, never from a prompt: salutation and opening, diagnoses, treatment
history, the radiotherapy (fractions, single and total dose, dates, technique, energy, image guidance, concurrent
therapy; a stopped course with delivered and planned dose), course and tolerance (toxicities with CTCAE grade,
interruptions, performance status), recommendations, follow-up appointments and the closing. Free-text notes are not
copied (they are data, and may hold anything).

As in ``rtletter.mappers.prompt``, formatting happens here (doses "50,4 Gy", dates "08.04.2026", German terms) and
the wording lives in Jinja templates, ``letter.de.j2`` and ``letter.en.j2``; a site overrides them by passing
``template_dir`` holding files of the same names, exactly as for the prompt templates (``TemplateBackend`` takes
the folder as ``template_dir``). Each template has three blocks: ``head`` (letterhead, recipient, date line, subject
line, salutation and opening sentence), ``body`` (the clinical sections) and ``tail`` (closing, signatures, copies).
``render_letter`` renders the whole file; ``render_part`` one block, so that ``rtletter.mappers.scaffold`` puts the
site's head and tail around a model's body. Pure: no I/O beyond reading the templates.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rtletter.mappers.case import Case, CourseStatus, Diagnosis, Sex, SystemicTherapy, TargetVolume
from rtletter.mappers.codes import SHORT_NAMES
from rtletter.mappers.letter import DRUGS
from rtletter.mappers.prompt import (
    INTENT,
    clean_line,
    format_date,
    format_number,
    salutation,
    template_environment,
)
from rtletter.mappers.slots.words import MODALITY_DE
from rtletter.mappers.toxicity import TOXICITY_DE

if TYPE_CHECKING:
    from rtletter.mappers.scaffold import Site

Part = Literal["head", "body", "tail"]
PARTS: tuple[Part, ...] = ("head", "body", "tail")

_SIDE = {"de": {"left": "links", "right": "rechts", "bilateral": "beidseits"},
         "en": {"left": "left", "right": "right", "bilateral": "bilateral"}}  # fmt: skip


def _join(parts: Any, sep: str = ", ") -> str:
    return sep.join(p for p in parts if p)


def _gy(value: float | None, lang: str) -> str:
    return f"{format_number(value, lang)} Gy" if value is not None else ""


def _span(start: date | None, end: date | None, lang: str) -> str:
    if start and end and start != end:
        return f"vom {format_date(start)} bis {format_date(end)}" if lang == "de" else (
            f"from {format_date(start)} to {format_date(end)}")  # fmt: skip
    day = start or end
    if day is None:
        return ""
    return f"am {format_date(day)}" if lang == "de" else f"on {format_date(day)}"


def _when(value: date | datetime, lang: str) -> str:
    text = str(format_date(value.date() if isinstance(value, datetime) else value))
    if isinstance(value, datetime) and (value.hour or value.minute):
        text += f" um {value:%H:%M} Uhr" if lang == "de" else f" at {value:%H:%M}"
    return text


def _diagnosis(dx: Diagnosis, lang: str) -> str:
    text = clean_line(dx.text) or (clean_line(dx.code.display) if dx.code else "") or "-"
    if dx.laterality:
        text += " " + _SIDE[lang].get(dx.laterality, clean_line(dx.laterality))
    histology = (clean_line(dx.histology.display) or clean_line(dx.histology.code)) if dx.histology else ""
    code = ""
    if dx.code:
        system = SHORT_NAMES.get(dx.code.system or "", "ICD-10")
        code = f"({system}: {clean_line(dx.code.code)})" if lang == "de" else f"({system} {clean_line(dx.code.code)})"
    parts = [
        text,
        clean_line(dx.tnm),
        f"UICC {clean_line(dx.stage)}" if dx.stage and lang == "de" else f"stage {clean_line(dx.stage)}" if dx.stage
        else "",
        histology,
        clean_line(dx.grade),
        clean_line(dx.receptor_status),
        (f"ED {format_date(dx.diagnosis_date)}" if lang == "de" else f"diagnosed {format_date(dx.diagnosis_date)}")
        if dx.diagnosis_date else "",
    ]  # fmt: skip
    return _join(parts) + (f" {code}" if code else "")


def _drug(agent: str, lang: str) -> str:
    """An agent as a German letter writes it: the German spelling of an INN the source gave in English
    ("capecitabine" -> "Capecitabin"); anything else as the source wrote it."""
    text: str = clean_line(agent)
    if lang != "de" or text != text.lower() or DRUGS.get(text) != (text,):
        return text
    german: str = next((k for k, inns in DRUGS.items() if inns == (text,) and k != text and text.startswith(k)), text)
    return german[:1].upper() + german[1:]


def _agents(therapy: SystemicTherapy, lang: str) -> str:
    return _join([_drug(a, lang) for a in therapy.agents]) or clean_line(therapy.text)


def _therapy(therapy: SystemicTherapy, lang: str) -> str:
    cycles = ""
    if therapy.cycles:
        cycles = f"{therapy.cycles} Zyklen" if lang == "de" else f"{therapy.cycles} cycles"
    detail = _join([clean_line(therapy.dose), cycles])
    text = _agents(therapy, lang) + (f" ({detail})" if detail else "")
    span = _span(therapy.start, therapy.end, lang)
    return f"{text} {span}".strip()


def _dose(volume: TargetVolume, lang: str) -> str:
    n, single, total = volume.fractions_delivered, volume.dose_per_fraction_gy, volume.total_dose_gy
    to = "bis" if lang == "de" else "to"
    if n is not None and single is not None and total is not None and abs(n * single - total) <= 0.01 * total + 0.01:
        text = f"{n} × {_gy(single, lang)} {to} {_gy(total, lang)}"
    else:
        words = ("Gesamtdosis", "Einzeldosis", "Fraktionen") if lang == "de" else ("total dose", "dose per fraction",
                                                                                    "fractions")  # fmt: skip
        text = _join([
            f"{words[0]} {_gy(total, lang)}" if total is not None else "",
            f"{words[1]} {_gy(single, lang)}" if single is not None else "",
            f"{n} {words[2]}" if n is not None else "",
        ])  # fmt: skip
    planned, planned_n = volume.planned_total_dose_gy, volume.fractions_planned
    if (planned is not None and total is not None and abs(planned - total) > 0.01) or (
        planned_n is not None and n is not None and planned_n != n
    ):
        word = "geplant" if lang == "de" else "planned"
        plan = _join([f"{planned_n} × {_gy(single, lang)}" if planned_n and single else "",
                      f"{to} {_gy(planned, lang)}" if planned is not None else ""], " ")  # fmt: skip
        text += f" ({word}: {plan})" if plan else ""
    return text


def _volume(volume: TargetVolume, lang: str) -> str:
    boost = (" (Boost)" if lang == "de" else " (boost)") if volume.boost else ""
    return f"{clean_line(volume.name)}{boost}: {_dose(volume, lang)}"


def _toxicity_term(term: str, lang: str) -> str:
    return TOXICITY_DE.get(term, term) if lang == "de" else term


def _recipient(case: Case) -> dict[str, Any] | None:
    ref = case.referring_physician
    if ref is None or not clean_line(ref.name):
        return None
    return {
        "name": clean_line(ref.name),
        "sex": ref.sex.value,
        "organization": clean_line(ref.organization),
        "address": [clean_line(part) for part in (ref.address or "").split(",") if clean_line(part)],
    }


def _site(site: Site | None) -> dict[str, str]:
    fields = ("institution", "department", "head", "town")
    return {name: clean_line(getattr(site, name, "") or "") for name in fields}


def letter_view(case: Case, site: Site | None = None, letter_date: date | None = None) -> dict[str, Any]:
    """Everything ``letter.<lang>.j2`` shows, formatted and cleaned; ``site`` gives the letterhead (none: no
    letterhead lines) and ``letter_date`` the date line (none: no date line)."""
    lang = case.language
    patient, course = case.patient, case.course
    female = patient.sex is Sex.female
    modality = [(MODALITY_DE.get(m, m) if lang == "de" else m) for m in course.modalities]
    stopped = next((v for v in course.volumes if v.fractions_planned and v.fractions_delivered is not None), None)
    concurrent = [_therapy(t, lang) for t in course.concurrent_therapy]
    brachy = ""
    if course.brachytherapy:
        b = course.brachytherapy
        dose = f"{b.fractions} × {_gy(b.dose_per_fraction_gy, lang)}" if b.fractions and b.dose_per_fraction_gy else ""
        brachy = _join([clean_line(b.dose_rate), clean_line(b.source_isotope), clean_line(b.applicator), dose,
                        _gy(b.total_dose_gy, lang)])  # fmt: skip
    worst = case.worst_grade
    return {
        "female": female,
        "patient": {
            "name": clean_line(patient.name),
            "birth_date": format_date(patient.birth_date),
            "address": clean_line(patient.address),
            "deceased": bool(patient.deceased),
        },
        "site": _site(site),
        "letter_date": format_date(letter_date) if letter_date else "",
        "recipient": _recipient(case),
        "salutation": salutation(case.referring_physician, lang),
        "diagnoses": [_diagnosis(d, lang) for d in case.diagnoses if d.role != "comorbidity"],
        "comorbidities": [_diagnosis(d, lang) for d in case.diagnoses if d.role == "comorbidity"],
        "surgeries": [
            {
                "text": clean_line(s.text),
                "date": format_date(s.performed),
                "code": clean_line(s.code.code) if s.code else "",
            }
            for s in case.surgeries
        ],  # fmt: skip
        "systemic": [_therapy(t, lang) for t in case.systemic_therapies],
        "prior": [
            {
                "region": clean_line(p.region),
                "dose": _gy(p.total_dose_gy, lang),
                "fractions": p.fractions,
                "span": _span(p.start, p.end, lang),
            }
            for p in case.prior_radiotherapy
        ],  # fmt: skip
        "course": {
            "name": clean_line(course.name)[:1].upper() + clean_line(course.name)[1:],
            "intent": INTENT[lang][course.intent] if course.intent.value != "unknown" else "",
            "span": _span(course.start, course.end, lang),
            "end": format_date(course.end),
            "status": course.status.value,
            "stopped": course.status is CourseStatus.stopped,
            "reason": clean_line(course.status_reason.display or course.status_reason.code)
            if course.status_reason
            else "",
            "delivered": stopped.fractions_delivered if stopped else None,
            "planned": stopped.fractions_planned if stopped else None,
            "body_sites": _join([clean_line(s.display) or clean_line(s.code) for s in course.body_sites]),
            "technique": _join(
                [
                    *(clean_line(t) for t in course.techniques),
                    clean_line(course.energy),
                    *(clean_line(m) for m in modality),
                ],
                " ",
            ),
            "image_guidance": clean_line(course.image_guidance),
            "volumes": [_volume(v, lang) for v in course.volumes],
            "phases": [
                {
                    "name": clean_line(p.name),
                    "span": _span(p.start, p.end, lang),
                    "volumes": [_volume(v, lang) for v in p.volumes],
                }
                for p in course.phases
            ],
            "brachytherapy": brachy,
            "concurrent": concurrent,
            "reirradiation": bool(course.reirradiation),
        },  # fmt: skip
        "worst_grade": worst,
        "toxicities": [{"term": clean_line(_toxicity_term(t.term, lang)), "grade": t.grade} for t in case.toxicities],
        "interruptions": [
            {"span": _span(i.start, i.end, lang), "days": i.days, "reason": clean_line(i.reason)}
            for i in case.interruptions
        ],
        "performance": [
            f"{p.scale} {p.value}" for p in sorted(case.performance_status, key=lambda p: p.observed or date.min)
        ],  # fmt: skip
        "recommendations": [clean_line(r) for r in case.follow_up.recommendations if clean_line(r)],
        "appointments": [
            {"kind": clean_line(a.kind), "when": _when(a.when, lang), "text": clean_line(a.text)}
            for a in sorted(case.follow_up.appointments, key=lambda a: str(a.when))
        ],
        "treating": clean_line(case.treating_physician.name) if case.treating_physician else "",
        "copies": [_join([clean_line(c.name), clean_line(c.organization)]) for c in case.copies_to],
    }


def _tidy(text: str) -> str:
    """Lines without trailing blanks, at most one blank line between blocks (whatever the template's conditionals
    left), no blank lines at either end."""
    out: list[str] = []
    for line in (line.rstrip() for line in text.strip().splitlines()):
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


def render_letter(
    case: Case, *, template_dir: Path | None = None, site: Site | None = None, letter_date: date | None = None
) -> str:
    """The letter for ``case`` in ``case.language`` from ``letter.<lang>.j2`` (the site's, else the package's)."""
    env = template_environment(Path(template_dir) if template_dir else None)
    text = env.get_template(f"letter.{case.language}.j2").render(**letter_view(case, site, letter_date))
    return _tidy(text) + "\n"


def render_part(
    case: Case,
    part: Part,
    *,
    template_dir: Path | None = None,
    site: Site | None = None,
    letter_date: date | None = None,
) -> str:
    """One block of ``letter.<lang>.j2`` (``head``, ``body`` or ``tail``), tidied, without a final newline.

    Raises:
        ValueError: the site's template has no such block (a whole-letter template without blocks).
    """
    env = template_environment(Path(template_dir) if template_dir else None)
    template = env.get_template(f"letter.{case.language}.j2")
    block = template.blocks.get(part)
    if block is None:
        raise ValueError(f"letter.{case.language}.j2 has no {{% block {part} %}}: the scaffold needs head and tail")
    context = template.new_context(letter_view(case, site, letter_date))
    return _tidy("".join(block(context)))


__all__ = ["PARTS", "Part", "letter_view", "render_letter", "render_part"]
