"""State-change webhooks (protocol §6): SuperOffice POSTs a `NotificationMessage` to the
"Customer state change" URL of each application the tenant has approved.

Body: `ChangeType` (int, `CustomerStateChangeNotificationType`), `ContextIdentifier`,
`VersionName`, `FileVersion`, `Token`, `PublicEndpoint` (on Move).

The `Token` is a SuperID token (protocol §6: SuperOffice's own sample validates it with
`SuperIdTokenHandler`, SuperID's federated-login certificate and `ValidIssuer =
"https://sod.superoffice.com"`; SuperOfficeDocs `docs/apps/tenant-status/includes/
api-controller.md`): `iss` is the login host's issuer (the `https://{env}.superoffice.com`
equivalent, as in the id_token) and it is signed with the keys the JWKS publishes. Its audience
and other claims are not documented (open question 16); the emulator's choice [I]: no `aud`
(the quirk `state_change_audience` adds `aud` = the client id), `iat`, `nbf` = iat - 60, `exp` =
iat + 300 and a unique `jti`, and nothing that binds it to the body (no tenant, no change type),
so a receiver must confirm the body with the state API.

Delivery runs on a small thread pool, never on the event loop, with a timeout; every attempt
is recorded (status code or error) and a failure never reaches the caller.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from toolkit.emulator.signing import KeyRing
from toolkit.emulator.world import App, Tenant, World

# CustomerStateChangeNotificationType (protocol §6).
CHANGE_TYPES: dict[str, int] = {
    "Upgrade": 0,
    "BackupRestored": 1,
    "Suspend": 2,
    "Resume": 3,
    "Delete": 4,
    "Move": 5,
}
WEBHOOK_TOKEN_LIFETIME = 300  # short, like SuperID's other tokens [I]
WEBHOOK_NOT_BEFORE_SKEW = 60
WEBHOOK_TIMEOUT = 5.0  # seconds per delivery; a slow receiver cannot hold the emulator
WEBHOOK_WORKERS = 4
MAX_RECORDED = 1000  # the oldest deliveries are forgotten beyond this
# FileVersion is not explained in the reference; the emulator sends a NetServer-like assembly
# version derived from the release name [I].
DEFAULT_FILE_VERSION = "11.10.9012.0"


@dataclass
class Delivery:
    id: str
    client_id: str
    ctx: str
    change: str
    change_type: int
    url: str
    message: dict[str, Any]
    status: str = "pending"  # pending | delivered (any HTTP answer) | failed (no answer)
    status_code: int | None = None
    error: str | None = None
    created_at: float = 0.0
    finished_at: float | None = None


def webhook_claims(app: App, issuer: str, now: float, *, audience: bool) -> dict[str, Any]:
    """The notification token's claims: a SuperID token (see the module docstring)."""
    iat = int(now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "iat": iat,
        "nbf": iat - WEBHOOK_NOT_BEFORE_SKEW,
        "exp": iat + WEBHOOK_TOKEN_LIFETIME,
        "jti": secrets.token_hex(16),
    }
    if audience:
        claims["aud"] = app.client_id
    return claims


class Webhooks:
    def __init__(
        self, world: World, keys: KeyRing, *, issuer: Callable[[], str] | None = None
    ) -> None:
        self.world = world
        self.keys = keys
        self._issuer = issuer  # the login host's base URL, known once the emulator listens
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._deliveries: list[Delivery] = []
        self._pool: ThreadPoolExecutor | None = None

    def notify(
        self, tenant: Tenant, change: str, public_endpoint: str | None = None
    ) -> list[Delivery]:
        """Queue one NotificationMessage per approving app with a state-change URL."""
        change_type = CHANGE_TYPES[change]
        world = self.world
        with world.lock:
            recipients = [
                app
                for (client_id, ctx), auth in world.authorizations.items()
                if ctx == tenant.ctx.lower() and not auth.revoked
                for app in [world.apps.get(client_id)]
                if app is not None and app.state_change_url
            ]
            now = world.now()
            version = tenant.version
            audience = world.quirks.state_change_audience
        if recipients and self._issuer is None:
            raise RuntimeError("the webhooks need the emulator's issuer to sign a notification")
        issuer = self._issuer() if self._issuer is not None else ""
        queued = []
        for app in recipients:
            message = {
                "ChangeType": change_type,
                "ContextIdentifier": tenant.ctx,
                "VersionName": version,
                "FileVersion": DEFAULT_FILE_VERSION,
                "Token": self.keys.sign(webhook_claims(app, issuer, now, audience=audience)),
                "PublicEndpoint": public_endpoint,
            }
            delivery = Delivery(
                id=secrets.token_hex(8),
                client_id=app.client_id,
                ctx=tenant.ctx,
                change=change,
                change_type=change_type,
                url=str(app.state_change_url),
                message=message,
                created_at=time.time(),
            )
            with self._lock:
                self._deliveries.append(delivery)
                del self._deliveries[:-MAX_RECORDED]
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(WEBHOOK_WORKERS, "sotk-emulator-webhook")
                pool = self._pool
            pool.submit(self._deliver, delivery)
            queued.append(delivery)
        return queued

    def _deliver(self, delivery: Delivery) -> None:
        status_code: int | None = None
        error: str | None = None
        try:
            with httpx.Client(timeout=WEBHOOK_TIMEOUT, follow_redirects=False) as client:
                response = client.post(
                    delivery.url,
                    content=json.dumps(delivery.message),
                    headers={"Content-Type": "application/json"},
                )
            status_code = response.status_code
        except Exception as exc:  # a failed delivery is recorded, never raised
            error = f"{type(exc).__name__}: {exc}"
        with self._done:
            delivery.status_code, delivery.error = status_code, error
            delivery.status = "delivered" if status_code is not None else "failed"
            delivery.finished_at = time.time()
            self._done.notify_all()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(d) for d in self._deliveries]

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()

    def wait(self, timeout: float) -> bool:
        """Wait until no delivery is pending; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._done:
            while any(d.status == "pending" for d in self._deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
            return True

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
