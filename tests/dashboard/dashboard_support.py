"""Shared values and helpers of the dashboard tests (a plain module: conftest is not importable).

The secrets below are inserted into the store on purpose, so that tests can prove they never
reach the rendered dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Dataframe, Node

from toolkit.claims import COMPANY_NAME, CONTEXT_IDENTIFIER, IS_ADMINISTRATOR, SERIAL, UPN
from toolkit.keys import key_fingerprint, private_key_to_pem, private_key_to_rsa_key_value
from toolkit.store import Repository

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
APPLICATIONS_PAGE = "views/applications.py"
# The landing page: "/" opens it (issue 15).
OVERVIEW_PAGE = "views/overview.py"
TENANTS_PAGE = "views/tenants.py"
# The first run imports the toolkit and opens the store; later runs take milliseconds.
RUN_TIMEOUT = 30.0

CLIENT_SECRET = "cs-PLAINTEXT-client-secret-7b1e94"
SYSTEM_USER_TOKEN = "DashboardApp-PLAINTEXTsut0c4f2a9e"
REFRESH_TOKEN = "rt-PLAINTEXT-refresh-token-51d0aa"
FORM_CLIENT_SECRET = "cs-PLAINTEXT-typed-into-the-form-88c2"
TICKET = "7T:PLAINTEXTticketQWxwaGFTeW5jQ3VzdDEyMzQ1"
# The seeded ticket was obtained this long ago (and not used since): 6 h - 1 h = 5 h left.
TICKET_AGE = timedelta(hours=1)

# 1024 bits is the smallest size the toolkit accepts, and fast to generate.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
KEY_PEM = private_key_to_pem(KEY)
KEY_XML = private_key_to_rsa_key_value(KEY)
FORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
FORM_KEY_XML = private_key_to_rsa_key_value(FORM_KEY)

STANDARD_APP = "Alpha Sync"
CUSTOM_APP = "Bravo Custom"
TENANT = "Cust12345"
CUSTOM_TENANT = "Cust22222"
COMPANY = "Acme Industries AS"
ADMIN = "admin@acme.example"
APPROVED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def private_numbers_text(key: rsa.RSAPrivateKey) -> list[str]:
    """Fragments that only the private key holds: PEM body lines and the XML's D element."""
    pem = private_key_to_pem(key)
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    xml = private_key_to_rsa_key_value(key)
    d_value = xml.split("<D>", 1)[1].split("</D>", 1)[0]
    return [*lines, d_value, d_value[:40]]


def seed(repository: Repository) -> None:
    """A standard app approved in one tenant (with tokens and a system user ticket held) and
    a custom app not yet approved."""
    standard = repository.add_application(
        STANDARD_APP,
        environment="sod",
        client_id="alpha-client-id",
        client_secret=CLIENT_SECRET,
        redirect_uri="https://partner.example/callback",
        kind="standard",
        model="internal",
        private_key=KEY_PEM,
        key_fingerprint=key_fingerprint(KEY),
        actor="test",
    )
    repository.add_application(
        CUSTOM_APP,
        environment="sod",
        client_id="bravo-client-id",
        client_secret=CLIENT_SECRET + "-bravo",
        redirect_uri="https://partner.example/callback",
        kind="custom",
        model="hybrid",
        tenant=CUSTOM_TENANT,
        actor="test",
    )
    repository.put_authorization(
        standard.id,
        TENANT,
        token_issued_at=APPROVED_AT,
        system_user_token=SYSTEM_USER_TOKEN,
        refresh_token=REFRESH_TOKEN,
        approved_by=ADMIN,
        approved_by_associate_id=5,
        company_name=COMPANY,
        serial="99887766",
        webapi_url=f"https://sod2.superoffice.com/{TENANT}/api/",
        claims={
            CONTEXT_IDENTIFIER: TENANT,
            COMPANY_NAME: COMPANY,
            IS_ADMINISTRATOR: "True",
            SERIAL: "99887766",
            UPN: ADMIN,
        },
        actor="test",
    )
    obtained_at = datetime.now(UTC) - TICKET_AGE
    repository.put_ticket(
        repository.get_authorization(standard.id, TENANT).id,
        ticket=TICKET,
        obtained_at=obtained_at,
        expires_at=obtained_at + timedelta(hours=6),
        serial="99887766",
        webapi_url=f"https://sod2.superoffice.com/{TENANT}/api/",
    )


def app_test() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)


def open_page(page: str) -> AppTest:
    """Run the app, then switch to ``page`` and run it."""
    at = app_test().run()
    assert not at.exception, at.exception
    if page != OVERVIEW_PAGE:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def _walk(node: Node) -> Iterator[Node]:
    yield node
    children: dict[int, Any] = getattr(node, "children", {}) or {}
    for child in children.values():
        yield from _walk(child)


def rendered_text(at: AppTest) -> str:
    """Everything the page sent to the browser: every element's proto, tables as CSV."""
    parts: list[str] = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        if isinstance(node, Dataframe):
            parts.append(node.value.to_csv())
    for key, value in at.session_state.items():
        parts.append(f"{key}={value!r}")
    return "\n".join(parts)


def texts(elements: Any) -> list[str]:
    return [str(element.value) for element in elements]


def labels(widgets: Any) -> list[str]:
    return [str(widget.label) for widget in widgets]
