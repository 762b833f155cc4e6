"""superoffice-toolkit: build, install, provision and operate SuperOffice CRM Online apps.

The names below are the curated public API (``__all__`` is kept sorted; a test guards it).
The emulator is imported on its own: ``from toolkit.emulator import Emulator``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkit.async_workspace import AsyncWorkspace
    from toolkit.auth.jwks import JwksCache
    from toolkit.auth.oidc import (
        AuthorizationRequest,
        InMemoryTransactionStore,
        ProviderMetadata,
        SignInResult,
        SuperIdClient,
        TokenResponse,
        fetch_provider_metadata,
    )
    from toolkit.auth.tokens import ValidationPolicy, validate_id_token
    from toolkit.claims import IdTokenClaims
    from toolkit.config import Environment, Settings
    from toolkit.errors import (
        ApiError,
        ApiNotFoundError,
        AuthorizationDeniedError,
        AuthorizationRevokedError,
        ConfigurationError,
        ConflictError,
        InvalidContextIdentifierError,
        KeyFormatError,
        MalformedNotificationError,
        ManifestError,
        NotAdministratorError,
        NotFoundError,
        NotificationApplicationError,
        NotificationRejectedError,
        NotInstalledError,
        OAuthError,
        ProvisioningError,
        RedirectUriNotRegisteredError,
        SessionError,
        SignInError,
        StateMismatchError,
        StoreError,
        SystemUserError,
        TenantError,
        TenantNotRunningError,
        TicketError,
        TokenValidationError,
        ToolkitError,
        TransportError,
        UnknownApplicationError,
        UnknownTenantError,
        http_status_of,
        public_message_of,
    )
    from toolkit.http import create_async_client, create_client
    from toolkit.keys import (
        load_private_key,
        load_private_key_file,
        rsa_key_value_to_pem,
        sign_system_user_token,
    )
    from toolkit.partner_paths import PartnerPaths
    from toolkit.workspace import Workspace

try:
    __version__ = version("superoffice-toolkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0"

# Where each public name lives. Imported on first use (PEP 562), so that `import toolkit` and the
# CLI start fast: the emulator alone must not pay for SQLAlchemy, Alembic and the store.
_HOMES = {
    "JwksCache": "toolkit.auth.jwks",
    "AuthorizationRequest": "toolkit.auth.oidc",
    "InMemoryTransactionStore": "toolkit.auth.oidc",
    "ProviderMetadata": "toolkit.auth.oidc",
    "SignInResult": "toolkit.auth.oidc",
    "SuperIdClient": "toolkit.auth.oidc",
    "TokenResponse": "toolkit.auth.oidc",
    "fetch_provider_metadata": "toolkit.auth.oidc",
    "ValidationPolicy": "toolkit.auth.tokens",
    "validate_id_token": "toolkit.auth.tokens",
    "IdTokenClaims": "toolkit.claims",
    "Environment": "toolkit.config",
    "Settings": "toolkit.config",
    "AuthorizationDeniedError": "toolkit.errors",
    "ConfigurationError": "toolkit.errors",
    "KeyFormatError": "toolkit.errors",
    "OAuthError": "toolkit.errors",
    "SignInError": "toolkit.errors",
    "StateMismatchError": "toolkit.errors",
    "TokenValidationError": "toolkit.errors",
    "ToolkitError": "toolkit.errors",
    "TransportError": "toolkit.errors",
    "ApiError": "toolkit.errors",
    "ApiNotFoundError": "toolkit.errors",
    "AuthorizationRevokedError": "toolkit.errors",
    "ConflictError": "toolkit.errors",
    "InvalidContextIdentifierError": "toolkit.errors",
    "MalformedNotificationError": "toolkit.errors",
    "ManifestError": "toolkit.errors",
    "NotAdministratorError": "toolkit.errors",
    "NotFoundError": "toolkit.errors",
    "NotInstalledError": "toolkit.errors",
    "NotificationApplicationError": "toolkit.errors",
    "NotificationRejectedError": "toolkit.errors",
    "ProvisioningError": "toolkit.errors",
    "RedirectUriNotRegisteredError": "toolkit.errors",
    "SessionError": "toolkit.errors",
    "StoreError": "toolkit.errors",
    "SystemUserError": "toolkit.errors",
    "TenantError": "toolkit.errors",
    "TenantNotRunningError": "toolkit.errors",
    "TicketError": "toolkit.errors",
    "UnknownApplicationError": "toolkit.errors",
    "UnknownTenantError": "toolkit.errors",
    "http_status_of": "toolkit.errors",
    "public_message_of": "toolkit.errors",
    "create_client": "toolkit.http",
    "create_async_client": "toolkit.http",
    "load_private_key": "toolkit.keys",
    "load_private_key_file": "toolkit.keys",
    "rsa_key_value_to_pem": "toolkit.keys",
    "sign_system_user_token": "toolkit.keys",
    "Workspace": "toolkit.workspace",
    "AsyncWorkspace": "toolkit.async_workspace",
    "PartnerPaths": "toolkit.partner_paths",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ApiError",
    "ApiNotFoundError",
    "AsyncWorkspace",
    "AuthorizationDeniedError",
    "AuthorizationRequest",
    "AuthorizationRevokedError",
    "ConfigurationError",
    "ConflictError",
    "Environment",
    "IdTokenClaims",
    "InMemoryTransactionStore",
    "InvalidContextIdentifierError",
    "JwksCache",
    "KeyFormatError",
    "MalformedNotificationError",
    "ManifestError",
    "NotAdministratorError",
    "NotFoundError",
    "NotInstalledError",
    "NotificationApplicationError",
    "NotificationRejectedError",
    "OAuthError",
    "PartnerPaths",
    "ProviderMetadata",
    "ProvisioningError",
    "RedirectUriNotRegisteredError",
    "SessionError",
    "Settings",
    "SignInError",
    "SignInResult",
    "StateMismatchError",
    "StoreError",
    "SuperIdClient",
    "SystemUserError",
    "TenantError",
    "TenantNotRunningError",
    "TicketError",
    "TokenResponse",
    "TokenValidationError",
    "ToolkitError",
    "TransportError",
    "UnknownApplicationError",
    "UnknownTenantError",
    "ValidationPolicy",
    "Workspace",
    "__version__",
    "create_async_client",
    "create_client",
    "fetch_provider_metadata",
    "http_status_of",
    "load_private_key",
    "load_private_key_file",
    "public_message_of",
    "rsa_key_value_to_pem",
    "sign_system_user_token",
    "validate_id_token",
]
