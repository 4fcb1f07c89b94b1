"""End-to-end fixtures: a fresh database and data directory for a whole running system."""

from pathlib import Path

import pytest

from tests.e2e.system import System
from tests.postgres import create_database


@pytest.fixture
async def system(postgres_server: str, tmp_path: Path) -> System:
    """A Caseweave system (not yet started) with its own database, data dir and free ports."""
    return System(database_url=await create_database(postgres_server), data_dir=tmp_path / "data")
