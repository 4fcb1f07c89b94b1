"""The dead-letter use cases: list, show, redrive, discard; over every place they are kept.

A store (the port) lists the dead letters it keeps and settles one at a time: a redrive
applies the message with its consumer's own code and records `redriven` in the same
transaction, so a redrive run twice, or cut short, applies it once; a message its consumer
still cannot read stays parked, with the reason, and the attempt counted.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from services.dead_letters.domain import (
    DeadLetter,
    ParkedMessage,
    Selection,
    Settled,
    selected,
)

logger = structlog.get_logger("caseweave.dead_letters")
Progress = Callable[[int, int, Settled], None]


class DeadLetterStore(Protocol):
    """Where some consumers' dead letters are kept, and what became of each."""

    async def dead_letters(self) -> list[DeadLetter]:
        """Return every dead letter kept here, settled or not (a copy counted once)."""
        ...

    async def message(self, letter: DeadLetter) -> ParkedMessage | None:
        """Return the message as its consumer received it (None: no longer to be had)."""
        ...

    async def redrive(self, letter: DeadLetter) -> Settled:
        """Apply the message with its consumer's code, once; record what became of it."""
        ...

    async def discard(self, letter: DeadLetter) -> Settled:
        """Record that the message is not to be applied (it stays where it is)."""
        ...


@dataclass(frozen=True)
class Found:
    """A dead letter, and the store that keeps it."""

    letter: DeadLetter
    store: DeadLetterStore


async def list_dead_letters(
    stores: Sequence[DeadLetterStore], selection: Selection
) -> list[DeadLetter]:
    """Return the dead letters `selection` selects from every store, oldest first."""
    return [found.letter for found in await _find_all(stores, selection)]


async def show_dead_letter(
    stores: Sequence[DeadLetterStore], letter_id: str
) -> tuple[DeadLetter, ParkedMessage | None] | None:
    """Return a dead letter (settled or not) and its message; None if there is none."""
    found = await _find(stores, [letter_id])
    if letter_id not in found:
        return None
    return found[letter_id].letter, await found[letter_id].store.message(found[letter_id].letter)


async def redrive(
    stores: Sequence[DeadLetterStore],
    *,
    ids: Sequence[str] = (),
    selection: Selection | None = None,
    on_progress: Progress | None = None,
) -> list[Settled]:
    """Redrive the dead letters named by `ids`, or selected by `selection`, one by one."""
    return await _settle(stores, ids, selection, on_progress, redriving=True)


async def discard(
    stores: Sequence[DeadLetterStore],
    *,
    ids: Sequence[str] = (),
    selection: Selection | None = None,
    on_progress: Progress | None = None,
) -> list[Settled]:
    """Discard the dead letters named by `ids`, or selected by `selection`."""
    return await _settle(stores, ids, selection, on_progress, redriving=False)


async def _settle(
    stores: Sequence[DeadLetterStore],
    ids: Sequence[str],
    selection: Selection | None,
    on_progress: Progress | None,
    *,
    redriving: bool,
) -> list[Settled]:
    targets: list[Found | str]
    if selection is None:
        found = await _find(stores, ids)
        targets = [found.get(letter_id, letter_id) for letter_id in dict.fromkeys(ids)]
    else:
        targets = list(await _find_all(stores, selection))
    results = []
    for done, target in enumerate(targets, start=1):
        results.append(await _settle_one(target, redriving=redriving))
        if on_progress is not None:
            on_progress(done, len(targets), results[-1])
    return results


async def _settle_one(target: Found | str, *, redriving: bool) -> Settled:
    if isinstance(target, str):
        return Settled(target, "not_found")
    letter = target.letter
    try:
        if redriving:
            settled = await target.store.redrive(letter)
        else:
            settled = await target.store.discard(letter)
    except Exception as error:  # said (its type only), counted in the exit code; others go on
        return Settled(letter.id, "failed", detail=type(error).__name__)
    logger.info(
        "dead_letter_settled", letter_id=letter.id, consumer=letter.consumer,
        event_id=letter.event_id, event_type=letter.event_type, result=settled.result,
        reason=settled.reason,
    )  # fmt: skip
    return settled


async def _find_all(stores: Sequence[DeadLetterStore], selection: Selection) -> list[Found]:
    kept: dict[str, Found] = {}
    for store in stores:
        for letter in await store.dead_letters():
            kept.setdefault(letter.id, Found(letter, store))
    return [kept[letter.id] for letter in selected((f.letter for f in kept.values()), selection)]


async def _find(stores: Sequence[DeadLetterStore], ids: Sequence[str]) -> dict[str, Found]:
    wanted = set(ids)
    every = await _find_all(stores, Selection(settled_too=True))
    return {found.letter.id: found for found in every if found.letter.id in wanted}
