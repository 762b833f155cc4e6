"""The partner's hooks into the bundled endpoints, and the typed records they receive.

A partner who mounts the endpoints (:mod:`toolkit.web.integration`) learns what happened
through four hooks, each a plain or an ``async`` callable taking one record:

* ``on_installed(Installed)``: an administrator approved the application and the
  authorization record is stored (the callback, before its page is shown);
* ``on_state_change(StateChanged)``: a state-change notification was validated, confirmed
  with the state API and recorded (before the sender gets its 200);
* ``on_uninstalled(Uninstalled)``: the administrator's removal on the uninstall page ended;
* ``on_error(EndpointError)``: an endpoint refused a request or failed, with the status it
  answered and the toolkit error.

A hook watches; it never changes the answer. One that raises is logged (and reported to
``on_error``); the install, the notification or the removal stands. A plain callable runs in
a worker thread, so it may use the sync API (``workspace.tenants...``) without blocking the
event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from toolkit.installation import InstallResult
    from toolkit.installation_pages import Progress
    from toolkit.store import Application
    from toolkit.tenant_events import NotificationMessage

__all__ = ["EndpointError", "Hook", "Hooks", "Installed", "StateChanged", "Uninstalled"]

logger = logging.getLogger("toolkit.web")

R = TypeVar("R")
# A hook: sync (run in a worker thread) or async (awaited on the event loop).
Hook = Callable[[R], None] | Callable[[R], Awaitable[None]]


@dataclass(frozen=True)
class Installed:
    """An install completed: the stored authorization (``result.authorization``), the
    validated claims and whether it was new or a re-approval (``outcome``)."""

    application: str
    context_identifier: str
    outcome: str
    result: InstallResult


@dataclass(frozen=True)
class StateChanged:
    """A state-change notification processed: ``change_type`` is the protocol's name
    (``Suspend``, ``Delete``, ...), ``outcome`` whether it changed the tenant's record
    (``applied``) or not (``duplicate``, ``stale``, ``unconfirmed``); ``message`` is the
    validated notification (never its token)."""

    application: str
    context_identifier: str
    change_type: str
    outcome: str
    message: NotificationMessage


@dataclass(frozen=True)
class Uninstalled:
    """The uninstall page's removal ended; ``state`` is ``succeeded``, ``partial``, ``failed``,
    ``needs_sign_in``, ``busy`` or ``not_running`` (``progress`` holds the detail). The
    application's access is the App Store's to revoke, not this page's (protocol §3)."""

    application: str
    context_identifier: str
    state: str
    progress: Progress


@dataclass(frozen=True)
class EndpointError:
    """An endpoint answered ``status`` for ``error`` (a toolkit error, or a hook's exception);
    ``endpoint`` names it (``install``, ``callback``, ``state_change``, ``hook``)."""

    endpoint: str
    path: str
    status: int
    error: BaseException
    request_id: str | None


async def _call(hook: Callable[[Any], Any], record: object) -> None:
    if inspect.iscoroutinefunction(hook):
        await hook(record)
        return
    result = await run_in_threadpool(hook, record)
    if inspect.isawaitable(result):  # a callable object whose __call__ is async
        await result


@dataclass
class Hooks:
    """The four hooks (each optional); the endpoints call them through the methods below,
    which never raise."""

    on_installed: Hook[Installed] | None = None
    on_state_change: Hook[StateChanged] | None = None
    on_uninstalled: Hook[Uninstalled] | None = None
    on_error: Hook[EndpointError] | None = None
    # The event loop the endpoints run on (set when they are bound in the app's lifespan), so a
    # run that ends in a worker thread can hand its record to the loop.
    loop: asyncio.AbstractEventLoop | None = None

    async def _run(self, name: str, hook: Callable[[Any], Any] | None, record: object) -> None:
        if hook is None:
            return
        try:
            await _call(hook, record)
        except Exception as exc:
            logger.exception("the %s hook failed", name)
            if name != "on_error" and self.on_error is not None:
                path = getattr(record, "path", "")
                await self.error(EndpointError("hook", str(path), 500, exc, None))

    async def installed(self, record: Installed) -> None:
        await self._run("on_installed", self.on_installed, record)

    async def state_changed(self, record: StateChanged) -> None:
        await self._run("on_state_change", self.on_state_change, record)

    async def uninstalled(self, record: Uninstalled) -> None:
        await self._run("on_uninstalled", self.on_uninstalled, record)

    async def error(self, record: EndpointError) -> None:
        await self._run("on_error", self.on_error, record)

    def run_finished(
        self, application: Application, context_identifier: str, progress: Progress
    ) -> None:
        """An installation-page run ended (called in its worker thread): an uninstall's record
        goes to ``on_uninstalled`` on the endpoints' event loop."""
        loop = self.loop
        if progress.operation != "uninstall" or self.on_uninstalled is None or loop is None:
            return
        record = Uninstalled(application.name, context_identifier, progress.state, progress)
        if loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.uninstalled(record), loop)
