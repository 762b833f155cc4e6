"""The async API end to end against the emulator (issue 16 item 1).

AsyncWorkspace begins and completes an install (the emulator's headless SuperID driver plays the
administrator), gets a system user ticket, reads the tenant's lists over REST, asks the state
API and receives a state-change notification. Tickets: sync and async callers asking together
for a cold tenant make exactly one exchange (the emulator's credentials records count them).
A Starlette app's other routes answer while a tenant call waits on injected latency.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from toolkit.async_workspace import AsyncWorkspace
from toolkit.auth.system_user import SystemUserTicket
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import (
    AuthorizationDeniedError,
    InvalidContextIdentifierError,
    NotInstalledError,
    StateMismatchError,
)
from toolkit.http import create_async_client
from toolkit.provisioning.manifest import preset_text
from toolkit.provisioning.plan import Plan
from toolkit.store import PutOutcome, StateChangeOutcome
from toolkit.tenant import TenantState
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"
# Where the administrator's browser would post the callback; the test posts it itself.
REDIRECT_URI = "http://127.0.0.1:8000/callback"
# A state-change URL nobody listens on: the emulator's delivery fails and is kept, with its
# message, in the emulator's delivery log, from which the test hands it to the async API.
UNREACHABLE_PUBLIC_URL = "http://127.0.0.1:9"
LISTS_PATH = f"/{TENANT}/api/v1/List"


@pytest.fixture
def registered(emu: Emulator, workspace: Workspace) -> str:
    app = workspace.applications.register_with_emulator(
        name=APP,
        emulator_url=emu.base_url,
        redirect_uri=REDIRECT_URI,
        vendor="Acme AS",
        public_url=UNREACHABLE_PUBLIC_URL,
        actor="test",
    )
    return app.client_id


def credentials_total(emu: Emulator) -> int:
    response = httpx.get(f"{emu.base_url}/__emulator__/credentials", timeout=10)
    assert response.status_code == 200
    return int(response.json()["total"])


async def install_async(aws: AsyncWorkspace) -> Any:
    url = await aws.begin_install(APP, tenant=TENANT)
    result = await asyncio.to_thread(sign_in, url, username=ADMIN)
    assert result.response_mode == "form_post"
    assert result.form_action == REDIRECT_URI
    return await aws.complete_install(result.params)


@pytest.fixture
def installed(registered: str, workspace: Workspace) -> str:
    async def run() -> None:
        async with AsyncWorkspace.of(workspace) as aws:
            await install_async(aws)

    asyncio.run(run())
    return registered


def test_install_ticket_lists_and_state_through_the_async_api(
    registered: str, emu: Emulator, workspace: Workspace
) -> None:
    async def run() -> None:
        async with AsyncWorkspace.of(workspace) as aws:
            install = await install_async(aws)
            assert install.outcome is PutOutcome.CREATED
            assert install.authorization.context_identifier == TENANT
            assert install.authorization.approved_by == ADMIN
            assert install.authorization.status == "active"

            assert credentials_total(emu) == 0
            ticket = await aws.ticket(APP, TENANT)
            assert ticket.ticket.startswith("7T:")
            assert ticket.context_identifier == TENANT
            assert credentials_total(emu) == 1
            # Held now: by name or id, in any case of the tenant, no second exchange.
            again = await aws.ticket(install.application.id, TENANT.lower())
            assert again.ticket == ticket.ticket
            assert credentials_total(emu) == 1

            api = await aws.system_user_api(APP, TENANT)
            lists = await api.lists()
            assert any(entry.list_type == "category" for entry in lists)
            principal = await api.current_principal()
            assert principal  # the system user answers as someone
            assert credentials_total(emu) == 1

            status = await aws.status(APP, TENANT)
            assert status.state is TenantState.Running
            assert status.api_url is not None
            assert status.api_url.startswith(emu.tenant_url(TENANT))
            # The async answer is the sync API's cache too: the sync side asks nothing.
            client = workspace.tenants.status_client(install_environment(workspace))
            fetched = client.fetch_count
            assert workspace.tenants.status(APP, TENANT).state is TenantState.Running
            assert client.fetch_count == fetched

    asyncio.run(run())


def test_a_refused_or_replayed_install_stores_nothing_but_the_refusal(
    registered: str, emu: Emulator, workspace: Workspace
) -> None:
    async def run() -> None:
        async with AsyncWorkspace.of(workspace) as aws:
            url = await aws.begin_install(APP, tenant=TENANT)
            denied = await asyncio.to_thread(sign_in, url, username=ADMIN, approve=False)
            with pytest.raises(AuthorizationDeniedError):
                await aws.complete_install(denied.params)

            url = await aws.begin_install(APP, tenant=TENANT)
            approved = await asyncio.to_thread(sign_in, url, username=ADMIN)
            await aws.complete_install(approved.params)
            with pytest.raises(StateMismatchError):  # the state is single use
                await aws.complete_install(approved.params)

    asyncio.run(run())
    actions = [e.action for e in workspace.repository.list_audit(application=APP)]
    assert actions.count("install.refused") == 1
    assert actions.count("authorization.created") == 1


def install_environment(workspace: Workspace) -> Any:
    from toolkit.auth.tickets import environment_of

    return environment_of(workspace.applications.get(APP))


def test_a_malformed_or_foreign_tenant_fails_locally(
    installed: str, emu: Emulator, workspace: Workspace
) -> None:
    async def run() -> None:
        async with AsyncWorkspace.of(workspace) as aws:
            with pytest.raises(InvalidContextIdentifierError):
                await aws.system_user_api(APP, "../x")
            with pytest.raises(NotInstalledError):
                await aws.ticket(APP, "Cust99999")
            with pytest.raises(InvalidContextIdentifierError):
                await aws.status(APP, "not-a-ctx")

    asyncio.run(run())
    assert credentials_total(emu) == 0


def test_a_state_change_notification_is_validated_and_confirmed(
    installed: str, emu: Emulator, workspace: Workspace
) -> None:
    emu.change_tenant(TENANT, "Suspend")
    deliveries = emu.wait_for_webhooks(timeout=10)
    assert [d["status"] for d in deliveries] == ["failed"]  # nobody listens: we deliver it
    message = deliveries[0]["message"]
    assert message["ChangeType"] == 2  # Suspend (protocol §6)

    async def run() -> None:
        async with AsyncWorkspace.of(workspace) as aws:
            result = await aws.receive_state_change(message, application=installed)
            assert result.outcome is StateChangeOutcome.APPLIED
            assert result.status is not None
            assert result.status.state is TenantState.Suspended
            # A redelivery is recognised without asking the state API.
            again = await aws.receive_state_change(message, application=installed)
            assert again.outcome is StateChangeOutcome.DUPLICATE

    asyncio.run(run())
    assert workspace.repository.get_authorization(APP, TENANT).status == "suspended"


def test_a_notification_the_state_api_cannot_confirm_is_kept_unconfirmed(
    installed: str, emu: Emulator, workspace: Workspace
) -> None:
    emu.change_tenant(TENANT, "Suspend")
    message = emu.wait_for_webhooks(timeout=10)[-1]["message"]
    emu.set_faults([{"kind": "status", "status": 503, "path_prefix": "/api/state/"}])

    async def run() -> None:
        async with AsyncWorkspace.of(workspace) as aws:
            result = await aws.receive_state_change(message, application=installed)
            assert result.outcome is StateChangeOutcome.UNCONFIRMED
            assert result.change.reason == "state_api_unavailable"

    asyncio.run(run())
    # A signal, not a fact: nothing changes until the state API confirms it.
    assert workspace.repository.get_authorization(APP, TENANT).status == "active"


def test_sync_and_async_callers_share_one_exchange(
    installed: str, emu: Emulator, workspace: Workspace
) -> None:
    # The exchange is slowed so that every caller arrives while it is in flight; the assertion
    # (one credentials record) does not depend on how the callers interleave.
    emu.set_faults(
        [{"kind": "latency", "path_prefix": "/Login/api/PartnerSystemUser", "latency_ms": 1500}]
    )
    tickets = workspace.tenants.tickets
    assert credentials_total(emu) == 0
    sync_results: list[SystemUserTicket] = []
    errors: list[BaseException] = []
    started = threading.Barrier(4)

    def sync_caller() -> None:
        started.wait()
        try:
            sync_results.append(tickets.ticket(APP, TENANT))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync_caller) for _ in range(3)]
    for thread in threads:
        thread.start()

    async def run() -> list[SystemUserTicket]:
        async with AsyncWorkspace.of(workspace) as aws:
            await asyncio.to_thread(started.wait)
            return list(await asyncio.gather(*(aws.ticket(APP, TENANT) for _ in range(5))))

    async_results = asyncio.run(run())
    for thread in threads:
        thread.join()
    assert errors == []
    values = {t.ticket for t in sync_results + async_results}
    assert len(sync_results) == 3
    assert len(async_results) == 5
    assert len(values) == 1
    assert credentials_total(emu) == 1
    assert tickets.exchange_count == 1


def test_an_async_caller_and_another_process_share_the_store_lease(
    installed: str, emu: Emulator, workspace: Workspace, tmp_path: Path
) -> None:
    """Another ticket manager on the same store (as another process has) and the async API."""
    from toolkit.auth.tickets import TicketManager, system_user_exchange

    emu.set_faults(
        [{"kind": "latency", "path_prefix": "/Login/api/PartnerSystemUser", "latency_ms": 1500}]
    )
    tenants = workspace.tenants
    other = TicketManager(
        workspace.repository,
        exchange=system_user_exchange(http=workspace.http, keys=tenants._keys),
    )
    results: list[SystemUserTicket] = []
    started = threading.Barrier(2)

    def other_process() -> None:
        started.wait()
        results.append(other.ticket(APP, TENANT))

    thread = threading.Thread(target=other_process)
    thread.start()

    async def run() -> SystemUserTicket:
        async with AsyncWorkspace.of(workspace) as aws:
            await asyncio.to_thread(started.wait)
            return await aws.ticket(APP, TENANT)

    mine = asyncio.run(run())
    thread.join()
    assert [r.ticket for r in results] == [mine.ticket]
    assert credentials_total(emu) == 1
    assert other.exchange_count + tenants.tickets.exchange_count == 1


def test_a_plan_through_the_async_api_is_the_sync_plan(
    installed: str, emu: Emulator, workspace: Workspace
) -> None:
    provisioning = workspace.provisioning
    provisioning.set_manifest(APP, preset_text("internal"), actor="test")

    async def plan() -> Plan:
        async with AsyncWorkspace.of(workspace) as aws:
            return await aws.plan(APP, TENANT.lower())

    before = asyncio.run(plan())
    assert before.context_identifier == TENANT
    assert not before.is_empty  # nothing provisioned yet
    assert before.fingerprint == provisioning.plan(APP, TENANT).fingerprint
    provisioning.apply(APP, TENANT, actor="test")
    after = asyncio.run(plan())
    assert after.is_empty  # the re-plan of a provisioned tenant has nothing to do
    assert after.fingerprint == provisioning.plan(APP, TENANT).fingerprint
    assert credentials_total(emu) == 1


def readme_app(aws: AsyncWorkspace) -> Starlette:
    """The handlers of README.md's "Use the toolkit in your own app", on a shared workspace."""

    async def install(request: Request) -> Response:
        url = await aws.begin_install(APP, tenant=request.query_params.get("tenant"))
        return RedirectResponse(url, 303)

    async def callback(request: Request) -> Response:
        result = await aws.complete_install(await request.form())
        return PlainTextResponse(f"installed in {result.authorization.context_identifier}")

    async def state_change(request: Request) -> Response:
        await aws.receive_state_change(
            await request.body(), application=request.path_params["client_id"]
        )
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/install", install),
            Route("/callback", callback, methods=["POST"]),
            Route("/state-change/{client_id}", state_change, methods=["POST"]),
        ]
    )


def test_the_readme_handlers_install_and_take_a_notification(
    registered: str, emu: Emulator, workspace: Workspace
) -> None:
    async def run() -> None:
        async with AsyncWorkspace.of(workspace) as aws:
            transport = httpx.ASGITransport(app=readme_app(aws))
            async with httpx.AsyncClient(transport=transport, base_url="http://partner") as app:
                start = await app.get("/install", params={"tenant": TENANT})
                assert start.status_code == 303
                answer = await asyncio.to_thread(sign_in, start.headers["location"], username=ADMIN)
                done = await app.post("/callback", data=answer.params)
                assert done.status_code == 200
                assert done.text == f"installed in {TENANT}"

                await asyncio.to_thread(emu.change_tenant, TENANT, "Suspend")
                deliveries = await asyncio.to_thread(emu.wait_for_webhooks, 10)
                body = json.dumps(deliveries[-1]["message"])
                notified = await app.post(f"/state-change/{registered}", content=body)
                assert notified.status_code == 200

    asyncio.run(run())
    assert workspace.repository.get_authorization(APP, TENANT).status == "suspended"


class OnTheWire(httpx.AsyncBaseTransport):
    """Forwards to the network; sets ``sent`` when a request for ``path`` leaves."""

    def __init__(self, path: str) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.path = path
        self.sent = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            self.sent.set()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def partner_app(aws: AsyncWorkspace) -> Starlette:
    """A partner's own Starlette app: one route calls the tenant, one answers at once."""

    async def lists(request: Request) -> JSONResponse:
        api = await aws.system_user_api(APP, TENANT)
        return JSONResponse([entry.name for entry in await api.lists()])

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/lists", lists), Route("/health", health)])


def test_other_routes_answer_while_a_tenant_call_waits(
    installed: str, emu: Emulator, workspace: Workspace
) -> None:
    async def run() -> None:
        wire = OnTheWire(LISTS_PATH)
        async with (
            create_async_client(transport=wire) as http,
            AsyncWorkspace.of(workspace, http=http) as aws,
        ):
            await aws.ticket(APP, TENANT)  # the ticket and the state are warm: only REST waits
            await aws.status(APP, TENANT)
            # The tenant's list endpoint answers after a minute; nothing here waits that long.
            emu.set_faults(
                [
                    {
                        "kind": "latency",
                        "path_prefix": LISTS_PATH,
                        "latency_ms": 60_000,
                        "count": 1,
                    }
                ]
            )
            app = httpx.ASGITransport(app=partner_app(aws))
            async with httpx.AsyncClient(transport=app, base_url="http://partner") as browser:
                slow = asyncio.create_task(browser.get("/lists"))
                await wire.sent.wait()  # the tenant call is on the wire, awaiting its answer
                fast = await browser.get("/health")
                assert fast.status_code == 200
                assert fast.text == "ok"
                assert not slow.done()  # the tenant call still waits: the loop was free
                slow.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await slow

    asyncio.run(run())
