"""Hostile text at the toolkit's boundaries: what cannot be stored, shown or parsed safely.

One home for three rules every boundary applies (request bodies, files, command-line values,
the store):

- :func:`unstorable_character` finds text no store can hold: NUL (PostgreSQL refuses it in
  ``text``) and an unpaired UTF-16 surrogate (not encodable as UTF-8; a JSON ``\\ud800`` escape
  decodes to one). The store refuses such a value before the driver sees it
  (:func:`toolkit.store.database.create_engine_for`), and :func:`loads_json` refuses it at parsing.
- :func:`control_character` finds characters that change how text is read or sent rather than
  what it says: C0 and C1 controls (NUL, CR, LF, ESC, ...), DEL, line and paragraph separators,
  and the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) that
  make a name or URL display as something else. Names and URLs pushed to tenants never hold them.
- :func:`loads_json` parses a JSON document with its nesting depth bounded *before* the parser
  recurses (a deep ``[[[[...`` is a RecursionError in :mod:`json`), refusing unstorable strings.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = [
    "MAX_JSON_DEPTH",
    "UnsafeTextError",
    "control_character",
    "describe_character",
    "json_depth",
    "loads_json",
    "printable",
    "unstorable_character",
]

# Nesting a JSON body may have: every message we accept is two or three levels deep, and the
# parser recurses once per level (Python's default recursion limit is 1000).
MAX_JSON_DEPTH: Final = 32

_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
# C0 controls, DEL, C1 controls, LINE/PARAGRAPH SEPARATOR, bidi embeddings/overrides/isolates.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class UnsafeTextError(ValueError):
    """Text that cannot be stored, shown or parsed safely; ``what`` says which rule."""

    def __init__(self, message: str, *, what: str) -> None:
        super().__init__(message)
        self.what = what


def describe_character(character: str) -> str:
    """``U+202E`` style name of one character, safe to print (never the character itself)."""
    return f"U+{ord(character):04X}"


def unstorable_character(value: str) -> str | None:
    """The first NUL or unpaired surrogate in ``value`` (no store can hold it), or None."""
    found = _UNSTORABLE.search(value)
    return found.group() if found else None


def control_character(value: str) -> str | None:
    """The first control, separator or bidi override character in ``value``, or None."""
    found = _CONTROL.search(value)
    return found.group() if found else None


# What printable() escapes: as _CONTROL, but keeping LF, and lone surrogates too.
_UNPRINTABLE: Final = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(value: str) -> str:
    """``value`` safe to print to a terminal or a log line: every control, separator, bidi
    override and lone surrogate becomes a visible ``\\uXXXX`` escape (line breaks are kept), so
    hostile text in a message cannot recolour, rewrite or reorder what the reader sees."""
    return _UNPRINTABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", value)


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (linear; strings skipped).

    Works on any text, well-formed or not: it only counts brackets outside strings, so the
    bound can be checked before :func:`json.loads` recurses.
    """
    depth = deepest = 0
    # Jump from one structural character (or quote) to the next; strings are skipped whole.
    structural = re.compile(r'[\[\]{}"]')
    string_end = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)
    position = 0
    while True:
        found = structural.search(text, position)
        if found is None:
            return deepest
        character = found.group()
        position = found.end()
        if character == '"':
            closing = string_end.match(text, position)
            if closing is None:
                return deepest  # an unterminated string: json.loads reports it
            position = closing.end()
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)


def loads_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON from an untrusted source; :class:`UnsafeTextError` for anything unsafe.

    Refused: bytes that are not UTF-8, text that is not JSON, nesting deeper than
    ``max_depth``, and any string or member name holding NUL or an unpaired surrogate (JSON
    allows ``\\u0000`` and ``\\ud800``; no store can keep them). Non-finite numbers
    (``NaN``, ``Infinity``) are not JSON and are refused too.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise UnsafeTextError("the body is not UTF-8", what="encoding") from None
    if unstorable_character(text) is not None:
        raise UnsafeTextError("the body holds NUL or an unpaired surrogate", what="text")
    if json_depth(text) > max_depth:
        raise UnsafeTextError(f"the JSON is nested deeper than {max_depth}", what="depth")
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise UnsafeTextError("the body is not JSON", what="syntax") from None
    _check_strings(document)
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_strings(document: Any) -> None:
    """Walk the parsed document (iteratively) for escapes that decoded to unstorable text."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if unstorable_character(item) is not None:
                raise UnsafeTextError(
                    "a string decodes to NUL or an unpaired surrogate", what="text"
                )
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
