"""The webhooks own their provider logic: no module of ``chargesol_notifications.webhooks``
imports the channel backends, directly or through the app modules it imports.

Read from the source with ``ast``, so an import inside a function or under
``TYPE_CHECKING`` counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

import chargesol_notifications

APP = "chargesol_notifications"
BACKENDS = f"{APP}.backends"
APP_DIR = Path(chargesol_notifications.__file__).resolve().parent
WEBHOOKS_DIR = APP_DIR / "webhooks"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_nodes(tree: ast.AST, *, runtime_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, at any depth (optionally not TYPE_CHECKING ones)."""
    for child in ast.iter_child_nodes(tree):
        if runtime_only and is_type_checking_block(child):
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from import_nodes(child, runtime_only=runtime_only)


def imported_names(source: str, package: str, *, runtime_only: bool = False) -> set[str]:
    """The absolute dotted names ``source`` imports, relative imports resolved.

    ``from x import y`` gives both ``x`` and ``x.y``: ``y`` may be a submodule
    (``from .. import backends``).
    """
    names: set[str] = set()
    for node in import_nodes(ast.parse(source), runtime_only=runtime_only):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def is_backends(name: str) -> bool:
    return name == BACKENDS or name.startswith(f"{BACKENDS}.")


def webhook_modules() -> list[Path]:
    return sorted(WEBHOOKS_DIR.glob("*.py"))


def test_the_webhooks_package_is_found():
    names = {path.stem for path in webhook_modules()}
    assert {"__init__", "base", "twilio"} <= names


@pytest.mark.parametrize("path", webhook_modules(), ids=lambda path: path.name)
def test_webhook_modules_do_not_import_the_backends(path):
    source = path.read_text(encoding="utf-8")
    imported = imported_names(source, package_of(path))
    assert not sorted(filter(is_backends, imported))
    # Nor by a dotted path handed to import_string() or import_module().
    strings = [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert not [text for text in strings if BACKENDS in text]


def module_file(name: str) -> Path | None:
    """The source file of app module ``name``, or None when it is not a module of the app."""
    relative = Path(*name.split(".")[1:])
    for candidate in (APP_DIR / relative / "__init__.py", APP_DIR / f"{relative}.py"):
        if candidate.is_file():
            return candidate
    return None


def test_nor_do_the_app_modules_they_import():
    """Follow every runtime import into the app (parent packages included): no backends."""
    seen: dict[str, str] = {module_name(path): "" for path in webhook_modules()}
    pending = list(seen)
    while pending:
        name = pending.pop()
        path = module_file(name)
        if path is None:
            continue
        source = path.read_text(encoding="utf-8")
        imported = imported_names(source, package_of(path), runtime_only=True)
        for dependency in sorted(imported):
            parts = dependency.split(".")
            for end in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
                prefix = ".".join(parts[:end])
                if prefix.split(".")[0] == APP and prefix not in seen:
                    seen[prefix] = name
                    pending.append(prefix)
    reached = {name: via for name, via in seen.items() if is_backends(name)}
    assert not reached, f"reached the backends (module: imported by): {reached}"


# -- the checker itself catches what it must ---------------------------------------------------

VIOLATIONS = {
    "relative from-import": "from ..backends import get_backend",
    "relative submodule": "from ..backends.twilio import voice",
    "package attribute": "from .. import backends",
    "absolute import": "import chargesol_notifications.backends.twilio",
    "absolute from-import": "from chargesol_notifications import backends",
    "inside a function": "def f():\n    from ..backends import backends\n",
    "under TYPE_CHECKING": "if TYPE_CHECKING:\n    from ..backends.base import X\n",
}


@pytest.mark.parametrize("source", list(VIOLATIONS.values()), ids=list(VIOLATIONS))
def test_the_checker_sees_every_spelling_of_a_backends_import(source):
    imported = imported_names(source, f"{APP}.webhooks")
    assert any(is_backends(name) for name in imported)


def test_the_checker_resolves_relative_imports_against_the_package():
    assert imported_names("from .base import WebhookView", f"{APP}.webhooks") >= {
        f"{APP}.webhooks.base"
    }
    assert imported_names("from ..recipients import x", f"{APP}.webhooks") >= {f"{APP}.recipients"}
    assert not any(
        is_backends(name) for name in imported_names("from .backends import x", f"{APP}.webhooks")
    )
