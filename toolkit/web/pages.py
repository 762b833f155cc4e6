"""Plain HTML pages of the partner endpoints: no scripts, no styles from elsewhere, no secrets.

Every value is escaped; no page ever shows a token, code, state or secret, only whether a system
user token is held.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

__all__ = ["error_page", "page", "result_page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}"
    "dt{font-weight:600}dd{margin:0 0 .6rem 0}.muted{color:#666;font-size:.9rem}"
)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A complete HTML document; ``body`` must already be escaped HTML."""
    html = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body data-page="{escape(title)}"><h1>{escape(title)}</h1>{body}</body></html>\n'
    )
    return HTMLResponse(html, status_code=status)


def error_page(
    title: str, message: str, status: int, request_id: str | None = None
) -> HTMLResponse:
    """An error: a title, one plain sentence, and the request id to quote to support."""
    body = f'<p id="error-message">{escape(message)}</p>'
    if request_id:
        shown = escape(request_id)
        body += f'<p class="muted">Request ID: <span id="request-id">{shown}</span></p>'
    return page(title, body, status)


def result_page(
    *,
    application: str,
    tenant: str,
    company_name: str | None,
    approved_by: str | None,
    has_system_user_token: bool,
    outcome: str,
    return_to: str | None = None,
) -> HTMLResponse:
    """The install result: who approved which application in which tenant; never the token."""
    rows = [
        ("Application", application),
        ("Tenant", tenant),
        ("Company", company_name or "-"),
        ("Approved by", approved_by or "-"),
        ("System user token stored", "yes" if has_system_user_token else "no"),
        ("Record", outcome),
    ]
    items = "".join(
        f'<dt>{escape(label)}</dt><dd data-field="{escape(label.lower())}">{escape(value)}</dd>'
        for label, value in rows
    )
    body = f"<p>The application is installed.</p><dl>{items}</dl>"
    if return_to:
        body += f'<p><a href="{escape(return_to, quote=True)}">Continue</a></p>'
    return page("Application installed", body)
