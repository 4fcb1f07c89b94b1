"""Development secrets under the data directory: made once, the same for every process."""

import multiprocessing
from pathlib import Path

from services.runtime.dev_secrets import person_keys_master_key
from services.runtime.settings import Settings


def _master_key_of_a_process(data_dir: str) -> str:
    return person_keys_master_key(Settings(data_dir=Path(data_dir), master_key=None)).hex()


def test_processes_starting_together_agree_on_one_master_key(tmp_path: Path) -> None:
    """`caseweave up` starts every service at once on a fresh data directory: each must read
    the same master key (two would leave all but one unable to open the people's keys)."""
    for attempt in range(5):
        data_dir = tmp_path / f"fresh-{attempt}"
        with multiprocessing.get_context("spawn").Pool(6) as pool:
            keys = pool.map(_master_key_of_a_process, [str(data_dir)] * 12)
        assert len(set(keys)) == 1
        assert (data_dir / "master_key").read_text().strip() == keys[0]
        assert [p.name for p in data_dir.iterdir()] == ["master_key"]  # no candidates left
        assert (data_dir / "master_key").stat().st_mode & 0o777 == 0o600
