"""SuperID's HTML pages. Every interpolated value is escaped; no page runs partner input.

Each page names itself in `<body data-superid-page=...>` so the headless driver (and browser
tests) can tell login, tenant picker, consent, error and form_post pages apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

_STYLE = (
    "body{font-family:sans-serif;max-width:32rem;margin:3rem auto;color:#222}"
    "label,input,select,button{display:block;margin:.4rem 0}"
    "input,select{width:100%;padding:.4rem}"
    ".error{color:#b00020}.muted{color:#666;font-size:.85rem}"
)


def _page(kind: str, title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} - SuperOffice (emulator)</title>"
        f"<style>{_STYLE}</style></head>"
        f'<body data-superid-page="{escape(kind)}">'
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def login_page(
    action: str, hidden: dict[str, str], app_name: str, username: str, error: str
) -> str:
    error_html = f'<p class="error" id="error-message">{escape(error)}</p>' if error else ""
    return _page(
        "login",
        "Sign in to SuperOffice",
        f'<p>Sign in to continue to <strong id="app-name">{escape(app_name)}</strong>.</p>'
        f"{error_html}"
        f'<form method="post" action="{escape(action)}">{_hidden(hidden)}'
        '<label for="username">Username (email)</label>'
        f'<input id="username" name="username" type="email" value="{escape(username)}" '
        'autocomplete="username" required>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>',
    )


def tenant_picker_page(
    action: str, hidden: dict[str, str], tenants: Iterable[tuple[str, str]]
) -> str:
    options = "".join(
        f'<label><input type="radio" name="tenant" value="{escape(ctx)}"> '
        f"{escape(company)} ({escape(ctx)})</label>"
        for ctx, company in tenants
    )
    return _page(
        "tenant",
        "Choose a customer",
        f'<form method="post" action="{escape(action)}">{_hidden(hidden)}{options}'
        '<button type="submit">Continue</button></form>',
    )


def consent_page(
    action: str,
    hidden: dict[str, str],
    *,
    app_name: str,
    vendor: str,
    consent_text: str,
    company_name: str,
) -> str:
    return _page(
        "consent",
        "Approve application",
        f'<p><strong id="app-name">{escape(app_name)}</strong> from '
        f'<span id="vendor">{escape(vendor)}</span> asks for access to '
        f"{escape(company_name)}.</p>"
        f'<p id="consent-text">{escape(consent_text)}</p>'
        f'<form method="post" action="{escape(action)}">{_hidden(hidden)}'
        '<button type="submit" name="decision" value="approve">I approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button></form>',
    )


def error_page(title: str, message: str, request_id: str) -> str:
    return _page(
        "error",
        title,
        f'<p class="error" id="error-message">{escape(message)}</p>'
        f'<p class="muted">Request ID: <span id="request-id">{escape(request_id)}</span></p>',
    )


def form_post_page(action: str, fields: dict[str, str]) -> str:
    # response_mode=form_post: an auto-submitting form (OAuth 2.0 Form Post Response Mode).
    return _page(
        "form_post",
        "Continue",
        f'<form method="post" action="{escape(action)}">{_hidden(fields)}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.forms[0].submit()</script>",
    )


def signed_out_page() -> str:
    return _page("signed_out", "Signed out", "<p>You have been signed out of SuperOffice.</p>")
