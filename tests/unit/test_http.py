import io
import logging
import random
import re

import httpx
import pytest

from toolkit.config import Settings
from toolkit.errors import TransportError, UnexpectedResponseError
from toolkit.http import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_POOL_TIMEOUT_SECONDS,
    DEFAULT_READ_TIMEOUT_SECONDS,
    DEFAULT_WRITE_TIMEOUT_SECONDS,
    USER_AGENT,
    HttpTimeouts,
    RedactingFilter,
    _redact_every_pattern,
    create_client,
    get_json,
    raise_for_transport,
    redact_headers,
    redact_text,
    redact_url,
    send_request,
)

JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJ0b255QHN1cGVyb2ZmaWNlLmNvbSJ9"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)
TICKET = "7T:MwBiADAAOQA1ADcANwA3ADAAZQAzADgAOABmADEAZgA7ADEAMwA0ADAAOwBDAHUAcwB0ADIANgA3ADUAOQA="
ACCESS_TOKEN = "8A:Cust26759.AZsi4kNxfQ7aBbWn0PLFt0bLQ1R2Pzf3"
HEX_SECRET = "0123456789abcdef0123456789abcdef"


# ---------------------------------------------------------------------------- redact_headers


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", f"SOTicket {TICKET}", "SOTicket <redacted>"),
        ("Authorization", f"Bearer {ACCESS_TOKEN}", "Bearer <redacted>"),
        ("authorization", "Basic dXNlcjpwYXNz", "Basic <redacted>"),
        ("Authorization", "justonevalue", "<redacted>"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz", "Basic <redacted>"),
        ("SO-AppToken", HEX_SECRET, "<redacted>"),
        ("so-apptoken", HEX_SECRET, "<redacted>"),
        ("Cookie", "session=abc; other=def", "<redacted>"),
        ("Set-Cookie", "session=abc; HttpOnly", "<redacted>"),
    ],
)
def test_redact_headers_masks_credentials(name: str, value: str, expected: str) -> None:
    assert redact_headers({name: value}) == {name: expected}


def test_redact_headers_keeps_other_headers_and_accepts_httpx_headers() -> None:
    headers = httpx.Headers(
        {"Accept": "application/json", "Authorization": f"SOTicket {TICKET}", "X-Id": "7"}
    )
    redacted = redact_headers(headers)
    assert redacted["accept"] == "application/json"
    assert redacted["x-id"] == "7"
    assert redacted["authorization"] == "SOTicket <redacted>"
    assert TICKET not in str(redacted)


def test_redact_headers_accepts_pairs_and_keeps_repeated_headers() -> None:
    redacted = redact_headers([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Vary", "x")])
    assert redacted == {"Set-Cookie": "<redacted>, <redacted>", "Vary": "x"}


# ---------------------------------------------------------------------------- redact_url


@pytest.mark.parametrize(
    "name",
    [
        "code",
        "state",
        "nonce",
        "token",
        "refresh_token",
        "access_token",
        "id_token",
        "client_secret",
        "code_verifier",
        "ticket",
        "password",
        "Code",
        "CLIENT_SECRET",
    ],
)
def test_redact_url_masks_each_sensitive_query_parameter(name: str) -> None:
    url = f"https://partner.example/callback?x=1&{name}=s3cr3t-value&y=2"
    assert redact_url(url) == f"https://partner.example/callback?x=1&{name}=<redacted>&y=2"


def test_redact_url_masks_fragment_parameters_and_userinfo_password() -> None:
    url = f"https://user:pa55@partner.example/cb#access_token={ACCESS_TOKEN}&id_token={JWT}&x=1"
    redacted = redact_url(url)
    assert redacted == (
        "https://user:<redacted>@partner.example/cb#access_token=<redacted>&id_token=<redacted>&x=1"
    )


def test_redact_url_leaves_harmless_urls_alone() -> None:
    url = "https://sod.superoffice.com/login/.well-known/jwks?format=json#keys"
    assert redact_url(url) == url
    assert redact_url(httpx.URL(url)) == url


# ---------------------------------------------------------------------------- redact_text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"got id_token {JWT} from SuperID", JWT),
        (f"unsigned token {JWT.rsplit('.', 1)[0]}. was refused", JWT.rsplit(".", 1)[0]),
        (f"ticket is {TICKET} now", TICKET[3:]),
        (f"bearer {ACCESS_TOKEN}", ACCESS_TOKEN[3:]),
        (f"POST body client_secret={HEX_SECRET}&code=abc", HEX_SECRET),
        ("POST body grant_type=refresh_token&refresh_token=rt-123456", "rt-123456"),
        (f"ApplicationToken: {HEX_SECRET}", HEX_SECRET),
        (f"ApplicationToken {HEX_SECRET}", HEX_SECRET),
        (f'{{"ApplicationToken": "{HEX_SECRET}", "ContextIdentifier": "Cust1"}}', HEX_SECRET),
        ('{"refresh_token": "rt-abcdef", "token_type": "bearer"}', "rt-abcdef"),
        (
            '{"http://schemes.superoffice.net/identity/system_token": "App-8k8Q7DmBgo"}',
            "App-8k8Q7DmBgo",
        ),
        ("Authorization: SOTicket secret-ticket-value", "secret-ticket-value"),
        ("SO-AppToken: my-app-token", "my-app-token"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEA",
        ),
        ("<RSAKeyValue><Modulus>AQAB</Modulus><D>cHJpdmF0ZQ==</D></RSAKeyValue>", "cHJpdmF0ZQ=="),
        ("GET https://h/cb?state=st-1&code=cd-2 HTTP/1.1 200", "cd-2"),
        ("GET https://h/cb?code=cd-2&state=st-1 HTTP/1.1 200", "st-1"),
        ("GET https://h/cb#id_token=x&state=st-1", "st-1"),
    ],
)
def test_redact_text_masks_credentials(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert "<redacted" in redacted


def test_redact_text_keeps_the_scheme_word_and_the_ordinary_words() -> None:
    assert redact_text("Authorization: SOTicket 7T:abc") == "Authorization: SOTicket <redacted>"
    assert redact_text(f"ticket {TICKET}!") == "ticket 7T:<redacted>!"


@pytest.mark.parametrize(
    "text",
    [
        "status code: 401 from https://sod.superoffice.com/login/common/oauth/tokens",
        "tenant Cust26759 is Running",
        "tenant Cust26759 state=Running valid_until=2020-02-14",
        "the refresh failed; retrying in 2 s",
        "",
    ],
)
def test_redact_text_leaves_harmless_text_alone(text: str) -> None:
    assert redact_text(text) == text


def test_redact_text_is_idempotent() -> None:
    text = f"Authorization: Bearer {ACCESS_TOKEN} client_secret={HEX_SECRET} {JWT}"
    once = redact_text(text)
    assert redact_text(once) == once


# The shapes redact_text masks, with their near misses (issue 17's gate).
GATE_NAMES = [
    "client_secret",
    "ApplicationToken",
    "application_token",
    "apptoken",
    "SO-AppToken",
    "state",
    "code",
    "nonce",
    "token",
    "refresh_token",
    "id_token",
    "access_token",
    "ticket",
    "system_user_token",
    "signedsystemtoken",
    "secret",
    "private_key",
    "password",
    "Authorization",
    "proxy-authorization",
    "Cookie",
    "set-cookie",
    "token_issued_at",
    "approved_by",
    "codes",
    "xstate",
    "Cust12345",
]
GATE_SHAPES = [
    '"{name}": "{value}"',
    '"http://x/{name}" : "{value}"',
    "{name}={value}",
    "?{name}={value}",
    "&{name}={value}&x=1",
    "{name}: {value}",
    "{name}: Bearer {value}",
    "{name} {hex}",
    "{name} -> {hex}",
    "{name}: {hex}",
    '{name}": "{hex}',
    "<{xml}>{value}</{xml}>",
    "<{xml}>{value}",
    "-----BEGIN RSA PRIVATE KEY-----\n{value}\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN {value}",
    "eyJ{value}.{value}.{value}",
    "ey{value}.{value}",
    "7T:{value}",
    "8A:{value}",
    "7A:{value}",
    "7t:{value}",
    "{name} is {value}",
    "{value}",
]
GATE_NOISE = ["", " ", "\n", ", ", "; ", "{", "}", '"', "=", ":", "/", "-", "x", "Running"]


def _gate_sample(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(GATE_NAMES)
        if rng.random() < 0.3:  # SuperOffice and logs spell names in any case
            name = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)
        if rng.random() < 0.05:  # letters that match ASCII ones case-insensitively
            name = name.replace("s", "\u017f").replace("i", "\u0131").replace("k", "\u212a")
        shape = rng.choice(GATE_SHAPES).format(
            name=name,
            value=rng.choice(["abc", "rt-1", "App-8k", HEX_SECRET[:20], "a b", ""]),
            hex=rng.choice([HEX_SECRET, HEX_SECRET.upper(), HEX_SECRET[:31]]),
            xml=rng.choice(["D", "P", "Q", "DP", "InverseQ", "Modulus"]),
        )
        if shape and rng.random() < 0.2:  # a near miss: one character dropped
            cut = rng.randrange(len(shape))
            shape = shape[:cut] + shape[cut + 1 :]
        parts.append(rng.choice(GATE_NOISE) + shape)
    return "".join(parts)


def test_redact_text_gate_changes_nothing_but_speed() -> None:
    """The one-scan gate skips the substitutions only where none of them would change a thing:
    on thousands of seeded random texts made of every pattern's shapes and their near misses,
    the result equals running every pattern (toolkit.http._redact_every_pattern)."""
    rng = random.Random(17)
    redacted = untouched = 0
    for _ in range(30_000):
        text = _gate_sample(rng)
        full = _redact_every_pattern(text)
        assert redact_text(text) == full, text
        if full == text:
            untouched += 1
        else:
            redacted += 1
    # Both paths were exercised.
    assert redacted > 5000
    assert untouched > 5000


def test_redacting_filter_masks_messages_args_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("tests.unit.test_http.redacting")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        log.info("token %s for %s", JWT, "Cust1")
        try:
            raise ValueError(f"bad ticket {TICKET}")
        except ValueError:
            log.exception("failed with client_secret=%s", HEX_SECRET)
    finally:
        log.removeHandler(handler)
    output = stream.getvalue()
    assert "Cust1" in output
    assert "ValueError" in output
    for secret in (JWT, TICKET[3:], HEX_SECRET):
        assert secret not in output


# ---------------------------------------------------------------------------- create_client


def test_create_client_sets_explicit_timeouts_user_agent_and_no_redirects() -> None:
    with create_client() as client:
        assert client.timeout.connect == DEFAULT_CONNECT_TIMEOUT_SECONDS
        assert client.timeout.read == DEFAULT_READ_TIMEOUT_SECONDS
        assert client.timeout.write == DEFAULT_WRITE_TIMEOUT_SECONDS
        assert client.timeout.pool == DEFAULT_POOL_TIMEOUT_SECONDS
        assert client.follow_redirects is False
        assert client.headers["User-Agent"] == USER_AGENT
    assert re.fullmatch(r"superoffice-toolkit/[^ ]+ \(\+python-httpx\)", USER_AGENT)


def test_create_client_sends_the_user_agent_and_extra_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with create_client(
        transport=httpx.MockTransport(handler),
        base_url="https://sod.superoffice.com",
        headers={"X-Extra": "1"},
        timeout=HttpTimeouts(connect=1, read=2, write=3, pool=4),
    ) as client:
        assert client.timeout == httpx.Timeout(connect=1, read=2, write=3, pool=4)
        client.get("/api/state/Cust1")
    assert seen[0].headers["User-Agent"] == USER_AGENT
    assert seen[0].headers["X-Extra"] == "1"
    assert str(seen[0].url) == "https://sod.superoffice.com/api/state/Cust1"


def test_http_timeouts_from_settings() -> None:
    settings = Settings(_env_file=None, http_timeout_seconds=7, http_connect_timeout_seconds=2)
    assert HttpTimeouts.from_settings(settings) == HttpTimeouts(connect=2, read=7, write=7, pool=7)


def test_http_timeouts_refuse_non_positive_values() -> None:
    with pytest.raises(ValueError, match="read"):
        HttpTimeouts(read=0)


def test_debug_logs_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"Set-Cookie": "session=abc123"})

    caplog.set_level(logging.DEBUG, logger="toolkit.http")
    with create_client(transport=httpx.MockTransport(handler)) as client:
        client.get(
            "https://partner.example/cb?code=the-code&state=the-state",
            headers={"Authorization": f"SOTicket {TICKET}", "SO-AppToken": HEX_SECRET},
        )
    text = caplog.text
    assert "partner.example/cb" in text
    assert "-> 200" in text
    assert "SOTicket <redacted>" in text
    for secret in ("the-code", "the-state", TICKET, HEX_SECRET, "abc123"):
        assert secret not in text


# ---------------------------------------------------------------------------- requests


def _client(handler: object) -> httpx.Client:
    return create_client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_get_json_returns_the_object_and_asks_for_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"keys": []})

    with _client(handler) as client:
        assert get_json(client, "https://sod.superoffice.com/login/.well-known/jwks", "JWKS") == {
            "keys": []
        }
    assert seen[0].headers["Accept"] == "application/json"


def test_connect_error_becomes_transport_error_with_redacted_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with _client(handler) as client, pytest.raises(TransportError) as info:
        get_json(client, "https://sod.superoffice.com/x?code=secret-code", "JWKS")
    error = info.value
    assert type(error) is TransportError
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert error.status_code is None
    assert error.url == "https://sod.superoffice.com/x"
    assert "JWKS" in str(error)
    assert "secret-code" not in str(error)


def test_timeout_becomes_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("stalled", request=request)

    with _client(handler) as client, pytest.raises(TransportError, match="timed out") as info:
        send_request(client, "GET", "https://sod.superoffice.com/x", what="state API")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize("status", [301, 302, 400, 401, 404, 421, 500, 503])
def test_non_2xx_becomes_transport_error_with_status(status: int) -> None:
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(
            status, headers={"Location": "https://elsewhere.test/"}, text="secret body"
        )

    with _client(handler) as client, pytest.raises(TransportError) as info:
        get_json(client, "https://sod.superoffice.com/x?token=tok-1", "JWKS")
    error = info.value
    assert type(error) is TransportError
    assert error.status_code == status
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert str(status) in str(error)
    assert "tok-1" not in str(error)
    assert "secret body" not in str(error)
    assert requested == ["https://sod.superoffice.com/x?token=tok-1"]  # redirect not followed


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>not json</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, content=b"\xff\xfe\x00garbage"),
    ],
)
def test_non_json_object_becomes_unexpected_response_error(response: httpx.Response) -> None:
    with (
        _client(lambda request: response) as client,
        pytest.raises(UnexpectedResponseError) as info,
    ):
        get_json(client, "https://sod.superoffice.com/x", "JWKS")
    assert info.value.status_code == 200
    assert info.value.url == "https://sod.superoffice.com/x"


def test_raise_for_transport_returns_successful_responses() -> None:
    request = httpx.Request("GET", "https://sod.superoffice.com/x")
    response = httpx.Response(204, request=request)
    assert raise_for_transport(response, "thing") is response
