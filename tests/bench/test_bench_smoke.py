"""The benchmark harness stays runnable: a tiny run reports every figure as a positive number."""

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.registry import part_names

TINY = [
    "--events", "60", "--batch", "20", "--single-events", "24", "--concurrency", "3",
    "--projection-events", "200", "--citizens", "30", "--view-requests", "20",
    "--relay-events", "60", "--relay-batch", "20", "--matching-citizens", "200",
    "--matching-registrations", "20", "--kafka-projection-events", "200",
    "--http-write-events", "30", "--http-write-clients", "3", "--http-write-cases", "8",
    "--http-write-events-per-case", "3", "--webhook-messages", "20", "--webhook-clients", "2",
    "--csv-rows", "50",
]  # fmt: skip
EVERY_PART_BUT_LINKAGE = [name for name in part_names() if name != "linkage"]  # own test
HTTP_WRITE_FIGURES = {
    "http_write.one.rate", "http_write.one.p50", "http_write.one.p99", "http_write.many.rate",
    "http_write.many.p50", "http_write.many.p99", "http_write.share",
}  # fmt: skip
FIGURES_WITH_A_PEER = {
    "append.batched", "append.single", "append.concurrent", "append.single.p50",
    "append.single.p99", "append.concurrent.p50", "append.concurrent.p99", "read.log",
    "projection.catch_up",
}  # fmt: skip
FIGURES_OF_OURS_ONLY = {
    "projection.rebuild", "view.rate", "view.p50", "view.p99",
    "timeline.rate", "timeline.p50", "timeline.p99", "relay.1b.default_batch",
    "relay.1b.other_batch", "relay.3b.default_batch", "relay.3b.other_batch",
    "kafka_projection.1b.consume", "kafka_projection.3b.consume", "matching.one",
    "matching.batch", "matching.p50", "matching.p99", *HTTP_WRITE_FIGURES,
    "inbound.one.rate", "inbound.one.p50", "inbound.one.p99", "inbound.many.rate",
    "inbound.many.p50", "inbound.many.p99", "inbound.csv.rate",
}  # fmt: skip


@pytest.mark.slow
def test_a_tiny_run_reports_every_figure_for_both_sides(
    postgres_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bench` on the test server prints and writes ours and the peer's figures.

    Only the appends, the read and the projection's catch-up have a peer: the other figures'
    peer column stays empty.
    """
    report_path = tmp_path / "bench.json"

    status = main([
        "--database-url", postgres_server, "--only", *EVERY_PART_BUT_LINKAGE, *TINY,
        "--json", str(report_path),
    ])  # fmt: skip

    figures = {f["key"]: f for f in json.loads(report_path.read_text())["figures"]}
    assert status == 0
    assert figures.keys() == FIGURES_WITH_A_PEER | FIGURES_OF_OURS_ONLY
    for key, figure in figures.items():
        assert figure["ours"] > 0, key
    for key in FIGURES_WITH_A_PEER:
        assert figures[key]["peer"] > 0, key
        assert figures[key]["ratio"] > 0, key
    for key in FIGURES_OF_OURS_ONLY:
        assert figures[key]["peer"] is None, key
        assert figures[key]["ratio"] is None, key
    printed = capsys.readouterr().out
    assert all(figure["label"] in printed for figure in figures.values())


@pytest.mark.slow
def test_http_writes_are_reported_with_their_share_of_the_store_s_concurrent_appends(
    postgres_server: str, tmp_path: Path
) -> None:
    """`--only append http_write` reports the HTTP write figures and their share of the
    store's own concurrent single appends, measured in the same run."""
    report_path = tmp_path / "bench.json"

    status = main([
        "--database-url", postgres_server, "--only", "append", "http_write", "--no-peer",
        *TINY, "--json", str(report_path),
    ])  # fmt: skip

    figures = {f["key"]: f["ours"] for f in json.loads(report_path.read_text())["figures"]}
    assert status == 0
    appends = {key for key in FIGURES_WITH_A_PEER if key.startswith("append.")}
    assert figures.keys() == appends | HTTP_WRITE_FIGURES
    assert all(figures[key] > 0 for key in HTTP_WRITE_FIGURES)
    assert figures["http_write.share"] == pytest.approx(
        figures["http_write.many.rate"] / figures["append.concurrent"]
    )


def test_the_help_lists_every_size_option(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bench --help` prints every option a run can be sized with."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    assert all(option.split()[0] in printed for option in TINY[::2])
