"""Plain HTML pages of the partner endpoints: no scripts, no styles from elsewhere, no secrets.

Every value is escaped; no page ever shows a token, code, state or secret, only whether a system
user token is held.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

__all__ = ["error_page", "page", "panel_page", "result_page", "sign_in_page", "signed_out_page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}"
    "dt{font-weight:600}dd{margin:0 0 .6rem 0}.muted{color:#666;font-size:.9rem}"
    "label{display:block;margin:.6rem 0}input[type=text]{width:100%;max-width:30rem}"
    "form.inline{display:inline}"
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
    provisioning: str = "off",
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
        ("Provisioning", provisioning),
    ]
    items = "".join(
        f'<dt>{escape(label)}</dt><dd data-field="{escape(label.lower())}">{escape(value)}</dd>'
        for label, value in rows
    )
    body = f"<p>The application is installed.</p><dl>{items}</dl>"
    if return_to:
        body += f'<p><a href="{escape(return_to, quote=True)}">Continue</a></p>'
    return page("Application installed", body)


def _link(url: str, label: str, *, new_window: bool = False, element_id: str = "") -> str:
    target = ' target="_blank" rel="noopener noreferrer"' if new_window else ""
    ident = f' id="{escape(element_id)}"' if element_id else ""
    return f'<a{ident} href="{escape(url, quote=True)}"{target}>{escape(label)}</a>'


def sign_in_page(
    authorize_url: str,
    *,
    framed: bool,
    title: str = "Sign in",
    message: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A page with a "Sign in" link to SuperID.

    SuperID's pages refuse to load in a frame (protocol §2.5): in a web panel the link opens a
    new window, as SuperOffice recommends; reloading the panel afterwards shows it signed in.
    """
    text = message or "Sign in with your SuperOffice account to use this panel."
    body = f'<p id="error-message">{escape(text)}</p>'
    body += f"<p>{_link(authorize_url, 'Sign in', new_window=framed, element_id='sign-in')}</p>"
    if framed:
        body += '<p class="muted">Sign-in opens in a new window; reload this panel afterwards.</p>'
    return page(title, body, status)


def panel_page(
    *,
    application: str,
    tenant: str,
    user: str,
    principal: dict[str, object],
    options: dict[str, object],
    option_labels: dict[str, str],
    csrf_token: str,
    action: str,
    logout_action: str,
    saved: bool = False,
) -> HTMLResponse:
    """The signed-in user's panel: who they are (currentPrincipal) and their own options."""
    shown = [
        ("Application", application),
        ("Tenant", tenant),
        ("Signed in as", user),
        ("Name", principal.get("FullName")),
        ("Associate", principal.get("Associate")),
        ("Associate ID", principal.get("AssociateId")),
        ("Role", principal.get("RoleName")),
    ]
    items = "".join(
        f'<dt>{escape(label)}</dt><dd data-field="{escape(label.lower())}">'
        f"{escape('-' if value is None else str(value))}</dd>"
        for label, value in shown
    )
    body = f"<dl>{items}</dl>"
    if saved:
        body += '<p id="saved">Your options are saved.</p>'
    fields = f'<input type="hidden" name="csrf" value="{escape(csrf_token, quote=True)}">'
    for key, value in options.items():
        label = escape(option_labels.get(key, key))
        name = escape(key, quote=True)
        if isinstance(value, bool):
            checked = " checked" if value else ""
            fields += (
                f'<label><input type="checkbox" name="{name}" value="true"'
                f' data-option="{name}"{checked}> {label}</label>'
            )
        else:
            fields += (
                f'<label>{label} <input type="text" name="{name}" maxlength="200"'
                f' data-option="{name}" value="{escape(str(value), quote=True)}"></label>'
            )
    body += (
        f'<h2>Your options</h2><form method="post" action="{escape(action, quote=True)}">'
        f'{fields}<button type="submit">Save</button></form>'
    )
    body += (
        f'<form class="inline" method="post" action="{escape(logout_action, quote=True)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf_token, quote=True)}">'
        '<button type="submit" id="sign-out">Sign out</button></form>'
    )
    return page("Your panel", body)


def signed_out_page(superid_logout_url: str | None) -> HTMLResponse:
    """After sign-out: the session is gone here; SuperID's own sign-out is offered."""
    body = "<p>You are signed out of this panel.</p>"
    if superid_logout_url:
        body += (
            "<p>To sign out of SuperOffice as well: "
            f"{_link(superid_logout_url, 'Sign out of SuperID', element_id='superid-logout')}</p>"
        )
    return page("Signed out", body)
