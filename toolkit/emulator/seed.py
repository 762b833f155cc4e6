"""The default seeded world. Other engineers' tests rely on these exact values."""

from __future__ import annotations

import copy
from typing import Any

DEMO_PASSWORD = "superid-demo"


def _member(ctx: str, admin: bool, associate_id: int, initials: str) -> dict[str, Any]:
    return {
        "ctx": ctx,
        "is_administrator": admin,
        "associate_id": associate_id,
        "initials": initials,
    }


def _user(username: str, *memberships: dict[str, Any]) -> dict[str, Any]:
    return {"username": username, "password": DEMO_PASSWORD, "memberships": list(memberships)}


_DEFAULT_WORLD: dict[str, Any] = {
    "version": 1,
    "tenants": [
        {
            "ctx": "Cust12345",
            "company_name": "Tony's Developer Network",
            "serial": "1801550193",
            "host": "sod2",
        },
        {
            "ctx": "Cust23456",
            "company_name": "Nordic Bikes AS",
            "serial": "2087315043",
            "host": "sod3",
        },
        {
            "ctx": "Cust34567",
            "company_name": "Acme Consulting",
            "serial": "1122334455",
            "host": "sod2",
        },
    ],
    "users": [
        _user("admin@cust12345.test", _member("Cust12345", True, 5, "TA")),
        _user("user@cust12345.test", _member("Cust12345", False, 6, "NU")),
        _user("admin@cust23456.test", _member("Cust23456", True, 5, "NA")),
        _user("user@cust34567.test", _member("Cust34567", False, 6, "AU")),
        _user("admin@cust34567.test", _member("Cust34567", True, 5, "AA")),
        _user(
            "consultant@multi.test",
            _member("Cust12345", True, 7, "CO"),
            _member("Cust23456", True, 7, "CO"),
        ),
    ],
    "apps": [],
    "authorizations": [],
    "quirks": {"iat_as_string": False},
}


def default_world() -> dict[str, Any]:
    """A fresh copy of the default world JSON."""
    return copy.deepcopy(_DEFAULT_WORLD)
