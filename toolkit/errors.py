"""The toolkit's exception tree.

Every error the toolkit raises on purpose derives from :class:`ToolkitError`. Errors that come
from the wire carry the wire's own fields (OAuth ``error`` / ``error_description``, SuperOffice's
``ErrorType`` / ``ErrorMessage``) and chain the httpx or jwt cause with ``raise ... from``.
No message ever contains a secret: tokens, codes, tickets, client secrets and key material are
left out or redacted before they reach an exception.

::

    ToolkitError
    ├── ConfigurationError            settings, environments, URLs that cannot be used
    │   ├── InvalidContextIdentifierError a tenant that is not ``Cust`` + digits (checked locally)
    │   └── RedirectUriNotRegisteredError a redirect URI the application has not registered
    ├── KeyFormatError                a private key (PEM / RSAKeyValue XML) that cannot be loaded
    ├── InputFileError                a named file that is not regular, too large or unreadable
    ├── TransportError                the HTTP exchange itself failed (connect, timeout, status)
    │   ├── UnexpectedResponseError   a response that is not what the protocol promises
    │   ├── RetryExhaustedError       a retryable failure outlasted the retry policy's attempts
    │   │   └── RetryBudgetExceededError  ... or its total time budget
    │   └── RequestOutcomeUnknownError    a non-idempotent request failed after it was sent
    ├── DiscoveryError                the OpenID configuration is unusable (e.g. issuer mismatch)
    ├── KeySetError                   the JWKS cannot be fetched or has no usable key
    │   └── SigningKeyNotFoundError   no key in the set matches the token's kid
    ├── TokenValidationError          a security token failed validation (``reason`` says why)
    │   ├── MalformedTokenError       not a well-formed, size-bounded JWT
    │   ├── AlgorithmNotAllowedError  alg outside the allow-list (``none``, HS256, ...)
    │   ├── InvalidSignatureError     the signature does not verify
    │   ├── IssuerMismatchError       iss is not the expected issuer
    │   ├── AudienceMismatchError     aud / azp is not the client id
    │   ├── MissingClaimError         a required claim (sub, iat, exp, ...) is absent
    │   ├── TokenExpiredError         exp passed beyond the leeway
    │   ├── TokenNotYetValidError     nbf / iat in the future beyond the leeway
    │   ├── NonceMismatchError        nonce absent, wrong, or already used
    │   ├── ContextMismatchError      ctx is not the tenant asked for (system user JWT, webhook)
    │   └── NotificationMismatchError a webhook token's claims contradict its message
    ├── SignInError                   the interactive sign-in could not complete
    │   ├── AuthorizationDeniedError  SuperID answered ``error=...`` (access_denied, ...)
    │   ├── StateMismatchError        unknown, expired or replayed ``state``
    │   ├── NotAdministratorError     a non-administrator tried to install (approve) the app
    │   └── TenantMismatchError       the id_token's tenant is not the one asked for
    ├── OAuthError                    the token / revoke endpoint answered an OAuth error
    │   ├── InvalidGrantError         ``invalid_grant`` (used, expired or revoked code/token)
    │   └── InvalidClientError        ``invalid_client`` (wrong client id or secret)
    ├── SystemUserError               the system user exchange was refused (``error_code``)
    │   ├── AuthorizationRevokedError        ``Revoked`` / ``Expired``: the tenant withdrew it
    │   ├── NeedsReapprovalError             ``NeedsReapproval``: an admin must approve again
    │   ├── ApplicationTokenDeniedError      ``Denied`` (also a wrong application token)
    │   ├── InvalidSystemUserSignatureError  ``InvalidSignature``: not the registered key
    │   └── InvalidSystemUserTimestampError  ``InvalidTimestamp``: clock skew, stale signing
    ├── TicketError                   a system user ticket cannot be obtained or is not accepted
    │   ├── AuthorizationNotActiveError  the authorization is revoked / needs_reconsent
    │   ├── NoSystemUserTokenError       the authorization holds no system user token
    │   ├── TicketRejectedError          the tenant answered 401 even to a renewed ticket
    │   └── TicketLeaseTimeoutError      another process kept the exchange lease too long
    ├── TenantError                   the tenant cannot be reached through the state API's answer
    │   └── TenantNotRunningError     the state API says the tenant is not running (``state``)
    │       └── UnknownTenantError    the state API does not know the tenant (``Unknown``)
    ├── ApiError                      the tenant's web API answered an error (``ErrorType``, ...)
    │   ├── ApiUnauthorizedError      401: the credential was not accepted
    │   ├── ApiForbiddenError         403: the principal may not do this
    │   ├── ApiNotFoundError          404: no such entity or route
    │   ├── ApiConflictError          409: the entity changed or already exists
    │   └── MisdirectedRequestError   421 "Wrong subdomain" even after re-resolving the tenant
    ├── SoapFaultError                a NetServer SOAP service answered a fault
    ├── NotificationRejectedError     a state-change webhook was refused (``reason``)
    │   ├── MalformedNotificationError    its body is not a NotificationMessage
    │   └── NotificationApplicationError  its URL names none of our applications (or is ambiguous)
    ├── SessionError                  a normal user context (panel) session cannot be used
    │   ├── SessionExpiredError       no such session, or it expired: sign in again
    │   ├── SessionMismatchError      the session is another application's or tenant's
    │   └── CsrfError                 a form came without the session's CSRF token
    ├── OptionValidationError         a user option is unknown or its value is not allowed
    ├── ProvisioningError             provisioning (manifest, plan, apply) cannot go on
    │   ├── ManifestError             the manifest is invalid (``file:line: field: problem``)
    │   ├── PlanConflictError         a ProgId / list the plan needs belongs to someone else
    │   ├── StalePlanError            the tenant changed since the plan was made
    │   ├── ProvisioningBusyError     another apply holds this application x tenant's lock
    │   └── ProvisioningRunError      an apply stopped at a step (``run_id``; cause chained)
    ├── JobError                      background work on the durable engine (toolkit.jobs)
    │   ├── JobNotFoundError          no such job or tenant workflow
    │   └── TenantJobFailedError      one tenant's workflow failed (``error_type``, text in words)
    └── StoreError                    the store (database, secrets at rest) cannot do what was asked
        ├── SecretKeyError            the key ring is missing, malformed, too open or the wrong one
        ├── DecryptionError           a stored secret fails to decrypt (tampered or copied value)
        ├── NotFoundError             no such application, authorization or pending sign-in
        │   ├── ExpiredError          the record existed but expired (and is gone now)
        │   ├── UnknownApplicationError   no application has this name or id
        │   └── NotInstalledError     the application is known, the tenant has not approved it
        │                             (no record) or no longer does (revoked, ...)
        ├── ConflictError             a unique name / client id / key is already taken
        ├── StoreUnavailableError     the database cannot be opened or written (``cause``)
        └── UnstorableTextError       text no store can hold (NUL, an unpaired surrogate)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.vocabulary import TenantState

__all__ = [
    "AlgorithmNotAllowedError",
    "ApiConflictError",
    "ApiError",
    "ApiForbiddenError",
    "ApiNotFoundError",
    "ApiUnauthorizedError",
    "ApplicationTokenDeniedError",
    "AudienceMismatchError",
    "AuthorizationDeniedError",
    "AuthorizationNotActiveError",
    "AuthorizationRevokedError",
    "ConfigurationError",
    "ConflictError",
    "ContextMismatchError",
    "CsrfError",
    "DecryptionError",
    "DiscoveryError",
    "ExpiredError",
    "InputFileError",
    "InvalidClientError",
    "InvalidContextIdentifierError",
    "InvalidGrantError",
    "InvalidSignatureError",
    "InvalidSystemUserSignatureError",
    "InvalidSystemUserTimestampError",
    "IssuerMismatchError",
    "JobError",
    "JobNotFoundError",
    "KeyFormatError",
    "KeySetError",
    "MalformedNotificationError",
    "MalformedTokenError",
    "ManifestError",
    "MisdirectedRequestError",
    "MissingClaimError",
    "NeedsReapprovalError",
    "NoSystemUserTokenError",
    "NonceMismatchError",
    "NotAdministratorError",
    "NotFoundError",
    "NotInstalledError",
    "NotificationApplicationError",
    "NotificationMismatchError",
    "NotificationRejectedError",
    "OAuthError",
    "OptionValidationError",
    "PlanConflictError",
    "ProvisioningBusyError",
    "ProvisioningError",
    "ProvisioningRunError",
    "RedirectUriNotRegisteredError",
    "RequestOutcomeUnknownError",
    "RetryBudgetExceededError",
    "RetryExhaustedError",
    "SecretKeyError",
    "SessionError",
    "SessionExpiredError",
    "SessionMismatchError",
    "SignInError",
    "SigningKeyNotFoundError",
    "SoapFaultError",
    "StalePlanError",
    "StateMismatchError",
    "StoreError",
    "StoreUnavailableError",
    "SystemUserError",
    "TenantError",
    "TenantJobFailedError",
    "TenantMismatchError",
    "TenantNotRunningError",
    "TicketError",
    "TicketLeaseTimeoutError",
    "TicketRejectedError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenValidationError",
    "ToolkitError",
    "TransportError",
    "UnexpectedResponseError",
    "UnknownApplicationError",
    "UnknownTenantError",
    "UnstorableTextError",
    "http_status_of",
    "oauth_error",
    "public_message_of",
]


class ToolkitError(Exception):
    """Base of every error the toolkit raises on purpose.

    ``http_status`` is the status a partner's web handler should answer with, and
    ``public_message`` a sentence safe to show a user (no secret, no internal detail; ``str()``
    of the error is for logs). Both are class attributes, set on each class of the tree and
    inherited below it (:func:`http_status_of`, :func:`public_message_of` read them from any
    exception).
    """

    http_status = 500
    public_message = "Something went wrong on our side."


class ConfigurationError(ToolkitError, ValueError):
    """Settings, an environment or a URL that cannot be used as given.

    Also a ValueError, so settings validation reports it as a field error.
    """

    http_status = 400
    public_message = "This request cannot be used as given."


class InvalidContextIdentifierError(ConfigurationError):
    """A tenant that is not a context identifier (``Cust`` + digits, protocol §1), refused
    locally before any network call; ``value`` is the refused text, shortened."""

    http_status = 400
    public_message = "The tenant must be a context identifier like Cust12345."

    def __init__(self, message: str, *, value: str | None = None) -> None:
        super().__init__(message)
        self.value = value


class RedirectUriNotRegisteredError(ConfigurationError):
    """An install was asked to come back to a redirect URI the application has not registered
    (SuperID would show "InvalidRedirectUrl (2)", protocol §2.2); ``redirect_uri`` is the one
    asked for, ``registered`` the application's."""

    http_status = 500
    public_message = "This application's sign-in is not set up correctly."

    def __init__(self, message: str, *, redirect_uri: str, registered: tuple[str, ...]) -> None:
        super().__init__(message)
        self.redirect_uri = redirect_uri
        self.registered = registered


class KeyFormatError(ToolkitError):
    """A private key that cannot be loaded; ``element`` names the RSAKeyValue part at fault."""

    http_status = 400
    public_message = "The key cannot be read."

    def __init__(self, message: str, *, element: str | None = None) -> None:
        super().__init__(message)
        self.element = element


class InputFileError(ToolkitError, OSError):
    """A file named by a user (manifest, key, secret, settings) that cannot be read as one: not
    a regular file (a FIFO, ``/dev/zero``, a directory), larger than its limit, or unreadable.

    Also an OSError, as reading a file always could be; ``path`` names the file.
    """

    http_status = 400
    public_message = "The file cannot be read."

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class TransportError(ToolkitError):
    """The HTTP exchange failed: connect error, timeout, or an unexpected status.

    ``url`` is already redacted (no query string); ``status_code`` is None when no response came.
    """

    http_status = 502
    public_message = "A service this depends on could not be reached or answered wrongly."

    def __init__(self, message: str, *, url: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.url = url
        self.status_code = status_code


class UnexpectedResponseError(TransportError):
    """A response arrived but is not what the protocol promises (not JSON, fields missing)."""

    http_status = 502
    public_message = "SuperOffice answered in a way that cannot be used."


class DiscoveryError(ToolkitError):
    """The OpenID Connect discovery document is unusable (wrong issuer, missing endpoints)."""

    http_status = 502
    public_message = "SuperID could not be reached or answered wrongly."


class KeySetError(ToolkitError):
    """The JSON Web Key Set cannot be fetched or holds no usable signing key."""

    http_status = 502
    public_message = "SuperID could not be reached or answered wrongly."


class SigningKeyNotFoundError(KeySetError):
    """No key in the set matches the token's ``kid``, even after one refetch."""

    def __init__(self, message: str, *, kid: str | None = None) -> None:
        super().__init__(message)
        self.kid = kid


class TokenValidationError(ToolkitError):
    """A security token failed validation.

    ``reason`` is a short machine-readable word (``expired``, ``issuer``, ...); ``claim`` names
    the claim at fault when there is one.
    """

    http_status = 400
    public_message = "The security token is not valid."

    reason = "invalid"

    def __init__(self, message: str, *, claim: str | None = None) -> None:
        super().__init__(message)
        self.claim = claim


class MalformedTokenError(TokenValidationError):
    reason = "malformed"


class AlgorithmNotAllowedError(TokenValidationError):
    reason = "algorithm"


class InvalidSignatureError(TokenValidationError):
    reason = "signature"


class IssuerMismatchError(TokenValidationError):
    reason = "issuer"


class AudienceMismatchError(TokenValidationError):
    reason = "audience"


class MissingClaimError(TokenValidationError):
    reason = "missing_claim"


class TokenExpiredError(TokenValidationError):
    reason = "expired"


class TokenNotYetValidError(TokenValidationError):
    reason = "not_yet_valid"


class NonceMismatchError(TokenValidationError):
    reason = "nonce"


class SignInError(ToolkitError):
    """The interactive sign-in (authorization code flow) could not complete."""

    http_status = 400
    public_message = "The sign-in could not be completed. Start it again."


class AuthorizationDeniedError(SignInError):
    """SuperID redirected back with ``error=...`` instead of a code."""

    http_status = 400
    public_message = "SuperID did not approve the sign-in."

    def __init__(self, error: str, error_description: str | None = None) -> None:
        text = f"SuperID answered {error}"
        if error_description:
            text += f": {error_description}"
        super().__init__(text)
        self.error = error
        self.error_description = error_description


class StateMismatchError(SignInError):
    """The ``state`` of a callback is unknown, expired or already used."""

    http_status = 400
    public_message = "This sign-in is unknown, expired or already used. Start it again."


class NotAdministratorError(SignInError):
    """The sign-in is not a tenant administrator's, and the tenant has not approved the app yet.

    Only an administrator installs an application (protocol §3). ``context_identifier`` names
    the tenant; the user is deliberately not in the message.
    """

    http_status = 403
    public_message = "Only a tenant administrator can install this application."

    def __init__(self, message: str, *, context_identifier: str | None = None) -> None:
        super().__init__(message)
        self.context_identifier = context_identifier


class TenantMismatchError(SignInError):
    """The id_token's tenant is not the one the install was started for (or not a custom
    application's own tenant)."""

    http_status = 403
    public_message = "SuperID signed in to another tenant than the one asked for."

    def __init__(self, message: str, *, expected: str | None, actual: str | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class OAuthError(ToolkitError):
    """The token, refresh or revoke endpoint answered with an OAuth error body."""

    http_status = 400
    public_message = "SuperID did not accept the sign-in. Start it again."

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        text = f"OAuth error {error}"
        if error_description:
            text += f": {error_description}"
        super().__init__(text)
        self.error = error
        self.error_description = error_description
        self.status_code = status_code


class InvalidGrantError(OAuthError):
    """``invalid_grant``: the code or refresh token is used, expired, revoked or mismatched."""


class InvalidClientError(OAuthError):
    """``invalid_client``: the client id or secret was not accepted."""

    http_status = 500
    public_message = "This application is not set up correctly."


def oauth_error(
    error: str, error_description: str | None = None, *, status_code: int | None = None
) -> OAuthError:
    """The most specific :class:`OAuthError` subclass for an OAuth ``error`` code."""
    cls: type[OAuthError] = {
        "invalid_grant": InvalidGrantError,
        "invalid_client": InvalidClientError,
    }.get(error, OAuthError)
    return cls(error, error_description, status_code=status_code)


class StoreError(ToolkitError):
    """The store cannot do what was asked (database, migrations, secrets at rest)."""

    http_status = 500
    public_message = "Something went wrong on our side."


class SecretKeyError(StoreError):
    """The key ring is missing, malformed, too widely readable, or cannot read this store.

    ``kid`` names the key id at fault when there is one; key material is never included.
    """

    def __init__(self, message: str, *, kid: str | None = None) -> None:
        super().__init__(message)
        self.kid = kid


class DecryptionError(StoreError):
    """A stored secret failed authentication: tampered, truncated, or copied from elsewhere."""


class NotFoundError(StoreError):
    """No application, authorization or pending sign-in matches."""

    http_status = 404
    public_message = "Not found."


class ExpiredError(NotFoundError):
    """The record existed but has expired; it is removed when found."""

    http_status = 404
    public_message = "This has expired."


class UnknownApplicationError(NotFoundError):
    """No registered application has this name or id (``application`` is what was given)."""

    http_status = 404
    public_message = "This application is not registered here."

    def __init__(self, message: str, *, application: str | None = None) -> None:
        super().__init__(message)
        self.application = application


class NotInstalledError(NotFoundError):
    """The application is known but not installed in the tenant: no administrator approved it
    there (``authorization_status`` None), or the approval no longer holds (``revoked``,
    ``needs_reconsent``, ``suspended``, ``deleted``). ``application`` is its name,
    ``context_identifier`` the tenant as stored (or as given when there is no record)."""

    http_status = 404
    public_message = "This application is not installed in this tenant."

    def __init__(
        self,
        message: str,
        *,
        application: str,
        context_identifier: str,
        authorization_status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.application = application
        self.context_identifier = context_identifier
        self.authorization_status = authorization_status


class ConflictError(StoreError):
    """A unique value (application name, client id per environment, ...) is already taken."""

    http_status = 409
    public_message = "This already exists."


class ContextMismatchError(TokenValidationError):
    """The token's ``ctx`` claim is not the tenant (context identifier) that was asked for."""

    reason = "context"


class SystemUserError(ToolkitError):
    """The PartnerSystemUser exchange answered ``IsSuccessful: false`` (or a SOAP fault).

    ``error_code`` is the ``AuthorizeErrorCode`` name the ``ErrorMessage`` starts with
    (``Revoked``, ``InvalidTimestamp``, ...; None when it names none); ``error_message`` is the
    wire ``ErrorMessage``, redacted; ``status_code`` the HTTP status of the answer.
    """

    http_status = 502
    public_message = "SuperOffice refused the application's system user."

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.error_message = error_message
        self.status_code = status_code


class AuthorizationRevokedError(SystemUserError):
    """``Revoked`` (or ``Expired``): the tenant's authorization of the app no longer holds."""

    http_status = 403
    public_message = "The tenant no longer authorizes this application."


class NeedsReapprovalError(SystemUserError):
    """``NeedsReapproval``: the app changed what it asks for; an administrator must approve."""

    http_status = 403
    public_message = "An administrator must approve this application again."


class ApplicationTokenDeniedError(SystemUserError):
    """``Denied``: access refused, e.g. a wrong application token (client secret)."""

    http_status = 500
    public_message = "This application is not set up correctly."


class InvalidSystemUserSignatureError(SystemUserError):
    """``InvalidSignature``: the signed system user token does not verify with the app's key."""

    http_status = 500
    public_message = "This application is not set up correctly."


class InvalidSystemUserTimestampError(SystemUserError):
    """``InvalidTimestamp``: the signing time is outside SuperOffice's tolerance (clock skew)."""


class TicketError(ToolkitError):
    """A system user ticket cannot be obtained, or the tenant does not accept it."""

    http_status = 502
    public_message = "SuperOffice refused the application's system user."


class AuthorizationNotActiveError(TicketError):
    """The authorization is not ``active`` (``status`` says what it is): no exchange is tried."""

    http_status = 403
    public_message = "This application is not active in this tenant."

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class NoSystemUserTokenError(TicketError):
    """The authorization holds no system user token (the app lacks the SystemToken claim)."""

    http_status = 403
    public_message = "This application has no system user in this tenant."


class TicketRejectedError(TicketError):
    """The tenant answered 401 to the ticket, and again to the one renewed ticket."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TicketLeaseTimeoutError(TicketError):
    """Another process held the exchange lease for this tenant longer than the wait allowed."""

    http_status = 503
    public_message = "SuperOffice is busy; try again later."


class RetryExhaustedError(TransportError):
    """A retryable failure (connect error, 429, 502/503/504) outlasted the retry policy.

    ``attempts`` is how many requests were sent (or tried); ``status_code`` the last answer's
    status (None after a connect error); ``retry_after`` the last ``Retry-After`` in seconds.
    """

    http_status = 503
    public_message = "SuperOffice is busy or unreachable; try again later."

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        attempts: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url, status_code=status_code)
        self.attempts = attempts
        self.retry_after = retry_after


class RetryBudgetExceededError(RetryExhaustedError):
    """The retry policy's total time budget would be exceeded by the next wait."""


class RequestOutcomeUnknownError(TransportError):
    """A non-idempotent request (POST, PATCH) failed after it was sent: it may have been applied.

    It is never repeated blindly; read the object back by its natural key (``ProgId``, name).
    """


class TenantError(ToolkitError):
    """The tenant cannot be reached as the state API describes it (protocol §6).

    ``context_identifier`` names the tenant.
    """

    http_status = 502
    public_message = "The tenant cannot be reached."

    def __init__(self, message: str, *, context_identifier: str | None = None) -> None:
        super().__init__(message)
        self.context_identifier = context_identifier


class TenantNotRunningError(TenantError):
    """The state API says the tenant is not running; no call is made until ``valid_until``.

    ``state`` is the :class:`~toolkit.tenant.status.TenantState`; ``valid_until`` when the
    state API should be asked again (an aware UTC datetime, None if it gave none).
    """

    http_status = 503
    public_message = "The tenant is not running right now; try again later."

    def __init__(
        self,
        message: str,
        *,
        state: TenantState,
        valid_until: datetime | None = None,
        context_identifier: str | None = None,
    ) -> None:
        super().__init__(message, context_identifier=context_identifier)
        self.state = state
        self.valid_until = valid_until


class UnknownTenantError(TenantNotRunningError):
    """The state API answers ``Unknown`` (or 404) for the tenant: a wrong context identifier,
    or an environment problem (protocol §6, open question 15)."""

    http_status = 404
    public_message = "This tenant is unknown."


class ApiError(ToolkitError):
    """The tenant web API answered an error status, with SuperOffice's error body (§5).

    ``status_code`` is the HTTP status; ``error_type``, ``error_message`` and ``error_source``
    are the body's ``ErrorType``, ``ErrorMessage`` (redacted) and ``ErrorSource`` (None when
    absent); ``url`` is redacted; ``method`` the request method.
    """

    http_status = 502
    public_message = "SuperOffice answered with an error."

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        error_message: str | None = None,
        error_source: str | None = None,
        url: str | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.error_message = error_message
        self.error_source = error_source
        self.url = url
        self.method = method


class ApiUnauthorizedError(ApiError):
    """401: the credential was not accepted (even after the one renewal or refresh)."""


class ApiForbiddenError(ApiError):
    """403: the principal may not do this (or a user's access token expired, open q. 6)."""

    http_status = 403
    public_message = "SuperOffice does not allow this."


class ApiNotFoundError(ApiError):
    """404: no such entity, list or route in this tenant."""

    http_status = 404
    public_message = "Not found in SuperOffice."


class ApiConflictError(ApiError):
    """409: the entity changed meanwhile or already exists."""

    http_status = 409
    public_message = "The record changed meanwhile; try again."


class MisdirectedRequestError(ApiError):
    """421 "Wrong subdomain used to access tenant" again after re-resolving the tenant (§1)."""


class SoapFaultError(ToolkitError):
    """A NetServer SOAP service answered a fault (``fault_code``, ``fault_string`` redacted)."""

    http_status = 502
    public_message = "SuperOffice answered with an error."

    def __init__(
        self,
        message: str,
        *,
        fault_code: str | None = None,
        fault_string: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.fault_code = fault_code
        self.fault_string = fault_string
        self.status_code = status_code


class NotificationMismatchError(TokenValidationError):
    """A state-change webhook token's claims contradict the message it came with (for example
    its ``change_type`` claim is not the body's ``ChangeType``)."""

    reason = "notification"


class NotificationRejectedError(ToolkitError):
    """A state-change webhook (protocol §6) was refused; nothing was changed.

    ``reason`` is a short machine-readable word (``unknown_application``, ``signature``,
    ``expired``, ``unknown_tenant``, ...): for logs and the webhook history, never for the
    sender. ``application`` names the application when the token's audience was one of ours.
    """

    http_status = 401
    public_message = "The notification was refused."

    def __init__(
        self, message: str, *, reason: str = "invalid", application: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.application = application


class MalformedNotificationError(NotificationRejectedError):
    """The webhook body is not a NotificationMessage (not JSON, fields missing or mistyped)."""

    http_status = 400
    public_message = "The notification is not a notification message."

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message, reason=reason)


class NotificationApplicationError(NotificationRejectedError):
    """The URL a state-change webhook arrived at identifies none of our applications.

    Each application has its own state-change URL (``/state-change/{client_id}``); the bare
    ``/state-change`` serves a deployment with exactly one application. ``reason`` is
    ``unknown_application`` or ``ambiguous_application`` (the bare URL with several).
    """

    http_status = 404
    public_message = "No application is served at this address."


class SessionError(ToolkitError):
    """A normal user context (``/panel``) session cannot be used as asked."""

    http_status = 401
    public_message = "Sign in again."


class SessionExpiredError(SessionError):
    """No such session (unknown, signed out) or it expired: the user must sign in again."""


class SessionMismatchError(SessionError):
    """The session belongs to another application or tenant than the request names.

    ``expected`` is the tenant the request names, ``actual`` the session's.
    """

    http_status = 403
    public_message = "This session belongs to another application or tenant."

    def __init__(self, message: str, *, expected: str | None, actual: str | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class CsrfError(SessionError):
    """A form was posted without the session's CSRF token, or with another one."""

    http_status = 403
    public_message = "The form has expired; reload the page."


class OptionValidationError(ToolkitError, ValueError):
    """A user option is not in the allow-list, or its value has the wrong type or size.

    ``key`` names the option at fault.
    """

    http_status = 400
    public_message = "The option value is not allowed."

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ProvisioningError(ToolkitError):
    """Provisioning (manifest, plan, apply, uninstall) cannot go on as asked."""

    http_status = 500
    public_message = "Provisioning could not go on."


class ManifestError(ProvisioningError, ValueError):
    """A provisioning manifest is invalid; nothing is applied.

    ``problems`` lists every problem found as ``(line, field, message)`` (``line`` is None when
    it could not be found in the source); ``source`` names the file (or ``<manifest>``). The
    message reads ``manifest.toml:12: web_panels[1].visible_in: 'NavBar' is not a VisibleIn
    value`` for the first problem, with the count of the others.
    """

    http_status = 400
    public_message = "The provisioning manifest is invalid."

    def __init__(
        self, source: str, problems: list[tuple[int | None, str, str]] | None = None
    ) -> None:
        self.source = source
        self.problems = list(problems or [])
        first = self.problems[0] if self.problems else (None, "", "invalid manifest")
        self.line, self.field, self.problem = first
        where = source if self.line is None else f"{source}:{self.line}"
        text = (
            f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"
        )
        if len(self.problems) > 1:
            text += f" (and {len(self.problems) - 1} more problem(s))"
        super().__init__(text)

    def lines(self) -> list[str]:
        """Every problem as one ``file:line: field: message`` line."""
        result = []
        for line, field, problem in self.problems:
            where = self.source if line is None else f"{self.source}:{line}"
            result.append(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")
        return result


class PlanConflictError(ProvisioningError):
    """The plan needs an object another application (or an administrator) owns, e.g. a web
    panel with the manifest's ``ProgId`` that is not the application's. ``conflicts`` says
    which; nothing was applied."""

    http_status = 409
    public_message = "Another application already owns what this needs."

    def __init__(self, message: str, *, conflicts: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class StalePlanError(ProvisioningError):
    """The tenant's objects changed since the plan was computed (``expected`` / ``actual``
    fingerprints); plan again. Nothing was applied."""

    http_status = 409
    public_message = "The tenant changed meanwhile; plan again."

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class ProvisioningBusyError(ProvisioningError):
    """Another apply (``owner``) holds the lock of this application x tenant until ``until``."""

    http_status = 409
    public_message = "Provisioning is already running for this tenant."

    def __init__(
        self, message: str, *, owner: str | None = None, until: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.owner = owner
        self.until = until


class ProvisioningRunError(ProvisioningError):
    """An apply or uninstall stopped at a step; the run (``run_id``) is stored as ``partial``
    or ``failed`` and the cause is chained. Running it again completes only the rest."""

    http_status = 500
    public_message = "Provisioning stopped before it finished; run it again."

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        step: int | None = None,
        outcome: str = "failed",
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.step = step
        self.outcome = outcome


class JobError(ToolkitError):
    """Background work on the durable engine (``toolkit.jobs``) cannot go on as asked."""

    http_status = 500
    public_message = "Background work could not go on."


class JobNotFoundError(JobError):
    """No job or tenant workflow has this id."""

    http_status = 404
    public_message = "No such job."


class TenantJobFailedError(JobError):
    """One tenant's workflow failed; ``error_type`` names the toolkit error behind it.

    Only text crosses the engine (the workflow's error is stored and read back by any process),
    so the cause travels as ``error_type`` + message, never as an object.
    """

    def __init__(self, message: str, *, error_type: str = "Exception") -> None:
        super().__init__(message)
        self.error_type = error_type

    def __reduce__(self) -> tuple[object, ...]:
        # The engine pickles a workflow's error: keep the keyword through a round trip.
        return (_tenant_job_failed, (str(self), self.error_type))


def _tenant_job_failed(message: str, error_type: str) -> TenantJobFailedError:
    return TenantJobFailedError(message, error_type=error_type)


class StoreUnavailableError(StoreError):
    """The database cannot be opened, reached or written: a read-only file, folder or server, a
    full disk, an I/O error, a refused connection.

    ``location`` is the database file or its URL without password; ``cause`` is a short word
    (``read_only``, ``disk_full``, ``cannot_open``, ``io_error``, ``permission``, ``corrupt``,
    ``resources``, ``unreachable``). The driver's error is chained with ``from``.
    """

    http_status = 503
    public_message = "The service is unavailable right now; try again later."

    def __init__(self, message: str, *, location: str | None = None, cause: str = "unknown"):
        super().__init__(message)
        self.location = location
        self.cause = cause


class UnstorableTextError(StoreError, ValueError):
    """Text that no store can hold: NUL or an unpaired UTF-16 surrogate (see ``toolkit.text``).

    Raised before the driver sees the value, so nothing is written; ``parameter`` names the
    statement parameter (a column name), never the value.
    """

    http_status = 400
    public_message = "The request holds text that cannot be used."

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


def http_status_of(error: BaseException) -> int:
    """The HTTP status to answer ``error`` with: its class's ``http_status``, 500 for anything
    that is not a :class:`ToolkitError` (an unexpected error is ours)."""
    return error.http_status if isinstance(error, ToolkitError) else ToolkitError.http_status


def public_message_of(error: BaseException) -> str:
    """A sentence about ``error`` that is safe to show a user (never ``str(error)``)."""
    return error.public_message if isinstance(error, ToolkitError) else ToolkitError.public_message
