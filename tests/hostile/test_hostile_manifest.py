"""Hostile manifests: every one is a Manifest or a ManifestError (file:line: field: problem),
never a RecursionError, a MemoryError, a hang or a name with control characters in it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from hostile_strategies import HOSTILE_PIECES, hostile_text
from hypothesis import example, given
from hypothesis import strategies as st

from toolkit.errors import ManifestError
from toolkit.provisioning.manifest import MAX_MANIFEST_BYTES, MAX_MANIFEST_DEPTH, load_manifest
from toolkit.text import control_character

PUBLIC = "https://partner.example.com"


def manifest_with(list_name: str, panel_name: str, url: str) -> str:
    """A manifest whose list name, panel name and URL are given (as TOML basic strings)."""
    return f"""\
model = "hybrid"

[[lists]]
name = {toml_string(list_name)}

[[web_panels]]
prog_id = "acme.contact"
name = {toml_string(panel_name)}
url = {toml_string(url)}
visible_in = "contactcard"
"""


def toml_string(value: str) -> str:
    """A TOML basic string holding ``value`` exactly (controls as \\uXXXX escapes)."""
    out = []
    for character in value:
        if character in '"\\':
            out.append("\\" + character)
        elif control_character(character) or 0xD800 <= ord(character) < 0xE000:
            out.append(f"\\u{ord(character):04X}")
        else:
            out.append(character)
    return '"' + "".join(out) + '"'


def all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in all_strings(getattr(value, f.name))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in all_strings(item)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in all_strings(k) + all_strings(v)]
    return []


@given(text=st.one_of(st.text(max_size=400), hostile_text))
@example(text="a = " + "[" * 5000)
@example(text="a = " + "{b = " * 3000)
@example(text='x = "\\ud800"')
@example(text="name = \x00")
def test_any_text_is_a_manifest_or_a_manifest_error(text: str) -> None:
    try:
        manifest = load_manifest(text, public_url=PUBLIC)
    except ManifestError:
        return  # file:line: field: problem
    assert all(control_character(s) is None for s in all_strings(manifest))


@given(
    list_name=st.one_of(st.just("Acme status"), hostile_text),
    panel_name=st.one_of(st.just("Acme"), hostile_text),
    url=st.one_of(
        st.just("{public_url}/panel?uctx=<uctx>"),
        hostile_text.map(lambda t: f"https://partner.example.com/{t}"),
        hostile_text.map(lambda t: f"https://{t}/panel"),
    ),
)
@example(list_name="Acme\u202estatus", panel_name="Acme", url="{public_url}/panel?uctx=<uctx>")
@example(list_name="Acme", panel_name="A\r\nB", url="{public_url}/panel?uctx=<uctx>")
@example(list_name="Acme", panel_name="Acme", url="https://partner.example.com/p\x00")
def test_names_and_urls_never_carry_control_characters(
    list_name: str, panel_name: str, url: str
) -> None:
    try:
        manifest = load_manifest(manifest_with(list_name, panel_name, url), public_url=PUBLIC)
    except ManifestError:
        return
    for value in all_strings(manifest):
        assert control_character(value) is None, value


@pytest.mark.parametrize("piece", [p for p in HOSTILE_PIECES if control_character(p)])
def test_a_control_character_is_refused_with_its_field(piece: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_with(f"Acme{piece}status", "Acme", f"{PUBLIC}/p"), public_url=PUBLIC)
    assert "lists[0].name" in str(caught.value)
    assert "control character U+" in str(caught.value)
    with pytest.raises(ManifestError, match=r"web_panels\[0\]\.url"):
        load_manifest(manifest_with("Acme", "Acme", f"{PUBLIC}/p{piece}x"), public_url=PUBLIC)


@pytest.mark.parametrize(
    "host",
    [
        "sod.superoffice.com.",
        "SOD.SuperOffice.COM.",
        "online2.superoffice.com..",
        "sod\u3002superoffice\u3002com",
        "\uff53od.superoffice.com",
        "superoffice.net.",
    ],
)
def test_a_superoffice_host_in_any_spelling_is_refused(host: str) -> None:
    with pytest.raises(ManifestError, match="SuperOffice host"):
        load_manifest(manifest_with("Acme", "Acme", f"https://{host}/Cust1/x"), public_url=PUBLIC)


@pytest.mark.parametrize("opener", ["[", "{"])
def test_deep_nesting_is_a_manifest_error_with_its_line(opener: str) -> None:
    nested = "[" * 10_000 if opener == "[" else "{ a = " * 10_000
    text = f'model = "hybrid"\n\nx = {nested}\n'
    with pytest.raises(ManifestError, match=f"nested deeper than {MAX_MANIFEST_DEPTH}") as caught:
        load_manifest(text, name="deep.toml")
    assert str(caught.value).startswith("deep.toml:3:")


def test_brackets_inside_strings_and_comments_are_not_nesting() -> None:
    text = manifest_with("[[[[[[[[" * 10, "{{{{" * 20, f"{PUBLIC}/panel?uctx=<uctx>")
    text += "# " + "[" * 100 + "\n" + "tooltip_note = '''" + "{" * 100 + "'''\n"
    with pytest.raises(ManifestError) as caught:
        load_manifest(text, public_url=PUBLIC)
    assert "nested" not in str(caught.value)  # only the unknown key is wrong


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory", "large", "binary"])
def test_files_that_are_not_manifests_are_refused(tmp_path: Path, special: str) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "manifest.toml"
        os.mkfifo(path)  # nobody writes: a plain read would hang
    elif special == "directory":
        path = tmp_path
    elif special == "large":
        path = tmp_path / "manifest.toml"
        path.write_text("# padding\n" * (MAX_MANIFEST_BYTES // 10 + 1))
    elif special == "binary":
        path = tmp_path / "manifest.toml"
        path.write_bytes(b"model = \xff\xfe\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value).startswith(f"{path.name}:")


def test_text_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(ManifestError, match="larger than"):
        load_manifest("#" * (MAX_MANIFEST_BYTES + 1))


def test_every_problem_of_a_large_manifest_gets_its_own_line() -> None:
    # 3,000 panels, each with a wrong visible_in: the lines are found in one pass over the text
    # (quadratic before), and each problem names its own panel's line.
    panels = 3000
    blocks = [
        f'[[web_panels]]\nprog_id = "p{n}"\nname = "P{n}"\nurl = "{PUBLIC}/p"\n'
        f'visible_in = "Nowhere{n}"\n'
        for n in range(panels)
    ]
    text = 'model = "hybrid"\n\n' + "\n".join(blocks)
    with pytest.raises(ManifestError) as caught:
        load_manifest(text, public_url=PUBLIC, name="big.toml")
    lines = [line for line in caught.value.lines() if "visible_in" in line]
    assert len(lines) == panels
    for number, line in enumerate(lines):
        assert line.startswith(f"big.toml:{3 + 6 * number + 4}: web_panels[{number}].visible_in")
