"""The emulator's refusals: rendered as OAuth JSON, control-plane JSON or an HTML page."""

from __future__ import annotations


class BadRequestError(Exception):
    """A request the emulator refuses, with the wire's error word, a detail and a status."""

    def __init__(self, error: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.status = status


class WorldError(BadRequestError, ValueError):
    """Bad input to the world (control plane => 400, Python API => raised as a ValueError)."""


class ApiError(Exception):
    """A refusal of the tenant REST API, rendered as SuperOffice's error body (protocol §5)."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error_type}: {message}")
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}
