import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from toolkit.auth.jwks import JWKS_MIN_REFETCH_INTERVAL, JWKS_TTL, JwksCache
from toolkit.errors import ConfigurationError, KeySetError, SigningKeyNotFoundError, TransportError
from toolkit.http import create_client

JWKS_URI = "https://sod.superoffice.com/login/.well-known/jwks"
T0 = datetime(2020, 2, 14, 7, 26, 47, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class JwksServer:
    """A MockTransport serving ``keys`` at JWKS_URI and recording every request it sees."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.requests: list[str] = []
        self.status = 200
        self.delay = 0.0
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if self.delay:
            time.sleep(self.delay)
        if str(request.url) != JWKS_URI:
            return httpx.Response(404)
        if self.status != 200:
            return httpx.Response(self.status)
        return httpx.Response(200, json={"keys": self.keys})


def rsa_jwk(key: RSAPrivateKey, kid: str | None, **extra: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    jwk.update({"use": "sig", "alg": "RS256"})
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


@pytest.fixture(scope="module")
def key1() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key2() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_cache(server: JwksServer, clock: Clock) -> JwksCache:
    return JwksCache(JWKS_URI, create_client(transport=server.transport), now=clock)


def public_numbers(key: jwt.PyJWK) -> rsa.RSAPublicNumbers:
    assert isinstance(key.key, RSAPublicKey)
    return key.key.public_numbers()


def test_defaults_are_an_hour_and_thirty_seconds() -> None:
    assert timedelta(hours=1) == JWKS_TTL
    assert timedelta(seconds=30) == JWKS_MIN_REFETCH_INTERVAL


def test_kid_lookup_fetches_once_and_caches(key1: RSAPrivateKey, key2: RSAPrivateKey) -> None:
    server = JwksServer([rsa_jwk(key1, "k1"), rsa_jwk(key2, "k2")])
    cache = make_cache(server, Clock())
    assert cache.fetch_count == 0  # lazy
    first = cache.signing_key("k1", "RS256")
    second = cache.signing_key("k2", "RS256")
    cache.signing_key("k1", "RS256")
    assert public_numbers(first) == key1.public_key().public_numbers()
    assert public_numbers(second) == key2.public_key().public_numbers()
    assert first.algorithm_name == "RS256"
    assert cache.fetch_count == 1
    assert server.requests == [JWKS_URI]
    assert cache.key_ids == ("k1", "k2")


def test_unknown_kid_refetches_once_then_is_rate_limited(key1: RSAPrivateKey, clock: Clock) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    cache = make_cache(server, clock)
    cache.signing_key("k1", "RS256")
    clock.advance(timedelta(seconds=60))

    with pytest.raises(SigningKeyNotFoundError) as info:
        cache.signing_key("unknown-1", "RS256")
    assert info.value.kid == "unknown-1"
    assert cache.fetch_count == 2  # exactly one refetch

    clock.advance(timedelta(seconds=5))
    with pytest.raises(SigningKeyNotFoundError):
        cache.signing_key("unknown-2", "RS256")
    assert cache.fetch_count == 2  # within the interval: no further fetch

    clock.advance(JWKS_MIN_REFETCH_INTERVAL)
    with pytest.raises(SigningKeyNotFoundError):
        cache.signing_key("unknown-3", "RS256")
    assert cache.fetch_count == 3
    assert cache.signing_key("k1", "RS256") is not None
    assert cache.fetch_count == 3


def test_unknown_kid_right_after_a_fetch_does_not_refetch(key1: RSAPrivateKey) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    cache = make_cache(server, Clock())
    with pytest.raises(SigningKeyNotFoundError):
        cache.signing_key("unknown", "RS256")
    assert cache.fetch_count == 1  # the set was fetched this very moment


def test_flood_of_random_kids_does_not_flood_fetches(key1: RSAPrivateKey, clock: Clock) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    cache = make_cache(server, clock)
    cache.signing_key("k1", "RS256")
    clock.advance(timedelta(minutes=5))
    for _ in range(200):
        with pytest.raises(SigningKeyNotFoundError):
            cache.signing_key(uuid.uuid4().hex, "RS256")
        clock.advance(timedelta(milliseconds=100))
    # 20 s of flood: one refetch at most.
    assert cache.fetch_count == 2


def test_key_rotation_new_kid_is_found_after_refetch(
    key1: RSAPrivateKey, key2: RSAPrivateKey, clock: Clock
) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    cache = make_cache(server, clock)
    cache.signing_key("k1", "RS256")
    server.keys = [rsa_jwk(key2, "k2")]  # SuperID rotated
    clock.advance(timedelta(minutes=10))
    key = cache.signing_key("k2", "RS256")
    assert public_numbers(key) == key2.public_key().public_numbers()
    assert cache.fetch_count == 2
    with pytest.raises(SigningKeyNotFoundError):  # the withdrawn key is gone
        cache.signing_key("k1", "RS256")


def test_ttl_expiry_refetches(key1: RSAPrivateKey, clock: Clock) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    cache = make_cache(server, clock)
    cache.signing_key("k1", "RS256")
    clock.advance(JWKS_TTL - timedelta(seconds=1))
    cache.signing_key("k1", "RS256")
    assert cache.fetch_count == 1
    clock.advance(timedelta(seconds=1))
    cache.signing_key("k1", "RS256")
    assert cache.fetch_count == 2


def test_no_kid_uses_the_only_key(key1: RSAPrivateKey) -> None:
    server = JwksServer([rsa_jwk(key1, None)])
    cache = make_cache(server, Clock())
    assert public_numbers(cache.signing_key(None, "RS256")) == key1.public_key().public_numbers()


def test_no_kid_with_two_keys_is_refused(key1: RSAPrivateKey, key2: RSAPrivateKey) -> None:
    server = JwksServer([rsa_jwk(key1, "k1"), rsa_jwk(key2, "k2")])
    cache = make_cache(server, Clock())
    with pytest.raises(SigningKeyNotFoundError, match="no kid"):
        cache.signing_key(None, "RS256")


def _unusable_keys(key2: RSAPrivateKey) -> list[dict[str, Any]]:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)
    ec_jwk.update({"kid": "ec", "use": "sig"})
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return [
        ec_jwk,
        rsa_jwk(key2, "enc", use="enc"),
        {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
        {**rsa_jwk(key2, "bad-b64"), "n": "!!!not base64!!!"},
        {**rsa_jwk(key2, "n-number"), "n": 12345},
        rsa_jwk(key2, "ops", key_ops=["encrypt"]),
        rsa_jwk(key2, "rs512", alg="RS512"),
        rsa_jwk(key2, "hs", alg="HS256"),
        {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
        rsa_jwk(short, "short"),
        "not an object",
    ]


def test_unusable_keys_are_skipped_not_fatal(key1: RSAPrivateKey, key2: RSAPrivateKey) -> None:
    server = JwksServer([*_unusable_keys(key2), rsa_jwk(key1, "good")])
    cache = make_cache(server, Clock())
    # The only usable key serves kid-less tokens, so every other entry was skipped.
    assert public_numbers(cache.signing_key(None, "RS256")) == key1.public_key().public_numbers()
    assert cache.key_ids == ("rs512", "good")  # rs512 is usable, just not with RS256
    for kid in ("ec", "enc", "no-n", "bad-b64", "n-number", "ops", "rs512", "hs", "oct", "short"):
        with pytest.raises(SigningKeyNotFoundError):
            cache.signing_key(kid, "RS256")


def test_key_alg_must_match_token_alg(key1: RSAPrivateKey) -> None:
    server = JwksServer([rsa_jwk(key1, "k1", alg="RS512")])
    cache = make_cache(server, Clock())
    assert cache.signing_key("k1", "RS512").algorithm_name == "RS512"
    with pytest.raises(SigningKeyNotFoundError):
        cache.signing_key("k1", "RS256")


def test_key_without_alg_serves_any_rsa_algorithm_but_never_hmac(key1: RSAPrivateKey) -> None:
    server = JwksServer([rsa_jwk(key1, "k1", alg=None)])
    cache = make_cache(server, Clock())
    assert cache.signing_key("k1", "PS256").algorithm_name == "PS256"
    for alg in ("HS256", "none", "ES256"):
        with pytest.raises(SigningKeyNotFoundError):
            cache.signing_key("k1", alg)


def test_private_members_in_the_set_are_dropped(key1: RSAPrivateKey) -> None:
    private_jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key1, as_dict=True)
    private_jwk.pop("key_ops", None)
    private_jwk.update({"kid": "k1", "use": "sig"})
    assert "d" in private_jwk
    server = JwksServer([private_jwk])
    key = make_cache(server, Clock()).signing_key("k1", "RS256")
    assert isinstance(key.key, RSAPublicKey)


@pytest.mark.parametrize(
    "body",
    [
        {"keys": []},
        {"keys": [{"kty": "EC", "kid": "x"}]},
        {"no_keys": True},
        {"keys": "not a list"},
    ],
)
def test_no_usable_key_is_a_key_set_error(body: dict[str, Any]) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    cache = JwksCache(JWKS_URI, create_client(transport=transport), now=Clock())
    with pytest.raises(KeySetError) as info:
        cache.signing_key("x", "RS256")
    assert type(info.value) is KeySetError


def test_fetch_failure_is_a_key_set_error_and_is_not_hammered(
    key1: RSAPrivateKey, clock: Clock
) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    server.status = 503
    cache = make_cache(server, clock)
    with pytest.raises(KeySetError) as info:
        cache.signing_key("k1", "RS256")
    assert isinstance(info.value.__cause__, TransportError)
    assert info.value.__cause__.status_code == 503
    with pytest.raises(KeySetError, match="not retrying"):
        cache.signing_key("k1", "RS256")
    assert cache.fetch_count == 1
    server.status = 200
    clock.advance(JWKS_MIN_REFETCH_INTERVAL)
    assert cache.signing_key("k1", "RS256") is not None
    assert cache.fetch_count == 2


def test_connect_error_is_a_key_set_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    cache = JwksCache(JWKS_URI, create_client(transport=httpx.MockTransport(handler)), now=Clock())
    with pytest.raises(KeySetError) as info:
        cache.signing_key("k1", "RS256")
    assert isinstance(info.value.__cause__, TransportError)
    assert isinstance(info.value.__cause__.__cause__, httpx.ConnectError)


def test_redirects_are_not_followed(key1: RSAPrivateKey) -> None:
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://evil.test/jwks"})

    client = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)
    cache = JwksCache(JWKS_URI, client, now=Clock())
    with pytest.raises(KeySetError):
        cache.signing_key("k1", "RS256")
    assert requested == [JWKS_URI]


@pytest.mark.parametrize(
    "uri",
    [
        "http://sod.superoffice.com/login/.well-known/jwks",
        "http://10.0.0.5/login/.well-known/jwks",
        "ftp://sod.superoffice.com/jwks",
        "/login/.well-known/jwks",
    ],
)
def test_insecure_jwks_uri_is_refused(uri: str) -> None:
    with pytest.raises(ConfigurationError):
        JwksCache(uri, create_client())


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:8765/login/.well-known/jwks", "http://localhost/jwks"]
)
def test_plain_http_is_allowed_on_loopback(uri: str) -> None:
    assert JwksCache(uri, create_client()).jwks_uri == uri


def test_concurrent_first_lookups_fetch_once(key1: RSAPrivateKey) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    server.delay = 0.05
    cache = make_cache(server, Clock())
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def lookup() -> None:
        barrier.wait()
        try:
            cache.signing_key("k1", "RS256")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=lookup) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.fetch_count == 1


def test_concurrent_unknown_kids_refetch_once(key1: RSAPrivateKey, clock: Clock) -> None:
    server = JwksServer([rsa_jwk(key1, "k1")])
    cache = make_cache(server, clock)
    cache.signing_key("k1", "RS256")
    clock.advance(timedelta(minutes=1))
    server.delay = 0.05
    barrier = threading.Barrier(16)

    def lookup() -> None:
        barrier.wait()
        with pytest.raises(SigningKeyNotFoundError):
            cache.signing_key(uuid.uuid4().hex, "RS256")

    threads = [threading.Thread(target=lookup) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.fetch_count == 2


def test_invalid_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        JwksCache(JWKS_URI, create_client(), ttl=timedelta(0))
