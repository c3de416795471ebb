"""The evaluation report: Markdown (with PNG files beside it) and one self-contained HTML page.

The HTML page has no external references: styles inline, plots embedded as base64 PNG (matplotlib's Agg canvas, no
GUI, no pyplot state), every text escaped. Sections: summary table (base and fine-tuned side by side, plus the
shuffled-reference floor for ROUGE; ROUGE and completeness of the whole letter and of the body the model wrote, the
share of drafts that ended by themselves), plots, section presence, physician review, per-case table, every
unsupported or contradicted statement, and the drafts next to their reference letter.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from rtletter.model.evaluate.rouge import ROUGE_TYPES
from rtletter.model.evaluate.scores import FREE_TEXT, REDRAFTED, Comparison, Evaluation, SystemSummary, reference_of
from rtletter.model.evaluate.sections import BODY_SECTIONS, SECTION_TITLES, STUDY_SECTIONS
from rtletter.model.evaluate.stats import EXACT_MAX, RESAMPLES, Interval

ROUGE_TITLES: dict[str, str] = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "rougeLsum": "ROUGE-Lsum",
}
SYSTEM_TITLES: dict[str, str] = {
    "base": "base",
    "finetuned": "fine-tuned",
    REDRAFTED: "fine-tuned, redrafted",
    FREE_TEXT: "fine-tuned without slots",
    "template": "template (no model)",
}
CRITERIA_TITLES: dict[str, str] = {
    "correctness": "correctness",
    "completeness": "completeness",
    "style": "style",
    "clinical_benefit": "clinical benefit",
}
SECTION_KEYS: tuple[str, ...] = (*STUDY_SECTIONS, "tolerance", "closing")
COLORS: tuple[str, ...] = ("#9e9e9e", "#1f77b4", "#17becf", "#ff7f0e", "#2ca02c")

Table = tuple[list[str], list[list[str]]]


def _title(system: str) -> str:
    return SYSTEM_TITLES.get(system, system)


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# --- tables ---------------------------------------------------------------------------------------------------------


# Summary rows: (label, METRICS name, shown as a total over drafts?, number format).
SUMMARY_ROWS: tuple[tuple[str, str, bool, Callable[[float], str]], ...] = (
    *((ROUGE_TITLES[n], n, False, _f) for n in ROUGE_TYPES),
    *((f"body {ROUGE_TITLES[n]}", f"body_{n}", False, _f) for n in ROUGE_TYPES),
    ("section completeness (study elements)", "completeness", False, _f),
    ("body completeness (written sections)", "body_completeness", False, _f),
    ("drafts with every study element", "complete_drafts", False, lambda v: f"{v:.0%}"),
    ("unsupported statements", "unsupported", True, lambda v: f"{v:.0f}"),
    ("contradicted statements", "contradicted", True, lambda v: f"{v:.0f}"),
    ("findings per draft", "findings_per_draft", False, lambda v: f"{v:.2f}"),
    ("drafts without findings", "consistent_drafts", False, lambda v: f"{v:.0%}"),
    ("key course facts omitted", "omitted", True, lambda v: f"{v:.0f}"),
)


def _signed(fmt: Callable[[float], str]) -> Callable[[float], str]:
    return lambda v: ("+" if v >= 0 else "") + fmt(v + 0.0)  # + 0.0: no "+-0" from a negative zero


def _with_interval(interval: Interval, fmt: Callable[[float], str]) -> str:
    return f"{fmt(interval.mean)} [{fmt(interval.low)}, {fmt(interval.high)}]"


def _p(value: float) -> str:
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def _comparison(evaluation: Evaluation, a: str, b: str) -> Comparison | None:
    return next((c for c in evaluation.comparisons if c.a == a and c.b == b), None)


def _floor(evaluation: Evaluation, name: str) -> float | None:
    """The shuffled-reference floor of a METRICS name: whole letters for ROUGE, bodies for body ROUGE."""
    if name.startswith("body_"):
        return (evaluation.shuffled_body_rouge or {}).get(name.removeprefix("body_"))
    return (evaluation.shuffled_reference_rouge or {}).get(name)


def _ended(summary: SystemSummary) -> str:
    share = summary.ended_share
    return "–" if share is None else f"{share:.0%} ({summary.ended}/{summary.ended_of})"


def summary_table(evaluation: Evaluation) -> Table:
    """Means with a 95% bootstrap interval over cases; the Δ column is the paired fine-tuned − base difference with
    its interval and the sign-flip permutation p-value."""
    summaries = evaluation.summaries
    header = ["metric", *(_title(s.system) for s in summaries)]
    paired = _comparison(evaluation, "finetuned", "base")
    if paired:
        header.append("Δ fine-tuned − base")
    floor = evaluation.shuffled_reference_rouge
    if floor:
        header.append("shuffled references")
    rows = []
    for label, name, total, fmt in SUMMARY_ROWS:
        cells = [label]
        for summary in summaries:
            interval = summary.intervals.get(name)
            if interval is None:  # a summary without per-case values: the mean alone
                cells.append("–")
                continue
            cells.append(_with_interval(interval.scaled(summary.n) if total else interval, fmt))
        if paired:
            result = paired.metrics[name]
            difference = result.difference.scaled(result.difference.n) if total else result.difference
            cells.append(f"{_with_interval(difference, _signed(fmt))} {_p(result.p_value)}")
        if floor:
            value = _floor(evaluation, name)
            cells.append("" if value is None else _f(value))
        rows.append(cells)
    rows.append(["drafts ending with end-of-turn", *(_ended(s) for s in summaries)]
                + [""] * (len(header) - 1 - len(summaries)))  # fmt: skip
    if any(s.tokens_per_second for s in summaries):
        speed = [s.tokens_per_second for s in summaries]
        rows.append(["generation tokens/s", *(_f(v, 1) for v in speed)] + [""] * (len(header) - 1 - len(speed)))
    rows.append(["drafts", *(str(s.n) for s in summaries)] + [""] * (len(header) - 1 - len(summaries)))
    return header, rows


def comparison_table(evaluation: Evaluation) -> Table | None:
    """Every paired comparison: a minus b per metric, its interval, the p-value and the test."""
    if not evaluation.comparisons:
        return None
    header = ["comparison", "metric", "cases", "mean difference [95% CI]", "p", "test"]
    rows = []
    for comparison in evaluation.comparisons:
        title = f"{_title(comparison.a)} − {_title(comparison.b)}"
        for label, name, total, fmt in SUMMARY_ROWS:
            result = comparison.metrics[name]
            difference = result.difference.scaled(result.difference.n) if total else result.difference
            rows.append([title, label + (" (total)" if total else ""), str(result.difference.n),
                         _with_interval(difference, _signed(fmt)), _p(result.p_value), result.method])  # fmt: skip
    return header, rows


def section_table(evaluation: Evaluation) -> Table:
    header = ["section", *(_title(s.system) for s in evaluation.summaries)]
    rows = [
        [SECTION_TITLES[k] + ("" if k in STUDY_SECTIONS else " (not scored)"),
         *(f"{s.section_rate[k]:.0%}" for s in evaluation.summaries)]
        for k in SECTION_KEYS
    ]  # fmt: skip
    return header, rows


def _alpha(block: dict[str, Any] | None) -> str:
    alpha = (block or {}).get("alpha")
    return "–" if alpha is None else f"{alpha:.2f}"


def physician_table(evaluation: Evaluation) -> Table | None:
    """Per system: the pooled mean ± sd, each reviewer's means, and the agreement (Krippendorff's alpha)."""
    review = evaluation.physician
    if not review:
        return None
    header = ["system", "reviewer", *CRITERIA_TITLES.values(), "cases", "reviewers", "ratings"]
    rows = []
    for system, block in review["systems"].items():
        cells = [_title(system), "all (pooled)"]
        for criterion in CRITERIA_TITLES:
            stats = block["criteria"][criterion]
            cells.append(f"{stats['mean']:.2f} ± {stats['sd']:.2f}" if stats["n"] else "–")
        rows.append([*cells, str(block["n_cases"]), str(block["n_reviewers"]), str(block["n_ratings"])])
        for reviewer, own in block.get("per_reviewer", {}).items():
            means = [f"{own['criteria'][c]:.2f}" for c in CRITERIA_TITLES]
            rows.append([_title(system), reviewer, *means, "", "", str(own["n_ratings"])])
        if "agreement" in block:
            alphas = [_alpha(block["agreement"].get(c)) for c in CRITERIA_TITLES]
            items = max((a.get("items", 0) for a in block["agreement"].values()), default=0)
            rows.append([_title(system), "agreement (Krippendorff's α)", *alphas, str(items), "", ""])
    overall = review.get("agreement")
    if overall:
        alphas = [_alpha(overall["criteria"].get(c)) for c in CRITERIA_TITLES]
        items = max((a.get("items", 0) for a in overall["criteria"].values()), default=0)
        rows.append(["all drafts", f"agreement (Krippendorff's α, {overall['metric']})", *alphas, str(items), "", ""])
    return header, rows


def case_table(evaluation: Evaluation) -> Table:
    header = ["case", "system", *(ROUGE_TITLES[n] for n in ROUGE_TYPES), "body ROUGE-1", "body ROUGE-L", "complete",
              "missing sections", "body complete", "ended", "unsupported", "contradicted", "omitted"]  # fmt: skip
    rows = []
    for score in evaluation.scores:
        body_missing = [SECTION_TITLES[m] for m in BODY_SECTIONS if not score.body_sections.present.get(m, False)]
        rows.append(
            [
                score.id,
                _title(score.system),
                *(_f(score.rouge[n]) for n in ROUGE_TYPES),
                _f(score.body_rouge.get("rouge1")),
                _f(score.body_rouge.get("rougeL")),
                f"{score.sections.completeness:.0%}",
                ", ".join(SECTION_TITLES[m] for m in score.sections.missing) or "–",
                f"{score.body_completeness:.0%}" + (f" (no {', '.join(body_missing)})" if body_missing else ""),
                {None: "–", True: "no (token limit)", False: "yes"}[score.truncated],
                str(score.facts.unsupported),
                str(score.facts.contradicted),
                str(len(score.facts.omitted)),
            ]
        )
    return header, rows


def finding_lines(evaluation: Evaluation) -> list[tuple[str, str, list[str]]]:
    """(case, system, statements) for every draft with a finding or an omission."""
    found = []
    for score in evaluation.scores:
        lines = [f.describe() for f in score.facts.findings]
        lines += [f"omitted: {f.label} = {f.value}" for f in score.facts.omitted]
        if lines:
            found.append((score.id, _title(score.system), lines))
    return found


# --- plots ----------------------------------------------------------------------------------------------------------


def _grouped_bars(
    title: str, labels: Sequence[str], series: dict[str, list[float]], ylabel: str, ymax: float | None
) -> Figure:
    figure = Figure(figsize=(max(6.0, 0.7 * len(labels) * max(1, len(series))), 3.6), dpi=100)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(labels))]
        axes.bar(positions, values, width, label=name, color=COLORS[index % len(COLORS)])
    crowded = len(labels) > 6
    axes.set_xticks(range(len(labels)), labels, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if ymax is not None:
        axes.set_ylim(0, ymax)
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def plots(evaluation: Evaluation) -> dict[str, bytes]:
    """PNG bytes per plot name: rouge, sections, findings."""
    summaries = evaluation.summaries
    rouge_series = {_title(s.system): [s.rouge[n] for n in ROUGE_TYPES] for s in summaries}
    if evaluation.shuffled_reference_rouge:
        rouge_series["shuffled references"] = [evaluation.shuffled_reference_rouge[n] for n in ROUGE_TYPES]
    rouge = _grouped_bars("ROUGE F1", [ROUGE_TITLES[n] for n in ROUGE_TYPES], rouge_series, "F1", 1.0)
    sections = _grouped_bars(
        "Section present (share of drafts)",
        [SECTION_TITLES[k] for k in SECTION_KEYS],
        {_title(s.system): [s.section_rate[k] for k in SECTION_KEYS] for s in summaries},
        "share",
        1.0,
    )
    ids = [r["id"] for r in evaluation.records]
    short = [f"#{n}" for n in range(1, len(ids) + 1)]
    findings_series = {}
    for summary in summaries:
        counts = []
        for case_id in ids:
            score = evaluation.score(case_id, summary.system)
            counts.append(float(len(score.facts.findings)) if score else 0.0)
        findings_series[_title(summary.system)] = counts
    findings = _grouped_bars("Unsupported + contradicted statements per draft (case # as in the table)", short,
                             findings_series, "statements", None)  # fmt: skip
    return {"rouge": _png(rouge), "sections": _png(sections), "findings": _png(findings)}


# --- Markdown -------------------------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(evaluation: Evaluation, images: dict[str, str] | None = None) -> str:
    """The report as Markdown; ``images`` maps plot names to file names beside the report."""
    parts = [
        "# Evaluation: base vs fine-tuned letters",
        "",
        f"{len(evaluation.records)} test cases; systems: {', '.join(_title(s) for s in evaluation.systems)}. "
        "ROUGE is F1 with a Unicode-aware tokenizer (umlauts and decimal commas kept, no stemming); Lsum splits on "
        "lines. Section completeness is the share of the six study elements (salutation, diagnoses, treatment "
        "history, radiotherapy course, recommendations, follow-up schedule). Unsupported: a dose, fraction count, "
        "date, ICD code or drug not in the case; contradicted: a near miss of a case fact (dose within 10 %, "
        "fractions within 20 %, date within 14 days, same ICD category). The shuffled-reference column scores each "
        "reference letter against another case's: the part of ROUGE that shared wording alone earns. The body rows "
        "score only what the model wrote (diagnoses to follow-up; the site's letter template writes letterhead, "
        "addresses, salutation, closing and signatures) against the reference's body, with the bodies' own floor; "
        "body completeness is the share of those six sections (tolerance included) in the body. Drafts ending with "
        "end-of-turn: the model stopped by itself, not at the token limit.",
        "",
        "Each figure is the mean over drafts (counts: the total) with a 95% percentile bootstrap interval over cases "
        f"([low, high], {RESAMPLES} resamples, fixed seed). Δ is the paired difference on the same cases, with its "
        "bootstrap interval and the two-sided p-value of a sign-flip permutation test (exact up to "
        f"{EXACT_MAX} cases).",
        "",
        "## Summary",
        "",
        _md_table(summary_table(evaluation)),
        "",
    ]
    paired = comparison_table(evaluation)
    if paired:
        parts += ["## Paired comparisons", "", _md_table(paired), ""]
    for note in evaluation.notes:
        parts += [f"> {note}", ""]
    for name, caption in (("rouge", "ROUGE"), ("sections", "Sections"), ("findings", "Findings per draft")):
        if images and name in images:
            parts += [f"![{caption}]({images[name]})", ""]
    parts += ["## Section presence", "", _md_table(section_table(evaluation)), ""]
    review = physician_table(evaluation)
    parts += ["## Physician review", ""]
    if review:
        parts += ["4-point scales: pooled mean ± sd, each reviewer's means, and the reviewers' agreement "
                  "(Krippendorff's α: 1 perfect, 0 chance; over drafts rated by two or more; – where undefined).",
                  "", _md_table(review), ""]  # fmt: skip
    else:
        parts += ["No review sheets imported (`rtletter eval form`, then `rtletter eval import`).", ""]
    parts += ["## Per case", "", _md_table(case_table(evaluation)), ""]
    parts += ["## Unsupported and contradicted statements", ""]
    found = finding_lines(evaluation)
    if not found:
        parts += ["None.", ""]
    for case_id, system, lines in found:
        parts += [f"- **{_md_cell(case_id)}** ({system})"] + [f"  - {_md_cell(line)}" for line in lines]
    return "\n".join(parts).rstrip() + "\n"


# --- HTML -----------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f2f2f2}td.num{text-align:right}img{max-width:100%;display:block;margin:1em 0}
.finding{color:#a00}.drafts{display:grid;gap:1em}pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;
padding:.6em;font-size:.85em}details{margin:.5em 0}.note{background:#fff8e1;padding:.5em;border-left:4px solid #fb0}
"""


def _html_table(table: Table, css_class: str = "") -> str:
    header, rows = table
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _drafts_html(evaluation: Evaluation) -> str:
    blocks = []
    for number, record in enumerate(evaluation.records, start=1):
        columns = [("reference", reference_of(record))]
        for system in evaluation.systems:
            draft = evaluation.draft(record["id"], system)
            columns.append((_title(system), draft.text if draft else ""))
        grid = "".join(f"<div><h4>{html.escape(t)}</h4><pre>{html.escape(text)}</pre></div>" for t, text in columns)
        blocks.append(
            f"<details><summary>#{number} {html.escape(record['id'])}</summary>"
            f'<div class="drafts" style="grid-template-columns:repeat({len(columns)},1fr)">{grid}</div></details>'
        )
    return "".join(blocks)


def render_html(evaluation: Evaluation, pngs: dict[str, bytes]) -> str:
    """One self-contained page: no external URL, plots as data: URIs."""

    def image(name: str, alt: str) -> str:
        if name not in pngs:
            return ""
        data = base64.b64encode(pngs[name]).decode("ascii")
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

    found = finding_lines(evaluation)
    finding_html = "".join(
        f"<li><b>{html.escape(case_id)}</b> ({html.escape(system)})<ul>"
        + "".join(f'<li class="finding">{html.escape(line)}</li>' for line in lines)
        + "</ul></li>"
        for case_id, system, lines in found
    )
    review = physician_table(evaluation)
    paired = comparison_table(evaluation)
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in evaluation.notes)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>rtletter evaluation</title>'
        f"<style>{_CSS}</style></head><body>"
        "<h1>Evaluation: base vs fine-tuned letters</h1>"
        f"<p>{len(evaluation.records)} test cases; systems: "
        f"{html.escape(', '.join(_title(s) for s in evaluation.systems))}.</p>"
        f"<h2>Summary</h2><p>Means (counts: totals) with 95% bootstrap intervals over cases; Δ: paired difference "
        f"with the sign-flip permutation p-value.</p>{_html_table(summary_table(evaluation), 'summary')}{notes}"
        + (f"<h2>Paired comparisons</h2>{_html_table(paired)}" if paired else "")
        + f"{image('rouge', 'ROUGE F1 per system')}{image('sections', 'Sections per system')}"
        f"{image('findings', 'Findings per draft')}"
        f"<h2>Section presence</h2>{_html_table(section_table(evaluation))}"
        "<h2>Physician review</h2>"
        + (_html_table(review) if review else "<p>No review sheets imported.</p>")
        + f"<h2>Per case</h2>{_html_table(case_table(evaluation), 'cases')}"
        "<h2>Unsupported and contradicted statements</h2>"
        + (f"<ul>{finding_html}</ul>" if found else "<p>None.</p>")
        + f"<h2>Drafts</h2>{_drafts_html(evaluation)}</body></html>\n"
    )


def write_report(evaluation: Evaluation, out_dir: Path) -> tuple[Path, Path]:
    """Write report.md (+ PNGs beside it) and report.html; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = plots(evaluation)
    names = {}
    for name, data in pngs.items():
        (out_dir / f"{name}.png").write_bytes(data)
        names[name] = f"{name}.png"
    markdown = out_dir / "report.md"
    markdown.write_text(render_markdown(evaluation, names), encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(render_html(evaluation, pngs), encoding="utf-8")
    return markdown, page


def print_summary(evaluation: Evaluation) -> str:
    """The summary table as plain text lines, for the CLI and the demo."""
    header, rows = summary_table(evaluation)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


__all__ = ["render_html", "render_markdown", "write_report", "print_summary", "SystemSummary"]
