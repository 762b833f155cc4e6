"""Configuration: SuperOffice environments and the toolkit's settings.

An :class:`Environment` carries every URL of one SuperOffice Online environment (protocol
reference §1, §2.1, §4.4, §4.5, §6), derived from its login host, so no other module builds
SuperOffice URLs by hand. :class:`Settings` reads ``SOTK_*`` environment variables and ``.env``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from toolkit.errors import ConfigurationError
from toolkit.files import MAX_TEXT_FILE_BYTES, read_limited
from toolkit.jobs.queues import (
    DEFAULT_GLOBAL_CONCURRENCY,
    DEFAULT_PER_HOST_CONCURRENCY,
    DEFAULT_PER_HOST_RATE,
    DEFAULT_WORKER_CONCURRENCY,
)
from toolkit.jobs.takeover import DEFAULT_TAKEOVER_SECONDS
from toolkit.jobs.upkeep_schedules import (
    DEFAULT_DRIFT_CHECK,
    DEFAULT_STATE_REFRESH,
    DEFAULT_TICKET_RENEWAL,
)

# An apply's lock lease (toolkit.provisioning.apply.LOCK_TTL, which says why), in seconds.
DEFAULT_LOCK_SECONDS = 120.0

# How old the store's copy of a tenant's list definitions a plan may use is
# (toolkit.provisioning.plan.LIST_CACHE, which says why), in seconds.
DEFAULT_LIST_CACHE_SECONDS = 600.0

# The un-numbered login hosts; numbered hosts (sod2, online3, ...) are for tenant data only and
# must never be used for authentication (protocol §1, SD:auth-api).
LOGIN_HOSTS = {
    "sod": "https://sod.superoffice.com",
    "qaonline": "https://qaonline.superoffice.com",
    "online": "https://online.superoffice.com",
}
# Older pages and samples call the stage environment "stage" (protocol §1, open question 11).
ENVIRONMENT_ALIASES = {"stage": "qaonline"}
EMULATOR = "emulator"

# Allowed token signing algorithms: SuperID signs with RS256 only (protocol §2.1).
DEFAULT_ALGORITHMS = ("RS256",)
# Clock skew tolerated when checking exp/nbf/iat; bounded so a typo cannot disable expiry.
DEFAULT_LEEWAY_SECONDS = 60
MAX_LEEWAY_SECONDS = 300


# SuperOffice's own domains: tenant hosts move between machines of these (protocol §1, §6).
SUPEROFFICE_DOMAINS = ("superoffice.com", "superoffice.net")
# What IDNA treats as a label separator besides "." (ideographic and full-width full stops).
_HOST_DOTS = re.compile("[\u3002\uff0e\uff61]")


def normalize_host(host: str) -> str:
    """``host`` as a resolver sees it: lower case, IDNA-mapped (full-width letters and dots
    folded), without the trailing dot of a fully qualified name (``sod.superoffice.com.`` is
    ``sod.superoffice.com``). Checks on hosts compare this form, never the raw text.

    A host that IDNA cannot encode is returned lower-cased and folded only.
    """
    folded = _HOST_DOTS.sub(".", host.strip().lower()).rstrip(".")
    try:
        return folded.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return folded


def is_superoffice_host(host: str) -> bool:
    """Whether ``host`` (in any spelling: case, trailing dot, IDNA) is one of SuperOffice's."""
    name = normalize_host(host)
    return any(name == domain or name.endswith(f".{domain}") for domain in SUPEROFFICE_DOMAINS)


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: the only hosts plain http is allowed to."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, *, what: str = "URL") -> str:
    """Return ``url`` unchanged if it is https, or http on loopback; else raise.

    Tokens, codes and secrets travel over these URLs, so plain http is refused anywhere a
    third party could listen.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an absolute http(s) URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"{what} uses plain http on a non-loopback host ({parts.hostname}); use https"
        )
    return url


@dataclass(frozen=True)
class Environment:
    """One SuperOffice Online environment (sod, qaonline, online) or a local emulator.

    ``base_url`` is the un-numbered login host, e.g. ``https://sod.superoffice.com``. It is
    also the id_token issuer: the issuer has no ``/login`` suffix (protocol §2.1).
    """

    name: str
    base_url: str

    def __post_init__(self) -> None:
        require_secure_url(self.base_url, what=f"environment {self.name!r} base URL")
        if self.base_url.endswith("/"):
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def named(cls, name: str) -> Environment:
        """``sod``, ``qaonline`` (alias ``stage``) or ``online``."""
        key = ENVIRONMENT_ALIASES.get(name.strip().lower(), name.strip().lower())
        if key not in LOGIN_HOSTS:
            known = ", ".join([*LOGIN_HOSTS, *ENVIRONMENT_ALIASES])
            raise ConfigurationError(f"unknown environment {name!r}; expected one of {known}")
        return cls(key, LOGIN_HOSTS[key])

    @classmethod
    def emulator(cls, base_url: str) -> Environment:
        """The local emulator listening at ``base_url`` (e.g. ``http://127.0.0.1:8765``)."""
        return cls(EMULATOR, base_url)

    @property
    def is_emulator(self) -> bool:
        return self.name == EMULATOR

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def authority(self) -> str:
        """The login service root that OIDC libraries are configured with."""
        return f"{self.base_url}/login"

    @property
    def discovery_url(self) -> str:
        return f"{self.authority}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.authority}/.well-known/jwks"

    @property
    def authorize_url(self) -> str:
        return f"{self.authority}/common/oauth/authorize"

    def tenant_authorize_url(self, context_identifier: str) -> str:
        """The tenant path: ``common`` replaced by the context identifier (protocol §2.2)."""
        return f"{self.authority}/{quote(context_identifier, safe='')}/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/common/oauth/tokens"

    @property
    def revocation_url(self) -> str:
        return f"{self.authority}/common/oauth/revoke"

    @property
    def logout_url(self) -> str:
        return f"{self.authority}/logout"

    def state_url(self, context_identifier: str) -> str:
        """The tenant state API (protocol §6)."""
        return f"{self.base_url}/api/state/{quote(context_identifier, safe='')}"

    @property
    def partner_system_user_url(self) -> str:
        """REST system user ticket exchange (protocol §4.4)."""
        return f"{self.base_url}/Login/api/PartnerSystemUser/Authenticate"

    @property
    def partner_system_user_soap_url(self) -> str:
        """SOAP system user ticket exchange (protocol §4.5)."""
        return f"{self.base_url}/login/services/PartnerSystemUserService.svc"


class Settings(BaseSettings):
    """The toolkit's settings, from ``SOTK_*`` environment variables and ``.env``.

    ``SOTK_EMULATOR_URL``, when set, points the toolkit at a local emulator instead of the
    named SuperOffice environment.
    """

    model_config = SettingsConfigDict(
        env_prefix="SOTK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    def __init__(self, **values: Any) -> None:
        # The .env file is read like every file a user names: regular and bounded, so a FIFO
        # or /dev/zero in its place is an InputFileError, not a hang or a MemoryError.
        env_file = values.get("_env_file", self.model_config.get("env_file"))
        files = env_file if isinstance(env_file, list | tuple) else [env_file]
        for file in files:
            if file is not None and os.path.exists(file):  # a missing .env is ignored
                read_limited(file, limit=MAX_TEXT_FILE_BYTES, what="settings file")
        super().__init__(**values)

    environment: str = Field(default="sod", description="sod, qaonline (stage) or online")
    emulator_url: str | None = Field(default=None, description="base URL of a local emulator")
    allowed_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    token_leeway_seconds: Annotated[int, Field(ge=0, le=MAX_LEEWAY_SECONDS)] = (
        DEFAULT_LEEWAY_SECONDS
    )
    http_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    http_connect_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    home: Path = Path(".toolkit")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite at {home}/toolkit.db"
    )
    secret_keys: SecretStr | None = Field(
        default=None, description="key ring 'kid:base64key,...', first current"
    )
    provision_after_install: bool = Field(
        default=True,
        description="apply the application's manifest right after a tenant installs it",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="base URL at which SuperID reaches the partner endpoints",
    )
    partner_prefix: str = Field(
        default="",
        description="path the partner endpoints are mounted under in the partner's own app "
        "('' = at the root, e.g. /superoffice); their URLs are public_url + this + path",
    )
    operators: str | None = Field(
        default=None,
        description="dashboard allow-list 'email:role,...' or JSON; roles viewer, operator",
    )
    operator_issuer: str | None = Field(
        default=None, description="when set, signed-in operators must come from this issuer"
    )
    dashboard_secrets: Path | None = Field(
        default=None, description="the dashboard's Streamlit secrets.toml ([auth] sign-in)"
    )
    # The job engine's queues (toolkit.jobs.queues has each default and why).
    jobs_global_concurrency: Annotated[int, Field(ge=1, le=10_000)] = DEFAULT_GLOBAL_CONCURRENCY
    jobs_worker_concurrency: Annotated[int, Field(ge=1, le=1_000)] = DEFAULT_WORKER_CONCURRENCY
    jobs_per_host_concurrency: Annotated[int, Field(ge=1, le=1_000)] = DEFAULT_PER_HOST_CONCURRENCY
    jobs_per_host_rate: Annotated[int, Field(ge=1, le=10_000)] = DEFAULT_PER_HOST_RATE
    jobs_takeover_seconds: Annotated[float, Field(ge=0, le=86_400)] = Field(
        default=DEFAULT_TAKEOVER_SECONDS,
        description="a worker resumes another's workflows silent this long (0: never)",
    )
    upkeep_state_refresh: str = Field(
        default=DEFAULT_STATE_REFRESH,
        description="cron (seconds first) of the tenants' state refresh; empty: off",
    )
    upkeep_ticket_renewal: str = Field(
        default=DEFAULT_TICKET_RENEWAL,
        description="cron (seconds first) of the renewal of tickets about to close; empty: off",
    )
    upkeep_drift_check: str = Field(
        default=DEFAULT_DRIFT_CHECK,
        description="cron (seconds first) of the drift check (a plan of every tenant); empty: off",
    )
    provisioning_lock_seconds: Annotated[float, Field(gt=0, le=3_600)] = Field(
        default=DEFAULT_LOCK_SECONDS,
        description="an apply's tenant lock lease; a dead holder's lock expires after it",
    )
    provisioning_list_cache_seconds: Annotated[float, Field(ge=0, le=7 * 86_400)] = Field(
        default=DEFAULT_LIST_CACHE_SECONDS,
        description="how old the store's copy of a tenant's list definitions a plan uses may be "
        "(0: every plan reads GET v1/List)",
    )
    worker_id: str | None = Field(
        default=None,
        description="a worker's executor identity; restart under it to resume its work",
    )

    @field_validator("upkeep_state_refresh", "upkeep_ticket_renewal", "upkeep_drift_check")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter  # type: ignore[import-untyped]

        value = value.strip()
        if value and not croniter.is_valid(value, second_at_beginning=True):
            raise ValueError("must be a cron expression (seconds first, 5 or 6 fields) or empty")
        return value

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        return Environment.named(value).name

    @field_validator("allowed_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Symmetric algorithms would let anyone holding the public key forge tokens.
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
        bad = [alg for alg in value if alg not in allowed]
        if bad or not value:
            raise ValueError(f"allowed_algorithms must be a non-empty subset of {sorted(allowed)}")
        return value

    @field_validator("public_url")
    @classmethod
    def _secure_public_url(cls, value: str) -> str:
        return require_secure_url(value, what="public_url").rstrip("/")

    @field_validator("partner_prefix")
    @classmethod
    def _plain_prefix(cls, value: str) -> str:
        from toolkit.partner_paths import PartnerPaths

        try:
            PartnerPaths(prefix=value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
        return value

    def superoffice_environment(self) -> Environment:
        """The environment every URL is derived from."""
        if self.emulator_url:
            return Environment.emulator(self.emulator_url)
        return Environment.named(self.environment)
