"""AsyncWorkspace's lifecycle: what it opens it closes; what it is given stays the caller's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from toolkit.async_workspace import AsyncWorkspace
from toolkit.config import Settings
from toolkit.errors import InvalidContextIdentifierError, UnknownApplicationError
from toolkit.http import create_async_client
from toolkit.workspace import Workspace


def settings_in(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", _env_file=None)  # type: ignore[call-arg]


def test_open_builds_a_workspace_and_closes_it(tmp_path: Path) -> None:
    async def run() -> AsyncWorkspace:
        async with await AsyncWorkspace.open(settings_in(tmp_path)) as aws:
            assert aws.settings.home == tmp_path / "home"
            assert aws.repository is aws.workspace.repository
            assert aws.workspace.applications.list() == []
            assert not aws.http.is_closed
            return aws

    aws = asyncio.run(run())
    assert aws.http.is_closed
    assert aws.workspace._closed  # the workspace it opened is closed with it


def test_of_leaves_the_callers_workspace_and_client_open(tmp_path: Path) -> None:
    with Workspace.open(settings_in(tmp_path)) as ws:
        client = create_async_client()

        async def run() -> None:
            async with AsyncWorkspace.of(ws, http=client) as aws:
                assert aws.workspace is ws
            await aws.aclose()  # closing twice is harmless
            assert not client.is_closed
            await client.aclose()

        asyncio.run(run())
        assert not ws._closed
        ws.check_database()


def test_names_are_checked_before_anything_goes_out(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing may be sent: {request.url}")

    with Workspace.open(settings_in(tmp_path)) as ws:

        async def run() -> None:
            http = create_async_client(transport=httpx.MockTransport(refuse))
            async with AsyncWorkspace.of(ws, http=http) as aws:
                with pytest.raises(InvalidContextIdentifierError):
                    await aws.status("Acme Sync", "../x")
                with pytest.raises(UnknownApplicationError):
                    await aws.status("Acme Sync", "Cust12345")
                with pytest.raises(UnknownApplicationError):
                    await aws.ticket("Acme Sync", "Cust12345")
                with pytest.raises(UnknownApplicationError):
                    await aws.begin_install("Acme Sync")
            await http.aclose()

        asyncio.run(run())


class FakeAsyncApi:
    context_identifier = "Cust12345"

    async def lists(self) -> list[str]:
        await asyncio.sleep(0)
        return ["Category"]

    def headers(self) -> dict[str, str]:  # not a tenant call
        return {}


def test_the_plan_bridge_runs_tenant_calls_on_the_loop_from_a_worker_thread() -> None:
    from typing import Any, cast

    from toolkit.provisioning.aio import LoopBridge

    async def run() -> None:
        loop = asyncio.get_running_loop()
        bridge: Any = LoopBridge(cast(Any, FakeAsyncApi()), loop)
        assert bridge.context_identifier == "Cust12345"
        assert await asyncio.to_thread(bridge.lists) == ["Category"]
        with pytest.raises(RuntimeError):
            bridge.lists()  # on the loop's own thread it would wait for itself
        with pytest.raises(AttributeError):
            bridge.headers  # noqa: B018 - only coroutine methods are bridged

    asyncio.run(run())
