"""The benchmark harness stays runnable: a tiny run reports every figure as a positive number."""

import json
from pathlib import Path

import pytest

from bench.__main__ import main

TINY = ["--events", "60", "--batch", "20", "--single-events", "24", "--concurrency", "3"]
FIGURES_WITH_A_PEER = {
    "append.batched", "append.single", "append.concurrent", "append.single.p50",
    "append.single.p99", "append.concurrent.p50", "append.concurrent.p99", "read.log",
}  # fmt: skip


@pytest.mark.slow
def test_a_tiny_run_reports_every_figure_for_both_sides(
    postgres_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bench` on the test server prints and writes ours and the peer's figures."""
    report_path = tmp_path / "bench.json"

    status = main(["--database-url", postgres_server, *TINY, "--json", str(report_path)])

    figures = {f["key"]: f for f in json.loads(report_path.read_text())["figures"]}
    assert status == 0
    assert not FIGURES_WITH_A_PEER - figures.keys(), "figures missing from the report"
    for key, figure in figures.items():
        assert figure["ours"] > 0, key
    for key in FIGURES_WITH_A_PEER:
        assert figures[key]["peer"] > 0, key
        assert figures[key]["ratio"] > 0, key
    printed = capsys.readouterr().out
    assert all(figure["label"] in printed for figure in figures.values())
