"""Hostile bodies to the emulator's parsers: it is a product too, so they end in a 4xx of its
own, never a 500 or a traceback (a SOAP fault is the one 500 SOAP itself prescribes)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hostile_strategies import deep_json, json_escaped, json_values
from hypothesis import example, given
from hypothesis import strategies as st

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

JSON_PATHS = ("/Login/api/PartnerSystemUser/Authenticate", "/__emulator__/apps")


@pytest.fixture(scope="module")
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=30) as client:
        yield client


@given(
    path=st.sampled_from(JSON_PATHS),
    body=st.one_of(
        st.binary(max_size=300),
        json_values.map(json_escaped),
        st.integers(min_value=100, max_value=5000).map(deep_json),
    ),
)
@example(path=JSON_PATHS[0], body=b'{"SignedSystemToken": 1' + b"0" * 5000 + b"}")
@example(path=JSON_PATHS[1], body=b'{"name": 1' + b"0" * 5000 + b"}")
@example(path=JSON_PATHS[1], body=b'{"name": "\\ud800"}')
@example(path=JSON_PATHS[0], body=b'{"ApplicationToken": "\\ud800", "SignedSystemToken": "a"}')
def test_json_bodies(http: httpx.Client, path: str, body: bytes) -> None:
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
