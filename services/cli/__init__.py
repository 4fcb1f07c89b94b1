"""The `caseweave` command: one module per command group, `main` the parser that joins them."""

from services.cli.main import main

__all__ = ["main"]
