"""AES-GCM secrets at rest: format, associated data, key ring text and the key file."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest

from toolkit.errors import DecryptionError, SecretKeyError
from toolkit.store import KeyRing, SecretBox, associated_data, generate_key_text

PLAINTEXT = "SuperOffice DevNet Node OIDC-8k8Q7DmBgo"
AAD = associated_data("authorizations", "row-1", "system_user_token")


def box(*entries: str) -> SecretBox:
    return SecretBox(KeyRing.from_text(",".join(entries)))


def test_round_trip_and_format() -> None:
    sealed = box(generate_key_text("k1")).encrypt(PLAINTEXT, aad=AAD)
    version, kid, payload = sealed.split(":", 2)
    assert (version, kid) == ("v1", "k1")
    assert len(base64.b64decode(payload)) == 12 + len(PLAINTEXT) + 16
    assert PLAINTEXT not in sealed


def test_same_plaintext_seals_differently_each_time() -> None:
    secret_box = box(generate_key_text("k1"))
    first, second = (secret_box.encrypt(PLAINTEXT, aad=AAD) for _ in range(2))
    assert first != second
    assert secret_box.decrypt(first, aad=AAD) == secret_box.decrypt(second, aad=AAD) == PLAINTEXT


@pytest.mark.parametrize(
    "other",
    [
        associated_data("authorizations", "row-2", "system_user_token"),  # another row
        associated_data("authorizations", "row-1", "refresh_token"),  # another column
        associated_data("applications", "row-1", "system_user_token"),  # another table
    ],
)
def test_a_value_moved_elsewhere_fails_to_decrypt(other: str) -> None:
    secret_box = box(generate_key_text("k1"))
    sealed = secret_box.encrypt(PLAINTEXT, aad=AAD)
    with pytest.raises(DecryptionError) as caught:
        secret_box.decrypt(sealed, aad=other)
    assert PLAINTEXT not in str(caught.value)
    assert "k1" in str(caught.value)


def test_tampering_is_detected() -> None:
    secret_box = box(generate_key_text("k1"))
    version, kid, payload = secret_box.encrypt(PLAINTEXT, aad=AAD).split(":", 2)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    tampered = f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(DecryptionError):
        secret_box.decrypt(tampered, aad=AAD)
    for broken in ("plaintext", "v1:k1:not base64!", "v1:k1:AAAA", "v2:k1:AAAA"):
        with pytest.raises(DecryptionError):
            secret_box.decrypt(broken, aad=AAD)


def test_unknown_kid_names_the_kid() -> None:
    sealed = box(generate_key_text("old")).encrypt(PLAINTEXT, aad=AAD)
    with pytest.raises(SecretKeyError) as caught:
        box(generate_key_text("new")).decrypt(sealed, aad=AAD)
    assert caught.value.kid == "old"
    assert "'old'" in str(caught.value)


def test_the_first_key_is_current_and_older_keys_still_decrypt() -> None:
    old = generate_key_text("old")
    sealed = box(old).encrypt(PLAINTEXT, aad=AAD)
    rotated = box(generate_key_text("new"), old)
    assert rotated.keyring.current_kid == "new"
    assert rotated.keyring.kids == ("new", "old")
    assert rotated.decrypt(sealed, aad=AAD) == PLAINTEXT
    assert not rotated.is_current(sealed)
    assert rotated.encrypt(PLAINTEXT, aad=AAD).startswith("v1:new:")


@pytest.mark.parametrize(
    "text",
    [
        "",
        " , ",
        "nokid",
        "bad kid!:" + base64.b64encode(bytes(32)).decode(),
        "k" * 33 + ":" + base64.b64encode(bytes(32)).decode(),
        "short:" + base64.b64encode(bytes(16)).decode(),
        "notb64:%%%%",
        "dup:"
        + base64.b64encode(bytes(32)).decode()
        + ",dup:"
        + base64.b64encode(bytes(32)).decode(),
    ],
)
def test_malformed_key_ring_text_is_refused(text: str) -> None:
    with pytest.raises(SecretKeyError):
        KeyRing.from_text(text)


def test_key_material_never_shows() -> None:
    text = generate_key_text("k1")
    material = text.split(":", 1)[1]
    keyring = KeyRing.from_text(text)
    assert material not in repr(keyring)
    assert material not in repr(SecretBox(keyring))
    with pytest.raises(SecretKeyError) as caught:
        KeyRing.from_text(text + "," + text)
    assert material not in str(caught.value)
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(SecretKeyError) as caught:
        KeyRing.from_text(f"k2:{short}")
    assert short not in str(caught.value)


def test_generated_keys_are_random_and_aes_256() -> None:
    first, second = generate_key_text(), generate_key_text()
    assert first != second
    assert len(base64.b64decode(first.split(":", 1)[1])) == 32
    with pytest.raises(SecretKeyError):
        generate_key_text("no spaces allowed")


def test_missing_key_file_is_created_once_with_mode_0600_and_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    with caplog.at_level(logging.INFO, logger="toolkit.store"):
        created = KeyRing.load_or_create(home)
    path = home / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    records = [r for r in caplog.records if r.name == "toolkit.store"]
    assert len(records) == 1
    assert "created" in records[0].getMessage()
    assert str(path) in records[0].getMessage()
    assert path.read_text().split(":", 1)[1].strip() not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="toolkit.store"):
        again = KeyRing.load_or_create(home)
    assert again.kids == created.kids  # read, not replaced
    assert not [r for r in caplog.records if r.name == "toolkit.store"]
    assert [p.name for p in home.iterdir()] == ["secret.key"]  # no temporary file left


def test_create_never_replaces_an_existing_key(tmp_path: Path) -> None:
    KeyRing.create(tmp_path)
    before = (tmp_path / "secret.key").read_text()
    with pytest.raises(FileExistsError):
        KeyRing.create(tmp_path)
    assert (tmp_path / "secret.key").read_text() == before


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    KeyRing.create(tmp_path)
    os.chmod(tmp_path / "secret.key", mode)
    with pytest.raises(SecretKeyError) as caught:
        KeyRing.load(tmp_path)
    assert "chmod 600" in str(caught.value)
    with pytest.raises(SecretKeyError):
        KeyRing.load_or_create(tmp_path)


def test_a_missing_key_file_is_an_error_for_load(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="does not exist"):
        KeyRing.load(tmp_path)
