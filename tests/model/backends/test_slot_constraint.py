"""Constrained decoding for fact slots: a decoder pushed towards "[" writes only the slot ids its prompt lists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rtletter.mappers.case import Intent
from rtletter.mappers.slots import SLOT_PATTERN
from rtletter.model.backends.slot_constraint import SlotLogitsProcessor, slot_strings

ALLOWED = frozenset({"dose_total.1", "dose_fx.1", "fx.1", "date_start", "date_end", "tox_grade.1"})


def _decode(tokenizer: Any, processor: SlotLogitsProcessor | None, steps: int, seed: int) -> str:
    """Greedy over random scores, with every token holding "[" made likely: slots are opened all the time."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    size = len(tokenizer)
    bracket = torch.tensor([i for i in range(size) if "[" in tokenizer.decode([i])])
    prompt = tokenizer.encode("Dosis:", add_special_tokens=False)
    ids = torch.tensor([prompt])
    for _ in range(steps):
        scores = torch.rand((1, size), generator=generator)
        scores[0, bracket] += 0.6
        if processor is not None:
            scores = processor(ids, scores)
        ids = torch.cat([ids, scores.argmax(-1, keepdim=True)], dim=1)
    return str(tokenizer.decode(ids[0, len(prompt) :].tolist()))


def _slot_shaped(text: str) -> list[str]:
    return re.findall(r"\[[a-z][^\[\]\s]*\]?", text)


@pytest.fixture(scope="module")
def tokenizer(micro_base: Path) -> Any:
    from rtletter.model.components.loading import load_tokenizer

    return load_tokenizer(micro_base)


def test_every_slot_written_under_the_constraint_is_one_the_prompt_lists(tokenizer: Any) -> None:
    prompt = tokenizer.encode("Dosis:", add_special_tokens=False)
    texts = [_decode(tokenizer, SlotLogitsProcessor(tokenizer, [ALLOWED], len(prompt)), 400, seed) for seed in (1, 2)]
    written = [m["id"] for text in texts for m in SLOT_PATTERN.finditer(text)]
    assert written, "the decoder never wrote a slot: the test would prove nothing"
    assert set(written) <= ALLOWED
    strings = slot_strings(ALLOWED)
    for text in texts:
        shaped = _slot_shaped(text)
        closed = [s for s in shaped if s.endswith("]")]
        assert all(s in strings for s in closed), closed
        assert all(s.endswith("]") for s in shaped[:-1])  # only the last may still be open when the steps run out


def test_the_same_decoder_without_the_constraint_writes_ids_the_prompt_does_not_list(tokenizer: Any) -> None:
    texts = [_decode(tokenizer, None, 400, seed) for seed in (1, 2)]
    strings = slot_strings(ALLOWED)
    assert any(s not in strings for text in texts for s in _slot_shaped(text))


def test_a_row_without_slots_is_not_constrained_and_with_slots_every_bracket_opens_one(tokenizer: Any) -> None:
    import torch

    prompt = tokenizer.encode("Dosis [", add_special_tokens=False)
    scores = torch.zeros((2, len(tokenizer)))
    processor = SlotLogitsProcessor(tokenizer, [None, ALLOWED], len(prompt) - 1)
    out = processor(torch.tensor([prompt, prompt]), scores.clone())
    assert torch.isfinite(out[0]).all()  # no slots in the prompt: nothing masked
    upper = tokenizer.encode("N", add_special_tokens=False)[0]
    assert out[1, upper] == float("-inf")  # every "[" opens a slot: no "[Nachsorgetermine", no "[NOTIZ"
    wrong = tokenizer.encode("z", add_special_tokens=False)[0]
    assert out[1, wrong] == float("-inf")  # no allowed id starts with "z"


@pytest.mark.parametrize(
    ("written", "right", "wrong"),
    [
        ("Bestrahlung vom [date_", "s", "e"),  # start
        ("Bestrahlung vom 02.03. bis [date_", "e", "s"),  # end
        ("Die Bestrahlung wurde am [date_", "e", "s"),  # the course's end, then [course_end]
        ("28 Fraktionen bis zu einer Gesamtdosis von [dose_", "t", "f"),  # total
        ("PTV Rektum: 28 × [dose_", "f", "t"),  # per fraction
    ],
)
def test_the_words_before_a_slot_rule_out_the_roles_they_contradict(
    tokenizer: Any, written: str, right: str, wrong: str
) -> None:
    """The fact check's role cues, at decode time: after "bis" the draft cannot write the start date."""
    import torch

    ids = tokenizer.encode(written, add_special_tokens=False)
    out = SlotLogitsProcessor(tokenizer, [ALLOWED], 0)(torch.tensor([ids]), torch.zeros((1, len(tokenizer))))
    token = {c: tokenizer.encode(c, add_special_tokens=False) for c in (right, wrong)}
    assert all(len(t) == 1 for t in token.values())
    assert torch.isfinite(out[0, token[right][0]])
    assert out[0, token[wrong][0]] == float("-inf")


def test_without_a_cue_both_roles_stay_open(tokenizer: Any) -> None:
    import torch

    ids = tokenizer.encode("Zeitraum: [date_", add_special_tokens=False)
    out = SlotLogitsProcessor(tokenizer, [ALLOWED], 0)(torch.tensor([ids]), torch.zeros((1, len(tokenizer))))
    for c in ("s", "e"):
        assert torch.isfinite(out[0, tokenizer.encode(c, add_special_tokens=False)[0]])


def _scores_after(tokenizer: Any, written: str, allowed: frozenset[str]) -> Any:
    import torch

    ids = tokenizer.encode(written, add_special_tokens=False)
    return SlotLogitsProcessor(tokenizer, [allowed], 0)(torch.tensor([ids]), torch.zeros((1, len(tokenizer))))[0]


def test_a_toxicity_grade_is_a_slot_never_a_number_of_the_drafts_own(tokenizer: Any) -> None:
    import torch

    digits = [t for t in range(len(tokenizer)) if tokenizer.decode([t]).strip()[:1].isdecimal()]
    assert digits
    graded = _scores_after(tokenizer, "Zystitis CTCAE Grad ", ALLOWED)
    assert (graded[digits] == float("-inf")).all()  # "CTCAE Grad 3 Monate" cannot start
    assert torch.isfinite(graded[tokenizer.encode("[", add_special_tokens=False)[0]])
    ungraded = _scores_after(tokenizer, "Nebenwirkungen über CTCAE Grad ", ALLOWED - {"tox_grade.1"})
    assert torch.isfinite(ungraded[digits]).all()  # no graded toxicity: "über CTCAE Grad 1 wurden nicht beobachtet"
    elsewhere = _scores_after(tokenizer, "Zystitis am ", ALLOWED)
    assert torch.isfinite(elsewhere[digits]).all()


def test_the_grade_is_that_of_the_toxicity_the_line_names_last(tokenizer: Any) -> None:
    import torch

    allowed = ALLOWED | {"tox.1", "tox.2", "tox_grade.2"}
    out = _scores_after(tokenizer, "[tox.1] CTCAE Grad [tox_grade.1] und [tox.2] CTCAE Grad [tox_grade.", allowed)
    one, two = (tokenizer.encode(c, add_special_tokens=False) for c in ("1", "2"))
    assert len(one) == len(two) == 1
    assert torch.isfinite(out[two[0]])
    assert out[one[0]] == float("-inf")
    # No toxicity named on the line: either grade may follow.
    free = _scores_after(tokenizer, "Verlauf\nCTCAE Grad [tox_grade.", allowed)
    assert torch.isfinite(free[one[0]]) and torch.isfinite(free[two[0]])


def test_outside_a_slot_no_token_writes_an_underscore(tokenizer: Any) -> None:
    """A slot id without its "[" ("gut toleriert_time.1]") cannot start, nor a stray "]" after a closed slot;
    inside a slot "_" and "]" are part of the id."""
    import torch

    special = set(tokenizer.all_special_ids)
    loose = [t for t in range(len(tokenizer)) if "_" in tokenizer.decode([t]).partition("[")[0] and t not in special]
    assert loose
    outside = _scores_after(tokenizer, "gut toleriert", ALLOWED)
    assert (outside[loose] == float("-inf")).all()
    assert torch.isfinite(outside[tokenizer.convert_tokens_to_ids("<|eot_id|>")])  # the end of the turn stays open
    inside = _scores_after(tokenizer, "Gesamtdosis [dose", ALLOWED)
    assert torch.isfinite(inside[tokenizer.encode("_", add_special_tokens=False)[0]])
    closing = [t for t in range(len(tokenizer)) if "]" in tokenizer.decode([t]).partition("[")[0]]
    assert closing
    closed = _scores_after(tokenizer, "Therapieintention: [dose_total.1]", ALLOWED)  # "kurativ.1]:" (SYN00700178)
    assert (closed[closing] == float("-inf")).all()
    opened = _scores_after(tokenizer, "Gesamtdosis [dose_total.1", ALLOWED)
    assert torch.isfinite(opened[tokenizer.encode("]", add_special_tokens=False)[0]])
    free = SlotLogitsProcessor(tokenizer, [None], 0)  # a prompt without slots: nothing is masked
    ids = torch.tensor([tokenizer.encode("gut toleriert", add_special_tokens=False)])
    assert torch.isfinite(free(ids, torch.zeros((1, len(tokenizer))))[0]).all()


def test_a_performance_status_after_its_scale_is_a_slot(tokenizer: Any) -> None:
    import torch

    digits = [t for t in range(len(tokenizer)) if tokenizer.decode([t]).strip()[:1].isdecimal()]
    rated = _scores_after(tokenizer, "Der Allgemeinzustand war stabil (ECOG ", ALLOWED | {"ps.1"})
    assert (rated[digits] == float("-inf")).all()  # no "ECOG- 5" of the draft's own
    unrated = _scores_after(tokenizer, "Der Allgemeinzustand war stabil (ECOG ", ALLOWED)
    assert torch.isfinite(unrated[digits]).all()  # the case has no status: the constraint has no slot to offer
    opened = _scores_after(tokenizer, "Der Allgemeinzustand war stabil (ECOG [", ALLOWED | {"ps.1", "pause_days.1"})
    first = {c: tokenizer.encode(c, add_special_tokens=False) for c in ("p", "d", "f")}
    assert all(len(t) == 1 for t in first.values())
    assert torch.isfinite(opened[first["p"][0]])
    assert opened[first["d"][0]] == float("-inf") and opened[first["f"][0]] == float("-inf")  # no other role
    inside = _scores_after(tokenizer, "Der Allgemeinzustand war stabil (ECOG [p", ALLOWED | {"ps.1", "pause_days.1"})
    assert torch.isfinite(inside[tokenizer.encode("s", add_special_tokens=False)[0]])
    assert inside[tokenizer.encode("a", add_special_tokens=False)[0]] == float("-inf")  # not "[pause_days.1]"


@pytest.mark.parametrize("written", ["bis zu einer Gesamtdosis von ", "28 Fraktionen à ", "GD "])
def test_after_a_dose_word_only_a_dose_slot_follows(tokenizer: Any, written: str) -> None:
    """No "Gesamtdosis von 3D-CRT" (another role's slot) and no number of the draft's own."""
    import torch

    digits = [t for t in range(len(tokenizer)) if tokenizer.decode([t]).strip()[:1].isdecimal()]
    allowed = ALLOWED | {"technique"}
    assert (_scores_after(tokenizer, written, allowed)[digits] == float("-inf")).all()
    opened = _scores_after(tokenizer, written + "[", allowed)
    assert torch.isfinite(opened[tokenizer.encode("d", add_special_tokens=False)[0]])  # [dose_...
    assert opened[tokenizer.encode("t", add_special_tokens=False)[0]] == float("-inf")  # not [technique] nor [tox_...


def test_a_planned_dose_needs_its_word_before_it(tokenizer: Any) -> None:
    """A stopped course: "GD [dose_planned.1]" states the plan as delivered; "geplant: [dose_planned.1]" is right."""
    import torch

    allowed = ALLOWED | {"dose_planned.1"}
    bare = _scores_after(tokenizer, "PTV Rektum: GD [dose_", allowed)
    assert bare[tokenizer.encode("p", add_special_tokens=False)[0]] == float("-inf")
    assert torch.isfinite(bare[tokenizer.encode("t", add_special_tokens=False)[0]])
    planned = _scores_after(tokenizer, "PTV Rektum: 20 × 1,8 Gy (geplant: [dose_", allowed)
    assert torch.isfinite(planned[tokenizer.encode("p", add_special_tokens=False)[0]])


def test_after_geplant_no_delivered_value_whose_plan_differs(tokenizer: Any) -> None:
    """A draft wrote "5 × 1,8 Gy bis 9 Gy (geplant: [fx.2] × [dose_fx.2] bis [dose_total.2])": the delivered values
    as the plan, which the case holds apart. After "geplant" only the plan's slots open; a course completed as
    planned (no plan of its own) may still say "geplant: [fx.1]"."""
    import torch

    planned = ALLOWED | {"fx_planned.1", "dose_planned.1"}
    dot, underscore = (tokenizer.encode(c, add_special_tokens=False) for c in (".", "_"))
    assert len(dot) == len(underscore) == 1
    after = _scores_after(tokenizer, "PTV Rektum: 20 × 1,8 Gy (geplant: [fx", planned)
    assert after[dot[0]] == float("-inf") and torch.isfinite(after[underscore[0]])
    as_planned = _scores_after(tokenizer, "PTV Rektum: 28 × 1,8 Gy (geplant: [fx", ALLOWED)
    assert torch.isfinite(as_planned[dot[0]])
    plain = _scores_after(tokenizer, "PTV Rektum: [fx", planned)
    assert torch.isfinite(plain[dot[0]])
    # A re-planned course: the phase's 5 of 28 planned fractions, and its volume's copy with the same 5 and no plan of
    # its own, which the fact check cannot tell apart: neither follows "geplant".
    phase = ALLOWED | {"fx.p1", "fx_planned.p1", "fx.2"}
    shown = {"fx.p1": "5", "fx_planned.p1": "28", "fx.2": "5", "fx.1": "26"}
    ids = tokenizer.encode("Serie 2: 5 × 1,8 Gy (geplant: [fx.", add_special_tokens=False)
    out = SlotLogitsProcessor(tokenizer, [phase], 0, [shown])(torch.tensor([ids]), torch.zeros((1, len(tokenizer))))[0]
    p, two, one = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("p", "2", "1"))
    assert out[p] == float("-inf") and out[two] == float("-inf")
    assert torch.isfinite(out[one])  # the course's 26 fractions, delivered as planned
    # The clause is read with its values filled in, as the fact check reads the letter: the slot ids are longer.
    values = {"fx_planned.1": "28", "dose_fx.1": "1,8 Gy", "dose_total.1": "36 Gy", "dose_planned.1": "50,4 Gy"}
    written = "(geplant: [fx_planned.1] × [dose_fx.1] bis [dose_"
    ids = tokenizer.encode(written, add_special_tokens=False)
    scores = SlotLogitsProcessor(tokenizer, [planned], 0, [values])(
        torch.tensor([ids]), torch.zeros((1, len(tokenizer)))
    )[0]
    assert scores[tokenizer.encode("t", add_special_tokens=False)[0]] == float("-inf")
    assert torch.isfinite(scores[tokenizer.encode("p", add_special_tokens=False)[0]])


@pytest.mark.parametrize(("grade", "banned"), [("3", True), ("2", False), (None, False)])
def test_a_tolerance_claim_the_worst_grade_belies_is_not_written(
    tokenizer: Any, grade: str | None, banned: bool
) -> None:
    """A grade 3 course: where "gut toleriert" would be completed next, the next best token is taken instead. At
    grade 2 the claim is a physician's judgment, and a toxicity without a grade leaves the worst unknown."""
    import torch

    allowed = frozenset({"tox.1", "tox_grade.1"} if grade else {"tox.1"})
    shown = {"tox.1": "Fatigue"} | ({"tox_grade.1": grade} if grade else {})
    ids = tokenizer.encode("Die Therapie wurde insgesamt gut toleriert", add_special_tokens=False)
    written, last = ids[:-1], ids[-1]
    scores = torch.zeros((1, len(tokenizer)))
    scores[0, last] = 10.0
    runner_up = tokenizer.encode(".", add_special_tokens=False)[0]
    scores[0, runner_up] = 5.0
    out = SlotLogitsProcessor(tokenizer, [allowed], 0, [shown])(torch.tensor([written]), scores)[0]
    assert bool(out[last] == float("-inf")) is banned
    assert int(out.argmax()) == (runner_up if banned else last)


@pytest.mark.parametrize(
    ("written", "word", "grade", "banned"),
    [
        ("Die Therapie wurde insgesamt", " gut", "3", True),  # stopped at its first word, not finished otherwise
        ("Die Therapie wurde insgesamt", " gut", "1", False),
        ("Die Therapie war durch", " höher", "1", True),
        ("Es traten keine", " höher", "1", False),  # "keine höhergradigen Nebenwirkungen" is true at grade 1
    ],
)
def test_a_belied_tolerance_claim_is_not_started(
    tokenizer: Any, written: str, word: str, grade: str, banned: bool
) -> None:
    """Stopped only at its last word, the stand-in finished the claim in other words ("gut" + "tolerablen")."""
    import torch

    ids = tokenizer.encode(written + word, add_special_tokens=False)  # the last token completes the word
    scores = torch.zeros((1, len(tokenizer)))
    scores[0, ids[-1]] = 10.0
    shown = {"tox.1": "Fatigue", "tox_grade.1": grade}
    out = SlotLogitsProcessor(tokenizer, [frozenset(shown)], 0, [shown])(torch.tensor([ids[:-1]]), scores)[0]
    assert bool(out[ids[-1]] == float("-inf")) is banned


@pytest.mark.parametrize(
    ("written", "word", "intent", "banned"),
    [
        ("Palliative Radiatio in", " kurativer", Intent.palliative, True),
        ("Strahlentherapie in", " kurativer", Intent.supportive, True),
        ("Radiatio in", " palliativer", Intent.adjuvant, True),
        ("Radiatio in", " palliativer", Intent.palliative, False),
        ("Radiatio in", " kurativer", Intent.definitive, False),
        ("Radiatio in", " kurativer", Intent.unknown, False),  # the prompt says "nicht angegeben": nothing belied
        ("Radiatio in", " kurativer", None, False),  # no intent line in the prompt
        ("Therapieintention: (k", "ur", Intent.palliative, False),  # "kur" may still become "kurz"
        ("Therapieintention: (kur", "ativ", Intent.palliative, True),
        ("Es besteht keine", " kurative", Intent.palliative, False),  # negated: no claim
        ("Strahlentherapie in", " neoadjuvanter", Intent.palliative, True),
        ("Therapieintention:", " adjuvant", Intent.neoadjuvant, True),
        ("Radiatio in", " neoadjuvanter", Intent.neoadjuvant, False),
        ("Z. n. Operation und", " adjuvanter", Intent.palliative, False),  # the history, not the intent
    ],
)
def test_an_intent_the_prompt_belies_is_not_written(
    tokenizer: Any, written: str, word: str, intent: Intent | None, banned: bool
) -> None:
    """The stand-in wrote "Palliative analgetische Einzeitbestrahlung ... in kurativer Intention"."""
    import torch

    ids = tokenizer.encode(written + word, add_special_tokens=False)
    scores = torch.zeros((1, len(tokenizer)))
    scores[0, ids[-1]] = 10.0
    out = SlotLogitsProcessor(tokenizer, [ALLOWED], 0, [{}], [intent])(torch.tensor([ids[:-1]]), scores)[0]
    assert bool(out[ids[-1]] == float("-inf")) is banned


def test_a_slot_written_max_uses_times_cannot_be_written_again(tokenizer: Any) -> None:
    """A looping draft ("[applicator] am [applicator] um [applicator] ...") runs out of the slot it repeats."""
    import torch

    from rtletter.model.backends.slot_constraint import MAX_SLOT_USES

    allowed = ALLOWED | {"applicator"}
    a = tokenizer.encode("a", add_special_tokens=False)
    assert len(a) == 1
    loop = " am ".join(["[applicator]"] * MAX_SLOT_USES)
    spent = _scores_after(tokenizer, f"Termin {loop} um [", allowed)
    assert spent[a[0]] == float("-inf")  # "[a..." would be the spent slot
    assert torch.isfinite(spent[tokenizer.encode("f", add_special_tokens=False)[0]])  # [fx.1] is still free
    once_less = " am ".join(["[applicator]"] * (MAX_SLOT_USES - 1))
    assert torch.isfinite(_scores_after(tokenizer, f"Termin {once_less} um [", allowed)[a[0]])
    # With a form it is the same slot: "[date_end:my]" counts for date_end.
    dated = " und ".join(["[date_end:my]"] * MAX_SLOT_USES)
    after = _scores_after(tokenizer, f"{dated}, Zeitraum: [date_", allowed)
    assert after[tokenizer.encode("e", add_special_tokens=False)[0]] == float("-inf")
    assert torch.isfinite(after[tokenizer.encode("s", add_special_tokens=False)[0]])


def test_after_termin_an_appointment_or_no_slot_at_all(tokenizer: Any) -> None:
    """ "Termin [applicator]" in a case without appointments: the words call for a role the case lacks, so no slot opens
    there and the letter goes on in words ("Den Termin zur ersten Nachsorge ...")."""
    import torch

    brackets = [t for t in range(len(tokenizer)) if "[" in tokenizer.decode([t])]
    without = _scores_after(tokenizer, "- Termin", ALLOWED | {"applicator"})
    assert (without[brackets] == float("-inf")).all()
    assert torch.isfinite(without[tokenizer.encode(" zur", add_special_tokens=False)[0]])
    booked = _scores_after(tokenizer, "- Termin [", ALLOWED | {"applicator", "appt_kind.1", "appt.1"})
    a = tokenizer.encode("a", add_special_tokens=False)[0]
    assert torch.isfinite(booked[a])  # [appt_kind.1] ...
    inside = _scores_after(tokenizer, "- Termin [app", ALLOWED | {"applicator", "appt_kind.1", "appt.1"})
    assert inside[tokenizer.encode("l", add_special_tokens=False)[0]] == float("-inf")  # ... never [applicator]


def test_the_values_on_a_volumes_line_are_that_volumes(tokenizer: Any) -> None:
    """A brachytherapy draft wrote "[volume.2]: [fx.1] × [dose_fx.2] Gy bis [dose_total.2]" ("25 × 7 Gy bis 28 Gy"):
    each value in the case, the line contradicted. After a volume's slot only its own doses and fractions follow."""
    import torch

    allowed = ALLOWED | {"volume.1", "volume.2", "fx.2", "dose_fx.2", "dose_total.2"}
    one, two = (tokenizer.encode(c, add_special_tokens=False) for c in ("1", "2"))
    assert len(one) == len(two) == 1
    named = _scores_after(tokenizer, "Boost: [volume.2]: [fx.", allowed)
    assert torch.isfinite(named[two[0]]) and named[one[0]] == float("-inf")
    counted = _scores_after(tokenizer, "[volume.2]: [fx.2] × [dose_fx.", allowed)
    assert torch.isfinite(counted[two[0]]) and counted[one[0]] == float("-inf")
    # Another volume on the same line (a simultaneous boost) brings its own values; a new line is free again.
    sib = _scores_after(tokenizer, "[volume.2]: [fx.2] × [dose_fx.2]; [volume.1]: [fx.", allowed)
    assert torch.isfinite(sib[one[0]]) and sib[two[0]] == float("-inf")
    fresh = _scores_after(tokenizer, "[volume.2]: [fx.2] × [dose_fx.2]\nGesamt: [fx.", allowed)
    assert torch.isfinite(fresh[one[0]]) and torch.isfinite(fresh[two[0]])
    # Slots of other roles keep any index: the volume's line names the course's dates and technique too.
    dated = _scores_after(tokenizer, "[volume.2]: [fx.2] × [dose_fx.2], [tox_grade.", allowed)
    assert torch.isfinite(dated[one[0]])


def test_a_times_sign_follows_a_fraction_count_never_a_dose(tokenizer: Any) -> None:
    """ "[dose_total.1] × [dose_fx.1]" ("28 × 7 Gy bis 28 Gy") puts a dose where the number of fractions belongs."""
    import torch

    times = [t for t in range(len(tokenizer)) if re.match(r"^\s*[×x](?![A-Za-z])", tokenizer.decode([t]))]
    assert times
    after_dose = _scores_after(tokenizer, "HR-CTV: [dose_total.1]", ALLOWED)
    assert (after_dose[times] == float("-inf")).all()
    after_count = _scores_after(tokenizer, "HR-CTV: [fx.1]", ALLOWED)
    assert torch.isfinite(after_count[times]).all()
    literal = _scores_after(tokenizer, "HR-CTV: 4", ALLOWED)  # "1 × 8 Gy" of a letter that writes the count
    assert torch.isfinite(literal[times]).all()


@pytest.mark.parametrize("written", ["Prostate: ED [", "Prostate: 7 × [", "GD ["])
def test_after_a_dose_word_only_a_dose_or_a_date(tokenizer: Any, written: str) -> None:
    """ "ED [fx.1] × [fx.1]" ("ED 7 × 7"), "ED [volume.1]": after "ED", "GD" or "×" the letters write a dose (or,
    after "ED", the date of diagnosis), never a number of fractions or a name; after "×" or "GD" no date either, and
    after "ED" no date but the diagnosis's ("Prostate: ED [date_start] bis": XRTS-02)."""
    import torch

    opened = _scores_after(tokenizer, written, ALLOWED | {"fx_planned.1", "volume.1"})
    for banned in ("f", "v"):  # [fx.1], [fx_planned.1], [volume.1]
        assert opened[tokenizer.encode(banned, add_special_tokens=False)[0]] == float("-inf")
    assert torch.isfinite(opened[tokenizer.encode("d", add_special_tokens=False)[0]])  # [dose_... or [date_...
    dated = _scores_after(tokenizer, written + "d", ALLOWED)
    assert torch.isfinite(dated[tokenizer.encode("o", add_special_tokens=False)[0]])
    assert dated[tokenizer.encode("a", add_special_tokens=False)[0]] == float("-inf")  # [date_start], [date_end]
    diagnosed = _scores_after(tokenizer, written + "d", ALLOWED | {"dx_date.1"})[
        tokenizer.encode("x", add_special_tokens=False)[0]
    ]
    assert (diagnosed == float("-inf")) == (not written.endswith("ED ["))  # "GD" calls for a dose alone (``slot_due``)
    free = _scores_after(tokenizer, "Prostate: [", ALLOWED | {"volume.1"})
    for open_ in ("f", "v"):
        assert torch.isfinite(free[tokenizer.encode(open_, add_special_tokens=False)[0]])


VOLUMES = ALLOWED | {"volume.1", "volume.2", "fx.2", "dose_fx.2", "dose_total.2"}
FIRST_LINE = "Serie 1: [volume.1]: [fx.1] × [dose_fx.1] bis [dose_total.1], vom [date_start] bis [date_end].\n"


def _line_starts(tokenizer: Any) -> list[int]:
    return [t for t in range(len(tokenizer)) if re.match(r"^[ \t]*\n", tokenizer.decode([t]))]


def test_the_section_that_names_a_volume_names_them_all_before_it_ends(tokenizer: Any) -> None:
    """XRTS-03 (three volumes in one phase) was drafted with its first volume alone: the course line ended and the next
    section began. Until the draft has named every volume it may neither leave the section nor end its turn."""
    import torch

    from rtletter.model.components.chat_template import stop_token_ids

    stops, starts = stop_token_ids(tokenizer), _line_starts(tokenizer)
    assert stops and starts
    dash = tokenizer.encode("-", add_special_tokens=False)[0]
    open_ = _scores_after(tokenizer, FIRST_LINE, VOLUMES)
    assert (open_[stops] == float("-inf")).all() and (open_[starts] == float("-inf")).all()
    assert torch.isfinite(open_[dash])  # another line of the course section
    covered = _scores_after(tokenizer, FIRST_LINE + "Serie 2: [volume.2]: [fx.2] × [dose_fx.2].\n", VOLUMES)
    eot = stops[0]  # "<|end_of_text|>" has a "_" and is never written outside a slot anyway
    assert torch.isfinite(covered[eot]) and torch.isfinite(covered[starts]).all()
    unnamed = _scores_after(tokenizer, "Diagnose: [dx_code.1]\n", VOLUMES | {"dx_code.1"})  # no volume named yet
    assert torch.isfinite(unnamed[eot]) and torch.isfinite(unnamed[starts]).all()


def test_a_volume_and_its_phase_copy_are_one_target(tokenizer: Any) -> None:
    """XRTS-05: the course volume "Brain Mets" and the phase's "Brain Mets" (its dose without a fraction count) are
    two slots of one target. Naming one covers both; the prompt's names say which slots share a target."""
    import torch

    from rtletter.model.components.chat_template import stop_token_ids

    allowed = VOLUMES | {"volume.3"}
    names = {"volume.1": "Prostate", "volume.2": "PelvNs", "volume.3": "Prostate"}

    def scores_after(written: str) -> Any:
        ids = torch.tensor([tokenizer.encode(written, add_special_tokens=False)])
        return SlotLogitsProcessor(tokenizer, [allowed], 0, [names])(ids, torch.zeros((1, len(tokenizer))))

    scores = scores_after(FIRST_LINE + "- [volume.")
    two, three = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("2", "3"))
    assert torch.isfinite(scores[0, two]) and scores[0, three] == float("-inf")  # Prostate is named already
    scores = scores_after(FIRST_LINE + "- [volume.2]: [fx.2] × [dose_fx.2].\n")
    assert torch.isfinite(scores[0, stop_token_ids(tokenizer)[0]])  # volume.3 is Prostate: every target is named


def test_where_the_draft_would_end_the_section_it_opens_an_unnamed_volume(tokenizer: Any) -> None:
    import torch

    starts = _line_starts(tokenizer)
    ids = tokenizer.encode(FIRST_LINE, add_special_tokens=False)
    leaving = torch.zeros((1, len(tokenizer)))
    leaving[0, starts[0]] = 5.0  # a blank line is the draft's first choice
    out = SlotLogitsProcessor(tokenizer, [VOLUMES], 0)(torch.tensor([ids]), leaving)[0]
    opened = [t for t in range(len(tokenizer)) if torch.isfinite(out[t])]
    assert opened and all("[" in tokenizer.decode([t]) for t in opened)
    staying = torch.zeros((1, len(tokenizer)))
    staying[0, tokenizer.encode("-", add_special_tokens=False)[0]] = 5.0  # another line of the section
    out = SlotLogitsProcessor(tokenizer, [VOLUMES], 0)(torch.tensor([ids]), staying)[0]
    assert torch.isfinite(out[tokenizer.encode("-", add_special_tokens=False)[0]])
    assert out[starts[0]] == float("-inf")


def test_a_span_closes_in_its_own_scope(tokenizer: Any) -> None:
    """XRTS-02 has the course's span and each phase's: "vom [date_start.p1] bis [date_end]" would state the first
    phase's start with the course's end."""
    import torch

    allowed = ALLOWED | {"date_start.p1", "date_end.p1"}
    close, dot = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("]", "."))
    phase = _scores_after(tokenizer, "Serie 1: vom [date_start.p1] bis [date_end", allowed)
    assert phase[close] == float("-inf") and torch.isfinite(phase[dot])
    course = _scores_after(tokenizer, "Zeitraum: vom [date_start] bis [date_end", allowed)
    assert torch.isfinite(course[close]) and course[dot] == float("-inf")


def test_while_a_volume_is_unnamed_no_named_one_is_named_again(tokenizer: Any) -> None:
    import torch

    one, two = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("1", "2"))
    again = _scores_after(tokenizer, FIRST_LINE + "- [volume.", VOLUMES)
    assert again[one] == float("-inf") and torch.isfinite(again[two])
    done = FIRST_LINE + "Serie 2: [volume.2]: [fx.2] × [dose_fx.2].\n- [volume."
    assert torch.isfinite(_scores_after(tokenizer, done, VOLUMES)[one])


def test_a_wish_to_end_the_section_at_a_lines_end_ends_the_line_and_opens_a_volume(tokenizer: Any) -> None:
    """The draft's first choice after "... bis [date_end]." is a blank line. A plain line break alone left the model
    to write the last line again ("Die Bestrahlung wurde am [date_start] ..."): the line ends, the next opens a slot,
    and a slot opened that way names a volume."""
    import torch

    processor = SlotLogitsProcessor(tokenizer, [VOLUMES], 0)
    ids = tokenizer.encode(FIRST_LINE.rstrip("\n"), add_special_tokens=False)
    blank = next(t for t in range(len(tokenizer)) if tokenizer.decode([t]) == "\n\n")
    newline, dash, bracket = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("\n", "-", "["))
    wish = torch.zeros((1, len(tokenizer)))
    wish[0, blank] = 5.0
    out = processor(torch.tensor([ids]), wish)[0]
    assert [t for t in range(len(tokenizer)) if torch.isfinite(out[t])] == [newline]
    other_line = torch.zeros((1, len(tokenizer)))
    other_line[0, dash] = 5.0  # at the new line the model would rather write something else
    out = processor(torch.tensor([ids + [newline]]), other_line)[0]
    assert out[dash] == float("-inf") and torch.isfinite(out[bracket])
    assert all("[" in tokenizer.decode([t]) for t in range(len(tokenizer)) if torch.isfinite(out[t]))
    inside = processor(torch.tensor([ids + [newline, bracket]]), torch.zeros((1, len(tokenizer))))[0]
    v, d = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("v", "d"))
    assert torch.isfinite(inside[v]) and inside[d] == float("-inf")  # not "[date_start]": a volume


def test_a_line_that_names_a_volume_states_its_values_before_it_ends(tokenizer: Any) -> None:
    """Forced to name the third volume, the stand-in wrote "HR-CTV" alone on its line and went on: the volume named,
    its doses omitted. The line goes on until it has the volume's fractions, dose per fraction and total."""
    import torch

    from rtletter.model.components.chat_template import stop_token_ids

    newline, one = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("\n", "1"))
    eot = stop_token_ids(tokenizer)[0]
    named = _scores_after(tokenizer, FIRST_LINE + "[volume.2]", VOLUMES)
    assert named[newline] == float("-inf") and named[eot] == float("-inf") and named[one] == float("-inf")
    opening = _scores_after(tokenizer, FIRST_LINE + "[volume.2]: [", VOLUMES)
    letters = {c: tokenizer.encode(c, add_special_tokens=False)[0] for c in ("v", "f", "d", "t")}
    assert opening[letters["v"]] == float("-inf") and opening[letters["t"]] == float("-inf")  # no volume, no tox
    assert torch.isfinite(opening[letters["f"]]) and torch.isfinite(opening[letters["d"]])
    partial = _scores_after(tokenizer, FIRST_LINE + "[volume.2]: [fx.2] × [dose_fx.2]", VOLUMES)
    assert partial[newline] == float("-inf")  # the total is still owed
    stated = _scores_after(tokenizer, FIRST_LINE + "[volume.2]: [fx.2] × [dose_fx.2] bis [dose_total.2]", VOLUMES)
    assert torch.isfinite(stated[newline]) and torch.isfinite(stated[eot])


def test_a_single_fraction_owes_no_total_of_its_own(tokenizer: Any) -> None:
    """ "1 × 8 Gy": the letters state a one-fraction volume's total as its single dose."""
    import torch

    newline = tokenizer.encode("\n", add_special_tokens=False)[0]
    ids = torch.tensor([tokenizer.encode(FIRST_LINE + "[volume.2]: [fx.2] × [dose_fx.2]", add_special_tokens=False)])
    single = SlotLogitsProcessor(tokenizer, [VOLUMES], 0, [{"fx.2": "1"}])(ids, torch.zeros((1, len(tokenizer))))
    assert torch.isfinite(single[0, newline])
    several = SlotLogitsProcessor(tokenizer, [VOLUMES], 0, [{"fx.2": "5"}])(ids, torch.zeros((1, len(tokenizer))))
    assert several[0, newline] == float("-inf")


def test_a_line_the_draft_would_end_at_a_volumes_name_goes_on_as_the_letters_volume_lines(tokenizer: Any) -> None:
    import torch

    newline = tokenizer.encode("\n", add_special_tokens=False)[0]
    processor = SlotLogitsProcessor(tokenizer, [VOLUMES], 0)
    ids = tokenizer.encode(FIRST_LINE + "[volume.2]", add_special_tokens=False)
    expected = tokenizer.encode(": [fx.2] × [dose_fx.2]", add_special_tokens=False)
    written = []
    for _ in expected:
        wish = torch.zeros((1, len(tokenizer)))
        wish[0, newline] = 5.0  # the draft would end the line at every step
        out = processor(torch.tensor([ids + written]), wish)[0]
        (allowed,) = [t for t in range(len(tokenizer)) if torch.isfinite(out[t])]
        written.append(allowed)
    assert written == expected


def test_a_draft_that_does_not_write_the_values_in_time_is_let_go(tokenizer: Any) -> None:
    """A draft off the letter's course would otherwise be kept from ending at each volume name it strews."""
    import torch

    from rtletter.model.backends.slot_constraint import VALUES_WITHIN

    newline, word = (tokenizer.encode(c, add_special_tokens=False)[0] for c in ("\n", " und"))
    processor = SlotLogitsProcessor(tokenizer, [VOLUMES], 0)
    ids = tokenizer.encode(FIRST_LINE + "[volume.2]", add_special_tokens=False)
    assert processor(torch.tensor([ids]), torch.zeros((1, len(tokenizer))))[0, newline] == float("-inf")
    late = ids + [word] * (VALUES_WITHIN + 1)
    assert torch.isfinite(processor(torch.tensor([late]), torch.zeros((1, len(tokenizer))))[0, newline])


@pytest.mark.parametrize(
    ("written", "allowed", "banned"),
    [
        ("[dx_text.1], [dx_tnm.1], ED", frozenset({"dx_text.1", "dx_tnm.1"}), True),
        ("[dx_text.1], [dx_tnm.1], ED", frozenset({"dx_text.1", "dx_tnm.1", "dx_date.1"}), False),
        ("[volume.1]: ED", frozenset({"volume.1", "dose_fx.1"}), False),
    ],
)
def test_no_ed_on_a_diagnosis_line_without_its_date(
    tokenizer: Any, written: str, allowed: frozenset[str], banned: bool
) -> None:
    """Held to the date of diagnosis after "ED", a case without one derailed to the cap (two of the demo's 21
    held-out drafts): its draft does not write that "ED"; the next best token is taken."""
    import torch

    ids = tokenizer.encode(written, add_special_tokens=False)  # the last token completes "ED"
    scores = torch.zeros((1, len(tokenizer)))
    scores[0, ids[-1]] = 10.0
    out = SlotLogitsProcessor(tokenizer, [allowed], 0)(torch.tensor([ids[:-1]]), scores)[0]
    assert bool(out[ids[-1]] == float("-inf")) is banned
