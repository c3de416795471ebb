from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from rtletter.mappers.case import Case
from rtletter.mappers.scaffold import Site, compose_letter, letter_scaffold
from rtletter.model.backends import Generation
from rtletter.model.dataset import case_from_record, make_record
from rtletter.model.evaluate.recipe import evaluate
from rtletter.model.evaluate.report import comparison_table, physician_table, summary_table, write_report
from rtletter.model.evaluate.scores import Draft, EvaluationError, evaluate_drafts, write_drafts

DATA = Path(__file__).parent / "data"
BLAND = "Sehr geehrte Damen und Herren,\nder Patient wurde mit 66 Gy bestrahlt und erhielt Cisplatin."
SITE = Site(institution="Klinik für Strahlentherapie", town="Rheinstadt")


@pytest.fixture(scope="module")
def letter() -> str:
    return (DATA / "letter_rectum_de.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def records(letter: str) -> list[dict]:
    case = Case.model_validate_json((DATA / "case_rectum.json").read_bytes())
    out = []
    for n in range(3):
        item = case.model_copy(deep=True)
        item.case_id = f"synthetic:course-{n}"
        item.patient.id = f"P-{n}"
        item.toxicities[0].grade = n + 1  # letters that differ (the shuffled floor), each true to its case
        text = letter.replace("Proktitis Grad 1", f"Proktitis Grad {n + 1}")
        if n + 1 >= 3:  # not "gut vertragen" with a grade 3 toxicity: the fact check contradicts that
            text = text.replace("wurde gut vertragen", "war durch höhergradige Nebenwirkungen belastet")
        out.append(make_record(item, text))
    return out


def _drafts(records: list[dict]) -> list[Draft]:
    """The reference letters as fine-tuned drafts (one with a near-miss dose), a bland text as the base's."""
    tuned = [Draft(r["id"], "finetuned", r["letter"].replace("50,4", "50,0")) for r in records[:1]]
    tuned += [Draft(r["id"], "finetuned", r["letter"]) for r in records[1:]]
    return tuned + [Draft(r["id"], "base", BLAND) for r in records]


def test_report_html_is_self_contained_with_table_plots_and_findings(tmp_path: Path, records) -> None:
    evaluation = evaluate_drafts(records, _drafts(records))
    markdown, page = write_report(evaluation, tmp_path)
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(https?:)?//[\w.-]+\.\w+/", text.replace("http://fhir.de", ""))
    assert not re.search(r"<(link|script)[^>]+(src|href)=", text)
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', text)
    assert len(images) == 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    for case_id in ("synthetic:course-0", "synthetic:course-1", "synthetic:course-2"):
        assert f"<td>{case_id}</td>" in text
    assert "contradicted: dose 50 (case: 50.4)" in text
    assert "unsupported: dose 66" in text and "unsupported: drug cisplatin" in text
    md = markdown.read_text(encoding="utf-8")
    assert "| metric | base | fine-tuned | Δ fine-tuned − base | shuffled references |" in md
    assert "| synthetic:course-0 | fine-tuned |" in md
    assert "![ROUGE](rouge.png)" in md
    assert (tmp_path / "rouge.png").read_bytes().startswith(b"\x89PNG")


def test_summary_shows_fine_tuned_ahead_and_the_shuffled_floor(records) -> None:
    evaluation = evaluate_drafts(records, _drafts(records))
    base, tuned = evaluation.summaries
    assert (base.system, tuned.system) == ("base", "finetuned")
    assert all(tuned.rouge[n] > base.rouge[n] for n in tuned.rouge)
    assert tuned.completeness == 1.0 and base.completeness < 0.5
    assert (tuned.contradicted, tuned.unsupported) == (1, 0)
    assert (base.contradicted, base.unsupported) == (0, 6)  # 66 Gy and cisplatin in each of three drafts
    assert evaluation.shuffled_reference_rouge is not None
    assert 0.9 < evaluation.shuffled_reference_rouge["rouge1"] < 1.0  # the references differ in a word or two


def test_drafts_must_match_the_data(records) -> None:
    drafts = _drafts(records)
    with pytest.raises(EvaluationError, match="system 'base' has no draft for 1 of 3 cases"):
        evaluate_drafts(records, drafts[:-1])
    with pytest.raises(EvaluationError, match="record 7 is for a case that is not in the data"):
        evaluate_drafts(records, [*drafts, Draft("synthetic:other", "base", BLAND)])


class FixedBackend:
    """A Backend that answers every conversation with one fixed text (the recipe's loop is under test, not a
    model: the model helper's tests and the demo generate for real)."""

    def __init__(self, text: str, model_name: str, truncated: bool = False) -> None:
        self.text, self.model_name, self.truncated = text, model_name, truncated
        self.calls: list[int] = []

    def generate(self, conversations, *, max_new_tokens: int = 1024) -> list[Generation]:
        self.calls.append(len(conversations))
        return [Generation(self.text, 100, 50, 0.5, self.model_name, self.truncated) for _ in conversations]


def test_recipe_generates_with_adapter_and_base_then_rescores_from_file(tmp_path: Path, records, letter) -> None:
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    made: list[tuple[Path, Path | None]] = []

    body = records[0]["completion"][0]["content"]  # the fine-tuned model writes a body, the base runs to the limit

    def factory(base: Path, adapter: Path | None) -> FixedBackend:
        made.append((base, adapter))
        return FixedBackend(body if adapter else BLAND, "tiny+lora" if adapter else "tiny", truncated=not adapter)

    evaluation = evaluate(
        data, base=tmp_path / "base", adapter=tmp_path / "adapter", baseline=True, out=tmp_path / "out",
        backend_factory=factory, site=SITE,
    )  # fmt: skip
    assert made == [(tmp_path / "base", tmp_path / "adapter"), (tmp_path / "base", None)]
    assert [s.system for s in evaluation.summaries] == ["base", "finetuned"]
    assert evaluation.summaries[1].tokens_per_second == pytest.approx(100.0)
    written = [json.loads(line) for line in (tmp_path / "out" / "drafts.jsonl").read_text().splitlines()]
    assert len(written) == 6 and written[0]["model"] == "tiny+lora"
    # the draft is the letter the agent would post: the site's head and tail around the body the model wrote
    case = case_from_record(records[0])
    head, tail = letter_scaffold(case, site=SITE, letter_date=case.course.end)
    assert written[0]["text"] == f"{head}\n\n{body}\n\n{tail}\n" and written[0]["body"] == body
    assert [w["truncated"] for w in written] == [False] * 3 + [True] * 3
    first = evaluation.score(records[0]["id"], "finetuned")
    assert first is not None and first.body_rouge["rouge1"] == pytest.approx(1.0)  # its own reference's body
    assert (evaluation.summaries[1].ended, evaluation.summaries[0].ended) == (3, 0)
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert len(scores["drafts"]) == 6
    assert (tmp_path / "out" / "report.html").is_file()

    again = evaluate(
        data, base=None, adapter=None, baseline=False, out=tmp_path / "again",
        drafts=tmp_path / "out" / "drafts.jsonl", limit=2,
    )  # fmt: skip
    assert len(again.records) == 2 and len(again.scores) == 4
    assert again.summaries[1].rouge == pytest.approx(
        {k: sum(s.rouge[k] for s in evaluation.scores[1:4:2]) / 2 for k in again.summaries[1].rouge}
    )
    assert [s.body_rouge for s in again.scores] == [s.body_rouge for s in evaluation.scores[:4]]
    assert [s.truncated for s in again.scores] == [True, False, True, False]  # read back from the file


def test_recipe_needs_something_to_evaluate(tmp_path: Path, records) -> None:
    data = tmp_path / "test.jsonl"
    write_drafts(tmp_path / "unused.jsonl", [])
    data.write_text(json.dumps(records[0]) + "\n", encoding="utf-8")
    with pytest.raises(EvaluationError, match="give --adapter, --baseline or --drafts"):
        evaluate(data, base=None, adapter=None, baseline=False, out=tmp_path / "o")
    with pytest.raises(EvaluationError, match="adapter_config.json: not found"):
        evaluate(data, base=None, adapter=tmp_path, baseline=True, out=tmp_path / "o")


def test_fine_tuned_shortfalls_name_each_metric_it_does_not_win(records) -> None:
    from rtletter.model.evaluate.scores import fine_tuned_shortfalls

    assert fine_tuned_shortfalls(evaluate_drafts(records, _drafts(records))) == []
    swapped = [Draft(d.id, "base" if d.system == "finetuned" else "finetuned", d.text) for d in _drafts(records)]
    lines = fine_tuned_shortfalls(evaluate_drafts(records, swapped))
    assert [line.split(":")[0] for line in lines] == ["rouge1", "rouge2", "rougeL", "rougeLsum", "section completeness"]
    with pytest.raises(EvaluationError, match="both the base and the fine-tuned"):
        fine_tuned_shortfalls(evaluate_drafts(records, [d for d in _drafts(records) if d.system == "base"]))


def test_summary_gives_bootstrap_intervals_and_the_paired_test(records) -> None:
    evaluation = evaluate_drafts(records, _drafts(records))
    base, tuned = evaluation.summaries
    rouge = tuned.intervals["rouge1"]
    assert rouge.mean == pytest.approx(tuned.rouge["rouge1"]) and rouge.low <= rouge.mean <= rouge.high
    assert tuned.intervals["completeness"].mean == tuned.completeness
    (comparison,) = evaluation.comparisons
    assert (comparison.a, comparison.b) == ("finetuned", "base")
    difference = comparison.metrics["rouge1"].difference
    assert difference.mean == pytest.approx(tuned.rouge["rouge1"] - base.rouge["rouge1"])
    assert difference.low > 0
    # 3 cases, fine-tuned ahead on each: the exact sign-flip p is 2 / 2^3
    assert comparison.metrics["rouge1"].p_value == pytest.approx(0.25)
    header, rows = summary_table(evaluation)
    by_label = {row[0]: row for row in rows}
    assert re.fullmatch(r"[01]\.\d{3} \[[01]\.\d{3}, [01]\.\d{3}\]", by_label["ROUGE-1"][2])
    assert re.fullmatch(r"\+0\.\d{3} \[\+0\.\d{3}, \+0\.\d{3}\] p=0\.250", by_label["ROUGE-1"][3])
    assert by_label["unsupported statements"][1] == "6 [6, 6]"  # 2 per base draft on every case: a total of 6
    assert by_label["unsupported statements"][3] == "-6 [-6, -6] p=0.250"
    paired = comparison_table(evaluation)
    assert paired is not None and paired[1][0][:2] == ["fine-tuned − base", "ROUGE-1"]
    assert json.loads(json.dumps(evaluation.to_json()))["comparisons"][0]["metrics"]["rouge1"]["p_value"] == 0.25


def test_report_shows_per_reviewer_means_and_agreement(tmp_path: Path, records) -> None:
    criteria = {"mean": 3.5, "sd": 0.5, "n": 4}
    block = {
        "criteria": dict.fromkeys(("correctness", "completeness", "style", "clinical_benefit"), criteria),
        "n_cases": 2,
        "n_reviewers": 2,
        "n_ratings": 4,
        "per_reviewer": {
            "Dr. A": {"criteria": dict.fromkeys(("correctness", "completeness", "style", "clinical_benefit"), 4.0),
                      "n_ratings": 2},
            "Dr. B": {"criteria": dict.fromkeys(("correctness", "completeness", "style", "clinical_benefit"), 3.0),
                      "n_ratings": 2},
        },
        "agreement": dict.fromkeys(("correctness", "completeness", "style", "clinical_benefit"),
                                   {"alpha": -0.5, "items": 2}),
    }  # fmt: skip
    overall = {"metric": "ordinal", "criteria": {"correctness": {"alpha": 0.7833, "items": 2}}}
    physician = {"systems": {"finetuned": block}, "agreement": overall}
    evaluation = evaluate_drafts(records, _drafts(records), physician=physician)
    table = physician_table(evaluation)
    assert table is not None
    rows = table[1]
    assert rows[0][:3] == ["fine-tuned", "all (pooled)", "3.50 ± 0.50"]
    assert rows[1][:3] == ["fine-tuned", "Dr. A", "4.00"] and rows[2][:3] == ["fine-tuned", "Dr. B", "3.00"]
    assert rows[3][1:3] == ["agreement (Krippendorff's α)", "-0.50"]
    assert rows[4][1:4] == ["agreement (Krippendorff's α, ordinal)", "0.78", "–"]
    markdown, _ = write_report(evaluation, tmp_path)
    assert "| fine-tuned | Dr. B | 3.00 |" in markdown.read_text(encoding="utf-8")


def test_body_scores_are_not_flattered_by_the_letter_template(records) -> None:
    # fine-tuned: the site's letter around a body that says almost nothing; base: the bland text
    drafts = [Draft(r["id"], "finetuned", compose_letter(case_from_record(r), "Diagnose:\nunklar.", SITE),
                    body="Diagnose:\nunklar.") for r in records]  # fmt: skip
    drafts += [Draft(r["id"], "base", BLAND) for r in records]
    evaluation = evaluate_drafts(records, drafts)
    base, tuned = evaluation.summaries
    assert tuned.rouge["rouge1"] > 0.2  # the template's words match the reference's head and closing
    assert tuned.body_rouge["rouge1"] < 0.05  # the body is what the model wrote, and it wrote nothing
    assert tuned.body_completeness == pytest.approx(1 / 6) and tuned.completeness == pytest.approx(2 / 6)
    floor = evaluation.shuffled_body_rouge
    assert floor is not None and 0.9 < floor["rouge1"] < 1.0  # the three references' bodies differ in one word
    header, rows = summary_table(evaluation)
    by_label = {row[0]: row for row in rows}
    assert by_label["body ROUGE-1"][-1] == f"{floor['rouge1']:.3f}"
    assert by_label["ROUGE-1"][-1] == f"{evaluation.shuffled_reference_rouge['rouge1']:.3f}"
    assert by_label["body completeness (written sections)"][2].startswith("0.167")
    assert by_label["drafts ending with end-of-turn"][1:3] == ["–", "–"]  # not recorded for these drafts
    saved = json.loads(json.dumps(evaluation.to_json()))["drafts"]
    assert [d["body_completeness"] for d in saved if d["system"] == "finetuned"] == pytest.approx([1 / 6] * 3)


def test_the_share_of_drafts_that_ended_by_themselves(records) -> None:
    endings = [False, True, None]
    drafts = [Draft(r["id"], "finetuned", r["letter"], truncated=t) for r, t in zip(records, endings, strict=True)]
    drafts += [Draft(r["id"], "base", BLAND, truncated=True) for r in records]
    base, tuned = evaluate_drafts(records, drafts).summaries
    assert (tuned.ended, tuned.ended_of, tuned.ended_share) == (1, 2, 0.5)
    assert (base.ended, base.ended_of, base.ended_share) == (0, 3, 0.0)
    header, rows = summary_table(evaluate_drafts(records, drafts))
    row = next(r for r in rows if r[0] == "drafts ending with end-of-turn")
    assert row[1:3] == ["0% (0/3)", "50% (1/2)"]


def test_drafts_keep_body_and_ending_through_the_file(tmp_path: Path, records) -> None:
    from rtletter.model.evaluate.scores import read_drafts

    drafts = [Draft(records[0]["id"], "finetuned", "Brief", body="Körper", truncated=True),
              Draft(records[1]["id"], "finetuned", "Brief")]  # fmt: skip
    write_drafts(tmp_path / "d.jsonl", drafts)
    assert read_drafts(tmp_path / "d.jsonl") == drafts


def test_under_the_template_the_models_are_also_compared_on_what_they_wrote(records) -> None:
    from rtletter.model.evaluate.scores import fine_tuned_shortfalls

    def letter(record: dict, body: str) -> str:
        return compose_letter(case_from_record(record), body, SITE)

    # the same template around both: the fine-tuned body is its reference's, the base body a bland sentence
    tuned = [Draft(r["id"], "finetuned", letter(r, r["completion"][0]["content"]), body=r["completion"][0]["content"])
             for r in records]  # fmt: skip
    base = [Draft(r["id"], "base", letter(r, "Diagnose: unklar."), body="Diagnose: unklar.") for r in records]
    assert fine_tuned_shortfalls(evaluate_drafts(records, tuned + base)) == []
    swapped = [Draft(d.id, "base" if d.system == "finetuned" else "finetuned", d.text, body=d.body)
               for d in tuned + base]  # fmt: skip
    lines = fine_tuned_shortfalls(evaluate_drafts(records, swapped))
    assert [line.split(":")[0] for line in lines] == [
        "rouge1", "rouge2", "rougeL", "rougeLsum", "section completeness",
        "body rouge1", "body rouge2", "body rougeL", "body rougeLsum", "body completeness",
    ]  # fmt: skip
    # a body that loses while the template's words carry the whole letter is still a shortfall
    bland = [Draft(d.id, d.system, d.text, body="Diagnose: unklar." if d.system == "finetuned" else d.body)
             for d in tuned + base]  # fmt: skip
    lines = fine_tuned_shortfalls(evaluate_drafts(records, bland))
    assert [line.split(":")[0] for line in lines] == [
        "body rouge1", "body rouge2", "body rougeL", "body rougeLsum", "body completeness"
    ]  # fmt: skip


def test_the_template_backend_is_a_third_system_with_its_own_paired_test(tmp_path: Path, records) -> None:
    from rtletter.mappers.template_letter import render_part

    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    body = records[0]["completion"][0]["content"]

    def factory(base: Path, adapter: Path | None) -> FixedBackend:
        return FixedBackend(body if adapter else BLAND, "tiny+lora" if adapter else "tiny")

    evaluation = evaluate(
        data, base=tmp_path / "base", adapter=tmp_path / "adapter", baseline=True, out=tmp_path / "out",
        backend_factory=factory, site=SITE, template=True,
    )  # fmt: skip
    assert [s.system for s in evaluation.summaries] == ["base", "finetuned", "template"]
    assert [(c.a, c.b) for c in evaluation.comparisons] == [("finetuned", "base"), ("finetuned", "template")]
    template = [d for d in evaluation.drafts if d.system == "template"]
    case = case_from_record(records[0])
    # written from the case by the site's templates, never from the prompt; composed like the model's body
    assert template[0].body == render_part(case, "body") and template[0].truncated is None
    assert template[0].text == compose_letter(case, template[0].body, SITE, letter_date=case.course.end)
    assert not any(
        line in template[0].body for line in records[0]["prompt"][0]["content"].splitlines() if len(line) > 40
    )
    header, _ = summary_table(evaluation)
    assert header[1:4] == ["base", "fine-tuned", "template (no model)"]
    alone = evaluate(data, base=None, adapter=None, baseline=False, out=tmp_path / "alone", template=True)
    assert [s.system for s in alone.summaries] == ["template"] and alone.comparisons == []


def test_slot_data_is_filled_from_each_case_before_scoring_and_free_text_drafts_are_paired_with_it(
    tmp_path: Path, letter: str
) -> None:
    case = Case.model_validate_json((DATA / "case_rectum.json").read_bytes())
    slotted = [make_record(case, letter, slots=True)]
    data = tmp_path / "test.jsonl"
    data.write_text(json.dumps(slotted[0], ensure_ascii=False) + "\n", encoding="utf-8")
    target = slotted[0]["completion"][0]["content"]
    assert "[dose_total.1]" in target

    def factory(base: Path, adapter: Path | None) -> FixedBackend:
        return FixedBackend(target if adapter else BLAND, "tiny+lora" if adapter else "tiny")

    free = tmp_path / "free"
    evaluate(data, base=tmp_path / "b", adapter=tmp_path / "a", baseline=False, out=free, backend_factory=factory,
             site=SITE)  # fmt: skip
    evaluation = evaluate(
        data, base=tmp_path / "b", adapter=tmp_path / "a", baseline=True, out=tmp_path / "slots",
        backend_factory=factory, site=SITE, free_text=free / "drafts.jsonl",
    )  # fmt: skip
    tuned = next(d for d in evaluation.drafts if d.system == "finetuned")
    assert tuned.body == make_record(case, letter)["completion"][0]["content"]  # the values back, in the locale
    assert "[dose_total" not in tuned.text and "50,4 Gy" in tuned.text
    assert [s.system for s in evaluation.summaries] == ["base", "finetuned", "free-text"]
    assert ("finetuned", "free-text") in [(c.a, c.b) for c in evaluation.comparisons]


def test_the_draft_goals_name_each_goal_a_system_misses(records) -> None:
    from rtletter.model.evaluate.scores import DraftGoals, draft_goal_shortfalls

    def letter(record: dict, body: str) -> str:
        return compose_letter(case_from_record(record), body, SITE)

    perfect = [Draft(r["id"], "finetuned", letter(r, r["completion"][0]["content"]), body=r["completion"][0]["content"],
                     truncated=False) for r in records]  # fmt: skip
    goals = DraftGoals(min_cases=3)
    assert draft_goal_shortfalls(evaluate_drafts(records, perfect), goals) == []
    assert draft_goal_shortfalls(evaluate_drafts(records, perfect)) == ["held-out cases: 3 < 20"]
    cut = [Draft(d.id, d.system, letter(r, "Diagnose: unklar."), body="Diagnose: unklar.", truncated=True)
           for d, r in zip(perfect, records, strict=True)]  # fmt: skip
    misses = draft_goal_shortfalls(evaluate_drafts(records, cut), goals)
    assert [line.split(":")[0] for line in misses] == [
        "body ROUGE-1", "body ROUGE-L", "body completeness", "ended with end-of-turn"
    ]  # fmt: skip
    with pytest.raises(EvaluationError):
        draft_goal_shortfalls(evaluate_drafts(records, perfect), goals, system="base")


class RedraftingBackend:
    """First drafts by position (the recipe drafts its records in order); sampled candidates by prompt: a draft cut
    off at the cap, then the reference body."""

    def __init__(self, firsts: list[str], bodies: dict[str, str]) -> None:
        self.firsts, self.bodies = firsts, bodies
        self.sampled: list[int] = []

    def generate(self, conversations, *, max_new_tokens: int = 1024) -> list[Generation]:
        return [Generation(text, 100, 50, 0.5, "tiny+lora", False) for text in self.firsts[: len(conversations)]]

    def sample(self, conversations, *, n: int, max_new_tokens: int = 1024, seed: int = 0) -> list[list[Generation]]:
        self.sampled.append(len(conversations))
        cut = Generation("Diagnosen:\nRektumkarzinom", 100, 50, 0.5, "tiny+lora", True)
        return [[cut, Generation(self.bodies[json.dumps(c)], 100, 50, 0.5, "tiny+lora", False)][:n]
                for c in conversations]  # fmt: skip


def test_redrafting_adds_the_drafts_the_agent_would_write_beside_the_first_drafts(tmp_path: Path, records) -> None:
    """The demo holds its goals on the drafts the agent writes: a first draft with a wrong dose is redrafted and the
    candidate with the fewest faults kept; the first drafts stay a system of their own, paired with it."""
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    bodies = [r["completion"][0]["content"] for r in records]
    assert "50,4 Gy" in bodies[0]
    backend = RedraftingBackend([bodies[0].replace("50,4", "50,0"), *bodies[1:]],
                                {json.dumps(r["prompt"]): b for r, b in zip(records, bodies, strict=True)})  # fmt: skip
    evaluation = evaluate(
        data, base=tmp_path / "b", adapter=tmp_path / "a", baseline=False, out=tmp_path / "o",
        backend_factory=lambda base, adapter: backend, site=SITE, redraft=2,
    )  # fmt: skip
    assert backend.sampled == [1]  # the faulted first draft alone
    first = {d.id: d.body for d in evaluation.drafts if d.system == "finetuned"}
    again = {d.id: d.body for d in evaluation.drafts if d.system == "redrafted"}
    assert first[records[0]["id"]] != bodies[0] and again[records[0]["id"]] == bodies[0]
    assert [again[r["id"]] for r in records[1:]] == bodies[1:]  # no fault: the first draft
    by_name = {s.system: s for s in evaluation.summaries}
    assert (by_name["finetuned"].contradicted, by_name["redrafted"].contradicted) == (1, 0)
    assert [s.system for s in evaluation.summaries] == ["finetuned", "redrafted"]
    assert ("redrafted", "finetuned") in [(c.a, c.b) for c in evaluation.comparisons]
    plain = evaluate(data, base=tmp_path / "b", adapter=tmp_path / "a", baseline=False, out=tmp_path / "p",
                     backend_factory=lambda base, adapter: backend, site=SITE)  # fmt: skip
    assert [s.system for s in plain.summaries] == ["finetuned"] and backend.sampled == [1]
