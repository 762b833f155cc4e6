"""Every toolkit error carries a suggested HTTP status and a message safe to show a user
(issue 16 item 3; STYLE.md §2: the value lives on the class, lookups read it from the tree)."""

from __future__ import annotations

import pytest

from toolkit import errors
from toolkit.errors import (
    ApiNotFoundError,
    ConfigurationError,
    InvalidContextIdentifierError,
    NotFoundError,
    NotInstalledError,
    RedirectUriNotRegisteredError,
    StoreError,
    TenantNotRunningError,
    ToolkitError,
    UnknownApplicationError,
    UnknownTenantError,
    http_status_of,
    public_message_of,
)
from toolkit.tenant.status import TenantState


def _tree() -> list[type[ToolkitError]]:
    found: list[type[ToolkitError]] = []
    stack: list[type[ToolkitError]] = [ToolkitError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == "toolkit.errors"]


@pytest.mark.parametrize("cls", _tree(), ids=lambda cls: cls.__name__)
def test_each_class_has_a_status_and_a_safe_sentence(cls: type[ToolkitError]) -> None:
    assert isinstance(cls.http_status, int)
    assert 400 <= cls.http_status <= 599
    message = cls.public_message
    assert isinstance(message, str)
    assert message.endswith(".")
    assert 10 <= len(message) <= 100
    assert "{" not in message  # a fixed sentence, not a template waiting for a secret


def test_literal_statuses_of_the_everyday_errors() -> None:
    assert ToolkitError.http_status == 500
    assert ConfigurationError.http_status == 400
    assert InvalidContextIdentifierError.http_status == 400
    assert RedirectUriNotRegisteredError.http_status == 500
    assert NotFoundError.http_status == 404
    assert UnknownApplicationError.http_status == 404
    assert NotInstalledError.http_status == 404
    assert TenantNotRunningError.http_status == 503
    assert UnknownTenantError.http_status == 404
    assert ApiNotFoundError.http_status == 404
    assert StoreError.http_status == 500
    assert errors.StoreUnavailableError.http_status == 503
    assert errors.NotAdministratorError.http_status == 403
    assert errors.ProvisioningBusyError.http_status == 409
    assert errors.ApiError.http_status == 502
    assert errors.NotificationRejectedError.http_status == 401


def test_subclasses_inherit_what_they_do_not_set() -> None:
    assert errors.ApiUnauthorizedError.http_status == errors.ApiError.http_status
    assert errors.SecretKeyError.public_message == StoreError.public_message
    assert errors.TokenExpiredError.http_status == errors.TokenValidationError.http_status


def test_lookups_from_any_exception() -> None:
    not_running = TenantNotRunningError(
        "Cust12345 is in OfflineMaintenance", state=TenantState.OfflineMaintenance
    )
    assert http_status_of(not_running) == 503
    assert public_message_of(not_running) == (
        "The tenant is not running right now; try again later."
    )
    secret = "7T:secret-ticket"
    assert http_status_of(RuntimeError(secret)) == 500
    assert public_message_of(RuntimeError(secret)) == "Something went wrong on our side."
    refused = NotInstalledError(
        "Acme Sync is not installed in Cust12345 (revoked)",
        application="Acme Sync",
        context_identifier="Cust12345",
        authorization_status="revoked",
    )
    assert public_message_of(refused) == "This application is not installed in this tenant."
    assert isinstance(refused, NotFoundError)  # old `except NotFoundError` still catches it
    assert not isinstance(refused, UnknownApplicationError)
    assert refused.authorization_status == "revoked"
