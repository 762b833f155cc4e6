"""The emulator's own page at the login host's root URL (``/``): what it is, its URLs, the
tenants and where they live, and the users one can sign in as.

This is no SuperOffice page (SuperOffice's root redirects to its marketing site); it exists so
that a newcomer who opens the emulator's URL from ``make run`` learns where to go next instead of
reading a bare 404 or the 501 of a path the emulator does not emulate (``not_emulated``). The
page reads the world on each request (a tenant moved through the control plane shows on its new
host) and never shows a secret: client secrets, system user tokens and keys stay out; a user's
password is shown only when it is the seeded demo password, which the repository publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from toolkit.emulator.faults import CONTROL_PREFIX
from toolkit.emulator.seed import DEMO_PASSWORD
from toolkit.emulator.superid import (
    AUTHORIZE_PATH,
    DISCOVERY_PATH,
    JWKS_PATH,
    LOGOUT_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from toolkit.emulator.system_user import REST_PATH as SYSTEM_USER_REST_PATH
from toolkit.emulator.system_user import SOAP_PATH as SYSTEM_USER_SOAP_PATH
from toolkit.emulator.tenant_state import STATE_PATH, current_state
from toolkit.emulator.world import World

__all__ = ["LANDING_PAGE_ID", "LANDING_PATH", "landing_page", "landing_route"]

LANDING_PATH = "/"
# <body data-emulator-page=...>: lets tests and the headless driver tell this page apart.
LANDING_PAGE_ID = "landing"
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_STYLE = (
    "body{font-family:sans-serif;max-width:52rem;margin:2rem auto;color:#222;line-height:1.4}"
    "table{border-collapse:collapse;margin:.5rem 0 1rem}"
    "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "code{background:#f4f4f4;padding:0 .2rem}.muted{color:#666;font-size:.9rem}"
)


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _link(url: str) -> str:
    return f'<a href="{escape(url)}">{escape(url)}</a>'


def _table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]], table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{escape(table_id)}"><tr>{head}</tr>{body}</table>'


def _endpoints(base: str) -> str:
    rows = [
        ("OpenID discovery", _link(base + DISCOVERY_PATH)),
        ("SuperID keys (JWKS)", _link(base + JWKS_PATH)),
        ("Authorize (sign-in, tenant picker, consent)", _code(base + AUTHORIZE_PATH)),
        ("Tokens", _code(base + TOKEN_PATH)),
        ("Revoke", _code(base + REVOKE_PATH)),
        ("Sign out", _code(base + LOGOUT_PATH)),
        ("PartnerSystemUser (REST)", _code(base + SYSTEM_USER_REST_PATH)),
        ("PartnerSystemUser (SOAP)", _link(base + SYSTEM_USER_SOAP_PATH)),
        ("Tenant state API", _code(base + STATE_PATH)),
        ("Control plane (not SuperOffice)", _code(base + CONTROL_PREFIX + "/...")),
    ]
    return _table(("What", "URL"), rows, "emulator-urls")


def _tenants(world: World, base_url: str) -> str:
    rows = []
    for tenant in sorted(world.tenants.values(), key=lambda t: t.ctx.lower()):
        url = world.tenant_url(tenant)
        state_url = _link(base_url + STATE_PATH.format(ctx=tenant.ctx))
        rows.append(
            (
                escape(tenant.ctx),
                escape(tenant.company_name),
                escape(tenant.host or ""),
                escape(current_state(world, tenant)),
                _code(f"{url}/api/v1/...") if url else "(not started)",
                state_url,
            )
        )
    headers = ("Context", "Company", "Host", "State", "Web API", "State API")
    return _table(headers, rows, "emulator-tenants")


def _users(world: World) -> str:
    rows = []
    for user in sorted(world.users.values(), key=lambda u: u.username.lower()):
        where = ", ".join(
            f"{m.ctx} ({'administrator' if m.is_administrator else 'user'})"
            for m in user.memberships
        )
        password = _code(DEMO_PASSWORD) if user.password == DEMO_PASSWORD else "(set by the world)"
        rows.append((escape(user.username), escape(where) or "(no tenant)", password))
    return _table(("Username", "Tenants", "Password"), rows, "emulator-users")


def landing_page(world: World, base_url: str) -> str:
    """The landing page's HTML for the world as it is now; every value is escaped."""
    with world.lock:
        tenants, users = _tenants(world, base_url), _users(world)
        apps = len(world.apps)
    hosts = "".join(
        f"<li>{escape(name)}: {_code(url)}</li>" for name, url in sorted(world.host_urls.items())
    )
    body = (
        "<h1>SuperOffice Online emulator</h1>"
        "<p>A local stand-in for SuperOffice CRM Online, for tests, notebooks and "
        "<code>make run</code>: SuperID (OpenID Connect sign-in and consent), the "
        "PartnerSystemUser service, the tenant state API and a subset of each tenant's web "
        "services. It is strict like SuperOffice (signatures, PKCE, redirect URLs, app tokens "
        "are all checked). A path it does not emulate answers 501 with "
        "<code>X-Emulator: not-emulated</code>.</p>"
        f"<h2>This host (login host, issuer {_code(base_url)})</h2>{_endpoints(base_url)}"
        f"<h2>Tenant hosts</h2><ul>{hosts}</ul>"
        "<p class=muted>A tenant is served only on its own host; asked for on another it answers "
        "421 &quot;Wrong subdomain used to access tenant&quot;.</p>"
        f"<h2>Tenants</h2>{tenants}"
        f"<h2>Users you can sign in as</h2>{users}"
        f"<p class=muted>{apps} application(s) registered. The control plane under "
        f"{_code(CONTROL_PREFIX)} (reset, apps, tenants, states, moves, clock, faults) is the "
        "emulator's own API, kept apart from the emulated one.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>SuperOffice Online emulator</title><style>{_STYLE}</style></head>"
        f'<body data-emulator-page="{LANDING_PAGE_ID}">{body}</body></html>'
    )


def landing_route(world: World, base_url: str) -> Route:
    """``GET /`` on the login host (tenant hosts serve only ``/{ctx}/...``, see ``routing``)."""

    async def landing(request: Request) -> Response:
        return HTMLResponse(landing_page(world, base_url), headers=_HEADERS)

    return Route(LANDING_PATH, landing, methods=["GET"])
