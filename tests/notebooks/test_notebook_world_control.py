"""What notebooks 04, 06 and 07 use to change the emulator's world without disturbing the rest of
it (toolkit.notebook_world): tenants of their own, fault rules added beside those in force and
taken away again, webhooks of one tenant, and the line saying what a notebook left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from toolkit.notebook_world import NotebookWorld, open_world

pytestmark = pytest.mark.server

SOMEONE_ELSES = {"kind": "latency", "host": "sod3", "latency_ms": 5}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotebookWorld]:
    for name in [name for name in os.environ if name.startswith("SOTK_")]:
        monkeypatch.delenv(name)
    with open_world(private=True) as opened:
        yield opened


def test_new_contexts_are_free_and_share_all_but_two_digits(world: NotebookWorld) -> None:
    fleet = world.new_contexts(20)
    assert fleet[0] == "Cust80000"
    assert fleet[-1] == "Cust80019"
    assert len(set(fleet)) == 20
    control = world.control
    control.add_tenant(fleet[0], company_name="First", serial="80000")
    # The block is taken now: the next call gets another one.
    assert world.new_contexts(2) == ["Cust80100", "Cust80101"]
    with pytest.raises(ValueError, match="count"):
        world.new_contexts(0)


def test_tenants_users_state_changes_and_webhooks_of_one_tenant(world: NotebookWorld) -> None:
    control = world.control
    (ctx,) = world.new_contexts(1)
    control.add_tenant(ctx, company_name="Acme test customer", serial=ctx[4:], host="sod2")
    assert ctx in control.tenants()
    admin = {"ctx": ctx, "is_administrator": True, "associate_id": 5, "initials": "AD"}
    added = control.add_user(f"admin@{ctx.lower()}.test", [admin])
    assert "password" not in added
    assert control.tenant_url(ctx) == f"{control.hosts()['sod2']}/{ctx}"

    control.move_tenant(ctx, "sod3", notify=False)
    assert control.tenant_url(ctx) == f"{control.hosts()['sod3']}/{ctx}"
    control.set_tenant_state(ctx, "OfflineMaintenance")
    assert control.tenant(ctx)["state_api"]["State"] == "OfflineMaintenance"
    control.set_tenant_state(ctx, "Running")
    control.change_tenant(ctx, "Suspend", notify=False)
    assert control.tenant(ctx)["state"] == "Suspended"
    assert control.webhooks(ctx, wait=0) == []  # no application installed: nobody to notify
    with pytest.raises(ValueError, match="change must be one of"):
        control.change_tenant(ctx, "Move")


def test_faults_are_added_beside_others_and_only_they_removed(world: NotebookWorld) -> None:
    control = world.control
    control.add_faults([SOMEONE_ELSES])
    ours = [
        {"kind": "latency", "path_prefix": "/Cust800", "latency_ms": 1},
        {"kind": "status", "status": 503, "method": "GET", "path_prefix": "/Cust800", "count": 2},
    ]
    control.add_faults(ours, seed=6)
    in_force = control.faults()
    assert len(in_force) == 3
    assert in_force[0]["host"] == "sod3"  # someone else's first, as it was
    assert [rule["kind"] for rule in control.faults(ours)] == ["latency", "status"]

    control.remove_faults(ours)
    (left,) = control.faults()
    assert (left["kind"], left["host"], left["latency_ms"]) == ("latency", "sod3", 5)
    control.remove_faults([SOMEONE_ELSES])
    described = httpx.get(f"{world.emulator_url}/__emulator__/faults").json()
    assert described == {"seed": None, "rules": []}


def test_left_behind_says_nothing_is_left_in_a_private_world(
    world: NotebookWorld, tmp_path: Path
) -> None:
    assert world.left_behind("an application") == (
        "Nothing is left behind: the private emulator and store are removed."
    )
    connected = NotebookWorld(
        emulator_url=world.emulator_url,
        public_url=world.public_url,
        home=tmp_path,
        workspace=world.workspace,
    )
    line = connected.left_behind("the application 'Acme Sync 1a2b3c' in Cust1234500")
    assert line.startswith("Added to the make run world, and left there for the dashboard:")
    assert "'Acme Sync 1a2b3c' in Cust1234500" in line
    assert f"delete {tmp_path}" in line
