"""Operators: the allow-list, roles, identity from id_token claims, the [auth] checks, the
generated secrets file."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from toolkit.config import Settings
from toolkit.errors import ConfigurationError
from toolkit.operators import (
    MIN_COOKIE_SECRET_BYTES,
    OPERATOR_ACTIONS,
    Operator,
    can,
    check_dashboard_launch,
    generate_cookie_secret,
    load_auth_settings,
    parse_operators,
    resolve_operator,
    secrets_toml,
    write_secrets_file,
)

ISSUER = "http://127.0.0.1:8765"
ALLOWED = {"admin@cust12345.test": "operator", "user@cust12345.test": "viewer"}
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "x" * MIN_COOKIE_SECRET_BYTES,
    "client_id": "cid",
    "client_secret": "client-secret-value",
    "server_metadata_url": ISSUER + "/login/.well-known/openid-configuration",
}


@pytest.mark.parametrize(
    "text",
    [
        "admin@cust12345.test:operator, User@Cust12345.test:viewer",
        '{"admin@cust12345.test": "operator", "user@cust12345.test": "viewer"}',
        '[{"identity": "admin@cust12345.test", "role": "operator"},'
        ' {"email": "user@cust12345.test", "role": "viewer"}]',
    ],
)
def test_allow_list_formats(text: str) -> None:
    assert parse_operators(text) == ALLOWED


@pytest.mark.parametrize(
    "text", ["admin@x.test", "admin@x.test:root", '{"a": "boss"}', "[1]", "{bad json", ":viewer"]
)
def test_bad_allow_lists_are_refused(text: str) -> None:
    with pytest.raises(ConfigurationError, match="SOTK_OPERATORS"):
        parse_operators(text)


def test_empty_allow_list_and_settings_field(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_operators(None) == {} == parse_operators("  ")
    monkeypatch.setenv("SOTK_OPERATORS", "a@b.test:viewer")
    monkeypatch.setenv("SOTK_OPERATOR_ISSUER", ISSUER)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.operators == "a@b.test:viewer"
    assert settings.operator_issuer == ISSUER


def test_viewers_read_operators_act() -> None:
    assert "apply" in OPERATOR_ACTIONS
    assert "renew_ticket" in OPERATOR_ACTIONS
    assert "check_state" in OPERATOR_ACTIONS  # it calls SuperOffice and records the state
    assert "check_drift" in OPERATOR_ACTIONS  # it plans every tenant, a call to each
    assert all(can("operator", action) for action in OPERATOR_ACTIONS)
    assert not any(can("viewer", action) for action in OPERATOR_ACTIONS)
    assert can("viewer", "export_activity")
    assert can("viewer", "view")
    assert can(None, "apply")  # the unauthenticated loopback dashboard: one local operator


def test_superid_claims_resolve_by_subject() -> None:
    # SuperID sends no email_verified and no top-level email: its sub is the login name.
    claims = {"iss": ISSUER, "sub": "Admin@Cust12345.test", "aud": "cid"}
    assert resolve_operator(claims, ALLOWED, trusted_issuer=ISSUER) == Operator(
        "Admin@Cust12345.test", "operator"
    )
    viewer = resolve_operator({"iss": ISSUER, "sub": "user@cust12345.test"}, ALLOWED)
    assert viewer is not None
    assert viewer.role == "viewer"
    assert not viewer.is_operator


def test_email_counts_only_when_verified() -> None:
    unverified = {"iss": ISSUER, "sub": "123", "email": "admin@cust12345.test"}
    assert resolve_operator(unverified, ALLOWED) is None
    claimed = {**unverified, "email_verified": "false"}
    assert resolve_operator(claimed, ALLOWED) is None
    verified = {**unverified, "email_verified": True, "name": "Ada"}
    assert resolve_operator(verified, ALLOWED) == Operator(
        "admin@cust12345.test", "operator", "Ada"
    )


def test_another_issuer_is_nobody() -> None:
    claims = {"iss": "https://evil.example", "sub": "admin@cust12345.test"}
    assert resolve_operator(claims, ALLOWED, trusted_issuer=ISSUER) is None
    assert resolve_operator({"sub": "stranger@x.test", "iss": ISSUER}, ALLOWED) is None


def test_auth_section_checks() -> None:
    assert load_auth_settings(None) is None
    assert load_auth_settings({}) is None
    loaded = load_auth_settings(AUTH)
    assert loaded is not None
    assert loaded.client_id == "cid"
    with pytest.raises(ConfigurationError, match="at least 32 bytes") as short:
        load_auth_settings({**AUTH, "cookie_secret": "too-short-secret"})
    assert "too-short-secret" not in str(short.value)
    with pytest.raises(ConfigurationError, match="client_secret"):
        load_auth_settings({**AUTH, "client_secret": ""})
    with pytest.raises(ConfigurationError, match="oauth2callback"):
        load_auth_settings({**AUTH, "redirect_uri": "http://127.0.0.1:8501/"})


def test_launch_checks(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    assert check_dashboard_launch("127.0.0.1", [secrets], None) is None  # no file: loopback
    with pytest.raises(ConfigurationError, match="loopback only"):
        check_dashboard_launch("0.0.0.0", [secrets], None)  # noqa: S104 - the refused case
    write_secrets_file(secrets, secrets_toml(**AUTH))
    with pytest.raises(ConfigurationError, match="allow-lists nobody"):
        check_dashboard_launch("0.0.0.0", [secrets], "")  # noqa: S104
    assert check_dashboard_launch("0.0.0.0", [secrets], "a@b.test:operator") is not None  # noqa: S104
    secrets.write_text('[auth]\ncookie_secret = "short"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError):
        check_dashboard_launch("127.0.0.1", [secrets], "a@b.test:operator")


def test_secrets_file_is_owner_only_and_valid_toml(tmp_path: Path) -> None:
    cookie = generate_cookie_secret()
    assert len(cookie.encode()) >= MIN_COOKIE_SECRET_BYTES
    text = secrets_toml(**{**AUTH, "cookie_secret": cookie, "client_secret": 'q"uote\\back'})
    path = write_secrets_file(tmp_path / "deep" / "secrets.toml", text)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    parsed = tomllib.loads(path.read_text(encoding="utf-8"))["auth"]
    assert parsed["client_secret"] == 'q"uote\\back'
    assert parsed["cookie_secret"] == cookie
    assert not list(path.parent.glob("*.tmp"))


def test_secrets_file_can_carry_the_oidc_prompt(tmp_path: Path) -> None:
    # Streamlit sends prompt=select_account unless [auth].client_kwargs says otherwise.
    plain = tomllib.loads(secrets_toml(**AUTH))["auth"]
    assert "client_kwargs" not in plain
    text = secrets_toml(**AUTH, prompt="login")
    parsed = tomllib.loads(text)["auth"]
    assert parsed["client_kwargs"] == {"prompt": "login"}
    assert load_auth_settings(parsed) is not None
    hostile = tomllib.loads(secrets_toml(**AUTH, prompt='x" }\n[evil]'))
    assert set(hostile) == {"auth"}
    assert hostile["auth"]["client_kwargs"] == {"prompt": 'x" }\n[evil]'}
