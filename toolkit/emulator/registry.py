"""App registration and activation, shared by the Python API and the control plane.

Mirrors the Developer Portal (protocol §8): credentials are returned once; the emulator keeps
only a hash of the client secret and the public half of the key pair. The key pair is generated
here (its private half returned once), or the partner brings their own and sends only its public
half (`public_key`: RSAKeyValue XML or PEM), so the exchange is signed with the very key they
use in production. The state-change URL is the portal's "Customer state change" setting (§6).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from toolkit.emulator.credentials import (
    load_public_key,
    new_app_key_pair,
    new_client_id,
    new_client_secret,
)
from toolkit.emulator.errors import WorldError
from toolkit.emulator.world import App, Authorization, World, hash_secret


def _check_urls(urls: Any, field: str) -> list[str]:
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise WorldError("invalid_app", f"{field} must be a list of URLs")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise WorldError("invalid_app", f"{field}: {url!r} is not an absolute URL")
    return list(urls)


def _opt_text(value: Any, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise WorldError("invalid_app", f"{field} must be a string")
    return value


def register_app(
    world: World,
    *,
    name: Any,
    redirect_urls: Any,
    kind: Any = "standard",
    grant_system_token: Any = True,
    vendor: Any = "",
    consent_text: Any = "",
    post_logout_urls: Any = None,
    state_change_url: Any = None,
    tenant: Any = None,
    public_key: Any = None,
) -> dict[str, Any]:
    """Register an app; returns its credentials (the only time the secrets are shown).

    With `public_key` (the public half of the partner's own key) no key pair is generated and
    the answer holds no private key.
    """
    if not isinstance(name, str) or not name.strip():
        raise WorldError("invalid_app", "name must be a non-empty string")
    if kind not in ("standard", "custom"):
        raise WorldError("invalid_app", "kind must be 'standard' or 'custom'")
    if not isinstance(grant_system_token, bool):
        raise WorldError("invalid_app", "grant_system_token must be true or false")
    if kind == "custom" and not tenant:
        raise WorldError("invalid_app", "a custom app needs tenant (its one customer)")
    redirects = _check_urls(redirect_urls, "redirect_urls")
    post_logout = _check_urls(post_logout_urls or [], "post_logout_urls")
    if state_change_url is not None:
        _check_urls([state_change_url], "state_change_url")
    brought_key = None if public_key is None else load_public_key(public_key)
    client_id, client_secret = new_client_id(), new_client_secret()
    # Outside the world lock: RSA generation takes a moment.
    keys = new_app_key_pair() if brought_key is None else None
    public_key_pem = brought_key if keys is None else keys.public_key_pem
    app = App(
        client_id=client_id,
        client_secret_sha256=hash_secret(client_secret),
        name=name,
        vendor=_opt_text(vendor, "vendor") or "",
        consent_text=_opt_text(consent_text, "consent_text") or "",
        kind=kind,
        tenant=_opt_text(tenant, "tenant"),
        redirect_urls=redirects,
        post_logout_urls=post_logout,
        state_change_url=_opt_text(state_change_url, "state_change_url"),
        grant_system_token=grant_system_token,
        public_key_pem=public_key_pem,
        created_at=world.now(),
    )
    world.add_app(app)
    private: dict[str, Any] = {}
    if keys is not None:
        private = {"private_key_xml": keys.private_key_xml, "private_key_pem": keys.private_key_pem}
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        **private,
        "public_key_pem": public_key_pem,
        "name": app.name,
        "kind": app.kind,
        "tenant": app.tenant,
        "vendor": app.vendor,
        "consent_text": app.consent_text,
        "redirect_urls": list(app.redirect_urls),
        "post_logout_urls": list(app.post_logout_urls),
        "state_change_url": app.state_change_url,
        "grant_system_token": app.grant_system_token,
    }


def set_state_change_url(world: World, client_id: str, state_change_url: Any) -> dict[str, Any]:
    """Change an app's "Customer state change" URL (None: no notifications), as the portal's
    setting can be changed after registration (protocol §6)."""
    if state_change_url is not None:
        _check_urls([state_change_url], "state_change_url")
    with world.changing():
        app = world.apps.get(client_id)
        if app is None:
            raise WorldError("not_found", f"no app {client_id}", 404)
        app.state_change_url = state_change_url
        return app.public_view()


def activate_app(world: World, client_id: str, tenant: str, approved_by: str) -> Authorization:
    """Explicit consent, as the App Manager gives it for custom apps (protocol §3)."""
    if not isinstance(tenant, str) or not tenant:
        raise WorldError("invalid_request", "tenant is required")
    if not isinstance(approved_by, str) or not approved_by:
        raise WorldError("invalid_request", "approved_by is required")
    return world.approve(client_id, tenant, approved_by)
