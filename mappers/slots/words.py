"""The few words a rendered value needs per language: month names, modality names, drug spellings.

``MODALITY_DE`` lives here, not in the prompt: the prompt, the template letter and the slot renderer all name a
modality in German the same way.
"""

from __future__ import annotations

from functools import lru_cache

from rtletter.mappers.letter import DRUGS

MONTHS: dict[str, tuple[str, ...]] = {
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}  # fmt: skip

# Modality names as the mappers write them -> German.
MODALITY_DE: dict[str, str] = {
    "photons": "Photonen",
    "electrons": "Elektronen",
    "protons": "Protonen",
    "carbon ions": "Kohlenstoffionen",
    "HDR brachytherapy": "HDR-Brachytherapie",
    "LDR brachytherapy": "LDR-Brachytherapie",
}


# Sides as the mappers write them ("left", "right", "bilateral") -> German; English letters write them as they are.
SIDE_DE: dict[str, str] = {"left": "links", "right": "rechts", "bilateral": "beidseits"}


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _inn(agent: str) -> str:
    """The INN of an agent as the case holds it (already an INN, or a German or brand spelling)."""
    names = DRUGS.get(agent.strip().lower())
    return names[0] if names and len(names) == 1 else agent.strip().lower()


@lru_cache(maxsize=256)
def _german(inn: str) -> str | None:
    # German INNs drop the final -e ("Capecitabin", "Cyclophosphamid") or say -säure ("Zoledronsäure").
    for spelling, names in DRUGS.items():
        if names == (inn,) and spelling != inn and (inn.startswith(spelling) or spelling.endswith("säure")):
            return str(spelling)
    return None


def drug_name(agent: str, lang: str) -> str:
    """The agent as a letter in ``lang`` writes it: German spelling capitalised (de), the INN in lower case (en)."""
    inn = _inn(agent)
    if lang == "de":
        return capitalise(_german(inn) or inn)
    return inn


def drug_spellings(agent: str) -> tuple[str, ...]:
    """Every spelling of the agent a letter may use, for context matching: INN and German, lower and capitalised."""
    inn = _inn(agent)
    names = [agent.strip(), inn, _german(inn) or inn]
    return tuple(dict.fromkeys(form for name in names for form in (name, capitalise(name))))


# How a course ended, as the "course_end" slot renders it: (German, English).
COURSE_END = {
    "completed": ("wie geplant abgeschlossen", "completed as planned"),
    "stopped": ("vorzeitig beendet", "stopped early"),
}
