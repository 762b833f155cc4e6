"""Workspace: the composition root (settings → store → http → services)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from toolkit.applications import Applications
from toolkit.config import Settings
from toolkit.errors import ConfigurationError, NotFoundError, SecretKeyError
from toolkit.installation import Installations
from toolkit.store import generate_key_text
from toolkit.workspace import Workspace


def settings(home: Path, **extra: object) -> Settings:
    return Settings(home=home, _env_file=None, **extra)  # type: ignore[call-arg, arg-type]


def register(ws: Workspace, name: str = "Acme Sync") -> None:
    ws.applications.register(
        name=name,
        environment="sod",
        client_id="6cf25376616343b38d14ddcd804f2891",
        client_secret="83d0f3bcb9afbc7eb9d0682e9b86db52",
        redirect_uri="https://partner.example/callback",
        actor="test",
    )


def test_open_builds_every_service_once(tmp_path: Path) -> None:
    with Workspace.open(settings(tmp_path / "home")) as ws:
        assert isinstance(ws.applications, Applications)
        assert isinstance(ws.installations, Installations)
        assert isinstance(ws.http, httpx.Client)
        assert ws.repository is not None
        ws.check_database()
    assert (tmp_path / "home" / "toolkit.db").exists()


def test_the_provisioning_settings_reach_the_provisioning_service(tmp_path: Path) -> None:
    extra = {"provisioning_lock_seconds": 30, "provisioning_list_cache_seconds": 0}
    with Workspace.open(settings(tmp_path / "home", **extra)) as ws:
        assert ws.provisioning.lock_ttl.total_seconds() == 30
        assert ws.provisioning.list_cache.total_seconds() == 0
    assert (tmp_path / "home" / "secret.key").exists()
    assert ws.http.is_closed


def test_open_refuses_a_wrong_secret_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Workspace.open(settings(home, secret_keys=generate_key_text("alpha"))) as ws:
        register(ws)
    with pytest.raises(SecretKeyError, match="refusing to start"):
        Workspace.open(settings(home, secret_keys=generate_key_text("alpha")))


def test_open_refuses_when_the_key_file_is_gone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Workspace.open(settings(home)) as ws:
        register(ws)
    (home / "secret.key").unlink()
    with pytest.raises(SecretKeyError):
        Workspace.open(settings(home))


def test_a_given_http_client_stays_open(tmp_path: Path) -> None:
    with httpx.Client() as http:
        ws = Workspace.open(settings(tmp_path / "home"), http=http)
        assert ws.http is http
        ws.close()
        ws.close()  # idempotent
        assert not http.is_closed


def test_install_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Workspace.open(settings(home, public_url="https://partner.example/")) as ws:
        register(ws, "Acme Sync & Co")
        assert ws.install_url("Acme Sync & Co") == (
            "https://partner.example/install?app=Acme+Sync+%26+Co"
        )
        assert ws.install_url("Acme Sync & Co", tenant="Cust12345").endswith(
            "?app=Acme+Sync+%26+Co&tenant=Cust12345"
        )
        with pytest.raises(NotFoundError):
            ws.install_url("nobody")
        with pytest.raises(ConfigurationError):
            ws.install_url("Acme Sync & Co", tenant="../evil")


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    key = generate_key_text("alpha")
    with Workspace.open(settings(tmp_path / "home", secret_keys=key)) as ws:
        assert key.split(":", 1)[1] not in repr(ws)
        assert "public_url" in repr(ws)
