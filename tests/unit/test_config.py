import pytest

from toolkit.config import Environment, Settings, require_secure_url
from toolkit.errors import ConfigurationError


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("sod", "https://sod.superoffice.com"),
        ("qaonline", "https://qaonline.superoffice.com"),
        ("stage", "https://qaonline.superoffice.com"),
        ("online", "https://online.superoffice.com"),
        ("SOD", "https://sod.superoffice.com"),
    ],
)
def test_named_environments_use_the_unnumbered_login_host(name: str, host: str) -> None:
    env = Environment.named(name)
    assert env.base_url == host
    assert env.issuer == host  # the issuer has no /login suffix


def test_every_url_is_derived_from_the_login_host() -> None:
    env = Environment.named("online")
    assert env.authority == "https://online.superoffice.com/login"
    assert env.discovery_url == (
        "https://online.superoffice.com/login/.well-known/openid-configuration"
    )
    assert env.jwks_url == "https://online.superoffice.com/login/.well-known/jwks"
    assert env.authorize_url == "https://online.superoffice.com/login/common/oauth/authorize"
    assert env.tenant_authorize_url("Cust12345") == (
        "https://online.superoffice.com/login/Cust12345/oauth/authorize"
    )
    assert env.token_url == "https://online.superoffice.com/login/common/oauth/tokens"
    assert env.revocation_url == "https://online.superoffice.com/login/common/oauth/revoke"
    assert env.logout_url == "https://online.superoffice.com/login/logout"
    assert env.state_url("Cust12345") == "https://online.superoffice.com/api/state/Cust12345"
    assert env.partner_system_user_url == (
        "https://online.superoffice.com/Login/api/PartnerSystemUser/Authenticate"
    )
    assert env.partner_system_user_soap_url == (
        "https://online.superoffice.com/login/services/PartnerSystemUserService.svc"
    )


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown environment"):
        Environment.named("sod2")


def test_emulator_on_loopback_may_use_plain_http() -> None:
    env = Environment.emulator("http://127.0.0.1:8765/")
    assert env.is_emulator
    assert env.base_url == "http://127.0.0.1:8765"
    assert env.discovery_url == "http://127.0.0.1:8765/login/.well-known/openid-configuration"


@pytest.mark.parametrize(
    "url",
    ["http://example.com/cb", "http://10.0.0.5:8000/cb", "ftp://127.0.0.1/x", "/callback", ""],
)
def test_plain_http_is_refused_except_on_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError):
        require_secure_url(url)


@pytest.mark.parametrize(
    "url", ["http://localhost:8000/cb", "http://127.0.0.2/cb", "http://[::1]:9/cb", "https://x.io"]
)
def test_loopback_and_https_urls_are_accepted(url: str) -> None:
    assert require_secure_url(url) == url


def test_settings_read_sotk_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTK_ENVIRONMENT", "stage")
    monkeypatch.setenv("SOTK_SECRET_KEYS", "k1:83d0f3bcb9afbc7eb9d0682e9b86db52")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "qaonline"
    assert settings.superoffice_environment().base_url == "https://qaonline.superoffice.com"
    assert "83d0f3bc" not in repr(settings)


def test_settings_point_at_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTK_EMULATOR_URL", "http://127.0.0.1:9999")
    env = Settings(_env_file=None).superoffice_environment()  # type: ignore[call-arg]
    assert env.is_emulator
    assert env.issuer == "http://127.0.0.1:9999"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SOTK_ALLOWED_ALGORITHMS", '["HS256"]'),
        ("SOTK_ALLOWED_ALGORITHMS", '["none"]'),
        ("SOTK_ALLOWED_ALGORITHMS", "[]"),
        ("SOTK_TOKEN_LEEWAY_SECONDS", "3600"),
        ("SOTK_PUBLIC_URL", "http://partner.example.com"),
        ("SOTK_ENVIRONMENT", "production"),
    ],
)
def test_unsafe_or_unknown_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable.removeprefix("SOTK_").lower()):
        Settings(_env_file=None)  # type: ignore[call-arg]
