"""How the public API names applications and tenants: one resolver every entry point uses.

* An **application** is named by its name or its id, everywhere (``Workspace``, the ticket
  manager, tenant access, installations, provisioning, the CLI): :func:`resolve_application`,
  :class:`~toolkit.errors.UnknownApplicationError` when none matches.
* A **tenant** is its context identifier, ``Cust`` + digits (protocol §1), checked locally
  before anything goes on the wire (``"not-a-ctx"`` or ``"../x"`` never reach the state API):
  :func:`check_context_identifier`, :class:`~toolkit.errors.InvalidContextIdentifierError`.
  It matches case-insensitively (``"cust34567"`` finds ``Cust34567``; the docs show both
  casings, protocol §1 [I]); the canonical spelling ``Cust`` + digits is what goes on.
* An application **installed** in a tenant has an authorization record there that is
  ``active``: :func:`resolve_installation` gives the record (with the tenant as stored) or
  raises :class:`~toolkit.errors.NotInstalledError`, which is not "no such application".
"""

from __future__ import annotations

from toolkit.auth.oidc import CONTEXT_IDENTIFIER_PATTERN
from toolkit.errors import (
    InvalidContextIdentifierError,
    NotFoundError,
    NotInstalledError,
    UnknownApplicationError,
)
from toolkit.store import Application, Authorization, Repository

__all__ = [
    "CONTEXT_IDENTIFIER_PREFIX",
    "check_context_identifier",
    "is_installed",
    "resolve_application",
    "resolve_installation",
    "same_tenant",
]

CONTEXT_IDENTIFIER_PREFIX = "Cust"  # the casing SuperOffice's own examples use (protocol §1)
# A refused value is quoted in the message this far at most (it may be anything).
_SHOWN_CHARACTERS = 40


def check_context_identifier(context_identifier: object) -> str:
    """``context_identifier`` as ``Cust`` + digits (stripped, prefix in canonical casing).

    Raises :class:`~toolkit.errors.InvalidContextIdentifierError` for anything else, so that
    nothing which is not a tenant reaches a URL path, the state API or the store.
    """
    text = context_identifier.strip() if isinstance(context_identifier, str) else None
    if text is None or not CONTEXT_IDENTIFIER_PATTERN.fullmatch(text):
        shown = repr(context_identifier)[:_SHOWN_CHARACTERS]
        raise InvalidContextIdentifierError(
            f"the tenant must be a context identifier like Cust12345, not {shown}",
            value=shown,
        )
    return CONTEXT_IDENTIFIER_PREFIX + text[len(CONTEXT_IDENTIFIER_PREFIX) :]


def same_tenant(a: str | None, b: str | None) -> bool:
    """Whether two context identifiers name one tenant: case-insensitively (protocol §1) [I];
    a missing one matches nothing."""
    return a is not None and b is not None and a.casefold() == b.casefold()


def resolve_application(repository: Repository, application: str) -> Application:
    """The application with this name or id; :class:`~toolkit.errors.UnknownApplicationError`
    if none (an id match wins over a name match, as in the store)."""
    if not isinstance(application, str) or not application.strip():
        raise UnknownApplicationError("no application named (empty name)", application=None)
    try:
        return repository.get_application(application.strip())
    except UnknownApplicationError:
        raise
    except NotFoundError:
        shown = repr(application)[:_SHOWN_CHARACTERS]
        raise UnknownApplicationError(
            f"no application {shown}", application=application[:_SHOWN_CHARACTERS]
        ) from None


def resolve_installation(
    repository: Repository,
    application: str,
    context_identifier: str,
    *,
    active: bool = True,
) -> tuple[Application, Authorization]:
    """The application and its authorization record in the tenant (context identifier as
    stored). The tenant is checked first (no lookup for a malformed one), then the application.

    :class:`~toolkit.errors.NotInstalledError` when the tenant has no record, or (with
    ``active``, the default) a record that is not ``active`` (revoked, needs_reconsent, ...).
    """
    tenant = check_context_identifier(context_identifier)
    app = resolve_application(repository, application)
    try:
        authorization = repository.get_authorization(app.id, tenant)
    except NotFoundError:
        raise NotInstalledError(
            f"{app.name} is not installed in {tenant}: no administrator approved it there",
            application=app.name,
            context_identifier=tenant,
        ) from None
    if active and authorization.status != "active":
        raise NotInstalledError(
            f"{app.name} is not installed in {authorization.context_identifier}: its"
            f" authorization is {authorization.status}",
            application=app.name,
            context_identifier=authorization.context_identifier,
            authorization_status=authorization.status,
        )
    return app, authorization


def is_installed(repository: Repository, application: str, context_identifier: str) -> bool:
    """Whether ``application`` has an active authorization in the tenant. An unknown
    application or a malformed tenant still raises (those are mistakes, not answers)."""
    try:
        resolve_installation(repository, application, context_identifier)
    except NotInstalledError:
        return False
    return True
