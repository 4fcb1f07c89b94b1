"""The organisation domain is pure: it imports nothing that does I/O, directly or indirectly."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from services.organisation import domain

DOMAIN_DIR = Path(domain.__file__).parent
DOMAIN_MODULES = sorted(DOMAIN_DIR.glob("*.py"))
IO_PACKAGES = ("asyncpg", "fastapi", "starlette", "httpx", "uvicorn", "structlog")
OUTER_LAYERS = (
    "services.runtime",
    "services.organisation.adapters",
    "services.organisation.service_layer",
    "services.organisation.entrypoints",
    "services.organisation.bootstrap",
)


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", DOMAIN_MODULES, ids=lambda path: path.name)
def test_a_domain_module_imports_no_io_library_and_no_outer_layer(module: Path) -> None:
    """Each domain module names neither asyncpg, FastAPI nor the runtime's database code."""
    forbidden = IO_PACKAGES + OUTER_LAYERS
    offending = {
        name
        for name in _imported_names(module)
        if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    }
    assert offending == set()


def test_importing_the_whole_domain_loads_no_io_library() -> None:
    """Not even indirectly: a fresh interpreter importing every domain module loads none of them."""
    modules = [f"services.organisation.domain.{path.stem}" for path in DOMAIN_MODULES]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({IO_PACKAGES!r})))\n"
        "print(sorted(m for m in sys.modules if m.startswith('services.runtime')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]
