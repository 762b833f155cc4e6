"""One request's trip, for the sync and the async client: send options, answer, refusal."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import httpx

from toolkit.errors import (
    ApiConflictError,
    ApiError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnauthorizedError,
    MisdirectedRequestError,
    UnexpectedResponseError,
)
from toolkit.http import RetryPolicy, redact_text, url_for_error
from toolkit.tenant.status import TenantStatus
from toolkit.tenant.webapi.wire import MAX_JSON_BYTES, MISDIRECTED_STATUS, ApiRequest

__all__ = ["log_misdirected", "parse_api_error", "parse_json", "refused", "send_options"]

logger = logging.getLogger("toolkit.tenant.webapi")

_API_ERRORS: Final[Mapping[int, type[ApiError]]] = {
    401: ApiUnauthorizedError,
    403: ApiForbiddenError,
    404: ApiNotFoundError,
    409: ApiConflictError,
    MISDIRECTED_STATUS: MisdirectedRequestError,
}


def _optional_wire_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


def parse_api_error(
    status_code: int, content: bytes, *, url: str | None = None, method: str | None = None
) -> ApiError:
    """The :class:`~toolkit.errors.ApiError` for an error answer (pure).

    SuperOffice's body is ``{"Error": true, "ErrorType", "ErrorMessage", "ErrorSource"}`` (§5);
    a body that is not that (an HTML gateway page, nothing) leaves the fields None. The message
    and ``error_message`` are redacted; ``url`` should already be (``url_for_error``).
    """
    error_type = error_message = error_source = None
    if content and len(content) <= MAX_JSON_BYTES:
        try:
            body = json.loads(content)
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, Mapping):
            error_type = _optional_wire_text(body, "ErrorType")
            raw_message = _optional_wire_text(body, "ErrorMessage")
            error_message = None if raw_message is None else redact_text(raw_message)
            error_source = _optional_wire_text(body, "ErrorSource")
    cls = _API_ERRORS.get(status_code, ApiError)
    text = f"HTTP {status_code}"
    if method and url:
        text = f"{method.upper()} {url}: {text}"
    if error_type:
        text += f" {error_type}"
    if error_message:
        text += f": {error_message}"
    return cls(
        text,
        status_code=status_code,
        error_type=error_type,
        error_message=error_message,
        error_source=error_source,
        url=url,
        method=None if method is None else method.upper(),
    )


def parse_json(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; None for an empty body (204)."""
    if response.status_code == 204 or not response.content:
        return None
    if len(response.content) > MAX_JSON_BYTES:
        raise UnexpectedResponseError(
            f"tenant API: the answer from {url_for_error(response.request.url)} is too large",
            url=url_for_error(response.request.url),
            status_code=response.status_code,
        )
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise UnexpectedResponseError(
            f"tenant API: the answer from {url_for_error(response.request.url)} is not JSON",
            url=url_for_error(response.request.url),
            status_code=response.status_code,
        ) from exc


def send_options(
    request: ApiRequest, retry: RetryPolicy | None
) -> tuple[RetryPolicy | None, dict[str, Any]]:
    """The retry policy for ``request`` (an agent read may be repeated, a write that creates
    may not) and its httpx arguments (``json``, ``params``): shared by the sync and the async
    client."""
    if retry is not None and request.safe_to_repeat:
        methods = retry.idempotent_methods | {request.method.upper()}
        retry = replace(retry, idempotent_methods=methods)
    elif retry is not None and request.creates:
        methods = retry.idempotent_methods - {request.method.upper()}
        retry = replace(retry, idempotent_methods=methods)
    extra: dict[str, Any] = {}
    if request.body is not None:
        extra["json"] = request.body
    if request.params:
        extra["params"] = dict(request.params)
    return retry, extra


def log_misdirected(request: ApiRequest, status: TenantStatus) -> None:
    """Note a 421 (the tenant moved to another subdomain) before the client re-resolves."""
    logger.info(
        "%s answered 421 (wrong subdomain); re-resolving the tenant",
        url_for_error(request.url(status.api_url or "")),
    )


def refused(response: httpx.Response, request: ApiRequest) -> ApiError:
    """The typed error of a non-2xx answer to ``request`` (the response is not closed)."""
    return parse_api_error(
        response.status_code,
        response.content,
        url=url_for_error(response.request.url),
        method=request.method,
    )
