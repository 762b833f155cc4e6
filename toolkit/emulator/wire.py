"""Request parsing shared by the emulated endpoints: bounded bodies, OAuth params, Basic auth."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request

from toolkit.emulator.errors import BadRequestError

# Forms and OAuth requests are tiny; anything larger is refused before it is read.
MAX_FORM_BYTES = 64 * 1024
# Control-plane JSON (a whole world) may be larger.
MAX_JSON_BYTES = 4 * 1024 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequestError("invalid_request", "malformed Content-Length")
        if int(declared) > limit:
            raise BadRequestError("invalid_request", "request body too large", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequestError("invalid_request", "request body too large", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _pairs(text: str, where: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError("invalid_request", f"malformed {where}") from exc
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            # RFC 6749 §3.1: request parameters MUST NOT be included more than once.
            raise BadRequestError("invalid_request", f"parameter {key!r} repeated")
        result[key] = value
    return result


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded body of a form POST."""
    body = await read_body(request, MAX_FORM_BYTES)
    if not body:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise BadRequestError("invalid_request", f"Content-Type must be {FORM_CONTENT_TYPE}")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise BadRequestError("invalid_request", "form body is not urlencoded ASCII") from exc
    return _pairs(text, "form body")


async def oauth_params(request: Request) -> dict[str, str]:
    """Token/revoke params from the form body or the query string (protocol §2.4: docs use
    the query string, real clients the body). A parameter in both must agree."""
    body = await form_fields(request)
    query = _pairs(request.url.query, "query string")
    for key, value in query.items():
        if key in body and body[key] != value:
            raise BadRequestError("invalid_request", f"parameter {key!r} repeated")
        body.setdefault(key, value)
    return body


def query_params(request: Request) -> dict[str, str]:
    return _pairs(request.url.query, "query string")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """client_secret_basic (RFC 6749 §2.3.1); None when no Authorization header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise BadRequestError("invalid_client", "unsupported client authentication", 401)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError("invalid_client", "malformed Basic credentials", 401) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise BadRequestError("invalid_client", "malformed Basic credentials", 401)
    return unquote(client_id), unquote(secret)


def decode_json(body: bytes) -> Any:
    """JSON that the emulator can store and send back, else `BadRequestError` `invalid_json`.

    A `\\ud800` escape decodes to a lone surrogate, which no UTF-8 answer can carry: refused
    here, before anything is stored, rather than a 500 after the world changed.
    """
    try:
        data = json.loads(body)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError("invalid_json", "the body holds a lone surrogate escape") from exc
    except (ValueError, RecursionError) as exc:
        # ValueError: JSONDecodeError, bytes that are not UTF-8, and an integer longer than
        # Python converts (4300 digits), which json.loads raises as a plain ValueError.
        raise BadRequestError("invalid_json", "the body is not valid JSON") from exc
    return data


async def json_body(request: Request) -> dict[str, Any]:
    body = await read_body(request, MAX_JSON_BYTES)
    if not body.strip():
        return {}
    data = decode_json(body)
    if not isinstance(data, dict):
        raise BadRequestError("invalid_json", "the body must be a JSON object")
    return data
