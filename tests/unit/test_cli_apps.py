"""``sotk app``, ``sotk install-url``, ``sotk secrets``: a thin front end over the Workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support.partner import SOD_CLIENT_ID, SOD_CLIENT_SECRET
from typer.testing import CliRunner

from toolkit import keys
from toolkit.cli import app
from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.store import generate_key_text
from toolkit.workspace import Workspace

runner = CliRunner()
SECRET = SOD_CLIENT_SECRET
CLIENT_ID = SOD_CLIENT_ID


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The CLI's environment of tests/support, with a public HTTPS URL."""
    return env | {"SOTK_PUBLIC_URL": "https://partner.example"}


def add_args(key_file: Path, *extra: str) -> list[str]:
    return [
        "app",
        "add",
        "Acme Sync",
        "--client-id",
        CLIENT_ID,
        "--private-key",
        str(key_file),
        "--model",
        "hybrid",
        *extra,
    ]


def file_args(folder: Path, private_key: rsa.RSAPrivateKey) -> list[str]:
    """``add_args`` with the key in an XML file and the secret in a file, both under ``folder``."""
    key_file = folder / "key.xml"
    key_file.write_text(keys.private_key_to_rsa_key_value(private_key))
    secret_file = folder / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    return add_args(key_file, "--client-secret-file", str(secret_file))


def stored(env: dict[str, str]) -> list[str]:
    settings = Settings(  # type: ignore[call-arg]
        home=Path(env["SOTK_HOME"]), secret_keys=env["SOTK_SECRET_KEYS"], _env_file=None
    )
    with Workspace.open(settings) as ws:
        return [a.name for a in ws.applications.list()]


def test_app_add_list_show_never_print_secrets(
    env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    added = runner.invoke(app, file_args(tmp_path, private_key), env=env)

    assert added.exit_code == 0, added.output
    fingerprint = keys.key_fingerprint(private_key)
    assert fingerprint in added.output
    assert "https://partner.example/callback" in added.output
    listed = runner.invoke(app, ["app", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "Acme Sync" in listed.output
    assert "hybrid" in listed.output
    shown = runner.invoke(app, ["app", "show", "Acme Sync"], env=env)
    assert shown.exit_code == 0, shown.output
    assert fingerprint in shown.output
    assert "no tenant yet" in shown.output
    # The state change URL to register: one per application, named by its client id.
    assert f"state change   https://partner.example/state-change/{CLIENT_ID}" in shown.output
    for result in (added, listed, shown):
        assert SECRET not in result.output
        assert "PRIVATE KEY" not in result.output
        assert "<D>" not in result.output


def test_app_add_prompts_for_the_secret_hidden(
    env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(keys.private_key_to_pem(private_key))
    result = runner.invoke(app, add_args(key_file), env=env, input=SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert "Client secret" in result.output
    assert SECRET not in result.output
    assert stored(env) == ["Acme Sync"]


def test_malformed_key_file_says_what_is_wrong_and_stores_nothing(
    env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    xml = keys.private_key_to_rsa_key_value(private_key)
    start, end = xml.index("<InverseQ>") + len("<InverseQ>"), xml.index("</InverseQ>")
    key_file = tmp_path / "broken.xml"
    key_file.write_text(xml[:start] + "AQID" + xml[end:])

    result = runner.invoke(app, add_args(key_file, "--client-secret", SECRET), env=env)

    assert result.exit_code == 1
    assert "InverseQ" in result.output
    assert "broken.xml" in result.output
    assert "Traceback" not in result.output
    assert stored(env) == []


def test_missing_element_is_named(env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "half.xml"
    key_file.write_text(
        "<RSAKeyValue><Modulus>AQAB</Modulus><Exponent>AQAB</Exponent><P>AQ==</P></RSAKeyValue>"
    )
    result = runner.invoke(app, add_args(key_file, "--client-secret", SECRET), env=env)
    assert result.exit_code == 1
    assert "<Q>" in result.output
    assert stored(env) == []


def test_wrong_secret_key_exits_1_with_a_message(env: dict[str, str]) -> None:
    assert runner.invoke(app, ["app", "list"], env=env).exit_code == 0
    wrong = {**env, "SOTK_SECRET_KEYS": generate_key_text("alpha")}
    result = runner.invoke(app, ["app", "list"], env=wrong)
    assert result.exit_code == 1
    assert "refusing to start" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_settings_exit_1_with_a_message(env: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["app", "list"], env={**env, "SOTK_PUBLIC_URL": "http://partner.example"}
    )
    assert result.exit_code == 1
    assert "SOTK_PUBLIC_URL" in result.output
    assert "Traceback" not in result.output


def test_install_url(env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(keys.private_key_to_pem(private_key))
    runner.invoke(app, add_args(key_file, "--client-secret", SECRET), env=env)
    result = runner.invoke(app, ["install-url", "Acme Sync", "--tenant", "Cust12345"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "https://partner.example/install?app=Acme+Sync&tenant=Cust12345"
    )
    unknown = runner.invoke(app, ["install-url", "nobody"], env=env)
    assert unknown.exit_code == 1
    assert "nobody" in unknown.output


def test_secrets_rotate_and_verify(
    env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(keys.private_key_to_pem(private_key))
    assert runner.invoke(app, add_args(key_file, "--client-secret", SECRET), env=env).exit_code == 0
    verified = runner.invoke(app, ["secrets", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert "readable" in verified.output

    rotated_env = {
        **env,
        "SOTK_SECRET_KEYS": f"{generate_key_text('beta')},{env['SOTK_SECRET_KEYS']}",
    }
    rotated = runner.invoke(app, ["secrets", "rotate"], env=rotated_env)
    assert rotated.exit_code == 0, rotated.output
    assert "applications:" in rotated.output
    assert "'beta'" in rotated.output
    again = runner.invoke(app, ["secrets", "rotate"], env=rotated_env)
    assert again.exit_code == 0
    assert "rotated 0 value(s)" in again.output

    # Without the old key only the new one remains: everything was rotated, so all is readable.
    beta_only = {**env, "SOTK_SECRET_KEYS": rotated_env["SOTK_SECRET_KEYS"].split(",")[0]}
    assert runner.invoke(app, ["secrets", "verify"], env=beta_only).exit_code == 0


def test_secrets_verify_lists_unreadable_rows(
    env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(keys.private_key_to_pem(private_key))
    runner.invoke(app, add_args(key_file, "--client-secret", SECRET), env=env)
    settings = Settings(  # type: ignore[call-arg]
        home=Path(env["SOTK_HOME"]), secret_keys=env["SOTK_SECRET_KEYS"], _env_file=None
    )
    with Workspace.open(settings) as ws:
        app_id = ws.applications.get("Acme Sync").id
        # Copy one row's sealed value into another column: it must no longer authenticate.
        with ws.repository.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE applications SET private_key = client_secret WHERE id = ?", (app_id,)
            )
    result = runner.invoke(app, ["secrets", "verify"], env=env)
    assert result.exit_code == 1
    assert "applications.private_key" in result.output
    assert app_id in result.output


@pytest.mark.emulator
def test_app_add_at_the_emulator(env: dict[str, str], emu: Emulator) -> None:
    result = runner.invoke(
        app,
        [
            "app",
            "add",
            "Acme Custom",
            "--emulator",
            emu.base_url,
            "--redirect-uri",
            "http://127.0.0.1:8000/callback",
            "--kind",
            "custom",
            "--tenant",
            "Cust12345",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "Cust12345" in result.output
    assert "custom" in result.output
    assert "PRIVATE KEY" not in result.output
    assert len(emu.world.apps) == 1
    assert stored(env) == ["Acme Custom"]


def emulator_args(emu: Emulator, name: str, *extra: str) -> list[str]:
    return [
        "app",
        "add",
        name,
        "--emulator",
        emu.base_url,
        "--redirect-uri",
        "http://127.0.0.1:8000/callback",
        *extra,
    ]


@pytest.mark.emulator
@pytest.mark.parametrize("form", ["xml", "pem"])
def test_app_add_at_the_emulator_with_your_own_key(
    emu: Emulator, env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey, form: str
) -> None:
    """`--emulator URL --private-key FILE`: only the public half travels; the store keeps the
    key, and the application's state-change URL points at SOTK_PUBLIC_URL (issue 11, 6 and 7)."""
    key_file = tmp_path / f"own.{form}"
    if form == "xml":
        key_file.write_text(keys.private_key_to_rsa_key_value(private_key), encoding="utf-8")
    else:
        key_file.write_text(keys.private_key_to_pem(private_key), encoding="utf-8")
    result = runner.invoke(
        app, emulator_args(emu, "Own Key", "--private-key", str(key_file)), env=env
    )
    assert result.exit_code == 0, result.output
    assert "PRIVATE KEY" not in result.output
    assert "RSAKeyValue" not in result.output
    (registered,) = emu.world.apps.values()
    assert registered.public_key_pem == keys.public_key_to_pem(private_key)
    assert registered.state_change_url == (
        f"https://partner.example/state-change/{registered.client_id}"
    )
    assert registered.state_change_url in result.output
    settings = Settings(  # type: ignore[call-arg]
        home=Path(env["SOTK_HOME"]), secret_keys=env["SOTK_SECRET_KEYS"], _env_file=None
    )
    with Workspace.open(settings) as ws:
        stored_app = ws.applications.get("Own Key")
        assert stored_app.key_fingerprint == keys.key_fingerprint(private_key)
        assert stored_app.environment == "emulator"
        assert stored_app.client_id == registered.client_id


@pytest.mark.emulator
def test_app_add_at_the_emulator_refuses_a_bad_key_and_stores_nothing(
    emu: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("this is not a key\n", encoding="utf-8")
    public_only = tmp_path / "public.pem"
    public_only.write_text(
        keys.public_key_to_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        encoding="utf-8",
    )
    for key_file in (not_a_key, public_only, tmp_path / "missing.xml"):
        result = runner.invoke(
            app, emulator_args(emu, "Bad Key", "--private-key", str(key_file)), env=env
        )
        assert result.exit_code == 1, result.output
        assert "error:" in result.output
        assert str(key_file) in result.output
        assert "Traceback" not in result.output
    assert emu.world.apps == {}
    assert stored(env) == []


@pytest.mark.emulator
def test_app_add_at_the_emulator_without_a_state_change_url(
    env: dict[str, str], emu: Emulator
) -> None:
    result = runner.invoke(app, emulator_args(emu, "Quiet", "--no-state-change"), env=env)
    assert result.exit_code == 0, result.output
    (registered,) = emu.world.apps.values()
    assert registered.state_change_url is None
    assert "state change" not in result.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--environment", "emulator", "--client-id", CLIENT_ID], "--emulator URL"),
        (["--emulator", "http://127.0.0.1:1", "--client-id", CLIENT_ID], "client id"),
        (["--emulator", "http://127.0.0.1:1", "--environment", "online"], "online"),
        ([], "client id"),
    ],
)
def test_app_add_option_misuse_is_a_usage_error(
    env: dict[str, str], args: list[str], hint: str
) -> None:
    result = runner.invoke(app, ["app", "add", "Misused", *args], env=env)
    assert result.exit_code == 2, result.output
    assert hint in result.output
    assert "needs the emulator's URL" not in result.output
    assert stored(env) == []


def test_app_add_defaults_the_redirect_uri_under_the_partner_prefix(
    env: dict[str, str], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    """SOTK_PARTNER_PREFIX: the endpoints are mounted in the partner's own app (issue 16)."""
    prefixed = {**env, "SOTK_PARTNER_PREFIX": "/superoffice"}
    added = runner.invoke(app, file_args(tmp_path, private_key), env=prefixed)
    assert added.exit_code == 0, added.output
    assert "https://partner.example/superoffice/callback" in added.output
