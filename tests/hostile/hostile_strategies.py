"""Hypothesis strategies for hostile input (a plain module: conftest is not importable)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

_SURROGATE = re.compile("[\ud800-\udfff]")

# Pieces an attacker reaches for: NUL, CR/LF (header and log injection), bidi overrides and
# isolates, line separators, lone surrogates (a JSON escape decodes to one), traversal, markup,
# format strings, huge and odd numbers, overlong UTF-8, percent-escapes that decode to NUL.
HOSTILE_PIECES = (
    "\x00",
    "\r\n",
    "\n",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\ud800",
    "\udfff",
    "\ufeff",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "%00",
    "%s%s%n",
    "{0}",
    "Cust12345",
    "cust12345\x00",
    "Cust12345.",
    "sod.superoffice.com.",
    "https://sod.superoffice.com./x",
    "https://user:pass@partner.example/cb",
    "https://partner.example/cb#frag",
    "javascript:alert(1)",
    "9" * 400,
    "-1",
    "1e999",
    "NaN",
    "\u0130",
    "\u212a",
    "A" * 5000,
)

hostile_text = st.lists(
    st.one_of(
        st.sampled_from(HOSTILE_PIECES),
        st.text(max_size=20),
        st.characters(codec=None, exclude_categories=()).map(str),
    ),
    max_size=6,
).map("".join)

# Text that can be UTF-8 encoded (what an HTTP client can put in a JSON body it serializes).
encodable_text = hostile_text.filter(lambda value: not _SURROGATE.search(value))


def raw_query_value() -> st.SearchStrategy[str]:
    """A percent-encoded query value from arbitrary bytes (invalid UTF-8, %00, ...)."""
    return st.one_of(
        st.binary(max_size=60).map(lambda b: quote_from_bytes(b, safe="")),
        hostile_text.map(lambda t: quote_from_bytes(t.encode("utf-8", "surrogatepass"), safe="")),
    )


def raw_query(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A whole raw query string over ``names`` (repeated, missing, and unknown names too)."""
    pair = st.tuples(st.one_of(st.sampled_from(names), raw_query_value()), raw_query_value())
    return st.lists(pair, max_size=6).map(lambda pairs: "&".join(f"{n}={v}" for n, v in pairs))


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)


def json_escaped(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped, so lone surrogates survive as ``\\ud800``."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def deep_json(depth: int, opener: str = "[") -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return ('{"a":' * depth + "1" + closer * depth).encode()
    return (opener * depth + closer * depth).encode()
