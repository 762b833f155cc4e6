"""The emulator's answer for a path it does not emulate (not a SuperOffice answer).

SuperOffice answers a missing record with 404 and its error body (protocol §5). If the emulator
answered a path it simply does not implement (``v1/Contact/1``, ``v1/Archive/...``, another
``.svc``) the same way, a developer would read "no such record" and look for the bug on the
wrong side. So such a path gets **501 Not Implemented** with a JSON body and the header
``X-Emulator: not-emulated``; no real SuperOffice answer carries that header [I]. Missing
records on emulated paths stay SuperOffice's 404s, and the control plane (``/__emulator__``) keeps
its own 404s.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

__all__ = [
    "NOT_EMULATED_ERROR",
    "NOT_EMULATED_HEADER",
    "NOT_EMULATED_STATUS",
    "NOT_EMULATED_VALUE",
    "NotEmulated",
    "not_emulated_response",
]

NOT_EMULATED_STATUS = 501  # Not Implemented: the server does not support the request
NOT_EMULATED_HEADER = "X-Emulator"
NOT_EMULATED_VALUE = "not-emulated"
NOT_EMULATED_ERROR = "not_emulated"


class NotEmulated(Exception):
    """Raised where a handler finds its path is outside what the emulator implements."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def not_emulated_response(method: str, path: str) -> JSONResponse:
    """501 with ``X-Emulator: not-emulated``: ``{"error": "not_emulated", "detail": ...}``."""
    return JSONResponse(
        {
            "error": NOT_EMULATED_ERROR,
            "detail": f"{method} {path} is not emulated by this emulator (it is no SuperOffice "
            "answer: the path may well exist in SuperOffice Online)",
            "method": method,
            "path": path,
        },
        NOT_EMULATED_STATUS,
        headers={NOT_EMULATED_HEADER: NOT_EMULATED_VALUE},
    )
