"""What the sidebar says about the environment, the partner endpoints and the store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from data.core import (
    CALLBACK_PATH,
    DashboardError,
    _guarded,
    _settings,
)

# -- sidebar -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SidebarInfo:
    environment: str
    emulator_url: str | None
    public_url: str
    home: str
    database: str


@_guarded
def sidebar_info() -> SidebarInfo:
    """Where the toolkit points: environment or emulator, the partner endpoints, the store."""
    settings = _settings()
    if settings.database_url:
        # A database URL may carry a password: show it masked.
        database = make_url(settings.database_url).render_as_string(hide_password=True)
    else:
        database = f"SQLite at {settings.home / 'toolkit.db'}"
    return SidebarInfo(
        environment="emulator" if settings.emulator_url else settings.environment,
        emulator_url=settings.emulator_url,
        public_url=settings.public_url,
        home=str(settings.home),
        database=database,
    )


def emulator_enabled() -> bool:
    """True when ``SOTK_EMULATOR_URL`` is set (the emulator registration form is offered)."""
    try:
        return bool(_settings().emulator_url)
    except DashboardError:
        return False


@_guarded
def callback_url() -> str:
    """The default redirect URL for a new application: the partner's ``/callback``."""
    settings = _settings()
    # The partner endpoints are at SOTK_PUBLIC_URL + SOTK_PARTNER_PREFIX.
    return settings.public_url + settings.partner_prefix + CALLBACK_PATH
