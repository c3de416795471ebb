"""Reading a letter back: the checkable facts it states and the sections it has.

Pure text functions, shared by the synthetic cohort's self-checks and the model evaluation (fact consistency,
section completeness). They read any letter, not only ours: German and English, decimal comma or point,
"28 × 1,8 Gy", "28 Fraktionen à 1,8 Gy", "5040 cGy", dates as dd.mm.yyyy, dd.mm.yy, ISO, "dd.mm." within a year,
"2 March 2026", ICD-10 codes and oncology drugs by German or English name (normalised to the lower-case INN).

Facts come back in the canonical form of ``rtletter.mappers.case.Fact`` so that they compare with ``Case.facts()``.
Dates that are not clinical facts are still returned, with a label that says so: ``"birth date"`` (after "geb.",
"born", "DOB") and ``"letter date"`` (the date line of the header), so a checker can treat them apart.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import NamedTuple

from rtletter.mappers.case import Fact, format_gy

# --- drugs ------------------------------------------------------------------------------------------------------------

# Spelling as written (lower case; German, English, brand) -> INN (lower case). Regimen acronyms expand to their INNs.
DRUGS: dict[str, tuple[str, ...]] = {
    "capecitabin": ("capecitabine",),
    "capecitabine": ("capecitabine",),
    "xeloda": ("capecitabine",),
    "5-fu": ("fluorouracil",),
    "5-fluorouracil": ("fluorouracil",),
    "fluorouracil": ("fluorouracil",),
    "cisplatin": ("cisplatin",),
    "carboplatin": ("carboplatin",),
    "oxaliplatin": ("oxaliplatin",),
    "paclitaxel": ("paclitaxel",),
    "docetaxel": ("docetaxel",),
    "temozolomid": ("temozolomide",),
    "temozolomide": ("temozolomide",),
    "temodal": ("temozolomide",),
    "durvalumab": ("durvalumab",),
    "imfinzi": ("durvalumab",),
    "pembrolizumab": ("pembrolizumab",),
    "nivolumab": ("nivolumab",),
    "atezolizumab": ("atezolizumab",),
    "cetuximab": ("cetuximab",),
    "bevacizumab": ("bevacizumab",),
    "trastuzumab": ("trastuzumab",),
    "pertuzumab": ("pertuzumab",),
    "mitomycin c": ("mitomycin",),
    "mitomycin": ("mitomycin",),
    "vinorelbin": ("vinorelbine",),
    "vinorelbine": ("vinorelbine",),
    "etoposid": ("etoposide",),
    "etoposide": ("etoposide",),
    "pemetrexed": ("pemetrexed",),
    "gemcitabin": ("gemcitabine",),
    "gemcitabine": ("gemcitabine",),
    "doxorubicin": ("doxorubicin",),
    "epirubicin": ("epirubicin",),
    "cyclophosphamid": ("cyclophosphamide",),
    "cyclophosphamide": ("cyclophosphamide",),
    "vincristin": ("vincristine",),
    "vincristine": ("vincristine",),
    "vinblastin": ("vinblastine",),
    "vinblastine": ("vinblastine",),
    "bleomycin": ("bleomycin",),
    "dacarbazin": ("dacarbazine",),
    "dacarbazine": ("dacarbazine",),
    "rituximab": ("rituximab",),
    "bendamustin": ("bendamustine",),
    "bendamustine": ("bendamustine",),
    "prednison": ("prednisone",),
    "prednisone": ("prednisone",),
    "leucovorin": ("folinic acid",),
    "folinsäure": ("folinic acid",),
    "folinic acid": ("folinic acid",),
    "leuprorelin": ("leuprorelin",),
    "goserelin": ("goserelin",),
    "triptorelin": ("triptorelin",),
    "degarelix": ("degarelix",),
    "bicalutamid": ("bicalutamide",),
    "bicalutamide": ("bicalutamide",),
    "abirateron": ("abiraterone",),
    "abiraterone": ("abiraterone",),
    "enzalutamid": ("enzalutamide",),
    "enzalutamide": ("enzalutamide",),
    "apalutamid": ("apalutamide",),
    "apalutamide": ("apalutamide",),
    "tamoxifen": ("tamoxifen",),
    "letrozol": ("letrozole",),
    "letrozole": ("letrozole",),
    "anastrozol": ("anastrozole",),
    "anastrozole": ("anastrozole",),
    "exemestan": ("exemestane",),
    "exemestane": ("exemestane",),
    "osimertinib": ("osimertinib",),
    "zoledronsäure": ("zoledronic acid",),
    "zoledronic acid": ("zoledronic acid",),
    "denosumab": ("denosumab",),
    # regimens (acronyms as written in letters)
    "abvd": ("doxorubicin", "bleomycin", "vinblastine", "dacarbazine"),
    "r-chop": ("rituximab", "cyclophosphamide", "doxorubicin", "vincristine", "prednisone"),
    "chop": ("cyclophosphamide", "doxorubicin", "vincristine", "prednisone"),
    "flot": ("fluorouracil", "folinic acid", "oxaliplatin", "docetaxel"),
    "folfox": ("fluorouracil", "folinic acid", "oxaliplatin"),
    "capox": ("capecitabine", "oxaliplatin"),
    "xelox": ("capecitabine", "oxaliplatin"),
}

# WHO ATC codes (level 5) -> INN, for sources that code the agent (FHIR Medication.code, HL7 RXA-5 / OBX) and
# letters that quote the code.
ATC: dict[str, str] = {
    "L01BC06": "capecitabine",
    "L01BC02": "fluorouracil",
    "L01XA01": "cisplatin",
    "L01XA02": "carboplatin",
    "L01XA03": "oxaliplatin",
    "L01CD01": "paclitaxel",
    "L01CD02": "docetaxel",
    "L01AX03": "temozolomide",
    "L01FF03": "durvalumab",
    "L01FF02": "pembrolizumab",
    "L01FF01": "nivolumab",
    "L01FF05": "atezolizumab",
    "L01FE01": "cetuximab",
    "L01FG01": "bevacizumab",
    "L01FD01": "trastuzumab",
    "L01FD02": "pertuzumab",
    "L01DC03": "mitomycin",
    "L01CA04": "vinorelbine",
    "L01CB01": "etoposide",
    "L01BA04": "pemetrexed",
    "L01BC05": "gemcitabine",
    "L01DB01": "doxorubicin",
    "L01DB03": "epirubicin",
    "L01AA01": "cyclophosphamide",
    "L01CA02": "vincristine",
    "L01CA01": "vinblastine",
    "L01DC01": "bleomycin",
    "L01AX04": "dacarbazine",
    "L01FA01": "rituximab",
    "L01AA09": "bendamustine",
    "H02AB07": "prednisone",
    "V03AF03": "folinic acid",
    "L02AE02": "leuprorelin",
    "L02AE03": "goserelin",
    "L02AE04": "triptorelin",
    "L02BX02": "degarelix",
    "L02BB03": "bicalutamide",
    "L02BX03": "abiraterone",
    "L02BB04": "enzalutamide",
    "L02BB05": "apalutamide",
    "L02BA01": "tamoxifen",
    "L02BG04": "letrozole",
    "L02BG03": "anastrozole",
    "L02BG06": "exemestane",
    "L01EB04": "osimertinib",
    "M05BA08": "zoledronic acid",
    "M05BX04": "denosumab",
}
_ATC_RE = re.compile(r"(?<![\w-])([A-V]\d{2}[A-Z]{2}\d{2})(?![\w-])")

# Longest spelling first so that "mitomycin c" wins over "mitomycin" and "r-chop" over "chop".
_DRUG_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(DRUGS, key=len, reverse=True)) + r")(?![\w-])",
    re.IGNORECASE,
)


def drug_names(text: str) -> tuple[str, ...]:
    """The INNs (lower case) a source's agent text names: German, English or brand spelling, a regimen acronym or an
    ATC code ("Capecitabin", "capecitabine", "Xeloda", "L01BC06" -> capecitabine). An agent the tables do not know
    keeps its own text, lower case, so that a letter quoting it verbatim still matches."""
    names = [inn for m in _DRUG_RE.finditer(text) for inn in DRUGS[m[1].lower()]]
    names += [ATC[m[1]] for m in _ATC_RE.finditer(text.upper()) if m[1] in ATC]  # Case.facts() lower-cases
    if not names:
        return (text.strip().lower(),) if text.strip() else ()
    return tuple(dict.fromkeys(names))


# --- numbers, doses, fractions ----------------------------------------------------------------------------------------

_NUM = r"\d+(?:[.,]\d{1,3})?"
_TIMES = r"\s*[x×*]\s*"
_GY = r"\s*(c?Gy)\b"
_DOSE_RE = re.compile(rf"(?<![\d.,])({_NUM})(?:\s*(?:-|–|bis|to)\s*({_NUM}))?{_GY}")
_FRACTIONS_TIMES_RE = re.compile(rf"(?<![\d.,])(\d{{1,2}}){_TIMES}(?={_NUM}{_GY})")
_FRACTION_WORDS = r"(?:Fraktionen|Fraktion|Fx|fractions|fraction|Sitzungen|sessions|Bestrahlungen|treatments)"
_PER_WEEK = r"(?!\s*(?:pro|per|/|je|a)\s*(?:Woche|week))"
_FRACTIONS_WORD_RE = re.compile(
    rf"(?<![\d.,])(\d{{1,2}})(?:\s*(?:von|of|/)\s*(\d{{1,2}}))?\s*(?:geplanten\s+|planned\s+|der\s+geplanten\s+)?"
    rf"{_FRACTION_WORDS}\b{_PER_WEEK}",
    re.IGNORECASE,
)

# --- codes ------------------------------------------------------------------------------------------------------------

# ICD-10(-GM): chapter letter, two digits, optional subcode; a side or certainty marker after a space (ICD-10-GM
# Zusatzkennzeichen "L", "R", "B", "G", "V", "Z", "A") is not part of the code. U (special purposes) and V-Y (external
# causes) never head a radiotherapy diagnosis and clash with dose-volume terms ("V20"), so they are left out.
_ICD_RE = re.compile(r"(?<![\w/.-])([A-TZ]\d{2}(?:\.\d{1,2})?)(?![\w/]|\.\d)")
_ICD_CHAPTER_END: dict[str, int] = {"D": 89}  # D90-D99 do not exist; "D95" in a letter is a dose-volume term

# --- dates ------------------------------------------------------------------------------------------------------------

MONTHS: dict[str, int] = {
    "january": 1, "jan": 1, "januar": 1, "jänner": 1,
    "february": 2, "feb": 2, "februar": 2,
    "march": 3, "mar": 3, "märz": 3, "maerz": 3,
    "april": 4, "apr": 4,
    "may": 5, "mai": 5,
    "june": 6, "jun": 6, "juni": 6,
    "july": 7, "jul": 7, "juli": 7,
    "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "october": 10, "oct": 10, "oktober": 10, "okt": 10,
    "november": 11, "nov": 11,
    "december": 12, "dec": 12, "dezember": 12, "dez": 12,
}  # fmt: skip
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_ISO_RE = re.compile(r"(?<![\d.])(\d{4})-(\d{2})-(\d{2})(?![\d])")
_DMY_RE = re.compile(r"(?<![\d.,/])(\d{1,2})([./])(\d{1,2})\2(\d{4}|\d{2})(?![\d.,]\d)")
_DM_RE = re.compile(r"(?<![\d.,/])(\d{1,2})\.(\d{1,2})\.(?!\d)")
_D_MONTH_Y_RE = re.compile(rf"(?<!\d)(\d{{1,2}})\.?\s+({_MONTH_NAMES})\.?(?:\s+(\d{{4}}))?(?!\w)", re.IGNORECASE)
_MONTH_D_Y_RE = re.compile(rf"\b({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?(?![\w])",
                           re.IGNORECASE)  # fmt: skip
_BIRTH_CONTEXT_RE = re.compile(
    r"(?:geb\.(?:\s*am)?|geboren(?:\s+am)?|\*|born(?:\s+on)?|DOB:?|date of birth:?)\s*$", re.I
)
# The header's date line: "Rheinstadt, den 14.04.2026", "Klinik X, Musterstadt, 14.04.2026", "Datum: 14.04.2026".
_DATE_LINE_RE = re.compile(r"(?:^|,\s*(?:den\s+)?|Datum:\s*|Date:\s*)$", re.IGNORECASE)
_SALUTATION_RE = re.compile(r"^\s*(?:Sehr geehrte|Liebe|Hallo|Guten Tag|Dear|To whom)", re.IGNORECASE | re.MULTILINE)

_Span = tuple[int, int]


def _to_float(text: str) -> float:
    return float(text.replace(",", "."))


def _dose_value(number: str, unit: str) -> str:
    value = _to_float(number)
    return str(format_gy(value / 100 if unit.lower() == "cgy" else value))


def _overlaps(span: _Span, taken: list[_Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _date_label(text: str, start: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    if _BIRTH_CONTEXT_RE.search(before):
        return "birth date"
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    salutation = _SALUTATION_RE.search(text)
    in_header = salutation is None or start < salutation.start()
    if in_header and _DATE_LINE_RE.search(before) and len(text[start:line_end].strip()) <= 20:
        return "letter date"
    return "date"


def _find_dates(text: str, reference_year: int | None) -> list[tuple[int, Fact]]:
    """Dates with their position. Partial dates ("02.03.", "2 March") take the year of the next full date after them
    (one year earlier when that would put them after it), else of the previous one, else ``reference_year``."""
    full: list[tuple[int, int, date]] = []  # start, end, date
    taken: list[_Span] = []

    def keep(start: int, end: int, value: date | None) -> None:
        if value is not None and not _overlaps((start, end), taken):
            full.append((start, end, value))
            taken.append((start, end))

    for m in _ISO_RE.finditer(text):
        keep(m.start(), m.end(), _safe_date(int(m[1]), int(m[2]), int(m[3])))
    for m in _DMY_RE.finditer(text):
        year = int(m[4]) if len(m[4]) == 4 else 2000 + int(m[4])
        keep(m.start(), m.end(), _safe_date(year, int(m[3]), int(m[1])))
    for m in _D_MONTH_Y_RE.finditer(text):
        if m[3]:
            keep(m.start(), m.end(), _safe_date(int(m[3]), MONTHS[m[2].lower()], int(m[1])))
    for m in _MONTH_D_Y_RE.finditer(text):
        if m[3]:
            keep(m.start(), m.end(), _safe_date(int(m[3]), MONTHS[m[1].lower()], int(m[2])))

    partial: list[tuple[int, int, int, int]] = []  # start, end, month, day
    for m in _DM_RE.finditer(text):
        if not _overlaps((m.start(), m.end()), taken):
            partial.append((m.start(), m.end(), int(m[2]), int(m[1])))
            taken.append((m.start(), m.end()))
    for m in _D_MONTH_Y_RE.finditer(text):
        if not m[3] and not _overlaps((m.start(), m.end()), taken):
            partial.append((m.start(), m.end(), MONTHS[m[2].lower()], int(m[1])))
            taken.append((m.start(), m.end()))
    for m in _MONTH_D_Y_RE.finditer(text):
        if not m[3] and not _overlaps((m.start(), m.end()), taken):
            partial.append((m.start(), m.end(), MONTHS[m[1].lower()], int(m[2])))
            taken.append((m.start(), m.end()))

    full.sort()
    found: list[tuple[int, Fact]] = []
    for start, _end, value in full:
        found.append((start, Fact(kind="date", value=value.isoformat(), label=_date_label(text, start))))
    for start, _end, month, day in partial:
        after = next((d for s, _e, d in full if s > start), None)
        before = next((d for s, _e, d in reversed(full) if s < start), None)
        if after is not None:
            year = after.year - 1 if (month, day) > (after.month, after.day) else after.year
        elif before is not None:
            year = before.year
        elif reference_year is not None:
            year = reference_year
        else:
            continue
        resolved = _safe_date(year, month, day)
        if resolved is not None:
            found.append((start, Fact(kind="date", value=resolved.isoformat(), label="date")))
    return found


def extract_facts(text: str, lang: str = "de", reference_year: int | None = None) -> list[Fact]:
    """Every dose, fraction count, date, ICD-10 code and drug the text states, canonical, deduplicated, in order of
    appearance. ``lang`` is ``"de"`` or ``"en"``; both number styles are read in either language."""
    if lang not in ("de", "en"):
        raise ValueError(f"unsupported letter language: {lang!r}")
    found: list[tuple[int, Fact]] = []
    for m in _DOSE_RE.finditer(text):
        found.append((m.start(1), Fact(kind="dose", value=_dose_value(m[1], m[3]), label="dose")))
        if m[2]:
            found.append((m.start(2), Fact(kind="dose", value=_dose_value(m[2], m[3]), label="dose")))
    for m in _FRACTIONS_TIMES_RE.finditer(text):
        found.append((m.start(), Fact(kind="fractions", value=str(int(m[1])), label="fractions")))
    for m in _FRACTIONS_WORD_RE.finditer(text):
        found.append((m.start(), Fact(kind="fractions", value=str(int(m[1])), label="fractions")))
        if m[2]:
            found.append((m.start(2), Fact(kind="fractions", value=str(int(m[2])), label="fractions")))
    found.extend(_find_dates(text, reference_year))
    for m in _ICD_RE.finditer(text):
        if int(m[1][1:3]) > _ICD_CHAPTER_END.get(m[1][0], 99):
            continue
        found.append((m.start(), Fact(kind="code", value=m[1], label="ICD-10 code")))
    for m in _DRUG_RE.finditer(text):
        for inn in DRUGS[m[1].lower()]:
            found.append((m.start(), Fact(kind="drug", value=inn, label="drug")))
    for m in _ATC_RE.finditer(text):
        if m[1] in ATC:
            found.append((m.start(), Fact(kind="drug", value=ATC[m[1]], label="drug")))
    found.sort(key=lambda item: item[0])
    unique: dict[tuple[str, str, str], Fact] = {}
    for _pos, fact in found:
        unique.setdefault((fact.kind, fact.value, fact.label), fact)
    return list(unique.values())


# --- sections ---------------------------------------------------------------------------------------------------------

SECTIONS: tuple[str, ...] = (
    "salutation",
    "diagnoses",
    "treatment_history",
    "course",
    "tolerance",
    "recommendations",
    "follow_up",
    "closing",
)

_HEAD = r"(?:^|\n)[ \t]*(?:[#*]+\s*)?"  # a heading starts a line, maybe Markdown-marked
_SECTION_PATTERNS: dict[str, dict[str, tuple[str, ...]]] = {
    "salutation": {
        "de": (r"(?:^|\n)\s*(?:Sehr geehrte[rs]?|Liebe[rs]?|Hallo|Guten Tag)\b",),
        "en": (r"(?:^|\n)\s*(?:Dear|To whom it may concern|Hello)\b",),
    },
    "diagnoses": {
        "de": (_HEAD + r"(?:[\wäöüÄÖÜ-]+\s+)?(?:Haupt|Tumor|Aufnahme|Entlassungs)?[Dd]iagnose(?:n|\(n\))?\b",
               r"\bICD-10\b"),
        "en": (_HEAD + r"(?:[\w-]+\s+)?Diagnos[ie]s\b", r"\bICD-10\b"),
    },
    "treatment_history": {
        "de": (
            _HEAD + r"(?:Vortherapie(?:n|\(n\))?|Bisherige (?:Therapie|Behandlung)|Therapeutische Vorgeschichte|"
            r"Vorgeschichte|Onkologische Anamnese|Anamnese|Therapieverlauf bisher)\b",
            r"\b(?:Z\. ?n\.|Zustand nach)\s",
        ),
        "en": (
            _HEAD + r"(?:Treatment history|Previous (?:treatment|therapy|therapies)|"
            r"Prior (?:treatment|therapy|therapies)|Oncological history|History)\b",
            r"\bstatus post\b",
            r"\bs/p\b",
        ),
    },
    "course": {
        "de": (
            _HEAD + r"(?:Durchgeführte (?:Strahlen)?[Tt]herapie|Strahlentherapie|Radiatio|Bestrahlung|Therapie)\s*:",
            r"\b\d{1,2}\s*[x×]\s*\d+(?:[.,]\d+)?\s*Gy\b",
            r"\b(?:bis|ad|auf|Gesamtdosis(?: von)?)\s+\d+(?:[.,]\d+)?\s*Gy\b",
        ),
        "en": (
            _HEAD + r"(?:Radiotherapy|Radiation therapy|Treatment delivered|Treatment given|Treatment)\s*:",
            r"\b\d{1,2}\s*[x×]\s*\d+(?:[.,]\d+)?\s*Gy\b",
            r"\b(?:to|total dose of|of)\s+\d+(?:[.,]\d+)?\s*Gy\b",
        ),
    },
    "tolerance": {
        "de": (
            _HEAD + r"(?:Verlauf|Therapieverlauf|Verträglichkeit|Nebenwirkungen|Toxizität|Akuttoxizität|"
            r"Abschlussbefund|Befund bei Abschluss)\b",
            r"\b(?:vertragen|Verträglichkeit|Nebenwirkung(?:en)?|CTCAE)\b",
        ),
        "en": (
            _HEAD + r"(?:Course|Tolerance|Toxicity|Toxicities|Side effects|Clinical course|Findings at completion)\b",
            r"\b(?:tolerated|tolerance|side effects?|toxicit(?:y|ies)|CTCAE)\b",
        ),
    },
    "recommendations": {
        "de": (
            _HEAD + r"(?:Procedere|Prozedere|Empfehlung(?:en)?|Weiteres (?:Vorgehen|Procedere)|Therapieempfehlung|"
            r"Beurteilung und Empfehlung)\b",
            r"\b(?:empfehlen|empfohlen|Wir bitten|bitten wir)\b",
        ),
        "en": (
            _HEAD + r"(?:Recommendations?|Plan|Next steps|Further management|Procedure)\b",
            r"\b(?:we recommend|recommended|we suggest|we would be grateful)\b",
        ),
    },
    "follow_up": {
        "de": (
            _HEAD + r"(?:Nachsorge|Weitere Nachsorge|Nachsorgetermine?|Termine?|Wiedervorstellung|Verlaufskontrolle)",
            r"\b(?:Nachsorge|Wiedervorstellung|Verlaufskontrolle|Kontrolltermin)",
        ),
        "en": (
            _HEAD + r"(?:Follow[- ]up|Appointments?|Surveillance)",
            r"\b(?:follow[- ]up|review appointment|see (?:him|her|the patient) again)\b",
        ),
    },
    "closing": {
        "de": (r"\b(?:Mit (?:freundlichen|kollegialen|besten|herzlichen) (?:kollegialen )?Grüßen|Freundliche Grüße|"
               r"Mit freundlichem Gruß|Hochachtungsvoll)\b",),
        "en": (r"\b(?:Kind regards|Best regards|Yours sincerely|Yours faithfully|Sincerely|With best wishes|"
               r"Warm regards|Regards)\b",),
    },
}  # fmt: skip

_SECTION_RES: dict[str, dict[str, tuple[re.Pattern[str], ...]]] = {
    name: {
        lang: tuple(re.compile(p, re.IGNORECASE if name != "course" else 0) for p in pats) for lang, pats in by.items()
    }
    for name, by in _SECTION_PATTERNS.items()
}


def find_sections(text: str, lang: str = "de") -> dict[str, bool]:
    """Which of the letter's sections (``SECTIONS``) the text has, by heading or by telling content, in any wording.

    Both languages' patterns are tried (a German department's English letter keeps German habits), the stated
    language first."""
    if lang not in ("de", "en"):
        raise ValueError(f"unsupported letter language: {lang!r}")
    order = (lang, "en" if lang == "de" else "de")
    return {name: any(p.search(text) for language in order for p in _SECTION_RES[name][language]) for name in SECTIONS}


# --- head, body, tail -------------------------------------------------------------------------------------------------

# A line that heads one of the sections the model writes (diagnoses to follow-up): the heading words alone on the
# line, or followed by a colon (and maybe content), Markdown marks and a numbering allowed. A space here stands for
# blanks within the line (never a line break).
# The bounds of a letter whose sections run once: the site's letters have 6 to 8 section headings (5 in English),
# none more than twice ("Nachsorge:" as heading and as a labelled line under it).
MAX_BODY_HEADINGS = 8
MAX_HEADING_REPEATS = 2
_BODY_HEADINGS = (
    r"(?:[\w-]+ )?(?:Haupt|Tumor|Aufnahme|Entlassungs)?diagnose(?:n|\(n\))?", r"Vortherapie(?:n|\(n\))?",
    r"Bisherige (?:Therapie|Behandlung)", r"Therapeutische Vorgeschichte", r"Onkologische Anamnese", r"Anamnese",
    r"Durchgeführte (?:Strahlen)?therapie", r"Durchgeführte Behandlung", r"Strahlentherapie", r"Radiatio",
    r"Therapie", r"Verlauf(?: unter Therapie| und Verträglichkeit)?", r"Therapieverlauf(?: und Verträglichkeit)?",
    r"Verträglichkeit", r"Procedere(?:/Empfehlung(?:en)?)?", r"Prozedere", r"Empfehlung(?:en)?",
    r"Weiteres (?:Procedere|Vorgehen)", r"(?:Weitere )?Nachsorge(?:termine)?",
    r"(?:[\w-]+ )?Diagnos[ie]s", r"Treatment history", r"Previous treatment", r"Oncological history", r"History",
    r"Radiotherapy(?: delivered)?", r"Radiation therapy", r"Treatment delivered", r"Course(?: and tolerance)?",
    r"Tolerance", r"Recommendations?", r"Plan", r"Further management", r"Follow[- ]up(?: appointments)?",
)  # fmt: skip
_BODY_HEADING_RE = re.compile(
    r"^[ \t]*(?:[#*]+[ \t]*)?(?:\d{1,2}\.[ \t]*)?(?:"
    + "|".join(_BODY_HEADINGS).replace(" ", r"[ \t]+")
    + r")[ \t]*\**[ \t]*(?::|$)",
    re.MULTILINE | re.IGNORECASE,
)
_SALUTATION_LINE_RE = re.compile(
    r"^[ \t]*(?:Sehr geehrte|Liebe|Lieber|Hallo|Guten Tag|Dear|To whom it may concern)\b.*$", re.MULTILINE
)
# The closing starts with the offer to answer questions or, without one, the greeting; never bulleted.
_CLOSING_LINE_RE = re.compile(
    r"^(?:Für (?:weitere )?Rückfragen|Bei (?:weiteren )?Rückfragen|Für Fragen|Bei Fragen|"
    r"Mit (?:freundlichen|kollegialen|besten|herzlichen) (?:kollegialen )?Grüßen|Freundliche Grüße|"
    r"Mit freundlichem Gruß|Hochachtungsvoll|Please do not hesitate|Do not hesitate|We are happy to answer|"
    r"(?:Should|If) you have any (?:further )?questions|Kind regards|Best regards|Yours sincerely|"
    r"Yours faithfully|Sincerely|With best wishes|Warm regards|Regards)\b",
    re.MULTILINE,
)


def body_headings(text: str) -> list[str]:
    """The headings of the clinical sections in ``text``, in order, lower case, without colon or Markdown marks:
    ``["diagnosen", "vortherapien", "strahlentherapie", ...]``. A letter has each once ("Nachsorge" at most twice: as
    heading and as a labelled line under it); a draft that starts its sections over writes them again."""
    return [re.sub(r"[#*:]", "", m.group(0)).strip().lower() for m in _BODY_HEADING_RE.finditer(text)]


def sections_over(text: str) -> int:
    """How far the body's headings go past the bounds of a letter whose sections run once: headings beyond
    ``MAX_BODY_HEADINGS`` plus repeats of one heading beyond ``MAX_HEADING_REPEATS``; 0 for a letter. A draft that
    starts its sections over and strews values through the repeats states its facts without being a letter."""
    headings = body_headings(text)
    repeats = max(Counter(headings).values(), default=0)
    return max(0, len(headings) - MAX_BODY_HEADINGS) + max(0, repeats - MAX_HEADING_REPEATS)


class LetterParts(NamedTuple):
    """A letter cut in three: ``head + body + tail`` is the letter, character for character."""

    head: str  # letterhead, addresses, date, subject line, salutation and opening sentence
    body: str  # the clinical sections: diagnoses, history, radiotherapy, course, recommendations, follow-up
    tail: str  # closing, greeting, signatures, copies


def split_letter(text: str, lang: str = "de") -> LetterParts:
    """Cut a reference or signed letter into head, body and tail.

    The body runs from the first heading of a clinical section (diagnoses, treatment history, radiotherapy, course,
    recommendations, follow-up; looked for after the salutation, so a letterhead naming "Strahlentherapie" is no
    heading) to the start of the closing ("Für Rückfragen ...", "Mit freundlichen Grüßen", "Kind regards"). Without a
    heading the body starts after the salutation line (or at the start); without a closing the tail is empty. A text
    that is only a body comes back as ``("", text, "")``. Both languages' wordings are read whatever ``lang`` says.
    """
    if lang not in ("de", "en"):
        raise ValueError(f"unsupported letter language: {lang!r}")
    salutation = _SALUTATION_LINE_RE.search(text)
    after = salutation.end() if salutation else 0
    heading = _BODY_HEADING_RE.search(text, after)
    if heading is not None:
        start = heading.start()
    else:
        start = after
        while start < len(text) and text[start] == "\n":
            start += 1
    closing = _CLOSING_LINE_RE.search(text, start)
    end = closing.start() if closing else len(text)
    return LetterParts(text[:start], text[start:end], text[end:])
