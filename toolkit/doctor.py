"""``sotk doctor``'s checks, as a toolkit service: what is wrong with this setup, and what to do.

:func:`run_checks` looks at the configuration, the database (reachable? schema at the newest
version?), the secret key ring (does it open this store? is the key file private? do the stored
secrets decrypt?), each registered application's private key, and the configured environment's
discovery document, JWKS and state API. It returns :class:`Check` results and never raises for
what it finds; front ends print them (``sotk doctor``) or show them (the dashboard).

The checks change nothing: the embedded SQLite file is opened read-only (``?mode=ro``), no
migration runs, no key file is created, the key ring canary is only read. Network checks use
short timeouts and no retries. No detail or fix ever holds a secret: key ids, fingerprints,
paths and password-free URLs only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import Engine

from toolkit.applications import EMULATOR_APPS_PATH
from toolkit.auth.jwks import JwksCache
from toolkit.auth.oidc import fetch_provider_metadata
from toolkit.config import EMULATOR, Environment, Settings, is_loopback_host
from toolkit.errors import ToolkitError
from toolkit.http import HttpTimeouts, create_client, url_for_error
from toolkit.installation import CALLBACK_PATH
from toolkit.keys import key_fingerprint, load_private_key
from toolkit.store import Application, KeyRing, Repository, SecretBox, create_engine_for
from toolkit.store.database import DATABASE_FILE_NAME, describe_url
from toolkit.store.migrations import _config, head_version, schema_version
from toolkit.store.repository import is_sealed
from toolkit.tenant.status import TenantState, TenantStatusClient
from toolkit.tenant_events import state_change_path

__all__ = ["DOCTOR_TIMEOUTS", "RECOMMENDED_KEY_BITS", "Check", "CheckStatus", "run_checks"]

# Doctor asks each service once and fast: a healthy endpoint answers in well under a second.
DOCTOR_TIMEOUTS = HttpTimeouts(connect=3.0, read=5.0, write=5.0, pool=5.0)
# Smaller application keys still load (the Developer Portal once issued 1024-bit keys) but are
# weak; SuperOffice's own keys are RSA 2048 (protocol §4.6).
RECOMMENDED_KEY_BITS = 2048


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but should be looked at
    FAIL = "fail"  # does not work: `sotk doctor` exits 1
    SKIP = "skip"  # could not be checked (nothing to check, or an earlier check failed)


@dataclass(frozen=True)
class Check:
    """One finding: ``fix`` says what to do when the status is not ok."""

    name: str
    status: CheckStatus
    detail: str
    fix: str | None = None


class _Report:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add(self, name: str, status: CheckStatus, detail: str, fix: str | None = None) -> None:
        self.checks.append(Check(name, status, detail, fix))

    def failed(self, name: str) -> bool:
        return any(c.name == name and c.status is CheckStatus.FAIL for c in self.checks)


def run_checks(
    settings: Settings | None = None,
    *,
    http: httpx.Client | None = None,
    load_settings: Callable[[], Settings] = Settings,
) -> list[Check]:
    """Every check, in order. ``settings`` None loads them (``SOTK_*``, ``.env``) as a check."""
    report = _Report()
    if settings is None:
        try:
            settings = load_settings()
        except ValidationError as error:
            fields = ", ".join(
                "SOTK_"
                + ".".join(str(part) for part in item.get("loc", ())).upper()
                + f" ({item.get('msg', 'invalid')})"
                for item in error.errors()
            )
            report.add(
                "settings",
                CheckStatus.FAIL,
                f"the settings are not usable: {fields}",
                "correct these SOTK_* variables (environment or .env)",
            )
            return report.checks
    environment = _check_settings(report, settings)
    engine = _database_engine(report, settings)
    repository: Repository | None = None
    try:
        if engine is not None:
            at_head = _check_schema(report, engine)
            _check_job_engine(report, engine)
            repository = _check_key_ring(report, settings, engine, at_head=at_head)
        else:
            report.add("key ring", CheckStatus.SKIP, "the database could not be checked")
        if repository is not None:
            _check_secrets(report, repository)
            _check_application_keys(report, repository)
        else:
            report.add("stored secrets", CheckStatus.SKIP, "the key ring could not be checked")
            report.add("application keys", CheckStatus.SKIP, "the key ring could not be checked")
        if environment is not None:
            owns_http = http is None
            client = http if http is not None else create_client(timeout=DOCTOR_TIMEOUTS)
            try:
                _check_environment(report, environment, client, repository)
                _check_application_urls(report, settings, repository, client)
            finally:
                if owns_http:
                    client.close()
    finally:
        if engine is not None:
            engine.dispose()
    return report.checks


# -- configuration ----------------------------------------------------------------------------


def _check_settings(report: _Report, settings: Settings) -> Environment | None:
    try:
        environment = settings.superoffice_environment()
    except ToolkitError as error:
        report.add(
            "environment",
            CheckStatus.FAIL,
            str(error),
            "set SOTK_ENVIRONMENT (sod, qaonline, online) or SOTK_EMULATOR_URL",
        )
        return None
    if environment.is_emulator:
        report.add(
            "environment",
            CheckStatus.OK,
            f"the emulator at {url_for_error(environment.base_url)} (SOTK_EMULATOR_URL)",
        )
    else:
        report.add("environment", CheckStatus.OK, f"{environment.name} ({environment.base_url})")
    public = httpx.URL(settings.public_url)
    if public.scheme == "https":
        report.add("public_url", CheckStatus.OK, settings.public_url)
    elif is_loopback_host(public.host) and not environment.is_emulator:
        report.add(
            "public_url",
            CheckStatus.WARN,
            f"{settings.public_url} is a loopback address: only this machine's browser reaches "
            f"it, and {environment.name} needs https redirect URLs",
            "set SOTK_PUBLIC_URL to the https address at which your partner endpoints are served",
        )
    else:
        report.add("public_url", CheckStatus.OK, f"{settings.public_url} (loopback, plain http)")
    return environment


# -- database ---------------------------------------------------------------------------------


def _database_engine(report: _Report, settings: Settings) -> Engine | None:
    if settings.database_url:
        url = settings.database_url
        shown = describe_url(url)
    else:
        path = (Path(settings.home) / DATABASE_FILE_NAME).resolve()
        shown = str(path)
        if not path.exists():
            report.add(
                "database",
                CheckStatus.WARN,
                f"no store yet at {path}",
                "it is created at the first start of any command (e.g. `sotk app list`); "
                "check SOTK_HOME if you expected one there",
            )
            return None
        url = f"sqlite:///{path}?mode=ro"  # look, never touch
    try:
        engine = create_engine_for(url, home=Path(settings.home))
        version = schema_version(engine)
    except (ToolkitError, OSError) as error:
        report.add(
            "database",
            CheckStatus.FAIL,
            f"{shown}: {error}",
            "check SOTK_DATABASE_URL, that the server runs and accepts this user, or the "
            "file's folder, permissions and free space",
        )
        return None
    report.add("database", CheckStatus.OK, f"{shown} is reachable (schema {version or 'empty'})")
    return engine


def _check_schema(report: _Report, engine: Engine) -> bool:
    head = head_version()
    version = schema_version(engine)
    if version == head:
        report.add("schema", CheckStatus.OK, f"at the newest version {head}")
        return True
    script = ScriptDirectory.from_config(_config())
    known = {revision.revision for revision in script.walk_revisions()}
    if version is not None and version not in known:
        report.add(
            "schema",
            CheckStatus.FAIL,
            f"the database is at version {version}, which this toolkit does not know "
            f"(newest here: {head})",
            "upgrade the toolkit to the version that wrote this database",
        )
        return False
    pending = [
        revision.revision
        for revision in script.iterate_revisions(head, version)  # newest first
    ][::-1]
    report.add(
        "schema",
        CheckStatus.WARN,
        f"at version {version or 'none (empty database)'}; pending: {', '.join(pending)}",
        "the pending migrations run at the next start of any command (e.g. `sotk app list`)",
    )
    return False


def _check_job_engine(report: _Report, engine: Engine) -> None:
    """The job engine's tables (DBOS's, created by the first worker or job client)."""
    from sqlalchemy import inspect, text

    from toolkit.jobs.engine import jobs_schema

    schema = jobs_schema(engine.url.render_as_string(hide_password=False))
    where = "beside the store's" if schema is None else f"in schema {schema!r}"
    try:
        tables = set(inspect(engine).get_table_names(schema=schema))
        version = None
        if "dbos_migrations" in tables:
            prefix = "" if schema is None else f'"{schema}".'
            with engine.connect() as connection:
                version = connection.execute(
                    text(f"SELECT version FROM {prefix}dbos_migrations")  # noqa: S608 - constant
                ).scalar()
    except Exception as error:  # the database check above reports the connection itself
        report.add("job engine", CheckStatus.FAIL, f"its tables cannot be read: {error}")
        return
    if "workflow_status" not in tables:
        # Nothing is wrong: the first worker (`sotk worker`, `make run`) or enqueued job
        # (`sotk provision apply --all`) creates them.
        report.add("job engine", CheckStatus.OK, f"no tables {where} yet (no job has run)")
        return
    report.add(
        "job engine", CheckStatus.OK, f"its tables are {where} (DBOS schema version {version})"
    )


# -- secrets at rest --------------------------------------------------------------------------


def _check_key_ring(
    report: _Report, settings: Settings, engine: Engine, *, at_head: bool
) -> Repository | None:
    sealed = at_head and is_sealed(engine)
    key_file = KeyRing.key_file(Path(settings.home))
    try:
        if settings.secret_keys is not None and settings.secret_keys.get_secret_value().strip():
            keyring = KeyRing.from_text(settings.secret_keys.get_secret_value())
            source = "SOTK_SECRET_KEYS"
        elif key_file.exists():
            keyring = KeyRing.load(Path(settings.home))
            source = str(key_file)
        else:
            if sealed:
                report.add(
                    "key ring",
                    CheckStatus.FAIL,
                    f"the store holds secrets but there is no key: neither SOTK_SECRET_KEYS nor "
                    f"{key_file}",
                    f"restore {key_file} from your backup (mode 0600) or set SOTK_SECRET_KEYS",
                )
            else:
                report.add(
                    "key ring",
                    CheckStatus.WARN,
                    f"no key yet; {key_file} is created (mode 0600) at the first start",
                    "back the key file up once it exists, or set SOTK_SECRET_KEYS",
                )
            return None
    except ToolkitError as error:
        fix = "set SOTK_SECRET_KEYS to 'kid:BASE64KEY[,kid:BASE64KEY...]' (sotk secrets ...)"
        if "mode" in str(error) and key_file.exists():
            fix = f"chmod 600 {key_file}"
        report.add("key ring", CheckStatus.FAIL, str(error), fix)
        return None
    summary = f"{len(keyring)} key(s) from {source}, current {keyring.current_kid!r}"
    if source != "SOTK_SECRET_KEYS" and os.name == "posix":
        mode = stat.S_IMODE(key_file.stat().st_mode)
        summary += f", file mode {mode:04o}"
    if not at_head:
        report.add("key ring", CheckStatus.OK, summary + " (not checked against the store yet)")
        return None
    repository = Repository(engine, SecretBox(keyring))
    if not sealed:
        report.add("key ring", CheckStatus.OK, summary + "; the store holds no secrets yet")
        return repository
    try:
        repository.verify_key_ring()
    except ToolkitError as error:
        report.add(
            "key ring",
            CheckStatus.FAIL,
            str(error),
            "use the key ring this store was sealed with: put its key (same kid, same key) in "
            "SOTK_SECRET_KEYS or restore the secret.key file; never start with a new key",
        )
        return None
    report.add("key ring", CheckStatus.OK, summary + "; it opens this store")
    return repository


def _check_secrets(report: _Report, repository: Repository) -> None:
    try:
        unreadable = repository.verify_secrets()
    except ToolkitError as error:
        report.add("stored secrets", CheckStatus.FAIL, str(error), "see the database check")
        return
    if not unreadable:
        report.add("stored secrets", CheckStatus.OK, "every stored secret decrypts")
        return
    kids = sorted({item.kid for item in unreadable if item.kid})
    where = sorted({f"{item.table}.{item.column}" for item in unreadable})
    report.add(
        "stored secrets",
        CheckStatus.FAIL,
        f"{len(unreadable)} stored secret(s) cannot be decrypted ({', '.join(where)}; "
        f"key ids {', '.join(kids) or 'none'})",
        "add the missing keys to SOTK_SECRET_KEYS, then run `sotk secrets rotate`; "
        "`sotk secrets verify` lists the rows",
    )


def _check_application_keys(report: _Report, repository: Repository) -> None:
    applications = repository.list_applications()
    if not applications:
        report.add("application keys", CheckStatus.SKIP, "no applications registered")
        return
    for application in applications:
        name = f"key of {application.name!r}"
        if application.private_key is None:
            report.add(
                name,
                CheckStatus.SKIP,
                "no private key stored: the system user flow is not available for it",
            )
            continue
        try:
            private_key = load_private_key(application.private_key.reveal())
        except ToolkitError as error:
            report.add(
                name,
                CheckStatus.FAIL,
                f"the stored private key cannot be used: {error}",
                "register the application again with the key file the Developer Portal issued "
                "(`sotk key inspect FILE` checks a file first)",
            )
            continue
        fingerprint = key_fingerprint(private_key)
        detail = f"RSA {private_key.key_size} bits, fingerprint {fingerprint}"
        if application.key_fingerprint and application.key_fingerprint != fingerprint:
            report.add(
                name,
                CheckStatus.FAIL,
                f"{detail}, but {application.key_fingerprint} was recorded at registration",
                "register the application again with its own key",
            )
        elif private_key.key_size < RECOMMENDED_KEY_BITS:
            report.add(
                name,
                CheckStatus.WARN,
                f"{detail}: below {RECOMMENDED_KEY_BITS} bits",
                "ask for a new 2048-bit key pair in the Developer Portal and register it",
            )
        else:
            report.add(name, CheckStatus.OK, detail)


# -- where SuperOffice sends each application's administrators and notifications -------------


def _check_application_urls(
    report: _Report, settings: Settings, repository: Repository | None, http: httpx.Client
) -> None:
    """Each application's redirect URI against ``SOTK_PUBLIC_URL`` + ``/callback``, and its
    state-change URL against ``{SOTK_PUBLIC_URL}/state-change/{client id}``: a mismatch only
    shows otherwise as SuperID's "InvalidRedirectUrl (2)" page, or as notifications that never
    come. An emulator application's registration is read back from the emulator."""
    if repository is None:
        return  # the key ring check already said why nothing is read from the store
    # The partner endpoints' base: SOTK_PUBLIC_URL and their mount prefix (SOTK_PARTNER_PREFIX).
    public_url = settings.public_url.rstrip("/") + settings.partner_prefix
    for application in repository.list_applications():
        registration = _emulator_registration(application, http)
        _check_redirect_uri(report, application, public_url, registration)
        _check_state_change_url(report, application, public_url, registration)


def _emulator_registration(application: Application, http: httpx.Client) -> dict[str, Any] | None:
    """What the emulator has registered for an emulator application (None otherwise, or when
    it cannot be read: the environment checks report an unreachable emulator)."""
    if application.environment != EMULATOR or not application.environment_url:
        return None
    url = (
        f"{application.environment_url.rstrip('/')}{EMULATOR_APPS_PATH}/"
        f"{quote(application.client_id, safe='')}"
    )
    try:
        response = http.get(url)
        answer = response.json() if response.is_success else None
    except (httpx.HTTPError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def _origin(url: str) -> str:
    parts = httpx.URL(url)
    return f"{parts.scheme}://{parts.netloc.decode('ascii', 'replace')}"


def _check_redirect_uri(
    report: _Report,
    application: Application,
    public_url: str,
    registration: dict[str, Any] | None,
) -> None:
    name = f"redirect URI of {application.name!r}"
    callback = public_url + CALLBACK_PATH
    uri = application.redirect_uri
    if not uri:
        report.add(
            name,
            CheckStatus.FAIL,
            "none stored: it cannot be installed",
            f"register it again with the redirect URI {callback}",
        )
        return
    registered = registration.get("redirect_urls") if registration is not None else None
    if isinstance(registered, list) and uri not in registered:
        report.add(
            name,
            CheckStatus.FAIL,
            f"{uri} is not among the redirect URLs the emulator registered for it "
            f"({', '.join(str(u) for u in registered) or 'none'}): SuperID refuses the install "
            "(InvalidRedirectUrl)",
            "register the application at the emulator again with this redirect URI",
        )
        return
    if uri == callback:
        report.add(name, CheckStatus.OK, f"{uri} (/callback at SOTK_PUBLIC_URL)")
        return
    if _origin(uri) == _origin(public_url):
        report.add(
            name,
            CheckStatus.WARN,
            f"{uri} is not {callback}: SuperID sends the administrator to another path than "
            "the partner endpoints' callback",
            f"serve the callback at {httpx.URL(uri).path} (a mount prefix?) or register {callback}",
        )
        return
    hosts = {httpx.URL(uri).host, httpx.URL(public_url).host}
    alias = (
        " (localhost and 127.0.0.1 are different URLs to SuperID: they must match exactly)"
        if all(is_loopback_host(host) for host in hosts)
        else ""
    )
    report.add(
        name,
        CheckStatus.FAIL,
        f"{uri} is registered, but the partner endpoints are at {public_url} (SOTK_PUBLIC_URL): "
        f"installs come back to {_origin(uri)}, not to them{alias}",
        f"set SOTK_PUBLIC_URL to {_origin(uri)}, or register {callback} as the application's "
        "redirect URI (Developer Portal, then `sotk app add` again)",
    )


def _check_state_change_url(
    report: _Report,
    application: Application,
    public_url: str,
    registration: dict[str, Any] | None,
) -> None:
    name = f"state-change URL of {application.name!r}"
    expected = public_url + state_change_path(application.client_id)
    if application.environment != EMULATOR:
        # The Developer Portal's setting cannot be read back.
        report.add(
            name,
            CheckStatus.SKIP,
            f'register {expected} as its "Customer state change" URL in the Developer Portal',
        )
        return
    if registration is None:
        report.add(name, CheckStatus.SKIP, "the emulator's registration could not be read")
        return
    actual = registration.get("state_change_url")
    if actual == expected:
        report.add(name, CheckStatus.OK, f"{expected} (registered at the emulator)")
    elif not actual:
        report.add(
            name,
            CheckStatus.WARN,
            "the emulator has no state-change URL for it: tenant changes never reach the "
            "partner endpoints",
            f"register {expected} (`sotk app add --emulator` does, with SOTK_PUBLIC_URL set)",
        )
    else:
        report.add(
            name,
            CheckStatus.FAIL,
            f"the emulator sends its notifications to {actual}, not to {expected}",
            f"register {expected} as its state-change URL at the emulator, or set "
            "SOTK_PUBLIC_URL to where those notifications go",
        )


# -- the environment --------------------------------------------------------------------------


def _check_environment(
    report: _Report, environment: Environment, http: httpx.Client, repository: Repository | None
) -> None:
    reach = (
        "check the network, proxy and SOTK_EMULATOR_URL (is the emulator running?)"
        if environment.is_emulator
        else "check the network and proxy, and SOTK_ENVIRONMENT"
    )
    try:
        metadata = fetch_provider_metadata(http, environment)
    except ToolkitError as error:
        report.add("discovery", CheckStatus.FAIL, str(error), reach)
        report.add("jwks", CheckStatus.SKIP, "the discovery document could not be read")
        report.add("state api", CheckStatus.SKIP, "the discovery document could not be read")
        return
    report.add(
        "discovery",
        CheckStatus.OK,
        f"{url_for_error(environment.discovery_url)}: issuer {metadata.issuer} as expected",
    )
    try:
        jwks = JwksCache(metadata.jwks_uri, http)
        jwks.refresh()
    except ToolkitError as error:
        report.add("jwks", CheckStatus.FAIL, str(error), reach)
    else:
        report.add(
            "jwks",
            CheckStatus.OK,
            f"{url_for_error(metadata.jwks_uri)}: {len(jwks.key_ids)} usable signing key(s)",
        )
    _check_state_api(report, environment, http, repository, reach)


def _check_state_api(
    report: _Report,
    environment: Environment,
    http: httpx.Client,
    repository: Repository | None,
    reach: str,
) -> None:
    tenant = _authorized_tenant(environment, repository)
    if tenant is None:
        report.add(
            "state api", CheckStatus.SKIP, f"no authorized tenant in {environment.name} to ask"
        )
        return
    try:
        status = TenantStatusClient(http, environment, retry=None).status(tenant)
    except ToolkitError as error:
        report.add("state api", CheckStatus.FAIL, str(error), reach)
        return
    where = url_for_error(environment.state_url(tenant))
    if status.is_available:
        report.add("state api", CheckStatus.OK, f"{where}: {tenant} is running")
    elif status.state is TenantState.Unknown:
        report.add(
            "state api",
            CheckStatus.WARN,
            f"{where}: the state API does not know {tenant}",
            "the tenant may have been deleted; revoke its authorization",
        )
    else:
        report.add(
            "state api",
            CheckStatus.WARN,
            f"{where}: {tenant} is {status.state_name or status.state.name}",
            "wait for the tenant to run again; work for it is refused meanwhile",
        )


def _authorized_tenant(environment: Environment, repository: Repository | None) -> str | None:
    """One active authorization's tenant among this environment's applications."""
    if repository is None:
        return None
    for application in repository.list_applications():
        same = (
            application.environment == environment.name
            if not environment.is_emulator
            else (application.environment_url or "").rstrip("/") == environment.base_url
        )
        if not same:
            continue
        for authorization in repository.list_authorizations(application.id, status="active"):
            return authorization.context_identifier
    return None
