"""Registered applications: what the Developer Portal gives a partner, kept in the store.

A **standard** application has one client id / secret / key pair for every tenant that approves
it; a **custom** application is made for one customer, so the partner registers one application
(its own credentials) per tenant (protocol §8). The *model* (internal / external / hybrid) is
recorded here and used by provisioning later.

:meth:`Applications.register` stores credentials the partner already has;
:meth:`Applications.register_with_emulator` first registers the application at a local
emulator's control plane, the way a partner uses the Developer Portal, then stores what came
back. The emulator generates the key pair and hands out the private half once, or the partner
brings their own key (the one the Developer Portal holds the public half of) and only its public
half is sent, so the emulator checks the exact key used in production. Given the partner
endpoints' public URL, the application is registered with its own state-change URL there
(``{public_url}/state-change/{client_id}``), as the portal's "Customer state change" setting
does (protocol §6), so notifications reach the partner.

Secrets (client secret, private key) are validated, then sealed by the store; only the key's
fingerprint is kept in clear. Nothing here logs or raises with a secret in it.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from toolkit.config import EMULATOR, ENVIRONMENT_ALIASES, Environment, require_secure_url
from toolkit.errors import (
    ConfigurationError,
    NotFoundError,
    UnexpectedResponseError,
)
from toolkit.http import send_request, url_for_error
from toolkit.keys import (
    key_fingerprint,
    load_private_key,
    private_key_to_pem,
    public_key_to_pem,
)
from toolkit.naming import check_context_identifier, resolve_application
from toolkit.store import Application, Authorization, Repository
from toolkit.text import control_character, describe_character, unstorable_character

__all__ = [
    "APPLICATION_KINDS",
    "APPLICATION_MODELS",
    "EMULATOR_APPS_PATH",
    "MAX_APPLICATION_NAME",
    "Applications",
    "validate_application_name",
    "validate_redirect_uri",
]

logger = logging.getLogger("toolkit.applications")

APPLICATION_KINDS = ("standard", "custom")
# internal: UI inside SuperOffice; external: all UI on the partner's side; hybrid: both (§8).
APPLICATION_MODELS = ("internal", "external", "hybrid")
# The emulator's control plane (not part of SuperOffice): register and activate applications.
EMULATOR_APPS_PATH = "/__emulator__/apps"


def _tenant(tenant: str | None) -> str | None:
    # InvalidContextIdentifierError is a ConfigurationError.
    return None if tenant is None else check_context_identifier(tenant)


# Longest application name: the store's name column (toolkit.store.schema.NAME_LENGTH); /install
# takes the name as its ``app`` parameter (at most 256 characters), so it always fits there.
MAX_APPLICATION_NAME = 200


def validate_application_name(name: str | None) -> str:
    """The name stripped; :class:`ConfigurationError` for a name ``/install?app=NAME`` could
    never be given: empty, longer than :data:`MAX_APPLICATION_NAME`, or holding a control,
    line-separator or bidi override character (NUL, CR/LF, U+202E, ...) or a lone surrogate."""
    name = (name or "").strip()
    if not name:
        raise ConfigurationError("an application needs a name")
    if len(name) > MAX_APPLICATION_NAME:
        raise ConfigurationError(
            f"the application name is longer than {MAX_APPLICATION_NAME} characters"
        )
    character = control_character(name) or unstorable_character(name)
    if character is not None:
        raise ConfigurationError(
            f"the application name contains the character {describe_character(character)}, "
            "which /install cannot be given"
        )
    return name


def validate_redirect_uri(uri: str) -> str:
    """``uri`` if it can be an OAuth redirection endpoint; else :class:`ConfigurationError`.

    https (or http on loopback, :func:`~toolkit.config.require_secure_url`); no fragment (RFC
    6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component"); no user
    information (``user:pass@``: a credential in a URL that SuperID echoes into redirects and
    logs, and a classic way to disguise the real host); no control characters.
    """
    character = control_character(uri) or unstorable_character(uri)
    if character is not None:
        raise ConfigurationError(
            f"redirect_uri contains the character {describe_character(character)}"
        )
    require_secure_url(uri, what="redirect_uri")
    parts = urlsplit(uri)
    if "#" in uri:
        raise ConfigurationError("redirect_uri must not have a fragment (RFC 6749 §3.1.2)")
    if "@" in parts.netloc:
        raise ConfigurationError("redirect_uri must not carry user information (user:pass@)")
    return uri


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
        name = validate_application_name(name)
        client_id = (client_id or "").strip()
        if not client_id:
            raise ConfigurationError("the client id is empty")
        if not client_secret or not client_secret.strip():
            raise ConfigurationError("the client secret is empty")
        client_secret = client_secret.strip()
        validate_redirect_uri(redirect_uri)
        env = ENVIRONMENT_ALIASES.get(environment.strip().lower(), environment.strip().lower())
        if env == EMULATOR:
            if not environment_url:
                raise ConfigurationError(
                    "environment 'emulator' needs environment_url, the emulator's base URL"
                )
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
        private_key: str | bytes | None = None,
        public_url: str | None = None,
        actor: str,
    ) -> Application:
        """Register the application at a local emulator, then store the credentials it issued.

        Like the Developer Portal, the emulator generates the client id, secret and key pair
        and returns the private key once; with ``private_key`` (the partner's own key,
        RSAKeyValue XML or PEM) only its public half is sent and the key is stored as with
        :meth:`register`. ``public_url`` (the partner endpoints' public URL) registers the
        application's state-change URL, ``{public_url}/state-change/{client_id}`` (protocol §6).
        A custom application is then activated for its tenant (the App Manager's explicit
        consent, protocol §3). The local checks (name free, key, tenant, kind, model, URLs) run
        first, so a refused registration leaves nothing behind.
        """
        environment = Environment.emulator(emulator_url)
        validate_redirect_uri(redirect_uri)
        validate_application_name(name)
        if public_url is not None:
            require_secure_url(public_url, what="public_url")
        own_key = None if private_key is None else load_private_key(private_key)
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
        if own_key is not None:
            body["public_key"] = public_key_to_pem(own_key)  # never the private half
        issued = self._control(environment, EMULATOR_APPS_PATH, body, "app registration")
        client_id = issued.get("client_id")
        client_secret = issued.get("client_secret")
        # The RSAKeyValue XML is what the Developer Portal hands out; it is stored through the
        # same path as a partner's downloaded key file.
        key: str | bytes | None = (
            private_key if own_key is not None else issued.get("private_key_xml")
        )
        if not all(isinstance(v, str | bytes) and v for v in (client_id, client_secret, key)):
            raise UnexpectedResponseError(
                "the emulator's app registration did not return client_id, client_secret and"
                " private_key_xml",
                url=url_for_error(environment.base_url + EMULATOR_APPS_PATH),
            )
        assert isinstance(client_id, str)  # noqa: S101 - checked just above, for mypy
        assert isinstance(client_secret, str)  # noqa: S101
        if own_key is not None and issued.get("public_key_pem") != body["public_key"]:
            raise UnexpectedResponseError(
                "the emulator registered another public key than the one sent",
                url=url_for_error(environment.base_url + EMULATOR_APPS_PATH),
            )
        if public_url is not None:
            self._set_state_change_url(environment, client_id, public_url)
        if kind == "custom" and tenant is not None:
            path = f"{EMULATOR_APPS_PATH}/{quote(client_id, safe='')}/activate"
            self._control(
                environment, path, {"tenant": tenant, "approved_by": actor}, "app activation"
            )
        return self.register(
            name=name,
            environment=EMULATOR,
            environment_url=environment.base_url,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            kind=kind,
            model=model,
            private_key=key,
            tenant=tenant,
            actor=actor,
        )

    def register_state_change_url(self, name: str, public_url: str) -> str:
        """Point an emulator application's "Customer state change" setting at the partner
        endpoints at ``public_url`` (``{public_url}/state-change/{client_id}``); returns it.

        For an application registered at the emulator before it had one, or after the partner
        endpoints moved. :class:`ConfigurationError` for an application of another environment.
        """
        application = self._repository.get_application(name)
        if application.environment != EMULATOR or not application.environment_url:
            raise ConfigurationError(
                f"{application.name} is not an emulator application; its state-change URL is"
                " set in the Developer Portal"
            )
        require_secure_url(public_url, what="public_url")
        environment = Environment.emulator(application.environment_url)
        return self._set_state_change_url(environment, application.client_id, public_url)

    def _set_state_change_url(
        self, environment: Environment, client_id: str, public_url: str
    ) -> str:
        from toolkit.tenant_events import state_change_path  # the partner endpoints' own route

        url = public_url.rstrip("/") + state_change_path(client_id)
        path = f"{EMULATOR_APPS_PATH}/{quote(client_id, safe='')}"
        self._control(
            environment, path, {"state_change_url": url}, "state-change URL", method="PATCH"
        )
        return url

    def _control(
        self,
        environment: Environment,
        path: str,
        body: dict[str, Any],
        what: str,
        *,
        method: str = "POST",
    ) -> dict[str, Any]:
        url = environment.base_url + path
        response = send_request(self._http, method, url, what=f"emulator {what}", json=body)
        try:
            answer = response.json()
        except (ValueError, RecursionError):
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
        """The application with this name or id;
        :class:`~toolkit.errors.UnknownApplicationError` (a NotFoundError) if none."""
        return resolve_application(self._repository, name)

    def approvals(self, name: str) -> builtins.list[Authorization]:
        """The authorization records of this application: which tenants approved it."""
        return self._repository.list_authorizations(name)
