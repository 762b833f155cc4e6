"""Who may operate the dashboard: the operator allow-list, roles, and the sign-in configuration.

The dashboard signs operators in with Streamlit's built-in OpenID Connect login (``st.login``),
configured in a ``secrets.toml`` file with an ``[auth]`` section. This module holds everything
about that which is not Streamlit: no Streamlit import here, so it is typed, unit-tested and
shared by the dashboard (through ``dashboard/data.py``), ``sotk dashboard`` and ``make run``.

**Allow-list** (``SOTK_OPERATORS``): ``"email:role,email:role"`` or JSON
(``{"email": "role"}`` or ``[{"identity": "email", "role": "role"}]``). Roles:

* ``viewer``: sees every page and table and may export the audit trail as CSV; no action that
  changes anything or contacts SuperOffice on the toolkit's behalf (no Check state, no Plan);
* ``operator``: everything a viewer may, plus the actions in :data:`OPERATOR_ACTIONS`.

**Identity.** An operator is resolved from the validated id_token claims Streamlit keeps
(``st.user``): the ``email`` claim when the provider says ``email_verified`` is true, else the
``sub`` claim. The issuer is already checked by Streamlit (Authlib compares ``iss`` with the
provider's discovery document), and ``SOTK_OPERATOR_ISSUER``, when set, pins it once more here so
an allow-listed ``sub`` cannot be claimed through another provider configured later. SuperID sends
no ``email_verified`` (and no top-level ``email``); its ``sub`` is the user's SuperID login name
(an email address), unique within its issuer, so for SuperID the allow-list names ``sub`` values.

**Cookie secret.** Streamlit signs its identity cookie with ``[auth].cookie_secret``: shorter
than :data:`MIN_COOKIE_SECRET_BYTES` and the dashboard refuses to start.

**Without ``[auth]``** the dashboard is unauthenticated: it serves on loopback only
(:func:`require_loopback_unless_authenticated`) and says so on every page.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from toolkit.config import is_loopback_host
from toolkit.errors import ConfigurationError, InputFileError
from toolkit.files import read_limited_text

__all__ = [
    "AUTH_KEYS",
    "MIN_COOKIE_SECRET_BYTES",
    "OPERATOR_ACTIONS",
    "ROLES",
    "SIGN_IN_EVENTS",
    "AuditRecorder",
    "AuthSettings",
    "Operator",
    "can",
    "check_dashboard_launch",
    "default_secrets_files",
    "generate_cookie_secret",
    "load_auth_settings",
    "parse_operators",
    "read_auth_section",
    "record_sign_in_event",
    "require_loopback_unless_authenticated",
    "resolve_operator",
    "secrets_toml",
    "write_secrets_file",
]

VIEWER: Final = "viewer"
OPERATOR: Final = "operator"
ROLES: Final = (VIEWER, OPERATOR)
# What only operators may do; everything else in the dashboard is reading.
OPERATOR_ACTIONS: Final = frozenset(
    {
        "add_application",
        "install",
        "renew_ticket",
        "check_state",
        "check_drift",  # plans every tenant: a call to each tenant's SuperOffice
        "store_manifest",
        "plan",
        "apply",
        "uninstall",
        "revoke",
        "retry_job",
        "cancel_job",
    }
)
# Streamlit signs the identity cookie with this secret; 32 bytes is HMAC-SHA256's key size.
MIN_COOKIE_SECRET_BYTES: Final = 32
# The [auth] keys Streamlit needs for a single OIDC provider.
AUTH_KEYS: Final = (
    "redirect_uri",
    "cookie_secret",
    "client_id",
    "client_secret",
    "server_metadata_url",
)
# Owner read/write only: the file holds the client secret and the cookie secret.
SECRETS_FILE_MODE: Final = 0o600


@dataclass(frozen=True)
class Operator:
    """A signed-in person on the allow-list: ``identity`` is the matched email or subject."""

    identity: str
    role: str
    name: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR


def can(role: str | None, action: str) -> bool:
    """True when ``role`` may perform ``action``; ``None`` (no auth configured: the loopback
    dashboard of one local user) may do everything."""
    if role is None or role == OPERATOR:
        return True
    return action not in OPERATOR_ACTIONS


def _entry(identity: Any, role: Any) -> tuple[str, str]:
    if not isinstance(identity, str) or not identity.strip():
        raise ConfigurationError("SOTK_OPERATORS: every entry needs an email or subject")
    if role not in ROLES:
        raise ConfigurationError(
            f"SOTK_OPERATORS: role of {identity.strip()!r} must be one of {', '.join(ROLES)}"
        )
    return identity.strip().casefold(), str(role)


def parse_operators(text: str | None) -> dict[str, str]:
    """The allow-list: identity (casefolded) -> role. Empty when ``text`` is empty."""
    if text is None or not text.strip():
        return {}
    stripped = text.strip()
    pairs: list[tuple[str, str]] = []
    if stripped[0] in "[{":
        try:
            loaded = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"SOTK_OPERATORS is not valid JSON: {exc.msg}") from None
        if isinstance(loaded, dict):
            pairs = [_entry(key, value) for key, value in loaded.items()]
        elif isinstance(loaded, list):
            for item in loaded:
                if not isinstance(item, dict):
                    raise ConfigurationError("SOTK_OPERATORS: a JSON list holds objects")
                pairs.append(_entry(item.get("identity") or item.get("email"), item.get("role")))
        else:
            raise ConfigurationError("SOTK_OPERATORS: JSON must be an object or a list")
    else:
        for part in stripped.split(","):
            if not part.strip():
                continue
            identity, separator, role = part.strip().rpartition(":")
            if not separator:
                raise ConfigurationError(
                    f"SOTK_OPERATORS: {part.strip()!r} is not 'email:role' "
                    f"(role one of {', '.join(ROLES)})"
                )
            pairs.append(_entry(identity, role.strip()))
    allowed: dict[str, str] = {}
    for identity, role in pairs:
        if identity in allowed and allowed[identity] != role:
            raise ConfigurationError(f"SOTK_OPERATORS names {identity!r} twice, with two roles")
        allowed[identity] = role
    return allowed


def _verified(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def resolve_operator(
    claims: Mapping[str, Any],
    allowed: Mapping[str, str],
    *,
    trusted_issuer: str | None = None,
) -> Operator | None:
    """The allow-listed operator the claims belong to, or None (not allowed, or not signed in).

    Matches the ``email`` claim only when ``email_verified`` is true, and the ``sub`` claim
    always (see the module doc); ``trusted_issuer``, when given, must equal ``iss``.
    """
    if trusted_issuer is not None:
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer.rstrip("/") != trusted_issuer.rstrip("/"):
            return None
    candidates: list[str] = []
    email = claims.get("email")
    if isinstance(email, str) and email and _verified(claims.get("email_verified")):
        candidates.append(email)
    subject = claims.get("sub")
    if isinstance(subject, str) and subject:
        candidates.append(subject)
    for identity in candidates:
        role = allowed.get(identity.strip().casefold())
        if role is not None:
            name = claims.get("name")
            return Operator(identity.strip(), role, name if isinstance(name, str) else None)
    return None


@dataclass(frozen=True)
class AuthSettings:
    """The ``[auth]`` section's non-secret facts (never the client or cookie secret)."""

    redirect_uri: str
    client_id: str
    server_metadata_url: str


def load_auth_settings(auth: Mapping[str, Any] | None) -> AuthSettings | None:
    """Check an ``[auth]`` section (as read from secrets.toml); None when there is none.

    Raises :class:`~toolkit.errors.ConfigurationError` (which never quotes a secret) when a key
    is missing, the cookie secret is shorter than :data:`MIN_COOKIE_SECRET_BYTES`, or the
    redirect URI is not Streamlit's ``/oauth2callback``.
    """
    if auth is None or not auth:
        return None
    missing = [key for key in AUTH_KEYS if not auth.get(key)]
    if missing:
        raise ConfigurationError(
            f"the dashboard's [auth] secrets lack {', '.join(missing)}; operators cannot sign in"
        )
    cookie_secret = auth["cookie_secret"]
    if not isinstance(cookie_secret, str) or len(cookie_secret.encode()) < MIN_COOKIE_SECRET_BYTES:
        raise ConfigurationError(
            f"the dashboard's [auth] cookie_secret must be at least {MIN_COOKIE_SECRET_BYTES} "
            "bytes (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    redirect_uri = str(auth["redirect_uri"])
    if not redirect_uri.endswith("/oauth2callback"):
        raise ConfigurationError("the dashboard's [auth] redirect_uri must end in /oauth2callback")
    return AuthSettings(
        redirect_uri=redirect_uri,
        client_id=str(auth["client_id"]),
        server_metadata_url=str(auth["server_metadata_url"]),
    )


def read_auth_section(paths: Iterable[Path]) -> Mapping[str, Any] | None:
    """The ``[auth]`` section of the first of ``paths`` that exists and has one (the way the
    dashboard's Streamlit reads them: later files win, so they are searched last to first)."""
    for path in reversed(list(paths)):
        if not path.is_file():
            continue
        try:  # bounded: a settings file is a few lines; RecursionError: nesting in the TOML
            loaded = tomllib.loads(read_limited_text(path, what="dashboard secrets file"))
        except (InputFileError, tomllib.TOMLDecodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ConfigurationError(
                f"cannot read the dashboard secrets {path}: {reason}"
            ) from None
        auth = loaded.get("auth")
        if isinstance(auth, dict) and auth:
            return auth
    return None


def require_loopback_unless_authenticated(host: str, auth: AuthSettings | None) -> None:
    """Refuse to serve an unauthenticated dashboard anywhere but loopback."""
    if auth is None and not is_loopback_host(host):
        raise ConfigurationError(
            f"the dashboard has no [auth] configured, so it serves on loopback only, not {host!r};"
            " configure operator sign-in (see the README) or use --host 127.0.0.1"
        )


def default_secrets_files(cwd: Path | None = None) -> list[Path]:
    """Where Streamlit looks for secrets.toml when not told: ``~/.streamlit/`` then
    ``./.streamlit/`` (the later wins)."""
    return [
        Path.home() / ".streamlit" / "secrets.toml",
        (cwd or Path.cwd()) / ".streamlit" / "secrets.toml",
    ]


def check_dashboard_launch(
    host: str, secrets_files: Iterable[Path], operators: str | None
) -> AuthSettings | None:
    """What ``sotk dashboard`` and the local stack check before starting Streamlit.

    Refuses (:class:`~toolkit.errors.ConfigurationError`) a broken ``[auth]`` (short cookie
    secret, missing keys), sign-in without any allow-listed operator, an invalid allow-list,
    and an unauthenticated dashboard on a non-loopback address. Returns the sign-in settings,
    or None when the dashboard runs unauthenticated (on loopback).
    """
    auth = load_auth_settings(read_auth_section(secrets_files))
    allowed = parse_operators(operators)
    if auth is not None and not allowed:
        raise ConfigurationError(
            "operator sign-in is configured but SOTK_OPERATORS allow-lists nobody; "
            "set it to 'email:operator,email:viewer'"
        )
    require_loopback_unless_authenticated(host, auth)
    return auth


def generate_cookie_secret() -> str:
    """A fresh cookie secret: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(MIN_COOKIE_SECRET_BYTES)


def _toml_string(value: str) -> str:
    # JSON's string escapes (\" \\ \n \uXXXX) are all valid in a TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def secrets_toml(
    *,
    redirect_uri: str,
    cookie_secret: str,
    client_id: str,
    client_secret: str,
    server_metadata_url: str,
    prompt: str | None = None,
) -> str:
    """A Streamlit secrets.toml with one OIDC provider in ``[auth]``; ``prompt`` becomes the
    authorize request's OIDC ``prompt`` (``client_kwargs``) instead of Streamlit's default
    ``select_account``."""
    values = {
        "redirect_uri": redirect_uri,
        "cookie_secret": cookie_secret,
        "client_id": client_id,
        "client_secret": client_secret,
        "server_metadata_url": server_metadata_url,
    }
    load_auth_settings(values)  # refuse to write what the dashboard would refuse to read
    lines = ["# Generated by the superoffice toolkit; holds secrets: never commit it.", "[auth]"]
    lines += [f"{key} = {_toml_string(value)}" for key, value in values.items()]
    if prompt is not None:
        lines.append(f"client_kwargs = {{ prompt = {_toml_string(prompt)} }}")
    return "\n".join(lines) + "\n"


def write_secrets_file(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (0600), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRETS_FILE_MODE)
    try:
        os.fchmod(descriptor, SECRETS_FILE_MODE)  # an older .tmp may have had other bits
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return path


# The dashboard's sign-in events in the audit trail (issue 15): ``operator.signed_in``,
# ``operator.signed_out``, ``operator.refused`` (an account off the allow-list).
SIGN_IN_EVENTS: Final = ("signed_in", "signed_out", "refused")


class AuditRecorder(Protocol):
    """What recording a sign-in event needs of the store (``Repository.record_audit``)."""

    def record_audit(
        self,
        actor: str,
        action: str,
        *,
        application: str | None = None,
        context_identifier: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> Any: ...


def record_sign_in_event(
    store: AuditRecorder,
    identity: str | None,
    event: Literal["signed_in", "signed_out", "refused"],
    *,
    role: str | None = None,
    issuer: str | None = None,
) -> None:
    """Audit an operator's sign-in, sign-out or refusal: the actor is the identity the
    provider vouched for (``unknown`` when it named none); the role and issuer go in the
    summary. Never a token or a claim beyond those."""
    if event not in SIGN_IN_EVENTS:
        raise ConfigurationError(f"sign-in event must be one of {', '.join(SIGN_IN_EVENTS)}")
    summary: dict[str, Any] = {}
    if role is not None:
        summary["role"] = role
    if issuer is not None:
        summary["issuer"] = issuer
    store.record_audit(identity or "unknown", f"operator.{event}", summary=summary)
