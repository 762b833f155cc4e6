"""Reading the partner's HTML pages (installation, panel) the way a test checks them: by the
``data-field`` and ``data-option`` marks the pages carry for that, unescaped."""

from __future__ import annotations

import re
from html import unescape


def field(page: str, name: str) -> str:
    """The value shown under ``<dd data-field="name">``."""
    match = re.search(rf'data-field="{re.escape(name)}">([^<]*)</dd>', page)
    assert match is not None, name
    return unescape(match.group(1))


def csrf(page: str) -> str:
    """The page's CSRF token, which its forms post back."""
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return unescape(match.group(1))


def greeting(page: str) -> str:
    """The panel's ``greeting`` option as its form shows it."""
    match = re.search(r'data-option="greeting" value="([^"]*)"', page)
    assert match is not None
    return unescape(match.group(1))
