"""Provisioning in the store, on SQLite and PostgreSQL: manifests, runs and steps, ownership
records, the apply lock (one holder, expiry, take-over), and migration 0004."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import inspect
from store_support import Clock

from toolkit.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    StoreError,
    UnknownApplicationError,
)
from toolkit.store import Repository, head_version
from toolkit.store.records import ListDefinitionsWrite, OwnershipWrite, ProvisioningStepWrite

TTL = timedelta(minutes=2)
CTX = "Cust12345"


@pytest.fixture
def app_id(store: Repository) -> str:
    return store.add_application("demo", environment="sod", client_id="cid", client_secret="s").id


def test_migration_0004_is_the_head_and_adds_its_tables(store: Repository) -> None:
    assert head_version() >= "0004"
    names = set(inspect(store.engine).get_table_names())
    assert {
        "provisioning_runs",
        "provisioning_steps",
        "provisioned_objects",
        "provisioning_locks",
    } <= names
    columns = {c["name"] for c in inspect(store.engine).get_columns("applications")}
    assert "manifest" in columns


def test_an_application_keeps_its_manifest(store: Repository, app_id: str) -> None:
    assert store.get_application_manifest("demo") is None
    with pytest.raises(UnknownApplicationError):
        store.get_application_manifest("nope")
    store.set_application_manifest("demo", "[[lists]]\nname = 'x'\n", actor="ops")
    assert store.get_application_manifest(app_id) == "[[lists]]\nname = 'x'\n"
    assert store.get_application("demo").name == "demo"  # the record still loads
    store.set_application_manifest("demo", None, actor="ops")
    assert store.get_application_manifest("demo") is None
    assert [e.action for e in store.list_audit(application="demo")][:2] == [
        "application.manifest_removed",
        "application.manifest_set",
    ]


def test_runs_and_steps_are_recorded(store: Repository, app_id: str, clock: Clock) -> None:
    run = store.start_provisioning_run(
        "demo",
        CTX,
        operation="apply",
        actor="ops",
        plan={"steps": [1, 2]},
        fingerprint="f" * 64,
        steps_total=2,
    )
    assert run.outcome == "running"
    store.record_provisioning_step(
        run.id, 0, action="create", kind="list", key="L", outcome="done", remote_id=7
    )
    with pytest.raises(ConflictError):
        store.record_provisioning_step(
            run.id, 0, action="create", kind="list", key="L", outcome="done"
        )
    with pytest.raises(ConfigurationError):
        store.record_provisioning_step(run.id, 1, action="x", kind="list", key="L", outcome="nope")
    clock.advance(seconds=5)
    finished = store.finish_provisioning_run(run.id, "partial", error="ApiError: HTTP 500")
    assert (finished.outcome, finished.error) == ("partial", "ApiError: HTTP 500")
    assert finished.finished_at == clock.current
    assert [(s.position, s.outcome, s.remote_id) for s in finished.steps] == [(0, "done", 7)]
    assert finished.plan == {"steps": [1, 2]}
    assert [r.id for r in store.list_provisioning_runs("demo", CTX)] == [run.id]
    assert store.list_provisioning_runs(outcome="succeeded") == []
    with pytest.raises(NotFoundError):
        store.get_provisioning_run("missing")
    with pytest.raises(StoreError, match="secret"):
        store.start_provisioning_run(
            "demo",
            CTX,
            operation="apply",
            actor="ops",
            plan={"ticket": "7T:x"},
            fingerprint=None,
            steps_total=0,
        )


def test_steps_ride_with_the_runs_other_writes_all_or_none(store: Repository, app_id: str) -> None:
    """An apply records the steps that wrote nothing of their own with its next ownership
    write or its end, in that write's transaction: both are stored, or neither."""
    run = store.start_provisioning_run(
        "demo", CTX, operation="apply", actor="ops", plan={}, fingerprint=None, steps_total=4
    )
    first = [
        ProvisioningStepWrite(0, "create", "list_item", "l/a", "done", 11),
        ProvisioningStepWrite(1, "create", "web_panel", "p", "adopted", 12, {"visible_for": "x"}),
    ]
    store.put_provisioned_objects(
        "demo", CTX, [OwnershipWrite("list", "L", state="pending")], run_id=run.id, steps=first
    )
    with pytest.raises(ConfigurationError, match="run"):  # steps need their run
        store.put_provisioned_objects("demo", CTX, [OwnershipWrite("list", "M")], steps=first)
    again = [ProvisioningStepWrite(1, "create", "list", "M", "done", 13)]
    with pytest.raises(ConflictError):  # position 1 is taken: the ownership record is not
        store.put_provisioned_objects(
            "demo", CTX, [OwnershipWrite("list", "M")], run_id=run.id, steps=again
        )
    assert [o.name for o in store.list_provisioned_objects("demo", CTX)] == ["L"]
    store.delete_provisioned_object(
        "demo",
        CTX,
        kind="list",
        name="L",
        run_id=run.id,
        steps=[ProvisioningStepWrite(2, "delete", "list", "l", "done", 10)],
    )
    last = [ProvisioningStepWrite(3, "create", "task_menu", "b", "done", 14)]
    finished = store.finish_provisioning_run(run.id, "succeeded", steps=last)
    assert [(s.position, s.outcome, s.remote_id) for s in finished.steps] == [
        (0, "done", 11),
        (1, "adopted", 12),
        (2, "done", 10),
        (3, "done", 14),
    ]
    assert finished.steps[1].detail == {"visible_for": "x"}
    assert store.list_provisioned_objects("demo", CTX) == []


def test_ownership_records_are_keyed_case_insensitively(store: Repository, app_id: str) -> None:
    store.put_provisioned_object("demo", CTX, kind="list", name="Acme Status", state="pending")
    store.put_provisioned_object("demo", CTX, kind="list", name="acme status", remote_id=5)
    store.put_provisioned_object(
        "demo", CTX, kind="list_item", name="Synced", list_name="Acme Status", remote_id=6
    )
    store.put_provisioned_object("demo", "Cust99999", kind="list", name="Other tenant")
    records = store.list_provisioned_objects("demo", CTX)
    assert [(r.kind, r.name, r.state, r.remote_id) for r in records] == [
        ("list", "acme status", "owned", 5),
        ("list_item", "Synced", "owned", 6),
    ]
    with pytest.raises(ConfigurationError):
        store.put_provisioned_object("demo", CTX, kind="list_item", name="orphan")
    # Forgetting a list forgets its items' records too.
    assert store.delete_provisioned_object("demo", CTX, kind="list", name="ACME STATUS")
    assert store.list_provisioned_objects("demo", CTX) == []
    assert not store.delete_provisioned_object("demo", CTX, kind="list", name="ACME STATUS")


def test_several_ownership_records_are_written_at_once(
    store: Repository, app_id: str, clock: Clock
) -> None:
    items = ["Synced", "Failed", "Pending"]
    written = store.put_provisioned_objects(
        app_id,
        CTX,
        [OwnershipWrite("list_item", name, "Acme Status", "pending") for name in items],
        run_id="run-1",
    )
    assert [(r.name, r.state, r.run_id, r.updated_at) for r in written] == [
        (name, "pending", "run-1", clock.current) for name in items
    ]
    clock.advance(seconds=5)
    # The owned records after the answer replace the pending ones (case-insensitive keys),
    # and a record of another kind can go in the same batch.
    store.put_provisioned_objects(
        "demo",
        CTX,
        [
            *(
                OwnershipWrite("list_item", name.upper(), "ACME STATUS", "owned", 10 + i)
                for i, name in enumerate(items)
            ),
            OwnershipWrite("list", "Acme Status", None, "owned", 9),
        ],
        run_id="run-2",
    )
    records = store.list_provisioned_objects("demo", CTX)
    assert [(r.kind, r.name, r.list_name, r.state, r.remote_id, r.run_id) for r in records] == [
        ("list", "Acme Status", None, "owned", 9, "run-2"),
        ("list_item", "FAILED", "ACME STATUS", "owned", 11, "run-2"),
        ("list_item", "PENDING", "ACME STATUS", "owned", 12, "run-2"),
        ("list_item", "SYNCED", "ACME STATUS", "owned", 10, "run-2"),
    ]
    assert {r.updated_at for r in records} == {clock.current}
    assert store.put_provisioned_objects("demo", CTX, []) == []


def test_a_batch_of_ownership_records_is_written_whole_or_not_at_all(
    store: Repository, app_id: str
) -> None:
    with pytest.raises(ConfigurationError):
        store.put_provisioned_objects(
            "demo",
            CTX,
            [
                OwnershipWrite("list_item", "Synced", "Acme Status"),
                OwnershipWrite("list_item", "x"),
            ],
        )
    with pytest.raises(ConfigurationError):
        store.put_provisioned_objects(
            "demo", CTX, [OwnershipWrite("list", "Acme"), OwnershipWrite("list", "B", state="?")]
        )
    with pytest.raises(UnknownApplicationError):
        store.put_provisioned_objects("nobody", CTX, [OwnershipWrite("list", "Acme")])
    assert store.list_provisioned_objects("demo", CTX) == []


def test_the_apply_lock_has_one_holder_and_expires(
    store: Repository, app_id: str, clock: Clock
) -> None:
    first = store.acquire_provisioning_lock("demo", CTX, "one", ttl=TTL)
    assert first is not None
    assert first.owner == "one"
    assert store.acquire_provisioning_lock("demo", CTX, "two", ttl=TTL) is None
    assert store.acquire_provisioning_lock("demo", "Cust99999", "two", ttl=TTL) is not None
    clock.advance(minutes=1)
    renewed = store.acquire_provisioning_lock("demo", CTX, "one", ttl=TTL)
    assert renewed is not None
    assert renewed.locked_until == clock.current + TTL
    assert not store.release_provisioning_lock("demo", CTX, "two")
    clock.advance(minutes=3)  # the holder crashed: its lock expired
    assert store.get_provisioning_lock("demo", CTX) is None
    taken = store.acquire_provisioning_lock("demo", CTX, "two", ttl=TTL)
    assert taken is not None
    assert taken.owner == "two"
    assert not store.release_provisioning_lock("demo", CTX, "one")
    assert store.release_provisioning_lock("demo", CTX, "two")
    assert store.get_provisioning_lock("demo", CTX) is None


def test_concurrent_takers_get_the_lock_once(store: Repository, app_id: str) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def take(owner: str) -> None:
        barrier.wait()
        if store.acquire_provisioning_lock("demo", CTX, owner, ttl=TTL) is not None:
            winners.append(owner)

    threads = [threading.Thread(target=take, args=(f"o{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(winners) == 1


def test_removing_an_application_removes_its_provisioning_rows(
    store: Repository, app_id: str
) -> None:
    from sqlalchemy import delete, func, select

    from toolkit.store.schema import applications, provisioned_objects, provisioning_runs

    store.start_provisioning_run(
        "demo", CTX, operation="apply", actor="ops", plan={}, fingerprint=None, steps_total=0
    )
    store.put_provisioned_object("demo", CTX, kind="list", name="L")
    with store.engine.begin() as connection:
        connection.execute(delete(applications).where(applications.c.id == app_id))
        for table in (provisioning_runs, provisioned_objects):
            assert connection.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_an_application_record_is_taken_without_looking_it_up(
    store: Repository, app_id: str
) -> None:
    """An apply hands the store the application's record: its lock, run, ownership records and
    steps are written under the record's id, and the applications table is not read again."""
    from sqlalchemy import event

    app = store.get_application("demo")
    sent: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert store.acquire_provisioning_lock(app, CTX, "one", ttl=TTL) is not None
        run = store.start_provisioning_run(
            app, CTX, operation="apply", actor="ops", plan={}, fingerprint=None, steps_total=2
        )
        step = ProvisioningStepWrite(0, "create", "list", "l", "done", 7)
        store.put_provisioned_objects(
            app, CTX, [OwnershipWrite("list", "L", remote_id=7)], run_id=run.id, steps=[step]
        )
        owned = store.list_provisioned_objects(app, CTX)
        assert store.get_provisioning_lock(app, CTX) is not None
        assert store.release_provisioning_lock(app, CTX, "one")
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert (run.application, run.application_id) == ("demo", app_id)
    assert [(o.name, o.remote_id) for o in owned] == [("L", 7)]
    assert [s.position for s in store.get_provisioning_run(run.id).steps] == [0]
    assert sent, "the statements were seen"
    assert not [s for s in sent if "FROM applications" in s]


def test_a_record_of_an_application_removed_since_is_refused_as_unknown(
    store: Repository, app_id: str
) -> None:
    """The record's id is taken on trust: once the application is gone, its writes fail as
    UnknownApplicationError (as a lookup would), not as a database error, and write nothing."""
    from sqlalchemy import delete

    from toolkit.store.schema import applications

    app = store.get_application("demo")
    run = store.start_provisioning_run(
        app, CTX, operation="apply", actor="ops", plan={}, fingerprint=None, steps_total=1
    )
    with store.engine.begin() as connection:
        connection.execute(delete(applications).where(applications.c.id == app_id))
    with pytest.raises(UnknownApplicationError):
        store.acquire_provisioning_lock(app, CTX, "one", ttl=TTL)
    with pytest.raises(UnknownApplicationError):
        store.start_provisioning_run(
            app, CTX, operation="apply", actor="ops", plan={}, fingerprint=None, steps_total=0
        )
    with pytest.raises(UnknownApplicationError):  # the run went with it: its steps are refused
        store.put_provisioned_objects(
            app,
            CTX,
            [OwnershipWrite("list", "L")],
            run_id=run.id,
            steps=[ProvisioningStepWrite(0, "create", "list", "l", "done", 7)],
        )
    with pytest.raises(UnknownApplicationError):
        store.put_provisioned_objects(app, CTX, [OwnershipWrite("list", "L")])
    assert store.list_provisioned_objects(app, CTX) == []
    assert store.get_provisioning_lock(app, CTX) is None
    assert not store.release_provisioning_lock(app, CTX, "one")
    with pytest.raises(UnknownApplicationError):  # by name, the lookup says so itself
        store.list_provisioned_objects("demo", CTX)


def test_the_list_definitions_copy_is_per_tenant_replaced_whole_and_goes_with_its_app(
    store: Repository, app_id: str, clock: Clock
) -> None:
    """The store's copy of a tenant's list definitions (migration 0008): one per application x
    tenant, replaced whole, dropped on request and with its application."""
    from sqlalchemy import delete

    from toolkit.store.schema import applications

    read_at = clock.current

    def copy(*lists: dict[str, object]) -> ListDefinitionsWrite:
        return ListDefinitionsWrite(lists=lists, read_at=read_at)

    assert store.remembered_lists("demo", CTX) is None
    store.remember_lists("demo", CTX, copy({"Id": 1, "Name": "Category"}))
    store.remember_lists(app_id, CTX, copy({"Id": 2, "Name": "Acme"}))
    kept = store.remembered_lists("demo", CTX)
    assert kept is not None
    assert (kept.application_id, kept.context_identifier) == (app_id, CTX)
    assert (kept.lists, kept.read_at) == (({"Id": 2, "Name": "Acme"},), read_at)
    assert store.remembered_lists("demo", "Cust99999") is None
    store.forget_lists("demo", CTX)
    assert store.remembered_lists("demo", CTX) is None
    with pytest.raises(UnknownApplicationError):
        store.remember_lists("nobody", CTX, copy())
    record = store.get_application("demo")
    store.remember_lists(record, CTX, copy())
    with store.engine.begin() as connection:
        connection.execute(delete(applications).where(applications.c.id == app_id))
    with pytest.raises(UnknownApplicationError):
        store.remember_lists(record, CTX, copy())  # its record, read before
    with store.engine.begin() as connection:
        (count,) = connection.exec_driver_sql("SELECT count(*) FROM list_definitions").one()
    assert count == 0


def test_a_run_keeps_the_list_definitions_in_its_last_transaction(
    store: Repository, app_id: str, clock: Clock
) -> None:
    run = store.start_provisioning_run(
        "demo", CTX, operation="apply", actor="ops", plan={}, fingerprint=None, steps_total=0
    )
    lists = ListDefinitionsWrite(lists=({"Id": 3, "Name": "Acme"},), read_at=clock.current)
    store.finish_provisioning_run(run.id, "succeeded", lists=lists)
    kept = store.remembered_lists("demo", CTX)
    assert kept is not None
    assert (kept.lists, kept.read_at) == (lists.lists, lists.read_at)
    with pytest.raises(NotFoundError):  # no run, nothing kept
        store.finish_provisioning_run("no-such-run", "succeeded", lists=lists)
