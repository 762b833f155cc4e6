"""The redirect back from SuperID: its parameters read and their shape checked (protocol §2.3)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from toolkit.claims import REDACTED
from toolkit.errors import SignInError, StateMismatchError

__all__ = [
    "MAX_CALLBACK_VALUE_LENGTH",
    "CallbackParams",
    "CallbackResponse",
    "callback_params_from_form",
    "callback_params_from_url",
    "parse_callback",
]

# Bounds on callback parameters: SuperID's codes and our states are far shorter, and a bound
# keeps junk out of the store lookup and the token request.
MAX_CALLBACK_VALUE_LENGTH = 4096


# Callback parameters as they come: a plain mapping, (name, value) pairs, or a Starlette
# QueryParams / FormData (whose ``multi_items`` reveal repeated names).
CallbackParams = Mapping[str, Any] | Iterable[tuple[str, Any]]


@dataclass(frozen=True, repr=False)
class CallbackResponse:
    """What SuperID sent back to ``redirect_uri``: ``code`` or ``error``, always with ``state``."""

    state: str
    code: str | None = None
    error: str | None = None
    error_description: str | None = None
    error_uri: str | None = None
    issuer: str | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None

    def __repr__(self) -> str:
        code = None if self.code is None else REDACTED
        return (
            f"CallbackResponse(state={REDACTED!r}, code={code!r}, error={self.error!r}, "
            f"error_description={self.error_description!r})"
        )

    __str__ = __repr__


def _unique_params(pairs: Iterable[tuple[str, Any]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not isinstance(value, str):
            # e.g. a file upload in a form_post body
            raise SignInError("the callback carries a parameter that is not text")
        if key in params:
            # RFC 6749 §3.1: parameters must not be included more than once.
            raise SignInError(f"the callback carries the parameter {key!r} more than once")
        params[key] = value
    return params


def _pairs_of(params: CallbackParams) -> Iterable[tuple[str, Any]]:
    multi_items = getattr(params, "multi_items", None)
    if callable(multi_items):  # Starlette's QueryParams / FormData keep repeated keys
        items: Iterable[tuple[str, Any]] = multi_items()
        return items
    if isinstance(params, Mapping):
        return params.items()
    return params


def callback_params_from_url(url: str) -> dict[str, str]:
    """The callback parameters of a redirect URL: its query, or its fragment for fragment mode.

    A parameter repeated (within or across the two parts) is refused.
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    pairs += parse_qsl(parts.fragment, keep_blank_values=True)
    return _unique_params(pairs)


def callback_params_from_form(fields: CallbackParams) -> dict[str, str]:
    """The callback parameters of a ``response_mode=form_post`` POST (fields or a multi-dict)."""
    return _unique_params(_pairs_of(fields))


def _optional_text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_CALLBACK_VALUE_LENGTH:
        raise SignInError(f"the callback parameter {name} is not usable")
    return value


def parse_callback(params: CallbackParams) -> CallbackResponse:
    """Check the shape of a callback and return it; it does **not** raise for ``error=``.

    Refused with :class:`~toolkit.errors.StateMismatchError`: no ``state``. Refused with
    :class:`~toolkit.errors.SignInError`: repeated parameters, both ``code`` and ``error``,
    neither, empty or oversized values. An ``error`` response is returned as data so that the
    caller can first check and consume the ``state`` (see
    :meth:`~toolkit.auth.oidc.SuperIdClient.complete_sign_in`).
    """
    unique = _unique_params(_pairs_of(params))
    state = _optional_text(unique, "state")
    if not state:
        raise StateMismatchError("the callback has no state")
    code = _optional_text(unique, "code")
    error = _optional_text(unique, "error")
    if code is not None and error is not None:
        raise SignInError("the callback carries both a code and an error")
    if code is None and error is None:
        raise SignInError("the callback carries neither a code nor an error")
    if code is not None and not code:
        raise SignInError("the callback carries an empty code")
    if error is not None and not error:
        raise SignInError("the callback carries an empty error")
    return CallbackResponse(
        state=state,
        code=code,
        error=error,
        error_description=_optional_text(unique, "error_description"),
        error_uri=_optional_text(unique, "error_uri"),
        issuer=_optional_text(unique, "iss"),
    )
