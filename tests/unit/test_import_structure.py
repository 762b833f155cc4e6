"""The toolkit's import structure: no circles, and an emulator that shares only serving.

Read from the source with :mod:`ast` (nothing is imported), so a circle is caught even where
import order happens to hide it today. A module's edges are its module-level imports (inside
``if``/``try`` too, but not under ``if TYPE_CHECKING:``): the module it names, and for
``from package import name`` also ``package.name`` when that is a module. The parent packages
Python runs on the way are not edges, or every package whose ``__init__`` re-exports its
modules would count as a circle.

The emulator is written from the protocol reference and shares nothing with the client but
:mod:`toolkit.serving`: every import in it (at any depth, typing-only ones included) must be
of ``toolkit.emulator`` itself, ``toolkit.serving`` or outside the toolkit. Likewise the error
tree (``toolkit.errors``) imports nothing of the toolkit but ``toolkit.vocabulary``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TOOLKIT = Path(__file__).resolve().parents[2] / "toolkit"
EMULATOR_MAY_IMPORT = ("toolkit.emulator", "toolkit.serving")


def module_files(package_dir: Path, root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name (counted from ``root``) -> (file, is a package) under ``package_dir``."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node.test):
            yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level_imports(block)


def imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> set[str]:
    """Every dotted name ``node`` imports, relative imports resolved against ``module``."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return {base} | {f"{base}.{alias.name}" for alias in node.names}


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports at module level (see the docstring)."""
    modules = module_files(package_dir, package_dir.parent)
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        edges: set[str] = set()
        for node in _module_level_imports(ast.parse(path.read_text()).body):
            edges |= imported_names(node, module, is_package)
        graph[module] = {name for name in edges if name in modules and name != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def describe(group: list[str], graph: dict[str, set[str]]) -> str:
    """One shortest loop through the group's first module, then every module in the group."""
    members = set(group)
    start = group[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while start not in came_from:
        step = []
        for module in frontier:
            for target in sorted(graph[module] & members):
                if target not in came_from:
                    came_from[target] = module
                    step.append(target)
        frontier = step
    loop = [start]
    while loop[-1] != start or len(loop) == 1:
        loop.append(came_from[loop[-1]])
    return " -> ".join(reversed(loop)) + f"\n  (all {len(group)} in the circle: {', '.join(group)})"


def foreign_imports(
    modules: dict[str, tuple[Path, bool]], root: Path, allowed: tuple[str, ...]
) -> list[str]:
    """``file:line imports X`` for every toolkit import (any depth) outside ``allowed``."""
    found = []
    for module, (path, is_package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = imported_names(node, module, is_package)
            foreign = {
                name
                for name in names
                if name.startswith("toolkit.")
                and not any(name == a or name.startswith(f"{a}.") for a in allowed)
            }
            # ``from toolkit.errors import X`` names the module once, not X as well.
            for name in sorted(n for n in foreign if n.rpartition(".")[0] not in foreign):
                found.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    return found


def test_toolkit_has_no_import_circles() -> None:
    graph = import_graph(TOOLKIT)
    found = cycles(graph)
    assert not found, "import circles (module -> module it imports):\n" + "\n\n".join(
        describe(group, graph) for group in found
    )


def test_emulator_imports_nothing_of_the_toolkit_but_serving() -> None:
    emulator = module_files(TOOLKIT / "emulator", TOOLKIT.parent)
    found = foreign_imports(emulator, TOOLKIT.parent, EMULATOR_MAY_IMPORT)
    assert not found, "the emulator reaches client code:\n" + "\n".join(found)


def test_error_tree_depends_on_vocabulary_only() -> None:
    # Typing-only imports count too: the error tree names nothing of the clients.
    errors = {"toolkit.errors": (TOOLKIT / "errors.py", False)}
    assert foreign_imports(errors, TOOLKIT.parent, ("toolkit.vocabulary",)) == []
    vocabulary = {"toolkit.vocabulary": (TOOLKIT / "vocabulary.py", False)}
    assert foreign_imports(vocabulary, TOOLKIT.parent, ()) == []


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_circle_is_found_and_named(tmp_path: Path) -> None:
    # The checks above pass on a clean tree; this proves they would see a circle.
    package = _package(
        tmp_path,
        {
            "__init__.py": "from pkg.a import A\n",
            "a.py": "import pkg.b\nA = 1\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.c\n"
            "try:\n    from .a import A\nexcept ImportError:\n    pass\n",
            "c.py": "import pkg.b\n",
            "d.py": "def late():\n    from pkg import d2\n",
            "d2.py": "from pkg.d import late\n",
        },
    )
    graph = import_graph(package)
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert describe(["pkg.a", "pkg.b"], graph).splitlines()[0] == "pkg.a -> pkg.b -> pkg.a"


def test_an_emulator_import_of_client_code_is_found(tmp_path: Path) -> None:
    emulator = _package(
        tmp_path / "toolkit",
        {
            "__init__.py": "",
            "server.py": "from toolkit.serving import listen\nfrom . import world\n",
            "world.py": "def f():\n    from ..errors import BadRequestError\n",
        },
    )
    modules = module_files(emulator, tmp_path)
    found = foreign_imports(modules, tmp_path, ("toolkit.pkg", "toolkit.serving"))
    assert found == ["toolkit/pkg/world.py:2 imports toolkit.errors"]
