import pytest

from toolkit import errors


def test_every_error_is_a_toolkit_error() -> None:
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, errors.ToolkitError)


def test_the_docstring_draws_every_error_class() -> None:
    names = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ToolkitError)
    }
    assert errors.__doc__ is not None
    assert {name for name in names if name in errors.__doc__} == names


@pytest.mark.parametrize(
    ("wire", "cls"),
    [
        ("invalid_grant", errors.InvalidGrantError),
        ("invalid_client", errors.InvalidClientError),
        ("unsupported_grant_type", errors.OAuthError),
    ],
)
def test_oauth_errors_keep_the_wire_fields(wire: str, cls: type[errors.OAuthError]) -> None:
    error = errors.oauth_error(wire, "Code already used", status_code=400)
    assert type(error) is cls
    assert (error.error, error.error_description, error.status_code) == (
        wire,
        "Code already used",
        400,
    )
    assert wire in str(error)


def test_token_validation_errors_say_why() -> None:
    assert errors.TokenExpiredError("x").reason == "expired"
    assert errors.IssuerMismatchError("x", claim="iss").claim == "iss"
    assert errors.KeyFormatError("bad", element="InverseQ").element == "InverseQ"
