"""The pieces the panel's and the installation pages' sessions share (toolkit.browser_sessions)."""

from __future__ import annotations

import hashlib

from toolkit.browser_sessions import hashed_cookie_name, page_path
from toolkit.installation_pages import (
    AdministratorSession,
    AdministratorSignIn,
    admin_cookie_name,
)
from toolkit.naming import same_tenant
from toolkit.user_context import PanelSession, UserSignIn, session_cookie_name


def test_cookie_names_are_a_folded_hash_that_shows_neither_application_nor_tenant() -> None:
    panel = hashlib.sha256(b"app-1\ncust12345").hexdigest()[:16]
    admin = hashlib.sha256(b"admin\napp-1\ncust12345").hexdigest()[:16]
    assert session_cookie_name("app-1", "Cust12345") == f"sotk_panel_{panel}"
    assert session_cookie_name("app-1", "cust12345") == f"sotk_panel_{panel}"
    assert admin_cookie_name("app-1", "CUST12345") == f"sotk_admin_{admin}"
    assert hashed_cookie_name("x_", "a", "Cust1") != hashed_cookie_name("x_", "b", "Cust1")
    assert "Cust12345" not in admin_cookie_name("app-1", "Cust12345")


def test_page_path_names_application_and_tenant_in_the_query() -> None:
    assert page_path("/p/installation", "My App", "Cust1") == (
        "/p/installation?app=My+App&ctx=Cust1"
    )


def test_same_tenant_folds_case_and_never_matches_a_missing_tenant() -> None:
    assert same_tenant("Cust12345", "cust12345")
    assert not same_tenant("Cust12345", "Cust12346")
    assert not same_tenant(None, "Cust12345")
    assert not same_tenant(None, None)


def test_an_administrator_session_is_never_a_panel_session() -> None:
    assert not issubclass(AdministratorSession, PanelSession)
    assert not issubclass(PanelSession, AdministratorSession)
    assert not issubclass(AdministratorSignIn, UserSignIn)
