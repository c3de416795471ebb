"""Recognising a toxicity and its CTCAE grade the way sources write them, for both mappers.

Sources send a CTCAE term as a code (CTCAE/NCIt, MedDRA, SNOMED) or only as text, in German or English, and the grade
as a number, an NCIt grade concept or text: "CTCAE Grad 2", "Grade II", "G2", "2°". A toxicity without a grade is
still a toxicity (``Toxicity.grade`` None: the letter says it was not graded).
"""

from __future__ import annotations

import re

from rtletter.mappers.codes import MEDDRA, NCIT

# Code systems whose every concept is an adverse-event term (a system URL or name containing "ctcae" counts too).
TOXICITY_SYSTEMS = frozenset({NCIT, MEDDRA, "MDR", "MEDDRA", "MEDR", "CTCAE"})

_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}
_GRADE = re.compile(
    r"\b(?:CTCAE\s*(?:v\d+(?:\.\d+)?\s*)?)?(?:grad(?:e|ing)?|grd\.?)\s*[:.]?\s*([1-5]|IV|V|I{1,3})\b"
    r"|\bG\s?([1-5])\b"
    r"|\b([1-5])\s*°",
    re.IGNORECASE,
)
_CTCAE_WORD = re.compile(r"\bCTCAE(?:\s*v?\d+(?:\.\d+)?)?\b", re.IGNORECASE)
# CTCAE terms radiotherapy letters report, as German and English stems (lower case, matched inside words).
TERM_STEMS = (
    "dermatitis",
    "erythem",
    "desquamation",
    "epitheliolys",
    "mucositis",
    "mukositis",
    "stomatitis",
    "fatigue",
    "müdigkeit",
    "erschöpfung",
    "diarrh",
    "durchfall",
    "nausea",
    "übelkeit",
    "vomiting",
    "erbrechen",
    "cystitis",
    "zystitis",
    "proctitis",
    "proktitis",
    "enteritis",
    "esophagitis",
    "ösophagitis",
    "oesophagitis",
    "dysphag",
    "schluckbeschwerden",
    "odynophag",
    "xerostom",
    "mundtrockenheit",
    "dysgeus",
    "geschmacksstörung",
    "pneumonitis",
    "alopec",
    "alopez",
    "haarausfall",
    "dysuri",
    "pollakisurie",
    "urinary frequency",
    "incontinence",
    "inkontinenz",
    "lymphedema",
    "lymphödem",
    "edema",
    "ödem",
    "pain",
    "schmerz",
    "radiation recall",
    "leukopeni",
    "thrombocytopeni",
    "thrombozytopeni",
    "anemia",
    "anämie",
    "fibrosis",
    "fibrose",
    "hyperpigment",
    "pruritus",
    "juckreiz",
)


# CTCAE v5.0 term -> German as written in letters.
TOXICITY_DE: dict[str, str] = {
    "Dermatitis radiation": "Radiodermatitis",
    "Fatigue": "Fatigue",
    "Breast pain": "Mastodynie",
    "Mucositis oral": "orale Mukositis",
    "Dysphagia": "Dysphagie",
    "Dry mouth": "Xerostomie",
    "Dysgeusia": "Dysgeusie",
    "Weight loss": "Gewichtsverlust",
    "Esophagitis": "Ösophagitis",
    "Pneumonitis": "Pneumonitis",
    "Cough": "Husten",
    "Proctitis": "Proktitis",
    "Diarrhea": "Diarrhoe",
    "Cystitis noninfective": "Zystitis (nicht infektiös)",
    "Urinary frequency": "Pollakisurie",
    "Alopecia": "Alopezie",
    "Headache": "Kopfschmerzen",
    "Nausea": "Übelkeit",
    "Anemia": "Anämie",
    "White blood cell decreased": "Leukopenie",
    "Pain": "Schmerzexazerbation (Pain Flare)",
    "Pruritus": "Pruritus",
    "Vomiting": "Erbrechen",
}


def grade_from_text(text: str | None) -> int | None:
    """A CTCAE grade written as text: "Grad 2", "Grade II", "CTCAE v5 grade 3", "G2", "2°" (None if none)."""
    if not text:
        return None
    found = _GRADE.search(text)
    if found is None:
        return None
    value = next(g for g in found.groups() if g)
    return int(value) if value.isdigit() else _ROMAN[value.upper()]


def is_toxicity_system(system: str | None) -> bool:
    return bool(system) and (system in TOXICITY_SYSTEMS or "ctcae" in (system or "").lower())


def names_toxicity(text: str | None) -> bool:
    """Text that names a CTCAE term (German or English) or says CTCAE."""
    if not text:
        return False
    lower = text.lower()
    return "ctcae" in lower or any(stem in lower for stem in TERM_STEMS)


def clean_term(text: str) -> str:
    """The term without a grade or "CTCAE" written into it ("Radiodermatitis CTCAE Grad 2" -> "Radiodermatitis")."""
    cleaned = _CTCAE_WORD.sub(" ", _GRADE.sub(" ", text))
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" ,;:-/()")
    return cleaned or text.strip()


__all__ = ["TOXICITY_DE", "clean_term", "grade_from_text", "is_toxicity_system", "names_toxicity"]
