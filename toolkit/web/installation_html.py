"""HTML of the installation and uninstall pages: server-rendered, styled, accessible.

No framework and nothing from elsewhere: one inline style sheet and one small inline script
(allowed by a per-response CSP nonce) that polls the JSON status endpoint while a run goes and
reloads the page when it ends. Without scripts the page still works (a "Refresh" link). Every
value is escaped; no page shows a token, code or secret.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from html import escape

from starlette.responses import HTMLResponse

from toolkit.installation_pages import InstallationView, Progress

__all__ = ["already_installed_page", "installation_page", "refusal_page"]

_STYLE = (
    ":root{color-scheme:light;--ink:#1d2733;--muted:#5b6672;--line:#d8dee4;--brand:#0b5cad;"
    "--ok:#1f7a3a;--warn:#8a5300;--bad:#b42318}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--ink);"
    "max-width:46rem;margin:2.5rem auto;padding:0 1rem;line-height:1.5}"
    "header{border-bottom:3px solid var(--brand);margin-bottom:1.5rem}"
    "header p{color:var(--muted);margin:.2rem 0 .8rem}"
    "h1{font-size:1.6rem;margin:0}h2{font-size:1.15rem;margin-top:1.8rem}"
    "h3{font-size:1rem;margin:1rem 0 .3rem}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
    "dt{font-weight:600}dd{margin:0}"
    "ul{padding-left:1.2rem}li{margin:.15rem 0}"
    "li[data-action=unchanged]{color:var(--muted)}"
    ".notice{border-left:4px solid var(--warn);background:#fff7e6;padding:.6rem .9rem}"
    ".error{border-left:4px solid var(--bad);background:#fdecea;padding:.6rem .9rem}"
    ".done{border-left:4px solid var(--ok);background:#eaf6ec;padding:.6rem .9rem}"
    "fieldset{border:1px solid var(--line);border-radius:6px;margin:1rem 0}"
    "label{display:block;margin:.3rem 0}"
    "button{font:inherit;padding:.5rem 1.2rem;border-radius:6px;border:1px solid var(--brand);"
    "background:var(--brand);color:#fff;cursor:pointer}"
    "button.danger{background:var(--bad);border-color:var(--bad)}"
    "button:focus-visible,a:focus-visible,input:focus-visible{outline:3px solid #ffbf47;"
    "outline-offset:2px}"
    "progress{width:100%;height:1.1rem}.muted{color:var(--muted);font-size:.9rem}"
)

# Polls the status endpoint while a run goes; reloads once it ended (the server renders the
# summary). Reads only JSON from our own origin.
_SCRIPT = """
(function(){
  var box=document.getElementById('progress');
  if(!box||box.dataset.finished==='true'){return;}
  var url=box.dataset.statusUrl, bar=document.getElementById('progress-bar'),
      text=document.getElementById('progress-text');
  function tick(){
    fetch(url,{credentials:'same-origin',headers:{'Accept':'application/json'}})
      .then(function(r){return r.json();})
      .then(function(p){
        if(bar&&p.total){bar.max=p.total;bar.value=p.done;}
        if(text){text.textContent=p.state+': '+p.done+' of '+p.total+' step(s)';}
        if(p.finished){window.location.reload();}else{setTimeout(tick,500);}
      })
      .catch(function(){setTimeout(tick,1500);});
  }
  setTimeout(tick,300);
})();
"""

_STATE_WORDS = {
    "queued": "Queued",
    "planning": "Preparing",
    "running": "Provisioning",
    "succeeded": "Done",
    "partial": "Partly done",
    "failed": "Failed",
    "needs_sign_in": "Sign in again",
    "busy": "Busy",
    "not_running": "Tenant not running",
}


def _document(title: str, body: str, *, status: int = 200, script: bool = False) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    script_tag = f'<script nonce="{nonce}">{_SCRIPT}</script>' if script else ""
    html = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body data-page="{escape(title)}"><main>{body}</main>{script_tag}</body></html>\n'
    )
    response = HTMLResponse(html, status_code=status)
    # Our own policy: the nonce'd script, fetches to our origin, forms to our origin; never
    # framed (frame-ancestors keeps the middleware from replacing it).
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _fields(rows: Sequence[tuple[str, str]]) -> str:
    items = "".join(
        f'<dt>{escape(label)}</dt><dd data-field="{escape(label.lower())}">{escape(value)}</dd>'
        for label, value in rows
    )
    return f"<dl>{items}</dl>"


def _progress(progress: Progress | None, status_url: str, sign_in_url: str) -> str:
    if progress is None:
        return ""
    word = _STATE_WORDS.get(progress.state, progress.state)
    finished = "true" if progress.finished else "false"
    who = f" by {progress.actor}" if progress.actor else ""
    body = (
        f'<section id="progress" aria-labelledby="progress-title" data-state="'
        f'{escape(progress.state)}" data-finished="{finished}" data-status-url="'
        f'{escape(status_url, quote=True)}"><h2 id="progress-title">Progress</h2>'
        f'<p role="status" aria-live="polite"><span id="progress-text">{escape(word)}: '
        f"{progress.done} of {progress.total} step(s)</span>"
        f'<span class="muted"> ({escape(progress.operation)}{escape(who)})</span></p>'
        f'<progress id="progress-bar" max="{max(progress.total, 1)}" value="{progress.done}">'
        f"{progress.done}/{progress.total}</progress>"
    )
    if progress.state == "needs_sign_in":
        body += (
            f'<p class="notice" role="alert">{escape(progress.message)} '
            f'<a id="sign-in-again" href="{escape(sign_in_url, quote=True)}">Sign in again</a>;'
            " the run then continues where it stopped.</p>"
        )
    elif progress.state in ("failed", "partial", "busy", "not_running"):
        message = progress.message or "Not everything could be done."
        body += f'<p class="error" role="alert" id="run-problem">{escape(message)}</p>'
    elif progress.state == "succeeded":
        counts = ", ".join(f"{n} {escape(k)}" for k, n in sorted(progress.summary.items()))
        body += f'<p class="done" id="summary">Finished: {counts or "nothing to do"}.</p>'
        if progress.where:
            items = "".join(f"<li>{escape(line)}</li>" for line in progress.where)
            body += f'<h3>Where to find it in SuperOffice</h3><ul id="where">{items}</ul>'
    if not progress.finished:
        body += '<p class="muted"><a href="">Refresh</a> to see the latest progress.</p>'
    return body + "</section>"


def installation_page(
    view: InstallationView,
    *,
    csrf_token: str,
    action: str,
    status_url: str,
    sign_in_url: str,
    outcome: str | None = None,
    provisioning: str | None = None,
) -> HTMLResponse:
    """The installation page (``view.operation == "apply"``) or the uninstall page."""
    app = view.application.name
    uninstall = view.operation == "uninstall"
    title = f"{'Uninstall' if uninstall else 'Install'} {app}"
    rows = [
        ("Application", app),
        ("Tenant", view.context_identifier),
        ("Company", view.company_name or "-"),
        ("Approved by", view.approved_by or "-"),
        ("System user token stored", "yes" if view.has_system_user_token else "no"),
        ("Tenant state", view.tenant_state),
    ]
    if outcome is not None:
        rows.append(("Record", outcome))
    if provisioning is not None:
        rows.append(("Provisioning", provisioning))
    intro = (
        f"Remove what {app} created in your SuperOffice tenant. This does not revoke its access:"
        " revoke it in SuperOffice's App Store (Installed apps)."
        if uninstall
        else f"{app} is approved for your tenant. Review what it will create, then provision."
    )
    body = f"<header><h1>{escape(title)}</h1><p>{escape(intro)}</p></header>" + _fields(rows)
    progress = view.progress
    going = progress is not None and not progress.finished
    if view.problem == "needs_sign_in":
        body += (
            '<p class="notice" role="alert">Your sign-in has expired. '
            f'<a id="sign-in-again" href="{escape(sign_in_url, quote=True)}">Sign in again</a>.'
            "</p>"
        )
    elif not view.running:
        body += (
            f'<p class="error" role="alert" id="not-running">The tenant is '
            f"{escape(view.tenant_state)}: nothing can be changed now. Try again when it is "
            "running.</p>"
        )
    elif not view.has_manifest and not uninstall:
        body += (
            f'<p class="notice" id="no-manifest">{escape(app)} has nothing to set up in '
            "SuperOffice: there is nothing to provision.</p>"
        )
    else:
        heading = (
            f"What {app} owns in {view.context_identifier}"
            if uninstall
            else (f"What {app} will create")
        )
        body += f'<section aria-labelledby="plan-title"><h2 id="plan-title">{escape(heading)}</h2>'
        if not view.groups:
            body += '<p id="plan-empty">Nothing.</p>'
        for group in view.groups:
            items = "".join(
                f'<li data-action="{escape(entry.action)}">{escape(entry.words)}</li>'
                for entry in group.entries
            )
            body += f'<h3>{escape(group.title)}</h3><ul data-group="{escape(group.title)}">'
            body += f"{items}</ul>"
        body += "</section>"
        if view.conflicts:
            shown = ", ".join(view.conflicts)
            body += (
                '<p class="error" role="alert">Another application already uses these web '
                f"panels, so nothing can be provisioned: {escape(shown)}.</p>"
            )
        elif not going and view.pending:
            fields = f'<input type="hidden" name="csrf" value="{escape(csrf_token, quote=True)}">'
            if view.optional_parts:
                boxes = "".join(
                    f'<label><input type="checkbox" name="optional" value="'
                    f'{escape(part.key, quote=True)}" checked> {escape(part.name)}'
                    f' <span class="muted">({escape(part.kind.replace("_", " "))})</span></label>'
                    for part in view.optional_parts
                )
                fields += f"<fieldset><legend>Optional parts</legend>{boxes}</fieldset>"
            label = "Remove" if uninstall else "Provision"
            css = ' class="danger"' if uninstall else ""
            body += (
                f'<form method="post" action="{escape(action, quote=True)}">{fields}'
                f'<button type="submit" id="run"{css}>{label}</button></form>'
            )
    body += _progress(progress, status_url, sign_in_url)
    return _document(title, body, script=going)


def refusal_page(title: str, message: str, status: int, request_id: str | None) -> HTMLResponse:
    """A clear refusal in the installation pages' style."""
    body = f'<header><h1>{escape(title)}</h1></header><p id="error-message">{escape(message)}</p>'
    if request_id:
        body += (
            f'<p class="muted">Request ID: <span id="request-id">{escape(request_id)}</span></p>'
        )
    return _document(title, body, status=status)


def already_installed_page(
    *,
    application: str,
    tenant: str,
    approved_by: str | None,
    approved_at: str | None,
    continue_url: str,
    installation_url: str,
) -> HTMLResponse:
    """Before re-approving a tenant that already has an active record: say so, change nothing."""
    title = f"{application} is already installed"
    body = (
        f"<header><h1>{escape(title)}</h1></header>"
        f'<p id="already-installed">{escape(application)} is already approved for '
        f"{escape(tenant)}"
        + (f" (by {escape(approved_by)}" if approved_by else " (")
        + (f", {escape(approved_at)})" if approved_at else ")")
        + ". Nothing has changed. Approving again signs an administrator of that tenant in to"
        " SuperID and refreshes the record.</p>"
        f'<p><a id="approve-again" href="{escape(continue_url, quote=True)}">Sign in and approve'
        f' again</a> · <a id="open-installation" href="{escape(installation_url, quote=True)}">'
        "Open the installation page</a></p>"
    )
    return _document(title, body)
