"""extract_facts and find_sections on hand-written letters in wordings the synthetic cohort does not use."""

from __future__ import annotations

import pytest

from rtletter.mappers.letter import SECTIONS, extract_facts, find_sections, split_letter

# Hand-written in the style of other departments: other headings, "à", cGy, ranges, dd.mm.yy, ISO, partial dates.
GERMAN = """\
Klinik für Strahlentherapie, Musterstadt, 14.04.2026

Patient: Herr Max Beispiel, * 03.11.1951

Hallo Herr Dr. Sommer,

anbei der Abschlussbericht.

Hauptdiagnose: Adenokarzinom des Rektums (ICD C20), cT3 N1 M0; Nebendiagnose Diabetes mellitus (E11.90).
Anamnese: Z. n. Koloskopie, keine OP.
Radiatio: 28 Fraktionen à 1,8 Gy, Gesamtdosis 5040 cGy, vom 02.03. bis 08.04.2026, parallel Xeloda 825 mg/m² 2× tgl.
Dosis-Constraints: V20 < 30 %, D95 > 95 %; 5 Fraktionen pro Woche.
Verträglichkeit: Diarrhoe Grad 2, Proktitis Grad 1.
Weiteres Vorgehen: OP-Planung; wir empfehlen ein MRT am 20.05.26.
Verlaufskontrolle in unserer Ambulanz am 2026-06-01.

Freundliche Grüße
"""

ENGLISH = """\
Department of Clinical Oncology
DOB: 12/03/1956

To whom it may concern,

Principal diagnosis: carcinoma of the left breast, pT1c pN0, C50.4 L, diagnosed 14 January 2026.
Previous treatment: wide local excision on January 20, 2026; tamoxifen since 3 February 2026.
Treatment given: 40.05 Gy in 15 fractions (2.67 Gy per fraction) from 2 March to 20 March 2026, then a tumour-bed
boost of 5 x 2 Gy. Prescribed 4005 cGy.
Toxicities: grade 1 dermatitis.
Further management: we suggest annual mammography; consolidation with R-CHOP is not indicated.
Appointments: review appointment on 4 May 2026.

Best regards
"""


def _facts(text: str, lang: str) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in extract_facts(text, lang)}


def test_extract_facts_reads_a_german_letter_in_other_wording() -> None:
    facts = _facts(GERMAN, "de")
    assert {("dose", "1.8"), ("dose", "50.4"), ("fractions", "28")} <= facts
    assert {("date", "2026-03-02"), ("date", "2026-04-08"), ("date", "2026-05-20"), ("date", "2026-06-01")} <= facts
    assert {("code", "C20"), ("code", "E11.90"), ("drug", "capecitabine")} <= facts
    # "5 Fraktionen pro Woche" is a schedule, "V20"/"D95" are dose-volume terms, "2×" is a drug schedule
    assert ("fractions", "5") not in facts
    assert ("code", "V20") not in facts and ("code", "D95") not in facts
    assert ("fractions", "2") not in facts


def test_extract_facts_labels_birth_and_letter_dates() -> None:
    labels = {f.value: f.label for f in extract_facts(GERMAN, "de") if f.kind == "date"}
    assert labels["1951-11-03"] == "birth date"
    assert labels["2026-04-14"] == "letter date"
    assert labels["2026-03-02"] == "date"


def test_extract_facts_reads_an_english_letter() -> None:
    facts = extract_facts(ENGLISH, "en")
    found = {(f.kind, f.value) for f in facts}
    assert {("dose", "40.05"), ("dose", "2.67"), ("dose", "2"), ("fractions", "15"), ("fractions", "5")} <= found
    assert {("date", "2026-01-14"), ("date", "2026-01-20"), ("date", "2026-02-03"), ("date", "2026-03-02"),
            ("date", "2026-03-20"), ("date", "2026-05-04")} <= found  # fmt: skip
    assert ("code", "C50.4") in found
    assert {("drug", "tamoxifen"), ("drug", "rituximab"), ("drug", "prednisone")} <= found
    assert next(f for f in facts if f.value == "1956-03-12").label == "birth date"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 × 5 Gy", {("fractions", "5"), ("dose", "5")}),
        ("3x15 Gy", {("fractions", "3"), ("dose", "15")}),
        ("45–50,4 Gy", {("dose", "45"), ("dose", "50.4")}),
        ("7000 cGy", {("dose", "70")}),
        ("Fraktion 12 von 28", set()),  # no fraction word after the count: not a fraction count
        ("nach 17 von 28 geplanten Fraktionen", {("fractions", "17"), ("fractions", "28")}),
        ("am 05.01.26", {("date", "2026-01-05")}),
        ("am 31.02.2026", set()),  # not a date
        ("Cisplatin und 5-FU, Mitomycin C", {("drug", "cisplatin"), ("drug", "fluorouracil"), ("drug", "mitomycin")}),
        ("Temozolomid 75 mg/m²", {("drug", "temozolomide")}),
        ("C79.3 und C34.1", {("code", "C79.3"), ("code", "C34.1")}),
        ("pT2 pN1a G2 R0 ECOG 1", set()),
    ],
)
def test_extract_facts_canonical_forms(text: str, expected: set[tuple[str, str]]) -> None:
    assert _facts(text, "de") == expected


def test_extract_facts_partial_date_takes_the_year_of_the_next_full_date_across_new_year() -> None:
    facts = _facts("Radiatio vom 29.12. bis 16.01.2026", "de")
    assert ("date", "2025-12-29") in facts and ("date", "2026-01-16") in facts


def test_extract_facts_partial_date_without_any_year_needs_reference_year() -> None:
    assert _facts("Nachsorge am 02.03.", "de") == set()
    assert {(f.kind, f.value) for f in extract_facts("Nachsorge am 02.03.", "de", reference_year=2027)} == {
        ("date", "2027-03-02")
    }


def test_extract_facts_rejects_unknown_language() -> None:
    with pytest.raises(ValueError):
        extract_facts("50 Gy", "fr")


def test_find_sections_on_other_wordings() -> None:
    assert find_sections(GERMAN, "de") == dict.fromkeys(SECTIONS, True)
    assert find_sections(ENGLISH, "en") == dict.fromkeys(SECTIONS, True)


def test_find_sections_reports_what_is_missing() -> None:
    text = "Sehr geehrter Herr Kollege Braun,\n\nDiagnose: Glioblastom.\nWir bestrahlten mit 30 × 2 Gy.\n"
    sections = find_sections(text, "de")
    assert sections["salutation"] and sections["diagnoses"] and sections["course"]
    assert not sections["treatment_history"]
    assert not sections["tolerance"]
    assert not sections["recommendations"]
    assert not sections["follow_up"]
    assert not sections["closing"]


def test_find_sections_on_empty_text_finds_nothing() -> None:
    assert not any(find_sections("", "en").values())


# --- split_letter -------------------------------------------------------------------------------------------------


def test_split_letter_cuts_hand_written_letters_at_the_first_heading_and_the_closing() -> None:
    head, body, tail = split_letter(GERMAN, "de")
    assert head + body + tail == GERMAN
    assert head.endswith("anbei der Abschlussbericht.\n\n") and body.startswith("Hauptdiagnose: Adenokarzinom")
    assert tail == "Freundliche Grüße\n"
    head, body, tail = split_letter(ENGLISH, "en")
    assert head + body + tail == ENGLISH
    assert body.startswith("Principal diagnosis:") and body.rstrip().endswith("4 May 2026.")
    assert tail == "Best regards\n"


def test_split_letter_looks_for_headings_only_after_the_salutation() -> None:
    # the letterhead names the department; a line "Strahlentherapie" there is no section heading
    letter = (
        "Strahlentherapie\nUniklinik Musterstadt\n\nSehr geehrte Frau Kollegin Dr. Roth,\n\nwir berichten über "
        "Ihre Patientin.\n\nTherapie: 5 × 5 Gy.\n\nBei Rückfragen stehen wir gerne zur Verfügung.\n"
    )
    head, body, tail = split_letter(letter, "de")
    assert head.startswith("Strahlentherapie\n") and head.endswith("Ihre Patientin.\n\n")
    assert body == "Therapie: 5 × 5 Gy.\n\n" and tail.startswith("Bei Rückfragen")


def test_split_letter_keeps_a_bulleted_question_line_in_the_body() -> None:
    letter = "Diagnose: Glioblastom.\n\nProcedere:\n- Bei Rückfragen zur MRT anrufen.\n\nMit freundlichen Grüßen\n"
    head, body, tail = split_letter(letter, "de")
    assert head == "" and "- Bei Rückfragen zur MRT" in body and tail == "Mit freundlichen Grüßen\n"


def test_split_letter_of_a_body_is_the_body() -> None:
    body = "Diagnosis:\n- carcinoma of the prostate\n\nFollow-up:\nEvery three months.\n"
    assert split_letter(body, "en") == ("", body, "")


def test_split_letter_without_headings_starts_the_body_after_the_salutation() -> None:
    letter = "Dear Dr Smith,\n\nWe treated Mr Jones with 20 Gy in 5 fractions.\n\nKind regards\nDr Who\n"
    head, body, tail = split_letter(letter, "en")
    assert head == "Dear Dr Smith,\n\n" and body == "We treated Mr Jones with 20 Gy in 5 fractions.\n\n"
    assert tail == "Kind regards\nDr Who\n"
    assert split_letter("", "de") == ("", "", "")
    with pytest.raises(ValueError, match="unsupported letter language"):
        split_letter(letter, "fr")


BODY_SECTIONS = ("diagnoses", "treatment_history", "course", "tolerance", "recommendations", "follow_up")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_split_letter_cuts_every_letter_of_the_synthetic_cohort(lang: str) -> None:
    from rtletter.demo.synth.generate import synthesize

    for seed in (7, 3):
        for synthetic in synthesize(60, seed, lang):
            letter = synthetic.letter
            head, body, tail = split_letter(letter, lang)
            assert head + body + tail == letter
            assert find_sections(head, lang)["salutation"] and synthetic.case.patient.name in head
            in_body = find_sections(body, lang)
            assert all(in_body[name] for name in BODY_SECTIONS), body
            assert not in_body["salutation"] and not in_body["closing"], body
            assert find_sections(tail, lang)["closing"] and "Gy" not in tail


def test_body_headings_of_the_synthetic_letters_run_once() -> None:
    """The bounds redrafting and bench/external_drafts.py hold a draft to (``sections_over``): at most 8 headings,
    none more than twice (the demo's German letters have 6 to 8, English ones from 5)."""
    from collections import Counter

    from rtletter.demo.synth import synthesize
    from rtletter.mappers.letter import body_headings, sections_over

    for lang in ("de", "en"):
        for item in synthesize(40, seed=11, lang=lang):
            headings = body_headings(item.letter)
            assert 5 <= len(headings) <= 8, (item.patient_id, headings)
            assert max(Counter(headings).values()) <= 2, (item.patient_id, headings)
            assert sections_over(item.letter) == 0
    twice = synthesize(1, seed=11)[0].letter
    start = twice.index("Diagnose")
    assert sections_over(twice + twice[start:]) >= 1  # the sections started over
    marked = "Diagnosen:\n- C61\n\n**Verlauf:**\nGut.\n## Procedere\n"
    assert body_headings(marked) == ["diagnosen", "verlauf", "procedere"]
