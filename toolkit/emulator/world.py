"""The emulated SuperOffice Online world: tenants, users, apps, authorizations and tokens.

One `World` per emulator, guarded by one re-entrant lock: request handlers (event loop) and the
Python API (test thread) both go through it. Persistent parts round-trip through JSON
(`--seed`, `--state`); login transactions, codes and SuperID sessions are ephemeral.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from toolkit.emulator.clock import Clock
from toolkit.emulator.errors import WorldError
from toolkit.emulator.tenant_data import TenantData, seeded_tenant_data, tenant_data_from_json

WORLD_FORMAT_VERSION = 1
# The state API's newest `Version` example (protocol §6).
DEFAULT_TENANT_VERSION = "Release_11.10_2026.02.24-02"
# Built-in state names (protocol §6); kept here so the world can validate them.
TENANT_STATES = (
    "Unknown",
    "Provisioning",
    "Running",
    "Deleted",
    "Suspended",
    "OnlineMaintenance",
    "OfflineMaintenance",
    "ProvisioningFailed",
    "Deleting",
    "DeleteFailed",
    "MigrationPending",
)
DEFAULT_HOSTS = ("sod2", "sod3")
APP_KINDS = ("standard", "custom")
# System user token suffix: "looks like 10 alphanumeric characters" (protocol §4.1) [I].
SYSTEM_TOKEN_SUFFIX_LENGTH = 10
_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass
class Tenant:
    ctx: str
    company_name: str
    serial: str
    # The name of the tenant host serving it ("sod2", "sod3": the emulator's numbered
    # sub-domains, protocol §1); None = the emulator's first tenant host.
    host: str | None = None
    # The state API's State name (protocol §6); see toolkit.emulator.tenant_state.
    state: str = "Running"
    version: str = DEFAULT_TENANT_VERSION
    # Upgrade with a duration: OfflineMaintenance until then, Running afterwards.
    maintenance_until: float | None = None


@dataclass
class Membership:
    ctx: str
    is_administrator: bool
    associate_id: int
    initials: str


@dataclass
class User:
    username: str  # = email = sub
    password: str
    memberships: list[Membership] = field(default_factory=list)

    def membership(self, ctx: str) -> Membership | None:
        for m in self.memberships:
            if m.ctx.lower() == ctx.lower():
                return m
        return None


@dataclass
class App:
    client_id: str
    client_secret_sha256: str
    name: str
    vendor: str
    consent_text: str
    kind: str
    tenant: str | None
    redirect_urls: list[str]
    post_logout_urls: list[str]
    state_change_url: str | None
    grant_system_token: bool
    public_key_pem: str | None
    created_at: float

    def check_secret(self, secret: str) -> bool:
        return hmac.compare_digest(hash_secret(secret), self.client_secret_sha256)

    def public_view(self) -> dict[str, Any]:
        data = asdict(self)
        del data["client_secret_sha256"]
        return data


@dataclass
class Authorization:
    """Application authorization record: one per app x tenant (protocol §3)."""

    client_id: str
    ctx: str
    approved_by: str
    approved_at: float
    system_token: str | None
    revoked: bool = False
    revoked_at: float | None = None
    # Set when the app changed to the system user context (or added webhooks / mirroring):
    # the exchange answers NeedsReapproval until an administrator approves again (§3).
    needs_reapproval: bool = False


@dataclass
class Ticket:
    """A system user ticket (`7T:...`, protocol §4.7), valid while used (sliding window)."""

    ticket: str
    client_id: str
    ctx: str
    issued_at: float
    last_used_at: float
    revoked: bool = False  # the authorization was revoked, or a test forced it to expire


@dataclass
class CredentialsRecord:
    """What SuperOffice writes on each and every exchange (protocol §4.7, SUC README)."""

    client_id: str
    ctx: str
    created_at: float


@dataclass
class RefreshToken:
    token: str
    client_id: str
    username: str
    ctx: str
    issued_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    username: str
    ctx: str
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass
class Quirks:
    # SD:validate's example id_token has iat as a string; RFC 7519 says number (the default).
    iat_as_string: bool = False
    # The state-change notification token's audience is undocumented (open question 16) and
    # SuperOffice's sample sets none, so by default it has no aud; this adds aud = client id, so
    # a client's "check aud only when present" rule can be exercised. [I]
    state_change_audience: bool = False


@dataclass
class LoginTransaction:
    """A pending authorize request, kept server-side while the user signs in."""

    id: str
    csrf: str
    client_id: str
    redirect_uri: str
    response_mode: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    tenant_hint: str | None
    login_hint: str | None
    expires_at: float
    username: str | None = None
    ctx: str | None = None
    # prompt=login: sign in afresh even with a SuperID session (OIDC Core §3.1.2.1) [I].
    force_login: bool = False


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    username: str
    ctx: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    expires_at: float
    used: bool = False


@dataclass
class Session:
    """A SuperID browser session (the cookie that skips the password on the next authorize)."""

    id: str
    username: str
    expires_at: float


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_system_token(app_name: str) -> str:
    suffix = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(SYSTEM_TOKEN_SUFFIX_LENGTH))
    return f"{app_name}-{suffix}"


class World:
    """All emulator state. Use the methods, or hold `lock` for multi-step reads."""

    def __init__(self, clock: Clock | None = None, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        # Tenant host names; their URLs are known once the listeners are bound (ephemeral).
        self.hosts = hosts
        self.host_urls: dict[str, str] = {}
        # Lists, list items and web panels per tenant (lower-case ctx), seeded on first use.
        self.tenant_data: dict[str, TenantData] = {}
        self.on_change: Callable[[], None] | None = None
        self.tenants: dict[str, Tenant] = {}
        self.users: dict[str, User] = {}
        self.apps: dict[str, App] = {}
        self.authorizations: dict[tuple[str, str], Authorization] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.tickets: dict[str, Ticket] = {}
        self.credentials_records: list[CredentialsRecord] = []
        self.quirks = Quirks()
        self.transactions: dict[str, LoginTransaction] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.sessions: dict[str, Session] = {}

    # -- change tracking -------------------------------------------------------------------

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock for a persistent change; notify the saver afterwards."""
        with self.lock:
            yield
            if self.on_change is not None:
                self.on_change()

    # -- lookups ------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def find_tenant(self, ctx: str) -> Tenant | None:
        # Context identifiers match case-insensitively (protocol §1) [I].
        with self.lock:
            return self.tenants.get(ctx.lower())

    def find_user(self, username: str) -> User | None:
        with self.lock:
            return self.users.get(username.strip().lower())

    def find_app(self, client_id: str) -> App | None:
        with self.lock:
            return self.apps.get(client_id)

    def active_authorization(self, client_id: str, ctx: str) -> Authorization | None:
        with self.lock:
            auth = self.authorizations.get((client_id, ctx.lower()))
            return auth if auth is not None and not auth.revoked else None

    # -- persistent changes -------------------------------------------------------------------

    def tenant_url(self, tenant: Tenant) -> str | None:
        """`https://{tenantHost}/{ctx}` (protocol §1); None before the listeners are bound."""
        url = self.host_urls.get(tenant.host or "")
        return None if url is None else f"{url}/{tenant.ctx}"

    def add_tenant(self, tenant: Tenant) -> Tenant:
        _check_ctx(tenant.ctx)
        if tenant.host is None:
            tenant.host = self.hosts[0]
        if tenant.host not in self.hosts:
            raise WorldError("invalid_tenant", f"host must be one of {', '.join(self.hosts)}")
        if tenant.state not in TENANT_STATES:
            raise WorldError("invalid_tenant", f"state must be one of {', '.join(TENANT_STATES)}")
        with self.changing():
            if tenant.ctx.lower() in self.tenants:
                raise WorldError("conflict", f"tenant {tenant.ctx} already exists", 409)
            self.tenants[tenant.ctx.lower()] = tenant
        return tenant

    def add_user(self, user: User) -> User:
        if not user.username or "@" not in user.username:
            raise WorldError("invalid_user", "username must be an email address")
        with self.changing():
            if user.username.lower() in self.users:
                raise WorldError("conflict", f"user {user.username} already exists", 409)
            for m in user.memberships:
                tenant = self.find_tenant(m.ctx)
                if tenant is None:
                    raise WorldError("unknown_tenant", f"no tenant {m.ctx}")
                m.ctx = tenant.ctx
            self.users[user.username.lower()] = user
        return user

    def add_app(self, app: App) -> App:
        if app.kind not in APP_KINDS:
            raise WorldError("invalid_app", f"kind must be one of {', '.join(APP_KINDS)}")
        if not app.name.strip():
            raise WorldError("invalid_app", "name is required")
        with self.changing():
            if app.kind == "custom":
                tenant = self.find_tenant(app.tenant or "")
                if tenant is None:
                    raise WorldError("invalid_app", "a custom app needs an existing tenant")
                app.tenant = tenant.ctx
            elif app.tenant is not None:
                raise WorldError("invalid_app", "only custom apps belong to a tenant")
            if app.client_id in self.apps:
                raise WorldError("conflict", f"app {app.client_id} already exists", 409)
            self.apps[app.client_id] = app
        return app

    def approve(self, client_id: str, ctx: str, approved_by: str) -> Authorization:
        """Create (or restore) the authorization record; the system token survives re-approval."""
        with self.changing():
            app = self.find_app(client_id)
            tenant = self.find_tenant(ctx)
            if app is None:
                raise WorldError("unknown_app", f"no app {client_id}", 404)
            if tenant is None:
                raise WorldError("unknown_tenant", f"no tenant {ctx}", 404)
            if app.kind == "custom" and app.tenant != tenant.ctx:
                raise WorldError("invalid_tenant", f"custom app belongs to {app.tenant}")
            key = (client_id, tenant.ctx.lower())
            auth = self.authorizations.get(key)
            now = self.now()
            if auth is None:
                auth = Authorization(client_id, tenant.ctx, approved_by, now, None)
                self.authorizations[key] = auth
            auth.approved_by, auth.approved_at = approved_by, now
            auth.revoked, auth.revoked_at = False, None
            auth.needs_reapproval = False
            if app.grant_system_token and auth.system_token is None:
                auth.system_token = new_system_token(app.name)
            return auth

    def revoke_authorization(self, client_id: str, ctx: str) -> Authorization:
        with self.changing():
            auth = self.authorizations.get((client_id, ctx.lower()))
            if auth is None:
                raise WorldError("not_found", f"no authorization for {client_id} in {ctx}", 404)
            auth.revoked, auth.revoked_at = True, self.now()
            # Refresh tokens are tied to the authorization record (protocol §2.4, §3):
            # they die with it and do not come back on re-approval.
            for store in (self.refresh_tokens, self.access_tokens):
                for record in store.values():
                    if record.client_id == client_id and record.ctx == auth.ctx:
                        record.revoked = True
            # ...and so do its system user tickets (they do not come back either).
            self._revoke_tickets(client_id, auth.ctx)
            return auth

    def flag_needs_reapproval(self, client_id: str, ctx: str) -> Authorization:
        """As SuperOffice does when an app changes to the system user context (§3)."""
        with self.changing():
            auth = self.authorizations.get((client_id, ctx.lower()))
            if auth is None:
                raise WorldError("not_found", f"no authorization for {client_id} in {ctx}", 404)
            auth.needs_reapproval = True
            return auth

    def add_ticket(self, ticket: Ticket) -> None:
        """A successful exchange: a new ticket AND a new credentials record, every time."""
        with self.changing():
            self.tickets[ticket.ticket] = ticket
            self.credentials_records.append(
                CredentialsRecord(ticket.client_id, ticket.ctx, ticket.issued_at)
            )

    def find_ticket(self, value: str) -> Ticket | None:
        with self.lock:
            return self.tickets.get(value)

    def expire_tickets(self, client_id: str, ctx: str) -> int:
        """Force-expire the live tickets of an app x tenant; returns how many."""
        with self.changing():
            tenant = self.find_tenant(ctx)
            return self._revoke_tickets(client_id, tenant.ctx if tenant else ctx)

    def _revoke_tickets(self, client_id: str, ctx: str) -> int:
        count = 0
        for ticket in self.tickets.values():
            if ticket.client_id == client_id and ticket.ctx == ctx and not ticket.revoked:
                ticket.revoked = True
                count += 1
        return count

    def credentials_counts(self) -> dict[tuple[str, str], int]:
        with self.lock:
            counts: dict[tuple[str, str], int] = {}
            for record in self.credentials_records:
                key = (record.client_id, record.ctx)
                counts[key] = counts.get(key, 0) + 1
            return counts

    def add_refresh_token(self, token: RefreshToken) -> None:
        with self.changing():
            self.refresh_tokens[token.token] = token

    def add_access_token(self, token: AccessToken) -> None:
        with self.changing():
            self.access_tokens[token.token] = token

    def revoke_token(self, token: str, client_id: str | None) -> None:
        """RFC 7009: unknown tokens and other clients' tokens are ignored silently."""
        with self.changing():
            for store in (self.refresh_tokens, self.access_tokens):
                record = store.get(token)
                if record is not None and client_id in (None, record.client_id):
                    record.revoked = True

    # -- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "version": WORLD_FORMAT_VERSION,
                    "tenants": [asdict(t) for t in self.tenants.values()],
                    "users": [asdict(u) for u in self.users.values()],
                    "apps": [asdict(a) for a in self.apps.values()],
                    "authorizations": [asdict(a) for a in self.authorizations.values()],
                    "refresh_tokens": [asdict(t) for t in self.refresh_tokens.values()],
                    "access_tokens": [asdict(t) for t in self.access_tokens.values()],
                    "tickets": [asdict(t) for t in self.tickets.values()],
                    "credentials_records": [asdict(r) for r in self.credentials_records],
                    "quirks": asdict(self.quirks),
                    "tenant_data": self.tenant_data_json(),
                }
            )

    def load_json(self, data: Any) -> None:
        """Replace the whole world (ephemeral state too) with `data`; validates first."""
        fresh = World(self.clock, self.hosts)
        fresh._fill(data)
        with self.changing():
            for name in (
                "tenants",
                "users",
                "apps",
                "authorizations",
                "refresh_tokens",
                "access_tokens",
                "tickets",
                "credentials_records",
                "quirks",
                "tenant_data",
                "transactions",
                "codes",
                "sessions",
            ):
                setattr(self, name, getattr(fresh, name))

    def _fill(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise WorldError("invalid_world", "the world must be a JSON object")
        version = data.get("version", WORLD_FORMAT_VERSION)
        if version != WORLD_FORMAT_VERSION:
            raise WorldError("invalid_world", f"unsupported world version {version!r}")
        for raw in _items(data, "tenants"):
            self.add_tenant(tenant_from_json(raw))
        for raw in _items(data, "users"):
            self.add_user(user_from_json(raw))
        for raw in _items(data, "apps"):
            self.add_app(app_from_json(raw))
        for raw in _items(data, "authorizations"):
            auth = Authorization(
                client_id=_str(raw, "client_id"),
                ctx=_str(raw, "ctx"),
                approved_by=_str(raw, "approved_by"),
                approved_at=_num(raw, "approved_at"),
                system_token=_opt_str(raw, "system_token"),
                revoked=_bool(raw, "revoked", False),
                revoked_at=_opt_num(raw, "revoked_at"),
                needs_reapproval=_bool(raw, "needs_reapproval", False),
            )
            if auth.client_id not in self.apps or self.find_tenant(auth.ctx) is None:
                raise WorldError("invalid_world", "authorization for unknown app or tenant")
            self.authorizations[(auth.client_id, auth.ctx.lower())] = auth
        for raw in _items(data, "refresh_tokens"):
            rt = RefreshToken(
                token=_str(raw, "token"),
                client_id=_str(raw, "client_id"),
                username=_str(raw, "username"),
                ctx=_str(raw, "ctx"),
                issued_at=_num(raw, "issued_at"),
                revoked=_bool(raw, "revoked", False),
            )
            self.refresh_tokens[rt.token] = rt
        for raw in _items(data, "access_tokens"):
            at = AccessToken(
                token=_str(raw, "token"),
                client_id=_str(raw, "client_id"),
                username=_str(raw, "username"),
                ctx=_str(raw, "ctx"),
                issued_at=_num(raw, "issued_at"),
                expires_at=_num(raw, "expires_at"),
                revoked=_bool(raw, "revoked", False),
            )
            self.access_tokens[at.token] = at
        for raw in _items(data, "tickets"):
            ticket = Ticket(
                ticket=_str(raw, "ticket"),
                client_id=_str(raw, "client_id"),
                ctx=_str(raw, "ctx"),
                issued_at=_num(raw, "issued_at"),
                last_used_at=_num(raw, "last_used_at"),
                revoked=_bool(raw, "revoked", False),
            )
            self.tickets[ticket.ticket] = ticket
        for raw in _items(data, "credentials_records"):
            self.credentials_records.append(
                CredentialsRecord(
                    client_id=_str(raw, "client_id"),
                    ctx=_str(raw, "ctx"),
                    created_at=_num(raw, "created_at"),
                )
            )
        quirks = data.get("quirks", {})
        if not isinstance(quirks, dict):
            raise WorldError("invalid_world", "quirks must be an object")
        self.quirks = Quirks(
            iat_as_string=_bool(quirks, "iat_as_string", False),
            state_change_audience=_bool(quirks, "state_change_audience", False),
        )
        data_by_ctx = data.get("tenant_data", {})
        if not isinstance(data_by_ctx, dict):
            raise WorldError("invalid_world", "tenant_data must be an object")
        for ctx, raw in data_by_ctx.items():
            if self.find_tenant(ctx) is None:
                raise WorldError("invalid_world", f"tenant_data for unknown tenant {ctx}")
            self.tenant_data[ctx.lower()] = tenant_data_from_json(raw)

    def tenant_data_json(self) -> dict[str, Any]:
        with self.lock:
            return {ctx: asdict(d) for ctx, d in self.tenant_data.items()}

    def data_of(self, tenant: Tenant) -> TenantData:
        """The tenant's lists and web panels (built-in lists seeded on first use)."""
        with self.lock:
            data = self.tenant_data.get(tenant.ctx.lower())
            if data is None:
                data = seeded_tenant_data()
                self.tenant_data[tenant.ctx.lower()] = data
            return data


# -- JSON field helpers (also used by the control plane) -------------------------------------


def tenant_from_json(raw: dict[str, Any]) -> Tenant:
    return Tenant(
        ctx=_str(raw, "ctx"),
        company_name=_str(raw, "company_name"),
        serial=_str(raw, "serial"),
        host=_opt_str(raw, "host"),
        state=_opt_str(raw, "state") or "Running",
        version=_opt_str(raw, "version") or DEFAULT_TENANT_VERSION,
        maintenance_until=_opt_num(raw, "maintenance_until"),
    )


def user_from_json(raw: dict[str, Any]) -> User:
    memberships = []
    for m in _items(raw, "memberships"):
        memberships.append(
            Membership(
                ctx=_str(m, "ctx"),
                is_administrator=_bool(m, "is_administrator", False),
                associate_id=int(_num(m, "associate_id")),
                initials=_str(m, "initials"),
            )
        )
    return User(
        username=_str(raw, "username"), password=_str(raw, "password"), memberships=memberships
    )


def app_from_json(raw: dict[str, Any]) -> App:
    secret_hash = _opt_str(raw, "client_secret_sha256")
    if secret_hash is None:
        secret_hash = hash_secret(_str(raw, "client_secret"))
    return App(
        client_id=_str(raw, "client_id"),
        client_secret_sha256=secret_hash,
        name=_str(raw, "name"),
        vendor=_opt_str(raw, "vendor") or "",
        consent_text=_opt_str(raw, "consent_text") or "",
        kind=_opt_str(raw, "kind") or "standard",
        tenant=_opt_str(raw, "tenant"),
        redirect_urls=_str_list(raw, "redirect_urls"),
        post_logout_urls=_str_list(raw, "post_logout_urls"),
        state_change_url=_opt_str(raw, "state_change_url"),
        grant_system_token=_bool(raw, "grant_system_token", False),
        public_key_pem=_opt_str(raw, "public_key_pem"),
        created_at=_opt_num(raw, "created_at") or 0.0,
    )


def _items(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise WorldError("invalid_world", f"{key} must be a list of objects")
    return value


def _str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise WorldError("invalid_world", f"{key} must be a non-empty string")
    return value


def _opt_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise WorldError("invalid_world", f"{key} must be a string or null")
    return value


def _num(raw: dict[str, Any], key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WorldError("invalid_world", f"{key} must be a number")
    return float(value)


def _opt_num(raw: dict[str, Any], key: str) -> float | None:
    return None if raw.get(key) is None else _num(raw, key)


def _bool(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise WorldError("invalid_world", f"{key} must be true or false")
    return value


def _str_list(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise WorldError("invalid_world", f"{key} must be a list of strings")
    return list(value)


def _check_ctx(ctx: str) -> None:
    # Format: "Cust" + digits (protocol §1).
    if not (ctx[:4].lower() == "cust" and ctx[4:].isdigit()):
        raise WorldError("invalid_tenant", f"context identifier {ctx!r} is not Cust + digits")
