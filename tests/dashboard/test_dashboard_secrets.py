"""No page renders a plaintext secret: system user token or ticket, client secret, private key."""

from __future__ import annotations

import pytest
from dashboard_support import (
    APPLICATIONS_PAGE,
    CLIENT_SECRET,
    FORM_CLIENT_SECRET,
    FORM_KEY,
    FORM_KEY_XML,
    KEY,
    REFRESH_TOKEN,
    SYSTEM_USER_TOKEN,
    TENANTS_PAGE,
    TICKET,
    open_page,
    private_numbers_text,
    rendered_text,
    seed,
    texts,
)

from toolkit.store import Repository

PAGES = [APPLICATIONS_PAGE, TENANTS_PAGE]


def _secrets() -> list[str]:
    return [
        SYSTEM_USER_TOKEN,
        TICKET,
        TICKET.removeprefix("7T:"),
        REFRESH_TOKEN,
        CLIENT_SECRET,
        FORM_CLIENT_SECRET,
        *private_numbers_text(KEY),
        *private_numbers_text(FORM_KEY),
    ]


def _assert_no_secret(text: str) -> None:
    leaked = [secret[:12] + "..." for secret in _secrets() if secret in text]
    assert not leaked, f"secrets rendered: {leaked}"


@pytest.mark.parametrize("page_path", PAGES)
def test_no_page_renders_a_secret(repository: Repository, page_path: str) -> None:
    seed(repository)

    at = open_page(page_path)

    text = rendered_text(at)
    # The walk did see the page's content, so an empty text cannot pass by accident.
    assert "alpha-client-id" in text or "Cust12345" in text
    _assert_no_secret(text)


def test_no_secret_after_adding_an_application_through_the_form(
    repository: Repository,
) -> None:
    seed(repository)
    at = open_page(APPLICATIONS_PAGE)
    inputs = {widget.label: widget for widget in at.text_input}
    inputs["Name"].input("Golf")
    inputs["Client ID"].input("golf-id")
    inputs["Client secret"].input(FORM_CLIENT_SECRET)
    at.text_area[0].input(FORM_KEY_XML)
    next(button for button in at.button if button.label == "Add application").click().run()
    assert not at.error, texts(at.error)

    _assert_no_secret(rendered_text(at))
    at.switch_page(TENANTS_PAGE).run()
    _assert_no_secret(rendered_text(at))
    assert repository.get_application("Golf").client_secret.reveal() == FORM_CLIENT_SECRET
