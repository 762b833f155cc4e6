"""Applications: registering Developer Portal credentials, and at the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support.partner import SOD_CLIENT_ID, SOD_CLIENT_SECRET, open_workspace_at

from toolkit import keys
from toolkit.emulator import Emulator
from toolkit.errors import ConfigurationError, ConflictError, KeyFormatError
from toolkit.workspace import Workspace

CLIENT_ID = SOD_CLIENT_ID
SECRET = SOD_CLIENT_SECRET
REDIRECT = "https://partner.example/callback"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with open_workspace_at(tmp_path / "home") as workspace:
        yield workspace


def register(ws: Workspace, **changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "name": "Acme Sync",
        "environment": "sod",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
        "actor": "test",
    }
    arguments.update(changes)
    return ws.applications.register(**arguments)


def register_at(emu: Emulator, ws: Workspace, name: str, **changes: Any) -> Any:
    """``name`` registered at the emulator, with a loopback redirect URL."""
    return ws.applications.register_with_emulator(
        name=name,
        emulator_url=emu.base_url,
        redirect_uri="http://127.0.0.1:8000/callback",
        actor="test",
        **changes,
    )


def test_register_keeps_an_xml_key_as_encrypted_pem(
    ws: Workspace, private_key: rsa.RSAPrivateKey
) -> None:
    xml = "\ufeff" + keys.private_key_to_rsa_key_value(private_key).replace("><", ">\r\n<")
    app = register(ws, private_key=xml.encode("utf-8"), model="hybrid", environment="stage")
    assert app.environment == "qaonline"
    assert app.kind == "standard"
    assert app.model == "hybrid"
    assert app.key_fingerprint == keys.key_fingerprint(private_key)
    assert app.private_key is not None
    assert app.private_key.reveal() == keys.private_key_to_pem(private_key)
    assert app.client_secret.reveal() == SECRET
    assert SECRET not in repr(app)
    assert ws.applications.get("Acme Sync").id == app.id
    assert [a.name for a in ws.applications.list()] == ["Acme Sync"]
    assert ws.applications.approvals("Acme Sync") == []


def test_register_accepts_pem(ws: Workspace, private_key: rsa.RSAPrivateKey) -> None:
    app = register(ws, private_key=keys.private_key_to_pem(private_key))
    assert app.key_fingerprint == keys.key_fingerprint(private_key)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_id": " "}, "client id"),
        ({"client_secret": ""}, "client secret"),
        ({"redirect_uri": "http://partner.example/callback"}, "plain http"),
        ({"kind": "custom"}, "tenant"),
        ({"tenant": "Cust12345"}, "standard"),
        ({"kind": "custom", "tenant": "12345"}, "Cust"),
        ({"kind": "bespoke"}, "kind"),
        ({"model": "both"}, "model"),
        ({"environment": "emulator"}, "emulator"),
        ({"environment": "prod"}, "unknown environment"),
        ({"environment_url": "http://127.0.0.1:1"}, "emulator only"),
        ({"name": ""}, "name"),
    ],
)
def test_register_refuses_bad_input_and_stores_nothing(
    ws: Workspace, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        register(ws, **changes)
    assert ws.applications.list() == []


def test_a_malformed_key_names_the_element_and_stores_nothing(
    ws: Workspace, private_key: rsa.RSAPrivateKey
) -> None:
    xml = keys.private_key_to_rsa_key_value(private_key)
    start, end = xml.index("<DQ>") + 4, xml.index("</DQ>")
    broken = xml[:start] + "AQID" + xml[end:]
    with pytest.raises(KeyFormatError) as caught:
        register(ws, private_key=broken)
    assert caught.value.element == "DQ"
    assert ws.applications.list() == []


def test_custom_app_carries_its_tenant_and_credentials(ws: Workspace) -> None:
    app = register(ws, kind="custom", tenant="cust12345", model="external")
    # The tenant in SuperOffice's spelling, Cust + digits (issue 16 item 3).
    assert (app.kind, app.tenant, app.model) == ("custom", "Cust12345", "external")
    with pytest.raises(ConflictError):
        register(ws, name="Acme Sync 2")  # the same client id in the same environment


@pytest.mark.emulator
def test_register_with_emulator_stores_issued_credentials(ws: Workspace, emu: Emulator) -> None:
    app = register_at(emu, ws, "Acme Sync", model="external")
    custom = register_at(emu, ws, "Acme Custom", kind="custom", tenant="Cust23456")
    with pytest.raises(ConfigurationError, match="already exists"):
        register_at(emu, ws, "Acme Sync")
    with pytest.raises(ConfigurationError, match="refused"):
        register_at(emu, ws, "Nobody's", kind="custom", tenant="Cust99999")
    listed = httpx.get(f"{emu.base_url}/__emulator__/apps", timeout=10).json()["apps"]
    activated = httpx.get(f"{emu.base_url}/__emulator__/authorizations", timeout=10).json()
    assert {a["client_id"] for a in listed} == {app.client_id, custom.client_id}
    assert app.environment == "emulator"
    assert app.environment_url == emu.base_url
    assert app.key_fingerprint
    assert app.private_key is not None
    assert keys.key_fingerprint(keys.load_private_key(app.private_key.reveal())) == (
        app.key_fingerprint
    )
    public = next(a for a in listed if a["client_id"] == app.client_id)["public_key_pem"]
    public_key = serialization.load_pem_public_key(public.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert keys.key_fingerprint(public_key) == app.key_fingerprint
    assert custom.tenant == "Cust23456"
    assert [(a["client_id"], a["ctx"]) for a in activated["authorizations"]] == [
        (custom.client_id, "Cust23456")
    ]
    assert [a.name for a in ws.applications.list()] == ["Acme Custom", "Acme Sync"]


@pytest.mark.emulator
def test_register_with_emulator_brings_your_own_key_and_state_change_url(
    emu: Emulator, ws: Workspace, private_key: rsa.RSAPrivateKey
) -> None:
    app = register_at(
        emu,
        ws,
        "Own Key",
        private_key=keys.private_key_to_rsa_key_value(private_key),
        public_url="http://127.0.0.1:8000",
    )
    registered = emu.world.apps[app.client_id]
    assert registered.public_key_pem == keys.public_key_to_pem(private_key)
    assert registered.state_change_url == (f"http://127.0.0.1:8000/state-change/{app.client_id}")
    # The partner endpoints moved: point the setting at the new URL.
    url = ws.applications.register_state_change_url("Own Key", "http://127.0.0.1:8001/")
    assert url == f"http://127.0.0.1:8001/state-change/{app.client_id}"
    assert emu.world.apps[app.client_id].state_change_url == url
    assert app.key_fingerprint == keys.key_fingerprint(private_key)
    assert app.private_key is not None
    assert keys.key_fingerprint(keys.load_private_key(app.private_key.reveal())) == (
        app.key_fingerprint
    )


@pytest.mark.emulator
def test_register_with_emulator_refuses_an_unusable_key_and_stores_nothing(
    emu: Emulator,
    ws: Workspace,
) -> None:
    # A key the emulator cannot accept (a public exponent of 3), refused by one side or the
    # other with a typed error; and a key that is no key at all.
    weak = rsa.generate_private_key(public_exponent=3, key_size=1024)
    for key in (keys.private_key_to_pem(weak), "<RSAKeyValue><Modulus>AQAB</Modulus>"):
        with pytest.raises((ConfigurationError, KeyFormatError)):
            register_at(emu, ws, "Weak Key", private_key=key)
    assert emu.world.apps == {}
    assert ws.applications.list() == []
    register(ws)  # a Developer Portal application: its URL is set in the portal
    with pytest.raises(ConfigurationError, match="not an emulator application"):
        ws.applications.register_state_change_url("Acme Sync", "http://127.0.0.1:8000")
