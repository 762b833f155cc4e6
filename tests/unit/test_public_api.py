import toolkit


def test_all_is_sorted_and_complete() -> None:
    assert toolkit.__all__ == sorted(toolkit.__all__)
    for name in toolkit.__all__:
        assert hasattr(toolkit, name), name


def test_the_emulator_stays_out_of_the_client_api() -> None:
    assert not any("emulator" in name.lower() for name in toolkit.__all__)


def test_every_public_name_has_a_home() -> None:
    assert set(toolkit.__all__) - {"__version__"} == set(toolkit._HOMES)


def test_the_async_api_is_public() -> None:
    import toolkit.async_workspace
    from toolkit.http import create_async_client

    assert toolkit.AsyncWorkspace is toolkit.async_workspace.AsyncWorkspace
    assert toolkit.create_async_client is create_async_client
    # The module docstring shows the lifespan and handlers of a Starlette app.
    assert "async def lifespan" in (toolkit.async_workspace.__doc__ or "")


def test_importing_toolkit_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, toolkit; print('sqlalchemy' in sys.modules, 'httpx' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert output == ["False", "False"]


# The errors a partner's request handler catches every day (issue 16 item 3).
EVERYDAY_ERRORS = {
    "ApiError",
    "ApiNotFoundError",
    "AuthorizationRevokedError",
    "ConfigurationError",
    "InvalidContextIdentifierError",
    "MalformedNotificationError",
    "NotFoundError",
    "NotInstalledError",
    "NotificationApplicationError",
    "NotificationRejectedError",
    "ProvisioningError",
    "RedirectUriNotRegisteredError",
    "StoreError",
    "TenantNotRunningError",
    "TicketError",
    "TokenValidationError",
    "ToolkitError",
    "UnknownApplicationError",
}


def test_everyday_errors_are_exported_from_toolkit() -> None:
    import toolkit.errors

    assert set(toolkit.__all__) >= EVERYDAY_ERRORS | {"http_status_of", "public_message_of"}
    for name in EVERYDAY_ERRORS:
        assert getattr(toolkit, name) is getattr(toolkit.errors, name)


def test_every_toolkit_error_is_in_the_errors_modules_all() -> None:
    import toolkit.errors

    defined = {
        name
        for name, value in vars(toolkit.errors).items()
        if isinstance(value, type)
        and issubclass(value, toolkit.errors.ToolkitError)
        and value.__module__ == "toolkit.errors"
    }
    assert defined <= set(toolkit.errors.__all__)
    assert toolkit.errors.__all__ == sorted(toolkit.errors.__all__)
