"""superoffice-toolkit: build, install, provision and operate SuperOffice CRM Online apps.

The names below are the curated public API (``__all__`` is kept sorted; a test guards it).
The emulator is imported on its own: ``from toolkit.emulator import Emulator``.
"""

from importlib.metadata import PackageNotFoundError, version

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
    AuthorizationDeniedError,
    ConfigurationError,
    KeyFormatError,
    OAuthError,
    SignInError,
    StateMismatchError,
    TokenValidationError,
    ToolkitError,
    TransportError,
)
from toolkit.http import create_client
from toolkit.keys import (
    load_private_key,
    load_private_key_file,
    rsa_key_value_to_pem,
    sign_system_user_token,
)
from toolkit.workspace import Workspace

try:
    __version__ = version("superoffice-toolkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0"

__all__ = [
    "AuthorizationDeniedError",
    "AuthorizationRequest",
    "ConfigurationError",
    "Environment",
    "IdTokenClaims",
    "InMemoryTransactionStore",
    "JwksCache",
    "KeyFormatError",
    "OAuthError",
    "ProviderMetadata",
    "Settings",
    "SignInError",
    "SignInResult",
    "StateMismatchError",
    "SuperIdClient",
    "TokenResponse",
    "TokenValidationError",
    "ToolkitError",
    "TransportError",
    "ValidationPolicy",
    "Workspace",
    "__version__",
    "create_client",
    "fetch_provider_metadata",
    "load_private_key",
    "load_private_key_file",
    "rsa_key_value_to_pem",
    "sign_system_user_token",
    "validate_id_token",
]
