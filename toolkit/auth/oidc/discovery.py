"""SuperID's OpenID configuration: fetched, checked against the environment (protocol §2.1)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from toolkit.config import Environment, require_secure_url
from toolkit.errors import ConfigurationError, DiscoveryError
from toolkit.http import get_json

__all__ = ["ProviderMetadata", "fetch_provider_metadata", "parse_provider_metadata"]

logger = logging.getLogger("toolkit.auth.oidc")


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of SuperID's OpenID configuration the toolkit uses (protocol §2.1).

    ``end_session_endpoint`` and ``revocation_endpoint`` are filled from the environment's
    derived URLs when the document omits them (the official excerpt does, open question 10);
    ``derived_endpoints`` names the ones that were filled in that way.
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    response_modes_supported: tuple[str, ...] = ("query", "fragment")
    response_types_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ("authorization_code", "implicit")
    derived_endpoints: frozenset[str] = field(default_factory=frozenset)


def _string_list(
    document: Mapping[str, Any], name: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DiscoveryError(f"OpenID configuration field {name} is not a list of strings")
    return tuple(value)


def _endpoint(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise DiscoveryError(f"OpenID configuration field {name} is not a URL")
    try:
        return require_secure_url(value, what=name)
    except ConfigurationError as exc:
        raise DiscoveryError(f"OpenID configuration field {name} is not usable: {exc}") from exc


def parse_provider_metadata(
    document: Mapping[str, Any], environment: Environment
) -> ProviderMetadata:
    """Check a discovery document against ``environment`` and keep what the toolkit needs.

    The ``issuer`` must equal ``environment.issuer`` character for character (no ``/login``
    suffix, no trailing slash, same case: protocol §2.1); every endpoint must be https (or http
    on loopback); the four core fields are required.
    """
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise DiscoveryError("OpenID configuration has no issuer")
    if issuer != environment.issuer:
        raise DiscoveryError(
            f"OpenID configuration issuer {issuer!r} is not the expected {environment.issuer!r}"
        )
    required = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        url = _endpoint(document, name)
        if url is None:
            raise DiscoveryError(f"OpenID configuration has no {name}")
        required[name] = url
    derived: set[str] = set()
    end_session = _endpoint(document, "end_session_endpoint")
    if end_session is None:
        # Only a third-party mock lists /login/logout (protocol §2.1 [S], open question 10).
        end_session = environment.logout_url
        derived.add("end_session_endpoint")
    revocation = _endpoint(document, "revocation_endpoint")
    if revocation is None:
        # Only a third-party mock lists /login/common/oauth/revoke (open question 10).
        revocation = environment.revocation_url
        derived.add("revocation_endpoint")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=required["authorization_endpoint"],
        token_endpoint=required["token_endpoint"],
        jwks_uri=required["jwks_uri"],
        end_session_endpoint=end_session,
        revocation_endpoint=revocation,
        # Defaults are OpenID Connect Discovery 1.0 §3's for absent fields.
        response_modes_supported=_string_list(
            document, "response_modes_supported", ("query", "fragment")
        ),
        response_types_supported=_string_list(document, "response_types_supported", ()),
        code_challenge_methods_supported=_string_list(
            document, "code_challenge_methods_supported", ()
        ),
        token_endpoint_auth_methods_supported=_string_list(
            document, "token_endpoint_auth_methods_supported", ("client_secret_basic",)
        ),
        id_token_signing_alg_values_supported=_string_list(
            document, "id_token_signing_alg_values_supported", ()
        ),
        scopes_supported=_string_list(document, "scopes_supported", ()),
        grant_types_supported=_string_list(
            document, "grant_types_supported", ("authorization_code", "implicit")
        ),
        derived_endpoints=frozenset(derived),
    )


def fetch_provider_metadata(client: httpx.Client, environment: Environment) -> ProviderMetadata:
    """GET ``environment.discovery_url`` and :func:`parse_provider_metadata` it."""
    document = get_json(client, environment.discovery_url, "OpenID configuration")
    if not isinstance(document, Mapping):
        raise DiscoveryError("OpenID configuration is not a JSON object")
    metadata = parse_provider_metadata(document, environment)
    logger.debug("fetched OpenID configuration for issuer %s", metadata.issuer)
    return metadata
