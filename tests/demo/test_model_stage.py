"""The demo's model stage without a model: the synthetic department as the site, and the printed body figures."""

from __future__ import annotations

from rtletter.demo.model_stage import body_summary, decoding_key, demo_site
from rtletter.demo.synth.generate import synthesize
from rtletter.mappers.letter import split_letter
from rtletter.mappers.scaffold import compose_letter
from rtletter.model.dataset import make_record
from rtletter.model.evaluate.scores import Draft, evaluate_drafts


def test_the_demo_site_writes_the_departments_letterhead_and_signature() -> None:
    for synthetic in synthesize(6, 7, "de"):
        reference = synthetic.letter
        body = split_letter(reference, "de").body
        letter = compose_letter(synthetic.case, body, demo_site(), letter_date=synthetic.letter_date)
        assert letter.splitlines()[:3] == reference.splitlines()[:3]  # institution, clinic, head of department
        town_line = next(line for line in reference.splitlines() if line.startswith("Rheinstadt, den "))
        assert f"\n{town_line}\n" in letter
        assert "\nKlinikdirektor\n" in letter and split_letter(letter, "de").body.strip() == body.strip()


def test_the_body_summary_says_where_the_body_stands_against_its_floor() -> None:
    items = synthesize(3, 7, "de")
    records = [make_record(s.case, s.letter) for s in items]
    drafts = [Draft(r["id"], "finetuned", r["letter"], body=r["completion"][0]["content"], truncated=n == 0)
              for n, r in enumerate(records)]  # fmt: skip
    drafts += [Draft(r["id"], "base", "Diagnose: unklar.", body="Diagnose: unklar.", truncated=True) for r in records]
    base, tuned = body_summary(evaluate_drafts(records, drafts))
    assert tuned.startswith("finetuned: body ROUGE-1 / ROUGE-L 1.000 / 1.000 vs shuffled bodies ")
    assert "(above the floor)" in tuned and "body completeness 1.00" in tuned and "end-of-turn 2/3" in tuned
    assert "(below the floor)" in base and "body completeness 0.17" in base and "end-of-turn 0/3" in base


def test_the_evaluation_key_changes_with_the_decoding_code(tmp_path, monkeypatch) -> None:
    """A rerun must not re-score drafts that older decoding code wrote (the slot constraint, the penalty)."""
    import sys

    module = tmp_path / "decoding_probe.py"
    module.write_text("PENALTY = 1.2\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = decoding_key(("decoding_probe",))
    assert decoding_key(("decoding_probe",)) == before
    module.write_text("PENALTY = 1.1\n", encoding="utf-8")
    sys.modules.pop("decoding_probe", None)
    assert decoding_key(("decoding_probe",)) != before
    assert len(decoding_key()) == 64  # the real modules resolve to files
