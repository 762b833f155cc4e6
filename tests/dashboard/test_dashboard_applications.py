"""The Applications page: empty state, the list with approvals and Install, the add forms."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from dashboard_support import (
    APPLICATIONS_PAGE,
    CUSTOM_APP,
    CUSTOM_TENANT,
    FORM_CLIENT_SECRET,
    FORM_KEY,
    FORM_KEY_XML,
    STANDARD_APP,
    TENANT,
    labels,
    open_page,
    seed,
    texts,
)
from streamlit.testing.v1 import AppTest

from toolkit.keys import key_fingerprint
from toolkit.store import Repository


def test_empty_store_explains_what_to_do() -> None:
    at = open_page(APPLICATIONS_PAGE)

    assert at.title[0].value == "Applications"
    assert any("No applications registered yet" in text for text in texts(at.info))
    assert not at.dataframe
    assert not at.error
    assert "Add application" in labels(at.button)
    # No emulator configured: no emulator form.
    assert "Register with the emulator" not in labels(at.button)


def test_sidebar_shows_environment_and_public_url() -> None:
    at = open_page(APPLICATIONS_PAGE)

    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "sod" in sidebar
    assert "http://127.0.0.1:8000" in sidebar


def test_lists_applications_their_approvals_and_install(repository: Repository) -> None:
    seed(repository)

    at = open_page(APPLICATIONS_PAGE)

    table = at.dataframe[0].value
    assert list(table["Name"]) == [STANDARD_APP, CUSTOM_APP]
    row = table.set_index("Name").loc[STANDARD_APP]
    assert row["Approved tenants"] == 1
    assert row["Client ID"] == "alpha-client-id"
    assert row["Key fingerprint"]
    assert table.set_index("Name").loc[CUSTOM_APP, "Tenant"] == CUSTOM_TENANT
    assert not {"Client secret", "Private key"} & set(table.columns)

    # The standard app's expander lists the approving tenant; the custom one has none yet.
    approvals = at.expander[0].dataframe[0].value
    assert list(approvals["Tenant"]) == [TENANT]
    assert any("No tenant has approved" in text for text in texts(at.expander[1].info))

    buttons = at.get("link_button")
    assert [button.proto.label for button in buttons] == ["Install", "Install"]
    urls = [urlsplit(button.proto.url) for button in buttons]
    assert all(url.path.endswith("/install") for url in urls)
    assert parse_qs(urls[0].query)["app"] == [STANDARD_APP]
    assert parse_qs(urls[1].query)["app"] == [CUSTOM_APP]


def _fill_add_form(at: AppTest, *, name: str, key_text: str) -> None:
    # Labels repeat across the two forms; the add form comes last, so it wins in the dict.
    inputs = {widget.label: widget for widget in at.text_input}
    inputs["Name"].input(name)
    inputs["Client ID"].input(f"{name.lower().replace(' ', '-')}-id")
    inputs["Client secret"].input(FORM_CLIENT_SECRET)
    next(box for box in at.selectbox if box.label == "Environment").select("sod")
    next(box for box in at.selectbox if box.label == "Model").select("external")
    at.text_area[0].input(key_text)


def test_add_application_through_the_form(repository: Repository) -> None:
    at = open_page(APPLICATIONS_PAGE)

    _fill_add_form(at, name="Charlie", key_text=FORM_KEY_XML)
    next(button for button in at.button if button.label == "Add application").click().run()

    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert any("Registered **Charlie**" in text for text in texts(at.success))
    assert "Charlie" in list(at.dataframe[0].value["Name"])
    stored = repository.get_application("Charlie")
    assert stored.environment == "sod"
    assert stored.model == "external"
    assert stored.redirect_uri == "http://127.0.0.1:8000/callback"
    assert stored.key_fingerprint == key_fingerprint(FORM_KEY)
    assert stored.client_secret.reveal() == FORM_CLIENT_SECRET
    # (The form uses clear_on_submit; the browser clears it, which AppTest does not emulate.)


def test_malformed_key_is_reported_naming_the_element(repository: Repository) -> None:
    at = open_page(APPLICATIONS_PAGE)
    broken = FORM_KEY_XML.split("<D>", 1)[0] + "</RSAKeyValue>"  # <D> is missing

    _fill_add_form(at, name="Delta", key_text=broken)
    next(button for button in at.button if button.label == "Add application").click().run()

    assert not at.exception, at.exception
    errors = texts(at.error)
    assert len(errors) == 1
    assert "<D>" in errors[0]
    assert "Traceback" not in errors[0]
    assert repository.list_applications() == []


def test_a_refused_registration_shows_the_toolkit_message(repository: Repository) -> None:
    seed(repository)
    at = open_page(APPLICATIONS_PAGE)

    _fill_add_form(at, name=STANDARD_APP, key_text="")  # the name is taken
    next(button for button in at.button if button.label == "Add application").click().run()

    assert not at.exception, at.exception
    assert any("already exists" in text for text in texts(at.error))


@pytest.mark.parametrize(
    ("name", "tenant", "says"),
    [("   ", "", "name"), ("Echo", "Cust12345", "only custom ones have a tenant")],
)
def test_the_toolkit_checks_the_form(
    repository: Repository, name: str, tenant: str, says: str
) -> None:
    """The form's fields go to the toolkit as they are: its checks decide, nothing is stored."""
    at = open_page(APPLICATIONS_PAGE)

    _fill_add_form(at, name=name, key_text="")
    next(widget for widget in at.text_input if widget.label.startswith("Tenant")).input(tenant)
    next(button for button in at.button if button.label == "Add application").click().run()

    assert not at.exception, at.exception
    errors = texts(at.error)
    assert len(errors) == 1, errors
    assert says in errors[0], errors
    assert repository.list_applications() == []


@pytest.mark.emulator
def test_register_with_the_emulator(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit.emulator import Emulator

    with Emulator() as emulator:
        monkeypatch.setenv("SOTK_EMULATOR_URL", emulator.base_url)
        at = open_page(APPLICATIONS_PAGE)
        assert "Register with the emulator" in labels(at.button)
        assert "emulator" in " ".join(texts(at.sidebar.markdown))

        next(box for box in at.text_input if box.label == "Name").input("Echo")
        next(
            button for button in at.button if button.label == "Register with the emulator"
        ).click().run()

        assert not at.exception, at.exception
        assert not at.error, texts(at.error)
        assert any("Registered **Echo**" in text for text in texts(at.success))
        stored = repository.get_application("Echo")
        assert stored.environment == "emulator"
        assert stored.key_fingerprint
        # Registered with its state-change URL at the partner endpoints (issue 11 item 6).
        known = emulator.world.find_app(stored.client_id)
        assert known is not None
        assert known.state_change_url == (f"http://127.0.0.1:8000/state-change/{stored.client_id}")


def test_emulator_registration_error_is_shown_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOTK_EMULATOR_URL", "http://127.0.0.1:9")  # nothing listens there
    at = open_page(APPLICATIONS_PAGE)

    next(box for box in at.text_input if box.label == "Name").input("Foxtrot")
    next(
        button for button in at.button if button.label == "Register with the emulator"
    ).click().run()

    assert not at.exception, at.exception
    errors = texts(at.error)
    assert len(errors) == 1
    assert errors[0].startswith("Could not register with the emulator")
    assert "Traceback" not in errors[0]


def test_install_makes_a_link_for_a_chosen_tenant_and_says_it_asks_for_a_fresh_sign_in(
    repository: Repository,
) -> None:
    seed(repository)
    at = open_page(APPLICATIONS_PAGE)

    # The custom application's tenant is fixed; the standard one's is the operator's choice.
    boxes = [box for box in at.text_input if box.label == "Install for tenant"]
    assert [box.value for box in boxes] == ["", CUSTOM_TENANT]
    assert boxes[1].disabled
    assert any("for any tenant" in text for text in texts(at.caption))
    boxes[0].input("Cust34567").run()

    assert not at.exception, at.exception
    link = urlsplit(at.get("link_button")[0].proto.url)
    assert parse_qs(link.query) == {"app": [STANDARD_APP], "tenant": ["Cust34567"]}
    assert any(urlsplit(block.value).query == link.query for block in at.code)
    notes = texts(at.caption)
    assert any("Install link for Cust34567" in text for text in notes)
    assert any("fresh account" in text and "administrator of Cust34567" in text for text in notes)
    # Each application's own Customer state change URL, named by its client id.
    assert any("/state-change/alpha-client-id`" in text for text in notes)


def test_install_refuses_a_tenant_that_is_not_a_context_identifier(
    repository: Repository,
) -> None:
    seed(repository)
    at = open_page(APPLICATIONS_PAGE)
    next(box for box in at.text_input if box.label == "Install for tenant").input("x; drop").run()

    assert not at.exception, at.exception
    assert at.error
    assert [button.proto.label for button in at.get("link_button")] == ["Install"]  # the other
