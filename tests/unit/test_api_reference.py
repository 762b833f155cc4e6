"""docs/api_reference.py (``make docs``): the check that fails the API reference on a docstring
naming a ``toolkit.`` object that does not exist. The full build runs in ``make test``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "api_reference.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_reference", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOURCE = '''
"""A module: :class:`~toolkit.Workspace`, ``toolkit.web.create_app``."""

class A:
    """See :meth:`open it <toolkit.Workspace.open>` and :func:`toolkit.nowhere.thing`."""

    def f(self):
        """:attr:`~toolkit.Workspace.
        paths` and ``toolkit.Workspace.no_such_method``; :class:`Local` is not ours."""

X = 1
"""An attribute docstring naming :data:`toolkit.partner_paths.DEFAULT_PARTNER_PATHS`."""
'''


def test_every_toolkit_reference_in_a_docstring_is_found() -> None:
    found = [name for _, name in load().references(SOURCE)]
    assert sorted(found) == sorted(
        [
            "toolkit.Workspace",
            "toolkit.web.create_app",
            "toolkit.Workspace.open",
            "toolkit.nowhere.thing",
            "toolkit.Workspace.paths",
            "toolkit.Workspace.no_such_method",
            "toolkit.partner_paths.DEFAULT_PARTNER_PATHS",
        ]
    )


def test_only_names_that_exist_resolve() -> None:
    check = load()
    assert check.resolves("toolkit.Workspace.open")
    assert check.resolves("toolkit.web.integration.SuperOfficeEndpoints.bound")
    assert check.resolves("toolkit.Workspace.paths")  # annotated on the class, set per instance
    assert check.resolves("toolkit.errors")
    assert not check.resolves("toolkit.Workspace.no_such_method")
    assert not check.resolves("toolkit.nowhere.thing")
    assert not check.resolves("toolkit.web.create_application")


def test_the_toolkit_modules_are_listed_without_the_migration_scripts() -> None:
    names = load().modules()
    assert "toolkit.web.integration" in names
    assert "toolkit.store" in names
    assert not [name for name in names if name.startswith("toolkit.store.migrations")]
