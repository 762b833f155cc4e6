"""Registered applications: what the Developer Portal gives a partner, kept in the store.

A **standard** application has one client id / secret / key pair for every tenant that approves
it; a **custom** application is made for one customer, so the partner registers one application
(its own credentials) per tenant (protocol §8). The *model* (internal / external / hybrid) is
recorded here and used by provisioning later.

:meth:`Applications.register` stores credentials the partner already has;
:meth:`Applications.register_with_emulator` first registers the application at a local
emulator's control plane, the way a partner uses the Developer Portal (the emulator generates the
key pair and hands out the private half once), then stores what came back.

Secrets (client secret, private key) are validated, then sealed by the store; only the key's
fingerprint is kept in clear. Nothing here logs or raises with a secret in it.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any
from urllib.parse import quote

import httpx

from toolkit.auth.oidc import validate_context_identifier
from toolkit.config import EMULATOR, ENVIRONMENT_ALIASES, Environment, require_secure_url
from toolkit.errors import (
    ConfigurationError,
    NotFoundError,
    SignInError,
    UnexpectedResponseError,
)
from toolkit.http import send_request, url_for_error
from toolkit.keys import key_fingerprint, load_private_key, private_key_to_pem
from toolkit.store import Application, Authorization, Repository

__all__ = [
    "APPLICATION_KINDS",
    "APPLICATION_MODELS",
    "EMULATOR_APPS_PATH",
    "Applications",
]

logger = logging.getLogger("toolkit.applications")

APPLICATION_KINDS = ("standard", "custom")
# internal: UI inside SuperOffice; external: all UI on the partner's side; hybrid: both (§8).
APPLICATION_MODELS = ("internal", "external", "hybrid")
# The emulator's control plane (not part of SuperOffice): register and activate applications.
EMULATOR_APPS_PATH = "/__emulator__/apps"


def _tenant(tenant: str | None) -> str | None:
    if tenant is None:
        return None
    try:
        return validate_context_identifier(tenant.strip())
    except SignInError as exc:
        raise ConfigurationError(str(exc)) from None


class Applications:
    """Register, list and look up applications; see which tenants approved each."""

    def __init__(self, repository: Repository, http: httpx.Client) -> None:
        self._repository = repository
        self._http = http

    def __repr__(self) -> str:
        return "Applications()"

    # -- registering -------------------------------------------------------------------------

    def register(
        self,
        *,
        name: str,
        environment: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        kind: str = "standard",
        model: str = "internal",
        private_key: str | bytes | None = None,
        tenant: str | None = None,
        environment_url: str | None = None,
        actor: str,
    ) -> Application:
        """Validate and store an application's credentials (sealed at rest).

        ``environment`` is ``sod``, ``qaonline`` (``stage``), ``online`` or ``emulator`` (which
        needs ``environment_url``). ``private_key`` is the Developer Portal's RSAKeyValue XML
        or a PEM; it is checked with :func:`toolkit.keys.load_private_key` (a malformed key
        raises :class:`~toolkit.errors.KeyFormatError` naming the element at fault) and stored
        as PEM. A custom application needs ``tenant``, its one customer. Nothing is stored when
        any check fails.
        """
        name = (name or "").strip()
        if not name:
            raise ConfigurationError("an application needs a name")
        client_id = (client_id or "").strip()
        if not client_id:
            raise ConfigurationError("the client id is empty")
        if not client_secret or not client_secret.strip():
            raise ConfigurationError("the client secret is empty")
        client_secret = client_secret.strip()
        require_secure_url(redirect_uri, what="redirect_uri")
        env = ENVIRONMENT_ALIASES.get(environment.strip().lower(), environment.strip().lower())
        if env == EMULATOR:
            if not environment_url:
                raise ConfigurationError("an emulator application needs the emulator's URL")
            environment_url = Environment.emulator(environment_url).base_url
        else:
            env = Environment.named(env).name
            if environment_url is not None:
                raise ConfigurationError(
                    f"environment {env} has fixed URLs; environment_url is for the emulator only"
                )
        if kind not in APPLICATION_KINDS:
            raise ConfigurationError(f"kind must be one of {', '.join(APPLICATION_KINDS)}")
        if model not in APPLICATION_MODELS:
            raise ConfigurationError(f"model must be one of {', '.join(APPLICATION_MODELS)}")
        tenant = _tenant(tenant)
        if kind == "custom" and tenant is None:
            raise ConfigurationError(
                "a custom application belongs to one customer: give its tenant (CustNNNNN)"
            )
        if kind == "standard" and tenant is not None:
            raise ConfigurationError(
                "a standard application serves every tenant; only custom ones have a tenant"
            )
        pem: str | None = None
        fingerprint: str | None = None
        if private_key is not None:
            loaded = load_private_key(private_key)  # KeyFormatError names what is wrong
            pem = private_key_to_pem(loaded)
            fingerprint = key_fingerprint(loaded)
        application = self._repository.add_application(
            name,
            environment=env,
            environment_url=environment_url,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            kind=kind,
            model=model,
            private_key=pem,
            tenant=tenant,
            key_fingerprint=fingerprint,
            actor=actor,
        )
        logger.info(
            "application %s registered (%s, %s, %s, key %s)",
            name,
            env,
            kind,
            model,
            fingerprint or "none",
        )
        return application

    def register_with_emulator(
        self,
        *,
        name: str,
        emulator_url: str,
        redirect_uri: str,
        kind: str = "standard",
        model: str = "internal",
        tenant: str | None = None,
        grant_system_token: bool = True,
        vendor: str = "",
        consent_text: str = "",
        actor: str,
    ) -> Application:
        """Register the application at a local emulator, then store the credentials it issued.

        Like the Developer Portal, the emulator generates the client id, secret and key pair
        and returns the private key once. A custom application is then activated for its tenant
        (the App Manager's explicit consent, protocol §3). The local checks (name free, tenant,
        kind, model, URLs) run first, so a refused registration leaves nothing behind.
        """
        environment = Environment.emulator(emulator_url)
        require_secure_url(redirect_uri, what="redirect_uri")
        tenant = _tenant(tenant)
        if kind not in APPLICATION_KINDS:
            raise ConfigurationError(f"kind must be one of {', '.join(APPLICATION_KINDS)}")
        if model not in APPLICATION_MODELS:
            raise ConfigurationError(f"model must be one of {', '.join(APPLICATION_MODELS)}")
        if kind == "custom" and tenant is None:
            raise ConfigurationError("a custom application needs its tenant (CustNNNNN)")
        if kind == "standard" and tenant is not None:
            raise ConfigurationError("only custom applications have a tenant")
        if not name or not name.strip():
            raise ConfigurationError("an application needs a name")
        try:
            self._repository.get_application(name.strip())
        except NotFoundError:
            pass
        else:
            raise ConfigurationError(f"an application named {name.strip()!r} already exists")

        body: dict[str, Any] = {
            "name": name.strip(),
            "redirect_urls": [redirect_uri],
            "kind": kind,
            "grant_system_token": grant_system_token,
            "vendor": vendor,
            "consent_text": consent_text,
        }
        if tenant is not None:
            body["tenant"] = tenant
        issued = self._control(environment, EMULATOR_APPS_PATH, body, "app registration")
        client_id = issued.get("client_id")
        client_secret = issued.get("client_secret")
        private_key_xml = issued.get("private_key_xml")
        if not all(isinstance(v, str) and v for v in (client_id, client_secret, private_key_xml)):
            raise UnexpectedResponseError(
                "the emulator's app registration did not return client_id, client_secret and"
                " private_key_xml",
                url=url_for_error(environment.base_url + EMULATOR_APPS_PATH),
            )
        assert isinstance(client_id, str)  # noqa: S101 - checked just above, for mypy
        assert isinstance(client_secret, str)  # noqa: S101
        assert isinstance(private_key_xml, str)  # noqa: S101
        if kind == "custom" and tenant is not None:
            path = f"{EMULATOR_APPS_PATH}/{quote(client_id, safe='')}/activate"
            self._control(
                environment, path, {"tenant": tenant, "approved_by": actor}, "app activation"
            )
        # The RSAKeyValue XML is what the Developer Portal hands out; store it through the same
        # path as a partner's downloaded key file.
        return self.register(
            name=name,
            environment=EMULATOR,
            environment_url=environment.base_url,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            kind=kind,
            model=model,
            private_key=private_key_xml,
            tenant=tenant,
            actor=actor,
        )

    def _control(
        self, environment: Environment, path: str, body: dict[str, Any], what: str
    ) -> dict[str, Any]:
        url = environment.base_url + path
        response = send_request(self._http, "POST", url, what=f"emulator {what}", json=body)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not response.is_success:
            detail = answer.get("detail") if isinstance(answer, dict) else None
            raise ConfigurationError(
                f"the emulator refused the {what} (HTTP {response.status_code})"
                + (f": {detail}" if isinstance(detail, str) else "")
            )
        if not isinstance(answer, dict):
            raise UnexpectedResponseError(
                f"the emulator's {what} answer is not a JSON object",
                url=url_for_error(url),
                status_code=response.status_code,
            )
        return answer

    # -- reading -----------------------------------------------------------------------------

    def list(self) -> builtins.list[Application]:
        """Every registered application, by name."""
        return self._repository.list_applications()

    def get(self, name: str) -> Application:
        """The application with this name (or id); :class:`NotFoundError` if none."""
        return self._repository.get_application(name)

    def approvals(self, name: str) -> builtins.list[Authorization]:
        """The authorization records of this application: which tenants approved it."""
        return self._repository.list_authorizations(name)
