"""Dashboard fixtures: a temporary toolkit home per test, and a fresh cached Workspace.

The dashboard reads its settings from ``SOTK_*`` environment variables, so each test points
``SOTK_HOME`` at its own temporary folder, clears the other variables, and runs from that
folder (so no ``.env`` in the checkout is read); the home holds a migrated, never started store
(support.stores). ``st.cache_resource`` is cleared before and after each test; its
``on_release`` closes the cached Workspace. ``st.cache_data`` (the cached read models) is
cleared too.

Every new AppTest scans the metadata of every installed distribution for Streamlit components
(about 0.13 s of CPU each, some 60 times per run); the installed distributions do not change
while the tests run, so the scan's result is kept for the process.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.components.v2 import manifest_scanner
from support.stores import migrated_home

from toolkit.store import Repository, open_store

manifest_scanner.scan_component_manifests = functools.cache(
    manifest_scanner.scan_component_manifests
)

SETTINGS_VARIABLES = (
    "SOTK_ENVIRONMENT",
    "SOTK_EMULATOR_URL",
    "SOTK_DATABASE_URL",
    "SOTK_SECRET_KEYS",
    "SOTK_PUBLIC_URL",
    "SOTK_CLIENT_ID",
    "SOTK_CLIENT_SECRET",
    "SOTK_REDIRECT_URI",
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOTK_HOME", str(home))
    monkeypatch.setenv("SOTK_PUBLIC_URL", "http://127.0.0.1:8000")
    monkeypatch.chdir(tmp_path)
    migrated_home(home)
    st.cache_resource.clear()
    st.cache_data.clear()  # the read models (data._read_model) of an earlier test's store
    yield home
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def repository(home: Path) -> Iterator[Repository]:
    """The same store the dashboard opens (SQLite under ``home``, key file created once)."""
    store = open_store(None, home, None)
    yield store
    store.close()
