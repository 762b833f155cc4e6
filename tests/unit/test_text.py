"""toolkit.text: what cannot be stored, shown or parsed safely."""

from __future__ import annotations

import pytest

from toolkit.text import (
    MAX_JSON_DEPTH,
    UnsafeTextError,
    control_character,
    describe_character,
    json_depth,
    loads_json,
    printable,
    unstorable_character,
)


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "x\udfff", "\udbff\udc00"])
def test_nul_and_surrogates_cannot_be_stored(value: str) -> None:
    assert unstorable_character(value) is not None


@pytest.mark.parametrize("value", ["", "Cust12345", "\U0001f600", "line\nbreak", "\u202e"])
def test_ordinary_text_can_be_stored(value: str) -> None:
    assert unstorable_character(value) is None


@pytest.mark.parametrize(
    "character",
    ["\x00", "\r", "\n", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)],
)
def test_control_and_bidi_characters_are_found(character: str) -> None:
    assert control_character(f"Name{character}x") == character


def test_plain_names_have_no_control_character() -> None:
    assert control_character("Acme Sync – Ørsted 日本 😀") is None


def test_characters_are_described_by_code_point() -> None:
    assert describe_character("\u202e") == "U+202E"
    assert describe_character("\x00") == "U+0000"


def test_depth_skips_strings_and_escapes() -> None:
    assert json_depth('{"a": [1, {"b": "[[[[\\"]]"}]}') == 3
    assert json_depth("[" * 100_000) == 100_000
    assert json_depth('"unterminated [[[') == 0


def test_loads_json_accepts_a_message() -> None:
    assert loads_json(b'{"ChangeType": 2, "V": "\\u00e9"}') == {"ChangeType": 2, "V": "\u00e9"}


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (b"\xff\xfe", "encoding"),
        (b'{"a": "\\ud800"}', "text"),
        (b'{"\\udc00": 1}', "text"),
        (b'["\\u0000"]', "text"),
        (b'"a\x00"', "text"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "depth"),
        (b"[" * 100_000, "depth"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "depth"),
        (b"{", "syntax"),
        (b'{"a": NaN}', "syntax"),
        (b"Infinity", "syntax"),
    ],
)
def test_loads_json_refuses_unsafe_documents(raw: bytes, what: str) -> None:
    with pytest.raises(UnsafeTextError) as caught:
        loads_json(raw)
    assert caught.value.what == what


def test_depth_at_the_bound_is_accepted() -> None:
    depth = MAX_JSON_DEPTH
    assert loads_json("[" * depth + "]" * depth) is not None


def test_printable_escapes_what_could_drive_a_terminal() -> None:
    shown = printable("a\x1b[31mb\r\nc\u202ed\ud800e\tf")
    assert shown == "a\\u001b[31mb\\u000d\nc\\u202ed\\ud800e\\u0009f"
    assert printable("Acme Sync – Ørsted 日本") == "Acme Sync – Ørsted 日本"
