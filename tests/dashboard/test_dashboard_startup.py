"""The dashboard refuses to start on a bad key or bad settings, and says why on every page."""

from __future__ import annotations

import pytest
from dashboard_support import APPLICATIONS_PAGE, TENANTS_PAGE, app_test, seed, texts

from toolkit.store import Repository, generate_key_text


@pytest.mark.parametrize("page_path", [APPLICATIONS_PAGE, TENANTS_PAGE])
def test_wrong_secret_key_is_an_error_not_a_traceback(
    repository: Repository, monkeypatch: pytest.MonkeyPatch, page_path: str
) -> None:
    seed(repository)  # sealed with the key file under SOTK_HOME
    monkeypatch.setenv("SOTK_SECRET_KEYS", generate_key_text("other"))

    at = app_test().run()
    at.switch_page(page_path).run()

    assert not at.exception, at.exception
    errors = texts(at.error)
    assert errors
    assert all(error.startswith("The toolkit could not start") for error in errors)
    assert not at.dataframe


def test_invalid_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTK_PUBLIC_URL", "ftp://partner.example")

    at = app_test().run()

    assert not at.exception, at.exception
    assert any("SOTK_PUBLIC_URL" in error for error in texts(at.error))
