import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from toolkit import keys
from toolkit.cli import app

runner = CliRunner()


def write_xml_key(path: Path) -> rsa.RSAPrivateKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    # The Developer Portal's file: a BOM, an XML declaration and CRLF line breaks.
    xml = keys.private_key_to_rsa_key_value(private_key).replace("><", ">\r\n<")
    path.write_bytes(b"\xef\xbb\xbf" + b'<?xml version="1.0"?>\r\n' + xml.encode())
    return private_key


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip()


def test_key_convert_writes_a_private_pem_with_mode_0600(tmp_path: Path) -> None:
    private_key = write_xml_key(tmp_path / "key.xml")
    out = tmp_path / "key.pem"
    result = runner.invoke(app, ["key", "convert", str(tmp_path / "key.xml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    loaded = keys.load_private_key(out.read_text())
    assert loaded.private_numbers() == private_key.private_numbers()
    assert "PRIVATE KEY" not in result.output
    assert keys.key_fingerprint(private_key) in result.output


def test_key_convert_refuses_to_overwrite(tmp_path: Path) -> None:
    write_xml_key(tmp_path / "key.xml")
    (tmp_path / "key.pem").write_text("keep me")
    result = runner.invoke(
        app, ["key", "convert", str(tmp_path / "key.xml"), "--out", str(tmp_path / "key.pem")]
    )
    assert result.exit_code == 1
    assert (tmp_path / "key.pem").read_text() == "keep me"


def test_key_inspect_names_the_broken_element(tmp_path: Path) -> None:
    write_xml_key(tmp_path / "key.xml")
    text = (tmp_path / "key.xml").read_text(encoding="utf-8-sig")
    start, end = text.index("<InverseQ>") + len("<InverseQ>"), text.index("</InverseQ>")
    (tmp_path / "broken.xml").write_text(text[:start] + "AQID" + text[end:])
    result = runner.invoke(app, ["key", "inspect", str(tmp_path / "broken.xml")])
    assert result.exit_code == 1
    assert "InverseQ" in result.output


def test_key_inspect_prints_size_and_fingerprint_only(tmp_path: Path) -> None:
    private_key = write_xml_key(tmp_path / "key.xml")
    result = runner.invoke(app, ["key", "inspect", str(tmp_path / "key.xml")])
    assert result.exit_code == 0, result.output
    assert "1024 bits" in result.output
    assert keys.key_fingerprint(private_key) in result.output
