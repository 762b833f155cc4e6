"""Build the API reference from the docstrings (pdoc) and fail on what would make it wrong.

``python docs/api_reference.py [OUTPUT]`` (``make docs``; default ``build/api``, git-ignored)
renders every module of ``toolkit`` (the Alembic migration scripts aside: they run inside
Alembic only) and exits 1, listing each problem, when

* a module cannot be imported (pdoc raises),
* pdoc warns (an annotation it cannot resolve, ...), except the two warnings listed in
  ``_BENIGN`` below, or
* a docstring refers to a ``toolkit.`` name that does not exist: Sphinx-style roles
  (``:class:`~toolkit.errors.ApiError```, ``:meth:`open <toolkit.Workspace.open>```) and
  double-backtick names (````toolkit.web.create_app````).

pdoc has no strict mode of its own; this is it. ``make test`` runs it.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pdoc

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "toolkit"
DEFAULT_OUTPUT = ROOT / "build" / "api"
# Alembic's env.py and revision scripts need Alembic's running context to import.
EXCLUDED_PREFIXES = ("toolkit.store.migrations",)
# Warnings that say nothing about the reference: every module is listed explicitly (so a
# package with an ``__all__`` still gets its submodules) and pdoc notes the repeat; pdoc refuses
# subprocesses while importing; a class with a method named ``list`` shadows the builtin in
# pdoc's evaluation of its other annotations (mypy, which reads them correctly, checks them).
_BENIGN = (
    re.compile(r"adds a module named .* but a module with this name has already been added"),
    re.compile(r"^Suppressed execution of "),
    re.compile(r"^Error parsing type annotation .*'function' object is not subscriptable"),
)
# :role:`~toolkit.x.y`, :role:`text <toolkit.x.y>` and ``toolkit.x.y`` in docstrings.
_ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc|obj):`([^`]+)`")
_LITERAL = re.compile(r"``(toolkit(?:\.[A-Za-z_]\w*)+)(?:\(\))?``")


def modules() -> list[str]:
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.walk_packages(package.__path__, f"{PACKAGE}."):
        if not info.name.startswith(EXCLUDED_PREFIXES):
            names.append(info.name)
    return names


def _role_target(text: str) -> str | None:
    inner = text.strip()
    if inner.endswith(">") and "<" in inner:
        inner = inner[inner.rindex("<") + 1 : -1]
    inner = re.sub(r"\s+", "", inner).lstrip("~!")  # a name wrapped over two lines
    return inner if inner.startswith(f"{PACKAGE}.") or inner == PACKAGE else None


def references(source: str) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of each ``toolkit`` reference in the docstrings of ``source``."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if not body or not isinstance(body[0], ast.Expr):
            continue
        value = body[0].value
        if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
            continue
        line = body[0].lineno
        for match in _ROLE.finditer(value.value):
            target = _role_target(match.group(1))
            if target is not None:
                yield line, target
        for match in _LITERAL.finditer(value.value):
            yield line, match.group(1)
    # Attribute docstrings (a string right after an assignment) are pdoc's too.
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for previous, current in itertools.pairwise(body):
            if (
                isinstance(previous, ast.Assign | ast.AnnAssign)
                and isinstance(current, ast.Expr)
                and isinstance(current.value, ast.Constant)
                and isinstance(current.value.value, str)
            ):
                text = current.value.value
                for match in _ROLE.finditer(text):
                    target = _role_target(match.group(1))
                    if target is not None:
                        yield current.lineno, target
                for match in _LITERAL.finditer(text):
                    yield current.lineno, match.group(1)


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or an attribute reachable from one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            annotations = getattr(target, "__annotations__", {})
            fields = getattr(target, "__dataclass_fields__", {})
            if not hasattr(target, name):
                # An annotated attribute (set per instance) resolves; anything else does not.
                return name in annotations or name in fields
            target = getattr(target, name)
        return True
    return False


def broken_references(names: list[str]) -> list[str]:
    problems = []
    for name in names:
        module = importlib.import_module(name)
        path = getattr(module, "__file__", None)
        if path is None:
            continue
        source = Path(path).read_text(encoding="utf-8")
        for line, dotted in references(source):
            if not resolves(dotted):
                relative = Path(path).resolve().relative_to(ROOT)
                problems.append(f"{relative}:{line}: unresolved reference {dotted}")
    return problems


def build(output: Path) -> list[str]:
    """Render the reference into ``output``; the problems found (empty: all good)."""
    names = modules()
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pdoc.pdoc(*names, output_directory=output)
        except RuntimeError as exc:  # pdoc: "Error importing toolkit.x"
            cause = exc.__cause__
            problems.append(f"{exc}: {type(cause).__name__}: {cause}" if cause else str(exc))
    for warning in caught:
        message = str(warning.message)
        if not any(pattern.search(message) for pattern in _BENIGN):
            problems.append(f"pdoc: {message}")
    if not problems:
        problems.extend(broken_references(names))
    return problems


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    problems = build(output)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"API reference: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"API reference: {output / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
