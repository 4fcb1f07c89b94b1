"""The projection's domain does no I/O: it imports only pure modules."""

import ast
from pathlib import Path

from services.projection import domain

PURE_MODULES = {
    "collections", "dataclasses", "datetime", "hashlib", "hmac", "itertools", "typing", "uuid",
    "unicodedata", "contextlib", "functools",
    "pydantic", "events",
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_modules_import_nothing_that_does_io() -> None:
    """Every domain import is the standard library's pure parts, pydantic, events or the domain."""
    modules = sorted(Path(domain.__file__).parent.glob("*.py"))
    assert len(modules) > 3
    for path in modules:
        for name in imported_modules(path):
            allowed = name.split(".")[0] in PURE_MODULES or name.startswith(domain.__name__)
            assert allowed, f"{path.name} imports {name}"
