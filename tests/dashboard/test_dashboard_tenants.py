"""The Tenants page: empty states, the authorization records, the filter, one record's detail."""

from __future__ import annotations

from dashboard_support import (
    ADMIN,
    COMPANY,
    CUSTOM_APP,
    STANDARD_APP,
    TENANT,
    TENANTS_PAGE,
    open_page,
    seed,
    texts,
)

from toolkit.store import Repository


def test_empty_store_explains_what_to_do() -> None:
    at = open_page(TENANTS_PAGE)

    assert at.title[0].value == "Tenants"
    assert any("No applications yet" in text for text in texts(at.info))
    assert not at.dataframe
    assert not at.error


def test_records_table_shows_whether_a_system_user_token_is_held(
    repository: Repository,
) -> None:
    seed(repository)

    at = open_page(TENANTS_PAGE)

    table = at.dataframe[0].value
    assert list(table.columns) == [
        "Tenant",
        "Company",
        "Application",
        "Environment",
        "Approved by",
        "Approved at",
        "Status",
        "System user token held",
    ]
    assert len(table) == 1
    row = table.iloc[0]
    assert row["Tenant"] == TENANT
    assert row["Company"] == COMPANY
    assert row["Application"] == STANDARD_APP
    assert row["Environment"] == "sod"
    assert row["Approved by"] == ADMIN
    assert row["Approved at"].startswith("2025-03-01 12:00")
    assert row["Status"] == "active"
    assert bool(row["System user token held"]) is True


def test_detail_shows_claims_and_audit_trail(repository: Repository) -> None:
    seed(repository)

    at = open_page(TENANTS_PAGE)

    assert at.selectbox(key="tenants_record").value == f"{TENANT} · {STANDARD_APP}"
    facts = " ".join(texts(at.markdown))
    assert "**System user token held:** yes" in facts
    assert "99887766" in facts
    claims = at.dataframe[1].value
    assert dict(zip(claims["Claim"], claims["Value"], strict=True)) == {
        "company_name": COMPANY,
        "ctx": TENANT,
        "is_administrator": "True",
        "serial": "99887766",
        "upn": ADMIN,
    }
    audit = at.dataframe[2].value
    assert list(audit["Action"]) == ["authorization.created"]
    assert list(audit["Actor"]) == ["test"]
    assert "holds_system_user" in audit["Summary"][0]


def test_filter_by_application(repository: Repository) -> None:
    seed(repository)
    at = open_page(TENANTS_PAGE)

    at.selectbox(key="tenants_application").select(CUSTOM_APP).run()

    assert not at.exception, at.exception
    assert not at.dataframe
    assert any(f"No tenant has approved **{CUSTOM_APP}**" in text for text in texts(at.info))

    at.selectbox(key="tenants_application").select(STANDARD_APP).run()

    assert list(at.dataframe[0].value["Tenant"]) == [TENANT]
