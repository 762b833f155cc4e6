"""``toolkit.doctor`` and ``sotk doctor``, against an in-thread emulator."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.config import Settings
from toolkit.doctor import Check, CheckStatus, run_checks
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.store import generate_key_text
from toolkit.store.repository import Repository
from toolkit.store.schema import applications
from toolkit.workspace import Workspace

runner = CliRunner()
CTX = "Cust12345"
ADMIN = "admin@cust12345.test"
PUBLIC_URL = "http://127.0.0.1:8000"
KEY = generate_key_text("alpha")


def make_settings(home: Path, emulator_url: str, keys: str = KEY) -> Settings:
    return Settings(  # type: ignore[call-arg]
        home=home,
        secret_keys=keys,
        public_url=PUBLIC_URL,
        emulator_url=emulator_url,
        _env_file=None,
    )


@pytest.fixture
def healthy(tmp_path: Path, emu: Emulator) -> Settings:
    """A workspace with one application installed in CTX through the emulator's SuperID."""
    settings = make_settings(tmp_path / "home", emu.base_url)
    with Workspace.open(settings) as ws:
        name = f"Doctor App {tmp_path.name}"
        ws.applications.register_with_emulator(
            name=name,
            emulator_url=emu.base_url,
            redirect_uri=f"{PUBLIC_URL}/callback",
            public_url=PUBLIC_URL,  # its state-change URL, as `sotk app add --emulator` does
            actor="test",
        )
        answer = sign_in(ws.installations.begin(name, tenant=CTX), username=ADMIN)
        ws.installations.complete(answer.params)
    return settings


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def env_of(settings: Settings) -> dict[str, str]:
    assert settings.secret_keys is not None
    env = {
        "SOTK_HOME": str(settings.home),
        "SOTK_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "SOTK_PUBLIC_URL": settings.public_url,
    }
    if settings.emulator_url:
        env["SOTK_EMULATOR_URL"] = settings.emulator_url
    return env


@pytest.mark.emulator
def test_a_healthy_workspace_is_all_ok(healthy: Settings) -> None:
    checks = run_checks(healthy)
    assert {check.status for check in checks} == {CheckStatus.OK}, checks
    found = by_name(checks)
    assert {"environment", "database", "schema", "key ring", "stored secrets"} <= set(found)
    assert {"discovery", "jwks", "state api"} <= set(found)
    assert "running" in found["state api"].detail
    assert "fingerprint" in next(c for c in checks if c.name.startswith("key of")).detail
    assert "it opens this store" in found["key ring"].detail
    (redirect,) = [c for c in checks if c.name.startswith("redirect URI of")]
    assert redirect.detail == "http://127.0.0.1:8000/callback (/callback at SOTK_PUBLIC_URL)"
    (state_change,) = [c for c in checks if c.name.startswith("state-change URL of")]
    assert state_change.detail.startswith("http://127.0.0.1:8000/state-change/")
    assert state_change.detail.endswith(" (registered at the emulator)")


@pytest.mark.emulator
def test_a_wrong_secret_key_fails_with_a_fix(healthy: Settings) -> None:
    wrong = generate_key_text("alpha")
    checks = by_name(run_checks(make_settings(healthy.home, str(healthy.emulator_url), wrong)))
    assert checks["key ring"].status is CheckStatus.FAIL
    assert checks["key ring"].fix is not None
    assert "SOTK_SECRET_KEYS" in checks["key ring"].fix
    assert checks["stored secrets"].status is CheckStatus.SKIP
    for check in checks.values():  # no key material anywhere
        for key in (wrong, str(healthy.secret_keys and healthy.secret_keys.get_secret_value())):
            assert key.split(":")[1] not in check.detail + (check.fix or "")


@pytest.mark.emulator
def test_an_unreachable_environment_fails_with_a_fix(healthy: Settings) -> None:
    gone = make_settings(healthy.home, "http://127.0.0.1:9")  # discard port: nothing listens
    checks = by_name(run_checks(gone))
    assert checks["discovery"].status is CheckStatus.FAIL
    assert checks["discovery"].fix is not None
    assert "SOTK_EMULATOR_URL" in checks["discovery"].fix
    assert checks["jwks"].status is CheckStatus.SKIP
    assert checks["database"].status is CheckStatus.OK


@pytest.mark.emulator
def test_a_malformed_stored_key_fails(healthy: Settings) -> None:
    with Workspace.open(healthy) as ws:
        repository: Repository = ws.repository
        application = repository.list_applications()[0]
        sealed = repository.box.encrypt(
            "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n",
            aad=f"applications:{application.id}:private_key",
        )
        with repository.engine.begin() as connection:
            connection.execute(
                applications.update()
                .where(applications.c.id == application.id)
                .values(private_key=sealed)
            )
    checks = by_name(run_checks(healthy))
    key_check = checks[f"key of {application.name!r}"]
    assert key_check.status is CheckStatus.FAIL
    assert key_check.fix is not None
    assert "not a key" not in key_check.detail


def test_an_empty_home_warns_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(
        home=home, public_url=PUBLIC_URL, emulator_url="http://127.0.0.1:9", _env_file=None
    )  # type: ignore[call-arg]
    checks = by_name(run_checks(settings))
    assert checks["database"].status is CheckStatus.WARN
    assert not (home / "toolkit.db").exists()
    assert not (home / "secret.key").exists()


def test_a_too_open_key_file_fails_with_chmod(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(
        home=home, public_url=PUBLIC_URL, emulator_url="http://127.0.0.1:9", _env_file=None
    )  # type: ignore[call-arg]
    Workspace.open(settings).close()  # creates the store and secret.key
    (home / "secret.key").chmod(0o644)
    checks = by_name(run_checks(settings))
    assert checks["key ring"].status is CheckStatus.FAIL
    assert checks["key ring"].fix == f"chmod 600 {home / 'secret.key'}"


@pytest.mark.emulator
def test_the_cli_exits_0_when_healthy_and_1_on_failure(
    healthy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = env_of(healthy)
    result = runner.invoke(app, ["doctor"], env=env)
    assert result.exit_code == 0, result.output
    assert "[  ok] discovery" in result.output
    assert "0 failed" in result.output
    assert env["SOTK_SECRET_KEYS"].split(":")[1] not in result.output

    result = runner.invoke(app, ["doctor"], env={**env, "SOTK_SECRET_KEYS": generate_key_text()})
    assert result.exit_code == 1
    assert "[FAIL] key ring" in result.output
    assert "fix:" in result.output


def test_the_cli_reports_unusable_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["doctor"], env={"SOTK_HOME": str(tmp_path), "SOTK_ENVIRONMENT": "nowhere"}
    )
    assert result.exit_code == 1
    assert "SOTK_ENVIRONMENT" in result.output


# -- redirect and state-change URLs (issue 16 item 4) ------------------------------------------


def _url_checks(checks: list[Check], application: str) -> tuple[Check, Check]:
    found = by_name(checks)
    return found[f"redirect URI of {application!r}"], found[f"state-change URL of {application!r}"]


@pytest.mark.emulator
def test_localhost_is_not_127_0_0_1_to_superid(
    healthy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = healthy.model_copy(update={"public_url": "http://localhost:8000"})
    with Workspace.open(healthy) as ws:
        (application,) = ws.applications.list()
    redirect, state_change = _url_checks(run_checks(moved), application.name)
    assert redirect.status is CheckStatus.FAIL
    assert redirect.detail == (
        "http://127.0.0.1:8000/callback is registered, but the partner endpoints are at "
        "http://localhost:8000 (SOTK_PUBLIC_URL): installs come back to http://127.0.0.1:8000, "
        "not to them (localhost and 127.0.0.1 are different URLs to SuperID: they must match "
        "exactly)"
    )
    assert redirect.fix is not None
    assert redirect.fix.startswith("set SOTK_PUBLIC_URL to http://127.0.0.1:8000, or register ")
    assert state_change.status is CheckStatus.FAIL
    expected = f"http://localhost:8000/state-change/{application.client_id}"
    assert state_change.detail == (
        f"the emulator sends its notifications to "
        f"http://127.0.0.1:8000/state-change/{application.client_id}, not to {expected}"
    )
    monkeypatch.chdir(tmp_path)  # no stray .env
    result = runner.invoke(
        app, ["doctor"], env={**env_of(healthy), "SOTK_PUBLIC_URL": "http://localhost:8000"}
    )
    assert result.exit_code == 1
    assert "0 failed" not in result.output
    assert f"[FAIL] redirect URI of {application.name!r}" in result.output


@pytest.mark.emulator
def test_another_path_warns_and_a_missing_state_change_url_warns(
    tmp_path: Path, emu: Emulator
) -> None:
    settings = make_settings(tmp_path / "home", emu.base_url)
    with Workspace.open(settings) as ws:
        ws.applications.register_with_emulator(
            name="Mounted",
            emulator_url=emu.base_url,
            redirect_uri=f"{PUBLIC_URL}/superoffice/callback",
            actor="test",
        )
    redirect, state_change = _url_checks(run_checks(settings), "Mounted")
    assert redirect.status is CheckStatus.WARN
    assert redirect.detail == (
        "http://127.0.0.1:8000/superoffice/callback is not http://127.0.0.1:8000/callback: "
        "SuperID sends the administrator to another path than the partner endpoints' callback"
    )
    assert state_change.status is CheckStatus.WARN
    assert state_change.detail.startswith("the emulator has no state-change URL for it")


@pytest.mark.emulator
def test_a_redirect_uri_the_emulator_never_registered_fails(tmp_path: Path, emu: Emulator) -> None:
    issued = emu.register_app("Elsewhere", ["http://127.0.0.1:9999/callback"])
    settings = make_settings(tmp_path / "home", emu.base_url)
    with Workspace.open(settings) as ws:
        ws.applications.register(
            name="Elsewhere",
            environment="emulator",
            environment_url=emu.base_url,
            client_id=issued["client_id"],
            client_secret=issued["client_secret"],
            redirect_uri=f"{PUBLIC_URL}/callback",
            actor="test",
        )
    redirect, _ = _url_checks(run_checks(settings), "Elsewhere")
    assert redirect.status is CheckStatus.FAIL
    assert redirect.detail == (
        "http://127.0.0.1:8000/callback is not among the redirect URLs the emulator registered "
        "for it (http://127.0.0.1:9999/callback): SuperID refuses the install (InvalidRedirectUrl)"
    )


def test_a_developer_portal_application_names_the_url_to_register(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        home=tmp_path / "home",
        secret_keys=KEY,
        public_url="https://partner.example",
        environment="sod",
        _env_file=None,
    )
    with Workspace.open(settings) as ws:
        ws.applications.register(
            name="Portal App",
            environment="sod",
            client_id="6cf25376616343b38d14ddcd804f2891",
            client_secret="83d0f3bcb9afbc7eb9d0682e9b86db52",
            redirect_uri="https://partner.example/callback",
            actor="test",
        )
    failing = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    redirect, state_change = _url_checks(run_checks(settings, http=failing), "Portal App")
    assert redirect.status is CheckStatus.OK
    assert state_change.status is CheckStatus.SKIP
    assert state_change.detail == (
        "register https://partner.example/state-change/6cf25376616343b38d14ddcd804f2891 as its "
        '"Customer state change" URL in the Developer Portal'
    )
