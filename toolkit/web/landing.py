"""``GET /``: the partner endpoints' own page, saying what they are and which URL does what.

Someone who opens the partner endpoints' URL (``make run`` prints it) reads what this server is
for, that ``/healthz`` answers health checks, and, per registered application, the URLs the
partner gives SuperOffice and its customers: the install link, the "Customer state change" URL,
the web panel URL (with SuperOffice's ``<uctx>`` template variable) and the uninstall page.
Only values that are public anyway are shown: application names and client ids travel in every
authorize URL; no secret, tenant or approval is read. A store that cannot be read gives the page
without the table (the reason goes to the log under the request id, as ``/healthz`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.web.pages import page

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["LANDING_PATH", "ApplicationUrls", "application_urls", "landing_endpoint"]

logger = logging.getLogger("toolkit.web")

LANDING_PATH = "/"
TITLE = "SuperOffice partner endpoints"


@dataclass(frozen=True)
class ApplicationUrls:
    """The partner URLs of one application, as they are registered or handed out."""

    name: str
    kind: str
    install: str
    state_change: str
    panel: str
    uninstall: str


def application_urls(workspace: Workspace) -> list[ApplicationUrls]:
    """Each registered application's URLs at ``settings.public_url`` (and the endpoints' mount
    prefix), by name."""
    return [
        ApplicationUrls(
            name=app.name,
            kind=app.kind,
            install=workspace.install_url(app.name),
            state_change=workspace.state_change_url(app.name),
            # What a provisioned web panel opens: {public_url}/panel/{app}?uctx=<uctx>.
            panel=workspace.panel_url(app.id),
            uninstall=workspace.uninstall_url(app.name),
        )
        for app in workspace.applications.list()
    ]


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _applications_html(apps: list[ApplicationUrls]) -> str:
    if not apps:
        return (
            '<p id="no-applications">No application is registered yet '
            "(<code>sotk app add</code>, or the dashboard's Applications page).</p>"
        )
    sections = []
    for app in apps:
        rows = [
            ("Install link (for a customer's administrator)", app.install),
            ('"Customer state change" URL (Developer Portal)', app.state_change),
            ("Web panel URL", app.panel),
            ("Uninstall page", app.uninstall),
        ]
        items = "".join(f"<dt>{escape(label)}</dt><dd>{_code(url)}</dd>" for label, url in rows)
        sections.append(
            f'<section data-application="{escape(app.name)}"><h3>{escape(app.name)} '
            f'<span class="muted">({escape(app.kind)})</span></h3><dl>{items}</dl></section>'
        )
    return "".join(sections)


def landing_html(public_url: str, apps: list[ApplicationUrls] | None) -> str:
    """The page body; ``apps`` None when the store could not be read."""
    base = public_url.rstrip("/")
    endpoints = [
        ("/install?app=NAME[&tenant=CustNNNNN]", "starts an installation through SuperID"),
        ("/callback", "SuperID's redirect back (register it as the redirect URL)"),
        ("/installation, /uninstall", "the administrator's installation and uninstall pages"),
        ("/state-change/{client id}", "SuperOffice's tenant state-change notifications"),
        ("/panel/{app}?uctx=<uctx>", "the page a web panel in SuperOffice opens"),
        ("/healthz", "health check: JSON, 200 while the store answers, else 503"),
    ]
    listed = "".join(f"<dt>{_code(path)}</dt><dd>{escape(what)}</dd>" for path, what in endpoints)
    applications = (
        '<p id="applications-unavailable">The applications cannot be read right now; see '
        f"{_code(base + '/healthz')}.</p>"
        if apps is None
        else _applications_html(apps)
    )
    return (
        "<p>This server is the SuperOffice partner's own side of its applications, run by the "
        "superoffice-toolkit: customers' administrators install an application here, "
        "SuperOffice notifies it of tenant changes, and web panels inside SuperOffice open its "
        f"pages. Public URL: {_code(base)}.</p>"
        f'<h2>Endpoints</h2><dl id="endpoints">{listed}</dl>'
        f"<h2>Applications</h2>{applications}"
    )


def landing_endpoint(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET /`` handler for ``workspace``."""

    async def landing(request: Request) -> Response:
        apps: list[ApplicationUrls] | None
        try:
            apps = await run_in_threadpool(application_urls, workspace)
        except Exception as exc:
            logger.error(
                "request %s: the landing page could not read the applications: %s",
                getattr(request.state, "request_id", None),
                type(exc).__name__,
            )
            apps = None
        return page(TITLE, landing_html(workspace.settings.public_url, apps))

    return landing
