"""Dead letters, on an in-memory store: what is listed and shown, and what each may become."""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.cli.main import main
from services.dead_letters import domain, rendering, service_layer
from services.dead_letters.domain import (
    DeadLetter,
    LogOrigin,
    ParkedMessage,
    Selection,
    Settled,
    TopicOrigin,
    discarded,
    may_redrive,
)

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
SEALED = b'{"data": {"details": {"$sealed": "v1:abc"}}, "subject": "person-7"}'


def a_letter(letter_id: str = "k1", **fields: object) -> DeadLetter:
    values: dict[str, object] = {
        "id": letter_id, "parked_at": AT, "consumer": "projection",
        "reason": "unknown_event_type", "detail": "type: no event type 'x.y' version 1",
        "event_type": "x.y", "event_id": "0190-e", "origin": TopicOrigin("t", 0, 4, 0, 9),
    }  # fmt: skip
    values.update(fields)
    return DeadLetter(**values)  # type: ignore[arg-type]


@dataclass
class FakeStore:
    """Dead letters in memory; `readable` says which ids their consumer can now apply."""

    letters: dict[str, DeadLetter]
    readable: set[str] = field(default_factory=set)
    applied: list[str] = field(default_factory=list)

    async def dead_letters(self) -> list[DeadLetter]:
        return list(self.letters.values())

    async def message(self, letter: DeadLetter) -> ParkedMessage | None:
        headers = (("event_type", b"x.y"), ("x-sender-note", b"Mrs Smith"))
        return ParkedMessage(letter, b"person-7", SEALED, headers)

    async def redrive(self, letter: DeadLetter) -> Settled:
        status = self.letters[letter.id].status
        if not may_redrive(status):
            return Settled(letter.id, "already_redriven")
        if letter.id not in self.readable:
            self.letters[letter.id] = replace(letter, attempts=letter.attempts + 1)
            return Settled(letter.id, "still_parked", letter.reason, letter.detail)
        self.applied.append(letter.id)
        self.letters[letter.id] = replace(letter, status="redriven")
        return Settled(letter.id, "redriven")

    async def discard(self, letter: DeadLetter) -> Settled:
        result = discarded(self.letters[letter.id].status)
        if result == "discarded":
            self.letters[letter.id] = replace(letter, status="discarded")
        return Settled(letter.id, result)


def a_store(*letters: DeadLetter, readable: set[str] | None = None) -> FakeStore:
    return FakeStore({letter.id: letter for letter in letters}, readable or set())


async def test_a_redrive_applies_a_message_once_however_often_it_is_asked() -> None:
    store = a_store(a_letter("k1"), readable={"k1"})
    first = await service_layer.redrive([store], ids=["k1"])
    again = await service_layer.redrive([store], ids=["k1", "k1"])
    assert [s.result for s in first + again] == ["redriven", "already_redriven"]
    assert store.applied == ["k1"]


async def test_a_message_its_consumer_still_cannot_read_stays_parked_and_says_why() -> None:
    store = a_store(a_letter("k1"))
    [settled] = await service_layer.redrive([store], ids=["k1"])
    assert (settled.result, settled.reason, settled.done) == (
        "still_parked",
        "unknown_event_type",
        False,
    )
    assert "kept, to be redriven once fixed" in rendering.settled_line(settled)
    [listed] = await service_layer.list_dead_letters([store], Selection())
    assert (listed.status, listed.attempts) == ("parked", 1)


async def test_discarded_and_redriven_letters_leave_the_list_but_not_the_record() -> None:
    store = a_store(a_letter("k1"), a_letter("k2"), a_letter("k3"), readable={"k2"})
    await service_layer.discard([store], ids=["k1"])
    await service_layer.redrive([store], ids=["k2"])
    parked = await service_layer.list_dead_letters([store], Selection())
    every = await service_layer.list_dead_letters([store], Selection(settled_too=True))
    assert [letter.id for letter in parked] == ["k3"]
    assert {letter.id: letter.status for letter in every} == {
        "k1": "discarded",
        "k2": "redriven",
        "k3": "parked",
    }


async def test_a_redriven_letter_cannot_be_discarded_and_a_discarded_one_can_be_redriven() -> None:
    store = a_store(a_letter("k1"), a_letter("k2"), readable={"k1", "k2"})
    await service_layer.redrive([store], ids=["k1"])
    await service_layer.discard([store], ids=["k2"])
    [late_discard] = await service_layer.discard([store], ids=["k1"])
    [late_redrive] = await service_layer.redrive([store], ids=["k2"])
    assert (late_discard.result, late_redrive.result) == ("already_redriven", "redriven")


async def test_an_unknown_id_is_reported_and_the_others_still_settled() -> None:
    store = a_store(a_letter("k1"), readable={"k1"})
    results = await service_layer.redrive([store], ids=["nope", "k1"])
    assert [(s.letter_id, s.result) for s in results] == [("nope", "not_found"), ("k1", "redriven")]


async def test_every_selects_by_consumer_and_reason_and_reports_progress() -> None:
    later = AT + timedelta(minutes=1)
    store = a_store(
        a_letter("k1", parked_at=later),
        a_letter("k2"),
        a_letter("k3", consumer="housing_referral_inbox"),
        a_letter("k4", reason="invalid_payload"),
        readable={"k1", "k2", "k3", "k4"},
    )
    seen: list[tuple[int, int]] = []
    selection = Selection(consumer="projection", reason="unknown_event_type")
    results = await service_layer.redrive(
        [store], selection=selection, on_progress=lambda n, total, _: seen.append((n, total))
    )
    assert [s.letter_id for s in results] == ["k2", "k1"]  # oldest first
    assert seen == [(1, 2), (2, 2)]


async def test_letters_are_found_in_whichever_store_keeps_them() -> None:
    topic, rows = a_store(a_letter("k1")), a_store(a_letter("p1", origin=LogOrigin("housing", "e")))
    found = await service_layer.show_dead_letter([topic, rows], "p1")
    assert found is not None
    assert found[0].origin == LogOrigin("housing", "e")
    assert await service_layer.show_dead_letter([topic, rows], "p2") is None


def test_the_list_shows_ids_time_consumer_reason_and_type_and_nothing_personal() -> None:
    [header, line] = rendering.letters_table([a_letter("k1")], with_status=False)
    assert header.split() == ["ID", "PARKED_AT", "CONSUMER", "REASON", "EVENT_TYPE"]
    assert line.split() == [
        "k1",
        "2026-01-05",
        "09:30:00",
        "projection",
        "unknown_event_type",
        "x.y",
    ]


def test_show_hides_the_payload_key_and_unknown_headers_unless_asked() -> None:
    letter = a_letter("k1")
    message = ParkedMessage(letter, b"person-7", SEALED, (("org", b"housing"), ("note", b"Mrs S")))
    told = "\n".join(rendering.shown_text(rendering.shown(letter, message, payload=False)))
    assert not any(personal in told for personal in ("person-7", "Mrs S", "$sealed"))
    assert {"  org: housing", "other_headers: 1"} <= set(told.splitlines())
    everything = rendering.shown(letter, message, payload=True)
    assert everything["key"] == "person-7"
    assert everything["headers"]["note"] == "Mrs S"
    assert everything["payload"]["data"]["details"] == {"$sealed": "v1:abc"}  # still sealed


def test_ids_are_the_same_for_every_copy_of_a_message_and_differ_between_consumers() -> None:
    first = domain.topic_letter_id("projection", "caseweave.housing.events.v1", 2, 41)
    assert first == domain.topic_letter_id("projection", "caseweave.housing.events.v1", 2, 41)
    assert first != domain.topic_letter_id(
        "voluntary_referral_inbox", "caseweave.housing.events.v1", 2, 41
    )
    assert domain.log_letter_id("projection", "housing", "e").startswith("p")


def test_redrive_and_discard_want_ids_or_every_but_not_both() -> None:
    """Refused before anything is opened (exit 2), so nothing is settled by accident."""
    assert main(["dead-letters", "redrive"]) == 2
    assert main(["dead-letters", "discard", "k1", "--every"]) == 2
