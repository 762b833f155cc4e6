"""Where the partner endpoints live under the partner's public URL: a mount prefix and one path
per endpoint.

:class:`PartnerPaths` is the one place the toolkit learns them. The bundled endpoints
(``toolkit.web``) route by them, and every URL the toolkit hands out follows them: the install
link, the redirect URI (``/callback``), each application's state-change URL, the panel URL and
the installation and uninstall pages, also the local paths a sign-in returns to and the panel
cookie's path. The defaults are the root paths ``create_app`` has always served; a partner who
mounts the endpoints inside their own app (``toolkit.web.integration``) gives the prefix once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final

from toolkit.errors import ConfigurationError

__all__ = ["DEFAULT_PARTNER_PATHS", "PartnerPaths"]

# A path segment the partner may choose: letters, digits and -._~ (no spaces, queries, dots-only
# segments or template braces), so a path is the same in a route, a URL and a cookie.
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*")
_MAX_PATH: Final = 200


def _check(name: str, value: str, *, empty_ok: bool) -> str:
    if value == "" and empty_ok:
        return value
    if len(value) > _MAX_PATH or not value.startswith("/") or value.endswith("/"):
        raise ConfigurationError(
            f"{name} must start with one / and not end with one (got {value[:_MAX_PATH]!r})"
        )
    if not all(_SEGMENT.fullmatch(part) for part in value[1:].split("/")):
        raise ConfigurationError(
            f"{name} may hold only letters, digits and -._~ between slashes (got {value!r})"
        )
    return value


@dataclass(frozen=True)
class PartnerPaths:
    """The mount ``prefix`` (``""`` at the root, else like ``/superoffice``) and each endpoint's
    path below it. A path that is not a plain ``/segment[/segment...]`` raises
    :class:`~toolkit.errors.ConfigurationError`; two endpoints may not share a path."""

    prefix: str = ""
    install: str = "/install"
    callback: str = "/callback"
    state_change: str = "/state-change"
    panel: str = "/panel"
    installation: str = "/installation"
    uninstall: str = "/uninstall"
    health: str = "/healthz"

    def __post_init__(self) -> None:
        _check("prefix", self.prefix, empty_ok=True)
        seen: dict[str, str] = {}
        for field in fields(self):
            if field.name == "prefix":
                continue
            value = _check(field.name, getattr(self, field.name), empty_ok=False)
            if value in seen:
                raise ConfigurationError(f"{field.name} and {seen[value]} share the path {value}")
            seen[value] = field.name

    def full(self, path: str) -> str:
        """``path`` (one of this object's, or below one) as the browser sees it: with the
        prefix."""
        return f"{self.prefix}{path}"

    @property
    def panel_logout(self) -> str:
        """The panel's sign-out page, below the panel's path."""
        return f"{self.panel}/logout"

    @property
    def installation_status(self) -> str:
        """The installation page's progress (JSON), below its path."""
        return f"{self.installation}/status"


DEFAULT_PARTNER_PATHS: Final = PartnerPaths()
