"""The peer's projection (bench/peer_projection.py): eventsourcing's projection runner folds
the same crowd as ours into a per-citizen view, checks that view, and pairs with our figure."""

import json
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from bench import crowd, peer_projection
from bench.__main__ import main
from bench.part import BenchContext
from bench.peer_projection import CrowdEvent, PerCitizenView
from bench.projection_catch_up import CATCH_UP, PROJECTION_EVENTS
from tests.postgres import create_database

TINY = 200


def test_the_peer_is_given_the_crowd_ours_catches_up_with() -> None:
    """Person by person, the peer's crowd has our crowd's events, one NHS number each."""
    logs, people = crowd.crowd_of_events(TINY)

    listed = list(crowd.people_of_events(TINY))

    assert len(listed) == people
    assert len({nhs_number for nhs_number, _ in listed}) == people
    for org, log in logs.items():
        assert sum(len(person[org]) for _, person in listed) == len(log)


async def test_the_peer_folds_every_event_of_the_crowd(postgres_server: str) -> None:
    """The peer's run reports its catch-up under our figure's key, as the peer's side."""
    url = await create_database(postgres_server)

    measured = await peer_projection.run(_context(url))

    assert [(m.key, m.side, m.unit) for m in measured] == [(CATCH_UP, "peer", "events/s")]
    assert measured[0].value > 0


async def test_a_peer_view_that_drops_events_reports_no_figure(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken fold that only tracks its events catches up fast, and fails the check."""
    url = await create_database(postgres_server)

    def track_only(view: PerCitizenView, event: CrowdEvent, tracking: Tracking) -> None:
        view.insert_tracking(tracking)

    monkeypatch.setattr(PerCitizenView, "fold", track_only)

    with pytest.raises(RuntimeError, match="the peer's view holds"):
        await peer_projection.run(_context(url))


@pytest.mark.slow
def test_the_projection_part_prints_the_peer_beside_ours(
    postgres_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--only projection` pairs the peer's catch-up with ours, ratio included, and says in
    the header how the peer's work differs; `--no-peer` leaves the peer's column empty."""
    with_peer, without = tmp_path / "peer.json", tmp_path / "no_peer.json"
    sizes = ["--projection-events", str(TINY)]

    main(
        [
            "--database-url",
            postgres_server,
            "--only",
            "projection",
            *sizes,
            "--json",
            str(with_peer),
        ]
    )
    printed = capsys.readouterr().out
    main([
        "--database-url", postgres_server, "--only", "projection", "--no-peer", *sizes,
        "--json", str(without),
    ])  # fmt: skip

    figures = {f["key"]: f for f in json.loads(with_peer.read_text())["figures"]}
    assert figures[CATCH_UP]["peer"] > 0
    assert figures[CATCH_UP]["ratio"] == pytest.approx(
        figures[CATCH_UP]["ours"] / figures[CATCH_UP]["peer"]
    )
    assert figures["projection.rebuild"]["peer"] is None
    assert "peer, projection: eventsourcing ProjectionRunner" in printed
    assert "no identity matching" in printed
    alone = {f["key"]: f for f in json.loads(without.read_text())["figures"]}
    assert alone[CATCH_UP]["ours"] > 0
    assert alone[CATCH_UP]["peer"] is None


def _context(url: str) -> BenchContext:
    return BenchContext(ours_url=url, peer_url=url, sizes={PROJECTION_EVENTS.name: TINY})
