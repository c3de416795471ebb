"""Rendering a worklist page: the templates, the security headers every page carries, the common context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from rtletter.agent.worklist.auth import CSRF_FIELD, Auth
from rtletter.agent.worklist.users import Session

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(
    auth: Auth,
    request: Request,
    template: str,
    session: Session | None,
    *,
    prefix: str,
    proxy: bool,
    code: int = 200,
    **context: Any,
) -> Response:
    """``template`` with the layout's context (prefix, session, CSRF field name), sent with the security headers."""
    html = _env.get_template(template).render(
        prefix=prefix, session=session, csrf_field=CSRF_FIELD, proxy=proxy, **context
    )
    return auth.finish(request, HTMLResponse(html, status_code=code, headers=SECURITY_HEADERS))
