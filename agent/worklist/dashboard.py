"""The feedback dashboard (``/worklist/dashboard``): drafts signed / rejected, edit distance draft -> final per section,
time to signature, per model version, over time (``rtletter.agent.review.stats``).

Plots are inline SVG drawn here on the server, styled with SVG presentation attributes only, so they pass the
worklist's CSP (no scripts, no inline CSS) and need nothing downloaded. Figures only: no patient data on the page.
The router shares the worklist's sessions (same ``Auth``, same prefix); include it beside the worklist router.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from rtletter.agent.config import WorklistSettings
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review.stats import Dashboard, compute
from rtletter.agent.review.store import review_store
from rtletter.agent.worklist.auth import Auth
from rtletter.agent.worklist.pages import render_page
from rtletter.agent.worklist.users import UserStore

SIGNED_COLOUR = "#2e7d32"
REJECTED_COLOUR = "#b3261e"
LINE_COLOUR = "#0b5cad"
MODEL_COLOURS = ("#0b5cad", "#e07b00", "#6a3d9a", "#1b9e77", "#d81b60", "#5b6670")  # one per model version, in order
AXIS_COLOUR = "#5b6670"
GRID_COLOUR = "#d6dbe0"


# --- SVG ------------------------------------------------------------------------------------------------------------


def _frame(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>"
    )
    # Every text piece above went through html.escape; the rest are numbers and our own colours.
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704


def _axis(left: int, top: int, plot_w: int, plot_h: int, top_value: float, fmt: str) -> list[str]:
    out = []
    for step in range(5):
        value = top_value * step / 4
        y = top + plot_h - plot_h * step / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS_COLOUR}">{format(value, fmt)}</text>'
        )
    return out


def _labels(labels: Sequence[str], left: int, slot: float, baseline: float) -> list[str]:
    every = max(1, len(labels) // 12)  # at most about 12 labels under the axis
    return [
        f'<text x="{left + slot * (i + 0.5):.1f}" y="{baseline + 14:.1f}" text-anchor="middle" '
        f'fill="{AXIS_COLOUR}">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    fmt: str = ".0f",
    width: int = 640,
    height: int = 220,
) -> Markup:
    """Stacked bars, one per label; ``series``: (name, colour, values)."""
    left, top, right, bottom = 44, 22, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[2][i] for s in series) for i in range(len(labels))]
    top_value = max([*totals, 1.0])
    slot = plot_w / max(1, len(labels))
    body = _axis(left, top, plot_w, plot_h, top_value, fmt)
    for i in range(len(labels)):
        y = float(top + plot_h)
        for name, colour, values in series:
            h = plot_h * values[i] / top_value
            if h > 0:
                y -= h
                body.append(
                    f'<rect x="{left + slot * i + slot * 0.15:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])} {escape(name)}: '
                    f"{format(values[i], fmt)}</title></rect>"
                )
    body += _labels(labels, left, slot, top + plot_h)
    x = left
    for name, colour, _ in series:  # legend
        body.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{x + 14}" y="13" fill="{AXIS_COLOUR}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return _frame(width, height, title, body)


def line_plot(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    title: str,
    fmt: str = ".2f",
    top_value: float | None = None,
    width: int = 640,
    height: int = 220,
) -> Markup:
    """One line with dots per series (name, colour, values); None values leave a gap."""
    left, top, right, bottom = 44, 22, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [v for _, _, values in series for v in values if v is not None]
    top_value = top_value or max([*known, 1e-9]) * 1.1
    slot = plot_w / max(1, len(labels))
    body = _axis(left, top, plot_w, plot_h, top_value, fmt)
    x_legend = left
    for name, colour, values in series:
        runs: list[list[str]] = [[]]
        for i, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            x, y = left + slot * (i + 0.5), top + plot_h - plot_h * min(value, top_value) / top_value
            runs[-1].append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)} {escape(labels[i])}: '
                f"{format(value, fmt)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(series) > 1:
            body.append(f'<rect x="{x_legend}" y="4" width="10" height="10" fill="{colour}"/>')
            body.append(f'<text x="{x_legend + 14}" y="13" fill="{AXIS_COLOUR}">{escape(name)}</text>')
            x_legend += 24 + 7 * len(name)
    body += _labels(labels, left, slot, top + plot_h)
    return _frame(width, height, title, body)


def horizontal_bars(items: Sequence[tuple[str, float]], *, title: str, top_value: float = 1.0) -> Markup:
    """One bar per (label, value in 0..top_value), for the per-section edit ratios."""
    width, row, left = 640, 22, 140
    height = 12 + row * max(1, len(items))
    plot_w = width - left - 60
    body = []
    for i, (label, value) in enumerate(items):
        y = 6 + row * i
        w = plot_w * min(value, top_value) / top_value
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" fill="{AXIS_COLOUR}">{escape(label)}</text>')
        body.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{LINE_COLOUR}"/>')
        body.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}" fill="{AXIS_COLOUR}">{value:.2f}</text>')
    return _frame(width, height, title, body)


# --- page -----------------------------------------------------------------------------------------------------------


def _hours(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def dashboard_context(figures: Dashboard) -> dict[str, Any]:
    weeks = list(figures.by_week)
    groups = list(figures.by_week.values())
    sections = figures.section_means()

    def per_model(figure: str) -> list[tuple[str, str, list[float | None]]]:
        """One series per model version over the weeks (a week without its drafts is a gap)."""
        return [
            (
                model,
                MODEL_COLOURS[i % len(MODEL_COLOURS)],
                [getattr(by_week[w], figure) if w in by_week else None for w in weeks],
            )
            for i, (model, by_week) in enumerate(figures.by_model_week.items())
        ]

    return {
        "figures": figures,
        "hours": _hours,
        "share": _share,
        "decisions_plot": stacked_bars(
            weeks,
            [
                ("signed", SIGNED_COLOUR, [g.signed for g in groups]),
                ("rejected", REJECTED_COLOUR, [g.rejected for g in groups]),
            ],
            title="Drafts signed and rejected per week",
        ),
        "ratio_plot": line_plot(
            weeks, per_model("median_ratio"), title="Median edit ratio draft -> final per week", top_value=1.0
        ),
        "hours_plot": line_plot(
            weeks, per_model("median_hours"), title="Median hours to signature per week", fmt=".1f"
        ),
        "sections_plot": horizontal_bars(
            list(sections.items()), title="Mean edit ratio per letter section (0 unchanged, 1 rewritten)"
        ),
    }


def build_dashboard_router(
    store: JobStore,
    settings: Any = None,
    *,
    users: UserStore | None = None,
    prefix: str = "/worklist",
) -> APIRouter:
    """``GET {prefix}/dashboard`` for any signed-in worklist user (permission ``view``)."""
    config: WorklistSettings = getattr(settings, "worklist", None) or WorklistSettings()
    if users is None:
        users = UserStore(store)
        users.create_tables()
    auth = Auth(users, config, store, prefix)
    router = APIRouter(prefix=prefix)

    @router.get("/dashboard", include_in_schema=False)
    def dashboard(request: Request) -> Response:
        session = auth.require(request, "view")
        figures = compute(review_store(store).decided())
        store.audit(f"web:{session.user.name}", "read", "dashboard", "-", "feedback dashboard viewed")
        return render_page(
            auth,
            request,
            "dashboard.html",
            session,
            prefix=prefix,
            proxy=config.auth == "proxy",
            **dashboard_context(figures),
        )

    return router
