"""Hostile command lines: ``sotk`` answers a typed error (exit 1, ``error: ...``) or a usage
error (exit 2), never a traceback, a hang on a special file, or a half-registered application."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hostile_strategies import hostile_text
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit import keys
from toolkit.cli import app
from toolkit.config import Settings
from toolkit.files import MAX_KEY_FILE_BYTES
from toolkit.store import generate_key_text
from toolkit.text import control_character, unstorable_character
from toolkit.workspace import Workspace

runner = CliRunner()
CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
SECRET = "83d0f3bcb9afbc7eb9d0682e9b86db52"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def env(home: Path) -> dict[str, str]:
    return {
        "SOTK_HOME": str(home / "home"),
        "SOTK_SECRET_KEYS": generate_key_text("alpha"),
        "SOTK_PUBLIC_URL": "https://partner.example",
    }


@pytest.fixture(scope="module")
def key_file(home: Path) -> Path:
    path = home / "key.xml"
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path.write_text(keys.private_key_to_rsa_key_value(key))
    return path


@pytest.fixture(scope="module")
def secret_file(home: Path) -> Path:
    path = home / "secret.txt"
    path.write_text(SECRET + "\n")
    return path


def applications(env: dict[str, str]) -> list[str]:
    options = {"home": Path(env["SOTK_HOME"]), "secret_keys": env["SOTK_SECRET_KEYS"]}
    with Workspace.open(Settings(**options, _env_file=None)) as ws:  # type: ignore[arg-type]
        return sorted(a.name for a in ws.applications.list())


def add(
    env: dict[str, str], name: str, redirect_uri: str, key_file: Path, secret_file: Path
) -> object:
    args = ["app", "add", name, "--client-id", CLIENT_ID]
    args += ["--client-secret-file", str(secret_file), "--private-key", str(key_file)]
    args += ["--redirect-uri", redirect_uri]
    return runner.invoke(app, args, env=env)


def assert_refused(result: object) -> None:
    exit_code = getattr(result, "exit_code")  # noqa: B009 - typer's Result
    output = getattr(result, "output")  # noqa: B009
    exception = getattr(result, "exception")  # noqa: B009
    assert exit_code in (1, 2), (exit_code, output)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert "Traceback" not in output


@pytest.mark.slow  # dozens of CLI runs on fresh stores: make test, not make check
@settings(max_examples=20)  # each example opens a fresh store: fewer, still derandomized
@given(
    name=st.one_of(hostile_text, st.just("Acme Sync")),
    redirect_uri=st.one_of(
        hostile_text,
        hostile_text.map(lambda t: f"https://partner.example/callback{t}"),
        st.sampled_from(
            [
                "https://partner.example/callback#fragment",
                "https://partner.example/callback#",
                "https://user:pass@partner.example/callback",
                "https://user@partner.example/callback",
                "https://partner.example\r\n/callback",
                "http://partner.example/callback",
                "javascript:alert(1)",
            ]
        ),
    ),
)
@example(name="Acme\u202eSync", redirect_uri="https://partner.example/callback")
@example(name="Acme\x00Sync", redirect_uri="https://partner.example/callback")
@example(name="A" * 201, redirect_uri="https://partner.example/callback")
@example(name="Acme Sync", redirect_uri="https://partner.example/callback#x")
@example(name="Acme Sync", redirect_uri="https://u:p@partner.example/callback")
def test_app_add_refuses_what_install_or_superid_could_never_use(
    env: dict[str, str], key_file: Path, secret_file: Path, name: str, redirect_uri: str
) -> None:
    scratch = Path(tempfile.mkdtemp(dir=Path(env["SOTK_HOME"]).parent))
    fresh = {**env, "SOTK_HOME": str(scratch / "home")}
    result = add(fresh, name, redirect_uri, key_file, secret_file)
    if result.exit_code == 0:  # a usable registration: nothing /install or SuperID refuses
        stored = name.strip()
        assert control_character(stored) is None
        assert unstorable_character(stored) is None
        assert len(stored) <= 200
        assert "#" not in redirect_uri
        assert "@" not in urlsplit(redirect_uri).netloc
        assert applications(fresh) == [stored]
        return
    assert_refused(result)
    assert applications(fresh) == []


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory", "large", "binary"])
def test_key_and_secret_files_that_are_not_files_are_refused(
    env: dict[str, str], home: Path, key_file: Path, secret_file: Path, special: str
) -> None:
    path = Path(special)
    if special == "fifo":
        path = home / f"{special}.pipe"
        if not path.exists():
            os.mkfifo(path)  # nobody writes: a plain read would hang
    elif special == "directory":
        path = home
    elif special == "large":
        path = home / "large.xml"
        path.write_bytes(b"<RSAKeyValue>" + b"A" * (MAX_KEY_FILE_BYTES + 1))
    elif special == "binary":
        path = home / "binary.xml"
        path.write_bytes(os.urandom(512))
    before = applications(env)
    for result in (
        add(env, "Acme Sync", "https://partner.example/callback", path, secret_file),
        add(env, "Acme Sync", "https://partner.example/callback", key_file, path),
    ):
        assert_refused(result)
        assert "error:" in result.output
    assert applications(env) == before


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory"])
def test_a_manifest_that_is_not_a_file_is_refused(
    env: dict[str, str], home: Path, special: str
) -> None:
    path = Path(special)
    if special == "fifo":
        path = home / "manifest.pipe"
        if not path.exists():
            os.mkfifo(path)
    elif special == "directory":
        path = home
    result = runner.invoke(app, ["provision", "set-manifest", "Nobody", str(path)], env=env)
    assert_refused(result)


def test_a_secret_key_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    os.mkfifo(home / "secret.key", 0o600)
    result = runner.invoke(app, ["app", "list"], env={"SOTK_HOME": str(home)})
    assert_refused(result)
    assert "not a regular file" in result.output


COMMANDS = (
    ("app", "show", "{x}"),
    ("install-url", "{x}"),
    ("install-url", "Acme Sync", "--tenant", "{x}"),
    ("tenants", "status", "{x}"),
    ("tenants", "history", "{x}"),
    ("provision", "plan", "--tenant", "{x}"),
    ("provision", "plan", "--tenant", "Cust12345", "--app", "{x}"),
    ("ticket", "{x}"),
    ("key", "inspect", "{x}"),
    ("key", "convert", "{key}", "--out", "{x}"),
    ("jobs", "show", "{x}"),
)


@pytest.fixture(scope="module")
def registered(env: dict[str, str], key_file: Path, secret_file: Path) -> dict[str, str]:
    """A store with one application (no tenant: nothing here may reach the network)."""
    scratch = Path(tempfile.mkdtemp(dir=Path(env["SOTK_HOME"]).parent))
    registered = {**env, "SOTK_HOME": str(scratch / "home")}
    result = add(registered, "Acme Sync", "https://partner.example/callback", key_file, secret_file)
    assert result.exit_code == 0, result.output
    return registered


@pytest.mark.slow  # dozens of CLI runs on fresh stores: make test, not make check
@settings(max_examples=30)
@given(command=st.sampled_from(COMMANDS), value=hostile_text)
@example(command=("app", "show", "{x}"), value="\x1b]0;owned\x07\x1b[2J")
@example(command=("key", "inspect", "{x}"), value="/dev/zero")
@example(command=("key", "inspect", "{x}"), value="a\x00b")
@example(command=("key", "convert", "{key}", "--out", "{x}"), value="/")
@example(command=("key", "convert", "{key}", "--out", "{x}"), value="/nonexistent/dir/k.pem")
@example(command=("tenants", "status", "{x}"), value="Cust12345\u202e")
def test_hostile_arguments_end_in_a_message(
    registered: dict[str, str], key_file: Path, command: tuple[str, ...], value: str
) -> None:
    args = [part.replace("{x}", value).replace("{key}", str(key_file)) for part in command]
    result = runner.invoke(app, args, env=registered)
    if result.exit_code == 0:
        return  # e.g. an install URL for a tenant given in another spelling
    assert_refused(result)
    for character in "\x1b\r\u202e\x00":
        assert character not in result.output  # printed as an escape, never as itself


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_dotenv_that_is_not_a_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, special: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if special == "fifo":
        os.mkfifo(tmp_path / ".env")  # nobody writes: reading it would hang every command
    else:
        (tmp_path / ".env").symlink_to(special)
    result = runner.invoke(app, ["app", "list"], env={"SOTK_HOME": str(tmp_path / "home")})
    assert_refused(result)
    assert "settings file is not a regular file" in result.output
